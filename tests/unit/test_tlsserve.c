/* test_tlsserve: inbound TLS (loading, refusals, reload) and outbound verification through a real httpd and httpc. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "httpc.h"
#include "httpd.h"
#include "loop.h"
#include "tlsserve.h"

static char dir[64];

/* path of name in the test's directory (a static buffer per slot). */
static const char *at(int slot, const char *name) {
    static char paths[8][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", dir, name);
    return paths[slot];
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A self-signed certificate for 127.0.0.1 valid for days, into name.pem and name.key; returns
 * its expiry. A self-signed certificate is its own CA: httpc trusts it with ca_file. */
static long long make_cert(const char *name, int days) {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    time_t now = time(NULL);
    static unsigned char serial = 1;
    serial++;
    gnutls_x509_crt_set_version(crt, 3);
    gnutls_x509_crt_set_serial(crt, &serial, 1);
    gnutls_x509_crt_set_activation_time(crt, now - 60);
    gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name, strlen(name));
    gnutls_x509_crt_set_key(crt, key);
    gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
    unsigned char ip[4] = {127, 0, 0, 1};
    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_SET);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    char buf[4096];
    size_t n = sizeof buf;
    char file[64];
    assert_int_equal(gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_PEM, buf, &n), 0);
    snprintf(file, sizeof file, "%s.pem", name);
    write_file(at(7, file), buf, n);
    n = sizeof buf;
    assert_int_equal(gnutls_x509_privkey_export_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                                      GNUTLS_PKCS_PLAIN, buf, &n),
                     0);
    snprintf(file, sizeof file, "%s.key", name);
    write_file(at(7, file), buf, n);
    long long exp = (long long)gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return exp;
}

static long long exp_a, exp_b;

static int setup_all(void **state) {
    (void)state;
    strcpy(dir, "/tmp/test_tlsserve.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    exp_a = make_cert("a", 1);
    exp_b = make_cert("b", 2);
    write_file(at(0, "junk.pem"), "not a certificate\n", 18);
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    const char *names[] = {"a.pem", "a.key", "b.pem", "b.key", "junk.pem", "live.pem", "live.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(at(0, names[i]));
    rmdir(dir);
    return 0;
}

static void copy(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file(to, buf, n);
}

static void test_config_both_or_neither(void **state) {
    (void)state;
    tlsserve_config c;
    err_t e;
    unsetenv("TLS_CERT_FILE");
    unsetenv("TLS_KEY_FILE");
    setenv("TLS_CLIENT_CA_FILE", "/ca.pem", 1);
    assert_int_equal(tlsserve_config_load(&c, 0, &e), AGG_OK); /* not read without client CA */
    assert_null(c.cert_file);
    assert_null(c.client_ca_file);
    assert_int_equal(tlsserve_config_load(&c, 1, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "TLS_CLIENT_CA_FILE needs"));
    unsetenv("TLS_CLIENT_CA_FILE");
    setenv("TLS_CERT_FILE", "/x.pem", 1);
    assert_int_equal(tlsserve_config_load(&c, 1, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "set both or neither"));
    setenv("TLS_KEY_FILE", "/x.key", 1);
    assert_int_equal(tlsserve_config_load(&c, 1, &e), AGG_OK);
    assert_string_equal(c.key_file, "/x.key");
    unsetenv("TLS_CERT_FILE");
    assert_int_equal(tlsserve_config_load(&c, 1, &e), AGG_ERR);
    unsetenv("TLS_KEY_FILE");
}

static void expect_refused(const char *cert, const char *key, const char *ca, const char *want) {
    tlsserve_config c = {cert, key, ca};
    err_t e;
    assert_null(tlsserve_new(&c, &e));
    if (!strstr(e.text, want)) fail_msg("wanted '%s' in '%s'", want, e.text);
}

static void test_bad_files_are_refused_with_one_line(void **state) {
    (void)state;
    expect_refused(at(0, "none.pem"), at(1, "a.key"), NULL, "TLS_CERT_FILE");
    expect_refused(at(0, "a.pem"), at(1, "none.key"), NULL, "TLS_KEY_FILE");
    expect_refused(at(0, "junk.pem"), at(1, "a.key"), NULL, "no PEM certificate");
    expect_refused(at(0, "a.pem"), at(1, "junk.pem"), NULL, "no unencrypted PEM private key");
    expect_refused(at(0, "a.pem"), at(1, "b.key"), NULL, "is not the key of");
    expect_refused(at(0, "a.pem"), at(1, "a.key"), at(2, "junk.pem"), "TLS_CLIENT_CA_FILE");
    expect_refused(at(0, "a.pem"), at(1, "a.key"), at(2, "none.pem"), "TLS_CLIENT_CA_FILE");
    expect_refused(NULL, NULL, NULL, "required");
}

static void test_load_reload_and_one_per_process(void **state) {
    (void)state;
    copy(at(0, "a.pem"), at(1, "live.pem"));
    copy(at(0, "a.key"), at(1, "live.key"));
    tlsserve_config c = {at(2, "live.pem"), at(3, "live.key"), NULL};
    err_t e;
    tlsserve *t = tlsserve_new(&c, &e);
    assert_non_null(t);
    assert_int_equal(tlsserve_expiry(t), exp_a);
    assert_null(tlsserve_new(&c, &e)); /* the retrieve function serves one */
    assert_non_null(strstr(e.text, "one certificate"));
    /* A half-written file: refused, the old certificate kept. */
    write_file(at(0, "live.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n", 33);
    assert_int_equal(tlsserve_reload(t, &e), AGG_ERR);
    assert_int_equal(tlsserve_expiry(t), exp_a);
    assert_int_equal(tlsserve_reload_failures(t), 1);
    /* The new pair, the key changed with it. */
    copy(at(0, "b.pem"), at(1, "live.pem"));
    copy(at(0, "b.key"), at(1, "live.key"));
    assert_int_equal(tlsserve_reload(t, &e), AGG_OK);
    assert_int_equal(tlsserve_expiry(t), exp_b);
    assert_int_equal(tlsserve_reloads(t), 1);
    tlsserve_free(t);
    /* Freed: a new one may serve. */
    assert_non_null(t = tlsserve_new(&c, &e));
    tlsserve_free(t);
}

static void test_allocation_failures(void **state) {
    (void)state;
    tlsserve_config c = {at(0, "a.pem"), at(1, "a.key"), at(2, "a.pem")};
    err_t e;
    for (size_t n = 1;; n++) {
        failalloc_arm(n);
        tlsserve *t = tlsserve_new(&c, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_non_null(t);
            tlsserve_free(t);
            break;
        }
        assert_null(t);
        assert_true(err_is_nomem(&e));
    }
}

/* --- through a server --- */

typedef struct call {
    int done;
    long status;
    transport_t transport;
    char error[256];
} call;

static void on_req(httpd_req *r, void *arg) {
    (void)arg;
    httpd_respond(r, 200, NULL, "{\"ok\":true}");
}

static void on_done(const httpc_result *res, void *arg) {
    call *c = arg;
    c->done = 1;
    c->status = res->status;
    c->transport = res->transport;
    snprintf(c->error, sizeof c->error, "%s", res->error);
}

static void stop_soon(loop *l, void *arg) {
    (void)arg;
    loop_stop(l);
}

/* POSTs to https://127.0.0.1:port with tls and runs the loop until the answer. */
static call post(loop *l, int port, const httpc_tls *tls) {
    err_t e;
    httpc *hc = httpc_new(l, &e);
    assert_non_null(hc);
    if (tls) assert_int_equal(httpc_set_tls(hc, tls, &e), AGG_OK);
    call c = {0};
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/x", port);
    assert_int_equal(httpc_post_json(hc, url, "{}", 5000, 5000, on_done, &c, &e), AGG_OK);
    for (int i = 0; i < 500 && !c.done; i++) {
        loop_timer_add(l, 10, stop_soon, NULL);
        loop_run(l);
    }
    httpc_free(hc);
    assert_true(c.done);
    return c;
}

static void test_https_served_and_verified(void **state) {
    (void)state;
    tlsserve_config c = {at(0, "a.pem"), at(1, "a.key"), NULL};
    err_t e;
    loop *l = loop_new(&e);
    tlsserve *t = tlsserve_new(&c, &e);
    assert_non_null(t);
    httpd_options o = {.bind_addr = "127.0.0.1", .tls = t};
    httpd *d = httpd_start(l, &o, on_req, NULL, &e);
    assert_non_null(d);
    httpc_tls trusted = {.ca_file = at(2, "a.pem")};
    call ok = post(l, httpd_port(d), &trusted);
    assert_int_equal(ok.status, 200);
    /* Not trusted: the system's CAs, or another certificate as the CA. */
    call sys = post(l, httpd_port(d), NULL);
    assert_int_equal(sys.status, 0);
    assert_non_null(strstr(sys.error, "certificate"));
    httpc_tls other = {.ca_file = at(2, "b.pem")};
    call wrong = post(l, httpd_port(d), &other);
    assert_int_equal(wrong.status, 0);
    httpd_stop(d);
    tlsserve_free(t);
    loop_free(l);
}

static void test_client_certificates_demanded(void **state) {
    (void)state;
    tlsserve_config c = {at(0, "a.pem"), at(1, "a.key"), at(2, "b.pem")};
    err_t e;
    loop *l = loop_new(&e);
    tlsserve *t = tlsserve_new(&c, &e);
    assert_non_null(t);
    httpd_options o = {.bind_addr = "127.0.0.1", .tls = t};
    httpd *d = httpd_start(l, &o, on_req, NULL, &e);
    assert_non_null(d);
    httpc_tls none = {.ca_file = at(3, "a.pem")};
    assert_int_equal(post(l, httpd_port(d), &none).status, 0);
    httpc_tls wrong = {
        .ca_file = at(3, "a.pem"), .cert_file = at(4, "a.pem"), .key_file = at(5, "a.key")};
    assert_int_equal(post(l, httpd_port(d), &wrong).status, 0);
    httpc_tls right = {
        .ca_file = at(3, "a.pem"), .cert_file = at(4, "b.pem"), .key_file = at(5, "b.key")};
    assert_int_equal(post(l, httpd_port(d), &right).status, 200);
    httpd_stop(d);
    tlsserve_free(t);
    loop_free(l);
}

static void test_httpc_tls_check(void **state) {
    (void)state;
    err_t e;
    httpc_tls t = {.ca_file = at(0, "none.pem"), .ca_var = "RESOURCE_TLS_CA_FILE"};
    assert_int_equal(httpc_tls_check(&t, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "RESOURCE_TLS_CA_FILE"));
    t.ca_file = at(0, "junk.pem");
    assert_int_equal(httpc_tls_check(&t, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "no PEM certificate"));
    t = (httpc_tls){.cert_file = at(0, "a.pem"), .cert_var = "C", .key_var = "K"};
    assert_int_equal(httpc_tls_check(&t, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "C and K go together"));
    t.key_file = at(1, "b.key");
    assert_int_equal(httpc_tls_check(&t, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "is not the key of"));
    t.key_file = at(1, "junk.pem");
    assert_int_equal(httpc_tls_check(&t, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "no unencrypted PEM private key"));
    t.key_file = at(1, "a.key");
    t.ca_file = at(2, "b.pem");
    assert_int_equal(httpc_tls_check(&t, &e), AGG_OK);
    t = (httpc_tls){0};
    assert_int_equal(httpc_tls_check(&t, &e), AGG_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_both_or_neither),
        cmocka_unit_test(test_bad_files_are_refused_with_one_line),
        cmocka_unit_test(test_load_reload_and_one_per_process),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_https_served_and_verified),
        cmocka_unit_test(test_client_certificates_demanded),
        cmocka_unit_test(test_httpc_tls_check),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
