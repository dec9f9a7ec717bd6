/* cfg: reading configuration from the environment with validation. */
#ifndef AGG_CFG_H
#define AGG_CFG_H

#include <stddef.h>

#include "err.h"

/* Reads integer variable name: unset or "" -> def. AGG_ERR with a message
 * naming the variable when it is not a decimal integer in [min, max]. */
int cfg_long(const char *name, long def, long min, long max, long *out, err_t *e);
/* Reads a string: unset or "" -> def (may be NULL). Borrowed from environ/def. */
const char *cfg_str(const char *name, const char *def);
/* Reads a URL (http:// or https://, host non-empty): unset -> def. AGG_ERR when invalid. */
int cfg_url(const char *name, const char *def, const char **out, err_t *e);

/* Reads a secret from the variable name, or from the file that file_name names (a mounted
 * Kubernetes Secret: the file's bytes, one final "\n" or "\r\n" dropped). *out gets the value
 * and *len its length (may be NULL), or *out = NULL when neither is set. The value is borrowed:
 * from environ, or a copy that cfg owns until cfg_secrets_free(). AGG_ERR with one line naming
 * the variable when both are set, the file cannot be read, is empty or is over CFG_SECRET_MAX
 * bytes; the secret never appears in e. Both names must be static strings; both are recorded,
 * the value always shown as "******". Start-up only: not thread-safe. */
#define CFG_SECRET_MAX 65536
int cfg_secret(const char *name, const char *file_name, const char **out, size_t *len, err_t *e);
/* Reads the file that the variable file_name names (a public key, a JWKS: not a secret, its path
 * shown): *out gets its bytes as a string, *len (may be NULL) its length, or *out = NULL when the
 * variable is unset. Owned by cfg until cfg_secrets_free(), as cfg_secret's copies, and with its
 * errors (unreadable, empty, NUL byte, over CFG_SECRET_MAX). file_name must be a static string. */
int cfg_file(const char *file_name, const char **out, size_t *len, err_t *e);
/* Frees the copies of secrets read from files (their pointers become invalid). */
void cfg_secrets_free(void);

/* Every variable read through cfg_long, cfg_str and cfg_url is recorded (the last read of a
 * name wins) for /actuator/configprops: its value as text (NULL when unset without default) and
 * whether it was the default. The list holds at most CFG_MAX_VARS names; a read past that, or
 * one whose value cannot be copied (out of memory), is not recorded and the read itself still
 * succeeds. Names must be static strings. Start-up only: not thread-safe. */
#define CFG_MAX_VARS 128

typedef struct cfg_var {
    const char *name;
    const char *value; /* NULL = unset and no default */
    int is_default;
    int is_number; /* read by cfg_long: rendered as a JSON number */
} cfg_var;

/* The recorded variables in the order first read; *n gets their count. Borrowed until the next
 * cfg_* read or cfg_vars_clear. */
const cfg_var *cfg_vars(size_t *n);
/* Forgets every recorded variable (frees the copies). */
void cfg_vars_clear(void);
/* 1 when name holds PASSWORD, SECRET, TOKEN or KEY: its value is never shown (a *_FILE path
 * of such a name neither: it says where the secret is kept). */
int cfg_is_secret(const char *name);

/* The variables as one JSON object nested by the words of their names, lower case: a name's
 * words separated by '_' are nested objects, except that a unit word (MS, S, BYTES) joins the
 * word before it in camelCase: AGGREGATOR_TIMEOUT_MAX_MS -> {"aggregator":{"timeout":
 * {"maxMs":27000}}}. When a path meets a value already placed (A_B and A_B_C), the rest of the
 * longer name is joined in camelCase one level up ({"a":{"b":..,"bC":..}}); a name whose key
 * holds the object of longer names already goes into it under "" ({"a":{"b":{"":..,"c":..}}}):
 * nothing is lost. None of the programs' names meet either case. Numbers are numbers, unset values null, secrets "******". "_defaulted" lists the names
 * that took their defaults. Keys in the order first read. malloc'd, caller frees; NULL with e filled on out of
 * memory. */
char *cfg_props_json(const cfg_var *vars, size_t n, err_t *e);

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
