/* log: writes one JSON object (or one text line) per event to stderr, filtered by LOG_LEVEL. */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cfg.h"
#include "phash.h"

#define CID_MAX 36
#define TRACE_MAX 32
#define SPAN_MAX 16
#define KEY_MAX 64
#define PATIENT_KEY_MAX 256

static const char *log_component = "agg";
static log_level log_min = LOG_INFO;
static log_format log_fmt = LOG_FORMAT_JSON;
static unsigned char patient_key[PATIENT_KEY_MAX];
static size_t patient_key_len;
/* 1 while the key is this process's random one and nobody was told yet: said before the first
 * line with a patient field, not at start-up, where a configuration error must stay one line. */
static int patient_key_unannounced;
static void (*log_sink)(const char *line, size_t len, void *arg);
static void *log_sink_arg;

/* librdkafka's log lines may come from its threads: each thread has its own context. */
static _Thread_local char ctx_cid[CID_MAX + 1];
static _Thread_local char ctx_trace[TRACE_MAX + 1];
static _Thread_local char ctx_span[SPAN_MAX + 1];

static const char *const LEVEL_NAMES[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_init(const char *component, err_t *e) {
    if (component) log_component = component;
    log_min = LOG_INFO;
    /* Read through cfg_str: recorded for /actuator/configprops (the key redacted there). */
    const char *s = cfg_str("LOG_LEVEL", "info");
    if (s && *s) {
        int found = 0;
        for (int i = LOG_DEBUG; i <= LOG_ERROR && !found; i++) {
            if (strcasecmp(s, LEVEL_NAMES[i]) == 0) {
                log_min = (log_level)i;
                found = 1;
            }
        }
        if (!found)
            return err_set(e, "LOG_LEVEL must be debug, info, warn or error, got '%.20s'", s);
    }
    const char *f = cfg_str("LOG_FORMAT", "json");
    if (!f || !*f || strcasecmp(f, "json") == 0)
        log_fmt = LOG_FORMAT_JSON;
    else if (strcasecmp(f, "text") == 0)
        log_fmt = LOG_FORMAT_TEXT;
    else
        return err_set(e, "LOG_FORMAT must be json or text, got '%.20s'", f);
    const char *k;
    size_t klen;
    if (cfg_secret("LOG_PATIENT_KEY", "LOG_PATIENT_KEY_FILE", &k, &klen, e) != AGG_OK)
        return AGG_ERR;
    patient_key_unannounced = 0;
    if (k) {
        patient_key_len = klen < sizeof patient_key ? klen : sizeof patient_key;
        memcpy(patient_key, k, patient_key_len);
        return AGG_OK;
    }
    patient_key_len = 32;
    if (getrandom(patient_key, patient_key_len, 0) != (ssize_t)patient_key_len)
        return err_set(e, "no random patient hashing key: %s", strerror(errno));
    patient_key_unannounced = 1;
    return AGG_OK;
}

static void copy_id(char *dst, size_t cap, const char *src) {
    if (!src) src = "";
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void log_ctx_set(const char *correlation_id, const char *trace_id, const char *span_id) {
    copy_id(ctx_cid, sizeof ctx_cid, correlation_id);
    copy_id(ctx_trace, sizeof ctx_trace, trace_id);
    copy_id(ctx_span, sizeof ctx_span, span_id);
}

void log_ctx_clear(void) { ctx_cid[0] = ctx_trace[0] = ctx_span[0] = '\0'; }

int log_enabled(log_level lvl) { return lvl >= log_min && lvl <= LOG_ERROR; }

void log_set_sink(void (*sink)(const char *line, size_t len, void *arg), void *arg) {
    log_sink = sink;
    log_sink_arg = arg;
}

void log_patient_hash(const char *id, char *out) {
    phash_patient(patient_key, patient_key_len, id, out);
}

/* A line under construction. Every piece is bounded (LOG_MSG_MAX, LOG_VALUE_MAX,
 * LOG_FIELDS_MAX, KEY_MAX) so that the whole line always fits: nothing is cut
 * in the middle of the JSON structure. */
typedef struct line {
    char buf[LOG_MSG_MAX * 6 + LOG_FIELDS_MAX * (KEY_MAX * 6 + LOG_VALUE_MAX * 6 + 16) + 512];
    size_t pos;
} line;

static void put(line *l, const char *s, size_t n) {
    if (l->pos >= sizeof l->buf - 1) return; /* cannot happen (the pieces are bounded) */
    size_t room = sizeof l->buf - 1 - l->pos;
    if (n > room) n = room;
    memcpy(l->buf + l->pos, s, n);
    l->pos += n;
}

static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, cp = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, cp = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Appends the first max input bytes of s as the body of a JSON string (whole UTF-8
 * sequences only; invalid bytes become '?'). The output is at most 6 * max bytes. */
static void escape(line *l, const char *s, size_t max) {
    size_t n = strnlen(s, max);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t tl = 1;
        const char *src = tmp;
        size_t adv = 1;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, tl = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2), tl = 2;
        } else if (c == '\r') {
            memcpy(tmp, "\\r", 2), tl = 2;
        } else if (c == '\t') {
            memcpy(tmp, "\\t", 2), tl = 2;
        } else if (c < 0x20 || c == 0x7f) {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else if (c < 0x80) {
            tmp[0] = (char)c;
        } else {
            adv = utf8_len((const unsigned char *)s + i, n - i);
            if (adv == 0) {
                adv = 1;
                tmp[0] = '?';
            } else {
                src = s + i;
                tl = adv;
            }
        }
        put(l, src, tl);
        i += adv;
    }
}

/* A string member: ,"key":"value" (json) or  key=value (text; quoted when it has a space). */
static void member(line *l, int first, const char *key, const char *value, size_t max) {
    if (log_fmt == LOG_FORMAT_JSON) {
        puts_(l, first ? "\"" : ",\"");
        escape(l, key, KEY_MAX);
        puts_(l, "\":\"");
        escape(l, value, max);
        puts_(l, "\"");
        return;
    }
    puts_(l, " ");
    escape(l, key, KEY_MAX);
    int quote = value[0] == '\0' || strpbrk(value, " =\"") != NULL;
    puts_(l, quote ? "=\"" : "=");
    escape(l, value, max);
    if (quote) puts_(l, "\"");
}

/* A number or boolean member: the literal is written as is. */
static void literal(line *l, int first, const char *key, const char *lit) {
    if (log_fmt == LOG_FORMAT_JSON) {
        puts_(l, first ? "\"" : ",\"");
        escape(l, key, KEY_MAX);
        puts_(l, "\":");
    } else {
        puts_(l, " ");
        escape(l, key, KEY_MAX);
        puts_(l, "=");
    }
    puts_(l, lit);
}

static void field(line *l, int first, const log_field *f) {
    char num[40];
    const char *key = f->key ? f->key : "?";
    switch (f->type) {
    case LOG_F_STR: member(l, first, key, f->v.s ? f->v.s : "", LOG_VALUE_MAX); break;
    case LOG_F_PATIENT: {
        char h[PHASH_PATIENT_LEN + 1];
        log_patient_hash(f->v.s, h);
        member(l, first, key, h, sizeof h);
        break;
    }
    case LOG_F_INT:
        snprintf(num, sizeof num, "%lld", f->v.i);
        literal(l, first, key, num);
        break;
    case LOG_F_DBL:
        if (isfinite(f->v.d))
            snprintf(num, sizeof num, "%.3f", f->v.d);
        else
            strcpy(num, "null");
        literal(l, first, key, num);
        break;
    case LOG_F_BOOL: literal(l, first, key, f->v.i ? "true" : "false"); break;
    default: literal(l, first, key, "null"); break;
    }
}

static void timestamp(char *when, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t wn = strftime(when, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + wn, cap - wn, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit_json(line *l, log_level lvl, const char *when, const log_ctx *c, const char *msg,
                      const log_field *fields, size_t n) {
    puts_(l, "{\"ts\":\"");
    puts_(l, when);
    puts_(l, "\",\"level\":\"");
    puts_(l, LEVEL_NAMES[lvl]);
    puts_(l, "\"");
    member(l, 0, "component", log_component, KEY_MAX);
    member(l, 0, "msg", msg, LOG_MSG_MAX);
    if (c->correlation_id && *c->correlation_id)
        member(l, 0, "correlationId", c->correlation_id, CID_MAX);
    if (c->trace_id && *c->trace_id) member(l, 0, "traceId", c->trace_id, TRACE_MAX);
    if (c->span_id && *c->span_id) member(l, 0, "spanId", c->span_id, SPAN_MAX);
    puts_(l, ",\"fields\":{");
    for (size_t i = 0; i < n && i < LOG_FIELDS_MAX; i++) field(l, i == 0, &fields[i]);
    puts_(l, "}}\n");
}

static void emit_text(line *l, log_level lvl, const char *when, const log_ctx *c, const char *msg,
                      const log_field *fields, size_t n) {
    char lv[8];
    snprintf(lv, sizeof lv, "%-5s", LEVEL_NAMES[lvl]);
    puts_(l, when);
    puts_(l, " ");
    puts_(l, lv);
    puts_(l, " ");
    escape(l, log_component, KEY_MAX);
    puts_(l, ": ");
    escape(l, msg, LOG_MSG_MAX);
    if (c->correlation_id && *c->correlation_id)
        member(l, 0, "correlationId", c->correlation_id, CID_MAX);
    if (c->trace_id && *c->trace_id) member(l, 0, "traceId", c->trace_id, TRACE_MAX);
    if (c->span_id && *c->span_id) member(l, 0, "spanId", c->span_id, SPAN_MAX);
    for (size_t i = 0; i < n && i < LOG_FIELDS_MAX; i++) field(l, 0, &fields[i]);
    puts_(l, "\n");
}

void log_emit(log_level lvl, const log_ctx *ctx, const char *msg, const log_field *fields,
              size_t n) {
    if (!log_enabled(lvl)) return;
    if (patient_key_unannounced) {
        for (size_t i = 0; i < n; i++) {
            if (fields[i].type != LOG_F_PATIENT) continue;
            patient_key_unannounced = 0; /* before the warning: it has no patient field */
            log_warn("LOG_PATIENT_KEY is not set: patient hashes use a random key of this "
                     "process and do not correlate across processes or restarts");
            break;
        }
    }
    log_ctx here = {ctx_cid, ctx_trace, ctx_span};
    const log_ctx *c = ctx ? ctx : &here;
    char when[64];
    timestamp(when, sizeof when);
    static _Thread_local line l;
    l.pos = 0;
    if (log_fmt == LOG_FORMAT_JSON)
        emit_json(&l, lvl, when, c, msg ? msg : "", fields, n);
    else
        emit_text(&l, lvl, when, c, msg ? msg : "", fields, n);
    if (log_sink) {
        log_sink(l.buf, l.pos, log_sink_arg);
        return;
    }
    fwrite(l.buf, 1, l.pos, stderr);
    fflush(stderr);
}

void log_msg(log_level lvl, const char *fmt, ...) {
    if (!log_enabled(lvl)) return;
    char msg[LOG_MSG_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_emit(lvl, NULL, msg, NULL, 0);
}
