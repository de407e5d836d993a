/* Encoded write batches: the unit of the WAL, of group commit and of the
 * change-log tail. Layout (docs/format/wal.md):
 *   seq u64 | count u32 | op*
 *   op = kind u8 | partition varint | key (varint len, bytes)
 *        | value or range end (varint len, bytes; absent for DELETE)
 * Invariant: count equals the number of ops; decoding validates every length
 * against the buffer. */
#ifndef STRATA_ENGINE_BATCH_H
#define STRATA_ENGINE_BATCH_H

#include "strata/engine.h"

#include <stddef.h>
#include <stdint.h>

#define BATCH_HEADER 12

struct strata_batch {
    uint8_t *buf;
    size_t len, cap;
    int oom; /* an append failed for lack of memory: writing the batch fails */
};

void batch__set_seq(strata_batch *b, uint64_t seq);
uint64_t batch__seq(const strata_batch *b);
const uint8_t *batch__data(const strata_batch *b, size_t *len);
/* Replaces b's content with a validated copy of an encoded batch. */
int batch__from_encoded(strata_batch *b, const void *data, size_t len);
/* Appends src's operations to dst (group commit). */
int batch__append(strata_batch *dst, const strata_batch *src);
/* Checks an encoded batch's structure; 0 or ERR_CORRUPT. */
int batch__validate(const void *data, size_t len);

#endif
