/* Fuzz harness: the JSON scanner (jscan_document, its iterators and string decoding), with jansson as the oracle. */
/* dictionary: json.dict (scripts/fuzz.sh hands it to libFuzzer) */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "fuzzsupport.h"
#include "jscan.h"

/* Visits every value under v: each string decodes to its announced length, iteration ends. */
static void walk(const jscan_val *v) {
    jscan_iter it;
    jscan_val key, val;
    switch (v->type) {
    case JSCAN_STRING: {
        char buf[128];
        size_t n = jscan_str_decode(v, buf, sizeof buf);
        FUZZ_CHECK(n == v->str_len);
        FUZZ_CHECK(v->str_has_nul || strlen(buf) == (n < sizeof buf ? n : sizeof buf - 1));
        if (n < sizeof buf && !v->str_has_nul) FUZZ_CHECK(jscan_str_eq(v, buf));
        break;
    }
    case JSCAN_OBJECT:
        jscan_iter_init(&it, v);
        while (jscan_obj_next(&it, &key, &val)) {
            FUZZ_CHECK(key.type == JSCAN_STRING);
            walk(&key);
            walk(&val);
        }
        break;
    case JSCAN_ARRAY:
        jscan_iter_init(&it, v);
        while (jscan_arr_next(&it, &val)) walk(&val);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    jscan_val root;
    err_t e;
    int ok = jscan_document((const char *)data, size, &root, &e) == AGG_OK;
    if (ok) {
        FUZZ_CHECK(root.text >= (const char *)data && root.text + root.len <= (const char *)data + size);
        walk(&root);
    }
    /* jansson (NUL allowed in strings, any top-level value) must agree, apart from the limits each
     * has of its own: jscan's depth; jansson's integers and reals that overflow, and a key holding
     * \u0000 (valid JSON, which jansson cannot store). */
    if (memchr(data, '\0', size)) { /* jansson takes a raw NUL for the end of the text */
        FUZZ_CHECK(!ok);
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j && !ok) FUZZ_CHECK(strstr(e.text, "nesting too deep") != NULL);
    if (!j && ok)
        FUZZ_CHECK(strstr(je.text, "too big") || strstr(je.text, "overflow") ||
                   strstr(je.text, "NUL byte in object key") || strstr(je.text, "out of memory"));
    json_decref(j);
    return 0;
}
