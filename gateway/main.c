/* main: the gateway process: configuration, signals, one gateway on one loop, shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_app.h"
#include "cfg.h"
#include "cpusched.h"
#include "log.h"
#include "tcplive.h"

static const char USAGE[] =
    "Usage: gateway [--help] [--version]\n"
    "\n"
    "The aggregator's stateless HTTP gateway: accepts aggregation requests and\n"
    "the resources' answers, publishes them to Kafka, and streams each session's\n"
    "events (server-sent events) from Redis. Any replica serves any client.\n"
    "\n"
    "Environment (defaults in brackets):\n"
    "  SERVER_PORT [8080], BIND_ADDR [0.0.0.0]\n"
    "  CALLBACK_PORT [0]: when set, POST /aggregate/callback (and the health probes) on this\n"
    "    port only, same BIND_ADDR, and 404 on SERVER_PORT; 0: callbacks on SERVER_PORT\n"
    "  KAFKA_BROKERS (required), KAFKA_TOPIC_REQUESTS [agg.requests],\n"
    "  KAFKA_TOPIC_CALLBACKS [agg.callbacks], KAFKA_LINGER_MS [2] (batching producer),\n"
    "  KAFKA_BATCH_ABOVE_PER_S [4000]: messages/s from which to batch (0: always),\n"
    "  KAFKA_PRODUCE_TIMEOUT_MS [5000]\n"
    "  KAFKA_SECURITY_PROTOCOL [plaintext]: plaintext, ssl, sasl_plaintext or sasl_ssl\n"
    "  KAFKA_SASL_MECHANISM [PLAIN]: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;\n"
    "    KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: required with SASL\n"
    "  KAFKA_SSL_CA_LOCATION [system CAs], KAFKA_SSL_CERTIFICATE_LOCATION and\n"
    "    KAFKA_SSL_KEY_LOCATION [none; both or neither]: PEM files, with TLS\n"
    "  AUTH_MODE [none]: none (anyone; the principal is \"anonymous\") or jwt: POST\n"
    "    /aggregate/journals and GET /aggregate/stream need a bearer token (Authorization:\n"
    "    Bearer, or the stream's access_token query parameter), 401 otherwise; a stream only\n"
    "    for its session's principal (sub), 403 otherwise; /actuator/** but the health probes\n"
    "    need the admin role, 403 otherwise\n"
    "  JWT_SECRET, JWT_SECRET_FILE (the key in a file): the HS256 key, at least 32 bytes; or\n"
    "  JWT_PUBLIC_KEY_FILE: an RSA (RS256) or P-256 (ES256) public key, PEM; or\n"
    "  JWT_JWKS_FILE: a JWKS of RSA and P-256 keys chosen by kid (one of the three with jwt)\n"
    "  JWT_ISSUER [not checked], JWT_AUDIENCE [not checked]: iss, and what aud must hold\n"
    "  JWT_CLOCK_SKEW_S [60]: leeway of exp and nbf\n"
    "  JWT_ROLES_CLAIM [roles]: the claim with the array of roles (a.b: b inside a)\n"
    "  JWT_ADMIN_ROLE [aggregator-admin]: the role /actuator/** needs\n"
    "  RATE_LIMIT_RPS [0: none]: sessions and streams a client (its token's sub under\n"
    "    AUTH_MODE=jwt, else its address) may open per second;\n"
    "    over it, 429 with Retry-After and RateLimit-Limit/-Remaining/-Reset\n"
    "  RATE_LIMIT_BURST [2 x RATE_LIMIT_RPS]: how many it may open at once\n"
    "  RATE_LIMIT_SCOPE [local]: local (a bucket per client on each replica) or cluster (one\n"
    "    bucket per client in Redis, shared by every replica; this replica's own while Redis\n"
    "    fails)\n"
    "  MAX_SSE_STREAMS [20000]: open streams on this replica; beyond, 503 too_many_streams\n"
    "    (0: no cap)\n"
    "  MAX_SESSIONS_IN_FLIGHT [50000]: sessions this replica started whose deadline is ahead;\n"
    "    beyond, 503 too_many_sessions (0: no cap)\n"
    "  MAX_PENDING_PUBLISHES [5000]: new sessions get 503 overloaded while this many\n"
    "    requests and Kafka messages wait for the broker (0: never)\n"
    "  REDIS_URL [redis://127.0.0.1:6379]\n"
    "  REDIS_PASSWORD [the URL's]: sent with AUTH instead of the URL's password\n"
    "  REDIS_SENTINELS [none]: host:port,... of Redis Sentinels, instead of REDIS_URL (both\n"
    "    set: configuration error)\n"
    "  REDIS_MASTER_NAME [none]: the name the sentinels monitor (required with them)\n"
    "  REDIS_SENTINEL_PASSWORD [none]: sent with AUTH to the sentinels\n"
    "  TCP_USER_TIMEOUT_MS [3000]: a Redis or Kafka connection whose data or keep-alive\n"
    "    probes (sent after 1 s of silence) stay unacknowledged this long is closed and\n"
    "    reconnected, readiness DOWN meanwhile (0..600000; 0: the kernel's defaults)\n"
    "  CALLBACK_SIGNING_KEY, CALLBACK_SIGNING_KEY_FILE (required: the key, or a file holding\n"
    "    it; at least 32 bytes): a callback needs a capability signed with it (query\n"
    "    parameter cap, given by the worker), else 401 invalid_capability\n"
    "  CALLBACK_SIGNING_KEY_PREVIOUS, CALLBACK_SIGNING_KEY_PREVIOUS_FILE [none]: a key whose\n"
    "    capabilities are still accepted while keys rotate (never used to sign)\n"
    "  RESOURCE_URLS: comma-separated url or name=url [none]\n"
    "  AGGREGATOR_CALLBACK_URL [http://127.0.0.1:<CALLBACK_PORT or SERVER_PORT>/aggregate/callback]\n"
    "  AGGREGATOR_TIMEOUT_DEFAULT_MS [10000], AGGREGATOR_TIMEOUT_MAX_MS [27000]\n"
    "  SESSION_RETENTION_S [300], SSE_KEEPALIVE_MS [15000],\n"
    "  SSE_BUFFER_LIMIT_BYTES [65536], WAIT_GRACE_MS [5000]\n"
    "  CORS_ALLOWED_ORIGINS [http://localhost:8082,http://127.0.0.1:8082]\n"
    "  MAX_CONNECTIONS [open-file limit - 100 - 2 per libmicrohttpd daemon],\n"
    "  CONNECTION_MEMORY_LIMIT_BYTES [8192]\n"
    "  HTTP_LISTENERS [64]: libmicrohttpd daemons sharing SERVER_PORT, the kernel\n"
    "    spreading connections over them; an event on a stream walks the idle streams of\n"
    "    its daemon only (1..64); CALLBACK_PORT, which holds no streams, has one\n"
    "  HTTP_HEADER_TIMEOUT_MS [10000]: close a connection whose request header is not\n"
    "    complete this long after it opened (or after its previous request); 0: never\n"
    "  HTTP_BODY_TIMEOUT_MS [10000]: close a request whose body makes no progress this\n"
    "    long; 0: never\n"
    "  HTTP_IDLE_TIMEOUT_MS [65000]: close a kept-alive connection idle this long (streams\n"
    "    are not idle); 0: never\n"
    "  TLS_CERT_FILE, TLS_KEY_FILE [none: plain HTTP; both or neither]: PEM certificate (then\n"
    "    its chain) and unencrypted private key: HTTPS (TLS 1.2 and 1.3 only) on SERVER_PORT\n"
    "    and CALLBACK_PORT. SIGHUP reads them again: new connections get the new certificate,\n"
    "    open ones keep theirs; a bad file keeps the old one (logged)\n"
    "  SHUTDOWN_TIMEOUT_S [25]: on SIGTERM, drain (readiness DOWN, new sessions and streams\n"
    "    503, open streams handed over, requests in progress answered, Kafka flushed) and\n"
    "    exit 0 when done or after this long; a second signal exits at once\n"
    "  SHUTDOWN_RETRY_MS [1000]: the retry: hint of handed-over streams (Retry-After is it\n"
    "    in whole seconds, at least 1)\n"
    "  CPU_SCHED_POLICY [batch]: batch (SCHED_BATCH: a just-woken process does not preempt the\n"
    "    running one; fewer context switches when processes share cores) or normal (SCHED_OTHER)\n"
    "  LOG_LEVEL [info]: debug, info, warn or error\n"
    "  LOG_FORMAT [json]: json (one object per line) or text\n"
    "  LOG_PATIENT_KEY [a random key per process]: key of the patient id hashes in logs\n"
    "  REDIS_PASSWORD_FILE, REDIS_SENTINEL_PASSWORD_FILE, KAFKA_SASL_PASSWORD_FILE,\n"
    "    LOG_PATIENT_KEY_FILE [none]: a file holding that secret instead of the variable (a\n"
    "    mounted Secret; one final newline dropped; setting both is a configuration error)\n";

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, "gateway", USAGE);
    err_t e;
    gateway gw;
    memset(&gw, 0, sizeof gw);
    if (log_init("gateway", &e) != AGG_OK || gw_config_load(&gw.cfg, &e) != AGG_OK ||
        tcplive_configure_env(&e) != AGG_OK || cpusched_configure_env(&e) != AGG_OK)
        cfg_fail("gateway", &e);
    if (gw.cfg.tls.cert_file && !(gw.tls = tlsserve_new(&gw.cfg.tls, &e))) cfg_fail("gateway", &e);

    /* libmicrohttpd's default connection limit (about 1000) would stall
     * accepting long before memory runs out: streams are cheap. */
    long nofile = cfg_raise_nofile();
    /* Each libmicrohttpd daemon holds a listening socket and an epoll descriptor. */
    long reserve = 100 + 2 * (gw.cfg.http_listeners + (gw.cfg.callback_port ? 1 : 0));
    if (gw.cfg.max_connections == 0)
        gw.cfg.max_connections = nofile > 1024 + reserve ? nofile - reserve : 1024;
    loop *l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK) {
        fprintf(stderr, "gateway: %s\n", e.text);
        return 1;
    }
    if (gw_start(&gw, l, &e) != AGG_OK) {
        /* What the client libraries refuse at start is a configured address. */
        if (!gw.listeners || !gw.kafka) cfg_fail("gateway", &e);
        fprintf(stderr, "gateway: %s\n", e.text);
        return 1;
    }
    if (loop_run(l) != AGG_OK) log_error("event loop failed");
    long long deadline = loop_now_ms() + gw.cfg.shutdown_timeout_s * 1000;
    gw_drain(&gw, deadline);
    long long left = deadline - loop_now_ms();
    gw_stop(&gw, left > 0 ? (int)left : 0);
    loop_free(l);
    return 0;
}
