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
    }
    return AGG_ERR;
}

int err_oom(err_t *e) { return err_set(e, "%s", ERR_OOM); }

int err_is_oom(const err_t *e) { return strcmp(e->text, ERR_OOM) == 0; }
