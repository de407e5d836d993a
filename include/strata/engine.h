/* StrataDB storage engine: the public C API.
 *
 * A crash-safe log-structured merge-tree. Writes go to a write-ahead log and
 * an in-memory table; full memtables are flushed to sorted string table (SST)
 * files by a background thread, and a background compaction thread merges
 * them level by level. Reads see a consistent snapshot.
 *
 * Concepts
 *  - Sequence numbers. Every write batch gets the next sequence numbers (one
 *    per operation); the sequence of a batch is the sequence of its first
 *    operation. Snapshots, the change-log tail and checkpoints speak in them.
 *  - Partitions. Independent key spaces in one database, sharing its WAL and
 *    sequence numbers, each with its own SST files. Partition 0 ("default")
 *    always exists. Dropping a partition is one manifest edit plus unlinking
 *    its files.
 *  - Durability per write: STRATA_DUR_NONE (in memory until the next sync),
 *    STRATA_DUR_BUFFERED (in the OS page cache; survives a process crash),
 *    STRATA_DUR_SYNC (on stable storage before the call returns; concurrent
 *    sync writers share one fsync).
 *
 * Errors. Every function that can fail returns 0 or a negative STRATA_E*
 * code; strata_errmsg() then gives the calling thread's message, which names
 * the file and offset on corruption and the option on a bad option.
 *
 * Threads. A strata_db is safe to use from many threads at once. Iterators,
 * batches and change cursors belong to one thread at a time.
 */
#ifndef STRATA_ENGINE_H
#define STRATA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors (same values as util/err.h) ---- */
#define STRATA_OK        0
#define STRATA_ENOTFOUND (-1) /* key, file or partition absent */
#define STRATA_ECORRUPT  (-2) /* checksum/magic/format mismatch */
#define STRATA_EIO       (-3) /* operating system I/O error */
#define STRATA_ENOSPC    (-4) /* disk full */
#define STRATA_EINVAL    (-5) /* bad argument or option */
#define STRATA_ENOMEM    (-6)
#define STRATA_EBUSY     (-7) /* locked by another process, or writes stopped */
#define STRATA_EGONE     (-8) /* change-log sequence no longer retained */
#define STRATA_ETOOBIG   (-9) /* key or value beyond its limit */
#define STRATA_EEXIST    (-10)
#define STRATA_ECLOSED   (-11) /* database closed or in a failed state */

/* The calling thread's message for the last error returned to it. */
const char *strata_errmsg(void);

typedef struct strata_db strata_db;
typedef struct strata_batch strata_batch;
typedef struct strata_iter strata_iter;
typedef struct strata_snapshot strata_snapshot;
typedef struct strata_changes strata_changes;

enum strata_compression {
    STRATA_COMPRESS_NONE = 0,
    STRATA_COMPRESS_LZ4 = 1,
    STRATA_COMPRESS_ZSTD = 2
};
enum strata_durability { STRATA_DUR_NONE = 0, STRATA_DUR_BUFFERED = 1, STRATA_DUR_SYNC = 2 };

/* Decision of a compaction filter for one record. */
enum strata_filter_decision { STRATA_FILTER_KEEP = 0, STRATA_FILTER_DROP = 1 };

/* Called by compaction for each live value record (never for tombstones) of a
 * partition; returning STRATA_FILTER_DROP removes the record without writing a
 * tombstone. Must be thread-safe and fast; must not call into the engine. */
typedef int (*strata_compaction_filter)(void *arg, uint32_t partition, const void *key,
                                        size_t key_len, const void *value, size_t value_len);

typedef struct strata_options {
    bool create_if_missing; /* default true */
    bool error_if_exists;   /* default false */
    bool mmap_reads;        /* read SSTs through mappings (faster block-cache misses; the mapped
                        page-cache pages count as resident memory, and a table file cut
                        short by outside damage raises SIGBUS); default false: pread */
    size_t memtable_bytes;  /* one memtable's budget; default 64 MiB */
    double memtable_filter_ratio;  /* whole-key filter of each memtable, as a fraction of
                        memtable_bytes and charged to it (point lookups of keys it does
                        not hold skip its search); 0 = none; default 1/16 */
    int max_immutable_memtables;   /* waiting for flush before writes stop; default 2 */
    size_t block_cache_bytes;      /* shared block cache; default 256 MiB */
    int table_cache_files;         /* open SST files kept; default 1000 */
    size_t block_size_bytes;       /* target uncompressed data block; default 4096 */
    int block_restart_interval;    /* keys between prefix-compression restarts; default 16 */
    int bloom_bits_per_key;        /* 0 disables; default 10 */
    int compression;               /* enum strata_compression; default LZ4 */
    int zstd_level;                /* default 3; used when compression is ZSTD */
    int num_levels;                /* default 7 */
    int level0_compaction_trigger; /* L0 files that start a compaction; default 4 */
    int level0_slowdown_trigger;   /* L0 files that slow writes; default 20 */
    int level0_stop_trigger;       /* L0 files that stop writes; default 36 */
    uint64_t pending_compaction_slowdown_bytes; /* default 64 GiB */
    uint64_t pending_compaction_stop_bytes;     /* default 256 GiB */
    uint64_t level1_max_bytes;                  /* target size of level 1; default 256 MiB */
    int level_size_ratio;                       /* each level this times the previous; default 10 */
    uint64_t target_file_bytes;                 /* target SST size; default 64 MiB */
    size_t max_key_bytes;                       /* default 64 KiB; larger keys get ETOOBIG */
    size_t max_value_bytes;                     /* default 512 MiB */
    uint64_t wal_file_bytes;        /* WAL segment size before rolling; default 64 MiB */
    uint64_t wal_retention_bytes;   /* WAL kept for the change-log tail; default 1 GiB */
    uint64_t wal_retention_seconds; /* and kept at most this long; default 3600 */
    uint64_t wal_sync_interval_ms;  /* background sync of buffered writes; 0 = none; default 0 */
    strata_compaction_filter compaction_filter; /* NULL = none */
    void *compaction_filter_arg;
    void *env; /* I/O seam (util/env.h env_t*); NULL = the real file system */
} strata_options;

/* Fills o with the defaults above. */
void strata_options_init(strata_options *o);

/* Opens (creating if allowed) the database in directory path, replaying its
 * WAL. A bad option gives STRATA_EINVAL with a message naming it. */
int strata_open(const char *path, const strata_options *o, strata_db **out);
/* Flushes nothing, stops background work, syncs the WAL, frees db. */
int strata_close(strata_db *db);
/* Deletes every file of a closed database directory. */
int strata_destroy(const char *path);

/* ---- Writes ---- */
typedef struct strata_write_options {
    int durability;   /* enum strata_durability; default set by strata_write_options_init: SYNC */
    bool no_slowdown; /* fail with STRATA_EBUSY instead of waiting on a stall */
} strata_write_options;
void strata_write_options_init(strata_write_options *w);

strata_batch *strata_batch_new(void);
void strata_batch_free(strata_batch *b);
void strata_batch_clear(strata_batch *b);
int strata_batch_put(strata_batch *b, uint32_t partition, const void *key, size_t klen,
                     const void *val, size_t vlen);
int strata_batch_delete(strata_batch *b, uint32_t partition, const void *key, size_t klen);
/* Deletes every key k with start <= k < end in partition. */
int strata_batch_delete_range(strata_batch *b, uint32_t partition, const void *start, size_t slen,
                              const void *end, size_t elen);
uint32_t strata_batch_count(const strata_batch *b);
size_t strata_batch_bytes(const strata_batch *b);

/* Applies b atomically: after a crash all of it or none of it is there.
 * *seq_out (may be NULL) gets the sequence of its first operation. */
int strata_write(strata_db *db, const strata_write_options *w, strata_batch *b, uint64_t *seq_out);
int strata_put(strata_db *db, const strata_write_options *w, uint32_t partition, const void *key,
               size_t klen, const void *val, size_t vlen, uint64_t *seq_out);
int strata_delete(strata_db *db, const strata_write_options *w, uint32_t partition, const void *key,
                  size_t klen, uint64_t *seq_out);
int strata_delete_range(strata_db *db, const strata_write_options *w, uint32_t partition,
                        const void *start, size_t slen, const void *end, size_t elen,
                        uint64_t *seq_out);
/* Makes every write so far durable (one fsync of the WAL). */
int strata_sync(strata_db *db);
/* Hands every write so far to the OS without an fsync, as if it had been
 * written with STRATA_DUR_BUFFERED (survives a process crash; readable by
 * the change-log tail). One write(2) for everything pending: a server that
 * writes with STRATA_DUR_NONE calls it once per event-loop iteration. */
int strata_flush_wal(strata_db *db);
/* Sets the period of the background sync (wal_sync_interval_ms; 0 stops
 * it) while the database is open. The background sync hands pending writes
 * to the OS and fsyncs the WAL without holding up writers during the fsync.
 * ms is at most 3,600,000. */
int strata_set_wal_sync_interval(strata_db *db, uint64_t ms);
/* The outcome of the last background sync: 0 (or none has run since open
 * or the last strata_set_wal_sync_interval), else its error code
 * (STRATA_ENOSPC, STRATA_EIO, ...). It stays until a later background sync
 * succeeds; a server uses it to refuse writes meanwhile. */
int strata_periodic_sync_status(strata_db *db);
/* The sequence of the last applied operation (0 for an empty database). */
uint64_t strata_last_sequence(strata_db *db);

/* ---- Reads ---- */
typedef struct strata_read_options {
    const strata_snapshot *snapshot; /* NULL = latest */
    const void *lower_bound;         /* iterators: first key allowed (inclusive); NULL = none */
    size_t lower_len;
    const void *upper_bound; /* iterators: keys must be < this; NULL = none */
    size_t upper_len;
    bool fill_cache;       /* default true */
    bool verify_checksums; /* default true; currently always on: every block read is verified */
} strata_read_options;
void strata_read_options_init(strata_read_options *r);

/* Gets key's value into a malloc'd buffer (*val, *vlen; free with
 * strata_free). STRATA_ENOTFOUND if absent. */
int strata_get(strata_db *db, const strata_read_options *r, uint32_t partition, const void *key,
               size_t klen, void **val, size_t *vlen);
void strata_free(void *p);

/* Snapshots pin a sequence: reads through them see exactly the writes up to it. */
const strata_snapshot *strata_snapshot_new(strata_db *db);
void strata_snapshot_release(strata_db *db, const strata_snapshot *s);
uint64_t strata_snapshot_sequence(const strata_snapshot *s);

/* Iterators over one partition, on a consistent view (the snapshot in r, or
 * the state when created). Starts unpositioned. */
int strata_iter_new(strata_db *db, const strata_read_options *r, uint32_t partition,
                    strata_iter **out);
void strata_iter_free(strata_iter *it);
void strata_iter_seek_first(strata_iter *it);
void strata_iter_seek_last(strata_iter *it);
/* Positions at the first key >= key. */
void strata_iter_seek(strata_iter *it, const void *key, size_t klen);
/* Positions at the last key <= key. */
void strata_iter_seek_for_prev(strata_iter *it, const void *key, size_t klen);
bool strata_iter_valid(const strata_iter *it);
void strata_iter_next(strata_iter *it);
void strata_iter_prev(strata_iter *it);
/* Key and value of the current entry; valid until the iterator moves. */
const void *strata_iter_key(const strata_iter *it, size_t *len);
const void *strata_iter_value(const strata_iter *it, size_t *len);
/* 0, or the error that made the iterator invalid (corruption, I/O). */
int strata_iter_status(const strata_iter *it);

/* ---- Partitions ---- */
/* Creates a named partition and returns its id; STRATA_EEXIST if present. */
int strata_partition_create(strata_db *db, const char *name, uint32_t *id);
/* Looks up a partition by name; STRATA_ENOTFOUND if absent. */
int strata_partition_find(strata_db *db, const char *name, uint32_t *id);
/* Drops a partition and all its data: one manifest edit plus unlinking its
 * files, whatever its size. Partition 0 cannot be dropped. */
int strata_partition_drop(strata_db *db, uint32_t id);
/* Lists partitions: fills up to max ids and returns the number that exist. */
int strata_partition_list(strata_db *db, uint32_t *ids, int max);
/* Name of a partition, or NULL; valid until it is dropped. */
const char *strata_partition_name(strata_db *db, uint32_t id);

/* ---- Maintenance ---- */
/* Flushes the memtable to an SST; waits for it when wait is true. */
int strata_flush(strata_db *db, bool wait);
/* Compacts the key range [start, end) of a partition (NULL = unbounded) down
 * to the bottom level and waits; tombstones there are dropped. */
int strata_compact_range(strata_db *db, uint32_t partition, const void *start, size_t slen,
                         const void *end, size_t elen);
/* Waits until no flush or compaction is pending or running. */
int strata_wait_idle(strata_db *db);

/* Writes a consistent copy of the database into dir (which must not exist),
 * by hard links of the SST files plus a new manifest and the WAL tail.
 * *seq_out gets the last sequence it holds. The copy opens as a database. */
int strata_checkpoint(strata_db *db, const char *dir, uint64_t *seq_out);

/* ---- Change-log tail ----
 * Reads every write batch with sequence >= from, in order, from the WAL while
 * retention (wal_retention_bytes / wal_retention_seconds) still holds it.
 * A batch becomes readable once it has reached the OS: at once for
 * BUFFERED and SYNC writes, at the next sync for NONE writes. A batch whose
 * sequences straddle `from` is returned whole.
 * STRATA_EGONE if from is older than the oldest retained batch. */
int strata_changes_open(strata_db *db, uint64_t from, strata_changes **out);
/* Next batch: 0 with seq (its first sequence), data and len (the encoded batch, valid
 * until the next call) when one is there; STRATA_ENOTFOUND when caught up
 * (call again later); another error on corruption or truncation. */
int strata_changes_next(strata_changes *c, uint64_t *seq, const void **data, size_t *len);
void strata_changes_close(strata_changes *c);
/* The oldest sequence the change log can still return. */
uint64_t strata_changes_oldest(strata_db *db);

/* Operation kinds seen when walking an encoded batch. */
enum strata_op { STRATA_OP_PUT = 1, STRATA_OP_DELETE = 2, STRATA_OP_DELETE_RANGE = 3 };
/* Walks an encoded batch (from strata_changes_next), calling fn per operation
 * with its sequence; for DELETE_RANGE, key is start and val is end. Returns
 * STRATA_ECORRUPT on a malformed batch, or fn's first non-zero return. */
typedef int (*strata_batch_fn)(void *arg, uint64_t seq, int op, uint32_t partition, const void *key,
                               size_t klen, const void *val, size_t vlen);
int strata_batch_iterate(const void *data, size_t len, strata_batch_fn fn, void *arg);
/* Applies an encoded batch received from another database as a new write
 * (replication); it gets this database's next sequence numbers. */
int strata_write_encoded(strata_db *db, const strata_write_options *w, const void *data, size_t len,
                         uint64_t *seq_out);

/* ---- Statistics ---- */
#define STRATA_MAX_LEVELS 8
typedef struct strata_level_stats {
    uint64_t files;
    uint64_t bytes;
} strata_level_stats;

typedef struct strata_stats {
    uint64_t last_sequence;
    uint64_t memtable_bytes;         /* active + immutable memtables (their filters included) */
    uint64_t memtable_filter_bytes;  /* whole-key filters of those memtables */
    uint64_t memtable_filter_useful; /* memtable lookups a filter answered "absent" */
    uint64_t immutable_memtables;
    int num_levels;
    strata_level_stats levels[STRATA_MAX_LEVELS]; /* summed over partitions */
    uint64_t live_sst_bytes;
    uint64_t wal_bytes; /* retained WAL bytes */
    uint64_t partitions;
    uint64_t user_bytes_written; /* keys + values given to writes */
    uint64_t wal_bytes_written;
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    double write_amplification; /* (wal + flush + compaction written) / user written */
    uint64_t flushes;
    uint64_t compactions;
    uint64_t stall_count;   /* writes that waited (slowdown or stop) */
    uint64_t stall_micros;  /* total time writes waited */
    uint64_t stopped_count; /* writes that hit a stop trigger */
    uint64_t block_cache_hits;
    uint64_t block_cache_misses;
    uint64_t block_cache_bytes; /* currently charged */
    uint64_t block_cache_capacity;
    uint64_t table_cache_open;
    uint64_t bloom_useful; /* lookups a bloom filter answered "absent" */
    uint64_t syncs;        /* WAL fsyncs */
    uint64_t sync_writes;  /* sync writes covered by those fsyncs */
    uint64_t pending_compaction_bytes;
    bool background_error; /* a flush/compaction failed; writes return it */
} strata_stats;

int strata_get_stats(strata_db *db, strata_stats *s);
/* Per-partition bytes and files per level; levels has room for
 * STRATA_MAX_LEVELS entries. */
int strata_partition_stats(strata_db *db, uint32_t partition, strata_level_stats *levels,
                           int *num_levels);

#ifdef __cplusplus
}
#endif

#endif
