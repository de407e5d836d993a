/* Sharded block cache (see cache.h). Each shard: a chained hash table and a
 * CLOCK list under one mutex; capacity split evenly.
 *
 * Replacement is CLOCK (second chance), not strict LRU: a hit only sets the
 * entry's referenced bit, so a lookup touches the bucket chain and nothing
 * else (moving the entry in a list would touch two neighbours, usually two
 * cache misses). Eviction takes the oldest entry: if its bit is set, the bit
 * is cleared and the entry goes to the back of the list; otherwise it is
 * dropped. Each entry is passed over at most once per eviction, so one
 * eviction visits at most 2 * count entries. */
#include "engine/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16

typedef struct centry {
    uint64_t file, off;
    struct centry *hnext;
    block *b;
    uint64_t hash;
    size_t charge;
    bool referenced; /* hit since it was last passed over by eviction */
    struct centry *prev, *next;
} centry;

typedef struct shard {
    pthread_mutex_t mu;
    centry **table;
    size_t nbuckets, count, used, capacity;
    centry lru; /* sentinel of the CLOCK list: lru.next is the oldest */
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
        c->shards[i].lru.next = c->shards[i].lru.prev = &c->shards[i].lru;
    }
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        s->nbuckets = 1024;
        s->table = calloc(s->nbuckets, sizeof(centry *));
        if (!s->table) {
            block_cache_free(c);
            return NULL;
        }
    }
    block_cache_set_capacity(c, capacity_bytes);
    return c;
}

static void lru_unlink(centry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push(shard *s, centry *e)
{
    e->next = &s->lru;
    e->prev = s->lru.prev;
    e->prev->next = e;
    s->lru.prev = e;
}

static void remove_entry(shard *s, centry *e)
{
    centry **pp = &s->table[e->hash & (s->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    s->count--;
    s->used -= e->charge;
    block_unref(e->b);
    free(e);
}

static void evict(shard *s)
{
    while (s->used > s->capacity && s->lru.next != &s->lru) {
        centry *e = s->lru.next;
        if (!e->referenced) {
            remove_entry(s, e);
            continue;
        }
        e->referenced = false; /* second chance */
        lru_unlink(e);
        lru_push(s, e);
    }
}

void block_cache_free(block_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        while (s->lru.next != &s->lru) remove_entry(s, s->lru.next);
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
    centry *e = s->table[h & (s->nbuckets - 1)];
    while (e && (e->file != file || e->off != off)) e = e->hnext;
    block *b = NULL;
    if (e) {
        e->referenced = true;
        b = e->b;
        block_ref(b);
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add_explicit(b ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return b;
}

static void grow(shard *s)
{
    size_t nb = s->nbuckets * 2;
    centry **t = calloc(nb, sizeof(centry *));
    if (!t) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        centry *e = s->table[i];
        while (e) {
            centry *n = e->hnext;
            size_t j = e->hash & (nb - 1);
            e->hnext = t[j];
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
    centry *e = calloc(1, sizeof(*e));
    if (!e) return;
    e->file = file;
    e->off = off;
    e->hash = h;
    e->b = b;
    e->charge = b->size + sizeof(block) + sizeof(centry);
    block_ref(b);
    pthread_mutex_lock(&s->mu);
    centry *old = s->table[h & (s->nbuckets - 1)];
    while (old && (old->file != file || old->off != off)) old = old->hnext;
    if (old) remove_entry(s, old);
    if (s->count >= s->nbuckets) grow(s);
    size_t j = h & (s->nbuckets - 1);
    e->hnext = s->table[j];
    s->table[j] = e;
    lru_push(s, e);
    s->count++;
    s->used += e->charge;
    evict(s);
    pthread_mutex_unlock(&s->mu);
}

void block_cache_erase_file(block_cache *c, uint64_t file)
{
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        centry *e = s->lru.next;
        while (e != &s->lru) {
            centry *n = e->next;
            if (e->file == file) remove_entry(s, e);
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
