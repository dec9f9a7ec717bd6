/* cfg: reads validated configuration from the environment and handles --help/--version. */
#include "cfg.h"

#include <sys/resource.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AGG_VERSION
#error "AGG_VERSION must be defined by the build"
#endif

int cfg_long(const char *name, long def, long min, long max, long *out, err_t *e) {
    const char *s = getenv(name);
    if (!s || *s == '\0') {
        *out = def;
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
    return AGG_OK;
}

const char *cfg_str(const char *name, const char *def) {
    const char *s = getenv(name);
    return s && *s ? s : def;
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
    if (!s || *s == '\0') s = def;
    if (s && !url_ok(s))
        return err_set(e, "%s must be an http:// or https:// URL with a host, got '%.80s'", name,
                       s);
    *out = s;
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
