/* Table cache (see tablecache.h). A chained hash table of entries plus an LRU
 * list of the unpinned ones, all under one mutex: opening a table is rare
 * next to block reads, which do not touch this lock.
 *
 * Invariants
 *  1. An entry is in the hash table iff it is not evicted; it is in the LRU
 *     list iff it is in the table and refs == 1 (only the cache holds it).
 *  2. The reader is closed when refs drops to 0.
 *  3. Opening happens outside the mutex; two threads may race to open the
 *     same table, the loser closes its copy. */
#include "engine/tablecache.h"

#include "util/err.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tc_handle {
    uint64_t number;
    sst_reader *r;
    int refs;
    bool in_table;
    struct tc_handle *hnext;               /* hash chain */
    struct tc_handle *lru_prev, *lru_next; /* when only the cache holds it */
};

struct table_cache {
    env_t *env;
    char *dir;
    block_cache *bc;
    int max_open;
    pthread_mutex_t mu;
    tc_handle **buckets;
    size_t nbuckets;
    int count;
    tc_handle lru; /* sentinel: lru.lru_next is the oldest */
    uint64_t bloom_useful_closed;
    bool mmap_reads;
};

void table_path(char *buf, size_t cap, const char *dir, uint64_t number)
{
    snprintf(buf, cap, "%s/%06llu.sst", dir, (unsigned long long)number);
}

table_cache *table_cache_new(env_t *env, const char *dir, int max_open, block_cache *bc,
                             bool mmap_reads)
{
    table_cache *tc = calloc(1, sizeof(*tc));
    if (!tc) return NULL;
    tc->env = env;
    tc->mmap_reads = mmap_reads;
    tc->dir = strdup(dir);
    tc->bc = bc;
    tc->max_open = max_open < 1 ? 1 : max_open;
    tc->nbuckets = 1024;
    tc->buckets = calloc(tc->nbuckets, sizeof(*tc->buckets));
    if (!tc->dir || !tc->buckets) {
        free(tc->dir);
        free(tc->buckets);
        free(tc);
        return NULL;
    }
    pthread_mutex_init(&tc->mu, NULL);
    tc->lru.lru_next = tc->lru.lru_prev = &tc->lru;
    return tc;
}

static void lru_remove(tc_handle *h)
{
    if (!h->lru_next) return;
    h->lru_prev->lru_next = h->lru_next;
    h->lru_next->lru_prev = h->lru_prev;
    h->lru_next = h->lru_prev = NULL;
}

static void lru_append(table_cache *tc, tc_handle *h)
{
    h->lru_next = &tc->lru;
    h->lru_prev = tc->lru.lru_prev;
    h->lru_prev->lru_next = h;
    tc->lru.lru_prev = h;
}

static tc_handle **slot_of(table_cache *tc, uint64_t number)
{
    tc_handle **p = &tc->buckets[(number * 0x9E3779B97F4A7C15ull >> 40) % tc->nbuckets];
    while (*p && (*p)->number != number) p = &(*p)->hnext;
    return p;
}

/* Removes h from the table (mu held); returns true if the caller must close it. */
static bool detach(table_cache *tc, tc_handle *h)
{
    tc_handle **p = slot_of(tc, h->number);
    if (*p == h) *p = h->hnext;
    h->in_table = false;
    tc->count--;
    lru_remove(h);
    return --h->refs == 0;
}

static void close_handle(table_cache *tc, tc_handle *h)
{
    __atomic_fetch_add(&tc->bloom_useful_closed, sst_reader_bloom_useful(h->r), __ATOMIC_RELAXED);
    sst_reader_close(h->r);
    free(h);
}

int table_cache_get(table_cache *tc, uint64_t number, uint64_t size, tc_handle **out,
                    sst_reader **r)
{
    pthread_mutex_lock(&tc->mu);
    tc_handle *h = *slot_of(tc, number);
    if (h) {
        if (h->refs == 1) lru_remove(h);
        h->refs++;
        pthread_mutex_unlock(&tc->mu);
        *out = h;
        *r = h->r;
        return 0;
    }
    pthread_mutex_unlock(&tc->mu);

    char path[PATH_MAX];
    table_path(path, sizeof(path), tc->dir, number);
    sst_reader *rd = NULL;
    int rc = sst_reader_open(tc->env, path, number, size, tc->bc, &rd);
    if (rc) return rc;
    if (!tc->mmap_reads) sst_reader_unmap(rd);
    h = calloc(1, sizeof(*h));
    if (!h) {
        sst_reader_close(rd);
        return err_set(ERR_NOMEM, "%s: out of memory", path);
    }
    h->number = number;
    h->r = rd;
    h->refs = 2; /* the cache's and the caller's */
    h->in_table = true;

    tc_handle *closing = NULL;
    pthread_mutex_lock(&tc->mu);
    tc_handle **p = slot_of(tc, number);
    if (*p) { /* lost a race: use the winner's */
        tc_handle *w = *p;
        if (w->refs == 1) lru_remove(w);
        w->refs++;
        pthread_mutex_unlock(&tc->mu);
        sst_reader_close(rd);
        free(h);
        *out = w;
        *r = w->r;
        return 0;
    }
    *p = h;
    tc->count++;
    while (tc->count > tc->max_open && tc->lru.lru_next != &tc->lru) {
        tc_handle *old = tc->lru.lru_next;
        if (detach(tc, old)) {
            old->hnext = closing;
            closing = old;
        }
    }
    pthread_mutex_unlock(&tc->mu);
    while (closing) {
        tc_handle *n = closing->hnext;
        close_handle(tc, closing);
        closing = n;
    }
    *out = h;
    *r = rd;
    return 0;
}

void table_cache_release(table_cache *tc, tc_handle *h)
{
    pthread_mutex_lock(&tc->mu);
    int refs = --h->refs;
    if (refs == 1 && h->in_table) lru_append(tc, h);
    pthread_mutex_unlock(&tc->mu);
    if (refs == 0) close_handle(tc, h);
}

void table_cache_evict(table_cache *tc, uint64_t number)
{
    pthread_mutex_lock(&tc->mu);
    tc_handle *h = *slot_of(tc, number);
    bool close = h && detach(tc, h);
    pthread_mutex_unlock(&tc->mu);
    if (close) close_handle(tc, h);
}

int table_cache_open_count(table_cache *tc)
{
    pthread_mutex_lock(&tc->mu);
    int n = tc->count;
    pthread_mutex_unlock(&tc->mu);
    return n;
}

uint64_t table_cache_bloom_useful(table_cache *tc)
{
    pthread_mutex_lock(&tc->mu);
    uint64_t n = __atomic_load_n(&tc->bloom_useful_closed, __ATOMIC_RELAXED);
    for (size_t i = 0; i < tc->nbuckets; i++)
        for (tc_handle *h = tc->buckets[i]; h; h = h->hnext) n += sst_reader_bloom_useful(h->r);
    pthread_mutex_unlock(&tc->mu);
    return n;
}

void table_cache_free(table_cache *tc)
{
    if (!tc) return;
    for (size_t i = 0; i < tc->nbuckets; i++) {
        tc_handle *h = tc->buckets[i];
        while (h) {
            tc_handle *n = h->hnext;
            /* every user must have released by now */
            close_handle(tc, h);
            h = n;
        }
    }
    pthread_mutex_destroy(&tc->mu);
    free(tc->buckets);
    free(tc->dir);
    free(tc);
}
