/* apierr: builds the {"error","message","field"} body of 4xx/5xx HTTP answers. */
#include "apierr.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "err.h"
#include "jbody.h"

int apierr_set(api_error *e, int http_status, const char *code, const char *field, const char *fmt,
               ...) {
    if (!e) return AGG_ERR;
    e->http_status = http_status;
    e->code = code;
    e->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return AGG_ERR;
}

/* Adds a string member (a placeholder when value is not valid UTF-8). AGG_ERR
 * only on out of memory: jansson says NULL for both, the failure count tells them apart. */
static int set_str(json_t *o, const char *key, const char *value) {
    unsigned long failed = agg_alloc_failures();
    json_t *s = json_string(value);
    if (!s && agg_alloc_failures() != failed) return AGG_ERR;
    if (!s) {
        /* Invalid UTF-8 in a message: keep the body valid rather than failing. */
        s = json_string("(message not valid UTF-8)");
        if (!s) return AGG_ERR;
    }
    return json_object_set_new(o, key, s) == 0 ? AGG_OK : AGG_ERR;
}

char *apierr_to_json(const api_error *ae, err_t *e) {
    json_t *o = json_object();
    if (!o) {
        err_nomem(e);
        return NULL;
    }
    const char *code = ae && ae->code ? ae->code : "internal_error";
    const char *msg = ae ? ae->message : "internal error";
    char *out = NULL;
    if (set_str(o, "error", code) == AGG_OK && set_str(o, "message", msg) == AGG_OK &&
        (!ae || !ae->field || set_str(o, "field", ae->field) == AGG_OK)) {
        out = jbody_dumps(o, e);
    } else {
        err_nomem(e);
    }
    json_decref(o);
    return out;
}

int apierr_nomem(api_error *e) {
    return apierr_set(e, 503, "out_of_memory", NULL, "out of memory");
}
