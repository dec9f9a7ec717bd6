/* main: the resource-sim process: configuration, wiring, and graceful shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "cpusched.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "notes.h"
#include "tlsserve.h"

#define PROG     "resource-sim"
#define DRAIN_MS 2000
#define RS_MAX   16 /* resources one process can serve (RESOURCES) */

static const char USAGE[] =
    "Usage: resource-sim [--help] [--version]\n"
    "\n"
    "A simulated journal source (hospital, clinic, lab). POST /journals answers\n"
    "at once and POSTs generated notes to callbackUrl after delay ms. Fault modes:\n"
    "  delay -1: 401;  -2: 500;  -3: connection closed without an answer;\n"
    "  -4: 200 and never calls back;  -5: 200 and part of the body, then nothing;\n"
    "  -6: the 200 body one byte every 250 ms, then the notes;\n"
    "  -7: 302 to /actuator/health;  -8: 200 with an 8 MiB body.\n"
    "POST /journals/direct (delay -3..600000) waits delay ms and answers with the\n"
    "notes. GET /journals/calls?correlationId= counts the POST /journals calls\n"
    "per session (tests). Health: GET /actuator/health.\n"
    "\n"
    "Environment (defaults in brackets):\n"
    "  SERVER_PORT [8081], BIND_ADDR [0.0.0.0]\n"
    "  RESOURCE_ID [resource-1]: 1..64 characters of A-Z a-z 0-9 . _ -\n"
    "  RESOURCES: id=port,id=port,... serves up to 16 resources from this one\n"
    "    process, each on its own port (RESOURCE_ID and SERVER_PORT are then\n"
    "    ignored); make bench uses it to leave the CPU to the system under test\n"
    "  NOTES_PER_RESPONSE [3]: 0..1000\n"
    "  CALLBACK_CONNECT_TIMEOUT_MS [2000], CALLBACK_TIMEOUT_MS [5000]\n"
    "  CALLBACK_RETRIES [3]: 0..10 extra attempts at an answer, backoff 200 ms, 400 ms, ...\n"
    "  TLS_CERT_FILE, TLS_KEY_FILE [none: plain HTTP; both or neither]: PEM certificate and\n"
    "    unencrypted private key: HTTPS (TLS 1.2 and 1.3 only) on every port; SIGHUP reads\n"
    "    them again (new connections get the new certificate; a bad file keeps the old one)\n"
    "  TLS_CLIENT_CA_FILE [none]: with TLS, demand a client certificate signed by one of\n"
    "    these CAs (PEM) on every connection (mutual TLS)\n"
    "  CALLBACK_TLS_CA_FILE [the system's]: CA certificates (PEM) trusted for an https://\n"
    "    callbackUrl; the gateway is always verified\n"
    "  CPU_SCHED_POLICY [batch]: batch (SCHED_BATCH: a just-woken process does not preempt the\n"
    "    running one; fewer context switches when processes share cores) or normal (SCHED_OTHER)\n"
    "  LOG_LEVEL [info]: debug, info, warn or error\n"
    "  LOG_FORMAT [json]: json (one object per line) or text\n"
    "  LOG_PATIENT_KEY [a random key per process]: key of the patient id hashes in logs\n"
    "  LOG_PATIENT_KEY_FILE [none]: a file holding it instead (not with the variable)\n";

typedef struct rs_main_cfg {
    int n;
    int port[RS_MAX];
    const char *bind_addr;
    tlsserve_config tls;   /* TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE */
    httpc_tls callback_tls; /* CALLBACK_TLS_CA_FILE */
    rs_config api[RS_MAX];
    char ids[RS_MAX][NOTES_RESOURCE_ID_MAX + 1];
} rs_main_cfg;

/* Parses RESOURCES ("id=port,...") into c->ids and c->port. */
static int parse_resources(const char *spec, rs_main_cfg *c, err_t *e) {
    const char *p = spec;
    c->n = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (c->n == RS_MAX) return err_set(e, "RESOURCES has more than %d entries", RS_MAX);
        if (!eq || eq == p || (size_t)(eq - p) > NOTES_RESOURCE_ID_MAX)
            return err_set(e, "RESOURCES entry %d must be id=port", c->n + 1);
        memcpy(c->ids[c->n], p, (size_t)(eq - p));
        c->ids[c->n][eq - p] = '\0';
        char *stop;
        long port = strtol(eq + 1, &stop, 10);
        if (!notes_resource_id_valid(c->ids[c->n]))
            return err_set(
                e, "RESOURCES entry %d: the id must be 1..%d characters of A-Z a-z 0-9 . _ -",
                c->n + 1, NOTES_RESOURCE_ID_MAX);
        if (stop == eq + 1 || stop != p + len || port < 1 || port > 65535)
            return err_set(e, "RESOURCES entry %d: the port must be 1..65535", c->n + 1);
        for (int i = 0; i < c->n; i++)
            if (c->port[i] == port || strcmp(c->ids[i], c->ids[c->n]) == 0)
                return err_set(e, "RESOURCES entry %d repeats an id or a port", c->n + 1);
        c->port[c->n++] = (int)port;
        p = end ? end + 1 : p + len;
    }
    if (c->n == 0) return err_set(e, "RESOURCES is empty");
    return AGG_OK;
}

static int config_load(rs_main_cfg *c, err_t *e) {
    long port, notes, connect_ms, total_ms, retries;
    memset(c, 0, sizeof *c);
    if (cfg_long("SERVER_PORT", 8081, 1, 65535, &port, e) != AGG_OK ||
        cfg_long("NOTES_PER_RESPONSE", 3, 0, 1000, &notes, e) != AGG_OK ||
        cfg_long("CALLBACK_CONNECT_TIMEOUT_MS", 2000, 1, 600000, &connect_ms, e) != AGG_OK ||
        cfg_long("CALLBACK_TIMEOUT_MS", 5000, 1, 600000, &total_ms, e) != AGG_OK ||
        cfg_long("CALLBACK_RETRIES", 3, 0, 10, &retries, e) != AGG_OK)
        return AGG_ERR;
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    if (tlsserve_config_load(&c->tls, 1, e) != AGG_OK) return AGG_ERR;
    c->callback_tls = (httpc_tls){.ca_file = cfg_str("CALLBACK_TLS_CA_FILE", NULL),
                                  .ca_var = "CALLBACK_TLS_CA_FILE"};
    if (httpc_tls_check(&c->callback_tls, e) != AGG_OK) return AGG_ERR;
    const char *many = cfg_str("RESOURCES", NULL);
    if (many) {
        if (parse_resources(many, c, e) != AGG_OK) return AGG_ERR;
    } else {
        const char *id = cfg_str("RESOURCE_ID", "resource-1");
        if (!notes_resource_id_valid(id))
            return err_set(e, "RESOURCE_ID must be 1..%d characters of A-Z a-z 0-9 . _ -",
                           NOTES_RESOURCE_ID_MAX);
        strcpy(c->ids[0], id);
        c->port[0] = (int)port;
        c->n = 1;
    }
    for (int i = 0; i < c->n; i++) {
        c->api[i].resource_id = c->ids[i];
        c->api[i].notes_per_response = (int)notes;
        c->api[i].connect_timeout_ms = connect_ms;
        c->api[i].timeout_ms = total_ms;
        c->api[i].retries = (int)retries;
    }
    return AGG_OK;
}

/* Every served resource, for the drain. */
/* Each resource has its own HTTP client for its answers, as separate processes would: a
 * shared one would share libcurl's per-host connection limit (64 to the
 * gateway) between all resources, and under load their answers would queue
 * behind it, time out and be retried. */
typedef struct rs_set {
    int n;
    rs_api *api[RS_MAX];
    httpd *hd[RS_MAX];
    httpc *hc[RS_MAX];
    tlsserve *tls; /* every port's certificate; NULL = plain HTTP */
    loop *l;
} rs_set;

static size_t pending(const rs_set *s) {
    size_t n = 0;
    for (int i = 0; i < s->n; i++) n += rs_api_pending(s->api[i]);
    return n;
}

/* Ends the drain phase when the last pending answer of every resource has finished. */
static void on_idle(void *arg) {
    rs_set *s = arg;
    if (pending(s) == 0) loop_stop(s->l);
}

/* arg is the caller's timer handle slot, cleared because the handle dies now. */
static void on_drain_deadline(loop *l, void *arg) {
    *(loop_timer **)arg = NULL;
    log_warn("stopping: drain time of %d ms is over", DRAIN_MS);
    loop_stop(l);
}

static void free_all(rs_set *s) {
    for (int i = 0; i < s->n; i++)
        if (s->hd[i]) httpd_stop(s->hd[i]);
    /* Clients before the APIs: an answer in flight would call into them. */
    for (int i = 0; i < RS_MAX; i++) httpc_free(s->hc[i]);
    for (int i = 0; i < s->n; i++) rs_api_free(s->api[i]);
    tlsserve_free(s->tls);
    loop_free(s->l);
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, USAGE);
    err_t e;
    static rs_main_cfg cfg;
    if (log_init(PROG, &e) != AGG_OK || config_load(&cfg, &e) != AGG_OK ||
        cpusched_configure_env(&e) != AGG_OK)
        cfg_fail(PROG, &e);

    rs_set set;
    memset(&set, 0, sizeof set);
    if (cfg.tls.cert_file && !(set.tls = tlsserve_new(&cfg.tls, &e))) cfg_fail(PROG, &e);
    loop *l = set.l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK ||
        (set.tls && tlsserve_reload_on_sighup(set.tls, l, &e) != AGG_OK)) {
        fprintf(stderr, PROG ": %s\n", e.text);
        return 1;
    }
    long nofile = cfg_raise_nofile(); /* one descriptor per connection */
    for (int i = 0; i < cfg.n; i++) {
        if (!(set.hc[i] = httpc_new(l, &e)) || httpc_set_tls(set.hc[i], &cfg.callback_tls, &e)) {
            fprintf(stderr, PROG ": %s\n", e.text);
            free_all(&set);
            return 1;
        }
        rs_api *api = rs_api_new(l, set.hc[i], &cfg.api[i], &e);
        if (!api) {
            fprintf(stderr, PROG ": %s\n", e.text);
            free_all(&set);
            return 1;
        }
        set.api[set.n++] = api;
        httpd_options ho;
        memset(&ho, 0, sizeof ho);
        ho.bind_addr = cfg.bind_addr;
        ho.port = cfg.port[i];
        ho.conn_limit = nofile > 1124 ? (unsigned)((nofile - 100) / cfg.n) : 1024;
        ho.max_body = 1024 * 1024;
        ho.on_done = rs_api_done;
        ho.on_done_arg = api;
        ho.tls = set.tls;
        if (!(set.hd[i] = httpd_start(l, &ho, rs_api_handle, api, &e))) {
            fprintf(stderr, PROG ": %s: %s\n", cfg.ids[i], e.text);
            free_all(&set);
            return 1;
        }
        log_info("%s listening on %s:%d%s; %d notes per response; answer retries %d", cfg.ids[i],
                 cfg.bind_addr, httpd_port(set.hd[i]),
                 !set.tls ? "" : cfg.tls.client_ca_file ? " (TLS, client certificates)" : " (TLS)",
                 cfg.api[i].notes_per_response, cfg.api[i].retries);
    }

    int rc = 0;
    if (loop_run(l) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    /* Stop accepting; suspended direct requests are cancelled and freed. */
    for (int i = 0; i < set.n; i++) {
        httpd_stop(set.hd[i]);
        set.hd[i] = NULL;
    }
    if (rc == 0 && pending(&set) > 0) {
        log_info("stopping: waiting up to %d ms for %zu pending answer(s)", DRAIN_MS,
                 pending(&set));
        for (int i = 0; i < set.n; i++) rs_api_on_idle(set.api[i], on_idle, &set);
        loop_timer *deadline = NULL;
        deadline = loop_timer_add(l, DRAIN_MS, on_drain_deadline, &deadline);
        if (deadline) {
            if (loop_run(l) != AGG_OK) rc = 1;
            loop_timer_cancel(l, deadline); /* NULL when it fired */
        }
    }
    log_info("stopping");
    free_all(&set);
    return rc;
}
