/* Corruption tests of the engine: a flipped byte in a WAL record, an SST data
 * block, an SST footer or the manifest gives STRATA_ECORRUPT from open or from
 * the reads, with strata_errmsg() naming the file and the offset, and never
 * wrong data (a wrong value, a key reported absent, a key missing from an
 * iteration that ends without an error). A WAL cut anywhere in its tail
 * recovers exactly a prefix of the records and the database keeps working.
 *
 * The database under test: keys key00000..key00399 flushed to SST files
 * (compression off, so values can be found in the files), then
 * key00400..key00499 one WAL record each, then a clean close. */
#include "test.h"

#include "strata/engine.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSST 400
#define NALL 500

static char pristine[512];

static void key_of(char *buf, int i)
{
    snprintf(buf, 16, "key%05d", i);
}

static size_t value_of(char *buf, int i)
{
    int n = snprintf(buf, 32, "value-%05d-", i);
    for (int j = 0; j < 100; j++) buf[n + j] = (char)('A' + (i * 7 + j) % 26);
    return (size_t)n + 100;
}

static void options(strata_options *o)
{
    strata_options_init(o);
    o->compression = STRATA_COMPRESS_NONE;
    o->block_size_bytes = 1024;
    o->bloom_bits_per_key = 10;
    o->block_cache_bytes = 1 << 20;
    o->memtable_bytes = 4 << 20;
}

static void copy_db(const char *src, const char *dst)
{
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", dst, src, dst);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(2);
    }
}

static int build_db(const char *dir)
{
    strata_options o;
    options(&o);
    strata_db *db;
    int rc = strata_open(dir, &o, &db);
    if (rc) return rc;
    strata_write_options w;
    strata_write_options_init(&w);
    w.durability = STRATA_DUR_BUFFERED;
    char k[16], v[160];
    for (int i = 0; i < NALL && !rc; i++) {
        key_of(k, i);
        size_t vn = value_of(v, i);
        rc = strata_put(db, &w, 0, k, strlen(k), v, vn, NULL);
        if (!rc && i == NSST - 1) rc = strata_flush(db, true);
        if (!rc && i == NSST / 2) rc = strata_flush(db, true); /* two SST files */
    }
    if (!rc) rc = strata_sync(db);
    int rc2 = strata_close(db);
    return rc ? rc : rc2;
}

/* The file in dir whose name ends with suffix (or starts with it when prefix)
 * and is largest; "" if none. */
static void find_file(const char *dir, const char *pat, bool prefix, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    out[0] = 0;
    off_t best = -1;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), pn = strlen(pat);
        bool m =
            prefix ? !strncmp(de->d_name, pat, pn) : n >= pn && !strcmp(de->d_name + n - pn, pat);
        if (!m) continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && st.st_size > best) {
            best = st.st_size;
            snprintf(out, cap, "%s", p);
        }
    }
    if (d) closedir(d);
}

static long find_bytes(const char *path, const char *needle);

/* The file of dir with suffix that contains needle; "" if none. */
static void find_holding(const char *dir, const char *suffix, const char *needle, char *out,
                         size_t cap)
{
    DIR *d = opendir(dir);
    out[0] = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), sn = strlen(suffix);
        if (n < sn || strcmp(de->d_name + n - sn, suffix)) continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        if (find_bytes(p, needle) >= 0) snprintf(out, cap, "%s", p);
    }
    if (d) closedir(d);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void flip(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    if (!f) exit(2);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
}

static long find_bytes(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t nl = strlen(needle);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    for (size_t i = 0; i + nl <= n; i++)
        if (!memcmp(buf + i, needle, nl)) return (long)i;
    return -1;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The error message names the file and an offset. */
static bool msg_ok(const char *file)
{
    const char *m = strata_errmsg();
    return m && strstr(m, base(file)) && strstr(m, "offset");
}

/* Reads everything of an opened db. Returns -1 on wrong data, else the number
 * of corruption errors seen. Keys from may_lose_from (if >= 0) on may be absent (a
 * recovered prefix): then they must be absent from some point on. */
static int read_all(strata_db *db, const char *file, int may_lose_from, const char *ctx)
{
    strata_read_options r;
    strata_read_options_init(&r);
    int errors = 0, wrong = 0, first_absent = -1;
    char k[16], v[160];
    for (int i = 0; i < NALL; i++) {
        key_of(k, i);
        size_t vn = value_of(v, i);
        void *got = NULL;
        size_t gn = 0;
        int rc = strata_get(db, &r, 0, k, strlen(k), &got, &gn);
        if (rc == 0) {
            if (gn != vn || memcmp(got, v, vn)) {
                fprintf(stderr, "%s: get %s gives a WRONG value\n", ctx, k);
                wrong++;
            } else if (first_absent >= 0) {
                fprintf(stderr, "%s: %s present after absent %d (not a prefix)\n", ctx, k,
                        first_absent);
                wrong++;
            }
            strata_free(got);
        } else if (rc == STRATA_ECORRUPT) {
            errors++;
            if (!msg_ok(file)) {
                fprintf(stderr, "%s: get %s: message does not name %s and offset: %s\n", ctx, k,
                        base(file), strata_errmsg());
                wrong++;
            }
        } else if (rc == STRATA_ENOTFOUND && may_lose_from >= 0 && i >= may_lose_from) {
            if (first_absent < 0) first_absent = i;
        } else {
            fprintf(stderr, "%s: get %s: rc %d (%s), want the value or ECORRUPT\n", ctx, k, rc,
                    strata_errmsg());
            wrong++;
        }
    }
    /* Iteration: the keys in order with their values, then either the end
     * (every expected key seen) or an invalid iterator with ECORRUPT. */
    strata_iter *it;
    int rc = strata_iter_new(db, &r, 0, &it);
    if (rc == STRATA_ECORRUPT) return wrong ? -1 : errors + 1;
    if (rc) {
        fprintf(stderr, "%s: iter_new: %d\n", ctx, rc);
        return -1;
    }
    int i = 0;
    for (strata_iter_seek_first(it); strata_iter_valid(it); strata_iter_next(it), i++) {
        size_t kn, gn;
        const void *kp = strata_iter_key(it, &kn);
        const void *gp = strata_iter_value(it, &gn);
        if (kn >= 2 && !memcmp(kp, "zz", 2)) {
            i--; /* written by the test after recovery */
            continue;
        }
        key_of(k, i);
        size_t vn = value_of(v, i);
        if (kn != strlen(k) || memcmp(kp, k, kn) || gn != vn || memcmp(gp, v, vn)) {
            fprintf(stderr, "%s: iteration entry %d is WRONG (want %s)\n", ctx, i, k);
            wrong++;
            break;
        }
    }
    int st = strata_iter_status(it);
    strata_iter_free(it);
    if (st == STRATA_ECORRUPT) {
        errors++;
    } else if (st != 0) {
        fprintf(stderr, "%s: iteration status %d\n", ctx, st);
        wrong++;
    } else if (i != (first_absent >= 0 ? first_absent : NALL)) {
        fprintf(stderr, "%s: iteration gave %d keys without an error, want %d\n", ctx, i,
                first_absent >= 0 ? first_absent : NALL);
        wrong++;
    }
    return wrong ? -1 : errors;
}

/* Opens dir (after a corruption in file) and reads everything: -1 on wrong
 * data, else the number of corruption errors (open counts as one). */
static int open_and_read(const char *dir, const char *file, int may_lose_from, const char *ctx)
{
    strata_options o;
    options(&o);
    o.create_if_missing = false;
    strata_db *db;
    int rc = strata_open(dir, &o, &db);
    if (rc == STRATA_ECORRUPT) {
        if (!msg_ok(file)) {
            fprintf(stderr, "%s: open: message does not name %s and offset: %s\n", ctx, base(file),
                    strata_errmsg());
            return -1;
        }
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: open: %d (%s), want 0 or ECORRUPT\n", ctx, rc, strata_errmsg());
        return -1;
    }
    int n = read_all(db, file, may_lose_from, ctx);
    strata_close(db);
    return n;
}

static const char *work(const char *name)
{
    static char buf[600];
    snprintf(buf, sizeof(buf), "%s.%s", pristine, name);
    return buf;
}

static void test_pristine(void)
{
    snprintf(pristine, sizeof(pristine), "%s", test_tmpdir("corrupt"));
    REQUIRE(build_db(pristine) == 0);
    char f[1024];
    find_file(pristine, ".sst", false, f, sizeof(f));
    CHECK(f[0] != 0);
    find_file(pristine, ".log", false, f, sizeof(f));
    CHECK(f[0] != 0);
    find_file(pristine, "MANIFEST-", true, f, sizeof(f));
    CHECK(f[0] != 0);
    const char *d = work("copy");
    copy_db(pristine, d);
    CHECK_EQ_INT(open_and_read(d, "none", -1, "pristine"), 0);
}

static void test_wal_record_flip(void)
{
    const char *d = work("wal");
    copy_db(pristine, d);
    char f[1024];
    find_holding(d, ".log", "value-00450-", f, sizeof(f));
    REQUIRE(f[0]);
    long off = find_bytes(f, "value-00450-");
    REQUIRE(off > 0);
    flip(f, off + 3);
    /* A bad record followed by good ones: corruption, not a torn tail. */
    strata_options o;
    options(&o);
    strata_db *db;
    int rc = strata_open(d, &o, &db);
    CHECK_EQ_INT(rc, STRATA_ECORRUPT);
    if (rc == STRATA_ECORRUPT) {
        if (!msg_ok(f)) fprintf(stderr, "message: %s\n", strata_errmsg());
        CHECK(msg_ok(f));
    } else if (rc == 0) {
        strata_close(db);
    }
}

/* Flips bytes all over the WAL: open fails with ECORRUPT, or (for a flip in
 * the last record) recovers a prefix; never wrong data. */
static void test_wal_flip_sweep(void)
{
    char f[1024];
    find_holding(pristine, ".log", "value-00450-", f, sizeof(f));
    REQUIRE(f[0]);
    long size = file_size(f);
    for (long off = 0; off < size; off += size / 37 + 1) {
        const char *d = work("walsweep");
        copy_db(pristine, d);
        char g[1024];
        snprintf(g, sizeof(g), "%s/%s", d, base(f));
        flip(g, off);
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "WAL flip at %ld of %ld", off, size);
        int n = open_and_read(d, g, off > size / 2 ? NSST : -1, ctx);
        CHECK(n >= 0);
        if (off <= size / 2 && n == 0) {
            fprintf(stderr, "%s: not detected\n", ctx);
            CHECK(n > 0);
        }
    }
}

static void test_wal_truncated_tail(void)
{
    char f[1024];
    find_holding(pristine, ".log", "value-00450-", f, sizeof(f));
    REQUIRE(f[0]);
    long size = file_size(f);
    long cuts[] = {1, 2, 7, 13, 64, 100, 129, 200, 333, 1000, 4000};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]) && cuts[c] < size; c++) {
        const char *d = work("waltail");
        copy_db(pristine, d);
        char g[1024];
        snprintf(g, sizeof(g), "%s/%s", d, base(f));
        REQUIRE(truncate(g, size - cuts[c]) == 0);
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "WAL cut by %ld of %ld", cuts[c], size);
        strata_options o;
        options(&o);
        strata_db *db;
        int rc = strata_open(d, &o, &db);
        if (rc) {
            fprintf(stderr, "%s: open: %d %s\n", ctx, rc, strata_errmsg());
            CHECK_EQ_INT(rc, 0);
            continue;
        }
        int n = read_all(db, g, NSST, ctx);
        CHECK_EQ_INT(n, 0);
        /* The last complete records are kept: at most the cut bytes' worth of
         * records is lost (each record holds > 100 bytes). */
        strata_read_options r;
        strata_read_options_init(&r);
        char k[16];
        long keep = NALL - 1 - (cuts[c] / 100 + 1);
        key_of(k, (int)keep);
        void *v;
        size_t vn;
        rc = strata_get(db, &r, 0, k, strlen(k), &v, &vn);
        CHECK_EQ_INT(rc, 0);
        if (!rc) strata_free(v);
        /* New writes after the recovered tail survive a reopen. */
        strata_write_options w;
        strata_write_options_init(&w);
        CHECK_EQ_INT(strata_put(db, &w, 0, "zz-new", 6, "x", 1, NULL), 0);
        CHECK_EQ_INT(strata_close(db), 0);
        REQUIRE(strata_open(d, &o, &db) == 0);
        rc = strata_get(db, &r, 0, "zz-new", 6, &v, &vn);
        CHECK_EQ_INT(rc, 0);
        if (!rc) strata_free(v);
        CHECK_EQ_INT(read_all(db, g, NSST, ctx), 0);
        strata_close(db);
    }
}

static void test_sst_data_block_flip(void)
{
    const char *d = work("sstdata");
    copy_db(pristine, d);
    /* The SST holding key00123. */
    char f[1024];
    find_holding(d, ".sst", "value-00123-", f, sizeof(f));
    REQUIRE(f[0]);
    long off = find_bytes(f, "value-00123-");
    flip(f, off + 20);
    strata_options o;
    options(&o);
    strata_db *db;
    int rc = strata_open(d, &o, &db);
    if (rc == STRATA_ECORRUPT) {
        CHECK(msg_ok(f));
        return;
    }
    REQUIRE(rc == 0);
    strata_read_options r;
    strata_read_options_init(&r);
    void *v = NULL;
    size_t vn;
    rc = strata_get(db, &r, 0, "key00123", 8, &v, &vn);
    CHECK_EQ_INT(rc, STRATA_ECORRUPT);
    if (rc == STRATA_ECORRUPT && !msg_ok(f)) {
        fprintf(stderr, "message: %s\n", strata_errmsg());
        CHECK(msg_ok(f));
    }
    if (rc == 0) strata_free(v);
    int n = read_all(db, f, -1, "SST data flip");
    CHECK(n > 0);
    strata_close(db);
}

/* A compaction over a corrupt block fails with ECORRUPT and loses nothing:
 * the damaged key still reads as corrupt (never absent), the rest as before. */
static void test_compaction_over_corruption(void)
{
    const char *d = work("sstcompact");
    copy_db(pristine, d);
    char f[1024];
    find_holding(d, ".sst", "value-00123-", f, sizeof(f));
    REQUIRE(f[0]);
    flip(f, find_bytes(f, "value-00123-") + 20);
    strata_options o;
    options(&o);
    strata_db *db;
    int rc = strata_open(d, &o, &db);
    REQUIRE(rc == 0);
    rc = strata_compact_range(db, 0, NULL, 0, NULL, 0);
    CHECK_EQ_INT(rc, STRATA_ECORRUPT);
    if (rc == STRATA_ECORRUPT && !msg_ok(f)) {
        fprintf(stderr, "message: %s\n", strata_errmsg());
        CHECK(msg_ok(f));
    }
    CHECK(read_all(db, f, -1, "after a failed compaction") > 0);
    strata_read_options r;
    strata_read_options_init(&r);
    void *v;
    size_t vn;
    rc = strata_get(db, &r, 0, "key00123", 8, &v, &vn);
    CHECK_EQ_INT(rc, STRATA_ECORRUPT);
    if (rc == 0) strata_free(v);
    strata_close(db);
    /* And over a reopen. */
    REQUIRE(strata_open(d, &o, &db) == 0);
    rc = strata_get(db, &r, 0, "key00123", 8, &v, &vn);
    CHECK_EQ_INT(rc, STRATA_ECORRUPT);
    if (rc == 0) strata_free(v);
    CHECK(read_all(db, f, -1, "reopened after a failed compaction") > 0);
    strata_close(db);
}

static void test_sst_footer_flip(void)
{
    char f[1024];
    find_file(pristine, ".sst", false, f, sizeof(f));
    REQUIRE(f[0]);
    long size = file_size(f);
    long offs[] = {size - 1, size - 8, size - 20, size - 40};
    for (int i = 0; i < 4; i++) {
        const char *d = work("sstfooter");
        copy_db(pristine, d);
        char g[1024];
        snprintf(g, sizeof(g), "%s/%s", d, base(f));
        flip(g, offs[i]);
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "SST footer flip at %ld of %ld", offs[i], size);
        int n = open_and_read(d, g, -1, ctx);
        CHECK(n > 0);
    }
}

/* Flips bytes all over one SST: never wrong data; report what went unseen. */
static void test_sst_flip_sweep(void)
{
    char f[1024];
    find_file(pristine, ".sst", false, f, sizeof(f));
    REQUIRE(f[0]);
    long size = file_size(f);
    int undetected = 0, runs = 0;
    for (long off = 0; off < size; off += size / (test_soak() ? 400 : 41) + 1) {
        const char *d = work("sstsweep");
        copy_db(pristine, d);
        char g[1024];
        snprintf(g, sizeof(g), "%s/%s", d, base(f));
        flip(g, off);
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "SST flip at %ld of %ld", off, size);
        int n = open_and_read(d, g, -1, ctx);
        CHECK(n >= 0);
        undetected += n == 0;
        runs++;
    }
    fprintf(stderr, "SST sweep: %d of %d flips went undetected (harmless)\n", undetected, runs);
}

static void test_manifest_flip(void)
{
    /* More manifest records: partitions and flushes after the build. */
    const char *d = work("manifest");
    copy_db(pristine, d);
    strata_options o;
    options(&o);
    strata_db *db;
    REQUIRE(strata_open(d, &o, &db) == 0);
    uint32_t id;
    strata_write_options w;
    strata_write_options_init(&w);
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        CHECK_EQ_INT(strata_partition_create(db, name, &id), 0);
        CHECK_EQ_INT(strata_put(db, &w, id, "k", 1, "v", 1, NULL), 0);
        CHECK_EQ_INT(strata_flush(db, true), 0);
    }
    CHECK_EQ_INT(strata_close(db), 0);
    char f[1024];
    find_file(d, "MANIFEST-", true, f, sizeof(f));
    REQUIRE(f[0]);
    long size = file_size(f);
    char saved[600];
    snprintf(saved, sizeof(saved), "%s", d);
    for (int i = 1; i <= 3; i++) {
        const char *d2 = work("manifest2");
        copy_db(saved, d2);
        char g[1024];
        snprintf(g, sizeof(g), "%s/%s", d2, base(f));
        long off = size * i / 8;
        flip(g, off);
        int rc = strata_open(d2, &o, &db);
        if (rc == 0) strata_close(db);
        if (rc != STRATA_ECORRUPT || !msg_ok(g))
            fprintf(stderr, "manifest flip at %ld of %ld: rc %d, message %s\n", off, size, rc,
                    strata_errmsg());
        CHECK_EQ_INT(rc, STRATA_ECORRUPT);
        if (rc == STRATA_ECORRUPT) CHECK(msg_ok(g));
    }
}

/* CURRENT naming a missing manifest: an error, never a fresh empty database. */
static void test_current_bad(void)
{
    const char *d = work("current");
    copy_db(pristine, d);
    char p[1024];
    snprintf(p, sizeof(p), "%s/CURRENT", d);
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    fputs("MANIFEST-999999\n", f);
    fclose(f);
    strata_options o;
    options(&o);
    strata_db *db;
    int rc = strata_open(d, &o, &db);
    CHECK(rc != 0);
    if (rc == 0) strata_close(db);
    /* A truncated CURRENT likewise. */
    f = fopen(p, "w");
    fclose(f);
    rc = strata_open(d, &o, &db);
    CHECK(rc != 0);
    if (rc == 0) strata_close(db);
}

int main(void)
{
    RUN(test_pristine);
    RUN(test_wal_record_flip);
    RUN(test_wal_flip_sweep);
    RUN(test_wal_truncated_tail);
    RUN(test_sst_data_block_flip);
    RUN(test_compaction_over_corruption);
    RUN(test_sst_footer_flip);
    RUN(test_sst_flip_sweep);
    RUN(test_manifest_flip);
    RUN(test_current_bad);
    TEST_END();
}
