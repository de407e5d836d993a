/* Sharded block cache (see cache.h). Each shard: an open-addressing hash
 * table, a slot array with one referenced byte per slot, under one mutex;
 * capacity split evenly.
 *
 * Replacement is CLOCK (second chance), not strict LRU. Every cached block
 * sits in a slot; a hit sets the slot's referenced byte. Eviction moves a
 * hand over the slots: a referenced slot loses its byte and is passed over,
 * the first unreferenced one is dropped. The bytes are one dense array, so
 * passing over a slot reads no block, and a hit moves nothing (an LRU list
 * would touch two neighbours per hit, usually two cache misses). The hand
 * passes over each slot at most twice per eviction.
 *
 * The entry is the block itself (its c_* fields). The hash table holds
 * (hash, block) pairs with linear probing, at most half full: a probe
 * compares hashes in the table and reads only the block whose hash matches
 * (its line 0: the key and the refcount; its next two lines, the restart
 * numbers a search reads next, are fetched at the same time), so neither a
 * miss nor an eviction touches the blocks it passes over. Each slot keeps
 * its block's hash, so an eviction finds the victim's bucket by pointer and
 * reads the victim only to drop it (one line, fetched one eviction ahead).
 * Removal shifts the following
 * entries of the run back (no tombstones). The c_* fields of a cached block
 * change only under its shard's mutex; the cache's reference keeps the
 * block alive while it is in a slot.
 *
 * Invariants (per shard): slot[b->c_slot] == b and hash[b->c_slot] is its
 * hkey for every cached b, in the
 * hash table exactly once, reachable from its home bucket without an empty
 * bucket in between; the other slots below nslots are NULL and listed in
 * free_slots; count and used sum the cached blocks; count <= nbuckets / 2. */
#include "engine/cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16

typedef struct bucket {
    uint64_t hash; /* hkey of b's (file, offset); meaningful when b is set */
    block *b;
} bucket;

typedef struct shard {
    pthread_mutex_t mu;
    bucket *table; /* nbuckets, a power of two */
    size_t nbuckets, count, used, capacity;
    block **slot;       /* nslots used, cap_slots allocated */
    uint64_t *hash;     /* per slot: hkey of its block, so eviction finds its bucket unread */
    uint8_t *ref;       /* referenced byte per slot */
    uint32_t *free_ids; /* NULL slots below nslots */
    uint32_t nslots, cap_slots, nfree, hand;
} shard;

struct block_cache {
    shard shards[SHARDS];
    atomic_uint_fast64_t hits, misses;
    size_t capacity;
};

static inline uint64_t hkey(uint64_t file, uint64_t off)
{
    uint64_t h = file * 0x9e3779b97f4a7c15ull ^ (off + 0x632be59bd9b4e019ull);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

/* The shard comes from the top bits, the bucket from the low bits: taking
 * both from the low bits would leave 15 of every 16 buckets empty. */
static inline unsigned shard_of(uint64_t h)
{
    return (unsigned)(h >> 60) % SHARDS;
}

block_cache *block_cache_new(size_t capacity_bytes)
{
    block_cache *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    for (int i = 0; i < SHARDS; i++) /* all valid before any can fail */
        pthread_mutex_init(&c->shards[i].mu, NULL);
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        s->nbuckets = 1024;
        s->table = calloc(s->nbuckets, sizeof(bucket));
        if (!s->table) {
            block_cache_free(c);
            return NULL;
        }
    }
    block_cache_set_capacity(c, capacity_bytes);
    return c;
}

/* The bucket holding (file, off) of hash h, or the empty bucket that ends
 * its probe run. */
static size_t probe(const shard *s, uint64_t h, uint64_t file, uint64_t off)
{
    size_t mask = s->nbuckets - 1, i = h & mask;
    for (;;) { /* bounded: the table is at most half full */
        const bucket *k = &s->table[i];
        if (!k->b || (k->hash == h && k->b->c_file == file && k->b->c_off == off)) return i;
        i = (i + 1) & mask;
    }
}

/* Empties bucket i, moving later entries of its run back so that each stays
 * reachable from its home bucket. */
static void table_delete(shard *s, size_t i)
{
    size_t mask = s->nbuckets - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->table[j].b) break;
        size_t home = s->table[j].hash & mask;
        /* j's entry may fill the hole at i unless its home lies in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->table[i] = s->table[j];
            i = j;
        }
    }
    s->table[i].b = NULL;
}

static inline size_t charge(const block *b)
{
    return b->size + sizeof(block);
}

/* Takes the block in slot si out of the shard and drops the cache's
 * reference. Its bucket is found by pointer from the slot's hash, so the
 * block itself is read only to drop it (line 0). */
static void remove_slot(shard *s, uint32_t si)
{
    block *e = s->slot[si];
    size_t mask = s->nbuckets - 1, i = s->hash[si] & mask;
    while (s->table[i].b != e) { /* bounded: e is in the table (invariant) */
        assert(s->table[i].b);
        i = (i + 1) & mask;
    }
    table_delete(s, i);
    s->slot[si] = NULL;
    s->free_ids[s->nfree++] = si;
    s->count--;
    s->used -= charge(e);
    e->c_cached = false;
    block_unref(e);
}

static void evict(shard *s)
{
    /* Bounded: every pass over all slots clears every referenced byte, so a
     * second pass finds a victim while any block is cached. */
    while (s->used > s->capacity && s->count) {
        uint32_t i = s->hand;
        s->hand = i + 1 < s->nslots ? i + 1 : 0;
        if (!s->slot[i]) continue;
        if (s->ref[i]) {
            s->ref[i] = 0; /* second chance */
            continue;
        }
        remove_slot(s, i);
        /* The next victim is probably the block at the hand: start
         * fetching its header for the next eviction. */
        if (s->hand < s->nslots && s->slot[s->hand]) __builtin_prefetch(s->slot[s->hand]);
    }
}

/* A free slot index, growing the arrays when all are used; -1 if out of memory. */
static int64_t take_slot(shard *s)
{
    if (s->nfree) return s->free_ids[--s->nfree];
    if (s->nslots == s->cap_slots) {
        uint32_t cap = s->cap_slots ? s->cap_slots * 2 : 256;
        block **ns = realloc(s->slot, cap * sizeof(*ns));
        if (ns) s->slot = ns;
        uint64_t *nh = ns ? realloc(s->hash, cap * sizeof(*nh)) : NULL;
        if (nh) s->hash = nh;
        uint8_t *nr = nh ? realloc(s->ref, cap) : NULL;
        if (nr) s->ref = nr;
        uint32_t *nf = nr ? realloc(s->free_ids, cap * sizeof(*nf)) : NULL;
        if (!nf) return -1;
        s->free_ids = nf;
        s->cap_slots = cap;
    }
    return s->nslots++;
}

void block_cache_free(block_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        for (uint32_t j = 0; j < s->nslots; j++)
            if (s->slot[j]) remove_slot(s, j);
        free(s->slot);
        free(s->hash);
        free(s->ref);
        free(s->free_ids);
        free(s->table);
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

block *block_cache_lookup(block_cache *c, uint64_t file, uint64_t off)
{
    uint64_t h = hkey(file, off);
    shard *s = &c->shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    size_t mask = s->nbuckets - 1, i = h & mask;
    block *e;
    for (;;) { /* probe(), fetching a matching block's header lines at once */
        const bucket *k = &s->table[i];
        if (!(e = k->b)) break;
        if (k->hash == h) {
            __builtin_prefetch((const char *)e + 64); /* its restart numbers */
            __builtin_prefetch((const char *)e + 128);
            if (e->c_file == file && e->c_off == off) break;
        }
        i = (i + 1) & mask;
    }
    if (e) {
        s->ref[e->c_slot] = 1;
        block_ref(e);
        block_prefetch(e); /* overlaps the first reads of the search with the unlock */
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(e ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return e;
}

/* Doubles the table; 0, or -1 if out of memory (the table is unchanged). */
static int grow(shard *s)
{
    size_t nb = s->nbuckets * 2;
    bucket *t = calloc(nb, sizeof(*t));
    if (!t) return -1;
    for (size_t i = 0; i < s->nbuckets; i++) {
        if (!s->table[i].b) continue;
        size_t j = s->table[i].hash & (nb - 1);
        while (t[j].b) j = (j + 1) & (nb - 1);
        t[j] = s->table[i];
    }
    free(s->table);
    s->table = t;
    s->nbuckets = nb;
    return 0;
}

void block_cache_insert(block_cache *c, uint64_t file, uint64_t off, block *b)
{
    uint64_t h = hkey(file, off);
    shard *s = &c->shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    if (b->c_cached) { /* already in a cache: it stays where it is */
        pthread_mutex_unlock(&s->mu);
        return;
    }
    block *old = s->table[probe(s, h, file, off)].b;
    if (old) remove_slot(s, old->c_slot);
    /* Keep the table at most half full; out of memory: not cached. */
    int64_t slot = (s->count + 1) * 2 > s->nbuckets && grow(s) ? -1 : take_slot(s);
    if (slot < 0) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    block_ref(b);
    b->c_file = file;
    b->c_off = off;
    b->c_slot = (uint32_t)slot;
    b->c_cached = true;
    s->slot[slot] = b;
    s->hash[slot] = h;
    s->ref[slot] = 0;
    bucket *k = &s->table[probe(s, h, file, off)]; /* the empty bucket ending the run */
    k->hash = h;
    k->b = b;
    s->count++;
    s->used += charge(b);
    evict(s);
    pthread_mutex_unlock(&s->mu);
}

void block_cache_erase_file(block_cache *c, uint64_t file)
{
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        for (uint32_t j = 0; j < s->nslots; j++)
            if (s->slot[j] && s->slot[j]->c_file == file) remove_slot(s, j);
        pthread_mutex_unlock(&s->mu);
    }
}

void block_cache_set_capacity(block_cache *c, size_t capacity_bytes)
{
    c->capacity = capacity_bytes;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        s->capacity = capacity_bytes / SHARDS;
        evict(s);
        pthread_mutex_unlock(&s->mu);
    }
}

void block_cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes,
                       uint64_t *capacity)
{
    uint64_t used = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shards[i].mu);
        used += c->shards[i].used;
        pthread_mutex_unlock(&c->shards[i].mu);
    }
    *hits = atomic_load(&c->hits);
    *misses = atomic_load(&c->misses);
    *bytes = used;
    *capacity = c->capacity;
}
