/* CRC32C (Castagnoli), the checksum of every durable and wire record.
 * Uses the SSE4.2 instruction when the CPU has it, a table otherwise. */
#ifndef STRATA_UTIL_CRC32C_H
#define STRATA_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over n bytes of data; returns the new CRC. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);
static inline uint32_t crc32c(const void *data, size_t n)
{
    return crc32c_extend(0, data, n);
}
/* Masked form for CRCs stored next to the data they cover (as LevelDB does),
 * so that a CRC of a string containing CRCs stays well distributed. */
static inline uint32_t crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t crc32c_unmask(uint32_t m)
{
    uint32_t r = m - 0xa282ead8u;
    return (r >> 17) | (r << 15);
}

#endif
