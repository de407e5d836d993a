/* The keyspace: how Redis data types live on engine keys (docs/keyspace.md
 * has the byte layout). One ks_t per server; everything but the compaction
 * filter runs on the server's loop thread.
 *
 * Transactions. A command (or a whole EXEC) gets a ks_txn from ks_begin()
 * with the caller's engine batch and a batch generation. Every write the
 * keyspace makes goes into that batch and into an overlay, so later reads
 * of the same command or EXEC see them. The caller commits the batch; when
 * the generation changes (committed or discarded) the next ks_begin() drops
 * the overlay and re-reads the few bookkeeping records it had changed (key
 * counts, db map, version mark) from the engine, so in-memory state follows
 * whatever the engine really holds, even after a failed commit.
 *
 * Invariants
 *  1. A key's metadata record, its key count (put by ks_end) and its expiry
 *     index entry change in the same batch, so DBSIZE is right after any crash.
 *  2. Collection versions are unique for the life of the database (a
 *     persisted high-water mark is bumped in the same batch that uses a new
 *     version), so fields of a dead version are garbage forever; the
 *     compaction filter drops them once the batch marking them dead is known
 *     to be committed.
 *  3. A logically expired key is never returned. On a primary the read that
 *     finds it deletes it; in replica mode it is hidden but kept.
 *
 * Metadata (ks_meta). exists/type/expire/version/count describe the key as
 * the transaction sees it; stored/stored_expire describe the record the
 * batch currently holds for it (they differ for a hidden expired key in
 * replica mode and for a new hash before ks_hash_commit). Pass the same
 * ks_meta from ks_lookup to the write calls for that key. */
#ifndef STRATA_KEYSPACE_KEYSPACE_H
#define STRATA_KEYSPACE_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "strata/engine.h"

#define KS_MAX_DBS 255 /* databases: physical ids 0..254; 0xFF prefixes system records */

enum ks_type { KS_NONE = 0, KS_STRING = 1, KS_HASH = 2 };

typedef struct ks ks_t;
typedef struct ks_txn ks_txn;

typedef struct ks_meta {
    int exists;         /* visible to this transaction */
    int type;           /* enum ks_type */
    int64_t expire_ms;  /* absolute unix ms, 0 = none */
    uint64_t version;   /* collections: id of the field set */
    uint64_t count;     /* collections: number of fields */
    const uint8_t *val; /* strings: the value (valid until ks_meta_release) */
    size_t vlen;
    int stored;            /* a metadata record is in the engine/batch */
    int64_t stored_expire; /* its expiry */
    int stored_type;
    uint64_t stored_version, stored_count;
    void *buf_;
    int buf_engine_;
    const void *slot_key_; /* ks_lookup's key: its slot is slot_ (saves a CRC per write) */
    size_t slot_klen_;
    uint16_t slot_;
} ks_meta;

/* Creates a keyspace not yet attached to an engine. */
ks_t *ks_new(void);
/* Installs the keyspace's compaction filter into engine options (before strata_open). */
void ks_engine_options(ks_t *ks, strata_options *o);
/* Attaches the open engine: loads the db map, key counts, version mark and
 * dead versions. databases is 1..KS_MAX_DBS. */
int ks_attach(ks_t *ks, strata_db *db, int databases);
/* Frees the keyspace (the engine stays open; close it afterwards). */
void ks_free(ks_t *ks);
int ks_databases(const ks_t *ks);
/* Sizes the row cache of metadata records (0 turns it off): a GET, or the
 * read before a write, of a cached key needs no engine lookup. It follows
 * every write made through the keyspace and ks_follow. 0 or ERR_NOMEM. */
int ks_set_cache_bytes(ks_t *ks, size_t bytes);
/* Row cache hits and misses so far, and the bytes it holds. */
void ks_cache_stats(const ks_t *ks, uint64_t *hits, uint64_t *misses, size_t *bytes);
/* Replica mode: expired keys are hidden, never deleted by this node, and
 * ks_cron writes nothing (the primary's stream carries every change). */
void ks_set_replica(ks_t *ks, int on);
/* Drops every in-memory state and attaches to db again (a new engine handle
 * after a replica's full sync, or a replica promoted to primary). */
int ks_reload(ks_t *ks, strata_db *db);
/* Follows an encoded batch that was applied to the engine from elsewhere
 * (a replica applying its primary's stream): re-reads the key counts, db
 * map and version mark it changed and tracks the dead field sets it adds
 * or removes. Call after the write, between commands. */
int ks_follow(ks_t *ks, const void *data, size_t len);
/* Called for every key this node deletes because it expired (logical db). */
typedef void (*ks_expired_fn)(void *arg, int db, const void *key, size_t len);
void ks_set_expired_hook(ks_t *ks, ks_expired_fn fn, void *arg);

/* Starts (or continues, same gen) a transaction writing into b; now_ms is
 * the time expiry is judged against. Never fails. */
ks_txn *ks_begin(ks_t *ks, strata_batch *b, uint64_t gen, int64_t now_ms);
int64_t ks_now(const ks_txn *t);
/* The caller's commit of the batch succeeded (1) or not (0): drops the
 * overlay and adopts (or re-reads) the keyspace's bookkeeping at once,
 * without waiting for the next ks_begin to notice the new generation. */
void ks_commit_done(ks_t *ks, int committed);
/* Puts the key-count records changed by the command into the batch. Call
 * after every command that may have written (and before the batch is
 * committed); a batch committed without it is treated as not committed. */
int ks_end(ks_txn *t);

/* ---- Keys ---- */
/* Fills m (m->exists = 0 when absent). 0, or an engine error. */
int ks_lookup(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m);
void ks_meta_release(ks_meta *m);
/* Makes key a string (replacing whatever m says is there). expire_ms 0 = none. */
int ks_set_string(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *val,
                  size_t vlen, int64_t expire_ms);
/* Deletes the key if stored. Returns 1 if it existed (visible), else 0, or an error. */
int ks_delete(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m);
/* Sets (0 = removes) the expiry of an existing key. */
int ks_set_expire(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, int64_t expire_ms);
/* Copies src (existing) to dst (replaced). move_src deletes src as well
 * (RENAME, MOVE); a hash that stays in the same db and slot keeps its field
 * set (O(1)), otherwise its fields are copied. keep the source's expiry. */
int ks_copy(ks_txn *t, int sdb, const void *skey, size_t sklen, ks_meta *src, int ddb,
            const void *dkey, size_t dklen, ks_meta *dst, int move_src);

/* ---- Hashes ---- (m from ks_lookup; the caller checks the type) */
/* Gets a field: 0 with *val (malloc'd, caller frees) or ERR_NOTFOUND. */
int ks_hash_get(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, const void *f,
                size_t flen, void **val, size_t *vlen);
/* Sets a field, making m a new empty hash first when it does not exist.
 * *added = 1 when the field is new. Call ks_hash_commit after the last change. */
int ks_hash_put(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *f,
                size_t flen, const void *v, size_t vlen, int *added);
/* Deletes a field; *removed = 1 when it was there. */
int ks_hash_del(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *f,
                size_t flen, int *removed);
/* Writes the hash's metadata (count); deletes the key when it has no field left. */
int ks_hash_commit(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m);
/* Visits fields in cursor order from cursor (0 = start); count 0 = all,
 * else about count fields. *next gets the cursor to continue with (0 = done).
 * fn returns non-zero to stop early (then *next is meaningless). */
typedef int (*ks_field_fn)(void *arg, const void *f, size_t flen, const void *v, size_t vlen);
int ks_hash_scan(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, uint64_t cursor,
                 size_t count, ks_field_fn fn, void *arg, uint64_t *next);

/* ---- Databases ---- */
uint64_t ks_dbsize(ks_txn *t, int db);
uint64_t ks_db_expires(ks_txn *t, int db);
/* Keys (and keys with an expiry) as last committed, for INFO; no transaction needed. */
uint64_t ks_dbsize_committed(ks_t *ks, int db, uint64_t *expires);
int ks_flushdb(ks_txn *t, int db);
int ks_flushall(ks_txn *t);
int ks_swapdb(ks_txn *t, int a, int b);
/* SCAN: visits up to about count keys from cursor (0 = start) in slot
 * order; type KS_NONE = any; pattern NULL = any. *next = 0 when done. */
typedef int (*ks_key_fn)(void *arg, const void *key, size_t klen);
int ks_scan(ks_txn *t, int db, uint64_t cursor, size_t count, int type, const char *pattern,
            size_t plen, ks_key_fn fn, void *arg, uint64_t *next);
/* A random existing key (malloc'd) or ERR_NOTFOUND; no full scan. */
int ks_randomkey(ks_txn *t, int db, void **key, size_t *klen);

/* ---- Checksums and serialization ---- */
/* Order-independent digest of every visible key of every db: 40 hex chars
 * and a NUL; all zeros when empty. Same data (keys, types, values, expiry
 * times, db numbers) gives the same digest. */
int ks_digest(ks_txn *t, char out[41]);
/* Digest of one key's value (type and content); zeros if absent. */
int ks_digest_value(ks_txn *t, int db, const void *key, size_t klen, char out[41]);
/* DUMP payload of an existing key (malloc'd). */
int ks_dump(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, uint8_t **out,
            size_t *len);
/* Checks a payload's trailer (version and CRC): 0 or ERR_CORRUPT. */
int ks_dump_verify(const void *p, size_t len);
/* Replaces key with the payload's value: ERR_CORRUPT on a bad payload
 * (nothing written). */
int ks_restore(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *p,
               size_t len, int64_t expire_ms);

/* ---- Background work (loop thread, between commands) ---- */
/* Deletes up to max_keys expired keys (none in replica mode) and checks up
 * to max_keys dead field sets; gen is the caller's batch generation. Writes
 * through its own batch. *expired gets the number of keys deleted. */
int ks_cron(ks_t *ks, uint64_t gen, int64_t now_ms, size_t max_keys, size_t *expired);
/* Number of dead field sets waiting for compaction (tests, INFO). */
size_t ks_dead_sets(ks_t *ks);

#endif
