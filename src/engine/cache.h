/* The block cache: decoded SST blocks keyed by (file number, offset),
 * bounded in bytes, sharded, CLOCK replacement (an approximation of LRU). A looked-up block carries a reference the
 * caller drops with block_unref, so an in-use block is never freed; eviction
 * only drops the cache's own reference. Thread-safe. */
#ifndef STRATA_ENGINE_CACHE_H
#define STRATA_ENGINE_CACHE_H

#include "engine/block.h"

#include <stddef.h>
#include <stdint.h>

typedef struct block_cache block_cache;

block_cache *block_cache_new(size_t capacity_bytes);
void block_cache_free(block_cache *c);
/* A referenced block or NULL (counts a hit or a miss). */
block *block_cache_lookup(block_cache *c, uint64_t file, uint64_t off);
/* Inserts b (the cache takes its own reference); replaces an older entry. */
void block_cache_insert(block_cache *c, uint64_t file, uint64_t off, block *b);
/* Drops every block of a file (deleted files). */
void block_cache_erase_file(block_cache *c, uint64_t file);
void block_cache_set_capacity(block_cache *c, size_t capacity_bytes);
void block_cache_stats(block_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes,
                       uint64_t *capacity);

#endif
