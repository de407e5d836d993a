/* Unit tests of engine/batch: the encoding of every operation kind, counts
 * and sizes, appending batches, and decoding that rejects every truncation
 * and random garbage without reading out of bounds (buffers are malloc'd to
 * their exact size so ASan sees any over-read). */
#include "test.h"

#include "engine/batch.h"
#include "util/coding.h"
#include "util/err.h"
#include "util/rand.h"

#include <stdint.h>

static rng_t R;

typedef struct op {
    int kind;
    uint32_t part;
    uint8_t *key, *val;
    size_t klen, vlen;
    uint64_t seq;
} op;

typedef struct ops {
    op v[512];
    int n;
    const uint8_t *lo, *hi; /* the encoded buffer: every key/value must lie inside */
    int out_of_bounds;
} ops;

static int collect(void *arg, uint64_t seq, int kind, uint32_t part, const void *k, size_t kl,
                   const void *v, size_t vl)
{
    ops *o = arg;
    const uint8_t *kp = k, *vp = v;
    if (kl && (kp < o->lo || kp + kl > o->hi)) o->out_of_bounds = 1;
    if (vl && (vp < o->lo || vp + vl > o->hi)) o->out_of_bounds = 1;
    if (kind == STRATA_OP_DELETE && (v || vl)) o->out_of_bounds = 1;
    if (o->n == (int)(sizeof(o->v) / sizeof(o->v[0]))) return 0;
    op *x = &o->v[o->n++];
    x->kind = kind;
    x->part = part;
    x->klen = kl;
    x->vlen = vl;
    x->seq = seq;
    x->key = malloc(kl + 1);
    x->val = malloc(vl + 1);
    if (kl) memcpy(x->key, k, kl);
    if (vl) memcpy(x->val, v, vl);
    return 0;
}

static void ops_free(ops *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->v[i].key);
        free(o->v[i].val);
    }
    o->n = 0;
}

/* Iterates an exact-size copy of the encoding. */
static int iterate_copy(const void *data, size_t len, ops *o)
{
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, data, len);
    o->lo = c;
    o->hi = c + len;
    o->out_of_bounds = 0;
    int rc = strata_batch_iterate(c, len, collect, o);
    free(c);
    return rc;
}

static void random_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_next(&R);
}

/* Fills b with n random ops, mirrored in want; returns the expected size. */
static size_t random_batch(strata_batch *b, op *want, int n)
{
    size_t bytes = BATCH_HEADER;
    uint32_t parts[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX};
    for (int i = 0; i < n; i++) {
        op *x = &want[i];
        x->kind = 1 + (int)rng_below(&R, 3);
        x->part = parts[rng_below(&R, 7)];
        x->klen = rng_below(&R, 4) == 0 ? 0 : (size_t)rng_below(&R, 40);
        x->vlen = x->kind == STRATA_OP_DELETE ? 0
                  : rng_below(&R, 10) == 0    ? 300 + (size_t)rng_below(&R, 20000)
                                              : (size_t)rng_below(&R, 100);
        x->key = malloc(x->klen + 1);
        x->val = malloc(x->vlen + 1);
        random_bytes(x->key, x->klen);
        random_bytes(x->val, x->vlen);
        int rc = x->kind == STRATA_OP_PUT
                     ? strata_batch_put(b, x->part, x->key, x->klen, x->val, x->vlen)
                 : x->kind == STRATA_OP_DELETE
                     ? strata_batch_delete(b, x->part, x->key, x->klen)
                     : strata_batch_delete_range(b, x->part, x->key, x->klen, x->val, x->vlen);
        if (rc) return 0;
        bytes += 1 + varint_len(x->part) + varint_len(x->klen) + x->klen;
        if (x->kind != STRATA_OP_DELETE) bytes += varint_len(x->vlen) + x->vlen;
    }
    return bytes;
}

static int same_ops(const ops *got, const op *want, int n, uint64_t seq0)
{
    if (got->n != n) return 0;
    for (int i = 0; i < n; i++) {
        const op *g = &got->v[i], *w = &want[i];
        if (g->kind != w->kind || g->part != w->part || g->klen != w->klen || g->vlen != w->vlen ||
            g->seq != seq0 + (uint64_t)i)
            return 0;
        if (memcmp(g->key, w->key, w->klen) || memcmp(g->val, w->val, w->vlen)) return 0;
    }
    return 1;
}

static void free_want(op *want, int n)
{
    for (int i = 0; i < n; i++) {
        free(want[i].key);
        free(want[i].val);
    }
}

static void test_encoding_layout(void)
{
    strata_batch *b = strata_batch_new();
    REQUIRE(b);
    CHECK_EQ_INT(strata_batch_count(b), 0);
    CHECK_EQ_INT(strata_batch_bytes(b), BATCH_HEADER);
    batch__set_seq(b, 0x0102030405060708ull);
    CHECK(batch__seq(b) == 0x0102030405060708ull);
    CHECK_EQ_INT(strata_batch_put(b, 300, "k", 1, "vv", 2), 0);
    CHECK_EQ_INT(strata_batch_delete(b, 0, "key", 3), 0);
    CHECK_EQ_INT(strata_batch_delete_range(b, 5, "a", 1, "", 0), 0);
    CHECK_EQ_INT(strata_batch_count(b), 3);
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    const uint8_t want[] = {8, 7,    6,    5,   4,   3,   2,   1,   3, 0, 0, 0, /* seq, count */
                            1, 0xac, 0x02, 1,   'k', 2,   'v', 'v',             /* PUT part 300 */
                            2, 0,    3,    'k', 'e', 'y',                       /* DELETE part 0 */
                            3, 5,    1,    'a', 0}; /* DELETE_RANGE part 5 */
    CHECK_EQ_INT(len, sizeof(want));
    CHECK_EQ_INT(strata_batch_bytes(b), sizeof(want));
    CHECK(len == sizeof(want) && memcmp(d, want, len) == 0);
    CHECK_EQ_INT(batch__validate(d, len), 0);
    strata_batch_clear(b);
    CHECK_EQ_INT(strata_batch_count(b), 0);
    CHECK_EQ_INT(strata_batch_bytes(b), BATCH_HEADER);
    CHECK(batch__seq(b) == 0);
    /* An empty batch is a valid encoding. */
    d = batch__data(b, &len);
    CHECK_EQ_INT(batch__validate(d, len), 0);
    strata_batch_free(b);
    strata_batch_free(NULL);
}

static void test_round_trip_random(void)
{
    for (int round = 0; round < 50; round++) {
        strata_batch *b = strata_batch_new();
        REQUIRE(b);
        static op want[300];
        int n = (int)rng_below(&R, 300);
        size_t bytes = random_batch(b, want, n);
        CHECK_EQ_INT(strata_batch_count(b), n);
        CHECK_EQ_INT(strata_batch_bytes(b), bytes);
        uint64_t seq = rng_below(&R, 1ull << 56);
        batch__set_seq(b, seq);
        size_t len;
        const uint8_t *d = batch__data(b, &len);
        ops got = {0};
        CHECK_EQ_INT(iterate_copy(d, len, &got), 0);
        CHECK(!got.out_of_bounds);
        CHECK(same_ops(&got, want, n, seq));
        ops_free(&got);
        /* from_encoded copies it into another batch. */
        strata_batch *c = strata_batch_new();
        CHECK_EQ_INT(batch__from_encoded(c, d, len), 0);
        CHECK_EQ_INT(strata_batch_count(c), n);
        CHECK(batch__seq(c) == seq);
        size_t clen;
        const uint8_t *cd = batch__data(c, &clen);
        CHECK(clen == len && memcmp(cd, d, len) == 0);
        strata_batch_free(c);
        strata_batch_free(b);
        free_want(want, n);
    }
}

static int stop_at_two(void *arg, uint64_t seq, int kind, uint32_t part, const void *k, size_t kl,
                       const void *v, size_t vl)
{
    int *calls = arg;
    return ++*calls == 2 ? 42 : 0;
}

static void test_iterate_stops(void)
{
    strata_batch *b = strata_batch_new();
    for (int i = 0; i < 5; i++) strata_batch_put(b, 0, "k", 1, "v", 1);
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    int calls = 0;
    CHECK_EQ_INT(strata_batch_iterate(d, len, stop_at_two, &calls), 42);
    CHECK_EQ_INT(calls, 2);
    strata_batch_free(b);
}

static void test_append(void)
{
    strata_batch *a = strata_batch_new(), *b = strata_batch_new();
    static op wa[400];
    int na = 40, nb = 60;
    random_batch(a, wa, na);
    random_batch(b, wa + na, nb);
    size_t abytes = strata_batch_bytes(a), bbytes = strata_batch_bytes(b);
    batch__set_seq(a, 100);
    batch__set_seq(b, 999);
    CHECK_EQ_INT(batch__append(a, b), 0);
    CHECK_EQ_INT(strata_batch_count(a), na + nb);
    CHECK_EQ_INT(strata_batch_bytes(a), abytes + bbytes - BATCH_HEADER);
    CHECK(batch__seq(a) == 100);
    size_t len;
    const uint8_t *d = batch__data(a, &len);
    ops got = {0};
    CHECK_EQ_INT(iterate_copy(d, len, &got), 0);
    CHECK(same_ops(&got, wa, na + nb, 100));
    ops_free(&got);
    /* Appending a batch to itself doubles it. */
    CHECK_EQ_INT(batch__append(b, b), 0);
    CHECK_EQ_INT(strata_batch_count(b), 2 * nb);
    d = batch__data(b, &len);
    CHECK_EQ_INT(iterate_copy(d, len, &got), 0);
    REQUIRE(got.n == 2 * nb);
    for (int i = 0; i < nb; i++) {
        const op *x = &got.v[i], *y = &got.v[nb + i];
        CHECK(y->seq == x->seq + (uint64_t)nb);
        CHECK(x->kind == y->kind && x->part == y->part && x->klen == y->klen &&
              x->vlen == y->vlen && !memcmp(x->key, y->key, x->klen) &&
              !memcmp(x->val, y->val, x->vlen));
    }
    got.n = nb;
    CHECK(same_ops(&got, wa + na, nb, 999));
    got.n = 2 * nb;
    ops_free(&got);
    /* Appending an empty batch changes nothing. */
    strata_batch *e = strata_batch_new();
    CHECK_EQ_INT(batch__append(a, e), 0);
    CHECK_EQ_INT(strata_batch_count(a), na + nb);
    strata_batch_free(e);
    strata_batch_free(a);
    strata_batch_free(b);
    free_want(wa, na + nb);
}

static void test_reject_truncations(void)
{
    strata_batch *b = strata_batch_new(), *c = strata_batch_new();
    static op want[30];
    random_batch(b, want, 30);
    strata_batch_put(c, 1, "keep", 4, "me", 2);
    size_t len, clen0;
    const uint8_t *d = batch__data(b, &len);
    const uint8_t *c0 = batch__data(c, &clen0);
    uint8_t *keep = malloc(clen0);
    memcpy(keep, c0, clen0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, d, cut);
        if (batch__validate(t, cut) != ERR_CORRUPT) {
            fprintf(stderr, "truncation to %zu of %zu accepted\n", cut, len);
            CHECK(0);
        }
        ops got = {0};
        CHECK_EQ_INT(iterate_copy(t, cut, &got), ERR_CORRUPT);
        CHECK(!got.out_of_bounds);
        ops_free(&got);
        /* A rejected decode leaves the target batch as it was. */
        CHECK_EQ_INT(batch__from_encoded(c, t, cut), ERR_CORRUPT);
        size_t clen;
        const uint8_t *cd = batch__data(c, &clen);
        CHECK(clen == clen0 && memcmp(cd, keep, clen) == 0);
        free(t);
    }
    /* A trailing byte, a count one too high or too low. */
    uint8_t *t = malloc(len + 1);
    memcpy(t, d, len);
    t[len] = 0;
    CHECK_EQ_INT(batch__validate(t, len + 1), ERR_CORRUPT);
    CHECK(strstr(err_msg(), "trailing"));
    put_u32(t + 8, 31);
    CHECK_EQ_INT(batch__validate(t, len), ERR_CORRUPT);
    put_u32(t + 8, 29);
    CHECK_EQ_INT(batch__validate(t, len), ERR_CORRUPT);
    free(t);
    free(keep);
    free_want(want, 30);
    strata_batch_free(b);
    strata_batch_free(c);
}

static void test_reject_bad_fields(void)
{
    uint8_t h[BATCH_HEADER] = {0};
    put_u32(h + 8, 1);
    uint8_t buf[64];
    /* kind 0 and 4 */
    int kinds[] = {0, 4, 255};
    for (int i = 0; i < 3; i++) {
        memcpy(buf, h, BATCH_HEADER);
        uint8_t o[] = {(uint8_t)kinds[i], 0, 1, 'k'};
        memcpy(buf + BATCH_HEADER, o, sizeof(o));
        CHECK_EQ_INT(batch__validate(buf, BATCH_HEADER + sizeof(o)), ERR_CORRUPT);
    }
    /* A partition beyond 32 bits. */
    memcpy(buf, h, BATCH_HEADER);
    uint8_t *p = buf + BATCH_HEADER;
    *p++ = STRATA_OP_DELETE;
    p += put_varint(p, 1ull << 32);
    *p++ = 0;
    CHECK_EQ_INT(batch__validate(buf, (size_t)(p - buf)), ERR_CORRUPT);
    /* A key length of 2^63 and an overlong varint. */
    memcpy(buf, h, BATCH_HEADER);
    p = buf + BATCH_HEADER;
    *p++ = STRATA_OP_DELETE;
    *p++ = 0;
    p += put_varint(p, 1ull << 63);
    CHECK_EQ_INT(batch__validate(buf, (size_t)(p - buf)), ERR_CORRUPT);
    memcpy(buf, h, BATCH_HEADER);
    p = buf + BATCH_HEADER;
    *p++ = STRATA_OP_DELETE;
    memset(p, 0xff, 11);
    p += 11;
    CHECK_EQ_INT(batch__validate(buf, (size_t)(p - buf)), ERR_CORRUPT);
    /* A huge count with no ops. */
    put_u32(buf + 8, UINT32_MAX);
    CHECK_EQ_INT(batch__validate(buf, BATCH_HEADER), ERR_CORRUPT);
    /* Lengths too big to encode are refused before any copy. */
    strata_batch *b = strata_batch_new();
    CHECK_EQ_INT(strata_batch_put(b, 0, "k", 1, "v", SIZE_MAX / 2), ERR_TOOBIG);
    CHECK_EQ_INT(strata_batch_put(b, 0, "k", SIZE_MAX - 3, "v", 1), ERR_TOOBIG);
    CHECK_EQ_INT(strata_batch_count(b), 0);
    CHECK_EQ_INT(strata_batch_bytes(b), BATCH_HEADER);
    strata_batch_free(b);
}

/* Random garbage and random mutations of valid batches: decoding never reads
 * out of bounds, and whatever it accepts it walks consistently. */
static void test_garbage(void)
{
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rng_below(&R, 200);
        uint8_t *g = malloc(len ? len : 1);
        random_bytes(g, len);
        if (len >= BATCH_HEADER && rng_below(&R, 2)) put_u32(g + 8, (uint32_t)rng_below(&R, 8));
        ops got = {0};
        int rc = iterate_copy(g, len, &got);
        CHECK(rc == 0 || rc == ERR_CORRUPT);
        CHECK(!got.out_of_bounds);
        CHECK_EQ_INT(batch__validate(g, len), rc);
        if (rc == 0) {
            accepted++;
            CHECK_EQ_INT(got.n, get_u32(g + 8));
        }
        ops_free(&got);
        free(g);
    }
    strata_batch *b = strata_batch_new();
    static op want[20];
    random_batch(b, want, 20);
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    for (int i = 0; i < 5000; i++) {
        uint8_t *m = malloc(len);
        memcpy(m, d, len);
        int flips = 1 + (int)rng_below(&R, 4);
        for (int f = 0; f < flips; f++) m[rng_below(&R, len)] ^= (uint8_t)(1 + rng_below(&R, 255));
        ops got = {0};
        int rc = iterate_copy(m, len, &got);
        CHECK(rc == 0 || rc == ERR_CORRUPT);
        CHECK(!got.out_of_bounds);
        ops_free(&got);
        free(m);
    }
    free_want(want, 20);
    strata_batch_free(b);
    fprintf(stderr, "garbage: %d random buffers accepted\n", accepted);
}

int main(void)
{
    rng_seed(&R, test_seed());
    RUN(test_encoding_layout);
    RUN(test_round_trip_random);
    RUN(test_iterate_stops);
    RUN(test_append);
    RUN(test_reject_truncations);
    RUN(test_reject_bad_fields);
    RUN(test_garbage);
    TEST_END();
}
