/* calls: counts the calls the resource got per correlationId, so tests can tell a repeated call. */
#include "calls.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "apierr.h"
#include "log.h"
#include "strmap.h"
#include "uuid4.h"

typedef struct call_count {
    char cid[UUID4_LEN + 1]; /* "" while the slot is unused */
    unsigned n;
} call_count;

struct rs_calls {
    strmap *by_cid;   /* cid -> its slot in ring */
    call_count *ring; /* capacity slots, reused oldest first */
    size_t capacity;
    size_t next; /* the slot the next new id takes */
    unsigned long long total, repeated;
};

rs_calls *rs_calls_new(size_t capacity, err_t *e) {
    if (capacity == 0) {
        err_set(e, "call count: capacity must be at least 1");
        return NULL;
    }
    rs_calls *c = agg_calloc(1, sizeof *c);
    if (c) {
        c->capacity = capacity;
        c->ring = agg_calloc(capacity, sizeof *c->ring);
        c->by_cid = strmap_new();
    }
    if (!c || !c->ring || !c->by_cid) {
        rs_calls_free(c);
        err_nomem(e);
        return NULL;
    }
    return c;
}

void rs_calls_free(rs_calls *c) {
    if (!c) return;
    if (c->by_cid) strmap_free(c->by_cid);
    agg_free(c->ring);
    agg_free(c);
}

void rs_calls_note(rs_calls *c, const char *cid) {
    if (!cid || !uuid4_valid(cid)) return;
    c->total++;
    call_count *n = strmap_get(c->by_cid, cid);
    if (n) {
        n->n++;
        c->repeated++;
        return;
    }
    n = &c->ring[c->next];
    if (n->cid[0]) strmap_remove(c->by_cid, n->cid);
    memcpy(n->cid, cid, sizeof n->cid);
    n->n = 1;
    if (strmap_put(c->by_cid, n->cid, n) != AGG_OK) {
        log_error("call count of correlationId %s: out of memory", cid);
        n->cid[0] = '\0';
        return;
    }
    c->next = (c->next + 1) % c->capacity;
}

unsigned rs_calls_count(const rs_calls *c, const char *cid) {
    const call_count *n = cid ? strmap_get(c->by_cid, cid) : NULL;
    return n ? n->n : 0;
}

unsigned long long rs_calls_total(const rs_calls *c) { return c->total; }
unsigned long long rs_calls_repeated(const rs_calls *c) { return c->repeated; }

void rs_calls_handle(rs_calls *c, httpd_req *r) {
    const char *cid = httpd_query(r, "correlationId");
    char body[160];
    if (!cid) {
        snprintf(body, sizeof body, "{\"calls\":%llu,\"repeated\":%llu,\"tracked\":%zu}", c->total,
                 c->repeated, strmap_size(c->by_cid));
        httpd_respond(r, 200, NULL, body);
        return;
    }
    if (!uuid4_valid(cid)) {
        api_error ae;
        apierr_set(&ae, 400, "invalid_field", "correlationId",
                   "correlationId must be a lowercase UUID");
        httpd_respond_error(r, &ae);
        return;
    }
    snprintf(body, sizeof body, "{\"correlationId\":\"%s\",\"calls\":%u}", cid,
             rs_calls_count(c, cid));
    httpd_respond(r, 200, NULL, body);
}
