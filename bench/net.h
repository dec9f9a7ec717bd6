/* net: non-blocking TCP client connections on one epoll loop, with optional source-address binding. */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct net_conn net_conn;

typedef struct net_ops {
    /* Bytes read; buf is valid during the call only. The callback may close c. */
    void (*data)(net_conn *c, const char *buf, size_t n);
    /* The peer closed (err 0) or the connection failed (err = errno). c is
     * already closed; it is freed after the callback returns. */
    void (*closed)(net_conn *c, int err);
} net_ops;

struct net_conn {
    int fd;
    int connected;
    int dead;               /* closed; freed at the end of the current loop turn */
    uint32_t events;        /* events registered with epoll */
    char *wbuf;             /* unsent bytes [woff, wlen) */
    size_t wlen, woff, wcap;
    const net_ops *ops;
    void *ud;               /* the owner's pointer */
    net_conn *next_dead;
};

/* Creates the loop. Returns 0, or -1 with errno set. */
int net_init(void);
/* Starts a connection to dst, bound to src when src is not NULL (the port is
 * chosen at connect time, IP_BIND_ADDRESS_NO_PORT, so every source address
 * has its own ephemeral range). Returns the connection (owned by the loop
 * until net_close or the closed callback), or NULL with errno set. */
net_conn *net_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src, const net_ops *ops, void *ud);
/* Queues n bytes and writes what the socket takes now. Returns 0, or -1 on
 * out of memory / write error (the connection is then closed, without callback). */
int net_send(net_conn *c, const char *buf, size_t n);
/* Closes c without calling its closed callback; abortive (RST) when abort is set. */
void net_close(net_conn *c, int abort);
/* Waits for events for at most timeout_ns (-1: forever) and dispatches them.
 * Returns the number of events, or -1 on error. */
int net_run_once(int64_t timeout_ns);
/* Open connections. */
long net_open_count(void);

/* Monotonic time in nanoseconds. */
int64_t net_now(void);
/* Parses "http://host:port" (IPv4 literal or localhost) into sa. Returns 0 or -1. */
int net_parse_url(const char *url, struct sockaddr_in *sa);
/* Blocking GET of path on dst with a timeout; copies up to outsz-1 bytes of the
 * body into out (NUL-terminated). Returns the HTTP status, or -1. */
int net_get(const struct sockaddr_in *dst, const char *path, char *out, size_t outsz, int timeout_ms);

#endif
