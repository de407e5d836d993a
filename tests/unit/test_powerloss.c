/* Power-loss test of the engine with the fault env.
 *
 * A deterministic workload (sync, buffered and unsynced writes, deletes,
 * range deletes, batches across three partitions, flushes, compactions) runs
 * against a database on a fault env that loses power just before sync point
 * k; the workload stops at its first failed call, the database is closed, the
 * crash is applied (unsynced data and directory entries dropped; in one run of
 * three a random part of the unsynced tails kept, in another zero bytes in
 * their place) and the database is
 * reopened on a healthy env. For every k from 1 to the number of sync points
 * of a full run:
 *  - the database opens;
 *  - its state is exactly the state after some prefix of the workload's
 *    writes (so no batch is half applied and nothing is reordered), found
 *    from strata_last_sequence(), and that prefix holds every write
 *    acknowledged with STRATA_DUR_SYNC and every partition whose creation
 *    was acknowledged;
 *  - it accepts writes again and keeps them over a clean reopen.
 * Every fourth run the power fails a second time during the recovery.
 * STRATA_SOAK=1 repeats with more workload seeds; STRATA_SEED=n STRATA_CRASH_AT=k
 * replays one workload and crash point. */
#include "test.h"

#include "engine/faultenv.h"
#include "strata/engine.h"
#include "util/env.h"
#include "util/rand.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPART 3
#define NKEYS 48
#define MAXOP 400

enum { W_PUT, W_DEL, W_RANGE };

typedef struct wop {
    int kind, part, key, key2; /* W_RANGE: keys [key, key2) */
} wop;

/* One write call of the workload (a batch or a single operation). */
typedef struct wcall {
    int nops;
    wop ops[12];
    int durability;
    int idx; /* index of this write among writes, for value contents */
} wcall;

typedef struct step {
    enum { S_WRITE, S_FLUSH, S_COMPACT, S_CREATE } kind;
    wcall w;
    int part; /* S_COMPACT, S_CREATE */
} step;

typedef struct workload {
    step steps[MAXOP];
    int nsteps;
} workload;

/* What a run acknowledged. */
typedef struct outcome {
    int steps_done;          /* steps that returned 0 */
    uint64_t seq_end[MAXOP]; /* last sequence of each write step (0 for others) */
    uint64_t last_sync_seq;  /* last sequence of the last acknowledged sync write */
    bool created[NPART];     /* partition creation acknowledged */
    uint32_t ids[NPART];
    uint64_t sync_points;
} outcome;

static void key_of(char *buf, int key)
{
    snprintf(buf, 16, "key%04d", key);
}

/* Value of key in partition part written by write number idx: sometimes large. */
static size_t value_of(char *buf, int idx, int part, int key)
{
    int n = snprintf(buf, 64, "w%d-p%d-k%d:", idx, part, key);
    size_t len = (size_t)n;
    if ((idx + key) % 5 == 0) {
        for (; len < 3000; len++) buf[len] = (char)('a' + (len + (size_t)idx) % 26);
    }
    return len;
}

static void gen_workload(workload *w, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    memset(w, 0, sizeof(*w));
    int nwrites = 0;
    w->steps[w->nsteps++] = (step){.kind = S_CREATE, .part = 1};
    w->steps[w->nsteps++] = (step){.kind = S_CREATE, .part = 2};
    while (w->nsteps < 140) {
        step *s = &w->steps[w->nsteps++];
        uint64_t x = rng_below(&r, 100);
        if (x < 5) {
            s->kind = S_FLUSH;
            continue;
        }
        if (x < 8) {
            s->kind = S_COMPACT;
            s->part = (int)rng_below(&r, NPART);
            continue;
        }
        s->kind = S_WRITE;
        s->w.idx = nwrites++;
        s->w.durability = (int)rng_below(&r, 3);
        s->w.nops = x < 30 ? 2 + (int)rng_below(&r, 10) : 1;
        for (int i = 0; i < s->w.nops; i++) {
            wop *o = &s->w.ops[i];
            uint64_t y = rng_below(&r, 20);
            o->part = (int)rng_below(&r, NPART);
            o->key = (int)rng_below(&r, NKEYS);
            o->kind = y < 15 ? W_PUT : y < 19 ? W_DEL : W_RANGE;
            if (o->kind == W_RANGE) o->key2 = o->key + 1 + (int)rng_below(&r, 8);
        }
    }
}

/* Runs the workload on db until its first failure. */
static void run_workload(strata_db *db, const workload *w, outcome *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t last = 0;
    for (int i = 0; i < w->nsteps; i++) {
        const step *s = &w->steps[i];
        int rc = 0;
        if (s->kind == S_CREATE) {
            char name[16];
            snprintf(name, sizeof(name), "part%d", s->part);
            rc = strata_partition_create(db, name, &out->ids[s->part]);
            if (!rc) out->created[s->part] = true;
        } else if (s->kind == S_FLUSH) {
            rc = strata_flush(db, true);
        } else if (s->kind == S_COMPACT) {
            if (s->part && !out->created[s->part]) continue;
            rc = strata_compact_range(db, out->ids[s->part], NULL, 0, NULL, 0);
        } else {
            strata_batch *b = strata_batch_new();
            for (int j = 0; j < s->w.nops; j++) {
                const wop *o = &s->w.ops[j];
                char k[16], k2[16], v[3100];
                key_of(k, o->key);
                uint32_t id = out->ids[o->part];
                if (o->kind == W_PUT) {
                    size_t vn = value_of(v, s->w.idx, o->part, o->key);
                    strata_batch_put(b, id, k, strlen(k), v, vn);
                } else if (o->kind == W_DEL) {
                    strata_batch_delete(b, id, k, strlen(k));
                } else {
                    key_of(k2, o->key2);
                    strata_batch_delete_range(b, id, k, strlen(k), k2, strlen(k2));
                }
            }
            strata_write_options wo;
            strata_write_options_init(&wo);
            wo.durability = s->w.durability;
            uint64_t seq = 0;
            rc = strata_write(db, &wo, b, &seq);
            strata_batch_free(b);
            if (!rc) {
                last = seq + (uint64_t)s->w.nops - 1;
                out->seq_end[i] = last;
                if (s->w.durability == STRATA_DUR_SYNC) out->last_sync_seq = last;
            }
        }
        if (rc) return;
        out->steps_done = i + 1;
    }
}

typedef struct mstate {
    int val[NPART][NKEYS]; /* write idx + 1 of the current value, 0 = absent */
} mstate;

/* The model state after the write steps among the first nsteps steps. */
static void state_after(const workload *w, int nsteps, mstate *st)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < nsteps; i++) {
        const step *s = &w->steps[i];
        if (s->kind != S_WRITE) continue;
        for (int j = 0; j < s->w.nops; j++) {
            const wop *o = &s->w.ops[j];
            if (o->kind == W_PUT) st->val[o->part][o->key] = s->w.idx + 1;
            if (o->kind == W_DEL) st->val[o->part][o->key] = 0;
            if (o->kind == W_RANGE)
                for (int k = o->key; k < o->key2 && k < NKEYS; k++) st->val[o->part][k] = 0;
        }
    }
}

/* Checks db against st; partitions not present (exists[p] false) are skipped.
 * Returns the number of mismatches (printed with ctx). */
static int compare(strata_db *db, const mstate *st, const uint32_t *ids, const bool *exists,
                   const char *ctx)
{
    int bad = 0;
    strata_read_options r;
    strata_read_options_init(&r);
    for (int p = 0; p < NPART; p++) {
        if (!exists[p]) continue;
        for (int k = 0; k < NKEYS; k++) {
            char key[16], want[3100];
            key_of(key, k);
            void *v = NULL;
            size_t vn = 0;
            int rc = strata_get(db, &r, ids[p], key, strlen(key), &v, &vn);
            if (st->val[p][k] == 0) {
                if (rc != STRATA_ENOTFOUND) {
                    fprintf(stderr, "%s: p%d %s: rc %d (%.*s), want absent\n", ctx, p, key, rc,
                            rc ? 0 : (int)(vn < 40 ? vn : 40), rc ? "" : (char *)v);
                    bad++;
                }
            } else {
                size_t wn = value_of(want, st->val[p][k] - 1, p, k);
                if (rc != 0 || vn != wn || memcmp(v, want, wn)) {
                    fprintf(stderr, "%s: p%d %s: rc %d (%.*s), want %.*s\n", ctx, p, key, rc,
                            rc ? 0 : (int)(vn < 40 ? vn : 40), rc ? "" : (char *)v,
                            (int)(wn < 40 ? wn : 40), want);
                    bad++;
                }
            }
            if (rc == 0) strata_free(v);
        }
        /* The iterator sees the same set of keys. */
        strata_iter *it;
        if (strata_iter_new(db, &r, ids[p], &it) != 0) {
            fprintf(stderr, "%s: iter_new p%d failed: %s\n", ctx, p, strata_errmsg());
            bad++;
            continue;
        }
        int n = 0, want_n = 0;
        for (int k = 0; k < NKEYS; k++) want_n += st->val[p][k] != 0;
        for (strata_iter_seek_first(it); strata_iter_valid(it); strata_iter_next(it)) {
            size_t kn;
            const char *kp = strata_iter_key(it, &kn);
            n += kn >= 3 && !memcmp(kp, "key", 3); /* not the test's "after" key */
        }
        if (n != want_n || strata_iter_status(it) != 0) {
            fprintf(stderr, "%s: p%d iterates %d keys (status %d), want %d\n", ctx, p, n,
                    strata_iter_status(it), want_n);
            bad++;
        }
        strata_iter_free(it);
    }
    return bad;
}

/* Reads every key of the workload into st (write idx + 1, 0 if absent, -1 if
 * the value is not one the workload wrote for that key). */
static void read_state(strata_db *db, const uint32_t *ids, const bool *exists, mstate *st)
{
    strata_read_options r;
    strata_read_options_init(&r);
    memset(st, 0, sizeof(*st));
    for (int p = 0; p < NPART; p++) {
        if (!exists[p]) continue;
        for (int k = 0; k < NKEYS; k++) {
            char key[16], want[3100];
            key_of(key, k);
            void *v = NULL;
            size_t vn = 0;
            int rc = strata_get(db, &r, ids[p], key, strlen(key), &v, &vn);
            if (rc == STRATA_ENOTFOUND) continue;
            st->val[p][k] = -1;
            int idx = -1;
            char head[24] = "";
            if (rc == 0) memcpy(head, v, vn < sizeof(head) - 1 ? vn : sizeof(head) - 1);
            if (rc == 0 && sscanf(head, "w%d-", &idx) == 1 && idx >= 0 && idx < 100000) {
                size_t wn = value_of(want, idx, p, k);
                if (wn == vn && !memcmp(v, want, wn)) st->val[p][k] = idx + 1;
            }
            if (rc == 0) strata_free(v);
        }
    }
}

static void small_options(strata_options *o, env_t *env)
{
    strata_options_init(o);
    o->memtable_bytes = 64 << 10; /* the smallest allowed */
    o->block_size_bytes = 512;
    o->level0_compaction_trigger = 2;
    o->level1_max_bytes = 1 << 20;
    o->target_file_bytes = 64 << 10;
    o->wal_file_bytes = 64 << 10;
    o->block_cache_bytes = 1 << 20;
    o->env = env;
}

/* One crash run at sync point k; returns the sync points a full run reached
 * when k is 0 (no crash), else 0. Failures go to test__failures. */
static uint64_t crash_run(const workload *w, uint64_t wseed, uint64_t k, int mode, const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) exit(2);
    env_t *fe = faultenv_new(env_posix());
    faultenv_real_sync(fe, false); /* durability is simulated: skip the real fsyncs */
    strata_options o;
    small_options(&o, fe);
    static outcome out;
    strata_db *db = NULL;
    char ctx[128];
    snprintf(ctx, sizeof(ctx), "workload %llu crash at sync %llu mode %d",
             (unsigned long long)wseed, (unsigned long long)k, mode);
    if (k) faultenv_kill_at_sync(fe, k);
    int rc = strata_open(dir, &o, &db);
    memset(&out, 0, sizeof(out));
    if (rc == 0) {
        run_workload(db, w, &out);
        strata_close(db); /* may fail: the power is off */
        db = NULL;
    } else if (!k) {
        fprintf(stderr, "%s: open failed: %s\n", ctx, strata_errmsg());
        test__failures++;
    }
    uint64_t points = faultenv_sync_points(fe);
    if (!k && out.steps_done != w->nsteps) {
        fprintf(stderr, "%s: the workload failed at step %d without faults: %s\n", ctx,
                out.steps_done, strata_errmsg());
        test__failures++;
    }
    if (faultenv_crash_ex(fe, mode, k * 7919 + wseed) != 0) {
        fprintf(stderr, "%s: applying the crash failed: %s\n", ctx, strata_errmsg());
        test__failures++;
    }
    /* Every fourth run the power fails again during recovery. */
    if (k % 4 == 1) {
        faultenv_kill_at_sync(fe, faultenv_sync_points(fe) + 1 + (k / 4) % 6);
        if (strata_open(dir, &o, &db) == 0) strata_close(db);
        db = NULL;
        if (faultenv_crash_ex(fe, mode, k) != 0) {
            fprintf(stderr, "%s: applying the second crash failed: %s\n", ctx, strata_errmsg());
            test__failures++;
        }
    }
    /* Reopen after the power comes back. */
    rc = strata_open(dir, &o, &db);
    if (rc) {
        fprintf(stderr, "%s: reopen failed: %d %s\n", ctx, rc, strata_errmsg());
        test__failures++;
        faultenv_free(fe);
        return points;
    }
    uint64_t L = strata_last_sequence(db);
    /* Partitions: acknowledged ones must exist; find the ids again by name. */
    bool exists[NPART] = {true, false, false};
    uint32_t ids[NPART] = {0, 0, 0};
    for (int q = 1; q < NPART; q++) {
        char name[16];
        snprintf(name, sizeof(name), "part%d", q);
        exists[q] = strata_partition_find(db, name, &ids[q]) == 0;
        if (out.created[q] && (!exists[q] || ids[q] != out.ids[q])) {
            fprintf(stderr, "%s: acknowledged partition %s lost (exists %d id %u want %u)\n", ctx,
                    name, exists[q], ids[q], out.ids[q]);
            test__failures++;
        }
    }
    /* The recovered state must be the state after some prefix of the steps
     * (writes are never reordered, batches never split) holding every
     * acknowledged sync write; the step that failed may be in it too. */
    static mstate got, st;
    read_state(db, ids, exists, &got);
    int p_min = 0, p_max = out.steps_done + (out.steps_done < w->nsteps ? 1 : 0), p = -1;
    for (int i = 0; i < out.steps_done; i++)
        if (out.last_sync_seq && out.seq_end[i] == out.last_sync_seq) p_min = i + 1;
    /* Step states can repeat (a delete of an absent key), so every matching
     * prefix counts; last_sequence must cover at least one of them. */
    int p_any = -1;
    for (int c = p_min; c <= p_max; c++) {
        state_after(w, c, &st);
        bool same = true;
        for (int q = 0; q < NPART && same; q++)
            if (exists[q]) same = !memcmp(got.val[q], st.val[q], sizeof(st.val[q]));
        if (!same) continue;
        p_any = c;
        uint64_t end_seq = 0;
        for (int i = 0; i < c; i++) {
            uint64_t e = i < out.steps_done ? out.seq_end[i] : 0;
            if (i == out.steps_done && w->steps[i].kind == S_WRITE) /* the failed step */
                e = (end_seq ? end_seq : 0) + (uint64_t)w->steps[i].w.nops;
            if (e) end_seq = e;
        }
        if (end_seq <= L) p = c;
    }
    if (p < 0 && p_any >= 0) {
        fprintf(stderr, "%s: last_sequence %llu is below the recovered writes\n", ctx,
                (unsigned long long)L);
        test__failures++;
        p = p_any;
    }
    if (p < 0) {
        /* Show the differences against the longest candidate. */
        state_after(w, p_max, &st);
        int bad = compare(db, &st, ids, exists, ctx);
        fprintf(stderr,
                "%s: state is no prefix of steps %d..%d holding every synced write (%d "
                "differences from the longest; last_sequence %llu)\n",
                ctx, p_min, p_max, bad, (unsigned long long)L);
        test__failures++;
        strata_close(db);
        faultenv_free(fe);
        return points;
    }
    state_after(w, p, &st);
    if (p > out.steps_done)
        fprintf(stderr, "%s: recovered the unacknowledged step %d too\n", ctx, p - 1);
    if (compare(db, &st, ids, exists, ctx)) {
        fprintf(stderr, "%s: gets and iteration disagree with the prefix of %d steps\n", ctx, p);
        test__failures++;
    }
    /* The recovered database accepts writes and keeps them. */
    strata_write_options wo;
    strata_write_options_init(&wo);
    rc = strata_put(db, &wo, 0, "after", 5, "crash", 5, NULL);
    if (rc) {
        fprintf(stderr, "%s: put after recovery: %d %s\n", ctx, rc, strata_errmsg());
        test__failures++;
    }
    strata_close(db);
    db = NULL;
    rc = strata_open(dir, &o, &db);
    if (rc) {
        fprintf(stderr, "%s: second reopen: %d %s\n", ctx, rc, strata_errmsg());
        test__failures++;
    } else {
        void *v;
        size_t vn;
        strata_read_options r;
        strata_read_options_init(&r);
        if (strata_get(db, &r, 0, "after", 5, &v, &vn) != 0) {
            fprintf(stderr, "%s: write after recovery lost over a clean reopen\n", ctx);
            test__failures++;
        } else {
            strata_free(v);
        }
        if (compare(db, &st, ids, exists, ctx)) test__failures++;
        strata_close(db);
    }
    faultenv_free(fe);
    return points;
}

static void powerloss_seed(uint64_t wseed, uint64_t stride)
{
    static workload w;
    gen_workload(&w, wseed);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir("powerloss"));
    int before = test__failures;
    uint64_t points = crash_run(&w, wseed, 0, FAULTENV_CRASH_DROP_UNSYNCED, dir);
    fprintf(stderr, "workload %llu: %llu sync points\n", (unsigned long long)wseed,
            (unsigned long long)points);
    if (test__failures != before) return;
    /* A few more than counted: background work can add sync points.
     * STRATA_CRASH_AT=k replays one crash point. */
    const char *only = getenv("STRATA_CRASH_AT");
    uint64_t k0 = only && *only ? strtoull(only, NULL, 10) : 1;
    uint64_t k1 = only && *only ? k0 : points + 3;
    for (uint64_t k = k0; k <= k1; k += stride) {
        before = test__failures;
        crash_run(&w, wseed, k, (int)(k % 3), dir);
        if (test__failures != before) {
            fprintf(stderr, "replay: STRATA_SEED=%llu, crash at sync point %llu\n",
                    (unsigned long long)wseed, (unsigned long long)k);
            if (test__failures - before > 0 && !test_soak()) return;
        }
    }
}

static void test_powerloss_every_sync_point(void)
{
    const char *e = getenv("STRATA_SEED");
    uint64_t seed = test_seed();
    if (e && *e) {
        powerloss_seed(seed, 1);
        return;
    }
    powerloss_seed(1, 1);
    int extra = test_soak() ? 20 : 1;
    for (int i = 0; i < extra; i++) powerloss_seed(seed + (uint64_t)i, test_soak() ? 1 : 5);
}

/* A checkpoint that returned 0 survives a power loss right after it: it opens
 * and holds every write made before it. */
static void test_checkpoint_powerloss(void)
{
    char dir[512], cp[600];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir("plcheckpoint"));
    snprintf(cp, sizeof(cp), "%s.cp", dir);
    char cmd[1300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cp);
    REQUIRE(system(cmd) == 0);
    env_t *fe = faultenv_new(env_posix());
    faultenv_real_sync(fe, false);
    strata_options o;
    small_options(&o, fe);
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    uint32_t id;
    CHECK_EQ_INT(strata_partition_create(db, "part1", &id), 0);
    strata_write_options wo;
    strata_write_options_init(&wo);
    wo.durability = STRATA_DUR_NONE; /* the checkpoint itself must make them durable */
    char k[16], v[3100];
    for (int i = 0; i < 300; i++) {
        key_of(k, i);
        size_t vn = value_of(v, i, 0, i);
        CHECK_EQ_INT(strata_put(db, &wo, i % 2 ? id : 0, k, strlen(k), v, vn, NULL), 0);
        if (i == 150) CHECK_EQ_INT(strata_flush(db, true), 0);
    }
    uint64_t seq = 0;
    CHECK_EQ_INT(strata_checkpoint(db, cp, &seq), 0);
    CHECK(seq >= 300);
    faultenv_kill(fe);
    strata_close(db);
    CHECK_EQ_INT(faultenv_crash(fe), 0);
    small_options(&o, fe);
    int rc = strata_open(cp, &o, &db);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "checkpoint after power loss: %s\n", strata_errmsg());
    } else {
        CHECK_EQ_INT(strata_partition_find(db, "part1", &id), 0);
        strata_read_options r;
        strata_read_options_init(&r);
        int bad = 0;
        for (int i = 0; i < 300; i++) {
            key_of(k, i);
            size_t vn = value_of(v, i, 0, i);
            void *got;
            size_t gn;
            rc = strata_get(db, &r, i % 2 ? id : 0, k, strlen(k), &got, &gn);
            if (rc || gn != vn || memcmp(got, v, vn)) bad++;
            if (!rc) strata_free(got);
        }
        CHECK_EQ_INT(bad, 0);
        strata_close(db);
    }
    faultenv_free(fe);
}

/* WAL segments rolled without a sync in between (synced in the background,
 * or by the next SYNC write or strata_sync, oldest first): everything
 * acknowledged before a sync survives a power loss. */
static void test_rolled_segments_powerloss(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir("plrolled"));
    env_t *fe = faultenv_new(env_posix());
    faultenv_real_sync(fe, false);
    strata_options o;
    small_options(&o, fe);
    o.memtable_bytes = 8u << 20; /* no flush: the WAL alone holds the data */
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    strata_write_options buf, sync;
    strata_write_options_init(&buf);
    buf.durability = STRATA_DUR_BUFFERED;
    strata_write_options_init(&sync);
    sync.durability = STRATA_DUR_SYNC;
    char k[16], v[3100];
    int n = 0;
    for (int round = 0; round < 3; round++) {
        /* ~15 segments of 64 KiB per round: the roll queue fills up. */
        for (int i = 0; i < 1500; i++, n++) {
            key_of(k, n);
            size_t vn = value_of(v, n, 0, n);
            CHECK_EQ_INT(strata_put(db, &buf, 0, k, strlen(k), v, vn, NULL), 0);
        }
        key_of(k, n);
        size_t vn = value_of(v, n, 0, n);
        CHECK_EQ_INT(strata_put(db, round == 1 ? &buf : &sync, 0, k, strlen(k), v, vn, NULL), 0);
        if (round == 1) CHECK_EQ_INT(strata_sync(db), 0);
        n++;
    }
    for (int i = 0; i < 100; i++) { /* not promised */
        key_of(k, n + i);
        size_t vn = value_of(v, n + i, 0, n + i);
        CHECK_EQ_INT(strata_put(db, &buf, 0, k, strlen(k), v, vn, NULL), 0);
    }
    faultenv_kill(fe);
    strata_close(db);
    CHECK_EQ_INT(faultenv_crash(fe), 0);
    small_options(&o, fe);
    o.memtable_bytes = 8u << 20;
    int rc = strata_open(dir, &o, &db);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "rolled segments after power loss: %s\n", strata_errmsg());
    } else {
        strata_read_options r;
        strata_read_options_init(&r);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            key_of(k, i);
            size_t vn = value_of(v, i, 0, i);
            void *got;
            size_t gn;
            rc = strata_get(db, &r, 0, k, strlen(k), &got, &gn);
            if (rc || gn != vn || memcmp(got, v, vn)) bad++;
            if (!rc) strata_free(got);
        }
        CHECK_EQ_INT(bad, 0);
        strata_close(db);
    }
    faultenv_free(fe);
}

/* ---- concurrent sync writers (group commit) under power loss ---- */
#define NTHREADS   4
#define PER_THREAD 300

typedef struct cw_arg {
    strata_db *db;
    int t;
    int acked_sync; /* writes 0..acked_sync-1 include a SYNC ack at acked_sync-1 */
    int attempted;  /* writes started */
} cw_arg;

static void cw_kv(char *k, char *v, int t, int n)
{
    snprintf(k, 24, "t%d-%05d", t % 10, n % 100000);
    snprintf(v, 40, "value-%d-%d", t % 10, (n % 100000) * 7);
}

static void *cw_main(void *p)
{
    cw_arg *a = p;
    strata_write_options w;
    strata_write_options_init(&w);
    for (int n = 0; n < PER_THREAD; n++) {
        char k[24], v[40];
        cw_kv(k, v, a->t, n);
        w.durability = n % 3 == 2 ? STRATA_DUR_BUFFERED : STRATA_DUR_SYNC;
        a->attempted = n + 1;
        if (strata_put(a->db, &w, 0, k, strlen(k), v, strlen(v), NULL) != 0) break;
        if (w.durability == STRATA_DUR_SYNC) a->acked_sync = n + 1;
    }
    return NULL;
}

/* Writers on four threads share fsyncs; the power fails at some sync point.
 * Each thread's surviving writes are a prefix of its own writes holding every
 * write acknowledged as synced. */
static void test_concurrent_sync_writers(void)
{
    int iters = test_soak() ? 120 : 15, cut = 0;
    for (int it = 0; it < iters; it++) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s", test_tmpdir("plthreads"));
        env_t *fe = faultenv_new(env_posix());
        faultenv_real_sync(fe, false);
        strata_options o;
        small_options(&o, fe);
        strata_db *db;
        REQUIRE(strata_open(dir, &o, &db) == 0);
        uint64_t kill = faultenv_sync_points(fe) + 2 + (uint64_t)(it * 37 % 400);
        faultenv_kill_at_sync(fe, kill);
        pthread_t th[NTHREADS];
        cw_arg a[NTHREADS];
        for (int t = 0; t < NTHREADS; t++) {
            a[t] = (cw_arg){db, t, 0, 0};
            pthread_create(&th[t], NULL, cw_main, &a[t]);
        }
        for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
        cut += faultenv_dead(fe);
        strata_close(db);
        CHECK_EQ_INT(faultenv_crash_ex(fe, it % 3, (uint64_t)it), 0);
        small_options(&o, fe);
        int rc = strata_open(dir, &o, &db);
        if (rc) {
            fprintf(stderr, "threads run %d (kill at %llu): reopen %d %s\n", it,
                    (unsigned long long)kill, rc, strata_errmsg());
            test__failures++;
            faultenv_free(fe);
            continue;
        }
        strata_read_options r;
        strata_read_options_init(&r);
        for (int t = 0; t < NTHREADS; t++) {
            int present = 0;
            bool gap = false;
            for (int n = 0; n < PER_THREAD; n++) {
                char k[24], v[40];
                cw_kv(k, v, t, n);
                void *got;
                size_t gn;
                int g = strata_get(db, &r, 0, k, strlen(k), &got, &gn);
                if (g == 0) {
                    if (gn != strlen(v) || memcmp(got, v, gn)) {
                        fprintf(stderr, "threads run %d: %s has a wrong value\n", it, k);
                        test__failures++;
                    }
                    strata_free(got);
                    if (present != n) gap = true;
                    present = n + 1;
                } else if (g != STRATA_ENOTFOUND) {
                    fprintf(stderr, "threads run %d: get %s: %d\n", it, k, g);
                    test__failures++;
                }
            }
            if (gap || present < a[t].acked_sync || present > a[t].attempted) {
                fprintf(stderr,
                        "threads run %d (kill at sync %llu): thread %d has %d writes%s, "
                        "acknowledged synced %d, attempted %d\n",
                        it, (unsigned long long)kill, t, present, gap ? " with a gap" : "",
                        a[t].acked_sync, a[t].attempted);
                test__failures++;
            }
        }
        strata_close(db);
        faultenv_free(fe);
    }
    /* The power cut must have hit the writers in most runs. */
    CHECK(cut * 2 > iters);
}

int main(void)
{
    RUN(test_powerloss_every_sync_point);
    RUN(test_checkpoint_powerloss);
    RUN(test_rolled_segments_powerloss);
    RUN(test_concurrent_sync_writers);
    TEST_END();
}
