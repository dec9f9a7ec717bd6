/* session: a session's state in Redis: key and channel names, typed calls, and their replies. */
#include "session.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#define KEY_PREFIX     "agg:{b"
#define KEY_PREFIX_LEN (sizeof KEY_PREFIX - 1)
/* "agg:{bNN}:" */
#define TAG_LEN (KEY_PREFIX_LEN + 2 + 2)

static const char *const record_names[] = {
    "recorded", "completed",        "duplicate",      "unknown-session",
    "finished", "unknown-source",   "patient-mismatch", "invalid-status",
};
#define N_RECORD_NAMES (sizeof record_names / sizeof record_names[0])

static const char *const expire_names[] = {"expired", "not-due", "gone"};
#define N_EXPIRE_NAMES (sizeof expire_names / sizeof expire_names[0])

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10; }

int session_bucket_of(const char *cid) {
    /* The first byte of a v4 id is random; SESSION_BUCKETS divides 256. */
    return (hexval(cid[0]) * 16 + hexval(cid[1])) % SESSION_BUCKETS;
}

int session_keys_of(const char *cid, session_keys *k, err_t *e) {
    if (!uuid4_valid(cid)) return err_set(e, "not a correlation id");
    int b = session_bucket_of(cid);
    snprintf(k->meta, sizeof k->meta, KEY_PREFIX "%02d}:%s:meta", b, cid);
    snprintf(k->out, sizeof k->out, KEY_PREFIX "%02d}:%s:out", b, cid);
    snprintf(k->log, sizeof k->log, KEY_PREFIX "%02d}:%s:log", b, cid);
    snprintf(k->deadlines, sizeof k->deadlines, KEY_PREFIX "%02d}:deadlines", b);
    snprintf(k->audit, sizeof k->audit, KEY_PREFIX "%02d}:audit", b);
    snprintf(k->channel, sizeof k->channel, KEY_PREFIX "%02d}:%s:ev", b, cid);
    return AGG_OK;
}

int session_audit_key(int bucket, char out[SESSION_KEY_MAX], err_t *e) {
    if (bucket < 0 || bucket >= SESSION_BUCKETS) return err_set(e, "audit: bucket out of range");
    snprintf(out, SESSION_KEY_MAX, KEY_PREFIX "%02d}:audit", bucket);
    return AGG_OK;
}

int session_cid_of_channel(const char *channel, size_t len, char cid[UUID4_LEN + 1]) {
    if (len != TAG_LEN + UUID4_LEN + 3 || memcmp(channel, KEY_PREFIX, KEY_PREFIX_LEN) != 0 ||
        memcmp(channel + TAG_LEN - 2, "}:", 2) != 0 ||
        memcmp(channel + TAG_LEN + UUID4_LEN, ":ev", 3) != 0)
        return AGG_ERR;
    memcpy(cid, channel + TAG_LEN, UUID4_LEN);
    cid[UUID4_LEN] = '\0';
    if (!uuid4_valid(cid)) return AGG_ERR;
    /* The bucket in the name must be the one this id maps to (runs for every event). */
    int b = session_bucket_of(cid);
    const char *digits = channel + KEY_PREFIX_LEN;
    if (digits[0] != '0' + b / 10 || digits[1] != '0' + b % 10) return AGG_ERR;
    return AGG_OK;
}

static const char *num(session_call *sc, int i, long long v) {
    snprintf(sc->num[i], sizeof sc->num[i], "%lld", v);
    return sc->num[i];
}

int session_call_open(session_call *sc, const session_def *d, err_t *e) {
    if (!d->patient_id || !d->strategy || !d->sources_json || !d->owner || !*d->owner)
        return err_set(e, "session_open: missing argument");
    if (session_keys_of(d->cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    const session_keys *k = &sc->keys;
    rds_call_session_open(&sc->call, k->meta, k->out, k->log, k->deadlines, k->audit, d->cid,
                          k->channel, d->patient_id, d->strategy, num(sc, 0, d->created_ms),
                          num(sc, 1, d->deadline_ms), d->sources_json, num(sc, 2, d->ttl_s),
                          num(sc, 3, d->now_ms), d->trace_id ? d->trace_id : "", d->owner);
    return AGG_OK;
}

int session_call_record(session_call *sc, const session_outcome *o, err_t *e) {
    if (!o->patient_id || !o->source || !o->event_json)
        return err_set(e, "session_record: missing argument");
    if (session_keys_of(o->cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    const session_keys *k = &sc->keys;
    rds_call_session_record(&sc->call, k->meta, k->out, k->log, k->deadlines, k->audit, o->cid,
                            k->channel, o->source, outcome_name(o->status), o->event_json,
                            num(sc, 0, o->ttl_s), o->patient_id, num(sc, 1, o->now_ms));
    return AGG_OK;
}

int session_call_expire(session_call *sc, const char *cid, long long now_ms, long ttl_s, err_t *e) {
    if (session_keys_of(cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    const session_keys *k = &sc->keys;
    rds_call_session_expire(&sc->call, k->meta, k->out, k->log, k->deadlines, k->audit, cid,
                            k->channel, num(sc, 0, now_ms), num(sc, 1, ttl_s));
    return AGG_OK;
}

int session_call_state(session_call *sc, const char *cid, err_t *e) {
    if (session_keys_of(cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    rds_call_begin_command(&sc->call);
    rds_call_push(&sc->call, "HMGET");
    rds_call_push(&sc->call, sc->keys.meta);
    rds_call_push(&sc->call, "state");
    rds_call_push(&sc->call, "seq");
    rds_call_push(&sc->call, "calls");
    rds_call_push(&sc->call, "deadline");
    rds_call_push(&sc->call, "owner");
    return AGG_OK;
}

int session_claims_append(char *claims, size_t cap, size_t *len, const char *source, err_t *e) {
    size_t n = source ? strlen(source) : 0;
    if (n == 0) return err_set(e, "session_claim: missing source");
    int w = snprintf(claims + *len, cap - *len, "%zu:%s,", n, source);
    if (w < 0 || (size_t)w >= cap - *len) {
        claims[*len] = '\0';
        return err_set(e, "session_claim: the claims pass %zu bytes", cap);
    }
    *len += (size_t)w;
    return AGG_OK;
}

int session_call_claim(session_call *sc, const char *cid, const char *claims, err_t *e) {
    if (!claims || !*claims) return err_set(e, "session_claim: no source to claim");
    if (session_keys_of(cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    rds_call_session_claim(&sc->call, sc->keys.meta, claims);
    return AGG_OK;
}

int session_call_log(session_call *sc, const char *cid, long long after_seq, err_t *e) {
    if (after_seq < 0) return err_set(e, "session log: negative event id");
    if (session_keys_of(cid, &sc->keys, e) != AGG_OK) return AGG_ERR;
    /* Entry ids are 0-<seq>. */
    snprintf(sc->num[0], sizeof sc->num[0], "0-%lld", after_seq + 1);
    rds_call_begin_command(&sc->call);
    rds_call_push(&sc->call, "XRANGE");
    rds_call_push(&sc->call, sc->keys.log);
    rds_call_push(&sc->call, sc->num[0]);
    rds_call_push(&sc->call, "+");
    return AGG_OK;
}

int session_call_due(session_call *sc, int bucket, long long now_ms, int limit, err_t *e) {
    if (bucket < 0 || bucket >= SESSION_BUCKETS || limit < 1)
        return err_set(e, "deadline scan: bucket or limit out of range");
    snprintf(sc->keys.deadlines, sizeof sc->keys.deadlines, KEY_PREFIX "%02d}:deadlines", bucket);
    rds_call_begin_command(&sc->call);
    rds_call_push(&sc->call, "ZRANGEBYSCORE");
    rds_call_push(&sc->call, sc->keys.deadlines);
    rds_call_push(&sc->call, "-inf");
    rds_call_push(&sc->call, num(sc, 0, now_ms));
    rds_call_push(&sc->call, "LIMIT");
    rds_call_push(&sc->call, "0");
    rds_call_push(&sc->call, num(sc, 1, limit));
    return AGG_OK;
}

/* The text of a string or status reply; NULL for anything else or an embedded NUL. */
static const char *reply_text(const redisReply *r) {
    if (r == NULL || r->str == NULL) return NULL;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return NULL;
    if (strlen(r->str) != r->len) return NULL;
    return r->str;
}

const char *session_reply_error(const redisReply *r) {
    if (!r) return "no reply";
    return r->type == REDIS_REPLY_ERROR && r->str ? r->str : "unexpected reply";
}

int session_open_reply(const redisReply *reply, err_t *e) {
    if (reply && reply->type == REDIS_REPLY_INTEGER && (reply->integer == 0 || reply->integer == 1))
        return AGG_OK;
    return err_set(e, "session_open: %.200s", session_reply_error(reply));
}

session_record_result session_record_reply(const redisReply *reply, long long *seq) {
    if (seq) *seq = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 || reply->elements > 3 ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        return SESSION_RECORD_UNEXPECTED;
    const char *s = reply_text(reply->element[0]);
    if (!s) return SESSION_RECORD_UNEXPECTED;
    for (size_t i = 0; i < N_RECORD_NAMES; i++) {
        if (strcmp(s, record_names[i]) != 0) continue;
        if (seq && i <= SESSION_COMPLETED) *seq = reply->element[1]->integer;
        return (session_record_result)i;
    }
    return SESSION_RECORD_UNEXPECTED;
}

int session_record_refused(session_record_result r) {
    return r >= SESSION_DUPLICATE && r <= SESSION_INVALID_STATUS;
}

const char *session_record_name(session_record_result r) {
    return (size_t)r < N_RECORD_NAMES ? record_names[r] : "unexpected";
}

session_expire_result session_expire_reply(const redisReply *reply) {
    /* "expired" comes as {"expired", elapsedMs}, the others as a status. */
    if (reply && reply->type == REDIS_REPLY_ARRAY)
        reply = reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_INTEGER
                    ? reply->element[0]
                    : NULL;
    const char *s = reply_text(reply);
    for (size_t i = 0; s && i < N_EXPIRE_NAMES; i++)
        if (strcmp(s, expire_names[i]) == 0) return (session_expire_result)i;
    return SESSION_EXPIRE_UNEXPECTED;
}

long long session_summary_elapsed_ms(const redisReply *reply) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return -1;
    const redisReply *ms = NULL;
    if (reply->elements == 3 && session_record_reply(reply, NULL) == SESSION_COMPLETED)
        ms = reply->element[2];
    else if (session_expire_reply(reply) == SESSION_EXPIRED)
        ms = reply->element[1];
    return ms && ms->type == REDIS_REPLY_INTEGER && ms->integer >= 0 ? ms->integer : -1;
}

size_t session_expire_sources(const redisReply *reply) {
    if (session_expire_reply(reply) != SESSION_EXPIRED || reply->type != REDIS_REPLY_ARRAY) return 0;
    return reply->elements - 2;
}

const char *session_expire_source(const redisReply *reply, size_t i) {
    if (i >= session_expire_sources(reply)) return NULL;
    return reply_text(reply->element[2 + i]);
}

const char *session_expire_name(session_expire_result r) {
    return (size_t)r < N_EXPIRE_NAMES ? expire_names[r] : "unexpected";
}

/* A decimal of 1..18 digits; AGG_ERR otherwise. */
static int parse_seq(const char *s, size_t n, long long *out) {
    if (n == 0 || n > 18) return AGG_ERR;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return AGG_ERR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return AGG_OK;
}

int session_state_reply(const redisReply *reply, session_state *st, err_t *e) {
    memset(st, 0, sizeof *st);
    /* 5 fields from session_call_state (with the deadline and owner), 3 from session_claim. */
    if (!reply || reply->type != REDIS_REPLY_ARRAY || (reply->elements != 3 && reply->elements != 5))
        return err_set(e, "session state: %.200s", session_reply_error(reply));
    const redisReply *state = reply->element[0], *seq = reply->element[1],
                     *calls = reply->element[2];
    if (state->type == REDIS_REPLY_NIL) return AGG_OK;
    const char *s = reply_text(state);
    if (!s || seq->type != REDIS_REPLY_STRING ||
        parse_seq(seq->str, (size_t)seq->len, &st->seq) != AGG_OK ||
        (calls->type != REDIS_REPLY_NIL && calls->type != REDIS_REPLY_STRING))
        return err_set(e, "session state: malformed meta");
    st->exists = 1;
    st->done = strcmp(s, "done") == 0;
    if (calls->type == REDIS_REPLY_STRING) {
        st->calls = calls->str;
        st->calls_len = calls->len;
    }
    if (reply->elements == 5) {
        const redisReply *dl = reply->element[3];
        if (dl->type != REDIS_REPLY_NIL && (dl->type != REDIS_REPLY_STRING ||
                                           parse_seq(dl->str, (size_t)dl->len, &st->deadline_ms) != AGG_OK))
            return err_set(e, "session state: malformed deadline");
        const redisReply *ow = reply->element[4];
        if (ow->type == REDIS_REPLY_STRING) {
            st->owner = ow->str;
            st->owner_len = ow->len;
        } else if (ow->type != REDIS_REPLY_NIL) {
            return err_set(e, "session state: malformed owner");
        }
    }
    return AGG_OK;
}

int session_state_owned_by(const session_state *st, const char *principal) {
    size_t n = strlen(principal);
    return st->owner && st->owner_len == n && memcmp(st->owner, principal, n) == 0;
}

int session_state_called(const session_state *st, const char *source) {
    size_t want = strlen(source), i = 0, n = st->calls ? st->calls_len : 0;
    while (i < n) {
        size_t len = 0, digits = 0;
        while (i < n && st->calls[i] >= '0' && st->calls[i] <= '9' && digits < 6) {
            len = len * 10 + (size_t)(st->calls[i++] - '0');
            digits++;
        }
        if (digits == 0 || i >= n || st->calls[i] != ':' || i + 1 + len >= n ||
            st->calls[i + 1 + len] != ',')
            return 0;
        if (len == want && memcmp(st->calls + i + 1, source, len) == 0) return 1;
        i += len + 2;
    }
    return 0;
}

int session_list_reply(const redisReply *reply, size_t *n, err_t *e) {
    *n = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return err_set(e, "%.200s", session_reply_error(reply));
    *n = reply->elements;
    return AGG_OK;
}

int session_log_entry(const redisReply *reply, size_t i, session_event *ev) {
    memset(ev, 0, sizeof *ev);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || i >= reply->elements) return AGG_ERR;
    const redisReply *entry = reply->element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return AGG_ERR;
    const redisReply *id = entry->element[0], *fields = entry->element[1];
    if (id->type != REDIS_REPLY_STRING || id->len < 3 || memcmp(id->str, "0-", 2) != 0 ||
        parse_seq(id->str + 2, (size_t)id->len - 2, &ev->seq) != AGG_OK || ev->seq < 1 ||
        fields->type != REDIS_REPLY_ARRAY)
        return AGG_ERR;
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        const redisReply *k = fields->element[f], *v = fields->element[f + 1];
        if (k->type != REDIS_REPLY_STRING || k->len != 1 || v->type != REDIS_REPLY_STRING)
            continue;
        if (k->str[0] == 'e') {
            ev->name = v->str;
            ev->name_len = (size_t)v->len;
        } else if (k->str[0] == 'd') {
            ev->data = v->str;
            ev->data_len = (size_t)v->len;
        }
    }
    if (!ev->name || !ev->data || ev->name_len == 0) {
        memset(ev, 0, sizeof *ev);
        return AGG_ERR;
    }
    return AGG_OK;
}

int session_event_is_summary(const session_event *ev) {
    return ev->name_len == 7 && memcmp(ev->name, "summary", 7) == 0;
}

int session_due_entry(const redisReply *reply, size_t i, int bucket, char cid[UUID4_LEN + 1]) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || i >= reply->elements) return AGG_ERR;
    const redisReply *m = reply->element[i];
    if (m->type != REDIS_REPLY_STRING || m->len != UUID4_LEN) return AGG_ERR;
    memcpy(cid, m->str, UUID4_LEN);
    cid[UUID4_LEN] = '\0';
    if (!uuid4_valid(cid) || session_bucket_of(cid) != bucket) return AGG_ERR;
    return AGG_OK;
}
