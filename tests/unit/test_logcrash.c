/* Crash test of the record log (engine/logfile, the WAL and manifest framing)
 * on the fault env: records of random sizes are appended with random flushes
 * and syncs until the power goes off at a random sync point; after the crash
 * (unsynced bytes dropped, a random prefix of them kept, or zero bytes in
 * their place) the reader returns exactly the first records in order, at
 * least every record covered by a successful sync, and then a clean or torn
 * end, never a corruption error.
 * Prints its seed; STRATA_SEED=n replays; STRATA_SOAK=1 runs longer. */
#include "test.h"

#include "engine/faultenv.h"
#include "engine/logfile.h"
#include "util/env.h"
#include "util/err.h"
#include "util/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NREC 120

static size_t rec_len(uint64_t seed, int i)
{
    rng_t r;
    rng_seed(&r, seed * 1000003 + (uint64_t)i);
    uint64_t x = rng_below(&r, 10);
    return x < 1 ? 0 : x < 8 ? rng_below(&r, 200) : rng_below(&r, 9000);
}

static void rec_fill(uint8_t *p, size_t n, uint64_t seed, int i)
{
    for (size_t j = 0; j < n; j++) p[j] = (uint8_t)(seed + (uint64_t)i * 31 + j * 7);
}

/* One run; returns 0 if it passed. */
static int run(uint64_t seed, const char *dir)
{
    rng_t r;
    rng_seed(&r, seed);
    char path[600];
    snprintf(path, sizeof(path), "%s/%06llu.log", dir, (unsigned long long)seed);
    env_t *fe = faultenv_new(env_posix());
    faultenv_real_sync(fe, false);
    int mode = (int)(seed % 3);
    size_t buf = rng_below(&r, 2) ? 0 : 64 + rng_below(&r, 8192);
    logw *w;
    int acked = 0, added = 0, fails = 0;
    if (logw_open(fe, path, LOG_MAGIC_WAL, buf, &w) != 0 || env_sync_dir(fe, dir) != 0) {
        fprintf(stderr, "seed %llu: setup failed: %s\n", (unsigned long long)seed, err_msg());
        faultenv_free(fe);
        return 1;
    }
    faultenv_kill_at_sync(fe, faultenv_sync_points(fe) + 1 + rng_below(&r, 40));
    static uint8_t data[9000];
    for (int i = 0; i < NREC; i++) {
        size_t n = rec_len(seed, i);
        rec_fill(data, n, seed, i);
        if (logw_add(w, data, n) != 0) break;
        added = i + 1;
        uint64_t x = rng_below(&r, 10);
        if (x < 3) {
            if (logw_sync(w) != 0) break;
            acked = added;
        } else if (x < 5 && logw_flush(w) != 0) {
            break;
        }
    }
    logw_close(w);
    if (faultenv_crash_ex(fe, mode, seed) != 0) {
        fprintf(stderr, "seed %llu: crash failed: %s\n", (unsigned long long)seed, err_msg());
        fails++;
    }
    logr *rd;
    int rc = logr_open(fe, path, LOG_MAGIC_WAL, &rd);
    if (rc) {
        /* Only a log with no synced record may have lost its header. */
        if (acked > 0) {
            fprintf(stderr, "seed %llu mode %d: open with %d synced records: %d %s\n",
                    (unsigned long long)seed, mode, acked, rc, err_msg());
            fails++;
        }
        faultenv_free(fe);
        return fails;
    }
    int got = 0;
    for (;;) {
        const void *p;
        size_t n;
        rc = logr_next(rd, &p, &n);
        if (rc) break;
        size_t want = rec_len(seed, got);
        rec_fill(data, want, seed, got);
        if (got >= added || n != want || memcmp(p, data, n)) {
            fprintf(stderr, "seed %llu mode %d: record %d is wrong (%zu bytes, want %zu)\n",
                    (unsigned long long)seed, mode, got, n, want);
            fails++;
            break;
        }
        got++;
    }
    if (rc != ERR_NOTFOUND) {
        fprintf(stderr, "seed %llu mode %d: after %d records: %d %s\n", (unsigned long long)seed,
                mode, got, rc, err_msg());
        fails++;
    }
    if (got < acked) {
        fprintf(stderr, "seed %llu mode %d: %d records read, %d were synced\n",
                (unsigned long long)seed, mode, got, acked);
        fails++;
    }
    logr_close(rd);
    faultenv_free(fe);
    return fails;
}

static void test_log_crash(void)
{
    const char *e = getenv("STRATA_SEED");
    uint64_t seed = test_seed();
    const char *dir = test_tmpdir("logcrash");
    char d[512];
    snprintf(d, sizeof(d), "%s", dir);
    int runs = e && *e ? 1 : test_soak() ? 20000 : 600;
    for (int i = 0; i < runs; i++) {
        if (run(seed + (uint64_t)i, d)) {
            fprintf(stderr, "replay: STRATA_SEED=%llu\n", (unsigned long long)(seed + i));
            test__failures++;
            break;
        }
    }
}

int main(void)
{
    RUN(test_log_crash);
    TEST_END();
}
