/* Unit tests of engine/block: building and iterating prefix-compressed
 * blocks in both directions, seek edge cases, and malformed blocks (every
 * flipped byte, every truncation) that must end in ERR_CORRUPT or a clean
 * iteration, never a read outside the block (ASan checks that). */
#include "test.h"

#include "engine/block.h"
#include "engine/dbformat.h"
#include "util/coding.h"
#include "util/err.h"

#include <stdint.h>

static size_t mk(uint8_t *dst, int i, uint64_t seq)
{
    char u[32];
    /* Shared prefixes of varying length exercise prefix compression. */
    int n = snprintf(u, sizeof(u), "k%03d/%d", i / 10, i % 10);
    return ikey_build(dst, u, (size_t)n, seq, TYPE_VALUE);
}

/* A block with n entries (key i -> value "v<i>") built at restart interval ri. */
static block *build(int n, int ri)
{
    block_builder bb;
    block_builder_init(&bb, ri);
    for (int i = 0; i < n; i++) {
        uint8_t k[64];
        char v[16];
        size_t kl = mk(k, i, 5), vl = (size_t)snprintf(v, sizeof(v), "v%d", i);
        if (block_builder_add(&bb, k, kl, v, vl)) return NULL;
    }
    CHECK_EQ_INT(bb.entries, n);
    size_t len;
    const uint8_t *raw = block_builder_finish(&bb, &len);
    CHECK(len <= block_builder_size_estimate(&bb) + 8);
    uint8_t *copy = malloc(len);
    memcpy(copy, raw, len);
    block_builder_free(&bb);
    block *b;
    if (block_new(copy, len, "test block", &b)) return NULL;
    return b;
}

static bool at(ikiter *it, int i)
{
    if (!iki_valid(it)) return false;
    uint8_t k[64];
    char v[16];
    size_t kl = mk(k, i, 5), vl = (size_t)snprintf(v, sizeof(v), "v%d", i), gl, gv;
    const void *key = iki_key(it, &gl), *val = iki_value(it, &gv);
    return gl == kl && memcmp(key, k, kl) == 0 && gv == vl && memcmp(val, v, vl) == 0;
}

static void test_iterate_both_ways(void)
{
    int sizes[] = {1, 2, 15, 16, 17, 200};
    int intervals[] = {1, 2, 16};
    for (size_t s = 0; s < 6; s++)
        for (size_t r = 0; r < 3; r++) {
            int n = sizes[s];
            block *b = build(n, intervals[r]);
            REQUIRE(b);
            ikiter *it = block_iter_new(b, "test");
            int i = 0;
            for (iki_seek_first(it); iki_valid(it); iki_next(it), i++) CHECK(at(it, i));
            CHECK_EQ_INT(i, n);
            i = n - 1;
            for (iki_seek_last(it); iki_valid(it); iki_prev(it), i--) CHECK(at(it, i));
            CHECK_EQ_INT(i, -1);
            /* Zig-zag: next then prev returns to the same entry. */
            iki_seek_first(it);
            for (i = 0; i + 1 < n; i++) {
                iki_next(it);
                iki_prev(it);
                CHECK(at(it, i));
                iki_next(it);
            }
            CHECK_EQ_INT(iki_status(it), 0);
            iki_destroy(it);
            block_unref(b);
        }
}

static void test_seek_edges(void)
{
    const int n = 100;
    block *b = build(n, 4);
    REQUIRE(b);
    ikiter *it = block_iter_new(b, "test");
    uint8_t k[64];
    for (int i = 0; i < n; i++) {
        /* Exact key (same seq): found. A newer seq sorts first: found too. */
        size_t kl = mk(k, i, 5);
        iki_seek(it, k, kl);
        CHECK(at(it, i));
        it->ops->seek_for_prev(it, k, kl);
        CHECK(at(it, i));
        kl = mk(k, i, 9);
        iki_seek(it, k, kl);
        CHECK(at(it, i));
        it->ops->seek_for_prev(it, k, kl);
        if (i == 0)
            CHECK(!iki_valid(it));
        else
            CHECK(at(it, i - 1));
        /* An older seq sorts after the entry. */
        kl = mk(k, i, 1);
        iki_seek(it, k, kl);
        if (i == n - 1)
            CHECK(!iki_valid(it));
        else
            CHECK(at(it, i + 1));
        it->ops->seek_for_prev(it, k, kl);
        CHECK(at(it, i));
    }
    /* Before the first and after the last. */
    size_t kl = ikey_build(k, "", 0, 0, TYPE_VALUE);
    iki_seek(it, k, kl);
    CHECK(at(it, 0));
    it->ops->seek_for_prev(it, k, kl);
    CHECK(!iki_valid(it));
    kl = ikey_build(k, "zzz", 3, 0, TYPE_VALUE);
    iki_seek(it, k, kl);
    CHECK(!iki_valid(it));
    it->ops->seek_for_prev(it, k, kl);
    CHECK(at(it, n - 1));
    /* prev off the front and next off the back end the iteration. */
    iki_seek_first(it);
    iki_prev(it);
    CHECK(!iki_valid(it));
    iki_seek_last(it);
    iki_next(it);
    CHECK(!iki_valid(it));
    CHECK_EQ_INT(iki_status(it), 0);
    iki_destroy(it);
    block_unref(b);
}

static void test_empty_block(void)
{
    block *b = build(0, 16);
    REQUIRE(b);
    CHECK_EQ_INT(b->size, 8);
    ikiter *it = block_iter_new(b, "empty");
    uint8_t k[16];
    size_t kl = ikey_build(k, "a", 1, 1, TYPE_VALUE);
    iki_seek_first(it);
    CHECK(!iki_valid(it));
    iki_seek_last(it);
    CHECK(!iki_valid(it));
    iki_seek(it, k, kl);
    CHECK(!iki_valid(it));
    it->ops->seek_for_prev(it, k, kl);
    CHECK(!iki_valid(it));
    CHECK_EQ_INT(iki_status(it), 0);
    iki_destroy(it);
    block_unref(b);
}

static void test_bad_trailers(void)
{
    block *b;
    uint8_t *d = malloc(3);
    CHECK_EQ_INT(block_new(d, 3, "t", &b), ERR_CORRUPT); /* too short */
    d = calloc(1, 8);
    CHECK_EQ_INT(block_new(d, 8, "t", &b), ERR_CORRUPT); /* zero restarts */
    d = calloc(1, 8);
    put_u32(d + 4, 5);
    CHECK_EQ_INT(block_new(d, 8, "t", &b), ERR_CORRUPT); /* more restarts than room */
    d = calloc(1, 16);
    put_u32(d + 8, 9); /* first restart must be 0 */
    put_u32(d + 12, 1);
    CHECK_EQ_INT(block_new(d, 16, "t", &b), ERR_CORRUPT);
    CHECK(strstr(err_msg(), "t: ") != NULL);
    d = calloc(1, 20);
    put_u32(d + 8, 0); /* second restart beyond the entries */
    put_u32(d + 12, 8);
    put_u32(d + 16, 2);
    CHECK_EQ_INT(block_new(d, 20, "t", &b), ERR_CORRUPT);
    d = calloc(1, 8); /* an empty block is fine */
    put_u32(d + 4, 1);
    REQUIRE(block_new(d, 8, "t", &b) == 0);
    block_unref(b);
}

/* An entry whose key is shorter than an internal-key trailer. */
static void test_short_key_entry(void)
{
    uint8_t *d = malloc(16), *p = d;
    *p++ = 0; /* shared */
    *p++ = 3; /* unshared */
    *p++ = 1; /* vlen */
    memcpy(p, "abcV", 4);
    p += 4;
    put_u32(p, 0);
    p += 4;
    put_u32(p, 1);
    p += 4;
    block *b;
    REQUIRE(block_new(d, (size_t)(p - d), "short", &b) == 0);
    ikiter *it = block_iter_new(b, "short");
    iki_seek_first(it);
    CHECK(!iki_valid(it));
    CHECK_EQ_INT(iki_status(it), ERR_CORRUPT);
    CHECK(strstr(err_msg(), "short") != NULL);
    iki_destroy(it);
    block_unref(b);
}

/* Walks a possibly corrupt block every way; bounded; returns its status. */
static int exercise(block *b)
{
    ikiter *it = block_iter_new(b, "fuzz");
    if (!it) return ERR_NOMEM;
    int steps = 0, bad = 0;
    for (iki_seek_first(it); iki_valid(it) && steps < 10000; iki_next(it)) steps++;
    for (iki_seek_last(it); iki_valid(it) && steps < 20000; iki_prev(it)) steps++;
    uint8_t k[64];
    for (int i = 0; i < 40; i += 3) {
        size_t kl = mk(k, i, 5);
        iki_seek(it, k, kl);
        if (iki_valid(it)) {
            size_t l;
            iki_key(it, &l);
            if (l < IKEY_TRAILER) bad++;
            iki_prev(it);
        }
        it->ops->seek_for_prev(it, k, kl);
        if (iki_valid(it)) iki_next(it);
    }
    int rc = iki_status(it);
    iki_destroy(it);
    /* The point lookup on the same bytes: an entry, the end, or corruption. */
    block_entry e;
    block_entry_init(&e);
    for (int i = 0; i < 40; i += 3) {
        size_t kl = mk(k, i, 5);
        int f = block_find(b, k, kl, &e, "fuzz", 0);
        CHECK(f == 0 || f == 1 || f == ERR_CORRUPT);
        if (f == 1 && e.klen < IKEY_TRAILER) bad++;
        if (f == ERR_CORRUPT && !rc) rc = f;
    }
    block_entry_free(&e);
    CHECK(steps < 20000);
    CHECK_EQ_INT(bad, 0);
    return rc;
}

/* Keys for test_find_matches_seek: style 0 short keys, style 1 keys with a
 * long shared prefix that differ only past the accelerator's 8 bytes, style
 * 2 keys of different lengths (prefixes of each other). */
static size_t mk_style(uint8_t *dst, int style, int i, uint64_t seq)
{
    char u[64];
    int n;
    if (style == 0)
        n = snprintf(u, sizeof(u), "k%05d", i);
    else if (style == 1)
        n = snprintf(u, sizeof(u), "prefix/shared/0123456789abcdef/%06d", i);
    else
        n = snprintf(u, sizeof(u), "%.*s", 1 + i % 20, "zzzzzzzzzzzzzzzzzzzzzzzzz") +
            snprintf(u + 1 + i % 20, sizeof(u) - 21, "%04d", i / 20);
    return ikey_build(dst, u, (size_t)n, seq, TYPE_VALUE);
}

/* block_find (with and without the accelerator) lands on the entry an
 * iterator seek lands on, for present keys, absent keys between them, keys
 * before and after all, and every sequence relation. */
static void test_find_matches_seek(void)
{
    int sizes[] = {1, 2, 17, 70, 300};
    int intervals[] = {1, 2, 16};
    int checked = 0, accelerated = 0;
    for (int style = 0; style < 3; style++)
        for (size_t s = 0; s < 5; s++)
            for (size_t r = 0; r < 3; r++)
                for (int acc = 0; acc < 2; acc++) {
                    int n = sizes[s];
                    /* keys in order: for style 2, sort by building ascending strings */
                    uint8_t(*keys)[96] = malloc(sizeof(*keys) * (size_t)n);
                    size_t *lens = malloc(sizeof(size_t) * (size_t)n);
                    int m = 0;
                    for (int i = 0; i < n; i++) {
                        uint8_t k[96];
                        size_t kl = mk_style(k, style, i, 5);
                        int j = m;
                        while (j > 0 && ikey_cmp(keys[j - 1], lens[j - 1], k, kl) > 0) j--;
                        if (j > 0 && ikey_cmp(keys[j - 1], lens[j - 1], k, kl) == 0) continue;
                        memmove(keys[j + 1], keys[j], sizeof(*keys) * (size_t)(m - j));
                        memmove(lens + j + 1, lens + j, sizeof(size_t) * (size_t)(m - j));
                        memcpy(keys[j], k, kl);
                        lens[j] = kl;
                        m++;
                    }
                    block_builder bb;
                    block_builder_init(&bb, intervals[r]);
                    for (int i = 0; i < m; i++)
                        REQUIRE(block_builder_add(&bb, keys[i], lens[i], "v", 1) == 0);
                    size_t len;
                    const uint8_t *raw = block_builder_finish(&bb, &len);
                    uint8_t *copy = malloc(len);
                    memcpy(copy, raw, len);
                    block_builder_free(&bb);
                    block *b;
                    REQUIRE(block_new(copy, len, "find", &b) == 0);
                    if (acc) REQUIRE(block_accelerate(b) == 0);
                    if (b->accel) accelerated++;
                    ikiter *it = block_iter_new(b, "find");
                    block_entry e;
                    block_entry_init(&e);
                    for (int i = -1; i <= m; i++)
                        for (int v = 0; v < 4; v++) {
                            uint8_t q[120];
                            size_t ql;
                            if (i < 0) {
                                ql = ikey_build(q, "", 0, 9, TYPE_SEEK);
                            } else if (i == m) {
                                ql = ikey_build(q, "\xff\xff\xff", 3, 9, TYPE_SEEK);
                            } else {
                                size_t ul = lens[i] - IKEY_TRAILER;
                                memcpy(q, keys[i], ul);
                                if (v == 3) q[ul++] = 0; /* just after key i */
                                uint64_t seqs[] = {4, 5, 9, 5};
                                ql = ikey_build(q, q, ul, seqs[v], TYPE_SEEK);
                            }
                            iki_seek(it, q, ql);
                            int f = block_find(b, q, ql, &e, "find", 0);
                            CHECK_EQ_INT(f, iki_valid(it) ? 1 : 0);
                            if (f == 1 && iki_valid(it)) {
                                size_t kl, vl;
                                const void *k = iki_key(it, &kl), *val = iki_value(it, &vl);
                                CHECK(kl == e.klen && memcmp(k, e.key, kl) == 0);
                                CHECK(vl == e.vlen && memcmp(val, e.val, vl) == 0);
                            }
                            checked++;
                        }
                    block_entry_free(&e);
                    iki_destroy(it);
                    block_unref(b);
                    free(keys);
                    free(lens);
                }
    CHECK(checked > 1000);
    CHECK(accelerated > 0);
}

static void test_corrupt_bytes(void)
{
    block_builder bb;
    block_builder_init(&bb, 3);
    for (int i = 0; i < 30; i++) {
        uint8_t k[64];
        size_t kl = mk(k, i, 5);
        REQUIRE(block_builder_add(&bb, k, kl, "val", 3) == 0);
    }
    size_t len;
    const uint8_t *raw = block_builder_finish(&bb, &len);
    uint8_t xs[] = {0x01, 0x80, 0xff, 0x7f};
    int corrupt = 0, total = 0;
    for (size_t off = 0; off < len; off++)
        for (size_t x = 0; x < sizeof(xs); x++) {
            uint8_t *d = malloc(len); /* exact size: ASan sees any overrun */
            memcpy(d, raw, len);
            d[off] ^= xs[x];
            block *b;
            total++;
            if (block_new(d, len, "fuzz", &b)) {
                corrupt++;
                continue;
            }
            int rc = exercise(b);
            CHECK(rc == 0 || rc == ERR_CORRUPT);
            if (rc) corrupt++;
            block_unref(b);
        }
    /* Most flips of lengths and restarts are caught by the structure alone. */
    CHECK(corrupt > 0);
    fprintf(stderr, "structurally detected %d of %d flips\n", corrupt, total);
    /* Every truncation. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *d = malloc(n ? n : 1);
        memcpy(d, raw, n);
        block *b;
        if (block_new(d, n, "trunc", &b)) continue;
        int rc = exercise(b);
        CHECK(rc == 0 || rc == ERR_CORRUPT);
        block_unref(b);
    }
    block_builder_free(&bb);
}

static int released;
static void on_release(block *b, void *arg)
{
    released += *(int *)arg;
    free((void *)b->data);
    free(b);
}

static void test_refcount_release(void)
{
    block *b = build(5, 2);
    REQUIRE(b);
    int one = 1;
    b->release = on_release;
    b->release_arg = &one;
    released = 0;
    ikiter *it = block_iter_new(b, "ref");
    block_ref(b);
    block_unref(b);
    block_unref(b); /* the iterator still holds one */
    CHECK_EQ_INT(released, 0);
    iki_seek_first(it);
    CHECK(at(it, 0));
    iki_destroy(it);
    CHECK_EQ_INT(released, 1);
    block_unref(NULL);
}

static void test_builder_reset_reuse(void)
{
    block_builder bb;
    block_builder_init(&bb, 0); /* 0 means the default interval */
    uint8_t k[64];
    size_t kl = mk(k, 1, 1);
    REQUIRE(block_builder_add(&bb, k, kl, "x", 1) == 0);
    CHECK(!block_builder_empty(&bb));
    block_builder_reset(&bb);
    CHECK(block_builder_empty(&bb));
    for (int i = 0; i < 50; i++) {
        char v[16];
        kl = mk(k, i, 5);
        size_t vl = (size_t)snprintf(v, sizeof(v), "v%d", i);
        REQUIRE(block_builder_add(&bb, k, kl, v, vl) == 0);
    }
    size_t len;
    const uint8_t *raw = block_builder_finish(&bb, &len);
    uint8_t *d = malloc(len);
    memcpy(d, raw, len);
    block *b;
    REQUIRE(block_new(d, len, "reuse", &b) == 0);
    ikiter *it = block_iter_new(b, "reuse");
    int i = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), i++) CHECK(at(it, i));
    CHECK_EQ_INT(i, 50);
    iki_destroy(it);
    block_unref(b);
    block_builder_free(&bb);
}

/* ---- the header's restart numbers and the index accelerator, against a
 * linear scan ---- */

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int ikey_qcmp(const void *a, const void *b)
{
    const uint8_t *x = a, *y = b; /* [len u8 | key bytes] records */
    return ikey_cmp(x + 1, x[0], y + 1, y[0]);
}

/* The first entry >= q by walking the whole block: 1 with it in *k, 0 if none. */
static int linear_find(block *b, const uint8_t *q, size_t ql, uint8_t *k, size_t *kl)
{
    ikiter *it = block_iter_new(b, "linear");
    int found = 0;
    CHECK(it);
    if (!it) return -1;
    for (iki_seek_first(it); iki_valid(it); iki_next(it)) {
        size_t n;
        const void *key = iki_key(it, &n);
        if (ikey_cmp(key, n, q, ql) >= 0) {
            memcpy(k, key, n);
            *kl = n;
            found = 1;
            break;
        }
    }
    CHECK_EQ_INT(iki_status(it), 0);
    iki_destroy(it);
    return found;
}

/* Random user keys over a tiny alphabet (0x00, 0x01, '0', 0xff) with a
 * shared head of random length, several versions of some of them, built at
 * intervals that leave at most 16 restarts (the header's numbers) or, with
 * interval 1 and a short last key, an accelerated index. Every query (each
 * user key at several snapshots, just after it, its prefixes, random keys)
 * must find what a linear scan finds. */
static void test_numbers_match_linear(void)
{
    static const uint8_t alpha[] = {0x00, 0x01, '0', 0xff};
    uint64_t x = test_seed() | 1;
    int with_nums = 0, with_accel = 0, queries = 0;
    for (int round = 0; round < 300; round++) {
        int accel = round % 3 == 2;
        int n = accel ? 70 + (int)(xs(&x) % 100) : 1 + (int)(xs(&x) % 60);
        int interval = accel ? 1 : 1 + (int)(xs(&x) % 5);
        size_t head = xs(&x) % 30; /* bytes every key shares */
        uint8_t headb[32];
        for (size_t j = 0; j < head; j++) headb[j] = alpha[xs(&x) % 4];
        uint8_t(*recs)[64] = calloc((size_t)n + 1, sizeof(*recs));
        REQUIRE(recs);
        int m = 0;
        while (m < n) {
            uint8_t u[40];
            size_t ul = head + xs(&x) % 9;
            memcpy(u, headb, head);
            for (size_t j = head; j < ul; j++) u[j] = alpha[xs(&x) % 4];
            if (ul && xs(&x) % 8 == 0) ul--; /* now and then shorter than the head */
            int versions = xs(&x) % 4 == 0 ? 1 + (int)(xs(&x) % 3) : 1;
            for (int v = 0; v < versions && m < n; v++) {
                recs[m][0] = (uint8_t)ikey_build(recs[m] + 1, u, ul, 10 + xs(&x) % 20,
                                                 xs(&x) % 5 ? TYPE_VALUE : TYPE_DELETION);
                m++;
            }
        }
        qsort(recs, (size_t)m, sizeof(*recs), ikey_qcmp);
        if (accel) { /* a last key that shares no prefix with the rest */
            recs[m][0] = (uint8_t)ikey_build(recs[m] + 1, "\xff\xff\xff\xff", 4, 1, TYPE_VALUE);
            if (ikey_qcmp(recs[m - 1], recs[m]) < 0) m++;
        }
        block_builder bb;
        block_builder_init(&bb, interval);
        int added = 0;
        for (int i = 0; i < m; i++) { /* skip exact duplicates */
            if (i && ikey_qcmp(recs[i - 1], recs[i]) == 0) continue;
            REQUIRE(block_builder_add(&bb, recs[i] + 1, recs[i][0], "v", 1) == 0);
            added++;
        }
        size_t len;
        const uint8_t *raw = block_builder_finish(&bb, &len);
        uint8_t *copy = malloc(len);
        REQUIRE(copy);
        memcpy(copy, raw, len);
        block_builder_free(&bb);
        block *b;
        REQUIRE(block_new(copy, len, "nums", &b) == 0);
        if (accel) REQUIRE(block_accelerate(b) == 0);
        with_nums += b->nums;
        with_accel += b->accel != NULL;
        CHECK(!(b->nums && b->accel));
        if (b->n_restarts <= BLOCK_INLINE_RESTARTS) CHECK(b->nums);
        block_entry e;
        block_entry_init(&e);
        for (int i = 0; i < m + 20; i++)
            for (int v = 0; v < 5; v++) {
                uint8_t u[48], q[64], want[64];
                size_t ul;
                if (i < m) {
                    ul = recs[i][0] - IKEY_TRAILER;
                    memcpy(u, recs[i] + 1, ul);
                    if (v == 3) u[ul++] = 0;            /* just after it */
                    if (v == 4) ul = xs(&x) % (ul + 1); /* a prefix of it */
                } else {                                /* random, often with the head */
                    ul = xs(&x) % 2 ? head : 0;
                    memcpy(u, headb, ul);
                    for (size_t j = xs(&x) % 9; j > 0; j--) u[ul++] = alpha[xs(&x) % 4];
                }
                uint64_t seqs[] = {5, 15, 22, SEQ_MAX, 40};
                size_t ql = ikey_build(q, u, ul, seqs[v], TYPE_SEEK), wl = 0;
                int want_f = linear_find(b, q, ql, want, &wl);
                int f = block_find(b, q, ql, &e, "nums", 0);
                CHECK_EQ_INT(f, want_f);
                if (f == 1 && want_f == 1) CHECK(e.klen == wl && memcmp(e.key, want, wl) == 0);
                queries++;
            }
        block_entry_free(&e);
        block_unref(b);
        free(recs);
    }
    CHECK(with_nums > 100);
    CHECK(with_accel > 50);
    CHECK(queries > 50000);
}

/* A block with more restarts than the header holds, or one beyond 64 KiB,
 * carries no numbers and is searched through its restart array. */
static void test_no_inline_restarts(void)
{
    block *b = build(BLOCK_INLINE_RESTARTS + 1, 1);
    REQUIRE(b);
    CHECK(!b->nums && !b->inline_restarts);
    block_entry e;
    block_entry_init(&e);
    for (int i = 0; i <= BLOCK_INLINE_RESTARTS; i++) {
        uint8_t k[64];
        size_t kl = mk(k, i, 5);
        CHECK_EQ_INT(block_find(b, k, kl, &e, "wide", 0), 1);
        CHECK(e.klen == kl && memcmp(e.key, k, kl) == 0);
    }
    block_entry_free(&e);
    block_unref(b);
    b = build(BLOCK_INLINE_RESTARTS, 1);
    REQUIRE(b);
    CHECK(b->nums && b->inline_restarts);
    block_unref(b);
}

int main(void)
{
    RUN(test_iterate_both_ways);
    RUN(test_seek_edges);
    RUN(test_empty_block);
    RUN(test_bad_trailers);
    RUN(test_short_key_entry);
    RUN(test_corrupt_bytes);
    RUN(test_refcount_release);
    RUN(test_find_matches_seek);
    RUN(test_builder_reset_reuse);
    RUN(test_numbers_match_linear);
    RUN(test_no_inline_restarts);
    TEST_END();
}
