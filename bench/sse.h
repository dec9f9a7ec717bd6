/* sse: an incremental text/event-stream parser (id, event, data fields; comments counted). */
#ifndef BENCH_SSE_H
#define BENCH_SSE_H

#include <stddef.h>

/* Called for every complete event; data (NUL-terminated, len bytes) and
 * event are valid during the call only. id is -1 when the event had none. */
typedef void (*sse_event_fn)(void *ud, long long id, const char *event, const char *data, size_t len);

typedef struct sse_parser {
    char *line;             /* the line being read (heap, grows) */
    size_t len, cap;
    char *data;             /* data of the event being read (heap, grows) */
    size_t dlen, dcap;
    long long id;
    char event[16];
    int skipping;           /* inside a comment line */
    int cr;                 /* the last byte was CR (CRLF counts once) */
    unsigned long comments; /* comment lines seen (keep-alives) */
    int oom;                /* an allocation failed; the parser is unusable */
} sse_parser;

void sse_init(sse_parser *p);
/* Frees the buffers; the parser may be initialised again. */
void sse_free(sse_parser *p);
/* Feeds n bytes of the stream body. Returns 0, or -1 on out of memory. */
int sse_feed(sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud);

#endif
