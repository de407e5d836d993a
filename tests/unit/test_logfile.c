/* Unit tests of engine/logfile: record framing round trips (sizes around the
 * writer buffer and the reader window), reopening, a reader following a
 * growing file, the torn-tail vs corruption policy at every byte of a record,
 * zero-filled tails, header checks, and writer behaviour on I/O errors. */
#include "test.h"

#include "engine/logfile.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/env.h"
#include "util/err.h"
#include "util/rand.h"

#include <stdint.h>

static env_t *E;
static rng_t R;

static void fill(uint8_t *p, size_t n, uint64_t tag)
{
    rng_t g;
    rng_seed(&g, tag);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_next(&g);
}

static void write_raw(const char *path, const void *data, size_t len)
{
    env_file *f;
    if (env_open(E, path, ENV_WRITE | ENV_TRUNC, &f) || (len && env_append(f, data, len)) ||
        env_close(f)) {
        fprintf(stderr, "write_raw %s: %s\n", path, err_msg());
        exit(2);
    }
}

static uint8_t *read_raw(const char *path, size_t *len)
{
    char *d;
    if (env_read_all(E, path, &d, len)) {
        fprintf(stderr, "read_raw %s: %s\n", path, err_msg());
        exit(2);
    }
    return (uint8_t *)d;
}

/* Writes records of the given sizes (content from fill(size*31+i)); fills
 * ends[i] with the end offset of record i. */
static int write_log(const char *path, const size_t *sizes, int n, size_t buf, uint64_t *ends)
{
    logw *w;
    int rc = logw_open(E, path, LOG_MAGIC_WAL, buf, &w);
    if (rc) return rc;
    uint8_t *p = malloc(2 << 20);
    for (int i = 0; i < n && !rc; i++) {
        fill(p, sizes[i], sizes[i] * 31 + (size_t)i);
        rc = logw_add(w, p, sizes[i]);
        if (ends) ends[i] = logw_size(w);
    }
    free(p);
    int rc2 = logw_close(w);
    return rc ? rc : rc2;
}

/* Reads the log and checks the first `expect` records against write_log's
 * content; returns logr_next's final code and sets *got, *torn, *off. */
static int read_log(const char *path, const size_t *sizes, int expect, int *got, bool *torn,
                    uint64_t *off)
{
    logr *r;
    int rc = logr_open(E, path, LOG_MAGIC_WAL, &r);
    if (rc) return rc;
    uint8_t *want = malloc(2 << 20);
    const void *p;
    size_t len;
    *got = 0;
    while ((rc = logr_next(r, &p, &len)) == 0) {
        int i = *got;
        if (i >= expect || len != sizes[i]) {
            fprintf(stderr, "record %d: unexpected (len %zu)\n", i, len);
            rc = 99;
            break;
        }
        fill(want, len, sizes[i] * 31 + (size_t)i);
        if (len && memcmp(p, want, len) != 0) {
            fprintf(stderr, "record %d: content differs\n", i);
            rc = 98;
            break;
        }
        (*got)++;
    }
    *torn = logr_torn(r);
    *off = logr_offset(r);
    free(want);
    logr_close(r);
    return rc;
}

/* A record header as docs/format/wal.md describes it. */
static void frame(uint8_t *h, const void *payload, size_t len)
{
    put_u32(h, crc32c_mask(crc32c(payload, len)));
    put_u32(h + 4, (uint32_t)len);
    put_u32(h + 8, crc32c_mask(crc32c(h, 8)));
}

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void test_round_trip_sizes(void)
{
    const char *dir = test_tmpdir("log_rt");
    char path[600];
    path_in(path, sizeof(path), dir, "000001.log");
    /* Sizes around the writer buffer (4096), the reader window (64 KiB) and
     * a few large ones, mixed with many small records. */
    size_t sizes[400];
    int n = 0;
    size_t edges[] = {0,     1,     4087,  4088,  4089,  4095,  4096,   4097,    65527, 65528,
                      65529, 65535, 65536, 65537, 65544, 70000, 131072, 1 << 20, 3,     0};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) sizes[n++] = edges[i];
    while (n < 400) sizes[n++] = (size_t)rng_below(&R, 300);
    uint64_t ends[400];
    REQUIRE(write_log(path, sizes, n, 4096, ends) == 0);
    uint64_t fsz = 0;
    CHECK_EQ_INT(env_file_size(E, path, &fsz), 0);
    CHECK_EQ_INT(fsz, ends[n - 1]);
    int got;
    bool torn;
    uint64_t off;
    CHECK_EQ_INT(read_log(path, sizes, n, &got, &torn, &off), ERR_NOTFOUND);
    CHECK_EQ_INT(got, n);
    CHECK(!torn);
    CHECK_EQ_INT(off, fsz);
    /* Reopening gives the same; a bigger writer buffer gives the same bytes. */
    CHECK_EQ_INT(read_log(path, sizes, n, &got, &torn, &off), ERR_NOTFOUND);
    CHECK_EQ_INT(got, n);
    char path2[600];
    path_in(path2, sizeof(path2), dir, "000002.log");
    REQUIRE(write_log(path2, sizes, n, 1 << 20, NULL) == 0);
    size_t l1, l2;
    uint8_t *a = read_raw(path, &l1), *b = read_raw(path2, &l2);
    CHECK(l1 == l2 && memcmp(a, b, l1) == 0);
    free(a);
    free(b);
    /* An empty log: header only, clean end. */
    REQUIRE(write_log(path, sizes, 0, 4096, NULL) == 0);
    CHECK_EQ_INT(read_log(path, sizes, 0, &got, &torn, &off), ERR_NOTFOUND);
    CHECK_EQ_INT(got, 0);
    CHECK(!torn);
    CHECK_EQ_INT(off, LOG_FILE_HEADER);
}

static void test_framing_bytes(void)
{
    /* The bytes on disk are exactly as docs/format/wal.md says. */
    const char *dir = test_tmpdir("log_bytes");
    char path[600];
    path_in(path, sizeof(path), dir, "MANIFEST-000001");
    logw *w;
    REQUIRE(logw_open(E, path, LOG_MAGIC_MANIFEST, 0, &w) == 0);
    CHECK_EQ_INT(logw_size(w), LOG_FILE_HEADER);
    CHECK_EQ_INT(logw_add(w, "abc", 3), 0);
    CHECK_EQ_INT(logw_size(w), LOG_FILE_HEADER + LOG_REC_HEADER + 3);
    CHECK_EQ_INT(logw_flushed(w), LOG_FILE_HEADER);
    CHECK_EQ_INT(logw_flush(w), 0);
    CHECK_EQ_INT(logw_flushed(w), LOG_FILE_HEADER + LOG_REC_HEADER + 3);
    CHECK_EQ_INT(logw_close(w), 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    REQUIRE(len == 31);
    CHECK(memcmp(d, "STAMAN1\0", 8) == 0);
    CHECK_EQ_INT(get_u32(d + 8), LOG_VERSION);
    CHECK_EQ_INT(crc32c_unmask(get_u32(d + 12)), crc32c(d, 12));
    CHECK_EQ_INT(crc32c_unmask(get_u32(d + 16)), crc32c("abc", 3));
    CHECK_EQ_INT(get_u32(d + 20), 3);
    CHECK_EQ_INT(crc32c_unmask(get_u32(d + 24)), crc32c(d + 16, 8));
    CHECK(memcmp(d + 28, "abc", 3) == 0);
    free(d);
    /* Opened with the WAL magic, the manifest is rejected. */
    logr *r;
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    CHECK(strstr(err_msg(), path) && strstr(err_msg(), "offset 0"));
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_MANIFEST, &r), 0);
    logr_close(r);
    CHECK_EQ_INT(logw_open(E, path, LOG_MAGIC_WAL, 0, &w), 0);
    CHECK_EQ_INT(logw_add(w, NULL, (size_t)LOG_MAX_RECORD + 1), ERR_TOOBIG);
    CHECK_EQ_INT(logw_close(w), 0);
}

/* The reader follows a file being appended to: a partial record is "not
 * there yet" and is returned once complete. */
static void test_tail_reader(void)
{
    const char *dir = test_tmpdir("log_tail");
    char path[600];
    path_in(path, sizeof(path), dir, "000007.log");
    logw *w;
    REQUIRE(logw_open(E, path, LOG_MAGIC_WAL, 1 << 16, &w) == 0);
    logr *r;
    REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r) == 0);
    const void *p;
    size_t len;
    CHECK_EQ_INT(logr_next(r, &p, &len), ERR_NOTFOUND);
    CHECK(!logr_torn(r));
    CHECK_EQ_INT(logw_add(w, "one", 3), 0);
    CHECK_EQ_INT(logr_next(r, &p, &len), ERR_NOTFOUND); /* still in the writer's buffer */
    CHECK_EQ_INT(logw_flush(w), 0);
    REQUIRE(logr_next(r, &p, &len) == 0);
    CHECK(len == 3 && memcmp(p, "one", 3) == 0);
    /* A record handed to the OS in two pieces. */
    uint8_t big[5000];
    fill(big, sizeof(big), 5);
    uint8_t h[LOG_REC_HEADER];
    frame(h, big, sizeof(big));
    env_file *f;
    REQUIRE(env_open(E, path, ENV_WRITE, &f) == 0);
    CHECK_EQ_INT(env_append(f, h, sizeof(h)), 0);
    CHECK_EQ_INT(env_append(f, big, 1000), 0);
    CHECK_EQ_INT(logr_next(r, &p, &len), ERR_NOTFOUND);
    CHECK(logr_torn(r));
    CHECK_EQ_INT(logr_offset(r), LOG_FILE_HEADER + LOG_REC_HEADER + 3);
    CHECK_EQ_INT(env_append(f, big + 1000, sizeof(big) - 1000), 0);
    REQUIRE(logr_next(r, &p, &len) == 0);
    CHECK(len == sizeof(big) && memcmp(p, big, len) == 0);
    CHECK(!logr_torn(r));
    CHECK_EQ_INT(logr_next(r, &p, &len), ERR_NOTFOUND);
    /* A second reader seeks to where the first one is, past the size it
     * saw when it opened, once the file has grown. */
    logr *r2, *r3;
    REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r2) == 0);
    REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r3) == 0);
    CHECK_EQ_INT(logw_add(w, "two", 3), 0);
    CHECK_EQ_INT(logw_flush(w), 0);
    REQUIRE(logr_next(r, &p, &len) == 0);
    CHECK(len == 3 && memcmp(p, "two", 3) == 0);
    logr_seek(r3, logr_offset(r)); /* beyond the size r3 saw */
    CHECK_EQ_INT(logr_next(r3, &p, &len), ERR_NOTFOUND);
    CHECK(!logr_torn(r3));
    CHECK_EQ_INT(logw_add(w, "three", 5), 0);
    CHECK_EQ_INT(logw_flush(w), 0);
    REQUIRE(logr_next(r3, &p, &len) == 0);
    CHECK(len == 5 && memcmp(p, "three", 5) == 0);
    logr_close(r3);
    /* An offset really past the end is an error naming the file. */
    logr_seek(r2, 1000000);
    CHECK_EQ_INT(logr_next(r2, &p, &len), ERR_CORRUPT);
    CHECK(strstr(err_msg(), path) && strstr(err_msg(), "past the end"));
    logr_close(r2);
    env_close(f);
    logr_close(r);
    logw_close(w);
}

/* Cutting the file at every byte of the last record: all earlier records
 * come back, then a torn tail at the start of the last one. */
static void test_torn_every_offset(void)
{
    const char *dir = test_tmpdir("log_torn");
    char path[600], cut[600];
    path_in(path, sizeof(path), dir, "000001.log");
    path_in(cut, sizeof(cut), dir, "000002.log");
    size_t sizes[] = {10, 200, 0, 5000, 77, 300};
    int n = 6;
    uint64_t ends[6];
    REQUIRE(write_log(path, sizes, n, 4096, ends) == 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    REQUIRE(len == ends[n - 1]);
    uint64_t last = ends[n - 2];
    for (uint64_t c = last; c < len; c++) {
        write_raw(cut, d, c);
        int got;
        bool torn;
        uint64_t off;
        int rc = read_log(cut, sizes, n, &got, &torn, &off);
        if (rc != ERR_NOTFOUND || got != n - 1 || (c > last && !torn) || off != last) {
            fprintf(stderr, "cut at %llu: rc %d got %d torn %d off %llu (%s)\n",
                    (unsigned long long)c, rc, got, torn, (unsigned long long)off, err_msg());
            CHECK(0);
            break;
        }
    }
    /* A cut inside the file header: no record, torn at offset 0. */
    for (size_t c = 0; c < LOG_FILE_HEADER; c++) {
        write_raw(cut, d, c);
        int got;
        bool torn;
        uint64_t off;
        CHECK_EQ_INT(read_log(cut, sizes, n, &got, &torn, &off), ERR_NOTFOUND);
        CHECK(torn && got == 0 && off == 0);
    }
    free(d);
}

/* Zero bytes after the last whole record (preallocated or unwritten pages
 * after a power loss) are a torn tail, and so is a last record whose end was
 * zeroed. */
static void test_zero_tail(void)
{
    const char *dir = test_tmpdir("log_zero");
    char path[600], z[600];
    path_in(path, sizeof(path), dir, "000001.log");
    path_in(z, sizeof(z), dir, "000002.log");
    size_t sizes[] = {100, 20, 3000};
    uint64_t ends[3];
    REQUIRE(write_log(path, sizes, 3, 4096, ends) == 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    size_t pads[] = {1, 7, 8, 9, 100, 4096, 70000};
    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        uint8_t *b = calloc(1, len + pads[i]);
        memcpy(b, d, len);
        write_raw(z, b, len + pads[i]);
        int got;
        bool torn;
        uint64_t off;
        CHECK_EQ_INT(read_log(z, sizes, 3, &got, &torn, &off), ERR_NOTFOUND);
        CHECK(got == 3 && torn && off == len);
        /* The last record zeroed from some byte on, inside its header or
         * its payload (same file size). */
        size_t from[] = {1500, 13, 12, 11, 5, 0};
        for (size_t k = 0; k < sizeof(from) / sizeof(from[0]); k++) {
            memset(b + ends[1] + from[k], 0, len - ends[1] - from[k]);
            write_raw(z, b, len + pads[i]);
            CHECK_EQ_INT(read_log(z, sizes, 3, &got, &torn, &off), ERR_NOTFOUND);
            CHECK(got == 2 && torn && off == ends[1]);
        }
        free(b);
    }
    free(d);
}

/* A flipped byte anywhere in a record in the middle is corruption naming the
 * file and the record's offset; the records before it are still returned. */
static void test_flip_in_middle(void)
{
    const char *dir = test_tmpdir("log_flip");
    char path[600], bad[600];
    path_in(path, sizeof(path), dir, "000001.log");
    path_in(bad, sizeof(bad), dir, "000003.log");
    size_t sizes[] = {50, 120, 90, 700, 60};
    uint64_t ends[5];
    REQUIRE(write_log(path, sizes, 5, 4096, ends) == 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    for (int rec = 1; rec <= 3; rec++) {
        uint64_t start = ends[rec - 1], stop = ends[rec];
        char want[64];
        snprintf(want, sizeof(want), "offset %llu", (unsigned long long)start);
        for (uint64_t i = start; i < stop; i++) {
            uint8_t masks[] = {0x01, 0x80, 0xff};
            for (int m = 0; m < 3; m++) {
                d[i] ^= masks[m];
                write_raw(bad, d, len);
                d[i] ^= masks[m];
                int got;
                bool torn;
                uint64_t off;
                err_clear();
                int rc = read_log(bad, sizes, 5, &got, &torn, &off);
                if (rc != ERR_CORRUPT || got != rec || !strstr(err_msg(), bad) ||
                    !strstr(err_msg(), want)) {
                    fprintf(stderr, "flip %#x at %llu (record %d): rc %d got %d msg '%s'\n",
                            masks[m], (unsigned long long)i, rec, rc, got, err_msg());
                    CHECK(0);
                    goto out;
                }
            }
        }
    }
out:
    free(d);
}

/* A torn record whose payload happens to contain a whole valid record (a log
 * file stored as a value) is still a torn tail, not corruption. */
static void test_torn_with_embedded_record(void)
{
    const char *dir = test_tmpdir("log_embed");
    char path[600], cut[600];
    path_in(path, sizeof(path), dir, "000001.log");
    path_in(cut, sizeof(cut), dir, "000002.log");
    uint8_t payload[600];
    fill(payload, sizeof(payload), 9);
    /* payload[100..] holds a valid framed record of 50 bytes. */
    frame(payload + 100, payload + 100 + LOG_REC_HEADER, 50);
    logw *w;
    REQUIRE(logw_open(E, path, LOG_MAGIC_WAL, 0, &w) == 0);
    CHECK_EQ_INT(logw_add(w, "first", 5), 0);
    uint64_t last = logw_size(w);
    CHECK_EQ_INT(logw_add(w, payload, sizeof(payload)), 0);
    CHECK_EQ_INT(logw_close(w), 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    uint64_t cuts[] = {last + 12 + 162, last + 12 + 100, last + 12 + 599};
    for (int i = 0; i < 3; i++) {
        write_raw(cut, d, cuts[i]);
        logr *r;
        REQUIRE(logr_open(E, cut, LOG_MAGIC_WAL, &r) == 0);
        const void *p;
        size_t n;
        CHECK_EQ_INT(logr_next(r, &p, &n), 0);
        CHECK_EQ_INT(logr_next(r, &p, &n), ERR_NOTFOUND);
        CHECK(logr_torn(r));
        CHECK_EQ_INT(logr_offset(r), last);
        logr_close(r);
    }
    free(d);
}

static void test_bad_header(void)
{
    const char *dir = test_tmpdir("log_hdr");
    char path[600];
    path_in(path, sizeof(path), dir, "000001.log");
    size_t sizes[] = {10};
    REQUIRE(write_log(path, sizes, 1, 4096, NULL) == 0);
    size_t len;
    uint8_t *d = read_raw(path, &len);
    logr *r;
    /* Wrong magic. */
    d[0] ^= 1;
    write_raw(path, d, len);
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    CHECK(strstr(err_msg(), path) && strstr(err_msg(), "magic"));
    d[0] ^= 1;
    /* Another version, with a header checksum that matches it. */
    put_u32(d + 8, LOG_VERSION + 1);
    put_u32(d + 12, crc32c_mask(crc32c(d, 12)));
    write_raw(path, d, len);
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    CHECK(strstr(err_msg(), path) && strstr(err_msg(), "version 2"));
    /* Right version, header checksum flipped. */
    put_u32(d + 8, LOG_VERSION);
    put_u32(d + 12, crc32c_mask(crc32c(d, 12)) ^ 0x100);
    write_raw(path, d, len);
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    CHECK(strstr(err_msg(), "checksum"));
    /* Files of zero bytes only (the size reached the disk, the data did
     * not): torn logs with no record, whatever their length. */
    size_t zlens[] = {1, 5, 15, 16, 17, 4096};
    for (size_t i = 0; i < sizeof(zlens) / sizeof(zlens[0]); i++) {
        uint8_t *zb = calloc(1, zlens[i]);
        write_raw(path, zb, zlens[i]);
        free(zb);
        REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r) == 0);
        const void *p;
        size_t n;
        CHECK_EQ_INT(logr_next(r, &p, &n), ERR_NOTFOUND);
        CHECK(logr_torn(r));
        CHECK_EQ_INT(logr_offset(r), 0);
        logr_close(r);
    }
    /* A zero header followed by non-zero bytes is corruption. */
    uint8_t zh[40] = {0};
    zh[30] = 1;
    write_raw(path, zh, sizeof(zh));
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    /* A short header that is not a prefix of the right one. */
    write_raw(path, "garbage", 7);
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_CORRUPT);
    /* A missing file. */
    path_in(path, sizeof(path), dir, "000009.log");
    CHECK_EQ_INT(logr_open(E, path, LOG_MAGIC_WAL, &r), ERR_NOTFOUND);
    free(d);
}

/* ---- an env whose appends fail on demand ---- */
static int fail_after = -1; /* bytes still accepted before an append fails; -1: never */
static int fail_truncate;

static int flaky_append(env_file *f, const void *buf, size_t n)
{
    if (fail_after < 0) return env_posix_ops.append(f, buf, n);
    size_t ok = (size_t)fail_after < n ? (size_t)fail_after : n;
    fail_after -= (int)ok;
    if (ok) env_posix_ops.append(f, buf, ok);
    if (ok < n) return err_set(ERR_NOSPC, "append %s: injected", f->path);
    return 0;
}
static int flaky_truncate(env_file *f, uint64_t size)
{
    if (fail_truncate) return err_set(ERR_IO, "truncate %s: injected", f->path);
    return env_posix_ops.truncate(f, size);
}

static void test_writer_errors(void)
{
    env_ops ops = env_posix_ops;
    ops.append = flaky_append;
    ops.truncate = flaky_truncate;
    env_t flaky = {&ops, NULL};
    const char *dir = test_tmpdir("log_err");
    char path[600];
    path_in(path, sizeof(path), dir, "000001.log");
    logw *w;
    REQUIRE(logw_open(&flaky, path, LOG_MAGIC_WAL, 4096, &w) == 0);
    CHECK_EQ_INT(logw_add(w, "aaaa", 4), 0);
    CHECK_EQ_INT(logw_flush(w), 0);
    uint64_t good = logw_flushed(w);
    /* A flush that writes part of a record then fails: the file is cut back
     * to whole records, the record stays buffered and a later flush retries
     * it (it may be an acknowledged unsynced write). */
    CHECK_EQ_INT(logw_add(w, "bbbbbbbb", 8), 0);
    uint64_t with_b = logw_size(w);
    fail_after = 5;
    CHECK_EQ_INT(logw_flush(w), ERR_NOSPC);
    fail_after = -1;
    uint64_t sz = 0;
    CHECK_EQ_INT(env_file_size(E, path, &sz), 0);
    CHECK_EQ_INT(sz, good);
    CHECK_EQ_INT(logw_flushed(w), good);
    CHECK_EQ_INT(logw_size(w), with_b);
    CHECK_EQ_INT(logw_flush(w), 0);
    CHECK_EQ_INT(logw_flushed(w), with_b);
    /* The writer goes on; a big record written directly fails the same way. */
    CHECK_EQ_INT(logw_add(w, "cc", 2), 0);
    uint8_t big[10000];
    fill(big, sizeof(big), 3);
    fail_after = 100;
    CHECK_EQ_INT(logw_add(w, big, sizeof(big)), ERR_NOSPC);
    fail_after = -1;
    CHECK_EQ_INT(logw_add(w, "dd", 2), 0);
    CHECK_EQ_INT(logw_sync(w), 0);
    logr *r;
    REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r) == 0);
    const void *p;
    size_t n;
    /* "cc" was flushed before the big record was written directly. */
    const char *want[] = {"aaaa", "bbbbbbbb", "cc", "dd"};
    for (int i = 0; i < 4; i++) {
        REQUIRE(logr_next(r, &p, &n) == 0);
        CHECK(n == strlen(want[i]) && memcmp(p, want[i], n) == 0);
    }
    CHECK_EQ_INT(logr_next(r, &p, &n), ERR_NOTFOUND);
    CHECK(!logr_torn(r));
    logr_close(r);
    /* If the cut-back fails too, the writer refuses to append after the partial record. */
    CHECK_EQ_INT(logw_add(w, "eeee", 4), 0);
    fail_after = 3;
    fail_truncate = 1;
    CHECK_EQ_INT(logw_flush(w), ERR_NOSPC);
    fail_after = -1;
    fail_truncate = 0;
    CHECK_EQ_INT(logw_add(w, "ff", 2), ERR_CLOSED);
    CHECK_EQ_INT(logw_sync(w), ERR_CLOSED);
    CHECK_EQ_INT(logw_close(w), ERR_CLOSED);
}

/* logw_rewind undoes records (flushed or buffered) back to a boundary,
 * keeps buffered records below it, and revives a writer broken by a failed
 * cut-back. */
static void test_rewind(void)
{
    env_ops ops = env_posix_ops;
    ops.append = flaky_append;
    ops.truncate = flaky_truncate;
    env_t flaky = {&ops, NULL};
    const char *dir = test_tmpdir("log_rewind");
    char path[600];
    path_in(path, sizeof(path), dir, "000001.log");
    logw *w;
    REQUIRE(logw_open(&flaky, path, LOG_MAGIC_WAL, 4096, &w) == 0);
    CHECK_EQ_INT(logw_add(w, "keep", 4), 0);
    CHECK_EQ_INT(logw_flush(w), 0);
    uint64_t mark = logw_size(w);
    CHECK_EQ_INT(logw_add(w, "flushed", 7), 0);
    CHECK_EQ_INT(logw_flush(w), 0);
    CHECK_EQ_INT(logw_add(w, "buffered", 8), 0);
    CHECK_EQ_INT(logw_rewind(w, mark), 0);
    CHECK_EQ_INT(logw_size(w), mark);
    CHECK_EQ_INT(logw_flushed(w), mark);
    /* Broken by a partial write whose cut-back failed; rewind repairs it. */
    CHECK_EQ_INT(logw_add(w, "lost", 4), 0);
    fail_after = 2;
    fail_truncate = 1;
    CHECK_EQ_INT(logw_flush(w), ERR_NOSPC);
    fail_after = -1;
    CHECK_EQ_INT(logw_add(w, "x", 1), ERR_CLOSED);
    CHECK_EQ_INT(logw_rewind(w, mark), ERR_IO); /* truncate still failing: stays broken */
    CHECK_EQ_INT(logw_add(w, "x", 1), ERR_CLOSED);
    fail_truncate = 0;
    CHECK_EQ_INT(logw_rewind(w, mark), 0);
    CHECK_EQ_INT(logw_add(w, "after", 5), 0);
    /* A rewind above the flushed size drops only the buffered records past
     * it: the earlier buffered one survives a failed flush of both. */
    CHECK_EQ_INT(logw_add(w, "acked", 5), 0);
    uint64_t group = logw_size(w);
    CHECK_EQ_INT(logw_add(w, "group", 5), 0);
    uint64_t flushed = logw_flushed(w);
    fail_after = 1;
    CHECK_EQ_INT(logw_flush(w), ERR_NOSPC);
    fail_after = -1;
    CHECK_EQ_INT(logw_rewind(w, group), 0);
    CHECK_EQ_INT(logw_flushed(w), flushed);
    CHECK_EQ_INT(logw_size(w), group);
    CHECK_EQ_INT(logw_close(w), 0);
    logr *r;
    REQUIRE(logr_open(E, path, LOG_MAGIC_WAL, &r) == 0);
    const void *p;
    size_t n;
    const char *want[] = {"keep", "after", "acked"};
    for (int i = 0; i < 3; i++) {
        REQUIRE(logr_next(r, &p, &n) == 0);
        CHECK(n == strlen(want[i]) && memcmp(p, want[i], n) == 0);
    }
    CHECK_EQ_INT(logr_next(r, &p, &n), ERR_NOTFOUND);
    CHECK(!logr_torn(r));
    logr_close(r);
}

int main(void)
{
    E = env_posix();
    rng_seed(&R, test_seed());
    RUN(test_round_trip_sizes);
    RUN(test_framing_bytes);
    RUN(test_tail_reader);
    RUN(test_torn_every_offset);
    RUN(test_zero_tail);
    RUN(test_flip_in_middle);
    RUN(test_torn_with_embedded_record);
    RUN(test_bad_header);
    RUN(test_writer_errors);
    RUN(test_rewind);
    TEST_END();
}
