/* tlsserve: the served certificate as generations swapped on reload; GnuTLS asks for it per handshake. */
#include "tlsserve.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cfg.h"
#include "log.h"

/* TLS 1.2 and 1.3 only: SSL 3.0, TLS 1.0 and 1.1 are broken (RFC 8996). */
#define TLSSERVE_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLSSERVE_CHAIN_MAX  16

/* One certificate as loaded. A handshake keeps pointers to it for the life of its session
 * (GnuTLS does not copy what the retrieve function gives), and nothing tells when the last
 * session served by it ends: older generations are kept until tlsserve_free. A reload is an
 * operator's act (days apart), each a few kilobytes. */
typedef struct tls_gen {
    gnutls_pcert_st pcert[TLSSERVE_CHAIN_MAX];
    unsigned n_pcert;
    gnutls_privkey_t key;
    long long expiry;
    struct tls_gen *older;
} tls_gen;

struct tlsserve {
    char *cert_file, *key_file;
    gnutls_datum_t client_ca; /* PEM bytes, NUL-terminated, kept for libmicrohttpd */
    tls_gen *cur;
    unsigned long long reloads, failures;
    loop *l;
    int hup_pipe[2];
};

/* The process's one server certificate: GnuTLS's retrieve function has no argument. */
static tlsserve *serving;
static volatile sig_atomic_t hup_fd = -1;

int tlsserve_config_load(tlsserve_config *c, int with_client_ca, err_t *e) {
    c->cert_file = cfg_str("TLS_CERT_FILE", NULL);
    c->key_file = cfg_str("TLS_KEY_FILE", NULL);
    c->client_ca_file = with_client_ca ? cfg_str("TLS_CLIENT_CA_FILE", NULL) : NULL;
    if (!c->cert_file != !c->key_file)
        return err_set(e, "TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither");
    if (c->client_ca_file && !c->cert_file)
        return err_set(e, "TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
    return AGG_OK;
}

static void gen_free(tls_gen *g) {
    if (!g) return;
    for (unsigned i = 0; i < g->n_pcert; i++) gnutls_pcert_deinit(&g->pcert[i]);
    if (g->key) gnutls_privkey_deinit(g->key);
    agg_free(g);
}

static int read_file(const char *var, const char *path, gnutls_datum_t *d, err_t *e) {
    int rc = gnutls_load_file(path, d);
    if (rc == GNUTLS_E_MEMORY_ERROR) return err_nomem(e);
    if (rc < 0) return err_set(e, "%s %s: cannot be read", var, path);
    return AGG_OK;
}

/* The certificate's and the key's public key ids match. */
static int key_matches(tls_gen *g) {
    unsigned char a[64], b[64];
    size_t na = sizeof a, nb = sizeof b;
    gnutls_pubkey_t pub;
    if (gnutls_pubkey_init(&pub) < 0) return 0;
    int ok = gnutls_pubkey_import_privkey(pub, g->key, 0, 0) >= 0 &&
             gnutls_pubkey_get_key_id(pub, 0, b, &nb) >= 0 &&
             gnutls_pubkey_get_key_id(g->pcert[0].pubkey, 0, a, &na) >= 0 && na == nb &&
             memcmp(a, b, na) == 0;
    gnutls_pubkey_deinit(pub);
    return ok;
}

static long long cert_expiry(const gnutls_pcert_st *p) {
    gnutls_x509_crt_t crt;
    long long t = 0;
    if (gnutls_x509_crt_init(&crt) < 0) return 0;
    if (gnutls_x509_crt_import(crt, &p->cert, GNUTLS_X509_FMT_DER) >= 0)
        t = (long long)gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    return t;
}

/* A new generation from t's files, or NULL with e filled. */
static tls_gen *gen_load(const tlsserve *t, err_t *e) {
    tls_gen *g = agg_calloc(1, sizeof *g);
    if (!g) {
        err_nomem(e);
        return NULL;
    }
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    int ok = 0;
    if (read_file("TLS_CERT_FILE", t->cert_file, &cert, e) != AGG_OK ||
        read_file("TLS_KEY_FILE", t->key_file, &key, e) != AGG_OK)
        goto out;
    g->n_pcert = TLSSERVE_CHAIN_MAX;
    if (gnutls_pcert_list_import_x509_raw(g->pcert, &g->n_pcert, &cert, GNUTLS_X509_FMT_PEM, 0) <
            0 ||
        g->n_pcert == 0) {
        g->n_pcert = 0;
        err_set(e, "TLS_CERT_FILE %s: no PEM certificate (or more than %d)", t->cert_file,
                TLSSERVE_CHAIN_MAX);
        goto out;
    }
    if (gnutls_privkey_init(&g->key) < 0) {
        g->key = NULL;
        err_nomem(e);
        goto out;
    }
    if (gnutls_privkey_import_x509_raw(g->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
        err_set(e, "TLS_KEY_FILE %s: no unencrypted PEM private key", t->key_file);
        goto out;
    }
    if (!key_matches(g)) {
        err_set(e, "TLS_KEY_FILE %s is not the key of TLS_CERT_FILE %s", t->key_file, t->cert_file);
        goto out;
    }
    g->expiry = cert_expiry(&g->pcert[0]);
    ok = 1;
out:
    gnutls_free(cert.data);
    if (key.data) gnutls_memset(key.data, 0, key.size); /* the private key leaves no copy */
    gnutls_free(key.data);
    if (ok) return g;
    gen_free(g);
    return NULL;
}

/* gnutls_certificate_retrieve_function2, called by each handshake: the current generation. */
static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey) {
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    if (!serving || !serving->cur) return -1;
    if (serving->client_ca.data) {
        /* libmicrohttpd only asks for a client certificate and checks nothing: demand one and
         * have GnuTLS verify it against TLS_CLIENT_CA_FILE within the handshake. */
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(s, NULL, 0);
    }
    *pcert = serving->cur->pcert;
    *pcert_length = serving->cur->n_pcert;
    *pkey = serving->cur->key;
    return 0;
}

tlsserve *tlsserve_new(const tlsserve_config *c, err_t *e) {
    if (!c->cert_file || !c->key_file) {
        err_set(e, "tlsserve_new: TLS_CERT_FILE and TLS_KEY_FILE are required");
        return NULL;
    }
    if (serving) {
        err_set(e, "tlsserve_new: a process serves one certificate");
        return NULL;
    }
    tlsserve *t = agg_calloc(1, sizeof *t);
    if (!t) {
        err_nomem(e);
        return NULL;
    }
    t->hup_pipe[0] = t->hup_pipe[1] = -1;
    if (!(t->cert_file = agg_strdup(c->cert_file)) || !(t->key_file = agg_strdup(c->key_file))) {
        err_nomem(e);
        goto fail;
    }
    if (c->client_ca_file) {
        if (read_file("TLS_CLIENT_CA_FILE", c->client_ca_file, &t->client_ca, e) != AGG_OK)
            goto fail;
        /* libmicrohttpd takes the bundle as a C string. */
        unsigned char *p = gnutls_realloc(t->client_ca.data, t->client_ca.size + 1);
        if (!p) {
            err_nomem(e);
            goto fail;
        }
        p[t->client_ca.size] = '\0';
        t->client_ca.data = p;
        gnutls_x509_crt_t *cas = NULL;
        unsigned n = 0;
        if (gnutls_x509_crt_list_import2(&cas, &n, &t->client_ca, GNUTLS_X509_FMT_PEM, 0) < 0 ||
            n == 0) {
            err_set(e, "TLS_CLIENT_CA_FILE %s: no PEM certificate", c->client_ca_file);
            goto fail;
        }
        for (unsigned i = 0; i < n; i++) gnutls_x509_crt_deinit(cas[i]);
        gnutls_free(cas);
    }
    if (!(t->cur = gen_load(t, e))) goto fail;
    serving = t;
    return t;
fail:
    tlsserve_free(t);
    return NULL;
}

void tlsserve_free(tlsserve *t) {
    if (!t) return;
    if (serving == t) serving = NULL;
    if (t->l && t->hup_pipe[0] >= 0) {
        signal(SIGHUP, SIG_DFL);
        hup_fd = -1;
        loop_unwatch(t->l, t->hup_pipe[0]);
    }
    for (int i = 0; i < 2; i++)
        if (t->hup_pipe[i] >= 0) close(t->hup_pipe[i]);
    while (t->cur) {
        tls_gen *g = t->cur;
        t->cur = g->older;
        gen_free(g);
    }
    gnutls_free(t->client_ca.data);
    agg_free(t->cert_file);
    agg_free(t->key_file);
    agg_free(t);
}

int tlsserve_reload(tlsserve *t, err_t *e) {
    tls_gen *g = gen_load(t, e);
    if (!g) {
        t->failures++;
        return AGG_ERR;
    }
    g->older = t->cur;
    t->cur = g;
    t->reloads++;
    return AGG_OK;
}

static void on_hup_signal(int sig) {
    (void)sig;
    int saved = errno;
    if (hup_fd >= 0) {
        char b = 1;
        ssize_t r = write(hup_fd, &b, 1); /* full pipe: a reload is due already */
        (void)r;
    }
    errno = saved;
}

static void on_hup(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)events;
    tlsserve *t = arg;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    err_t e;
    if (tlsserve_reload(t, &e) != AGG_OK) {
        log_error("TLS certificate reload failed, still serving the old one (expires at %lld): %s",
                  t->cur->expiry, e.text);
        return;
    }
    log_info("TLS certificate reloaded from %s; it expires at %lld (Unix seconds)", t->cert_file,
             t->cur->expiry);
}

int tlsserve_reload_on_sighup(tlsserve *t, loop *l, err_t *e) {
    if (t->l) return AGG_OK;
    if (pipe2(t->hup_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        t->hup_pipe[0] = t->hup_pipe[1] = -1;
        return err_set(e, "pipe: %s", strerror(errno));
    }
    if (loop_watch(l, t->hup_pipe[0], LOOP_READ, on_hup, t, e) != AGG_OK) return AGG_ERR;
    t->l = l;
    hup_fd = t->hup_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hup_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) != 0) return err_set(e, "sigaction: %s", strerror(errno));
    return AGG_OK;
}

long long tlsserve_expiry(const tlsserve *t) { return t->cur->expiry; }
unsigned long long tlsserve_reloads(const tlsserve *t) { return t->reloads; }
unsigned long long tlsserve_reload_failures(const tlsserve *t) { return t->failures; }

size_t tlsserve_mhd_options(const tlsserve *t, void *items) {
    struct MHD_OptionItem *o = items;
    size_t n = 0;
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)retrieve};
    o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLSSERVE_PRIORITIES};
    if (t->client_ca.data)
        o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->client_ca.data};
    return n;
}
