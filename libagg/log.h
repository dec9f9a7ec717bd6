/* log: one structured line per event on stderr (JSON or text), with the session's context. */
#ifndef AGG_LOG_H
#define AGG_LOG_H

#include <stddef.h>

#include "err.h"

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;
typedef enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT } log_format;

/* Sets the component name (static string), the minimum level from LOG_LEVEL
 * (debug|info|warn|error; default info), the format from LOG_FORMAT (json|text;
 * default json) and the patient hashing key from LOG_PATIENT_KEY (without it a
 * random key of this process, said once at WARN before the first line that has a patient
 * field). AGG_ERR on a bad LOG_LEVEL or
 * LOG_FORMAT, or when no random key can be had. May be called again (tests). */
int log_init(const char *component, err_t *e);

/* The context of the work in progress on this thread: every line written until
 * log_ctx_clear() carries it (correlationId, traceId, spanId; a NULL or empty
 * value is left out). The strings are copied (truncated to a correlation id's,
 * trace id's and span id's lengths). A loop callback that works for one session
 * sets it on entry and clears it before it returns. */
void log_ctx_set(const char *correlation_id, const char *trace_id, const char *span_id);
void log_ctx_clear(void);

/* An explicit context for one line (the access log: the request's own trace). */
typedef struct log_ctx {
    const char *correlation_id;
    const char *trace_id;
    const char *span_id;
} log_ctx;

typedef enum log_ftype { LOG_F_STR, LOG_F_INT, LOG_F_DBL, LOG_F_BOOL, LOG_F_PATIENT } log_ftype;

/* One key/value of a line's "fields" object; everything borrowed for the call.
 * A LOG_F_PATIENT value is a patient id: it is written as its keyed hash only. */
typedef struct log_field {
    const char *key;
    log_ftype type;
    union {
        const char *s;
        long long i;
        double d;
    } v;
} log_field;

#define LOG_STR(k, x) ((log_field){.key = (k), .type = LOG_F_STR, .v.s = (x)})
#define LOG_INT(k, x) ((log_field){.key = (k), .type = LOG_F_INT, .v.i = (long long)(x)})
#define LOG_DBL(k, x) ((log_field){.key = (k), .type = LOG_F_DBL, .v.d = (double)(x)})
#define LOG_BOOL(k, x) ((log_field){.key = (k), .type = LOG_F_BOOL, .v.i = !!(x)})
#define LOG_PATIENT(x) ((log_field){.key = "patient", .type = LOG_F_PATIENT, .v.s = (x)})

/* At most this many fields are written per line (the rest are dropped), each
 * string value at most LOG_VALUE_MAX bytes, the message at most LOG_MSG_MAX:
 * a line is always whole and valid. */
#define LOG_FIELDS_MAX 16
#define LOG_VALUE_MAX 256
#define LOG_MSG_MAX 2048

/* Writes one line: ts, level, component, msg, the context (ctx, or this
 * thread's when NULL), and fields[0..n) as "fields". Never fails. */
void log_emit(log_level lvl, const log_ctx *ctx, const char *msg, const log_field *fields,
              size_t n);
/* printf-style message, no fields, this thread's context. Never log a patient
 * identifier in a message: pass it as LOG_PATIENT. */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when a line at lvl would be written (to skip building costly fields). */
int log_enabled(log_level lvl);

/* Copies into out (size >= LOG_PATIENT_HASH_LEN + 1) the hash that a
 * LOG_PATIENT field writes for id: "p-" and 16 hex digits. */
#define LOG_PATIENT_HASH_LEN 18
void log_patient_hash(const char *id, char *out);

/* Tests: every line goes to sink(line, len, arg) instead of stderr (line ends
 * with '\n', borrowed); NULL restores stderr. */
void log_set_sink(void (*sink)(const char *line, size_t len, void *arg), void *arg);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* log_kv(LOG_INFO, "msg", LOG_STR("k", v), LOG_INT("n", 3)): a line with fields. */
#define log_kv(lvl, msg, ...)                                                                      \
    log_emit((lvl), NULL, (msg), (const log_field[]){__VA_ARGS__},                                \
             sizeof((const log_field[]){__VA_ARGS__}) / sizeof(log_field))

#endif
