/* testcluster: a tiny synchronous Redis Cluster client for tests (slot routing, MOVED and ASK). */
#ifndef TESTCLUSTER_H
#define TESTCLUSTER_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define TESTCLUSTER_SLOTS 16384
/* Redirects (MOVED, ASK) one command may follow before testcluster_command_argv gives up. */
#define TESTCLUSTER_MAX_REDIRECTS 5

typedef struct testcluster testcluster;

/* Connects to every node of nodes_csv ("host:port,host:port,...", as REDIS_CLUSTER_TEST_NODES)
 * with 5 s connect and command timeouts, and reads CLUSTER SLOTS into the slot -> node table;
 * every one of the 16384 slots must have an owner. Masters named by CLUSTER SLOTS but missing
 * from the list are connected too. Returns the client (free with testcluster_free), or NULL
 * with one line in err (errsz bytes, may be 0). */
testcluster *testcluster_connect(const char *nodes_csv, char *err, size_t errsz);

/* testcluster_connect on $REDIS_CLUSTER_TEST_NODES; NULL with a line in err when it is unset
 * (run the test through tests/with-redis.sh). */
testcluster *testcluster_connect_env(char *err, size_t errsz);

/* Closes every connection and frees c. NULL is a no-op. */
void testcluster_free(testcluster *c);

/* The Redis Cluster slot of key[0..len) (binary safe): CRC16-XMODEM mod 16384 of the hash tag
 * when the key has one (the bytes between its first '{' and the first '}' after it, if there
 * are any), else of the whole key. */
unsigned testcluster_slot(const char *key, size_t len);

/* The index of the first key of the command argv[0..argc): 3 for EVAL, EVALSHA, EVAL_RO,
 * EVALSHA_RO, FCALL and FCALL_RO with numkeys > 0, -1 for them with numkeys 0 or no numkeys;
 * 1 for any other command with an argument (GET, SET, HGETALL, XRANGE, TTL, DEL, PUBLISH...),
 * -1 when argc < 2. Commands whose first key is elsewhere need an explicit index. argv[0]
 * and, for the script commands, argv[2] are read as C strings. */
int testcluster_first_key_index(int argc, const char **argv);

/* Sends argv[0..argc) (lens[i] bytes each, or strlen when lens is NULL) to the node that owns
 * the slot of argv[first_key_index], or to the first node when first_key_index < 0. Follows
 * -MOVED (records the new owner, resends) and -ASK (ASKING, then the command, on the named
 * node) up to TESTCLUSTER_MAX_REDIRECTS times. A connection broken by an earlier failure is
 * reopened before it is used again; a failed send is not retried.
 * Returns the reply, which may be any other error (CROSSSLOT, TRYAGAIN, NOSCRIPT...); the
 * caller frees it with freeReplyObject. NULL on a bad argument, a connection or protocol
 * failure, or too many redirects (testcluster_error says which). */
redisReply *testcluster_command_argv(testcluster *c, int argc, const char **argv,
                                     const size_t *lens, int first_key_index);

/* SCRIPT LOAD source on every node (scripts are per node) and writes its SHA1 (40 hex digits
 * and a NUL) to sha_out. Returns 0, or -1 (testcluster_error says which node and why). */
int testcluster_script_load_all(testcluster *c, const char *source, char sha_out[41]);

/* The connection to the node that owns key's slot by the table, for direct reads (HGETALL,
 * XRANGE, TTL...) with redisCommand: no redirect is followed there. Borrowed: valid until
 * testcluster_free; NULL when the node cannot be reached. */
redisContext *testcluster_node_for_key(testcluster *c, const char *key);

/* How many nodes c is connected to, and node i's connection (borrowed as above; NULL when i
 * is out of range or the node cannot be reached). The first nodes are those of nodes_csv. */
int testcluster_node_count(const testcluster *c);
redisContext *testcluster_node(testcluster *c, int i);

/* A fresh connection (5 s timeouts) to the first node, for SUBSCRIBE and then redisGetReply
 * for each message. A classic PUBLISH reaches subscribers on every node of a cluster, so
 * messages published on any node arrive here. The caller owns it (redisFree); NULL with a
 * line in testcluster_error when it cannot connect. */
redisContext *testcluster_subscriber(testcluster *c);

/* For tests of this client: points slot at a node other than its owner, as a stale table
 * would, so the next command on it meets -MOVED. Returns 0, or -1 with fewer than 2 nodes or
 * slot out of range. */
int testcluster_spoil_slot(testcluster *c, unsigned slot);

/* How many MOVED and ASK redirects c has followed since it connected. */
void testcluster_redirects(const testcluster *c, unsigned *moved, unsigned *ask);

/* One line on the last failure of a call on c ("" if none). Valid until the next call on c. */
const char *testcluster_error(const testcluster *c);

#endif
