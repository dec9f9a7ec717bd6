/* tcplive: notice a dead peer on Redis and Kafka connections in seconds (TCP_USER_TIMEOUT and fast keep-alive). */
#ifndef AGG_TCPLIVE_H
#define AGG_TCPLIVE_H

#include "err.h"

/* The default of TCP_USER_TIMEOUT_MS: a silent partition is noticed within about 3 s. */
#define TCPLIVE_DEFAULT_MS 3000

/* Reads TCP_USER_TIMEOUT_MS (0..600000, default TCPLIVE_DEFAULT_MS; 0 keeps the kernel's
 * behaviour) into the process-wide setting. Call once at start, before any connection or
 * thread exists. AGG_ERR with e naming the variable when the value is bad (nothing changed). */
int tcplive_configure_env(err_t *e);
/* Sets the process-wide setting directly (ms < 0 counts as 0); for tests. */
void tcplive_configure(long ms);
/* The process-wide setting in ms (0: off). */
long tcplive_timeout_ms(void);

/* Applies the setting to the connected or connecting TCP socket fd: keep-alive probes after 1 s
 * of silence, every second, and TCP_USER_TIMEOUT, so that a connection whose sent data or
 * probes stay unacknowledged for the setting's time fails with ETIMEDOUT instead of waiting
 * for minutes of retransmissions. A stalled but reachable peer still acknowledges (its kernel
 * does), so this never cuts a slow server. Safe from any thread. Does nothing when the setting
 * is 0. AGG_ERR with e filled (errno's text) when a socket option is refused; the socket is
 * left usable then. */
int tcplive_apply(int fd, err_t *e);

#endif
