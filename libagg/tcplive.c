/* tcplive: notice a dead peer on Redis and Kafka connections in seconds (TCP_USER_TIMEOUT and fast keep-alive). */
#include "tcplive.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg.h"

#define PROBE_IDLE_S     1 /* silence before the first keep-alive probe */
#define PROBE_INTERVAL_S 1

/* Written once at start, before librdkafka's threads exist; read from them afterwards. */
static long timeout_ms = TCPLIVE_DEFAULT_MS;

int tcplive_configure_env(err_t *e) {
    long v;
    if (cfg_long("TCP_USER_TIMEOUT_MS", TCPLIVE_DEFAULT_MS, 0, 600000, &v, e) != AGG_OK)
        return AGG_ERR;
    timeout_ms = v;
    return AGG_OK;
}

void tcplive_configure(long ms) { timeout_ms = ms < 0 ? 0 : ms; }

long tcplive_timeout_ms(void) { return timeout_ms; }

static int set_int(int fd, int level, int name, int value, const char *what, err_t *e) {
    if (setsockopt(fd, level, name, &value, sizeof value) == 0) return AGG_OK;
    return err_set(e, "setsockopt %s: %s", what, strerror(errno));
}

int tcplive_apply(int fd, err_t *e) {
    long ms = timeout_ms;
    if (ms <= 0) return AGG_OK;
    /* Probes until the user timeout ends the connection; the count only matters when the
     * kernel ignores TCP_USER_TIMEOUT for probes (before Linux 4.x). */
    int probes = (int)(ms / 1000 / PROBE_INTERVAL_S) + 1;
    if (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", e) != AGG_OK ||
        set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, PROBE_IDLE_S, "TCP_KEEPIDLE", e) != AGG_OK ||
        set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, PROBE_INTERVAL_S, "TCP_KEEPINTVL", e) != AGG_OK ||
        set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, probes, "TCP_KEEPCNT", e) != AGG_OK ||
        set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)ms, "TCP_USER_TIMEOUT", e) != AGG_OK)
        return AGG_ERR;
    return AGG_OK;
}
