/* Range tombstones: "every key k with start <= k < end and a sequence below
 * seq is deleted". Lists of them are gathered from memtables and SST files
 * and consulted by reads, iterators and compaction. */
#ifndef STRATA_ENGINE_RANGEDEL_H
#define STRATA_ENGINE_RANGEDEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rangedel {
    uint8_t *start, *end; /* malloc'd user keys */
    size_t slen, elen;
    uint64_t seq;
} rangedel;

typedef struct rangedel_list {
    rangedel *v;
    int n, cap;
} rangedel_list;

int rangedel_list_add(rangedel_list *l, const void *start, size_t slen, const void *end,
                      size_t elen, uint64_t seq);
int rangedel_list_append(rangedel_list *dst, const rangedel_list *src);
void rangedel_list_free(rangedel_list *l);
/* True if a tombstone t with key_seq < t.seq <= snap covers ukey. */
bool rangedel_covers(const rangedel_list *l, const void *ukey, size_t klen, uint64_t key_seq,
                     uint64_t snap);
/* The largest tombstone seq <= snap covering ukey, or 0. */
uint64_t rangedel_max_seq(const rangedel_list *l, const void *ukey, size_t klen, uint64_t snap);

#endif
