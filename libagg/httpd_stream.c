/* httpd_stream: a response whose body is written over time (SSE): a byte queue per stream, bounded, drained by libmicrohttpd's content reader. */
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"
#include "httpd_int.h"

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    httpd_stream *s = cls;
    /* Ending needs further MHD passes that no socket event may trigger. */
    if (s->failed) {
        s->r->m->kick = 1;
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s->len == 0) {
        if (s->ending) {
            s->r->m->kick = 1;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->r->cx && s->r->cx->peer_left) {
            /* The client left while MHD was sending: end here rather than suspend and resume
             * from inside this reader. */
            httpd_stream_fail(s);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        /* Nothing to send: park the connection until a write or a hang-up. */
        httpd_req_suspend(s->r);
        return 0;
    }
    size_t n = s->len < max ? s->len : max;
    memcpy(buf, s->buf + s->start, n);
    s->start += n;
    s->len -= n;
    if (s->len == 0) {
        /* An idle stream keeps no buffer: most of the time it has nothing to send. */
        agg_free(s->buf);
        s->buf = NULL;
        s->start = s->cap = 0;
    }
    return (ssize_t)n;
}

httpd_stream *httpd_stream_open(httpd_req *r, const char *content_type, void (*on_close)(void *arg),
                                void *arg, err_t *e) {
    if (r->answered || r->cancelled) {
        err_set(e, "the request was answered or cancelled already");
        return NULL;
    }
    httpd_stream *s = agg_calloc(1, sizeof *s);
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 2048, stream_read, s, NULL) : NULL;
    if (!resp) {
        agg_free(s);
        httpd_respond(r, 500, NULL, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
        err_nomem(e);
        return NULL;
    }
    s->r = r;
    s->on_close = on_close;
    s->close_arg = arg;
    MHD_add_response_header(resp, "Content-Type",
                            content_type ? content_type : "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    httpd_add_common_headers(r, resp);
    r->stream = s;
    r->d->n_streams++;
    r->m->n_streams++;
    if (r->cx && r->cx->fd >= 0) {
        /* Linux grows a socket's send buffer up to 4 MiB for a reader that does not read;
         * fixing it keeps what a stalled stream holds in the kernel near the limit too. The
         * kernel doubles the value; failure only loses the cap. */
        int sndbuf = (int)(r->d->opt.stream_buffer_limit / 2);
        setsockopt(r->cx->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    httpd_queue_or_defer(r, 200, resp);
    return s;
}

int httpd_stream_write(httpd_stream *s, const char *data, size_t len, err_t *e) {
    if (s->failed || s->ending) return err_set(e, "the stream is closing");
    size_t limit = s->r->d->opt.stream_buffer_limit;
    if (s->len > 0 && s->len + len > limit) {
        /* The client gets the whole events queued so far, then the end, and resumes with
         * Last-Event-ID: a replay larger than the limit thus progresses. A reader that does
         * not take them within the idle deadline is cut (the reaper). */
        long grace = s->r->d->opt.idle_timeout_ms;
        if (grace <= 0 || !s->r->cx) {
            httpd_stream_fail(s);
        } else {
            s->ending = 1;
            httpd_conn_expect(s->r->cx, grace);
            httpd_req_resume(s->r);
        }
        return err_set(e, "the stream's unsent bytes would pass its limit of %zu", limit);
    }
    if (s->start + s->len + len > s->cap) {
        if (s->start > 0) {
            memmove(s->buf, s->buf + s->start, s->len);
            s->start = 0;
        }
        if (s->len + len > s->cap) {
            size_t need = s->len + len;
            size_t cap = s->cap ? s->cap : 512;
            while (cap < need) cap *= 2;
            /* Doubling stops at the limit: one large event gets exactly its size. */
            if (cap > limit) cap = need > limit ? need : limit;
            char *b = agg_realloc(s->buf, cap);
            if (!b) {
                httpd_stream_fail(s);
                return err_nomem(e);
            }
            s->buf = b;
            s->cap = cap;
        }
    }
    memcpy(s->buf + s->start + s->len, data, len);
    s->len += len;
    httpd_req_resume(s->r);
    return AGG_OK;
}

void httpd_stream_fail(httpd_stream *s) {
    if (s->failed) return;
    s->failed = 1;
    /* libmicrohttpd ends the response on the error but may keep the connection open (measured:
     * a keep-alive stream failed before its first byte stays open): the client must see the
     * stream break, so the socket is shut down here; MHD then closes it. */
    if (s->r->cx && s->r->cx->fd >= 0) shutdown(s->r->cx->fd, SHUT_RDWR);
    /* Nor may MHD run the connection again at all: one that never met EAGAIN is in none of its
     * epoll sets, so no event of its socket reaches it (measured: an SSE stream whose client
     * left stayed open, CLOSE_WAIT or shut down, until the 120 s idle timeout). Its timeout
     * scan reaches every connection: a 1 s timeout closes it. */
    MHD_set_connection_option(s->r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)1);
    httpd_req_resume(s->r);
    s->r->m->kick = 1;
}

void httpd_stream_end(httpd_stream *s) {
    s->ending = 1;
    httpd_req_resume(s->r);
}

