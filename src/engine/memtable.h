/* The memtable: recent writes in memory, one skiplist of internal keys per
 * partition, plus the memtable's range tombstones. One writer at a time (the
 * db's write leader); readers run concurrently without locks. Refcounted:
 * iterators and readers hold a reference. */
#ifndef STRATA_ENGINE_MEMTABLE_H
#define STRATA_ENGINE_MEMTABLE_H

#include "engine/iter.h"
#include "engine/rangedel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct memtable memtable;
typedef struct memtable_pool memtable_pool;

/* A pool of the memtables' 2 MiB arena blocks, so that a new memtable reuses
 * the (already faulted-in) memory of flushed ones instead of paying page
 * faults on the write path. Blocks in use plus blocks kept never exceed
 * max_bytes once returned: a block coming back past that bound is freed.
 * Once a memtable has taken a block, a thread of the pool keeps reserve_bytes
 * of blocks faulted in ahead of demand (within max_bytes; 0: no thread).
 * Refcounted: every memtable made from it holds a reference. */
memtable_pool *memtable_pool_new(size_t max_bytes, size_t reserve_bytes);
void memtable_pool_unref(memtable_pool *p);
/* Bytes of blocks kept for reuse (not in any memtable). */
size_t memtable_pool_idle_bytes(memtable_pool *p);

/* A memtable without pool or filter. */
memtable *memtable_new(void);
/* A memtable whose 2 MiB blocks come from and go back to pool (NULL: none),
 * with a whole-key filter of filter_bytes (rounded down to 64-byte blocks;
 * 0: none), charged to memtable_bytes from the start. */
memtable *memtable_new_pooled(memtable_pool *pool, size_t filter_bytes);
void memtable_ref(memtable *m);
void memtable_unref(memtable *m);
/* Adds one entry (writer only). type is TYPE_VALUE or TYPE_DELETION. */
int memtable_add(memtable *m, uint32_t part, uint64_t seq, int type, const void *key, size_t klen,
                 const void *val, size_t vlen);
/* One entry for memtable_add_many. */
typedef struct memtable_entry {
    uint32_t part;
    int type;
    uint64_t seq;
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} memtable_entry;
/* memtable_add of n entries (writer only), the skiplist searches of up to
 * 16 of them run interleaved so that their cache misses overlap. On an
 * error some entries may be in (as with a failed memtable_add midway). */
int memtable_add_many(memtable *m, const memtable_entry *e, size_t n);
/* Adds a range tombstone [start, end) at seq (writer only). */
int memtable_add_range_del(memtable *m, uint32_t part, uint64_t seq, const void *start, size_t slen,
                           const void *end, size_t elen);
/* Newest entry of key with seq <= snap: 0 and type, seq and val (valid while
 * the memtable is referenced); ERR_NOTFOUND if none. */
int memtable_get(memtable *m, uint32_t part, const void *key, size_t klen, uint64_t snap, int *type,
                 uint64_t *seq, const void **val, size_t *vlen);
/* The hash the filter uses for a key (compute once, probe several memtables). */
uint64_t memtable_key_hash(uint32_t part, const void *key, size_t klen);
/* memtable_get with hash = memtable_key_hash(part, key, klen): a key the
 * filter rules out costs one cache line, no skiplist search. */
int memtable_get_hashed(memtable *m, uint32_t part, const void *key, size_t klen, uint64_t hash,
                        uint64_t snap, int *type, uint64_t *seq, const void **val, size_t *vlen);
/* False only if no entry of that key (any sequence) was added; true without
 * a filter. For a reader at a snapshot not above the db's visible sequence
 * every entry it may see was added before it. */
bool memtable_may_contain(const memtable *m, uint64_t hash);
/* Starts loading the filter's cache line for hash (no-op without a filter):
 * probe several memtables with their loads overlapping. */
void memtable_prefetch(const memtable *m, uint64_t hash);
/* Bytes of the whole-key filter (0: none). */
size_t memtable_filter_bytes(const memtable *m);
/* Iterator over one partition's entries (holds a reference). */
ikiter *memtable_iter(memtable *m, uint32_t part);
/* Appends the partition's range tombstones to out. */
int memtable_range_dels(memtable *m, uint32_t part, rangedel_list *out);
/* True if the partition has any range tombstone in this memtable. */
bool memtable_has_range_dels(memtable *m, uint32_t part);
/* Memory used by entries (arena bytes handed out, incl. node overhead and
 * block tails left unused) plus range tombstones; at most one arena block
 * (2 MiB) less than what is allocated. */
size_t memtable_bytes(const memtable *m);
bool memtable_empty(const memtable *m);
/* Fills ids with the partitions holding data (up to max); returns the count. */
int memtable_partitions(memtable *m, uint32_t *ids, int max);
uint64_t memtable_entries(const memtable *m);
/* Smallest and largest sequence added (points and range tombstones); 0 if empty. */
uint64_t memtable_first_seq(const memtable *m);
uint64_t memtable_last_seq(const memtable *m);

#endif
