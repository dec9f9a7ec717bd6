/* logsafe: text made safe for a log line (no credentials, no quoted input) (pure). */
#ifndef AGG_LOGSAFE_H
#define AGG_LOGSAFE_H

#include <stddef.h>

/* Copies url into out (size outsz, always NUL-terminated, truncating) with
 * any user:password@ part replaced by "***@", for logging. url (NULL gives
 * "") is borrowed for the call; out is the caller's. */
void logsafe_url(const char *url, char *out, size_t outsz);

/* Copies a parser's error text into out (size outsz, always NUL-terminated)
 * without any quoted input: jansson's "... near '<input>'" suffix and
 * anything after it is cut, so a patient id never reaches a log line. text
 * (NULL gives "") is borrowed for the call; out is the caller's. */
void logsafe_error(const char *text, char *out, size_t outsz);

#endif
