/* The table cache: open SST readers keyed by file number, bounded by a count
 * of open files (table_cache_files), LRU. A reader handed out is pinned until
 * released, so eviction never closes a table in use. Thread-safe. */
#ifndef STRATA_ENGINE_TABLECACHE_H
#define STRATA_ENGINE_TABLECACHE_H

#include "engine/cache.h"
#include "engine/sst.h"
#include "util/env.h"

#include <stdbool.h>

#include <stdint.h>

typedef struct table_cache table_cache;
typedef struct tc_handle tc_handle;

/* mmap_reads: tables are read through a mapping of the whole file where the
 * env can map it (no system call or copy per block read, but the mapped
 * pages count as the process's resident memory); else through pread. */
table_cache *table_cache_new(env_t *env, const char *dir, int max_open, block_cache *bc,
                             bool mmap_reads);
void table_cache_free(table_cache *tc);
/* Opens (or finds) table `number` of `size` bytes; *r is valid until
 * table_cache_release(tc, *h). */
int table_cache_get(table_cache *tc, uint64_t number, uint64_t size, tc_handle **h, sst_reader **r);
void table_cache_release(table_cache *tc, tc_handle *h);
/* Forgets a deleted table (closed when its last user releases it). */
void table_cache_evict(table_cache *tc, uint64_t number);
int table_cache_open_count(table_cache *tc);
uint64_t table_cache_bloom_useful(table_cache *tc);
/* Path of table `number` in dir into buf (room for PATH_MAX). */
void table_path(char *buf, size_t cap, const char *dir, uint64_t number);

#endif
