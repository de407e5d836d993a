/* Disk-full and I/O-error tests of the engine with the fault env: ENOSPC or
 * EIO on a WAL append, a torn WAL append, a failed WAL sync, a failed flush,
 * a failed compaction, a failed manifest write and a completely full disk.
 * In every case the failing call returns an error (never 0), the database
 * stays readable with the right data, the failed write is not visible, and
 * once the fault is cleared the database works again without a reopen
 * (except after a failed WAL sync, where only a reopen is required to work)
 * and keeps every acknowledged write over a reopen. */
#include "test.h"

#include "engine/faultenv.h"
#include "strata/engine.h"
#include "util/env.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct fx {
    char dir[512];
    env_t *fe;
    strata_options o;
    strata_db *db;
    bool present[400]; /* keys the database must hold: k000..k399 */
} fx;

static void key_of(char *k, int i)
{
    snprintf(k, 16, "k%03d", i);
}

static void val_of(char *v, int i)
{
    snprintf(v, 64, "value-of-%03d-%0*d", i, 30, i);
}

static bool fx_open(fx *f, const char *name, int l0_trigger)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", test_tmpdir(name));
    f->fe = faultenv_new(env_posix());
    strata_options_init(&f->o);
    f->o.env = f->fe;
    f->o.memtable_bytes = 64 << 10;
    f->o.level0_compaction_trigger = l0_trigger;
    f->o.target_file_bytes = 64 << 10;
    int rc = strata_open(f->dir, &f->o, &f->db);
    if (rc) fprintf(stderr, "open %s: %d %s\n", f->dir, rc, strata_errmsg());
    return rc == 0;
}

static int put(fx *f, int i, int durability)
{
    char k[16], v[64];
    key_of(k, i);
    val_of(v, i);
    strata_write_options w;
    strata_write_options_init(&w);
    w.durability = durability;
    int rc = strata_put(f->db, &w, 0, k, strlen(k), v, strlen(v), NULL);
    if (rc == 0) f->present[i] = true;
    return rc;
}

/* Puts keys [a, b) with SYNC durability; 0 or the first error. */
static int put_range(fx *f, int a, int b)
{
    for (int i = a; i < b; i++) {
        int rc = put(f, i, STRATA_DUR_SYNC);
        if (rc) return rc;
    }
    return 0;
}

/* Every key is present with its value exactly when f->present says so, by
 * gets and by an iteration. Returns the number of mismatches. */
static int verify(fx *f, const char *ctx)
{
    int bad = 0, want_n = 0;
    strata_read_options r;
    strata_read_options_init(&r);
    for (int i = 0; i < 400; i++) {
        char k[16], v[64];
        key_of(k, i);
        val_of(v, i);
        void *got;
        size_t gn;
        int rc = strata_get(f->db, &r, 0, k, strlen(k), &got, &gn);
        if (f->present[i]) {
            want_n++;
            if (rc != 0 || gn != strlen(v) || memcmp(got, v, gn)) {
                fprintf(stderr, "%s: %s: rc %d (%s), want its value\n", ctx, k, rc,
                        rc ? strata_errmsg() : "wrong value");
                bad++;
            }
        } else if (rc != STRATA_ENOTFOUND) {
            fprintf(stderr, "%s: %s: rc %d, want absent\n", ctx, k, rc);
            bad++;
        }
        if (rc == 0) strata_free(got);
    }
    strata_iter *it;
    int rc = strata_iter_new(f->db, &r, 0, &it);
    if (rc) {
        fprintf(stderr, "%s: iter_new %d %s\n", ctx, rc, strata_errmsg());
        return bad + 1;
    }
    int n = 0;
    for (strata_iter_seek_first(it); strata_iter_valid(it); strata_iter_next(it)) n++;
    if (n != want_n || strata_iter_status(it)) {
        fprintf(stderr, "%s: iteration: %d keys status %d, want %d\n", ctx, n,
                strata_iter_status(it), want_n);
        bad++;
    }
    strata_iter_free(it);
    return bad;
}

/* Closes, reopens on a healthy env and verifies; then closes and frees. */
static void fx_finish(fx *f, const char *ctx)
{
    faultenv_clear(f->fe);
    strata_close(f->db);
    f->db = NULL;
    int rc = strata_open(f->dir, &f->o, &f->db);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        char c[128];
        snprintf(c, sizeof(c), "%s, after reopen", ctx);
        CHECK_EQ_INT(verify(f, c), 0);
        CHECK_EQ_INT(strata_close(f->db), 0);
    } else {
        fprintf(stderr, "%s: reopen: %s\n", ctx, strata_errmsg());
    }
    faultenv_free(f->fe);
}

static void test_wal_append_enospc(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_wal", 4));
    CHECK_EQ_INT(put_range(&f, 0, 50), 0);
    faultenv_set_filter(f.fe, ".log");
    faultenv_inject(f.fe, FAULTENV_APPEND, ERR_NOSPC, 1, true);
    CHECK_EQ_INT(put(&f, 50, STRATA_DUR_SYNC), STRATA_ENOSPC);
    CHECK_EQ_INT(put(&f, 51, STRATA_DUR_BUFFERED), STRATA_ENOSPC);
    /* An unsynced write may stay in memory or fail. When it is
     * acknowledged, the failing writes after it must not take it out of the
     * WAL buffer: it is readable now and, once the space is back and a
     * later write hands the buffer to the OS, after a clean reopen too. */
    int rc = put(&f, 52, STRATA_DUR_NONE);
    CHECK(rc == 0 || rc == STRATA_ENOSPC);
    strata_batch *b = strata_batch_new();
    strata_batch_put(b, 0, "k060", 4, "x", 1);
    strata_batch_delete(b, 0, "k000", 4);
    strata_write_options w;
    strata_write_options_init(&w);
    CHECK_EQ_INT(strata_write(f.db, &w, b, NULL), STRATA_ENOSPC);
    strata_batch_free(b);
    CHECK_EQ_INT(verify(&f, "WAL full"), 0);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(put_range(&f, 100, 150), 0);
    CHECK_EQ_INT(verify(&f, "WAL space back"), 0);
    fx_finish(&f, "WAL ENOSPC");
}

/* An append that wrote part of a record before failing: later records must
 * still be recoverable (the engine must not leave them behind garbage). */
static void test_wal_torn_append(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_torn", 4));
    CHECK_EQ_INT(put_range(&f, 0, 20), 0);
    faultenv_set_filter(f.fe, ".log");
    faultenv_torn_append(f.fe, 1, 9, ERR_NOSPC, false);
    CHECK(put(&f, 20, STRATA_DUR_SYNC) != 0);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(put_range(&f, 21, 60), 0);
    CHECK_EQ_INT(verify(&f, "after torn append"), 0);
    fx_finish(&f, "torn WAL append");
}

/* A failed fsync of the WAL: the write must not be acknowledged. Whether the
 * engine keeps accepting writes is its choice; after a reopen it must work
 * and hold every acknowledged write (the failed one may or may not be
 * there). */
static void test_wal_sync_eio(void)
{
    fx f;
    REQUIRE(fx_open(&f, "eio_sync", 4));
    CHECK_EQ_INT(put_range(&f, 0, 30), 0);
    faultenv_set_filter(f.fe, ".log");
    faultenv_inject(f.fe, FAULTENV_SYNC, ERR_IO, 1, false);
    CHECK_EQ_INT(put(&f, 30, STRATA_DUR_SYNC), STRATA_EIO);
    faultenv_clear(f.fe);
    /* Reads never show wrong data meanwhile. */
    strata_read_options r;
    strata_read_options_init(&r);
    void *v;
    size_t vn;
    CHECK_EQ_INT(strata_get(f.db, &r, 0, "k001", 4, &v, &vn), 0);
    strata_free(v);
    int rc = put(&f, 31, STRATA_DUR_SYNC);
    fprintf(stderr, "write after a failed WAL sync: %d (%s)\n", rc, rc ? strata_errmsg() : "ok");
    strata_close(f.db);
    REQUIRE(strata_open(f.dir, &f.o, &f.db) == 0);
    int rc30 = strata_get(f.db, &r, 0, "k030", 4, &v, &vn);
    if (rc30 == 0) {
        strata_free(v);
        f.present[30] = true;
    }
    CHECK_EQ_INT(verify(&f, "after failed sync + reopen"), 0);
    CHECK_EQ_INT(put_range(&f, 40, 60), 0);
    fx_finish(&f, "WAL sync EIO");
}

static void test_flush_enospc(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_flush", 4));
    CHECK_EQ_INT(put_range(&f, 0, 100), 0);
    faultenv_set_filter(f.fe, ".sst");
    faultenv_inject(f.fe, FAULTENV_OPEN, ERR_NOSPC, 1, true);
    faultenv_inject(f.fe, FAULTENV_APPEND, ERR_NOSPC, 1, true);
    int rc = strata_flush(f.db, true);
    CHECK(rc != 0);
    fprintf(stderr, "flush on a full disk: %d (%s)\n", rc, strata_errmsg());
    CHECK_EQ_INT(verify(&f, "flush failed"), 0);
    /* Writes may be refused while the background error stands, never lost. */
    rc = put(&f, 100, STRATA_DUR_SYNC);
    fprintf(stderr, "write while flushes fail: %d\n", rc);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(strata_flush(f.db, true), 0);
    CHECK_EQ_INT(put_range(&f, 101, 200), 0);
    CHECK_EQ_INT(strata_flush(f.db, true), 0);
    strata_stats st;
    CHECK_EQ_INT(strata_get_stats(f.db, &st), 0);
    CHECK(!st.background_error);
    CHECK(st.levels[0].files + st.levels[1].files + st.levels[2].files > 0);
    CHECK_EQ_INT(verify(&f, "flush recovered"), 0);
    fx_finish(&f, "flush ENOSPC");
}

static void test_compaction_enospc(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_compact", 12));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(put_range(&f, i * 50, i * 50 + 50), 0);
        CHECK_EQ_INT(strata_flush(f.db, true), 0);
    }
    faultenv_set_filter(f.fe, ".sst");
    faultenv_inject(f.fe, FAULTENV_APPEND, ERR_NOSPC, 2, true);
    int rc = strata_compact_range(f.db, 0, NULL, 0, NULL, 0);
    CHECK(rc != 0);
    fprintf(stderr, "compaction on a full disk: %d (%s)\n", rc, strata_errmsg());
    CHECK_EQ_INT(verify(&f, "compaction failed"), 0);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(strata_compact_range(f.db, 0, NULL, 0, NULL, 0), 0);
    strata_stats st;
    CHECK_EQ_INT(strata_get_stats(f.db, &st), 0);
    CHECK_EQ_INT(st.levels[0].files, 0);
    CHECK(!st.background_error);
    CHECK_EQ_INT(verify(&f, "compaction recovered"), 0);
    CHECK_EQ_INT(put_range(&f, 200, 220), 0);
    fx_finish(&f, "compaction ENOSPC");
}

static void test_manifest_enospc(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_manifest", 4));
    CHECK_EQ_INT(put_range(&f, 0, 60), 0);
    faultenv_set_filter(f.fe, "MANIFEST");
    faultenv_inject(f.fe, FAULTENV_APPEND, ERR_NOSPC, 1, true);
    int rc = strata_flush(f.db, true);
    CHECK(rc != 0);
    uint32_t id;
    CHECK(strata_partition_create(f.db, "p", &id) != 0);
    CHECK_EQ_INT(verify(&f, "manifest full"), 0);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(strata_flush(f.db, true), 0);
    CHECK_EQ_INT(strata_partition_create(f.db, "p", &id), 0);
    CHECK_EQ_INT(put_range(&f, 60, 90), 0);
    CHECK_EQ_INT(verify(&f, "manifest space back"), 0);
    fx_finish(&f, "manifest ENOSPC");
}

static void test_disk_full(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_all", 4));
    CHECK_EQ_INT(put_range(&f, 0, 80), 0);
    faultenv_fail_writes(f.fe, ERR_NOSPC);
    CHECK(put(&f, 80, STRATA_DUR_SYNC) != 0);
    CHECK(put(&f, 81, STRATA_DUR_BUFFERED) != 0);
    CHECK(strata_flush(f.db, true) != 0);
    CHECK_EQ_INT(verify(&f, "disk full"), 0);
    faultenv_clear(f.fe);
    CHECK_EQ_INT(put_range(&f, 82, 120), 0);
    CHECK_EQ_INT(strata_flush(f.db, true), 0);
    CHECK_EQ_INT(verify(&f, "disk has space again"), 0);
    fx_finish(&f, "disk full");
}

/* A full disk while opening (recovery must write: a new WAL, the manifest):
 * open fails cleanly with the error, and succeeds with every write once the
 * disk has room again. */
static void test_open_on_full_disk(void)
{
    fx f;
    REQUIRE(fx_open(&f, "nospc_open", 4));
    CHECK_EQ_INT(put_range(&f, 0, 120), 0);
    CHECK_EQ_INT(strata_flush(f.db, true), 0);
    CHECK_EQ_INT(put_range(&f, 120, 160), 0); /* left in the WAL */
    CHECK_EQ_INT(strata_close(f.db), 0);
    f.db = NULL;
    for (int op = 0; op < 3; op++) {
        static const int ops[] = {FAULTENV_OPEN, FAULTENV_APPEND, FAULTENV_SYNC};
        faultenv_inject(f.fe, ops[op], ERR_NOSPC, 1, true);
        int rc = strata_open(f.dir, &f.o, &f.db);
        CHECK(rc != 0);
        if (rc == 0) {
            strata_close(f.db);
        } else if (rc != STRATA_ENOSPC) {
            fprintf(stderr, "open on a full disk (op %d): %d %s\n", op, rc, strata_errmsg());
        }
        f.db = NULL;
        faultenv_clear(f.fe);
    }
    int rc = strata_open(f.dir, &f.o, &f.db);
    REQUIRE(rc == 0);
    CHECK_EQ_INT(verify(&f, "open after the disk has room"), 0);
    CHECK_EQ_INT(put_range(&f, 160, 170), 0);
    fx_finish(&f, "open on a full disk");
}

int main(void)
{
    RUN(test_wal_append_enospc);
    RUN(test_wal_torn_append);
    RUN(test_wal_sync_eio);
    RUN(test_flush_enospc);
    RUN(test_compaction_enospc);
    RUN(test_manifest_enospc);
    RUN(test_disk_full);
    RUN(test_open_on_full_disk);
    TEST_END();
}
