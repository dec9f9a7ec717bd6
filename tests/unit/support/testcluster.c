/* testcluster: a tiny synchronous Redis Cluster client for tests (slot routing, MOVED and ASK). */
#include "testcluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define TIMEOUT_S 5

struct tc_node {
    char *host;
    int port;
    redisContext *ctx;
};

struct testcluster {
    struct tc_node *nodes;
    int nnodes;
    int cap;
    int16_t owner[TESTCLUSTER_SLOTS]; /* index into nodes; -1 when unknown */
    unsigned moved;
    unsigned ask;
    char err[256];
};

static void set_err(testcluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(testcluster *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

/* CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes with. */
static uint16_t crc16(const unsigned char *p, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned testcluster_slot(const char *key, size_t len) {
    const unsigned char *k = (const unsigned char *)key;
    size_t s = 0;
    while (s < len && k[s] != '{') s++;
    if (s < len) {
        size_t e = s + 1;
        while (e < len && k[e] != '}') e++;
        if (e < len && e > s + 1) return crc16(k + s + 1, e - s - 1) & (TESTCLUSTER_SLOTS - 1);
    }
    return crc16(k, len) & (TESTCLUSTER_SLOTS - 1);
}

int testcluster_first_key_index(int argc, const char **argv) {
    static const char *const scripts[] = {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO",
                                          "FCALL", "FCALL_RO"};
    if (argc < 2 || !argv || !argv[0]) return -1;
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        if (strcasecmp(argv[0], scripts[i]) != 0) continue;
        if (argc < 4 || !argv[2]) return -1;
        return strtol(argv[2], NULL, 10) > 0 ? 3 : -1;
    }
    return 1;
}

/* A connection to host:port with TIMEOUT_S for connecting and for every reply; NULL with the
 * reason in c->err. */
static redisContext *open_ctx(testcluster *c, const char *host, int port) {
    struct timeval tv = {TIMEOUT_S, 0};
    redisContext *ctx = redisConnectWithTimeout(host, port, tv);
    if (!ctx) {
        set_err(c, "connect %s:%d: out of memory", host, port);
        return NULL;
    }
    if (ctx->err) {
        set_err(c, "connect %s:%d: %s", host, port, ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    if (redisSetTimeout(ctx, tv) != REDIS_OK) {
        set_err(c, "set timeout on %s:%d: %s", host, port, ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* The index of node host[0..hostlen):port, connecting and adding it when it is new; -1 with
 * c->err when it cannot. */
static int node_add(testcluster *c, const char *host, size_t hostlen, int port) {
    for (int i = 0; i < c->nnodes; i++)
        if (c->nodes[i].port == port && strlen(c->nodes[i].host) == hostlen &&
            memcmp(c->nodes[i].host, host, hostlen) == 0)
            return i;
    if (c->nnodes == INT16_MAX) {
        set_err(c, "too many nodes");
        return -1;
    }
    if (c->nnodes == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        struct tc_node *n = realloc(c->nodes, (size_t)cap * sizeof *n);
        if (!n) {
            set_err(c, "out of memory");
            return -1;
        }
        c->nodes = n;
        c->cap = cap;
    }
    char *h = malloc(hostlen + 1);
    if (!h) {
        set_err(c, "out of memory");
        return -1;
    }
    memcpy(h, host, hostlen);
    h[hostlen] = '\0';
    redisContext *ctx = open_ctx(c, h, port);
    if (!ctx) {
        free(h);
        return -1;
    }
    c->nodes[c->nnodes] = (struct tc_node){h, port, ctx};
    return c->nnodes++;
}

/* Node i's connection, reopened first if an earlier failure broke it; NULL with c->err. */
static redisContext *node_ctx(testcluster *c, int i) {
    struct tc_node *n = &c->nodes[i];
    if (n->ctx->err) {
        struct timeval tv = {TIMEOUT_S, 0};
        if (redisReconnect(n->ctx) != REDIS_OK || redisSetTimeout(n->ctx, tv) != REDIS_OK) {
            set_err(c, "reconnect %s:%d: %s", n->host, n->port, n->ctx->errstr);
            return NULL;
        }
    }
    return n->ctx;
}

/* Fills c->owner from CLUSTER SLOTS asked of node `from`; 0, or -1 with c->err (the table is
 * then unchanged). */
static int refresh_slots(testcluster *c, int from) {
    redisContext *ctx = node_ctx(c, from);
    if (!ctx) return -1;
    redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
    if (!r) {
        set_err(c, "CLUSTER SLOTS on %s:%d: %s", c->nodes[from].host, c->nodes[from].port,
                ctx->errstr);
        return -1;
    }
    int16_t owner[TESTCLUSTER_SLOTS];
    for (int s = 0; s < TESTCLUSTER_SLOTS; s++) owner[s] = -1;
    int rc = -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        set_err(c, "CLUSTER SLOTS on %s:%d: %s", c->nodes[from].host, c->nodes[from].port,
                r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            set_err(c, "CLUSTER SLOTS: unexpected entry %zu", i);
            goto out;
        }
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        const redisReply *ip = e->element[2]->element[0];
        long long port = e->element[2]->element[1]->integer;
        if (lo < 0 || hi >= TESTCLUSTER_SLOTS || lo > hi || port <= 0 || port > 65535) {
            set_err(c, "CLUSTER SLOTS: bad range %lld-%lld or port %lld", lo, hi, port);
            goto out;
        }
        /* An empty address means "the node you asked". */
        const char *host = ip->len ? ip->str : c->nodes[from].host;
        size_t hostlen = ip->len ? ip->len : strlen(c->nodes[from].host);
        int n = node_add(c, host, hostlen, (int)port);
        if (n < 0) goto out;
        for (long long s = lo; s <= hi; s++) owner[s] = (int16_t)n;
    }
    int covered = 0;
    for (int s = 0; s < TESTCLUSTER_SLOTS; s++) covered += owner[s] >= 0;
    if (covered != TESTCLUSTER_SLOTS) {
        set_err(c, "CLUSTER SLOTS on %s:%d covers %d of %d slots (is the cluster up?)",
                c->nodes[from].host, c->nodes[from].port, covered, TESTCLUSTER_SLOTS);
        goto out;
    }
    memcpy(c->owner, owner, sizeof owner);
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

/* The index of node ep[0..len) ("host:port", split at its last ':'; an empty host is that of
 * node `replied`, none when it is -1), connecting it when new; -1 with c->err. */
static int node_from_endpoint(testcluster *c, const char *ep, size_t len, int replied) {
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (ep[i] == ':') colon = ep + i;
    if (!colon || colon + 1 == ep + len) {
        set_err(c, "bad node address '%.*s'", (int)len, ep);
        return -1;
    }
    char digits[8];
    size_t nd = (size_t)(ep + len - colon - 1);
    if (nd >= sizeof digits) {
        set_err(c, "bad port in '%.*s'", (int)len, ep);
        return -1;
    }
    memcpy(digits, colon + 1, nd);
    digits[nd] = '\0';
    char *end;
    errno = 0;
    long port = strtol(digits, &end, 10);
    if (errno || *end || port <= 0 || port > 65535) {
        set_err(c, "bad port in '%.*s'", (int)len, ep);
        return -1;
    }
    if (colon > ep) return node_add(c, ep, (size_t)(colon - ep), (int)port);
    /* "MOVED 3999 :6381" names the host of the node that replied. */
    if (replied < 0) {
        set_err(c, "no host in '%.*s'", (int)len, ep);
        return -1;
    }
    return node_add(c, c->nodes[replied].host, strlen(c->nodes[replied].host), (int)port);
}

testcluster *testcluster_connect(const char *nodes_csv, char *err, size_t errsz) {
    testcluster *c = calloc(1, sizeof *c);
    if (!c) {
        if (errsz) snprintf(err, errsz, "out of memory");
        return NULL;
    }
    for (int s = 0; s < TESTCLUSTER_SLOTS; s++) c->owner[s] = -1;
    const char *p = nodes_csv ? nodes_csv : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len && node_from_endpoint(c, p, len, -1) < 0) goto fail;
        p += len;
        while (*p && *p != ',') p++; /* the trailing blanks */
        if (*p == ',') p++;
    }
    if (c->nnodes == 0) {
        set_err(c, "no node in '%s'", nodes_csv ? nodes_csv : "(null)");
        goto fail;
    }
    if (refresh_slots(c, 0) != 0) goto fail;
    c->err[0] = '\0';
    return c;
fail:
    if (errsz) snprintf(err, errsz, "%s", c->err);
    testcluster_free(c);
    return NULL;
}

testcluster *testcluster_connect_env(char *err, size_t errsz) {
    const char *nodes = getenv("REDIS_CLUSTER_TEST_NODES");
    if (!nodes || !*nodes) {
        if (errsz)
            snprintf(err, errsz, "REDIS_CLUSTER_TEST_NODES is not set; run the test through "
                                 "tests/with-redis.sh (make test does)");
        return NULL;
    }
    return testcluster_connect(nodes, err, errsz);
}

void testcluster_free(testcluster *c) {
    if (!c) return;
    for (int i = 0; i < c->nnodes; i++) {
        redisFree(c->nodes[i].ctx);
        free(c->nodes[i].host);
    }
    free(c->nodes);
    free(c);
}

/* One round trip on ctx, preceded by ASKING when asking; NULL with c->err. */
static redisReply *send_once(testcluster *c, int node, int asking, int argc, const char **argv,
                             const size_t *lens) {
    redisContext *ctx = node_ctx(c, node);
    if (!ctx) return NULL;
    void *r = NULL;
    if (!asking) {
        r = redisCommandArgv(ctx, argc, argv, lens);
    } else if (redisAppendCommand(ctx, "ASKING") == REDIS_OK &&
               redisAppendCommandArgv(ctx, argc, argv, lens) == REDIS_OK) {
        void *ok = NULL;
        if (redisGetReply(ctx, &ok) == REDIS_OK) {
            int refused = ((redisReply *)ok)->type == REDIS_REPLY_ERROR;
            if (refused)
                set_err(c, "ASKING on %s:%d: %s", c->nodes[node].host, c->nodes[node].port,
                        ((redisReply *)ok)->str);
            freeReplyObject(ok);
            if (redisGetReply(ctx, &r) != REDIS_OK) r = NULL;
            if (refused) {
                freeReplyObject(r);
                return NULL;
            }
        }
    }
    if (!r)
        set_err(c, "%s on %s:%d: %s", argv[0], c->nodes[node].host, c->nodes[node].port,
                ctx->err ? ctx->errstr : "out of memory");
    return r;
}

redisReply *testcluster_command_argv(testcluster *c, int argc, const char **argv,
                                     const size_t *lens, int first_key_index) {
    if (!c) return NULL;
    c->err[0] = '\0';
    if (argc <= 0 || !argv || first_key_index >= argc) {
        set_err(c, "bad command: argc %d, first key index %d", argc, first_key_index);
        return NULL;
    }
    for (int i = 0; i < argc; i++)
        if (!argv[i]) {
            set_err(c, "bad command: argv[%d] is NULL", i);
            return NULL;
        }
    int node = 0;
    if (first_key_index >= 0) {
        const char *key = argv[first_key_index];
        unsigned slot = testcluster_slot(key, lens ? lens[first_key_index] : strlen(key));
        if (c->owner[slot] >= 0) node = c->owner[slot];
    }
    int asking = 0;
    for (int hop = 0;; hop++) {
        redisReply *r = send_once(c, node, asking, argc, argv, lens);
        if (!r) return NULL;
        int moved = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "MOVED ", 6) == 0;
        int ask = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "ASK ", 4) == 0;
        if (!moved && !ask) return r;
        if (hop == TESTCLUSTER_MAX_REDIRECTS) {
            set_err(c, "%s: still redirected after %d redirects: %s", argv[0], hop, r->str);
            freeReplyObject(r);
            return NULL;
        }
        /* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" */
        char *end;
        const char *num = r->str + (moved ? 6 : 4);
        errno = 0;
        unsigned long slot = strtoul(num, &end, 10);
        int target = -1;
        if (!errno && end != num && *end == ' ' && slot < TESTCLUSTER_SLOTS)
            target = node_from_endpoint(c, end + 1, strlen(end + 1), node);
        else
            set_err(c, "cannot parse redirect '%s'", r->str);
        freeReplyObject(r);
        if (target < 0) return NULL;
        if (moved) {
            c->owner[slot] = (int16_t)target;
            c->moved++;
        } else {
            c->ask++;
        }
        asking = ask;
        node = target;
    }
}

int testcluster_script_load_all(testcluster *c, const char *source, char sha_out[41]) {
    if (!c) return -1;
    c->err[0] = '\0';
    char sha[41] = "";
    for (int i = 0; i < c->nnodes; i++) {
        redisContext *ctx = node_ctx(c, i);
        if (!ctx) return -1;
        redisReply *r = redisCommand(ctx, "SCRIPT LOAD %s", source);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40 ||
            (i > 0 && memcmp(sha, r->str, 40) != 0)) {
            set_err(c, "SCRIPT LOAD on %s:%d: %s", c->nodes[i].host, c->nodes[i].port,
                    !r ? ctx->errstr
                       : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        memcpy(sha, r->str, 40);
        sha[40] = '\0';
        freeReplyObject(r);
    }
    memcpy(sha_out, sha, 41);
    return 0;
}

redisContext *testcluster_node_for_key(testcluster *c, const char *key) {
    if (!c || !key) return NULL;
    c->err[0] = '\0';
    int n = c->owner[testcluster_slot(key, strlen(key))];
    if (n < 0) {
        set_err(c, "no node owns the slot of '%s'", key);
        return NULL;
    }
    return node_ctx(c, n);
}

int testcluster_node_count(const testcluster *c) {
    return c ? c->nnodes : 0;
}

redisContext *testcluster_node(testcluster *c, int i) {
    if (!c || i < 0 || i >= c->nnodes) return NULL;
    c->err[0] = '\0';
    return node_ctx(c, i);
}

redisContext *testcluster_subscriber(testcluster *c) {
    if (!c) return NULL;
    c->err[0] = '\0';
    return open_ctx(c, c->nodes[0].host, c->nodes[0].port);
}

int testcluster_spoil_slot(testcluster *c, unsigned slot) {
    if (!c || c->nnodes < 2 || slot >= TESTCLUSTER_SLOTS) return -1;
    int owner = c->owner[slot];
    c->owner[slot] = (int16_t)(owner < 0 ? 0 : (owner + 1) % c->nnodes);
    return 0;
}

void testcluster_redirects(const testcluster *c, unsigned *moved, unsigned *ask) {
    if (moved) *moved = c ? c->moved : 0;
    if (ask) *ask = c ? c->ask : 0;
}

const char *testcluster_error(const testcluster *c) {
    return c ? c->err : "no cluster client";
}
