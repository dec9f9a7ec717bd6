/* kstats: what the Kafka adapter reads from librdkafka's statistics JSON (one parse per document). */
#include "kstats.h"

#include <jansson.h>
#include <string.h>

#include "jbody.h"

static int broker_up(json_t *root) {
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), name, b) {
        json_t *id = json_object_get(b, "nodeid");
        const char *state = json_string_value(json_object_get(b, "state"));
        if (json_is_integer(id) && json_integer_value(id) >= 0 && state && strcmp(state, "UP") == 0)
            return 1;
    }
    return 0;
}

/* The known consumer_lag of topic's partitions in root, summed, and their number. */
static kstats_topic topic_stats(json_t *root, const char *topic) {
    json_t *parts = json_object_get(json_object_get(json_object_get(root, "topics"), topic),
                                    "partitions");
    kstats_topic t = {0, 0};
    const char *id;
    json_t *p;
    json_object_foreach(parts, id, p) {
        if (strcmp(id, "-1") == 0) continue; /* librdkafka's unassigned-messages placeholder */
        t.partitions++;
        json_t *lag = json_object_get(p, "consumer_lag");
        if (json_is_integer(lag) && json_integer_value(lag) >= 0) t.lag += json_integer_value(lag);
    }
    return t;
}

int kstats_read(const char *json, size_t len, const char *const *topics, int n_topics,
                kstats_topic *out) {
    json_error_t jerr;
    int nomem;
    json_t *root = jbody_loadb(json, len, &nomem, &jerr);
    if (!root) return nomem ? -1 : 0;
    int up = broker_up(root);
    for (int i = 0; out && i < n_topics; i++) out[i] = topic_stats(root, topics[i]);
    json_decref(root);
    return up;
}
