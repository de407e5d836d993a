/* Unit tests of engine/sst: round trips with each compression, point reads
 * with snapshots and deletions, the bloom filter's false-positive rate,
 * range tombstones, iterator moves against a model, and corruption (flipped
 * bytes, truncation) that must give ERR_CORRUPT naming the file and offset. */
#include "test.h"

#include "engine/cache.h"
#include "engine/dbformat.h"
#include "engine/sst.h"
#include "util/coding.h"
#include "util/env.h"
#include "util/err.h"
#include "util/rand.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

static sst_options opts(int compression)
{
    sst_options o = {.block_size = 4096,
                     .restart_interval = 16,
                     .bloom_bits_per_key = 10,
                     .compression = compression,
                     .zstd_level = 3};
    return o;
}

static size_t mkkey(uint8_t *dst, int i, uint64_t seq, int type)
{
    char u[32];
    int n = snprintf(u, sizeof(u), "key%08d", i);
    return ikey_build(dst, u, (size_t)n, seq, type);
}

static size_t mkval(char *dst, int i)
{
    /* Compressible but not constant. */
    return (size_t)snprintf(dst, 64, "value-%d-%d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i, i % 7);
}

static int build_n(const char *path, const sst_options *o, int n, sst_props *p)
{
    sst_builder *b;
    int rc = sst_builder_open(env_posix(), path, o, &b);
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        uint8_t k[64];
        char v[64];
        size_t kl = mkkey(k, i, (uint64_t)i + 1, TYPE_VALUE), vl = mkval(v, i);
        if ((rc = sst_builder_add(b, k, kl, v, vl))) {
            sst_builder_abandon(b);
            return rc;
        }
    }
    return sst_builder_finish(b, p);
}

static void check_round_trip(int compression, uint64_t *size)
{
    const char *dir = test_tmpdir("sst_rt");
    char path[600];
    snprintf(path, sizeof(path), "%s/000001.sst", dir);
    sst_options o = opts(compression);
    sst_props p;
    const int n = 100000;
    REQUIRE(build_n(path, &o, n, &p) == 0);
    CHECK_EQ_INT(p.entries, n);
    CHECK_EQ_INT(p.smallest_seq, 1);
    CHECK_EQ_INT(p.largest_seq, n);
    uint8_t k[64];
    size_t kl = mkkey(k, 0, 1, TYPE_VALUE);
    CHECK(p.smallest_len == kl && memcmp(p.smallest, k, kl) == 0);
    kl = mkkey(k, n - 1, n, TYPE_VALUE);
    CHECK(p.largest_len == kl && memcmp(p.largest, k, kl) == 0);
    uint64_t fsize;
    REQUIRE(env_file_size(env_posix(), path, &fsize) == 0);
    CHECK_EQ_INT(p.file_size, fsize);
    *size = fsize;

    block_cache *c = block_cache_new(1 << 20);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 1, 0, c, &r) == 0);
    const sst_props *rp = sst_reader_props(r);
    CHECK_EQ_INT(rp->entries, n);
    CHECK_EQ_INT(rp->raw_key_bytes, p.raw_key_bytes);
    CHECK_EQ_INT(rp->raw_value_bytes, p.raw_value_bytes);
    CHECK_EQ_INT(rp->file_size, fsize);
    CHECK(rp->largest_len == p.largest_len && memcmp(rp->largest, p.largest, kl) == 0);

    /* Forward, then backward, over everything. */
    ikiter *it = sst_reader_iter(r, true);
    REQUIRE(it);
    int i = 0, bad = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), i++) {
        size_t l, vl;
        const void *key = iki_key(it, &l), *val = iki_value(it, &vl);
        char v[64];
        kl = mkkey(k, i, (uint64_t)i + 1, TYPE_VALUE);
        size_t want = mkval(v, i);
        if (l != kl || memcmp(key, k, kl) || vl != want || memcmp(val, v, vl)) bad++;
    }
    CHECK_EQ_INT(i, n);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(iki_status(it), 0);
    i = n - 1;
    for (iki_seek_last(it); iki_valid(it); iki_prev(it), i--) {
        size_t l;
        const void *key = iki_key(it, &l);
        kl = mkkey(k, i, (uint64_t)i + 1, TYPE_VALUE);
        if (l != kl || memcmp(key, k, kl)) bad++;
    }
    CHECK_EQ_INT(i, -1);
    CHECK_EQ_INT(bad, 0);
    iki_destroy(it);

    /* Point reads of every 37th key, and of absent keys between them. */
    for (i = 0; i < n; i += 37) {
        char u[32], v[64];
        int ul = snprintf(u, sizeof(u), "key%08d", i);
        int type = -1;
        uint64_t seq = 0;
        void *val = NULL;
        size_t vl = 0, want = mkval(v, i);
        int rc = sst_reader_get(r, u, (size_t)ul, SEQ_MAX, &type, &seq, &val, &vl);
        if (rc || type != TYPE_VALUE || seq != (uint64_t)i + 1 || vl != want || memcmp(val, v, vl))
            bad++;
        free(val);
        ul = snprintf(u, sizeof(u), "key%08d+", i);
        if (sst_reader_get(r, u, (size_t)ul, SEQ_MAX, &type, &seq, NULL, NULL) != ERR_NOTFOUND)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    uint64_t hits, misses, bytes, cap;
    block_cache_stats(c, &hits, &misses, &bytes, &cap);
    CHECK(hits > 0 && misses > 0 && bytes <= cap);
    sst_reader_close(r);

    /* The same reads through pread, for an env that cannot map files. */
    env_ops nomap_ops = env_posix_ops;
    nomap_ops.map = NULL;
    env_t nomap = {.ops = &nomap_ops, .ctx = NULL};
    REQUIRE(sst_reader_open(&nomap, path, 2, 0, c, &r) == 0);
    for (i = 0; i < n; i += 101) {
        char u[32], v[64];
        int ul = snprintf(u, sizeof(u), "key%08d", i);
        void *val = NULL;
        size_t vl = 0, want = mkval(v, i);
        if (sst_reader_get(r, u, (size_t)ul, SEQ_MAX, NULL, NULL, &val, &vl) || vl != want ||
            memcmp(val, v, vl))
            bad++;
        free(val);
    }
    CHECK_EQ_INT(bad, 0);
    sst_reader_close(r);
    block_cache_free(c);
    sst_props_free(&p);
}

static void test_round_trip_compressions(void)
{
    uint64_t none, lz4, zstd;
    check_round_trip(0, &none);
    check_round_trip(1, &lz4);
    check_round_trip(2, &zstd);
    fprintf(stderr, "sizes: none %llu lz4 %llu zstd %llu\n", (unsigned long long)none,
            (unsigned long long)lz4, (unsigned long long)zstd);
    CHECK(lz4 < none - none / 8);
    CHECK(zstd < none - none / 8);
}

/* Many versions of one user key spanning several blocks, with deletions. */
static void test_get_snapshots(void)
{
    const char *dir = test_tmpdir("sst_snap");
    char path[600];
    snprintf(path, sizeof(path), "%s/000002.sst", dir);
    sst_options o = opts(1);
    o.block_size = 64; /* a few entries per block */
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    uint8_t k[64];
    /* "a": seq 100..10 step -10; every third a deletion. Then "b" once. */
    for (int s = 100; s >= 10; s -= 10) {
        int type = (s / 10) % 3 == 0 ? TYPE_DELETION : TYPE_VALUE;
        char v[16];
        int vl = snprintf(v, sizeof(v), "a@%d", s);
        size_t kl = ikey_build(k, "a", 1, (uint64_t)s, type);
        REQUIRE(sst_builder_add(b, k, kl, v, type == TYPE_VALUE ? (size_t)vl : 0) == 0);
    }
    size_t kl = ikey_build(k, "b", 1, 5, TYPE_VALUE);
    REQUIRE(sst_builder_add(b, k, kl, "b@5", 3) == 0);
    /* Out of order is refused and does not poison the builder's data. */
    kl = ikey_build(k, "a", 1, 200, TYPE_VALUE);
    CHECK_EQ_INT(sst_builder_add(b, k, kl, "x", 1), ERR_INVAL);
    sst_props p;
    REQUIRE(sst_builder_finish(b, &p) == 0);
    CHECK_EQ_INT(p.entries, 11);
    CHECK_EQ_INT(p.smallest_seq, 5);
    CHECK_EQ_INT(p.largest_seq, 100);
    sst_props_free(&p);

    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 2, 0, NULL, &r) == 0);
    for (uint64_t snap = 0; snap <= 110; snap++) {
        int type = -1;
        uint64_t seq = 0;
        void *val = NULL;
        size_t vl = 0;
        int rc = sst_reader_get(r, "a", 1, snap, &type, &seq, &val, &vl);
        uint64_t want = snap >= 100 ? 100 : snap / 10 * 10;
        if (want < 10) {
            CHECK_EQ_INT(rc, ERR_NOTFOUND);
            continue;
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(seq, want);
        int wtype = (want / 10) % 3 == 0 ? TYPE_DELETION : TYPE_VALUE;
        CHECK_EQ_INT(type, wtype);
        if (wtype == TYPE_VALUE) {
            char v[16];
            int n = snprintf(v, sizeof(v), "a@%d", (int)want);
            CHECK(vl == (size_t)n && memcmp(val, v, vl) == 0);
        } else {
            CHECK_EQ_INT(vl, 0);
        }
        free(val);
    }
    int type;
    uint64_t seq;
    CHECK_EQ_INT(sst_reader_get(r, "b", 1, 4, &type, &seq, NULL, NULL), ERR_NOTFOUND);
    CHECK_EQ_INT(sst_reader_get(r, "b", 1, 5, &type, &seq, NULL, NULL), 0);
    CHECK_EQ_INT(seq, 5);
    CHECK_EQ_INT(sst_reader_get(r, "c", 1, 50, &type, &seq, NULL, NULL), ERR_NOTFOUND);
    CHECK_EQ_INT(sst_reader_get(r, "", 0, 50, &type, &seq, NULL, NULL), ERR_NOTFOUND);
    sst_reader_close(r);
}

/* Both filter layouts: version 2 (blocked, written today) and version 1
 * (the old files a reader must still open). */
static void bloom_fp_rate(int version)
{
    const char *dir = test_tmpdir("sst_bloom");
    char path[600];
    snprintf(path, sizeof(path), "%s/000003.sst", dir);
    sst_options o = opts(0);
    o.format_version = version;
    const int n = 20000;
    sst_props p;
    REQUIRE(build_n(path, &o, n, &p) == 0);
    sst_props_free(&p);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 3, 0, NULL, &r) == 0);
    int fn = 0;
    for (int i = 0; i < n; i++) {
        char u[32];
        int ul = snprintf(u, sizeof(u), "key%08d", i);
        if (!sst_reader_may_contain(r, u, (size_t)ul)) fn++;
    }
    CHECK_EQ_INT(fn, 0); /* never a false negative */
    const int probes = 200000;
    int fp = 0;
    for (int i = 0; i < probes; i++) {
        char u[32];
        int ul = snprintf(u, sizeof(u), "absent%08d", i);
        if (sst_reader_may_contain(r, u, (size_t)ul)) fp++;
    }
    double rate = (double)fp / probes;
    fprintf(stderr, "bloom (format %d) false-positive rate at 10 bits/key: %.4f\n", version, rate);
    CHECK(rate > 0.002 && rate < 0.02);
    /* get() counts the lookups the filter saved. */
    uint64_t before = sst_reader_bloom_useful(r);
    int saved = 0;
    for (int i = 0; i < 1000; i++) {
        char u[32];
        int ul = snprintf(u, sizeof(u), "absent%08d", i);
        if (!sst_reader_may_contain(r, u, (size_t)ul)) saved++;
        CHECK_EQ_INT(sst_reader_get(r, u, (size_t)ul, SEQ_MAX, NULL, NULL, NULL, NULL),
                     ERR_NOTFOUND);
    }
    CHECK_EQ_INT(sst_reader_bloom_useful(r) - before, saved);
    sst_reader_close(r);

    /* bloom_bits_per_key 0: no filter, everything "may" be there. */
    o.bloom_bits_per_key = 0;
    REQUIRE(build_n(path, &o, 100, &p) == 0);
    sst_props_free(&p);
    REQUIRE(sst_reader_open(env_posix(), path, 4, 0, NULL, &r) == 0);
    CHECK(sst_reader_may_contain(r, "nothing", 7));
    CHECK_EQ_INT(sst_reader_get(r, "nothing", 7, SEQ_MAX, NULL, NULL, NULL, NULL), ERR_NOTFOUND);
    CHECK_EQ_INT(sst_reader_bloom_useful(r), 0);
    sst_reader_close(r);
}

static void test_bloom_fp_rate(void)
{
    bloom_fp_rate(SST_VERSION);
    bloom_fp_rate(1);
}

static void test_range_dels(void)
{
    const char *dir = test_tmpdir("sst_rdel");
    char path[600];
    snprintf(path, sizeof(path), "%s/000005.sst", dir);
    sst_options o = opts(2);
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    uint8_t k[64];
    size_t kl = ikey_build(k, "d", 1, 7, TYPE_VALUE);
    REQUIRE(sst_builder_add(b, k, kl, "v", 1) == 0);
    kl = ikey_build(k, "m", 1, 8, TYPE_VALUE);
    REQUIRE(sst_builder_add(b, k, kl, "v", 1) == 0);
    /* Added out of order: the file stores them sorted. */
    REQUIRE(sst_builder_add_range_del(b, "f", 1, "z", 1, 20) == 0);
    REQUIRE(sst_builder_add_range_del(b, "b", 1, "e", 1, 3) == 0);
    REQUIRE(sst_builder_add_range_del(b, "b", 1, "c", 1, 9) == 0);
    sst_props p;
    REQUIRE(sst_builder_finish(b, &p) == 0);
    CHECK_EQ_INT(p.entries, 2);
    CHECK_EQ_INT(p.range_dels, 3);
    CHECK_EQ_INT(p.smallest_seq, 3);
    CHECK_EQ_INT(p.largest_seq, 20);
    /* smallest widened to the tombstone start b@9, largest to z@max. */
    kl = ikey_build(k, "b", 1, 9, TYPE_RANGE_DELETION);
    CHECK(p.smallest_len == kl && memcmp(p.smallest, k, kl) == 0);
    kl = ikey_build(k, "z", 1, SEQ_MAX, TYPE_RANGE_DELETION);
    CHECK(p.largest_len == kl && memcmp(p.largest, k, kl) == 0);

    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 5, 0, NULL, &r) == 0);
    const rangedel_list *l = sst_reader_range_dels(r);
    REQUIRE(l->n == 3);
    CHECK(l->v[0].slen == 1 && l->v[0].start[0] == 'b' && l->v[0].end[0] == 'c' &&
          l->v[0].seq == 9);
    CHECK(l->v[1].slen == 1 && l->v[1].start[0] == 'b' && l->v[1].end[0] == 'e' &&
          l->v[1].seq == 3);
    CHECK(l->v[2].elen == 1 && l->v[2].start[0] == 'f' && l->v[2].end[0] == 'z' &&
          l->v[2].seq == 20);
    CHECK(rangedel_covers(l, "m", 1, 8, 100));
    CHECK(!rangedel_covers(l, "d", 1, 7, 100));
    const sst_props *rp = sst_reader_props(r);
    CHECK(rp->smallest_len == p.smallest_len && memcmp(rp->smallest, p.smallest, kl) == 0);
    CHECK(rp->largest_len == p.largest_len && memcmp(rp->largest, p.largest, kl) == 0);
    sst_reader_close(r);
    sst_props_free(&p);

    /* A file holding only tombstones. */
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    REQUIRE(sst_builder_add_range_del(b, "a", 1, "b", 1, 4) == 0);
    REQUIRE(sst_builder_finish(b, &p) == 0);
    CHECK_EQ_INT(p.entries, 0);
    CHECK_EQ_INT(p.range_dels, 1);
    CHECK(p.smallest && p.largest);
    sst_props_free(&p);
    REQUIRE(sst_reader_open(env_posix(), path, 6, 0, NULL, &r) == 0);
    CHECK_EQ_INT(sst_reader_range_dels(r)->n, 1);
    ikiter *it = sst_reader_iter(r, false);
    iki_seek_first(it);
    CHECK(!iki_valid(it));
    iki_seek_last(it);
    CHECK(!iki_valid(it));
    CHECK_EQ_INT(iki_status(it), 0);
    iki_destroy(it);
    sst_reader_close(r);
}

/* Random user keys (bytes 0x00..0xff, shared prefixes, several versions),
 * tiny blocks; every move of the iterator is compared with a sorted model. */
typedef struct mk {
    uint8_t k[24];
    size_t len;
} mk;

static int mk_cmp(const void *a, const void *b)
{
    const mk *x = a, *y = b;
    return ikey_cmp(x->k, x->len, y->k, y->len);
}

static void test_iter_model(void)
{
    const char *dir = test_tmpdir("sst_model");
    char path[600];
    snprintf(path, sizeof(path), "%s/000007.sst", dir);
    rng_t rng;
    rng_seed(&rng, test_seed());
    const int n = test_soak() ? 60000 : 3000, rounds = test_soak() ? 200000 : 4000;
    mk *m = calloc(n, sizeof(mk));
    REQUIRE(m);
    for (int i = 0; i < n; i++) {
        size_t ul = rng_next(&rng) % 8;
        for (size_t j = 0; j < ul; j++) {
            uint32_t x = (uint32_t)rng_next(&rng) % 4;
            m[i].k[j] = x == 0 ? 0xff : x == 1 ? 0x00 : (uint8_t)(rng_next(&rng) & 0xff);
        }
        m[i].len = ikey_build(m[i].k, m[i].k, ul, rng_next(&rng) % 1000, TYPE_VALUE);
    }
    qsort(m, n, sizeof(mk), mk_cmp);
    int u = 0; /* drop exact duplicates */
    for (int i = 0; i < n; i++)
        if (!u || mk_cmp(&m[u - 1], &m[i]) != 0) m[u++] = m[i];
    sst_options o = opts(1);
    o.block_size = 100;
    o.restart_interval = 3;
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    for (int i = 0; i < u; i++) REQUIRE(sst_builder_add(b, m[i].k, m[i].len, &i, sizeof(i)) == 0);
    REQUIRE(sst_builder_finish(b, NULL) == 0);
    block_cache *c = block_cache_new(64 << 10);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 7, 0, c, &r) == 0);
    ikiter *it = sst_reader_iter(r, true);
    sst_reader_close(r); /* the iterator keeps the reader alive */
    int bad = 0;
    for (int round = 0; round < rounds; round++) {
        mk t;
        size_t ul = rng_next(&rng) % 8;
        for (size_t j = 0; j < ul; j++) t.k[j] = (uint8_t)(rng_next(&rng) & 0xff);
        if (rng_next(&rng) % 2) { /* often an existing user key */
            int j = (int)(rng_next(&rng) % (uint64_t)u);
            ul = m[j].len - IKEY_TRAILER;
            memcpy(t.k, m[j].k, ul);
        }
        t.len = ikey_build(t.k, t.k, ul, rng_next(&rng) % 1100, (int)(rng_next(&rng) % 3));
        /* Model: first index >= t. */
        int lo = 0, hi = u;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (mk_cmp(&m[mid], &t) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        int pos;
        bool fwd = rng_next(&rng) % 2;
        if (fwd) {
            iki_seek(it, t.k, t.len);
            pos = lo;
        } else {
            it->ops->seek_for_prev(it, t.k, t.len);
            pos = lo < u && mk_cmp(&m[lo], &t) == 0 ? lo : lo - 1;
        }
        int steps = (int)(rng_next(&rng) % 20);
        for (int s = 0; s <= steps; s++) {
            bool want_valid = pos >= 0 && pos < u;
            if (iki_valid(it) != want_valid) {
                bad++;
                break;
            }
            if (!want_valid) break;
            size_t kl, vl;
            const void *key = iki_key(it, &kl), *val = iki_value(it, &vl);
            int idx;
            memcpy(&idx, val, sizeof(idx));
            if (kl != m[pos].len || memcmp(key, m[pos].k, kl) || vl != sizeof(int) || idx != pos) {
                bad++;
                break;
            }
            if (rng_next(&rng) % 2) {
                iki_next(it);
                pos++;
            } else {
                iki_prev(it);
                pos--;
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(iki_status(it), 0);
    iki_destroy(it);
    block_cache_free(c);
    free(m);
}

/* ---- corruption ---- */

static int flip_byte(const char *path, uint64_t off)
{
    FILE *f = fopen(path, "r+b");
    if (!f) return -1;
    int rc = -1;
    if (fseek(f, (long)off, SEEK_SET) == 0) {
        int ch = fgetc(f);
        if (ch != EOF && fseek(f, (long)off, SEEK_SET) == 0 && fputc(ch ^ 0x5a, f) != EOF) rc = 0;
    }
    fclose(f);
    return rc;
}

static int copy_file(const char *from, const char *to)
{
    char *data;
    size_t len;
    int rc = env_read_all(env_posix(), from, &data, &len);
    if (rc) return rc;
    FILE *f = fopen(to, "wb");
    if (!f) return free(data), -1;
    rc = fwrite(data, 1, len, f) == len ? 0 : -1;
    fclose(f);
    free(data);
    return rc;
}

/* The index block's offset from the footer of a good file. */
static uint64_t index_offset(const char *path, uint64_t size)
{
    env_file *f;
    uint8_t foot[SST_FOOTER];
    if (env_open(env_posix(), path, ENV_READ, &f)) return 0;
    int rc = env_read_exact(f, foot, sizeof(foot), size - SST_FOOTER);
    env_close(f);
    return rc ? 0 : get_u64(foot);
}

static bool msg_names(const char *path, uint64_t off)
{
    char want[64];
    snprintf(want, sizeof(want), "offset %llu", (unsigned long long)off);
    const char *m = err_msg();
    bool ok = strstr(m, path) && strstr(m, want);
    if (!ok) fprintf(stderr, "message \"%s\" does not name %s and %s\n", m, path, want);
    return ok;
}

/* Iterates the whole table; returns the iterator's status. */
static int scan_all(sst_reader *r)
{
    ikiter *it = sst_reader_iter(r, false);
    if (!it) return ERR_NOMEM;
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) {
    }
    int rc = iki_status(it);
    iki_destroy(it);
    return rc;
}

static void test_corruption(void)
{
    const char *dir = test_tmpdir("sst_corrupt");
    char good[600], bad[600];
    snprintf(good, sizeof(good), "%s/000010.sst", dir);
    snprintf(bad, sizeof(bad), "%s/000011.sst", dir);
    sst_options o = opts(0);
    sst_props p;
    REQUIRE(build_n(good, &o, 2000, &p) == 0);
    uint64_t size = p.file_size;
    sst_props_free(&p);
    uint64_t ioff = index_offset(good, size);
    REQUIRE(ioff > 0 && ioff < size);
    sst_reader *r;

    /* A data block: open succeeds (only meta blocks are read), reads fail. */
    REQUIRE(copy_file(good, bad) == 0);
    REQUIRE(flip_byte(bad, 10) == 0);
    REQUIRE(sst_reader_open(env_posix(), bad, 11, 0, NULL, &r) == 0);
    CHECK_EQ_INT(scan_all(r), ERR_CORRUPT);
    CHECK(msg_names(bad, 0));
    CHECK_EQ_INT(sst_reader_get(r, "key00000000", 11, SEQ_MAX, NULL, NULL, NULL, NULL),
                 ERR_CORRUPT);
    CHECK(msg_names(bad, 0));
    /* Without verification the block may parse; it must not crash. */
    sst_reader_set_verify(r, false);
    int rc = scan_all(r);
    CHECK(rc == 0 || rc == ERR_CORRUPT);
    sst_reader_close(r);

    /* A data block in the middle (the second block starts after the first). */
    REQUIRE(copy_file(good, bad) == 0);
    REQUIRE(flip_byte(bad, 5000) == 0);
    REQUIRE(sst_reader_open(env_posix(), bad, 12, 0, NULL, &r) == 0);
    CHECK_EQ_INT(scan_all(r), ERR_CORRUPT);
    CHECK(strstr(err_msg(), bad) && strstr(err_msg(), "offset"));
    sst_reader_close(r);

    /* The index block. */
    REQUIRE(copy_file(good, bad) == 0);
    REQUIRE(flip_byte(bad, ioff + 3) == 0);
    CHECK_EQ_INT(sst_reader_open(env_posix(), bad, 13, 0, NULL, &r), ERR_CORRUPT);
    CHECK(msg_names(bad, ioff));

    /* Every byte of the footer. */
    for (uint64_t off = size - SST_FOOTER; off < size; off++) {
        REQUIRE(copy_file(good, bad) == 0);
        REQUIRE(flip_byte(bad, off) == 0);
        rc = sst_reader_open(env_posix(), bad, 14, 0, NULL, &r);
        CHECK_EQ_INT(rc, ERR_CORRUPT);
        if (rc == 0) sst_reader_close(r);
        CHECK(strstr(err_msg(), bad) && strstr(err_msg(), "offset"));
    }

    /* Truncated files: at the footer, inside it, and to nothing. */
    uint64_t cuts[] = {size - 1, size - SST_FOOTER, size / 2, 10, 0};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        REQUIRE(copy_file(good, bad) == 0);
        REQUIRE(truncate(bad, (off_t)cuts[i]) == 0);
        rc = sst_reader_open(env_posix(), bad, 15, 0, NULL, &r);
        CHECK_EQ_INT(rc, ERR_CORRUPT);
        if (rc == 0) sst_reader_close(r);
        CHECK(strstr(err_msg(), bad) && strstr(err_msg(), "offset"));
    }
    /* A size from the manifest larger than the file: a short read, not a crash. */
    REQUIRE(copy_file(good, bad) == 0);
    rc = sst_reader_open(env_posix(), bad, 16, size + 100, NULL, &r);
    CHECK_EQ_INT(rc, ERR_CORRUPT);
    if (rc == 0) sst_reader_close(r);

    /* Flip every 97th byte of the whole file: never a crash, and each flip
     * is detected either at open or when reading (no silent wrong data). */
    int undetected = 0;
    REQUIRE(copy_file(good, bad) == 0);
    for (uint64_t off = 0; off < size; off += 97) {
        REQUIRE(flip_byte(bad, off) == 0);
        if (sst_reader_open(env_posix(), bad, 17, 0, NULL, &r) == 0) {
            if (scan_all(r) != ERR_CORRUPT) undetected++;
            sst_reader_close(r);
        }
        REQUIRE(flip_byte(bad, off) == 0); /* flip back */
    }
    CHECK_EQ_INT(undetected, 0);
}

static void test_builder_abandon_and_errors(void)
{
    const char *dir = test_tmpdir("sst_abandon");
    char path[600];
    snprintf(path, sizeof(path), "%s/000020.sst", dir);
    sst_options o = opts(1);
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    uint8_t k[64];
    size_t kl = mkkey(k, 1, 1, TYPE_VALUE);
    REQUIRE(sst_builder_add(b, k, kl, "v", 1) == 0);
    CHECK_EQ_INT(sst_builder_entries(b), 1);
    CHECK(sst_builder_size(b) > 0);
    CHECK_EQ_INT(sst_builder_add(b, "short", 5, "v", 1), ERR_INVAL);
    CHECK_EQ_INT(sst_builder_add(b, k, kl, "v", 1), ERR_INVAL); /* equal key */
    sst_builder_abandon(b);
    uint64_t sz;
    CHECK_EQ_INT(env_file_size(env_posix(), path, &sz), ERR_NOTFOUND);
    o.compression = 9;
    CHECK_EQ_INT(sst_builder_open(env_posix(), path, &o, &b), ERR_INVAL);

    /* An empty table opens and iterates as empty. */
    o = opts(0);
    sst_props p;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    REQUIRE(sst_builder_finish(b, &p) == 0);
    CHECK_EQ_INT(p.entries, 0);
    CHECK(p.smallest == NULL && p.largest == NULL);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 20, 0, NULL, &r) == 0);
    CHECK_EQ_INT(scan_all(r), 0);
    CHECK_EQ_INT(sst_reader_get(r, "a", 1, SEQ_MAX, NULL, NULL, NULL, NULL), ERR_NOTFOUND);
    sst_reader_close(r);

    /* Large values (bigger than a block) round trip. */
    o = opts(2);
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    size_t big = 300000;
    char *v = malloc(big);
    REQUIRE(v);
    for (size_t i = 0; i < big; i++) v[i] = (char)('a' + i % 13);
    for (int i = 0; i < 3; i++) {
        kl = mkkey(k, i, 1, TYPE_VALUE);
        REQUIRE(sst_builder_add(b, k, kl, v, big) == 0);
    }
    REQUIRE(sst_builder_finish(b, NULL) == 0);
    REQUIRE(sst_reader_open(env_posix(), path, 21, 0, NULL, &r) == 0);
    void *got = NULL;
    size_t gl = 0;
    CHECK_EQ_INT(sst_reader_get(r, "key00000001", 11, SEQ_MAX, NULL, NULL, &got, &gl), 0);
    CHECK(gl == big && got && memcmp(got, v, big) == 0);
    free(got);
    sst_reader_close(r);
    free(v);
}

/* ---- I/O errors through a wrapping env ---- */

static int appends_left, preads_left;
static int fail_append(env_file *f, const void *buf, size_t n)
{
    if (appends_left-- <= 0) return err_set(ERR_NOSPC, "%s: injected ENOSPC", f->path);
    return env_posix_ops.append(f, buf, n);
}
static int fail_pread(env_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
    if (preads_left-- <= 0)
        return err_set(ERR_IO, "%s: injected EIO at offset %llu", f->path, (unsigned long long)off);
    return env_posix_ops.pread(f, buf, n, off, got);
}

static void test_io_errors(void)
{
    const char *dir = test_tmpdir("sst_io");
    char path[600];
    snprintf(path, sizeof(path), "%s/000030.sst", dir);
    env_ops ops = env_posix_ops;
    ops.append = fail_append;
    ops.pread = fail_pread;
    ops.map = NULL; /* reads must reach fail_pread (a mapping would bypass it) */
    env_t env = {.ops = &ops, .ctx = NULL};
    sst_options o = opts(1);
    o.block_size = 512;
    /* The write fails at every possible append: the error comes back from
     * add or finish, stays sticky, and the partial file is removed. */
    for (int fail_at = 0; fail_at < 40; fail_at++) {
        appends_left = fail_at;
        preads_left = 1 << 30;
        sst_builder *b;
        REQUIRE(sst_builder_open(&env, path, &o, &b) == 0);
        int rc = 0;
        for (int i = 0; i < 300 && !rc; i++) {
            uint8_t k[64];
            char v[64];
            size_t kl = mkkey(k, i, 1, TYPE_VALUE), vl = mkval(v, i);
            rc = sst_builder_add(b, k, kl, v, vl);
        }
        if (rc) {
            CHECK_EQ_INT(rc, ERR_NOSPC);
            uint8_t k[64];
            size_t kl = mkkey(k, 1000, 1, TYPE_VALUE);
            CHECK_EQ_INT(sst_builder_add(b, k, kl, "v", 1), ERR_NOSPC); /* sticky */
            sst_builder_abandon(b);
        } else {
            sst_props p = {0};
            rc = sst_builder_finish(b, &p);
            CHECK(rc == 0 || rc == ERR_NOSPC);
            if (rc == 0) {
                CHECK(fail_at >= 30); /* only when every append succeeded */
                sst_props_free(&p);
            }
        }
        if (rc) {
            uint64_t sz;
            CHECK_EQ_INT(env_file_size(env_posix(), path, &sz), ERR_NOTFOUND);
        }
    }
    /* A read error is reported as such, not as corruption. */
    appends_left = 1 << 30;
    preads_left = 1 << 30;
    sst_props p;
    sst_builder *b;
    REQUIRE(sst_builder_open(&env, path, &o, &b) == 0);
    for (int i = 0; i < 300; i++) {
        uint8_t k[64];
        char v[64];
        size_t kl = mkkey(k, i, 1, TYPE_VALUE), vl = mkval(v, i);
        REQUIRE(sst_builder_add(b, k, kl, v, vl) == 0);
    }
    REQUIRE(sst_builder_finish(b, &p) == 0);
    sst_props_free(&p);
    preads_left = 2;
    sst_reader *r;
    CHECK_EQ_INT(sst_reader_open(&env, path, 30, 0, NULL, &r), ERR_IO);
    preads_left = 1 << 30;
    REQUIRE(sst_reader_open(&env, path, 30, 0, NULL, &r) == 0);
    preads_left = 0;
    CHECK_EQ_INT(sst_reader_get(r, "key00000007", 11, SEQ_MAX, NULL, NULL, NULL, NULL), ERR_IO);
    CHECK_EQ_INT(scan_all(r), ERR_IO);
    preads_left = 1 << 30;
    CHECK_EQ_INT(scan_all(r), 0);
    sst_reader_close(r);
}

static void test_long_keys(void)
{
    const char *dir = test_tmpdir("sst_long");
    char path[600];
    snprintf(path, sizeof(path), "%s/000031.sst", dir);
    sst_options o = opts(2);
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    /* 1000-byte user keys differing only in their last bytes. */
    const size_t ul = 1000;
    uint8_t *k = malloc(ul + IKEY_TRAILER), *u = malloc(ul);
    REQUIRE(k && u);
    memset(u, 'x', ul);
    for (int i = 0; i < 200; i++) {
        u[ul - 2] = (uint8_t)('A' + i / 26);
        u[ul - 1] = (uint8_t)('a' + i % 26);
        size_t kl = ikey_build(k, u, ul, 1, TYPE_VALUE);
        REQUIRE(sst_builder_add(b, k, kl, &i, sizeof(i)) == 0);
    }
    REQUIRE(sst_builder_finish(b, NULL) == 0);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 31, 0, NULL, &r) == 0);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        u[ul - 2] = (uint8_t)('A' + i / 26);
        u[ul - 1] = (uint8_t)('a' + i % 26);
        void *v = NULL;
        size_t vl = 0;
        if (sst_reader_get(r, u, ul, SEQ_MAX, NULL, NULL, &v, &vl) || vl != sizeof(int) ||
            memcmp(v, &i, sizeof(i)))
            bad++;
        free(v);
    }
    CHECK_EQ_INT(bad, 0);
    sst_reader_close(r);
    free(k);
    free(u);
}

/* Incompressible data is stored raw (no block grows), and reads back. */
static void test_incompressible(void)
{
    const char *dir = test_tmpdir("sst_incomp");
    char path[600];
    snprintf(path, sizeof(path), "%s/000040.sst", dir);
    rng_t rng;
    rng_seed(&rng, 42);
    uint64_t sizes[3];
    for (int c = 0; c < 3; c++) {
        rng_seed(&rng, 42);
        sst_options o = opts(c);
        sst_builder *b;
        REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
        for (int i = 0; i < 2000; i++) {
            uint8_t k[64], v[200];
            size_t kl = mkkey(k, i, 1, TYPE_VALUE);
            for (size_t j = 0; j < sizeof(v); j++) v[j] = (uint8_t)rng_next(&rng);
            REQUIRE(sst_builder_add(b, k, kl, v, sizeof(v)) == 0);
        }
        sst_props p;
        REQUIRE(sst_builder_finish(b, &p) == 0);
        sizes[c] = p.file_size;
        sst_props_free(&p);
        sst_reader *r;
        REQUIRE(sst_reader_open(env_posix(), path, 40, 0, NULL, &r) == 0);
        CHECK_EQ_INT(scan_all(r), 0);
        sst_reader_close(r);
    }
    /* Only the small meta blocks may shrink; data blocks stay raw. */
    for (int c = 1; c < 3; c++) CHECK(sizes[c] <= sizes[0] && sizes[c] > sizes[0] - sizes[0] / 20);
}

/* Scans use the cache when asked to fill it and leave it alone otherwise. */
static void test_cache_use(void)
{
    const char *dir = test_tmpdir("sst_cache");
    char path[600];
    snprintf(path, sizeof(path), "%s/000041.sst", dir);
    sst_options o = opts(1);
    sst_props p;
    REQUIRE(build_n(path, &o, 5000, &p) == 0);
    sst_props_free(&p);
    block_cache *c = block_cache_new(8 << 20);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 41, 0, c, &r) == 0);
    uint64_t h0, m0, b0, cap, h1, m1, b1;
    ikiter *it = sst_reader_iter(r, false);
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) {
    }
    iki_destroy(it);
    block_cache_stats(c, &h0, &m0, &b0, &cap);
    CHECK_EQ_INT(h0, 0);
    CHECK(m0 > 10);
    CHECK_EQ_INT(b0, 0); /* nothing inserted */
    CHECK_EQ_INT(scan_all(r), 0);
    it = sst_reader_iter(r, true);
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) {
    }
    iki_destroy(it);
    block_cache_stats(c, &h1, &m1, &b1, &cap);
    CHECK(b1 > 0);
    it = sst_reader_iter(r, true);
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) {
    }
    iki_destroy(it);
    uint64_t h2, m2, b2;
    block_cache_stats(c, &h2, &m2, &b2, &cap);
    CHECK_EQ_INT(m2, m1);      /* the second filled scan only hits */
    CHECK_EQ_INT(h2 - h1, m0); /* one hit per data block */
    /* A second reader of the same file number shares the cached blocks. */
    sst_reader *r2;
    REQUIRE(sst_reader_open(env_posix(), path, 41, 0, c, &r2) == 0);
    CHECK_EQ_INT(sst_reader_get(r2, "key00000100", 11, SEQ_MAX, NULL, NULL, NULL, NULL), 0);
    uint64_t h3, m3, b3;
    block_cache_stats(c, &h3, &m3, &b3, &cap);
    CHECK_EQ_INT(m3, m2);
    block_cache_erase_file(c, 41);
    block_cache_stats(c, &h3, &m3, &b3, &cap);
    CHECK_EQ_INT(b3, 0);
    sst_reader_close(r2);
    sst_reader_close(r);
    block_cache_free(c);
}

/* Many threads reading one reader (gets and iterators) through one cache. */
static sst_reader *shared_r;
static void *reader_thread(void *arg)
{
    long bad = 0;
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int j = 0; j < 2000; j++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % 20000);
        char u[32], v[64];
        int ul = snprintf(u, sizeof(u), "key%08d", i);
        void *val = NULL;
        size_t vl = 0, want = mkval(v, i);
        if (sst_reader_get(shared_r, u, (size_t)ul, SEQ_MAX, NULL, NULL, &val, &vl) || vl != want ||
            memcmp(val, v, vl))
            bad++;
        free(val);
        if (j % 200 == 0) {
            ikiter *it = sst_reader_iter(shared_r, true);
            int n = 0;
            for (iki_seek_first(it); iki_valid(it) && n < 3000; iki_next(it)) n++;
            if (n != 3000) bad++;
            iki_destroy(it);
        }
    }
    return (void *)bad;
}

static void test_concurrent_readers(void)
{
    const char *dir = test_tmpdir("sst_threads");
    char path[600];
    snprintf(path, sizeof(path), "%s/000042.sst", dir);
    sst_options o = opts(2);
    sst_props p;
    REQUIRE(build_n(path, &o, 20000, &p) == 0);
    sst_props_free(&p);
    block_cache *c = block_cache_new(64 << 10); /* small: constant eviction */
    REQUIRE(sst_reader_open(env_posix(), path, 42, 0, c, &shared_r) == 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reader_thread, (void *)(uintptr_t)(i + 1));
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        bad += (long)res;
    }
    CHECK_EQ_INT(bad, 0);
    sst_reader_close(shared_r);
    block_cache_free(c);
}

/* A small compressed table with range tombstones: flipping any single byte
 * is detected at open or on the first full read. */
static void test_every_byte_flip(void)
{
    const char *dir = test_tmpdir("sst_flip");
    char good[600], bad[600];
    snprintf(good, sizeof(good), "%s/000050.sst", dir);
    snprintf(bad, sizeof(bad), "%s/000051.sst", dir);
    for (int c = 0; c < 3; c++) {
        sst_options o = opts(c);
        o.block_size = 256;
        sst_builder *b;
        REQUIRE(sst_builder_open(env_posix(), good, &o, &b) == 0);
        for (int i = 0; i < 60; i++) {
            uint8_t k[64];
            char v[64];
            size_t kl = mkkey(k, i, (uint64_t)i + 1, TYPE_VALUE), vl = mkval(v, i);
            REQUIRE(sst_builder_add(b, k, kl, v, vl) == 0);
        }
        REQUIRE(sst_builder_add_range_del(b, "key00000010", 11, "key00000020", 11, 99) == 0);
        sst_props p;
        REQUIRE(sst_builder_finish(b, &p) == 0);
        int undetected = 0;
        REQUIRE(copy_file(good, bad) == 0);
        for (uint64_t off = 0; off < p.file_size; off++) {
            REQUIRE(flip_byte(bad, off) == 0);
            sst_reader *r;
            int rc = sst_reader_open(env_posix(), bad, 50, 0, NULL, &r);
            if (rc) {
                CHECK_EQ_INT(rc, ERR_CORRUPT);
            } else {
                if (scan_all(r) != ERR_CORRUPT) undetected++;
                sst_reader_close(r);
            }
            REQUIRE(flip_byte(bad, off) == 0); /* flip back */
        }
        CHECK_EQ_INT(undetected, 0);
        sst_props_free(&p);
    }
}

/* Point reads of keys that fall between a block's last key and its
 * shortened index separator: the index names that block, which has no entry
 * >= the key, so the lookup continues in the next block (and finds a
 * different user key: not found). Keys "b?xyz" with ? = 'a', 'd', 'g', ...
 * one per block give the separators "bb", "be", ... */
static void test_get_between_blocks(void)
{
    const char *dir = test_tmpdir("sst_between");
    char path[600];
    snprintf(path, sizeof(path), "%s/000040.sst", dir);
    sst_options o = opts(0);
    o.block_size = 1; /* one entry per block */
    o.bloom_bits_per_key = 0;
    sst_builder *b;
    REQUIRE(sst_builder_open(env_posix(), path, &o, &b) == 0);
    for (int i = 0; i < 8; i++) {
        char u[6] = {'b', (char)('a' + 3 * i), 'x', 'y', 'z', 0};
        uint8_t k[16];
        size_t kl = ikey_build(k, u, 5, (uint64_t)i + 1, TYPE_VALUE);
        REQUIRE(sst_builder_add(b, k, kl, u, 5) == 0);
    }
    sst_props p;
    REQUIRE(sst_builder_finish(b, &p) == 0);
    sst_props_free(&p);
    sst_reader *r;
    REQUIRE(sst_reader_open(env_posix(), path, 40, 0, NULL, &r) == 0);
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        char u[6] = {'b', (char)('a' + 3 * i), 'x', 'y', 'z', 0};
        void *val = NULL;
        size_t vl = 0;
        uint64_t seq = 0;
        if (sst_reader_get(r, u, 5, SEQ_MAX, NULL, &seq, &val, &vl) || vl != 5 ||
            memcmp(val, u, 5) || seq != (uint64_t)i + 1)
            bad++;
        free(val);
        u[2] = 'z'; /* "b?z": after the block's last key, before its separator */
        if (sst_reader_get(r, u, 3, SEQ_MAX, NULL, NULL, NULL, NULL) != ERR_NOTFOUND) bad++;
        if (sst_reader_get(r, u, 3, 2, NULL, NULL, NULL, NULL) != ERR_NOTFOUND) bad++;
        u[1]++; /* the separator's user key itself, at two snapshots */
        if (sst_reader_get(r, u, 2, SEQ_MAX, NULL, NULL, NULL, NULL) != ERR_NOTFOUND) bad++;
        if (sst_reader_get(r, u, 2, 3, NULL, NULL, NULL, NULL) != ERR_NOTFOUND) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    sst_reader_close(r);
}

int main(void)
{
    RUN(test_round_trip_compressions);
    RUN(test_get_snapshots);
    RUN(test_bloom_fp_rate);
    RUN(test_range_dels);
    RUN(test_iter_model);
    RUN(test_corruption);
    RUN(test_builder_abandon_and_errors);
    RUN(test_io_errors);
    RUN(test_long_keys);
    RUN(test_incompressible);
    RUN(test_cache_use);
    RUN(test_concurrent_readers);
    RUN(test_every_byte_flip);
    RUN(test_get_between_blocks);
    TEST_END();
}
