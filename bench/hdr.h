/* hdr: a log-linear latency histogram (1 us .. 60 s, relative error <= 1/64) with percentiles. */
#ifndef BENCH_HDR_H
#define BENCH_HDR_H

#include <stdint.h>
#include <stdio.h>

/* Values below 128 us have their own bucket; above, every power of two is
 * split into 64 linear sub-buckets. Values above HDR_MAX_US are clamped. */
#define HDR_MAX_US 60000000LL
#define HDR_BUCKETS 1344

typedef struct hdr {
    uint64_t count;
    int64_t min, max;       /* exact, in us; min = INT64_MAX when empty */
    double sum;             /* for the mean */
    uint64_t clamped;       /* values above HDR_MAX_US */
    uint64_t b[HDR_BUCKETS];
} hdr;

void hdr_init(hdr *h);
/* Records one value in microseconds (negative values count as 0). */
void hdr_record(hdr *h, int64_t us);
/* Adds every value of src to dst. */
void hdr_merge(hdr *dst, const hdr *src);
/* The value at percentile p (0 < p <= 100): the highest value equivalent to
 * the bucket holding the ceil(p/100 * count)-th value, capped at the exact
 * max. 0 when empty. */
int64_t hdr_percentile(const hdr *h, double p);
double hdr_mean(const hdr *h);
/* Bucket index of a value, and the lowest / highest value of a bucket. */
int hdr_index(int64_t us);
int64_t hdr_lowest(int idx);
int64_t hdr_highest(int idx);
/* Writes {"count":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..,"mean_ms":..} to f. */
void hdr_json(const hdr *h, FILE *f);

#endif
