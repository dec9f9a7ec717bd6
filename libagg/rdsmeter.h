/* rdsmeter: the redis_command_seconds histogram, fed by an rds client's observer. */
#ifndef AGG_RDSMETER_H
#define AGG_RDSMETER_H

#include "err.h"
#include "metrics.h"
#include "rds.h"

/* One series per command id (rds_call_command), resolved once. */
typedef struct rdsmeter {
    metrics_series *by_command[RDS_COMMAND__COUNT];
} rdsmeter;

/* Adds redis_command_seconds{command} to reg and resolves every command's series into *m
 * (borrowed from reg: valid until metrics_free). AGG_ERR with e filled on out of memory or
 * when reg has the family already. */
int rdsmeter_init(rdsmeter *m, metrics *reg, err_t *e);
/* The rds_observer_cb: arg is the rdsmeter. One histogram update, no lookup. */
void rdsmeter_observe(int command, double seconds, void *arg);

#endif
