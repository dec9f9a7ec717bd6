/* procstat: RSS and CPU time of processes from /proc, for the per-component resource report. */
#ifndef BENCH_PROCSTAT_H
#define BENCH_PROCSTAT_H

#include <stdint.h>
#include <stdio.h>

#define PROCSTAT_MAX 32

typedef struct procstat_proc {
    char name[48];
    int pid;
    long rss_kib_start, rss_kib_end, rss_kib_max;
    double cpu_s_start, cpu_s_end;   /* utime + stime in seconds */
    int64_t t_start, t_end;          /* monotonic ns of the two samples */
    int gone;                        /* the process was not found at some sample */
} procstat_proc;

typedef struct procstat_set {
    int n;
    procstat_proc p[PROCSTAT_MAX];
} procstat_set;

/* VmRSS of pid in KiB, or -1. */
long procstat_rss_kib(int pid);
/* utime + stime of pid in seconds, or -1. */
double procstat_cpu_s(int pid);
/* Parses "name=pid,name=pid,..." and adds "loadgen" (this process).
 * Returns 0, or -1 on a malformed list. */
int procstat_parse(procstat_set *s, const char *list);
/* Takes the start sample of every process (resets the window). */
void procstat_begin(procstat_set *s, int64_t now);
/* Updates the RSS maximum of every process. */
void procstat_sample(procstat_set *s);
/* Takes the end sample. */
void procstat_end(procstat_set *s, int64_t now);
/* Writes {"name":{"pid":..,"cpu_pct":..,"rss_mib_start":..,"rss_mib_end":..,"rss_mib_max":..},...}. */
void procstat_json(const procstat_set *s, FILE *f);

#endif
