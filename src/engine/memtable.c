/* Memtable: per-partition skiplists of internal keys over an arena.
 *
 * Invariants
 *  1. Only the write leader calls memtable_add*; readers never block it.
 *  2. A node is fully written before it is linked: links are published with
 *     release stores and followed with acquire loads, so a reader sees either
 *     the old list or the new node complete.
 *  3. Nothing is freed before the last reference is dropped (arena memory).
 *  4. Partitions are found through an open-addressing hash table of skiplist
 *     pointers (each list knows its id). A slot, once set, never changes; a
 *     grown table is published atomically and superseded tables are kept
 *     until destruction (readers may still probe them). Partition ids may be
 *     any uint32_t: the table's size follows the number of partitions, not
 *     the largest id.
 * Skiplists use branching 1/4 and at most MAX_HEIGHT levels (fast up to
 * 4^12 = 16M entries per partition). The writer keeps the last node of each
 * level, so keys arriving in ascending order (time series, streams, ids) are
 * linked after one comparison instead of a search. Range tombstones are rare: they live in
 * a mutex-protected list per partition.
 *
 * Arena blocks of 2 MiB may come from a memtable_pool shared by the db's
 * memtables: first-touch page faults of fresh memory cost milliseconds per
 * block on some machines (virtual machines backing guest memory lazily), and
 * a flushed memtable's blocks are exactly what the next one needs. The pool
 * is the only state shared between memtables; its mutex is taken once per
 * 2 MiB block. A filler thread of the pool (started at the first demand)
 * keeps a few blocks faulted in ahead of the writer.
 *
 * Whole-key filter. A memtable may carry a blocked bloom filter over
 * (partition, user key): 64-byte blocks, FILTER_PROBES bits per key in the
 * block the key's hash picks, so a probe touches one cache line. Most point
 * lookups are for keys a memtable does not hold (a loaded database: the key
 * is in an SST), and the filter answers them without the skiplist search, a
 * chain of cache misses down a list of some 10^5 nodes. The writer sets a
 * key's bits before it links the node (relaxed stores: one writer); the
 * db publishes its visible sequence with a release store after the insert,
 * and a reader reads at a sequence it loaded with acquire, so every entry
 * it may see has its bits visible (an entry whose bits a reader misses is
 * newer than its snapshot). Bits are never cleared. The filter is sized by
 * the caller (a fixed fraction of the memtable budget) and charged to the
 * memtable's bytes; its mapping goes away with the memtable. */
#include "engine/memtable.h"

#include "engine/dbformat.h"
#include "util/err.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xxhash.h>

#define MAX_HEIGHT    12
#define ARENA_ALLOC   (2u << 20) /* one transparent huge page */
#define ARENA_BLOCK   (ARENA_ALLOC - sizeof(arena_block))
#define ARENA_SMALL   (64u << 10) /* blocks while the memtable is under 2 MiB */
#define KLEN_BITS     28
#define KLEN_MASK     ((1u << KLEN_BITS) - 1)
#define MAX_KEY_LEN   (KLEN_MASK - IKEY_TRAILER)
#define MAX_VAL_LEN   UINT32_MAX
#define RANGEDEL_OVH  64 /* bytes charged per range tombstone besides its keys */
#define FILTER_BLOCK  64 /* bytes: one cache line per lookup */
#define FILTER_WORDS  (FILTER_BLOCK / 8)
#define FILTER_PROBES 4           /* bits per key: ~1.3% false positives at 10 bits per key */
#define FILTER_MMAP   (64u << 10) /* filters from this size on are mappings of their own */

typedef struct node {
    uint32_t kh; /* internal key length (low KLEN_BITS) | height << KLEN_BITS */
    uint32_t vlen;
    _Atomic(struct node *) next[]; /* height entries; key and value follow */
} node;
_Static_assert(sizeof(node) == 8, "node header is 8 bytes");
_Static_assert(MAX_HEIGHT < (1 << (32 - KLEN_BITS)), "height fits beside the key length");

typedef struct skiplist {
    node *head;
    atomic_int height;
    uint32_t part;
    uint32_t rnd;           /* xorshift state, never 0 */
    bool appending;         /* the last insert became the last node */
    node *tail[MAX_HEIGHT]; /* writer only: last node of each level, NULL if none */
} skiplist;

typedef struct arena_block {
    struct arena_block *prev;
    size_t used, cap;
    bool pooled; /* a 2 MiB block of its own mapping (ARENA_ALLOC bytes, aligned) */
    _Alignas(8) char data[];
} arena_block;

struct memtable_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the filler */
    atomic_int refs;
    arena_block *idle;          /* linked through prev */
    size_t nidle, nout, nfill;  /* blocks kept, in memtables, being faulted in */
    size_t max_blocks, reserve; /* the filler keeps nidle >= reserve (within max) */
    uint64_t last_take_ms;      /* when a memtable last took a block */
    pthread_t filler;
    bool filler_started, stop;
};

typedef struct part_table {
    struct part_table *retired; /* older superseded tables */
    uint32_t cap;               /* power of two */
    uint32_t n;                 /* lists in use (writer only) */
    _Atomic(skiplist *) slots[];
} part_table;

struct memtable {
    atomic_int refs;
    memtable_pool *pool; /* NULL: blocks come from malloc and go back to free */
    arena_block *arena;  /* current block first */
    atomic_size_t bytes;
    atomic_uint_fast64_t entries;
    atomic_uint_fast64_t first_seq, last_seq;
    _Atomic(part_table *) parts;
    pthread_mutex_t rd_mu;
    rangedel_list *rdels; /* indexed like rd_parts */
    uint32_t *rd_parts;
    int n_rd;
    atomic_int n_rangedels;
    _Atomic(uint64_t) *filter; /* filter_blocks blocks of FILTER_WORDS; NULL: no filter */
    uint32_t filter_blocks;
    bool filter_mapped;
};

static void charge(memtable *m, size_t n)
{
    atomic_fetch_add_explicit(&m->bytes, n, memory_order_relaxed);
}

static void block_release(arena_block *b);

memtable_pool *memtable_pool_new(size_t max_bytes, size_t reserve_bytes)
{
    memtable_pool *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->refs, 1);
    p->max_blocks = max_bytes / ARENA_ALLOC;
    p->reserve = reserve_bytes / ARENA_ALLOC;
    return p;
}

void memtable_pool_unref(memtable_pool *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1) return;
    assert(p->nout == 0);
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->filler_started) pthread_join(p->filler, NULL);
    while (p->idle) {
        arena_block *b = p->idle;
        p->idle = b->prev;
        block_release(b);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

size_t memtable_pool_idle_bytes(memtable_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nidle * ARENA_ALLOC;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* Fresh memory for a block, on transparent huge pages (a big memtable is
 * walked at random, and huge pages keep its nodes within reach of the TLB:
 * about a third less time per insert at 300k entries). Each block is a
 * mapping of its own, so a released block goes back to the system at once
 * (from malloc, freed blocks stayed in the heap: a server kept 150 MiB of
 * old memtables resident after loading 1M keys into a 4 MiB memtable). */
static arena_block *block_alloc(void)
{
    /* map twice the size and trim, so the block sits on a 2 MiB boundary */
    char *p = mmap(NULL, 2 * (size_t)ARENA_ALLOC, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + ARENA_ALLOC - 1) & ~((uintptr_t)ARENA_ALLOC - 1);
    size_t head = (size_t)(a - (uintptr_t)p), tail = ARENA_ALLOC - head;
    if (head) munmap(p, head);
    if (tail) munmap((char *)a + ARENA_ALLOC, tail);
    arena_block *b = (arena_block *)a;
#ifdef MADV_HUGEPAGE
    madvise(b, ARENA_ALLOC, MADV_HUGEPAGE);
#endif
    return b;
}

static void block_release(arena_block *b)
{
    munmap(b, ARENA_ALLOC);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Idle blocks beyond the reserve are given back once no memtable has taken
 * a block for this long: a write burst keeps its blocks, a quiet database
 * does not hold two memtables' worth of memory. */
#define POOL_TRIM_MS 2000

static bool filler_due(memtable_pool *p)
{
    return p->nidle + p->nfill < p->reserve && p->nout + p->nidle + p->nfill < p->max_blocks;
}

/* The filler: faults in blocks ahead of the writer, so that the page faults
 * of a growing memtable (milliseconds per 2 MiB where the hypervisor backs
 * memory on first touch) happen off the write path. */
static void *filler_main(void *arg)
{
    memtable_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!filler_due(p)) {
            if (p->nidle > p->reserve && mono_ms() - p->last_take_ms >= POOL_TRIM_MS) {
                arena_block *b = p->idle;
                p->idle = b->prev;
                p->nidle--;
                pthread_mutex_unlock(&p->mu);
                block_release(b);
                pthread_mutex_lock(&p->mu);
                continue;
            }
            if (p->nidle > p->reserve) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            } else {
                pthread_cond_wait(&p->cv, &p->mu);
            }
            continue;
        }
        p->nfill++;
        pthread_mutex_unlock(&p->mu);
        arena_block *b = block_alloc();
        if (b) {
            volatile char *c = (volatile char *)b;
            for (size_t off = 0; off < ARENA_ALLOC; off += 4096) c[off] = 0;
        }
        pthread_mutex_lock(&p->mu);
        p->nfill--;
        if (!b) break; /* out of memory: the writer allocates for itself */
        b->prev = p->idle;
        p->idle = b;
        p->nidle++;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A 2 MiB block: an idle one of the pool if there is one, else fresh memory;
 * wakes (or starts) the filler when the pool runs below its reserve. */
static arena_block *block_big(memtable_pool *p)
{
    arena_block *b = NULL;
    if (p) {
        pthread_mutex_lock(&p->mu);
        b = p->idle;
        if (b) {
            p->idle = b->prev;
            p->nidle--;
        }
        p->nout++;
        p->last_take_ms = mono_ms();
        if (filler_due(p)) {
            if (!p->filler_started)
                p->filler_started = pthread_create(&p->filler, NULL, filler_main, p) == 0;
            pthread_cond_signal(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (!b) b = block_alloc();
    if (!b && p) {
        pthread_mutex_lock(&p->mu);
        p->nout--;
        pthread_mutex_unlock(&p->mu);
    }
    if (b) b->pooled = true;
    return b;
}

/* Gives a block back: kept by the pool while blocks in use plus kept stay
 * within its bound, freed otherwise. */
static void block_free(memtable_pool *p, arena_block *b)
{
    if (p && b->pooled) {
        pthread_mutex_lock(&p->mu);
        p->nout--;
        bool keep = p->nout + p->nidle < p->max_blocks;
        if (keep) {
            b->prev = p->idle;
            p->idle = b;
            p->nidle++;
            if (p->nidle > p->reserve && p->filler_started) pthread_cond_signal(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
        if (keep) return;
    }
    if (b->pooled)
        block_release(b);
    else
        free(b);
}

/* A new arena block of cap data bytes: small ones from malloc while the
 * memtable is small, then 2 MiB blocks (block_big). */
static arena_block *block_new(memtable *m, size_t cap)
{
    arena_block *b;
    if (cap == ARENA_BLOCK) {
        b = block_big(m->pool);
    } else {
        b = malloc(sizeof(*b) + cap);
        if (b) b->pooled = false;
    }
    if (b) {
        b->used = 0;
        b->cap = cap;
    }
    return b;
}

static void *arena_alloc(memtable *m, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    arena_block *b = m->arena;
    if (b && n <= b->cap - b->used) {
        void *p = b->data + b->used;
        b->used += n;
        charge(m, n);
        return p;
    }
    size_t cap = atomic_load_explicit(&m->bytes, memory_order_relaxed) < ARENA_ALLOC ? ARENA_SMALL
                                                                                     : ARENA_BLOCK;
    if (n > cap / 4) {
        /* A big entry gets a block of its own behind the current one, so the
         * current block's free space is not thrown away. */
        arena_block *nb = malloc(sizeof(*nb) + n);
        if (!nb) return NULL;
        nb->used = nb->cap = n;
        nb->pooled = false;
        if (b) {
            nb->prev = b->prev;
            b->prev = nb;
        } else {
            nb->prev = NULL;
            m->arena = nb;
        }
        charge(m, n);
        return nb->data;
    }
    arena_block *nb = block_new(m, cap);
    if (!nb) return NULL;
    if (b) charge(m, b->cap - b->used); /* the old block's tail is lost */
    nb->prev = b;
    nb->used = n;
    m->arena = nb;
    charge(m, n);
    return nb->data;
}

static node *new_node(memtable *m, int height, size_t klen, size_t vlen)
{
    size_t sz = sizeof(node) + sizeof(_Atomic(node *)) * (size_t)height + klen + vlen;
    node *x = arena_alloc(m, sz);
    if (!x) return NULL;
    x->kh = (uint32_t)klen | (uint32_t)height << KLEN_BITS;
    x->vlen = (uint32_t)vlen;
    for (int i = 0; i < height; i++) atomic_init(&x->next[i], NULL);
    return x;
}

static inline uint32_t node_klen(const node *x)
{
    return x->kh & KLEN_MASK;
}
static inline uint8_t *node_key(node *x)
{
    return (uint8_t *)&x->next[x->kh >> KLEN_BITS];
}
static inline uint8_t *node_val(node *x)
{
    return node_key(x) + node_klen(x);
}

static part_table *table_new(uint32_t cap)
{
    part_table *t = calloc(1, sizeof(*t) + sizeof(skiplist *) * cap);
    if (t) t->cap = cap;
    return t;
}

memtable *memtable_new(void)
{
    return memtable_new_pooled(NULL, 0);
}

/* Zeroed memory for a filter of n blocks: a mapping of its own when large
 * (pages come zeroed and are faulted in as bits land on them; freed memory
 * goes back to the system at once), else from the heap. */
static bool filter_alloc(memtable *m, size_t n)
{
    size_t bytes = n * FILTER_BLOCK;
    void *p;
    if (bytes >= FILTER_MMAP) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return false;
        m->filter_mapped = true;
    } else {
        p = aligned_alloc(FILTER_BLOCK, bytes);
        if (!p) return false;
        memset(p, 0, bytes);
    }
    m->filter = p;
    m->filter_blocks = (uint32_t)n;
    charge(m, bytes);
    return true;
}

static void filter_free(memtable *m)
{
    if (!m->filter) return;
    if (m->filter_mapped)
        munmap((void *)m->filter, (size_t)m->filter_blocks * FILTER_BLOCK);
    else
        free((void *)m->filter);
}

memtable *memtable_new_pooled(memtable_pool *pool, size_t filter_bytes)
{
    memtable *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    part_table *t = table_new(8);
    size_t nblocks = filter_bytes / FILTER_BLOCK;
    if (nblocks > UINT32_MAX) nblocks = UINT32_MAX;
    if (!t || (nblocks && !filter_alloc(m, nblocks))) {
        free(t);
        free(m);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    if (pool) atomic_fetch_add(&pool->refs, 1);
    m->pool = pool;
    pthread_mutex_init(&m->rd_mu, NULL);
    atomic_init(&m->parts, t);
    return m;
}

void memtable_ref(memtable *m)
{
    atomic_fetch_add(&m->refs, 1);
}

void memtable_unref(memtable *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
    arena_block *b = m->arena;
    while (b) {
        arena_block *p = b->prev;
        block_free(m->pool, b);
        b = p;
    }
    memtable_pool_unref(m->pool);
    part_table *t = atomic_load(&m->parts);
    for (uint32_t i = 0; i < t->cap; i++) free(atomic_load(&t->slots[i]));
    while (t) {
        part_table *r = t->retired;
        free(t);
        t = r;
    }
    for (int i = 0; i < m->n_rd; i++) rangedel_list_free(&m->rdels[i]);
    free(m->rdels);
    free(m->rd_parts);
    filter_free(m);
    pthread_mutex_destroy(&m->rd_mu);
    free(m);
}

static inline uint32_t slot_of(uint32_t part, uint32_t cap)
{
    return (uint32_t)(((uint64_t)part * 0x9e3779b97f4a7c15ull) >> 40) & (cap - 1);
}

static skiplist *get_list(memtable *m, uint32_t part)
{
    part_table *t = atomic_load_explicit(&m->parts, memory_order_acquire);
    for (uint32_t i = slot_of(part, t->cap);; i = (i + 1) & (t->cap - 1)) {
        skiplist *l = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!l || l->part == part) return l;
    }
}

/* Writer only: puts l in a table that has a free slot. */
static void table_put(part_table *t, skiplist *l)
{
    uint32_t i = slot_of(l->part, t->cap);
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed)) i = (i + 1) & (t->cap - 1);
    atomic_store_explicit(&t->slots[i], l, memory_order_release);
    t->n++;
}

/* Writer only: finds or creates the skiplist of a partition. */
static skiplist *make_list(memtable *m, uint32_t part)
{
    skiplist *l = get_list(m, part);
    if (l) return l;
    part_table *t = atomic_load_explicit(&m->parts, memory_order_relaxed);
    if ((t->n + 1) * 2 > t->cap) { /* keep the load at most 1/2 */
        part_table *nt = table_new(t->cap * 2);
        if (!nt) return NULL;
        for (uint32_t i = 0; i < t->cap; i++) {
            skiplist *x = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
            if (x) table_put(nt, x);
        }
        nt->retired = t;
        atomic_store_explicit(&m->parts, nt, memory_order_release);
        charge(m, sizeof(*nt) + sizeof(skiplist *) * nt->cap);
        t = nt;
    }
    l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->head = new_node(m, MAX_HEIGHT, 0, 0);
    if (!l->head) {
        free(l);
        return NULL;
    }
    atomic_init(&l->height, 1);
    l->part = part;
    l->rnd = (part * 2654435761u) ^ 0x9e3779b9u;
    if (!l->rnd) l->rnd = 1;
    charge(m, sizeof(*l));
    table_put(t, l);
    return l;
}

static int random_height(skiplist *l)
{
    uint32_t x = l->rnd;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    l->rnd = x;
    /* Each further level with probability 1/4: count pairs of zero bits. */
    int h = 1;
    while (h < MAX_HEIGHT && (x & 3) == 0) {
        h++;
        x >>= 2;
    }
    return h;
}

static inline node *nx(node *x, int level)
{
    return atomic_load_explicit(&x->next[level], memory_order_acquire);
}

static inline int node_cmp(node *x, const void *k, size_t klen)
{
    return ikey_cmp_inline(node_key(x), node_klen(x), k, klen);
}

/* First node >= key; fills prev[] when given. */
static node *find_ge(skiplist *l, const void *k, size_t klen, node **prev)
{
    node *x = l->head, *known_ge = NULL;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        /* If n turns out >= key, the search goes on at x's next node one
         * level down: start loading it while n is compared. */
        if (level > 0) __builtin_prefetch(nx(x, level - 1));
        /* n == known_ge: already compared at the level above, skip the memcmp. */
        if (n && n != known_ge && node_cmp(n, k, klen) < 0) {
            x = n;
        } else {
            known_ge = n;
            if (prev) prev[level] = x;
            if (level == 0) return n;
            level--;
        }
    }
}

/* Last node < key (head if none). */
static node *find_lt(skiplist *l, const void *k, size_t klen)
{
    node *x = l->head, *known_ge = NULL;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        if (n && n != known_ge && node_cmp(n, k, klen) < 0) {
            x = n;
        } else {
            known_ge = n;
            if (level == 0) return x;
            level--;
        }
    }
}

/* Last node <= key (head if none). */
static node *find_le(skiplist *l, const void *k, size_t klen)
{
    node *x = l->head, *known_gt = NULL;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        if (n && n != known_gt && node_cmp(n, k, klen) <= 0) {
            x = n;
        } else {
            known_gt = n;
            if (level == 0) return x;
            level--;
        }
    }
}

static node *find_last(skiplist *l)
{
    node *x = l->head;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        if (n) {
            x = n;
        } else {
            if (level == 0) return x;
            level--;
        }
    }
}

static void note_seq(memtable *m, uint64_t seq)
{
    uint64_t f = atomic_load_explicit(&m->first_seq, memory_order_relaxed);
    if (f == 0 || seq < f) atomic_store_explicit(&m->first_seq, seq, memory_order_relaxed);
    if (seq > atomic_load_explicit(&m->last_seq, memory_order_relaxed))
        atomic_store_explicit(&m->last_seq, seq, memory_order_relaxed);
}

uint64_t memtable_key_hash(uint32_t part, const void *key, size_t klen)
{
    return XXH3_64bits_withSeed(key, klen, part);
}

/* The key's block (high 32 bits of the hash) and its FILTER_PROBES bit
 * positions in it (9-bit fields of the hash remixed, so that they do not
 * repeat the block number). */
static inline _Atomic(uint64_t) *filter_block(const memtable *m, uint64_t h)
{
    uint64_t b = ((h >> 32) * m->filter_blocks) >> 32;
    return m->filter + b * FILTER_WORDS;
}
static inline uint64_t filter_bits(uint64_t h)
{
    return h * 0x9e3779b97f4a7c15ull;
}

static void filter_add(memtable *m, uint64_t h)
{
    _Atomic(uint64_t) *w = filter_block(m, h);
    uint64_t g = filter_bits(h);
    for (int j = 0; j < FILTER_PROBES; j++, g <<= 9) {
        unsigned pos = (unsigned)(g >> 55);
        uint64_t bit = 1ull << (pos & 63), old;
        old = atomic_load_explicit(&w[pos >> 6], memory_order_relaxed);
        if (!(old & bit)) atomic_store_explicit(&w[pos >> 6], old | bit, memory_order_relaxed);
    }
}

bool memtable_may_contain(const memtable *m, uint64_t hash)
{
    if (!m->filter) return true;
    _Atomic(uint64_t) *w = filter_block(m, hash);
    uint64_t g = filter_bits(hash);
    for (int j = 0; j < FILTER_PROBES; j++, g <<= 9) {
        unsigned pos = (unsigned)(g >> 55);
        if (!(atomic_load_explicit(&w[pos >> 6], memory_order_relaxed) & (1ull << (pos & 63))))
            return false;
    }
    return true;
}

void memtable_prefetch(const memtable *m, uint64_t hash)
{
    if (m->filter) __builtin_prefetch((const void *)filter_block(m, hash));
}

size_t memtable_filter_bytes(const memtable *m)
{
    return (size_t)m->filter_blocks * FILTER_BLOCK;
}

/* A new node holding the entry, its filter bits set (not linked yet);
 * hash is memtable_key_hash of the entry (unused without a filter). */
static int make_node(memtable *m, const memtable_entry *e, uint64_t hash, skiplist **lp, node **xp)
{
    assert(e->type == TYPE_VALUE || e->type == TYPE_DELETION);
    assert(e->seq <= SEQ_MAX);
    if (e->klen > MAX_KEY_LEN || e->vlen > MAX_VAL_LEN)
        return err_set(ERR_TOOBIG, "memtable: key of %zu or value of %zu bytes", e->klen, e->vlen);
    skiplist *l = make_list(m, e->part);
    if (!l) return err_set(ERR_NOMEM, "memtable: out of memory");
    node *x = new_node(m, random_height(l), e->klen + IKEY_TRAILER, e->vlen);
    if (!x) return err_set(ERR_NOMEM, "memtable: out of memory");
    ikey_build(node_key(x), e->key, e->klen, e->seq, e->type);
    if (e->vlen) memcpy(node_val(x), e->val, e->vlen);
    if (m->filter) filter_add(m, hash); /* before the link */
    *lp = l;
    *xp = x;
    return 0;
}

/* True when x sorts after the list's last node: its predecessors are the tails. */
static bool appends(skiplist *l, node *x)
{
    return l->appending && node_cmp(l->tail[0], node_key(x), node_klen(x)) < 0;
}

/* Links x (prev[] its predecessors on every level below its height). */
static void link_node(memtable *m, skiplist *l, node *x, node **prev, uint64_t seq)
{
    int h = (int)(x->kh >> KLEN_BITS);
    int cur = atomic_load_explicit(&l->height, memory_order_relaxed);
    if (h > cur) {
        for (int i = cur; i < h; i++) prev[i] = l->head;
        /* Readers that see the new height before the links find NULL at the
         * new levels and simply descend. */
        atomic_store_explicit(&l->height, h, memory_order_relaxed);
    }
    for (int i = 0; i < h; i++) {
        atomic_store_explicit(&x->next[i], nx(prev[i], i), memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], x, memory_order_release);
        if (!nx(x, i)) l->tail[i] = x;
    }
    l->appending = l->tail[0] == x;
    atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
    note_seq(m, seq);
}

static void tails_as_prev(skiplist *l, node **prev)
{
    for (int i = 0; i < MAX_HEIGHT; i++) prev[i] = l->tail[i] ? l->tail[i] : l->head;
}

int memtable_add(memtable *m, uint32_t part, uint64_t seq, int type, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    memtable_entry e = {part, type, seq, key, klen, val, vlen};
    skiplist *l;
    node *x, *prev[MAX_HEIGHT];
    uint64_t h = m->filter ? memtable_key_hash(part, key, klen) : 0;
    int rc = make_node(m, &e, h, &l, &x);
    if (rc) return rc;
    if (appends(l, x))
        tails_as_prev(l, prev);
    else
        find_ge(l, node_key(x), node_klen(x), prev);
    link_node(m, l, x, prev, seq);
    return 0;
}

/* One search of memtable_add_many: find_ge's loop as a resumable state. */
typedef struct search {
    skiplist *l;
    node *x, *known_ge;
    int level; /* -1: done */
    int top;   /* prev[] holds the predecessors for levels 0..top */
} search;

static inline void prefetch_node(node *n)
{
    if (!n) return;
    __builtin_prefetch(n);
    __builtin_prefetch((char *)n + 64); /* the key often starts or ends there */
}

/* Runs the searches for the nodes xs[] round-robin, one step each in turn,
 * prefetching the node the next step compares: their cache misses overlap
 * instead of queueing one after another (a search of a list of 10^5 nodes
 * is a chain of a dozen dependent misses). Fills prev[i] as find_ge does. */
static void search_many(search *s, node **xs, node *(*prev)[MAX_HEIGHT], int n)
{
    int active = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].level < 0) continue;
        prefetch_node(nx(s[i].x, s[i].level));
        active++;
    }
    while (active) {
        for (int i = 0; i < n; i++) {
            search *q = &s[i];
            if (q->level < 0) continue;
            node *nn = nx(q->x, q->level);
            if (nn && nn != q->known_ge && node_cmp(nn, node_key(xs[i]), node_klen(xs[i])) < 0) {
                q->x = nn;
            } else {
                q->known_ge = nn;
                prev[i][q->level] = q->x;
                if (q->level == 0) {
                    q->level = -1;
                    active--;
                    continue;
                }
                q->level--;
            }
            prefetch_node(nx(q->x, q->level));
        }
    }
}

/* prev[] was right for x when the list was searched; nodes linked since
 * then may sit between a predecessor and x. Nodes are never removed, so each
 * old predecessor is still before x: walking on from it finds the new one. */
static void catch_up(skiplist *l, node *x, node **prev, int top)
{
    int h = (int)(x->kh >> KLEN_BITS);
    for (int i = 0; i < h; i++) {
        node *p = i <= top ? prev[i] : l->head, *n;
        while ((n = nx(p, i)) && node_cmp(n, node_key(x), node_klen(x)) < 0) p = n;
        prev[i] = p;
    }
}

#define ADD_GROUP 16 /* searches in flight in memtable_add_many */

int memtable_add_many(memtable *m, const memtable_entry *e, size_t n)
{
    for (size_t base = 0; base < n; base += ADD_GROUP) {
        int g = n - base < ADD_GROUP ? (int)(n - base) : ADD_GROUP;
        skiplist *ls[ADD_GROUP];
        node *xs[ADD_GROUP], *prev[ADD_GROUP][MAX_HEIGHT];
        search s[ADD_GROUP];
        uint64_t hs[ADD_GROUP];
        for (int i = 0; m->filter && i < g; i++) { /* the filter lines load meanwhile */
            const memtable_entry *x = &e[base + i];
            hs[i] = 0;
            if (x->klen > MAX_KEY_LEN || x->vlen > MAX_VAL_LEN) continue; /* make_node refuses it */
            hs[i] = memtable_key_hash(x->part, x->key, x->klen);
            memtable_prefetch(m, hs[i]);
        }
        for (int i = 0; i < g; i++) {
            int rc = make_node(m, &e[base + i], m->filter ? hs[i] : 0, &ls[i], &xs[i]);
            if (rc) return rc;
            skiplist *l = ls[i];
            s[i].l = l;
            s[i].x = l->head;
            s[i].known_ge = NULL;
            s[i].top = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
            s[i].level = s[i].top;
            if (appends(l, xs[i])) { /* no search: the tails precede it */
                tails_as_prev(l, prev[i]);
                s[i].level = -1;
                s[i].top = MAX_HEIGHT - 1;
            }
        }
        search_many(s, xs, prev, g);
        for (int i = 0; i < g; i++) {
            skiplist *l = ls[i];
            if (appends(l, xs[i]))
                tails_as_prev(l, prev[i]);
            else
                catch_up(l, xs[i], prev[i], s[i].top);
            link_node(m, l, xs[i], prev[i], e[base + i].seq);
        }
    }
    return 0;
}

int memtable_get(memtable *m, uint32_t part, const void *key, size_t klen, uint64_t snap, int *type,
                 uint64_t *seq, const void **val, size_t *vlen)
{
    uint64_t h = m->filter ? memtable_key_hash(part, key, klen) : 0;
    return memtable_get_hashed(m, part, key, klen, h, snap, type, seq, val, vlen);
}

int memtable_get_hashed(memtable *m, uint32_t part, const void *key, size_t klen, uint64_t hash,
                        uint64_t snap, int *type, uint64_t *seq, const void **val, size_t *vlen)
{
    if (!memtable_may_contain(m, hash)) return ERR_NOTFOUND;
    skiplist *l = get_list(m, part);
    if (!l) return ERR_NOTFOUND;
    if (snap > SEQ_MAX) snap = SEQ_MAX;
    uint8_t stackbuf[256];
    uint8_t *lk = klen + IKEY_TRAILER <= sizeof(stackbuf) ? stackbuf : malloc(klen + IKEY_TRAILER);
    if (!lk) return err_set(ERR_NOMEM, "memtable: out of memory");
    size_t lklen = ikey_build(lk, key, klen, snap, TYPE_SEEK);
    node *x = find_ge(l, lk, lklen, NULL);
    if (lk != stackbuf) free(lk);
    if (!x || ukey_cmp(node_key(x), node_klen(x) - IKEY_TRAILER, key, klen) != 0)
        return ERR_NOTFOUND;
    uint64_t tr = ikey_trailer(node_key(x), node_klen(x));
    *type = (int)(tr & 0xff);
    *seq = tr >> 8;
    *val = node_val(x);
    *vlen = x->vlen;
    return 0;
}

int memtable_add_range_del(memtable *m, uint32_t part, uint64_t seq, const void *start, size_t slen,
                           const void *end, size_t elen)
{
    /* An empty skiplist marks the partition as present for flush. */
    if (!make_list(m, part)) return err_set(ERR_NOMEM, "memtable: out of memory");
    pthread_mutex_lock(&m->rd_mu);
    int i;
    for (i = 0; i < m->n_rd && m->rd_parts[i] != part; i++) {
    }
    int rc = 0;
    if (i == m->n_rd) {
        rangedel_list *nl = realloc(m->rdels, sizeof(*nl) * (size_t)(i + 1));
        if (nl) m->rdels = nl;
        uint32_t *np = nl ? realloc(m->rd_parts, sizeof(*np) * (size_t)(i + 1)) : NULL;
        if (np) m->rd_parts = np;
        if (!nl || !np) {
            rc = err_set(ERR_NOMEM, "memtable: out of memory");
        } else {
            memset(&m->rdels[i], 0, sizeof(rangedel_list));
            m->rd_parts[i] = part;
            m->n_rd++;
        }
    }
    if (!rc) rc = rangedel_list_add(&m->rdels[i], start, slen, end, elen, seq);
    if (!rc) {
        charge(m, slen + elen + RANGEDEL_OVH);
        atomic_fetch_add(&m->n_rangedels, 1);
        note_seq(m, seq);
    }
    pthread_mutex_unlock(&m->rd_mu);
    return rc;
}

int memtable_range_dels(memtable *m, uint32_t part, rangedel_list *out)
{
    if (!atomic_load(&m->n_rangedels)) return 0;
    int rc = 0;
    pthread_mutex_lock(&m->rd_mu);
    for (int i = 0; i < m->n_rd; i++)
        if (m->rd_parts[i] == part) rc = rangedel_list_append(out, &m->rdels[i]);
    pthread_mutex_unlock(&m->rd_mu);
    return rc;
}

bool memtable_has_range_dels(memtable *m, uint32_t part)
{
    if (!atomic_load(&m->n_rangedels)) return false;
    bool r = false;
    pthread_mutex_lock(&m->rd_mu);
    for (int i = 0; i < m->n_rd; i++)
        if (m->rd_parts[i] == part && m->rdels[i].n) r = true;
    pthread_mutex_unlock(&m->rd_mu);
    return r;
}

size_t memtable_bytes(const memtable *m)
{
    return atomic_load(&((memtable *)m)->bytes);
}
uint64_t memtable_entries(const memtable *m)
{
    return atomic_load(&((memtable *)m)->entries);
}
uint64_t memtable_first_seq(const memtable *m)
{
    return atomic_load(&((memtable *)m)->first_seq);
}
uint64_t memtable_last_seq(const memtable *m)
{
    return atomic_load(&((memtable *)m)->last_seq);
}

bool memtable_empty(const memtable *m)
{
    memtable *mm = (memtable *)m;
    return atomic_load(&mm->entries) == 0 && atomic_load(&mm->n_rangedels) == 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int memtable_partitions(memtable *m, uint32_t *ids, int max)
{
    part_table *t = atomic_load_explicit(&m->parts, memory_order_acquire);
    int n = 0;
    for (uint32_t i = 0; i < t->cap; i++) {
        skiplist *l = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!l) continue;
        if (n < max) ids[n] = l->part;
        n++;
    }
    if (n <= max) qsort(ids, (size_t)n, sizeof(*ids), cmp_u32);
    return n;
}

/* ---- iterator ---- */
typedef struct mt_iter {
    ikiter base;
    memtable *m;
    uint32_t part;
    skiplist *l; /* NULL until the partition exists */
    node *cur;
} mt_iter;

/* The partition's list, looked up again while it does not exist yet. */
static skiplist *it_list(mt_iter *i)
{
    if (!i->l) i->l = get_list(i->m, i->part);
    return i->l;
}

static bool mi_valid(ikiter *it)
{
    return ((mt_iter *)it)->cur != NULL;
}
static void mi_seek_first(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = it_list(i) ? nx(i->l->head, 0) : NULL;
}
static void mi_seek_last(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = NULL;
    if (!it_list(i)) return;
    node *x = find_last(i->l);
    i->cur = x == i->l->head ? NULL : x;
}
static void mi_seek(ikiter *it, const void *k, size_t n)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = it_list(i) ? find_ge(i->l, k, n, NULL) : NULL;
}
static void mi_seek_for_prev(ikiter *it, const void *k, size_t n)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = NULL;
    if (!it_list(i)) return;
    node *x = find_le(i->l, k, n);
    i->cur = x == i->l->head ? NULL : x;
}
static void mi_next(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    assert(i->cur);
    i->cur = nx(i->cur, 0);
    /* nodes are in insertion order in the arena, not in key order: a scan
     * (a flush) misses the cache on every node, so fetch the next one while
     * the caller works on this one */
    node *after = i->cur ? nx(i->cur, 0) : NULL;
    if (after) __builtin_prefetch(after);
}
static void mi_prev(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    assert(i->cur);
    node *x = find_lt(i->l, node_key(i->cur), node_klen(i->cur));
    i->cur = x == i->l->head ? NULL : x;
}
static const void *mi_key(ikiter *it, size_t *n)
{
    mt_iter *i = (mt_iter *)it;
    *n = node_klen(i->cur);
    return node_key(i->cur);
}
static const void *mi_value(ikiter *it, size_t *n)
{
    mt_iter *i = (mt_iter *)it;
    *n = i->cur->vlen;
    return node_val(i->cur);
}
static int mi_status(ikiter *it)
{
    return 0;
}
static void mi_destroy(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    memtable_unref(i->m);
    free(i);
}

static const ikiter_ops mt_iter_ops = {
    .valid = mi_valid,
    .seek_first = mi_seek_first,
    .seek_last = mi_seek_last,
    .seek = mi_seek,
    .seek_for_prev = mi_seek_for_prev,
    .next = mi_next,
    .prev = mi_prev,
    .key = mi_key,
    .value = mi_value,
    .status = mi_status,
    .destroy = mi_destroy,
};

ikiter *memtable_iter(memtable *m, uint32_t part)
{
    mt_iter *i = calloc(1, sizeof(*i));
    if (!i) {
        err_set(ERR_NOMEM, "memtable: out of memory");
        return NULL;
    }
    i->base.ops = &mt_iter_ops;
    memtable_ref(m);
    i->m = m;
    i->part = part;
    i->l = get_list(m, part);
    return &i->base;
}
