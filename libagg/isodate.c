/* isodate: parses ISO-8601 dates and times with range checks into seconds and nanoseconds UTC. */
#include "isodate.h"

#include <stddef.h>

#include "err.h"

/* Reads n digits at *p into *v; advances *p. 1 when all were digits. */
static int digits(const char **p, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return 0;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return 1;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The time part after 'T': HH:MM[:SS[.frac]][zone]; fills the fields it reads. */
static int parse_time(const char *s, int *h, int *mi, int *sec, int32_t *nanos, int *offset_s) {
    if (!digits(&s, 2, h) || *s++ != ':' || !digits(&s, 2, mi)) return AGG_ERR;
    if (*h > 23 || *mi > 59) return AGG_ERR;
    if (*s == ':') {
        s++;
        if (!digits(&s, 2, sec) || *sec > 60) return AGG_ERR;
        if (*s == '.') {
            s++;
            if (*s < '0' || *s > '9') return AGG_ERR;
            int32_t scale = 100000000;
            for (; *s >= '0' && *s <= '9'; s++) {
                *nanos += (*s - '0') * scale;
                scale /= 10;
            }
        }
    }
    if (*s == 'Z') return s[1] == '\0' ? AGG_OK : AGG_ERR;
    if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        int oh, om;
        if (!digits(&s, 2, &oh)) return AGG_ERR;
        if (*s == ':') s++;
        if (!digits(&s, 2, &om) || oh > 23 || om > 59) return AGG_ERR;
        *offset_s = sign * (oh * 3600 + om * 60);
    }
    return *s == '\0' ? AGG_OK : AGG_ERR;
}

int isodate_parse(const char *s, isodate *out) {
    int y, mo, d, h = 0, mi = 0, sec = 0, offset_s = 0;
    int32_t nanos = 0;
    if (s == NULL || !digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return AGG_ERR;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo)) return AGG_ERR;
    if (*s != '\0' && (*s++ != 'T' || parse_time(s, &h, &mi, &sec, &nanos, &offset_s) != AGG_OK))
        return AGG_ERR;
    out->secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec - offset_s;
    out->nanos = nanos;
    return AGG_OK;
}
