/* notes: pure generation of journal notes and of the resource's result JSON bodies. */
#include "notes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "uuid4.h"

/* The note texts are written into the JSON as they are: keep them printable
 * ASCII without '"' or '\\' (test_resource_notes checks this). */
#define NOTE_TEXT(s)                                                                               \
    { s, sizeof s - 1 }
static const struct {
    const char *s;
    size_t len;
} NOTE_TEXTS[] = {
    NOTE_TEXT("Routine follow-up; blood pressure within normal range."),
    NOTE_TEXT("Patient reports mild headache; advised rest and fluids."),
    NOTE_TEXT("Lab results reviewed; HbA1c slightly elevated, diet counselling given."),
    NOTE_TEXT("Post-operative wound check; healing well, sutures removed."),
    NOTE_TEXT("Seasonal influenza vaccine administered; no adverse reaction."),
    NOTE_TEXT("Medication reviewed; dosage unchanged, renewal issued for 3 months."),
    NOTE_TEXT("Complains of lower back pain; referred to physiotherapy."),
    NOTE_TEXT("ECG normal sinus rhythm; no further cardiac work-up needed."),
};
#define N_TEXTS (sizeof NOTE_TEXTS / sizeof NOTE_TEXTS[0])

size_t notes_text_count(void) { return N_TEXTS; }

const char *notes_text(size_t i) { return i < N_TEXTS ? NOTE_TEXTS[i].s : NULL; }

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

int notes_format_date(long long epoch_s, char *out, err_t *e) {
    time_t t = (time_t)epoch_s;
    struct tm tm;
    if ((long long)t != epoch_s || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
        tm.tm_year + 1900 > 9999 ||
        strftime(out, NOTES_DATE_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != NOTES_DATE_LEN)
        return err_set(e, "the date %lld s is outside the years 0..9999", epoch_s);
    return AGG_OK;
}

/* --- note ids: xoshiro256** ------------------------------------------------
 * One static generator, seeded once on first use. The resource-sim runs all of
 * its work on the single event-loop thread, so the state takes no lock (and the
 * functions that draw ids are not thread-safe). Ids are unique with
 * overwhelming probability (122 random bits), not cryptographic. */
static uint64_t rng_state[4];
static int rng_seeded;

/* One splitmix64 step: advances *x and returns the next output (seed expansion). */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seeds rng_state with 32 bytes from getrandom(); when that fails (e.g. the
 * kernel pool is not ready yet), with wall and monotonic time, pid and a stack
 * address mixed through splitmix64. Never leaves the all-zero state. */
static void rng_seed(void) {
    uint64_t seed[4];
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec rt = {0, 0}, mt = {0, 0};
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mt);
        uint64_t x =
            ((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec) ^
            ((uint64_t)getpid() << 32) ^
            ((uint64_t)mt.tv_sec * 1000000000u + (uint64_t)mt.tv_nsec) * 0x2545f4914f6cdd1dULL ^
            (uint64_t)(uintptr_t)&rt;
        for (int i = 0; i < 4; i++) seed[i] = splitmix64(&x);
    }
    memcpy(rng_state, seed, sizeof seed);
    if (!(rng_state[0] | rng_state[1] | rng_state[2] | rng_state[3])) rng_state[0] = 1;
    rng_seeded = 1;
}

/* x rotated left by k (0 < k < 64) bits. */
static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next xoshiro256** output; seeds the generator on first use. */
static uint64_t rng_next(void) {
    if (!rng_seeded) rng_seed();
    uint64_t *s = rng_state;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Writes a random lowercase version-4 UUID (UUID4_LEN characters, no NUL)
 * at p; returns the position after it. */
static char *put_uuid(char *p) {
    static const char hex[] = "0123456789abcdef";
    uint64_t w[2] = {rng_next(), rng_next()};
    w[0] = (w[0] & ~0xf000ULL) | 0x4000ULL;               /* version nibble (byte 6): 4 */
    w[1] = (w[1] & (~0ULL >> 2)) | 0x8000000000000000ULL; /* variant bits (byte 8): 10xx */
    int k = 0;
    for (int h = 0; h < 2; h++) {
        for (int shift = 60; shift >= 0; shift -= 4, k++) {
            if (k == 8 || k == 12 || k == 16 || k == 20) *p++ = '-';
            *p++ = hex[(w[h] >> shift) & 0xf];
        }
    }
    return p;
}

/* --- JSON string writing ----------------------------------------------------
 * Matches jansson's json_dumps() without JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH:
 * '"', '\\', \b \f \n \r \t get two-character escapes, other bytes below 0x20
 * become \u00XX (upper-case hex), everything else ('/', DEL, UTF-8) is copied. */

/* A string measured for put_jstr(): its bytes and its escaped length. */
typedef struct jstr {
    const char *s;
    size_t len;
    size_t esc_len;
} jstr;

/* Length of the UTF-8 sequence at s (n bytes available, s[0] >= 0x80) when it
 * is valid the way jansson's json_string() checks it (shortest form, no
 * surrogates, at most U+10FFFF); 0 when it is not. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0], cp;
    size_t len;
    if (c < 0xc2)
        return 0; /* continuation byte, or 0xc0/0xc1 (always overlong) */
    else if (c <= 0xdf)
        len = 2, cp = c & 0x1fu;
    else if (c <= 0xef)
        len = 3, cp = c & 0x0fu;
    else if (c <= 0xf4)
        len = 4, cp = c & 0x07u;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800u) || (len == 4 && cp < 0x10000u) || cp > 0x10ffffu ||
        (cp >= 0xd800u && cp <= 0xdfffu))
        return 0;
    return len;
}

/* Measures s (len bytes, borrowed until the jstr is last used) into j.
 * AGG_OK, or AGG_ERR when s is not valid UTF-8 (json_string() refused it). */
static int jstr_init(jstr *j, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t esc = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = u[i];
        if (c >= 0x80u) {
            size_t l = utf8_seq_len(u + i, len - i);
            if (!l) return AGG_ERR;
            esc += l;
            i += l;
            continue;
        }
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            esc += 2;
        else if (c < 0x20u)
            esc += 6;
        else
            esc += 1;
        i++;
    }
    j->s = s;
    j->len = len;
    j->esc_len = esc;
    return AGG_OK;
}

/* Writes j's escaped bytes (j->esc_len of them, no quotes) at p; returns the
 * position after them. */
static char *put_jstr(char *p, const jstr *j) {
    static const char hex[] = "0123456789ABCDEF";
    if (j->esc_len == j->len) { /* nothing to escape */
        memcpy(p, j->s, j->len);
        return p + j->len;
    }
    for (size_t i = 0; i < j->len; i++) {
        unsigned char c = (unsigned char)j->s[i];
        if (c >= 0x20u && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            memcpy(p, "u00", 3);
            p[3] = hex[c >> 4];
            p[4] = hex[c & 0xfu];
            p += 5;
        }
    }
    return p;
}

#define LIT_LEN(lit)    (sizeof(lit) - 1)
#define PUT_LIT(p, lit) (memcpy((p), (lit), LIT_LEN(lit)), (p) + LIT_LEN(lit))
#define LONG_TEXT_MAX   20 /* "-9223372036854775808" */

/* Writes v in decimal at p; returns the position after it (at most LONG_TEXT_MAX bytes). */
static char *put_long(char *p, long v) {
    char tmp[LONG_TEXT_MAX];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int k = 0;
    do {
        tmp[k++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0) *p++ = '-';
    while (k) *p++ = tmp[--k];
    return p;
}

/* --- the bodies ------------------------------------------------------------- */

/* The jansson version built caregiverId with snprintf into a buffer of this
 * size (NUL included); the same truncation keeps the output identical. */
#define CAREGIVER_BUF (NOTES_RESOURCE_ID_MAX + 32)
#define CAREGIVER_MID "-caregiver-"

#define R_SOURCE  "{\"source\":\""
#define R_PATIENT "\",\"patientId\":\""
#define R_CORR    "\",\"correlationId\":\""
#define R_DELAY   "\",\"delayMs\":"
#define R_STATUS  ",\"status\":\"ok\",\"notes\":["
#define R_END     "]}"
#define N_ID      "{\"id\":\""
#define N_DATE    "\",\"date\":\""
#define N_CARE    "\",\"caregiverId\":\""
#define N_PATIENT "\",\"patientId\":\""
#define N_DOCTOR  "\",\"doctorId\":\"doctor-"
#define N_NOTE    "\",\"note\":\""
#define N_END     "\"}"

/* Writes {"source":<src>,"patientId":<pid> (both bodies start so); returns the end. */
static char *put_head(char *p, const jstr *src, const jstr *pid) {
    p = PUT_LIT(p, R_SOURCE);
    p = put_jstr(p, src);
    p = PUT_LIT(p, R_PATIENT);
    return put_jstr(p, pid);
}

/* Measures the source and patient strings of a body; AGG_ERR with e filled. */
static int head_init(jstr *src, jstr *pid, const char *resource_id, const char *patient_id,
                     err_t *e) {
    if (!resource_id || !patient_id)
        return err_set(e, "a resource id and a patient id are required");
    if (jstr_init(src, resource_id, strlen(resource_id)) != AGG_OK ||
        jstr_init(pid, patient_id, strlen(patient_id)) != AGG_OK)
        return err_set(e, "the resource id or the patient id is not valid UTF-8");
    return AGG_OK;
}

char *notes_result_json(const char *resource_id, const char *patient_id, const char *correlation_id,
                        long delay_ms, int n, long long now_ms, err_t *e) {
    jstr src, pid, cid = {NULL, 0, 0}, cg = {NULL, 0, 0};
    if (head_init(&src, &pid, resource_id, patient_id, e) != AGG_OK) return NULL;
    if (correlation_id && jstr_init(&cid, correlation_id, strlen(correlation_id)) != AGG_OK) {
        err_set(e, "the correlation id is not valid UTF-8");
        return NULL;
    }
    size_t cap = LIT_LEN(R_SOURCE) + src.esc_len + LIT_LEN(R_PATIENT) + pid.esc_len +
                 (correlation_id ? LIT_LEN(R_CORR) + cid.esc_len : 0) + LIT_LEN(R_DELAY) +
                 LONG_TEXT_MAX + LIT_LEN(R_STATUS) + LIT_LEN(R_END) + 1;

    /* caregiverId is resource_id + "-caregiver-" + one digit, cut to CAREGIVER_BUF - 1
     * bytes; when cut, the digit is gone and the text is the same for every note. */
    char cg_text[CAREGIVER_BUF - 1];
    int cg_digit = 0;
    if (n > 0) {
        size_t len = src.len < sizeof cg_text ? src.len : sizeof cg_text;
        memcpy(cg_text, resource_id, len);
        size_t mid = LIT_LEN(CAREGIVER_MID) < sizeof cg_text - len ? LIT_LEN(CAREGIVER_MID)
                                                                   : sizeof cg_text - len;
        memcpy(cg_text + len, CAREGIVER_MID, mid);
        len += mid;
        cg_digit = len < sizeof cg_text;
        if (jstr_init(&cg, cg_text, len) != AGG_OK) {
            err_set(e, "the caregiver id is not valid UTF-8");
            return NULL;
        }
        size_t text_max = 0;
        for (size_t t = 0; t < N_TEXTS; t++)
            if (NOTE_TEXTS[t].len > text_max) text_max = NOTE_TEXTS[t].len;
        size_t per_note = LIT_LEN(N_ID) + UUID4_LEN + LIT_LEN(N_DATE) + NOTES_DATE_LEN +
                          LIT_LEN(N_CARE) + cg.esc_len + 1 + LIT_LEN(N_PATIENT) + pid.esc_len +
                          LIT_LEN(N_DOCTOR) + 2 + LIT_LEN(N_NOTE) + text_max + LIT_LEN(N_END) + 1;
        if ((size_t)n > (SIZE_MAX - cap) / per_note) {
            err_nomem(e);
            return NULL;
        }
        cap += (size_t)n * per_note;
    }

    char *buf = agg_malloc(cap);
    if (!buf) {
        err_nomem(e);
        return NULL;
    }
    char *p = put_head(buf, &src, &pid);
    if (correlation_id) {
        p = PUT_LIT(p, R_CORR);
        p = put_jstr(p, &cid);
    }
    p = PUT_LIT(p, R_DELAY);
    p = put_long(p, delay_ms);
    p = PUT_LIT(p, R_STATUS);
    unsigned h = notes_resource_hash(resource_id);
    long long now_s = now_ms / 1000;
    for (int i = 0; i < n; i++) {
        char date[NOTES_DATE_LEN + 1];
        if (notes_format_date(notes_date_s(resource_id, i, now_s), date, e) != AGG_OK) {
            agg_free(buf);
            return NULL;
        }
        unsigned doctor = (h / 7u + (unsigned)i * 3u) % 12u + 1u;
        if (i > 0) *p++ = ',';
        p = PUT_LIT(p, N_ID);
        p = put_uuid(p);
        p = PUT_LIT(p, N_DATE);
        memcpy(p, date, NOTES_DATE_LEN);
        p += NOTES_DATE_LEN;
        p = PUT_LIT(p, N_CARE);
        p = put_jstr(p, &cg);
        if (cg_digit) *p++ = (char)('0' + (h + (unsigned)i) % 5u + 1u);
        p = PUT_LIT(p, N_PATIENT);
        p = put_jstr(p, &pid);
        p = PUT_LIT(p, N_DOCTOR);
        if (doctor >= 10) *p++ = '1';
        *p++ = (char)('0' + doctor % 10u);
        p = PUT_LIT(p, N_NOTE);
        size_t t = (h + (unsigned)i) % N_TEXTS;
        memcpy(p, NOTE_TEXTS[t].s, NOTE_TEXTS[t].len);
        p += NOTE_TEXTS[t].len;
        p = PUT_LIT(p, N_END);
    }
    p = PUT_LIT(p, R_END);
    *p = '\0';
    return buf;
}

#define J_REJECTED "\",\"status\":\"REJECTED\",\"notes\":null,\"delayMs\":-1}"

char *notes_rejected_json(const char *resource_id, const char *patient_id, err_t *e) {
    jstr src, pid;
    if (head_init(&src, &pid, resource_id, patient_id, e) != AGG_OK) return NULL;
    size_t cap = LIT_LEN(R_SOURCE) + src.esc_len + LIT_LEN(R_PATIENT) + pid.esc_len +
                 LIT_LEN(J_REJECTED) + 1;
    char *buf = agg_malloc(cap);
    if (!buf) {
        err_nomem(e);
        return NULL;
    }
    char *p = put_head(buf, &src, &pid);
    p = PUT_LIT(p, J_REJECTED);
    *p = '\0';
    return buf;
}
