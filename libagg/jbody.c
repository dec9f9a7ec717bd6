/* jbody: parsing an HTTP request body into a JSON object, with the API's error on failure. */
#include "jbody.h"

json_t *jbody_object(const char *body, size_t len, api_error *e) {
    json_error_t jerr;
    json_t *root = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (root && json_is_object(root)) return root;
    if (root)
        apierr_set(e, 400, "invalid_json", NULL, "the body must be a JSON object");
    else
        apierr_set(e, 400, "invalid_json", NULL, "the body is not valid JSON: %s",
                   body ? jerr.text : "empty body");
    json_decref(root);
    return NULL;
}
