/* sse: an incremental text/event-stream parser (id, event, data fields; comments counted). */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(sse_parser *p) {
    memset(p, 0, sizeof *p);
    p->id = -1;
}

void sse_free(sse_parser *p) {
    free(p->line);
    free(p->data);
    sse_init(p);
}

static int grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 128;
    while (c < need) c *= 2;
    char *n = realloc(*buf, c);
    if (!n) return -1;
    *buf = n;
    *cap = c;
    return 0;
}

/* Handles one complete line (without its terminator). */
static int line(sse_parser *p, sse_event_fn fn, void *ud) {
    if (!p->len) {   /* blank line: dispatch */
        if (p->dlen || p->event[0]) {
            if (p->dlen) p->dlen--;   /* the last data line's newline */
            if (grow(&p->data, &p->dcap, p->dlen + 1)) return -1;
            p->data[p->dlen] = 0;
            fn(ud, p->id, p->event[0] ? p->event : "message", p->data, p->dlen);
        }
        p->dlen = 0;
        p->event[0] = 0;
        p->id = -1;
        return 0;
    }
    char *l = p->line, *colon = memchr(l, ':', p->len);
    size_t nlen = colon ? (size_t)(colon - l) : p->len;
    const char *v = colon ? colon + 1 : l + p->len;
    if (colon && v < l + p->len && *v == ' ') v++;
    size_t vlen = (size_t)(l + p->len - v);
    if (nlen == 4 && !memcmp(l, "data", 4)) {
        if (grow(&p->data, &p->dcap, p->dlen + vlen + 2)) return -1;
        memcpy(p->data + p->dlen, v, vlen);
        p->dlen += vlen;
        p->data[p->dlen++] = '\n';
    } else if (nlen == 5 && !memcmp(l, "event", 5)) {
        size_t k = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, k);
        p->event[k] = 0;
    } else if (nlen == 2 && !memcmp(l, "id", 2)) {
        long long x = 0;
        for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) x = x * 10 + (v[i] - '0');
        p->id = x;
    }
    return 0;
}

int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud) {
    if (p->oom) return -1;
    size_t i = 0;
    while (i < n) {
        char c = buf[i];
        if (p->cr && c == '\n') {   /* the LF of a CRLF already handled */
            p->cr = 0;
            i++;
            continue;
        }
        p->cr = 0;
        if (p->skipping) {
            while (i < n && buf[i] != '\n' && buf[i] != '\r') i++;
            if (i == n) break;
            p->cr = buf[i] == '\r';
            p->skipping = 0;
            i++;
            continue;
        }
        if (p->len == 0 && c == ':') {
            p->skipping = 1;
            p->comments++;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        if (grow(&p->line, &p->cap, p->len + (j - i) + 1)) {
            p->oom = 1;
            return -1;
        }
        memcpy(p->line + p->len, buf + i, j - i);
        p->len += j - i;
        i = j;
        if (i == n) break;
        p->cr = buf[i] == '\r';
        i++;
        if (line(p, fn, ud)) {
            p->oom = 1;
            return -1;
        }
        p->len = 0;
    }
    return 0;
}
