/* The keyspace (see keyspace.h and docs/keyspace.md).
 *
 * Engine keys (partition 0), all integers big-endian so that byte order is
 * numeric order:
 *   meta    [pdb u8][slot u16][0x01][h u32][key]          type, expiry, version, count, string
 *   field   [pdb u8][slot u16][0x02][version u64][fh u32][field]   field value
 *   expiry  [pdb u8][0xFFFF][0x03][expire_ms u64][slot u16][key]   empty
 *   system  [0xFF]['C'][pdb] counts, [0xFF]['D'] db map, [0xFF]['V'] version
 *           mark, [0xFF]['G'][version u64] dead field set -> [pdb][slot]
 * pdb is the physical database a logical db maps to (SWAPDB swaps the map);
 * h and fh are 32-bit hashes of key and field (never 0) that order a slot's
 * keys and a hash's fields, so SCAN and HSCAN cursors are plain integers
 * (slot << 32 | h, and fh) that survive restarts.
 *
 * The encoders live in codec.c (codec.h).
 *
 * State: the committed copies of the system records live in ks_t; the
 * transaction's changes to them live in ks_txn until reset() re-reads them. */
#include "keyspace/keyspace.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "keyspace/codec.h"
#include "keyspace/glob.h"
#include "keyspace/internal.h"
#include "keyspace/overlay.h"
#include "keyspace/rowcache.h"
#include "keyspace/slot.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/rand.h"

#define SMALL_SET    64 /* collections this small are deleted field by field */
#define VERSION_STEP 1024

typedef struct dead {
    uint64_t version;
    uint8_t pdb;
    uint16_t slot;
} dead;

struct ks_txn {
    ks_t *ks;
    strata_batch *batch;
    uint64_t gen;
    int64_t now;
    ks__overlay *ov;
    uint8_t map[KS_MAX_DBS];
    int map_dirty;
    uint64_t keys[256], expires[256];
    uint8_t cnt_dirty[256];
    int any_cnt_dirty;          /* number of pdbs in dirty_list */
    uint8_t dirty_list[256];    /* the pdbs with cnt_dirty set, so no pass over all 256 */
    uint8_t cnt_unflushed[256]; /* count changed, record not yet in the batch */
    int any_unflushed;          /* number of pdbs in unflushed_list */
    uint8_t unflushed_list[256];
    int wrote;     /* something went into the batch since the last reset */
    uint64_t seq0; /* engine sequence before the first write */
    uint32_t ops;  /* batch operations after the last write */
    int hw_dirty;
    dead *pend;
    size_t npend, pcap;
};

struct ks {
    strata_db *db;
    int databases;
    int replica;
    uint8_t map[KS_MAX_DBS];
    uint64_t keys[256], expires[256];
    uint64_t next_version, hw; /* hw: committed mark; versions below it are safe */
    /* Dead field sets, shared with the compaction filter. */
    pthread_mutex_t mu;
    uint64_t *dset; /* open addressing, 0 = empty */
    size_t dset_cap, dset_n;
    dead *dlist;
    size_t dlist_n, dlist_cap, gc_pos;
    ks_expired_fn expired_fn;
    void *expired_arg;
    int exp_rr; /* next pdb the expire cycle visits */
    rng_t rng;
    ks_txn txn;
    ks__rc *rc; /* row cache of metadata records (NULL: off) */
};

/* engine: 0 malloc, 1 engine allocation, 2 row cache reference. */
static void buf_release(void *p, int engine)
{
    if (!p) return;
    if (engine == 2)
        ks__rc_unref(p);
    else if (engine)
        strata_free(p);
    else
        free(p);
}

void ks_meta_release(ks_meta *m)
{
    buf_release(m->buf_, m->buf_engine_);
    m->buf_ = NULL;
    m->val = NULL;
}

/* ---------------------------------------------------- transaction plumbing */

static uint8_t tx_pdb(ks_txn *t, int db)
{
    return t->map_dirty ? t->map[db] : t->ks->map[db];
}

/* Reads k as the transaction sees it: *engine tells which allocator owns *v. */
static int tx_get(ks_txn *t, const uint8_t *k, size_t kl, void **v, size_t *vl, int *engine)
{
    const ks__ov_entry *e = ks__ov_get(t->ov, k, kl);
    if (e) {
        if (!e->val) return ERR_NOTFOUND;
        void *c = malloc(e->vlen ? e->vlen : 1);
        if (!c) return ERR_NOMEM;
        if (e->vlen) memcpy(c, e->val, e->vlen);
        *v = c;
        *vl = e->vlen;
        *engine = 0;
        return 0;
    }
    if (ks__ov_covered(t->ov, k, kl)) return ERR_NOTFOUND;
    *engine = 1;
    return strata_get(t->ks->db, NULL, 0, k, kl, v, vl);
}

static int is_meta_key(const uint8_t *k, size_t kl)
{
    return kl >= META_HDR && k[0] != SYS && k[3] == TAG_META;
}

/* tx_get for a metadata key, through the row cache (*engine may be 2). */
static int tx_get_meta(ks_txn *t, const uint8_t *k, size_t kl, void **v, size_t *vl, int *engine)
{
    ks__rc *rc = t->ks->rc;
    if (!rc || ks__ov_get(t->ov, k, kl) || ks__ov_covered(t->ov, k, kl))
        return tx_get(t, k, kl, v, vl, engine);
    const uint8_t *cv;
    int hit = ks__rc_get(rc, k, kl, &cv, vl);
    if (hit == 1) return ERR_NOTFOUND;
    if (hit == 2) {
        *v = (void *)(uintptr_t)cv;
        *engine = 2;
        return 0;
    }
    *engine = 1;
    int r = strata_get(t->ks->db, NULL, 0, k, kl, v, vl);
    /* Only keys that exist are brought in: a stream of writes of new keys
     * (a bulk load) neither fills the cache nor pays for it. */
    if (r == 0) ks__rc_put(rc, k, kl, *v, *vl);
    return r;
}

/* The batch of t's overlay reached the engine (committed) or its fate is
 * unknown: the row cache takes the new values, or forgets the keys. */
static void rc_follow_overlay(ks_txn *t, int committed)
{
    ks__rc *rc = t->ks->rc;
    if (!rc) return;
    if (ks__ov_ranges(t->ov)) {
        ks__rc_clear(rc);
        return;
    }
    size_t n;
    const ks__ov_entry *e = ks__ov_entries(t->ov, &n);
    for (size_t i = 0; i < n; i++) {
        if (!is_meta_key(e[i].key, e[i].klen)) continue;
        if (committed && e[i].val)
            ks__rc_update(rc, e[i].key, e[i].klen, e[i].val, e[i].vlen);
        else
            ks__rc_erase(rc, e[i].key, e[i].klen);
    }
}

/* Remembers where the engine's sequence stood before the batch's first write
 * and how many operations the batch holds, so reset() can tell a committed
 * batch (sequence advanced by exactly that much) from a discarded one. */
static void note_write(ks_txn *t)
{
    if (!t->wrote) {
        t->wrote = 1;
        t->seq0 = strata_last_sequence(t->ks->db);
    }
    t->ops = strata_batch_count(t->batch);
}

static int tx_put(ks_txn *t, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    int rc = strata_batch_put(t->batch, 0, k, kl, v, vl);
    if (!rc) note_write(t);
    return rc ? rc : ks__ov_put(t->ov, k, kl, v, vl);
}

static int tx_del(ks_txn *t, const uint8_t *k, size_t kl)
{
    int rc = strata_batch_delete(t->batch, 0, k, kl);
    if (!rc) note_write(t);
    return rc ? rc : ks__ov_del(t->ov, k, kl);
}

static int tx_del_range(ks_txn *t, const uint8_t *s, size_t sl, const uint8_t *e, size_t el)
{
    int rc = strata_batch_delete_range(t->batch, 0, s, sl, e, el);
    if (!rc) note_write(t);
    return rc ? rc : ks__ov_del_range(t->ov, s, sl, e, el);
}

static uint64_t *cnt_keys(ks_txn *t, uint8_t pdb)
{
    if (!t->cnt_dirty[pdb]) {
        t->cnt_dirty[pdb] = 1;
        t->dirty_list[t->any_cnt_dirty++] = pdb;
        t->keys[pdb] = t->ks->keys[pdb];
        t->expires[pdb] = t->ks->expires[pdb];
    }
    return &t->keys[pdb];
}

/* Changes the counts of pdb; ks_end() puts the count record into the batch
 * once per command, so the count travels with the key changes that caused it. */
static int put_counts(ks_txn *t, uint8_t pdb, int64_t dkeys, int64_t dexp)
{
    uint64_t *k = cnt_keys(t, pdb);
    *k += (uint64_t)dkeys;
    t->expires[pdb] += (uint64_t)dexp;
    if (!t->cnt_unflushed[pdb]) {
        t->cnt_unflushed[pdb] = 1;
        t->unflushed_list[t->any_unflushed++] = pdb;
    }
    return 0;
}

int ks_end(ks_txn *t)
{
    while (t->any_unflushed) {
        uint8_t p = t->unflushed_list[t->any_unflushed - 1];
        uint8_t key[3] = {SYS, 'C', p}, val[16];
        put_u64(val, t->keys[p]);
        put_u64(val + 8, t->expires[p]);
        int rc = tx_put(t, key, 3, val, 16);
        if (rc) return rc;
        t->cnt_unflushed[p] = 0;
        t->any_unflushed--;
    }
    return 0;
}

static int sys_get_u64s(ks_t *ks, const uint8_t *k, size_t kl, uint64_t *a, uint64_t *b)
{
    void *v;
    size_t vl;
    int rc = strata_get(ks->db, NULL, 0, k, kl, &v, &vl);
    if (rc == ERR_NOTFOUND) {
        *a = 0;
        if (b) *b = 0;
        return 0;
    }
    if (rc) return rc;
    if (vl < (b ? 16u : 8u)) rc = err_set(ERR_CORRUPT, "keyspace: short system record");
    if (!rc) {
        *a = get_u64(v);
        if (b) *b = get_u64((uint8_t *)v + 8);
    }
    strata_free(v);
    return rc;
}

static int load_map(ks_t *ks)
{
    uint8_t k[2] = {SYS, 'D'};
    void *v;
    size_t vl;
    int rc = strata_get(ks->db, NULL, 0, k, 2, &v, &vl);
    if (rc == ERR_NOTFOUND) {
        for (int i = 0; i < KS_MAX_DBS; i++) ks->map[i] = (uint8_t)i;
        return 0;
    }
    if (rc) return rc;
    if (vl != KS_MAX_DBS)
        rc = err_set(ERR_CORRUPT, "keyspace: db map has %zu bytes", vl);
    else
        memcpy(ks->map, v, KS_MAX_DBS);
    strata_free(v);
    return rc;
}

/* dead-set (mutex held) */
static int dset_has(const ks_t *ks, uint64_t v)
{
    if (!ks->dset_cap) return 0;
    size_t mask = ks->dset_cap - 1;
    for (size_t i = (size_t)XXH3_64bits(&v, 8) & mask; ks->dset[i]; i = (i + 1) & mask)
        if (ks->dset[i] == v) return 1;
    return 0;
}

static void dset_rebuild(ks_t *ks, size_t cap)
{
    free(ks->dset);
    ks->dset = calloc(cap, sizeof(uint64_t));
    ks->dset_cap = ks->dset ? cap : 0;
    ks->dset_n = 0;
    if (!ks->dset) return;
    for (size_t j = 0; j < ks->dlist_n; j++) {
        uint64_t v = ks->dlist[j].version;
        size_t i = (size_t)XXH3_64bits(&v, 8) & (cap - 1);
        while (ks->dset[i]) i = (i + 1) & (cap - 1);
        ks->dset[i] = v;
        ks->dset_n++;
    }
}

static int dead_add(ks_t *ks, dead d)
{
    pthread_mutex_lock(&ks->mu);
    int rc = 0;
    if (ks->dlist_n == ks->dlist_cap) {
        size_t cap = ks->dlist_cap ? ks->dlist_cap * 2 : 64;
        dead *nl = realloc(ks->dlist, cap * sizeof(*nl));
        if (!nl) {
            rc = ERR_NOMEM;
            goto err;
        }
        ks->dlist = nl;
        ks->dlist_cap = cap;
    }
    ks->dlist[ks->dlist_n++] = d;
    if ((ks->dlist_n + 1) * 2 > ks->dset_cap) {
        dset_rebuild(ks, ks->dset_cap ? ks->dset_cap * 2 : 128);
    } else {
        size_t mask = ks->dset_cap - 1;
        size_t i = (size_t)XXH3_64bits(&d.version, 8) & mask;
        while (ks->dset[i]) i = (i + 1) & mask;
        ks->dset[i] = d.version;
        ks->dset_n++;
    }
err:
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

static void dead_remove_at(ks_t *ks, size_t j)
{
    pthread_mutex_lock(&ks->mu);
    ks->dlist[j] = ks->dlist[--ks->dlist_n];
    dset_rebuild(ks, ks->dset_cap ? ks->dset_cap : 128);
    pthread_mutex_unlock(&ks->mu);
}

static int dead_record_present(ks_t *ks, uint64_t ver)
{
    uint8_t k[10] = {SYS, 'G'};
    ks__put_be64(k + 2, ver);
    void *v;
    size_t vl;
    int rc = strata_get(ks->db, NULL, 0, k, 10, &v, &vl);
    if (rc == 0) strata_free(v);
    return rc == 0;
}

/* The batch went into the engine (the sequence moved by exactly its size and
 * every count record was in it): adopt the transaction's state. */
static void adopt(ks_txn *t)
{
    ks_t *ks = t->ks;
    for (int i = 0; i < t->any_cnt_dirty; i++) {
        uint8_t p = t->dirty_list[i];
        ks->keys[p] = t->keys[p];
        ks->expires[p] = t->expires[p];
        t->cnt_dirty[p] = 0;
    }
    t->any_cnt_dirty = 0;
    if (t->map_dirty) memcpy(ks->map, t->map, KS_MAX_DBS);
    t->map_dirty = 0;
    t->hw_dirty = 0; /* ks->hw already holds the mark the batch wrote */
    for (size_t i = 0; i < t->npend; i++) dead_add(ks, t->pend[i]);
    t->npend = 0;
}

/* The previous batch was committed or discarded: follow the engine. known
 * is the caller's word (1 applied, 0 not) or -1: then a batch counts as
 * applied when the engine's sequence moved by exactly its size. */
static int reset_known(ks_txn *t, int known)
{
    ks_t *ks = t->ks;
    int rc = 0;
    int committed = t->wrote && !t->any_unflushed && t->ks->db &&
                    (known >= 0 ? known : strata_last_sequence(t->ks->db) == t->seq0 + t->ops);
    t->wrote = 0;
    if (t->any_unflushed) { /* a caller skipped ks_end(): trust only the engine */
        for (int i = 0; i < t->any_unflushed; i++) t->cnt_unflushed[t->unflushed_list[i]] = 0;
        t->any_unflushed = 0;
    }
    rc_follow_overlay(t, committed);
    if (committed) {
        adopt(t);
        ks__ov_clear(t->ov);
        return 0;
    }
    if (t->any_cnt_dirty) {
        for (int i = 0; i < t->any_cnt_dirty; i++) {
            uint8_t p = t->dirty_list[i];
            uint8_t k[3] = {SYS, 'C', p};
            int r = sys_get_u64s(ks, k, 3, &ks->keys[p], &ks->expires[p]);
            if (r && !rc) rc = r;
            t->cnt_dirty[p] = 0;
        }
        t->any_cnt_dirty = 0;
    }
    if (t->map_dirty) {
        int r = load_map(ks);
        if (r && !rc) rc = r;
        t->map_dirty = 0;
    }
    if (t->hw_dirty) {
        uint8_t k[2] = {SYS, 'V'};
        uint64_t hw;
        int r = sys_get_u64s(ks, k, 2, &hw, NULL);
        if (r && !rc) rc = r;
        if (!r) ks->hw = hw;
        t->hw_dirty = 0;
    }
    for (size_t i = 0; i < t->npend; i++)
        if (dead_record_present(ks, t->pend[i].version)) dead_add(ks, t->pend[i]);
    t->npend = 0;
    ks__ov_clear(t->ov);
    return rc;
}

static int reset(ks_txn *t)
{
    return reset_known(t, -1);
}

void ks_commit_done(ks_t *ks, int committed)
{
    reset_known(&ks->txn, committed ? 1 : 0);
}

ks_txn *ks_begin(ks_t *ks, strata_batch *b, uint64_t gen, int64_t now_ms)
{
    ks_txn *t = &ks->txn;
    if (gen != t->gen) {
        reset(t);
        t->gen = gen;
    }
    t->batch = b;
    t->now = now_ms;
    return t;
}

int ks__txn_databases(const ks_txn *t)
{
    return t->ks->databases;
}

int64_t ks_now(const ks_txn *t)
{
    return t->now;
}

static int alloc_version(ks_txn *t, uint64_t *out)
{
    ks_t *ks = t->ks;
    uint64_t v = ks->next_version++;
    if (v >= ks->hw) {
        /* Persist a mark above v in the same batch that first uses v. */
        uint64_t mark = v + VERSION_STEP;
        uint8_t k[2] = {SYS, 'V'}, val[8];
        put_u64(val, mark);
        int rc = tx_put(t, k, 2, val, 8);
        if (rc) return rc;
        ks->hw = mark; /* re-read from the engine at reset() */
        t->hw_dirty = 1;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------- merged iterator */

/* Engine iterator merged with the overlay over [lo, hi): overlay entries win
 * over engine entries of the same key, and overlay range deletes hide engine
 * entries. Do not write to the overlay while one is open. */
typedef struct mit {
    ks_txn *t;
    strata_iter *it;
    ks__ov_entry *const *ov;
    size_t ovn, ovi;
    uint8_t *hi;
    size_t hilen;
    const uint8_t *k, *v;
    size_t kl, vl;
    int valid, from_ov, status;
} mit;

static void mit_find(mit *m)
{
    for (;;) {
        const uint8_t *ek = NULL;
        size_t ekl = 0;
        if (strata_iter_valid(m->it)) {
            ek = strata_iter_key(m->it, &ekl);
            if (ks__ov_get(m->t->ov, ek, ekl) || ks__ov_covered(m->t->ov, ek, ekl)) {
                strata_iter_next(m->it); /* the overlay decides for this key */
                continue;
            }
        } else if (strata_iter_status(m->it)) {
            m->status = strata_iter_status(m->it);
        }
        const ks__ov_entry *o = NULL;
        while (m->ovi < m->ovn) {
            const ks__ov_entry *c = m->ov[m->ovi];
            if (ks__keycmp(c->key, c->klen, m->hi, m->hilen) >= 0) {
                m->ovi = m->ovn;
                break;
            }
            if (c->val) {
                o = c;
                break;
            }
            m->ovi++; /* a deletion: its engine key was skipped above */
        }
        if (!ek && !o) {
            m->valid = 0;
            return;
        }
        m->valid = 1;
        if (o && (!ek || ks__keycmp(o->key, o->klen, ek, ekl) < 0)) {
            m->k = o->key;
            m->kl = o->klen;
            m->v = o->val;
            m->vl = o->vlen;
            m->from_ov = 1;
            return;
        }
        m->k = ek;
        m->kl = ekl;
        m->v = strata_iter_value(m->it, &m->vl);
        m->from_ov = 0;
        return;
    }
}

static void mit_seek(mit *m, const uint8_t *k, size_t kl)
{
    strata_iter_seek(m->it, k, kl);
    /* First overlay entry >= k (binary search on the sorted view). */
    size_t lo = 0, hi = m->ovn;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ks__keycmp(m->ov[mid]->key, m->ov[mid]->klen, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    m->ovi = lo;
    mit_find(m);
}

static void mit_next(mit *m)
{
    if (m->from_ov)
        m->ovi++;
    else
        strata_iter_next(m->it);
    mit_find(m);
}

static void mit_close(mit *m)
{
    if (m->it) strata_iter_free(m->it);
    free(m->hi);
    m->it = NULL;
    m->hi = NULL;
}

/* Opens an iterator over [lo, hi) positioned at lo. */
static int mit_open(mit *m, ks_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                    size_t hilen)
{
    memset(m, 0, sizeof(*m));
    m->t = t;
    m->hi = malloc(hilen ? hilen : 1);
    if (!m->hi) return ERR_NOMEM;
    memcpy(m->hi, hi, hilen);
    m->hilen = hilen;
    strata_read_options r;
    strata_read_options_init(&r);
    r.upper_bound = m->hi;
    r.upper_len = hilen;
    int rc = strata_iter_new(t->ks->db, &r, 0, &m->it);
    if (rc) {
        free(m->hi);
        m->hi = NULL;
        return rc;
    }
    m->ov = ks__ov_sorted(t->ov, &m->ovn);
    mit_seek(m, lo, lolen);
    return 0;
}

/* ------------------------------------------------------------- key level */

/* Drops the field set of a stored collection: field by field when small,
 * else by marking its version dead (the compaction filter reclaims it). */
static int drop_fields(ks_txn *t, uint8_t pdb, uint16_t slot, uint64_t ver, uint64_t count)
{
    if (count == 0) return 0;
    uint8_t lo[12], hi[12];
    ks__field_prefix(lo, pdb, slot, ver);
    ks__field_prefix(hi, pdb, slot, ver + 1);
    if (count > SMALL_SET) {
        uint8_t k[10] = {SYS, 'G'}, v[3] = {pdb};
        ks__put_be64(k + 2, ver);
        ks__put_be16(v + 1, slot);
        int rc = tx_put(t, k, 10, v, 3);
        if (rc) return rc;
        if (t->npend == t->pcap) {
            size_t cap = t->pcap ? t->pcap * 2 : 8;
            dead *np = realloc(t->pend, cap * sizeof(*np));
            if (!np) return ERR_NOMEM;
            t->pend = np;
            t->pcap = cap;
        }
        t->pend[t->npend++] = (dead){ver, pdb, slot};
        return 0;
    }
    /* Collect first: the overlay must not change under an open iterator. */
    uint8_t *keys[SMALL_SET * 2];
    size_t lens[SMALL_SET * 2], n = 0;
    mit m;
    int rc = mit_open(&m, t, lo, 12, hi, 12);
    if (rc) return rc;
    for (; m.valid && n < SMALL_SET * 2; mit_next(&m)) {
        keys[n] = malloc(m.kl);
        if (!keys[n]) {
            rc = ERR_NOMEM;
            break;
        }
        memcpy(keys[n], m.k, m.kl);
        lens[n++] = m.kl;
    }
    if (!rc) rc = m.status;
    mit_close(&m);
    for (size_t i = 0; i < n; i++) {
        if (!rc) rc = tx_del(t, keys[i], lens[i]);
        free(keys[i]);
    }
    return rc;
}

/* Removes the stored record of a key (meta, expiry entry, count, fields). */
static int del_stored(ks_txn *t, uint8_t pdb, uint16_t slot, const void *key, size_t klen,
                      ks_meta *m, int keep_fields)
{
    if (!m->stored) return 0;
    ks__kbuf b;
    int rc = ks__meta_key(&b, pdb, slot, key, klen);
    if (rc) return rc;
    rc = tx_del(t, b.p, b.len);
    ks__kb_free(&b);
    if (!rc && m->stored_expire) {
        if ((rc = ks__exp_key(&b, pdb, m->stored_expire, slot, key, klen))) return rc;
        rc = tx_del(t, b.p, b.len);
        ks__kb_free(&b);
    }
    if (!rc) rc = put_counts(t, pdb, -1, m->stored_expire ? -1 : 0);
    if (!rc && !keep_fields && m->stored_type != KS_STRING)
        rc = drop_fields(t, pdb, slot, m->stored_version, m->stored_count);
    if (!rc) {
        m->stored = 0;
        m->stored_expire = 0;
    }
    return rc;
}

/* Writes m's metadata over whatever is stored (the fields of a stored
 * collection with another version are the caller's business). */
static int write_meta(ks_txn *t, uint8_t pdb, uint16_t slot, const void *key, size_t klen,
                      ks_meta *m, const void *sval, size_t slen)
{
    uint8_t room[512], *v;
    size_t vl;
    ks__kbuf b;
    int rc = ks__meta_encode(m, sval, slen, room, sizeof(room), &v, &vl);
    if (rc) return rc;
    if ((rc = ks__meta_key(&b, pdb, slot, key, klen))) goto err;
    rc = tx_put(t, b.p, b.len, v, vl);
    ks__kb_free(&b);
    if (rc) goto err;
    if (m->stored && m->stored_expire && m->stored_expire != m->expire_ms) {
        if ((rc = ks__exp_key(&b, pdb, m->stored_expire, slot, key, klen))) goto err;
        rc = tx_del(t, b.p, b.len);
        ks__kb_free(&b);
        if (rc) goto err;
    }
    if (m->expire_ms && (!m->stored || m->stored_expire != m->expire_ms)) {
        if ((rc = ks__exp_key(&b, pdb, m->expire_ms, slot, key, klen))) goto err;
        rc = tx_put(t, b.p, b.len, "", 0);
        ks__kb_free(&b);
        if (rc) goto err;
    }
    int64_t dk = m->stored ? 0 : 1;
    int64_t de = (m->expire_ms ? 1 : 0) - (m->stored && m->stored_expire ? 1 : 0);
    if (dk || de) rc = put_counts(t, pdb, dk, de);
    if (!rc) {
        m->exists = m->stored = 1;
        m->stored_expire = m->expire_ms;
        m->stored_type = m->type;
        m->stored_version = m->version;
        m->stored_count = m->count;
    }
err:
    if (v != room) free(v);
    return rc;
}

static int expired_now(const ks_txn *t, const ks_meta *m)
{
    return m->expire_ms && m->expire_ms <= t->now;
}

/* The slot of key: cached in m when m came from ks_lookup of this key. */
static uint16_t meta_slot(const ks_meta *m, const void *key, size_t klen)
{
    if (m->slot_key_ == key && m->slot_klen_ == klen && key) return m->slot_;
    return ks_key_slot(key, klen);
}

int ks_lookup(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m)
{
    memset(m, 0, sizeof(*m));
    uint8_t pdb = tx_pdb(t, db);
    uint16_t slot = ks_key_slot(key, klen);
    m->slot_key_ = key;
    m->slot_klen_ = klen;
    m->slot_ = slot;
    ks__kbuf b;
    int rc = ks__meta_key(&b, pdb, slot, key, klen);
    if (rc) return rc;
    void *v;
    size_t vl;
    int eng;
    rc = tx_get_meta(t, b.p, b.len, &v, &vl, &eng);
    ks__kb_free(&b);
    if (rc == ERR_NOTFOUND) return 0;
    if (rc) return rc;
    m->buf_ = v;
    m->buf_engine_ = eng;
    if ((rc = ks__meta_decode(m, v, vl))) {
        ks_meta_release(m);
        return rc;
    }
    if (!expired_now(t, m)) return 0;
    m->exists = 0;
    if (t->ks->replica) return 0; /* hidden, kept until the primary deletes it */
    rc = del_stored(t, pdb, slot, key, klen, m, 0);
    if (!rc && t->ks->expired_fn) t->ks->expired_fn(t->ks->expired_arg, db, key, klen);
    return rc;
}

int ks_set_string(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *val,
                  size_t vlen, int64_t expire_ms)
{
    uint8_t pdb = tx_pdb(t, db);
    uint16_t slot = meta_slot(m, key, klen);
    int rc = 0;
    if (m->stored && m->stored_type != KS_STRING)
        rc = drop_fields(t, pdb, slot, m->stored_version, m->stored_count);
    if (rc) return rc;
    m->type = KS_STRING;
    m->expire_ms = expire_ms;
    m->version = m->count = 0;
    rc = write_meta(t, pdb, slot, key, klen, m, val, vlen);
    ks_meta_release(m);
    m->val = NULL;
    m->vlen = 0;
    return rc;
}

int ks_delete(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m)
{
    int existed = m->exists;
    int rc = del_stored(t, tx_pdb(t, db), meta_slot(m, key, klen), key, klen, m, 0);
    m->exists = 0;
    return rc ? rc : existed;
}

int ks_set_expire(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, int64_t expire_ms)
{
    if (!m->exists) return ERR_NOTFOUND;
    m->expire_ms = expire_ms;
    return write_meta(t, tx_pdb(t, db), meta_slot(m, key, klen), key, klen, m, m->val, m->vlen);
}

/* ----------------------------------------------------------------- hashes */

int ks_hash_get(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, const void *f,
                size_t flen, void **val, size_t *vlen)
{
    if (!m->exists || m->type != KS_HASH) return ERR_NOTFOUND;
    ks__kbuf b;
    int rc = ks__field_key(&b, tx_pdb(t, db), meta_slot(m, key, klen), m->version, f, flen);
    if (rc) return rc;
    void *v;
    int eng;
    rc = tx_get(t, b.p, b.len, &v, vlen, &eng);
    ks__kb_free(&b);
    if (rc) return rc;
    if (eng) { /* hand out malloc memory only */
        void *c = malloc(*vlen ? *vlen : 1);
        if (c && *vlen) memcpy(c, v, *vlen);
        strata_free(v);
        if (!c) return ERR_NOMEM;
        v = c;
    }
    *val = v;
    return 0;
}

int ks_hash_put(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *f,
                size_t flen, const void *v, size_t vlen, int *added)
{
    uint8_t pdb = tx_pdb(t, db);
    uint16_t slot = meta_slot(m, key, klen);
    int rc;
    if (!m->exists) {
        /* A new hash: drop what a hidden expired record held, take a new version. */
        if (m->stored && m->stored_type != KS_STRING &&
            (rc = drop_fields(t, pdb, slot, m->stored_version, m->stored_count)))
            return rc;
        m->stored_count = 0; /* its fields are gone now */
        m->stored_type = KS_STRING;
        if ((rc = alloc_version(t, &m->version))) return rc;
        m->type = KS_HASH;
        m->count = 0;
        m->expire_ms = 0;
        m->exists = 1;
    }
    ks__kbuf b;
    if ((rc = ks__field_key(&b, pdb, slot, m->version, f, flen))) return rc;
    void *old;
    size_t ol;
    int eng;
    rc = tx_get(t, b.p, b.len, &old, &ol, &eng);
    if (rc == 0) {
        buf_release(old, eng);
        *added = 0;
    } else if (rc == ERR_NOTFOUND) {
        *added = 1;
        m->count++;
        rc = 0;
    }
    if (!rc) rc = tx_put(t, b.p, b.len, v, vlen);
    ks__kb_free(&b);
    return rc;
}

int ks_hash_del(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *f,
                size_t flen, int *removed)
{
    *removed = 0;
    if (!m->exists || m->type != KS_HASH) return 0;
    ks__kbuf b;
    int rc = ks__field_key(&b, tx_pdb(t, db), meta_slot(m, key, klen), m->version, f, flen);
    if (rc) return rc;
    void *old;
    size_t ol;
    int eng;
    rc = tx_get(t, b.p, b.len, &old, &ol, &eng);
    if (rc == 0) {
        buf_release(old, eng);
        rc = tx_del(t, b.p, b.len);
        if (!rc) {
            *removed = 1;
            m->count--;
        }
    } else if (rc == ERR_NOTFOUND) {
        rc = 0;
    }
    ks__kb_free(&b);
    return rc;
}

int ks_hash_commit(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m)
{
    uint8_t pdb = tx_pdb(t, db);
    uint16_t slot = meta_slot(m, key, klen);
    if (m->count == 0) {
        /* Every field was deleted one by one: nothing left to drop. */
        int rc = m->stored ? del_stored(t, pdb, slot, key, klen, m, 1) : 0;
        m->exists = 0;
        return rc;
    }
    return write_meta(t, pdb, slot, key, klen, m, NULL, 0);
}

int ks_hash_scan(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, uint64_t cursor,
                 size_t count, ks_field_fn fn, void *arg, uint64_t *next)
{
    *next = 0;
    if (!m->exists || m->type != KS_HASH) return 0;
    uint8_t pdb = tx_pdb(t, db);
    uint16_t slot = meta_slot(m, key, klen);
    uint8_t lo[16], hi[12];
    ks__field_prefix(lo, pdb, slot, m->version);
    ks__put_be32(lo + 12, (uint32_t)(cursor > UINT32_MAX ? UINT32_MAX : cursor));
    ks__field_prefix(hi, pdb, slot, m->version + 1);
    mit it;
    int rc = mit_open(&it, t, lo, 16, hi, 12);
    if (rc) return rc;
    size_t seen = 0;
    uint32_t last = 0;
    for (; it.valid; mit_next(&it)) {
        if (it.kl < FIELD_HDR) continue;
        uint32_t fh = ks__get_be32(it.k + 12);
        /* Never stop inside a run of equal hashes: the cursor could not resume there. */
        if (count && seen >= count && fh != last) {
            *next = fh;
            break;
        }
        last = fh;
        seen++;
        if (fn(arg, it.k + FIELD_HDR, it.kl - FIELD_HDR, it.v, it.vl)) break;
    }
    rc = it.status;
    mit_close(&it);
    return rc;
}

/* Collected fields of a hash (COPY, DUMP): see internal.h. */
int ks__fv_add(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    ks__fieldvec *fv = arg;
    if (fv->n == fv->cap) {
        size_t cap = fv->cap ? fv->cap * 2 : 16;
        uint8_t **nf = realloc(fv->f, cap * sizeof(*nf));
        if (nf) fv->f = nf;
        uint8_t **nv = realloc(fv->v, cap * sizeof(*nv));
        if (nv) fv->v = nv;
        size_t *nfl = realloc(fv->fl, cap * sizeof(*nfl));
        if (nfl) fv->fl = nfl;
        size_t *nvl = realloc(fv->vl, cap * sizeof(*nvl));
        if (nvl) fv->vl = nvl;
        if (!nf || !nv || !nfl || !nvl) return ERR_NOMEM;
        fv->cap = cap;
    }
    uint8_t *a = malloc(flen + vlen + 1);
    if (!a) return ERR_NOMEM;
    memcpy(a, f, flen);
    memcpy(a + flen, v, vlen);
    fv->f[fv->n] = a;
    fv->v[fv->n] = a + flen;
    fv->fl[fv->n] = flen;
    fv->vl[fv->n++] = vlen;
    return 0;
}

void ks__fv_free(ks__fieldvec *fv)
{
    for (size_t i = 0; i < fv->n; i++) free(fv->f[i]);
    free(fv->f);
    free(fv->v);
    free(fv->fl);
    free(fv->vl);
    memset(fv, 0, sizeof(*fv));
}

int ks__fv_load(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, ks__fieldvec *fv)
{
    uint64_t next;
    memset(fv, 0, sizeof(*fv));
    int rc = ks_hash_scan(t, db, key, klen, m, 0, 0, ks__fv_add, fv, &next);
    if (!rc && fv->n != m->count) rc = ERR_NOMEM; /* fv_add stops on allocation failure */
    if (rc) ks__fv_free(fv);
    return rc;
}

int ks_copy(ks_txn *t, int sdb, const void *skey, size_t sklen, ks_meta *src, int ddb,
            const void *dkey, size_t dklen, ks_meta *dst, int move_src)
{
    if (!src->exists) return ERR_NOTFOUND;
    uint8_t sp = tx_pdb(t, sdb), dp = tx_pdb(t, ddb);
    uint16_t ss = ks_key_slot(skey, sklen), ds = ks_key_slot(dkey, dklen);
    if (sp == dp && ss == ds && sklen == dklen && memcmp(skey, dkey, sklen) == 0) return 0;
    int rc = 0;
    /* Whatever the destination held goes away first. */
    if (dst->stored && dst->stored_type != KS_STRING &&
        (rc = drop_fields(t, dp, ds, dst->stored_version, dst->stored_count)))
        return rc;
    dst->type = src->type;
    dst->expire_ms = src->expire_ms;
    if (src->type == KS_STRING) {
        dst->version = dst->count = 0;
        rc = write_meta(t, dp, ds, dkey, dklen, dst, src->val, src->vlen);
        if (!rc && move_src) rc = del_stored(t, sp, ss, skey, sklen, src, 0);
    } else if (move_src && sp == dp && ss == ds) {
        /* Same db and slot: the field set keeps its version and moves with the metadata. */
        dst->version = src->version;
        dst->count = src->count;
        rc = write_meta(t, dp, ds, dkey, dklen, dst, NULL, 0);
        if (!rc) rc = del_stored(t, sp, ss, skey, sklen, src, 1);
    } else {
        ks__fieldvec fv;
        if ((rc = ks__fv_load(t, sdb, skey, sklen, src, &fv))) return rc;
        if ((rc = alloc_version(t, &dst->version))) goto done;
        dst->count = fv.n;
        for (size_t i = 0; i < fv.n && !rc; i++) {
            ks__kbuf b;
            if ((rc = ks__field_key(&b, dp, ds, dst->version, fv.f[i], fv.fl[i]))) break;
            rc = tx_put(t, b.p, b.len, fv.v[i], fv.vl[i]);
            ks__kb_free(&b);
        }
        if (!rc) rc = write_meta(t, dp, ds, dkey, dklen, dst, NULL, 0);
        if (!rc && move_src) rc = del_stored(t, sp, ss, skey, sklen, src, 0);
    done:
        ks__fv_free(&fv);
    }
    if (!rc && move_src) src->exists = 0;
    return rc;
}

/* -------------------------------------------------------------- databases */

uint64_t ks_dbsize(ks_txn *t, int db)
{
    uint8_t p = tx_pdb(t, db);
    return t->cnt_dirty[p] ? t->keys[p] : t->ks->keys[p];
}

uint64_t ks_db_expires(ks_txn *t, int db)
{
    uint8_t p = tx_pdb(t, db);
    return t->cnt_dirty[p] ? t->expires[p] : t->ks->expires[p];
}

static int zero_counts(ks_txn *t, uint8_t pdb)
{
    uint64_t *k = cnt_keys(t, pdb);
    return put_counts(t, pdb, -(int64_t)*k, -(int64_t)t->expires[pdb]);
}

uint64_t ks_dbsize_committed(ks_t *ks, int db, uint64_t *expires)
{
    uint8_t p = ks->map[db];
    if (expires) *expires = ks->expires[p];
    return ks->keys[p];
}

int ks_flushdb(ks_txn *t, int db)
{
    uint8_t p = tx_pdb(t, db), s[1] = {p}, e[1] = {(uint8_t)(p + 1)};
    int rc = tx_del_range(t, s, 1, e, 1);
    return rc ? rc : zero_counts(t, p);
}

int ks_flushall(ks_txn *t)
{
    uint8_t s[1] = {0}, e[1] = {SYS};
    int rc = tx_del_range(t, s, 1, e, 1);
    for (int p = 0; p < KS_MAX_DBS && !rc; p++) {
        uint64_t k = t->cnt_dirty[p] ? t->keys[p] : t->ks->keys[p];
        uint64_t x = t->cnt_dirty[p] ? t->expires[p] : t->ks->expires[p];
        if (k || x) rc = zero_counts(t, (uint8_t)p);
    }
    return rc;
}

int ks_swapdb(ks_txn *t, int a, int b)
{
    if (!t->map_dirty) {
        memcpy(t->map, t->ks->map, KS_MAX_DBS);
        t->map_dirty = 1;
    }
    uint8_t x = t->map[a];
    t->map[a] = t->map[b];
    t->map[b] = x;
    uint8_t k[2] = {SYS, 'D'};
    return tx_put(t, k, 2, t->map, KS_MAX_DBS);
}

/* ------------------------------------------------------- SCAN, RANDOMKEY */

static void meta_seek_key(uint8_t out[8], uint8_t pdb, uint32_t slot, uint32_t h)
{
    out[0] = pdb;
    ks__put_be16(out + 1, (uint16_t)slot);
    out[3] = TAG_META;
    ks__put_be32(out + 4, h);
}

/* Positions it at the first metadata record at or after (slot, h), skipping
 * field runs with one seek per slot; 0 when there is none. */
static int seek_meta(mit *it, uint8_t pdb, uint32_t slot, uint32_t h)
{
    uint8_t k[8];
    meta_seek_key(k, pdb, slot, h);
    mit_seek(it, k, 8);
    for (int guard = 0; guard <= KS_SLOTS + 1; guard++) {
        if (!it->valid || it->kl < META_HDR || it->k[0] != pdb) return 0;
        uint32_t s = ks__get_be16(it->k + 1);
        if (s >= KS_SLOTS) return 0;
        if (it->k[3] == TAG_META) return 1;
        if (s + 1 >= KS_SLOTS) return 0;
        meta_seek_key(k, pdb, s + 1, 0);
        mit_seek(it, k, 8);
    }
    return 0;
}

static uint64_t pos_of(const uint8_t *k)
{
    return ((uint64_t)ks__get_be16(k + 1) << 32) | ks__get_be32(k + 4);
}

int ks_scan(ks_txn *t, int db, uint64_t cursor, size_t count, int type, const char *pattern,
            size_t plen, ks_key_fn fn, void *arg, uint64_t *next)
{
    *next = 0;
    uint8_t pdb = tx_pdb(t, db);
    uint64_t slot = cursor >> 32;
    if (slot >= KS_SLOTS) return 0;
    uint8_t lo[1] = {pdb}, hi[3] = {pdb, 0x40, 0x00}; /* slot 16384: end of the metadata */
    mit it;
    int rc = mit_open(&it, t, lo, 1, hi, 3);
    if (rc) return rc;
    int all = !pattern || (plen == 1 && pattern[0] == '*');
    size_t seen = 0;
    uint64_t last = UINT64_MAX;
    /* Expired keys met on the way are deleted after the walk, as Redis's SCAN does. */
    uint8_t *exp[16];
    size_t explen[16], nexp = 0;
    int more = seek_meta(&it, pdb, (uint32_t)slot, (uint32_t)cursor);
    while (more) {
        uint64_t pos = pos_of(it.k);
        if (count && seen >= count && pos != last) {
            *next = pos;
            break;
        }
        last = pos;
        seen++;
        ks_meta m;
        memset(&m, 0, sizeof(m));
        const uint8_t *key = it.k + META_HDR;
        size_t klen = it.kl - META_HDR;
        int bad = ks__meta_decode(&m, it.v, it.vl);
        if (!bad && expired_now(t, &m)) {
            if (nexp < 16 && !t->ks->replica && (exp[nexp] = malloc(klen ? klen : 1))) {
                memcpy(exp[nexp], key, klen);
                explen[nexp++] = klen;
            }
        } else if (!bad && (type == KS_NONE || type == m.type) &&
                   (all || ks_glob_match(pattern, plen, (const char *)key, klen, 0))) {
            if (fn(arg, key, klen)) break;
        }
        mit_next(&it);
        if (it.valid && it.kl >= META_HDR && it.k[3] == TAG_META) continue;
        /* Left this slot's metadata: jump to the next slot. */
        uint32_t s = (uint32_t)(pos >> 32);
        more = s + 1 < KS_SLOTS && seek_meta(&it, pdb, s + 1, 0);
    }
    rc = it.status;
    mit_close(&it);
    for (size_t i = 0; i < nexp; i++) {
        ks_meta m;
        int r = rc ? 0 : ks_lookup(t, db, exp[i], explen[i], &m); /* deletes it */
        if (!rc && !r) ks_meta_release(&m);
        if (!rc) rc = r;
        free(exp[i]);
    }
    return rc;
}

int ks_randomkey(ks_txn *t, int db, void **key, size_t *klen)
{
    if (ks_dbsize(t, db) == 0) return ERR_NOTFOUND;
    uint8_t pdb = tx_pdb(t, db);
    uint8_t lo[1] = {pdb}, hi[3] = {pdb, 0x40, 0x00};
    mit it;
    int rc = mit_open(&it, t, lo, 1, hi, 3);
    if (rc) return rc;
    rc = ERR_NOTFOUND;
    for (int tries = 0; tries < 32; tries++) {
        uint64_t r = rng_next(&t->ks->rng);
        uint32_t slot = (uint32_t)(r % KS_SLOTS), h = (uint32_t)(r >> 32);
        if (!seek_meta(&it, pdb, slot, h) && !seek_meta(&it, pdb, 0, 0)) break; /* wrap */
        ks_meta m;
        memset(&m, 0, sizeof(m));
        if (ks__meta_decode(&m, it.v, it.vl) || expired_now(t, &m)) continue;
        *klen = it.kl - META_HDR;
        *key = malloc(*klen ? *klen : 1);
        if (!*key) {
            rc = ERR_NOMEM;
            break;
        }
        memcpy(*key, it.k + META_HDR, *klen);
        rc = 0;
        break;
    }
    if (it.status) rc = it.status;
    mit_close(&it);
    return rc;
}

/* ------------------------------------------------------- background work */

typedef struct expent {
    uint8_t *key;
    size_t klen;
    int64_t when;
} expent;

/* One pass over pdb's expiry index up to now: deletes expired keys and
 * stale index entries, at most max of them. */
static int expire_pdb(ks_txn *t, int db, int64_t now, size_t max, size_t *done)
{
    uint8_t pdb = tx_pdb(t, db);
    uint8_t lo[4] = {pdb, 0xFF, 0xFF, TAG_EXP}, hi[12];
    memcpy(hi, lo, 4);
    ks__put_be64(hi + 4, (uint64_t)now + 1);
    expent *v = calloc(max, sizeof(*v));
    if (!v) return ERR_NOMEM;
    size_t n = 0;
    mit it;
    int rc = mit_open(&it, t, lo, 4, hi, 12);
    if (rc) goto err;
    for (; it.valid && n < max; mit_next(&it)) {
        if (it.kl < 14) continue;
        v[n].klen = it.kl - 14;
        v[n].key = malloc(v[n].klen + 1);
        if (!v[n].key) break;
        memcpy(v[n].key, it.k + 14, v[n].klen);
        v[n++].when = (int64_t)ks__get_be64(it.k + 4);
    }
    rc = it.status;
    mit_close(&it);
    for (size_t i = 0; i < n && !rc; i++) {
        ks_meta m;
        /* ks_lookup deletes an expired key and calls the expired hook. */
        rc = ks_lookup(t, db, v[i].key, v[i].klen, &m);
        int gone = !rc && !m.stored;
        if (!rc && m.stored && m.stored_expire != v[i].when) {
            ks__kbuf b; /* stale entry: the key's expiry changed without it */
            if (!(rc = ks__exp_key(&b, pdb, v[i].when, ks_key_slot(v[i].key, v[i].klen), v[i].key,
                                   v[i].klen))) {
                rc = tx_del(t, b.p, b.len);
                ks__kb_free(&b);
            }
        }
        if (gone) (*done)++;
        ks_meta_release(&m);
    }
err:
    for (size_t i = 0; i < n; i++) free(v[i].key);
    free(v);
    return rc;
}

/* Checks dead field sets; forgets those whose fields are all gone. */
static int gc_dead(ks_t *ks, strata_batch *b, size_t max)
{
    size_t n = ks->dlist_n < max ? ks->dlist_n : max;
    for (size_t i = 0; i < n && ks->dlist_n; i++) {
        if (ks->gc_pos >= ks->dlist_n) ks->gc_pos = 0;
        dead d = ks->dlist[ks->gc_pos];
        uint8_t lo[12], hi[12];
        ks__field_prefix(lo, d.pdb, d.slot, d.version);
        ks__field_prefix(hi, d.pdb, d.slot, d.version + 1);
        strata_read_options r;
        strata_read_options_init(&r);
        r.upper_bound = hi;
        r.upper_len = 12;
        r.fill_cache = false;
        strata_iter *it;
        int rc = strata_iter_new(ks->db, &r, 0, &it);
        if (rc) return rc;
        strata_iter_seek(it, lo, 12);
        int empty = !strata_iter_valid(it) && strata_iter_status(it) == 0;
        strata_iter_free(it);
        if (!empty) {
            ks->gc_pos++;
            continue;
        }
        uint8_t k[10] = {SYS, 'G'};
        ks__put_be64(k + 2, d.version);
        if ((rc = strata_batch_delete(b, 0, k, 10))) return rc;
        dead_remove_at(ks, ks->gc_pos);
    }
    return 0;
}

int ks_cron(ks_t *ks, uint64_t gen, int64_t now_ms, size_t max_keys, size_t *expired)
{
    *expired = 0;
    ks_txn *t = &ks->txn;
    if (ks->replica) return 0; /* a replica writes only what its primary's stream says */
    if (gen == t->gen && ks__ov_writes(t->ov)) return 0; /* a batch is still open */
    int rc = reset(t);
    if (rc) return rc;
    strata_batch *b = strata_batch_new();
    if (!b) return ERR_NOMEM;
    t->batch = b;
    t->now = now_ms;
    if (!ks->replica) {
        for (int i = 0; i < ks->databases && *expired < max_keys && !rc; i++) {
            int db = (ks->exp_rr + i) % ks->databases;
            rc = expire_pdb(t, db, now_ms, max_keys - *expired, expired);
        }
        ks->exp_rr = (ks->exp_rr + 1) % ks->databases;
    }
    if (!rc) rc = gc_dead(ks, b, max_keys);
    if (!rc) rc = ks_end(t);
    if (!rc && strata_batch_count(b)) {
        strata_write_options w;
        strata_write_options_init(&w);
        w.durability = STRATA_DUR_NONE; /* lost expiry deletions are simply redone */
        rc = strata_write(ks->db, &w, b, NULL);
    }
    int r2 = reset(t); /* follow what the engine now holds */
    if (!rc) rc = r2;
    t->batch = NULL;
    t->gen = gen;
    strata_batch_free(b);
    return rc;
}

size_t ks_dead_sets(ks_t *ks)
{
    pthread_mutex_lock(&ks->mu);
    size_t n = ks->dlist_n;
    pthread_mutex_unlock(&ks->mu);
    return n;
}

/* ------------------------------------------------------------- lifecycle */

/* Compaction filter: drops field records of dead versions. Runs on the
 * engine's compaction threads; touches only the mutex-guarded dead set. */
static int ks_filter(void *arg, uint32_t partition, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    ks_t *ks = arg;
    const uint8_t *k = key;
    if (partition != 0 || klen < FIELD_HDR || k[0] == SYS || k[3] != TAG_FIELD ||
        ks__get_be16(k + 1) >= KS_SLOTS)
        return STRATA_FILTER_KEEP;
    uint64_t ver = ks__get_be64(k + 4);
    pthread_mutex_lock(&ks->mu);
    int drop = dset_has(ks, ver);
    pthread_mutex_unlock(&ks->mu);
    return drop ? STRATA_FILTER_DROP : STRATA_FILTER_KEEP;
}

ks_t *ks_new(void)
{
    ks_t *ks = calloc(1, sizeof(*ks));
    if (!ks) return NULL;
    ks->txn.ov = ks__ov_new();
    if (!ks->txn.ov) {
        free(ks);
        return NULL;
    }
    pthread_mutex_init(&ks->mu, NULL);
    ks->txn.ks = ks;
    ks->txn.gen = UINT64_MAX;
    ks->databases = 16;
    for (int i = 0; i < KS_MAX_DBS; i++) ks->map[i] = (uint8_t)i;
    rng_seed(&ks->rng, (uint64_t)(uintptr_t)ks ^ 0x9e3779b97f4a7c15ull);
    return ks;
}

void ks_engine_options(ks_t *ks, strata_options *o)
{
    o->compaction_filter = ks_filter;
    o->compaction_filter_arg = ks;
}

int ks_attach(ks_t *ks, strata_db *db, int databases)
{
    if (databases < 1 || databases > KS_MAX_DBS)
        return err_set(ERR_INVAL, "keyspace: databases must be 1..%d", KS_MAX_DBS);
    ks->db = db;
    ks->databases = databases;
    ks__rc_clear(ks->rc); /* whatever it held described another engine state */
    int rc = load_map(ks);
    for (int p = 0; p < 256 && !rc; p++) {
        uint8_t k[3] = {SYS, 'C', (uint8_t)p};
        rc = sys_get_u64s(ks, k, 3, &ks->keys[p], &ks->expires[p]);
    }
    uint8_t vk[2] = {SYS, 'V'};
    if (!rc) rc = sys_get_u64s(ks, vk, 2, &ks->hw, NULL);
    if (rc) return rc;
    ks->next_version = ks->hw ? ks->hw : 1; /* everything below the mark may be in use */
    /* Dead field sets. */
    uint8_t lo[2] = {SYS, 'G'}, hi[2] = {SYS, 'H'};
    strata_read_options r;
    strata_read_options_init(&r);
    r.upper_bound = hi;
    r.upper_len = 2;
    strata_iter *it;
    if ((rc = strata_iter_new(db, &r, 0, &it))) return rc;
    for (strata_iter_seek(it, lo, 2); strata_iter_valid(it) && !rc; strata_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = strata_iter_key(it, &kl), *v = strata_iter_value(it, &vl);
        if (kl != 10 || vl != 3) {
            rc = err_set(ERR_CORRUPT, "keyspace: bad dead-set record");
            break;
        }
        rc = dead_add(ks, (dead){ks__get_be64(k + 2), v[0], ks__get_be16(v + 1)});
    }
    if (!rc) rc = strata_iter_status(it);
    strata_iter_free(it);
    ks->txn.gen = UINT64_MAX;
    ks->txn.batch = NULL;
    return rc;
}

void ks_free(ks_t *ks)
{
    if (!ks) return;
    ks__rc_free(ks->rc);
    ks__ov_free(ks->txn.ov);
    free(ks->txn.pend);
    free(ks->dset);
    free(ks->dlist);
    pthread_mutex_destroy(&ks->mu);
    free(ks);
}

int ks_set_cache_bytes(ks_t *ks, size_t bytes)
{
    ks__rc_free(ks->rc);
    ks->rc = ks__rc_new(bytes);
    return bytes && !ks->rc ? ERR_NOMEM : 0;
}

void ks_cache_stats(const ks_t *ks, uint64_t *hits, uint64_t *misses, size_t *bytes)
{
    ks__rc_stats(ks->rc, hits, misses, bytes);
}

int ks_databases(const ks_t *ks)
{
    return ks->databases;
}

int ks_reload(ks_t *ks, strata_db *db)
{
    ks_txn *t = &ks->txn;
    ks__ov_clear(t->ov);
    t->npend = 0;
    t->any_cnt_dirty = 0;
    memset(t->cnt_dirty, 0, sizeof(t->cnt_dirty));
    t->map_dirty = t->hw_dirty = 0;
    pthread_mutex_lock(&ks->mu);
    ks->dlist_n = 0;
    ks->gc_pos = 0;
    dset_rebuild(ks, ks->dset_cap ? ks->dset_cap : 128);
    pthread_mutex_unlock(&ks->mu);
    return ks_attach(ks, db, ks->databases);
}

typedef struct follow {
    ks_t *ks;
    uint8_t cnt[256]; /* 1: read the count from the engine; 2: the batch's value below */
    uint64_t keys[256], expires[256];
    int map, hw, rc;
} follow;

static int follow_op(void *arg, uint64_t seq, int op, uint32_t partition, const void *key,
                     size_t klen, const void *val, size_t vlen)
{
    follow *f = arg;
    const uint8_t *k = key;
    if (partition == 0 && op == STRATA_OP_DELETE_RANGE) ks__rc_clear(f->ks->rc);
    if (partition == 0 && is_meta_key(k, klen)) ks__rc_erase(f->ks->rc, k, klen);
    if (partition != 0 || klen < 2 || k[0] != SYS) return 0;
    if (k[1] == 'C' && klen == 3) {
        /* The last put of a count in the batch is its value: no engine read. */
        if (op == STRATA_OP_PUT && vlen >= 16) {
            f->cnt[k[2]] = 2;
            f->keys[k[2]] = get_u64(val);
            f->expires[k[2]] = get_u64((const uint8_t *)val + 8);
        } else {
            f->cnt[k[2]] = 1;
        }
    }
    if (k[1] == 'D' && klen == 2) f->map = 1;
    if (k[1] == 'V' && klen == 2) f->hw = 1;
    if (k[1] == 'G' && klen == 10) {
        uint64_t ver = ks__get_be64(k + 2);
        if (op == STRATA_OP_PUT && vlen == 3) {
            const uint8_t *v = val;
            int r = dead_add(f->ks, (dead){ver, v[0], ks__get_be16(v + 1)});
            if (r && !f->rc) f->rc = r;
        } else if (op == STRATA_OP_DELETE) {
            for (size_t j = 0; j < f->ks->dlist_n; j++)
                if (f->ks->dlist[j].version == ver) {
                    dead_remove_at(f->ks, j);
                    break;
                }
        }
    }
    if (op == STRATA_OP_DELETE_RANGE) f->map = f->hw = 1, memset(f->cnt, 1, sizeof(f->cnt));
    return 0;
}

int ks_follow(ks_t *ks, const void *data, size_t len)
{
    follow f;
    memset(&f, 0, sizeof(f));
    f.ks = ks;
    int rc = strata_batch_iterate(data, len, follow_op, &f);
    for (int p = 0; p < 256 && !rc; p++) {
        if (!f.cnt[p]) continue;
        if (f.cnt[p] == 2) {
            ks->keys[p] = f.keys[p];
            ks->expires[p] = f.expires[p];
            continue;
        }
        uint8_t k[3] = {SYS, 'C', (uint8_t)p};
        rc = sys_get_u64s(ks, k, 3, &ks->keys[p], &ks->expires[p]);
    }
    if (!rc && f.map) rc = load_map(ks);
    if (!rc && f.hw) {
        uint8_t k[2] = {SYS, 'V'};
        rc = sys_get_u64s(ks, k, 2, &ks->hw, NULL);
        if (!rc) ks->next_version = ks->hw ? ks->hw : 1;
    }
    return rc ? rc : f.rc;
}

void ks_set_replica(ks_t *ks, int on)
{
    ks->replica = on;
}

void ks_set_expired_hook(ks_t *ks, ks_expired_fn fn, void *arg)
{
    ks->expired_fn = fn;
    ks->expired_arg = arg;
}
