/* Engine db tests through the public API: writes, reads, reopen and WAL
 * replay, flush and compaction, iterators in both directions with bounds,
 * range deletes, snapshots, partitions, checkpoints, the change log,
 * option validation, limits and group commit under threads. */
#include "strata/engine.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

static void put_str(strata_db *db, uint32_t part, const char *k, const char *v)
{
    strata_write_options w = wopts(STRATA_DUR_NONE);
    int rc = strata_put(db, &w, part, k, strlen(k), v, strlen(v), NULL);
    if (rc) fprintf(stderr, "put %s: %s\n", k, strata_errmsg());
    CHECK_EQ_INT(rc, 0);
}

static void test_basic_and_reopen(void)
{
    const char *dir = test_tmpdir("db_basic");
    strata_options o = small_opts();
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    put_str(db, 0, "a", "1");
    put_str(db, 0, "b", "2");
    put_str(db, 0, "a", "3");
    strata_write_options w = wopts(STRATA_DUR_SYNC);
    uint64_t seq = 0;
    CHECK_EQ_INT(strata_delete(db, &w, 0, "b", 1, &seq), 0);
    CHECK_EQ_INT(seq, 4);
    CHECK_EQ_INT(strata_last_sequence(db), 4);
    char buf[64];
    CHECK_EQ_INT(get_str(db, 0, "a", buf, sizeof(buf)), 0);
    CHECK(!strcmp(buf, "3"));
    CHECK_EQ_INT(get_str(db, 0, "b", buf, sizeof(buf)), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_close(db), 0);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    CHECK_EQ_INT(strata_last_sequence(db), 4);
    CHECK_EQ_INT(get_str(db, 0, "a", buf, sizeof(buf)), 0);
    CHECK(!strcmp(buf, "3"));
    CHECK_EQ_INT(get_str(db, 0, "b", buf, sizeof(buf)), STRATA_ENOTFOUND);
    put_str(db, 0, "c", "4");
    CHECK_EQ_INT(strata_close(db), 0);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    CHECK_EQ_INT(get_str(db, 0, "c", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(strata_last_sequence(db), 5);
    strata_close(db);
}

static void test_options_and_limits(void)
{
    const char *dir = test_tmpdir("db_opts");
    strata_options o = small_opts();
    o.level0_stop_trigger = 1;
    strata_db *db = NULL;
    CHECK_EQ_INT(strata_open(dir, &o, &db), STRATA_EINVAL);
    CHECK(strstr(strata_errmsg(), "level0_stop_trigger") != NULL);
    o = small_opts();
    o.wal_sync_interval_ms = 3600u * 1000u + 1;
    CHECK_EQ_INT(strata_open(dir, &o, &db), STRATA_EINVAL);
    CHECK(strstr(strata_errmsg(), "wal_sync_interval_ms") != NULL);
    o = small_opts();
    o.create_if_missing = false;
    CHECK_EQ_INT(strata_open(dir, &o, &db), STRATA_ENOTFOUND);
    o = small_opts();
    o.max_key_bytes = 8;
    o.max_value_bytes = 16;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    strata_db *db2 = NULL;
    CHECK_EQ_INT(strata_open(dir, &o, &db2), STRATA_EBUSY);
    strata_write_options w = wopts(STRATA_DUR_NONE);
    CHECK_EQ_INT(strata_put(db, &w, 0, "123456789", 9, "v", 1, NULL), STRATA_ETOOBIG);
    char big[17] = {0};
    CHECK_EQ_INT(strata_put(db, &w, 0, "k", 1, big, 17, NULL), STRATA_ETOOBIG);
    CHECK_EQ_INT(strata_put(db, &w, 7, "k", 1, "v", 1, NULL), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_last_sequence(db), 0);
    strata_close(db);
}

static void fill(strata_db *db, uint32_t part, int from, int to, const char *tag)
{
    strata_write_options w = wopts(STRATA_DUR_NONE);
    char k[32], v[128];
    for (int i = from; i < to; i++) {
        int kl = snprintf(k, sizeof(k), "key%08d", i);
        int vl = snprintf(v, sizeof(v), "%s-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                          tag, i);
        if (strata_put(db, &w, part, k, (size_t)kl, v, (size_t)vl, NULL)) {
            fprintf(stderr, "fill: %s\n", strata_errmsg());
            test__failures++;
            return;
        }
    }
}

static int check_value(strata_db *db, uint32_t part, int i, const char *tag)
{
    char k[32], v[128], got[128];
    snprintf(k, sizeof(k), "key%08d", i);
    snprintf(v, sizeof(v), "%s-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tag, i);
    int rc = get_str(db, part, k, got, sizeof(got));
    if (rc) return rc;
    return strcmp(got, v) ? -100 : 0;
}

static void test_flush_compact_iterate(void)
{
    const char *dir = test_tmpdir("db_compact");
    strata_options o = small_opts();
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    fill(db, 0, 0, 20000, "a");
    fill(db, 0, 0, 20000, "b"); /* overwrite everything */
    strata_write_options w = wopts(STRATA_DUR_NONE);
    CHECK_EQ_INT(strata_delete_range(db, &w, 0, "key00001000", 11, "key00002000", 11, NULL), 0);
    for (int i = 5000; i < 6000; i++) {
        char k[32];
        int kl = snprintf(k, sizeof(k), "key%08d", i);
        CHECK_EQ_INT(strata_delete(db, &w, 0, k, (size_t)kl, NULL), 0);
    }
    CHECK_EQ_INT(strata_wait_idle(db), 0);
    strata_stats st;
    strata_get_stats(db, &st);
    CHECK(st.flushes > 0);
    CHECK(st.compactions > 0);
    int bad = 0;
    for (int i = 0; i < 20000; i += 7) {
        int rc = check_value(db, 0, i, "b");
        bool gone = (i >= 1000 && i < 2000) || (i >= 5000 && i < 6000);
        if (gone ? rc != STRATA_ENOTFOUND : rc != 0) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* forward and backward scans agree */
    strata_iter *it;
    REQUIRE(strata_iter_new(db, NULL, 0, &it) == 0);
    int n = 0;
    for (strata_iter_seek_first(it); strata_iter_valid(it); strata_iter_next(it)) n++;
    CHECK_EQ_INT(n, 18000);
    int m = 0;
    for (strata_iter_seek_last(it); strata_iter_valid(it); strata_iter_prev(it)) m++;
    CHECK_EQ_INT(m, 18000);
    strata_iter_seek(it, "key00000999", 11);
    REQUIRE(strata_iter_valid(it));
    size_t kl;
    const char *k = strata_iter_key(it, &kl);
    CHECK(kl == 11 && !memcmp(k, "key00000999", 11));
    strata_iter_next(it);
    k = strata_iter_key(it, &kl);
    CHECK(kl == 11 && !memcmp(k, "key00002000", 11));
    strata_iter_prev(it);
    k = strata_iter_key(it, &kl);
    CHECK(kl == 11 && !memcmp(k, "key00000999", 11));
    strata_iter_seek_for_prev(it, "key00001500", 11);
    k = strata_iter_key(it, &kl);
    CHECK(kl == 11 && !memcmp(k, "key00000999", 11));
    CHECK_EQ_INT(strata_iter_status(it), 0);
    strata_iter_free(it);
    /* compact everything: tombstones vanish at the bottom */
    CHECK_EQ_INT(strata_compact_range(db, 0, NULL, 0, NULL, 0), 0);
    CHECK_EQ_INT(check_value(db, 0, 1500, "b"), STRATA_ENOTFOUND);
    CHECK_EQ_INT(check_value(db, 0, 2500, "b"), 0);
    strata_close(db);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    CHECK_EQ_INT(check_value(db, 0, 19999, "b"), 0);
    CHECK_EQ_INT(check_value(db, 0, 5500, "b"), STRATA_ENOTFOUND);
    strata_close(db);
}

static void test_bounds_and_snapshots(void)
{
    const char *dir = test_tmpdir("db_snap");
    strata_options o = small_opts();
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    put_str(db, 0, "b", "1");
    put_str(db, 0, "d", "1");
    const strata_snapshot *s = strata_snapshot_new(db);
    put_str(db, 0, "b", "2");
    put_str(db, 0, "c", "2");
    strata_write_options w = wopts(STRATA_DUR_NONE);
    strata_delete(db, &w, 0, "d", 1, NULL);
    strata_flush(db, true);
    strata_read_options r;
    strata_read_options_init(&r);
    r.snapshot = s;
    void *v;
    size_t vl;
    CHECK_EQ_INT(strata_get(db, &r, 0, "b", 1, &v, &vl), 0);
    CHECK(vl == 1 && *(char *)v == '1');
    strata_free(v);
    CHECK_EQ_INT(strata_get(db, &r, 0, "c", 1, &v, &vl), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_get(db, &r, 0, "d", 1, &v, &vl), 0);
    strata_free(v);
    strata_compact_range(db, 0, NULL, 0, NULL, 0);
    CHECK_EQ_INT(strata_get(db, &r, 0, "d", 1, &v, &vl), 0); /* snapshot keeps it */
    strata_free(v);
    strata_read_options_init(&r);
    r.lower_bound = "b";
    r.lower_len = 1;
    r.upper_bound = "c";
    r.upper_len = 1;
    strata_iter *it;
    REQUIRE(strata_iter_new(db, &r, 0, &it) == 0);
    int n = 0;
    for (strata_iter_seek_first(it); strata_iter_valid(it); strata_iter_next(it)) n++;
    CHECK_EQ_INT(n, 1);
    strata_iter_seek_last(it);
    REQUIRE(strata_iter_valid(it));
    size_t kl;
    CHECK(*(const char *)strata_iter_key(it, &kl) == 'b');
    strata_iter_free(it);
    strata_snapshot_release(db, s);
    strata_close(db);
}

static void test_partitions(void)
{
    const char *dir = test_tmpdir("db_parts");
    strata_options o = small_opts();
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    uint32_t p1, p2, f;
    CHECK_EQ_INT(strata_partition_create(db, "t1", &p1), 0);
    CHECK_EQ_INT(strata_partition_create(db, "t2", &p2), 0);
    CHECK_EQ_INT(strata_partition_create(db, "t1", &f), STRATA_EEXIST);
    fill(db, p1, 0, 3000, "p1");
    fill(db, p2, 0, 3000, "p2");
    fill(db, 0, 0, 100, "p0");
    strata_flush(db, true);
    fill(db, p1, 3000, 3100, "p1");
    CHECK_EQ_INT(check_value(db, p1, 10, "p1"), 0);
    CHECK_EQ_INT(check_value(db, p2, 10, "p2"), 0);
    CHECK_EQ_INT(check_value(db, 0, 10, "p0"), 0);
    CHECK_EQ_INT(strata_partition_drop(db, p1), 0);
    CHECK_EQ_INT(check_value(db, p1, 10, "p1"), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_partition_find(db, "t1", &f), STRATA_ENOTFOUND);
    CHECK_EQ_INT(strata_partition_drop(db, 0), STRATA_EINVAL);
    strata_close(db);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    CHECK_EQ_INT(strata_partition_find(db, "t2", &f), 0);
    CHECK_EQ_INT(f, p2);
    CHECK_EQ_INT(strata_partition_find(db, "t1", &f), STRATA_ENOTFOUND);
    CHECK_EQ_INT(check_value(db, p2, 2999, "p2"), 0);
    uint32_t ids[8];
    CHECK_EQ_INT(strata_partition_list(db, ids, 8), 2);
    uint32_t p3;
    CHECK_EQ_INT(strata_partition_create(db, "t3", &p3), 0);
    CHECK(p3 != p1 && p3 != p2);
    strata_close(db);
}

/* Manifest edits run with the db mutex released during their I/O: partition
 * creates from two threads while flushes and compactions apply their own
 * edits still get distinct ids, and all of it survives a reopen. */
typedef struct pc_arg {
    strata_db *db;
    int t;
    uint32_t ids[40];
} pc_arg;

static void *part_creator(void *p)
{
    pc_arg *a = p;
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%d-%d", a->t, i);
        if (strata_partition_create(a->db, name, &a->ids[i])) test__failures++;
        if (i % 8 == 7 && strata_partition_drop(a->db, a->ids[i - 1])) test__failures++;
    }
    return NULL;
}

static void test_partitions_concurrent_edits(void)
{
    const char *dir = test_tmpdir("db_parts_conc");
    strata_options o = small_opts();
    o.memtable_bytes = 64 << 10;
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    pc_arg a[2] = {{db, 0, {0}}, {db, 1, {0}}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++) REQUIRE(pthread_create(&th[t], NULL, part_creator, &a[t]) == 0);
    fill(db, 0, 0, 6000, "w"); /* flushes and compactions meanwhile */
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (int x = 0; x < 80; x++)
        for (int y = x + 1; y < 80; y++) CHECK(a[x / 40].ids[x % 40] != a[y / 40].ids[y % 40]);
    strata_close(db);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 40; i++) {
            char name[32];
            snprintf(name, sizeof(name), "c%d-%d", t, i);
            uint32_t f = 0;
            bool dropped = i % 8 == 6;
            CHECK_EQ_INT(strata_partition_find(db, name, &f), dropped ? STRATA_ENOTFOUND : 0);
            if (!dropped) CHECK_EQ_INT(f, a[t].ids[i]);
        }
    CHECK_EQ_INT(check_value(db, 0, 5999, "w"), 0);
    strata_close(db);
}

static void test_checkpoint_and_changes(void)
{
    const char *dir = test_tmpdir("db_ckpt");
    char cdir[600];
    snprintf(cdir, sizeof(cdir), "%s/copy", dir);
    char ddir[600];
    snprintf(ddir, sizeof(ddir), "%s/db", dir);
    strata_options o = small_opts();
    strata_db *db;
    REQUIRE(strata_open(ddir, &o, &db) == 0);
    fill(db, 0, 0, 5000, "c");
    uint64_t seq = 0;
    CHECK_EQ_INT(strata_checkpoint(db, cdir, &seq), 0);
    CHECK_EQ_INT(seq, 5000);
    fill(db, 0, 5000, 5100, "c");
    CHECK_EQ_INT(strata_checkpoint(db, cdir, &seq), STRATA_EEXIST);
    /* the change log from 4990 on (it sees writes once they reach the OS) */
    CHECK_EQ_INT(strata_sync(db), 0);
    strata_changes *c;
    REQUIRE(strata_changes_open(db, 4990, &c) == 0);
    uint64_t s, expect = 4990;
    const void *d;
    size_t dl;
    int got = 0;
    while (strata_changes_next(c, &s, &d, &dl) == 0) {
        CHECK_EQ_INT(s, expect);
        expect++;
        got++;
    }
    CHECK_EQ_INT(got, 111);
    fill(db, 0, 5100, 5101, "c");
    CHECK_EQ_INT(strata_changes_next(c, &s, &d, &dl), STRATA_ENOTFOUND); /* still buffered */
    CHECK_EQ_INT(strata_flush_wal(db), 0); /* handed to the OS: now readable */
    CHECK_EQ_INT(strata_changes_next(c, &s, &d, &dl), 0);
    CHECK_EQ_INT(s, 5101);
    strata_changes_close(c);
    CHECK_EQ_INT(strata_changes_open(db, 999999, &c), STRATA_EINVAL);
    strata_close(db);
    strata_db *copy;
    REQUIRE(strata_open(cdir, &o, &copy) == 0);
    CHECK_EQ_INT(strata_last_sequence(copy), 5000);
    CHECK_EQ_INT(check_value(copy, 0, 4999, "c"), 0);
    CHECK_EQ_INT(check_value(copy, 0, 5000, "c"), STRATA_ENOTFOUND);
    strata_close(copy);
}

typedef struct thr_arg {
    strata_db *db;
    int id, n;
} thr_arg;

static void *sync_writer(void *p)
{
    thr_arg *a = p;
    strata_write_options w = wopts(STRATA_DUR_SYNC);
    char k[32];
    for (int i = 0; i < a->n; i++) {
        int kl = snprintf(k, sizeof(k), "t%d-%d", a->id, i);
        if (strata_put(a->db, &w, 0, k, (size_t)kl, k, (size_t)kl, NULL)) return (void *)1;
    }
    return NULL;
}

static void test_group_commit(void)
{
    const char *dir = test_tmpdir("db_group");
    strata_options o = small_opts();
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    pthread_t t[8];
    thr_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (thr_arg){db, i, 200};
        pthread_create(&t[i], NULL, sync_writer, &a[i]);
    }
    int fails = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        fails += r != NULL;
    }
    CHECK_EQ_INT(fails, 0);
    strata_stats st;
    strata_get_stats(db, &st);
    CHECK_EQ_INT(st.sync_writes, 1600);
    CHECK(st.syncs <= st.sync_writes);
    CHECK_EQ_INT(strata_last_sequence(db), 1600);
    strata_close(db);
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    char buf[32];
    CHECK_EQ_INT(get_str(db, 0, "t7-199", buf, sizeof(buf)), 0);
    strata_close(db);
}

static void test_wal_retention(void)
{
    const char *dir = test_tmpdir("db_retention");
    strata_options o = small_opts();
    o.wal_retention_bytes = 64 << 10;
    strata_db *db;
    if (strata_open(dir, &o, &db)) fprintf(stderr, "open: %s\n", strata_errmsg());
    REQUIRE(db != NULL);
    fill(db, 0, 0, 20000, "r"); /* several memtables: flushed WAL beyond retention */
    CHECK_EQ_INT(strata_flush(db, true), 0);
    CHECK_EQ_INT(strata_sync(db), 0);
    uint64_t oldest = strata_changes_oldest(db);
    CHECK(oldest > 1);
    strata_changes *c = NULL;
    CHECK_EQ_INT(strata_changes_open(db, 1, &c), STRATA_EGONE);
    CHECK(strstr(strata_errmsg(), "no longer retained") != NULL);
    REQUIRE(strata_changes_open(db, oldest, &c) == 0);
    uint64_t s, n = 0, expect = oldest;
    const void *d;
    size_t dl;
    while (strata_changes_next(c, &s, &d, &dl) == 0) {
        CHECK_EQ_INT(s, expect);
        expect++;
        n++;
    }
    CHECK_EQ_INT(expect, 20001);
    strata_changes_close(c);
    strata_stats st;
    strata_get_stats(db, &st);
    CHECK(st.wal_bytes < (2u << 20));
    strata_close(db);
}

int main(void)
{
    RUN(test_basic_and_reopen);
    RUN(test_options_and_limits);
    RUN(test_flush_compact_iterate);
    RUN(test_bounds_and_snapshots);
    RUN(test_partitions);
    RUN(test_partitions_concurrent_edits);
    RUN(test_checkpoint_and_changes);
    RUN(test_group_commit);
    RUN(test_wal_retention);
    TEST_END();
}
