/* Unit tests of engine/rangedel: bounds (start inclusive, end exclusive),
 * the sequence rule key_seq < t.seq <= snap, max_seq, list copies. */
#include "test.h"

#include "engine/rangedel.h"
#include "util/rand.h"

static rng_t R;

static bool covers(const rangedel_list *l, const char *k, uint64_t kseq, uint64_t snap)
{
    return rangedel_covers(l, k, strlen(k), kseq, snap);
}

static void test_bounds_and_seqs(void)
{
    rangedel_list l = {0};
    CHECK(!covers(&l, "a", 0, 100)); /* empty list */
    CHECK_EQ_INT(rangedel_list_add(&l, "b", 1, "d", 1, 10), 0);
    CHECK(!covers(&l, "a", 1, 100));
    CHECK(!covers(&l, "azzz", 1, 100));
    CHECK(covers(&l, "b", 1, 100));   /* start inclusive */
    CHECK(covers(&l, "b\0", 1, 100)); /* same as "b" via strlen */
    CHECK(covers(&l, "c", 1, 100));
    CHECK(covers(&l, "czzzz", 1, 100));
    CHECK(!covers(&l, "d", 1, 100)); /* end exclusive */
    CHECK(!covers(&l, "da", 1, 100));
    CHECK(rangedel_covers(&l, "c\0x", 3, 1, 100)); /* binary keys */
    /* Sequence rule: the key must be older than the tombstone, and the
     * tombstone visible at the snapshot. */
    CHECK(covers(&l, "c", 9, 10));
    CHECK(!covers(&l, "c", 10, 10));
    CHECK(!covers(&l, "c", 11, 100));
    CHECK(!covers(&l, "c", 1, 9));
    CHECK_EQ_INT(rangedel_max_seq(&l, "c", 1, 100), 10);
    CHECK_EQ_INT(rangedel_max_seq(&l, "c", 1, 9), 0);
    CHECK_EQ_INT(rangedel_max_seq(&l, "e", 1, 100), 0);
    /* Overlapping tombstones: the largest visible seq wins. */
    CHECK_EQ_INT(rangedel_list_add(&l, "a", 1, "c", 1, 30), 0);
    CHECK_EQ_INT(rangedel_list_add(&l, "", 0, "bb", 2, 20), 0); /* from the smallest key */
    CHECK_EQ_INT(rangedel_max_seq(&l, "b", 1, 100), 30);
    CHECK_EQ_INT(rangedel_max_seq(&l, "b", 1, 29), 20);
    CHECK_EQ_INT(rangedel_max_seq(&l, "b", 1, 19), 10);
    CHECK_EQ_INT(rangedel_max_seq(&l, "", 0, 100), 20);
    CHECK_EQ_INT(rangedel_max_seq(&l, "c", 1, 100), 10);
    CHECK(covers(&l, "", 19, 25));
    CHECK(!covers(&l, "", 20, 25));
    /* An empty or inverted range covers nothing. */
    rangedel_list e = {0};
    CHECK_EQ_INT(rangedel_list_add(&e, "m", 1, "m", 1, 5), 0);
    CHECK_EQ_INT(rangedel_list_add(&e, "z", 1, "a", 1, 5), 0);
    CHECK_EQ_INT(rangedel_list_add(&e, "", 0, "", 0, 5), 0);
    const char *keys[] = {"", "a", "m", "n", "z"};
    for (int i = 0; i < 5; i++) CHECK(!covers(&e, keys[i], 1, 100));
    rangedel_list_free(&e);
    rangedel_list_free(&l);
    CHECK(l.n == 0 && l.v == NULL);
    rangedel_list_free(&l); /* twice is harmless */
}

static void test_append_copies(void)
{
    rangedel_list a = {0}, b = {0};
    char s[16], e[16];
    for (int i = 0; i < 20; i++) {
        snprintf(s, sizeof(s), "k%02d", i);
        snprintf(e, sizeof(e), "k%02d~", i);
        CHECK_EQ_INT(rangedel_list_add(&a, s, strlen(s), e, strlen(e), 100 + (uint64_t)i), 0);
    }
    CHECK_EQ_INT(rangedel_list_append(&b, &a), 0);
    CHECK_EQ_INT(b.n, 20);
    rangedel_list_free(&a); /* b owns its own copies */
    CHECK(covers(&b, "k05x", 1, 1000));
    CHECK_EQ_INT(rangedel_max_seq(&b, "k07", 3, 1000), 107);
    /* Appending a list to itself doubles it once (and terminates). */
    CHECK_EQ_INT(rangedel_list_append(&b, &b), 0);
    CHECK_EQ_INT(b.n, 40);
    CHECK(b.v[20].seq == 100 && b.v[20].slen == 3 && memcmp(b.v[20].start, "k00", 3) == 0);
    rangedel_list_free(&b);
}

/* Random lists against a direct reading of the definition. */
static void test_random_model(void)
{
    for (int round = 0; round < 200; round++) {
        rangedel_list l = {0};
        int n = (int)rng_below(&R, 12);
        uint8_t s[16][2], e[16][2];
        uint64_t seq[16];
        for (int i = 0; i < n; i++) {
            s[i][0] = (uint8_t)('a' + rng_below(&R, 6));
            s[i][1] = (uint8_t)('a' + rng_below(&R, 6));
            e[i][0] = (uint8_t)('a' + rng_below(&R, 6));
            e[i][1] = (uint8_t)('a' + rng_below(&R, 6));
            seq[i] = 1 + rng_below(&R, 50);
            REQUIRE(rangedel_list_add(&l, s[i], 2, e[i], 2, seq[i]) == 0);
        }
        for (int q = 0; q < 100; q++) {
            uint8_t k[2] = {(uint8_t)('a' + rng_below(&R, 6)), (uint8_t)('a' + rng_below(&R, 6))};
            uint64_t kseq = rng_below(&R, 55), snap = rng_below(&R, 55);
            uint64_t best = 0;
            for (int i = 0; i < n; i++)
                if (seq[i] <= snap && memcmp(s[i], k, 2) <= 0 && memcmp(k, e[i], 2) < 0 &&
                    seq[i] > best)
                    best = seq[i];
            CHECK_EQ_INT(rangedel_max_seq(&l, k, 2, snap), best);
            CHECK_EQ_INT(rangedel_covers(&l, k, 2, kseq, snap), best > kseq);
        }
        rangedel_list_free(&l);
    }
}

int main(void)
{
    rng_seed(&R, test_seed());
    RUN(test_bounds_and_seqs);
    RUN(test_append_copies);
    RUN(test_random_model);
    TEST_END();
}
