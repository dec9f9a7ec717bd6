/* reslist: parses RESOURCE_URLS ("url" or "name=url", comma-separated) into a resource list. */
#include "reslist.h"

#include <stdio.h>
#include <string.h>

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* Validates "http(s)://host[:port][/path]" (s, n bytes): a non-empty host, a
 * port of 1..65535 digits when present, no whitespace. 1 when valid. */
static int url_ok(const char *s, size_t n) {
    size_t p;
    if (n >= 7 && strncmp(s, "http://", 7) == 0) {
        p = 7;
    } else if (n >= 8 && strncmp(s, "https://", 8) == 0) {
        p = 8;
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i]) || (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ',') return 0;
    }
    size_t host_start = p;
    while (p < n && s[p] != '/' && s[p] != ':' && s[p] != '?' && s[p] != '#') p++;
    if (p == host_start) return 0;
    if (p < n && s[p] == ':') {
        size_t port_start = ++p;
        long port = 0;
        while (p < n && s[p] >= '0' && s[p] <= '9' && p - port_start < 6) {
            port = port * 10 + (s[p] - '0');
            p++;
        }
        if (p == port_start || port < 1 || port > 65535) return 0;
        if (p < n && s[p] != '/') return 0;
    }
    return 1;
}

/* Parses one trimmed entry s (n bytes, n > 0) at index idx into r. */
static int parse_entry(const char *s, size_t n, int idx, resource *r, err_t *e) {
    const char *url = s;
    size_t url_n = n;
    const char *eq = memchr(s, '=', n);
    const char *scheme = NULL;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(s + i, "://", 3) == 0) {
            scheme = s + i;
            break;
        }
    }
    if (eq && (!scheme || eq < scheme)) {
        size_t name_n = (size_t)(eq - s);
        while (name_n > 0 && is_space(s[name_n - 1])) name_n--;
        if (name_n == 0) return err_set(e, "RESOURCE_URLS entry %d: empty name", idx + 1);
        if (name_n > RESLIST_NAME_MAX)
            return err_set(e, "RESOURCE_URLS entry %d: name longer than %d characters", idx + 1,
                           RESLIST_NAME_MAX);
        for (size_t i = 0; i < name_n; i++) {
            if (!is_name_char(s[i]))
                return err_set(e, "RESOURCE_URLS entry %d: name may only use [A-Za-z0-9._-]",
                               idx + 1);
        }
        memcpy(r->source, s, name_n);
        r->source[name_n] = '\0';
        url = eq + 1;
        url_n = n - (size_t)(url - s);
        while (url_n > 0 && is_space(*url)) {
            url++;
            url_n--;
        }
    } else {
        snprintf(r->source, sizeof r->source, "resource-%d", idx + 1);
    }
    while (url_n > 0 && url[url_n - 1] == '/') url_n--;
    if (!url_ok(url, url_n))
        return err_set(e,
                       "RESOURCE_URLS entry %d: '%.*s' is not an http(s)://host[:port][/path] URL",
                       idx + 1, (int)(url_n > 100 ? 100 : url_n), url);
    if (url_n > RESLIST_URL_MAX)
        return err_set(e, "RESOURCE_URLS entry %d: URL longer than %d characters", idx + 1,
                       RESLIST_URL_MAX);
    memcpy(r->url, url, url_n);
    r->url[url_n] = '\0';
    return AGG_OK;
}

int reslist_parse(const char *spec, resource_list *out, err_t *e) {
    out->n = 0;
    if (!spec) return AGG_OK;
    const char *p = spec;
    while (is_space(*p)) p++;
    if (*p == '\0') return AGG_OK;
    int idx = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n > 0 && is_space(*s)) {
            s++;
            n--;
        }
        while (n > 0 && is_space(s[n - 1])) n--;
        if (n == 0) {
            out->n = 0;
            return err_set(e, "RESOURCE_URLS entry %d is empty", idx + 1);
        }
        if (idx >= RESLIST_MAX) {
            out->n = 0;
            return err_set(e, "RESOURCE_URLS has more than %d entries", RESLIST_MAX);
        }
        resource *r = &out->items[idx];
        if (parse_entry(s, n, idx, r, e) != AGG_OK) {
            out->n = 0;
            return AGG_ERR;
        }
        for (int j = 0; j < idx; j++) {
            if (strcmp(out->items[j].source, r->source) == 0) {
                out->n = 0;
                return err_set(e, "RESOURCE_URLS: duplicate resource name '%s'", r->source);
            }
        }
        idx++;
        if (!end) break;
        p = end + 1;
    }
    out->n = idx;
    return AGG_OK;
}
