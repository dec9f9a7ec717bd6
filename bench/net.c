/* net: non-blocking TCP client connections on one epoll loop, with optional source-address binding. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_EVENTS 512
#define READ_BUF (64 * 1024)

static int epfd = -1;
static long open_count;
static net_conn *dead_list;
static char rbuf[READ_BUF];

int64_t net_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int net_init(void) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    return epfd < 0 ? -1 : 0;
}

long net_open_count(void) {
    return open_count;
}

static int want(net_conn *c, uint32_t ev) {
    if (ev == c->events) return 0;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e)) return -1;
    c->events = ev;
    return 0;
}

net_conn *net_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src, const net_ops *ops, void *ud) {
    net_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ops = ops;
    c->ud = ud;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) goto fail;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (const struct sockaddr *)src, sizeof *src)) goto fail;
    }
    if (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) == 0) {
        c->connected = 1;
    } else if (errno != EINPROGRESS) {
        goto fail;
    }
    c->events = EPOLLIN | (c->connected ? 0 : EPOLLOUT);
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e)) goto fail;
    open_count++;
    return c;
fail: {
    int saved = errno;
    if (c->fd >= 0) close(c->fd);
    free(c);
    errno = saved;
    return NULL;
}
}

/* Closes the socket and queues c for freeing. */
static void drop(net_conn *c, int abort) {
    if (c->dead) return;
    if (abort) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);   /* also removes it from the epoll set */
    c->dead = 1;
    c->next_dead = dead_list;
    dead_list = c;
    open_count--;
}

void net_close(net_conn *c, int abort) {
    drop(c, abort);
}

static void fail(net_conn *c, int err) {
    if (c->dead) return;
    drop(c, 0);
    c->ops->closed(c, err);
}

/* Writes pending bytes; 0, or -1 when the connection failed (closed, and
 * reported through the closed callback when report is set). */
static int flush(net_conn *c, int report) {
    while (c->woff < c->wlen) {
        ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (report) fail(c, errno);
            else drop(c, 1);
            return -1;
        }
        c->woff += (size_t)w;
    }
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
    if (want(c, EPOLLIN | (c->wlen ? EPOLLOUT : 0))) {
        if (report) fail(c, errno);
        else drop(c, 1);
        return -1;
    }
    return 0;
}

int net_send(net_conn *c, const char *buf, size_t n) {
    if (c->dead) return -1;
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 256;
        while (cap < c->wlen + n) cap *= 2;
        char *nb = realloc(c->wbuf, cap);
        if (!nb) {
            drop(c, 1);
            return -1;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, buf, n);
    c->wlen += n;
    if (!c->connected) return 0;
    return flush(c, 0) ? -1 : 0;
}

static void on_event(net_conn *c, uint32_t ev) {
    if (!c->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            fail(c, err);
            return;
        }
        c->connected = 1;
    }
    if ((ev & EPOLLOUT) && flush(c, 1)) return;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (int round = 0; round < 8 && !c->dead; round++) {
            ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
            if (r > 0) {
                c->ops->data(c, rbuf, (size_t)r);
                if ((size_t)r < sizeof rbuf) break;
                continue;
            }
            if (r == 0) {
                fail(c, 0);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fail(c, errno);
            }
            break;
        }
    }
}

int net_run_once(int64_t timeout_ns) {
    struct epoll_event evs[MAX_EVENTS];
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        tp = &ts;
    }
    int n = epoll_pwait2(epfd, evs, MAX_EVENTS, tp, NULL);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        net_conn *c = evs[i].data.ptr;
        if (!c->dead) on_event(c, evs[i].events);
    }
    while (dead_list) {
        net_conn *c = dead_list;
        dead_list = c->next_dead;
        free(c->wbuf);
        free(c);
    }
    return n;
}

int net_parse_url(const char *url, struct sockaddr_in *sa) {
    char host[64];
    int port;
    if (strncmp(url, "http://", 7)) return -1;
    const char *h = url + 7, *colon = strchr(h, ':');
    if (!colon || (size_t)(colon - h) >= sizeof host) return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = 0;
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535) return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

typedef struct get_ctx {
    char *out;
    size_t len, cap;
} get_ctx;

static void get_body(void *ud, const char *p, size_t n) {
    get_ctx *g = ud;
    size_t k = g->cap - 1 - g->len < n ? g->cap - 1 - g->len : n;
    memcpy(g->out + g->len, p, k);
    g->len += k;
    g->out[g->len] = 0;
}

int net_get(const struct sockaddr_in *dst, const char *path, char *out, size_t outsz, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int status = -1;
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) == 0) {
        char req[512];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
        if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
            http_resp r;
            http_resp_init(&r);
            get_ctx g = {out, 0, outsz};
            if (outsz) out[0] = 0;
            char buf[8192];
            for (;;) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);
                size_t used;
                int st = k > 0 ? http_resp_feed(&r, buf, (size_t)k, &used, outsz ? get_body : NULL, &g)
                       : k == 0  ? http_resp_eof(&r)
                                 : HTTP_ERR;
                if (st == HTTP_DONE) status = r.status;
                if (st != HTTP_MORE) break;
            }
        }
    }
    close(fd);
    return status;
}
