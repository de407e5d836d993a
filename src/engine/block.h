/* Blocks of sorted entries with prefix-compressed keys (data and index
 * blocks of SST files; docs/format/sst.md):
 *   entry   = shared varint | unshared varint | vlen varint | key suffix | value
 *   trailer = restart offsets u32 * n | n u32
 * A restart point every `restart_interval` entries stores its key whole, so
 * seeks binary-search the restarts. Decoding is bounds-checked: a malformed
 * block makes the iterator invalid with ERR_CORRUPT, never reads outside.
 * block_new checks the trailer (restart 0 first, restarts strictly ascending
 * and inside the entries); the iterator checks each entry, that every key is
 * an internal key (>= 8 bytes), and that stepping back lands on an entry. */
#ifndef STRATA_ENGINE_BLOCK_H
#define STRATA_ENGINE_BLOCK_H

#include "engine/iter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct block_builder {
    uint8_t *buf;
    size_t len, cap;
    uint32_t *restarts;
    int n_restarts, cap_restarts;
    int interval, counter, entries;
    uint8_t *last_key;
    size_t last_len, last_cap;
    int oom;
} block_builder;

void block_builder_init(block_builder *b, int restart_interval);
void block_builder_free(block_builder *b);
void block_builder_reset(block_builder *b);
/* Adds an entry; keys must ascend. */
int block_builder_add(block_builder *b, const void *k, size_t klen, const void *v, size_t vlen);
/* Finishes the block: the encoded bytes stay valid until reset/free. */
const uint8_t *block_builder_finish(block_builder *b, size_t *len);
size_t block_builder_size_estimate(const block_builder *b);
static inline int block_builder_empty(const block_builder *b)
{
    return b->entries == 0;
}

/* A decoded (uncompressed) block held in memory and shared by refcount.
 * The c_* fields belong to the block cache (engine/cache.c) while the block
 * is in it (a block is in at most one cache, once); they come first so that
 * a cache lookup reads the entry's key and the refcount in one cache line.
 *
 * A block with at most BLOCK_INLINE_RESTARTS restarts inside its first
 * 64 KiB (a typical data block) carries, per restart key, the 4 user-key
 * bytes after the prefix that all of them share (line 1), and its restart
 * offsets and that prefix (up to BLOCK_PREFIX_MAX bytes, line 2), so a
 * search picks its restart interval from the header alone and then reads
 * one place of the data. Nothing of this is stored on disk. */
#define BLOCK_INLINE_RESTARTS 16
#define BLOCK_PREFIX_MAX      24
typedef struct block {
    /* line 0: what a cache probe, a search and an eviction read */
    uint64_t c_file, c_off;
    _Atomic int refs;
    bool c_cached;
    uint8_t skip;         /* length of prefix[] (meaningful when nums) */
    bool nums;            /* num[] holds every restart key's number */
    bool inline_restarts; /* restarts[] holds the restart offsets */
    const uint8_t *data;  /* owned: freed with the block */
    uint32_t restart_off; /* offset of the restart array */
    uint32_t n_restarts;
    size_t size;
    uint32_t c_slot;           /* index in the cache shard's CLOCK slots */
    uint32_t alloc_cap;        /* block_alloc'd: bytes of room after the struct */
    struct block_accel *accel; /* optional search accelerator (block_accelerate) */
    /* line 1: big-endian user-key bytes [skip, skip + 4) per restart key, zero-padded */
    uint32_t num[BLOCK_INLINE_RESTARTS];
    /* line 2 */
    uint16_t restarts[BLOCK_INLINE_RESTARTS]; /* when inline_restarts */
    uint8_t prefix[BLOCK_PREFIX_MAX];         /* the user-key prefix every restart key shares */
    /* Called instead of free when set (blocks from block_new only). */
    void (*release)(struct block *b, void *arg);
    void *release_arg;
} block;

/* Wraps malloc'd data (ownership passes); ERR_CORRUPT if the trailer is bad.
 * what names the file and offset for error messages. */
int block_new(uint8_t *data, size_t size, const char *what, block **out);
/* A block and room for its size bytes in one allocation (*data): fill the
 * bytes, then block_seal. NULL if out of memory or too big. */
block *block_alloc(size_t size, uint8_t **data);
/* Checks the trailer of a block_alloc'd block: 0, or ERR_CORRUPT naming what
 * (the block is freed). */
int block_seal(block *b, const char *what);
/* Builds a search accelerator for a big block that stays in memory (an SST
 * index): about 8 bytes per restart; seeks then compare integers instead of
 * keys on most probes. 0 (also when the block is small or malformed: then it
 * is searched the plain way) or ERR_NOMEM. Call before sharing the block. */
int block_accelerate(block *b);
/* Starts fetching the bytes a search of b reads first: the header lines
 * that hold its restart numbers, or else its restart array. */
static inline void block_prefetch(const block *b)
{
    if (b->nums) {
        __builtin_prefetch((const char *)b + 64);
        __builtin_prefetch((const char *)b + 128);
    } else if (b->n_restarts > BLOCK_INLINE_RESTARTS) {
        __builtin_prefetch(b->data + b->restart_off);
    }
}
void block_ref(block *b);
void block_unref(block *b);

/* Iterator over a block (takes a reference). cmp orders keys: ikey_cmp for
 * data and index blocks. what is copied for error messages. */
ikiter *block_iter_new(block *b, const char *what);
/* The same, naming errors "<file>: ... at offset <off>"; file is not copied
 * and must outlive the iterator (cheaper: nothing is formatted unless an
 * error occurs). */
ikiter *block_iter_new_at(block *b, const char *file, uint64_t off);

/* One entry found by block_find. Keys of entries that share a prefix with
 * the one before are rebuilt in a scratch buffer (inline, or malloc'd for
 * long keys): init once, free after the last use. */
typedef struct block_entry {
    const uint8_t *key, *val; /* valid while the block and the entry are */
    size_t klen, vlen;
    uint8_t *kbuf;
    size_t kcap;
    uint8_t inline_key[128];
} block_entry;

static inline void block_entry_init(block_entry *e)
{
    e->kbuf = e->inline_key;
    e->kcap = sizeof(e->inline_key);
}
void block_entry_free(block_entry *e);

/* Point lookup without an iterator: the first entry with internal key >= k.
 * 1 with *e filled, 0 if every key is < k, ERR_CORRUPT naming file and off
 * (the block's offset) if an entry on the way is malformed, ERR_NOMEM. */
int block_find(const block *b, const void *k, size_t klen, block_entry *e, const char *file,
               uint64_t off);

#endif
