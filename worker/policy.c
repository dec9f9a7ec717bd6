/* policy: the worker's pure decisions (script replies, resource allowlist, retry backoff, log-safe
 * text). */
#include "policy.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   2000

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

/* Length of s without trailing slashes. */
static size_t trimmed_len(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') n--;
    return n;
}

int policy_url_allowed(const resource_list *allow, int enforce, const char *url) {
    if (!enforce) return 1;
    if (allow == NULL || url == NULL) return 0;
    size_t n = trimmed_len(url);
    if (n == 0) return 0;
    for (int i = 0; i < allow->n; i++) {
        const char *a = allow->items[i].url;
        if (trimmed_len(a) == n && strncmp(a, url, n) == 0) return 1;
    }
    return 0;
}

long policy_backoff_next(long current_ms) {
    if (current_ms <= 0) return BACKOFF_FIRST_MS;
    if (current_ms >= BACKOFF_MAX_MS / 2) return BACKOFF_MAX_MS;
    return current_ms * 2;
}

void policy_redact_url(const char *url, char *out, size_t outsz) {
    if (outsz == 0) return;
    if (url == NULL) {
        out[0] = '\0';
        return;
    }
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@') at = p;
    if (at == NULL) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    snprintf(out, outsz, "%.*s***%s", (int)(auth - url), url, at);
}

void policy_safe_error(const char *text, char *out, size_t outsz) {
    if (outsz == 0) return;
    if (text == NULL) text = "";
    size_t n = strlen(text);
    const char *near = strstr(text, " near ");
    if (near != NULL) n = (size_t)(near - text);
    const char *quote = memchr(text, '\'', n);
    if (quote != NULL) n = (size_t)(quote - text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == ':')) n--;
    snprintf(out, outsz, "%.*s", (int)n, text);
}
