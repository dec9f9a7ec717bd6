/* log: one JSON object per line on stderr. */
#ifndef AGG_LOG_H
#define AGG_LOG_H

#include "err.h"

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the component name (static string) and the minimum level from
 * LOG_LEVEL (debug|info|warn|error; default info). AGG_ERR on a bad LOG_LEVEL. */
int log_init(const char *component, err_t *e);
/* Writes {"ts":"<ISO-8601>","level":..,"component":..,"msg":..}. Never log
 * a patient identifier in clear. */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
