/* err: the one error convention of the project (status codes + error text). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(err_t *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->text, sizeof e->text, fmt, ap);
        va_end(ap);
        e->kind = ERR_FAILED;
    }
    return AGG_ERR;
}

int err_nomem(err_t *e) {
    if (e) {
        snprintf(e->text, sizeof e->text, "out of memory");
        e->kind = ERR_NOMEM;
    }
    return AGG_ERR;
}

int err_is_nomem(const err_t *e) { return e && e->kind == ERR_NOMEM; }
