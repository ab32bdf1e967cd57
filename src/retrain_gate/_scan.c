/* A scanner for the common case of §1-§3: one pass over an export's bytes that yields the
 * per-task columns `exports.task_columns` computes, without turning the tasks into objects.
 *
 * It only answers what it fully understands and hands everything else back:
 *   - the whole file (returns None) when the bytes are not exactly a JSON list of objects it
 *     accepts: a BOM, one object, an empty list, invalid or unusual JSON (lone surrogate
 *     escapes, huge numbers, deep nesting); the ordinary path then decides and explains;
 *   - one task (listed in `fallbacks` with its byte span) when a field it reads has an unusual
 *     type, a string it reads has escapes, or a key it reads repeats or is escaped.
 * So it can be stricter than msgspec, never looser: tests/test_scan.py checks that every
 * answer equals the msgspec path's, types included.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum Kind { K_ABSENT = 0, K_NULL, K_TRUE, K_FALSE, K_INT, K_BIGINT, K_FLOAT, K_STR, K_ESTR, K_OBJ, K_ARR };

typedef struct {
    int kind;
    const unsigned char *s; /* strings: the first byte inside the quotes; else the token */
    Py_ssize_t n;
    long long i; /* K_INT */
} Val;

typedef struct {
    const unsigned char *p, *end;
} Cur;

#define MAX_DEPTH 200

/* ------------------------------------------------------------------ JSON tokens */

/* 1: a byte the string loop must look at (quote, backslash, control, non-ASCII). */
static unsigned char special[256];

static void init_tables(void) {
    for (int b = 0; b < 256; b++) special[b] = (b < 0x20 || b == '"' || b == '\\' || b >= 0x80);
}

static inline void ws(Cur *c) {
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') break;
        c->p++;
    }
}

static inline int hexval(unsigned char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

static inline int read_u(const unsigned char *p, const unsigned char *end, unsigned *cp) {
    /* p at the 'u' of \uXXXX */
    if (end - p < 5) return -1;
    unsigned v = 0;
    for (int k = 1; k <= 4; k++) {
        int h = hexval(p[k]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    *cp = v;
    return 0;
}

static inline int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    if (b >= 0xC2 && b <= 0xDF) {
        if (end - p < 2 || (p[1] & 0xC0) != 0x80) return -1;
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return -1;
        if (b == 0xE0 && p[1] < 0xA0) return -1; /* overlong */
        if (b == 0xED && p[1] >= 0xA0) return -1; /* a surrogate */
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return -1;
        if (b == 0xF0 && p[1] < 0x90) return -1;
        if (b == 0xF4 && p[1] >= 0x90) return -1;
        return 4;
    }
    return -1;
}

/* The first byte at or after p that a string must look at (or end). */
static inline const unsigned char *find_special(const unsigned char *p, const unsigned char *end) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        /* signed: bytes >= 0x80 are negative, so "< 0x20" also catches non-ASCII */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                   _mm_cmplt_epi8(x, space));
        int mask = _mm_movemask_epi8(hit);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && !special[*p]) p++;
    return p;
}

/* p at the opening quote: the byte after the closing quote, or NULL when the string is not
 * one we accept. *escaped tells whether it holds a backslash escape. */
static inline __attribute__((always_inline)) const unsigned char *
string_end(const unsigned char *p, const unsigned char *end, int *escaped) {
    p++;
    for (;;) {
        p = find_special(p, end);
        if (p >= end) return NULL;
        unsigned char ch = *p;
        if (ch == '"') return p + 1;
        if (ch == '\\') {
            *escaped = 1;
            if (++p >= end) return NULL;
            ch = *p;
            if (ch == 'u') {
                unsigned cp;
                if (read_u(p, end, &cp)) return NULL;
                p += 5;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL; /* a lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {            /* must be a valid pair */
                    unsigned lo;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || read_u(p + 1, end, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return NULL;
                    p += 6;
                }
            } else if (ch == '"' || ch == '\\' || ch == '/' || ch == 'b' || ch == 'f' ||
                       ch == 'n' || ch == 'r' || ch == 't') {
                p++;
            } else {
                return NULL;
            }
            continue;
        }
        if (ch < 0x20) return NULL;
        int len = utf8_len(p, end);
        if (len < 0) return NULL;
        p += len;
    }
}

static int scan_string(Cur *c, Val *v) {
    int escaped = 0;
    const unsigned char *after = string_end(c->p, c->end, &escaped);
    if (!after) return -1;
    v->kind = escaped ? K_ESTR : K_STR;
    v->s = c->p + 1;
    v->n = after - 1 - v->s;
    c->p = after;
    return 0;
}

static inline int skip_string(Cur *c) {
    int escaped = 0;
    const unsigned char *after = string_end(c->p, c->end, &escaped);
    if (!after) return -1;
    c->p = after;
    return 0;
}

static inline int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

static int scan_number(Cur *c, Val *v) {
    const unsigned char *p = c->p, *end = c->end, *start = p;
    int negative = 0, is_float = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end) return -1;
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p)) p++;
    } else {
        return -1;
    }
    Py_ssize_t ndigits = p - digits;
    if (p < end && *p == '.') {
        is_float = 1;
        const unsigned char *frac = ++p;
        while (p < end && is_digit(*p)) p++;
        if (p == frac) return -1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const unsigned char *exp = p;
        while (p < end && is_digit(*p)) p++;
        /* at most 300: what every decoder reads as a finite float */
        if (p == exp || p - exp > 3 || (p - exp == 3 && memcmp(exp, "300", 3) > 0)) return -1;
    }
    if (p - start > 64) return -1; /* leave unusual numbers to the ordinary path */
    v->s = start;
    v->n = p - start;
    c->p = p;
    if (is_float) {
        v->kind = K_FLOAT;
        return 0;
    }
    if (ndigits > 19) return -1;
    /* accumulate as a negative number: -2**63 fits, 2**63 does not */
    long long acc = 0;
    int overflow = 0;
    for (const unsigned char *d = digits; d < digits + ndigits; d++) {
        int value = *d - '0';
        if (acc < (LLONG_MIN + value) / 10) {
            overflow = 1;
            break;
        }
        acc = acc * 10 - value;
    }
    if (!overflow && !negative && acc == LLONG_MIN) overflow = 1;
    if (overflow) {
        v->kind = K_BIGINT;
    } else {
        v->kind = K_INT;
        v->i = negative ? acc : -acc;
    }
    return 0;
}

static inline int skip_number(Cur *c) {
    Val v;
    const unsigned char *p = c->p;
    /* the common short forms (12, 3.5, -0.25) without the general grammar's bookkeeping */
    if (*p == '-') p++;
    if (p < c->end && *p >= '1' && *p <= '9') {
        const unsigned char *d = p;
        while (p < c->end && is_digit(*p)) p++;
        if (p - d <= 15 && p < c->end && *p != 'e' && *p != 'E') {
            if (*p != '.') {
                c->p = p;
                return 0;
            }
            const unsigned char *f = ++p;
            while (p < c->end && is_digit(*p)) p++;
            if (p > f && p - f <= 15 && p < c->end && *p != 'e' && *p != 'E') {
                c->p = p;
                return 0;
            }
        }
    }
    return scan_number(c, &v);
}

static int literal(Cur *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, (size_t)n) != 0) return -1;
    c->p += n;
    return 0;
}

static int skip_container(Cur *c, int depth);

/* Any value: its kind and span; containers are checked and skipped. */
static int scan_value(Cur *c, Val *v, int depth) {
    ws(c);
    if (c->p >= c->end) return -1;
    unsigned char ch = *c->p;
    v->s = c->p;
    switch (ch) {
    case '"':
        return scan_string(c, v);
    case '{':
    case '[':
        v->kind = ch == '{' ? K_OBJ : K_ARR;
        if (skip_container(c, depth + 1)) return -1;
        v->n = c->p - v->s;
        return 0;
    case 't':
        v->kind = K_TRUE;
        v->n = 4;
        return literal(c, "true", 4);
    case 'f':
        v->kind = K_FALSE;
        v->n = 5;
        return literal(c, "false", 5);
    case 'n':
        v->kind = K_NULL;
        v->n = 4;
        return literal(c, "null", 4);
    default:
        if (ch == '-' || is_digit(ch)) return scan_number(c, v);
        return -1;
    }
}

/* At '{': consume it; *empty when it closes at once. */
static int obj_open(Cur *c, int *empty) {
    c->p++;
    ws(c);
    *empty = c->p < c->end && *c->p == '}';
    if (*empty) c->p++;
    return 0;
}

/* The next key and its ':'. */
static int obj_key(Cur *c, Val *key) {
    ws(c);
    if (c->p >= c->end || *c->p != '"') return -1;
    if (scan_string(c, key)) return -1;
    ws(c);
    if (c->p >= c->end || *c->p != ':') return -1;
    c->p++;
    return 0;
}

/* After a member or element: ',' (more) or the closing byte (*done). */
static int next_or_close(Cur *c, unsigned char close, int *done) {
    ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == ',') {
        c->p++;
        *done = 0;
        return 0;
    }
    if (*c->p == close) {
        c->p++;
        *done = 1;
        return 0;
    }
    return -1;
}

static int arr_open(Cur *c, int *empty) {
    c->p++;
    ws(c);
    *empty = c->p < c->end && *c->p == ']';
    if (*empty) c->p++;
    return 0;
}

/* At '{' or '[': check and skip the whole container. Iterative, no spans kept: most of an
 * export's bytes are values nobody reads (regions of predictions, task metadata). */
static int skip_container(Cur *c, int depth) {
    unsigned char closers[MAX_DEPTH + 2];
    int top = 0;
    const unsigned char *end = c->end;
    goto open;
value:
    ws(c);
    if (c->p >= end) return -1;
    switch (*c->p) {
    case '"':
        if (skip_string(c)) return -1;
        goto after;
    case '{':
    case '[':
        goto open;
    case 't':
        if (literal(c, "true", 4)) return -1;
        goto after;
    case 'f':
        if (literal(c, "false", 5)) return -1;
        goto after;
    case 'n':
        if (literal(c, "null", 4)) return -1;
        goto after;
    default:
        if (skip_number(c)) return -1;
        goto after;
    }
open:
    if (depth + top > MAX_DEPTH) return -1;
    closers[top++] = *c->p == '{' ? '}' : ']';
    c->p++;
    ws(c);
    if (c->p < end && *c->p == closers[top - 1]) {
        c->p++;
        top--;
        goto after;
    }
    if (closers[top - 1] == ']') goto value;
key:
    ws(c);
    if (c->p >= end || *c->p != '"' || skip_string(c)) return -1;
    ws(c);
    if (c->p >= end || *c->p != ':') return -1;
    c->p++;
    goto value;
after:
    if (top == 0) return 0;
    ws(c);
    if (c->p >= end) return -1;
    if (*c->p == ',') {
        c->p++;
        if (closers[top - 1] == '}') goto key;
        goto value;
    }
    if (*c->p == closers[top - 1]) {
        c->p++;
        top--;
        goto after;
    }
    return -1;
}

typedef struct {
    const char *name;
    Py_ssize_t n;
} Name;
#define NAME(lit) {(lit), (Py_ssize_t)(sizeof(lit) - 1)}
#define COUNT(names) ((int)(sizeof(names) / sizeof((names)[0])))

/* The index of `key` among the `names` an object is read for (-1: a key not read). An escaped
 * key (it may spell one of them) or one of them repeated sets *odd: the ordinary path decides
 * what such an object means. */
static int key_slot(const Val *key, const Name *names, int count, unsigned *seen, int *odd) {
    if (key->kind == K_ESTR) {
        *odd = 1;
        return -1;
    }
    for (int k = 0; k < count; k++) {
        if (key->n == names[k].n && memcmp(key->s, names[k].name, (size_t)key->n) == 0) {
            if (*seen & (1u << k)) *odd = 1;
            *seen |= 1u << k;
            return k;
        }
    }
    return -1;
}

static const Name PREDICTION_KEYS[] = {NAME("id"), NAME("model_version"), NAME("created_at"),
                                       NAME("result")};
static const Name ANNOTATION_KEYS[] = {
    NAME("id"),         NAME("was_cancelled"), NAME("ground_truth"),      NAME("created_at"),
    NAME("updated_at"), NAME("result"),        NAME("parent_prediction"), NAME("prediction")};
static const Name TASK_KEYS[] = {NAME("id"),          NAME("data"),        NAME("project"),
                                 NAME("updated_at"),  NAME("annotations"), NAME("completions"),
                                 NAME("predictions")};
static const Name REGION_KEYS[] = {NAME("id"), NAME("type"), NAME("origin")};
static const Name FULL_REGION_KEYS[] = {NAME("from_name"), NAME("to_name"), NAME("type"),
                                        NAME("value")};

static inline int str_is(const Val *v, const char *lit, Py_ssize_t n) {
    return v->kind == K_STR && v->n == n && memcmp(v->s, lit, (size_t)n) == 0;
}
#define STR_IS(v, lit) str_is((v), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* Text comparison of two plain strings (UTF-8 bytes order = code point order). */
static inline int text_cmp(const unsigned char *a, Py_ssize_t an, const unsigned char *b,
                           Py_ssize_t bn) {
    Py_ssize_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, (size_t)n) : 0;
    if (r) return r;
    return an < bn ? -1 : (an > bn ? 1 : 0);
}

/* ------------------------------------------------------------------ the shapes read */

typedef struct {
    Val id, model_version, created_at, result;
} Pred;

typedef struct {
    Val id, was_cancelled, ground_truth, created_at, updated_at, result, parent;
    int has_inline; /* `prediction` is an object */
    Pred inline_pred;
} Ann;

typedef struct {
    Val id, origin;
    int live;
} Region;

typedef struct {
    Ann *anns;
    Py_ssize_t anns_len, anns_cap;
    Pred *preds;
    Py_ssize_t preds_len, preds_cap;
    Region *regions;
    Py_ssize_t regions_len, regions_cap;
    /* the geometric comparison: each region's key bytes and numbers, and the regions */
    char *keys;
    Py_ssize_t keys_len, keys_cap;
    double *nums;
    Py_ssize_t nums_len, nums_cap;
    struct Shaped *shaped;
    Py_ssize_t shaped_len, shaped_cap;
    double tolerance;
} Work;

#define GROW(arr, len, cap, type)                                                        \
    do {                                                                                 \
        if ((len) >= (cap)) {                                                            \
            Py_ssize_t want = (cap) ? (cap) * 2 : 16;                                    \
            type *more = PyMem_Realloc((arr), (size_t)want * sizeof(type));              \
            if (!more) return -3;                                                        \
            (arr) = more;                                                                \
            (cap) = want;                                                                \
        }                                                                                \
    } while (0)

/* Return codes of the parsers: 0 fine, -1 bad JSON (whole file back), -3 out of memory.
 * `*odd` is set when the task must go the ordinary way. */

static int parse_prediction(Cur *c, Pred *pred, int *odd, int depth) {
    memset(pred, 0, sizeof(*pred));
    int empty, done = 0;
    unsigned seen = 0;
    obj_open(c, &empty);
    if (empty) return 0;
    while (!done) {
        Val key, value;
        if (obj_key(c, &key) || scan_value(c, &value, depth)) return -1;
        int slot = key_slot(&key, PREDICTION_KEYS, COUNT(PREDICTION_KEYS), &seen, odd);
        if (slot >= 0) {
            Val *dest[] = {&pred->id, &pred->model_version, &pred->created_at, &pred->result};
            *dest[slot] = value;
            if (slot == 0 && value.kind != K_INT && value.kind != K_NULL && value.kind != K_STR)
                *odd = 1; /* a float or bool id compares equal to ints in Python */
            if ((slot == 1 || slot == 2) && value.kind == K_ESTR) *odd = 1;
        }
        if (next_or_close(c, '}', &done)) return -1;
    }
    return 0;
}

static int parse_annotation(Cur *c, Ann *ann, int *odd, int depth) {
    memset(ann, 0, sizeof(*ann));
    int empty, done = 0;
    unsigned seen = 0;
    obj_open(c, &empty);
    if (empty) return 0;
    while (!done) {
        Val key, value;
        if (obj_key(c, &key)) return -1;
        int slot = key_slot(&key, ANNOTATION_KEYS, COUNT(ANNOTATION_KEYS), &seen, odd);
        ws(c);
        if (slot == 7 && c->p < c->end && *c->p == '{') {
            if (depth + 1 > MAX_DEPTH) return -1;
            int rc = parse_prediction(c, &ann->inline_pred, odd, depth + 1);
            if (rc) return rc;
            ann->has_inline = 1;
        } else {
            if (scan_value(c, &value, depth)) return -1;
            switch (slot) {
            case 0:
                ann->id = value;
                if (value.kind != K_INT && value.kind != K_NULL && value.kind != K_STR &&
                    value.kind != K_ESTR)
                    *odd = 1;
                break;
            case 1:
            case 2:
                if (value.kind != K_TRUE && value.kind != K_FALSE && value.kind != K_NULL)
                    *odd = 1;
                *(slot == 1 ? &ann->was_cancelled : &ann->ground_truth) = value;
                break;
            case 3:
            case 4:
                if (value.kind != K_STR && value.kind != K_NULL) *odd = 1;
                *(slot == 3 ? &ann->created_at : &ann->updated_at) = value;
                break;
            case 5:
                if (value.kind != K_ARR && value.kind != K_NULL) *odd = 1;
                ann->result = value;
                break;
            case 6:
                if (value.kind != K_INT && value.kind != K_NULL) *odd = 1;
                ann->parent = value;
                break;
            case 7:
                if (value.kind != K_NULL) *odd = 1;
                ann->has_inline = 0;
                break;
            default:
                break;
            }
        }
        if (next_or_close(c, '}', &done)) return -1;
    }
    return 0;
}

/* A list of annotations (into w->anns) or of predictions (into w->preds). Any other
 * element makes the task odd, but for bare integer prediction ids (Community exports). */
static int parse_list(Cur *c, Work *w, int *odd, int depth, int annotations) {
    int empty, done = 0;
    arr_open(c, &empty);
    if (empty) return 0;
    while (!done) {
        ws(c);
        if (c->p < c->end && *c->p == '{') {
            if (depth + 1 > MAX_DEPTH) return -1;
            int rc;
            if (annotations) {
                GROW(w->anns, w->anns_len, w->anns_cap, Ann);
                rc = parse_annotation(c, &w->anns[w->anns_len++], odd, depth + 1);
            } else {
                GROW(w->preds, w->preds_len, w->preds_cap, Pred);
                rc = parse_prediction(c, &w->preds[w->preds_len++], odd, depth + 1);
            }
            if (rc) return rc;
        } else {
            Val v;
            if (scan_value(c, &v, depth)) return -1;
            if (annotations || v.kind != K_INT) *odd = 1;
        }
        if (next_or_close(c, ']', &done)) return -1;
    }
    return 0;
}

typedef struct {
    Val id, project, updated_at, path, frames;
    Py_ssize_t ann_start, ann_len, comp_start, comp_len;
    int has_annotations, has_completions; /* a list (possibly empty) */
} Task;

typedef struct {
    const char *field;
    Py_ssize_t field_n;
    const char *frames_field; /* NULL: none, or the same key as field */
    Py_ssize_t frames_n;
} Keys;

static int data_value_ok(const Val *v) {
    return v->kind == K_STR || v->kind == K_NULL || v->kind == K_INT;
}

static int parse_data(Cur *c, Task *t, const Keys *keys, int *odd, int depth) {
    /* the frames key only when it is another key than the path's */
    const Name names[] = {{keys->field, keys->field_n}, {keys->frames_field, keys->frames_n}};
    int count = keys->frames_field != NULL && keys->frames_field != keys->field ? 2 : 1;
    int empty, done = 0;
    unsigned seen = 0;
    obj_open(c, &empty);
    if (empty) return 0;
    while (!done) {
        Val key, value;
        if (obj_key(c, &key) || scan_value(c, &value, depth)) return -1;
        int slot = key_slot(&key, names, count, &seen, odd);
        if (slot >= 0 && !data_value_ok(&value)) *odd = 1;
        if (slot == 0) t->path = value;
        else if (slot == 1) t->frames = value;
        if (next_or_close(c, '}', &done)) return -1;
    }
    return 0;
}

static int parse_task(Cur *c, Work *w, Task *t, const Keys *keys, int *odd) {
    memset(t, 0, sizeof(*t));
    w->anns_len = w->preds_len = 0;
    int empty, done = 0, has_data = 0;
    unsigned seen = 0;
    const int depth = 1;
    obj_open(c, &empty);
    if (empty) {
        *odd = 1;
        return 0;
    }
    while (!done) {
        Val key, value;
        if (obj_key(c, &key)) return -1;
        int slot = key_slot(&key, TASK_KEYS, COUNT(TASK_KEYS), &seen, odd);
        ws(c);
        unsigned char next = c->p < c->end ? *c->p : 0;
        int rc = 0;
        if (slot == 1 && next == '{') {
            rc = parse_data(c, t, keys, odd, depth + 1);
            has_data = 1;
        } else if ((slot == 4 || slot == 5) && next == '[') {
            Py_ssize_t start = w->anns_len;
            rc = parse_list(c, w, odd, depth + 1, 1);
            if (slot == 4) {
                t->has_annotations = 1;
                t->ann_start = start;
                t->ann_len = w->anns_len - start;
            } else {
                t->has_completions = 1;
                t->comp_start = start;
                t->comp_len = w->anns_len - start;
            }
        } else if (slot == 6 && next == '[') {
            rc = parse_list(c, w, odd, depth + 1, 0);
        } else {
            if (scan_value(c, &value, depth)) return -1;
            switch (slot) {
            case 0:
                if (value.kind != K_INT) *odd = 1;
                t->id = value;
                break;
            case 2:
                if (value.kind != K_INT && value.kind != K_NULL) *odd = 1;
                t->project = value;
                break;
            case 3:
                if (value.kind != K_STR && value.kind != K_NULL) *odd = 1;
                t->updated_at = value;
                break;
            case 1: /* data that is not an object */
                *odd = 1;
                break;
            case 4:
            case 5:
            case 6:
                if (value.kind != K_NULL) *odd = 1;
                break;
            default:
                break;
            }
        }
        if (rc) return rc;
        if (next_or_close(c, '}', &done)) return -1;
    }
    if (t->id.kind != K_INT || !has_data) *odd = 1;
    return 0;
}

/* ------------------------------------------------------------------ §1-§3 */

static inline int plain_nonempty(const Val *v) { return v->kind == K_STR && v->n > 0; }

/* `annotation.updated_at or annotation.created_at or ""` */
static inline const Val *stamp_of(const Ann *a) {
    if (plain_nonempty(&a->updated_at)) return &a->updated_at;
    if (plain_nonempty(&a->created_at)) return &a->created_at;
    return NULL;
}

static inline int stamp_cmp(const Val *a, const Val *b) {
    return text_cmp(a ? a->s : NULL, a ? a->n : 0, b ? b->s : NULL, b ? b->n : 0);
}

/* (ground_truth, stamp, id if int else -1), compared as Python compares the tuples */
static int choice_cmp(const Ann *a, const Ann *b) {
    int ga = a->ground_truth.kind == K_TRUE, gb = b->ground_truth.kind == K_TRUE;
    if (ga != gb) return ga - gb;
    int r = stamp_cmp(stamp_of(a), stamp_of(b));
    if (r) return r;
    long long ia = a->id.kind == K_INT ? a->id.i : -1, ib = b->id.kind == K_INT ? b->id.i : -1;
    return ia < ib ? -1 : (ia > ib ? 1 : 0);
}

static const Ann *choose(const Ann *anns, Py_ssize_t n) {
    if (n == 1) return anns[0].was_cancelled.kind == K_TRUE ? NULL : &anns[0];
    const Ann *best = NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (anns[k].was_cancelled.kind == K_TRUE) continue;
        if (best == NULL || choice_cmp(&anns[k], best) > 0) best = &anns[k];
    }
    return best;
}

enum SourceKind { SRC_NONE, SRC_KNOWN, SRC_UNKNOWN };

typedef struct {
    int kind;
    const Pred *pred; /* SRC_KNOWN */
} Source;

/* (created_at if str else "", id if int else -1) */
static int prediction_cmp(const Pred *a, const Pred *b) {
    const unsigned char *as = a->created_at.kind == K_STR ? a->created_at.s : NULL;
    const unsigned char *bs = b->created_at.kind == K_STR ? b->created_at.s : NULL;
    Py_ssize_t an = as ? a->created_at.n : 0, bn = bs ? b->created_at.n : 0;
    int r = text_cmp(as, an, bs, bn);
    if (r) return r;
    long long ia = a->id.kind == K_INT ? a->id.i : -1, ib = b->id.kind == K_INT ? b->id.i : -1;
    return ia < ib ? -1 : (ia > ib ? 1 : 0);
}

static Source find_source(const Ann *chosen, const Pred *preds, Py_ssize_t npreds) {
    Source none = {SRC_NONE, NULL};
    int has_parent = chosen != NULL && chosen->parent.kind == K_INT;
    long long parent = has_parent ? chosen->parent.i : 0;
    if (has_parent) {
        for (Py_ssize_t k = 0; k < npreds; k++) {
            if (preds[k].id.kind == K_INT && preds[k].id.i == parent) {
                Source s = {SRC_KNOWN, &preds[k]};
                return s;
            }
        }
    }
    if (chosen != NULL && chosen->has_inline) {
        const Pred *in = &chosen->inline_pred;
        int known = in->result.kind != K_ABSENT && in->result.kind != K_NULL;
        int id_none = in->id.kind == K_ABSENT || in->id.kind == K_NULL;
        if (known && (id_none || !has_parent || (in->id.kind == K_INT && in->id.i == parent))) {
            Source s = {SRC_KNOWN, in};
            return s;
        }
    }
    if (has_parent) {
        Source s = {SRC_UNKNOWN, NULL};
        return s;
    }
    const Pred *latest = NULL;
    for (Py_ssize_t k = 0; k < npreds; k++) {
        if (latest == NULL || prediction_cmp(&preds[k], latest) > 0) latest = &preds[k];
    }
    if (latest != NULL) {
        Source s = {SRC_KNOWN, latest};
        return s;
    }
    return none;
}

/* The live regions of a result into w->regions[from:]; 1 when the task must go the
 * ordinary way, -3 out of memory. */
static int parse_regions(Work *w, const Val *result) {
    if (result->kind == K_ABSENT || result->kind == K_NULL) return 0;
    if (result->kind != K_ARR) return 1;
    Cur c = {result->s, result->s + result->n};
    int empty, done = 0;
    arr_open(&c, &empty);
    if (empty) return 0;
    while (!done) {
        ws(&c);
        if (c.p >= c.end || *c.p != '{') return 1;
        Region r;
        memset(&r, 0, sizeof(r));
        Val type;
        memset(&type, 0, sizeof(type));
        unsigned seen = 0;
        int inner_empty, inner_done = 0;
        obj_open(&c, &inner_empty);
        while (!inner_empty && !inner_done) {
            Val key, value;
            if (obj_key(&c, &key) || scan_value(&c, &value, 2)) return 1;
            int odd_key = 0;
            int slot = key_slot(&key, REGION_KEYS, COUNT(REGION_KEYS), &seen, &odd_key);
            if (odd_key) return 1;
            if (slot >= 0) {
                if (value.kind != K_STR && value.kind != K_NULL &&
                    !(slot == 0 && value.kind == K_INT))
                    return 1;
                *(slot == 0 ? &r.id : slot == 1 ? &type : &r.origin) = value;
            }
            if (next_or_close(&c, '}', &inner_done)) return 1;
        }
        r.live = !STR_IS(&type, "relation");
        if (r.live) {
            GROW(w->regions, w->regions_len, w->regions_cap, Region);
            w->regions[w->regions_len++] = r;
        }
        if (next_or_close(&c, ']', &done)) return 1;
    }
    return 0;
}

static int same_id(const Val *a, const Val *b) {
    int an = a->kind == K_ABSENT || a->kind == K_NULL, bn = b->kind == K_ABSENT || b->kind == K_NULL;
    if (an || bn) return an && bn;
    if (a->kind != b->kind) return 0;
    if (a->kind == K_INT) return a->i == b->i;
    return a->n == b->n && memcmp(a->s, b->s, (size_t)a->n) == 0;
}

/* ---- the geometric comparison (§3, results without `origin`), as exports._shape does it:
 * a region's key is (from_name, to_name, type, value with every number blanked to "#" and
 * dict keys sorted), written as canonical bytes: a string "...", null n, true t, false f,
 * a number "#" (so it equals the string "#", as in Python), a list [a,b], and a dict as the
 * list of its [key,value] pairs in key order (so it equals that list, as tuples do). The
 * numbers go to `nums` in reading order. */

typedef struct Shaped {
    Py_ssize_t key_off, key_len, num_off, num_len;
} Shaped;

static int put(Work *w, const void *bytes, Py_ssize_t n) {
    if (w->keys_len + n > w->keys_cap) {
        Py_ssize_t want = w->keys_cap ? w->keys_cap : 1024;
        while (want < w->keys_len + n) want *= 2;
        char *more = PyMem_Realloc(w->keys, (size_t)want);
        if (!more) return -3;
        w->keys = more;
        w->keys_cap = want;
    }
    memcpy(w->keys + w->keys_len, bytes, (size_t)n);
    w->keys_len += n;
    return 0;
}

static int put_number(Work *w, const Val *v) {
    char token[80];
    if (v->n >= (Py_ssize_t)sizeof(token)) return 1;
    memcpy(token, v->s, (size_t)v->n);
    token[v->n] = 0;
    GROW(w->nums, w->nums_len, w->nums_cap, double);
    w->nums[w->nums_len++] = PyOS_string_to_double(token, NULL, NULL);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return put(w, "\"#\"", 3);
}

typedef struct {
    Val key, value;
} Member;

static int shape(Work *w, const Val *v, int depth);

static int shape_object(Work *w, const Val *v, int depth) {
    Member stack_members[16];
    Member *members = stack_members;
    Py_ssize_t n = 0, cap = 16;
    int rc = 0, empty, done = 0;
    Cur c = {v->s, v->s + v->n};
    obj_open(&c, &empty);
    while (!empty && !done) {
        Member m;
        if (obj_key(&c, &m.key) || scan_value(&c, &m.value, depth) ||
            next_or_close(&c, '}', &done)) {
            rc = 1;
            goto out;
        }
        if (m.key.kind != K_STR) {
            rc = 1;
            goto out;
        }
        if (n == cap) {
            Member *more = PyMem_Malloc((size_t)cap * 2 * sizeof(Member));
            if (!more) {
                rc = -3;
                goto out;
            }
            memcpy(more, members, (size_t)n * sizeof(Member));
            if (members != stack_members) PyMem_Free(members);
            members = more;
            cap *= 2;
        }
        /* insertion by key: dicts here have a handful of keys */
        Py_ssize_t at = n;
        while (at > 0) {
            int r = text_cmp(members[at - 1].key.s, members[at - 1].key.n, m.key.s, m.key.n);
            if (r == 0) { /* a repeated key: Python keeps the last one; leave it to Python */
                rc = 1;
                goto out;
            }
            if (r < 0) break;
            members[at] = members[at - 1];
            at--;
        }
        members[at] = m;
        n++;
    }
    if ((rc = put(w, "[", 1))) goto out;
    for (Py_ssize_t k = 0; k < n; k++) {
        if ((k && (rc = put(w, ",", 1))) || (rc = put(w, "[\"", 2)) ||
            (rc = put(w, members[k].key.s, members[k].key.n)) || (rc = put(w, "\",", 2)) ||
            (rc = shape(w, &members[k].value, depth + 1)) || (rc = put(w, "]", 1)))
            goto out;
    }
    rc = put(w, "]", 1);
out:
    if (members != stack_members) PyMem_Free(members);
    return rc;
}

static int shape(Work *w, const Val *v, int depth) {
    if (depth > MAX_DEPTH) return 1;
    switch (v->kind) {
    case K_ABSENT:
    case K_NULL:
        return put(w, "n", 1);
    case K_TRUE:
        return put(w, "t", 1);
    case K_FALSE:
        return put(w, "f", 1);
    case K_INT:
    case K_FLOAT:
        return put_number(w, v);
    case K_STR: {
        int rc = put(w, "\"", 1);
        if (!rc) rc = put(w, v->s, v->n);
        if (!rc) rc = put(w, "\"", 1);
        return rc;
    }
    case K_OBJ:
        return shape_object(w, v, depth);
    case K_ARR: {
        Cur c = {v->s, v->s + v->n};
        int empty, done = 0, rc = put(w, "[", 1);
        arr_open(&c, &empty);
        for (int first = 1; !rc && !empty && !done; first = 0) {
            Val item;
            if (scan_value(&c, &item, depth) || next_or_close(&c, ']', &done)) return 1;
            if (!first) rc = put(w, ",", 1);
            if (!rc) rc = shape(w, &item, depth + 1);
        }
        if (!rc) rc = put(w, "]", 1);
        return rc;
    }
    default: /* escaped strings, big integers: Python's rules */
        return 1;
    }
}

/* The live regions of a result as Shaped entries; 1: leave the task to Python. */
static int shape_regions(Work *w, const Val *result) {
    if (result->kind == K_ABSENT || result->kind == K_NULL) return 0;
    if (result->kind != K_ARR) return 1;
    Cur c = {result->s, result->s + result->n};
    int empty, done = 0;
    arr_open(&c, &empty);
    while (!empty && !done) {
        ws(&c);
        if (c.p >= c.end || *c.p != '{') return 1;
        Val names[3], value;
        memset(names, 0, sizeof(names));
        memset(&value, 0, sizeof(value));
        unsigned seen = 0;
        int inner_empty, inner_done = 0;
        obj_open(&c, &inner_empty);
        while (!inner_empty && !inner_done) {
            Val key, v;
            if (obj_key(&c, &key) || scan_value(&c, &v, 2)) return 1;
            int odd_key = 0;
            int slot =
                key_slot(&key, FULL_REGION_KEYS, COUNT(FULL_REGION_KEYS), &seen, &odd_key);
            if (odd_key) return 1;
            if (slot >= 0) {
                if (slot == 3) value = v;
                else if (v.kind != K_STR && v.kind != K_NULL) return 1;
                else names[slot] = v;
            }
            if (next_or_close(&c, '}', &inner_done)) return 1;
        }
        if (!STR_IS(&names[2], "relation")) {
            GROW(w->shaped, w->shaped_len, w->shaped_cap, Shaped);
            Shaped *sh = &w->shaped[w->shaped_len];
            sh->key_off = w->keys_len;
            sh->num_off = w->nums_len;
            int rc = 0;
            for (int k = 0; k < 3 && !rc; k++) rc = shape(w, &names[k], 3);
            if (!rc) rc = shape(w, &value, 3);
            if (rc) return rc;
            sh->key_len = w->keys_len - sh->key_off;
            sh->num_len = w->nums_len - sh->num_off;
            w->shaped_len++;
        }
        if (next_or_close(&c, ']', &done)) return 1;
    }
    return 0;
}

/* Order of (key, numbers): keys as bytes, then the numbers as Python orders float lists. */
static int shaped_cmp(const Work *w, const Shaped *a, const Shaped *b) {
    int r = text_cmp((const unsigned char *)w->keys + a->key_off, a->key_len,
                     (const unsigned char *)w->keys + b->key_off, b->key_len);
    if (r) return r;
    Py_ssize_t n = a->num_len < b->num_len ? a->num_len : b->num_len;
    for (Py_ssize_t k = 0; k < n; k++) {
        double x = w->nums[a->num_off + k], y = w->nums[b->num_off + k];
        if (x < y) return -1;
        if (x > y) return 1;
    }
    return a->num_len < b->num_len ? -1 : (a->num_len > b->num_len ? 1 : 0);
}

static void sort_shaped(const Work *w, Shaped *items, Py_ssize_t n) {
    for (Py_ssize_t k = 1; k < n; k++) {
        Shaped item = items[k];
        Py_ssize_t at = k;
        while (at > 0 && shaped_cmp(w, &items[at - 1], &item) > 0) {
            items[at] = items[at - 1];
            at--;
        }
        items[at] = item;
    }
}

/* exports.geometrically_changed: 1 changed, 0 not, 2 leave it to Python, -3 no memory.
 * Sorting each side by (key, numbers) and walking both pairs every key's regions in
 * sorted order, as zip(sorted(...), sorted(...)) does per key; any key sequence that
 * differs means other keys or other counts. */
static int geometric(Work *w, const Val *mine, const Val *theirs) {
    w->keys_len = w->nums_len = w->shaped_len = 0;
    int rc = shape_regions(w, mine);
    if (rc) return rc == -3 ? -3 : 2;
    Py_ssize_t split = w->shaped_len;
    rc = shape_regions(w, theirs);
    if (rc) return rc == -3 ? -3 : 2;
    Py_ssize_t n = split, m = w->shaped_len - split;
    if (n != m) return 1;
    Shaped *a = w->shaped, *b = w->shaped + split;
    sort_shaped(w, a, n);
    sort_shaped(w, b, m);
    for (Py_ssize_t k = 0; k < n; k++) {
        if (text_cmp((const unsigned char *)w->keys + a[k].key_off, a[k].key_len,
                     (const unsigned char *)w->keys + b[k].key_off, b[k].key_len))
            return 1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        if (a[k].num_len != b[k].num_len) return 1;
        for (Py_ssize_t j = 0; j < a[k].num_len; j++) {
            double d = w->nums[a[k].num_off + j] - w->nums[b[k].num_off + j];
            if ((d < 0 ? -d : d) > w->tolerance) return 1;
        }
    }
    return 0;
}

enum Verdict { V_ACCEPTED, V_CORRECTED, V_UNKNOWN, V_ODD, V_NOMEM };

static int correction(Work *w, const Ann *chosen, const Source *src) {
    w->regions_len = 0;
    int rc = parse_regions(w, &chosen->result);
    if (rc) return rc == -3 ? V_NOMEM : V_ODD;
    Py_ssize_t mine = w->regions_len;
    int any_origin = 0;
    for (Py_ssize_t k = 0; k < mine; k++) {
        const Val *o = &w->regions[k].origin;
        if (o->kind != K_STR) continue;
        any_origin = 1;
        if (STR_IS(o, "prediction-changed") || STR_IS(o, "manual")) return V_CORRECTED;
    }
    if (!any_origin) {
        if (src->kind != SRC_KNOWN) return V_UNKNOWN;
        rc = geometric(w, &chosen->result, &src->pred->result);
        return rc == -3 ? V_NOMEM : rc == 2 ? V_ODD : rc ? V_CORRECTED : V_ACCEPTED;
    }
    if (src->kind != SRC_KNOWN) return V_ACCEPTED;
    rc = parse_regions(w, &src->pred->result);
    if (rc) return rc == -3 ? V_NOMEM : V_ODD;
    for (Py_ssize_t t = mine; t < w->regions_len; t++) {
        int found = 0;
        for (Py_ssize_t k = 0; k < mine && !found; k++)
            found = same_id(&w->regions[t].id, &w->regions[k].id);
        if (!found) return V_CORRECTED; /* the labeler deleted a predicted region */
    }
    return V_ACCEPTED;
}

/* ------------------------------------------------------------------ Python objects */

enum Column {
    C_STAMP, C_STATUS, C_HAS_SOURCE, C_CORRECTED, C_UNKNOWN, C_RELEASE, C_RELEASE_CREATED,
    C_PATH, C_RAW_FRAMES, C_PROJECT, C_TASK_ID, N_COLUMNS
};

static PyObject *s_reviewed, *s_skipped, *s_open, *s_empty;

#define CACHE 8
typedef struct {
    PyObject *obj[CACHE];
    int next;
} StrCache;

static PyObject *text(const Val *v) { return PyUnicode_DecodeUTF8((const char *)v->s, v->n, NULL); }

/* Release names repeat across tasks: one object each. */
static PyObject *cached_text(StrCache *cache, const Val *v) {
    for (int k = 0; k < CACHE; k++) {
        PyObject *o = cache->obj[k];
        if (o && PyUnicode_GET_LENGTH(o) <= v->n) {
            Py_ssize_t size;
            const char *u = PyUnicode_AsUTF8AndSize(o, &size);
            if (u && size == v->n && memcmp(u, v->s, (size_t)size) == 0) return Py_NewRef(o);
        }
    }
    PyObject *o = text(v);
    if (!o) return NULL;
    Py_XDECREF(cache->obj[cache->next]);
    cache->obj[cache->next] = Py_NewRef(o);
    cache->next = (cache->next + 1) % CACHE;
    return o;
}

static PyObject *value_object(const Val *v) {
    switch (v->kind) {
    case K_STR:
        return text(v);
    case K_INT:
        return PyLong_FromLongLong(v->i);
    default:
        return Py_NewRef(Py_None);
    }
}

/* urllib.parse.unquote of an ASCII string with a '%': "%XX" (two hex digits, either case)
 * is that byte, any other '%' stays; the bytes are decoded as UTF-8 with replacement. */
static PyObject *unquoted(const Val *v) {
    char small[512];
    char *out = v->n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)v->n);
    if (!out) return PyErr_NoMemory();
    Py_ssize_t o = 0;
    for (Py_ssize_t k = 0; k < v->n; k++) {
        int hi, lo;
        if (v->s[k] == '%' && k + 2 < v->n && (hi = hexval(v->s[k + 1])) >= 0 &&
            (lo = hexval(v->s[k + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            k += 2;
        } else {
            out[o++] = (char)v->s[k];
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8(out, o, "replace");
    if (out != small) PyMem_Free(out);
    return text;
}

/* The frame's path as `exports._decoded_paths` gives it: URL-decoded when it has a '%'.
 * *odd when that needs the general rule (non-ASCII beside a '%'). */
static PyObject *path_object(const Val *v, int *odd) {
    if (v->kind != K_STR) return Py_NewRef(Py_None);
    if (!memchr(v->s, '%', (size_t)v->n)) return text(v);
    for (Py_ssize_t k = 0; k < v->n; k++) {
        if (v->s[k] & 0x80) {
            *odd = 1;
            return NULL;
        }
    }
    return unquoted(v);
}

static int append_new(PyObject *list, PyObject *item) {
    if (!item) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static int append_task(PyObject **cols, StrCache *releases, Work *w, const Task *t,
                       const Keys *keys, int *odd) {
    const Ann *anns = NULL;
    Py_ssize_t n = 0;
    if (t->ann_len > 0) {
        anns = &w->anns[t->ann_start];
        n = t->ann_len;
    } else if (t->comp_len > 0) {
        anns = &w->anns[t->comp_start];
        n = t->comp_len;
    }
    const Val *stamp = plain_nonempty(&t->updated_at) ? &t->updated_at : NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        const Val *other = stamp_of(&anns[k]);
        if (stamp_cmp(other, stamp) > 0) stamp = other;
    }
    const Ann *chosen = n ? choose(anns, n) : NULL;
    Source src = find_source(chosen, w->preds, w->preds_len);
    int verdict = V_ACCEPTED;
    if (src.kind != SRC_NONE && chosen != NULL) {
        verdict = correction(w, chosen, &src);
        if (verdict == V_NOMEM) return -3;
        if (verdict == V_ODD) {
            *odd = 1;
            return 0;
        }
    }
    PyObject *status = chosen ? s_reviewed : (n ? s_skipped : s_open);
    PyObject *release = Py_None, *created = Py_None;
    int release_new = 0, created_new = 0;
    if (src.kind == SRC_KNOWN) {
        const Pred *p = src.pred;
        if (plain_nonempty(&p->model_version)) {
            release = cached_text(releases, &p->model_version);
            if (!release) return -3;
            release_new = 1;
        }
        if (p->created_at.kind == K_STR) {
            created = text(&p->created_at);
            if (!created) {
                if (release_new) Py_DECREF(release);
                return -3;
            }
            created_new = 1;
        }
    }
    int has_source = src.kind != SRC_NONE;
    PyObject *path = path_object(&t->path, odd);
    if (!path) {
        Py_XDECREF(release_new ? release : NULL);
        Py_XDECREF(created_new ? created : NULL);
        return *odd ? 0 : -3;
    }
    PyObject *frames;
    if (keys->frames_field == NULL) frames = Py_NewRef(Py_None);
    else if (keys->frames_field != keys->field) frames = value_object(&t->frames);
    else if (t->path.kind == K_STR && memchr(t->path.s, '%', (size_t)t->path.n))
        frames = text(&t->path); /* the raw value, not the decoded path */
    else frames = t->path.kind == K_STR ? Py_NewRef(path) : value_object(&t->path);
    int rc = 0;
    rc |= append_new(cols[C_STAMP], stamp ? text(stamp) : Py_NewRef(s_empty));
    rc |= PyList_Append(cols[C_STATUS], status);
    rc |= PyList_Append(cols[C_HAS_SOURCE], has_source && chosen ? Py_True : Py_False);
    rc |= PyList_Append(cols[C_CORRECTED],
                        has_source && chosen && verdict == V_CORRECTED ? Py_True : Py_False);
    rc |= PyList_Append(cols[C_UNKNOWN],
                        has_source && chosen && verdict == V_UNKNOWN ? Py_True : Py_False);
    rc |= append_new(cols[C_RELEASE], release_new ? release : Py_NewRef(Py_None));
    rc |= append_new(cols[C_RELEASE_CREATED], created_new ? created : Py_NewRef(Py_None));
    rc |= append_new(cols[C_PATH], path);
    rc |= append_new(cols[C_RAW_FRAMES], frames);
    rc |= append_new(cols[C_PROJECT], value_object(&t->project));
    rc |= append_new(cols[C_TASK_ID], PyLong_FromLongLong(t->id.i));
    return rc ? -3 : 0;
}

static int append_placeholders(PyObject **cols) {
    for (int k = 0; k < N_COLUMNS; k++)
        if (PyList_Append(cols[k], Py_None)) return -3;
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    const char *field, *frames_field;
    Py_ssize_t field_n, frames_n;
    double tolerance;
    if (!PyArg_ParseTuple(args, "y*s#z#d", &buf, &field, &field_n, &frames_field, &frames_n,
                          &tolerance))
        return NULL;
    Keys keys = {field, field_n, frames_field, frames_n};
    if (frames_field && frames_n == field_n && memcmp(frames_field, field, (size_t)field_n) == 0)
        keys.frames_field = field; /* the same key: raw_frames is the path's value */

    PyObject *cols[N_COLUMNS] = {0};
    PyObject *fallbacks = NULL, *result = NULL;
    StrCache releases = {{0}, 0};
    Work w = {0};
    w.tolerance = tolerance;
    int rc = 0;
    for (int k = 0; k < N_COLUMNS; k++)
        if (!(cols[k] = PyList_New(0))) goto done;
    if (!(fallbacks = PyList_New(0))) goto done;

    Cur c = {(const unsigned char *)buf.buf, (const unsigned char *)buf.buf + buf.len};
    const unsigned char *base = c.p;
    int empty, finished = 0;
    Py_ssize_t index = 0;
    ws(&c);
    if (c.p >= c.end || *c.p != '[') goto whole;
    arr_open(&c, &empty);
    if (empty) goto whole;
    while (!finished) {
        ws(&c);
        if (c.p >= c.end || *c.p != '{') goto whole; /* not a list of task objects */
        const unsigned char *start = c.p;
        Task t;
        int odd = 0;
        rc = parse_task(&c, &w, &t, &keys, &odd);
        if (rc == -1) goto whole;
        if (rc) goto nomem;
        if (!odd) {
            rc = append_task(cols, &releases, &w, &t, &keys, &odd);
            if (rc) goto nomem;
        }
        if (odd) {
            if (append_placeholders(cols)) goto nomem;
            PyObject *span = Py_BuildValue("(nnn)", index, (Py_ssize_t)(start - base),
                                           (Py_ssize_t)(c.p - base));
            if (append_new(fallbacks, span)) goto nomem;
        }
        index++;
        if (next_or_close(&c, ']', &finished)) goto whole;
    }
    ws(&c);
    if (c.p != c.end) goto whole;

    result = PyTuple_New(N_COLUMNS + 1);
    if (!result) goto done;
    for (int k = 0; k < N_COLUMNS; k++) {
        PyTuple_SET_ITEM(result, k, cols[k]);
        cols[k] = NULL;
    }
    PyTuple_SET_ITEM(result, N_COLUMNS, fallbacks);
    fallbacks = NULL;
    goto done;

whole:
    result = Py_NewRef(Py_None);
    goto done;
nomem:
    if (!PyErr_Occurred()) PyErr_NoMemory();
done:
    for (int k = 0; k < N_COLUMNS; k++) Py_XDECREF(cols[k]);
    Py_XDECREF(fallbacks);
    for (int k = 0; k < CACHE; k++) Py_XDECREF(releases.obj[k]);
    PyMem_Free(w.anns);
    PyMem_Free(w.preds);
    PyMem_Free(w.regions);
    PyMem_Free(w.keys);
    PyMem_Free(w.nums);
    PyMem_Free(w.shaped);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(buffer, field, frames_field, tolerance) -> (columns..., fallbacks) | None\n\n"
     "The per-task columns of a JSON list of Label Studio tasks, in file order; `fallbacks`\n"
     "lists (index, start, end) of tasks to read the ordinary way. None: read the whole\n"
     "file the ordinary way."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_scan", .m_size = -1, .m_methods = methods};

PyMODINIT_FUNC PyInit__scan(void) {
    init_tables();
    s_reviewed = PyUnicode_InternFromString("reviewed");
    s_skipped = PyUnicode_InternFromString("skipped");
    s_open = PyUnicode_InternFromString("open");
    s_empty = PyUnicode_InternFromString("");
    if (!s_reviewed || !s_skipped || !s_open || !s_empty) return NULL;
    return PyModule_Create(&module);
}
