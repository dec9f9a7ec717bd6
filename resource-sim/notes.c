/* notes: pure generation of journal notes and of the resource's result JSON bodies. */
#include "notes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

static const char *const NOTE_TEXTS[] = {
    "Routine follow-up; blood pressure within normal range.",
    "Patient reports mild headache; advised rest and fluids.",
    "Lab results reviewed; HbA1c slightly elevated, diet counselling given.",
    "Post-operative wound check; healing well, sutures removed.",
    "Seasonal influenza vaccine administered; no adverse reaction.",
    "Medication reviewed; dosage unchanged, renewal issued for 3 months.",
    "Complains of lower back pain; referred to physiotherapy.",
    "ECG normal sinus rhythm; no further cardiac work-up needed.",
};
#define N_TEXTS (sizeof NOTE_TEXTS / sizeof NOTE_TEXTS[0])

int notes_resource_id_valid(const char *id) {
    if (!id) return 0;
    size_t n = strlen(id);
    if (n < 1 || n > NOTES_RESOURCE_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

unsigned notes_resource_hash(const char *resource_id) {
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)resource_id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

long long notes_date_s(const char *resource_id, int i, long long now_s) {
    unsigned h = notes_resource_hash(resource_id);
    long long days = (long long)i * 3 + (long long)(h % 3u) + 1;
    long long minutes = (long long)((h / 3u) % 1440u);
    long long seconds = (long long)((h / 4320u) % 60u);
    return now_s - days * 86400 - minutes * 60 - seconds;
}

int notes_format_date(long long epoch_s, char *out) {
    time_t t = (time_t)epoch_s;
    struct tm tm;
    if ((long long)t != epoch_s || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
        tm.tm_year + 1900 > 9999)
        return AGG_ERR;
    if (strftime(out, NOTES_DATE_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != NOTES_DATE_LEN)
        return AGG_ERR;
    return AGG_OK;
}

/* Sets key to a new string value built from s; 0 on success, -1 on failure. */
static int set_str(json_t *o, const char *key, const char *s) {
    json_t *v = json_string(s);
    return v ? json_object_set_new(o, key, v) : -1;
}

/* One note; NULL on out of memory or an unformattable date. */
static json_t *make_note(const char *resource_id, unsigned h, const char *patient_id, int i,
                         long long now_s) {
    uuid_t u;
    char id[37];
    char date[NOTES_DATE_LEN + 1];
    char caregiver[NOTES_RESOURCE_ID_MAX + 32];
    char doctor[32];
    uuid_generate_random(u);
    uuid_unparse_lower(u, id);
    if (notes_format_date(notes_date_s(resource_id, i, now_s), date) != AGG_OK) return NULL;
    snprintf(caregiver, sizeof caregiver, "%s-caregiver-%u", resource_id,
             (h + (unsigned)i) % 5u + 1u);
    snprintf(doctor, sizeof doctor, "doctor-%u", (h / 7u + (unsigned)i * 3u) % 12u + 1u);
    json_t *n = json_object();
    if (!n) return NULL;
    if (set_str(n, "id", id) || set_str(n, "date", date) || set_str(n, "caregiverId", caregiver) ||
        set_str(n, "patientId", patient_id) || set_str(n, "doctorId", doctor) ||
        set_str(n, "note", NOTE_TEXTS[(h + (unsigned)i) % N_TEXTS])) {
        json_decref(n);
        return NULL;
    }
    return n;
}

/* Dumps o compactly and drops it; NULL on out of memory. */
static char *dump_and_free(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

char *notes_result_json(const char *resource_id, const char *patient_id, const char *correlation_id,
                        long delay_ms, int n, long long now_ms) {
    json_t *o = json_object();
    json_t *arr = json_array();
    if (!o || !arr) goto fail;
    if (set_str(o, "source", resource_id) || set_str(o, "patientId", patient_id) ||
        (correlation_id && set_str(o, "correlationId", correlation_id)) ||
        json_object_set_new(o, "delayMs", json_integer(delay_ms)) || set_str(o, "status", "ok"))
        goto fail;
    unsigned h = notes_resource_hash(resource_id);
    long long now_s = now_ms / 1000;
    for (int i = 0; i < n; i++) {
        json_t *note = make_note(resource_id, h, patient_id, i, now_s);
        if (!note || json_array_append_new(arr, note)) goto fail;
    }
    if (json_object_set_new(o, "notes", arr)) {
        arr = NULL; /* json_object_set_new consumed it even on failure */
        goto fail;
    }
    return dump_and_free(o);
fail:
    json_decref(arr);
    json_decref(o);
    return NULL;
}

char *notes_rejected_json(const char *resource_id, const char *patient_id) {
    json_t *o = json_object();
    if (!o) return NULL;
    if (set_str(o, "source", resource_id) || set_str(o, "patientId", patient_id) ||
        set_str(o, "status", "REJECTED") || json_object_set_new(o, "notes", json_null()) ||
        json_object_set_new(o, "delayMs", json_integer(-1))) {
        json_decref(o);
        return NULL;
    }
    return dump_and_free(o);
}
