/* gwmeasure: the gateway's Kafka produce and Redis command latency series. */
#include "gwmeasure.h"

#include "mbuckets.h"

int gwmeasure_init(gwmeasure *m, metrics *reg, const char *const topics[2], err_t *e) {
    static metrics_family_def def = {
        .name = "kafka_produce_seconds",
        .dotted_name = "kafka.produce",
        .help = "From a produce call to its delivery report (acknowledged or failed), by topic.",
        .base_unit = "seconds",
        .type = METRICS_HISTOGRAM,
        .labels = {"topic"},
    };
    def.buckets = mbuckets_fast;
    def.n_buckets = mbuckets_fast_n;
    metrics_family *f = metrics_family_add(reg, &def, e);
    if (!f) return AGG_ERR;
    for (int t = 0; t < 2; t++)
        if (!(m->produce[t] = metrics_series_get(f, &topics[t], 1, e))) return AGG_ERR;
    return rdsmeter_init(&m->redis, reg, e);
}

void gwmeasure_produced(gwmeasure *m, int topic, double seconds) {
    if (seconds >= 0 && (topic == GWMEASURE_REQUESTS || topic == GWMEASURE_CALLBACKS))
        metrics_observe(m->produce[topic], seconds);
}
