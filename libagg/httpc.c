/* httpc: outbound HTTP POSTs with libcurl multi (socket API) driven by the event loop. */
#include "httpc.h"

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "list.h"
#include "log.h"

/* A response body over this ends the transfer (TRANSPORT_OTHER): no caller needs more than a
 * short JSON answer, and a resource that sends megabytes must not make us read or keep them. */
#define HTTPC_BODY_CAP             (64 * 1024)
#define HTTPC_BODY_CAP_TEXT        "64 KiB"
#define HTTPC_MAX_HOST_CONNECTIONS 64
#define HTTPC_MAX_CONNECTS         256 /* idle keep-alive connections kept in the pool */
/* Finished easy handles kept for the next request: curl_easy_init allocates
 * and zeroes several buffers (about 20 KB), which showed up as malloc time
 * in the worker's and resource-sim's profiles at thousands of POSTs/s. */
#define HTTPC_IDLE_EASY 32

typedef struct httpc_req httpc_req;

struct httpc_req {
    CURL *easy;
    char *resp;
    size_t resp_len, resp_cap;
    httpc_done_cb *done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    int too_big; /* the body passed HTTPC_BODY_CAP: the transfer was ended */
    list_node node; /* on httpc.reqs while in flight */
    /* With an extra header the request's own header list, in place (curl only reads a list):
     * the client's two shared headers and then this one, without an allocation. */
    struct curl_slist hdr[3];
    char extra[HTTPC_HEADER_MAX];
};

/* Sockets whose watch could not be added, kept for another try (see on_socket). */
#define HTTPC_UNWATCHED_MAX 32
#define HTTPC_REWATCH_MS    10

struct httpc {
    loop *l;
    CURLM *multi;
    /* curl's single timeout as a loop_now_ms() time, -1 when none; served by the prepare hook,
     * so that arming it allocates nothing and cannot fail (a lost timeout stalls a transfer). */
    long long timeout_at;
    int hooked; /* the prepare hook is registered */
    struct {
        int fd;
        unsigned events;
    } unwatched[HTTPC_UNWATCHED_MAX]; /* sockets whose loop_watch failed, tried again */
    size_t n_unwatched;
    list_node reqs;             /* every request in flight (httpc_req.node) */
    struct curl_slist *headers; /* the same for every POST; owned */
    CURL *idle[HTTPC_IDLE_EASY];
    size_t n_idle;
    size_t in_flight;
    char *ca_file, *cert_file, *key_file; /* httpc_set_tls; owned, NULL = unset */
    int dispatching; /* inside check_done(): httpc_free() is deferred */
    int free_pending;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static transport_t map_code(CURLcode rc) {
    switch (rc) {
    case CURLE_OK: return TRANSPORT_OK;
    case CURLE_OPERATION_TIMEDOUT: return TRANSPORT_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST: return TRANSPORT_CONNECT_FAILED;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: return TRANSPORT_CLOSED;
    default: return TRANSPORT_OTHER;
    }
}

/* Keeps easy for reuse or cleans it up when the pool is full. Its options stay (easy_new's are
 * the same for every request, the others are set by each); only the pointers into the finished
 * request are cleared. */
static void easy_release(httpc *c, CURL *easy) {
    if (!easy) return;
    if (c->n_idle < HTTPC_IDLE_EASY && !c->free_pending) {
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        c->idle[c->n_idle++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

static void req_free(httpc *c, httpc_req *r) {
    easy_release(c, r->easy);
    agg_free(r->resp);
    agg_free(r);
}

static void req_unlink(httpc *c, httpc_req *r) {
    list_remove(&r->node);
    c->in_flight--;
}

static void before_wait(loop *l, void *arg);

static void destroy(httpc *c) {
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &c->reqs) {
        httpc_req *r = list_entry(pos, httpc_req, node);
        list_remove(&r->node);
        curl_multi_remove_handle(c->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        req_free(c, r);
    }
    c->in_flight = 0;
    while (c->n_idle > 0) curl_easy_cleanup(c->idle[--c->n_idle]);
    curl_slist_free_all(c->headers);
    agg_free(c->ca_file);
    agg_free(c->cert_file);
    agg_free(c->key_file);
    /* Closing pooled connections calls the socket callback (REMOVE). */
    curl_multi_cleanup(c->multi);
    if (c->hooked) loop_remove_prepare(c->l, before_wait, c);
    agg_free(c);
}

/* Completes every finished transfer. done callbacks may add requests. */
static void check_done(httpc *c) {
    c->dispatching++;
    CURLMsg *msg;
    int left;
    while (!c->free_pending && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        httpc_req *r = (httpc_req *)priv;
        curl_multi_remove_handle(c->multi, easy);
        if (!r) continue;
        req_unlink(c, r);
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        httpc_result res = {
            .transport = map_code(rc),
            .status = status,
            .body = r->resp ? r->resp : "",
            .body_len = r->resp_len,
            .error = rc == CURLE_OK ? "" : (r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc)),
        };
        if (r->too_big) {
            res.transport = TRANSPORT_OTHER;
            res.error = "response body over " HTTPC_BODY_CAP_TEXT ": not read further";
        }
        r->done(&res, r->arg);
        log_ctx_clear(); /* one check serves many sessions' requests */
        req_free(c, r);
    }
    c->dispatching--;
    if (c->dispatching == 0 && c->free_pending) destroy(c);
}

static void on_fd(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    httpc *c = arg;
    int flags = 0;
    if (events & LOOP_READ) flags |= CURL_CSELECT_IN;
    if (events & LOOP_WRITE) flags |= CURL_CSELECT_OUT;
    if (events & LOOP_HUP) flags |= CURL_CSELECT_ERR;
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

/* Before each loop wait: watches the sockets whose watch failed, runs curl's timeout when it is
 * due, and caps the wait until it. */
static void before_wait(loop *l, void *arg) {
    httpc *c = arg;
    for (size_t i = 0; i < c->n_unwatched;) {
        if (loop_watch(l, c->unwatched[i].fd, c->unwatched[i].events, on_fd, c, NULL) == AGG_OK)
            c->unwatched[i] = c->unwatched[--c->n_unwatched];
        else
            i++;
    }
    if (c->n_unwatched > 0) loop_limit_wait(l, HTTPC_REWATCH_MS);
    if (c->timeout_at < 0) return;
    if (loop_now_ms() >= c->timeout_at) {
        c->timeout_at = -1;
        int running;
        c->dispatching++; /* a done callback may free c: not before this hook is over */
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(c);
        if (--c->dispatching == 0 && c->free_pending) {
            destroy(c);
            return;
        }
    }
    if (c->timeout_at >= 0) loop_limit_wait(l, c->timeout_at - loop_now_ms());
}

/* Drops fd from the sockets waiting for a watch. */
static void unpend(httpc *c, int fd) {
    for (size_t i = 0; i < c->n_unwatched; i++) {
        if (c->unwatched[i].fd != fd) continue;
        c->unwatched[i] = c->unwatched[--c->n_unwatched];
        return;
    }
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket into the loop. A watch that
 * cannot be added (out of memory) is tried again before each wait: telling curl (-1) would
 * make its whole multi handle unusable. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy;
    (void)socketp;
    httpc *c = userp;
    unpend(c, s);
    if (what == CURL_POLL_REMOVE) {
        /* An idle connection in curl's cache is watched again, for the same events, by its next
         * request: parked, the two cost no system call. */
        loop_park(c->l, s);
        return 0;
    }
    unsigned ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= LOOP_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= LOOP_WRITE;
    if (loop_watch(c->l, s, ev, on_fd, c, NULL) == AGG_OK) return 0;
    if (c->n_unwatched == HTTPC_UNWATCHED_MAX) return -1; /* nothing more can be done */
    c->unwatched[c->n_unwatched].fd = s;
    c->unwatched[c->n_unwatched++].events = ev;
    return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION: a socket on_socket parked is still in the loop's epoll set; it
 * is unwatched before its number can be given to another socket (which the loop would then
 * take for registered). */
static int on_close_socket(void *clientp, curl_socket_t s) {
    httpc *c = clientp;
    loop_unwatch(c->l, s);
    return close(s);
}

/* CURLMOPT_TIMERFUNCTION: curl keeps one timeout; -1 removes it. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    httpc *c = userp;
    c->timeout_at = timeout_ms < 0 ? -1 : loop_now_ms() + timeout_ms;
    return 0;
}
static size_t on_write(char *data, size_t size, size_t nmemb, void *userp) {
    httpc_req *r = userp;
    size_t n = size * nmemb;
    if (n == 0) return 0;
    if (n > HTTPC_BODY_CAP - r->resp_len) {
        r->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR: curl closes the connection, nothing more is read */
    }
    if (r->resp_len + n + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap : 1024;
        while (cap < r->resp_len + n + 1) cap *= 2;
        if (cap > HTTPC_BODY_CAP + 1) cap = HTTPC_BODY_CAP + 1;
        char *p = agg_realloc(r->resp, cap);
        if (!p) return 0; /* CURLE_WRITE_ERROR -> TRANSPORT_OTHER */
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, n);
    r->resp_len += n;
    r->resp[r->resp_len] = '\0';
    return n;
}

httpc *httpc_new(loop *l, err_t *e) {
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        err_set(e, "curl_global_init: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    httpc *c = agg_calloc(1, sizeof *c);
    if (!c) {
        err_nomem(e);
        return NULL;
    }
    c->l = l;
    c->timeout_at = -1;
    list_init(&c->reqs);
    struct curl_slist *h1 = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = h1 ? curl_slist_append(h1, "Expect:") : NULL; /* no 100-continue */
    if (!c->headers) {
        curl_slist_free_all(h1);
        agg_free(c);
        err_nomem(e);
        return NULL;
    }
    c->multi = curl_multi_init();
    if (!c->multi) {
        curl_slist_free_all(c->headers);
        agg_free(c);
        err_set(e, "curl_multi_init failed");
        return NULL;
    }
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)HTTPC_MAX_HOST_CONNECTIONS) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_MAX_CONNECTS) != CURLM_OK) {
        curl_multi_cleanup(c->multi);
        curl_slist_free_all(c->headers);
        agg_free(c);
        err_set(e, "curl_multi_setopt failed");
        return NULL;
    }
    if (loop_add_prepare(l, before_wait, c, e) != AGG_OK) {
        destroy(c);
        return NULL;
    }
    c->hooked = 1;
    return c;
}

void httpc_free(httpc *c) {
    if (!c) return;
    if (c->dispatching) {
        c->free_pending = 1;
        return;
    }
    destroy(c);
}

size_t httpc_in_flight(const httpc *c) { return c->in_flight; }

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK) rc = curl_easy_setopt(k, opt, val);                                    \
    } while (0)

/* A new handle with the options every request of c shares, or NULL (out of memory, or *rc set
 * when curl refused an option). */
static CURL *easy_new(httpc *c, CURLcode *rcp) {
    CURL *k = curl_easy_init();
    if (!k) return NULL;
    CURLcode rc = CURLE_OK;
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    /* libcurl's default, stated: a 3xx is the resource's answer (an ERROR outcome). Following it
     * would send the patient's request to wherever the resource points. */
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    SET(CURLOPT_CLOSESOCKETDATA, c);
    /* libcurl's defaults too, stated: an https:// resource is verified, never trusted blindly. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file) SET(CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file) SET(CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file) SET(CURLOPT_SSLKEY, c->key_file);
    if (rc == CURLE_OK) return k;
    *rcp = rc;
    curl_easy_cleanup(k);
    return NULL;
}

/* What httpc_tls_check says of one file: its first certificate (*crt) or key (*key). */
static int pem_check(const char *var, const char *path, X509 **crt, EVP_PKEY **key, err_t *e) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(e, "%s %s: cannot be read", var, path);
    if (crt) *crt = PEM_read_X509(f, NULL, NULL, NULL);
    if (key) *key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
    fclose(f);
    if (crt && !*crt) return err_set(e, "%s %s: no PEM certificate", var, path);
    if (key && !*key) return err_set(e, "%s %s: no unencrypted PEM private key", var, path);
    return AGG_OK;
}

int httpc_tls_check(const httpc_tls *t, err_t *e) {
    const char *cav = t->ca_var ? t->ca_var : "CA file";
    const char *cv = t->cert_var ? t->cert_var : "certificate file";
    const char *kv = t->key_var ? t->key_var : "key file";
    if (!t->cert_file != !t->key_file) return err_set(e, "%s and %s go together", cv, kv);
    X509 *ca = NULL, *crt = NULL;
    EVP_PKEY *key = NULL;
    int rc = AGG_OK;
    if (t->ca_file) rc = pem_check(cav, t->ca_file, &ca, NULL, e);
    if (rc == AGG_OK && t->cert_file)
        if ((rc = pem_check(cv, t->cert_file, &crt, NULL, e)) == AGG_OK &&
            (rc = pem_check(kv, t->key_file, NULL, &key, e)) == AGG_OK &&
            X509_check_private_key(crt, key) != 1)
            rc = err_set(e, "%s %s is not the key of %s %s", kv, t->key_file, cv, t->cert_file);
    X509_free(ca);
    X509_free(crt);
    EVP_PKEY_free(key);
    return rc;
}

int httpc_set_tls(httpc *c, const httpc_tls *t, err_t *e) {
    if (httpc_tls_check(t, e) != AGG_OK) return AGG_ERR;
    char *ca = t->ca_file ? agg_strdup(t->ca_file) : NULL;
    char *cert = t->cert_file ? agg_strdup(t->cert_file) : NULL;
    char *key = t->key_file ? agg_strdup(t->key_file) : NULL;
    if ((t->ca_file && !ca) || (t->cert_file && !cert) || (t->key_file && !key)) {
        agg_free(ca);
        agg_free(cert);
        agg_free(key);
        return err_nomem(e);
    }
    agg_free(c->ca_file);
    agg_free(c->cert_file);
    agg_free(c->key_file);
    c->ca_file = ca;
    c->cert_file = cert;
    c->key_file = key;
    /* The pooled handles were made with the old settings. */
    while (c->n_idle > 0) curl_easy_cleanup(c->idle[--c->n_idle]);
    return AGG_OK;
}

int httpc_post_json(httpc *c, const char *url, const char *body, long connect_timeout_ms,
                    long total_timeout_ms, httpc_done_cb *done, void *arg, err_t *e) {
    return httpc_post_json_header(c, url, body, NULL, connect_timeout_ms, total_timeout_ms, done,
                                  arg, e);
}

int httpc_post_json_header(httpc *c, const char *url, const char *body, const char *header,
                           long connect_timeout_ms, long total_timeout_ms, httpc_done_cb *done,
                           void *arg, err_t *e) {
    if (!url || !body || !done)
        return err_set(e, "httpc_post_json: url, body and done are required");
    if (header && (strlen(header) >= HTTPC_HEADER_MAX || strchr(header, '\n') ||
                   strchr(header, '\r') || !strchr(header, ':')))
        return err_set(e, "httpc_post_json: the header is not one 'Name: value' line");
    if (c->free_pending) return err_set(e, "httpc_post_json: client is being freed");
    httpc_req *r = agg_calloc(1, sizeof *r);
    if (!r) return err_nomem(e);
    r->done = done;
    r->arg = arg;
    list_init(&r->node);
    CURLcode rc = CURLE_OK;
    r->easy = c->n_idle > 0 ? c->idle[--c->n_idle] : easy_new(c, &rc);
    if (!r->easy) {
        req_free(c, r);
        if (rc != CURLE_OK) return err_set(e, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        return err_nomem(e);
    }
    CURL *k = r->easy;
    SET(CURLOPT_URL, url);
    if (header) {
        strcpy(r->extra, header);
        r->hdr[0] = (struct curl_slist){c->headers->data, &r->hdr[1]};
        r->hdr[1] = (struct curl_slist){c->headers->next->data, &r->hdr[2]};
        r->hdr[2] = (struct curl_slist){r->extra, NULL};
    }
    SET(CURLOPT_HTTPHEADER, header ? r->hdr : c->headers);
    SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    SET(CURLOPT_COPYPOSTFIELDS, body);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms > 0 ? connect_timeout_ms : 0L);
    SET(CURLOPT_TIMEOUT_MS, total_timeout_ms > 0 ? total_timeout_ms : 0L);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_PRIVATE, r);
    if (rc != CURLE_OK) {
        req_free(c, r);
        return err_set(e, "curl_easy_setopt: %s", curl_easy_strerror(rc));
    }
    list_insert_after(&c->reqs, &r->node);
    c->in_flight++;
    CURLMcode mrc = curl_multi_add_handle(c->multi, k);
    if (mrc != CURLM_OK) {
        req_unlink(c, r);
        req_free(c, r);
        return err_set(e, "curl_multi_add_handle: %s", curl_multi_strerror(mrc));
    }
    return AGG_OK;
}
#undef SET
