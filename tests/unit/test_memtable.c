/* Unit tests of engine/memtable: point reads at snapshots, versions and
 * deletions against a model, iterators in both directions with seek and
 * seek_for_prev per partition, range tombstones, partition ids anywhere in
 * uint32_t, memory accounting, and readers running while the writer adds
 * 100k entries (threads, under ASan); the whole-key filter (no false
 * negatives, a bounded false-positive rate, its bytes charged) and
 * memtable_add_many (the same list as memtable_add one by one, with and
 * without concurrent readers). */
#include "test.h"

#include "engine/dbformat.h"
#include "engine/memtable.h"
#include "util/err.h"
#include "util/rand.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static rng_t R;

static int get_str(memtable *m, uint32_t part, const char *k, uint64_t snap, int *type,
                   uint64_t *seq, char *out, size_t outsz)
{
    const void *v;
    size_t vl;
    int rc = memtable_get(m, part, k, strlen(k), snap, type, seq, &v, &vl);
    if (rc == 0) {
        size_t n = vl < outsz - 1 ? vl : outsz - 1;
        memcpy(out, v, n);
        out[n] = 0;
    }
    return rc;
}

static int put(memtable *m, uint32_t part, uint64_t seq, const char *k, const char *v)
{
    return memtable_add(m, part, seq, TYPE_VALUE, k, strlen(k), v, strlen(v));
}
static int del(memtable *m, uint32_t part, uint64_t seq, const char *k)
{
    return memtable_add(m, part, seq, TYPE_DELETION, k, strlen(k), NULL, 0);
}

static void test_get_snapshots(void)
{
    memtable *m = memtable_new();
    REQUIRE(m);
    CHECK(memtable_empty(m));
    CHECK_EQ_INT(memtable_first_seq(m), 0);
    CHECK_EQ_INT(put(m, 0, 10, "k", "v10"), 0);
    CHECK_EQ_INT(put(m, 0, 20, "k", "v20"), 0);
    CHECK_EQ_INT(del(m, 0, 30, "k"), 0);
    CHECK_EQ_INT(put(m, 0, 15, "k1", "other"), 0); /* "k" is a prefix of "k1" */
    CHECK_EQ_INT(put(m, 0, 5, "", "empty key"), 0);
    CHECK_EQ_INT(put(m, 0, 40, "j", ""), 0); /* empty value */
    CHECK(!memtable_empty(m));
    CHECK_EQ_INT(memtable_entries(m), 6);
    CHECK_EQ_INT(memtable_first_seq(m), 5);
    CHECK_EQ_INT(memtable_last_seq(m), 40);
    int type;
    uint64_t seq;
    char buf[64];
    CHECK_EQ_INT(get_str(m, 0, "k", 9, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    for (uint64_t s = 10; s < 20; s++) {
        CHECK_EQ_INT(get_str(m, 0, "k", s, &type, &seq, buf, sizeof(buf)), 0);
        CHECK(type == TYPE_VALUE && seq == 10 && strcmp(buf, "v10") == 0);
    }
    CHECK_EQ_INT(get_str(m, 0, "k", 29, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(type == TYPE_VALUE && seq == 20 && strcmp(buf, "v20") == 0);
    CHECK_EQ_INT(get_str(m, 0, "k", 30, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(type == TYPE_DELETION && seq == 30);
    /* Snapshots beyond the 56-bit sequence space mean "latest". */
    CHECK_EQ_INT(get_str(m, 0, "k", UINT64_MAX, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(type == TYPE_DELETION && seq == 30);
    CHECK_EQ_INT(get_str(m, 0, "k1", SEQ_MAX, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(strcmp(buf, "other") == 0);
    CHECK_EQ_INT(get_str(m, 0, "k1", 14, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    CHECK_EQ_INT(get_str(m, 0, "", SEQ_MAX, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(strcmp(buf, "empty key") == 0);
    CHECK_EQ_INT(get_str(m, 0, "j", SEQ_MAX, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(type == TYPE_VALUE && buf[0] == 0);
    CHECK_EQ_INT(get_str(m, 0, "k0", SEQ_MAX, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    CHECK_EQ_INT(get_str(m, 0, "kk", SEQ_MAX, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    CHECK_EQ_INT(get_str(m, 1, "k", SEQ_MAX, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    /* Keys longer than the lookup's stack buffer. */
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK_EQ_INT(put(m, 0, 50, big, "long"), 0);
    CHECK_EQ_INT(get_str(m, 0, big, SEQ_MAX, &type, &seq, buf, sizeof(buf)), 0);
    CHECK(strcmp(buf, "long") == 0);
    big[500] = 0;
    CHECK_EQ_INT(get_str(m, 0, big, SEQ_MAX, &type, &seq, buf, sizeof(buf)), ERR_NOTFOUND);
    /* Lengths beyond the node's 32-bit fields are refused, not truncated. */
    CHECK_EQ_INT(memtable_add(m, 0, 60, TYPE_VALUE, "k", (size_t)UINT32_MAX, "v", 1), ERR_TOOBIG);
    CHECK_EQ_INT(memtable_add(m, 0, 60, TYPE_VALUE, "k", (size_t)1 << 28, "v", 1), ERR_TOOBIG);
    CHECK_EQ_INT(memtable_add(m, 0, 60, TYPE_VALUE, "k", 1, "v", (size_t)UINT32_MAX + 1),
                 ERR_TOOBIG);
    memtable_unref(m);
}

/* ---- a model: per key, versions (seq, type, value) ---- */
#define NKEYS 64
typedef struct ver {
    uint64_t seq;
    int type;
    uint32_t val;
} ver;
typedef struct model {
    ver v[NKEYS][64];
    int n[NKEYS];
} model;

static void key_of(int i, char *k)
{
    /* Varying lengths and shared prefixes. */
    snprintf(k, 16, "%.*s%d", i % 3, "pp", i);
}

static void test_versions_model(void)
{
    static model md;
    memset(&md, 0, sizeof(md));
    memtable *m = memtable_new();
    uint64_t seq = 0;
    for (int i = 0; i < 3000; i++) {
        int k = (int)rng_below(&R, NKEYS);
        if (md.n[k] == 64) continue;
        seq += 1 + rng_below(&R, 3);
        char key[16];
        key_of(k, key);
        int type = rng_below(&R, 4) == 0 ? TYPE_DELETION : TYPE_VALUE;
        uint32_t val = (uint32_t)rng_next(&R);
        REQUIRE(memtable_add(m, 3, seq, type, key, strlen(key), &val, type == TYPE_VALUE ? 4 : 0) ==
                0);
        md.v[k][md.n[k]++] = (ver){seq, type, val};
    }
    for (int q = 0; q < 20000; q++) {
        int k = (int)rng_below(&R, NKEYS);
        uint64_t snap = rng_below(&R, seq + 2);
        const ver *want = NULL;
        for (int i = 0; i < md.n[k]; i++)
            if (md.v[k][i].seq <= snap) want = &md.v[k][i];
        char key[16];
        key_of(k, key);
        int type;
        uint64_t s;
        const void *v;
        size_t vl;
        int rc = memtable_get(m, 3, key, strlen(key), snap, &type, &s, &v, &vl);
        if (!want) {
            CHECK_EQ_INT(rc, ERR_NOTFOUND);
            continue;
        }
        REQUIRE(rc == 0);
        CHECK(s == want->seq && type == want->type);
        if (type == TYPE_VALUE) CHECK(vl == 4 && memcmp(v, &want->val, 4) == 0);
        if (type == TYPE_DELETION) CHECK_EQ_INT(vl, 0);
    }
    memtable_unref(m);
}

/* ---- iterators ---- */
typedef struct ent {
    char key[16];
    uint64_t seq;
    int type;
} ent;

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    int c = ukey_cmp(x->key, strlen(x->key), y->key, strlen(y->key));
    if (c) return c;
    return x->seq > y->seq ? -1 : x->seq < y->seq; /* newest first */
}

static int same_entry(ikiter *it, const ent *e)
{
    size_t n;
    const uint8_t *k = iki_key(it, &n);
    size_t kl = strlen(e->key);
    return n == kl + IKEY_TRAILER && memcmp(k, e->key, kl) == 0 && ikey_seq(k, n) == e->seq &&
           ikey_type(k, n) == e->type;
}

static void seek_key(uint8_t *buf, size_t *n, const char *k, uint64_t seq)
{
    *n = ikey_build(buf, k, strlen(k), seq, TYPE_SEEK);
}

static void check_partition_iter(memtable *m, uint32_t part, ent *es, int n)
{
    qsort(es, (size_t)n, sizeof(*es), ent_cmp);
    ikiter *it = memtable_iter(m, part);
    REQUIRE(it);
    int i = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), i++)
        if (i >= n || !same_entry(it, &es[i])) break;
    CHECK_EQ_INT(i, n);
    i = n - 1;
    for (iki_seek_last(it); iki_valid(it); iki_prev(it), i--)
        if (i < 0 || !same_entry(it, &es[i])) break;
    CHECK_EQ_INT(i, -1);
    CHECK_EQ_INT(iki_status(it), 0);
    /* seek(k, snap): the first entry >= (k, snap); seek_for_prev: the last <= it. */
    for (int q = 0; q < 300 && n; q++) {
        const ent *e = &es[rng_below(&R, (uint64_t)n)];
        char k[20];
        snprintf(k, sizeof(k), "%s%s", e->key, rng_below(&R, 4) == 0 ? "!" : "");
        uint64_t snap = rng_below(&R, 2) ? e->seq : rng_below(&R, 1000);
        uint8_t sk[40];
        size_t skn;
        seek_key(sk, &skn, k, snap);
        int ge = -1, le = -1;
        for (int j = 0; j < n; j++) {
            uint8_t ek[40];
            size_t ekn = ikey_build(ek, es[j].key, strlen(es[j].key), es[j].seq, es[j].type);
            int c = ikey_cmp(ek, ekn, sk, skn);
            if (c >= 0 && ge < 0) ge = j;
            if (c <= 0) le = j;
        }
        iki_seek(it, sk, skn);
        if (ge < 0)
            CHECK(!iki_valid(it));
        else
            CHECK(iki_valid(it) && same_entry(it, &es[ge]));
        it->ops->seek_for_prev(it, sk, skn);
        if (le < 0)
            CHECK(!iki_valid(it));
        else
            CHECK(iki_valid(it) && same_entry(it, &es[le]));
        /* An exact internal key is found by both. */
        uint8_t ek[40];
        size_t ekn = ikey_build(ek, e->key, strlen(e->key), e->seq, e->type);
        iki_seek(it, ek, ekn);
        CHECK(iki_valid(it) && same_entry(it, e));
        it->ops->seek_for_prev(it, ek, ekn);
        CHECK(iki_valid(it) && same_entry(it, e));
    }
    iki_destroy(it);
}

static void test_iterators_partitions(void)
{
    memtable *m = memtable_new();
    uint32_t parts[] = {0, 7, 1u << 31, UINT32_MAX, 0xdeadbeef};
    enum { NP = 5, PER = 400 };
    static ent es[NP][PER];
    uint64_t seq = 1;
    for (int i = 0; i < PER; i++)
        for (int p = 0; p < NP; p++) {
            ent *e = &es[p][i];
            snprintf(e->key, sizeof(e->key), "%c%d", 'a' + (int)rng_below(&R, 5),
                     (int)rng_below(&R, 50));
            e->seq = seq++;
            e->type = rng_below(&R, 5) == 0 ? TYPE_DELETION : TYPE_VALUE;
            REQUIRE(memtable_add(m, parts[p], e->seq, e->type, e->key, strlen(e->key), "v",
                                 e->type == TYPE_VALUE) == 0);
        }
    /* Many more partitions to grow the partition table. */
    for (uint32_t p = 100; p < 400; p++) REQUIRE(put(m, p * 7919u, seq++, "x", "y") == 0);
    uint32_t ids[512];
    int n = memtable_partitions(m, ids, 512);
    CHECK_EQ_INT(n, NP + 300);
    for (int i = 1; i < n && i < 512; i++) CHECK(ids[i - 1] < ids[i]);
    CHECK_EQ_INT(memtable_partitions(m, ids, 2), NP + 300); /* count even if max is small */
    for (int p = 0; p < NP; p++) check_partition_iter(m, parts[p], es[p], PER);
    /* An absent partition iterates as empty; it appears once written. */
    ikiter *it = memtable_iter(m, 12345);
    iki_seek_first(it);
    CHECK(!iki_valid(it));
    iki_seek_last(it);
    CHECK(!iki_valid(it));
    uint8_t sk[16];
    size_t skn;
    seek_key(sk, &skn, "x", SEQ_MAX);
    iki_seek(it, sk, skn);
    CHECK(!iki_valid(it));
    it->ops->seek_for_prev(it, sk, skn);
    CHECK(!iki_valid(it));
    REQUIRE(put(m, 12345, seq++, "x", "late") == 0);
    iki_seek_first(it);
    CHECK(iki_valid(it));
    /* The iterator keeps the memtable alive after its creator lets go. */
    memtable_unref(m);
    size_t vn;
    const void *v = iki_value(it, &vn);
    CHECK(vn == 4 && memcmp(v, "late", 4) == 0);
    iki_next(it);
    CHECK(!iki_valid(it));
    iki_destroy(it);
}

static void test_range_dels(void)
{
    memtable *m = memtable_new();
    CHECK(!memtable_has_range_dels(m, 1));
    CHECK_EQ_INT(memtable_add_range_del(m, 1, 50, "b", 1, "d", 1), 0);
    CHECK(!memtable_empty(m)); /* a tombstone alone makes the memtable non-empty */
    CHECK_EQ_INT(memtable_entries(m), 0);
    CHECK_EQ_INT(memtable_first_seq(m), 50);
    CHECK_EQ_INT(memtable_add_range_del(m, 1, 70, "a", 1, "bb", 2), 0);
    CHECK_EQ_INT(memtable_add_range_del(m, 2, 60, "", 0, "z", 1), 0);
    CHECK_EQ_INT(put(m, 1, 40, "c", "old"), 0);
    CHECK_EQ_INT(memtable_last_seq(m), 70);
    CHECK(memtable_has_range_dels(m, 1) && memtable_has_range_dels(m, 2));
    CHECK(!memtable_has_range_dels(m, 3));
    uint32_t ids[4];
    CHECK_EQ_INT(memtable_partitions(m, ids, 4), 2); /* tombstone-only partition 2 counts */
    rangedel_list l = {0};
    CHECK_EQ_INT(memtable_range_dels(m, 1, &l), 0);
    CHECK_EQ_INT(l.n, 2);
    CHECK(rangedel_covers(&l, "c", 1, 40, SEQ_MAX));
    CHECK(!rangedel_covers(&l, "c", 1, 40, 49)); /* tombstone not visible yet */
    CHECK(rangedel_covers(&l, "a", 1, 40, SEQ_MAX));
    CHECK(!rangedel_covers(&l, "d", 1, 40, SEQ_MAX));
    CHECK(!rangedel_covers(&l, "c", 1, 55, SEQ_MAX)); /* newer than the [b, d) tombstone */
    CHECK(rangedel_covers(&l, "b", 1, 55, SEQ_MAX));  /* but under [a, bb) at 70 */
    /* Appends: the list gains partition 2's tombstone. */
    CHECK_EQ_INT(memtable_range_dels(m, 2, &l), 0);
    CHECK_EQ_INT(l.n, 3);
    rangedel_list_free(&l);
    CHECK_EQ_INT(memtable_range_dels(m, 9, &l), 0);
    CHECK_EQ_INT(l.n, 0);
    /* The point entry is still there: range tombstones are the caller's job. */
    int type;
    uint64_t seq;
    char buf[8];
    CHECK_EQ_INT(get_str(m, 1, "c", SEQ_MAX, &type, &seq, buf, sizeof(buf)), 0);
    memtable_unref(m);
}

/* Entries are charged with their node overhead; a big value does not waste
 * the current arena block; bad skiplist seeds do not inflate nodes. */
static void test_bytes_accounting(void)
{
    memtable *m = memtable_new();
    size_t b0 = memtable_bytes(m);
    CHECK(b0 < 4096);
    size_t raw = 0;
    char key[32], val[100];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "key%06d", i);
        REQUIRE(memtable_add(m, 0, (uint64_t)i + 1, TYPE_VALUE, key, strlen(key), val, 100) == 0);
        raw += strlen(key) + IKEY_TRAILER + 100;
    }
    size_t b1 = memtable_bytes(m);
    /* >= the data; <= data + 8-byte node header + expected links (4/3 per
     * node with branching 1/4: 13.3 bytes) + alignment (4 here) + small
     * block tails. */
    CHECK(b1 - b0 >= raw);
    CHECK(b1 - b0 <= raw + 10000 * (8 + 16 + 4) + 4096);
    /* A memtable with one small entry is small (no 1 MiB steps). */
    memtable *s = memtable_new();
    REQUIRE(put(s, 0, 1, "a", "b") == 0);
    CHECK(memtable_bytes(s) < 4096);
    /* A 600 KiB value is charged once and the next small entry costs little. */
    char *big = malloc(600 << 10);
    memset(big, 'B', 600 << 10);
    size_t before = memtable_bytes(s);
    REQUIRE(memtable_add(s, 0, 2, TYPE_VALUE, "big", 3, big, 600 << 10) == 0);
    size_t after = memtable_bytes(s);
    CHECK(after - before >= (600u << 10) && after - before < (600u << 10) + 256);
    REQUIRE(put(s, 0, 3, "c", "d") == 0);
    CHECK(memtable_bytes(s) - after < 256);
    int type;
    uint64_t seq;
    const void *v;
    size_t vl;
    REQUIRE(memtable_get(s, 0, "big", 3, SEQ_MAX, &type, &seq, &v, &vl) == 0);
    CHECK(vl == (600u << 10) && memcmp(v, big, vl) == 0);
    free(big);
    memtable_unref(s);
    /* Same entries in partition 0xdeadbeef cost about the same. */
    memtable *d = memtable_new();
    size_t d0 = memtable_bytes(d);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "key%06d", i);
        REQUIRE(memtable_add(d, 0xdeadbeef, (uint64_t)i + 1, TYPE_VALUE, key, strlen(key), val,
                             100) == 0);
    }
    size_t d1 = memtable_bytes(d);
    CHECK((d1 - d0) < (b1 - b0) * 11 / 10);
    memtable_unref(d);
    /* Range tombstones are charged too. */
    size_t r0 = memtable_bytes(m);
    REQUIRE(memtable_add_range_del(m, 0, 20000, "a", 1, "b", 1) == 0);
    CHECK(memtable_bytes(m) > r0);
    memtable_unref(m);
}

/* Ascending keys (the append path) mixed with out-of-order ones: the list
 * stays ordered and every entry is found. */
static void test_append_path(void)
{
    memtable *m = memtable_new();
    enum { N = 20000 };
    static ent es[3 * N];
    int n = 0;
    uint64_t seq = 1;
    for (int i = 0; i < N; i++) {
        ent *e = &es[n++];
        snprintf(e->key, sizeof(e->key), "t%08d", i * 2);
        if (rng_below(&R, 10) == 0) { /* a late arrival between earlier keys */
            ent *o = &es[n++];
            snprintf(o->key, sizeof(o->key), "t%08d", (int)rng_below(&R, (uint64_t)i + 1) * 2 + 1);
            o->seq = seq++;
            o->type = TYPE_VALUE;
            REQUIRE(memtable_add(m, 1, o->seq, o->type, o->key, strlen(o->key), "o", 1) == 0);
        }
        e->seq = seq++;
        e->type = TYPE_VALUE;
        REQUIRE(memtable_add(m, 1, e->seq, e->type, e->key, strlen(e->key), "e", 1) == 0);
        if (i % 7 == 0) { /* a newer version of the key just added */
            ent *v = &es[n++];
            *v = *e;
            v->seq = seq++;
            REQUIRE(memtable_add(m, 1, v->seq, TYPE_VALUE, v->key, strlen(v->key), "n", 1) == 0);
        }
    }
    for (int i = 0; i < n; i += 97) {
        int type;
        uint64_t s;
        char buf[4];
        REQUIRE(get_str(m, 1, es[i].key, es[i].seq, &type, &s, buf, sizeof(buf)) == 0);
        CHECK(s == es[i].seq);
    }
    check_partition_iter(m, 1, es, n);
    memtable_unref(m);
}

/* ---- the whole-key filter ---- */
static void filter_key(int i, char *k)
{
    snprintf(k, 24, "fkey:%09d", i);
}

static void test_filter(void)
{
    memtable *none = memtable_new();
    REQUIRE(none);
    CHECK_EQ_INT(memtable_filter_bytes(none), 0);
    CHECK(memtable_may_contain(none, 12345)); /* no filter: anything may be there */
    memtable_unref(none);
    memtable *small = memtable_new_pooled(NULL, 100); /* rounded down to one block */
    REQUIRE(small);
    CHECK_EQ_INT(memtable_filter_bytes(small), 64);
    CHECK(memtable_bytes(small) >= 64);
    memtable_unref(small);

    const int n = 50000;
    memtable *m = memtable_new_pooled(NULL, 64u << 10); /* ~10.5 bits per key */
    REQUIRE(m);
    CHECK_EQ_INT(memtable_filter_bytes(m), 64u << 10);
    CHECK(memtable_bytes(m) >= (64u << 10)); /* charged from the start */
    CHECK(memtable_empty(m));
    for (int i = 0; i < n; i++) {
        char k[24];
        filter_key(2 * i, k);
        uint32_t part = (uint32_t)(i % 4);
        REQUIRE(memtable_add(m, part, (uint64_t)i + 1, TYPE_VALUE, k, strlen(k), k, 4) == 0);
    }
    int fneg = 0, found = 0, fpos = 0, other_part = 0;
    for (int i = 0; i < n; i++) {
        char k[24];
        filter_key(2 * i, k);
        uint32_t part = (uint32_t)(i % 4);
        if (!memtable_may_contain(m, memtable_key_hash(part, k, strlen(k)))) fneg++;
        int type;
        uint64_t seq;
        const void *v;
        size_t vl;
        if (memtable_get(m, part, k, strlen(k), SEQ_MAX, &type, &seq, &v, &vl) == 0 &&
            seq == (uint64_t)i + 1 && vl == 4 && memcmp(v, k, 4) == 0)
            found++;
        /* the same key in another partition is another key for the filter */
        if (memtable_may_contain(m, memtable_key_hash(part + 1, k, strlen(k)))) other_part++;
        filter_key(2 * i + 1, k); /* never added */
        uint64_t h = memtable_key_hash(part, k, strlen(k));
        if (memtable_may_contain(m, h)) fpos++;
        CHECK_EQ_INT(memtable_get_hashed(m, part, k, strlen(k), h, SEQ_MAX, &type, &seq, &v, &vl),
                     ERR_NOTFOUND);
    }
    CHECK_EQ_INT(fneg, 0);
    CHECK_EQ_INT(found, n);
    /* ~1.3% expected at 10.5 bits and 4 probes per key; 4% allows for the blocks' spread */
    CHECK(fpos < n / 25);
    CHECK(other_part < n / 25);
    CHECK(fpos > 0); /* a filter that says "absent" to everything absent would be suspicious */
    memtable_unref(m);
}

/* ---- memtable_add_many against memtable_add ---- */
typedef struct many_key {
    char k[24];
} many_key;

static void check_same_lists(memtable *a, memtable *b, uint32_t part)
{
    ikiter *x = memtable_iter(a, part), *y = memtable_iter(b, part);
    REQUIRE(x && y);
    uint64_t n = 0;
    iki_seek_first(x);
    iki_seek_first(y);
    int bad = 0;
    for (; iki_valid(x) && iki_valid(y); iki_next(x), iki_next(y), n++) {
        size_t xn, yn, xv, yv;
        const void *xk = iki_key(x, &xn), *yk = iki_key(y, &yn);
        const void *xd = iki_value(x, &xv), *yd = iki_value(y, &yv);
        if (xn != yn || memcmp(xk, yk, xn) || xv != yv || memcmp(xd, yd, xv)) bad++;
    }
    CHECK(!iki_valid(x) && !iki_valid(y));
    CHECK_EQ_INT(bad, 0);
    /* backwards too: every level-0 link is right, prev() searches from the top */
    iki_seek_last(x);
    iki_seek_last(y);
    for (; iki_valid(x) && iki_valid(y); iki_prev(x), iki_prev(y)) {
        size_t xn, yn;
        const void *xk = iki_key(x, &xn), *yk = iki_key(y, &yn);
        if (xn != yn || memcmp(xk, yk, xn)) bad++;
    }
    CHECK(!iki_valid(x) && !iki_valid(y));
    CHECK_EQ_INT(bad, 0);
    iki_destroy(x);
    iki_destroy(y);
}

static void test_add_many(void)
{
    memtable *a = memtable_new(), *b = memtable_new_pooled(NULL, 4096);
    REQUIRE(a && b);
    static memtable_entry es[200];
    static many_key keys[200];
    static uint32_t vals[200];
    uint64_t seq = 0;
    uint32_t asc = 0;
    for (int round = 0; round < 400; round++) {
        int n = 1 + (int)rng_below(&R, 200);
        int mode = (int)rng_below(&R, 4);
        for (int i = 0; i < n; i++) {
            memtable_entry *e = &es[i];
            if (mode == 0) /* ascending: the append path, more than one group */
                snprintf(keys[i].k, sizeof(keys[i].k), "zz%08u", asc++);
            else if (mode ==
                     1) /* descending above the tail: all skip the search, then don't append */
                snprintf(keys[i].k, sizeof(keys[i].k), "zz%08u", asc + (uint32_t)(n - i));
            else /* random over a small set: duplicates within one group */
                snprintf(keys[i].k, sizeof(keys[i].k), "k%u", (unsigned)rng_below(&R, 3000));
            vals[i] = (uint32_t)rng_next(&R);
            e->part = mode == 3 ? (uint32_t)rng_below(&R, 3) : 1;
            e->type = rng_below(&R, 8) == 0 ? TYPE_DELETION : TYPE_VALUE;
            e->seq = ++seq;
            e->key = keys[i].k;
            e->klen = strlen(keys[i].k);
            e->val = e->type == TYPE_VALUE ? &vals[i] : NULL;
            e->vlen = e->type == TYPE_VALUE ? 4 : 0;
        }
        if (mode == 1) asc += (uint32_t)n + 1;
        for (int i = 0; i < n; i++)
            REQUIRE(memtable_add(a, es[i].part, es[i].seq, es[i].type, es[i].key, es[i].klen,
                                 es[i].val, es[i].vlen) == 0);
        REQUIRE(memtable_add_many(b, es, (size_t)n) == 0);
    }
    CHECK_EQ_INT(memtable_entries(a), memtable_entries(b));
    CHECK_EQ_INT(memtable_entries(b), seq);
    CHECK_EQ_INT(memtable_first_seq(b), 1);
    CHECK_EQ_INT(memtable_last_seq(b), seq);
    for (uint32_t p = 0; p < 3; p++) check_same_lists(a, b, p);
    /* point reads at random snapshots agree */
    for (int q = 0; q < 20000; q++) {
        char k[24];
        if (rng_below(&R, 2))
            snprintf(k, sizeof(k), "k%u", (unsigned)rng_below(&R, 3100));
        else
            snprintf(k, sizeof(k), "zz%08u", (unsigned)rng_below(&R, asc + 10));
        uint32_t p = (uint32_t)rng_below(&R, 3);
        uint64_t snap = rng_below(&R, seq + 2);
        int ta, tb;
        uint64_t sa, sb;
        const void *va, *vb;
        size_t la, lb;
        int ra = memtable_get(a, p, k, strlen(k), snap, &ta, &sa, &va, &la);
        int rb = memtable_get(b, p, k, strlen(k), snap, &tb, &sb, &vb, &lb);
        CHECK_EQ_INT(ra, rb);
        if (ra == 0 && rb == 0) CHECK(ta == tb && sa == sb && la == lb && !memcmp(va, vb, la));
    }
    /* a bad entry fails the call */
    memtable_entry bad = {0, TYPE_VALUE, seq + 1, "x", (size_t)1 << 29, NULL, 0};
    CHECK_EQ_INT(memtable_add_many(b, &bad, 1), ERR_TOOBIG);
    memtable_unref(a);
    memtable_unref(b);
}

/* ---- one writer, concurrent readers ---- */
#define CONC_N 100000
typedef struct conc {
    memtable *m;
    atomic_uint_fast64_t published; /* entries 1..published are in */
    atomic_int stop;
    atomic_int errors;
    uint64_t seed;
} conc;

static void conc_key(uint64_t i, char *k)
{
    /* A permutation of 0..CONC_N-1 so inserts land all over the list. */
    snprintf(k, 24, "key%08llu", (unsigned long long)((i * 7919) % CONC_N));
}

static void *reader(void *arg)
{
    conc *c = arg;
    rng_t r;
    rng_seed(&r, c->seed);
    while (!atomic_load(&c->stop)) {
        uint64_t pub = atomic_load(&c->published);
        if (pub) {
            uint64_t i = 1 + rng_below(&r, pub);
            char k[24];
            conc_key(i - 1, k);
            int type;
            uint64_t seq;
            const void *v;
            size_t vl;
            int rc = memtable_get(c->m, 0, k, strlen(k), SEQ_MAX, &type, &seq, &v, &vl);
            if (rc || seq != i || vl != 8 || memcmp(v, &i, 8) != 0) atomic_fetch_add(&c->errors, 1);
        }
        if (rng_below(&r, 2000) == 0) {
            /* A full scan: strictly increasing internal keys, at least pub entries. */
            ikiter *it = memtable_iter(c->m, 0);
            uint8_t prev[40];
            size_t pn = 0;
            uint64_t n = 0;
            for (iki_seek_first(it); iki_valid(it); iki_next(it), n++) {
                size_t kn;
                const void *k = iki_key(it, &kn);
                if (pn && ikey_cmp(prev, pn, k, kn) >= 0) atomic_fetch_add(&c->errors, 1);
                memcpy(prev, k, kn);
                pn = kn;
            }
            if (n < pub) atomic_fetch_add(&c->errors, 1);
            iki_destroy(it);
        }
    }
    return NULL;
}

static void concurrent_readers(bool many)
{
    conc c = {0};
    c.m = many ? memtable_new_pooled(NULL, 128u << 10) : memtable_new();
    c.seed = rng_next(&R);
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        c.seed += (uint64_t)t;
        REQUIRE(pthread_create(&th[t], NULL, reader, &c) == 0);
    }
    size_t last_bytes = 0;
    static char keys[40][24];
    static uint64_t vals[40];
    memtable_entry es[40];
    for (uint64_t i = 1; i <= CONC_N;) {
        /* memtable_add_many: runs of 1..40 entries, published after each run
         * (as the db publishes its sequence after a group) */
        uint64_t n = many ? 1 + rng_below(&R, 40) : 1;
        if (n > CONC_N + 1 - i) n = CONC_N + 1 - i;
        int rc;
        if (many) {
            for (uint64_t j = 0; j < n; j++) {
                conc_key(i + j - 1, keys[j]);
                vals[j] = i + j;
                es[j] =
                    (memtable_entry){0, TYPE_VALUE, i + j, keys[j], strlen(keys[j]), &vals[j], 8};
            }
            rc = memtable_add_many(c.m, es, n);
        } else {
            char k[24];
            conc_key(i - 1, k);
            rc = memtable_add(c.m, 0, i, TYPE_VALUE, k, strlen(k), &i, 8);
        }
        if (rc) {
            atomic_fetch_add(&c.errors, 1);
            break;
        }
        i += n;
        atomic_store(&c.published, i - 1);
        size_t b = memtable_bytes(c.m);
        if (b < last_bytes) atomic_fetch_add(&c.errors, 1);
        last_bytes = b;
    }
    atomic_store(&c.stop, 1);
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
    CHECK_EQ_INT(atomic_load(&c.errors), 0);
    CHECK_EQ_INT(memtable_entries(c.m), CONC_N);
    memtable_unref(c.m);
}

static void test_concurrent_readers(void)
{
    concurrent_readers(false);
}

/* The same with a filter and memtable_add_many: readers never miss a
 * published entry (its filter bits were set before it was linked). */
static void test_concurrent_readers_many(void)
{
    concurrent_readers(true);
}

/* Binary keys of 0..40 bytes over a small alphabet with bytes on both sides
 * of 0x80 (long shared prefixes, lengths across the 8-byte steps of the
 * memtable's comparison): iteration order is ikey_cmp's order. */
static void test_binary_key_order(void)
{
    static const uint8_t alpha[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    memtable *m = memtable_new();
    REQUIRE(m);
    int added = 0;
    for (int i = 0; i < 5000; i++) {
        uint8_t k[40];
        size_t kl = (size_t)rng_below(&R, 41);
        for (size_t j = 0; j < kl; j++) k[j] = alpha[rng_below(&R, j < 12 ? 2 : 6)];
        uint64_t seq = 1 + rng_below(&R, 1u << 20);
        if (memtable_add(m, 0, seq, TYPE_VALUE, k, kl, "v", 1) == 0) added++;
    }
    ikiter *it = memtable_iter(m, 0);
    REQUIRE(it);
    int n = 0, bad = 0;
    uint8_t prev[64];
    size_t prevlen = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), n++) {
        size_t kl;
        const uint8_t *k = iki_key(it, &kl);
        if (n && ikey_cmp(prev, prevlen, k, kl) > 0) bad++;
        memcpy(prev, k, kl);
        prevlen = kl;
        /* Each key is found again by a point lookup at its own sequence. */
        int type;
        uint64_t seq;
        const void *v;
        size_t vl;
        if (memtable_get(m, 0, k, kl - IKEY_TRAILER, ikey_seq(k, kl), &type, &seq, &v, &vl) ||
            seq < ikey_seq(k, kl))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(n, added);
    iki_destroy(it);
    memtable_unref(m);
}

/* Fills m with n entries of 1000-byte values at keys base..base+n-1. */
static void fill(memtable *m, int base, int n)
{
    char k[32], v[1000];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%08d", base + i);
        memset(v, 'a' + (base + i) % 26, sizeof(v));
        REQUIRE(memtable_add(m, 0, (uint64_t)(base + i) + 1, TYPE_VALUE, k, strlen(k), v,
                             sizeof(v)) == 0);
    }
}

static void check_fill(memtable *m, int base, int n)
{
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key%08d", base + i);
        int type;
        uint64_t seq;
        const void *v;
        size_t vl;
        CHECK_EQ_INT(memtable_get(m, 0, k, strlen(k), SEQ_MAX, &type, &seq, &v, &vl), 0);
        CHECK_EQ_INT(vl, 1000);
        CHECK_EQ_INT(((const char *)v)[999], 'a' + (base + i) % 26);
    }
}

/* The block pool: a flushed memtable's 2 MiB blocks serve the next one, the
 * pool never keeps more than its bound, and it outlives its owner's
 * reference while a memtable still uses it. */
static void test_block_pool(void)
{
    memtable_pool *p = memtable_pool_new(4u << 20, 0); /* two blocks, no filler */
    REQUIRE(p);
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 0);
    memtable *a = memtable_new_pooled(p, 0);
    REQUIRE(a);
    fill(a, 0, 9000); /* ~9 MiB: several 2 MiB blocks after the small ones */
    check_fill(a, 0, 9000);
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 0);
    memtable_unref(a);
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 4u << 20); /* the rest went back to malloc */
    memtable *b = memtable_new_pooled(p, 0);
    REQUIRE(b);
    fill(b, 100000, 3000); /* ~3 MiB: takes one idle block */
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 2u << 20);
    fill(b, 200000, 6000);
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 0);
    check_fill(b, 100000, 3000);
    check_fill(b, 200000, 6000);
    memtable *c = memtable_new_pooled(p, 0);
    REQUIRE(c);
    fill(c, 300000, 5000);
    memtable_unref(b);
    /* c holds blocks, so only part of b's come back to the pool. */
    size_t idle = memtable_pool_idle_bytes(p);
    CHECK(idle < (4u << 20));
    memtable_pool_unref(p); /* c still holds the pool */
    check_fill(c, 300000, 5000);
    memtable_unref(c);
}

/* The filler faults in the reserve once a memtable takes a block, never past
 * the bound, and the writer then finds blocks ready. */
static void test_pool_filler(void)
{
    memtable_pool *p = memtable_pool_new(10u << 20, 6u << 20); /* 5 blocks, 3 reserved */
    REQUIRE(p);
    memtable *a = memtable_new_pooled(p, 0);
    REQUIRE(a);
    CHECK_EQ_INT(memtable_pool_idle_bytes(p), 0); /* no demand yet */
    fill(a, 0, 2500);                             /* past the small blocks: one 2 MiB block */
    size_t idle = 0;
    for (int i = 0; i < 500 && idle < (6u << 20); i++) {
        idle = memtable_pool_idle_bytes(p);
        if (idle < (6u << 20)) usleep(10000);
    }
    CHECK_EQ_INT(idle, 6u << 20);
    fill(a, 2500, 12000); /* ~12 MiB: beyond the bound, so some blocks come from malloc */
    check_fill(a, 0, 14500);
    CHECK(memtable_pool_idle_bytes(p) <= (6u << 20));
    memtable_unref(a);
    CHECK(memtable_pool_idle_bytes(p) <= (10u << 20));
    memtable_pool_unref(p);
}

int main(void)
{
    rng_seed(&R, test_seed());
    RUN(test_get_snapshots);
    RUN(test_versions_model);
    RUN(test_iterators_partitions);
    RUN(test_append_path);
    RUN(test_range_dels);
    RUN(test_bytes_accounting);
    RUN(test_concurrent_readers);
    RUN(test_concurrent_readers_many);
    RUN(test_filter);
    RUN(test_add_many);
    RUN(test_block_pool);
    RUN(test_pool_filler);
    RUN(test_binary_key_order);
    TEST_END();
}
