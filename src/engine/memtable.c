/* Memtable: per-partition skiplists of internal keys over an arena.
 *
 * Invariants
 *  1. Only the write leader calls memtable_add*; readers never block it.
 *  2. A node is fully written before it is linked: links are published with
 *     release stores and followed with acquire loads, so a reader sees either
 *     the old list or the new node complete.
 *  3. Nothing is freed before the last reference is dropped (arena memory).
 *  4. The partition table only grows; a grown table is published atomically
 *     and old tables are kept until destruction (readers may hold them).
 * Range tombstones are rare: they live in a mutex-protected list. */
#include "engine/memtable.h"

#include "engine/dbformat.h"
#include "util/err.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEIGHT  12
#define ARENA_BLOCK (1u << 20)

typedef struct node {
    uint32_t klen; /* internal key length */
    uint32_t vlen;
    uint32_t height;
    uint32_t pad;
    _Atomic(struct node *) next[]; /* height entries; key and value follow */
} node;

typedef struct skiplist {
    node *head;
    atomic_int height;
    uint32_t rnd;
} skiplist;

typedef struct arena_block {
    struct arena_block *prev;
    size_t used, cap;
    char data[];
} arena_block;

typedef struct part_table {
    uint32_t n;
    _Atomic(skiplist *) lists[];
} part_table;

struct memtable {
    atomic_int refs;
    arena_block *arena;
    atomic_size_t bytes;
    atomic_uint_fast64_t entries;
    _Atomic(part_table *) parts;
    part_table *old_parts[32]; /* superseded tables, freed at destruction */
    int n_old;
    pthread_mutex_t rd_mu;
    rangedel_list *rdels; /* indexed by partition slot in rd_parts */
    uint32_t *rd_parts;
    int n_rd;
};

static void *arena_alloc(memtable *m, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    arena_block *b = m->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        arena_block *nb = malloc(sizeof(*nb) + cap);
        if (!nb) return NULL;
        nb->prev = b;
        nb->used = 0;
        nb->cap = cap;
        m->arena = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    atomic_fetch_add_explicit(&m->bytes, n, memory_order_relaxed);
    return p;
}

static node *new_node(memtable *m, int height, size_t klen, size_t vlen)
{
    size_t sz = sizeof(node) + sizeof(_Atomic(node *)) * (size_t)height + klen + vlen;
    node *x = arena_alloc(m, sz);
    if (!x) return NULL;
    x->klen = (uint32_t)klen;
    x->vlen = (uint32_t)vlen;
    x->height = (uint32_t)height;
    for (int i = 0; i < height; i++) atomic_init(&x->next[i], NULL);
    return x;
}

static inline uint8_t *node_key(node *x)
{
    return (uint8_t *)&x->next[x->height];
}
static inline uint8_t *node_val(node *x)
{
    return node_key(x) + x->klen;
}

static memtable *alloc_memtable(void)
{
    memtable *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    atomic_init(&m->refs, 1);
    pthread_mutex_init(&m->rd_mu, NULL);
    part_table *t = calloc(1, sizeof(*t) + sizeof(skiplist *) * 4);
    if (!t) {
        free(m);
        return NULL;
    }
    t->n = 4;
    atomic_init(&m->parts, t);
    return m;
}

memtable *memtable_new(void)
{
    return alloc_memtable();
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
        free(b);
        b = p;
    }
    part_table *t = atomic_load(&m->parts);
    for (uint32_t i = 0; i < t->n; i++) free(atomic_load(&t->lists[i]));
    free(t);
    for (int i = 0; i < m->n_old; i++) free(m->old_parts[i]);
    for (int i = 0; i < m->n_rd; i++) rangedel_list_free(&m->rdels[i]);
    free(m->rdels);
    free(m->rd_parts);
    pthread_mutex_destroy(&m->rd_mu);
    free(m);
}

static skiplist *get_list(memtable *m, uint32_t part)
{
    part_table *t = atomic_load_explicit(&m->parts, memory_order_acquire);
    if (part >= t->n) return NULL;
    return atomic_load_explicit(&t->lists[part], memory_order_acquire);
}

/* Writer only: finds or creates the skiplist of a partition. */
static skiplist *make_list(memtable *m, uint32_t part)
{
    skiplist *l = get_list(m, part);
    if (l) return l;
    part_table *t = atomic_load(&m->parts);
    if (part >= t->n) {
        if (m->n_old == (int)(sizeof(m->old_parts) / sizeof(m->old_parts[0]))) return NULL;
        uint32_t n = t->n;
        while (n <= part) n *= 2;
        part_table *nt = calloc(1, sizeof(*nt) + sizeof(skiplist *) * n);
        if (!nt) return NULL;
        nt->n = n;
        for (uint32_t i = 0; i < t->n; i++) atomic_init(&nt->lists[i], atomic_load(&t->lists[i]));
        m->old_parts[m->n_old++] = t;
        atomic_store_explicit(&m->parts, nt, memory_order_release);
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
    l->rnd = 0xdeadbeef ^ part;
    atomic_store_explicit(&t->lists[part], l, memory_order_release);
    return l;
}

static int random_height(skiplist *l)
{
    int h = 1;
    while (h < MAX_HEIGHT) {
        l->rnd ^= l->rnd << 13;
        l->rnd ^= l->rnd >> 17;
        l->rnd ^= l->rnd << 5;
        if ((l->rnd & 3) != 0) break;
        h++;
    }
    return h;
}

static inline node *nx(node *x, int level)
{
    return atomic_load_explicit(&x->next[level], memory_order_acquire);
}

static inline int node_cmp(node *x, const void *k, size_t klen)
{
    return ikey_cmp(node_key(x), x->klen, k, klen);
}

/* First node >= key; fills prev[] when given. */
static node *find_ge(skiplist *l, const void *k, size_t klen, node **prev)
{
    node *x = l->head;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        if (n && node_cmp(n, k, klen) < 0) {
            x = n;
        } else {
            if (prev) prev[level] = x;
            if (level == 0) return n;
            level--;
        }
    }
}

/* Last node < key (head if none). */
static node *find_lt(skiplist *l, const void *k, size_t klen)
{
    node *x = l->head;
    int level = atomic_load_explicit(&l->height, memory_order_relaxed) - 1;
    for (;;) {
        node *n = nx(x, level);
        if (n && node_cmp(n, k, klen) < 0) {
            x = n;
        } else {
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

int memtable_add(memtable *m, uint32_t part, uint64_t seq, int type, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    skiplist *l = make_list(m, part);
    if (!l) return err_set(ERR_NOMEM, "memtable: out of memory");
    int h = random_height(l);
    node *x = new_node(m, h, klen + IKEY_TRAILER, vlen);
    if (!x) return err_set(ERR_NOMEM, "memtable: out of memory");
    ikey_build(node_key(x), key, klen, seq, type);
    if (vlen) memcpy(node_val(x), val, vlen);
    node *prev[MAX_HEIGHT];
    find_ge(l, node_key(x), x->klen, prev);
    int cur = atomic_load_explicit(&l->height, memory_order_relaxed);
    if (h > cur) {
        for (int i = cur; i < h; i++) prev[i] = l->head;
        atomic_store_explicit(&l->height, h, memory_order_relaxed);
    }
    for (int i = 0; i < h; i++) {
        atomic_store_explicit(&x->next[i], nx(prev[i], i), memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], x, memory_order_release);
    }
    atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
    return 0;
}

int memtable_get(memtable *m, uint32_t part, const void *key, size_t klen, uint64_t snap, int *type,
                 uint64_t *seq, const void **val, size_t *vlen)
{
    skiplist *l = get_list(m, part);
    if (!l) return ERR_NOTFOUND;
    uint8_t stackbuf[256];
    uint8_t *lk = klen + IKEY_TRAILER <= sizeof(stackbuf) ? stackbuf : malloc(klen + IKEY_TRAILER);
    if (!lk) return err_set(ERR_NOMEM, "memtable: out of memory");
    size_t lklen = ikey_build(lk, key, klen, snap, TYPE_SEEK);
    node *x = find_ge(l, lk, lklen, NULL);
    if (lk != stackbuf) free(lk);
    if (!x || ukey_cmp(node_key(x), x->klen - IKEY_TRAILER, key, klen) != 0) return ERR_NOTFOUND;
    uint64_t tr = ikey_trailer(node_key(x), x->klen);
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
        uint32_t *np = nl ? realloc(m->rd_parts, sizeof(*np) * (size_t)(i + 1)) : NULL;
        if (nl) m->rdels = nl;
        if (np) m->rd_parts = np;
        if (!nl || !np)
            rc = err_set(ERR_NOMEM, "memtable: out of memory");
        else {
            memset(&m->rdels[i], 0, sizeof(rangedel_list));
            m->rd_parts[i] = part;
            m->n_rd++;
        }
    }
    if (!rc) rc = rangedel_list_add(&m->rdels[i], start, slen, end, elen, seq);
    if (!rc) atomic_fetch_add(&m->bytes, slen + elen + 64);
    pthread_mutex_unlock(&m->rd_mu);
    return rc;
}

int memtable_range_dels(memtable *m, uint32_t part, rangedel_list *out)
{
    int rc = 0;
    pthread_mutex_lock(&m->rd_mu);
    for (int i = 0; i < m->n_rd; i++)
        if (m->rd_parts[i] == part) rc = rangedel_list_append(out, &m->rdels[i]);
    pthread_mutex_unlock(&m->rd_mu);
    return rc;
}

bool memtable_has_range_dels(memtable *m, uint32_t part)
{
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

bool memtable_empty(const memtable *m)
{
    memtable *mm = (memtable *)m;
    return atomic_load(&mm->entries) == 0 && mm->n_rd == 0;
}

int memtable_partitions(memtable *m, uint32_t *ids, int max)
{
    part_table *t = atomic_load(&m->parts);
    int n = 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (atomic_load(&t->lists[i])) {
            if (n < max) ids[n] = i;
            n++;
        }
    return n;
}

/* ---- iterator ---- */
typedef struct mt_iter {
    ikiter base;
    memtable *m;
    skiplist *l; /* NULL: empty partition */
    node *cur;
} mt_iter;

static bool mi_valid(ikiter *it)
{
    return ((mt_iter *)it)->cur != NULL;
}
static void mi_seek_first(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = i->l ? nx(i->l->head, 0) : NULL;
}
static void mi_seek_last(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    if (!i->l) return;
    node *x = find_last(i->l);
    i->cur = x == i->l->head ? NULL : x;
}
static void mi_seek(ikiter *it, const void *k, size_t n)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = i->l ? find_ge(i->l, k, n, NULL) : NULL;
}
static void mi_seek_for_prev(ikiter *it, const void *k, size_t n)
{
    mt_iter *i = (mt_iter *)it;
    if (!i->l) return;
    node *x = find_ge(i->l, k, n, NULL);
    if (x && node_cmp(x, k, n) == 0) {
        i->cur = x;
        return;
    }
    x = find_lt(i->l, k, n);
    i->cur = x == i->l->head ? NULL : x;
}
static void mi_next(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    i->cur = nx(i->cur, 0);
}
static void mi_prev(ikiter *it)
{
    mt_iter *i = (mt_iter *)it;
    node *x = find_lt(i->l, node_key(i->cur), i->cur->klen);
    i->cur = x == i->l->head ? NULL : x;
}
static const void *mi_key(ikiter *it, size_t *n)
{
    mt_iter *i = (mt_iter *)it;
    *n = i->cur->klen;
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
    if (!i) return NULL;
    i->base.ops = &mt_iter_ops;
    memtable_ref(m);
    i->m = m;
    i->l = get_list(m, part);
    return &i->base;
}
