/* procstat: RSS and CPU time of processes from /proc, for the per-component resource report. */
#include "procstat.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long procstat_rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

double procstat_cpu_s(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');   /* the command name may contain spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int procstat_parse(procstat_set *s, const char *list) {
    memset(s, 0, sizeof *s);
    const char *p = list ? list : "";
    while (*p && s->n < PROCSTAT_MAX - 1) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!eq || eq > comma || (size_t)(eq - p) >= sizeof s->p[0].name) return -1;
        procstat_proc *q = &s->p[s->n++];
        memcpy(q->name, p, (size_t)(eq - p));
        q->name[eq - p] = 0;
        q->pid = atoi(eq + 1);
        if (q->pid <= 0) return -1;
        p = *comma ? comma + 1 : comma;
    }
    procstat_proc *self = &s->p[s->n++];
    strcpy(self->name, "loadgen");
    self->pid = getpid();
    return 0;
}

void procstat_begin(procstat_set *s, int64_t now) {
    for (int i = 0; i < s->n; i++) {
        procstat_proc *q = &s->p[i];
        q->rss_kib_start = q->rss_kib_max = procstat_rss_kib(q->pid);
        q->cpu_s_start = procstat_cpu_s(q->pid);
        q->t_start = now;
        q->gone = q->rss_kib_start < 0 || q->cpu_s_start < 0;
    }
}

void procstat_sample(procstat_set *s) {
    for (int i = 0; i < s->n; i++) {
        long r = procstat_rss_kib(s->p[i].pid);
        if (r < 0) s->p[i].gone = 1;
        else if (r > s->p[i].rss_kib_max) s->p[i].rss_kib_max = r;
    }
}

void procstat_end(procstat_set *s, int64_t now) {
    procstat_sample(s);
    for (int i = 0; i < s->n; i++) {
        procstat_proc *q = &s->p[i];
        q->rss_kib_end = procstat_rss_kib(q->pid);
        q->cpu_s_end = procstat_cpu_s(q->pid);
        q->t_end = now;
        if (q->rss_kib_end < 0 || q->cpu_s_end < 0) q->gone = 1;
    }
}

void procstat_json(const procstat_set *s, FILE *f) {
    fputc('{', f);
    for (int i = 0; i < s->n; i++) {
        const procstat_proc *q = &s->p[i];
        double wall = (double)(q->t_end - q->t_start) / 1e9;
        double cpu = wall > 0 && !q->gone ? 100.0 * (q->cpu_s_end - q->cpu_s_start) / wall : -1;
        fprintf(f, "%s\"%s\":{\"pid\":%d,\"cpu_pct\":%.1f,\"rss_mib_start\":%.2f,\"rss_mib_end\":%.2f,"
                   "\"rss_mib_max\":%.2f,\"gone\":%s}",
                i ? "," : "", q->name, q->pid, cpu, q->rss_kib_start / 1024.0, q->rss_kib_end / 1024.0,
                q->rss_kib_max / 1024.0, q->gone ? "true" : "false");
    }
    fputc('}', f);
}
