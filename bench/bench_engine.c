/* bench_engine: StrataDB's engine side by side with RocksDB, LevelDB, LMDB
 * and SQLite, through each one's C API, on the same workloads.
 *
 * Why: the engine's targets (issue 3) are ratios to the best LSM peer on this
 * machine, so one program must drive every engine the same way and print
 * those ratios (the last line, `engine-vs-best-lsm: ...`).
 *
 * Shape. One driver per engine (bench/lib/engine_drivers.h: open, close,
 * per-thread state, put, get, scan, compact, durable mode). Each engine runs
 * in its own forked child so that its resident memory, crashes and leftover
 * threads do not touch the others; the child streams result rows to the
 * parent through a pipe. Per engine, in this order:
 *   fillseq (fresh db, then removed) -> fillrandom (fresh db, a permutation
 *   of the N keys) -> overwrite (N random puts) -> compact all + wait ->
 *   space -> close + reopen -> readrandom -> readmissing -> seekrandom
 *   (seek + 10 nexts) -> readwhilewriting (1 measured reader, 1 writer) ->
 *   sync1, sync4, sync16 (sync per write, N/50 writes capped in time).
 *
 * Invariants.
 *  1. Keys are 16 ASCII digits of 2*i (i < N); readmissing asks for 2*i+1,
 *     which sort between stored keys, so it exercises the bloom filters.
 *  2. A value is [idx u32 | version u32 | random bytes] for its first half
 *     and one repeated byte for the second half: half compressible, and
 *     decodable, so every read checks that it got its own key's value.
 *  3. Durability and peer options are set by the drivers, which say how
 *     each engine is made equal (engine_drivers.c).
 *  4. Each read workload runs after a close and reopen of the database.
 *  5. --self-test checks every value read against the version last written
 *     (a driver bug fails the run); normal runs check the key index of each
 *     value read and fail on a mismatch.
 *
 * Latency: one clock read before and after each operation into a histogram
 * with 16 sub-buckets per power of two of nanoseconds (error < 3.2%).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine_drivers.h"
#include "strata/engine.h"

#define KEY_BYTES     16
#define SCAN_NEXTS    10
#define MAX_THREADS   DRV_MAX_THREADS
#define HIST_SUB_BITS 4
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

typedef struct bench_cfg {
    uint64_t num;
    size_t value_size;
    drv_config drv;   /* cache, write buffer and bloom bits, the same for every engine */
    double sync_secs; /* time cap of each durable-write workload */
    uint64_t sync_ops;
    const char *engines;
    const char *workloads;
    const char *dir;
    const char *tsv;
    int repeat; /* rounds over all engines; each row keeps its best round */
    bool self_test;
    bool self_test_inject; /* perturb one expectation: the self-test must fail */
} bench_cfg;

static const char *const ALL_ENGINES = "strata,rocksdb,leveldb,lmdb,sqlite";
static const char *const ALL_WORKLOADS[] = {
    "fillseq", "fillrandom",       "overwrite", "readrandom", "readmissing", "seekrandom",
    "space",   "readwhilewriting", "sync1",     "sync4",      "sync16",      NULL};

static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_engine: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* ------------------------------------------------------------------ */
/* Time, randomness, histogram                                         */
/* ------------------------------------------------------------------ */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rand_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)splitmix(s) * n) >> 64);
}

typedef struct hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t b[HIST_BUCKETS];
} hist;

static inline int hist_index(uint64_t v)
{
    if (v < HIST_SUB) return (int)v;
    int e = 63 - __builtin_clzll(v);
    return (e - HIST_SUB_BITS + 1) * HIST_SUB + (int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max_ns) h->max_ns = v;
}

static uint64_t hist_bucket_low(int i)
{
    if (i < HIST_SUB) return (uint64_t)i;
    int e = i / HIST_SUB + HIST_SUB_BITS - 1;
    return ((uint64_t)(HIST_SUB + i % HIST_SUB)) << (e - HIST_SUB_BITS);
}

static void hist_merge(hist *d, const hist *s)
{
    for (int i = 0; i < HIST_BUCKETS; i++) d->b[i] += s->b[i];
    d->count += s->count;
    if (s->max_ns > d->max_ns) d->max_ns = s->max_ns;
}

/* The midpoint of the bucket holding quantile q, in nanoseconds. */
static double hist_quantile(const hist *h, double q)
{
    if (h->count == 0) return 0;
    uint64_t want = (uint64_t)(q * (double)h->count);
    if (want >= h->count) want = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            double lo = (double)hist_bucket_low(i);
            double hi = i + 1 < HIST_BUCKETS ? (double)hist_bucket_low(i + 1) : lo;
            return (lo + hi) / 2;
        }
    }
    return (double)h->max_ns;
}

/* ------------------------------------------------------------------ */
/* Keys and values                                                     */
/* ------------------------------------------------------------------ */

static inline void make_key(uint8_t *k, uint64_t n)
{
    for (int i = KEY_BYTES - 1; i >= 0; i--) {
        k[i] = (uint8_t)('0' + n % 10);
        n /= 10;
    }
}

/* Index i of a stored key 2*i, or UINT64_MAX if k is not one. */
static uint64_t key_index(const uint8_t *k, size_t len)
{
    if (len != KEY_BYTES) return UINT64_MAX;
    uint64_t n = 0;
    for (int i = 0; i < KEY_BYTES; i++) {
        if (k[i] < '0' || k[i] > '9') return UINT64_MAX;
        n = n * 10 + (uint64_t)(k[i] - '0');
    }
    return n % 2 ? UINT64_MAX : n / 2;
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void make_value(uint8_t *v, size_t len, uint32_t idx, uint32_t ver)
{
    size_t half = len / 2;
    uint64_t s = ((uint64_t)idx << 32) | ver;
    put_u32(v, idx);
    put_u32(v + 4, ver);
    for (size_t i = 8; i < half; i += 8) {
        uint64_t r = splitmix(&s);
        memcpy(v + i, &r, half - i < 8 ? half - i : 8);
    }
    memset(v + half, 'a' + (int)(idx % 26), len - half);
}

/* A random permutation of [0, n) in O(1) memory (so that the harness adds
 * nothing to an engine's resident memory at 10 million keys): a 4-round
 * Feistel network on the smallest even bit width covering n, walking the
 * cycle until the result falls below n (fewer than 4 steps on average). */
typedef struct perm {
    uint64_t n;
    int half_bits;
    uint64_t keys[4];
} perm;

static void perm_init(perm *p, uint64_t n, uint64_t seed)
{
    int bits = 2;
    while (bits < 64 && ((uint64_t)1 << bits) < n) bits += 2;
    p->n = n;
    p->half_bits = bits / 2;
    for (int i = 0; i < 4; i++) p->keys[i] = splitmix(&seed);
}

static uint64_t perm_at(const perm *p, uint64_t i)
{
    const uint64_t mask = ((uint64_t)1 << p->half_bits) - 1;
    uint64_t x = i;
    do {
        uint64_t l = x >> p->half_bits, r = x & mask;
        for (int k = 0; k < 4; k++) {
            uint64_t s = r ^ p->keys[k];
            uint64_t f = splitmix(&s) & mask;
            uint64_t nl = r;
            r = l ^ f;
            l = nl;
        }
        x = (l << p->half_bits) | r;
    } while (x >= p->n);
    return x;
}

/* ------------------------------------------------------------------ */
/* One engine's run (inside its child process)                         */
/* ------------------------------------------------------------------ */

/* A result row; the child sends these to the parent through a pipe. */
typedef struct result {
    char engine[16];
    char workload[24];
    uint64_t ops;
    double secs;
    double p50_us, p99_us, max_us;
    double rss_mb;   /* peak resident memory during the workload */
    double cpu_s;    /* user + system CPU of the engine's process (all threads) */
    uint64_t bytes;  /* "space" rows: bytes on disk */
    uint64_t errors; /* values that did not verify */
} result;

typedef struct run {
    const bench_cfg *cfg;
    const drv_driver *d;
    void *db;
    char dir[4200];
    uint32_t *vers; /* self-test: version last written per key index; 0 = never */
    atomic_uint next_ver;
    atomic_ullong bad;
    int out_fd;
    double cpu0; /* CPU seconds at the start of the current workload */
} run;

static void report_bad(run *r, uint64_t idx, const char *why)
{
    unsigned long long n = atomic_fetch_add(&r->bad, 1);
    if (n < 5) fprintf(stderr, "%s: key %llu: %s\n", r->d->name, (unsigned long long)idx, why);
}

/* Checks a value read for key index idx: its length and index always; in a
 * self-test all its bytes, and its version when exact (no writer running). */
static void check_value(run *r, uint64_t idx, const uint8_t *v, size_t vl, bool exact)
{
    if (vl != r->cfg->value_size || get_u32(v) != (uint32_t)idx) {
        report_bad(r, idx, "value of another key or of the wrong size");
        return;
    }
    if (!r->cfg->self_test) return;
    uint32_t ver = get_u32(v + 4);
    uint8_t want[r->cfg->value_size];
    make_value(want, vl, (uint32_t)idx, ver);
    if (memcmp(want, v, vl) != 0) report_bad(r, idx, "value bytes differ from those written");
    if (exact && ver != r->vers[idx]) report_bad(r, idx, "stale or unknown version");
}

static double cpu_now_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t rss_peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %llu", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* Resets the peak RSS counter (Linux >= 4.0); harmless where refused. */
static void rss_peak_reset(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0) return;
    if (write(fd, "5", 1) != 1) {
    }
    close(fd);
}

static void workload_begin(run *r)
{
    rss_peak_reset();
    r->cpu0 = cpu_now_s();
}

static uint64_t du_total;
static int du_visit(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    if (flag == FTW_F) du_total += (uint64_t)st->st_size;
    return 0;
}
static uint64_t dir_bytes(const char *dir)
{
    du_total = 0;
    nftw(dir, du_visit, 16, FTW_PHYS);
    return du_total;
}

static int rm_visit(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    remove(p);
    return 0;
}
static void rm_rf(const char *dir)
{
    nftw(dir, rm_visit, 16, FTW_DEPTH | FTW_PHYS);
}

static void emit(run *r, const char *workload, uint64_t ops, double secs, const hist *h,
                 uint64_t bytes, uint64_t errors)
{
    result x;
    memset(&x, 0, sizeof(x));
    snprintf(x.engine, sizeof(x.engine), "%s", r->d->name);
    snprintf(x.workload, sizeof(x.workload), "%s", workload);
    x.ops = ops;
    x.secs = secs;
    if (h) {
        x.p50_us = hist_quantile(h, 0.50) / 1e3;
        x.p99_us = hist_quantile(h, 0.99) / 1e3;
        x.max_us = (double)h->max_ns / 1e3;
    }
    x.rss_mb = (double)rss_peak_kib() / 1024.0;
    x.cpu_s = cpu_now_s() - r->cpu0;
    x.bytes = bytes;
    x.errors = errors;
    if (write(r->out_fd, &x, sizeof(x)) != (ssize_t)sizeof(x))
        die("result pipe: %s", strerror(errno));
    if (bytes)
        printf("  %-8s %-17s %14llu bytes%s\n", x.engine, workload, (unsigned long long)bytes,
               errors ? "  MISMATCH" : "");
    else if (!h)
        printf("  %-8s %-17s %10llu values checked%s\n", x.engine, workload,
               (unsigned long long)ops, errors ? "  MISMATCH" : "");
    else
        printf("  %-8s %-17s %10.0f ops/s  p50 %8.2f us  p99 %9.2f us  max %10.0f us%s\n", x.engine,
               workload, secs > 0 ? (double)ops / secs : 0, x.p50_us, x.p99_us, x.max_us,
               errors ? "  MISMATCH" : "");
    if (r->d->stats && h) {
        char line[512];
        r->d->stats(r->db, line, sizeof(line));
        printf("  %-8s %-17s %s\n", x.engine, "", line);
    }
    fflush(stdout);
}

static void need(int rc, run *r, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s failed; stopping this engine\n", r->d->name, what);
        exit(1);
    }
}

static void db_open(run *r)
{
    need(r->d->open(r->dir, &r->cfg->drv, &r->db), r, "open");
}
static void db_close(run *r)
{
    r->d->close(r->db);
    r->db = NULL;
}

/* ---- workers ---- */

enum wl_kind { WL_FILL, WL_OVERWRITE, WL_READ, WL_MISSING, WL_SEEK, WL_SYNC, WL_WRITER };

typedef struct worker {
    run *r;
    int kind;
    int tid, nthreads;
    uint64_t ops_target; /* WL_SYNC: shared through *claimed */
    const perm *order;   /* WL_FILL: key order; NULL = ascending */
    atomic_ullong *claimed;
    atomic_bool *stop;
    uint64_t deadline_ns;
    uint64_t seed;
    uint64_t ops;
    hist h;
} worker;

typedef struct scan_check {
    run *r;
    uint64_t next_idx;
    int seen;
    bool exact;
} scan_check;

static void scan_visit(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    scan_check *s = arg;
    uint64_t idx = key_index(k, kl);
    if (idx != s->next_idx)
        report_bad(s->r, s->next_idx, "scan out of order or skipped a key");
    else
        check_value(s->r, idx, v, vl, s->exact);
    s->next_idx = idx + 1;
    s->seen++;
}

static void do_write(worker *w, void *t, uint64_t idx, bool sync)
{
    run *r = w->r;
    uint8_t k[KEY_BYTES], v[r->cfg->value_size];
    uint32_t ver = atomic_fetch_add(&r->next_ver, 1);
    make_key(k, 2 * idx);
    make_value(v, sizeof(v), (uint32_t)idx, ver);
    uint64_t t0 = now_ns();
    need(r->d->put(r->db, t, k, KEY_BYTES, v, sizeof(v), sync), r, "put");
    hist_add(&w->h, now_ns() - t0);
    if (r->vers) r->vers[idx] = ver;
}

static void do_read(worker *w, void *t, drv_vbuf *vb, uint64_t idx, bool exact)
{
    run *r = w->r;
    uint8_t k[KEY_BYTES];
    make_key(k, 2 * idx);
    uint64_t t0 = now_ns();
    int rc = r->d->get(r->db, t, k, KEY_BYTES, vb);
    hist_add(&w->h, now_ns() - t0);
    need(rc, r, "get");
    if (rc == 0)
        report_bad(r, idx, "written key not found");
    else
        check_value(r, idx, vb->p, vb->len, exact);
}

static void do_missing(worker *w, void *t, drv_vbuf *vb, uint64_t idx)
{
    run *r = w->r;
    uint8_t k[KEY_BYTES];
    make_key(k, 2 * idx + 1);
    uint64_t t0 = now_ns();
    int rc = r->d->get(r->db, t, k, KEY_BYTES, vb);
    hist_add(&w->h, now_ns() - t0);
    need(rc, r, "get");
    if (rc == 1) report_bad(r, idx, "a key never written was found");
}

static void do_seek(worker *w, void *t, uint64_t idx)
{
    run *r = w->r;
    uint8_t k[KEY_BYTES];
    make_key(k, 2 * idx);
    scan_check sc = {r, idx, 0, true};
    uint64_t t0 = now_ns();
    int rc = r->d->scan(r->db, t, k, KEY_BYTES, SCAN_NEXTS + 1, scan_visit, &sc);
    hist_add(&w->h, now_ns() - t0);
    need(rc, r, "scan");
    uint64_t want = r->cfg->num - idx < SCAN_NEXTS + 1 ? r->cfg->num - idx : SCAN_NEXTS + 1;
    if ((uint64_t)rc != want || sc.seen != rc) report_bad(r, idx, "scan returned too few keys");
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    const uint64_t n = r->cfg->num;
    void *t;
    need(r->d->thread_new(r->db, &t), r, "thread_new");
    drv_vbuf vb = {0};
    for (uint64_t i = 0;; i++) {
        if (w->kind == WL_SYNC) {
            if (atomic_fetch_add(w->claimed, 1) >= w->ops_target || now_ns() > w->deadline_ns)
                break;
        } else if (w->kind == WL_WRITER) {
            if (atomic_load_explicit(w->stop, memory_order_relaxed)) break;
        } else if (i >= w->ops_target) {
            break;
        }
        switch (w->kind) {
        case WL_FILL: do_write(w, t, w->order ? perm_at(w->order, i) : i, false); break;
        case WL_OVERWRITE:
        case WL_WRITER: do_write(w, t, rand_below(&w->seed, n), false); break;
        case WL_SYNC: {
            uint64_t slice = n / (uint64_t)w->nthreads;
            do_write(w, t, (uint64_t)w->tid + (uint64_t)w->nthreads * rand_below(&w->seed, slice),
                     true);
            break;
        }
        case WL_READ: do_read(w, t, &vb, rand_below(&w->seed, n), w->stop == NULL); break;
        case WL_MISSING: do_missing(w, t, &vb, rand_below(&w->seed, n)); break;
        case WL_SEEK: do_seek(w, t, rand_below(&w->seed, n)); break;
        }
        w->ops++;
    }
    free(vb.p);
    r->d->thread_free(r->db, t);
    return NULL;
}

/* Runs nthreads workers of one kind and emits one row named name. */
static void run_workload(run *r, const char *name, int kind, int nthreads, uint64_t ops,
                         const perm *order)
{
    static worker ws[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    atomic_ullong claimed = 0;
    unsigned long long bad0 = atomic_load(&r->bad);
    workload_begin(r);
    uint64_t start = now_ns();
    for (int i = 0; i < nthreads; i++) {
        worker *w = &ws[i];
        memset(w, 0, sizeof(*w));
        *w = (worker){.r = r,
                      .kind = kind,
                      .tid = i,
                      .nthreads = nthreads,
                      .ops_target = ops,
                      .order = order,
                      .claimed = &claimed,
                      .deadline_ns = start + (uint64_t)(r->cfg->sync_secs * 1e9),
                      .seed = 0x5eed0000u + (uint64_t)i * 7919 + (uint64_t)kind * 104729};
        if (nthreads == 1)
            worker_main(w);
        else if (pthread_create(&th[i], NULL, worker_main, w) != 0)
            die("pthread_create");
    }
    hist h;
    memset(&h, 0, sizeof(h));
    uint64_t done = 0;
    for (int i = 0; i < nthreads; i++) {
        if (nthreads > 1) pthread_join(th[i], NULL);
        hist_merge(&h, &ws[i].h);
        done += ws[i].ops;
    }
    double secs = (double)(now_ns() - start) / 1e9;
    emit(r, name, done, secs, &h, 0, atomic_load(&r->bad) - bad0);
}

/* One measured reader while one writer overwrites random keys unthrottled. */
static void run_readwhilewriting(run *r)
{
    atomic_bool stop = false;
    worker wr = {.r = r, .kind = WL_WRITER, .nthreads = 1, .stop = &stop, .seed = 0xa11ce};
    worker rd = {.r = r,
                 .kind = WL_READ,
                 .nthreads = 1,
                 .ops_target = r->cfg->num,
                 .stop = &stop, /* non-NULL: versions may change under the reader */
                 .seed = 0xb0b};
    pthread_t th;
    unsigned long long bad0 = atomic_load(&r->bad);
    unsigned ver0 = atomic_load(&r->next_ver);
    workload_begin(r);
    if (pthread_create(&th, NULL, worker_main, &wr) != 0) die("pthread_create");
    /* The reader starts once the writer is writing. */
    while (atomic_load(&r->next_ver) == ver0) sched_yield();
    uint64_t start = now_ns();
    worker_main(&rd);
    double secs = (double)(now_ns() - start) / 1e9;
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    emit(r, "readwhilewriting", rd.ops, secs, &rd.h, 0, atomic_load(&r->bad) - bad0);
    emit(r, "rww_writer", wr.ops, secs, &wr.h, 0, 0);
}

/* Self-test only: every key by get, then one scan of all keys, both exact. */
static void verify_all(run *r, const char *name)
{
    unsigned long long bad0 = atomic_load(&r->bad);
    worker w = {.r = r};
    void *t;
    need(r->d->thread_new(r->db, &t), r, "thread_new");
    drv_vbuf vb = {0};
    for (uint64_t i = 0; i < r->cfg->num; i++) do_read(&w, t, &vb, i, true);
    uint8_t k[KEY_BYTES];
    make_key(k, 0);
    scan_check sc = {r, 0, 0, true};
    int rc = r->d->scan(r->db, t, k, KEY_BYTES, (int)r->cfg->num + 1, scan_visit, &sc);
    need(rc, r, "scan");
    if ((uint64_t)sc.seen != r->cfg->num) report_bad(r, (uint64_t)sc.seen, "full scan count");
    free(vb.p);
    r->d->thread_free(r->db, t);
    emit(r, name, r->cfg->num, 0, NULL, 0, atomic_load(&r->bad) - bad0);
}

static bool wl_on(const bench_cfg *c, const char *w)
{
    return list_has(c->workloads, w);
}

static void engine_main(const bench_cfg *c, const drv_driver *d, const char *dir, int out_fd)
{
    run r = {.cfg = c, .d = d, .out_fd = out_fd};
    snprintf(r.dir, sizeof(r.dir), "%s", dir);
    if (c->self_test) {
        r.vers = calloc(c->num, sizeof(uint32_t));
        if (!r.vers) die("out of memory");
    }
    atomic_init(&r.next_ver, 1);
    atomic_init(&r.bad, 0);
    const uint64_t n = c->num;

    if (wl_on(c, "fillseq")) {
        rm_rf(dir);
        db_open(&r);
        run_workload(&r, "fillseq", WL_FILL, 1, n, NULL);
        if (c->self_test) verify_all(&r, "verify_fillseq");
        db_close(&r);
        rm_rf(dir);
        if (r.vers) memset(r.vers, 0, n * sizeof(uint32_t));
    }
    static const char *const needs_data[] = {
        "fillrandom", "overwrite",        "readrandom", "readmissing", "seekrandom",
        "space",      "readwhilewriting", "sync1",      "sync4",       "sync16"};
    bool any = false;
    for (size_t i = 0; i < sizeof(needs_data) / sizeof(needs_data[0]); i++)
        any = any || wl_on(c, needs_data[i]);
    if (!any) goto out;

    rm_rf(dir);
    db_open(&r);
    perm pm;
    perm_init(&pm, n, 0xf111);
    if (wl_on(c, "fillrandom")) {
        run_workload(&r, "fillrandom", WL_FILL, 1, n, &pm);
    } else { /* load the data untimed */
        worker w = {.r = &r, .kind = WL_FILL, .nthreads = 1, .ops_target = n, .order = &pm};
        worker_main(&w);
    }
    if (wl_on(c, "overwrite")) run_workload(&r, "overwrite", WL_OVERWRITE, 1, n, NULL);
    workload_begin(&r);
    uint64_t t0 = now_ns();
    need(d->compact(r.db), &r, "compact");
    double csecs = (double)(now_ns() - t0) / 1e9;
    emit(&r, "space", n, csecs, NULL, dir_bytes(dir), 0);
    db_close(&r);
    db_open(&r);
    if (c->self_test) verify_all(&r, "verify_reopen");
    if (wl_on(c, "readrandom")) run_workload(&r, "readrandom", WL_READ, 1, n, NULL);
    if (wl_on(c, "readmissing")) run_workload(&r, "readmissing", WL_MISSING, 1, n, NULL);
    if (wl_on(c, "seekrandom")) run_workload(&r, "seekrandom", WL_SEEK, 1, n, NULL);
    if (wl_on(c, "readwhilewriting")) run_readwhilewriting(&r);
    bool durable = false;
    static const int threads[] = {1, 4, 16};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sync%d", threads[i]);
        if (!wl_on(c, name)) continue;
        if (!durable && d->set_durable) need(d->set_durable(r.db, true), &r, "set_durable");
        durable = true;
        run_workload(&r, name, WL_SYNC, threads[i], c->sync_ops, NULL);
    }
    if (c->self_test) {
        if (c->self_test_inject) r.vers[n / 2]++;
        verify_all(&r, "verify_end");
        db_close(&r);
        db_open(&r);
        verify_all(&r, "verify_end_reopen");
    }
    db_close(&r);
out:
    rm_rf(dir);
    free(r.vers);
}

/* ------------------------------------------------------------------ */
/* Parent: one child per engine, then the table and the ratios         */
/* ------------------------------------------------------------------ */

typedef struct results {
    result *v;
    size_t n, cap;
} results;

static void results_add(results *rs, const result *x)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
        if (!rs->v) die("out of memory");
    }
    rs->v[rs->n++] = *x;
}

static double ops_per_s(const result *x);

/* Adds x, or with --repeat replaces an earlier row of the same engine and
 * workload when x is faster (best of the rounds: a noisy neighbour only ever
 * slows a round down). Rows with errors always win, so none is hidden. */
static void results_keep_best(results *rs, const result *x)
{
    for (size_t i = 0; i < rs->n; i++) {
        result *o = &rs->v[i];
        if (strcmp(o->engine, x->engine) != 0 || strcmp(o->workload, x->workload) != 0) continue;
        if (x->errors > o->errors || (o->errors == 0 && ops_per_s(x) > ops_per_s(o))) *o = *x;
        return;
    }
    results_add(rs, x);
}

static const result *find(const results *rs, const char *engine, const char *workload)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].engine, engine) == 0 && strcmp(rs->v[i].workload, workload) == 0)
            return &rs->v[i];
    return NULL;
}

static double ops_per_s(const result *x)
{
    return x && x->secs > 0 ? (double)x->ops / x->secs : 0;
}

/* Runs one engine in a child process; its rows go to rs. 0 if it exited
 * cleanly. */
static int run_engine(const bench_cfg *c, const drv_driver *d, const char *base, results *rs)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/%s", base, d->name);
    int fds[2];
    if (pipe(fds) != 0) die("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        engine_main(c, d, dir, fds[1]);
        close(fds[1]);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    result x;
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fds[0], (char *)&x + got, sizeof(x) - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
        if (got == sizeof(x)) {
            results_keep_best(rs, &x);
            got = 0;
        }
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    rm_rf(dir);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    fprintf(stderr, "bench_engine: %s failed (%s %d)\n", d->name,
            WIFSIGNALED(st) ? "signal" : "exit status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return -1;
}

static void print_table(const bench_cfg *c, const results *rs)
{
    printf("\n%-17s %-8s %10s %10s %9s %9s %10s %7s %10s %12s\n", "workload", "engine", "ops",
           "ops/s", "p50_us", "p99_us", "max_us", "rss_mb", "cpu_us/op", "bytes");
    for (const char *const *w = ALL_WORKLOADS; *w; w++) {
        const char *names[2] = {*w, strcmp(*w, "readwhilewriting") == 0 ? "rww_writer" : NULL};
        for (int k = 0; k < 2 && names[k]; k++)
            for (size_t i = 0; i < rs->n; i++) {
                const result *x = &rs->v[i];
                if (strcmp(x->workload, names[k]) != 0) continue;
                double cpu_op = x->ops ? x->cpu_s * 1e6 / (double)x->ops : 0;
                if (x->bytes)
                    printf("%-17s %-8s %10llu %10s %9s %9s %10s %7.0f %10.2f %12llu\n", x->workload,
                           x->engine, (unsigned long long)x->ops, "-", "-", "-", "-", x->rss_mb,
                           cpu_op, (unsigned long long)x->bytes);
                else
                    printf("%-17s %-8s %10llu %10.0f %9.2f %9.2f %10.0f %7.0f %10.2f %12s\n",
                           x->workload, x->engine, (unsigned long long)x->ops, ops_per_s(x),
                           x->p50_us, x->p99_us, x->max_us, x->rss_mb, cpu_op, "-");
            }
    }
    uint64_t logical = c->num * (KEY_BYTES + c->value_size);
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].workload, "space") == 0)
            printf("space %-8s %.3f bytes on disk per logical byte (%llu logical)\n",
                   rs->v[i].engine, (double)rs->v[i].bytes / (double)logical,
                   (unsigned long long)logical);
}

static int write_tsv(const char *path, const results *rs)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_engine: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "engine\tworkload\tops\tsecs\tops_per_s\tp50_us\tp99_us\tmax_us\trss_mb\tcpu_"
               "s\tbytes\terrors\n");
    for (size_t i = 0; i < rs->n; i++) {
        const result *x = &rs->v[i];
        fprintf(f, "%s\t%s\t%llu\t%.3f\t%.0f\t%.2f\t%.2f\t%.0f\t%.1f\t%.2f\t%llu\t%llu\n",
                x->engine, x->workload, (unsigned long long)x->ops, x->secs, ops_per_s(x),
                x->p50_us, x->p99_us, x->max_us, x->rss_mb, x->cpu_s, (unsigned long long)x->bytes,
                (unsigned long long)x->errors);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* StrataDB's ops/s over the faster LSM peer's on workload w; 0 if unknown. */
static double ratio_best_lsm(const results *rs, const char *w)
{
    double s = ops_per_s(find(rs, "strata", w));
    double r = ops_per_s(find(rs, "rocksdb", w));
    double l = ops_per_s(find(rs, "leveldb", w));
    double best = r > l ? r : l;
    return s > 0 && best > 0 ? s / best : 0;
}

static double cpu_per_op(const result *x)
{
    return x && x->ops && x->cpu_s > 0 ? x->cpu_s / (double)x->ops : 0;
}

/* The same comparison in CPU seconds per operation (all threads of the
 * engine's process during the workload): the cheaper LSM peer's over
 * StrataDB's. Steadier than ops/s when other work shares the machine. */
static double ratio_best_lsm_cpu(const results *rs, const char *w)
{
    double s = cpu_per_op(find(rs, "strata", w));
    double r = cpu_per_op(find(rs, "rocksdb", w));
    double l = cpu_per_op(find(rs, "leveldb", w));
    double best = r > 0 && (l <= 0 || r < l) ? r : l;
    return s > 0 && best > 0 ? best / s : 0;
}

static void fmt_ratio(char *buf, size_t n, double r)
{
    if (r > 0)
        snprintf(buf, n, "%.2f", r);
    else
        snprintf(buf, n, "n/a");
}

static void print_targets(const bench_cfg *c, const results *rs, double space, double lmdb)
{
    printf("\ntargets (issue 3):\n");
    struct {
        const char *what;
        double v, min;
    } t[] = {
        {"fillseq vs best LSM >= 1.2", ratio_best_lsm(rs, "fillseq"), 1.2},
        {"fillrandom vs best LSM >= 1.2", ratio_best_lsm(rs, "fillrandom"), 1.2},
        {"overwrite vs best LSM >= 1.2", ratio_best_lsm(rs, "overwrite"), 1.2},
        {"readrandom vs best LSM >= 1.0", ratio_best_lsm(rs, "readrandom"), 1.0},
        {"seekrandom vs best LSM >= 1.0", ratio_best_lsm(rs, "seekrandom"), 1.0},
        {"readrandom vs LMDB >= 0.5", lmdb, 0.5},
        {"sync16 vs best LSM >= 1.0", ratio_best_lsm(rs, "sync16"), 1.0},
        {"space: RocksDB bytes / StrataDB bytes >= 0.91", space, 1 / 1.1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char b[16];
        fmt_ratio(b, sizeof(b), t[i].v);
        printf("  %-48s %6s  %s\n", t[i].what, b,
               t[i].v <= 0          ? "-"
               : t[i].v >= t[i].min ? "ok"
                                    : "MISS");
    }
    const result *s1 = find(rs, "strata", "sync1"), *s16 = find(rs, "strata", "sync16");
    if (s1 && s16 && ops_per_s(s1) > 0) {
        double g = ops_per_s(s16) / ops_per_s(s1);
        printf("  %-48s %6.2f  %s\n", "sync16 vs own sync1 >= 4 (group commit)", g,
               g >= 4 ? "ok" : "MISS");
    }
    const result *fr = find(rs, "strata", "fillrandom");
    if (fr)
        printf("  %-48s %6.1f  %s (at N=%llu; the target is for 10M keys)\n",
               "fillrandom max write latency ms <= 100", fr->max_us / 1e3,
               fr->max_us <= 100e3 ? "ok" : "MISS", (unsigned long long)c->num);
    double peak = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].engine, "strata") == 0 && rs->v[i].rss_mb > peak)
            peak = rs->v[i].rss_mb;
    if (peak > 0) {
        double budget =
            (double)(3 * c->drv.write_buffer_bytes + c->drv.cache_bytes) / 1048576.0 + 64;
        printf("  %-48s %6.0f  %s (budget %.0f MiB = 3 memtables + cache + 64)\n",
               "peak RSS MiB <= memtables + cache + 64", peak, peak <= budget ? "ok" : "MISS",
               budget);
    }
}

static void usage(void)
{
    printf("usage: bench_engine [--num N] [--engines LIST] [--workloads LIST] [--dir DIR]\n"
           "                    [--value-size B] [--cache-mb M] [--sync-secs S] [--tsv PATH]\n"
           "                    [--repeat K] [--self-test]\n"
           "engines: %s\nworkloads:",
           ALL_ENGINES);
    for (const char *const *w = ALL_WORKLOADS; *w; w++) printf(" %s", *w);
    printf("\n");
}

static void parse_args(int argc, char **argv, bench_cfg *c)
{
    static const struct option opts[] = {{"num", required_argument, 0, 'n'},
                                         {"engines", required_argument, 0, 'e'},
                                         {"workloads", required_argument, 0, 'w'},
                                         {"dir", required_argument, 0, 'd'},
                                         {"value-size", required_argument, 0, 'v'},
                                         {"cache-mb", required_argument, 0, 'c'},
                                         {"sync-secs", required_argument, 0, 's'},
                                         {"tsv", required_argument, 0, 't'},
                                         {"self-test", no_argument, 0, 'S'},
                                         {"self-test-inject", no_argument, 0, 'I'},
                                         {"repeat", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool num_set = false, sync_secs_set = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            c->num = strtoull(optarg, NULL, 10);
            num_set = true;
            break;
        case 'e': c->engines = optarg; break;
        case 'w': c->workloads = optarg; break;
        case 'd': c->dir = optarg; break;
        case 'v': c->value_size = strtoull(optarg, NULL, 10); break;
        case 'c': c->drv.cache_bytes = strtoull(optarg, NULL, 10) << 20; break;
        case 's':
            c->sync_secs = strtod(optarg, NULL);
            sync_secs_set = true;
            break;
        case 't': c->tsv = optarg; break;
        case 'r': c->repeat = atoi(optarg); break;
        case 'I': c->self_test_inject = true; /* fall through */
        case 'S': c->self_test = true; break;
        case 'h': usage(); exit(0);
        default: usage(); exit(2);
        }
    }
    if (c->self_test && !num_set) c->num = 2000;
    /* A self-test checks the drivers, not the disk: a few durable writes per
     * thread count are enough, and the fsyncs must not make `make test` slow. */
    if (c->self_test && !sync_secs_set) c->sync_secs = 2;
    if (c->num < MAX_THREADS || c->num > UINT32_MAX / 2) die("--num must be in [16, 2^31)");
    if (c->value_size < 16 || c->value_size > (1u << 20))
        die("--value-size must be in [16, 1 MiB]");
    for (const char *p = c->engines; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        if (!list_has(ALL_ENGINES, name)) die("unknown engine '%s' (have %s)", name, ALL_ENGINES);
        p = e ? e + 1 : p + len;
    }
    for (const char *p = c->workloads; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool ok = false;
        for (const char *const *w = ALL_WORKLOADS; *w; w++)
            ok = ok || (strlen(*w) == len && memcmp(*w, p, len) == 0);
        if (!ok) die("unknown workload '%.*s'", (int)len, p);
        p = e ? e + 1 : p + len;
    }
    if (c->repeat < 1 || c->repeat > 10) die("--repeat must be in [1, 10]");
    c->sync_ops = c->num / 50 < 64 ? 64 : c->num / 50;
    if (c->self_test) c->sync_ops = 48;
}

int main(int argc, char **argv)
{
    strata_options so;
    strata_options_init(&so);
    static char all_workloads[512];
    for (const char *const *w = ALL_WORKLOADS; *w; w++)
        snprintf(all_workloads + strlen(all_workloads),
                 sizeof(all_workloads) - strlen(all_workloads), "%s%s",
                 w == ALL_WORKLOADS ? "" : ",", *w);
    bench_cfg c = {.num = 1000000,
                   .value_size = 100,
                   .drv = {.cache_bytes = (size_t)64 << 20,
                           .write_buffer_bytes = so.memtable_bytes,
                           .bloom_bits = so.bloom_bits_per_key},
                   .sync_secs = 10,
                   .repeat = 1,
                   .engines = ALL_ENGINES,
                   .workloads = all_workloads,
                   .tsv = "bench/results/engine.tsv"};
    parse_args(argc, argv, &c);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char base[4096];
    bool own_dir = c.dir == NULL;
    if (own_dir) {
        snprintf(base, sizeof(base), "/tmp/strata-bench-XXXXXX");
        if (!mkdtemp(base)) die("mkdtemp: %s", strerror(errno));
    } else {
        snprintf(base, sizeof(base), "%s", c.dir);
        if (mkdir(base, 0755) != 0 && errno != EEXIST) die("%s: %s", base, strerror(errno));
    }
    printf("bench_engine: N=%llu value=%zu B key=%d B cache=%zu MiB write_buffer=%zu MiB "
           "bloom=%d bits sync_ops=%llu (cap %.0f s) dir=%s%s\n",
           (unsigned long long)c.num, c.value_size, KEY_BYTES, c.drv.cache_bytes >> 20,
           c.drv.write_buffer_bytes >> 20, c.drv.bloom_bits, (unsigned long long)c.sync_ops,
           c.sync_secs, base, c.self_test ? " self-test" : "");

    results rs = {0};
    int failed = 0;
    for (int round = 0; round < c.repeat; round++)
        for (const drv_driver *const *d = drv_all; *d; d++) {
            if (!list_has(c.engines, (*d)->name)) continue;
            if (c.repeat > 1)
                printf("%s (round %d of %d):\n", (*d)->name, round + 1, c.repeat);
            else
                printf("%s:\n", (*d)->name);
            if (run_engine(&c, *d, base, &rs) != 0) failed++;
        }
    if (own_dir) rm_rf(base);

    uint64_t bad = 0;
    for (size_t i = 0; i < rs.n; i++) bad += rs.v[i].errors;
    print_table(&c, &rs);
    if (c.tsv && write_tsv(c.tsv, &rs) != 0) failed++;

    const result *rsp = find(&rs, "rocksdb", "space"), *ssp = find(&rs, "strata", "space");
    double space = rsp && ssp && ssp->bytes ? (double)rsp->bytes / (double)ssp->bytes : 0;
    double sl = ops_per_s(find(&rs, "strata", "readrandom"));
    double ml = ops_per_s(find(&rs, "lmdb", "readrandom"));
    double lmdb = sl > 0 && ml > 0 ? sl / ml : 0;
    if (!c.self_test) print_targets(&c, &rs, space, lmdb);
    if (c.self_test)
        printf("self-test: %d engine(s) failed, %llu value(s) did not verify: %s\n", failed,
               (unsigned long long)bad, failed || bad ? "FAIL" : "OK");
    else if (bad)
        printf("bench_engine: %llu value(s) did not verify: a driver or engine bug\n",
               (unsigned long long)bad);
    static const char *const w[] = {"fillseq",    "fillrandom", "overwrite",
                                    "readrandom", "seekrandom", "sync16"};
    static const char *const lbl[] = {"fillseq",    "fillrandom", "overwrite",
                                      "readrandom", "seekrandom", "sync16"};
    char line[512] = "cpu-per-op-vs-best-lsm (informative):", b[16];
    for (int i = 0; i < 6; i++) {
        fmt_ratio(b, sizeof(b), ratio_best_lsm_cpu(&rs, w[i]));
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s=%s", lbl[i], b);
    }
    double lc = cpu_per_op(find(&rs, "lmdb", "readrandom"));
    double sc = cpu_per_op(find(&rs, "strata", "readrandom"));
    fmt_ratio(b, sizeof(b), lc > 0 && sc > 0 ? lc / sc : 0);
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " lmdb_read=%s", b);
    printf("%s\n", line);
    snprintf(line, sizeof(line), "engine-vs-best-lsm:");
    for (int i = 0; i < 6; i++) {
        fmt_ratio(b, sizeof(b), ratio_best_lsm(&rs, w[i]));
        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s=%s", lbl[i], b);
    }
    fmt_ratio(b, sizeof(b), space);
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " space=%s", b);
    fmt_ratio(b, sizeof(b), lmdb);
    snprintf(line + strlen(line), sizeof(line) - strlen(line), " lmdb_read=%s", b);
    printf("%s\n", line);
    free(rs.v);
    return failed || bad ? 1 : 0;
}
