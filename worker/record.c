/* record: accounting of session_record replies (metrics, logs), shared by fan-out and answers. */
#include "record.h"

#include "log.h"
#include "policy.h"

void record_account(worker *w, const struct redisReply *reply, const char *cid, const char *source,
                    outcome_t o) {
    const char *result = policy_script_result(reply);
    policy_record r = policy_record_parse(result);
    if (r == POLICY_RECORDED || r == POLICY_COMPLETED) {
        if (o >= OUTCOME_OK && o <= OUTCOME_ERROR) w->met.recorded[o]++;
        if (r == POLICY_COMPLETED) {
            w->met.summaries++;
            log_debug("session %s complete (last outcome %s from %s)", cid, outcome_name(o),
                      source);
        } else {
            log_debug("session %s: recorded %s from %s", cid, outcome_name(o), source);
        }
        return;
    }
    if (policy_is_drop(r)) {
        int i = policy_drop_index(r);
        w->met.dropped[i]++;
        if (r == POLICY_DUPLICATE || r == POLICY_FINISHED)
            log_debug("session %s: %s outcome from %s dropped: %s", cid, outcome_name(o), source,
                      policy_drop_name(i));
        else
            log_info("session %s: %s outcome from %s dropped: %s", cid, outcome_name(o), source,
                     policy_drop_name(i));
        return;
    }
    log_error("session %s: unexpected session_record reply %.64s for %s", cid,
              result ? result : "(not a result)", source);
}
