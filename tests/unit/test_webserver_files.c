/* test_webserver_files: web-server's file table, content types, ETags, security headers, answers to hostile paths and methods, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "failalloc.h"
#include "webfiles.h"

static const char INDEX[] = "<!doctype html><title>x</title>";
static const char CSS[] = "body{}";
static const char JS[] = "'use strict';";

static webfiles *full_set(int https) {
    webfiles *w = webfiles_new("http://127.0.0.1:8080", https, NULL);
    assert_non_null(w);
    assert_int_equal(webfiles_add(w, "index.html", INDEX, strlen(INDEX), NULL), AGG_OK);
    assert_int_equal(webfiles_add(w, "app.css", CSS, strlen(CSS), NULL), AGG_OK);
    assert_int_equal(webfiles_add(w, "app.js", JS, strlen(JS), NULL), AGG_OK);
    assert_true(webfiles_complete(w));
    return w;
}

/* The value of header name in the answer, or NULL; fails when it appears twice. */
static const char *header(const webfiles_answer *a, const char *name) {
    const char *found = NULL;
    for (size_t i = 0; i < a->n_pairs; i++)
        if (strcasecmp(a->headers[2 * i], name) == 0) {
            assert_null(found);
            found = a->headers[2 * i + 1];
        }
    return found;
}

static void assert_security_headers(const webfiles_answer *a, int https) {
    const char *csp = header(a, "Content-Security-Policy");
    assert_non_null(csp);
    assert_string_equal(csp, "default-src 'none'; script-src 'self'; style-src 'self'; "
                             "img-src 'self' data:; connect-src 'self' http://127.0.0.1:8080; "
                             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    assert_string_equal(header(a, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(header(a, "X-Frame-Options"), "DENY");
    assert_string_equal(header(a, "Referrer-Policy"), "no-referrer");
    assert_string_equal(header(a, "Cross-Origin-Opener-Policy"), "same-origin");
    assert_non_null(strstr(header(a, "Permissions-Policy"), "camera=()"));
    assert_non_null(header(a, "Cache-Control"));
    if (https)
        assert_non_null(strstr(header(a, "Strict-Transport-Security"), "max-age="));
    else
        assert_null(header(a, "Strict-Transport-Security"));
}

static void content_types_by_extension(void **state) {
    (void)state;
    assert_string_equal(webfiles_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(webfiles_content_type("app.css"), "text/css; charset=utf-8");
    assert_string_equal(webfiles_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(webfiles_content_type("js"), "application/octet-stream");
    assert_string_equal(webfiles_content_type("a.json"), "application/octet-stream");
    assert_string_equal(webfiles_content_type(NULL), "application/octet-stream");
}

static void every_file_and_the_root_are_served(void **state) {
    (void)state;
    webfiles *w = full_set(0);
    static const struct {
        const char *path, *body, *type, *route;
    } cases[] = {
        {"/", INDEX, "text/html; charset=utf-8", "/"},
        {"/index.html", INDEX, "text/html; charset=utf-8", "/"},
        {"/app.css", CSS, "text/css; charset=utf-8", "/app.css"},
        {"/app.js", JS, "text/javascript; charset=utf-8", "/app.js"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int head = 0; head < 2; head++) {
            webfiles_answer a;
            webfiles_answer_for(w, head ? "HEAD" : "GET", cases[i].path, NULL, &a);
            assert_int_equal(a.status, 200);
            assert_int_equal(a.len, strlen(cases[i].body));
            assert_memory_equal(a.body, cases[i].body, a.len);
            assert_string_equal(a.content_type, cases[i].type);
            assert_string_equal(a.route, cases[i].route);
            assert_security_headers(&a, 0);
            assert_string_equal(header(&a, "Cache-Control"), "no-cache");
            const char *etag = header(&a, "ETag");
            assert_non_null(etag);
            assert_int_equal(strlen(etag), 18);
            assert_int_equal(etag[0], '"');
        }
    }
    webfiles_free(w);
}

static void health_answers_up(void **state) {
    (void)state;
    webfiles *w = full_set(0);
    const char *paths[] = {"/actuator/health", "/actuator/health/liveness",
                           "/actuator/health/readiness"};
    for (size_t i = 0; i < 3; i++) {
        webfiles_answer a;
        webfiles_answer_for(w, "GET", paths[i], NULL, &a);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "{\"status\":\"UP\"}");
        assert_string_equal(a.content_type, "application/json");
        assert_string_equal(header(&a, "Cache-Control"), "no-store");
        assert_security_headers(&a, 0);
    }
    webfiles_free(w);
}

/* No path but the exact names matches: traversal, encodings, doubled slashes, absolute paths,
 * other files of web/ and names with a suffix all get 404, with the headers. */
static void every_other_path_is_404(void **state) {
    (void)state;
    webfiles *w = full_set(0);
    const char *paths[] = {"/../index.html", "/..%2findex.html", "/%2e%2e/app.js",
                           "//app.js", "/./app.js", "/etc/passwd", "/../../../../etc/passwd",
                           "/README.md", "/package.json", "/tests/harness.mjs", "/app.js/",
                           "/app.js.map", "/APP.JS", "/app%2ejs", "/index.html%00",
                           "index.html", "", "/actuator/health/x", "/actuator/prometheus",
                           "/app.js?x", NULL};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        webfiles_answer a;
        webfiles_answer_for(w, "GET", paths[i], NULL, &a);
        assert_int_equal(a.status, 404);
        assert_string_equal(a.route, "other");
        assert_non_null(strstr(a.body, "\"error\":\"not_found\""));
        assert_string_equal(header(&a, "Cache-Control"), "no-store");
        assert_null(header(&a, "ETag"));
        assert_security_headers(&a, 0);
    }
    webfiles_free(w);
}

static void other_methods_are_405_with_allow(void **state) {
    (void)state;
    webfiles *w = full_set(0);
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "get", "", NULL};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        webfiles_answer a;
        webfiles_answer_for(w, methods[i], "/", NULL, &a);
        assert_int_equal(a.status, 405);
        assert_string_equal(header(&a, "Allow"), "GET, HEAD");
        assert_non_null(strstr(a.body, "\"error\":\"method_not_allowed\""));
        assert_security_headers(&a, 0);
        webfiles_answer_for(w, methods[i], "/nope", NULL, &a);
        assert_int_equal(a.status, 405);
    }
    webfiles_free(w);
}

static void if_none_match_gives_304(void **state) {
    (void)state;
    webfiles *w = full_set(0);
    webfiles_answer a;
    webfiles_answer_for(w, "GET", "/app.js", NULL, &a);
    char etag[64], list[160], weak[80];
    snprintf(etag, sizeof etag, "%s", header(&a, "ETag"));
    webfiles_answer_for(w, "GET", "/app.js", etag, &a);
    assert_int_equal(a.status, 304);
    assert_int_equal(a.len, 0);
    assert_null(a.body);
    assert_string_equal(header(&a, "ETag"), etag);
    assert_security_headers(&a, 0);
    snprintf(list, sizeof list, "\"0000000000000000\", %s ,\"1\"", etag);
    webfiles_answer_for(w, "GET", "/app.js", list, &a);
    assert_int_equal(a.status, 304);
    snprintf(weak, sizeof weak, "W/%s", etag);
    webfiles_answer_for(w, "HEAD", "/app.js", weak, &a);
    assert_int_equal(a.status, 304);
    webfiles_answer_for(w, "GET", "/app.js", "*", &a);
    assert_int_equal(a.status, 304);
    /* Another file's tag, a changed tag, an unquoted one: the file. */
    webfiles_answer_for(w, "GET", "/app.css", etag, &a);
    assert_int_equal(a.status, 200);
    etag[5] = etag[5] == 'a' ? 'b' : 'a';
    webfiles_answer_for(w, "GET", "/app.js", etag, &a);
    assert_int_equal(a.status, 200);
    webfiles_answer_for(w, "GET", "/app.js", "", &a);
    assert_int_equal(a.status, 200);
    webfiles_answer_for(w, "GET", "/app.js", ",,", &a);
    assert_int_equal(a.status, 200);
    assert_false(webfiles_etag_matches(NULL, "\"x\""));
    assert_false(webfiles_etag_matches("\"x\"", NULL));
    assert_false(webfiles_etag_matches("W/", "\"x\""));
    assert_true(webfiles_etag_matches("W/\"x\"", "\"x\""));
    webfiles_free(w);
}

static void etags_follow_the_content(void **state) {
    (void)state;
    webfiles *w1 = webfiles_new(NULL, 0, NULL), *w2 = webfiles_new(NULL, 0, NULL);
    assert_int_equal(webfiles_add(w1, "app.js", "a", 1, NULL), AGG_OK);
    assert_int_equal(webfiles_add(w2, "app.js", "b", 1, NULL), AGG_OK);
    webfiles_answer a1, a2;
    webfiles_answer_for(w1, "GET", "/app.js", NULL, &a1);
    webfiles_answer_for(w2, "GET", "/app.js", NULL, &a2);
    assert_string_not_equal(header(&a1, "ETag"), header(&a2, "ETag"));
    /* A file not added is not served. */
    webfiles_answer_for(w1, "GET", "/", NULL, &a1);
    assert_int_equal(a1.status, 404);
    assert_false(webfiles_complete(w1));
    webfiles_free(w1);
    webfiles_free(w2);
}

static void hsts_only_over_https(void **state) {
    (void)state;
    webfiles *w = full_set(1);
    webfiles_answer a;
    webfiles_answer_for(w, "GET", "/", NULL, &a);
    assert_security_headers(&a, 1);
    webfiles_answer_for(w, "GET", "/nope", NULL, &a);
    assert_security_headers(&a, 1);
    webfiles_answer_for(w, "POST", "/", NULL, &a);
    assert_security_headers(&a, 1);
    webfiles_free(w);
}

static void only_the_ui_files_can_be_added(void **state) {
    (void)state;
    webfiles *w = webfiles_new(NULL, 0, NULL);
    err_t e;
    assert_int_equal(webfiles_add(w, "README.md", "x", 1, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "README.md"));
    assert_int_equal(webfiles_add(w, "../app.js", "x", 1, &e), AGG_ERR);
    assert_int_equal(webfiles_add(w, NULL, "x", 1, &e), AGG_ERR);
    assert_int_equal(webfiles_add(w, "app.js", "x", 1, &e), AGG_OK);
    assert_int_equal(webfiles_add(w, "app.js", "y", 1, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "twice"));
    webfiles_answer a;
    webfiles_answer_for(w, "GET", "/app.js", NULL, &a);
    assert_memory_equal(a.body, "x", 1);
    webfiles_free(w);
    webfiles_free(NULL);
}

static void connect_src_origins_are_checked(void **state) {
    (void)state;
    const char *good[] = {"", "http://localhost:8080", "https://api.example.org",
                          "http://127.0.0.1:1 https://a-b.example:65535",
                          "http://[::1]:8080,http://localhost:8090", " , http://x ", NULL};
    const char *bad[] = {"ftp://x", "http://", "http://x/", "http://x/path", "http://*:8080",
                         "http://*.example.org", "'unsafe-inline'", "http://x; script-src *",
                         "http://x:0", "http://x:65536", "http://x:123456", "http://x:",
                         "http://x:8a", "http://-x", "http://[::1", "http://[]",
                         "http://ok https://bad/ ", "data:", "*", "http://x\"y"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(webfiles_connect_src_check(good[i], NULL), AGG_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e;
        if (webfiles_connect_src_check(bad[i], &e) != AGG_ERR) fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(e.text, "WEB_CONNECT_SRC entry"));
    }
    char *csp = webfiles_csp(" http://a:1,https://b ,", NULL);
    assert_non_null(strstr(csp, "; connect-src 'self' http://a:1 https://b; base-uri"));
    agg_free(csp);
    csp = webfiles_csp(NULL, NULL);
    assert_non_null(strstr(csp, "; connect-src 'self'; base-uri"));
    agg_free(csp);
}

/* The folder is read once; a missing file or a folder in a file's place stops the start. */
static void load_reads_the_folder(void **state) {
    (void)state;
    char dir[] = "/tmp/test_webserver_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    webfiles *w = webfiles_new(NULL, 0, NULL);
    err_t e;
    assert_int_equal(webfiles_load(w, dir, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "index.html"));
    webfiles_free(w);
    for (int i = 0; i < WEBFILES_COUNT; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, WEBFILES_NAMES[i]);
        if (i == 2) {
            assert_int_equal(mkdir(path, 0700), 0);
            continue;
        }
        FILE *f = fopen(path, "w");
        fputs(WEBFILES_NAMES[i], f);
        fclose(f);
    }
    w = webfiles_new(NULL, 0, NULL);
    assert_int_equal(webfiles_load(w, dir, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "app.js"));
    webfiles_free(w);
    snprintf(path, sizeof path, "%s/app.js", dir);
    assert_int_equal(rmdir(path), 0);
    FILE *f = fopen(path, "w");
    fputs("js", f);
    fclose(f);
    w = webfiles_new(NULL, 0, NULL);
    assert_int_equal(webfiles_load(w, dir, &e), AGG_OK);
    assert_true(webfiles_complete(w));
    webfiles_answer a;
    webfiles_answer_for(w, "GET", "/app.js", NULL, &a);
    assert_int_equal(a.len, 2);
    assert_memory_equal(a.body, "js", 2);
    webfiles_free(w);
    for (int i = 0; i < WEBFILES_COUNT; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, WEBFILES_NAMES[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Every allocation of building the set failed in turn: an error that says out of memory,
 * nothing leaked (LeakSanitizer), and the set unchanged by a failed add. */
static void every_allocation_failure(void **state) {
    (void)state;
    for (size_t n = 1;; n++) {
        err_t e = {0};
        failalloc_arm(n);
        webfiles *w = webfiles_new("http://a", 0, &e);
        int rc = w ? webfiles_add(w, "app.js", "x", 1, &e) : AGG_ERR;
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(rc, AGG_OK);
            webfiles_free(w);
            assert_true(n > 3);
            break;
        }
        assert_int_equal(rc, AGG_ERR);
        assert_true(err_is_nomem(&e));
        if (w) {
            webfiles_answer a;
            webfiles_answer_for(w, "GET", "/app.js", NULL, &a);
            assert_int_equal(a.status, 404);
            assert_int_equal(webfiles_add(w, "app.js", "x", 1, NULL), AGG_OK);
        }
        webfiles_free(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_types_by_extension),
        cmocka_unit_test(every_file_and_the_root_are_served),
        cmocka_unit_test(health_answers_up),
        cmocka_unit_test(every_other_path_is_404),
        cmocka_unit_test(other_methods_are_405_with_allow),
        cmocka_unit_test(if_none_match_gives_304),
        cmocka_unit_test(etags_follow_the_content),
        cmocka_unit_test(hsts_only_over_https),
        cmocka_unit_test(only_the_ui_files_can_be_added),
        cmocka_unit_test(connect_src_origins_are_checked),
        cmocka_unit_test(load_reads_the_folder),
        cmocka_unit_test(every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
