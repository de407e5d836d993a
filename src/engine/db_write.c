/* The write path: writer queue, group commit, stalls, memtable switches
 * (see db.c for the state machine and db_impl.h for the locking). */
#include "engine/batch.h"
#include "engine/db_impl.h"
#include "engine/dbformat.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#define GROUP_MAX_BYTES (1u << 20)

static uint64_t now_us(strata_db *db)
{
    return env_now_ns(db->env) / 1000;
}

typedef struct check_ctx {
    strata_db *db;
    uint64_t bytes;
    bool other_parts; /* touches a partition other than 0 */
} check_ctx;

static int check_op(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                    const void *v, size_t vl)
{
    check_ctx *c = arg;
    if (kl > c->db->o.max_key_bytes)
        return err_set(ERR_TOOBIG, "key of %zu bytes exceeds max_key_bytes (%zu)", kl,
                       c->db->o.max_key_bytes);
    if (op == STRATA_OP_PUT && vl > c->db->o.max_value_bytes)
        return err_set(ERR_TOOBIG, "value of %zu bytes exceeds max_value_bytes (%zu)", vl,
                       c->db->o.max_value_bytes);
    if (op == STRATA_OP_DELETE_RANGE && vl > c->db->o.max_key_bytes)
        return err_set(ERR_TOOBIG, "range end of %zu bytes exceeds max_key_bytes", vl);
    c->bytes += kl + vl;
    if (part) c->other_parts = true;
    return 0;
}

typedef struct part_check {
    strata_db *db;
    uint32_t bad;
} part_check;

static int part_op(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                   const void *v, size_t vl)
{
    part_check *c = arg;
    if (!version_set_part_exists(c->db->vs, part)) {
        c->bad = part;
        return ERR_NOTFOUND;
    }
    return 0;
}

/* A group's point entries go to the memtable APPLY_RUN at a time
 * (memtable_add_many overlaps their searches); the keys and values point
 * into the batches, which outlive the insert. */
#define APPLY_RUN 64
typedef struct applier {
    memtable *m;
    size_t n;
    memtable_entry e[APPLY_RUN];
} applier;

static int apply_flush(applier *a)
{
    int rc = a->n ? memtable_add_many(a->m, a->e, a->n) : 0;
    a->n = 0;
    return rc;
}

static int apply_op(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                    const void *v, size_t vl)
{
    applier *a = arg;
    if (op == STRATA_OP_PUT || op == STRATA_OP_DELETE) {
        bool put = op == STRATA_OP_PUT;
        a->e[a->n++] = (memtable_entry){
            part, put ? TYPE_VALUE : TYPE_DELETION, seq, k, kl, put ? v : NULL, put ? vl : 0};
        return a->n == APPLY_RUN ? apply_flush(a) : 0;
    }
    return memtable_add_range_del(a->m, part, seq, k, kl, v, vl);
}

/* Switches to a new memtable (and WAL segment). mu held, leader only. */
static int switch_memtable(strata_db *db)
{
    memtable *nm = db__memtable_new(db);
    if (!nm) return err_set(ERR_NOMEM, "out of memory");
    int rc = db__new_wal(db);
    if (rc) {
        memtable_unref(nm);
        return rc;
    }
    imm_entry *e = &db->imm[db->nimm++];
    e->m = db->mem;
    e->log_number = db->mem_log;
    e->last_seq = db->last_seq_alloc;
    e->ticket = ++db->switches;
    db->mem = nm;
    db->mem_log = db->wal_number;
    pthread_cond_broadcast(&db->bg_cv);
    return 0;
}

static void stall_wait(strata_db *db, uint64_t *stalled_since)
{
    if (!*stalled_since) *stalled_since = now_us(db);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&db->done_cv, &db->mu, &ts);
}

/* Makes sure the memtable has room, stalling on the configured triggers.
 * mu held, leader only. */
static int make_room(strata_db *db, writer *w, bool force)
{
    bool delayed = false;
    uint64_t stalled_since = 0;
    int rc = 0;
    for (;;) {
        if (db->fatal) {
            rc = err_set(db->fatal, "database failed: %s", db->bg_errmsg);
            break;
        }
        if (db->shutting_down) {
            rc = err_set(ERR_CLOSED, "database is closing");
            break;
        }
        bool l0_stop = db->l0_max >= db->o.level0_stop_trigger ||
                       db->pending_bytes >= db->o.pending_compaction_stop_bytes;
        bool l0_slow = db->l0_max >= db->o.level0_slowdown_trigger ||
                       db->pending_bytes >= db->o.pending_compaction_slowdown_bytes;
        bool full = force ? !memtable_empty(db->mem) || false
                          : memtable_bytes(db->mem) >= db->o.memtable_bytes;
        if (l0_stop) {
            if (db->compact_error) {
                rc = err_set(db->compact_error, "writes stopped: compaction failing: %s",
                             db->bg_errmsg);
                break;
            }
            if (w->no_slowdown) {
                rc = err_set(ERR_BUSY, "writes stopped: %d level-0 files", db->l0_max);
                break;
            }
            if (!stalled_since) atomic_fetch_add(&db->stopped_count, 1);
            pthread_cond_broadcast(&db->bg_cv);
            stall_wait(db, &stalled_since);
            continue;
        }
        if (l0_slow && !delayed && !force) {
            if (w->no_slowdown) {
                rc = err_set(ERR_BUSY, "writes slowed down: %d level-0 files", db->l0_max);
                break;
            }
            delayed = true;
            if (!stalled_since) stalled_since = now_us(db);
            pthread_mutex_unlock(&db->mu);
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&db->mu);
            continue;
        }
        if (!full) break;
        if (db->nimm >= db->o.max_immutable_memtables) {
            if (db->flush_error) {
                rc = err_set(db->flush_error, "writes stopped: flush failing: %s", db->bg_errmsg);
                break;
            }
            if (w->no_slowdown) {
                rc = err_set(ERR_BUSY, "writes stopped: %d memtables waiting for flush", db->nimm);
                break;
            }
            if (!stalled_since) atomic_fetch_add(&db->stopped_count, 1);
            stall_wait(db, &stalled_since);
            continue;
        }
        rc = switch_memtable(db);
        if (rc || force) break;
    }
    if (stalled_since) {
        atomic_fetch_add(&db->stall_count, 1);
        atomic_fetch_add(&db->stall_micros, now_us(db) - stalled_since);
    }
    return rc;
}

/* Writes the group's batches to the WAL and the memtable (mu released). */
static int write_group(strata_db *db, writer *first, writer *last, int durability,
                       uint64_t *wal_bytes)
{
    int rc = db__wal_repair(db);
    if (rc) return rc;
    /* Earlier DUR_NONE records go to the OS first, so that a failure of
     * this group cannot take them along (they are acknowledged, and a later
     * strata_sync promises them durable). */
    if (durability >= STRATA_DUR_BUFFERED) rc = logw_flush(db->wal);
    uint64_t start = logw_size(db->wal);
    for (writer *w = first; !rc; w = w->next) {
        if (w->b && strata_batch_count(w->b)) {
            size_t len;
            const uint8_t *d = batch__data(w->b, &len);
            rc = logw_add(db->wal, d, len);
        }
        if (w == last) break;
    }
    if (!rc && durability >= STRATA_DUR_BUFFERED) rc = logw_flush(db->wal);
    if (!rc && durability >= STRATA_DUR_SYNC) rc = db__wal_sync_prefix(db);
    if (!rc && durability >= STRATA_DUR_SYNC) rc = logw_sync(db->wal);
    if (rc) {
        /* Nothing of the group may survive: cut the segment back to where
         * it started. Records of earlier DUR_NONE groups lie below start
         * (handed to the OS, or still buffered when that failed): they are
         * acknowledged and stay, for a later flush to retry. */
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        uint64_t to = start;
        if (logw_rewind(db->wal, to)) {
            /* Retried before the next append or segment roll (db__wal_repair):
             * the database works again once the disk does. */
            log_warn("WAL rewind failed after a write error (will retry): %s", err_msg());
            db->wal_rewind_pending = true;
            db->wal_rewind_to = to;
        }
        return err_set(rc, "%s", msg);
    }
    *wal_bytes = logw_size(db->wal) - start;
    applier ap, *a = &ap;
    a->m = db->mem;
    a->n = 0;
    for (writer *w = first; !rc; w = w->next) {
        if (w->b && strata_batch_count(w->b)) {
            size_t len;
            const uint8_t *d = batch__data(w->b, &len);
            rc = strata_batch_iterate(d, len, apply_op, a);
        }
        if (w == last) break;
    }
    if (!rc) rc = apply_flush(a);
    if (rc) { /* in the WAL but half in the memtable: only a reopen is consistent */
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(ERR_CLOSED, "memtable insert failed after the WAL write: %s", msg);
    }
    return rc;
}

static void finish_group(strata_db *db, writer *leader, writer *last, int rc)
{
    char msg[256] = "";
    if (rc) snprintf(msg, sizeof(msg), "%s", err_msg());
    for (;;) {
        writer *w = db->wq_head;
        db->wq_head = w->next;
        if (!db->wq_head) db->wq_tail = NULL;
        w->rc = rc;
        if (rc) memcpy(w->errmsg, msg, sizeof(msg));
        w->done = true;
        if (w != leader) pthread_cond_signal(&w->cv);
        if (w == last) break;
    }
    if (db->wq_head) pthread_cond_signal(&db->wq_head->cv);
}

/* Runs w through the queue. Returns its result (message in w->errmsg). */
static int run_writer(strata_db *db, writer *w)
{
    pthread_cond_init(&w->cv, NULL);
    w->next = NULL;
    w->done = false;
    pthread_mutex_lock(&db->mu);
    if (db->wq_tail)
        db->wq_tail->next = w;
    else
        db->wq_head = w;
    db->wq_tail = w;
    while (!w->done && db->wq_head != w) pthread_cond_wait(&w->cv, &db->mu);
    if (w->done) {
        pthread_mutex_unlock(&db->mu);
        pthread_cond_destroy(&w->cv);
        if (w->rc) err_set(w->rc, "%s", w->errmsg);
        return w->rc;
    }
    /* Leader. */
    int rc = make_room(db, w, w->force_switch);
    writer *last = w;
    int durability = w->durability;
    if (!rc && !w->force_switch) {
        size_t bytes = w->b ? strata_batch_bytes(w->b) : 0;
        while (last->next && !last->next->force_switch && bytes < GROUP_MAX_BYTES) {
            writer *n = last->next;
            /* A small write should not wait behind a huge group. */
            if (bytes > (128u << 10) && n->b && strata_batch_bytes(n->b) > bytes) break;
            bytes += n->b ? strata_batch_bytes(n->b) : 0;
            if (n->durability > durability) durability = n->durability;
            last = n;
        }
        /* Partitions may have been dropped since the writers checked. */
        for (writer *x = w; !rc; x = x->next) {
            if (x->check_parts && x->b && strata_batch_count(x->b)) {
                part_check pc = {db, 0};
                size_t len;
                const uint8_t *d = batch__data(x->b, &len);
                if (strata_batch_iterate(d, len, part_op, &pc))
                    rc = err_set(ERR_NOTFOUND, "partition %u does not exist", pc.bad);
            }
            if (x == last) break;
        }
    }
    if (!rc && !w->force_switch) {
        uint64_t seq = db->last_seq_alloc;
        for (writer *x = w;; x = x->next) {
            if (x->b && strata_batch_count(x->b)) {
                batch__set_seq(x->b, seq + 1);
                x->seq = seq + 1;
                seq += strata_batch_count(x->b);
            } else {
                x->seq = seq;
            }
            if (x == last) break;
        }
        bool any = seq != db->last_seq_alloc || durability > STRATA_DUR_NONE;
        if (any) {
            uint64_t wal_bytes = 0;
            bool first_in_seg = db->nsegs && db->segs[db->nsegs - 1].first_seq == 0;
            pthread_mutex_unlock(&db->mu);
            rc = write_group(db, w, last, durability, &wal_bytes);
            pthread_mutex_lock(&db->mu);
            if (!rc) {
                if (first_in_seg && seq != db->last_seq_alloc)
                    db->segs[db->nsegs - 1].first_seq = db->last_seq_alloc + 1;
                db->segs[db->nsegs - 1].bytes = logw_size(db->wal);
                db->last_seq_alloc = seq;
                atomic_store_explicit(&db->visible_seq, seq, memory_order_release);
                atomic_fetch_add(&db->wal_bytes, wal_bytes);
                if (durability == STRATA_DUR_SYNC) {
                    atomic_fetch_add(&db->syncs, 1);
                    for (writer *x = w;; x = x->next) {
                        if (x->durability == STRATA_DUR_SYNC) atomic_fetch_add(&db->sync_writes, 1);
                        if (x == last) break;
                    }
                }
                if (logw_size(db->wal) >= db->o.wal_file_bytes) {
                    int r2 = db__new_wal(db);
                    if (r2) log_warn("WAL roll failed (will retry): %s", err_msg());
                }
            } else if (rc == ERR_CLOSED) {
                db->fatal = ERR_CLOSED;
                snprintf(db->bg_errmsg, sizeof(db->bg_errmsg), "%s", err_msg());
            }
        }
    }
    finish_group(db, w, last, rc);
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w->cv);
    if (rc) err_set(rc, "%s", w->errmsg);
    return rc;
}

int strata_write(strata_db *db, const strata_write_options *wo, strata_batch *b, uint64_t *seq_out)
{
    if (!db || !b) return err_set(ERR_INVAL, "write: NULL argument");
    if (b->oom) return err_set(ERR_NOMEM, "write batch: an append ran out of memory");
    strata_write_options def;
    if (!wo) {
        strata_write_options_init(&def);
        wo = &def;
    }
    if (wo->durability < STRATA_DUR_NONE || wo->durability > STRATA_DUR_SYNC)
        return err_set(ERR_INVAL, "write: bad durability %d", wo->durability);
    check_ctx cc = {db, 0};
    size_t len;
    const uint8_t *d = batch__data(b, &len);
    int rc = strata_batch_iterate(d, len, check_op, &cc);
    if (rc) return rc;
    writer w = {.b = b,
                .durability = wo->durability,
                .no_slowdown = wo->no_slowdown,
                .check_parts = cc.other_parts};
    rc = run_writer(db, &w);
    if (!rc) {
        atomic_fetch_add(&db->user_bytes, cc.bytes);
        if (seq_out) *seq_out = w.seq;
    }
    return rc;
}

int strata_write_encoded(strata_db *db, const strata_write_options *w, const void *data, size_t len,
                         uint64_t *seq_out)
{
    strata_batch *b = strata_batch_new();
    if (!b) return err_set(ERR_NOMEM, "out of memory");
    int rc = batch__from_encoded(b, data, len);
    if (!rc) rc = strata_write(db, w, b, seq_out);
    strata_batch_free(b);
    return rc;
}

typedef struct op_args {
    uint32_t part;
    const void *k, *v;
    size_t kl, vl;
} op_args;

/* A one-operation batch in a buffer sized for the operation up front (the
 * batch code would realloc a too-small buffer, so it must never be the stack
 * one when the operation does not fit). */
static int single(strata_db *db, const strata_write_options *w, uint64_t *seq_out,
                  int (*add)(strata_batch *, const void *), const op_args *arg)
{
    uint8_t stackbuf[512];
    if (arg->kl > SIZE_MAX / 4 || arg->vl > SIZE_MAX / 4)
        return err_set(ERR_TOOBIG, "write: key or value too big");
    size_t need = BATCH_HEADER + 1 + 3 * VARINT_MAX + arg->kl + arg->vl;
    uint8_t *buf = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
    if (!buf) return err_set(ERR_NOMEM, "write: out of memory");
    strata_batch b = {
        .buf = buf, .len = 0, .cap = need <= sizeof(stackbuf) ? sizeof(stackbuf) : need};
    strata_batch_clear(&b);
    int rc = add(&b, arg);
    if (!rc) rc = strata_write(db, w, &b, seq_out);
    if (b.buf != stackbuf) free(b.buf);
    return rc;
}

static int add_put(strata_batch *b, const void *a)
{
    const op_args *o = a;
    return strata_batch_put(b, o->part, o->k, o->kl, o->v, o->vl);
}
static int add_del(strata_batch *b, const void *a)
{
    const op_args *o = a;
    return strata_batch_delete(b, o->part, o->k, o->kl);
}
static int add_range(strata_batch *b, const void *a)
{
    const op_args *o = a;
    return strata_batch_delete_range(b, o->part, o->k, o->kl, o->v, o->vl);
}

int strata_put(strata_db *db, const strata_write_options *w, uint32_t partition, const void *key,
               size_t klen, const void *val, size_t vlen, uint64_t *seq_out)
{
    op_args a = {partition, key, val, klen, vlen};
    return single(db, w, seq_out, add_put, &a);
}

int strata_delete(strata_db *db, const strata_write_options *w, uint32_t partition, const void *key,
                  size_t klen, uint64_t *seq_out)
{
    op_args a = {partition, key, NULL, klen, 0};
    return single(db, w, seq_out, add_del, &a);
}

int strata_delete_range(strata_db *db, const strata_write_options *w, uint32_t partition,
                        const void *start, size_t slen, const void *end, size_t elen,
                        uint64_t *seq_out)
{
    if (ukey_cmp(start, slen, end, elen) > 0)
        return err_set(ERR_INVAL, "delete_range: start is after end");
    op_args a = {partition, start, end, slen, elen};
    return single(db, w, seq_out, add_range, &a);
}

int strata_sync(strata_db *db)
{
    writer w = {.b = NULL, .durability = STRATA_DUR_SYNC};
    return run_writer(db, &w);
}

int strata_flush_wal(strata_db *db)
{
    writer w = {.b = NULL, .durability = STRATA_DUR_BUFFERED};
    return run_writer(db, &w);
}

/* The periodic sync (the sync thread only). Through the queue, pending
 * writes go to the OS (one write); the fsync of the segment holding them
 * then runs on a handle of its own, with the queue free: writers keep
 * appending during the fsync instead of waiting behind it (an event loop
 * writing with STRATA_DUR_NONE would stall for the whole fsync otherwise).
 * An fsync covers every page of the file, whichever descriptor it goes
 * through. The first sync of each segment is a full strata_sync instead:
 * a segment counts only once the segments before it and its directory
 * entry are durable, and that is the leader's job. */
int db__sync_aside(strata_db *db)
{
    int rc = strata_flush_wal(db);
    if (rc) return rc;
    char path[PATH_MAX];
    pthread_mutex_lock(&db->mu);
    uint64_t n = db->wal_number;
    db__wal_path(path, sizeof(path), db->dir, n);
    pthread_mutex_unlock(&db->mu);
    if (n != db->aside_wal) {
        rc = strata_sync(db);
        if (!rc) db->aside_wal = n;
        return rc;
    }
    env_file *f = NULL;
    rc = env_open(db->env, path, ENV_READ, &f);
    if (rc == ERR_NOTFOUND) return 0; /* rolled and retired meanwhile: synced by then */
    if (rc) return rc;
    rc = env_sync(f);
    env_close(f);
    if (!rc) atomic_fetch_add(&db->syncs, 1);
    return rc;
}

int strata_set_wal_sync_interval(strata_db *db, uint64_t ms)
{
    if (!db) return err_set(ERR_INVAL, "set_wal_sync_interval: NULL database");
    if (ms > 3600u * 1000u) return err_set(ERR_INVAL, "wal_sync_interval_ms: at most one hour");
    pthread_mutex_lock(&db->mu);
    db->o.wal_sync_interval_ms = ms;
    atomic_store(&db->aside_rc, 0); /* a stale outcome of the old period says nothing now */
    pthread_cond_broadcast(&db->sync_cv);
    pthread_mutex_unlock(&db->mu);
    return 0;
}

int strata_periodic_sync_status(strata_db *db)
{
    return atomic_load(&db->aside_rc);
}

uint64_t strata_last_sequence(strata_db *db)
{
    return atomic_load_explicit(&db->visible_seq, memory_order_acquire);
}

/* Switches the memtable through the queue; *ticket gets the flush to wait for
 * (0 if the memtable was empty). */
int db__request_switch(strata_db *db, uint64_t *ticket)
{
    writer w = {.b = NULL, .durability = STRATA_DUR_NONE, .force_switch = true};
    uint64_t before;
    pthread_mutex_lock(&db->mu);
    before = db->switches;
    pthread_mutex_unlock(&db->mu);
    int rc = run_writer(db, &w);
    pthread_mutex_lock(&db->mu);
    *ticket = db->switches != before ? db->switches : (db->nimm ? db->imm[db->nimm - 1].ticket : 0);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ---- partitions ---- */
int strata_partition_create(strata_db *db, const char *name, uint32_t *id)
{
    if (!name || !*name || strlen(name) > PART_NAME_MAX)
        return err_set(ERR_INVAL, "partition name must be 1 to %d bytes", PART_NAME_MAX);
    pthread_mutex_lock(&db->mu);
    version_set_wait_apply(db->vs, &db->mu); /* next_part is read below */
    uint32_t existing;
    int rc;
    if (!version_set_part_find(db->vs, name, &existing)) {
        rc = err_set(ERR_EXISTS, "partition '%s' exists", name);
    } else {
        version_edit e;
        version_edit_init(&e);
        uint32_t nid = version_set_next_part(db->vs);
        e.has_next_part = true;
        e.next_part = nid + 1;
        rc = version_edit_add_part(&e, nid, name);
        if (!rc) rc = version_set_apply_mu(db->vs, &e, &db->mu, NULL);
        version_edit_free(&e);
        if (!rc && id) *id = nid;
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int strata_partition_find(strata_db *db, const char *name, uint32_t *id)
{
    pthread_mutex_lock(&db->mu);
    int rc = version_set_part_find(db->vs, name, id);
    pthread_mutex_unlock(&db->mu);
    return rc ? err_set(ERR_NOTFOUND, "no partition named '%s'", name) : 0;
}

int strata_partition_drop(strata_db *db, uint32_t id)
{
    if (id == 0) return err_set(ERR_INVAL, "partition 0 cannot be dropped");
    pthread_mutex_lock(&db->mu);
    version_set_wait_apply(db->vs, &db->mu);
    int rc;
    if (!version_set_part_exists(db->vs, id)) {
        rc = err_set(ERR_NOTFOUND, "partition %u does not exist", id);
    } else {
        version_edit e;
        version_edit_init(&e);
        rc = version_edit_drop_part(&e, id);
        if (!rc) rc = version_set_apply_mu(db->vs, &e, &db->mu, NULL);
        version_edit_free(&e);
        if (!rc) db__install_stats(db);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int strata_partition_list(strata_db *db, uint32_t *ids, int max)
{
    pthread_mutex_lock(&db->mu);
    int n = version_set_part_list(db->vs, ids, max);
    pthread_mutex_unlock(&db->mu);
    return n;
}

const char *strata_partition_name(strata_db *db, uint32_t id)
{
    pthread_mutex_lock(&db->mu);
    const char *n = version_set_part_name(db->vs, id);
    pthread_mutex_unlock(&db->mu);
    return n;
}
