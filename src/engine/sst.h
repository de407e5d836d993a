/* Sorted string table files (NNNNNN.sst): immutable, sorted internal keys of
 * one partition, written once by flush or compaction (docs/format/sst.md).
 *   [data blocks][range-del block][filter block][props block][index block][footer]
 * Every block is followed by a 5-byte trailer (compression type u8, masked
 * CRC32C u32 of payload+type); the 64-byte footer carries the block handles,
 * the format version, a magic number and its own CRC32C. Readers verify all
 * of it; every corruption error names the file and the offset. */
#ifndef STRATA_ENGINE_SST_H
#define STRATA_ENGINE_SST_H

#include "engine/cache.h"
#include "engine/iter.h"
#include "engine/rangedel.h"
#include "util/env.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SST_MAGIC       0x3174737461727473ull /* "stratst1" */
#define SST_VERSION     2                     /* what the builder writes */
#define SST_VERSION_MIN 1 /* oldest a reader opens: one bloom over the file's bits */
#define SST_FOOTER      64

typedef struct sst_options {
    size_t block_size;
    int restart_interval;
    int bloom_bits_per_key;
    int compression; /* enum strata_compression */
    int zstd_level;
    int format_version; /* 0: SST_VERSION; 1 writes the old filter (tests of old files) */
} sst_options;

typedef struct sst_props {
    uint64_t file_size;
    uint64_t entries, range_dels;
    uint64_t smallest_seq, largest_seq;
    uint64_t raw_key_bytes, raw_value_bytes;
    uint8_t *smallest, *largest; /* internal keys, malloc'd; range dels widen them */
    size_t smallest_len, largest_len;
} sst_props;

void sst_props_free(sst_props *p);

typedef struct sst_builder sst_builder;

int sst_builder_open(env_t *env, const char *path, const sst_options *o, sst_builder **out);
/* Adds an entry; internal keys must ascend. */
int sst_builder_add(sst_builder *b, const void *ikey, size_t iklen, const void *val, size_t vlen);
int sst_builder_add_range_del(sst_builder *b, const void *start, size_t slen, const void *end,
                              size_t elen, uint64_t seq);
/* Bytes written so far plus the pending block (for output splitting). */
uint64_t sst_builder_size(const sst_builder *b);
uint64_t sst_builder_entries(const sst_builder *b);
/* Writes the remaining blocks and footer, syncs and closes; fills props. */
int sst_builder_finish(sst_builder *b, sst_props *props);
/* Closes and deletes the partial file. */
void sst_builder_abandon(sst_builder *b);

typedef struct sst_reader sst_reader;

/* Opens and verifies a table. file_size 0 means "ask the file system". */
int sst_reader_open(env_t *env, const char *path, uint64_t file_number, uint64_t file_size,
                    block_cache *cache, sst_reader **out);
void sst_reader_close(sst_reader *r);
/* Newest entry of ukey with seq <= snap: 0 with type, seq and a malloc'd
 * value (val may be NULL to skip the copy); ERR_NOTFOUND if none. */
int sst_reader_get(sst_reader *r, const void *ukey, size_t klen, uint64_t snap, int *type,
                   uint64_t *seq, void **val, size_t *vlen);
/* The same with hash == sst_key_hash(ukey, klen), computed once by a caller
 * that looks in several files. */
int sst_reader_get_hashed(sst_reader *r, const void *ukey, size_t klen, uint64_t hash,
                          uint64_t snap, int *type, uint64_t *seq, void **val, size_t *vlen);
uint64_t sst_key_hash(const void *ukey, size_t klen);
/* True if the bloom filter says ukey may be present. */
bool sst_reader_may_contain(sst_reader *r, const void *ukey, size_t klen);
/* Two-level iterator (index -> data blocks); it holds a reference on r, so
 * r may be closed before the iterator is destroyed. NULL if out of memory. */
ikiter *sst_reader_iter(sst_reader *r, bool fill_cache);
/* Whether data blocks read later have their CRC checked (default true; the
 * footer and the pinned meta blocks are always checked at open). */
void sst_reader_set_verify(sst_reader *r, bool verify);
/* Reads of r go through pread from now on instead of its mapping (before
 * any other thread uses r). */
void sst_reader_unmap(sst_reader *r);
const rangedel_list *sst_reader_range_dels(sst_reader *r);
const sst_props *sst_reader_props(sst_reader *r);
uint64_t sst_reader_bloom_useful(sst_reader *r);

#endif
