/* Model test of the engine through its public API: random sequences of puts,
 * deletes, batches (mixing partitions and range deletes), range deletes,
 * snapshots, iterators in both directions with bounds, gets, reopen, flush,
 * compact_range and partition create/drop, each checked against an in-memory
 * reference model.
 *
 * Each run prints its seed; STRATA_SEED=n replays one seed; STRATA_SOAK=1 runs
 * many more and longer sequences. Seeds that once failed are kept in
 * regression_seeds[] and run first.
 *
 * The model: a fixed sorted set of distinct keys (random bytes, lengths 1..24,
 * so prefix compression, 0x00 and 0xff bytes are exercised); per partition slot
 * one optional value per key. Range deletes and iterator bounds use arbitrary
 * byte strings, compared bytewise like the engine. */
#include "test.h"

#include "engine/batch.h"
#include "engine/faultenv.h"
#include "strata/engine.h"
#include "util/env.h"
#include "util/rand.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS  512
#define MAX_SLOTS 5 /* slot 0 is the default partition */
#define MAX_SNAPS 3
#define LOG_LINES 40

typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

typedef struct mval {
    bool present;
    bytes v;
} mval;

typedef struct pstate {
    mval *vals; /* nkeys entries */
} pstate;

typedef struct mslot {
    bool live;
    uint32_t id;
    char name[32];
    pstate st;
} mslot;

typedef struct msnap {
    const strata_snapshot *snap;
    uint64_t seq;
    bool valid[MAX_SLOTS]; /* slot unchanged in identity since taken */
    pstate st[MAX_SLOTS];
} msnap;

/* One acknowledged write as the change log must return it. */
typedef struct wrec {
    uint64_t seq;
    uint8_t *data; /* encoded batch; bytes from 8 on (count, ops) must match */
    size_t len;
} wrec;

typedef struct model {
    rng_t rng;
    unsigned long long seed;
    const char *dir;
    strata_options opts;
    env_t *env; /* fault env with simulated syncs: fast, and the env seam is exercised */
    strata_db *db;
    int nkeys;
    bytes keys[MAX_KEYS];
    mslot slots[MAX_SLOTS];
    msnap snaps[MAX_SNAPS];
    uint64_t last_seq;
    wrec *wl; /* every acknowledged write, in order */
    int nwl, cwl;
    int wl_handed; /* writes before this index are surely handed to the OS */
    int name_counter;
    long op_no;
    char log[LOG_LINES][200];
    int log_n;
    bool failed;
} model;

/* ---- helpers ---- */

static int bcmp_(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int key_sort(const void *a, const void *b)
{
    const bytes *x = a, *y = b;
    return bcmp_(x->p, x->n, y->p, y->n);
}

static void hex(char *out, size_t cap, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", b[i]);
    if (n == 0 && cap) out[0] = 0;
    if (o + 3 >= cap && cap > 4) strcpy(out + cap - 4, "..");
}

static void note(model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->log[m->log_n % LOG_LINES], sizeof(m->log[0]), fmt, ap);
    va_end(ap);
    m->log_n++;
}

static void fail(model *m, const char *fmt, ...)
{
    if (m->failed) return;
    m->failed = true;
    test__failures++;
    fprintf(stderr, "MODEL MISMATCH seed=%llu op#%ld: ", m->seed, m->op_no);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  errmsg: %s\n  last operations (oldest first):\n", strata_errmsg());
    int start = m->log_n > LOG_LINES ? m->log_n - LOG_LINES : 0;
    for (int i = start; i < m->log_n; i++) fprintf(stderr, "    %s\n", m->log[i % LOG_LINES]);
}

static void rand_bytes(model *m, uint8_t *p, size_t n)
{
    /* Mostly a small alphabet so that keys share prefixes; sometimes any byte. */
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_below(&m->rng, 16);
        p[i] = r < 12 ? (uint8_t)('a' + rng_below(&m->rng, 4)) : (uint8_t)rng_below(&m->rng, 256);
    }
}

static bytes rand_key_like(model *m)
{
    bytes b;
    b.n = 1 + rng_below(&m->rng, 24);
    b.p = malloc(b.n);
    rand_bytes(m, b.p, b.n);
    return b;
}

/* A value: mostly small, sometimes empty, sometimes larger than a block. */
static bytes rand_value(model *m)
{
    bytes b;
    uint64_t r = rng_below(&m->rng, 100);
    b.n = r < 5 ? 0 : r < 90 ? rng_below(&m->rng, 64) : r < 98 ? rng_below(&m->rng, 2000) : 9000;
    b.p = malloc(b.n ? b.n : 1);
    uint64_t x = rng_next(&m->rng);
    for (size_t i = 0; i < b.n; i++) b.p[i] = (uint8_t)(x >> ((i % 8) * 8)) ^ (uint8_t)i;
    return b;
}

static void pstate_init(pstate *s, int n)
{
    s->vals = calloc((size_t)n, sizeof(mval));
}

static void pstate_free(pstate *s, int n)
{
    if (!s->vals) return;
    for (int i = 0; i < n; i++) free(s->vals[i].v.p);
    free(s->vals);
    s->vals = NULL;
}

static void pstate_copy(pstate *dst, const pstate *src, int n)
{
    pstate_init(dst, n);
    for (int i = 0; i < n; i++) {
        dst->vals[i].present = src->vals[i].present;
        if (src->vals[i].present) {
            dst->vals[i].v.n = src->vals[i].v.n;
            dst->vals[i].v.p = malloc(src->vals[i].v.n ? src->vals[i].v.n : 1);
            memcpy(dst->vals[i].v.p, src->vals[i].v.p, src->vals[i].v.n);
        }
    }
}

static void mset(pstate *s, int k, const bytes *v)
{
    free(s->vals[k].v.p);
    s->vals[k].present = true;
    s->vals[k].v.n = v->n;
    s->vals[k].v.p = malloc(v->n ? v->n : 1);
    memcpy(s->vals[k].v.p, v->p, v->n);
}

static void mdel(pstate *s, int k)
{
    free(s->vals[k].v.p);
    s->vals[k].v.p = NULL;
    s->vals[k].present = false;
}

static void mdel_range(model *m, pstate *s, const bytes *a, const bytes *b)
{
    for (int k = 0; k < m->nkeys; k++)
        if (bcmp_(m->keys[k].p, m->keys[k].n, a->p, a->n) >= 0 &&
            bcmp_(m->keys[k].p, m->keys[k].n, b->p, b->n) < 0)
            mdel(s, k);
}

static int live_slot(model *m)
{
    int c[MAX_SLOTS], n = 0;
    for (int i = 0; i < MAX_SLOTS; i++)
        if (m->slots[i].live) c[n++] = i;
    return c[rng_below(&m->rng, (uint64_t)n)];
}

/* A range bound: a model key, a random string, or a key with a suffix. */
static bytes rand_bound(model *m)
{
    uint64_t r = rng_below(&m->rng, 3);
    if (r == 0) return rand_key_like(m);
    const bytes *k = &m->keys[rng_below(&m->rng, (uint64_t)m->nkeys)];
    bytes b;
    b.n = k->n + (r == 2);
    b.p = malloc(b.n);
    memcpy(b.p, k->p, k->n);
    if (r == 2) b.p[k->n] = 0;
    return b;
}

/* start < end */
static void rand_range(model *m, bytes *a, bytes *b)
{
    for (;;) {
        *a = rand_bound(m);
        *b = rand_bound(m);
        int c = bcmp_(a->p, a->n, b->p, b->n);
        if (c > 0) {
            bytes t = *a;
            *a = *b;
            *b = t;
        }
        if (c != 0) return;
        free(a->p);
        free(b->p);
    }
}

static void rand_wopts(model *m, strata_write_options *w)
{
    strata_write_options_init(w);
    w->durability = (int)rng_below(&m->rng, 3);
}

static void record(model *m, uint64_t seq, strata_batch *b, int durability)
{
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    if (m->nwl == m->cwl) {
        m->cwl = m->cwl ? m->cwl * 2 : 256;
        m->wl = realloc(m->wl, sizeof(wrec) * (size_t)m->cwl);
    }
    wrec *w = &m->wl[m->nwl++];
    w->seq = seq;
    w->len = len;
    w->data = malloc(len);
    memcpy(w->data, d, len);
    /* A DUR_NONE write may wait in the WAL writer's buffer, unseen by the
     * change log, until a later write hands the buffer to the OS. */
    if (durability >= STRATA_DUR_BUFFERED) m->wl_handed = m->nwl;
}

/* ---- the engine side ---- */

static bool do_open(model *m)
{
    int rc = strata_open(m->dir, &m->opts, &m->db);
    if (rc) {
        fail(m, "strata_open: %d", rc);
        m->db = NULL;
        return false;
    }
    return true;
}

static void write_done(model *m, const char *what, int rc, uint64_t seq, uint32_t count)
{
    if (rc) {
        fail(m, "%s returned %d", what, rc);
        return;
    }
    if (seq != m->last_seq + 1)
        fail(m, "%s: seq %llu, want %llu", what, (unsigned long long)seq,
             (unsigned long long)m->last_seq + 1);
    m->last_seq += count;
    uint64_t ls = strata_last_sequence(m->db);
    if (ls != m->last_seq)
        fail(m, "%s: last_sequence %llu, want %llu", what, (unsigned long long)ls,
             (unsigned long long)m->last_seq);
}

static void op_put(model *m)
{
    int s = live_slot(m), k = (int)rng_below(&m->rng, (uint64_t)m->nkeys);
    bytes v = rand_value(m);
    strata_write_options w;
    rand_wopts(m, &w);
    char kh[64];
    hex(kh, sizeof(kh), m->keys[k].p, m->keys[k].n);
    note(m, "#%ld put slot%d(id %u) key %s vlen %zu dur %d", m->op_no, s, m->slots[s].id, kh, v.n,
         w.durability);
    uint64_t seq = 0;
    int rc = strata_put(m->db, &w, m->slots[s].id, m->keys[k].p, m->keys[k].n, v.p, v.n, &seq);
    write_done(m, "put", rc, seq, 1);
    strata_batch *rb = strata_batch_new();
    strata_batch_put(rb, m->slots[s].id, m->keys[k].p, m->keys[k].n, v.p, v.n);
    if (!rc) record(m, seq, rb, w.durability);
    strata_batch_free(rb);
    mset(&m->slots[s].st, k, &v);
    free(v.p);
}

static void op_delete(model *m)
{
    int s = live_slot(m), k = (int)rng_below(&m->rng, (uint64_t)m->nkeys);
    strata_write_options w;
    rand_wopts(m, &w);
    char kh[64];
    hex(kh, sizeof(kh), m->keys[k].p, m->keys[k].n);
    note(m, "#%ld delete slot%d(id %u) key %s", m->op_no, s, m->slots[s].id, kh);
    uint64_t seq = 0;
    int rc = strata_delete(m->db, &w, m->slots[s].id, m->keys[k].p, m->keys[k].n, &seq);
    write_done(m, "delete", rc, seq, 1);
    strata_batch *rb = strata_batch_new();
    strata_batch_delete(rb, m->slots[s].id, m->keys[k].p, m->keys[k].n);
    if (!rc) record(m, seq, rb, w.durability);
    strata_batch_free(rb);
    mdel(&m->slots[s].st, k);
}

static void op_delete_range(model *m)
{
    int s = live_slot(m);
    bytes a, b;
    rand_range(m, &a, &b);
    strata_write_options w;
    rand_wopts(m, &w);
    char ah[64], bh[64];
    hex(ah, sizeof(ah), a.p, a.n);
    hex(bh, sizeof(bh), b.p, b.n);
    note(m, "#%ld delete_range slot%d(id %u) [%s, %s)", m->op_no, s, m->slots[s].id, ah, bh);
    uint64_t seq = 0;
    int rc = strata_delete_range(m->db, &w, m->slots[s].id, a.p, a.n, b.p, b.n, &seq);
    write_done(m, "delete_range", rc, seq, 1);
    strata_batch *rb = strata_batch_new();
    strata_batch_delete_range(rb, m->slots[s].id, a.p, a.n, b.p, b.n);
    if (!rc) record(m, seq, rb, w.durability);
    strata_batch_free(rb);
    mdel_range(m, &m->slots[s].st, &a, &b);
    free(a.p);
    free(b.p);
}

static void op_batch(model *m)
{
    strata_batch *b = strata_batch_new();
    int n = 1 + (int)rng_below(&m->rng, 20);
    char line[200];
    int o = snprintf(line, sizeof(line), "#%ld batch of %d:", m->op_no, n);
    for (int i = 0; i < n; i++) {
        int s = live_slot(m), k = (int)rng_below(&m->rng, (uint64_t)m->nkeys);
        uint64_t r = rng_below(&m->rng, 10);
        uint32_t id = m->slots[s].id;
        if (r < 6) {
            bytes v = rand_value(m);
            if (strata_batch_put(b, id, m->keys[k].p, m->keys[k].n, v.p, v.n))
                fail(m, "batch_put failed");
            mset(&m->slots[s].st, k, &v);
            free(v.p);
            if (o < 180) o += snprintf(line + o, sizeof(line) - (size_t)o, " P%d/%d", s, k);
        } else if (r < 9) {
            if (strata_batch_delete(b, id, m->keys[k].p, m->keys[k].n))
                fail(m, "batch_delete failed");
            mdel(&m->slots[s].st, k);
            if (o < 180) o += snprintf(line + o, sizeof(line) - (size_t)o, " D%d/%d", s, k);
        } else {
            bytes x, y;
            rand_range(m, &x, &y);
            if (strata_batch_delete_range(b, id, x.p, x.n, y.p, y.n))
                fail(m, "batch_delete_range failed");
            mdel_range(m, &m->slots[s].st, &x, &y);
            free(x.p);
            free(y.p);
            if (o < 180) o += snprintf(line + o, sizeof(line) - (size_t)o, " R%d", s);
        }
    }
    note(m, "%s", line);
    if (strata_batch_count(b) != (uint32_t)n)
        fail(m, "batch_count %u, want %d", strata_batch_count(b), n);
    strata_write_options w;
    rand_wopts(m, &w);
    uint64_t seq = 0;
    int rc = strata_write(m->db, &w, b, &seq);
    write_done(m, "write", rc, seq, (uint32_t)n);
    if (!rc) record(m, seq, b, w.durability);
    strata_batch_free(b);
}

/* Compares one get against the model state st. */
static void check_get(model *m, const strata_read_options *r, int slot, const pstate *st, int k,
                      const char *ctx)
{
    void *v = NULL;
    size_t vn = 0;
    int rc = strata_get(m->db, r, m->slots[slot].id, m->keys[k].p, m->keys[k].n, &v, &vn);
    const mval *want = &st->vals[k];
    char kh[64];
    hex(kh, sizeof(kh), m->keys[k].p, m->keys[k].n);
    if (want->present) {
        if (rc != 0)
            fail(m, "%s get slot%d key#%d %s: rc %d, want value of %zu bytes", ctx, slot, k, kh, rc,
                 want->v.n);
        else if (vn != want->v.n || (vn && memcmp(v, want->v.p, vn)))
            fail(m, "%s get slot%d key#%d %s: wrong value (%zu bytes, want %zu)", ctx, slot, k, kh,
                 vn, want->v.n);
    } else if (rc != STRATA_ENOTFOUND) {
        fail(m, "%s get slot%d key#%d %s: rc %d (vlen %zu), want ENOTFOUND", ctx, slot, k, kh, rc,
             vn);
    }
    if (rc == 0) strata_free(v);
}

static void op_gets(model *m)
{
    strata_read_options r;
    strata_read_options_init(&r);
    int si = (int)rng_below(&m->rng, MAX_SNAPS + 1);
    const pstate *base = NULL;
    int s = live_slot(m);
    if (si < MAX_SNAPS && m->snaps[si].snap && m->snaps[si].valid[s]) {
        r.snapshot = m->snaps[si].snap;
        base = &m->snaps[si].st[s];
    } else {
        base = &m->slots[s].st;
        si = -1;
    }
    note(m, "#%ld gets slot%d snap %d", m->op_no, s, si);
    for (int i = 0; i < 16 && !m->failed; i++)
        check_get(m, &r, s, base, (int)rng_below(&m->rng, (uint64_t)m->nkeys), "");
}

/* Model iterator position: index into keys, -1 = invalid. */
static bool in_bounds(model *m, int k, const bytes *lo, const bytes *hi)
{
    if (lo && bcmp_(m->keys[k].p, m->keys[k].n, lo->p, lo->n) < 0) return false;
    if (hi && bcmp_(m->keys[k].p, m->keys[k].n, hi->p, hi->n) >= 0) return false;
    return true;
}

static int m_next_from(model *m, const pstate *st, int k, const bytes *lo, const bytes *hi)
{
    for (; k < m->nkeys; k++)
        if (k >= 0 && st->vals[k].present && in_bounds(m, k, lo, hi)) return k;
    return -1;
}

static int m_prev_from(model *m, const pstate *st, int k, const bytes *lo, const bytes *hi)
{
    for (; k >= 0; k--)
        if (k < m->nkeys && st->vals[k].present && in_bounds(m, k, lo, hi)) return k;
    return -1;
}

/* First model index whose key >= t (nkeys if none). */
static int lower_index(model *m, const bytes *t)
{
    int lo = 0, hi = m->nkeys;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (bcmp_(m->keys[mid].p, m->keys[mid].n, t->p, t->n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void check_pos(model *m, strata_iter *it, const pstate *st, int want, const char *what)
{
    bool valid = strata_iter_valid(it);
    if (want < 0) {
        if (valid) {
            size_t kn;
            const void *kp = strata_iter_key(it, &kn);
            char kh[64];
            hex(kh, sizeof(kh), kp, kn);
            fail(m, "iter %s: at key %s, want invalid", what, kh);
        } else if (strata_iter_status(it) != 0) {
            fail(m, "iter %s: status %d", what, strata_iter_status(it));
        }
        return;
    }
    char wh[64];
    hex(wh, sizeof(wh), m->keys[want].p, m->keys[want].n);
    if (!valid) {
        fail(m, "iter %s: invalid (status %d), want key#%d %s", what, strata_iter_status(it), want,
             wh);
        return;
    }
    size_t kn, vn;
    const void *kp = strata_iter_key(it, &kn);
    const void *vp = strata_iter_value(it, &vn);
    if (bcmp_(kp, kn, m->keys[want].p, m->keys[want].n) != 0) {
        char kh[64];
        hex(kh, sizeof(kh), kp, kn);
        fail(m, "iter %s: at key %s, want key#%d %s", what, kh, want, wh);
        return;
    }
    const mval *mv = &st->vals[want];
    if (vn != mv->v.n || (vn && memcmp(vp, mv->v.p, vn)))
        fail(m, "iter %s: key#%d %s has a wrong value (%zu bytes, want %zu)", what, want, wh, vn,
             mv->v.n);
}

static void op_iter(model *m)
{
    strata_read_options r;
    strata_read_options_init(&r);
    int s = live_slot(m);
    int si = (int)rng_below(&m->rng, MAX_SNAPS + 2);
    pstate copy;
    const pstate *st;
    if (si < MAX_SNAPS && m->snaps[si].snap && m->snaps[si].valid[s]) {
        r.snapshot = m->snaps[si].snap;
        st = &m->snaps[si].st[s];
    } else {
        si = -1;
        pstate_copy(&copy, &m->slots[s].st, m->nkeys);
        st = &copy;
    }
    bytes lo = {0}, hi = {0};
    bool has_lo = rng_below(&m->rng, 3) == 0, has_hi = rng_below(&m->rng, 3) == 0;
    if (has_lo && has_hi) {
        rand_range(m, &lo, &hi);
    } else if (has_lo) {
        lo = rand_bound(m);
    } else if (has_hi) {
        hi = rand_bound(m);
    }
    if (has_lo) {
        r.lower_bound = lo.p;
        r.lower_len = lo.n;
    }
    if (has_hi) {
        r.upper_bound = hi.p;
        r.upper_len = hi.n;
    }
    r.fill_cache = rng_below(&m->rng, 2);
    const bytes *plo = has_lo ? &lo : NULL, *phi = has_hi ? &hi : NULL;
    char lh[64] = "-", hh[64] = "-";
    if (has_lo) hex(lh, sizeof(lh), lo.p, lo.n);
    if (has_hi) hex(hh, sizeof(hh), hi.p, hi.n);
    note(m, "#%ld iter slot%d snap %d bounds [%s, %s)", m->op_no, s, si, lh, hh);
    strata_iter *it = NULL;
    int rc = strata_iter_new(m->db, &r, m->slots[s].id, &it);
    if (rc) {
        fail(m, "iter_new: %d", rc);
        goto out;
    }
    /* Writes after creation must not show (a consistent view). */
    if (si < 0 && rng_below(&m->rng, 4) == 0) {
        if (rng_below(&m->rng, 2))
            op_put(m);
        else
            op_delete_range(m);
    }
    int pos = -1;
    int steps = 5 + (int)rng_below(&m->rng, 60);
    for (int i = 0; i < steps && !m->failed; i++) {
        uint64_t r2 = rng_below(&m->rng, 100);
        char what[120];
        if (r2 < 8) {
            strata_iter_seek_first(it);
            pos = m_next_from(m, st, 0, plo, phi);
            snprintf(what, sizeof(what), "seek_first");
        } else if (r2 < 16) {
            strata_iter_seek_last(it);
            pos = m_prev_from(m, st, m->nkeys - 1, plo, phi);
            snprintf(what, sizeof(what), "seek_last");
        } else if (r2 < 28) {
            bytes t = rand_bound(m);
            strata_iter_seek(it, t.p, t.n);
            int k = lower_index(m, &t);
            /* Seeking below the lower bound lands on the first key in bounds. */
            pos = m_next_from(m, st, k, plo, phi);
            hex(what, 60, t.p, t.n);
            memmove(what + 5, what, strlen(what) + 1);
            memcpy(what, "seek ", 5);
            free(t.p);
        } else if (r2 < 38) {
            bytes t = rand_bound(m);
            strata_iter_seek_for_prev(it, t.p, t.n);
            int k = lower_index(m, &t);
            if (k == m->nkeys || bcmp_(m->keys[k].p, m->keys[k].n, t.p, t.n) != 0) k--;
            pos = m_prev_from(m, st, k, plo, phi);
            hex(what, 60, t.p, t.n);
            memmove(what + 13, what, strlen(what) + 1);
            memcpy(what, "seek_for_prev", 13);
            free(t.p);
        } else if (r2 < 70) {
            if (pos < 0) continue;
            strata_iter_next(it);
            pos = m_next_from(m, st, pos + 1, plo, phi);
            snprintf(what, sizeof(what), "next");
        } else {
            if (pos < 0) continue;
            strata_iter_prev(it);
            pos = m_prev_from(m, st, pos - 1, plo, phi);
            snprintf(what, sizeof(what), "prev");
        }
        note(m, "   iter %s -> want %d", what, pos);
        check_pos(m, it, st, pos, what);
    }
    strata_iter_free(it);
out:
    if (si < 0) pstate_free(&copy, m->nkeys);
    free(lo.p);
    free(hi.p);
}

/* Walks a whole partition forward (and sometimes backward) against st. */
static void full_check_slot(model *m, int s, const strata_snapshot *snap, const pstate *st,
                            const char *ctx)
{
    strata_read_options r;
    strata_read_options_init(&r);
    r.snapshot = snap;
    strata_iter *it = NULL;
    int rc = strata_iter_new(m->db, &r, m->slots[s].id, &it);
    if (rc) {
        fail(m, "%s: iter_new slot%d: %d", ctx, s, rc);
        return;
    }
    int pos = m_next_from(m, st, 0, NULL, NULL);
    strata_iter_seek_first(it);
    check_pos(m, it, st, pos, ctx);
    while (pos >= 0 && !m->failed) {
        strata_iter_next(it);
        pos = m_next_from(m, st, pos + 1, NULL, NULL);
        check_pos(m, it, st, pos, ctx);
    }
    if (!m->failed && rng_below(&m->rng, 2)) {
        pos = m_prev_from(m, st, m->nkeys - 1, NULL, NULL);
        strata_iter_seek_last(it);
        check_pos(m, it, st, pos, ctx);
        while (pos >= 0 && !m->failed) {
            strata_iter_prev(it);
            pos = m_prev_from(m, st, pos - 1, NULL, NULL);
            check_pos(m, it, st, pos, ctx);
        }
    }
    strata_iter_free(it);
    for (int k = 0; k < m->nkeys && !m->failed; k++) check_get(m, &r, s, st, k, ctx);
}

static void full_check(model *m, const char *ctx)
{
    for (int s = 0; s < MAX_SLOTS && !m->failed; s++) {
        if (!m->slots[s].live) continue;
        full_check_slot(m, s, NULL, &m->slots[s].st, ctx);
        uint32_t id;
        int rc = strata_partition_find(m->db, m->slots[s].name, &id);
        if (rc || id != m->slots[s].id)
            fail(m, "%s: partition_find(%s): rc %d id %u, want %u", ctx, m->slots[s].name, rc, id,
                 m->slots[s].id);
        const char *nm = strata_partition_name(m->db, m->slots[s].id);
        if (!nm || strcmp(nm, m->slots[s].name))
            fail(m, "%s: partition_name(%u) = %s, want %s", ctx, m->slots[s].id, nm ? nm : "NULL",
                 m->slots[s].name);
    }
    int live = 0;
    for (int s = 0; s < MAX_SLOTS; s++) live += m->slots[s].live;
    uint32_t ids[16];
    int n = strata_partition_list(m->db, ids, 16);
    if (n != live) fail(m, "%s: partition_list gives %d, want %d", ctx, n, live);
}

/* Reads the change log from a random acknowledged write: the batches come
 * back in order, byte for byte, then "caught up". */
static void op_changes(model *m)
{
    if (!m->nwl) return;
    int i = (int)rng_below(&m->rng, (uint64_t)m->nwl);
    uint64_t oldest = strata_changes_oldest(m->db);
    note(m, "#%ld changes from %llu (oldest %llu)", m->op_no, (unsigned long long)m->wl[i].seq,
         (unsigned long long)oldest);
    strata_changes *c = NULL;
    int rc = strata_changes_open(m->db, m->wl[i].seq, &c);
    if (m->wl[i].seq < oldest) {
        if (rc != STRATA_EGONE) fail(m, "changes_open below the oldest: %d, want EGONE", rc);
        if (rc == 0) strata_changes_close(c);
        return;
    }
    if (rc) {
        fail(m, "changes_open(%llu): %d", (unsigned long long)m->wl[i].seq, rc);
        return;
    }
    int j = i;
    for (; j < m->nwl && j < i + 80 && !m->failed; j++) {
        uint64_t seq;
        const void *data;
        size_t len;
        rc = strata_changes_next(c, &seq, &data, &len);
        const wrec *w = &m->wl[j];
        if (rc == STRATA_ENOTFOUND && j >= m->wl_handed) break; /* still buffered */
        if (rc)
            fail(m, "changes_next for write at %llu: %d", (unsigned long long)w->seq, rc);
        else if (seq != w->seq || len != w->len ||
                 memcmp((const uint8_t *)data + 8, w->data + 8, len - 8))
            fail(m, "change log: got seq %llu (%zu bytes), want seq %llu (%zu bytes)",
                 (unsigned long long)seq, len, (unsigned long long)w->seq, w->len);
    }
    if (j == m->nwl && !m->failed && rc == 0) {
        uint64_t seq;
        const void *data;
        size_t len;
        rc = strata_changes_next(c, &seq, &data, &len);
        if (rc != STRATA_ENOTFOUND)
            fail(m, "change log past the last write: %d (seq %llu), want ENOTFOUND", rc,
                 rc ? 0ull : (unsigned long long)seq);
    }
    strata_changes_close(c);
}

static void op_snapshot(model *m)
{
    int i = (int)rng_below(&m->rng, MAX_SNAPS);
    msnap *sn = &m->snaps[i];
    if (sn->snap) {
        note(m, "#%ld snapshot %d release", m->op_no, i);
        if (!m->failed && rng_below(&m->rng, 3) == 0)
            for (int s = 0; s < MAX_SLOTS; s++)
                if (sn->valid[s] && m->slots[s].live)
                    full_check_slot(m, s, sn->snap, &sn->st[s], "snapshot check");
        strata_snapshot_release(m->db, sn->snap);
        sn->snap = NULL;
        for (int s = 0; s < MAX_SLOTS; s++) pstate_free(&sn->st[s], m->nkeys);
        return;
    }
    note(m, "#%ld snapshot %d new at %llu", m->op_no, i, (unsigned long long)m->last_seq);
    sn->snap = strata_snapshot_new(m->db);
    if (!sn->snap) {
        fail(m, "snapshot_new returned NULL");
        return;
    }
    sn->seq = strata_snapshot_sequence(sn->snap);
    if (sn->seq != m->last_seq)
        fail(m, "snapshot sequence %llu, want %llu", (unsigned long long)sn->seq,
             (unsigned long long)m->last_seq);
    for (int s = 0; s < MAX_SLOTS; s++) {
        sn->valid[s] = m->slots[s].live;
        if (sn->valid[s]) pstate_copy(&sn->st[s], &m->slots[s].st, m->nkeys);
    }
}

static void release_all_snaps(model *m)
{
    for (int i = 0; i < MAX_SNAPS; i++) {
        msnap *sn = &m->snaps[i];
        if (!sn->snap) continue;
        if (m->db) strata_snapshot_release(m->db, sn->snap);
        sn->snap = NULL;
        for (int s = 0; s < MAX_SLOTS; s++) pstate_free(&sn->st[s], m->nkeys);
    }
}

static void op_reopen(model *m)
{
    note(m, "#%ld reopen", m->op_no);
    release_all_snaps(m);
    int rc = strata_close(m->db);
    m->db = NULL;
    if (rc) fail(m, "close: %d", rc);
    if (!do_open(m)) return;
    m->wl_handed = m->nwl; /* close wrote everything */
    uint64_t ls = strata_last_sequence(m->db);
    if (ls != m->last_seq)
        fail(m, "after reopen last_sequence %llu, want %llu", (unsigned long long)ls,
             (unsigned long long)m->last_seq);
    full_check(m, "after reopen");
}

static void op_flush(model *m)
{
    bool wait = rng_below(&m->rng, 2);
    note(m, "#%ld flush wait=%d", m->op_no, wait);
    int rc = strata_flush(m->db, wait);
    if (rc) fail(m, "flush: %d", rc);
}

static void op_compact(model *m)
{
    int s = live_slot(m);
    bytes a = {0}, b = {0};
    bool bounded = rng_below(&m->rng, 2);
    if (bounded) rand_range(m, &a, &b);
    note(m, "#%ld compact_range slot%d %s", m->op_no, s, bounded ? "bounded" : "all");
    int rc = strata_compact_range(m->db, m->slots[s].id, bounded ? a.p : NULL, a.n,
                                  bounded ? b.p : NULL, b.n);
    if (rc) fail(m, "compact_range: %d", rc);
    free(a.p);
    free(b.p);
}

static void op_partition(model *m)
{
    int free_slot = -1, used[MAX_SLOTS], nused = 0;
    for (int s = 1; s < MAX_SLOTS; s++) {
        if (!m->slots[s].live && free_slot < 0) free_slot = s;
        if (m->slots[s].live) used[nused++] = s;
    }
    bool create = free_slot > 0 && (nused == 0 || rng_below(&m->rng, 2));
    if (create) {
        mslot *sl = &m->slots[free_slot];
        snprintf(sl->name, sizeof(sl->name), "p%d", ++m->name_counter);
        note(m, "#%ld partition_create %s (slot%d)", m->op_no, sl->name, free_slot);
        int rc = strata_partition_create(m->db, sl->name, &sl->id);
        if (rc) {
            fail(m, "partition_create: %d", rc);
            return;
        }
        uint32_t dup;
        rc = strata_partition_create(m->db, sl->name, &dup);
        if (rc != STRATA_EEXIST) fail(m, "partition_create twice: %d, want EEXIST", rc);
        for (int s = 0; s < MAX_SLOTS; s++)
            if (m->slots[s].live && m->slots[s].id == sl->id)
                fail(m, "partition_create reused live id %u", sl->id);
        sl->live = true;
        pstate_init(&sl->st, m->nkeys);
        return;
    }
    if (nused == 0) return;
    int s = used[rng_below(&m->rng, (uint64_t)nused)];
    note(m, "#%ld partition_drop %s (slot%d id %u)", m->op_no, m->slots[s].name, s, m->slots[s].id);
    int rc = strata_partition_drop(m->db, m->slots[s].id);
    if (rc) fail(m, "partition_drop: %d", rc);
    uint32_t id;
    rc = strata_partition_find(m->db, m->slots[s].name, &id);
    if (rc != STRATA_ENOTFOUND) fail(m, "partition_find after drop: %d", rc);
    m->slots[s].live = false;
    pstate_free(&m->slots[s].st, m->nkeys);
    for (int i = 0; i < MAX_SNAPS; i++) {
        if (m->snaps[i].valid[s]) pstate_free(&m->snaps[i].st[s], m->nkeys);
        m->snaps[i].valid[s] = false;
    }
}

/* ---- driver ---- */

static void model_setup(model *m, unsigned long long seed, const char *dir)
{
    memset(m, 0, sizeof(*m));
    m->seed = seed;
    m->dir = dir;
    rng_seed(&m->rng, seed);
    m->nkeys = 20 + (int)rng_below(&m->rng, MAX_KEYS - 20);
    int n = 0;
    while (n < m->nkeys) {
        m->keys[n++] = rand_key_like(m);
        if (n == m->nkeys) {
            qsort(m->keys, (size_t)n, sizeof(bytes), key_sort);
            int u = 1;
            for (int i = 1; i < n; i++) {
                if (key_sort(&m->keys[i], &m->keys[u - 1]) == 0)
                    free(m->keys[i].p);
                else
                    m->keys[u++] = m->keys[i];
            }
            n = u;
        }
    }
    strata_options_init(&m->opts);
    m->env = faultenv_new(env_posix());
    faultenv_real_sync(m->env, false);
    m->opts.env = m->env;
    static const size_t memtables[] = {64 << 10, 64 << 10, 256 << 10, 4 << 20};
    m->opts.memtable_bytes = memtables[rng_below(&m->rng, 4)];
    m->opts.block_size_bytes = (size_t)(256 << rng_below(&m->rng, 5));
    m->opts.block_restart_interval = 1 + (int)rng_below(&m->rng, 16);
    m->opts.bloom_bits_per_key = (int)rng_below(&m->rng, 3) * 5;
    m->opts.compression = (int)rng_below(&m->rng, 3);
    m->opts.block_cache_bytes = rng_below(&m->rng, 2) ? (64 << 10) : (8 << 20);
    m->opts.table_cache_files = 16 + (int)rng_below(&m->rng, 100);
    m->opts.level0_compaction_trigger = 2 + (int)rng_below(&m->rng, 3);
    m->opts.level1_max_bytes = 1 << 20;
    m->opts.level_size_ratio = 2 + (int)rng_below(&m->rng, 4);
    m->opts.target_file_bytes = (uint64_t)(64 << 10) << rng_below(&m->rng, 3);
    m->opts.wal_file_bytes = (uint64_t)(64 << 10) << rng_below(&m->rng, 5);
    for (int s = 0; s < MAX_SLOTS; s++) m->slots[s].live = false;
    m->slots[0].live = true;
    m->slots[0].id = 0;
    snprintf(m->slots[0].name, sizeof(m->slots[0].name), "default");
    pstate_init(&m->slots[0].st, m->nkeys);
}

static void model_teardown(model *m)
{
    release_all_snaps(m);
    if (m->db) strata_close(m->db);
    m->db = NULL;
    for (int s = 0; s < MAX_SLOTS; s++) pstate_free(&m->slots[s].st, m->nkeys);
    for (int k = 0; k < m->nkeys; k++) free(m->keys[k].p);
    for (int i = 0; i < m->nwl; i++) free(m->wl[i].data);
    free(m->wl);
    faultenv_free(m->env);
}

/* One random sequence of nops operations; returns false on a mismatch. */
static bool run_seed(unsigned long long seed, long nops)
{
    static model m;
    char name[64];
    snprintf(name, sizeof(name), "model.%llu", seed);
    const char *d = test_tmpdir(name);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", d);
    model_setup(&m, seed, dir);
    fprintf(stderr, "model seed %llu: %ld ops, %d keys, memtable %zu, block %zu, comp %d\n", seed,
            nops, m.nkeys, m.opts.memtable_bytes, m.opts.block_size_bytes, m.opts.compression);
    if (do_open(&m)) {
        int pname = strata_partition_name(m.db, 0) ? 0 : -1;
        if (pname == 0) snprintf(m.slots[0].name, 32, "%s", strata_partition_name(m.db, 0));
        for (m.op_no = 0; m.op_no < nops && !m.failed && m.db; m.op_no++) {
            uint64_t r = rng_below(&m.rng, 1000);
            if (r < 400)
                op_put(&m);
            else if (r < 520)
                op_delete(&m);
            else if (r < 560)
                op_delete_range(&m);
            else if (r < 680)
                op_batch(&m);
            else if (r < 800)
                op_gets(&m);
            else if (r < 900)
                op_iter(&m);
            else if (r < 930)
                op_snapshot(&m);
            else if (r < 945)
                op_flush(&m);
            else if (r < 955)
                op_compact(&m);
            else if (r < 965)
                op_partition(&m);
            else if (r < 970)
                op_reopen(&m);
            else if (r < 985)
                op_changes(&m);
            else
                op_gets(&m);
        }
        if (!m.failed && m.db) {
            note(&m, "final wait_idle + check");
            int rc = strata_wait_idle(m.db);
            if (rc) fail(&m, "wait_idle: %d", rc);
            full_check(&m, "final");
        }
        if (!m.failed && m.db) op_reopen(&m);
    }
    bool ok = !m.failed;
    model_teardown(&m);
    if (ok) {
        strata_destroy(dir);
    } else {
        fprintf(stderr, "model seed %llu FAILED (replay: STRATA_SEED=%llu %s)\n", seed, seed,
                "build/asan/tests/test_model");
    }
    return ok;
}

/* Seeds that once found an engine bug:
 *  1, 2, 3: a strata_put with a value over ~460 bytes realloc'd the stack
 *           buffer of the one-operation batch (ASan bad-free). */
static const unsigned long long regression_seeds[] = {1, 2, 3};

static void test_model_regressions(void)
{
    for (size_t i = 0; i < sizeof(regression_seeds) / sizeof(regression_seeds[0]); i++)
        run_seed(regression_seeds[i], 1500);
}

static void test_model_random(void)
{
    const char *env = getenv("STRATA_SEED");
    unsigned long long seed = test_seed();
    if (env && *env) {
        run_seed(seed, test_soak() ? 200000 : 4000);
        return;
    }
    int runs = test_soak() ? 200 : 4;
    long nops = test_soak() ? 20000 : 2500;
    for (int i = 0; i < runs; i++)
        if (!run_seed(seed + (unsigned long long)i, nops)) break;
}

int main(void)
{
    RUN(test_model_regressions);
    RUN(test_model_random);
    TEST_END();
}
