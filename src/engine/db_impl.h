/* Internal state of an open database, shared by db*.c (engine layer only).
 *
 * Locking: `mu` guards everything below it except where a field says
 * otherwise. The write leader (head of the writer queue) owns the WAL
 * writer and inserts into `mem` without holding mu; only the leader
 * switches memtables, so an insert never lands in a memtable that is being
 * flushed. Readers take mu briefly to pin mem, imms and the version.
 *
 * Background threads: one flushes immutable memtables (oldest first) and,
 * between flushes, syncs rolled WAL segments (old_wals); one runs
 * compactions; a third syncs the WAL every wal_sync_interval_ms; the
 * memtable pool's filler faults in arena blocks ahead of the writer.
 * File deletions (obsolete SSTs, WAL segments past retention) and manifest
 * I/O happen with mu released. */
#ifndef STRATA_ENGINE_DB_IMPL_H
#define STRATA_ENGINE_DB_IMPL_H

#include "engine/cache.h"
#include "engine/compaction.h"
#include "engine/logfile.h"
#include "engine/memtable.h"
#include "engine/tablecache.h"
#include "engine/version.h"
#include "strata/engine.h"

#include <pthread.h>
#include <stdatomic.h>

#define DB_MAX_IMM     64
#define DB_MAX_OLD_WAL 4 /* rolled segments waiting for their sync */

typedef struct writer {
    strata_batch *b; /* NULL for a sync or flush request */
    int durability;
    bool no_slowdown;
    bool force_switch; /* strata_flush: switch the memtable */
    bool check_parts;  /* uses partitions other than 0 (which always exists) */
    bool done;
    int rc;
    char errmsg[256];
    uint64_t seq;
    pthread_cond_t cv;
    struct writer *next;
} writer;

typedef struct wal_seg {
    uint64_t number;
    uint64_t first_seq; /* 0 while empty */
    uint64_t bytes;
    uint64_t created_us;
} wal_seg;

typedef struct imm_entry {
    memtable *m;
    uint64_t log_number; /* first WAL segment holding its data */
    uint64_t last_seq;
    uint64_t ticket;
} imm_entry;

struct strata_snapshot {
    uint64_t seq;
    struct strata_snapshot *prev, *next;
};

struct strata_db {
    strata_options o;
    env_t *env;
    char *dir;
    env_file *lock;
    block_cache *bc;
    table_cache *tc;
    compaction_picker *picker;
    compaction_limits lim;

    pthread_mutex_t mu;
    pthread_cond_t bg_cv;   /* work for the background threads */
    pthread_cond_t sync_cv; /* the periodic sync's interval changed, or closing */
    pthread_cond_t done_cv; /* a flush or compaction finished */
    version_set *vs;
    memtable_pool *mpool; /* arena blocks shared by the memtables (own lock) */
    memtable *mem;
    uint64_t mem_log; /* first WAL segment of mem */
    imm_entry imm[DB_MAX_IMM];
    int nimm;
    uint64_t switches, flushed_tickets;

    /* WAL: owned by the write leader; the list is guarded by mu. */
    logw *wal;
    uint64_t wal_number;
    wal_seg *segs;
    int nsegs, csegs;
    /* Rolled segments, handed to the OS but not yet synced, oldest first.
     * Guarded by wal_mu (not mu): the leader appends at a roll and syncs
     * them all before a SYNC write; the flush thread syncs the oldest in the
     * background (old_bg_busy while it does, with wal_mu released). A
     * segment leaves the list only once synced, and never before an older
     * one, so segments become durable in order. */
    pthread_mutex_t wal_mu;
    pthread_cond_t wal_cv; /* old_bg_busy went false */
    logw *old_wals[DB_MAX_OLD_WAL];
    int nold;
    bool old_bg_busy;
    bool old_bg_failed; /* the background sync of old_wals[0] failed: the leader retries */
    bool wal_dir_dirty; /* the directory entry of `wal` is not yet durable */
    /* A failed write could not be cut back out of the WAL yet (leader only):
     * nothing is appended and no segment rolls until db__wal_repair works. */
    bool wal_rewind_pending;
    uint64_t wal_rewind_to;

    writer *wq_head, *wq_tail;
    uint64_t last_seq_alloc; /* leader only */
    _Atomic uint64_t visible_seq;

    struct strata_snapshot snaps; /* sentinel of a list sorted by seq */
    int nsnaps;

    pthread_t flush_thr, compact_thr, sync_thr;
    uint64_t aside_wal;   /* sync thread only: segment fully synced once (db__sync_aside) */
    _Atomic int aside_rc; /* outcome of the last periodic sync (strata_periodic_sync_status) */
    bool threads_started, sync_started;
    bool shutting_down;
    bool flush_running, compact_running;
    int manual_compactions;  /* compact_range in progress: the thread pauses */
    int flush_error;         /* last flush failed with this (retrying) */
    uint64_t flush_attempts; /* flushes finished, failed or not */
    int compact_error;
    char bg_errmsg[256];
    int fatal; /* ERR_CLOSED-like sticky error: writes refused */
    int l0_max;
    uint64_t pending_bytes;

    /* statistics (mu, or atomics where noted) */
    _Atomic uint64_t user_bytes, wal_bytes, syncs, sync_writes;
    _Atomic uint64_t stall_count, stall_micros, stopped_count;
    _Atomic uint64_t mem_filter_useful; /* memtable lookups ruled out by a filter */
    uint64_t flush_bytes, comp_read, comp_written, flushes, compactions;
};

/* db.c */
memtable *db__memtable_new(strata_db *db);     /* pooled, with the configured filter */
uint64_t db__smallest_snapshot(strata_db *db); /* mu held */
void db__install_stats(strata_db *db);         /* mu held, after a version change */
int db__new_wal(strata_db *db);                /* mu held, leader or open */
int db__wal_repair(strata_db *db);             /* leader: retries a pending WAL rewind */
int db__wal_sync_prefix(strata_db *db);        /* leader or close */
void db__wal_sync_old(strata_db *db);          /* background: syncs rolled segments */
int db__sync_aside(strata_db *db);             /* no lock: fsync with the queue free */
void db__wal_path(char *buf, size_t cap, const char *dir, uint64_t n);
bool db__wal_old_pending(strata_db *db);
int db__wal_retention(strata_db *db, uint64_t **dead);     /* mu held */
void db__wal_unlink(strata_db *db, uint64_t *dead, int n); /* no lock */
/* db_write.c */
int db__request_switch(strata_db *db, uint64_t *ticket);
/* db_bg.c */
int db__start_threads(strata_db *db);
void db__stop_threads(strata_db *db);
int db__flush_memtable(strata_db *db, memtable *m, uint64_t last_seq, uint64_t log_number);
int db__write_l0(strata_db *db, memtable *m, version_edit *e);
/* db_read.c */
void db__pin(strata_db *db, memtable **mem, imm_entry *imms, int *nimm, version **v);
void db__unpin(memtable *mem, imm_entry *imms, int nimm, version *v);

#endif
