/* traceparent: the W3C header's grammar and the ids of new traces and spans. */
#include "traceparent.h"

#include <stdio.h>
#include <string.h>

#include "randpool.h"

static const char HEX[] = "0123456789abcdef";

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case is invalid in traceparent */
}

/* 1 when s[0..n) is lower-case hex and not all zero (or zero is allowed). */
static int hex_field(const char *s, size_t n, int zero_ok) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        int v = hexval(s[i]);
        if (v < 0) return 0;
        nonzero |= v;
    }
    return zero_ok || nonzero;
}

int traceparent_parse(const char *s, traceparent *out, err_t *e) {
    if (!s) return err_set(e, "no traceparent");
    size_t n = strlen(s);
    if (n < TRACEPARENT_LEN) return err_set(e, "traceparent is too short");
    if (!hex_field(s, 2, 1)) return err_set(e, "traceparent version is not lower-case hex");
    if (s[0] == 'f' && s[1] == 'f') return err_set(e, "traceparent version ff is invalid");
    int v00 = s[0] == '0' && s[1] == '0';
    if (v00 && n != TRACEPARENT_LEN) return err_set(e, "traceparent version 00 has 55 characters");
    if (!v00 && n > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-')
        return err_set(e, "traceparent of a later version is malformed");
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return err_set(e, "traceparent separators are misplaced");
    if (!hex_field(s + 3, TRACEPARENT_TRACE_LEN, 0))
        return err_set(e, "traceparent trace id is not lower-case hex or is all zero");
    if (!hex_field(s + 36, TRACEPARENT_SPAN_LEN, 0))
        return err_set(e, "traceparent parent id is not lower-case hex or is all zero");
    if (!hex_field(s + 53, 2, 1)) return err_set(e, "traceparent flags are not lower-case hex");
    memcpy(out->trace_id, s + 3, TRACEPARENT_TRACE_LEN);
    out->trace_id[TRACEPARENT_TRACE_LEN] = '\0';
    memcpy(out->span_id, s + 36, TRACEPARENT_SPAN_LEN);
    out->span_id[TRACEPARENT_SPAN_LEN] = '\0';
    out->flags = (unsigned)(hexval(s[53]) * 16 + hexval(s[54]));
    return AGG_OK;
}

/* Writes n bytes as 2n hex digits; an all-zero id gets a 1 in its last digit. */
static void hex_id(const unsigned char *b, size_t n, char *out) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[b[i] >> 4];
        out[2 * i + 1] = HEX[b[i] & 15];
        nonzero |= b[i];
    }
    if (!nonzero) out[2 * n - 1] = '1';
    out[2 * n] = '\0';
}

void traceparent_from_bytes(const unsigned char rnd[24], traceparent *out) {
    hex_id(rnd, 16, out->trace_id);
    hex_id(rnd + 16, 8, out->span_id);
    out->flags = 1;
}

static int random_bytes(unsigned char *b, size_t n, err_t *e) { return randpool_bytes(b, n, e); }

int traceparent_generate(traceparent *out, err_t *e) {
    unsigned char rnd[24];
    if (random_bytes(rnd, sizeof rnd, e) != AGG_OK) return AGG_ERR;
    traceparent_from_bytes(rnd, out);
    return AGG_OK;
}

int traceparent_child(const traceparent *parent, traceparent *out, err_t *e) {
    unsigned char rnd[8];
    if (random_bytes(rnd, sizeof rnd, e) != AGG_OK) return AGG_ERR;
    if (out != parent) {
        memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
        out->flags = parent->flags;
    }
    hex_id(rnd, sizeof rnd, out->span_id);
    return AGG_OK;
}

int traceparent_take(const char *header, traceparent *out, int *was_valid, err_t *e) {
    int ok = header && traceparent_parse(header, out, NULL) == AGG_OK;
    if (was_valid) *was_valid = ok;
    return ok ? AGG_OK : traceparent_generate(out, e);
}

void traceparent_format(const traceparent *t, char out[TRACEPARENT_LEN + 1]) {
    snprintf(out, TRACEPARENT_LEN + 1, "00-%.32s-%.16s-%02x", t->trace_id, t->span_id,
             t->flags & 0xffu);
}
