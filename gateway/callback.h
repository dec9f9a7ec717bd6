/* callback: POST /aggregate/callback: validate a resource's callback and publish it to Kafka. */
#ifndef GW_CALLBACK_H
#define GW_CALLBACK_H

#include "gateway.h"

/* Serves one POST /aggregate/callback request (answers it now or later).
 * A callback for an unknown or finished session is accepted here; the worker
 * drops and counts it, since only Redis knows the session's state. */
void gw_callback_handle(gateway *gw, httpd_req *r);

#endif
