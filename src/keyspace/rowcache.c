/* Row cache of metadata records (see rowcache.h): a power-of-two array of
 * slots, four candidate slots per key (an aligned group of four: one
 * 64-byte line of hash | entry pointer pairs), reference counted entries
 * holding [value][key] in one allocation. A probe compares the hashes in
 * the line and reads an entry only when its hash matches: a miss costs one
 * memory access, not one per occupied way. */
#include "keyspace/rowcache.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define RC_MAX_ENTRY 4096 /* bytes of key + value; larger rows are not cached */
#define RC_OVERHEAD  48   /* charged per entry for its header and the allocator */
#define RC_AVG_ENTRY 192  /* expected charge of an entry: sizes the slot array */
#define RC_WAYS      4

typedef struct rc_ent {
    uint32_t refs; /* 1 for the table while cached, +1 per ks__rc_get holder */
    uint32_t klen;
    uint32_t vlen;
    uint32_t absent; /* the engine holds no such key */
    size_t charge;
    uint8_t data[]; /* value, then key */
} rc_ent;

typedef struct rc_slot {
    uint64_t hash; /* the entry's hash, meaningful when e is set */
    rc_ent *e;
} rc_slot;
_Static_assert(sizeof(rc_slot) * RC_WAYS == 64, "a way group is one cache line");

struct ks__rc {
    rc_slot *slots; /* line aligned */
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

ks__rc *ks__rc_new(size_t cap_bytes)
{
    if (!cap_bytes) return NULL;
    ks__rc *rc = calloc(1, sizeof(*rc));
    if (!rc) return NULL;
    size_t n = 64;
    while (n < cap_bytes / RC_AVG_ENTRY && n < ((size_t)1 << 28)) n *= 2;
    rc->slots = aligned_alloc(64, n * sizeof(*rc->slots));
    if (rc->slots) memset(rc->slots, 0, n * sizeof(*rc->slots));
    if (!rc->slots) {
        free(rc);
        return NULL;
    }
    rc->mask = n - 1;
    rc->cap_bytes = cap_bytes;
    return rc;
}

static void ent_unref(rc_ent *e)
{
    assert(e->refs > 0);
    if (--e->refs == 0) free(e);
}

static void drop_slot(ks__rc *rc, size_t i)
{
    rc_ent *e = rc->slots[i].e;
    if (!e) return;
    rc->slots[i].e = NULL;
    rc->used_bytes -= e->charge;
    ent_unref(e);
}

void ks__rc_clear(ks__rc *rc)
{
    if (!rc) return;
    for (size_t i = 0; i <= rc->mask; i++) drop_slot(rc, i);
    assert(rc->used_bytes == 0);
}

void ks__rc_free(ks__rc *rc)
{
    if (!rc) return;
    ks__rc_clear(rc);
    free(rc->slots);
    free(rc);
}

/* The slot holding k, or -1. */
static long find(const ks__rc *rc, const uint8_t *k, size_t kl, uint64_t h)
{
    size_t base = (size_t)h & rc->mask & ~(size_t)(RC_WAYS - 1);
    for (size_t i = base; i < base + RC_WAYS; i++) {
        const rc_ent *e = rc->slots[i].e;
        if (e && rc->slots[i].hash == h && e->klen == kl && memcmp(e->data + e->vlen, k, kl) == 0)
            return (long)i;
    }
    return -1;
}

int ks__rc_get(ks__rc *rc, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl)
{
    if (!rc) return 0;
    long i = find(rc, k, kl, rc_hash(k, kl));
    if (i < 0) {
        rc->misses++;
        return 0;
    }
    rc->hits++;
    rc_ent *e = rc->slots[i].e;
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
    long i = find(rc, k, kl, rc_hash(k, kl));
    if (i >= 0) drop_slot(rc, (size_t)i);
}

void ks__rc_put(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    if (!rc) return;
    uint64_t h = rc_hash(k, kl);
    long old = find(rc, k, kl, h);
    if (old >= 0) drop_slot(rc, (size_t)old);
    if (!v) vl = 0;
    if (kl + vl > RC_MAX_ENTRY) return;
    size_t base = (size_t)h & rc->mask & ~(size_t)(RC_WAYS - 1), i = base + (h >> 62);
    for (size_t j = base; j < base + RC_WAYS; j++) /* an empty way, else a pseudo-random one */
        if (!rc->slots[j].e) {
            i = j;
            break;
        }
    drop_slot(rc, i);
    size_t charge = kl + vl + RC_OVERHEAD;
    if (rc->used_bytes + charge > rc->cap_bytes) return;
    rc_ent *e = malloc(sizeof(*e) + vl + kl);
    if (!e) return;
    e->refs = 1;
    e->klen = (uint32_t)kl;
    e->vlen = (uint32_t)vl;
    e->absent = v == NULL;
    e->charge = charge;
    if (vl) memcpy(e->data, v, vl);
    memcpy(e->data + vl, k, kl);
    rc->slots[i].hash = h;
    rc->slots[i].e = e;
    rc->used_bytes += charge;
}

void ks__rc_update(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl)
{
    if (rc && find(rc, k, kl, rc_hash(k, kl)) >= 0) ks__rc_put(rc, k, kl, v, vl);
}

void ks__rc_stats(const ks__rc *rc, uint64_t *hits, uint64_t *misses, size_t *bytes)
{
    *hits = rc ? rc->hits : 0;
    *misses = rc ? rc->misses : 0;
    *bytes = rc ? rc->used_bytes : 0;
}
