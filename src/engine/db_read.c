/* Reads: point lookups, snapshots and the user-facing iterator.
 *
 * A read pins the active memtable, the immutable ones and the current
 * version under mu, then reads without locks at sequence `snap` (its
 * snapshot, or the last visible sequence). Sources are consulted newest
 * first; a range tombstone hides an entry when its sequence is above the
 * entry's and at most snap.
 *
 * The iterator (LevelDB's DBIter design) walks the merged internal keys.
 * Forward, the merge sits on the current entry; backward, it sits just
 * before all entries of the current user key, whose value is saved. */
#include "engine/db_impl.h"
#include "engine/dbformat.h"
#include "engine/merge.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

void db__pin(strata_db *db, memtable **mem, imm_entry *imms, int *nimm, version **v)
{
    *mem = db->mem;
    memtable_ref(*mem);
    *nimm = db->nimm;
    for (int i = 0; i < db->nimm; i++) {
        imms[i] = db->imm[i];
        memtable_ref(imms[i].m);
    }
    *v = version_set_current(db->vs);
}

void db__unpin(memtable *mem, imm_entry *imms, int nimm, version *v)
{
    memtable_unref(mem);
    for (int i = 0; i < nimm; i++) memtable_unref(imms[i].m);
    version_unref(v);
}

void strata_read_options_init(strata_read_options *r)
{
    memset(r, 0, sizeof(*r));
    r->fill_cache = true;
    r->verify_checksums = true;
}

/* Looks in one memtable; 1 when an answer was found (in *rc). The range
 * tombstones come first: a memtable's filter says nothing about them. */
static int get_mem(strata_db *db, memtable *m, uint32_t part, const void *key, size_t klen,
                   uint64_t hash, uint64_t snap, uint64_t *rd_seq, void **val, size_t *vlen,
                   int *rc)
{
    if (memtable_has_range_dels(m, part)) {
        rangedel_list rd = {0};
        if (memtable_range_dels(m, part, &rd) == 0) {
            uint64_t s = rangedel_max_seq(&rd, key, klen, snap);
            if (s > *rd_seq) *rd_seq = s;
        }
        rangedel_list_free(&rd);
    }
    int type;
    uint64_t seq;
    const void *v;
    size_t vl;
    if (!memtable_may_contain(m, hash)) {
        atomic_fetch_add_explicit(&db->mem_filter_useful, 1, memory_order_relaxed);
        return 0;
    }
    if (memtable_get_hashed(m, part, key, klen, hash, snap, &type, &seq, &v, &vl)) return 0;
    if (type == TYPE_DELETION || seq < *rd_seq) {
        *rc = ERR_NOTFOUND;
        return 1;
    }
    *val = malloc(vl ? vl : 1);
    if (!*val) {
        *rc = err_set(ERR_NOMEM, "get: out of memory");
        return 1;
    }
    if (vl) memcpy(*val, v, vl);
    *vlen = vl;
    *rc = 0;
    return 1;
}

int strata_get(strata_db *db, const strata_read_options *r, uint32_t part, const void *key,
               size_t klen, void **val, size_t *vlen)
{
    memtable *mem;
    imm_entry imms[DB_MAX_IMM];
    int nimm;
    version *v;
    pthread_mutex_lock(&db->mu);
    if (!version_set_part_exists(db->vs, part)) {
        pthread_mutex_unlock(&db->mu);
        return err_set(ERR_NOTFOUND, "partition %u does not exist", part);
    }
    db__pin(db, &mem, imms, &nimm, &v);
    pthread_mutex_unlock(&db->mu);
    uint64_t snap = r && r->snapshot ? r->snapshot->seq
                                     : atomic_load_explicit(&db->visible_seq, memory_order_acquire);
    uint64_t rd_seq = 0;
    int rc = ERR_NOTFOUND;
    uint64_t h = memtable_key_hash(part, key, klen);
    memtable_prefetch(mem, h);
    for (int i = 0; i < nimm; i++) memtable_prefetch(imms[i].m, h);
    bool done = get_mem(db, mem, part, key, klen, h, snap, &rd_seq, val, vlen, &rc);
    for (int i = nimm - 1; i >= 0 && !done; i--)
        done = get_mem(db, imms[i].m, part, key, klen, h, snap, &rd_seq, val, vlen, &rc);
    if (!done) {
        int type;
        uint64_t seq;
        void *sv = NULL;
        size_t sl = 0;
        rc = version_get(v, part, key, klen, snap, &type, &seq, &sv, &sl, &rd_seq);
        if (!rc && (type == TYPE_DELETION || seq < rd_seq)) {
            free(sv);
            rc = ERR_NOTFOUND;
        } else if (!rc) {
            if (!sv) sv = malloc(1);
            *val = sv;
            *vlen = sl;
        }
    }
    db__unpin(mem, imms, nimm, v);
    return rc;
}

/* ---- snapshots ---- */
const strata_snapshot *strata_snapshot_new(strata_db *db)
{
    struct strata_snapshot *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    pthread_mutex_lock(&db->mu);
    s->seq = atomic_load(&db->visible_seq);
    s->prev = db->snaps.prev;
    s->next = &db->snaps;
    db->snaps.prev->next = s;
    db->snaps.prev = s;
    db->nsnaps++;
    pthread_mutex_unlock(&db->mu);
    return s;
}

void strata_snapshot_release(strata_db *db, const strata_snapshot *cs)
{
    if (!cs) return;
    struct strata_snapshot *s = (struct strata_snapshot *)cs;
    pthread_mutex_lock(&db->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    db->nsnaps--;
    pthread_mutex_unlock(&db->mu);
    free(s);
}

uint64_t strata_snapshot_sequence(const strata_snapshot *s)
{
    return s->seq;
}

/* ---- iterator ---- */
typedef struct kbuf {
    uint8_t *p;
    size_t len, cap;
} kbuf;

static int kb_set(kbuf *b, const void *d, size_t n)
{
    if (n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < n) c *= 2;
        uint8_t *np = realloc(b->p, c);
        if (!np) return err_set(ERR_NOMEM, "iterator: out of memory");
        b->p = np;
        b->cap = c;
    }
    if (n) memcpy(b->p, d, n);
    b->len = n;
    return 0;
}

struct strata_iter {
    ikiter *in;
    uint64_t snap;
    rangedel_list rd;
    kbuf lower, upper;
    bool has_lower, has_upper;
    bool valid, forward;
    kbuf saved_key, saved_val, tmp;
    int status;
};

static bool covered(strata_iter *it, const void *uk, size_t ul, uint64_t seq)
{
    return it->rd.n && rangedel_max_seq(&it->rd, uk, ul, it->snap) > seq;
}

static bool above_upper(strata_iter *it, const void *uk, size_t ul)
{
    return it->has_upper && ukey_cmp(uk, ul, it->upper.p, it->upper.len) >= 0;
}
static bool below_lower(strata_iter *it, const void *uk, size_t ul)
{
    return it->has_lower && ukey_cmp(uk, ul, it->lower.p, it->lower.len) < 0;
}

static void set_status(strata_iter *it, int rc)
{
    if (!it->status) it->status = rc;
    it->valid = false;
}

static void find_next_user_entry(strata_iter *it, bool skipping)
{
    /* it->saved_key holds the key to skip when skipping. */
    while (iki_valid(it->in)) {
        size_t kl;
        const uint8_t *k = iki_key(it->in, &kl);
        if (kl < IKEY_TRAILER) {
            set_status(it, err_set(ERR_CORRUPT, "iterator: malformed internal key"));
            return;
        }
        size_t ul = ikey_user_len(kl);
        uint64_t seq = ikey_seq(k, kl);
        if (above_upper(it, k, ul)) break;
        if (seq <= it->snap) {
            int type = ikey_type(k, kl);
            if (skipping && ukey_cmp(k, ul, it->saved_key.p, it->saved_key.len) <= 0) {
                /* an older version of a key already handled */
            } else if (type == TYPE_DELETION || covered(it, k, ul, seq)) {
                if (kb_set(&it->saved_key, k, ul)) {
                    set_status(it, ERR_NOMEM);
                    return;
                }
                skipping = true;
            } else {
                it->valid = true;
                return;
            }
        }
        iki_next(it->in);
    }
    int rc = iki_status(it->in);
    if (rc) set_status(it, rc);
    it->valid = false;
}

static void find_prev_user_entry(strata_iter *it)
{
    int value_type = TYPE_DELETION;
    while (iki_valid(it->in)) {
        size_t kl;
        const uint8_t *k = iki_key(it->in, &kl);
        if (kl < IKEY_TRAILER) {
            set_status(it, err_set(ERR_CORRUPT, "iterator: malformed internal key"));
            return;
        }
        size_t ul = ikey_user_len(kl);
        uint64_t seq = ikey_seq(k, kl);
        if (below_lower(it, k, ul)) break;
        if (seq <= it->snap && !above_upper(it, k, ul)) {
            if (value_type != TYPE_DELETION &&
                ukey_cmp(k, ul, it->saved_key.p, it->saved_key.len) < 0)
                break; /* saved_key's newest visible entry is complete */
            value_type = ikey_type(k, kl);
            if (value_type == TYPE_VALUE && covered(it, k, ul, seq)) value_type = TYPE_DELETION;
            if (value_type == TYPE_DELETION) {
                it->saved_key.len = 0;
                it->saved_val.len = 0;
            } else {
                size_t vl;
                const void *v = iki_value(it->in, &vl);
                if (kb_set(&it->saved_key, k, ul) || kb_set(&it->saved_val, v, vl)) {
                    set_status(it, ERR_NOMEM);
                    return;
                }
            }
        }
        iki_prev(it->in);
    }
    int rc = iki_status(it->in);
    if (rc) {
        set_status(it, rc);
        return;
    }
    if (value_type == TYPE_DELETION) {
        it->valid = false;
        it->saved_key.len = 0;
        it->saved_val.len = 0;
        it->forward = true;
    } else {
        it->valid = true;
    }
}

int strata_iter_new(strata_db *db, const strata_read_options *r, uint32_t part, strata_iter **out)
{
    *out = NULL;
    strata_read_options def;
    if (!r) {
        strata_read_options_init(&def);
        r = &def;
    }
    strata_iter *it = calloc(1, sizeof(*it));
    if (!it) return err_set(ERR_NOMEM, "iterator: out of memory");
    memtable *mem;
    imm_entry imms[DB_MAX_IMM];
    int nimm;
    version *v;
    pthread_mutex_lock(&db->mu);
    if (!version_set_part_exists(db->vs, part)) {
        pthread_mutex_unlock(&db->mu);
        free(it);
        return err_set(ERR_NOTFOUND, "partition %u does not exist", part);
    }
    db__pin(db, &mem, imms, &nimm, &v);
    pthread_mutex_unlock(&db->mu);
    it->snap = r->snapshot ? r->snapshot->seq
                           : atomic_load_explicit(&db->visible_seq, memory_order_acquire);
    int rc = 0;
    if (r->lower_bound) {
        rc = kb_set(&it->lower, r->lower_bound, r->lower_len);
        it->has_lower = true;
    }
    if (!rc && r->upper_bound) {
        rc = kb_set(&it->upper, r->upper_bound, r->upper_len);
        it->has_upper = true;
    }
    const part_levels *pl = version_part(v, part);
    int max = 2 + nimm + VER_MAX_LEVELS + (pl ? pl->n[0] : 0);
    ikiter **kids = calloc((size_t)max, sizeof(*kids));
    int n = 0;
    if (!kids) rc = err_set(ERR_NOMEM, "iterator: out of memory");
    if (!rc) {
        kids[n++] = memtable_iter(mem, part);
        if (memtable_has_range_dels(mem, part)) rc = memtable_range_dels(mem, part, &it->rd);
    }
    for (int i = nimm - 1; i >= 0 && !rc; i--) {
        kids[n++] = memtable_iter(imms[i].m, part);
        if (memtable_has_range_dels(imms[i].m, part))
            rc = memtable_range_dels(imms[i].m, part, &it->rd);
    }
    for (int i = 0; i < n && !rc; i++)
        if (!kids[i]) rc = err_set(ERR_NOMEM, "iterator: out of memory");
    if (!rc) {
        int k = version_add_iters(v, part, r->fill_cache, kids + n, max - n);
        if (k < 0)
            rc = k;
        else
            n += k;
    }
    if (!rc) rc = version_range_dels(v, part, &it->rd);
    if (!rc) {
        it->in = merge_iter_new(kids, n);
        n = 0;
        if (!it->in) rc = err_set(ERR_NOMEM, "iterator: out of memory");
    }
    for (int i = 0; i < n; i++) iki_destroy(kids[i]);
    free(kids);
    db__unpin(mem, imms, nimm, v); /* the child iterators hold their own references */
    if (rc) {
        strata_iter_free(it);
        return rc;
    }
    it->forward = true;
    *out = it;
    return 0;
}

void strata_iter_free(strata_iter *it)
{
    if (!it) return;
    iki_destroy(it->in);
    rangedel_list_free(&it->rd);
    free(it->lower.p);
    free(it->upper.p);
    free(it->saved_key.p);
    free(it->saved_val.p);
    free(it->tmp.p);
    free(it);
}

/* Seeks the merge to the first entry of user key k visible at the snapshot. */
static void seek_internal(strata_iter *it, const void *k, size_t n)
{
    if (n + 8 > it->tmp.cap) {
        uint8_t *np = realloc(it->tmp.p, n + 8);
        if (!np) {
            set_status(it, err_set(ERR_NOMEM, "iterator: out of memory"));
            return;
        }
        it->tmp.p = np;
        it->tmp.cap = n + 8;
    }
    size_t l = ikey_build(it->tmp.p, k, n, it->snap, TYPE_SEEK);
    iki_seek(it->in, it->tmp.p, l);
}

void strata_iter_seek(strata_iter *it, const void *key, size_t klen)
{
    if (it->status) return;
    if (it->has_lower && ukey_cmp(key, klen, it->lower.p, it->lower.len) < 0)
        key = it->lower.p, klen = it->lower.len;
    it->forward = true;
    it->saved_key.len = 0;
    seek_internal(it, key, klen);
    if (!it->status) find_next_user_entry(it, false);
}

void strata_iter_seek_first(strata_iter *it)
{
    if (it->status) return;
    if (it->has_lower) {
        strata_iter_seek(it, it->lower.p, it->lower.len);
        return;
    }
    it->forward = true;
    it->saved_key.len = 0;
    iki_seek_first(it->in);
    find_next_user_entry(it, false);
}

/* Positions the merge at the last entry with user key < k (k NULL: the last). */
static void seek_before(strata_iter *it, const void *k, size_t n, bool inclusive)
{
    if (!k) {
        iki_seek_last(it->in);
        return;
    }
    kbuf b = {malloc(n + 8), 0, n + 8};
    if (!b.p) {
        set_status(it, err_set(ERR_NOMEM, "iterator: out of memory"));
        return;
    }
    /* inclusive: after every entry of k ((k, 0) is its last internal key);
     * exclusive: before every entry of k (the sentinel sorts first). */
    size_t l = inclusive ? ikey_build(b.p, k, n, 0, TYPE_DELETION)
                         : ikey_build(b.p, k, n, SEQ_MAX, TYPE_RANGE_DELETION);
    if (it->in->ops->seek_for_prev) it->in->ops->seek_for_prev(it->in, b.p, l);
    free(b.p);
}

void strata_iter_seek_last(strata_iter *it)
{
    if (it->status) return;
    it->forward = false;
    if (it->has_upper)
        seek_before(it, it->upper.p, it->upper.len, false);
    else
        seek_before(it, NULL, 0, false);
    if (!it->status) find_prev_user_entry(it);
}

void strata_iter_seek_for_prev(strata_iter *it, const void *key, size_t klen)
{
    if (it->status) return;
    it->forward = false;
    if (it->has_upper && ukey_cmp(key, klen, it->upper.p, it->upper.len) >= 0)
        seek_before(it, it->upper.p, it->upper.len, false);
    else
        seek_before(it, key, klen, true);
    if (!it->status) find_prev_user_entry(it);
}

bool strata_iter_valid(const strata_iter *it)
{
    return it->valid;
}

void strata_iter_next(strata_iter *it)
{
    if (!it->valid) return;
    if (!it->forward) {
        it->forward = true;
        if (!iki_valid(it->in))
            iki_seek_first(it->in);
        else
            iki_next(it->in);
        if (!iki_valid(it->in)) {
            it->valid = false;
            it->saved_key.len = 0;
            int rc = iki_status(it->in);
            if (rc) set_status(it, rc);
            return;
        }
        /* saved_key holds the current key: skip past it */
    } else {
        size_t kl;
        const uint8_t *k = iki_key(it->in, &kl);
        if (kb_set(&it->saved_key, k, ikey_user_len(kl))) {
            set_status(it, ERR_NOMEM);
            return;
        }
        iki_next(it->in);
    }
    find_next_user_entry(it, true);
}

void strata_iter_prev(strata_iter *it)
{
    if (!it->valid) return;
    if (it->forward) {
        size_t kl;
        const uint8_t *k = iki_key(it->in, &kl);
        if (kb_set(&it->saved_key, k, ikey_user_len(kl))) {
            set_status(it, ERR_NOMEM);
            return;
        }
        for (;;) {
            iki_prev(it->in);
            if (!iki_valid(it->in)) {
                it->valid = false;
                it->saved_key.len = 0;
                it->saved_val.len = 0;
                int rc = iki_status(it->in);
                if (rc) set_status(it, rc);
                return;
            }
            k = iki_key(it->in, &kl);
            if (ukey_cmp(k, ikey_user_len(kl), it->saved_key.p, it->saved_key.len) < 0) break;
        }
        it->forward = false;
    }
    find_prev_user_entry(it);
}

const void *strata_iter_key(const strata_iter *it, size_t *len)
{
    if (!it->forward) {
        *len = it->saved_key.len;
        return it->saved_key.p;
    }
    size_t kl;
    const void *k = iki_key(it->in, &kl);
    *len = ikey_user_len(kl);
    return k;
}

const void *strata_iter_value(const strata_iter *it, size_t *len)
{
    if (!it->forward) {
        *len = it->saved_val.len;
        return it->saved_val.p;
    }
    return iki_value(it->in, len);
}

int strata_iter_status(const strata_iter *it)
{
    return it->status;
}
