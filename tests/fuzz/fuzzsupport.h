/* fuzzsupport: what the libFuzzer harnesses share: the input as a C string, and a loud invariant check. */
#ifndef AGG_FUZZSUPPORT_H
#define AGG_FUZZSUPPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input as a malloc'd NUL-terminated string, cut at its first NUL (the parsers that take C
 * strings never see the bytes after one). Exactly strlen + 1 bytes, so that ASan catches a read
 * past the terminator. The caller frees it; NULL only when malloc fails. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, '\0', size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* A property a parser's output must have: abort() makes libFuzzer keep the input as a crash. */
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
