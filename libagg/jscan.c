/* jscan: a strict, allocation-free JSON validator and tokenizer for hot-path messages. */
#include "jscan.h"

#include <string.h>

#include "err.h"

typedef struct scanner {
    const char *start; /* for offsets in error text */
    const char *p, *end;
    err_t *err; /* NULL: no error text */
} scanner;

static int fail(scanner *s, const char *what) {
    if (!s->err) return AGG_ERR;
    return err_set(s->err, "%s at byte %zu", what, (size_t)(s->p - s->start));
}

static void skip_ws(scanner *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p, unsigned *cp) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *cp = v;
    return 1;
}

/* Bytes of the UTF-8 sequence at p (1..4) when it is well formed (shortest
 * form, not a surrogate, at most U+10FFFF), else 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    unsigned cp = c & (0xff >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* Bytes that code point cp takes in UTF-8. */
static size_t utf8_len(unsigned cp) {
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Reads the \u escape of four hex digits (or a surrogate pair) whose 'u' is at *p; advances
 * *p past it and sets *cp. 0 when malformed. */
static int read_u_escape(const char **p, const char *end, unsigned *cp) {
    const char *q = *p + 1;
    if (end - q < 4 || !hex4(q, cp)) return 0;
    q += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) return 0;
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        unsigned lo;
        if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, &lo) || lo < 0xdc00 ||
            lo > 0xdfff)
            return 0;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
        q += 6;
    }
    *p = q;
    return 1;
}

static int scan_string(scanner *s, jscan_val *v) {
    const char *begin = s->p++;
    size_t n = 0;
    v->str_escaped = 0;
    v->str_has_nul = 0;
    for (;;) {
        const char *run = s->p;
        while (s->p < s->end && (unsigned char)*s->p >= 0x20 && (unsigned char)*s->p < 0x80 &&
               *s->p != '"' && *s->p != '\\')
            s->p++;
        n += (size_t)(s->p - run);
        if (s->p >= s->end) return fail(s, "unterminated string");
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') break;
        if (c < 0x20) return fail(s, "control character in string");
        if (c == '\\') {
            v->str_escaped = 1;
            if (s->end - s->p < 2) return fail(s, "unterminated string");
            char x = s->p[1];
            if (x == 'u') {
                s->p++;
                unsigned cp;
                if (!read_u_escape(&s->p, s->end, &cp)) return fail(s, "invalid \\u escape");
                if (cp == 0) v->str_has_nul = 1;
                n += utf8_len(cp);
            } else if (strchr("\"\\/bfnrt", x) != NULL && x != '\0') {
                s->p += 2;
                n++;
            } else {
                return fail(s, "invalid escape in string");
            }
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)s->p, (const unsigned char *)s->end);
        if (k == 0) return fail(s, "invalid UTF-8 in string");
        s->p += k;
        n += k;
    }
    s->p++;
    v->type = JSCAN_STRING;
    v->text = begin;
    v->len = (size_t)(s->p - begin);
    v->str_len = n;
    return AGG_OK;
}

static int digits(scanner *s) {
    const char *d = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > d;
}

/* 1 when the integer text [p, p+n) (optional '-', digits) fits a long long. */
static int fits_long_long(const char *p, size_t n) {
    int neg = *p == '-';
    const char *d = p + neg;
    size_t nd = n - (size_t)neg;
    if (nd < 19) return 1;
    if (nd > 19) return 0;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

static int scan_number(scanner *s, jscan_val *v) {
    const char *begin = s->p;
    int integer = 1;
    if (*s->p == '-') s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    } else if (!digits(s)) {
        return fail(s, "invalid number");
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        integer = 0;
        if (!digits(s)) return fail(s, "invalid number");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        integer = 0;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!digits(s)) return fail(s, "invalid number");
    }
    v->type = JSCAN_NUMBER;
    v->text = begin;
    v->len = (size_t)(s->p - begin);
    v->num_integer = integer && fits_long_long(begin, v->len);
    return AGG_OK;
}

static int scan_literal(scanner *s, const char *word, jscan_type t, jscan_val *v) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "unexpected character");
    v->type = t;
    v->text = s->p;
    v->len = n;
    s->p += n;
    return AGG_OK;
}

static int scan_value(scanner *s, int depth, jscan_val *v);

/* Scans an object or array whose opening bracket is at s->p. */
static int scan_container(scanner *s, int depth, jscan_val *v) {
    if (depth >= JSCAN_MAX_DEPTH) return fail(s, "nesting too deep");
    const char *begin = s->p;
    char close = *s->p == '{' ? '}' : ']';
    int object = close == '}';
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
    } else {
        for (;;) {
            jscan_val item;
            if (object) {
                if (s->p >= s->end || *s->p != '"') return fail(s, "expected a member name");
                if (scan_string(s, &item) != AGG_OK) return AGG_ERR;
                skip_ws(s);
                if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':'");
                s->p++;
                skip_ws(s);
            }
            if (scan_value(s, depth + 1, &item) != AGG_OK) return AGG_ERR;
            skip_ws(s);
            if (s->p >= s->end)
                return fail(s, object ? "unterminated object" : "unterminated array");
            if (*s->p == close) {
                s->p++;
                break;
            }
            if (*s->p != ',')
                return fail(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
            s->p++;
            skip_ws(s);
        }
    }
    v->type = object ? JSCAN_OBJECT : JSCAN_ARRAY;
    v->text = begin;
    v->len = (size_t)(s->p - begin);
    return AGG_OK;
}

static int scan_value(scanner *s, int depth, jscan_val *v) {
    if (s->p >= s->end) return fail(s, "unexpected end of text");
    switch (*s->p) {
    case '"': return scan_string(s, v);
    case '{':
    case '[': return scan_container(s, depth, v);
    case 't': return scan_literal(s, "true", JSCAN_TRUE, v);
    case 'f': return scan_literal(s, "false", JSCAN_FALSE, v);
    case 'n': return scan_literal(s, "null", JSCAN_NULL, v);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) return scan_number(s, v);
        return fail(s, "unexpected character");
    }
}

int jscan_document(const char *text, size_t len, jscan_val *root, err_t *e) {
    scanner s = {text, text, text + len, e};
    memset(root, 0, sizeof *root);
    if (text == NULL) return err_set(e, "empty text");
    skip_ws(&s);
    if (s.p >= s.end) return fail(&s, "empty text");
    if (scan_value(&s, 0, root) != AGG_OK) return AGG_ERR;
    skip_ws(&s);
    if (s.p != s.end) return fail(&s, "unexpected data after the value");
    return AGG_OK;
}

void jscan_iter_init(jscan_iter *it, const jscan_val *container) {
    it->p = container->text + 1; /* past '{' or '[' */
    it->end = container->text + container->len - 1;
    it->first = 1;
}

/* Moves past whitespace and, after the first item, the comma; 0 at the end. */
static int iter_step(jscan_iter *it, scanner *s) {
    s->start = s->p = it->p;
    s->end = it->end;
    s->err = NULL;
    skip_ws(s);
    if (!it->first) {
        if (s->p >= s->end || *s->p != ',') return 0;
        s->p++;
        skip_ws(s);
    }
    it->first = 0;
    return s->p < s->end;
}

int jscan_obj_next(jscan_iter *it, jscan_val *key, jscan_val *val) {
    scanner s;
    if (!iter_step(it, &s)) return 0;
    if (*s.p != '"' || scan_string(&s, key) != AGG_OK) return 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != ':') return 0;
    s.p++;
    skip_ws(&s);
    /* Depth was checked by jscan_document; 1 keeps nested limits relative. */
    if (scan_value(&s, 1, val) != AGG_OK) return 0;
    it->p = s.p;
    return 1;
}

int jscan_arr_next(jscan_iter *it, jscan_val *val) {
    scanner s;
    if (!iter_step(it, &s)) return 0;
    if (scan_value(&s, 1, val) != AGG_OK) return 0;
    it->p = s.p;
    return 1;
}

static void put_utf8(unsigned cp, char *b) {
    if (cp < 0x80) {
        b[0] = (char)cp;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
    }
}

size_t jscan_str_decode(const jscan_val *v, char *out, size_t cap) {
    const char *p = v->text + 1, *end = v->text + v->len - 1;
    size_t n = 0;
    while (p < end) {
        char b[4];
        size_t k = 1;
        if (*p != '\\') {
            b[0] = *p++;
        } else if (p[1] == 'u') {
            unsigned cp = 0;
            p++;
            if (!read_u_escape(&p, end, &cp)) break; /* cannot happen after validation */
            k = utf8_len(cp);
            put_utf8(cp, b);
        } else {
            char x = p[1];
            b[0] = x == 'b'   ? '\b'
                   : x == 'f' ? '\f'
                   : x == 'n' ? '\n'
                   : x == 'r' ? '\r'
                   : x == 't' ? '\t'
                              : x;
            p += 2;
        }
        for (size_t i = 0; i < k; i++, n++)
            if (n + 1 < cap) out[n] = b[i];
    }
    out[n + 1 < cap ? n : cap - 1] = '\0';
    return n;
}

int jscan_str_eq(const jscan_val *v, const char *lit) {
    size_t n = strlen(lit);
    if (v->type != JSCAN_STRING || v->str_len != n) return 0;
    if (!v->str_escaped) return memcmp(v->text + 1, lit, n) == 0;
    char buf[128];
    if (n >= sizeof buf) return 0;
    jscan_str_decode(v, buf, sizeof buf);
    return memcmp(buf, lit, n) == 0;
}
