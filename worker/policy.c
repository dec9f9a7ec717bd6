/* policy: reads the session scripts' replies into the worker's decisions. */
#include "policy.h"

#include <hiredis/hiredis.h>
#include <string.h>

static const char *const drop_names[POLICY_DROP_REASONS] = {
    "duplicate",      "unknown-session",  "finished",
    "unknown-source", "patient-mismatch", "invalid-status",
};

static const char *reply_text(const redisReply *r) {
    if (r == NULL || r->str == NULL) return NULL;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return NULL;
    if (strlen(r->str) != r->len) return NULL; /* embedded NUL: not one of ours */
    return r->str;
}

const char *policy_script_result(const struct redisReply *reply) {
    if (reply == NULL) return NULL;
    if (reply->type == REDIS_REPLY_ARRAY) {
        if (reply->elements < 1 || reply->element == NULL) return NULL;
        return reply_text(reply->element[0]);
    }
    return reply_text(reply);
}

policy_record policy_record_parse(const char *result) {
    if (result == NULL) return POLICY_RECORD_UNKNOWN;
    if (strcmp(result, "recorded") == 0) return POLICY_RECORDED;
    if (strcmp(result, "completed") == 0) return POLICY_COMPLETED;
    for (int i = 0; i < POLICY_DROP_REASONS; i++)
        if (strcmp(result, drop_names[i]) == 0) return (policy_record)(POLICY_DUPLICATE + i);
    return POLICY_RECORD_UNKNOWN;
}

policy_expire policy_expire_parse(const char *result) {
    if (result == NULL) return POLICY_EXPIRE_UNKNOWN;
    if (strcmp(result, "expired") == 0) return POLICY_EXPIRED;
    if (strcmp(result, "not-due") == 0) return POLICY_NOT_DUE;
    if (strcmp(result, "gone") == 0) return POLICY_GONE;
    return POLICY_EXPIRE_UNKNOWN;
}

int policy_is_drop(policy_record r) { return r >= POLICY_DUPLICATE && r <= POLICY_INVALID_STATUS; }

int policy_drop_index(policy_record r) { return (int)r - (int)POLICY_DUPLICATE; }

const char *policy_drop_name(int i) {
    if (i < 0 || i >= POLICY_DROP_REASONS) return "unknown";
    return drop_names[i];
}
