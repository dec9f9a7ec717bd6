/* cfg: reads validated configuration from the environment and handles --help/--version. */
#include "cfg.h"

#include <sys/resource.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "jbody.h"

#ifndef AGG_VERSION
#error "AGG_VERSION must be defined by the build"
#endif

/* The recorded variables; numbers are formatted into nums so that they need no allocation. */
static cfg_var vars[CFG_MAX_VARS];
static char nums[CFG_MAX_VARS][24];
static size_t n_vars;

static size_t slot_of(const char *name) {
    for (size_t i = 0; i < n_vars; i++)
        if (strcmp(vars[i].name, name) == 0) return i;
    return n_vars;
}

static void forget_value(size_t i) {
    if (!vars[i].is_number) agg_free((char *)vars[i].value);
    vars[i].value = NULL;
}

/* Records name = text (copied) or the number v. */
static void record(const char *name, const char *text, int is_number, long v, int is_default) {
    size_t i = slot_of(name);
    if (i == CFG_MAX_VARS) return;
    char *copy = NULL;
    if (!is_number && text != NULL && (copy = agg_strdup(text)) == NULL) return;
    if (i < n_vars)
        forget_value(i);
    else
        n_vars++;
    vars[i].name = name;
    vars[i].is_number = is_number;
    vars[i].is_default = is_default;
    if (is_number) {
        snprintf(nums[i], sizeof nums[i], "%ld", v);
        vars[i].value = nums[i];
    } else {
        vars[i].value = copy;
    }
}

const cfg_var *cfg_vars(size_t *n) {
    *n = n_vars;
    return vars;
}

void cfg_vars_clear(void) {
    for (size_t i = 0; i < n_vars; i++) forget_value(i);
    n_vars = 0;
}

int cfg_is_secret(const char *name) {
    return strstr(name, "PASSWORD") || strstr(name, "SECRET") || strstr(name, "TOKEN") ||
           strstr(name, "KEY");
}

static int is_unit(const char *w, size_t len) {
    return (len == 2 && strncmp(w, "MS", 2) == 0) || (len == 1 && w[0] == 'S') ||
           (len == 5 && strncmp(w, "BYTES", 5) == 0);
}

/* Splits name at '_' into key words: lower case, a unit word joined to the one before it in
 * camelCase. Writes at most max words into words (each < 64 bytes); returns their count. */
#define CFG_MAX_WORDS 12
static size_t split_words(const char *name, char words[CFG_MAX_WORDS][64]) {
    size_t n = 0;
    for (const char *p = name; *p && n < CFG_MAX_WORDS;) {
        const char *end = strchr(p, '_');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            int join = n > 0 && is_unit(p, len);
            char *w = join ? words[n - 1] : words[n];
            size_t at = join ? strlen(w) : 0;
            for (size_t k = 0; k < len && at + 1 < 64; k++, at++) {
                char c = p[k];
                w[at] = (char)((join && k == 0) ? c : (c >= 'A' && c <= 'Z' ? c + 32 : c));
            }
            w[at] = '\0';
            if (!join) n++;
        }
        p += len;
        if (*p == '_') p++;
    }
    return n;
}

/* Words from..n joined in camelCase into out. */
static void camel(char words[CFG_MAX_WORDS][64], size_t from, size_t n, char *out, size_t size) {
    size_t at = 0;
    for (size_t i = from; i < n; i++)
        for (const char *c = words[i]; *c && at + 1 < size; c++, at++)
            out[at] = (char)(i > from && c == words[i] && *c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    out[at] = '\0';
}

static json_t *value_json(const cfg_var *v) {
    if (v->value == NULL) return json_null();
    if (cfg_is_secret(v->name)) return json_string("******");
    if (v->is_number) return json_integer(strtoll(v->value, NULL, 10));
    return json_string(v->value);
}

/* Places v in root along its words; AGG_ERR on out of memory. */
static int place(json_t *root, const cfg_var *v) {
    char words[CFG_MAX_WORDS][64];
    size_t n = split_words(v->name, words);
    if (n == 0) return AGG_OK;
    json_t *obj = root;
    size_t i = 0;
    for (; i + 1 < n; i++) {
        json_t *next = json_object_get(obj, words[i]);
        if (next == NULL) {
            if (!(next = json_object()) || json_object_set_new(obj, words[i], next) != 0)
                return AGG_ERR;
        } else if (!json_is_object(next)) {
            break; /* a value is there: the rest of the name goes here in camelCase */
        }
        obj = next;
    }
    char key[256];
    camel(words, i, n, key, sizeof key);
    json_t *val = value_json(v);
    if (json_is_object(json_object_get(obj, key))) { /* a longer name came first */
        if (!val || json_object_set_new(json_object_get(obj, key), "", val) != 0) return AGG_ERR;
        return AGG_OK;
    }
    return val && json_object_set_new(obj, key, val) == 0 ? AGG_OK : AGG_ERR;
}

char *cfg_props_json(const cfg_var *list, size_t n, err_t *e) {
    json_t *root = json_object(), *defaulted = json_array();
    char *out = NULL;
    int ok = root && defaulted;
    for (size_t i = 0; ok && i < n; i++) {
        ok = place(root, &list[i]) == AGG_OK;
        if (ok && list[i].is_default) ok = json_array_append_new(defaulted, json_string(list[i].name)) == 0;
    }
    if (ok && json_object_set(root, "_defaulted", defaulted) == 0)
        out = jbody_dumps(root, e);
    else
        err_nomem(e);
    json_decref(defaulted);
    json_decref(root);
    return out;
}

int cfg_long(const char *name, long def, long min, long max, long *out, err_t *e) {
    const char *s = getenv(name);
    if (!s || *s == '\0') {
        *out = def;
        record(name, NULL, 1, def, 1);
        return AGG_OK;
    }
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return err_set(e, "%s must be a decimal integer in [%ld, %ld], got '%.40s'", name, min, max,
                       s);
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v < min || v > max)
        return err_set(e, "%s must be a decimal integer in [%ld, %ld], got '%.40s'", name, min, max,
                       s);
    *out = v;
    record(name, NULL, 1, v, 0);
    return AGG_OK;
}

const char *cfg_str(const char *name, const char *def) {
    const char *s = getenv(name);
    int set = s && *s;
    record(name, set ? s : def, 0, 0, !set);
    return set ? s : def;
}

/* 1 when s is http(s):// followed by a non-empty host and has no whitespace. */
static int url_ok(const char *s) {
    const char *p;
    if (strncmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return 0;
    if (*p == '\0' || *p == '/' || *p == ':' || *p == '?' || *p == '#') return 0;
    for (const char *q = s; *q; q++) {
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) return 0;
    }
    return 1;
}

int cfg_url(const char *name, const char *def, const char **out, err_t *e) {
    const char *s = getenv(name);
    int set = s && *s;
    if (!set) s = def;
    if (s && !url_ok(s))
        return err_set(e, "%s must be an http:// or https:// URL with a host, got '%.80s'", name,
                       s);
    record(name, s, 0, 0, !set);
    *out = s;
    return AGG_OK;
}

/* Copies of secrets read from files, owned here until cfg_secrets_free(). */
#define CFG_MAX_SECRETS 16
static char *secrets[CFG_MAX_SECRETS];
static size_t n_secrets;

void cfg_secrets_free(void) {
    for (size_t i = 0; i < n_secrets; i++) {
        if (secrets[i]) memset(secrets[i], 0, strlen(secrets[i]));
        agg_free(secrets[i]);
    }
    n_secrets = 0;
}

/* The bytes of path (one final newline dropped) into a new string; AGG_ERR naming file_name. */
static int read_secret_file(const char *file_name, const char *path, char **out, err_t *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot read '%.200s': %s", file_name, path, strerror(errno));
    char *buf = agg_malloc(CFG_SECRET_MAX + 2);
    if (!buf) {
        fclose(f);
        return err_nomem(e);
    }
    size_t n = fread(buf, 1, CFG_SECRET_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CFG_SECRET_MAX) {
        agg_free(buf);
        return bad ? err_set(e, "%s: cannot read '%.200s'", file_name, path)
                   : err_set(e, "%s: '%.200s' is over %d bytes", file_name, path, CFG_SECRET_MAX);
    }
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n)) {
        agg_free(buf);
        return err_set(e, "%s: '%.200s' is empty or holds a NUL byte", file_name, path);
    }
    *out = buf;
    return AGG_OK;
}

/* Reads path into a copy kept until cfg_secrets_free(); *out borrows it. */
static int keep_file(const char *file_name, const char *path, const char **out, err_t *e) {
    if (n_secrets == CFG_MAX_SECRETS)
        return err_set(e, "%s: more than %d secret files", file_name, CFG_MAX_SECRETS);
    char *copy;
    if (read_secret_file(file_name, path, &copy, e) != AGG_OK) return AGG_ERR;
    secrets[n_secrets++] = copy;
    *out = copy;
    return AGG_OK;
}

int cfg_secret(const char *name, const char *file_name, const char **out, size_t *len, err_t *e) {
    const char *v = getenv(name), *path = getenv(file_name);
    int have_v = v && *v, have_path = path && *path;
    record(name, have_v ? v : NULL, 0, 0, !have_v);
    record(file_name, have_path ? path : NULL, 0, 0, !have_path);
    *out = NULL;
    if (len) *len = 0;
    if (have_v && have_path)
        return err_set(e, "set %s or %s, not both", name, file_name);
    if (have_path) {
        if (keep_file(file_name, path, &v, e) != AGG_OK) return AGG_ERR;
    } else if (!have_v) {
        return AGG_OK;
    }
    *out = v;
    if (len) *len = strlen(v);
    return AGG_OK;
}

int cfg_file(const char *file_name, const char **out, size_t *len, err_t *e) {
    const char *path = getenv(file_name);
    int have_path = path && *path;
    record(file_name, have_path ? path : NULL, 0, 0, !have_path);
    *out = NULL;
    if (len) *len = 0;
    if (!have_path || keep_file(file_name, path, out, e) != AGG_OK) return have_path ? AGG_ERR : AGG_OK;
    if (len) *len = strlen(*out);
    return AGG_OK;
}

void cfg_handle_args(int argc, char **argv, const char *prog, const char *usage) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            size_t n = usage ? strlen(usage) : 0;
            fputs(usage ? usage : "", stdout);
            if (n == 0 || usage[n - 1] != '\n') fputc('\n', stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", prog, AGG_VERSION);
            exit(0);
        }
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", prog, a);
        exit(2);
    }
}

void cfg_fail(const char *prog, const err_t *e) {
    fprintf(stderr, "%s: configuration error: %s\n", prog, e ? e->text : "unknown error");
    exit(2);
}

long cfg_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long)rl.rlim_cur;
}
