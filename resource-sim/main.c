/* main: the resource-sim process: configuration, wiring, and graceful shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "httpc.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "notes.h"

#define PROG     "resource-sim"
#define DRAIN_MS 2000

static const char USAGE[] =
    "Usage: resource-sim [--help] [--version]\n"
    "\n"
    "A simulated journal source (hospital, clinic, lab). POST /journals answers\n"
    "at once and POSTs generated notes to callbackUrl after delay ms (delay -1:\n"
    "401, -2: 500, -3: connection closed without an answer); POST /journals/direct\n"
    "waits delay ms and answers with the notes. Health: GET /actuator/health.\n"
    "\n"
    "Environment (defaults in brackets):\n"
    "  SERVER_PORT [8081], BIND_ADDR [0.0.0.0]\n"
    "  RESOURCE_ID [resource-1]: 1..64 characters of A-Z a-z 0-9 . _ -\n"
    "  NOTES_PER_RESPONSE [3]: 0..1000\n"
    "  CALLBACK_CONNECT_TIMEOUT_MS [2000], CALLBACK_TIMEOUT_MS [5000]\n"
    "  CALLBACK_RETRIES [3]: 0..10 extra attempts, backoff 200 ms, 400 ms, ...\n"
    "  LOG_LEVEL [info]: debug, info, warn or error\n";

typedef struct rs_main_cfg {
    int port;
    const char *bind_addr;
    rs_config api;
} rs_main_cfg;

static int config_load(rs_main_cfg *c, err_t *e) {
    long port, notes, connect_ms, total_ms, retries;
    memset(c, 0, sizeof *c);
    if (cfg_long("SERVER_PORT", 8081, 1, 65535, &port, e) != AGG_OK ||
        cfg_long("NOTES_PER_RESPONSE", 3, 0, 1000, &notes, e) != AGG_OK ||
        cfg_long("CALLBACK_CONNECT_TIMEOUT_MS", 2000, 1, 600000, &connect_ms, e) != AGG_OK ||
        cfg_long("CALLBACK_TIMEOUT_MS", 5000, 1, 600000, &total_ms, e) != AGG_OK ||
        cfg_long("CALLBACK_RETRIES", 3, 0, 10, &retries, e) != AGG_OK)
        return AGG_ERR;
    c->port = (int)port;
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    c->api.resource_id = cfg_str("RESOURCE_ID", "resource-1");
    if (!notes_resource_id_valid(c->api.resource_id))
        return err_set(e, "RESOURCE_ID must be 1..%d characters of A-Z a-z 0-9 . _ -",
                       NOTES_RESOURCE_ID_MAX);
    c->api.notes_per_response = (int)notes;
    c->api.connect_timeout_ms = connect_ms;
    c->api.timeout_ms = total_ms;
    c->api.retries = (int)retries;
    return AGG_OK;
}

/* Ends the drain phase when the last pending callback has finished. */
static void on_idle(void *arg) { loop_stop(arg); }

/* arg is the caller's timer handle slot, cleared because the handle dies now. */
static void on_drain_deadline(loop *l, void *arg) {
    *(loop_timer **)arg = NULL;
    log_warn("stopping: drain time of %d ms is over", DRAIN_MS);
    loop_stop(l);
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, USAGE);
    err_t e;
    rs_main_cfg cfg;
    if (log_init(PROG, &e) != AGG_OK || config_load(&cfg, &e) != AGG_OK) cfg_fail(PROG, &e);

    loop *l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK) {
        fprintf(stderr, PROG ": %s\n", e.text);
        return 1;
    }
    httpc *hc = httpc_new(l, &e);
    if (!hc) {
        fprintf(stderr, PROG ": %s\n", e.text);
        loop_free(l);
        return 1;
    }
    rs_api *api = rs_api_new(l, hc, &cfg.api);
    if (!api) {
        fprintf(stderr, PROG ": out of memory\n");
        httpc_free(hc);
        loop_free(l);
        return 1;
    }
    httpd_options ho;
    memset(&ho, 0, sizeof ho);
    ho.bind_addr = cfg.bind_addr;
    ho.port = cfg.port;
    long nofile = cfg_raise_nofile(); /* one descriptor per connection */
    ho.conn_limit = nofile > 1124 ? (unsigned)(nofile - 100) : 1024;
    ho.max_body = 1024 * 1024;
    httpd *hd = httpd_start(l, &ho, rs_api_handle, api, &e);
    if (!hd) {
        fprintf(stderr, PROG ": %s\n", e.text);
        rs_api_free(api);
        httpc_free(hc);
        loop_free(l);
        return 1;
    }
    log_info("%s listening on %s:%d; %d notes per response; callback retries %d",
             cfg.api.resource_id, cfg.bind_addr, httpd_port(hd), cfg.api.notes_per_response,
             cfg.api.retries);

    int rc = 0;
    if (loop_run(l) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    /* Stop accepting; suspended direct requests are cancelled and freed. */
    httpd_stop(hd);
    if (rc == 0 && rs_api_pending(api) > 0) {
        log_info("stopping: waiting up to %d ms for %zu pending callback(s)", DRAIN_MS,
                 rs_api_pending(api));
        rs_api_on_idle(api, on_idle, l);
        loop_timer *deadline = NULL;
        deadline = loop_timer_add(l, DRAIN_MS, on_drain_deadline, &deadline);
        if (deadline) {
            if (loop_run(l) != AGG_OK) rc = 1;
            loop_timer_cancel(l, deadline); /* NULL when it fired */
        }
    }
    log_info("%s stopping", cfg.api.resource_id);
    httpc_free(hc);
    rs_api_free(api);
    loop_free(l);
    return rc;
}
