/* tlsserve: inbound TLS for httpd (GnuTLS): certificate and key from PEM files, TLS 1.2+, SIGHUP reload. */
#ifndef AGG_TLSSERVE_H
#define AGG_TLSSERVE_H

#include <stddef.h>

#include "err.h"
#include "loop.h"

/* What a program serves: from TLS_CERT_FILE, TLS_KEY_FILE and (where the program takes client
 * certificates) TLS_CLIENT_CA_FILE. Borrowed from the environment. */
typedef struct tlsserve_config {
    const char *cert_file;      /* PEM: the certificate, then its chain; NULL = plain HTTP */
    const char *key_file;       /* PEM: its private key */
    const char *client_ca_file; /* PEM CA bundle: demand and verify client certificates; NULL = none */
} tlsserve_config;

/* Reads TLS_CERT_FILE and TLS_KEY_FILE, and TLS_CLIENT_CA_FILE when with_client_ca. AGG_ERR
 * with one line when only one of the first two is set (or a client CA without them). */
int tlsserve_config_load(tlsserve_config *c, int with_client_ca, err_t *e);

typedef struct tlsserve tlsserve;

/* Loads the certificate and key of c (c->cert_file set; the names are copied). NULL with one
 * line in e naming the variable when a file cannot be read, holds no PEM certificate or key,
 * or the key is not the certificate's. One per process: the GnuTLS certificate callback that
 * serves it has no argument, so a second one replaces the first (NULL, e filled). */
tlsserve *tlsserve_new(const tlsserve_config *c, err_t *e);
/* Stops serving it (no httpd may still use it) and frees everything; t may be NULL. */
void tlsserve_free(tlsserve *t);

/* Reads the files again and serves the new certificate to handshakes from now on; connections
 * already open keep theirs. AGG_ERR with e filled (the old certificate stays) when they are
 * bad as in tlsserve_new. */
int tlsserve_reload(tlsserve *t, err_t *e);

/* Reloads on every SIGHUP, from loop l (the handler only wakes the loop); each reload is
 * logged with the certificate's expiry, or why it failed. AGG_ERR when the pipe or the watch
 * cannot be made. */
int tlsserve_reload_on_sighup(tlsserve *t, loop *l, err_t *e);

/* The served certificate's notAfter, Unix seconds. */
long long tlsserve_expiry(const tlsserve *t);
/* Reloads that succeeded and that failed so far. */
unsigned long long tlsserve_reloads(const tlsserve *t);
unsigned long long tlsserve_reload_failures(const tlsserve *t);

/* libmicrohttpd's options for t (struct MHD_OptionItem, declared as void to keep microhttpd.h
 * out of this header): writes at most TLSSERVE_MHD_OPTIONS items into items, returns how
 * many. The daemon needs MHD_USE_TLS too. */
#define TLSSERVE_MHD_OPTIONS 3
size_t tlsserve_mhd_options(const tlsserve *t, void *items);

#endif
