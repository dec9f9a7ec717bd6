/* journals: POST /aggregate/journals (SSE and WAIT_FOR_EVERYONE strategies). */
#ifndef GW_JOURNALS_H
#define GW_JOURNALS_H

#include "gateway.h"

/* Serves one POST /aggregate/journals request (answers it now or later) for principal (the
 * verified token's sub, or FANOUTMSG_ANONYMOUS; borrowed for the call): the session's owner. */
void gw_journals_handle(gateway *gw, httpd_req *r, const char *principal);

#endif
