/* rdsha: the pure decisions of following a Redis primary through Sentinel: which sentinel to ask next, what to do when a connection closes, and what the replies mean. */
#include "rdsha.h"

#include <hiredis/hiredis.h>
#include <string.h>

void rdsha_rotation_init(rdsha_rotation *r, size_t n) {
    r->n = n ? n : 1;
    r->next = 0;
    r->failed = 0;
}

/* The sentinel asked last gave nothing usable: the next one, and whether a round is over. */
static int move_on(rdsha_rotation *r) {
    r->next = (r->next + 1) % r->n;
    if (++r->failed < r->n) return 0;
    r->failed = 0;
    return 1;
}

rdsha_next rdsha_after_close(rdsha_rotation *r, enum rdsha_phase phase, int named, int was_up) {
    rdsha_next nx = {RDSHA_ASK, 1};
    if (phase == RDSHA_ASK) {
        if (named) {
            nx.phase = RDSHA_PRIMARY; /* keep r->next: it is asked first next time */
            return nx;
        }
        nx.at_once = !move_on(r);
        return nx;
    }
    if (was_up) {
        r->failed = 0;
        return nx;
    }
    nx.at_once = !move_on(r);
    return nx;
}

static const char *reply_error(const redisReply *reply) {
    if (!reply) return "no reply";
    if (reply->type == REDIS_REPLY_ERROR) return reply->str;
    return "unexpected reply";
}

int rdsha_master_addr_reply(const redisReply *reply, conncfg_hostport *out, err_t *e) {
    if (reply && reply->type == REDIS_REPLY_NIL)
        return err_set(e, "the sentinel monitors no primary of that name");
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return err_set(e, "SENTINEL get-master-addr-by-name: %.200s", reply_error(reply));
    const redisReply *host = reply->element[0], *port = reply->element[1];
    if (host->len == 0 || host->len >= CONNCFG_HOST_MAX || strlen(host->str) != host->len)
        return err_set(e, "SENTINEL get-master-addr-by-name: bad address");
    long v = 0;
    if (port->len == 0 || port->len > 5) return err_set(e, "SENTINEL get-master-addr-by-name: bad port");
    for (size_t i = 0; i < port->len; i++) {
        if (port->str[i] < '0' || port->str[i] > '9')
            return err_set(e, "SENTINEL get-master-addr-by-name: bad port");
        v = v * 10 + (port->str[i] - '0');
    }
    if (v < 1 || v > 65535) return err_set(e, "SENTINEL get-master-addr-by-name: bad port");
    memcpy(out->host, host->str, host->len + 1);
    out->port = (int)v;
    return AGG_OK;
}

int rdsha_role_reply(const redisReply *reply, err_t *e) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        (reply->element[0]->type != REDIS_REPLY_STRING &&
         reply->element[0]->type != REDIS_REPLY_STATUS))
        return err_set(e, "ROLE: %.200s", reply_error(reply));
    const char *role = reply->element[0]->str;
    if (strcmp(role, "master") == 0) return AGG_OK;
    return err_set(e, "the server is a %.20s, not the primary", role);
}

int rdsha_is_readonly(const redisReply *reply) {
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, "READONLY", 8) == 0;
}
