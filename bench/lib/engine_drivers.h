/* Engine drivers for bench_engine: one table of functions per engine
 * (StrataDB, RocksDB, LevelDB, LMDB, SQLite) so that the benchmark drives
 * every engine through the same calls.
 *
 * Contract shared by all drivers:
 *  - A database handle (void *db) is safe to use from many threads; the
 *    per-thread state from thread_new belongs to one thread.
 *  - put with sync=false returns once the write is in the OS (it survives a
 *    process crash); with sync=true once it is on stable storage.
 *  - Errors are printed to stderr with the engine's own message and returned
 *    as -1.
 */
#ifndef BENCH_ENGINE_DRIVERS_H
#define BENCH_ENGINE_DRIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRV_MAX_THREADS 16

/* What every engine is given: the same budget for each. */
typedef struct drv_config {
    size_t cache_bytes;        /* block cache (page cache for SQLite; LMDB has none) */
    size_t write_buffer_bytes; /* memtable / write buffer */
    int bloom_bits;            /* bloom filter bits per key */
} drv_config;

/* A growable buffer that a get copies the value into. */
typedef struct drv_vbuf {
    uint8_t *p;
    size_t len, cap;
} drv_vbuf;

/* Copies len bytes of p into b; -1 when out of memory. */
int drv_vbuf_set(drv_vbuf *b, const void *p, size_t len);

typedef void (*drv_scan_fn)(void *arg, const void *k, size_t kl, const void *v, size_t vl);

typedef struct drv_driver {
    const char *name;
    int (*open)(const char *dir, const drv_config *c, void **db);
    void (*close)(void *db);
    /* Per-thread state (*t may be set to NULL when the engine needs none). */
    int (*thread_new)(void *db, void **t);
    void (*thread_free)(void *db, void *t);
    int (*put)(void *db, void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
               bool sync);
    /* 1 and the value in out when found, 0 when absent, -1 on error. */
    int (*get)(void *db, void *t, const uint8_t *k, size_t kl, drv_vbuf *out);
    /* Seeks to the first key >= k and visits up to n entries in order: the
     * number visited, or -1. */
    int (*scan)(void *db, void *t, const uint8_t *k, size_t kl, int n, drv_scan_fn fn, void *arg);
    /* Compacts everything and waits until background work settles. */
    int (*compact)(void *db);
    /* Switches the engine into (or out of) its durable configuration when
     * that is a per-database setting rather than a per-write flag; may be NULL. */
    int (*set_durable)(void *db, bool on);
    /* Writes one line of the engine's own counters (stalls, flushes,
     * compactions, cache) to buf; may be NULL. */
    void (*stats)(void *db, char *buf, size_t len);
} drv_driver;

/* Every driver, NULL-terminated, in the order the benchmark runs them. */
extern const drv_driver *const drv_all[];

#endif
