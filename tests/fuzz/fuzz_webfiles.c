/* fuzz_webfiles: libFuzzer harness of web-server's parsers: WEB_CONNECT_SRC, If-None-Match and the answer to a method and path. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "webfiles.h"

/* Input: <selector byte><field>\0<field>\0<field>. Selector 0: the fields are one WEB_CONNECT_SRC;
 * otherwise method, path and If-None-Match of a request to a full file set. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static webfiles *w;
    if (!w) {
        w = webfiles_new("http://127.0.0.1:8080", 1, NULL);
        if (!w) abort();
        for (int i = 0; i < WEBFILES_COUNT; i++)
            if (webfiles_add(w, WEBFILES_NAMES[i], "x", 1, NULL) != AGG_OK) abort();
    }
    if (size < 1) return 0;
    char *text = agg_malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] == 0) {
        if (webfiles_connect_src_check(text, NULL) == AGG_OK) {
            char *csp = webfiles_csp(text, NULL);
            /* A checked list never ends or adds a directive. */
            if (csp && strchr(strstr(csp, "connect-src") + 1, ';') != strstr(csp, "; base-uri"))
                abort();
            agg_free(csp);
        }
    } else {
        const char *method = text;
        const char *path = method + strlen(method) + 1 <= text + size - 1
                               ? method + strlen(method) + 1 : NULL;
        const char *inm = path && path + strlen(path) + 1 <= text + size - 1
                              ? path + strlen(path) + 1 : NULL;
        webfiles_answer a;
        webfiles_answer_for(w, method, path, inm, &a);
        if (a.status != 200 && a.status != 304 && a.status != 404 && a.status != 405) abort();
        if (a.len && !a.body) abort();
    }
    agg_free(text);
    return 0;
}
