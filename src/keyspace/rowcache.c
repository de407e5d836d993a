/* Row cache of metadata records (see rowcache.h): a power-of-two array of
 * sets, each one cache line of six ways (a 16-bit tag of the key's hash
 * and an entry pointer per way), so a miss costs one cache line and a hit
 * one more; reference counted entries holding [value][key] in one
 * allocation, rounded up so that a rewrite of a same-sized value (a SET
 * over a cached key) reuses it in place. */
#include "keyspace/rowcache.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#define RC_MAX_ENTRY 4096 /* bytes of key + value; larger rows are not cached */
#define RC_OVERHEAD                                                                                \
    48 /* charged per entry (test_rowcache knows it) for its header and the allocator */
#define RC_AVG_ENTRY 192 /* expected charge of an entry: sizes the set array */
#define RC_WAYS      6
#define RC_ROUND     16 /* data allocations are multiples of this */

typedef struct rc_ent {
    uint64_t hash;
    uint32_t refs; /* 1 for the table while cached, +1 per ks__rc_get holder */
    uint32_t klen;
    uint32_t vlen;
    uint32_t cap;    /* bytes allocated for data */
    uint32_t absent; /* the engine holds no such key */
    size_t charge;
    uint8_t data[]; /* value, then key */
} rc_ent;

typedef struct rc_set {
    uint16_t tag[RC_WAYS]; /* meaningful where e[i] is set */
    uint32_t pad;
    rc_ent *e[RC_WAYS];
} rc_set;
_Static_assert(sizeof(rc_set) == 64, "a set is one cache line");

struct ks__rc {
    rc_set *sets;
    size_t mask;
    size_t cap_bytes, used_bytes;
    uint64_t hits, misses;
};

static uint64_t rc_hash(const uint8_t *k, size_t kl)
{
    /* Metadata keys start with [pdb][slot][tag][32-bit key hash]: mixing
     * those 8 bytes is enough to spread them, and costs no pass over the key. */
    if (kl >= 8) {
        uint64_t x;
        memcpy(&x, k, 8);
        x ^= (uint64_t)kl << 56;
        x *= 0x9E3779B97F4A7C15ull;
        return x ^ (x >> 29);
    }
    return XXH3_64bits(k, kl);
}

static inline uint16_t rc_tag(uint64_t h)
{
    return (uint16_t)(h >> 48);
}

ks__rc *ks__rc_new(size_t cap_bytes)
{
    if (!cap_bytes) return NULL;
    ks__rc *rc = calloc(1, sizeof(*rc));
    if (!rc) return NULL;
    size_t n = 16;
    while (n * RC_WAYS < cap_bytes / RC_AVG_ENTRY && n < ((size_t)1 << 26)) n *= 2;
    /* Probes land anywhere in the array: from 2 MiB on it sits on huge
     * pages, so a probe is a cache miss without a TLB miss as well. */
    size_t bytes = n * sizeof(rc_set), huge = (size_t)2 << 20;
    rc->sets = aligned_alloc(bytes >= huge ? huge : sizeof(rc_set), bytes);
    if (!rc->sets) {
        free(rc);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (bytes >= huge) madvise(rc->sets, bytes, MADV_HUGEPAGE);
#endif
    memset(rc->sets, 0, bytes);
    rc->mask = n - 1;
    rc->cap_bytes = cap_bytes;
    return rc;
}

static void ent_unref(rc_ent *e)
{
    assert(e->refs > 0);
    if (--e->refs == 0) free(e);
}

static void drop_way(ks__rc *rc, rc_ent **w)
{
    rc_ent *e = *w;
    if (!e) return;
    *w = NULL;
    rc->used_bytes -= e->charge;
    ent_unref(e);
}

void ks__rc_clear(ks__rc *rc)
{
    if (!rc) return;
    for (size_t i = 0; i <= rc->mask; i++)
        for (int j = 0; j < RC_WAYS; j++) drop_way(rc, &rc->sets[i].e[j]);
    assert(rc->used_bytes == 0);
}

void ks__rc_free(ks__rc *rc)
{
    if (!rc) return;
    ks__rc_clear(rc);
    free(rc->sets);
    free(rc);
}

static inline rc_set *set_of(const ks__rc *rc, uint64_t h)
{
    return &rc->sets[(size_t)h & rc->mask];
}

/* The way holding k, or NULL. Only a way whose tag matches is dereferenced. */
static rc_ent **find(const ks__rc *rc, const uint8_t *k, size_t kl, uint64_t h)
{
    rc_set *s = set_of(rc, h);
    uint16_t t = rc_tag(h);
    for (int i = 0; i < RC_WAYS; i++) {
        const rc_ent *e = s->e[i];
        if (s->tag[i] == t && e && e->hash == h && e->klen == kl &&
            memcmp(e->data + e->vlen, k, kl) == 0)
            return &s->e[i];
    }
    return NULL;
}

int ks__rc_get(ks__rc *rc, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl)
{
    if (!rc) return 0;
    rc_ent **w = find(rc, k, kl, rc_hash(k, kl));
    if (!w) {
        rc->misses++;
        return 0;
    }
    rc->hits++;
    rc_ent *e = *w;
    if (e->absent) return 1;
    e->refs++;
    *v = e->data;
    *vl = e->vlen;
    return 2;
}

void ks__rc_unref(const void *v)
{
    rc_ent *e = (rc_ent *)((uint8_t *)(uintptr_t)v - offsetof(rc_ent, data));
    ent_unref(e);
}

void ks__rc_erase(ks__rc *rc, const uint8_t *k, size_t kl)
{
    if (!rc) return;
    rc_ent **w = find(rc, k, kl, rc_hash(k, kl));
    if (w) drop_way(rc, w);
}

/* Rewrites an entry no one else holds with k's row, when it fits its
 * allocation: no allocator round trip for a SET over a cached key, nor for
 * a new key taking the way of a same-sized victim. same: e holds k already. */
static int put_in_place(ks__rc *rc, rc_ent *e, const uint8_t *k, size_t kl, const void *v,
                        size_t vl, uint64_t h, int same)
{
    if (e->refs != 1 || kl + vl > e->cap) return 0;
    size_t charge = kl + vl + RC_OVERHEAD;
    if (rc->used_bytes - e->charge + charge > rc->cap_bytes) return 0;
    rc->used_bytes += charge - e->charge;
    e->charge = charge;
    if (!same)
        memcpy(e->data + vl, k, kl);
    else if (e->vlen != vl)
        memmove(e->data + vl, e->data + e->vlen, kl);
    if (vl) memcpy(e->data, v, vl);
    e->hash = h;
    e->klen = (uint32_t)kl;
    e->vlen = (uint32_t)vl;
    e->absent = v == NULL;
    return 1;
}

static void put_hashed(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl,
                       uint64_t h, rc_ent **old)
{
    if (!v) vl = 0;
    if (old && kl + vl <= RC_MAX_ENTRY && put_in_place(rc, *old, k, kl, v, vl, h, 1)) return;
    if (old) drop_way(rc, old);
    if (kl + vl > RC_MAX_ENTRY) return;
    rc_set *s = set_of(rc, h);
    int i = (int)((h >> 32) % RC_WAYS);
    for (int j = 0; j < RC_WAYS; j++) /* an empty way, else a pseudo-random one */
        if (!s->e[j]) {
            i = j;
            break;
        }
    if (s->e[i] && put_in_place(rc, s->e[i], k, kl, v, vl, h, 0)) {
        s->tag[i] = rc_tag(h);
        return;
    }
    drop_way(rc, &s->e[i]);
    size_t charge = kl + vl + RC_OVERHEAD;
    if (rc->used_bytes + charge > rc->cap_bytes) return;
    size_t cap = (kl + vl + RC_ROUND - 1) / RC_ROUND * RC_ROUND;
    rc_ent *e = malloc(sizeof(*e) + cap);
    if (!e) return;
    e->hash = h;
    e->refs = 1;
    e->klen = (uint32_t)kl;
    e->vlen = (uint32_t)vl;
    e->cap = (uint32_t)cap;
    e->absent = v == NULL;
    e->charge = charge;
    if (vl) memcpy(e->data, v, vl);
    memcpy(e->data + vl, k, kl);
    s->e[i] = e;
    s->tag[i] = rc_tag(h);
    rc->used_bytes += charge;
}

void ks__rc_put(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    if (!rc) return;
    uint64_t h = rc_hash(k, kl);
    put_hashed(rc, k, kl, v, vl, h, find(rc, k, kl, h));
}

void ks__rc_update(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    if (!rc) return;
    uint64_t h = rc_hash(k, kl);
    rc_ent **old = find(rc, k, kl, h);
    if (old) put_hashed(rc, k, kl, v, vl, h, old);
}

void ks__rc_stats(const ks__rc *rc, uint64_t *hits, uint64_t *misses, size_t *bytes)
{
    *hits = rc ? rc->hits : 0;
    *misses = rc ? rc->misses : 0;
    *bytes = rc ? rc->used_bytes : 0;
}
