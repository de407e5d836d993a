/* Checkpoints, the change-log tail and statistics.
 *
 * Checkpoint: flush, pin the current version, hard-link its files into the
 * target directory and write a manifest naming exactly them; the copy holds
 * every write up to the version's flushed sequence and needs no WAL.
 *
 * Change log: a cursor reads WAL segments in order from the one holding
 * the requested sequence. The active segment is read up to what the writer
 * has handed to the OS; a partial record at its end is "not there yet". */
#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/dbformat.h"
#include "util/err.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int strata_checkpoint(strata_db *db, const char *dir, uint64_t *seq_out)
{
    uint64_t sz;
    if (!dir || !*dir) return err_set(ERR_INVAL, "checkpoint: empty directory name");
    if (env_file_size(db->env, dir, &sz) == 0)
        return err_set(ERR_EXISTS, "checkpoint: %s exists", dir);
    int rc = strata_flush(db, true);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    version *v = version_set_current(db->vs);
    uint64_t seq = version_set_flushed_seq(db->vs);
    uint64_t next = version_set_next_file_number(db->vs);
    pthread_mutex_unlock(&db->mu);
    rc = env_mkdir(db->env, dir);
    for (int p = 0; p < v->nparts && !rc; p++)
        for (int l = 0; l < VER_MAX_LEVELS && !rc; l++)
            for (int i = 0; i < v->parts[p].n[l] && !rc; i++) {
                char from[PATH_MAX], to[PATH_MAX];
                uint64_t n = v->parts[p].files[l][i]->number;
                table_path(from, sizeof(from), db->dir, n);
                table_path(to, sizeof(to), dir, n);
                rc = env_link(db->env, from, to);
            }
    if (!rc) {
        pthread_mutex_lock(&db->mu);
        rc = version_set_write_snapshot(db->vs, v, dir, seq, next);
        pthread_mutex_unlock(&db->mu);
    }
    if (!rc) rc = env_sync_dir(db->env, dir);
    version_unref(v);
    if (!rc && seq_out) *seq_out = seq;
    return rc;
}

/* ---- change log ---- */
struct strata_changes {
    strata_db *db;
    uint64_t from;
    uint64_t seg; /* number of the segment being read */
    logr *r;
};

uint64_t strata_changes_oldest(strata_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t oldest = atomic_load(&db->visible_seq) + 1;
    for (int i = 0; i < db->nsegs; i++)
        if (db->segs[i].first_seq) {
            oldest = db->segs[i].first_seq;
            break;
        }
    pthread_mutex_unlock(&db->mu);
    return oldest;
}

int strata_changes_open(strata_db *db, uint64_t from, strata_changes **out)
{
    *out = NULL;
    if (from == 0) from = 1;
    pthread_mutex_lock(&db->mu);
    uint64_t visible = atomic_load(&db->visible_seq);
    int pick = -1;
    uint64_t oldest = 0;
    for (int i = 0; i < db->nsegs; i++) {
        if (!db->segs[i].first_seq) continue;
        if (!oldest) oldest = db->segs[i].first_seq;
        if (db->segs[i].first_seq <= from) pick = i;
    }
    int rc = 0;
    if (from > visible + 1) {
        rc = err_set(ERR_INVAL, "changes: sequence %llu is beyond the last one (%llu)",
                     (unsigned long long)from, (unsigned long long)visible);
    } else if (pick < 0 && from <= visible) {
        rc = err_set(ERR_GONE, "changes: sequence %llu is no longer retained (oldest is %llu)",
                     (unsigned long long)from, (unsigned long long)oldest);
    }
    if (pick < 0) pick = db->nsegs - 1; /* caught up: start at the active segment */
    uint64_t seg = db->segs[pick].number;
    pthread_mutex_unlock(&db->mu);
    if (rc) return rc;
    strata_changes *c = calloc(1, sizeof(*c));
    if (!c) return err_set(ERR_NOMEM, "out of memory");
    c->db = db;
    c->from = from;
    c->seg = seg;
    char path[PATH_MAX];
    db__wal_path(path, sizeof(path), db->dir, seg);
    rc = logr_open(db->env, path, LOG_MAGIC_WAL, &c->r);
    if (rc) {
        free(c);
        return rc == ERR_NOTFOUND ? err_set(ERR_GONE, "changes: segment %s is gone", path) : rc;
    }
    *out = c;
    return 0;
}

/* The segment after `seg`, or 0 if seg is the active one. ERR_GONE via *gone. */
static uint64_t next_segment(strata_db *db, uint64_t seg, bool *active)
{
    pthread_mutex_lock(&db->mu);
    uint64_t next = 0;
    *active = db->wal_number == seg;
    for (int i = 0; i < db->nsegs; i++)
        if (db->segs[i].number > seg) {
            next = db->segs[i].number;
            break;
        }
    pthread_mutex_unlock(&db->mu);
    return next;
}

int strata_changes_next(strata_changes *c, uint64_t *seq, const void **data, size_t *len)
{
    for (;;) {
        const void *p;
        size_t n;
        uint64_t off = logr_offset(c->r);
        int rc = logr_next(c->r, &p, &n);
        if (rc == 0) {
            if (n < BATCH_HEADER)
                return err_set(ERR_CORRUPT, "changes: short record in segment %llu",
                               (unsigned long long)c->seg);
            uint64_t s = get_u64(p);
            uint32_t count = get_u32((const uint8_t *)p + 8);
            if (count == 0 || s + count - 1 < c->from) continue;
            *seq = s;
            *data = p;
            *len = n;
            c->from = s + count;
            return 0;
        }
        if (rc != ERR_NOTFOUND) return rc;
        /* End of what is there: move on if a newer segment exists. */
        bool active;
        uint64_t next = next_segment(c->db, c->seg, &active);
        if (active || !next) {
            logr_seek(c->r, off);
            return ERR_NOTFOUND;
        }
        if (logr_torn(c->r)) {
            /* The segment may have grown since logr_next looked: retry once
             * it is complete (a finished segment is synced before rolling). */
            logr_seek(c->r, off);
            rc = logr_next(c->r, &p, &n);
            if (rc == 0) {
                logr_seek(c->r, off);
                continue;
            }
        }
        char path[PATH_MAX];
        db__wal_path(path, sizeof(path), c->db->dir, next);
        logr *nr = NULL;
        rc = logr_open(c->db->env, path, LOG_MAGIC_WAL, &nr);
        if (rc == ERR_NOTFOUND)
            return err_set(ERR_GONE, "changes: segment %s is no longer retained", path);
        if (rc) return rc;
        logr_close(c->r);
        c->r = nr;
        c->seg = next;
    }
}

void strata_changes_close(strata_changes *c)
{
    if (!c) return;
    logr_close(c->r);
    free(c);
}

/* ---- statistics ---- */
int strata_get_stats(strata_db *db, strata_stats *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&db->mu);
    version *v = version_set_current(db->vs);
    s->last_sequence = atomic_load(&db->visible_seq);
    s->memtable_bytes = memtable_bytes(db->mem);
    s->memtable_filter_bytes = memtable_filter_bytes(db->mem);
    for (int i = 0; i < db->nimm; i++) {
        s->memtable_bytes += memtable_bytes(db->imm[i].m);
        s->memtable_filter_bytes += memtable_filter_bytes(db->imm[i].m);
    }
    s->memtable_filter_useful = atomic_load_explicit(&db->mem_filter_useful, memory_order_relaxed);
    s->immutable_memtables = (uint64_t)db->nimm;
    s->num_levels = db->o.num_levels;
    for (int p = 0; p < v->nparts; p++)
        for (int l = 0; l < db->o.num_levels; l++) {
            s->levels[l].files += (uint64_t)v->parts[p].n[l];
            s->levels[l].bytes += v->parts[p].bytes[l];
        }
    s->live_sst_bytes = version_total_bytes(v);
    for (int i = 0; i < db->nsegs; i++) s->wal_bytes += db->segs[i].bytes;
    s->partitions = (uint64_t)version_set_part_list(db->vs, NULL, 0);
    s->flush_bytes_written = db->flush_bytes;
    s->compaction_bytes_read = db->comp_read;
    s->compaction_bytes_written = db->comp_written;
    s->flushes = db->flushes;
    s->compactions = db->compactions;
    s->pending_compaction_bytes = db->pending_bytes;
    s->background_error = db->flush_error || db->compact_error || db->fatal;
    pthread_mutex_unlock(&db->mu);
    version_unref(v);
    s->user_bytes_written = atomic_load(&db->user_bytes);
    s->wal_bytes_written = atomic_load(&db->wal_bytes);
    if (s->user_bytes_written)
        s->write_amplification =
            (double)(s->wal_bytes_written + s->flush_bytes_written + s->compaction_bytes_written) /
            (double)s->user_bytes_written;
    s->stall_count = atomic_load(&db->stall_count);
    s->stall_micros = atomic_load(&db->stall_micros);
    s->stopped_count = atomic_load(&db->stopped_count);
    block_cache_stats(db->bc, &s->block_cache_hits, &s->block_cache_misses, &s->block_cache_bytes,
                      &s->block_cache_capacity);
    s->table_cache_open = (uint64_t)table_cache_open_count(db->tc);
    s->bloom_useful = table_cache_bloom_useful(db->tc);
    s->syncs = atomic_load(&db->syncs);
    s->sync_writes = atomic_load(&db->sync_writes);
    return 0;
}

int strata_partition_stats(strata_db *db, uint32_t part, strata_level_stats *levels,
                           int *num_levels)
{
    pthread_mutex_lock(&db->mu);
    bool exists = version_set_part_exists(db->vs, part);
    version *v = version_set_current(db->vs);
    pthread_mutex_unlock(&db->mu);
    if (!exists) {
        version_unref(v);
        return err_set(ERR_NOTFOUND, "partition %u does not exist", part);
    }
    const part_levels *p = version_part(v, part);
    *num_levels = db->o.num_levels;
    for (int l = 0; l < db->o.num_levels; l++) {
        levels[l].files = p ? (uint64_t)p->n[l] : 0;
        levels[l].bytes = p ? p->bytes[l] : 0;
    }
    version_unref(v);
    return 0;
}
