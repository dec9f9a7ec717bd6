/* metrics: the registry of counters, gauges and histograms, and its Prometheus and actuator renderings. */
#include "metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jbody.h"

struct metrics_series {
    metrics_family *f;
    metrics_series *next;
    char *values[METRICS_MAX_LABELS];
    double value; /* counter, gauge; a histogram's sum */
    double max;   /* histogram: the largest observation */
    unsigned long long count;
    unsigned long long buckets[]; /* histogram: per bucket, not cumulative; then +Inf */
};

struct metrics_family {
    const metrics_family_def *def;
    metrics_family *next;
    size_t n_labels;
    size_t n_series;
    size_t max_series;
    metrics_series *first, *last;
};

struct metrics {
    metrics_family *first, *last;
};

metrics *metrics_new(err_t *e) {
    metrics *m = agg_calloc(1, sizeof *m);
    if (!m) err_nomem(e);
    return m;
}

static void series_free(metrics_series *s, size_t n_labels) {
    for (size_t i = 0; i < n_labels; i++) agg_free(s->values[i]);
    agg_free(s);
}

void metrics_free(metrics *m) {
    if (!m) return;
    for (metrics_family *f = m->first, *fn; f; f = fn) {
        fn = f->next;
        for (metrics_series *s = f->first, *sn; s; s = sn) {
            sn = s->next;
            series_free(s, f->n_labels);
        }
        agg_free(f);
    }
    agg_free(m);
}

metrics_family *metrics_family_find(const metrics *m, const char *name) {
    for (metrics_family *f = m->first; f; f = f->next)
        if (strcmp(f->def->name, name) == 0) return f;
    return NULL;
}

metrics_family *metrics_family_add(metrics *m, const metrics_family_def *def, err_t *e) {
    if (metrics_family_find(m, def->name)) {
        err_set(e, "metric %s is registered twice", def->name);
        return NULL;
    }
    if (def->type == METRICS_HISTOGRAM) {
        if (def->n_buckets == 0 || def->n_buckets > METRICS_MAX_BUCKETS) {
            err_set(e, "metric %s: 1 to %d buckets, got %zu", def->name, METRICS_MAX_BUCKETS,
                    def->n_buckets);
            return NULL;
        }
        for (size_t i = 1; i < def->n_buckets; i++) {
            if (!(def->buckets[i] > def->buckets[i - 1])) {
                err_set(e, "metric %s: buckets must ascend", def->name);
                return NULL;
            }
        }
    }
    metrics_family *f = agg_calloc(1, sizeof *f);
    if (!f) {
        err_nomem(e);
        return NULL;
    }
    f->def = def;
    while (f->n_labels < METRICS_MAX_LABELS && def->labels[f->n_labels]) f->n_labels++;
    f->max_series = def->max_series ? def->max_series : 64;
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

metrics_series *metrics_series_get(metrics_family *f, const char *const *values, size_t n, err_t *e) {
    if (n != f->n_labels) {
        err_set(e, "metric %s takes %zu label values, got %zu", f->def->name, f->n_labels, n);
        return NULL;
    }
    for (metrics_series *s = f->first; s; s = s->next) {
        size_t i = 0;
        while (i < n && strcmp(s->values[i], values[i]) == 0) i++;
        if (i == n) return s;
    }
    if (f->n_series >= f->max_series) {
        err_set(e, "metric %s holds its %zu series already", f->def->name, f->max_series);
        return NULL;
    }
    size_t nb = f->def->type == METRICS_HISTOGRAM ? f->def->n_buckets + 1 : 0;
    metrics_series *s = agg_calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
    if (!s) {
        err_nomem(e);
        return NULL;
    }
    s->f = f;
    for (size_t i = 0; i < n; i++) {
        if (!(s->values[i] = agg_strdup(values[i] ? values[i] : ""))) {
            series_free(s, i);
            err_nomem(e);
            return NULL;
        }
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->n_series++;
    return s;
}

metrics_series *metrics_series_get0(metrics_family *f, err_t *e) { return metrics_series_get(f, NULL, 0, e); }

void metrics_inc(metrics_series *s, double by) {
    if (s) s->value += by;
}

void metrics_set(metrics_series *s, double v) {
    if (s) s->value = v;
}

void metrics_observe(metrics_series *s, double v) {
    if (!s) return;
    const metrics_family_def *d = s->f->def;
    size_t i = 0;
    while (i < d->n_buckets && v > d->buckets[i]) i++;
    s->buckets[i]++;
    s->count++;
    s->value += v;
    if (s->count == 1 || v > s->max) s->max = v;
}

double metrics_value(const metrics_series *s) {
    if (!s) return 0;
    return s->f->def->type == METRICS_HISTOGRAM ? (double)s->count : s->value;
}

/* --- Prometheus text --- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = agg_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* A number as Prometheus reads it: integers without a fraction, others exactly. */
static void buf_num(buf *b, double v) {
    char t[40];
    if (isinf(v))
        snprintf(t, sizeof t, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        snprintf(t, sizeof t, "NaN");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(t, sizeof t, "%.0f", v);
    else
        snprintf(t, sizeof t, "%.17g", v);
    buf_str(b, t);
}

/* Label value escaping of the text format: backslash, double quote and line feed. */
static void buf_label_value(buf *b, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            buf_add(b, "\\\\", 2);
        else if (*p == '"')
            buf_add(b, "\\\"", 2);
        else if (*p == '\n')
            buf_add(b, "\\n", 2);
        else
            buf_add(b, p, 1);
    }
}

/* HELP text escaping: backslash and line feed. */
static void buf_help(buf *b, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            buf_add(b, "\\\\", 2);
        else if (*p == '\n')
            buf_add(b, "\\n", 2);
        else
            buf_add(b, p, 1);
    }
}

/* {a="x",b="y"[,le="..."]} or nothing when there is no label at all. */
static void buf_labels(buf *b, const metrics_series *s, const char *le) {
    size_t n = s->f->n_labels;
    if (n == 0 && !le) return;
    buf_add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_add(b, ",", 1);
        buf_str(b, s->f->def->labels[i]);
        buf_add(b, "=\"", 2);
        buf_label_value(b, s->values[i]);
        buf_add(b, "\"", 1);
    }
    if (le) {
        if (n) buf_add(b, ",", 1);
        buf_add(b, "le=\"", 4);
        buf_str(b, le);
        buf_add(b, "\"", 1);
    }
    buf_add(b, "}", 1);
}

static void render_histogram(buf *b, const metrics_series *s) {
    const metrics_family_def *d = s->f->def;
    unsigned long long cum = 0;
    for (size_t i = 0; i <= d->n_buckets; i++) {
        char le[32];
        if (i < d->n_buckets)
            snprintf(le, sizeof le, "%g", d->buckets[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        cum += s->buckets[i];
        buf_str(b, d->name);
        buf_add(b, "_bucket", 7);
        buf_labels(b, s, le);
        buf_add(b, " ", 1);
        buf_num(b, (double)cum);
        buf_add(b, "\n", 1);
    }
    buf_str(b, d->name);
    buf_add(b, "_sum", 4);
    buf_labels(b, s, NULL);
    buf_add(b, " ", 1);
    buf_num(b, s->value);
    buf_add(b, "\n", 1);
    buf_str(b, d->name);
    buf_add(b, "_count", 6);
    buf_labels(b, s, NULL);
    buf_add(b, " ", 1);
    buf_num(b, (double)s->count);
    buf_add(b, "\n", 1);
}

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};

char *metrics_render_prometheus(const metrics *m, err_t *e) {
    buf b = {0};
    buf_str(&b, ""); /* an empty registry renders "" */
    for (const metrics_family *f = m->first; f; f = f->next) {
        const metrics_family_def *d = f->def;
        buf_str(&b, "# HELP ");
        buf_str(&b, d->name);
        buf_add(&b, " ", 1);
        buf_help(&b, d->help ? d->help : "");
        buf_str(&b, "\n# TYPE ");
        buf_str(&b, d->name);
        buf_add(&b, " ", 1);
        buf_str(&b, TYPE_NAMES[d->type]);
        buf_add(&b, "\n", 1);
        for (const metrics_series *s = f->first; s; s = s->next) {
            if (d->type == METRICS_HISTOGRAM) {
                render_histogram(&b, s);
                continue;
            }
            buf_str(&b, d->name);
            buf_labels(&b, s, NULL);
            buf_add(&b, " ", 1);
            buf_num(&b, s->value);
            buf_add(&b, "\n", 1);
        }
    }
    if (b.failed) {
        agg_free(b.p);
        err_nomem(e);
        return NULL;
    }
    return b.p;
}

/* --- actuator JSON --- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* jbody_dumps of j (stolen), or NULL with e set to out of memory. */
static char *dump(json_t *j, err_t *e) {
    char *s = j ? jbody_dumps(j, e) : NULL;
    if (!j) err_nomem(e);
    json_decref(j);
    return s;
}

char *metrics_render_names(const metrics *m, err_t *e) {
    size_t n = 0;
    for (const metrics_family *f = m->first; f; f = f->next) n += 1 + (f->def->alias != NULL);
    const char **names = agg_malloc((n ? n : 1) * sizeof *names);
    if (!names) {
        err_nomem(e);
        return NULL;
    }
    size_t k = 0;
    for (const metrics_family *f = m->first; f; f = f->next) {
        names[k++] = f->def->dotted_name ? f->def->dotted_name : f->def->name;
        if (f->def->alias) names[k++] = f->def->alias;
    }
    qsort(names, n, sizeof *names, cmp_str);
    json_t *arr = json_array();
    int failed = !arr;
    for (size_t i = 0; i < n && !failed; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0) continue;
        failed = json_array_append_new(arr, json_string(names[i])) != 0;
    }
    agg_free(names);
    if (failed) {
        json_decref(arr);
        err_nomem(e);
        return NULL;
    }
    return dump(json_pack("{s:o}", "names", arr), e); /* "o" takes arr, also on failure */
}

static const metrics_family *find_dotted(const metrics *m, const char *dotted) {
    for (const metrics_family *f = m->first; f; f = f->next) {
        const char *dn = f->def->dotted_name ? f->def->dotted_name : f->def->name;
        if (strcmp(dn, dotted) == 0 || (f->def->alias && strcmp(f->def->alias, dotted) == 0))
            return f;
    }
    return NULL;
}

typedef struct tag_filter {
    size_t label;      /* index into the family's labels */
    const char *value; /* borrowed from the caller's "key:value" */
} tag_filter;

static int series_matches(const metrics_series *s, const tag_filter *tf, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[tf[i].label], tf[i].value) != 0) return 0;
    return 1;
}

static int append_measurement(json_t *arr, const char *statistic, double v) {
    return json_array_append_new(arr, json_pack("{s:s,s:f}", "statistic", statistic, "value", v));
}

/* {"tag":name,"values":[distinct values of label li among the matching series]} into tags. */
static int append_tag(json_t *tags, const metrics_family *f, size_t li, const tag_filter *tf,
                      size_t n_tf) {
    json_t *vals = json_array();
    if (!vals) return -1;
    for (const metrics_series *s = f->first; s; s = s->next) {
        if (!series_matches(s, tf, n_tf)) continue;
        size_t i = 0, n = json_array_size(vals);
        while (i < n && strcmp(json_string_value(json_array_get(vals, i)), s->values[li]) != 0) i++;
        if (i == n && json_array_append_new(vals, json_string(s->values[li])) != 0) {
            json_decref(vals);
            return -1;
        }
    }
    return json_array_append_new(tags, json_pack("{s:s,s:o}", "tag", f->def->labels[li], "values",
                                                 vals));
}

char *metrics_render_one(const metrics *m, const char *dotted, const char *const *tags,
                         size_t n_tags, int *found, err_t *e) {
    *found = 0;
    const metrics_family *f = find_dotted(m, dotted);
    if (!f) return NULL;
    tag_filter tf[METRICS_MAX_LABELS];
    if (n_tags > METRICS_MAX_LABELS) return NULL;
    for (size_t i = 0; i < n_tags; i++) {
        const char *colon = strchr(tags[i], ':');
        if (!colon || colon == tags[i]) {
            err_set(e, "a tag filter is key:value, got '%.40s'", tags[i]);
            return NULL;
        }
        size_t kl = (size_t)(colon - tags[i]), li = 0;
        while (li < f->n_labels &&
               !(strlen(f->def->labels[li]) == kl && strncmp(f->def->labels[li], tags[i], kl) == 0))
            li++;
        if (li == f->n_labels) return NULL; /* no such tag: Spring answers 404 */
        tf[i] = (tag_filter){li, colon + 1};
    }
    double value = 0, max = 0;
    unsigned long long count = 0;
    size_t matched = 0;
    int have_max = 0;
    for (const metrics_series *s = f->first; s; s = s->next) {
        if (!series_matches(s, tf, n_tags)) continue;
        matched++;
        value += s->value; /* a histogram's sum */
        count += s->count;
        if (s->count && (!have_max || s->max > max)) max = s->max, have_max = 1;
    }
    if (matched == 0 && n_tags > 0) return NULL;
    json_t *meas = json_array(), *avail = json_array();
    int failed = !meas || !avail;
    if (!failed && f->def->type == METRICS_HISTOGRAM)
        failed = append_measurement(meas, "COUNT", (double)count) ||
                 append_measurement(meas, "TOTAL_TIME", value) ||
                 append_measurement(meas, "MAX", max);
    else if (!failed)
        failed = append_measurement(meas, f->def->type == METRICS_COUNTER ? "COUNT" : "VALUE", value);
    for (size_t li = 0; li < f->n_labels && !failed; li++) {
        size_t i = 0;
        while (i < n_tags && tf[i].label != li) i++;
        if (i == n_tags) failed = append_tag(avail, f, li, tf, n_tags) != 0;
    }
    json_t *root = NULL;
    json_t *unit = f->def->base_unit ? json_string(f->def->base_unit) : json_null();
    if (!failed && unit) {
        root = json_pack("{s:s,s:s,s:O,s:O,s:O}", "name", dotted, "description",
                         f->def->help ? f->def->help : "", "baseUnit", unit, "measurements", meas,
                         "availableTags", avail);
    }
    json_decref(unit);
    json_decref(meas);
    json_decref(avail);
    char *s = dump(root, e);
    if (s) *found = 1;
    return s;
}
