/* sse: server-sent-event framing, Last-Event-ID parsing and the pub/sub payload parser. */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"

#define SSE_ID_MAX        1000000000000000LL /* 10^15 */
#define SSE_ID_DIGITS_MAX 16

size_t sse_retry_frame(long ms, char buf[SSE_RETRY_FRAME_MAX]) {
    if (ms < 0) ms = 0;
    if (ms > 1000000000L) ms = 1000000000L;
    int n = snprintf(buf, SSE_RETRY_FRAME_MAX, "retry: %ld\n\n", ms);
    return n > 0 ? (size_t)n : 0;
}

char *sse_frame(long long id, const char *event, const char *data, size_t len_data, size_t *len,
                err_t *e) {
    if (!event || strpbrk(event, "\r\n")) {
        err_set(e, "an event name is required, without CR or LF");
        return NULL;
    }
    if (!data && len_data > 0) {
        err_set(e, "no data");
        return NULL;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len_data; i++) {
        if (data[i] == '\r') {
            lines++;
            if (i + 1 < len_data && data[i + 1] == '\n') i++;
        } else if (data[i] == '\n') {
            lines++;
        }
    }
    char head[64];
    int hn = id < 0 ? snprintf(head, sizeof head, "event: ")
                    : snprintf(head, sizeof head, "id: %lld\nevent: ", id);
    if (hn < 0 || (size_t)hn >= sizeof head) {
        err_set(e, "the id does not fit the frame head");
        return NULL;
    }
    size_t ev_len = strlen(event);
    size_t cap = (size_t)hn + ev_len + 1 + lines * 7 + len_data + 1 + 1;
    char *buf = agg_malloc(cap);
    if (!buf) {
        err_nomem(e);
        return NULL;
    }
    char *p = buf;
    memcpy(p, head, (size_t)hn);
    p += hn;
    memcpy(p, event, ev_len);
    p += ev_len;
    *p++ = '\n';
    memcpy(p, "data: ", 6);
    p += 6;
    for (size_t i = 0; i < len_data; i++) {
        char c = data[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < len_data && data[i + 1] == '\n') i++;
            memcpy(p, "\ndata: ", 7);
            p += 7;
        } else {
            *p++ = c;
        }
    }
    *p++ = '\n';
    *p++ = '\n';
    *p = '\0';
    if (len) *len = (size_t)(p - buf);
    return buf;
}

/* Parses n decimal digits (1..SSE_ID_DIGITS_MAX) with value <= 10^15. */
static int parse_id(const char *s, size_t n, long long *out, err_t *e) {
    if (n == 0 || n > SSE_ID_DIGITS_MAX) return err_set(e, "an id is 1..16 digits");
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return err_set(e, "an id is decimal digits only");
        v = v * 10 + (s[i] - '0');
    }
    if (v > SSE_ID_MAX) return err_set(e, "an id is at most 10^15");
    *out = v;
    return AGG_OK;
}

int sse_parse_last_event_id(const char *s, long long *out, err_t *e) {
    if (!s || *s == '\0') {
        *out = 0;
        return AGG_OK;
    }
    return parse_id(s, strlen(s), out, e);
}

int sse_parse_published(const char *payload, size_t len, sse_published *out, err_t *e) {
    if (!payload) return err_set(e, "no payload");
    const char *sp1 = memchr(payload, ' ', len);
    if (!sp1) return err_set(e, "no space after the seq");
    long long seq = 0;
    if (parse_id(payload, (size_t)(sp1 - payload), &seq, e) != AGG_OK) return AGG_ERR;
    if (seq <= 0) return err_set(e, "the seq is not positive");
    const char *ev = sp1 + 1;
    const char *end = payload + len;
    const char *p = ev;
    while (p < end && *p >= 'a' && *p <= 'z') p++;
    if (p == ev || p >= end || *p != ' ' || p + 1 >= end)
        return err_set(e, "no [a-z]+ event name and data after the seq");
    out->seq = seq;
    out->event = ev;
    out->event_len = (size_t)(p - ev);
    out->data = p + 1;
    out->data_len = (size_t)(end - (p + 1));
    return AGG_OK;
}
