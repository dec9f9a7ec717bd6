/* record: accounting of session_record replies (metrics, logs), shared by fan-out and answers. */
#include "record.h"

#include "log.h"
#include "session.h"

void record_account(worker *w, const struct redisReply *reply, const char *cid, const char *source,
                    int res, outcome_t o) {
    session_record_result r = session_record_reply(reply, NULL);
    if (r == SESSION_RECORDED || r == SESSION_COMPLETED) {
        if (o >= OUTCOME_OK && o <= OUTCOME_ERROR) metrics_inc(w->met.recorded[o], 1);
        wmetrics_outcome(&w->met, res, o);
        if (r == SESSION_COMPLETED) {
            metrics_inc(w->met.summaries, 1);
            wmetrics_completed(&w->met, 0, session_summary_elapsed_ms(reply));
            log_debug("session %s complete (last outcome %s from %s)", cid, outcome_name(o),
                      source);
        } else {
            log_debug("session %s: recorded %s from %s", cid, outcome_name(o), source);
        }
        return;
    }
    if (session_record_refused(r)) {
        metrics_inc(w->met.dropped[r - SESSION_DUPLICATE], 1);
        if (r == SESSION_DUPLICATE || r == SESSION_FINISHED)
            log_debug("session %s: %s outcome from %s dropped: %s", cid, outcome_name(o), source,
                      session_record_name(r));
        else
            log_info("session %s: %s outcome from %s dropped: %s", cid, outcome_name(o), source,
                     session_record_name(r));
        return;
    }
    log_error("session %s: unexpected session_record reply (%.120s) for %s", cid,
              session_reply_error(reply), source);
}
