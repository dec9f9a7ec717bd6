/* procstat: parses /proc/self/stat and /proc/stat into the process_* values; the reader around it. */
#include "procstat.h"

#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fields of /proc/self/stat (proc(5), 1-based) that we need; the fields after the command name
 * start at 3 (state). */
enum { F_UTIME = 14, F_STIME = 15, F_STARTTIME = 22, F_VSIZE = 23, F_RSS = 24, F_LAST = F_RSS };

/* The unsigned decimal at *p; advances *p past it. 0 when there is none. */
static int read_num(const char **p, double *v) {
    const char *s = *p;
    while (*s == ' ') s++;
    if (*s < '0' || *s > '9') return 0;
    double x = 0;
    while (*s >= '0' && *s <= '9') x = x * 10 + (*s++ - '0');
    *p = s;
    *v = x;
    return 1;
}

/* Skips one space-separated token (the state letter, or a possibly negative number). */
static int skip_token(const char **p) {
    const char *s = *p;
    while (*s == ' ') s++;
    if (*s == '\0' || *s == '\n') return 0;
    while (*s != ' ' && *s != '\0' && *s != '\n') s++;
    *p = s;
    return 1;
}

static int parse_self_stat(const char *text, double f[F_LAST + 1], err_t *e) {
    const char *p = text ? strrchr(text, ')') : NULL;
    if (p == NULL) return err_set(e, "/proc/self/stat: no command name");
    p++;
    for (int field = 3; field <= F_LAST; field++) {
        int wanted = field == F_UTIME || field == F_STIME || field == F_STARTTIME ||
                     field == F_VSIZE || field == F_RSS;
        if (wanted ? !read_num(&p, &f[field]) : !skip_token(&p))
            return err_set(e, "/proc/self/stat: field %d missing or not a number", field);
    }
    return AGG_OK;
}

static int parse_btime(const char *text, double *btime, err_t *e) {
    for (const char *p = text; p && *p;) {
        if (strncmp(p, "btime ", 6) == 0) {
            p += 6;
            if (read_num(&p, btime) && (*p == '\n' || *p == '\0')) return AGG_OK;
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return err_set(e, "/proc/stat: no btime line");
}

int procstat_parse(const procstat_input *in, procstat *out, err_t *e) {
    double f[F_LAST + 1] = {0};
    double btime = 0;
    if (in->clk_tck <= 0 || in->page_size <= 0)
        return err_set(e, "procstat: clock ticks and page size must be positive");
    if (parse_self_stat(in->self_stat, f, e) != AGG_OK ||
        parse_btime(in->proc_stat, &btime, e) != AGG_OK)
        return AGG_ERR;
    double tck = (double)in->clk_tck;
    out->cpu_seconds = (f[F_UTIME] + f[F_STIME]) / tck;
    out->start_time_seconds = btime + f[F_STARTTIME] / tck;
    out->virtual_bytes = f[F_VSIZE];
    out->resident_bytes = f[F_RSS] * (double)in->page_size;
    out->open_fds = (double)in->open_fds;
    out->max_fds = (double)in->max_fds;
    return AGG_OK;
}

/* The whole (small) file into buf; AGG_ERR when it cannot be read or does not fit. */
static int read_small(const char *path, char *buf, size_t size, err_t *e) {
    FILE *f = fopen(path, "re");
    if (f == NULL) return err_set(e, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, size - 1, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) return err_set(e, "%s: unreadable or longer than %zu bytes", path, size - 1);
    buf[n] = '\0';
    return AGG_OK;
}

/* The btime line of /proc/stat into buf. The file is long on machines with many CPUs and
 * interrupts (its intr line alone can be tens of KiB), so it is read a line piece at a time. */
static int read_btime_line(char *buf, size_t size, err_t *e) {
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL) return err_set(e, "/proc/stat: %s", strerror(errno));
    int at_line_start = 1, found = 0;
    while (!found && fgets(buf, (int)size, f) != NULL) {
        size_t n = strlen(buf);
        found = at_line_start && strncmp(buf, "btime ", 6) == 0;
        at_line_start = n > 0 && buf[n - 1] == '\n';
    }
    fclose(f);
    if (!found) return err_set(e, "/proc/stat: no btime line");
    return AGG_OK;
}

static long count_fds(err_t *e) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        err_set(e, "/proc/self/fd: %s", strerror(errno));
        return -1;
    }
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the descriptor of d itself */
}

int procstat_read(procstat *out, err_t *e) {
    char self_stat[2048], btime[128];
    if (read_small("/proc/self/stat", self_stat, sizeof self_stat, e) != AGG_OK ||
        read_btime_line(btime, sizeof btime, e) != AGG_OK)
        return AGG_ERR;
    long fds = count_fds(e);
    if (fds < 0) return AGG_ERR;
    struct rlimit rl;
    long max_fds = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max_fds = (long)rl.rlim_cur;
    procstat_input in = {.self_stat = self_stat,
                         .proc_stat = btime,
                         .clk_tck = sysconf(_SC_CLK_TCK),
                         .page_size = sysconf(_SC_PAGESIZE),
                         .open_fds = fds,
                         .max_fds = max_fds};
    procstat p;
    if (procstat_parse(&in, &p, e) != AGG_OK) return AGG_ERR;
    *out = p;
    return AGG_OK;
}
