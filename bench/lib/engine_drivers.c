/* Engine drivers for bench_engine (see engine_drivers.h for the contract).
 *
 * Fairness rules this file keeps (issue 3, "do not tune the peers down"):
 *  1. Every engine gets the same block cache bytes, 10 bloom bits per key and
 *     StrataDB's write buffer size; all other options stay as shipped (RocksDB
 *     and LevelDB compress with their default, Snappy).
 *  2. Non-sync writes reach the OS on every engine (StrataDB BUFFERED,
 *     RocksDB/LevelDB sync=false, LMDB MDB_NOSYNC, SQLite WAL with
 *     synchronous=NORMAL). Sync writes reach stable storage before the call
 *     returns (StrataDB SYNC, sync=true, LMDB's default commit, SQLite
 *     synchronous=FULL).
 *  3. Reads use each engine's cheapest value API (RocksDB pinned slices,
 *     LMDB's zero-copy get) and copy the value once into the caller's buffer.
 *  4. Scans open a fresh iterator (or cursor, or statement run) per seek, so
 *     each sees the latest writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leveldb/c.h>
#include <lmdb.h>
#include <rocksdb/c.h>
#include <sqlite3.h>

#include "engine_drivers.h"
#include "strata/engine.h"

/* Longest wait for RocksDB's background work to settle after a compaction. */
#define COMPACT_WAIT_SEC 1800

int drv_vbuf_set(drv_vbuf *b, const void *p, size_t len)
{
    if (len > b->cap) {
        uint8_t *n = realloc(b->p, len * 2);
        if (!n) return -1;
        b->p = n;
        b->cap = len * 2;
    }
    memcpy(b->p, p, len);
    b->len = len;
    return 0;
}

/* ---- StrataDB ---- */

typedef struct sdb {
    strata_db *db;
    strata_read_options ro;
    strata_write_options wo_buf, wo_sync;
} sdb;

static int sdb_err(const char *what, int rc)
{
    fprintf(stderr, "strata %s: %d %s\n", what, rc, strata_errmsg());
    return -1;
}

static int sdb_open(const char *dir, const drv_config *c, void **out)
{
    sdb *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    strata_options o;
    strata_options_init(&o);
    o.block_cache_bytes = c->cache_bytes;
    o.memtable_bytes = c->write_buffer_bytes;
    o.bloom_bits_per_key = c->bloom_bits;
    /* The peers keep no WAL for a change-log reader; neither does this run. */
    o.wal_retention_bytes = 0;
    o.wal_retention_seconds = 0;
    /* Tables read through mappings, as LevelDB reads its tables by default
     * (RocksDB's default is pread); the mapped pages count in rss_mb. */
    o.mmap_reads = true;
    int rc = strata_open(dir, &o, &s->db);
    if (rc != 0) {
        free(s);
        return sdb_err("open", rc);
    }
    strata_read_options_init(&s->ro);
    strata_write_options_init(&s->wo_buf);
    s->wo_buf.durability = STRATA_DUR_BUFFERED;
    strata_write_options_init(&s->wo_sync);
    s->wo_sync.durability = STRATA_DUR_SYNC;
    *out = s;
    return 0;
}

static void sdb_close(void *h)
{
    sdb *s = h;
    int rc = strata_close(s->db);
    if (rc != 0) sdb_err("close", rc);
    free(s);
}

static int no_thread(void *db, void **t)
{
    *t = NULL;
    return 0;
}
static void no_thread_free(void *db, void *t) {}

static int sdb_put(void *h, void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                   bool sync)
{
    sdb *s = h;
    int rc = strata_put(s->db, sync ? &s->wo_sync : &s->wo_buf, 0, k, kl, v, vl, NULL);
    return rc == 0 ? 0 : sdb_err("put", rc);
}

static int sdb_get(void *h, void *t, const uint8_t *k, size_t kl, drv_vbuf *out)
{
    sdb *s = h;
    void *v;
    size_t vl;
    int rc = strata_get(s->db, &s->ro, 0, k, kl, &v, &vl);
    if (rc == STRATA_ENOTFOUND) return 0;
    if (rc != 0) return sdb_err("get", rc);
    int rc2 = drv_vbuf_set(out, v, vl);
    strata_free(v);
    return rc2 == 0 ? 1 : -1;
}

static int sdb_scan(void *h, void *t, const uint8_t *k, size_t kl, int n, drv_scan_fn fn, void *arg)
{
    sdb *s = h;
    strata_iter *it;
    int rc = strata_iter_new(s->db, &s->ro, 0, &it);
    if (rc != 0) return sdb_err("iter_new", rc);
    int got = 0;
    for (strata_iter_seek(it, k, kl); got < n && strata_iter_valid(it); strata_iter_next(it)) {
        size_t ikl, ivl;
        const void *ik = strata_iter_key(it, &ikl);
        const void *iv = strata_iter_value(it, &ivl);
        fn(arg, ik, ikl, iv, ivl);
        got++;
    }
    rc = strata_iter_status(it);
    strata_iter_free(it);
    return rc == 0 ? got : sdb_err("iter", rc);
}

static int sdb_compact(void *h)
{
    sdb *s = h;
    int rc = strata_flush(s->db, true);
    if (rc == 0) rc = strata_compact_range(s->db, 0, NULL, 0, NULL, 0);
    if (rc == 0) rc = strata_wait_idle(s->db);
    return rc == 0 ? 0 : sdb_err("compact", rc);
}

static void sdb_stats(void *h, char *buf, size_t len)
{
    sdb *s = h;
    strata_stats st;
    if (strata_get_stats(s->db, &st) != 0) {
        snprintf(buf, len, "stats: %s", strata_errmsg());
        return;
    }
    snprintf(buf, len,
             "stalls %llu (%.1f ms, %llu stopped) flushes %llu compactions %llu write-amp %.2f "
             "L0 files %llu cache hits %llu misses %llu syncs %llu sync-writes %llu",
             (unsigned long long)st.stall_count, (double)st.stall_micros / 1e3,
             (unsigned long long)st.stopped_count, (unsigned long long)st.flushes,
             (unsigned long long)st.compactions, st.write_amplification,
             (unsigned long long)st.levels[0].files, (unsigned long long)st.block_cache_hits,
             (unsigned long long)st.block_cache_misses, (unsigned long long)st.syncs,
             (unsigned long long)st.sync_writes);
}

static const drv_driver strata_driver = {"strata",       sdb_open, sdb_close, no_thread,
                                         no_thread_free, sdb_put,  sdb_get,   sdb_scan,
                                         sdb_compact,    NULL,     sdb_stats};

/* ---- RocksDB ---- */

typedef struct rdb {
    rocksdb_t *db;
    rocksdb_options_t *opt;
    rocksdb_block_based_table_options_t *topt;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo_buf, *wo_sync;
} rdb;

static int rdb_err(const char *what, char *err)
{
    fprintf(stderr, "rocksdb %s: %s\n", what, err);
    free(err);
    return -1;
}

static void rdb_free(rdb *r)
{
    if (r->db) rocksdb_close(r->db);
    if (r->ro) rocksdb_readoptions_destroy(r->ro);
    if (r->wo_buf) rocksdb_writeoptions_destroy(r->wo_buf);
    if (r->wo_sync) rocksdb_writeoptions_destroy(r->wo_sync);
    if (r->opt) rocksdb_options_destroy(r->opt);
    if (r->topt) rocksdb_block_based_options_destroy(r->topt);
    if (r->cache) rocksdb_cache_destroy(r->cache);
    free(r);
}

static int rdb_open(const char *dir, const drv_config *c, void **out)
{
    rdb *r = calloc(1, sizeof(*r));
    if (!r) return -1;
    r->opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->opt, 1);
    rocksdb_options_set_write_buffer_size(r->opt, c->write_buffer_bytes);
    r->cache = rocksdb_cache_create_lru(c->cache_bytes);
    r->topt = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->topt, r->cache);
    rocksdb_block_based_options_set_filter_policy(
        r->topt, rocksdb_filterpolicy_create_bloom_full(c->bloom_bits));
    rocksdb_options_set_block_based_table_factory(r->opt, r->topt);
    r->ro = rocksdb_readoptions_create();
    r->wo_buf = rocksdb_writeoptions_create();
    r->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo_sync, 1);
    char *err = NULL;
    r->db = rocksdb_open(r->opt, dir, &err);
    if (err) {
        rdb_free(r);
        return rdb_err("open", err);
    }
    *out = r;
    return 0;
}

static void rdb_close(void *h)
{
    rdb_free(h);
}

static int rdb_put(void *h, void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                   bool sync)
{
    rdb *r = h;
    char *err = NULL;
    rocksdb_put(r->db, sync ? r->wo_sync : r->wo_buf, (const char *)k, kl, (const char *)v, vl,
                &err);
    return err ? rdb_err("put", err) : 0;
}

static int rdb_get(void *h, void *t, const uint8_t *k, size_t kl, drv_vbuf *out)
{
    rdb *r = h;
    char *err = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(r->db, r->ro, (const char *)k, kl, &err);
    if (err) return rdb_err("get", err);
    if (!ps) return 0;
    size_t vl;
    const char *v = rocksdb_pinnableslice_value(ps, &vl);
    int rc = drv_vbuf_set(out, v, vl);
    rocksdb_pinnableslice_destroy(ps);
    return rc == 0 ? 1 : -1;
}

static int rdb_scan(void *h, void *t, const uint8_t *k, size_t kl, int n, drv_scan_fn fn, void *arg)
{
    rdb *r = h;
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->ro);
    int got = 0;
    for (rocksdb_iter_seek(it, (const char *)k, kl); got < n && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t ikl, ivl;
        const char *ik = rocksdb_iter_key(it, &ikl);
        const char *iv = rocksdb_iter_value(it, &ivl);
        fn(arg, ik, ikl, iv, ivl);
        got++;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    return err ? rdb_err("iter", err) : got;
}

static int rdb_compact(void *h)
{
    rdb *r = h;
    char *err = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(r->db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err) return rdb_err("flush", err);
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    static const char *const busy[] = {
        "rocksdb.compaction-pending", "rocksdb.num-running-compactions",
        "rocksdb.num-running-flushes", "rocksdb.mem-table-flush-pending"};
    for (int i = 0; i < COMPACT_WAIT_SEC * 100; i++) {
        bool idle = true;
        for (size_t j = 0; j < sizeof(busy) / sizeof(busy[0]); j++) {
            uint64_t v = 0;
            if (rocksdb_property_int(r->db, busy[j], &v) != 0 || v != 0) idle = false;
        }
        if (idle) return 0;
        usleep(10000);
    }
    fprintf(stderr, "rocksdb: compaction did not settle\n");
    return -1;
}

static const drv_driver rocksdb_driver = {"rocksdb",      rdb_open, rdb_close, no_thread,
                                          no_thread_free, rdb_put,  rdb_get,   rdb_scan,
                                          rdb_compact,    NULL};

/* ---- LevelDB ---- */

typedef struct ldb {
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    leveldb_readoptions_t *ro;
    leveldb_writeoptions_t *wo_buf, *wo_sync;
} ldb;

static int ldb_err(const char *what, char *err)
{
    fprintf(stderr, "leveldb %s: %s\n", what, err);
    leveldb_free(err);
    return -1;
}

static void ldb_free(ldb *l)
{
    if (l->db) leveldb_close(l->db);
    if (l->ro) leveldb_readoptions_destroy(l->ro);
    if (l->wo_buf) leveldb_writeoptions_destroy(l->wo_buf);
    if (l->wo_sync) leveldb_writeoptions_destroy(l->wo_sync);
    if (l->opt) leveldb_options_destroy(l->opt);
    if (l->bloom) leveldb_filterpolicy_destroy(l->bloom);
    if (l->cache) leveldb_cache_destroy(l->cache);
    free(l);
}

static int ldb_open(const char *dir, const drv_config *c, void **out)
{
    ldb *l = calloc(1, sizeof(*l));
    if (!l) return -1;
    l->opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->opt, 1);
    leveldb_options_set_write_buffer_size(l->opt, c->write_buffer_bytes);
    l->cache = leveldb_cache_create_lru(c->cache_bytes);
    leveldb_options_set_cache(l->opt, l->cache);
    l->bloom = leveldb_filterpolicy_create_bloom(c->bloom_bits);
    leveldb_options_set_filter_policy(l->opt, l->bloom);
    l->ro = leveldb_readoptions_create();
    l->wo_buf = leveldb_writeoptions_create();
    l->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo_sync, 1);
    char *err = NULL;
    l->db = leveldb_open(l->opt, dir, &err);
    if (err) {
        ldb_free(l);
        return ldb_err("open", err);
    }
    *out = l;
    return 0;
}

static void ldb_close(void *h)
{
    ldb_free(h);
}

static int ldb_put(void *h, void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                   bool sync)
{
    ldb *l = h;
    char *err = NULL;
    leveldb_put(l->db, sync ? l->wo_sync : l->wo_buf, (const char *)k, kl, (const char *)v, vl,
                &err);
    return err ? ldb_err("put", err) : 0;
}

static int ldb_get(void *h, void *t, const uint8_t *k, size_t kl, drv_vbuf *out)
{
    ldb *l = h;
    char *err = NULL;
    size_t vl;
    char *v = leveldb_get(l->db, l->ro, (const char *)k, kl, &vl, &err);
    if (err) return ldb_err("get", err);
    if (!v) return 0;
    int rc = drv_vbuf_set(out, v, vl);
    leveldb_free(v);
    return rc == 0 ? 1 : -1;
}

static int ldb_scan(void *h, void *t, const uint8_t *k, size_t kl, int n, drv_scan_fn fn, void *arg)
{
    ldb *l = h;
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->ro);
    int got = 0;
    for (leveldb_iter_seek(it, (const char *)k, kl); got < n && leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t ikl, ivl;
        const char *ik = leveldb_iter_key(it, &ikl);
        const char *iv = leveldb_iter_value(it, &ivl);
        fn(arg, ik, ikl, iv, ivl);
        got++;
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    return err ? ldb_err("iter", err) : got;
}

/* leveldb_compact_range flushes the memtable and compacts every level down
 * before it returns; nothing is left pending after a full-range compaction. */
static int ldb_compact(void *h)
{
    ldb *l = h;
    leveldb_compact_range(l->db, NULL, 0, NULL, 0);
    return 0;
}

static const drv_driver leveldb_driver = {"leveldb",      ldb_open, ldb_close, no_thread,
                                          no_thread_free, ldb_put,  ldb_get,   ldb_scan,
                                          ldb_compact,    NULL};

/* ---- LMDB ---- */

typedef struct mdb {
    MDB_env *env;
    MDB_dbi dbi;
} mdb;

typedef struct mdb_thread {
    MDB_txn *rtxn; /* reset read transaction, renewed per read */
    MDB_cursor *cur;
} mdb_thread;

static int mdb_fail(const char *what, int rc)
{
    fprintf(stderr, "lmdb %s: %s\n", what, mdb_strerror(rc));
    return -1;
}

static int mdb_open_db(const char *dir, const drv_config *c, void **out)
{
    mdb *m = calloc(1, sizeof(*m));
    if (!m) return -1;
    MDB_txn *txn = NULL;
    int rc = mkdir(dir, 0755);
    if (rc != 0 && errno != EEXIST) {
        free(m);
        return mdb_fail("mkdir", errno);
    }
    rc = mdb_env_create(&m->env);
    if (rc == 0) rc = mdb_env_set_mapsize(m->env, (size_t)1 << 40);
    if (rc == 0) rc = mdb_env_set_maxreaders(m->env, 2 * DRV_MAX_THREADS + 8);
    /* MDB_NOSYNC: commits reach the OS but are not fsynced (invariant 3). */
    if (rc == 0) rc = mdb_env_open(m->env, dir, MDB_NOSYNC | MDB_NOTLS, 0644);
    if (rc == 0) rc = mdb_txn_begin(m->env, NULL, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, NULL, 0, &m->dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        if (txn) mdb_txn_abort(txn);
        if (m->env) mdb_env_close(m->env);
        free(m);
        return mdb_fail("open", rc);
    }
    *out = m;
    return 0;
}

static void mdb_close_db(void *h)
{
    mdb *m = h;
    mdb_env_sync(m->env, 1);
    mdb_env_close(m->env);
    free(m);
}

static int mdb_thread_new(void *h, void **out)
{
    *out = calloc(1, sizeof(mdb_thread));
    return *out ? 0 : -1;
}

static void mdb_thread_free(void *h, void *tp)
{
    mdb_thread *t = tp;
    if (t->cur) mdb_cursor_close(t->cur);
    if (t->rtxn) mdb_txn_abort(t->rtxn);
    free(t);
}

static int mdb_put_kv(void *h, void *t, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                      bool sync)
{
    mdb *m = h;
    MDB_txn *txn;
    int rc = mdb_txn_begin(m->env, NULL, 0, &txn);
    if (rc != 0) return mdb_fail("txn_begin", rc);
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    rc = mdb_put(txn, m->dbi, &key, &val, 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return mdb_fail("put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? 0 : mdb_fail("commit", rc);
}

static int mdb_read_begin(mdb *m, mdb_thread *t)
{
    int rc = t->rtxn ? mdb_txn_renew(t->rtxn) : mdb_txn_begin(m->env, NULL, MDB_RDONLY, &t->rtxn);
    return rc == 0 ? 0 : mdb_fail("read txn", rc);
}

static int mdb_get_kv(void *h, void *tp, const uint8_t *k, size_t kl, drv_vbuf *out)
{
    mdb *m = h;
    mdb_thread *t = tp;
    if (mdb_read_begin(m, t) != 0) return -1;
    MDB_val key = {kl, (void *)k}, val;
    int rc = mdb_get(t->rtxn, m->dbi, &key, &val);
    if (rc == 0 && drv_vbuf_set(out, val.mv_data, val.mv_size) != 0) rc = ENOMEM;
    mdb_txn_reset(t->rtxn);
    if (rc == MDB_NOTFOUND) return 0;
    return rc == 0 ? 1 : mdb_fail("get", rc);
}

static int mdb_scan(void *h, void *tp, const uint8_t *k, size_t kl, int n, drv_scan_fn fn,
                    void *arg)
{
    mdb *m = h;
    mdb_thread *t = tp;
    if (mdb_read_begin(m, t) != 0) return -1;
    int rc = t->cur ? mdb_cursor_renew(t->rtxn, t->cur) : mdb_cursor_open(t->rtxn, m->dbi, &t->cur);
    if (rc != 0) {
        mdb_txn_reset(t->rtxn);
        return mdb_fail("cursor", rc);
    }
    MDB_val key = {kl, (void *)k}, val;
    int got = 0;
    for (rc = mdb_cursor_get(t->cur, &key, &val, MDB_SET_RANGE); rc == 0 && got < n;
         rc = mdb_cursor_get(t->cur, &key, &val, MDB_NEXT)) {
        fn(arg, key.mv_data, key.mv_size, val.mv_data, val.mv_size);
        got++;
    }
    mdb_txn_reset(t->rtxn);
    if (rc != 0 && rc != MDB_NOTFOUND) return mdb_fail("cursor_get", rc);
    return got;
}

/* A B+tree has no compaction to run: free pages are reused in place. */
static int mdb_compact(void *h)
{
    mdb *m = h;
    int rc = mdb_env_sync(m->env, 1);
    return rc == 0 ? 0 : mdb_fail("sync", rc);
}

/* Durable mode: commit with LMDB's own fsync ordering (data, then meta). */
static int mdb_set_durable(void *h, bool on)
{
    mdb *m = h;
    int rc = mdb_env_set_flags(m->env, MDB_NOSYNC, on ? 0 : 1);
    return rc == 0 ? 0 : mdb_fail("set_flags", rc);
}

static const drv_driver lmdb_driver = {
    "lmdb",     mdb_open_db, mdb_close_db, mdb_thread_new, mdb_thread_free,
    mdb_put_kv, mdb_get_kv,  mdb_scan,     mdb_compact,    mdb_set_durable};

/* ---- SQLite ---- */

typedef struct qdb {
    char path[4096];
    sqlite3 *main; /* schema, compaction; readers and writers have their own */
    int cache_kib;
} qdb;

typedef struct qthread {
    sqlite3 *c;
    sqlite3_stmt *put, *get, *scan;
    int sync; /* -1 unknown, 0 NORMAL, 1 FULL */
} qthread;

static int q_fail(sqlite3 *c, const char *what)
{
    fprintf(stderr, "sqlite %s: %s\n", what, c ? sqlite3_errmsg(c) : "open failed");
    return -1;
}

static int q_exec(sqlite3 *c, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    fprintf(stderr, "sqlite %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
}

static int q_connect(qdb *q, sqlite3 **out)
{
    sqlite3 *c = NULL;
    int rc = sqlite3_open_v2(
        q->path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        q_fail(c, "open");
        sqlite3_close(c);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", q->cache_kib);
    sqlite3_busy_timeout(c, 60000);
    if (q_exec(c, "PRAGMA journal_mode=WAL") != 0 || q_exec(c, "PRAGMA synchronous=NORMAL") != 0 ||
        q_exec(c, sql) != 0) {
        sqlite3_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int q_open(const char *dir, const drv_config *c, void **out)
{
    qdb *q = calloc(1, sizeof(*q));
    if (!q) return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        free(q);
        return -1;
    }
    snprintf(q->path, sizeof(q->path), "%s/kv.db", dir);
    q->cache_kib = (int)(c->cache_bytes / 1024);
    if (q_connect(q, &q->main) != 0 ||
        q_exec(q->main, "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB) "
                        "WITHOUT ROWID") != 0) {
        if (q->main) sqlite3_close(q->main);
        free(q);
        return -1;
    }
    *out = q;
    return 0;
}

static void q_close(void *h)
{
    qdb *q = h;
    sqlite3_close(q->main);
    free(q);
}

static void q_thread_free(void *h, void *tp);

static int q_thread_new(void *h, void **out)
{
    qdb *q = h;
    qthread *t = calloc(1, sizeof(*t));
    if (!t) return -1;
    if (q_connect(q, &t->c) != 0) {
        free(t);
        return -1;
    }
    if (sqlite3_prepare_v2(t->c, "INSERT OR REPLACE INTO kv(key, value) VALUES(?1, ?2)", -1,
                           &t->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->c, "SELECT value FROM kv WHERE key = ?1", -1, &t->get, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(t->c, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?2",
                           -1, &t->scan, NULL) != SQLITE_OK) {
        q_fail(t->c, "prepare");
        q_thread_free(h, t);
        return -1;
    }
    *out = t;
    return 0;
}

static void q_thread_free(void *h, void *tp)
{
    qthread *t = tp;
    sqlite3_finalize(t->put);
    sqlite3_finalize(t->get);
    sqlite3_finalize(t->scan);
    sqlite3_close(t->c);
    free(t);
}

static int q_put(void *h, void *tp, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                 bool sync)
{
    qthread *t = tp;
    if (t->sync != (int)sync) {
        if (q_exec(t->c, sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") != 0)
            return -1;
        t->sync = sync;
    }
    sqlite3_bind_blob(t->put, 1, k, (int)kl, SQLITE_STATIC);
    sqlite3_bind_blob(t->put, 2, v, (int)vl, SQLITE_STATIC);
    int rc = sqlite3_step(t->put);
    sqlite3_reset(t->put);
    return rc == SQLITE_DONE ? 0 : q_fail(t->c, "put");
}

static int q_get(void *h, void *tp, const uint8_t *k, size_t kl, drv_vbuf *out)
{
    qthread *t = tp;
    sqlite3_bind_blob(t->get, 1, k, (int)kl, SQLITE_STATIC);
    int rc = sqlite3_step(t->get), found = 0;
    if (rc == SQLITE_ROW) {
        found = drv_vbuf_set(out, sqlite3_column_blob(t->get, 0),
                             (size_t)sqlite3_column_bytes(t->get, 0)) == 0
                    ? 1
                    : -1;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(t->get);
    return rc == SQLITE_DONE ? found : q_fail(t->c, "get");
}

static int q_scan(void *h, void *tp, const uint8_t *k, size_t kl, int n, drv_scan_fn fn, void *arg)
{
    qthread *t = tp;
    sqlite3_bind_blob(t->scan, 1, k, (int)kl, SQLITE_STATIC);
    sqlite3_bind_int(t->scan, 2, n);
    int rc, got = 0;
    while ((rc = sqlite3_step(t->scan)) == SQLITE_ROW) {
        fn(arg, sqlite3_column_blob(t->scan, 0), (size_t)sqlite3_column_bytes(t->scan, 0),
           sqlite3_column_blob(t->scan, 1), (size_t)sqlite3_column_bytes(t->scan, 1));
        got++;
    }
    sqlite3_reset(t->scan);
    return rc == SQLITE_DONE ? got : q_fail(t->c, "scan");
}

/* SQLite's compact-all: fold the WAL into the database, rebuild it without
 * free pages, fold the rebuild's WAL in and truncate it. */
static int q_compact(void *h)
{
    qdb *q = h;
    if (q_exec(q->main, "PRAGMA wal_checkpoint(TRUNCATE)") != 0 || q_exec(q->main, "VACUUM") != 0 ||
        q_exec(q->main, "PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        return -1;
    return 0;
}

static const drv_driver sqlite_driver = {"sqlite", q_open, q_close, q_thread_new, q_thread_free,
                                         q_put,    q_get,  q_scan,  q_compact,    NULL};

const drv_driver *const drv_all[] = {&strata_driver, &rocksdb_driver, &leveldb_driver,
                                     &lmdb_driver,   &sqlite_driver,  NULL};
