/* procstat: the process's memory, CPU, descriptors and start time, parsed from /proc for the process_* metrics. */
#ifndef AGG_PROCSTAT_H
#define AGG_PROCSTAT_H

#include "err.h"

typedef struct procstat {
    double cpu_seconds;        /* user + system CPU time */
    double start_time_seconds; /* since the Unix epoch */
    double virtual_bytes;
    double resident_bytes;
    double open_fds;
    double max_fds; /* the soft RLIMIT_NOFILE; -1 when unlimited */
} procstat;

/* What procstat_parse reads: the texts of /proc/self/stat and /proc/stat (for btime, the boot
 * time), and the values the kernel does not put in a file. Everything is borrowed. */
typedef struct procstat_input {
    const char *self_stat; /* /proc/self/stat */
    const char *proc_stat; /* /proc/stat */
    long clk_tck;          /* sysconf(_SC_CLK_TCK), > 0 */
    long page_size;        /* sysconf(_SC_PAGESIZE), > 0 */
    long open_fds;         /* entries of /proc/self/fd */
    long max_fds;          /* RLIMIT_NOFILE soft limit; -1 = unlimited */
} procstat_input;

/* Fills *out from in (pure). The command name in /proc/self/stat may hold spaces and
 * parentheses: the fields are counted from its last ')'. AGG_ERR with e filled when a text is
 * missing, truncated or not numbers where numbers belong, or /proc/stat has no btime line. */
int procstat_parse(const procstat_input *in, procstat *out, err_t *e);

/* Reads /proc/self/stat, /proc/stat, /proc/self/fd and RLIMIT_NOFILE and parses them with
 * procstat_parse. AGG_ERR with e filled when a file cannot be read (no /proc) or does not
 * parse; *out is then untouched. No allocation. */
int procstat_read(procstat *out, err_t *e);

#endif
