/* api: the resource's HTTP endpoints, delayed answers with retries, and deferred direct answers. */
#ifndef RS_API_H
#define RS_API_H

#include <stddef.h>

#include "httpc.h"
#include "httpd.h"
#include "loop.h"

typedef struct rs_config {
    const char *resource_id; /* validated with notes_resource_id_valid() */
    int notes_per_response;  /* 0..1000 */
    long connect_timeout_ms; /* per attempt to deliver an answer */
    long timeout_ms;         /* per attempt to deliver an answer */
    int retries;             /* extra attempts after a failed delivery, 0..10 */
} rs_config;

typedef struct rs_api rs_api;

/* Returns the API state on loop l, sending answers with c, with its own metrics registry;
 * free it with rs_api_free(). NULL with e filled ("out of memory"). l, c and the strings
 * in cfg are borrowed and must outlive it. */
rs_api *rs_api_new(loop *l, httpc *c, const rs_config *cfg, err_t *e);

/* The httpd_handler for every request (the resource's endpoints and the shared actuator
 * routes, each with its route template); arg is the rs_api. */
void rs_api_handle(httpd_req *r, void *arg);
/* The httpd_options.on_done of its server: counts http_server_requests_seconds and writes the
 * access log line. arg is the rs_api. */
void rs_api_done(const httpd_done *d, void *arg);

/* Answers not delivered yet (waiting for their delay, in flight or waiting
 * to retry). */
size_t rs_api_pending(const rs_api *a);

/* Calls idle(arg) each time the last pending answer finishes (NULL: never). */
void rs_api_on_idle(rs_api *a, void (*idle)(void *arg), void *arg);

/* Cancels the timers of pending answers and frees them with a log line per
 * abandoned answer. Call httpc_free() first: a request still in flight
 * would otherwise call back into freed memory. a may be NULL. */
void rs_api_free(rs_api *a);

#endif
