/* webfiles: the web UI's files held in memory, their content types and ETags, the security headers and each request's answer. */
#include "webfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "apierr.h"

const char *const WEBFILES_NAMES[WEBFILES_COUNT] = {"index.html", "app.css", "app.js"};
/* Each file's route (metrics and logs): index.html is served as "/". */
static const char *const ROUTES[WEBFILES_COUNT] = {"/", "/app.css", "/app.js"};

#define FILE_MAX     (4u << 20) /* far above the UI's 30 KB: a wrong WEB_ROOT fails, not swaps */
#define ETAG_HEX     16         /* 64 bits of SHA-256: a changed file gets a new tag */
#define HEALTH_BODY  "{\"status\":\"UP\"}"
#define ALLOW_METHOD "GET, HEAD"

/* Why each header: the CSP confines the page to its own scripts and styles and to the configured
 * gateways, so an injected note cannot run script or send data elsewhere; framing is refused
 * twice (frame-ancestors, and X-Frame-Options for older browsers) against clickjacking; the
 * page's URL never leaves in a Referer; the opener policy cuts window references from other
 * sites; the page asks for no device. */
static const char PERMISSIONS[] = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), "
                                  "magnetometer=(), microphone=(), payment=(), usb=()";
static const char HSTS[] = "max-age=31536000; includeSubDomains";

typedef struct wf_file {
    char *data; /* NULL until added */
    size_t len;
    char etag[ETAG_HEX + 3]; /* "<hex>" with its quotes */
    const char *headers[2 * WEBFILES_MAX_PAIRS];
    size_t n_pairs;
} wf_file;

struct webfiles {
    char *csp;
    int https;
    char *body_404;
    char *body_405;
    wf_file files[WEBFILES_COUNT];
    const char *plain[2 * WEBFILES_MAX_PAIRS]; /* health and 404: the set and no-store */
    size_t n_plain;
    const char *allow[2 * WEBFILES_MAX_PAIRS]; /* 405: plain and Allow */
    size_t n_allow;
};

const char *webfiles_content_type(const char *name) {
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
    };
    size_t n = name ? strlen(name) : 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t m = strlen(types[i].ext);
        if (n > m && strcmp(name + n - m, types[i].ext) == 0) return types[i].type;
    }
    return "application/octet-stream";
}

static int host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-';
}

static int hex_or_colon(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           c == ':' || c == '.';
}

/* One origin of len bytes at p: http(s)://host[:port], nothing more. */
static int origin_valid(const char *p, size_t len) {
    const char *end = p + len;
    size_t skip;
    if (len > 8 && strncmp(p, "https://", 8) == 0)
        skip = 8;
    else if (len > 7 && strncmp(p, "http://", 7) == 0)
        skip = 7;
    else
        return 0;
    const char *h = p + skip;
    if (*h == '[') {
        const char *q = h + 1;
        while (q < end && hex_or_colon(*q)) q++;
        if (q == h + 1 || q >= end || *q != ']') return 0;
        h = q + 1;
    } else {
        const char *q = h;
        while (q < end && host_char(*q)) q++;
        if (q == h || *h == '.' || *h == '-') return 0;
        h = q;
    }
    if (h == end) return 1;
    if (*h != ':' || h + 1 == end || end - (h + 1) > 5) return 0;
    long port = 0;
    for (const char *q = h + 1; q < end; q++) {
        if (*q < '0' || *q > '9') return 0;
        port = port * 10 + (*q - '0');
    }
    return port >= 1 && port <= 65535;
}

int webfiles_connect_src_check(const char *list, err_t *e) {
    const char *p = list ? list : "";
    int i = 0;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ' && *q != ',') q++;
        i++;
        if (!origin_valid(p, (size_t)(q - p)))
            return err_set(e,
                           "WEB_CONNECT_SRC entry %d must be an origin http(s)://host[:port] "
                           "(no path, wildcard or quote)",
                           i);
        p = q;
    }
    return AGG_OK;
}

char *webfiles_csp(const char *connect_src, err_t *e) {
    static const char head[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'";
    static const char tail[] = "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    const char *src = connect_src ? connect_src : "";
    /* Every origin takes a space before it; a separator never adds length beyond that. */
    size_t cap = sizeof head + strlen(src) * 2 + sizeof tail + 1;
    char *out = agg_malloc(cap);
    if (!out) {
        err_nomem(e);
        return NULL;
    }
    size_t n = strlen(head);
    memcpy(out, head, n);
    const char *p = src;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ' && *q != ',') q++;
        out[n++] = ' ';
        memcpy(out + n, p, (size_t)(q - p));
        n += (size_t)(q - p);
        p = q;
    }
    memcpy(out + n, tail, sizeof tail); /* with its NUL */
    return out;
}

/* One entity tag of If-None-Match at p..end against etag, W/ ignored (weak comparison). */
static int tag_equal(const char *p, const char *end, const char *etag) {
    if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
    size_t n = strlen(etag);
    return (size_t)(end - p) == n && memcmp(p, etag, n) == 0;
}

int webfiles_etag_matches(const char *if_none_match, const char *etag) {
    const char *p = if_none_match;
    if (!p || !etag) return 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ',') q++;
        const char *last = q;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) last--;
        if ((last - p == 1 && *p == '*') || tag_equal(p, last, etag)) return 1;
        p = q;
    }
    return 0;
}

/* Writes the security headers into h (pairs) and returns how many pairs. */
static size_t security_headers(const webfiles *w, const char **h) {
    size_t n = 0;
    h[2 * n] = "Content-Security-Policy", h[2 * n + 1] = w->csp, n++;
    h[2 * n] = "X-Content-Type-Options", h[2 * n + 1] = "nosniff", n++;
    h[2 * n] = "X-Frame-Options", h[2 * n + 1] = "DENY", n++;
    h[2 * n] = "Referrer-Policy", h[2 * n + 1] = "no-referrer", n++;
    h[2 * n] = "Cross-Origin-Opener-Policy", h[2 * n + 1] = "same-origin", n++;
    h[2 * n] = "Cross-Origin-Resource-Policy", h[2 * n + 1] = "same-origin", n++;
    h[2 * n] = "Permissions-Policy", h[2 * n + 1] = PERMISSIONS, n++;
    if (w->https) h[2 * n] = "Strict-Transport-Security", h[2 * n + 1] = HSTS, n++;
    return n;
}

static char *error_body(int status, const char *code, const char *message, err_t *e) {
    api_error ae;
    apierr_set(&ae, status, code, NULL, "%s", message);
    return apierr_to_json(&ae, e);
}

webfiles *webfiles_new(const char *connect_src, int https, err_t *e) {
    webfiles *w = agg_calloc(1, sizeof *w);
    if (!w) {
        err_nomem(e);
        return NULL;
    }
    w->https = https;
    if (!(w->csp = webfiles_csp(connect_src, e)) ||
        !(w->body_404 = error_body(404, "not_found", "no such file", e)) ||
        !(w->body_405 = error_body(405, "method_not_allowed", "only GET and HEAD are allowed", e))) {
        webfiles_free(w);
        return NULL;
    }
    size_t n = security_headers(w, w->plain);
    w->plain[2 * n] = "Cache-Control", w->plain[2 * n + 1] = "no-store", n++;
    w->n_plain = n;
    memcpy(w->allow, w->plain, sizeof w->plain);
    w->allow[2 * n] = "Allow", w->allow[2 * n + 1] = ALLOW_METHOD, n++;
    w->n_allow = n;
    return w;
}

static int name_index(const char *name) {
    for (int i = 0; i < WEBFILES_COUNT; i++)
        if (name && strcmp(name, WEBFILES_NAMES[i]) == 0) return i;
    return -1;
}

/* The quoted hex of the first ETAG_HEX/2 bytes of SHA-256 of the data into out. */
static int make_etag(const char *data, size_t len, char *out, err_t *e) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < ETAG_HEX / 2)
        return err_set(e, "SHA-256 failed");
    static const char hex[] = "0123456789abcdef";
    out[0] = '"';
    for (int i = 0; i < ETAG_HEX / 2; i++) {
        out[1 + 2 * i] = hex[md[i] >> 4];
        out[2 + 2 * i] = hex[md[i] & 15];
    }
    out[ETAG_HEX + 1] = '"';
    out[ETAG_HEX + 2] = '\0';
    return AGG_OK;
}

int webfiles_add(webfiles *w, const char *name, const char *data, size_t len, err_t *e) {
    int i = name_index(name);
    if (i < 0) return err_set(e, "%s is not one of the UI's files", name ? name : "(null)");
    wf_file *f = &w->files[i];
    if (f->data) return err_set(e, "%s was added twice", name);
    char tag[sizeof f->etag];
    if (make_etag(data, len, tag, e) != AGG_OK) return AGG_ERR;
    char *copy = agg_malloc(len + 1);
    if (!copy) return err_nomem(e);
    memcpy(copy, data, len);
    copy[len] = '\0';
    f->data = copy;
    f->len = len;
    memcpy(f->etag, tag, sizeof tag);
    size_t n = security_headers(w, f->headers);
    /* no-cache: the browser keeps the file but asks each time; the ETag makes that a 304. The
     * names carry no version, so a longer lifetime would keep an old app.js after an upgrade. */
    f->headers[2 * n] = "Cache-Control", f->headers[2 * n + 1] = "no-cache", n++;
    f->headers[2 * n] = "ETag", f->headers[2 * n + 1] = f->etag, n++;
    f->n_pairs = n;
    return AGG_OK;
}

/* Reads root/name whole into a malloc'd buffer. */
static char *read_file(const char *root, const char *name, size_t *len, err_t *e) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root, name) >= sizeof path) {
        err_set(e, "WEB_ROOT is too long");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        err_set(e, "WEB_ROOT: cannot open %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > FILE_MAX) {
        err_set(e, "WEB_ROOT: %s is not a regular file of at most %u bytes", path, FILE_MAX);
        close(fd);
        return NULL;
    }
    char *buf = agg_malloc((size_t)st.st_size + 1);
    if (!buf) {
        err_nomem(e);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            err_set(e, "WEB_ROOT: cannot read %s: %s", path, r < 0 ? strerror(errno) : "short");
            agg_free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

int webfiles_load(webfiles *w, const char *root, err_t *e) {
    for (int i = 0; i < WEBFILES_COUNT; i++) {
        size_t len = 0;
        char *data = read_file(root, WEBFILES_NAMES[i], &len, e);
        if (!data) return AGG_ERR;
        int rc = webfiles_add(w, WEBFILES_NAMES[i], data, len, e);
        agg_free(data);
        if (rc != AGG_OK) return AGG_ERR;
    }
    return AGG_OK;
}

int webfiles_complete(const webfiles *w) {
    for (int i = 0; i < WEBFILES_COUNT; i++)
        if (!w->files[i].data) return 0;
    return 1;
}

void webfiles_free(webfiles *w) {
    if (!w) return;
    for (int i = 0; i < WEBFILES_COUNT; i++) agg_free(w->files[i].data);
    agg_free(w->body_404);
    agg_free(w->body_405);
    agg_free(w->csp);
    agg_free(w);
}

static void plain_answer(const webfiles *w, int status, const char *body, const char *route,
                         webfiles_answer *out) {
    out->status = status;
    out->content_type = "application/json";
    out->body = body;
    out->len = strlen(body);
    out->headers = status == 405 ? w->allow : w->plain;
    out->n_pairs = status == 405 ? w->n_allow : w->n_plain;
    out->route = route;
}

/* The file a path names, or -1: only "/" and "/<name>" exactly. */
static int path_file(const char *path) {
    if (!path || path[0] != '/') return -1;
    if (path[1] == '\0') return 0; /* index.html */
    return name_index(path + 1);
}

void webfiles_answer_for(const webfiles *w, const char *method, const char *path,
                         const char *if_none_match, webfiles_answer *out) {
    memset(out, 0, sizeof *out);
    if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
        plain_answer(w, 405, w->body_405, "other", out);
        return;
    }
    if (path && (strcmp(path, "/actuator/health") == 0 ||
                 strcmp(path, "/actuator/health/liveness") == 0 ||
                 strcmp(path, "/actuator/health/readiness") == 0)) {
        plain_answer(w, 200, HEALTH_BODY, "/actuator/health", out);
        return;
    }
    int i = path_file(path);
    if (i < 0 || !w->files[i].data) {
        plain_answer(w, 404, w->body_404, "other", out);
        return;
    }
    const wf_file *f = &w->files[i];
    out->content_type = webfiles_content_type(WEBFILES_NAMES[i]);
    out->headers = f->headers;
    out->n_pairs = f->n_pairs;
    out->route = ROUTES[i];
    if (webfiles_etag_matches(if_none_match, f->etag)) {
        out->status = 304;
        return;
    }
    out->status = 200;
    out->body = f->data;
    out->len = f->len;
}
