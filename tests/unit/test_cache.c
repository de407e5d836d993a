/* Unit tests of engine/cache: the byte bound, replacement order (CLOCK keeps a hot entry), references that
 * keep evicted blocks alive, erase_file, replacement, statistics, the hash
 * table against a reference model, and concurrent use. Blocks count their frees through the release hook. */
#include "test.h"

#include "engine/cache.h"
#include "util/coding.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static atomic_int freed;

static void on_release(block *b, void *arg)
{
    atomic_fetch_add(&freed, 1);
    free((void *)b->data);
    free(b);
}

/* A structurally valid block of exactly size bytes (size >= 8). */
static block *mkblock(size_t size)
{
    uint8_t *d = calloc(1, size);
    if (!d) return NULL;
    put_u32(d + size - 4, 1);
    block *b;
    if (block_new(d, size, "cache test", &b)) return NULL;
    b->release = on_release;
    return b;
}

static void test_byte_bound(void)
{
    const size_t cap = 256 << 10;
    block_cache *c = block_cache_new(cap);
    REQUIRE(c);
    atomic_store(&freed, 0);
    uint64_t hits, misses, bytes, capacity;
    for (int i = 0; i < 2000; i++) {
        block *b = mkblock(1000);
        REQUIRE(b);
        block_cache_insert(c, 1, (uint64_t)i * 1000, b);
        block_unref(b); /* the cache holds the only reference now */
        block_cache_stats(c, &hits, &misses, &bytes, &capacity);
        CHECK(bytes <= cap);
    }
    CHECK_EQ_INT(capacity, cap);
    CHECK(bytes > cap / 2);            /* it is used, not just bounded */
    CHECK(atomic_load(&freed) > 1000); /* evicted blocks were freed */
    /* Shrinking evicts down to the new bound. */
    block_cache_set_capacity(c, cap / 4);
    block_cache_stats(c, &hits, &misses, &bytes, &capacity);
    CHECK(bytes <= cap / 4);
    CHECK_EQ_INT(capacity, cap / 4);
    block_cache_set_capacity(c, 0);
    block_cache_stats(c, &hits, &misses, &bytes, &capacity);
    CHECK_EQ_INT(bytes, 0);
    CHECK_EQ_INT(atomic_load(&freed), 2000);
    block_cache_free(c);
}

static void test_lru_order(void)
{
    /* A kept-hot entry survives a stream of inserts; a cold one does not.
     * (Shards are chosen by hash; a hot entry is the newest of its shard.) */
    block_cache *c = block_cache_new(64 << 10);
    REQUIRE(c);
    block *hot = mkblock(500), *cold = mkblock(500);
    REQUIRE(hot && cold);
    block_cache_insert(c, 9, 0, hot);
    block_cache_insert(c, 9, 1, cold);
    block_unref(hot);
    block_unref(cold);
    int lost = 0;
    for (int i = 0; i < 3000; i++) {
        block *b = mkblock(500);
        REQUIRE(b);
        block_cache_insert(c, 10, (uint64_t)i, b);
        block_unref(b);
        block *h = block_cache_lookup(c, 9, 0);
        if (!h)
            lost++;
        else
            block_unref(h);
    }
    CHECK_EQ_INT(lost, 0);
    block *x = block_cache_lookup(c, 9, 1);
    CHECK(x == NULL);
    if (x) block_unref(x);
    block_cache_free(c);
}

static void test_refs_outlive_eviction(void)
{
    block_cache *c = block_cache_new(1 << 20);
    REQUIRE(c);
    atomic_store(&freed, 0);
    block *b = mkblock(4096);
    REQUIRE(b);
    block_cache_insert(c, 3, 100, b);
    block_unref(b);
    block *got = block_cache_lookup(c, 3, 100);
    REQUIRE(got == b);
    block_cache_set_capacity(c, 0); /* evicts it from the cache */
    CHECK_EQ_INT(atomic_load(&freed), 0);
    CHECK_EQ_INT(got->size, 4096); /* still readable (ASan would see a free) */
    CHECK(block_cache_lookup(c, 3, 100) == NULL);
    block_unref(got);
    CHECK_EQ_INT(atomic_load(&freed), 1);
    /* A block larger than the cache is never kept, but the caller's ref stays. */
    block *big = mkblock(8192);
    REQUIRE(big);
    block_cache_insert(c, 3, 200, big);
    CHECK(block_cache_lookup(c, 3, 200) == NULL);
    CHECK_EQ_INT(atomic_load(&freed), 1);
    block_unref(big);
    CHECK_EQ_INT(atomic_load(&freed), 2);
    block_cache_free(c);
}

static void test_replace_and_erase_file(void)
{
    block_cache *c = block_cache_new(1 << 20);
    REQUIRE(c);
    atomic_store(&freed, 0);
    for (int f = 1; f <= 3; f++)
        for (int i = 0; i < 50; i++) {
            block *b = mkblock(100);
            REQUIRE(b);
            block_cache_insert(c, (uint64_t)f, (uint64_t)i * 4096, b);
            block_unref(b);
        }
    /* Replacing an entry frees the old block. */
    block *nb = mkblock(200);
    REQUIRE(nb);
    block_cache_insert(c, 2, 0, nb);
    CHECK_EQ_INT(atomic_load(&freed), 1);
    block *g = block_cache_lookup(c, 2, 0);
    CHECK(g == nb);
    if (g) block_unref(g);
    block_unref(nb);
    uint64_t hits, misses, before, after, cap;
    block_cache_stats(c, &hits, &misses, &before, &cap);
    block_cache_erase_file(c, 2);
    block_cache_stats(c, &hits, &misses, &after, &cap);
    CHECK(after < before);
    CHECK_EQ_INT(atomic_load(&freed), 51);
    int left2 = 0, left13 = 0;
    for (int i = 0; i < 50; i++) {
        block *b = block_cache_lookup(c, 2, (uint64_t)i * 4096);
        if (b) left2++, block_unref(b);
        b = block_cache_lookup(c, 1, (uint64_t)i * 4096);
        if (b) left13++, block_unref(b);
        b = block_cache_lookup(c, 3, (uint64_t)i * 4096);
        if (b) left13++, block_unref(b);
    }
    CHECK_EQ_INT(left2, 0);
    CHECK_EQ_INT(left13, 100);
    block_cache_free(c);
    CHECK_EQ_INT(atomic_load(&freed), 151);
}

/* The hash table against a reference: random inserts, replacements,
 * erase_file and lookups over a small key space (many keys share home
 * buckets and runs, so deletions shift entries back). Without eviction the
 * cache must hold exactly the reference; with a small capacity, a hit must
 * still be the block last inserted under its key, never another. */
static void table_model(size_t capacity, int exact)
{
    enum { FILES = 6, OFFS = 700, STEPS = 30000 };
    static block *ref[FILES][OFFS]; /* last inserted, NULL after erase_file */
    memset(ref, 0, sizeof(ref));
    block_cache *c = block_cache_new(capacity);
    REQUIRE(c);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int step = 0; step < STEPS; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int f = (int)(x % FILES), o = (int)(x / FILES % OFFS), op = (int)(x >> 58);
        if (op < 40) {
            block *b = mkblock(64);
            REQUIRE(b);
            block_cache_insert(c, (uint64_t)f + 1, (uint64_t)o * 4096, b);
            ref[f][o] = b; /* identity only: never dereferenced after its unref */
            block_unref(b);
        } else if (op == 63) {
            block_cache_erase_file(c, (uint64_t)f + 1);
            for (int i = 0; i < OFFS; i++) ref[f][i] = NULL;
        } else {
            block *b = block_cache_lookup(c, (uint64_t)f + 1, (uint64_t)o * 4096);
            if (exact)
                CHECK(b == ref[f][o]);
            else
                CHECK(!b || b == ref[f][o]);
            if (b) block_unref(b);
        }
    }
    if (exact) /* a last pass over every key */
        for (int f = 0; f < FILES; f++)
            for (int o = 0; o < OFFS; o++) {
                block *b = block_cache_lookup(c, (uint64_t)f + 1, (uint64_t)o * 4096);
                CHECK(b == ref[f][o]);
                if (b) block_unref(b);
            }
    uint64_t hits, misses, bytes, cap;
    block_cache_stats(c, &hits, &misses, &bytes, &cap);
    CHECK(bytes <= capacity);
    block_cache_free(c);
}

static void test_table_model(void)
{
    table_model(64 << 20, 1); /* everything fits */
    table_model(24 << 10, 0); /* a few hundred blocks: constant eviction */
}

static void test_stats(void)
{
    block_cache *c = block_cache_new(1 << 20);
    REQUIRE(c);
    uint64_t hits, misses, bytes, cap;
    block_cache_stats(c, &hits, &misses, &bytes, &cap);
    CHECK(hits == 0 && misses == 0 && bytes == 0 && cap == (1 << 20));
    CHECK(block_cache_lookup(c, 1, 1) == NULL);
    CHECK(block_cache_lookup(c, 1, 2) == NULL);
    block *b = mkblock(1000);
    REQUIRE(b);
    block_cache_insert(c, 1, 1, b);
    block_unref(b);
    for (int i = 0; i < 3; i++) {
        block *g = block_cache_lookup(c, 1, 1);
        CHECK(g == b);
        if (g) block_unref(g);
    }
    block_cache_stats(c, &hits, &misses, &bytes, &cap);
    CHECK_EQ_INT(hits, 3);
    CHECK_EQ_INT(misses, 2);
    CHECK(bytes >= 1000 && bytes < 2000); /* data plus bookkeeping */
    block_cache_free(c);
}

static block_cache *shared;

static void *worker(void *arg)
{
    uint64_t file = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 5000; i++) {
        uint64_t off = (uint64_t)(i % 300);
        block *b = block_cache_lookup(shared, file % 2, off);
        if (b) {
            if (b->size < 8) abort(); /* touch it */
            block_unref(b);
        } else if ((b = mkblock(64 + off))) {
            block_cache_insert(shared, file % 2, off, b);
            block_unref(b);
        }
        if (i % 1000 == 999) block_cache_erase_file(shared, file % 2);
    }
    return NULL;
}

static void test_concurrent(void)
{
    shared = block_cache_new(32 << 10);
    REQUIRE(shared);
    atomic_store(&freed, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    uint64_t hits, misses, bytes, cap;
    block_cache_stats(shared, &hits, &misses, &bytes, &cap);
    CHECK_EQ_INT(hits + misses, 20000);
    CHECK(bytes <= cap);
    block_cache_free(shared);
}

int main(void)
{
    RUN(test_byte_bound);
    RUN(test_lru_order);
    RUN(test_refs_outlive_eviction);
    RUN(test_replace_and_erase_file);
    RUN(test_stats);
    RUN(test_table_model);
    RUN(test_concurrent);
    TEST_END();
}
