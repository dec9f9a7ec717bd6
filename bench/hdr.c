/* hdr: a log-linear latency histogram (1 us .. 60 s, relative error <= 1/64) with percentiles. */
#include "hdr.h"

#include <math.h>
#include <string.h>

void hdr_init(hdr *h) {
    memset(h, 0, sizeof *h);
    h->min = INT64_MAX;
}

int hdr_index(int64_t v) {
    if (v < 128) return (int)(v < 0 ? 0 : v);
    int msb = 63 - __builtin_clzll((unsigned long long)v);
    int shift = msb - 6;                 /* top 7 bits kept: 64..127 */
    int top = (int)(v >> shift);
    return 128 + (shift - 1) * 64 + (top - 64);
}

int64_t hdr_lowest(int idx) {
    if (idx < 128) return idx;
    int shift = (idx - 128) / 64 + 1;
    int top = (idx - 128) % 64 + 64;
    return (int64_t)top << shift;
}

int64_t hdr_highest(int idx) {
    if (idx < 128) return idx;
    int shift = (idx - 128) / 64 + 1;
    return hdr_lowest(idx) + ((int64_t)1 << shift) - 1;
}

void hdr_record(hdr *h, int64_t us) {
    if (us < 0) us = 0;
    if (us > HDR_MAX_US) {
        h->clamped++;
        us = HDR_MAX_US;
    }
    h->b[hdr_index(us)]++;
    h->count++;
    h->sum += (double)us;
    if (us < h->min) h->min = us;
    if (us > h->max) h->max = us;
}

void hdr_merge(hdr *dst, const hdr *src) {
    for (int i = 0; i < HDR_BUCKETS; i++) dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

int64_t hdr_percentile(const hdr *h, double p) {
    if (!h->count) return 0;
    if (p >= 100.0) return h->max;
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HDR_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            int64_t v = hdr_highest(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double hdr_mean(const hdr *h) {
    return h->count ? h->sum / (double)h->count : 0.0;
}

void hdr_json(const hdr *h, FILE *f) {
    fprintf(f, "{\"count\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
               "\"max_ms\":%.3f,\"min_ms\":%.3f,\"mean_ms\":%.3f}",
            (unsigned long long)h->count, hdr_percentile(h, 50) / 1e3, hdr_percentile(h, 90) / 1e3,
            hdr_percentile(h, 99) / 1e3, hdr_percentile(h, 99.9) / 1e3, h->max / 1e3,
            h->count ? h->min / 1e3 : 0.0, hdr_mean(h) / 1e3);
}
