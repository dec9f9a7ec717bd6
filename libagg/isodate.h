/* isodate: the one ISO-8601 date parser (note dates), to an instant in UTC (pure). */
#ifndef AGG_ISODATE_H
#define AGG_ISODATE_H

#include <stdint.h>

/* An instant: seconds since 1970-01-01T00:00:00Z and the nanoseconds after it. */
typedef struct isodate {
    int64_t secs;
    int32_t nanos; /* 0..999999999 */
} isodate;

/* Parses exactly YYYY-MM-DD[THH:MM[:SS[.frac]][Z|+HH[:]MM|-HH[:]MM]]: month
 * 1..12, day 1..the month's length (leap years counted), hour 0..23, minute
 * 0..59, second 0..60 (a leap second counts as the next minute's 0), a
 * fraction of one or more digits (the first nine are kept), offset hours
 * 0..23 and minutes 0..59. A date alone is midnight UTC; a time without a
 * zone is UTC. AGG_OK with *out set, or AGG_ERR (*out unchanged) on any
 * other text or a NULL s. s is borrowed for the call. */
int isodate_parse(const char *s, isodate *out);

#endif
