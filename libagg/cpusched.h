/* cpusched: the process's CPU scheduling policy, SCHED_BATCH unless CPU_SCHED_POLICY says normal. */
#ifndef AGG_CPUSCHED_H
#define AGG_CPUSCHED_H

#include "err.h"

typedef enum cpusched_policy {
    CPUSCHED_BATCH,  /* SCHED_BATCH: a just-woken process waits for the running one's slice */
    CPUSCHED_NORMAL  /* SCHED_OTHER: the kernel's default, wake-ups preempt */
} cpusched_policy;

/* Parses text ("batch" or "normal"; NULL or "" -> batch) into *out. AGG_ERR with e naming
 * CPU_SCHED_POLICY when it is anything else (*out unchanged). */
int cpusched_parse(const char *text, cpusched_policy *out, err_t *e);

/* Reads CPU_SCHED_POLICY and sets that policy on the calling thread, so call it at the start of
 * main(), before any thread exists: threads (librdkafka's, curl's resolver's) inherit it.
 *
 * Why batch by default: a session is about fifty small messages between processes that share
 * the cores, and under SCHED_OTHER each of them wakes its receiver and preempts whatever runs.
 * SCHED_BATCH lets the running process finish its slice (one loop pass, usually), which halves
 * the preemptions and cuts CPU per session; measured in bench/README.md, "Profiling". It needs
 * no privilege and has no real-time power: the nice value and fairness stay.
 *
 * AGG_ERR with e filled when the value is bad; nothing changed then. When the kernel refuses
 * the policy (a seccomp profile, say) it logs a warning and returns AGG_OK: the policy makes the
 * process cheaper, it is never a reason not to run. */
int cpusched_configure_env(err_t *e);

#endif
