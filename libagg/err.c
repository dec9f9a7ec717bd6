/* err: the one error convention of the project (status codes + error text). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(err_t *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->text, sizeof e->text, fmt, ap);
        va_end(ap);
    }
    return AGG_ERR;
}
