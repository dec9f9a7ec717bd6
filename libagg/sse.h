/* sse: server-sent-event framing, Last-Event-ID parsing, and the pub/sub event payload. */
#ifndef AGG_SSE_H
#define AGG_SSE_H

#include <stddef.h>

#include "err.h"

/* The comment frame sent every keep-alive period. */
#define SSE_KEEPALIVE ": keep-alive\n\n"

/* Frames one event: "id: <id>\nevent: <event>\ndata: <line>\n" (one data line
 * per line of data; CR, LF and CRLF all split lines) and a blank line. A negative id writes
 * no id line: an event that is not in the session's log keeps the client's last event id.
 * Returns a malloc'd NUL-terminated frame and its length in *len; caller
 * frees. NULL with e filled ("out of memory", or event NULL or holding CR/LF).
 * event and data are borrowed for the call. */
char *sse_frame(long long id, const char *event, const char *data, size_t len_data, size_t *len,
                err_t *e);

/* The longest frame sse_retry_frame writes, with its NUL. */
#define SSE_RETRY_FRAME_MAX 32

/* Writes "retry: <ms>\n\n" (the reconnection delay a client's EventSource takes; a frame
 * with no data dispatches no event) into buf (SSE_RETRY_FRAME_MAX bytes) and returns its
 * length. ms is clamped to [0, 10^9]. */
size_t sse_retry_frame(long ms, char buf[SSE_RETRY_FRAME_MAX]);

/* Parses a Last-Event-ID value: NULL or "" -> 0 (replay everything);
 * otherwise decimal digits only (no sign, no spaces), value <= 10^15.
 * AGG_OK with *out set, or AGG_ERR with e (may be NULL) filled. */
int sse_parse_last_event_id(const char *s, long long *out, err_t *e);

/* A parsed pub/sub payload "<seq> <event> <json>". Pointers borrow from
 * the payload passed in. */
typedef struct sse_published {
    long long seq;
    const char *event;
    size_t event_len;
    const char *data;
    size_t data_len;
} sse_published;

/* Parses a payload of len bytes. AGG_OK, or AGG_ERR with e (may be NULL)
 * filled when malformed (seq not a positive integer, missing parts, event not
 * [a-z]+). */
int sse_parse_published(const char *payload, size_t len, sse_published *out, err_t *e);

#endif
