/* Row cache of metadata records: engine key -> value as the engine holds
 * it (or "absent"), so a GET or the read before a SET of a recently used
 * key costs one hash probe instead of a memtable and SST search. Internal
 * to keyspace/.
 *
 * Invariants
 *  1. An entry always equals what the engine returns for its key: the
 *     keyspace updates it with every committed write (ks commit path), drops
 *     what a batch of unknown fate touched, and clears it whenever the
 *     engine changes under it (attach, reload, range deletes, batches
 *     applied from a primary).
 *  2. Bounded: at most cap_bytes charged (key + value + overhead per
 *     entry), entries over RC_MAX_ENTRY bytes are never cached; each key
 *     has six candidate ways (6-way set associative), so a new key evicts
 *     at most one entry.
 *  3. An entry handed out by ks__rc_get stays valid until ks__rc_unref,
 *     even if it is evicted meanwhile (reference count).
 * Loop thread only (the compaction filter never touches it). */
#ifndef STRATA_KEYSPACE_ROWCACHE_H
#define STRATA_KEYSPACE_ROWCACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ks__rc ks__rc;

/* A cache of about cap_bytes; NULL when cap_bytes is 0 (no cache) or on ENOMEM. */
ks__rc *ks__rc_new(size_t cap_bytes);
void ks__rc_free(ks__rc *rc);
/* Looks k up: 0 not cached; 1 cached absent; 2 cached present, *v and *vl
 * then give the value, which holds a reference (ks__rc_unref(*v)). */
int ks__rc_get(ks__rc *rc, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl);
/* Records that the engine holds v for k (v NULL: k is absent). */
void ks__rc_put(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl);
/* ks__rc_put when k is cached, else nothing. */
void ks__rc_update(ks__rc *rc, const uint8_t *k, size_t kl, const void *v, size_t vl);
/* Forgets k. */
void ks__rc_erase(ks__rc *rc, const uint8_t *k, size_t kl);
/* Forgets everything. */
void ks__rc_clear(ks__rc *rc);
/* Releases a value returned by ks__rc_get. */
void ks__rc_unref(const void *v);
/* Hits and misses since start, and bytes charged now. */
void ks__rc_stats(const ks__rc *rc, uint64_t *hits, uint64_t *misses, size_t *bytes);

#endif
