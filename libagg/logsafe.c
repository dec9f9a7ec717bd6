/* logsafe: strips credentials from URLs and quoted input from error texts before logging. */
#include "logsafe.h"

#include <stdio.h>
#include <string.h>

void logsafe_url(const char *url, char *out, size_t outsz) {
    if (outsz == 0) return;
    if (url == NULL) {
        out[0] = '\0';
        return;
    }
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@') at = p;
    if (at == NULL) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    snprintf(out, outsz, "%.*s***%s", (int)(auth - url), url, at);
}

void logsafe_error(const char *text, char *out, size_t outsz) {
    if (outsz == 0) return;
    if (text == NULL) text = "";
    size_t n = strlen(text);
    const char *near = strstr(text, " near ");
    if (near != NULL) n = (size_t)(near - text);
    const char *quote = memchr(text, '\'', n);
    if (quote != NULL) n = (size_t)(quote - text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == ':')) n--;
    snprintf(out, outsz, "%.*s", (int)n, text);
}
