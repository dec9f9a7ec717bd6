/* audit: the audit outbox's calls and replies (no I/O of its own; worker/auditrelay.c sends). */
#include "audit.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

static int begin(audit_call *ac, int bucket, const char *command, err_t *e) {
    if (session_audit_key(bucket, ac->key, e) != AGG_OK) return AGG_ERR;
    rds_call_begin_command(&ac->call);
    rds_call_push(&ac->call, command);
    return AGG_OK;
}

int audit_call_group(audit_call *ac, int bucket, err_t *e) {
    if (begin(ac, bucket, "XGROUP", e) != AGG_OK) return AGG_ERR;
    rds_call_push(&ac->call, "CREATE");
    rds_call_push(&ac->call, ac->key);
    rds_call_push(&ac->call, AUDIT_GROUP);
    rds_call_push(&ac->call, "0");
    rds_call_push(&ac->call, "MKSTREAM");
    return AGG_OK;
}

int audit_call_read(audit_call *ac, int bucket, const char *consumer, int count, err_t *e) {
    if (!consumer || !*consumer || count < 1) return err_set(e, "audit read: bad argument");
    if (begin(ac, bucket, "XREADGROUP", e) != AGG_OK) return AGG_ERR;
    snprintf(ac->num[0], sizeof ac->num[0], "%d", count);
    const char *w[] = {"GROUP",    AUDIT_GROUP, consumer, "COUNT",
                       ac->num[0], "STREAMS",   ac->key,  ">"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) rds_call_push(&ac->call, w[i]);
    return AGG_OK;
}

int audit_call_claim(audit_call *ac, int bucket, const char *consumer, long min_idle_ms,
                     const char *cursor, int count, err_t *e) {
    if (!consumer || !*consumer || !cursor || !*cursor || count < 1 || min_idle_ms < 1)
        return err_set(e, "audit claim: bad argument");
    if (begin(ac, bucket, "XAUTOCLAIM", e) != AGG_OK) return AGG_ERR;
    snprintf(ac->num[0], sizeof ac->num[0], "%ld", min_idle_ms);
    snprintf(ac->num[1], sizeof ac->num[1], "%d", count);
    const char *w[] = {ac->key, AUDIT_GROUP, consumer, ac->num[0], cursor, "COUNT", ac->num[1]};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) rds_call_push(&ac->call, w[i]);
    return AGG_OK;
}

int audit_call_ack(audit_call *ac, int bucket, const char *const *ids, int n, err_t *e) {
    if (!ids || n < 1 || n > AUDIT_ACK_MAX) return err_set(e, "audit ack: %d ids", n);
    for (int i = 0; i < n; i++)
        if (!ids[i] || !*ids[i]) return err_set(e, "audit ack: missing id");
    if (session_audit_key(bucket, ac->key, e) != AGG_OK) return AGG_ERR;
    rds_call_audit_ack(&ac->call, ac->key, AUDIT_GROUP, ids[0]);
    for (int i = 1; i < n; i++) rds_call_push(&ac->call, ids[i]);
    return AGG_OK;
}

int audit_call_len(audit_call *ac, int bucket, err_t *e) {
    if (begin(ac, bucket, "XLEN", e) != AGG_OK) return AGG_ERR;
    rds_call_push(&ac->call, ac->key);
    return AGG_OK;
}

static int reply_failed(const redisReply *r, const char *what, err_t *e) {
    if (r == NULL) return err_set(e, "%s: no reply", what);
    if (r->type == REDIS_REPLY_ERROR) return err_set(e, "%s: %.200s", what, r->str);
    return err_set(e, "%s: unexpected reply", what);
}

int audit_group_reply(const redisReply *r, err_t *e) {
    if (r != NULL && r->type == REDIS_REPLY_STATUS) return AGG_OK;
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0)
        return AGG_OK;
    return reply_failed(r, "XGROUP CREATE", e);
}

int audit_read_reply(const redisReply *r, const redisReply **entries, size_t *n, err_t *e) {
    *entries = NULL;
    *n = 0;
    /* Nil: nothing new. Else [[key, [entry...]]] (RESP2), one stream asked. */
    if (r != NULL && r->type == REDIS_REPLY_NIL) return AGG_OK;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
        r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return reply_failed(r, "XREADGROUP", e);
    *entries = r->element[0]->element[1];
    *n = (*entries)->elements;
    return AGG_OK;
}

int audit_claim_reply(const redisReply *r, const redisReply **entries, size_t *n,
                      char cursor[AUDIT_ID_MAX], err_t *e) {
    *entries = NULL;
    *n = 0;
    /* [cursor, [entry...], [deleted id...]] (Redis 7; 6.2 has no third element). */
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= AUDIT_ID_MAX ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return reply_failed(r, "XAUTOCLAIM", e);
    memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
    *entries = r->element[1];
    *n = (*entries)->elements;
    return AGG_OK;
}

int audit_entry_at(const redisReply *entries, size_t i, audit_entry *out) {
    memset(out, 0, sizeof *out);
    if (entries == NULL || i >= entries->elements) return AGG_ERR;
    const redisReply *en = entries->element[i];
    if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
        en->element[0]->type != REDIS_REPLY_STRING || en->element[0]->len == 0 ||
        en->element[0]->len >= AUDIT_ID_MAX)
        return AGG_ERR;
    out->id = en->element[0]->str;
    const redisReply *f = en->element[1];
    if (f->type != REDIS_REPLY_ARRAY || f->elements % 2 != 0) return AGG_OK;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *v = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) return AGG_OK;
        if (strcmp(name->str, "type") == 0)
            out->type = v->str;
        else if (strcmp(name->str, "cid") == 0)
            out->cid = v->str;
        else if (strcmp(name->str, "trace") == 0)
            out->trace = v->str;
        else if (strcmp(name->str, "d") == 0) {
            out->data = v->str;
            out->data_len = v->len;
        }
    }
    if (out->type == NULL || out->cid == NULL || !uuid4_valid(out->cid) || out->data == NULL ||
        out->data_len == 0) {
        const char *id = out->id;
        memset(out, 0, sizeof *out);
        out->id = id;
        return AGG_OK;
    }
    if (out->trace == NULL) out->trace = "";
    out->valid = 1;
    return AGG_OK;
}
