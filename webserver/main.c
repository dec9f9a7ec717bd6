/* main: the web-server process: serves the web UI's three files from memory with the security headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "httpd.h"
#include "log.h"
#include "loop.h"
#include "webfiles.h"

#define PROG "web-server"

static const char USAGE[] =
    "Usage: web-server [--help] [--version]\n"
    "\n"
    "Serves the clinician's web UI (index.html, app.css, app.js), read once at\n"
    "start-up from WEB_ROOT and held in memory: no request path reaches the file\n"
    "system. GET and HEAD only (405 otherwise), 404 for any other path, ETag and\n"
    "If-None-Match (304). Every answer carries Content-Security-Policy,\n"
    "X-Content-Type-Options, X-Frame-Options, Referrer-Policy,\n"
    "Cross-Origin-Opener-Policy, Cross-Origin-Resource-Policy, Permissions-Policy\n"
    "and Cache-Control. Health: GET /actuator/health (also /liveness, /readiness).\n"
    "\n"
    "Environment (defaults in brackets):\n"
    "  WEB_PORT [8082], BIND_ADDR [0.0.0.0]\n"
    "  WEB_ROOT [/srv/web]: the folder that holds index.html, app.css and app.js\n"
    "  WEB_CONNECT_SRC [http://localhost:8080 http://127.0.0.1:8080]: the gateway\n"
    "    origins (http(s)://host[:port], separated by spaces or commas) the page may\n"
    "    call, added to the policy's connect-src 'self'; the page's ?api= must be one\n"
    "  HTTP_MAX_CONNECTIONS [1024]: 1..65535\n"
    "  HTTP_HEADER_TIMEOUT_MS [10000], HTTP_IDLE_TIMEOUT_MS [65000]: 0 = none\n"
    "  LOG_LEVEL [info]: debug, info, warn or error\n"
    "  LOG_FORMAT [json]: json (one object per line) or text\n";

typedef struct web_cfg {
    long port, max_conn, header_ms, idle_ms;
    const char *bind_addr, *root, *connect_src;
} web_cfg;

static int config_load(web_cfg *c, err_t *e) {
    memset(c, 0, sizeof *c);
    if (cfg_long("WEB_PORT", 8082, 1, 65535, &c->port, e) != AGG_OK ||
        cfg_long("HTTP_MAX_CONNECTIONS", 1024, 1, 65535, &c->max_conn, e) != AGG_OK ||
        cfg_long("HTTP_HEADER_TIMEOUT_MS", 10000, 0, 3600000, &c->header_ms, e) != AGG_OK ||
        cfg_long("HTTP_IDLE_TIMEOUT_MS", 65000, 0, 3600000, &c->idle_ms, e) != AGG_OK)
        return AGG_ERR;
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    c->root = cfg_str("WEB_ROOT", "/srv/web");
    c->connect_src =
        cfg_str("WEB_CONNECT_SRC", "http://localhost:8080 http://127.0.0.1:8080");
    return webfiles_connect_src_check(c->connect_src, e);
}

/* Every request: one table look-up; the answer's bytes and headers were built at start-up. */
static void handle(httpd_req *r, void *arg) {
    const webfiles *w = arg;
    webfiles_answer a;
    webfiles_answer_for(w, httpd_method(r), httpd_path(r), httpd_header(r, "If-None-Match"), &a);
    httpd_req_set_route(r, a.route);
    httpd_respond_static(r, a.status, a.content_type, a.body, a.len, a.headers, a.n_pairs);
}

/* Logs each answer but the health probes' (a probe every few seconds would drown the rest). */
static void on_done(const httpd_done *d, void *arg) {
    (void)arg;
    if (d->route && strcmp(d->route, "/actuator/health") == 0) return;
    log_debug("%s %s -> %d", d->method, d->route ? d->route : "other", d->status);
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, USAGE);
    err_t e;
    web_cfg cfg;
    if (log_init(PROG, &e) != AGG_OK || config_load(&cfg, &e) != AGG_OK) cfg_fail(PROG, &e);
    /* TLS comes with libagg's httpd (TLS_CERT_FILE, TLS_KEY_FILE): pass 1 here once it serves
     * https, so that the answers carry Strict-Transport-Security. */
    webfiles *w = webfiles_new(cfg.connect_src, 0, &e);
    if (!w) {
        fprintf(stderr, PROG ": %s\n", e.text);
        return 1;
    }
    if (webfiles_load(w, cfg.root, &e) != AGG_OK) {
        webfiles_free(w);
        cfg_fail(PROG, &e);
    }
    loop *l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK) {
        fprintf(stderr, PROG ": %s\n", e.text);
        loop_free(l);
        webfiles_free(w);
        return 1;
    }
    cfg_raise_nofile();
    httpd_options ho;
    memset(&ho, 0, sizeof ho);
    ho.bind_addr = cfg.bind_addr;
    ho.port = (int)cfg.port;
    ho.conn_limit = (unsigned)cfg.max_conn;
    ho.max_body = 1024; /* GET and HEAD carry none */
    ho.header_timeout_ms = cfg.header_ms;
    ho.body_timeout_ms = cfg.header_ms;
    ho.idle_timeout_ms = cfg.idle_ms;
    ho.on_done = on_done;
    httpd *d = httpd_start(l, &ho, handle, w, &e);
    if (!d) {
        fprintf(stderr, PROG ": %s\n", e.text);
        loop_free(l);
        webfiles_free(w);
        return 1;
    }
    log_info("listening on %s:%d; serving %s; connect-src 'self' %s", cfg.bind_addr,
             httpd_port(d), cfg.root, cfg.connect_src);
    int rc = 0;
    if (loop_run(l) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    log_info("stopping");
    httpd_stop(d);
    loop_free(l);
    webfiles_free(w);
    return rc;
}
