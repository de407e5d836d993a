/* Sharded block cache (see cache.h). Each shard: a chained hash table and a
 * CLOCK list under one mutex; capacity split evenly.
 *
 * Replacement is CLOCK (second chance), not strict LRU: a hit only sets the
 * entry's referenced bit, so a lookup touches the bucket chain and nothing
 * else (moving the entry in a list would touch two neighbours, usually two
 * cache misses). Eviction takes the oldest entry: if its bit is set, the bit
 * is cleared and the entry goes to the back of the list; otherwise it is
 * dropped. Each entry is passed over at most once per eviction, so one
 * eviction visits at most 2 * count entries.
 *
 * The entry is the block itself (its c_* fields): a hit reads the bucket and
 * one line of the block, which holds the key, the link and the refcount. The
 * c_* fields of a cached block change only under its shard's mutex; the
 * cache's reference keeps the block alive while it is in a shard. */
#include "engine/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16

typedef struct shard {
    pthread_mutex_t mu;
    block **table;
    size_t nbuckets, count, used, capacity;
    block lru; /* sentinel of the CLOCK list: lru.c_next is the oldest */
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
    for (int i = 0; i < SHARDS; i++) { /* all valid before any can fail */
        pthread_mutex_init(&c->shards[i].mu, NULL);
        c->shards[i].lru.c_next = c->shards[i].lru.c_prev = &c->shards[i].lru;
    }
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        s->nbuckets = 1024;
        s->table = calloc(s->nbuckets, sizeof(block *));
        if (!s->table) {
            block_cache_free(c);
            return NULL;
        }
    }
    block_cache_set_capacity(c, capacity_bytes);
    return c;
}

static void lru_unlink(block *e)
{
    e->c_prev->c_next = e->c_next;
    e->c_next->c_prev = e->c_prev;
}

static void lru_push(shard *s, block *e)
{
    e->c_next = &s->lru;
    e->c_prev = s->lru.c_prev;
    e->c_prev->c_next = e;
    s->lru.c_prev = e;
}

/* Takes e out of the shard and drops the cache's reference. */
static void remove_entry(shard *s, block *e)
{
    block **pp = &s->table[e->c_hash & (s->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->c_hnext;
    *pp = e->c_hnext;
    lru_unlink(e);
    s->count--;
    s->used -= e->c_charge;
    e->c_cached = false;
    block_unref(e);
}

static void evict(shard *s)
{
    while (s->used > s->capacity && s->lru.c_next != &s->lru) {
        block *e = s->lru.c_next;
        if (!e->c_referenced) {
            remove_entry(s, e);
            continue;
        }
        e->c_referenced = false; /* second chance */
        lru_unlink(e);
        lru_push(s, e);
    }
}

void block_cache_free(block_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        while (s->lru.c_next != &s->lru) remove_entry(s, s->lru.c_next);
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
    block *e = s->table[h & (s->nbuckets - 1)];
    while (e && (e->c_file != file || e->c_off != off)) e = e->c_hnext;
    if (e) {
        e->c_referenced = true;
        block_ref(e);
        block_prefetch(e); /* overlaps the first reads of the search with the unlock */
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(e ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return e;
}

static void grow(shard *s)
{
    size_t nb = s->nbuckets * 2;
    block **t = calloc(nb, sizeof(block *));
    if (!t) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        block *e = s->table[i];
        while (e) {
            block *n = e->c_hnext;
            size_t j = e->c_hash & (nb - 1);
            e->c_hnext = t[j];
            t[j] = e;
            e = n;
        }
    }
    free(s->table);
    s->table = t;
    s->nbuckets = nb;
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
    block *old = s->table[h & (s->nbuckets - 1)];
    while (old && (old->c_file != file || old->c_off != off)) old = old->c_hnext;
    if (old) remove_entry(s, old);
    if (s->count >= s->nbuckets) grow(s);
    block_ref(b);
    b->c_file = file;
    b->c_off = off;
    b->c_hash = h;
    b->c_charge = b->size + sizeof(block);
    b->c_referenced = false;
    b->c_cached = true;
    size_t j = h & (s->nbuckets - 1);
    b->c_hnext = s->table[j];
    s->table[j] = b;
    lru_push(s, b);
    s->count++;
    s->used += b->c_charge;
    evict(s);
    pthread_mutex_unlock(&s->mu);
}

void block_cache_erase_file(block_cache *c, uint64_t file)
{
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        block *e = s->lru.c_next;
        while (e != &s->lru) {
            block *n = e->c_next;
            if (e->c_file == file) remove_entry(s, e);
            e = n;
        }
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
