/* Regression tests from a review of the engine core (db*.c, version*.c,
 * compaction.c), through the public API and the fault env:
 *  - a partition dropped while a flush (or compaction) of it runs must not
 *    come back into the version with the new files;
 *  - a failed sync of the previous WAL segment must not free it twice;
 *  - a failed SYNC write must not take earlier DUR_NONE writes out of the
 *    WAL (strata_sync afterwards promises them durable, and the change log
 *    must carry them);
 *  - a manifest edit whose sync failed must not leave a record naming
 *    deleted files in the manifest that the next open reads;
 *  - a failed switch to a new manifest must not delete the manifest that
 *    CURRENT may already name;
 *  - recovery must not apply a WAL segment's records after an earlier
 *    segment lost its tail;
 *  - recovery must not reuse the number of a WAL segment it replays;
 *  - an open deletes the manifests it no longer uses;
 *  - the compaction filter never brings back an older version of a key
 *    whose newest value it dropped (a guard, no bug found). */
#include "engine/faultenv.h"
#include "strata/engine.h"
#include "test.h"
#include "util/env.h"

#include <dirent.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static strata_options small_opts(void)
{
    strata_options o;
    strata_options_init(&o);
    o.memtable_bytes = 256 << 10;
    o.block_cache_bytes = 1 << 20;
    o.level1_max_bytes = 1 << 20;
    o.target_file_bytes = 128 << 10;
    o.level0_compaction_trigger = 2;
    o.wal_file_bytes = 256 << 10;
    return o;
}

static strata_write_options wopts(int dur)
{
    strata_write_options w;
    strata_write_options_init(&w);
    w.durability = dur;
    return w;
}

static int put(strata_db *db, int dur, uint32_t part, const char *k, const char *v)
{
    strata_write_options w = wopts(dur);
    return strata_put(db, &w, part, k, strlen(k), v, strlen(v), NULL);
}

static int get_str(strata_db *db, uint32_t part, const char *k, char *out, size_t cap)
{
    void *v;
    size_t vl;
    int rc = strata_get(db, NULL, part, k, strlen(k), &v, &vl);
    if (rc) return rc;
    snprintf(out, cap, "%.*s", (int)vl, (char *)v);
    strata_free(v);
    return 0;
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > sl && !strcmp(e->d_name + l - sl, suffix)) n++;
    }
    closedir(d);
    return n;
}

static uint64_t total_files(strata_db *db)
{
    strata_stats s;
    strata_get_stats(db, &s);
    uint64_t n = 0;
    for (int l = 0; l < s.num_levels; l++) n += s.levels[l].files;
    return n;
}

/* A compaction filter that, once armed, holds the background thread inside
 * the merge until the test releases it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_armed, gate_entered, gate_open;

static int gate_filter(void *arg, uint32_t part, const void *k, size_t kl, const void *v, size_t vl)
{
    pthread_mutex_lock(&gate_mu);
    if (gate_armed) {
        gate_armed = 0;
        gate_entered = 1;
        pthread_cond_broadcast(&gate_cv);
        while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
    return STRATA_FILTER_KEEP;
}

static void gate_arm(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_armed = 1;
    gate_entered = gate_open = 0;
    pthread_mutex_unlock(&gate_mu);
}

static void gate_wait_entered(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_entered) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

typedef struct compact_arg {
    strata_db *db;
    uint32_t part;
    int rc;
} compact_arg;

static void *compact_thread(void *p)
{
    compact_arg *a = p;
    a->rc = strata_compact_range(a->db, a->part, NULL, 0, NULL, 0);
    return NULL;
}

/* Drop a partition while the flush thread writes it out, then while a
 * compaction of it runs: neither may put files of the dropped partition back
 * into the version (they would stay there, and on disk, for good). */
static void test_drop_partition_during_background_work(void)
{
    const char *dir = test_tmpdir("review_drop");
    strata_options o = small_opts();
    o.compaction_filter = gate_filter;
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    uint32_t p;
    REQUIRE(strata_partition_create(db, "doomed", &p) == 0);
    char k[32];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_NONE, p, k, "value"), 0);
    }
    /* 1. During a flush. */
    gate_arm();
    CHECK_EQ_INT(strata_flush(db, false), 0);
    gate_wait_entered();
    CHECK_EQ_INT(strata_partition_drop(db, p), 0);
    gate_release();
    CHECK_EQ_INT(strata_wait_idle(db), 0);
    CHECK_EQ_INT(total_files(db), 0);
    CHECK_EQ_INT(count_files(dir, ".sst"), 0);

    /* 2. During a compaction. */
    uint32_t q;
    REQUIRE(strata_partition_create(db, "doomed2", &q) == 0);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_NONE, q, k, "value"), 0);
    }
    CHECK_EQ_INT(strata_flush(db, true), 0);
    CHECK_EQ_INT(total_files(db), 1);
    gate_arm();
    compact_arg a = {db, q, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, compact_thread, &a) == 0);
    gate_wait_entered();
    CHECK_EQ_INT(strata_partition_drop(db, q), 0);
    gate_release();
    pthread_join(t, NULL);
    CHECK_EQ_INT(strata_wait_idle(db), 0);
    CHECK_EQ_INT(total_files(db), 0);
    CHECK_EQ_INT(count_files(dir, ".sst"), 0);
    CHECK_EQ_INT(strata_close(db), 0);

    /* The manifest agrees. */
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(total_files(db), 0);
    CHECK_EQ_INT(count_files(dir, ".sst"), 0);
    CHECK_EQ_INT(strata_close(db), 0);
}

static strata_options fault_opts(env_t *fe)
{
    strata_options o = small_opts();
    o.env = fe;
    return o;
}

/* Power cut now, close what is open, apply the durable state. */
static void power_loss(env_t *fe, strata_db *db)
{
    faultenv_kill(fe);
    strata_close(db);
    CHECK_EQ_INT(faultenv_crash(fe), 0);
}

/* The previous WAL segment (left unsynced by a memtable switch) fails its
 * sync during a SYNC write: that write fails; the next SYNC write must sync
 * it again (not touch the writer that the failed attempt freed) and be
 * durable. */
static void test_old_segment_sync_failure(void)
{
    const char *dir = test_tmpdir("review_oldseg");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_BUFFERED, 0, "a", "1"), 0);
    CHECK_EQ_INT(strata_flush(db, true), 0); /* new segment; the old one is not synced */
    faultenv_set_filter(fe, ".log");
    faultenv_inject(fe, FAULTENV_SYNC, STRATA_EIO, 1, false);
    CHECK(put(db, STRATA_DUR_SYNC, 0, "b", "2") != 0);
    faultenv_clear(fe);
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "c", "3"), 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "d", "4"), 0);
    power_loss(fe, db);
    REQUIRE(strata_open(dir, &o, &db) == 0);
    char buf[16];
    CHECK_EQ_INT(get_str(db, 0, "a", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(get_str(db, 0, "b", buf, sizeof(buf)), STRATA_ENOTFOUND);
    CHECK_EQ_INT(get_str(db, 0, "c", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(get_str(db, 0, "d", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

/* A DUR_NONE write sits in the WAL buffer; the next SYNC write fails its
 * fsync. The SYNC write fails, but the earlier write was acknowledged: it
 * must stay in the WAL, so that the change log returns it and a successful
 * strata_sync makes it durable. */
static void test_failed_sync_keeps_earlier_writes(void)
{
    const char *dir = test_tmpdir("review_rewind");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "k0", "0"), 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_NONE, 0, "k1", "1"), 0); /* seq 2 */
    faultenv_set_filter(fe, ".log");
    faultenv_inject(fe, FAULTENV_SYNC, STRATA_EIO, 1, false);
    CHECK(put(db, STRATA_DUR_SYNC, 0, "k2", "2") != 0);
    faultenv_clear(fe);
    CHECK_EQ_INT(strata_sync(db), 0);
    /* The change log holds seq 2. */
    strata_changes *c = NULL;
    CHECK_EQ_INT(strata_changes_open(db, 2, &c), 0);
    if (c) {
        uint64_t seq = 0;
        const void *d;
        size_t len;
        CHECK_EQ_INT(strata_changes_next(c, &seq, &d, &len), 0);
        CHECK_EQ_INT(seq, 2);
        strata_changes_close(c);
    }
    power_loss(fe, db);
    REQUIRE(strata_open(dir, &o, &db) == 0);
    char buf[16];
    CHECK_EQ_INT(get_str(db, 0, "k0", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(get_str(db, 0, "k1", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(get_str(db, 0, "k2", buf, sizeof(buf)), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

/* The periodic sync (wal_sync_interval_ms, set while open) makes DUR_NONE
 * writes durable without a strata_sync from the writer; with the interval
 * at 0 nothing syncs them. Writers keep going while it runs. */
static bool wait_sync_point(env_t *fe, uint64_t before, int max_ms)
{
    for (int i = 0; i < max_ms / 5 && faultenv_sync_points(fe) == before; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return faultenv_sync_points(fe) > before;
}

static void put_range(strata_db *db, int from, int to)
{
    char k[16];
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof(k), "p%03d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_NONE, 0, k, "v"), 0);
    }
}

static void periodic_sync_round(const char *name, uint64_t interval_ms, bool expect_kept)
{
    const char *dir = test_tmpdir(name);
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(strata_set_wal_sync_interval(db, interval_ms), 0);
    CHECK(strata_set_wal_sync_interval(db, 3600u * 1000u + 1) != 0);
    /* the first periodic sync of a segment goes through the queue, the
     * next ones aside: both must make the writes before them durable */
    put_range(db, 0, 50);
    CHECK_EQ_INT(wait_sync_point(fe, faultenv_sync_points(fe), expect_kept ? 1000 : 300),
                 expect_kept);
    put_range(db, 50, 100);
    CHECK_EQ_INT(wait_sync_point(fe, faultenv_sync_points(fe), expect_kept ? 1000 : 300),
                 expect_kept);
    power_loss(fe, db);
    REQUIRE(strata_open(dir, &o, &db) == 0);
    char buf[16], k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "p%03d", i);
        CHECK_EQ_INT(get_str(db, 0, k, buf, sizeof(buf)), (expect_kept ? 0 : STRATA_ENOTFOUND));
    }
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

static void test_periodic_sync_aside(void)
{
    periodic_sync_round("review_psync_on", 20, true);
    periodic_sync_round("review_psync_off", 0, false);
}

/* A failing WAL fsync shows in strata_periodic_sync_status until a later
 * periodic sync succeeds (a server refuses writes meanwhile). */
static void test_periodic_sync_status(void)
{
    const char *dir = test_tmpdir("review_psync_status");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(strata_periodic_sync_status(db), 0);
    faultenv_set_filter(fe, ".log");
    faultenv_inject(fe, FAULTENV_SYNC, STRATA_EIO, 1, true);
    CHECK_EQ_INT(strata_set_wal_sync_interval(db, 10), 0);
    put_range(db, 0, 10);
    int st = 0;
    for (int i = 0; i < 300 && !st; i++, usleep(10000)) st = strata_periodic_sync_status(db);
    CHECK_EQ_INT(st, STRATA_EIO);
    faultenv_clear(fe);
    for (int i = 0; i < 300 && st; i++, usleep(10000)) st = strata_periodic_sync_status(db);
    CHECK_EQ_INT(st, 0);
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

/* Every sync of the manifest fails for a while (a failing disk) while the
 * flush thread retries: each failed attempt leaves its edit complete in the
 * live manifest, and its files are deleted. Once the disk recovers, the
 * database must reopen with exactly the files it has, not with the files
 * of the failed attempts. */
static void test_manifest_sync_failure_no_phantom_files(void)
{
    const char *dir = test_tmpdir("review_manifest");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_BUFFERED, 0, k, "value"), 0);
    }
    faultenv_set_filter(fe, "MANIFEST");
    faultenv_inject(fe, FAULTENV_SYNC, STRATA_EIO, 1, true);
    CHECK_EQ_INT(strata_flush(db, false), 0);
    strata_stats s;
    for (int i = 0; i < 500; i++) { /* let the flush fail, and retry once or twice */
        strata_get_stats(db, &s);
        if (s.background_error) break;
        usleep(10000);
    }
    CHECK(s.background_error);
    usleep(500000);
    faultenv_clear(fe);
    int rc = -1;
    for (int i = 0; i < 100 && rc; i++) {
        rc = strata_wait_idle(db);
        if (rc) usleep(50000);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(total_files(db), 1);
    CHECK_EQ_INT(strata_close(db), 0);

    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(total_files(db), 1);
    CHECK_EQ_INT(count_files(dir, ".sst"), 1);
    char buf[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(get_str(db, 0, k, buf, sizeof(buf)), 0);
    }
    CHECK_EQ_INT(strata_compact_range(db, 0, NULL, 0, NULL, 0), 0);
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

/* A failure while an open switches to a fresh manifest (the manifest sync,
 * CURRENT's sync, its rename or the directory sync) fails that open but
 * must leave a database that the next open reads whole. */
static void test_failed_manifest_switch_keeps_database(void)
{
    const char *dir = test_tmpdir("review_current");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe != NULL);
    faultenv_real_sync(fe, false);
    strata_options o = fault_opts(fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "a", "1"), 0);
    CHECK_EQ_INT(strata_flush(db, true), 0);
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "b", "2"), 0);
    CHECK_EQ_INT(strata_close(db), 0);
    for (int op = FAULTENV_SYNC; op <= FAULTENV_RENAME; op++)
        for (uint64_t nth = 1; nth <= 6; nth++) {
            faultenv_inject(fe, op, STRATA_EIO, nth, false);
            if (strata_open(dir, &o, &db) == 0) strata_close(db);
            faultenv_clear(fe);
            int rc = strata_open(dir, &o, &db);
            if (rc) fprintf(stderr, "op %d nth %d: open: %s\n", op, (int)nth, strata_errmsg());
            REQUIRE(rc == 0);
            char buf[16];
            CHECK_EQ_INT(get_str(db, 0, "a", buf, sizeof(buf)), 0);
            CHECK_EQ_INT(get_str(db, 0, "b", buf, sizeof(buf)), 0);
            CHECK_EQ_INT(strata_close(db), 0);
        }
    faultenv_free(fe);
}

static int u64_cmp(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* Numbers of the WAL segments in dir, sorted; returns the count. */
static int wal_segments(const char *dir, unsigned long long *nums, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned long long x;
        char tail[8];
        if (sscanf(e->d_name, "%llu.%7s", &x, tail) == 2 && !strcmp(tail, "log") && n < max)
            nums[n++] = x;
    }
    closedir(d);
    qsort(nums, (size_t)n, sizeof(*nums), u64_cmp);
    return n;
}

/* Power loss took the unsynced tail of a WAL segment but not the (equally
 * unsynced) records of the segment after it: recovery must not apply the
 * later records without the lost ones (the state after recovery is always
 * a prefix of the writes). Modelled by cutting the first segment's last
 * record after a clean close. */
static void test_recovery_stops_after_torn_older_segment(void)
{
    const char *dir = test_tmpdir("review_torn");
    strata_options o = small_opts();
    o.wal_file_bytes = 64 << 10;
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    char k[32], v[1000];
    memset(v, 'v', sizeof(v) - 1);
    v[sizeof(v) - 1] = 0;
    const int n = 150; /* ~150 KB: three segments, one memtable */
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_BUFFERED, 0, k, v), 0);
    }
    CHECK_EQ_INT(strata_close(db), 0);
    unsigned long long segs[16];
    int ns = wal_segments(dir, segs, 16);
    REQUIRE(ns >= 2);
    char path[600];
    snprintf(path, sizeof(path), "%s/%06llu.log", dir, segs[0]);
    env_t *env = env_posix();
    uint64_t size = 0;
    REQUIRE(env_file_size(env, path, &size) == 0);
    REQUIRE(truncate(path, (off_t)(size - 100)) == 0);

    REQUIRE(strata_open(dir, &o, &db) == 0);
    int first_missing = -1, present_after = 0;
    char buf[1100];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        int rc = get_str(db, 0, k, buf, sizeof(buf));
        if (rc == STRATA_ENOTFOUND && first_missing < 0) first_missing = i;
        if (rc == 0 && first_missing >= 0) present_after++;
    }
    CHECK(first_missing > 0);
    CHECK_EQ_INT(present_after, 0);
    /* The dropped writes stay dropped over another reopen, and new ones land. */
    CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "after", "1"), 0);
    CHECK_EQ_INT(strata_close(db), 0);
    REQUIRE(strata_open(dir, &o, &db) == 0);
    snprintf(k, sizeof(k), "key%04d", n - 1);
    CHECK_EQ_INT(get_str(db, 0, k, buf, sizeof(buf)), STRATA_ENOTFOUND);
    CHECK_EQ_INT(get_str(db, 0, "after", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(strata_close(db), 0);
}

/* Several WAL segments were created after the last manifest edit (rolls
 * within one memtable), so the manifest's next file number lies below
 * them. Recovery must not hand out their numbers again: the new segment
 * it creates would truncate one it has just replayed, and a power loss
 * before the recovery's manifest edit then loses acknowledged writes. */
static void test_recovery_file_numbers_past_wal(void)
{
    char src[300], dir[300], cmd[1000];
    snprintf(src, sizeof(src), "%s", test_tmpdir("review_numbers_src"));
    snprintf(dir, sizeof(dir), "%s", test_tmpdir("review_numbers"));
    strata_options o = small_opts();
    o.memtable_bytes = 1 << 20;
    o.wal_file_bytes = 64 << 10;
    strata_db *db;
    REQUIRE(strata_open(src, &o, &db) == 0);
    char k[32], v[1000], buf[1100];
    memset(v, 'v', sizeof(v) - 1);
    v[sizeof(v) - 1] = 0;
    const int n = 400; /* ~400 KB: six segments, one memtable */
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%04d", i);
        CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, k, v), 0);
    }
    CHECK_EQ_INT(strata_close(db), 0);
    for (uint64_t step = 1; step <= 12; step++) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -r '%s' '%s'", dir, src, dir);
        REQUIRE(system(cmd) == 0);
        env_t *fe = faultenv_new(env_posix());
        REQUIRE(fe != NULL);
        faultenv_real_sync(fe, false);
        o.env = fe;
        faultenv_kill_at_sync(fe, step);
        if (strata_open(dir, &o, &db) == 0) strata_close(db);
        CHECK_EQ_INT(faultenv_crash(fe), 0);
        REQUIRE(strata_open(dir, &o, &db) == 0);
        int missing = 0;
        for (int i = 0; i < n; i++) {
            snprintf(k, sizeof(k), "key%04d", i);
            if (get_str(db, 0, k, buf, sizeof(buf))) missing++;
        }
        if (missing)
            fprintf(stderr, "power loss at sync %d of open: %d keys lost\n", (int)step, missing);
        CHECK_EQ_INT(missing, 0);
        CHECK_EQ_INT(strata_close(db), 0);
        faultenv_free(fe);
    }
}

/* Every open writes a fresh manifest and switches CURRENT to it; the old
 * one must go (docs/format/manifest.md), not pile up one per open. */
static void test_open_deletes_old_manifest(void)
{
    const char *dir = test_tmpdir("review_manifests");
    strata_options o = small_opts();
    strata_db *db;
    for (int i = 0; i < 4; i++) {
        REQUIRE(strata_open(dir, &o, &db) == 0);
        CHECK_EQ_INT(put(db, STRATA_DUR_SYNC, 0, "k", "v"), 0);
        CHECK_EQ_INT(strata_close(db), 0);
    }
    int n = 0;
    DIR *d = opendir(dir);
    REQUIRE(d != NULL);
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "MANIFEST-", 9)) n++;
    closedir(d);
    CHECK_EQ_INT(n, 1);
}

static int dead_filter(void *arg, uint32_t part, const void *k, size_t kl, const void *v, size_t vl)
{
    return vl >= 4 && !memcmp(v, "dead", 4) ? STRATA_FILTER_DROP : STRATA_FILTER_KEEP;
}

/* The compaction filter drops values starting with "dead". Whatever the
 * level layout (rounds of writes, flushes and partial compactions), once
 * everything is compacted: a key whose newest value is dead reads as absent
 * (no older version comes back), every other key reads its newest value. */
static void test_compaction_filter_never_resurrects(void)
{
    const char *dir = test_tmpdir("review_filter");
    strata_options o = small_opts();
    o.compaction_filter = dead_filter;
    o.level0_compaction_trigger = 2;
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    enum { NK = 5000 };
    static char model[NK][16]; /* newest value, "" = deleted or never written */
    memset(model, 0, sizeof(model));
    unsigned long long seed = test_seed(), x = seed | 1;
    char k[32], v[600], buf[700];
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 1000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int key = (int)(x % NK), what = (int)((x >> 20) % 10);
            snprintf(k, sizeof(k), "key%04d", key);
            if (what == 0) {
                strata_write_options w = wopts(STRATA_DUR_NONE);
                CHECK_EQ_INT(strata_delete(db, &w, 0, k, strlen(k), NULL), 0);
                model[key][0] = 0;
            } else {
                snprintf(model[key], sizeof(model[key]), "%s%d", what < 4 ? "dead" : "live",
                         round * 1000 + i);
                int l = snprintf(v, sizeof(v), "%s:", model[key]);
                for (int j = 0; j < 30; j++) { /* incompressible: the data reaches level 2 */
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    l += snprintf(v + l, sizeof(v) - (size_t)l, "%016llx", x);
                }
                CHECK_EQ_INT(put(db, STRATA_DUR_NONE, 0, k, v), 0);
            }
        }
        CHECK_EQ_INT(strata_flush(db, true), 0);
        if (round % 4 == 3) {
            /* a partial compaction: only some keys move down */
            snprintf(k, sizeof(k), "key%04d", (int)(x % NK));
            CHECK_EQ_INT(strata_compact_range(db, 0, NULL, 0, k, strlen(k)), 0);
        }
    }
    CHECK_EQ_INT(strata_wait_idle(db), 0);
    strata_stats st;
    strata_get_stats(db, &st);
    CHECK(st.levels[2].files > 0); /* the layout reached level 2 */
    CHECK_EQ_INT(strata_compact_range(db, 0, NULL, 0, NULL, 0), 0);
    int bad = 0;
    for (int key = 0; key < NK; key++) {
        snprintf(k, sizeof(k), "key%04d", key);
        int rc = get_str(db, 0, k, buf, sizeof(buf));
        bool want = model[key][0] && strncmp(model[key], "dead", 4);
        char *colon = rc ? NULL : strchr(buf, ':');
        if (colon) *colon = 0;
        if (want ? rc != 0 || strcmp(buf, model[key]) : rc != STRATA_ENOTFOUND) {
            if (bad++ < 5)
                fprintf(stderr, "%s: want %s, got rc %d '%s'\n", k, want ? model[key] : "(none)",
                        rc, rc ? "" : buf);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(strata_close(db), 0);
}

int main(void)
{
    RUN(test_drop_partition_during_background_work);
    RUN(test_old_segment_sync_failure);
    RUN(test_failed_sync_keeps_earlier_writes);
    RUN(test_periodic_sync_aside);
    RUN(test_periodic_sync_status);
    RUN(test_manifest_sync_failure_no_phantom_files);
    RUN(test_failed_manifest_switch_keeps_database);
    RUN(test_recovery_stops_after_torn_older_segment);
    RUN(test_recovery_file_numbers_past_wal);
    RUN(test_open_deletes_old_manifest);
    RUN(test_compaction_filter_never_resurrects);
    TEST_END();
}
