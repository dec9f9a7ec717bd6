/* log: writes one JSON object per line to stderr, filtered by LOG_LEVEL. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cfg.h"

static const char *log_component = "agg";
static log_level log_min = LOG_INFO;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

int log_init(const char *component, err_t *e) {
    if (component) log_component = component;
    const char *s = cfg_str("LOG_LEVEL", "info"); /* recorded for /actuator/configprops */
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcasecmp(s, LEVEL_NAMES[i]) == 0) {
            log_min = (log_level)i;
            return AGG_OK;
        }
    }
    return err_set(e, "LOG_LEVEL must be debug, info, warn or error, got '%.20s'", s);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, cp = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, cp = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Appends s as the body of a JSON string to dst (capacity cap, length *pos),
 * truncating; invalid UTF-8 bytes become '?'. */
static void escape(char *dst, size_t cap, size_t *pos, const char *s) {
    size_t n = strlen(s);
    size_t p = *pos;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t tl;
        const char *src = tmp;
        size_t adv = 1;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, tl = 2;
        } else if (c == '\n') {
            memcpy(tmp, "\\n", 2), tl = 2;
        } else if (c == '\r') {
            memcpy(tmp, "\\r", 2), tl = 2;
        } else if (c == '\t') {
            memcpy(tmp, "\\t", 2), tl = 2;
        } else if (c < 0x20 || c == 0x7f) {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else if (c < 0x80) {
            tmp[0] = (char)c, tl = 1;
        } else {
            adv = utf8_len((const unsigned char *)s + i, n - i);
            if (adv == 0) {
                adv = 1;
                tmp[0] = '?', tl = 1;
            } else {
                src = s + i;
                tl = adv;
            }
        }
        if (p + tl >= cap) break;
        memcpy(dst + p, src, tl);
        p += tl;
        i += adv;
    }
    *pos = p;
}

static void append(char *dst, size_t cap, size_t *pos, const char *s) {
    size_t n = strlen(s);
    if (*pos + n >= cap) n = cap - *pos - 1;
    memcpy(dst + *pos, s, n);
    *pos += n;
}

void log_msg(log_level lvl, const char *fmt, ...) {
    if (lvl < log_min || lvl > LOG_ERROR) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    size_t wn = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + wn, sizeof when - wn, ".%03ldZ", ts.tv_nsec / 1000000);

    char line[4608];
    size_t pos = 0;
    const size_t tail = 3; /* "\"}\n" always fits */
    append(line, sizeof line - tail, &pos, "{\"ts\":\"");
    append(line, sizeof line - tail, &pos, when);
    append(line, sizeof line - tail, &pos, "\",\"level\":\"");
    append(line, sizeof line - tail, &pos, LEVEL_NAMES[lvl]);
    append(line, sizeof line - tail, &pos, "\",\"component\":\"");
    escape(line, sizeof line - tail, &pos, log_component);
    append(line, sizeof line - tail, &pos, "\",\"msg\":\"");
    escape(line, sizeof line - tail, &pos, msg);
    memcpy(line + pos, "\"}\n", 3);
    pos += 3;
    fwrite(line, 1, pos, stderr);
    fflush(stderr);
}
