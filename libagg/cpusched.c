/* cpusched: the process's CPU scheduling policy, SCHED_BATCH unless CPU_SCHED_POLICY says normal. */
#include "cpusched.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

int cpusched_parse(const char *text, cpusched_policy *out, err_t *e) {
    if (!text || !*text || strcmp(text, "batch") == 0) {
        *out = CPUSCHED_BATCH;
        return AGG_OK;
    }
    if (strcmp(text, "normal") == 0) {
        *out = CPUSCHED_NORMAL;
        return AGG_OK;
    }
    return err_set(e, "CPU_SCHED_POLICY must be batch or normal, got '%.20s'", text);
}

int cpusched_configure_env(err_t *e) {
    cpusched_policy p;
    if (cpusched_parse(cfg_str("CPU_SCHED_POLICY", "batch"), &p, e) != AGG_OK) return AGG_ERR;
    struct sched_param none = {.sched_priority = 0};
    int policy = p == CPUSCHED_BATCH ? SCHED_BATCH : SCHED_OTHER;
    if (sched_setscheduler(0, policy, &none) != 0)
        log_warn("CPU_SCHED_POLICY: the kernel refused %s (%s); running with the policy inherited",
                 p == CPUSCHED_BATCH ? "SCHED_BATCH" : "SCHED_OTHER", strerror(errno));
    return AGG_OK;
}
