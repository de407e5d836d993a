/* Unit tests of util/: crc32c, varints, env, err, rng. */
#include "test.h"

#include "util/coding.h"
#include "util/crc32c.h"
#include "util/env.h"
#include "util/err.h"
#include "util/rand.h"

static void test_crc32c_known(void)
{
    /* Known values from RFC 3720 (iSCSI) B.4. */
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    CHECK_EQ_INT(crc32c(buf, 32), 0x8a9136aa);
    memset(buf, 0xff, sizeof(buf));
    CHECK_EQ_INT(crc32c(buf, 32), 0x62a8ab43);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK_EQ_INT(crc32c(buf, 32), 0x46dd794e);
    CHECK_EQ_INT(crc32c("123456789", 9), 0xe3069283);
    /* Extending in pieces equals one pass. */
    uint32_t c = crc32c_extend(crc32c("1234", 4), "56789", 5);
    CHECK_EQ_INT(c, 0xe3069283);
    CHECK_EQ_INT(crc32c_unmask(crc32c_mask(c)), c);
    CHECK(crc32c_mask(c) != c);
}

/* The definition, one bit at a time: the reference for the fast paths. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* Every path of the hardware version (three lanes of 8 KiB, three of 256
 * bytes, 8-byte words, single bytes) at unaligned offsets, from zero and
 * from a running CRC, against the definition. */
static void test_crc32c_long_inputs(void)
{
    enum { CAP = 2 * 3 * 8192 + 2 * 3 * 256 + 64 };
    uint8_t *buf = malloc(CAP);
    CHECK(buf != NULL);
    rng_t r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < CAP; i++) buf[i] = (uint8_t)rng_next(&r);
    const size_t lens[] = {0,    1,     7,     8,     767,   768,          769,
                           1543, 24575, 24576, 24577, 25351, CAP - 8 - 41, CAP - 8};
    const uint32_t inits[] = {0, 0xdeadbeefu};
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
        for (size_t off = 0; off < 4; off++)
            for (int k = 0; k < 2; k++)
                CHECK_EQ_INT(crc32c_extend(inits[k], buf + off, lens[l]),
                             crc_bitwise(inits[k], buf + off, lens[l]));
    for (int i = 0; i < 50; i++) {
        size_t off = rng_below(&r, 8), n = rng_below(&r, CAP - 8);
        uint32_t init = (uint32_t)rng_next(&r);
        CHECK_EQ_INT(crc32c_extend(init, buf + off, n), crc_bitwise(init, buf + off, n));
    }
    free(buf);
}

static void test_varint(void)
{
    uint64_t vals[] = {0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t b[VARINT_MAX];
        size_t n = put_varint(b, vals[i]);
        CHECK_EQ_INT(n, varint_len(vals[i]));
        uint64_t v = 0;
        CHECK_EQ_INT(get_varint(b, b + n, &v), n);
        CHECK(v == vals[i]);
        CHECK_EQ_INT(get_varint(b, b + n - 1, &v), 0); /* truncated */
    }
    uint8_t over[11];
    memset(over, 0xff, sizeof(over));
    uint64_t v;
    CHECK_EQ_INT(get_varint(over, over + 11, &v), 0); /* overlong */
    uint8_t f[8];
    put_u64(f, 0x0102030405060708ull);
    CHECK(get_u64(f) == 0x0102030405060708ull);
    CHECK_EQ_INT(f[0], 8);
}

static void test_env_posix(void)
{
    env_t *e = env_posix();
    const char *dir = test_tmpdir("util_env");
    char path[600];
    snprintf(path, sizeof(path), "%s/a", dir);
    env_file *f;
    REQUIRE(env_open(e, path, ENV_WRITE | ENV_TRUNC, &f) == 0);
    CHECK_EQ_INT(env_append(f, "hello ", 6), 0);
    CHECK_EQ_INT(env_append(f, "world", 5), 0);
    CHECK_EQ_INT(env_sync(f), 0);
    uint64_t sz = 0;
    CHECK_EQ_INT(env_size(f, &sz), 0);
    CHECK_EQ_INT(sz, 11);
    CHECK_EQ_INT(env_close(f), 0);
    REQUIRE(env_open(e, path, ENV_READ, &f) == 0);
    char buf[16];
    CHECK_EQ_INT(env_read_exact(f, buf, 5, 6), 0);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_EQ_INT(env_read_exact(f, buf, 5, 8), ERR_CORRUPT);
    CHECK(strstr(err_msg(), "short read") != NULL);
    env_close(f);
    CHECK_EQ_INT(env_write_atomic(e, dir, "CURRENT", "x\n", 2), 0);
    char *data;
    size_t len;
    CHECK_EQ_INT(env_read_all(e, dir, &data, &len), ERR_IO); /* a directory read fails cleanly */
    snprintf(path, sizeof(path), "%s/CURRENT", dir);
    REQUIRE(env_read_all(e, path, &data, &len) == 0);
    CHECK_EQ_INT(len, 2);
    free(data);
    char **names;
    int n;
    REQUIRE(env_list_dir(e, dir, &names, &n) == 0);
    CHECK_EQ_INT(n, 2);
    env_free_list(names, n);
    snprintf(path, sizeof(path), "%s/missing", dir);
    CHECK_EQ_INT(env_open(e, path, ENV_READ, &f), ERR_NOTFOUND);
    CHECK(strstr(err_msg(), "missing") != NULL);
    env_file *l1, *l2;
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    REQUIRE(env_lock(e, path, &l1) == 0);
    CHECK_EQ_INT(env_lock(e, path, &l2), ERR_BUSY);
    env_close(l1);
}

static void test_rng(void)
{
    rng_t a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(rng_next(&a) == rng_next(&b));
    for (int i = 0; i < 1000; i++) CHECK(rng_below(&a, 7) < 7);
}

int main(void)
{
    RUN(test_crc32c_known);
    RUN(test_crc32c_long_inputs);
    RUN(test_varint);
    RUN(test_env_posix);
    RUN(test_rng);
    TEST_END();
}
