/* The database: open and recovery, the write path with group commit,
 * partitions, and close (see db_impl.h for the locking and threads).
 *
 * Write path (a state machine per writer):
 *   QUEUED  -> the writer waits on its cv until it is done or at the head;
 *   LEADER  -> makes room (stalls, memtable switch), takes a group of queued
 *              batches, assigns sequences, and with mu released appends one
 *              WAL record per batch, flushes/syncs once for the group, then
 *              inserts the group into the memtable;
 *   DONE    -> mu retaken, visible_seq published, followers woken, the next
 *              head becomes leader.
 * A failed WAL append or sync rewinds the segment to its last good record
 * and fails the whole group: nothing of it is applied or acknowledged.
 *
 * Recovery: CURRENT -> manifest -> version; WAL segments numbered at or
 * above log_number are replayed in order (a torn tail is cut, a bad record
 * in the middle is an error naming file and offset), written as level-0
 * files, and a new WAL segment starts. */
#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/dbformat.h"
#include "util/err.h"
#include "util/log.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *strata_errmsg(void)
{
    return err_msg();
}

void strata_free(void *p)
{
    free(p);
}

void strata_options_init(strata_options *o)
{
    memset(o, 0, sizeof(*o));
    o->create_if_missing = true;
    o->memtable_bytes = 64u << 20;
    o->memtable_filter_ratio = 1.0 / 16;
    o->max_immutable_memtables = 2;
    o->block_cache_bytes = 256u << 20;
    o->table_cache_files = 1000;
    o->block_size_bytes = 4096;
    o->block_restart_interval = 16;
    o->bloom_bits_per_key = 10;
    o->compression = STRATA_COMPRESS_LZ4;
    o->zstd_level = 3;
    o->num_levels = 7;
    o->level0_compaction_trigger = 4;
    o->level0_slowdown_trigger = 20;
    o->level0_stop_trigger = 36;
    o->pending_compaction_slowdown_bytes = 64ull << 30;
    o->pending_compaction_stop_bytes = 256ull << 30;
    o->level1_max_bytes = 256u << 20;
    o->level_size_ratio = 10;
    o->target_file_bytes = 64u << 20;
    o->max_key_bytes = 64u << 10;
    o->max_value_bytes = 512u << 20;
    o->wal_file_bytes = 64u << 20;
    o->wal_retention_bytes = 1ull << 30;
    o->wal_retention_seconds = 3600;
}

void strata_write_options_init(strata_write_options *w)
{
    w->durability = STRATA_DUR_SYNC;
    w->no_slowdown = false;
}

#define CHECK(cond, name, what)                                                                    \
    do {                                                                                           \
        if (!(cond)) return err_set(ERR_INVAL, "option %s: %s", name, what);                       \
    } while (0)

static int validate_options(const strata_options *o)
{
    CHECK(o->memtable_bytes >= (64u << 10) && o->memtable_bytes <= (4ull << 30), "memtable_bytes",
          "must be between 64 KiB and 4 GiB");
    CHECK(o->memtable_filter_ratio >= 0 && o->memtable_filter_ratio <= 0.25,
          "memtable_filter_ratio", "must be between 0 and 0.25");
    CHECK(o->max_immutable_memtables >= 1 && o->max_immutable_memtables <= DB_MAX_IMM - 1,
          "max_immutable_memtables", "must be between 1 and 63");
    CHECK(o->table_cache_files >= 16, "table_cache_files", "must be at least 16");
    CHECK(o->block_size_bytes >= 256 && o->block_size_bytes <= (4u << 20), "block_size_bytes",
          "must be between 256 bytes and 4 MiB");
    CHECK(o->block_restart_interval >= 1 && o->block_restart_interval <= 1024,
          "block_restart_interval", "must be between 1 and 1024");
    CHECK(o->bloom_bits_per_key >= 0 && o->bloom_bits_per_key <= 64, "bloom_bits_per_key",
          "must be between 0 and 64");
    CHECK(o->compression >= STRATA_COMPRESS_NONE && o->compression <= STRATA_COMPRESS_ZSTD,
          "compression", "must be NONE, LZ4 or ZSTD");
    CHECK(o->zstd_level >= 1 && o->zstd_level <= 19, "zstd_level", "must be between 1 and 19");
    CHECK(o->num_levels >= 2 && o->num_levels <= STRATA_MAX_LEVELS, "num_levels",
          "must be between 2 and 8");
    CHECK(o->level0_compaction_trigger >= 1, "level0_compaction_trigger", "must be at least 1");
    CHECK(o->level0_slowdown_trigger >= o->level0_compaction_trigger, "level0_slowdown_trigger",
          "must be at least level0_compaction_trigger");
    CHECK(o->level0_stop_trigger >= o->level0_slowdown_trigger, "level0_stop_trigger",
          "must be at least level0_slowdown_trigger");
    CHECK(o->pending_compaction_stop_bytes >= o->pending_compaction_slowdown_bytes,
          "pending_compaction_stop_bytes", "must be at least pending_compaction_slowdown_bytes");
    CHECK(o->level1_max_bytes >= (1u << 20), "level1_max_bytes", "must be at least 1 MiB");
    CHECK(o->level_size_ratio >= 2 && o->level_size_ratio <= 100, "level_size_ratio",
          "must be between 2 and 100");
    CHECK(o->target_file_bytes >= (64u << 10), "target_file_bytes", "must be at least 64 KiB");
    CHECK(o->max_key_bytes >= 1 && o->max_key_bytes <= (16u << 20), "max_key_bytes",
          "must be between 1 byte and 16 MiB");
    CHECK(o->max_value_bytes >= 1 && o->max_value_bytes <= (1u << 30) - 4096, "max_value_bytes",
          "must be between 1 byte and 1 GiB - 4 KiB");
    CHECK(o->wal_file_bytes >= (64u << 10), "wal_file_bytes", "must be at least 64 KiB");
    CHECK(o->wal_sync_interval_ms <= 3600u * 1000u, "wal_sync_interval_ms",
          "must be at most 3600000");
    return 0;
}

/* ---- helpers ---- */
memtable *db__memtable_new(strata_db *db)
{
    size_t filter = (size_t)((double)db->o.memtable_bytes * db->o.memtable_filter_ratio);
    return memtable_new_pooled(db->mpool, filter);
}

uint64_t db__smallest_snapshot(strata_db *db)
{
    if (db->snaps.next != &db->snaps) return db->snaps.next->seq;
    return atomic_load(&db->visible_seq);
}

void db__install_stats(strata_db *db)
{
    version *v = version_set_current(db->vs);
    int l0 = 0;
    for (int i = 0; i < v->nparts; i++)
        if (v->parts[i].n[0] > l0) l0 = v->parts[i].n[0];
    db->l0_max = l0;
    db->pending_bytes = compaction_pending_bytes(v, &db->lim);
    version_unref(v);
}

void db__wal_path(char *buf, size_t cap, const char *dir, uint64_t n)
{
    snprintf(buf, cap, "%s/%06llu.log", dir, (unsigned long long)n);
}

static int add_seg(strata_db *db, uint64_t number, uint64_t first_seq, uint64_t bytes,
                   uint64_t created_us)
{
    if (db->nsegs == db->csegs) {
        int nc = db->csegs ? db->csegs * 2 : 16;
        wal_seg *ns = realloc(db->segs, sizeof(*ns) * (size_t)nc);
        if (!ns) return err_set(ERR_NOMEM, "out of memory");
        db->segs = ns;
        db->csegs = nc;
    }
    db->segs[db->nsegs++] = (wal_seg){number, first_seq, bytes, created_us};
    return 0;
}

int db__wal_repair(strata_db *db)
{
    if (!db->wal_rewind_pending) return 0;
    int rc = logw_rewind(db->wal, db->wal_rewind_to);
    if (rc) return rc;
    db->wal_rewind_pending = false;
    return 0;
}

/* Pops the oldest rolled segment after its successful sync (wal_mu held). */
static int pop_old(strata_db *db)
{
    int rc = logw_close(db->old_wals[0]);
    db->old_bg_failed = false;
    db->nold--;
    memmove(db->old_wals, db->old_wals + 1, sizeof(logw *) * (size_t)db->nold);
    return rc;
}

/* Starts a new WAL segment. The old one is only handed to the OS here and
 * queued in old_wals: the flush thread syncs it in the background, and the
 * next SYNC write (or strata_sync, or close) syncs whatever is still queued
 * before its own records, so a synced segment never survives a power loss
 * that an earlier one does not, without an fdatasync of a whole memtable's
 * WAL on the write path. Only a roll that finds the queue full syncs it
 * here. Likewise the directory entry of the new segment is made durable by
 * the first SYNC write into it. */
int db__new_wal(strata_db *db)
{
    pthread_mutex_lock(&db->wal_mu);
    bool full = db->nold == DB_MAX_OLD_WAL;
    pthread_mutex_unlock(&db->wal_mu);
    if (full) {
        int rc = db__wal_sync_prefix(db);
        if (rc) return rc;
    }
    if (db->wal) {
        int rc = db__wal_repair(db);
        if (!rc) rc = logw_flush(db->wal);
        if (rc) return rc;
    }
    uint64_t n = version_set_new_file_number(db->vs);
    char path[PATH_MAX];
    db__wal_path(path, sizeof(path), db->dir, n);
    logw *w = NULL;
    int rc = logw_open(db->env, path, LOG_MAGIC_WAL, 256u << 10, &w);
    if (!rc) rc = add_seg(db, n, 0, LOG_FILE_HEADER, env_wall_us(db->env));
    if (rc) {
        if (w) logw_close(w);
        env_unlink(db->env, path);
        return rc;
    }
    if (db->wal) {
        db->segs[db->nsegs - 2].bytes = logw_size(db->wal);
        pthread_mutex_lock(&db->wal_mu);
        assert(db->nold < DB_MAX_OLD_WAL);
        db->old_wals[db->nold++] = db->wal;
        pthread_mutex_unlock(&db->wal_mu);
        pthread_cond_broadcast(&db->bg_cv); /* the flush thread syncs it */
    }
    db->wal = w;
    db->wal_number = n;
    db->wal_dir_dirty = true;
    return 0;
}

/* Makes the rolled segments and the current one's directory entry durable
 * (leader only, or close). */
int db__wal_sync_prefix(strata_db *db)
{
    int rc = 0;
    pthread_mutex_lock(&db->wal_mu);
    while (db->nold && !rc) {
        if (db->old_bg_busy) { /* the flush thread is syncing the oldest */
            pthread_cond_wait(&db->wal_cv, &db->wal_mu);
            continue;
        }
        /* Sync before closing: logw_close frees the writer even when its
         * sync fails, and a segment whose sync failed must stay here to be
         * synced by the next attempt (never skipped by a later segment). */
        rc = logw_sync(db->old_wals[0]);
        if (!rc) rc = pop_old(db);
    }
    pthread_mutex_unlock(&db->wal_mu);
    if (rc) return rc;
    if (db->wal_dir_dirty) {
        rc = env_sync_dir(db->env, db->dir);
        if (rc) return rc;
        db->wal_dir_dirty = false;
    }
    return 0;
}

bool db__wal_old_pending(strata_db *db)
{
    pthread_mutex_lock(&db->wal_mu);
    bool r = db->nold > 0 && !db->old_bg_busy && !db->old_bg_failed;
    pthread_mutex_unlock(&db->wal_mu);
    return r;
}

/* Syncs rolled segments oldest first, with wal_mu released during each
 * fdatasync so that the leader can roll meanwhile. A failure leaves the
 * segment queued: the leader's next sync retries it and reports the error. */
void db__wal_sync_old(strata_db *db)
{
    pthread_mutex_lock(&db->wal_mu);
    while (db->nold && !db->old_bg_busy && !db->old_bg_failed) {
        logw *w = db->old_wals[0];
        db->old_bg_busy = true;
        pthread_mutex_unlock(&db->wal_mu);
        int rc = logw_sync(w);
        pthread_mutex_lock(&db->wal_mu);
        db->old_bg_busy = false;
        pthread_cond_broadcast(&db->wal_cv);
        if (rc) {
            log_warn("background WAL sync failed (retried by the next sync): %s", err_msg());
            db->old_bg_failed = true;
            break;
        }
        assert(db->old_wals[0] == w);
        if (pop_old(db)) log_warn("closing a synced WAL segment: %s", err_msg());
    }
    pthread_mutex_unlock(&db->wal_mu);
}

/* Forgets WAL segments that recovery no longer needs once they are past the
 * change-log retention (bytes and age); returns how many, with their numbers
 * in *dead (malloc'd, NULL if none) for db__wal_unlink. */
int db__wal_retention(strata_db *db, uint64_t **dead)
{
    *dead = NULL;
    uint64_t log_number = version_set_log_number(db->vs);
    uint64_t now = env_wall_us(db->env), total = 0;
    for (int i = 0; i < db->nsegs; i++)
        if (db->segs[i].number < log_number) total += db->segs[i].bytes;
    int drop = 0;
    while (drop < db->nsegs && db->segs[drop].number < log_number) {
        wal_seg *s = &db->segs[drop];
        bool old =
            now > s->created_us && now - s->created_us > db->o.wal_retention_seconds * 1000000ull;
        if (total <= db->o.wal_retention_bytes && !old) break;
        /* The segment after it must be old enough too: a segment's age is
         * the age of its newest record, which is when the next one began. */
        if (!(total > db->o.wal_retention_bytes) && drop + 1 < db->nsegs) {
            uint64_t end = db->segs[drop + 1].created_us;
            if (now <= end || now - end <= db->o.wal_retention_seconds * 1000000ull) break;
        }
        total -= s->bytes;
        drop++;
    }
    if (drop) {
        *dead = malloc(sizeof(uint64_t) * (size_t)drop);
        if (!*dead) return 0; /* kept in the list: the next call deletes them */
        for (int i = 0; i < drop; i++) (*dead)[i] = db->segs[i].number;
        memmove(db->segs, db->segs + drop, sizeof(wal_seg) * (size_t)(db->nsegs - drop));
        db->nsegs -= drop;
    }
    return drop;
}

/* Deletes the segments db__wal_retention gave up (no lock needed: they are
 * no longer listed) and frees dead. */
void db__wal_unlink(strata_db *db, uint64_t *dead, int n)
{
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        db__wal_path(path, sizeof(path), db->dir, dead[i]);
        if (env_unlink(db->env, path) && err_msg()) log_warn("unlink %s: %s", path, err_msg());
    }
    free(dead);
}

/* ---- recovery ---- */
typedef struct replay_ctx {
    strata_db *db;
    memtable *mem;
    int rc;
} replay_ctx;

static int replay_op(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                     const void *v, size_t vl)
{
    replay_ctx *r = arg;
    if (!version_set_part_exists(r->db->vs, part)) return 0; /* dropped since */
    switch (op) {
    case STRATA_OP_PUT: return memtable_add(r->mem, part, seq, TYPE_VALUE, k, kl, v, vl);
    case STRATA_OP_DELETE: return memtable_add(r->mem, part, seq, TYPE_DELETION, k, kl, NULL, 0);
    default: return memtable_add_range_del(r->mem, part, seq, k, kl, v, vl);
    }
}

static int u64_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads one segment into mem; *last is the last sequence applied. */
static int replay_segment(strata_db *db, uint64_t number, bool last_segment, memtable **mem,
                          uint64_t *last, uint64_t *first_seq, version_edit *e, bool *torn)
{
    char path[PATH_MAX];
    db__wal_path(path, sizeof(path), db->dir, number);
    logr *r = NULL;
    int rc = logr_open(db->env, path, LOG_MAGIC_WAL, &r);
    if (rc) {
        uint64_t sz = 0;
        /* A crash while creating the segment leaves a short header. */
        if (rc == ERR_CORRUPT && !env_file_size(db->env, path, &sz) && sz < LOG_FILE_HEADER)
            return 0;
        return rc;
    }
    const void *p;
    size_t n;
    uint64_t flushed = version_set_flushed_seq(db->vs);
    while ((rc = logr_next(r, &p, &n)) == 0) {
        uint64_t off = logr_offset(r) - n - LOG_REC_HEADER;
        if (batch__validate(p, n)) {
            rc = err_set(ERR_CORRUPT, "%s: record at offset %llu is not a valid batch", path,
                         (unsigned long long)off);
            break;
        }
        uint64_t seq = get_u64(p);
        uint32_t count = get_u32((const uint8_t *)p + 8);
        if (!*first_seq) *first_seq = seq;
        if (count == 0 || seq + count - 1 <= flushed) continue;
        if (seq <= *last) {
            rc = err_set(ERR_CORRUPT, "%s: record at offset %llu goes back to sequence %llu", path,
                         (unsigned long long)off, (unsigned long long)seq);
            break;
        }
        replay_ctx rx = {db, *mem, 0};
        rc = strata_batch_iterate(p, n, replay_op, &rx);
        if (rc) break;
        *last = seq + count - 1;
        if (memtable_bytes(*mem) >= db->o.memtable_bytes) {
            rc = db__write_l0(db, *mem, e);
            memtable_unref(*mem);
            *mem = db__memtable_new(db);
            if (!rc && !*mem) rc = err_set(ERR_NOMEM, "out of memory");
            if (rc) break;
        }
    }
    if (rc == ERR_NOTFOUND) {
        rc = 0;
        if (logr_torn(r)) {
            *torn = true;
            uint64_t good = logr_offset(r);
            log_warn("%s: torn tail after offset %llu cut off (%s)", path, (unsigned long long)good,
                     last_segment ? "last segment" : "older segment");
            env_file *f = NULL;
            if (!env_open(db->env, path, ENV_WRITE, &f)) {
                if (env_truncate(f, good) == 0) env_sync(f);
                env_close(f);
            }
        }
    }
    logr_close(r);
    return rc;
}

static int recover_wal(strata_db *db, char **names, int count)
{
    uint64_t log_number = version_set_log_number(db->vs);
    uint64_t *nums = malloc(sizeof(uint64_t) * (size_t)(count + 1));
    if (!nums) return err_set(ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < count; i++) {
        unsigned long long n;
        char tail[8];
        if (sscanf(names[i], "%llu.%7s", &n, tail) == 2 && !strcmp(tail, "log")) nums[k++] = n;
    }
    qsort(nums, (size_t)k, sizeof(uint64_t), u64_order);
    /* Segments rolled after the last manifest edit carry numbers that the
     * manifest's counter has not seen: never hand them out again (a new
     * segment would truncate one that is being replayed). */
    while (k && version_set_next_file_number(db->vs) <= nums[k - 1])
        version_set_new_file_number(db->vs);
    memtable *mem = db__memtable_new(db);
    version_edit e;
    version_edit_init(&e);
    uint64_t last = version_set_flushed_seq(db->vs);
    int rc = mem ? 0 : err_set(ERR_NOMEM, "out of memory");
    /* Once a segment lost its tail (power loss), the later ones hold only
     * writes that were never synced (a SYNC write syncs the segment before
     * its own first): applying them without the lost ones would leave a
     * state that no prefix of the writes gives. They are dropped. */
    bool cut = false, dropped = false;
    for (int i = 0; i < k && !rc; i++) {
        uint64_t first = 0, sz = 0;
        char path[PATH_MAX];
        db__wal_path(path, sizeof(path), db->dir, nums[i]);
        if (nums[i] >= log_number && cut) {
            log_warn("%s: dropped: an earlier segment lost its tail", path);
            rc = env_unlink(db->env, path);
            dropped = true;
            continue;
        }
        if (nums[i] >= log_number) {
            bool torn = false;
            rc = replay_segment(db, nums[i], i == k - 1, &mem, &last, &first, &e, &torn);
            if (torn && i < k - 1) cut = true;
        } else { /* kept for the change log: only its first sequence is needed */
            logr *r = NULL;
            const void *p;
            size_t n;
            if (!logr_open(db->env, path, LOG_MAGIC_WAL, &r) && !logr_next(r, &p, &n) &&
                n >= BATCH_HEADER)
                first = get_u64(p);
            logr_close(r);
        }
        env_file_size(db->env, path, &sz);
        if (!rc) rc = add_seg(db, nums[i], first, sz, env_wall_us(db->env));
    }
    if (!rc && dropped) rc = env_sync_dir(db->env, db->dir);
    if (!rc && !memtable_empty(mem)) rc = db__write_l0(db, mem, &e);
    uint64_t replayed = last;
    /* Never hand out a sequence the manifest has seen, even if the WAL
     * records behind it were lost (writes without durability). */
    if (version_set_last_seq(db->vs) > last) last = version_set_last_seq(db->vs);
    memtable_unref(mem);
    if (!rc) rc = db__new_wal(db);
    if (!rc) {
        e.has_log_number = true;
        e.log_number = db->wal_number;
        e.has_last_seq = e.has_flushed_seq = true;
        e.last_seq = last;
        e.flushed_seq = replayed;
        rc = version_set_apply_mu(db->vs, &e, &db->mu, NULL);
    }
    version_edit_free(&e);
    free(nums);
    if (!rc) {
        db->last_seq_alloc = last;
        atomic_store(&db->visible_seq, last);
    }
    return rc;
}

/* Removes files no version refers to (left by a crash mid-flush or
 * mid-compaction), manifests other than the live one, and temp files. */
static void remove_garbage(strata_db *db, char **names, int count)
{
    version *v = version_set_current(db->vs);
    for (int i = 0; i < count; i++) {
        unsigned long long n;
        char tail[8];
        bool drop = false;
        if (sscanf(names[i], "%llu.%7s", &n, tail) == 2 && !strcmp(tail, "sst")) {
            drop = true;
            for (int p = 0; p < v->nparts && drop; p++)
                for (int l = 0; l < VER_MAX_LEVELS && drop; l++)
                    for (int j = 0; j < v->parts[p].n[l]; j++)
                        if (v->parts[p].files[l][j]->number == n) {
                            drop = false;
                            break;
                        }
        } else if (!strncmp(names[i], "MANIFEST-", 9)) {
            /* CURRENT names the one written at this open, durably */
            drop = strtoull(names[i] + 9, NULL, 10) != version_set_manifest_number(db->vs);
        } else if (strstr(names[i], ".tmp")) {
            drop = true;
        }
        if (drop) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]);
            env_unlink(db->env, path);
        }
    }
    version_unref(v);
}

static int open_inner(strata_db *db)
{
    env_t *env = db->env;
    int rc = env_mkdir(env, db->dir);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/LOCK", db->dir);
    if (!rc) rc = env_lock(env, path, &db->lock);
    if (rc) return rc;
    db->bc = block_cache_new(db->o.block_cache_bytes);
    db->tc = db->bc
                 ? table_cache_new(env, db->dir, db->o.table_cache_files, db->bc, db->o.mmap_reads)
                 : NULL;
    db->picker = compaction_picker_new();
    /* The pool keeps the blocks of two memtables (the one being written and
     * the one being flushed): the steady state of a write-heavy load; up to
     * 1/8 memtable is faulted in ahead of the writer. */
    db->mpool = memtable_pool_new(2 * db->o.memtable_bytes, db->o.memtable_bytes / 8);
    db->mem = db->mpool ? db__memtable_new(db) : NULL;
    if (!db->tc || !db->picker || !db->mem) return err_set(ERR_NOMEM, "out of memory");
    version_options vo = {.env = env,
                          .dir = db->dir,
                          .num_levels = db->o.num_levels,
                          .create_if_missing = db->o.create_if_missing,
                          .error_if_exists = db->o.error_if_exists,
                          .tc = db->tc};
    rc = version_set_open(&vo, &db->vs);
    if (rc) return rc;
    char **names = NULL;
    int count = 0;
    rc = env_list_dir(env, db->dir, &names, &count);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    rc = recover_wal(db, names, count);
    if (!rc) {
        remove_garbage(db, names, count);
        db->mem_log = db->wal_number;
        db__install_stats(db);
        uint64_t *dead;
        int ndead = db__wal_retention(db, &dead);
        db__wal_unlink(db, dead, ndead);
    }
    pthread_mutex_unlock(&db->mu);
    env_free_list(names, count);
    return rc ? rc : db__start_threads(db);
}

int strata_open(const char *path, const strata_options *o, strata_db **out)
{
    *out = NULL;
    strata_options def;
    if (!o) {
        strata_options_init(&def);
        o = &def;
    }
    if (!path || !*path) return err_set(ERR_INVAL, "open: empty path");
    int rc = validate_options(o);
    if (rc) return rc;
    strata_db *db = calloc(1, sizeof(*db));
    if (!db) return err_set(ERR_NOMEM, "out of memory");
    db->o = *o;
    db->env = o->env ? (env_t *)o->env : env_posix();
    db->dir = strdup(path);
    db->lim = (compaction_limits){o->num_levels, o->level0_compaction_trigger, o->level1_max_bytes,
                                  o->level_size_ratio};
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->wal_mu, NULL);
    pthread_cond_init(&db->wal_cv, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->sync_cv, NULL);
    pthread_cond_init(&db->done_cv, NULL);
    db->snaps.next = db->snaps.prev = &db->snaps;
    rc = db->dir ? open_inner(db) : err_set(ERR_NOMEM, "out of memory");
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        strata_close(db);
        return err_set(rc, "%s", msg);
    }
    *out = db;
    return 0;
}

int strata_close(strata_db *db)
{
    if (!db) return 0;
    db__stop_threads(db);
    int rc = db->wal ? db__wal_sync_prefix(db) : 0;
    while (db->nold) { /* their sync failed: free them all the same */
        logw_close(db->old_wals[0]);
        db->nold--;
        memmove(db->old_wals, db->old_wals + 1, sizeof(logw *) * (size_t)db->nold);
    }
    if (db->wal) {
        int rc2 = logw_close(db->wal);
        if (!rc) rc = rc2;
    }
    for (int i = 0; i < db->nimm; i++) memtable_unref(db->imm[i].m);
    if (db->mem) memtable_unref(db->mem);
    memtable_pool_unref(db->mpool); /* freed when the last memtable goes */
    version_set_close(db->vs);
    table_cache_free(db->tc);
    block_cache_free(db->bc);
    compaction_picker_free(db->picker);
    if (db->lock) env_close(db->lock);
    while (db->snaps.next != &db->snaps) {
        struct strata_snapshot *s = db->snaps.next;
        db->snaps.next = s->next;
        free(s);
    }
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->wal_mu);
    pthread_cond_destroy(&db->wal_cv);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->sync_cv);
    pthread_cond_destroy(&db->done_cv);
    free(db->segs);
    free(db->dir);
    free(db);
    return rc;
}

int strata_destroy(const char *path)
{
    env_t *env = env_posix();
    char **names = NULL;
    int count = 0;
    int rc = env_list_dir(env, path, &names, &count);
    if (rc == ERR_NOTFOUND) return 0;
    if (rc) return rc;
    for (int i = 0; i < count; i++) {
        const char *n = names[i];
        size_t l = strlen(n);
        bool ours = !strcmp(n, "CURRENT") || !strcmp(n, "LOCK") || !strncmp(n, "MANIFEST-", 9) ||
                    (l > 4 && (!strcmp(n + l - 4, ".sst") || !strcmp(n + l - 4, ".log") ||
                               !strcmp(n + l - 4, ".tmp")));
        if (!ours) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", path, n);
        env_unlink(env, p);
    }
    env_free_list(names, count);
    rmdir(path);
    return 0;
}
