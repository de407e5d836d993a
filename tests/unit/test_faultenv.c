/* Unit tests of engine/faultenv on plain files: pass-through, injected errors
 * (nth, sticky, filter), torn appends, sync points and the kill point, the
 * power-loss model (unsynced data, unsynced creations, renames, unlinks,
 * renames over a file, links), the random-tail crash mode and the clock. */
#include "test.h"

#include "engine/faultenv.h"
#include "util/env.h"
#include "util/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

static const char *P(const char *name)
{
    static char buf[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static env_t *setup(const char *name)
{
    snprintf(dir, sizeof(dir), "%s", test_tmpdir(name));
    return faultenv_new(env_posix());
}

/* Appends s to path through env (opening, optionally syncing, closing). */
static int put_file(env_t *e, const char *path, const char *s, bool sync)
{
    env_file *f;
    int rc = env_open(e, path, ENV_WRITE, &f);
    if (rc) return rc;
    rc = env_append(f, s, strlen(s));
    if (!rc && sync) rc = env_sync(f);
    int rc2 = env_close(f);
    return rc ? rc : rc2;
}

/* The content of path read directly (not through the fault env); "<absent>" if none. */
static const char *content(const char *path)
{
    static char buf[4096];
    FILE *fp = fopen(path, "rb");
    if (!fp) return "<absent>";
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = 0;
    return buf;
}

#define CHECK_CONTENT(path, want)                                                                  \
    do {                                                                                           \
        const char *got_ = content(path);                                                          \
        if (strcmp(got_, want) != 0) {                                                             \
            fprintf(stderr, "%s:%d: %s holds \"%s\", want \"%s\"\n", __FILE__, __LINE__, path,     \
                    got_, want);                                                                   \
            test__failures++;                                                                      \
        }                                                                                          \
    } while (0)

static void test_passthrough(void)
{
    env_t *e = setup("fe_pass");
    REQUIRE(e);
    CHECK_EQ_INT(put_file(e, P("a"), "hello", true), 0);
    env_file *f;
    REQUIRE(env_open(e, P("a"), ENV_READ, &f) == 0);
    char buf[16];
    size_t got;
    CHECK_EQ_INT(env_pread(f, buf, sizeof(buf), 1, &got), 0);
    CHECK_EQ_INT(got, 4);
    CHECK(!memcmp(buf, "ello", 4));
    uint64_t sz;
    CHECK_EQ_INT(env_size(f, &sz), 0);
    CHECK_EQ_INT(sz, 5);
    CHECK(f->fd >= 0);
    env_close(f);
    CHECK_EQ_INT(env_file_size(e, P("a"), &sz), 0);
    CHECK_EQ_INT(sz, 5);
    char **names;
    int n;
    CHECK_EQ_INT(env_list_dir(e, dir, &names, &n), 0);
    CHECK_EQ_INT(n, 1);
    env_free_list(names, n);
    CHECK_EQ_INT(env_write_atomic(e, dir, "CURRENT", "x\n", 2), 0);
    CHECK_CONTENT(P("CURRENT"), "x\n");
    CHECK_EQ_INT(env_mkdir(e, P("sub")), 0);
    CHECK_EQ_INT(env_mkdir(e, P("sub")), 0);
    env_file *l1, *l2;
    CHECK_EQ_INT(env_lock(e, P("LOCK"), &l1), 0);
    CHECK_EQ_INT(env_lock(e, P("LOCK"), &l2), ERR_BUSY);
    env_close(l1);
    CHECK_EQ_INT(env_unlink(e, P("nope")), ERR_NOTFOUND);
    CHECK_EQ_INT(env_open(e, P("nope"), ENV_READ, &f), ERR_NOTFOUND);
    CHECK_EQ_INT(faultenv_injected_failures(e), 0);
    faultenv_free(e);
}

static void test_inject_nth(void)
{
    env_t *e = setup("fe_nth");
    REQUIRE(e);
    env_file *f;
    REQUIRE(env_open(e, P("a"), ENV_WRITE, &f) == 0);
    faultenv_inject(e, FAULTENV_APPEND, ERR_NOSPC, 3, false);
    CHECK_EQ_INT(env_append(f, "1", 1), 0);
    CHECK_EQ_INT(env_append(f, "2", 1), 0);
    CHECK_EQ_INT(env_append(f, "3", 1), ERR_NOSPC);
    CHECK(strstr(err_msg(), "/a") != NULL);
    CHECK_EQ_INT(env_append(f, "4", 1), 0); /* one-shot */
    faultenv_inject(e, FAULTENV_APPEND, ERR_IO, 2, true);
    CHECK_EQ_INT(env_append(f, "5", 1), 0);
    CHECK_EQ_INT(env_append(f, "6", 1), ERR_IO);
    CHECK_EQ_INT(env_append(f, "7", 1), ERR_IO); /* sticky */
    faultenv_clear(e);
    CHECK_EQ_INT(env_append(f, "8", 1), 0);
    env_close(f);
    CHECK_CONTENT(P("a"), "12458");
    CHECK_EQ_INT(faultenv_injected_failures(e), 3);

    faultenv_inject(e, FAULTENV_SYNC, ERR_IO, 1, false);
    CHECK_EQ_INT(put_file(e, P("b"), "x", true), ERR_IO);
    CHECK_EQ_INT(put_file(e, P("b"), "y", true), 0);
    faultenv_inject(e, FAULTENV_OPEN, ERR_NOSPC, 1, false);
    CHECK_EQ_INT(env_open(e, P("c"), ENV_WRITE, &f), ERR_NOSPC);
    CHECK_EQ_INT(access(P("c"), F_OK), -1);
    /* A write-open fault does not hit a read-open. */
    faultenv_inject(e, FAULTENV_OPEN, ERR_NOSPC, 1, false);
    CHECK_EQ_INT(env_open(e, P("b"), ENV_READ, &f), 0);
    env_close(f);
    faultenv_clear(e);
    faultenv_inject(e, FAULTENV_RENAME, ERR_IO, 1, false);
    CHECK_EQ_INT(env_rename(e, P("b"), P("c")), ERR_IO);
    CHECK_CONTENT(P("b"), "xy");
    faultenv_inject(e, FAULTENV_UNLINK, ERR_IO, 1, false);
    CHECK_EQ_INT(env_unlink(e, P("b")), ERR_IO);
    CHECK_CONTENT(P("b"), "xy");
    faultenv_fail_reads(e, ERR_IO);
    CHECK_EQ_INT(env_open(e, P("b"), ENV_READ, &f), ERR_IO);
    faultenv_clear(e);
    /* fail_writes: a full disk; reads still work. */
    faultenv_fail_writes(e, ERR_NOSPC);
    CHECK_EQ_INT(put_file(e, P("b"), "z", false), ERR_NOSPC);
    CHECK_EQ_INT(env_rename(e, P("b"), P("c")), ERR_NOSPC);
    char *data;
    size_t len;
    CHECK_EQ_INT(env_read_all(e, P("b"), &data, &len), 0);
    CHECK_EQ_INT(len, 2);
    free(data);
    faultenv_clear(e);
    CHECK_EQ_INT(put_file(e, P("b"), "z", false), 0);
    CHECK_CONTENT(P("b"), "xyz");
    faultenv_free(e);
}

static void test_filter(void)
{
    env_t *e = setup("fe_filter");
    REQUIRE(e);
    faultenv_set_filter(e, ".log");
    faultenv_inject(e, FAULTENV_APPEND, ERR_NOSPC, 1, true);
    CHECK_EQ_INT(put_file(e, P("000001.sst"), "s", true), 0);
    CHECK_EQ_INT(put_file(e, P("000002.log"), "l", true), ERR_NOSPC);
    CHECK_EQ_INT(put_file(e, P("000003.sst"), "s", true), 0);
    /* Rename matches on either name. */
    faultenv_inject(e, FAULTENV_RENAME, ERR_IO, 1, true);
    CHECK_EQ_INT(env_rename(e, P("000001.sst"), P("000004.log")), ERR_IO);
    CHECK_EQ_INT(env_rename(e, P("000001.sst"), P("000005.sst")), 0);
    faultenv_set_filter(e, NULL);
    CHECK_EQ_INT(put_file(e, P("000003.sst"), "s", true), ERR_NOSPC);
    faultenv_free(e);
}

static void test_torn_append(void)
{
    env_t *e = setup("fe_torn");
    REQUIRE(e);
    env_file *f;
    REQUIRE(env_open(e, P("w"), ENV_WRITE, &f) == 0);
    faultenv_torn_append(e, 2, 3, ERR_IO, false);
    CHECK_EQ_INT(env_append(f, "abc", 3), 0);
    CHECK_EQ_INT(env_append(f, "defghij", 7), ERR_IO);
    CHECK(strstr(err_msg(), "torn") != NULL);
    CHECK_EQ_INT(env_append(f, "k", 1), 0);
    CHECK_CONTENT(P("w"), "abcdefk");
    /* Torn then kill: nothing more reaches the disk. */
    faultenv_torn_append(e, 1, 1, ERR_IO, true);
    CHECK_EQ_INT(env_append(f, "XYZ", 3), ERR_IO);
    CHECK(faultenv_dead(e));
    CHECK_EQ_INT(env_append(f, "more", 4), ERR_IO);
    CHECK_EQ_INT(env_sync(f), ERR_IO);
    CHECK_CONTENT(P("w"), "abcdefkX");
    env_close(f);
    faultenv_free(e);
}

static void test_crash_unsynced_data(void)
{
    env_t *e = setup("fe_data");
    REQUIRE(e);
    /* Created, synced and dir-synced: survives with its synced prefix. */
    env_file *f;
    REQUIRE(env_open(e, P("a"), ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_append(f, "durable", 7), 0);
    CHECK_EQ_INT(env_sync(f), 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    CHECK_EQ_INT(env_append(f, "-lost", 5), 0);
    env_close(f);
    /* Created and synced but its directory never synced: gone. */
    CHECK_EQ_INT(put_file(e, P("b"), "orphan", true), 0);
    /* A file that existed before the env: durable as first seen. */
    FILE *fp = fopen(P("old"), "w");
    fputs("before", fp);
    fclose(fp);
    CHECK_EQ_INT(put_file(e, P("old"), "+after", false), 0);
    /* A file the env never touched: left alone. */
    fp = fopen(P("other"), "w");
    fputs("x", fp);
    fclose(fp);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "durable");
    CHECK_CONTENT(P("b"), "<absent>");
    CHECK_CONTENT(P("old"), "before");
    CHECK_CONTENT(P("other"), "x");
    /* After a crash the disk state is the new durable state. */
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "durable");
    /* Truncation through the env is durable at once. */
    REQUIRE(env_open(e, P("a"), ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_truncate(f, 3), 0);
    CHECK_EQ_INT(env_append(f, "X", 1), 0);
    env_close(f);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "dur");
    REQUIRE(env_open(e, P("a"), ENV_WRITE | ENV_TRUNC, &f) == 0);
    CHECK_EQ_INT(env_append(f, "new", 3), 0);
    env_close(f);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "");
    faultenv_free(e);
}

static void test_crash_rename_unlink(void)
{
    env_t *e = setup("fe_names");
    REQUIRE(e);
    CHECK_EQ_INT(put_file(e, P("a"), "A", true), 0);
    CHECK_EQ_INT(put_file(e, P("t"), "T", true), 0);
    CHECK_EQ_INT(put_file(e, P("u"), "U", true), 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    /* Unsynced rename, rename over an existing file, unlink: all undone. */
    CHECK_EQ_INT(env_rename(e, P("a"), P("b")), 0);
    CHECK_EQ_INT(env_rename(e, P("b"), P("t")), 0);
    CHECK_EQ_INT(env_unlink(e, P("u")), 0);
    CHECK_CONTENT(P("t"), "A");
    CHECK_CONTENT(P("u"), "<absent>");
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "A");
    CHECK_CONTENT(P("b"), "<absent>");
    CHECK_CONTENT(P("t"), "T");
    CHECK_CONTENT(P("u"), "U");
    /* The same, with the directory synced: kept. */
    CHECK_EQ_INT(env_rename(e, P("a"), P("t")), 0);
    CHECK_EQ_INT(env_unlink(e, P("u")), 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("a"), "<absent>");
    CHECK_CONTENT(P("t"), "A");
    CHECK_CONTENT(P("u"), "<absent>");
    /* The write-temp-then-rename pattern: atomic either way. */
    CHECK_EQ_INT(env_write_atomic(e, dir, "CURRENT", "one", 3), 0);
    CHECK_EQ_INT(put_file(e, P("CURRENT.tmp"), "two", true), 0);
    CHECK_EQ_INT(env_rename(e, P("CURRENT.tmp"), P("CURRENT")), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("CURRENT"), "one");
    CHECK_CONTENT(P("CURRENT.tmp"), "<absent>");
    CHECK_EQ_INT(env_write_atomic(e, dir, "CURRENT", "two", 3), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("CURRENT"), "two");
    /* Rename of a file whose data was never synced: the durable (empty) file
     * comes back under the old name after a dir sync of its creation. */
    env_file *f;
    REQUIRE(env_open(e, P("n"), ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    CHECK_EQ_INT(env_append(f, "data", 4), 0);
    env_close(f);
    CHECK_EQ_INT(env_rename(e, P("n"), P("m")), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("n"), "");
    CHECK_CONTENT(P("m"), "<absent>");
    /* A file unlinked and recreated under the same name, unsynced. */
    CHECK_EQ_INT(env_unlink(e, P("t")), 0);
    CHECK_EQ_INT(put_file(e, P("t"), "new", true), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("t"), "A");
    faultenv_free(e);
}

static void test_crash_subdir_and_link(void)
{
    env_t *e = setup("fe_link");
    REQUIRE(e);
    CHECK_EQ_INT(env_mkdir(e, P("d")), 0);
    CHECK_EQ_INT(put_file(e, P("d/x"), "X", true), 0);
    CHECK_EQ_INT(env_sync_dir(e, P("d/")), 0); /* trailing slash: same directory */
    CHECK_EQ_INT(put_file(e, P("y"), "Y", true), 0);
    CHECK_EQ_INT(env_link(e, P("d/x"), P("z")), 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    /* Links of one file share its durable size. */
    CHECK_EQ_INT(put_file(e, P("z"), "more", false), 0);
    CHECK_CONTENT(P("d/x"), "Xmore");
    /* Moving a file across directories: only the synced side changes. */
    CHECK_EQ_INT(env_rename(e, P("y"), P("d/y")), 0);
    CHECK_EQ_INT(env_sync_dir(e, P("d")), 0);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("d/x"), "X");
    CHECK_CONTENT(P("z"), "X");
    CHECK_CONTENT(P("y"), "Y");
    CHECK_CONTENT(P("d/y"), "Y");
    faultenv_free(e);
}

static void test_kill_at_sync(void)
{
    env_t *e = setup("fe_kill");
    REQUIRE(e);
    CHECK_EQ_INT(faultenv_sync_points(e), 0);
    env_file *f;
    REQUIRE(env_open(e, P("w"), ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0); /* sync point 1 */
    faultenv_kill_at_sync(e, 4);
    CHECK_EQ_INT(env_append(f, "1", 1), 0);
    CHECK_EQ_INT(env_sync(f), 0); /* 2 */
    CHECK_EQ_INT(env_append(f, "2", 1), 0);
    CHECK_EQ_INT(env_sync(f), 0); /* 3 */
    CHECK_EQ_INT(env_append(f, "3", 1), 0);
    CHECK(!faultenv_dead(e));
    CHECK_EQ_INT(env_sync(f), ERR_IO); /* 4: the power goes off */
    CHECK(faultenv_dead(e));
    CHECK_EQ_INT(faultenv_sync_points(e), 4);
    CHECK_EQ_INT(env_append(f, "4", 1), ERR_IO);
    CHECK_EQ_INT(env_open(e, P("v"), ENV_WRITE, &f), ERR_IO);
    CHECK_EQ_INT(env_rename(e, P("w"), P("v")), ERR_IO);
    CHECK_EQ_INT(env_unlink(e, P("w")), ERR_IO);
    CHECK_EQ_INT(env_sync_dir(e, dir), ERR_IO);
    /* Reads still work while dead. */
    char *data;
    size_t len;
    CHECK_EQ_INT(env_read_all(e, P("w"), &data, &len), 0);
    CHECK_EQ_INT(len, 3);
    free(data);
    CHECK(faultenv_injected_failures(e) >= 6);
    env_close(f);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK(!faultenv_dead(e));
    CHECK_CONTENT(P("w"), "12");
    CHECK_EQ_INT(put_file(e, P("w"), "5", true), 0);
    CHECK_CONTENT(P("w"), "125");
    faultenv_free(e);
}

static void test_random_tail(void)
{
    env_t *e = setup("fe_tail");
    REQUIRE(e);
    int seen_short = 0, seen_long = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        env_unlink(e, P("f"));
        env_file *f;
        REQUIRE(env_open(e, P("f"), ENV_WRITE, &f) == 0);
        CHECK_EQ_INT(env_sync_dir(e, dir), 0);
        CHECK_EQ_INT(env_append(f, "0123", 4), 0);
        CHECK_EQ_INT(env_sync(f), 0);
        CHECK_EQ_INT(env_append(f, "456789", 6), 0);
        env_close(f);
        CHECK_EQ_INT(faultenv_crash_ex(e, FAULTENV_CRASH_RANDOM_TAIL, seed), 0);
        const char *got = content(P("f"));
        size_t n = strlen(got);
        CHECK(n >= 4 && n <= 10);
        CHECK(!strncmp(got, "0123456789", n));
        seen_short += n == 4;
        seen_long += n == 10;
    }
    CHECK(seen_short > 0);
    CHECK(seen_long > 0);
    /* Zero tail: the synced prefix, then zero bytes, never the unsynced data. */
    int seen_zeros = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        env_unlink(e, P("z"));
        env_file *f;
        REQUIRE(env_open(e, P("z"), ENV_WRITE, &f) == 0);
        CHECK_EQ_INT(env_sync_dir(e, dir), 0);
        CHECK_EQ_INT(env_append(f, "0123", 4), 0);
        CHECK_EQ_INT(env_sync(f), 0);
        CHECK_EQ_INT(env_append(f, "456789", 6), 0);
        env_close(f);
        CHECK_EQ_INT(faultenv_crash_ex(e, FAULTENV_CRASH_ZERO_TAIL, seed), 0);
        FILE *fp = fopen(P("z"), "rb");
        REQUIRE(fp);
        char buf[32];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        CHECK(n >= 4 && n <= 10);
        CHECK(!memcmp(buf, "0123", 4));
        for (size_t i = 4; i < n; i++) CHECK(buf[i] == 0);
        seen_zeros += n > 4;
    }
    CHECK(seen_zeros > 0);
    faultenv_free(e);
}

/* Simulated syncs count as durable for the model without a real fsync. */
static void test_simulated_sync(void)
{
    env_t *e = setup("fe_simsync");
    REQUIRE(e);
    faultenv_real_sync(e, false);
    env_file *f;
    REQUIRE(env_open(e, P("s"), ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_append(f, "abc", 3), 0);
    CHECK_EQ_INT(env_sync(f), 0);
    CHECK_EQ_INT(env_sync_dir(e, dir), 0);
    CHECK_EQ_INT(env_append(f, "def", 3), 0);
    env_close(f);
    CHECK_EQ_INT(faultenv_sync_points(e), 2);
    CHECK_EQ_INT(faultenv_crash(e), 0);
    CHECK_CONTENT(P("s"), "abc");
    faultenv_free(e);
}

static void test_clock(void)
{
    env_t *e = setup("fe_clock");
    REQUIRE(e);
    uint64_t t0 = env_now_ns(e);
    CHECK(t0 > 0);
    CHECK(env_wall_us(e) > 1600000000ull * 1000000ull);
    faultenv_set_time(e, 1000, 5000000);
    CHECK_EQ_INT(env_now_ns(e), 1000);
    CHECK_EQ_INT(env_wall_us(e), 5000000);
    faultenv_advance_time(e, 3000000000ull);
    CHECK_EQ_INT(env_now_ns(e), 3000001000ull);
    CHECK_EQ_INT(env_wall_us(e), 8000000);
    faultenv_real_time(e);
    CHECK(env_now_ns(e) >= t0);
    faultenv_free(e);
}

struct writer_arg {
    env_t *e;
    int id;
    int acked; /* appends whose sync returned 0 */
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    char name[16];
    snprintf(name, sizeof(name), "t%d", a->id);
    env_file *f;
    if (env_open(a->e, P(name), ENV_WRITE, &f) != 0) return NULL;
    if (env_sync_dir(a->e, dir) != 0) goto out;
    for (int i = 0; i < 200; i++) {
        if (env_append(f, "r", 1) != 0 || env_sync(f) != 0) break;
        a->acked = i + 1;
    }
out:
    env_close(f);
    return NULL;
}

/* Threads syncing concurrently, killed at a sync point: each file keeps at
 * least every acknowledged byte. */
static void test_threads_kill(void)
{
    env_t *e = setup("fe_threads");
    REQUIRE(e);
    faultenv_kill_at_sync(e, 300);
    pthread_t th[4];
    struct writer_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct writer_arg){e, i, 0};
        pthread_create(&th[i], NULL, writer, &a[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(faultenv_dead(e));
    CHECK_EQ_INT(faultenv_crash(e), 0);
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        size_t n = strlen(content(P(name)));
        if ((int)n < a[i].acked) {
            fprintf(stderr, "%s: %zu bytes, %d acknowledged\n", name, n, a[i].acked);
            test__failures++;
        }
    }
    faultenv_free(e);
}

int main(void)
{
    RUN(test_passthrough);
    RUN(test_inject_nth);
    RUN(test_filter);
    RUN(test_torn_append);
    RUN(test_crash_unsynced_data);
    RUN(test_crash_rename_unlink);
    RUN(test_crash_subdir_and_link);
    RUN(test_kill_at_sync);
    RUN(test_random_tail);
    RUN(test_simulated_sync);
    RUN(test_clock);
    RUN(test_threads_kill);
    TEST_END();
}
