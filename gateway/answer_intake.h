/* answer_intake: POST /aggregate/callback: validate a resource's answer and publish it to Kafka. */
#ifndef GW_ANSWER_INTAKE_H
#define GW_ANSWER_INTAKE_H

#include "gateway.h"

/* Serves one POST /aggregate/callback request (responds now or later).
 * An answer for an unknown or finished session is accepted here; the worker
 * drops and counts it, since only Redis knows the session's state. */
void gw_answer_intake_handle(gateway *gw, httpd_req *r);

#endif
