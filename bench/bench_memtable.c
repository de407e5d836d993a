/* Micro-benchmark of the write path's in-memory pieces: memtable_add (random
 * and sequential keys), memtable_get, batch encoding and the record log
 * writer/reader. Release build, run by hand:
 *   make build/rel/bench/bench_memtable && ./build/rel/bench/bench_memtable [N]
 * Prints ns per operation; N entries (default 1000000), 16-byte keys,
 * 100-byte values. For scale, the same random inserts into LevelDB and
 * RocksDB with a write buffer big enough that nothing is flushed and no
 * sync: their put is a WAL append plus a memtable insert, which the line
 * "strata log+memtable" reproduces with our pieces. */
#include "engine/batch.h"
#include "engine/dbformat.h"
#include "engine/logfile.h"
#include "engine/memtable.h"
#include "util/env.h"
#include "util/err.h"
#include "util/rand.h"

#include <leveldb/c.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_LEN 16
#define VAL_LEN 100

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall time and process CPU time since the last call: on a loaded machine
 * the CPU time (which excludes time spent descheduled) is the steadier one. */
static double cpu_start;
static double now_s(void)
{
    cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    return clock_s(CLOCK_MONOTONIC);
}

static void report(const char *what, double t0, long ops, size_t bytes)
{
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    double secs = clock_s(CLOCK_MONOTONIC) - t0;
    printf("%-34s %8.1f ns/op %8.1f cpu-ns/op %7.2f Mops/s", what, secs * 1e9 / (double)ops,
           cpu * 1e9 / (double)ops, (double)ops / secs / 1e6);
    if (bytes) printf(" %7.1f MB/s", (double)bytes / secs / 1e6);
    printf("\n");
}

static void make_key(char *k, uint64_t i)
{
    snprintf(k, KEY_LEN + 1, "%016llu", (unsigned long long)i);
}

static uint64_t *perm(long n, uint64_t seed)
{
    uint64_t *p = malloc(sizeof(*p) * (size_t)n);
    rng_t r;
    rng_seed(&r, seed);
    for (long i = 0; i < n; i++) p[i] = (uint64_t)i;
    for (long i = n - 1; i > 0; i--) {
        uint64_t j = rng_below(&r, (uint64_t)i + 1), t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

static memtable *bench_add(const char *what, const uint64_t *order, long n, const char *val)
{
    memtable *m = memtable_new();
    char k[KEY_LEN + 1];
    double t = now_s();
    for (long i = 0; i < n; i++) {
        make_key(k, order ? order[i] : (uint64_t)i);
        if (memtable_add(m, 0, (uint64_t)i + 1, TYPE_VALUE, k, KEY_LEN, val, VAL_LEN)) {
            fprintf(stderr, "memtable_add: %s\n", err_msg());
            exit(1);
        }
    }
    report(what, t, n, (size_t)n * (KEY_LEN + VAL_LEN));
    return m;
}

static void bench_memtable(long n, const char *val)
{
    uint64_t *order = perm(n, 1);
    memtable *m = bench_add("memtable_add random keys", order, n, val);
    printf("  memtable_bytes %.1f MB for %.1f MB of keys+values (%.1f bytes/entry overhead)\n",
           (double)memtable_bytes(m) / 1e6, (double)n * (KEY_LEN + VAL_LEN) / 1e6,
           ((double)memtable_bytes(m) - (double)n * (KEY_LEN + VAL_LEN)) / (double)n);
    uint64_t *q = perm(n, 2);
    char k[KEY_LEN + 1];
    double t = now_s();
    for (long i = 0; i < n; i++) {
        make_key(k, q[i]);
        int type;
        uint64_t seq;
        const void *v;
        size_t vl;
        if (memtable_get(m, 0, k, KEY_LEN, SEQ_MAX, &type, &seq, &v, &vl)) {
            fprintf(stderr, "memtable_get: missing key\n");
            exit(1);
        }
    }
    report("memtable_get random hits", t, n, 0);
    ikiter *it = memtable_iter(m, 0);
    long cnt = 0;
    t = now_s();
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) cnt++;
    report("memtable iterator scan", t, cnt, 0);
    iki_destroy(it);
    memtable_unref(m);
    memtable_unref(bench_add("memtable_add sequential keys", NULL, n, val));
    free(order);
    free(q);
}

static void bench_batch(long n, const char *val)
{
    strata_batch *b = strata_batch_new();
    char k[KEY_LEN + 1];
    make_key(k, 42);
    double t = now_s();
    for (long i = 0; i < n; i++) {
        strata_batch_clear(b);
        strata_batch_put(b, 0, k, KEY_LEN, val, VAL_LEN);
    }
    report("batch clear+put (1 op/batch)", t, n, 0);
    t = now_s();
    for (long i = 0; i < n; i++) {
        if (i % 100 == 0) strata_batch_clear(b);
        strata_batch_put(b, 0, k, KEY_LEN, val, VAL_LEN);
    }
    report("batch put (100 ops/batch)", t, n, 0);
    strata_batch_free(b);
}

static int count_op(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                    const void *v, size_t vl)
{
    (*(long *)arg)++;
    return 0;
}

static void bench_log(long n, const char *val)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/bench_memtable.%d.log", (int)getpid());
    strata_batch *b = strata_batch_new();
    char k[KEY_LEN + 1];
    make_key(k, 7);
    strata_batch_put(b, 0, k, KEY_LEN, val, VAL_LEN);
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    logw *w;
    if (logw_open(env_posix(), path, LOG_MAGIC_WAL, 1 << 20, &w)) {
        fprintf(stderr, "logw_open: %s\n", err_msg());
        exit(1);
    }
    double t = now_s();
    for (long i = 0; i < n; i++) logw_add(w, d, len);
    logw_flush(w);
    report("logw_add 1-op batch (no sync)", t, n, (size_t)n * len);
    logw_close(w);
    logr *r;
    if (logr_open(env_posix(), path, LOG_MAGIC_WAL, &r)) exit(1);
    const void *p;
    size_t pl;
    long ops = 0;
    t = now_s();
    while (logr_next(r, &p, &pl) == 0) strata_batch_iterate(p, pl, count_op, &ops);
    report("logr_next + batch iterate", t, ops, (size_t)ops * len);
    logr_close(r);
    unlink(path);
    strata_batch_free(b);
}

/* Our equivalent of a non-synced put: encode, append to the log, insert. */
static void bench_ours_put(long n, const char *val, const uint64_t *order)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/bench_memtable.%d.log", (int)getpid());
    logw *w;
    if (logw_open(env_posix(), path, LOG_MAGIC_WAL, 1 << 20, &w)) exit(1);
    memtable *m = memtable_new();
    strata_batch *b = strata_batch_new();
    char k[KEY_LEN + 1];
    double t = now_s();
    for (long i = 0; i < n; i++) {
        make_key(k, order[i]);
        strata_batch_clear(b);
        strata_batch_put(b, 0, k, KEY_LEN, val, VAL_LEN);
        batch__set_seq(b, (uint64_t)i + 1);
        size_t len;
        const uint8_t *d = batch__data(b, &len);
        logw_add(w, d, len);
        memtable_add(m, 0, (uint64_t)i + 1, TYPE_VALUE, k, KEY_LEN, val, VAL_LEN);
    }
    logw_flush(w);
    report("strata log+memtable random put", t, n, 0);
    logw_close(w);
    unlink(path);
    memtable_unref(m);
    strata_batch_free(b);
}

static void bench_leveldb(long n, const char *val, const uint64_t *order)
{
    char dir[64], *err = NULL;
    snprintf(dir, sizeof(dir), "/tmp/bench_memtable_ldb.%d", (int)getpid());
    leveldb_options_t *o = leveldb_options_create();
    leveldb_options_set_create_if_missing(o, 1);
    leveldb_options_set_write_buffer_size(o, (size_t)n * 200 + (64 << 20));
    leveldb_t *db = leveldb_open(o, dir, &err);
    if (err) {
        fprintf(stderr, "leveldb: %s\n", err);
        exit(1);
    }
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    char k[KEY_LEN + 1];
    double t = now_s();
    for (long i = 0; i < n; i++) {
        make_key(k, order[i]);
        leveldb_put(db, wo, k, KEY_LEN, val, VAL_LEN, &err);
    }
    report("leveldb random put (no sync)", t, n, 0);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_destroy_db(o, dir, &err);
    leveldb_options_destroy(o);
}

static void bench_rocksdb(long n, const char *val, const uint64_t *order)
{
    char dir[64], *err = NULL;
    snprintf(dir, sizeof(dir), "/tmp/bench_memtable_rdb.%d", (int)getpid());
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_write_buffer_size(o, (size_t)n * 200 + (64 << 20));
    rocksdb_t *db = rocksdb_open(o, dir, &err);
    if (err) {
        fprintf(stderr, "rocksdb: %s\n", err);
        exit(1);
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char k[KEY_LEN + 1];
    double t = now_s();
    for (long i = 0; i < n; i++) {
        make_key(k, order[i]);
        rocksdb_put(db, wo, k, KEY_LEN, val, VAL_LEN, &err);
    }
    report("rocksdb random put (no sync)", t, n, 0);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_destroy_db(o, dir, &err);
    rocksdb_options_destroy(o);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    char val[VAL_LEN];
    memset(val, 'v', sizeof(val));
    printf("bench_memtable: %ld entries, %d-byte keys, %d-byte values\n", n, KEY_LEN, VAL_LEN);
    bench_memtable(n, val);
    bench_batch(n, val);
    bench_log(n, val);
    uint64_t *order = perm(n, 3);
    bench_ours_put(n, val, order);
    bench_leveldb(n, val, order);
    bench_rocksdb(n, val, order);
    free(order);
    return 0;
}
