/* journals: POST /aggregate/journals (SSE and WAIT_FOR_EVERYONE strategies). */
#ifndef GW_JOURNALS_H
#define GW_JOURNALS_H

#include "gateway.h"

/* Serves one POST /aggregate/journals request (answers it now or later). */
void gw_journals_handle(gateway *gw, httpd_req *r);

#endif
