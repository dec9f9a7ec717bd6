/* rdsmeter: Redis command latency by command, series resolved when the program starts. */
#include "rdsmeter.h"

#include "mbuckets.h"

static const metrics_family_def def = {
    .name = "redis_command_seconds",
    .dotted_name = "redis.command",
    .help = "Redis round trips (send to reply), by command: a Lua script's name or the "
            "plain command.",
    .base_unit = "seconds",
    .type = METRICS_HISTOGRAM,
    .labels = {"command"},
    MBUCKETS_FAST,
    .max_series = RDS_COMMAND__COUNT,
};

int rdsmeter_init(rdsmeter *m, metrics *reg, err_t *e) {
    metrics_family *f = metrics_family_add(reg, &def, e);
    if (!f) return AGG_ERR;
    for (int i = 0; i < RDS_COMMAND__COUNT; i++) {
        const char *name = rds_command_name(i);
        if (!(m->by_command[i] = metrics_series_get(f, &name, 1, e))) return AGG_ERR;
    }
    return AGG_OK;
}

void rdsmeter_observe(int command, double seconds, void *arg) {
    rdsmeter *m = arg;
    if (command >= 0 && command < RDS_COMMAND__COUNT) metrics_observe(m->by_command[command], seconds);
}
