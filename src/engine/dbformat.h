/* Internal key format shared by every engine module.
 *
 * An internal key is the user key followed by an 8-byte little-endian
 * trailer (seq << 8) | type. Internal keys sort by user key ascending
 * (bytewise), then by trailer descending, so the newest version of a key
 * comes first. Sequence numbers use 56 bits.
 *
 * Keys never carry a partition: the db keeps one memtable skiplist per
 * partition and every SST file belongs to exactly one partition.
 */
#ifndef STRATA_ENGINE_DBFORMAT_H
#define STRATA_ENGINE_DBFORMAT_H

#include "util/coding.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SEQ_MAX      ((1ull << 56) - 1)
#define IKEY_TRAILER 8

/* Record types, stored in the low byte of the trailer. TYPE_VALUE > TYPE_DELETION
 * so that a lookup key built with TYPE_SEEK sorts before every entry of the same
 * user key and sequence. */
enum {
    TYPE_DELETION = 0,
    TYPE_VALUE = 1,
    TYPE_RANGE_DELETION = 2, /* only in range-tombstone lists, never in point data */
    TYPE_SEEK = TYPE_RANGE_DELETION,
};

static inline uint64_t ikey_pack(uint64_t seq, int type)
{
    return (seq << 8) | (uint64_t)type;
}
static inline uint64_t ikey_trailer(const void *ikey, size_t len)
{
    return get_u64((const uint8_t *)ikey + len - IKEY_TRAILER);
}
static inline uint64_t ikey_seq(const void *ikey, size_t len)
{
    return ikey_trailer(ikey, len) >> 8;
}
static inline int ikey_type(const void *ikey, size_t len)
{
    return (int)(ikey_trailer(ikey, len) & 0xff);
}
static inline size_t ikey_user_len(size_t len)
{
    return len - IKEY_TRAILER;
}

/* Writes user key + trailer into dst (room for klen + 8); returns klen + 8. */
static inline size_t ikey_build(uint8_t *dst, const void *ukey, size_t klen, uint64_t seq, int type)
{
    if (klen) memcpy(dst, ukey, klen);
    put_u64(dst + klen, ikey_pack(seq, type));
    return klen + IKEY_TRAILER;
}

/* Bytewise comparison of user keys. */
static inline int ukey_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* Internal key order: user key ascending, then trailer descending. */
static inline int ikey_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = ukey_cmp(a, alen - IKEY_TRAILER, b, blen - IKEY_TRAILER);
    if (c) return c;
    uint64_t ta = ikey_trailer(a, alen), tb = ikey_trailer(b, blen);
    return ta > tb ? -1 : ta < tb;
}

static inline uint64_t ikey_load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* ikey_cmp for the search loops over short keys (memtable, block search):
 * eight bytes at a time as big-endian integers, without a call to memcmp.
 * Same order as ikey_cmp. */
static inline int ikey_cmp_inline(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t ua = alen - IKEY_TRAILER, ub = blen - IKEY_TRAILER, n = ua < ub ? ua : ub, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = ikey_load_be64(a + i), y = ikey_load_be64(b + i);
        if (x != y) return x < y ? -1 : 1;
    }
    for (; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    if (ua != ub) return ua < ub ? -1 : 1;
    uint64_t ta = get_u64(a + ua), tb = get_u64(b + ub);
    return ta > tb ? -1 : ta < tb;
}

#endif
