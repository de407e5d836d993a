/* Unit tests of version edits (manifest records), the merging iterator and
 * the table cache bound. */
#include "engine/cache.h"
#include "engine/dbformat.h"
#include "engine/memtable.h"
#include "engine/merge.h"
#include "engine/sst.h"
#include "engine/tablecache.h"
#include "engine/version.h"
#include "test.h"
#include "util/err.h"
#include "util/rand.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static file_meta *mkfile(uint32_t part, uint64_t number, const char *lo, const char *hi)
{
    file_meta *f = file_meta_new();
    f->part = part;
    f->number = number;
    f->size = 1000 + number;
    f->slen = strlen(lo) + 8;
    f->llen = strlen(hi) + 8;
    f->smallest = malloc(f->slen);
    f->largest = malloc(f->llen);
    ikey_build(f->smallest, lo, strlen(lo), 5, TYPE_VALUE);
    ikey_build(f->largest, hi, strlen(hi), 3, TYPE_DELETION);
    f->smallest_seq = 3;
    f->largest_seq = 9;
    f->entries = 77;
    f->range_dels = 2;
    return f;
}

static void test_edit_round_trip(void)
{
    version_edit e;
    version_edit_init(&e);
    e.has_log_number = e.has_next_file = e.has_last_seq = e.has_next_part = true;
    e.has_flushed_seq = true;
    e.log_number = 12;
    e.next_file = 99;
    e.last_seq = 123456789;
    e.flushed_seq = 1234;
    e.next_part = 7;
    CHECK_EQ_INT(version_edit_add_part(&e, 6, "events-2026-11"), 0);
    CHECK_EQ_INT(version_edit_drop_part(&e, 3), 0);
    CHECK_EQ_INT(version_edit_del_file(&e, 2, 6, 41), 0);
    CHECK_EQ_INT(version_edit_add_file(&e, 3, mkfile(6, 42, "apple", "zebra")), 0);
    uint8_t *buf;
    size_t len;
    REQUIRE(version_edit_encode(&e, &buf, &len) == 0);
    version_edit d;
    REQUIRE(version_edit_decode(&d, buf, len) == 0);
    CHECK(d.has_log_number && d.log_number == 12);
    CHECK(d.has_next_file && d.next_file == 99);
    CHECK(d.has_last_seq && d.last_seq == 123456789);
    CHECK(d.has_flushed_seq && d.flushed_seq == 1234);
    CHECK(d.has_next_part && d.next_part == 7);
    REQUIRE(d.nnew_parts == 1 && d.ndrop_parts == 1 && d.ndels == 1 && d.nadds == 1);
    CHECK(!strcmp(d.new_parts[0].name, "events-2026-11") && d.new_parts[0].id == 6);
    CHECK_EQ_INT(d.drop_parts[0], 3);
    CHECK(d.dels[0].level == 2 && d.dels[0].part == 6 && d.dels[0].number == 41);
    file_meta *f = d.adds[0].f;
    CHECK(d.adds[0].level == 3 && f->part == 6 && f->number == 42 && f->size == 1042);
    CHECK(f->slen == 13 && !memcmp(f->smallest, "apple", 5));
    CHECK(f->llen == 13 && !memcmp(f->largest, "zebra", 5));
    CHECK(f->smallest_seq == 3 && f->largest_seq == 9 && f->entries == 77 && f->range_dels == 2);
    /* every truncation and random corruption is rejected or decodes without
     * reading out of bounds (ASan watches) */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, buf, cut);
        version_edit x;
        if (version_edit_decode(&x, c, cut) == 0) version_edit_free(&x);
        free(c);
    }
    rng_t r;
    rng_seed(&r, 42);
    int rejected = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t *c = malloc(len);
        memcpy(c, buf, len);
        c[rng_next(&r) % len] ^= (uint8_t)(1 + rng_next(&r) % 255);
        version_edit x;
        if (version_edit_decode(&x, c, len) == 0)
            version_edit_free(&x);
        else
            rejected++;
        free(c);
    }
    CHECK(rejected > 0);
    uint8_t bad[] = {0x7f, 0x01};
    version_edit x;
    CHECK_EQ_INT(version_edit_decode(&x, bad, sizeof(bad)), ERR_CORRUPT);
    free(buf);
    version_edit_free(&d);
    version_edit_free(&e);
}

/* Reference: sorted array of internal keys. */
static int ik_order(const void *a, const void *b)
{
    const uint8_t *x = *(uint8_t *const *)a, *y = *(uint8_t *const *)b;
    return ikey_cmp(x + 1, x[0], y + 1, y[0]);
}

static void test_merge_iter(void)
{
    rng_t r;
    rng_seed(&r, test_seed());
    enum { NSRC = 5, N = 3000 };
    memtable *m[NSRC];
    for (int i = 0; i < NSRC; i++) m[i] = memtable_new();
    uint8_t **ref = malloc(sizeof(uint8_t *) * N);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "k%05u", (unsigned)(rng_next(&r) % 1000));
        uint64_t seq = (uint64_t)i + 1;
        int src = (int)(rng_next(&r) % NSRC);
        memtable_add(m[src], 0, seq, TYPE_VALUE, k, (size_t)kl, "v", 1);
        ref[i] = malloc((size_t)kl + 9);
        ref[i][0] = (uint8_t)(kl + 8);
        ikey_build(ref[i] + 1, k, (size_t)kl, seq, TYPE_VALUE);
    }
    qsort(ref, N, sizeof(*ref), ik_order);
    ikiter *kids[NSRC];
    for (int i = 0; i < NSRC; i++) kids[i] = memtable_iter(m[i], 0);
    ikiter *it = merge_iter_new(kids, NSRC);
    REQUIRE(it != NULL);
    int i = 0, bad = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), i++) {
        size_t kl;
        const uint8_t *k = iki_key(it, &kl);
        if (i >= N || kl != ref[i][0] || memcmp(k, ref[i] + 1, kl)) bad++;
    }
    CHECK_EQ_INT(i, N);
    i = N - 1;
    for (iki_seek_last(it); iki_valid(it); iki_prev(it), i--) {
        size_t kl;
        const uint8_t *k = iki_key(it, &kl);
        if (i < 0 || kl != ref[i][0] || memcmp(k, ref[i] + 1, kl)) bad++;
    }
    CHECK_EQ_INT(i, -1);
    /* random direction changes */
    int pos = N / 2;
    iki_seek(it, ref[pos] + 1, ref[pos][0]);
    for (int step = 0; step < 5000 && iki_valid(it); step++) {
        size_t kl;
        const uint8_t *k = iki_key(it, &kl);
        if (kl != ref[pos][0] || memcmp(k, ref[pos] + 1, kl)) {
            bad++;
            break;
        }
        if (rng_next(&r) & 1) {
            iki_next(it);
            pos++;
        } else {
            iki_prev(it);
            pos--;
        }
        if (pos < 0 || pos >= N) {
            CHECK(!iki_valid(it));
            break;
        }
    }
    /* seek_for_prev lands on the last key <= target */
    for (int t = 0; t < 200; t++) {
        int p = (int)(rng_next(&r) % N);
        it->ops->seek_for_prev(it, ref[p] + 1, ref[p][0]);
        size_t kl;
        if (!iki_valid(it)) {
            bad++;
            continue;
        }
        const uint8_t *k = iki_key(it, &kl);
        if (kl != ref[p][0] || memcmp(k, ref[p] + 1, kl)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    iki_destroy(it);
    for (int j = 0; j < N; j++) free(ref[j]);
    free(ref);
    for (int j = 0; j < NSRC; j++) memtable_unref(m[j]);
}

static void test_table_cache_bound(void)
{
    const char *dir = test_tmpdir("tablecache");
    block_cache *bc = block_cache_new(1 << 20);
    sst_options so = {4096, 16, 10, 0, 3};
    for (uint64_t n = 1; n <= 40; n++) {
        char path[PATH_MAX];
        table_path(path, sizeof(path), dir, n);
        sst_builder *b;
        REQUIRE(sst_builder_open(env_posix(), path, &so, &b) == 0);
        uint8_t k[32];
        size_t kl = ikey_build(k, "key", 3, n, TYPE_VALUE);
        REQUIRE(sst_builder_add(b, k, kl, "v", 1) == 0);
        sst_props p;
        memset(&p, 0, sizeof(p));
        REQUIRE(sst_builder_finish(b, &p) == 0);
        sst_props_free(&p);
    }
    table_cache *tc = table_cache_new(env_posix(), dir, 16, bc, true);
    tc_handle *pinned;
    sst_reader *pr;
    REQUIRE(table_cache_get(tc, 1, 0, &pinned, &pr) == 0);
    for (uint64_t n = 2; n <= 40; n++) {
        tc_handle *h;
        sst_reader *r;
        REQUIRE(table_cache_get(tc, n, 0, &h, &r) == 0);
        int type;
        uint64_t seq;
        CHECK_EQ_INT(sst_reader_get(r, "key", 3, SEQ_MAX, &type, &seq, NULL, NULL), 0);
        CHECK_EQ_INT(seq, n);
        table_cache_release(tc, h);
        CHECK(table_cache_open_count(tc) <= 16);
    }
    /* the pinned table survived eviction pressure */
    int type;
    uint64_t seq;
    CHECK_EQ_INT(sst_reader_get(pr, "key", 3, SEQ_MAX, &type, &seq, NULL, NULL), 0);
    CHECK_EQ_INT(seq, 1);
    table_cache_release(tc, pinned);
    tc_handle *h;
    sst_reader *r;
    CHECK_EQ_INT(table_cache_get(tc, 999, 0, &h, &r), ERR_NOTFOUND);
    table_cache_evict(tc, 5);
    table_cache_free(tc);
    block_cache_free(bc);
}

int main(void)
{
    RUN(test_edit_round_trip);
    RUN(test_merge_iter);
    RUN(test_table_cache_bound);
    TEST_END();
}
