/* actuator: GET /actuator/{prometheus,metrics,info,configprops} for every program, with the process_*, build_info and aggregator_ready metrics. */
#include "actuator.h"

#include <jansson.h>
#include <string.h>

#include "alloc.h"
#include "buildinfo_gen.h"
#include "cfg.h"
#include "jbody.h"
#include "log.h"
#include "procstat.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_PREFIX "/actuator/metrics/"

enum { P_RSS, P_VSZ, P_FDS, P_MAX_FDS, P_CPU, P_START, P_N };

static const metrics_family_def process_defs[P_N] = {
    {.name = "process_resident_memory_bytes", .dotted_name = "process.memory.rss",
     .help = "Resident memory size in bytes.", .base_unit = "bytes", .type = METRICS_GAUGE},
    {.name = "process_virtual_memory_bytes", .dotted_name = "process.memory.virtual",
     .help = "Virtual memory size in bytes.", .base_unit = "bytes", .type = METRICS_GAUGE},
    {.name = "process_open_fds", .dotted_name = "process.files.open",
     .help = "Open file descriptors.", .base_unit = "files", .type = METRICS_GAUGE},
    {.name = "process_max_fds", .dotted_name = "process.files.max",
     .help = "The limit of open file descriptors (soft RLIMIT_NOFILE; -1 = unlimited).",
     .base_unit = "files", .type = METRICS_GAUGE},
    {.name = "process_cpu_seconds_total", .dotted_name = "process.cpu.time",
     .help = "User and system CPU time spent, in seconds.", .base_unit = "seconds",
     .type = METRICS_COUNTER},
    {.name = "process_start_time_seconds", .dotted_name = "process.start.time",
     .help = "Start time of the process since the Unix epoch, in seconds.",
     .base_unit = "seconds", .type = METRICS_GAUGE},
};

static const metrics_family_def build_def = {
    .name = "build_info", .dotted_name = "build.info",
    .help = "1, labelled with the program's name, version, git commit and build time.",
    .type = METRICS_GAUGE, .labels = {"component", "version", "commit", "build_time"},
    .max_series = 1};

static const metrics_family_def ready_def = {
    .name = "aggregator_ready", .dotted_name = "aggregator.ready",
    .help = "1 while the readiness probe answers UP.", .type = METRICS_GAUGE};

struct actuator {
    actuator_options o;
    metrics_series *process[P_N];
    metrics_series *ready;
    int proc_warned; /* /proc unreadable: said once */
};

static void refresh_process(actuator *a);

actuator *actuator_new(const actuator_options *o, err_t *e) {
    actuator *a = agg_calloc(1, sizeof *a);
    if (a == NULL) {
        err_nomem(e);
        return NULL;
    }
    a->o = *o;
    for (int i = 0; i < P_N; i++) {
        metrics_family *f = metrics_family_add(o->m, &process_defs[i], e);
        if (f == NULL || !(a->process[i] = metrics_series_get0(f, e))) goto fail;
    }
    const char *build[4] = {o->component, AGG_VERSION, AGG_GIT_COMMIT, AGG_BUILD_TIME};
    metrics_family *bf = metrics_family_add(o->m, &build_def, e), *rf;
    metrics_series *bs = bf ? metrics_series_get(bf, build, 4, e) : NULL;
    if (bs == NULL || !(rf = metrics_family_add(o->m, &ready_def, e)) ||
        !(a->ready = metrics_series_get0(rf, e)))
        goto fail;
    metrics_set(bs, 1);
    refresh_process(a); /* not the program's hooks: its state is still being made */
    return a;
fail:
    agg_free(a);
    return NULL;
}

void actuator_free(actuator *a) { agg_free(a); }

static void refresh_process(actuator *a) {
    procstat p;
    err_t e;
    if (procstat_read(&p, &e) == AGG_OK) {
        metrics_set(a->process[P_RSS], p.resident_bytes);
        metrics_set(a->process[P_VSZ], p.virtual_bytes);
        metrics_set(a->process[P_FDS], p.open_fds);
        metrics_set(a->process[P_MAX_FDS], p.max_fds);
        /* A counter taken whole from the kernel: set, as it only ever grows there. */
        metrics_set(a->process[P_CPU], p.cpu_seconds);
        metrics_set(a->process[P_START], p.start_time_seconds);
    } else if (!a->proc_warned) {
        a->proc_warned = 1;
        log_warn("process metrics unavailable: %s", e.text);
    }
}

void actuator_refresh(actuator *a) {
    refresh_process(a);
    if (a->o.ready) metrics_set(a->ready, a->o.ready(a->o.arg) ? 1 : 0);
    if (a->o.before_render) a->o.before_render(a->o.arg);
}

static void respond_status(httpd_req *r, int status, const char *code, const char *msg) {
    api_error ae;
    apierr_set(&ae, status, code, NULL, "%s", msg);
    httpd_respond_error(r, &ae);
}

/* Answers text (owned, freed here), or 503 out_of_memory when it is NULL. */
static void respond_owned(httpd_req *r, const char *type, char *text, const err_t *e) {
    if (text == NULL) {
        api_error ae;
        if (err_is_nomem(e))
            apierr_nomem(&ae);
        else
            apierr_set(&ae, 500, "internal", NULL, "%s", e->text);
        httpd_respond_error(r, &ae);
        return;
    }
    httpd_respond(r, 200, type, text);
    agg_free(text);
}

static char *render_info(const actuator *a, err_t *e) {
    json_t *j = json_pack("{s:{s:s,s:s,s:s},s:{s:{s:s}}}", "build", "name", a->o.component,
                          "version", AGG_VERSION, "time", AGG_BUILD_TIME, "git", "commit", "id",
                          AGG_GIT_COMMIT);
    char *s = j ? jbody_dumps(j, e) : NULL;
    if (j == NULL) err_nomem(e);
    json_decref(j);
    return s;
}

static void respond_one(actuator *a, httpd_req *r, const char *name) {
    const char *tags[METRICS_MAX_LABELS];
    size_t n = httpd_query_all(r, "tag", tags, METRICS_MAX_LABELS);
    if (n > METRICS_MAX_LABELS) {
        respond_status(r, 400, "bad_request", "too many tag filters");
        return;
    }
    actuator_refresh(a);
    int found = 0;
    err_t e = {0};
    char *text = metrics_render_one(a->o.m, name, tags, n, &found, &e);
    if (text != NULL) {
        httpd_respond(r, 200, NULL, text);
        agg_free(text);
    } else if (e.kind == ERR_NOMEM) {
        respond_owned(r, NULL, NULL, &e);
    } else if (e.kind != 0) {
        respond_status(r, 400, "bad_request", e.text);
    } else {
        respond_status(r, 404, "not_found", "no such metric, or no series with these tags");
    }
}

int actuator_handle(actuator *a, httpd_req *r) {
    static const char *const routes[] = {"/actuator/prometheus", "/actuator/metrics",
                                         "/actuator/info", "/actuator/configprops"};
    const char *path = httpd_path(r);
    const char *method = httpd_method(r);
    size_t i = 0, n = sizeof routes / sizeof routes[0];
    while (i < n && strcmp(path, routes[i]) != 0) i++;
    int one = i == n && strncmp(path, METRICS_PREFIX, strlen(METRICS_PREFIX)) == 0 &&
              path[strlen(METRICS_PREFIX)] != '\0' && !strchr(path + strlen(METRICS_PREFIX), '/');
    if (i == n && !one) return 0;
    httpd_req_set_route(r, one ? "/actuator/metrics/{name}" : routes[i]);
    if (strcmp(method, "GET") != 0) {
        api_error ae;
        apierr_set(&ae, 405, "method_not_allowed", NULL, "only GET is allowed here");
        httpd_respond_error_header(r, &ae, "Allow", "GET");
        return 1;
    }
    err_t e = {0};
    if (one) {
        respond_one(a, r, path + strlen(METRICS_PREFIX));
        return 1;
    }
    switch (i) {
    case 0:
        actuator_refresh(a);
        respond_owned(r, PROM_TYPE, metrics_render_prometheus(a->o.m, &e), &e);
        break;
    case 1: respond_owned(r, NULL, metrics_render_names(a->o.m, &e), &e); break;
    case 2: respond_owned(r, NULL, render_info(a, &e), &e); break;
    default: {
        size_t nv;
        const cfg_var *v = cfg_vars(&nv);
        respond_owned(r, NULL, cfg_props_json(v, nv, &e), &e);
    }
    }
    return 1;
}
