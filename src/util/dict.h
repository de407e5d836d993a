/* Hash map from binary-safe byte strings to pointers (chained, power-of-two
 * table, doubled at load factor 1). Used for the command table, channels,
 * watched keys and the config table; keys are copied into the entries.
 *
 * Invariants: size is a power of two (or 0 before the first add); count is the
 * number of entries; with nocase set, keys compare and hash ASCII
 * case-insensitively. Iteration order is unspecified; deleting the entry
 * an iterator just returned is allowed (dict_next keeps the successor). */
#ifndef STRATA_UTIL_DICT_H
#define STRATA_UTIL_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dict_entry {
    struct dict_entry *next;
    uint64_t hash;
    void *val;
    size_t klen;
    char key[]; /* NUL-terminated copy */
} dict_entry;

typedef struct dict {
    dict_entry **tab;
    size_t size;
    size_t count;
    int nocase;
} dict;

typedef struct dict_iter {
    const dict *d;
    size_t bucket;
    dict_entry *next;
} dict_iter;

void dict_init(dict *d, int nocase);
/* Frees entries (not values; call free_val on each if non-NULL). */
void dict_clear(dict *d, void (*free_val)(void *));
dict_entry *dict_find(const dict *d, const void *key, size_t klen);
/* Adds key (must be absent) and returns its entry. Aborts on OOM. */
dict_entry *dict_add(dict *d, const void *key, size_t klen, void *val);
/* Removes key; returns its value or NULL when absent. */
void *dict_del(dict *d, const void *key, size_t klen);
uint64_t dict_hash(const void *key, size_t klen, int nocase);

void dict_iter_init(dict_iter *it, const dict *d);
dict_entry *dict_next(dict_iter *it);

#endif
