/* Fixed-width little-endian and LEB128 varint encoding of integers, used by
 * every on-disk and wire format. Decoders never read past their limit. */
#ifndef STRATA_UTIL_CODING_H
#define STRATA_UTIL_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

#define VARINT_MAX 10
/* Writes v as a varint at p (room for VARINT_MAX bytes); returns bytes written. */
static inline size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}
/* Bytes put_varint would write for v. */
static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
/* The general case of get_varint (two or more bytes); kept out of line so
 * the one-byte fast path inlines into the block decoders. */
static __attribute__((noinline, unused)) size_t get_varint_slow(const uint8_t *p,
                                                                const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < VARINT_MAX && p + i < end; i++) {
        uint64_t b = p[i];
        if (i == 9 && b > 1) return 0;
        r |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}
/* Reads a varint from [p, end); returns bytes consumed, 0 if truncated or overlong. */
static inline __attribute__((always_inline)) size_t get_varint(const uint8_t *p, const uint8_t *end,
                                                               uint64_t *v)
{
    if (__builtin_expect(p < end && p[0] < 0x80, 1)) { /* lengths and small counts */
        *v = p[0];
        return 1;
    }
    return get_varint_slow(p, end, v);
}
/* The same for a value that must fit 32 bits (lengths inside a block). */
static inline __attribute__((always_inline)) size_t get_varint32(const uint8_t *p,
                                                                 const uint8_t *end, uint32_t *v)
{
    uint64_t x;
    size_t n = get_varint(p, end, &x);
    if (!n || x > UINT32_MAX) return 0;
    *v = (uint32_t)x;
    return n;
}

#endif
