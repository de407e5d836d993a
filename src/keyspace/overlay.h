/* The write overlay of one keyspace transaction: every put, delete and range
 * delete the keyspace adds to the caller's engine batch is mirrored here so
 * that reads later in the same command or EXEC see them (the engine batch
 * itself is write-only). Internal to keyspace/.
 *
 * Invariants
 *  1. get() answers for a key written in the overlay (value or deletion);
 *     for other keys the caller asks covered() and then the engine.
 *  2. A range delete turns every overlay entry inside it into a deletion
 *     and is remembered, so engine keys inside it read as absent.
 *  3. The sorted view (for merged iteration) is rebuilt only after writes. */
#ifndef STRATA_KEYSPACE_OVERLAY_H
#define STRATA_KEYSPACE_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ks__ov_entry {
    uint8_t *key;
    size_t klen;
    uint8_t *val; /* NULL for a deletion */
    size_t vlen;
    uint64_t hash;
} ks__ov_entry;

typedef struct ks__overlay ks__overlay;

ks__overlay *ks__ov_new(void);
void ks__ov_free(ks__overlay *o);
/* Forgets everything (the batch was committed or discarded). */
void ks__ov_clear(ks__overlay *o);
/* Number of writes recorded since the last clear. */
size_t ks__ov_writes(const ks__overlay *o);
int ks__ov_put(ks__overlay *o, const void *k, size_t klen, const void *v, size_t vlen);
int ks__ov_del(ks__overlay *o, const void *k, size_t klen);
int ks__ov_del_range(ks__overlay *o, const void *s, size_t slen, const void *e, size_t elen);
/* The entry for k, or NULL when the overlay has none. */
const ks__ov_entry *ks__ov_get(const ks__overlay *o, const void *k, size_t klen);
/* 1 when an engine key k is hidden by a range delete of the overlay. */
int ks__ov_covered(const ks__overlay *o, const void *k, size_t klen);
/* Entries sorted by key (bytewise); *n gets their number. Valid until the
 * next write. */
ks__ov_entry *const *ks__ov_sorted(ks__overlay *o, size_t *n);

/* Entries in insertion order (one per key); *n gets their number. Valid
 * until the next write or clear. */
const ks__ov_entry *ks__ov_entries(const ks__overlay *o, size_t *n);
/* Number of range deletes recorded since the last clear. */
size_t ks__ov_ranges(const ks__overlay *o);

/* Bytewise key comparison (memcmp, shorter first on a tie). */
int ks__keycmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
