/* Background work: the flush thread (immutable memtables to level-0 files,
 * oldest first), the compaction thread, the WAL sync timer, and the
 * maintenance calls that wait on them (flush, compact_range, wait_idle).
 *
 * A failed flush or compaction is retried after a pause; while it fails,
 * writes that would have to wait for it get its error instead (backpressure
 * never turns into a hang). The outputs of a failed attempt are deleted. */
#include "engine/db_impl.h"
#include "engine/dbformat.h"
#include "util/err.h"
#include "util/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS 200

static uint64_t new_file_number(void *arg)
{
    strata_db *db = arg;
    pthread_mutex_lock(&db->mu);
    uint64_t n = version_set_new_file_number(db->vs);
    pthread_mutex_unlock(&db->mu);
    return n;
}

/* new_file_number when mu is already held (recovery). */
static uint64_t new_file_number_locked(void *arg)
{
    return version_set_new_file_number(((strata_db *)arg)->vs);
}

static void init_merge(strata_db *db, merge_ctx *m, uint64_t smallest_snapshot, bool locked)
{
    memset(m, 0, sizeof(*m));
    m->vs = db->vs;
    m->sst = (sst_options){db->o.block_size_bytes, db->o.block_restart_interval,
                           db->o.bloom_bits_per_key, db->o.compression, db->o.zstd_level};
    m->target_file_bytes = db->o.target_file_bytes;
    m->smallest_snapshot = smallest_snapshot;
    m->filter = db->o.compaction_filter;
    m->filter_arg = db->o.compaction_filter_arg;
    m->new_file_number = locked ? new_file_number_locked : new_file_number;
    m->arg = db;
}

/* Deletes the files a failed attempt added to e. */
static void discard_outputs(strata_db *db, version_edit *e)
{
    for (int i = 0; i < e->nadds; i++) {
        char path[PATH_MAX];
        table_path(path, sizeof(path), db->dir, e->adds[i].f->number);
        env_unlink(db->env, path);
    }
}

/* Writes every live partition of m as level-0 files into e. Holds nothing
 * but reads the registry: call with mu held (recovery) or from the flush
 * thread with the partition list gathered under mu. */
static int flush_parts(strata_db *db, memtable *m, const uint32_t *parts, int n, const bool *bottom,
                       merge_ctx *mc, version_edit *e)
{
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        ikiter *it = memtable_iter(m, parts[i]);
        rangedel_list rd = {0};
        if (!it) rc = err_set(ERR_NOMEM, "flush: out of memory");
        if (!rc && memtable_has_range_dels(m, parts[i])) rc = memtable_range_dels(m, parts[i], &rd);
        if (!rc) rc = compaction_flush(mc, parts[i], it, &rd, bottom[i], e);
        iki_destroy(it);
        rangedel_list_free(&rd);
    }
    return rc;
}

/* Gathers m's partitions that still exist (mu held). */
static int live_parts(strata_db *db, memtable *m, uint32_t **parts, bool **bottom)
{
    int n = memtable_partitions(m, NULL, 0);
    *parts = malloc(sizeof(uint32_t) * (size_t)(n + 1));
    *bottom = malloc(sizeof(bool) * (size_t)(n + 1));
    if (!*parts || !*bottom) return err_set(ERR_NOMEM, "flush: out of memory");
    n = memtable_partitions(m, *parts, n);
    version *v = version_set_current(db->vs);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!version_set_part_exists(db->vs, (*parts)[i])) continue;
        (*bottom)[k] = version_part(v, (*parts)[i]) == NULL;
        (*parts)[k++] = (*parts)[i];
    }
    version_unref(v);
    return k;
}

int db__write_l0(strata_db *db, memtable *m, version_edit *e)
{
    uint32_t *parts = NULL;
    bool *bottom = NULL;
    int n = live_parts(db, m, &parts, &bottom);
    int rc = n < 0 ? n : 0;
    if (!rc) {
        merge_ctx mc;
        /* Recovery: no snapshots exist yet, every version but the newest can go. */
        init_merge(db, &mc, SEQ_MAX, true);
        for (int i = 0; i < n; i++) bottom[i] = false; /* other WAL data may follow */
        rc = flush_parts(db, m, parts, n, bottom, &mc, e);
        db->flush_bytes += mc.bytes_written;
    }
    free(parts);
    free(bottom);
    return rc;
}

static void set_bg_error(strata_db *db, int *slot, int rc, const char *what)
{
    *slot = rc;
    snprintf(db->bg_errmsg, sizeof(db->bg_errmsg), "%s: %s", what, err_msg());
    log_warn("%s", db->bg_errmsg);
}

static void timed_wait(strata_db *db, pthread_cond_t *cv, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(cv, &db->mu, &ts);
}

/* Flushes the oldest immutable memtable. mu held on entry and exit. */
static void flush_one(strata_db *db)
{
    imm_entry im = db->imm[0];
    version *old = NULL;
    uint64_t *dead = NULL;
    int ndead = 0;
    uint32_t *parts = NULL;
    bool *bottom = NULL;
    int n = live_parts(db, im.m, &parts, &bottom);
    merge_ctx mc;
    init_merge(db, &mc, db__smallest_snapshot(db), false);
    version_edit e;
    version_edit_init(&e);
    db->flush_running = true;
    pthread_mutex_unlock(&db->mu);
    int rc = n < 0 ? n : flush_parts(db, im.m, parts, n, bottom, &mc, &e);
    pthread_mutex_lock(&db->mu);
    if (!rc) {
        e.has_log_number = true;
        e.log_number = db->nimm > 1 ? db->imm[1].log_number : db->mem_log;
        e.has_flushed_seq = e.has_last_seq = true;
        e.flushed_seq = im.last_seq;
        e.last_seq = db->last_seq_alloc;
        rc = version_set_apply_mu(db->vs, &e, &db->mu, &old);
    }
    if (rc) {
        discard_outputs(db, &e);
        set_bg_error(db, &db->flush_error, rc, "flush");
    } else {
        memmove(db->imm, db->imm + 1, sizeof(imm_entry) * (size_t)(db->nimm - 1));
        db->nimm--;
        db->flush_error = 0;
        db->flushes++;
        db->flush_bytes += mc.bytes_written;
        db__install_stats(db);
        ndead = db__wal_retention(db, &dead);
    }
    version_edit_free(&e);
    free(parts);
    free(bottom);
    if (!rc) {
        /* File deletions and freeing the memtable without mu (writers queue
         * on it); the flush counts as done once they are over. */
        pthread_mutex_unlock(&db->mu);
        memtable_unref(im.m);
        version_unref(old);
        db__wal_unlink(db, dead, ndead);
        pthread_mutex_lock(&db->mu);
        db->flushed_tickets = im.ticket;
    }
    db->flush_running = false;
    db->flush_attempts++;
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->bg_cv);
}

static void *flush_main(void *arg)
{
    strata_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        if (db->nimm && !db->flush_error) {
            flush_one(db);
            continue;
        }
        /* Between flushes (which writers may be waiting for), rolled WAL
         * segments: a roll that finds DB_MAX_OLD_WAL of them queued syncs
         * them on the write path. (A failed sync is left to the leader.) */
        if (db__wal_old_pending(db)) {
            pthread_mutex_unlock(&db->mu);
            db__wal_sync_old(db);
            pthread_mutex_lock(&db->mu);
            continue; /* mu was released: look at shutting_down again */
        }
        if (db->nimm) { /* the last flush failed: retry after a pause (or when woken) */
            timed_wait(db, &db->bg_cv, RETRY_MS);
            if (!db->shutting_down && db->nimm) flush_one(db);
            continue;
        }
        pthread_cond_wait(&db->bg_cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* Runs one compaction (mu held on entry and exit). */
static int run_compaction(strata_db *db, compaction *c)
{
    merge_ctx mc;
    init_merge(db, &mc, db__smallest_snapshot(db), false);
    version_edit e;
    version_edit_init(&e);
    db->compact_running = true;
    pthread_mutex_unlock(&db->mu);
    int rc = compaction_run(c, &mc, &e);
    pthread_mutex_lock(&db->mu);
    version *old = NULL;
    if (!rc) rc = version_set_apply_mu(db->vs, &e, &db->mu, &old);
    if (rc) {
        if (!c->trivial_move) discard_outputs(db, &e);
        set_bg_error(db, &db->compact_error, rc, "compaction");
    } else {
        db->compact_error = 0;
        db->compactions++;
        db->comp_read += mc.bytes_read;
        db->comp_written += mc.bytes_written;
        db__install_stats(db);
    }
    version_edit_free(&e);
    /* The replaced version and the one the compaction was picked from: the
     * last release of either unlinks the inputs (tens of MiB each), which
     * must not happen under mu. */
    pthread_mutex_unlock(&db->mu);
    version_unref(old);
    version_unref(c->v);
    c->v = NULL;
    pthread_mutex_lock(&db->mu);
    db->compact_running = false;
    pthread_cond_broadcast(&db->done_cv);
    return rc;
}

static void *compact_main(void *arg)
{
    strata_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        compaction *c = NULL;
        if (!db->manual_compactions) {
            version *v = version_set_current(db->vs);
            c = compaction_pick(db->picker, v, &db->lim);
            version_unref(v);
        }
        if (!c) {
            pthread_cond_wait(&db->bg_cv, &db->mu);
            continue;
        }
        int rc = run_compaction(db, c);
        compaction_free(c);
        if (rc && !db->shutting_down) timed_wait(db, &db->bg_cv, RETRY_MS);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The periodic sync (wal_sync_interval_ms; 0 = idle until it is set). The
 * interval counts from the end of the previous sync; a change of the
 * interval takes effect at once. */
static void *sync_main(void *arg)
{
    strata_db *db = arg;
    pthread_mutex_lock(&db->mu);
    uint64_t last = mono_ms();
    while (!db->shutting_down) {
        uint64_t iv = db->o.wal_sync_interval_ms, now = mono_ms();
        if (!iv) {
            pthread_cond_wait(&db->sync_cv, &db->mu);
            last = mono_ms();
            continue;
        }
        if (now - last < iv) {
            timed_wait(db, &db->sync_cv, (long)(iv - (now - last)));
            continue;
        }
        pthread_mutex_unlock(&db->mu);
        int rc = db__sync_aside(db);
        if (rc) log_warn("periodic WAL sync failed: %s", err_msg());
        atomic_store(&db->aside_rc, rc);
        pthread_mutex_lock(&db->mu);
        last = mono_ms();
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

int db__start_threads(strata_db *db)
{
    if (pthread_create(&db->flush_thr, NULL, flush_main, db))
        return err_set(ERR_NOMEM, "cannot start the flush thread");
    if (pthread_create(&db->compact_thr, NULL, compact_main, db)) {
        pthread_mutex_lock(&db->mu);
        db->shutting_down = true;
        pthread_cond_broadcast(&db->bg_cv);
        pthread_mutex_unlock(&db->mu);
        pthread_join(db->flush_thr, NULL);
        return err_set(ERR_NOMEM, "cannot start the compaction thread");
    }
    db->threads_started = true;
    /* without it, only a periodic sync is missing: not worth failing the open */
    if (pthread_create(&db->sync_thr, NULL, sync_main, db) == 0) db->sync_started = true;
    return 0;
}

void db__stop_threads(strata_db *db)
{
    if (!db->threads_started) return;
    pthread_mutex_lock(&db->mu);
    db->shutting_down = true;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->sync_cv);
    pthread_mutex_unlock(&db->mu);
    pthread_join(db->flush_thr, NULL);
    pthread_join(db->compact_thr, NULL);
    if (db->sync_started) pthread_join(db->sync_thr, NULL);
    db->threads_started = false;
}

/* ---- maintenance ---- */
static int wait_flushed(strata_db *db, uint64_t ticket)
{
    int rc = 0;
    pthread_mutex_lock(&db->mu);
    /* An error counts only from an attempt that ended after this call began:
     * a flush error left from before (the disk may be fine again) gets one
     * fresh retry, woken now rather than after the retry delay. */
    uint64_t attempts = db->flush_attempts + (db->flush_running ? 1 : 0);
    if (db->flush_error) pthread_cond_broadcast(&db->bg_cv);
    while (db->flushed_tickets < ticket && !db->shutting_down) {
        if (db->flush_error && db->flush_attempts > attempts) {
            rc = err_set(db->flush_error, "%s", db->bg_errmsg);
            break;
        }
        pthread_cond_wait(&db->done_cv, &db->mu);
    }
    if (!rc && db->flushed_tickets < ticket) rc = err_set(ERR_CLOSED, "database is closing");
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int strata_flush(strata_db *db, bool wait)
{
    uint64_t ticket = 0;
    int rc = db__request_switch(db, &ticket);
    if (rc || !wait || !ticket) return rc;
    return wait_flushed(db, ticket);
}

int strata_wait_idle(strata_db *db)
{
    pthread_mutex_lock(&db->mu);
    for (;;) {
        if (db->shutting_down) break;
        bool busy = db->nimm || db->flush_running || db->compact_running;
        if (!busy) {
            version *v = version_set_current(db->vs);
            compaction_picker *probe = compaction_picker_new();
            compaction *c = probe ? compaction_pick(probe, v, &db->lim) : NULL;
            busy = c != NULL;
            compaction_free(c);
            compaction_picker_free(probe);
            version_unref(v);
            if (busy && db->compact_error) break; /* not going to get better by waiting */
            if (busy) pthread_cond_broadcast(&db->bg_cv);
        }
        if (!busy) break;
        if (db->nimm && db->flush_error) break;
        timed_wait(db, &db->done_cv, 50);
    }
    int rc = db->flush_error ? db->flush_error : db->compact_error;
    if (rc) err_set(rc, "%s", db->bg_errmsg);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int strata_compact_range(strata_db *db, uint32_t part, const void *start, size_t slen,
                         const void *end, size_t elen)
{
    int rc = strata_flush(db, true);
    if (rc) return rc;
    pthread_mutex_lock(&db->mu);
    if (!version_set_part_exists(db->vs, part)) {
        pthread_mutex_unlock(&db->mu);
        return err_set(ERR_NOTFOUND, "partition %u does not exist", part);
    }
    db->manual_compactions++;
    while (db->compact_running) pthread_cond_wait(&db->done_cv, &db->mu);
    /* Deepest level holding data of the partition. */
    version *v = version_set_current(db->vs);
    const part_levels *p = version_part(v, part);
    int deepest = 0;
    for (int l = 0; p && l < db->o.num_levels; l++)
        if (p->n[l]) deepest = l;
    version_unref(v);
    int bottom = deepest < 1 ? 1 : deepest;
    for (int l = 0; l <= bottom && !rc && !db->shutting_down; l++) {
        v = version_set_current(db->vs);
        int out = l < bottom ? l + 1 : l;
        compaction *c = compaction_for_range(v, part, l, out, start, slen, end, elen);
        version_unref(v);
        if (!c) continue;
        if (l == out) c->trivial_move = false;
        rc = run_compaction(db, c);
        compaction_free(c);
    }
    db->manual_compactions--;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
}
