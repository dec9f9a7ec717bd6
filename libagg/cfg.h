/* cfg: reading configuration from the environment with validation. */
#ifndef AGG_CFG_H
#define AGG_CFG_H

#include "err.h"

/* Reads integer variable name: unset or "" -> def. AGG_ERR with a message
 * naming the variable when it is not a decimal integer in [min, max]. */
int cfg_long(const char *name, long def, long min, long max, long *out, err_t *e);
/* Reads a string: unset or "" -> def (may be NULL). Borrowed from environ/def. */
const char *cfg_str(const char *name, const char *def);
/* Reads a URL (http:// or https://, host non-empty): unset -> def. AGG_ERR when invalid. */
int cfg_url(const char *name, const char *def, const char **out, err_t *e);

/* Shared handling of argv for every binary: --help prints usage (the text
 * given) and exits 0; --version prints "<prog> <AGG_VERSION>" and exits 0;
 * any other argument prints one line to stderr and exits 2. */
void cfg_handle_args(int argc, char **argv, const char *prog, const char *usage);

/* Prints "<prog>: configuration error: <e->text>" to stderr and exits 2. */
void cfg_fail(const char *prog, const err_t *e) __attribute__((noreturn));

/* Raises the soft limit of open files to the hard limit (servers hold one
 * descriptor per connection) and returns the limit now in force. */
long cfg_raise_nofile(void);

#endif
