/* http: an incremental HTTP/1.1 response parser (status, framing headers, chunked bodies). */
#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { S_STATUS, S_HEADER, S_BODY_LEN, S_BODY_EOF, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF, S_TRAILER, S_DONE };

void http_resp_init(http_resp *r) {
    memset(r, 0, sizeof *r);
    r->content_length = -1;
}

static int header_line(http_resp *r) {
    char *l = r->line;
    char *colon = strchr(l, ':');
    if (!colon) return HTTP_ERR;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (!strcasecmp(l, "content-length")) {
        char *end;
        r->content_length = strtoll(v, &end, 10);
        if (end == v || r->content_length < 0) return HTTP_ERR;
    } else if (!strcasecmp(l, "transfer-encoding")) {
        if (strcasestr(v, "chunked")) r->chunked = 1;
    } else if (!strcasecmp(l, "connection")) {
        if (strcasestr(v, "close")) r->conn_close = 1;
        else if (strcasestr(v, "keep-alive")) r->conn_close = 0;
    }
    return HTTP_MORE;
}

/* Handles one complete line in r->line; may change the state. */
static int line_done(http_resp *r) {
    r->line[r->line_len] = 0;
    if (r->line_len && r->line[r->line_len - 1] == '\r') r->line[--r->line_len] = 0;
    switch (r->state) {
    case S_STATUS:
        if (strncmp(r->line, "HTTP/1.", 7) || r->line_len < 12) return HTTP_ERR;
        if (r->line[7] == '0') r->conn_close = 1;
        r->status = atoi(r->line + 9);
        if (r->status < 100 || r->status > 599) return HTTP_ERR;
        r->state = S_HEADER;
        return HTTP_MORE;
    case S_HEADER:
        if (r->line_len) return header_line(r);
        r->headers_done = 1;
        if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) {
            r->state = S_DONE;
        } else if (r->chunked) {
            r->state = S_CHUNK_SIZE;
        } else if (r->content_length >= 0) {
            r->remaining = r->content_length;
            r->state = r->remaining ? S_BODY_LEN : S_DONE;
        } else {
            r->conn_close = 1;
            r->state = S_BODY_EOF;
        }
        return HTTP_MORE;
    case S_CHUNK_SIZE: {
        char *end;
        r->remaining = strtoll(r->line, &end, 16);
        if (end == r->line || r->remaining < 0) return HTTP_ERR;
        r->state = r->remaining ? S_CHUNK_DATA : S_TRAILER;
        return HTTP_MORE;
    }
    case S_CHUNK_CRLF:
        if (r->line_len) return HTTP_ERR;
        r->state = S_CHUNK_SIZE;
        return HTTP_MORE;
    case S_TRAILER:
        if (!r->line_len) r->state = S_DONE;
        return HTTP_MORE;
    default:
        return HTTP_ERR;
    }
}

int http_resp_feed(http_resp *r, const char *p, size_t n, size_t *used, http_body_fn body, void *ud) {
    size_t i = 0;
    while (i < n && r->state != S_DONE) {
        if (r->state == S_BODY_LEN || r->state == S_CHUNK_DATA || r->state == S_BODY_EOF) {
            size_t take = n - i;
            if (r->state != S_BODY_EOF && (long long)take > r->remaining) take = (size_t)r->remaining;
            if (body && take) body(ud, p + i, take);
            i += take;
            if (r->state != S_BODY_EOF) {
                r->remaining -= (long long)take;
                if (!r->remaining) r->state = r->state == S_BODY_LEN ? S_DONE : S_CHUNK_CRLF;
            }
            continue;
        }
        /* line-oriented states */
        const char *nl = memchr(p + i, '\n', n - i);
        size_t seg = nl ? (size_t)(nl - (p + i)) : n - i;
        size_t room = sizeof r->line - 1 - r->line_len;
        memcpy(r->line + r->line_len, p + i, seg < room ? seg : room);
        r->line_len += seg < room ? seg : room;
        i += seg;
        if (!nl) break;
        i++;    /* the newline */
        if (line_done(r) == HTTP_ERR) {
            *used = i;
            return HTTP_ERR;
        }
        r->line_len = 0;
    }
    *used = i;
    return r->state == S_DONE ? HTTP_DONE : HTTP_MORE;
}

int http_resp_eof(http_resp *r) {
    if (r->state == S_BODY_EOF || r->state == S_DONE) {
        r->state = S_DONE;
        return HTTP_DONE;
    }
    return HTTP_ERR;
}

/* Points at the first character of the value of "key": in json, or NULL. */
static const char *json_value(const char *json, size_t n, const char *key) {
    size_t kl = strlen(key);
    const char *p = json, *end = json + n;
    while (p + kl + 2 < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q || q + kl + 2 > end) return NULL;
        if (!memcmp(q + 1, key, kl) && q[kl + 1] == '"') {
            const char *v = q + kl + 2;
            while (v < end && (*v == ' ' || *v == ':')) v++;
            return v < end ? v : NULL;
        }
        p = q + 1;
    }
    return NULL;
}

int http_json_str(const char *json, size_t n, const char *key, char *out, size_t outsz) {
    const char *v = json_value(json, n, key), *end = json + n;
    if (!v || *v != '"') return -1;
    v++;
    const char *q = memchr(v, '"', (size_t)(end - v));
    if (!q || (size_t)(q - v) >= outsz) return -1;
    memcpy(out, v, (size_t)(q - v));
    out[q - v] = 0;
    return 0;
}

int http_json_long(const char *json, size_t n, const char *key, long *out) {
    const char *v = json_value(json, n, key), *end = json + n;
    if (!v || (!isdigit((unsigned char)*v) && *v != '-')) return -1;
    long sign = 1, x = 0;
    if (*v == '-') {
        sign = -1;
        v++;
    }
    if (v >= end || !isdigit((unsigned char)*v)) return -1;
    while (v < end && isdigit((unsigned char)*v)) x = x * 10 + (*v++ - '0');
    *out = sign * x;
    return 0;
}
