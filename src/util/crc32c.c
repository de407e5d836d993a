/* CRC32C: hardware (SSE4.2 crc32 instruction, three chains at once on long
 * inputs) with a slicing-by-8 software fallback. Polynomial 0x82F63B78
 * (reflected). */
#include "util/crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static int use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static void init_hw(void);
#endif

static void init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
    if (use_hw) init_hw();
#endif
}

static uint32_t sw_extend(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of three cycles and a throughput of
 * one: one dependent chain uses a third of it. Long inputs run as three
 * chains over three equal lanes, joined with shift tables: the register
 * after lane a then lane b is the register after a, shifted over |b| zero
 * bytes, xor the register of b from zero; the shift is linear, so four
 * 256-entry tables of the shifted single bytes do it. */
#define LANE_LONG  8192
#define LANE_SHORT 256
_Static_assert(LANE_LONG % 8 == 0 && LANE_SHORT % 8 == 0, "lanes are whole 8-byte words");

static uint32_t shift_long[4][256], shift_short[4][256];

/* v times x^(8 n) mod P: the register v after n zero bytes. */
static uint32_t shift_slow(uint32_t v, size_t n)
{
    static const uint8_t zeros[LANE_LONG];
    return sw_extend(v, zeros, n);
}

static void init_shift(uint32_t t[4][256], size_t n)
{
    uint32_t bit[32];
    for (int i = 0; i < 32; i++) bit[i] = shift_slow(1u << i, n);
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int i = 0; i < 8; i++)
                if (b & (1u << i)) v ^= bit[8 * k + i];
            t[k][b] = v;
        }
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

static void init_hw(void)
{
    init_shift(shift_long, LANE_LONG);
    init_shift(shift_short, LANE_SHORT);
}

__attribute__((target("sse4.2"))) static uint32_t hw_lanes(uint32_t crc, const uint8_t *p,
                                                           size_t lane, const uint32_t t[4][256])
{
    uint64_t c0 = crc, c1 = 0, c2 = 0;
    for (const uint8_t *end = p + lane; p < end; p += 8) {
        uint64_t w0, w1, w2;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + lane, 8);
        memcpy(&w2, p + 2 * lane, 8);
        c0 = __builtin_ia32_crc32di(c0, w0);
        c1 = __builtin_ia32_crc32di(c1, w1);
        c2 = __builtin_ia32_crc32di(c2, w2);
    }
    uint32_t c = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
    return shift(t, c) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t hw_extend(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    for (; n >= 3 * LANE_LONG; p += 3 * LANE_LONG, n -= 3 * LANE_LONG)
        crc = hw_lanes(crc, p, LANE_LONG, shift_long);
    for (; n >= 3 * LANE_SHORT; p += 3 * LANE_SHORT, n -= 3 * LANE_SHORT)
        crc = hw_lanes(crc, p, LANE_SHORT, shift_short);
    uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&once, init_tables);
    crc = ~crc;
#if defined(__x86_64__)
    if (use_hw) return ~hw_extend(crc, data, n);
#endif
    return ~sw_extend(crc, data, n);
}
