/* Write overlay (see overlay.h): entries in insertion order, an open
 * addressing hash index over them, the list of range deletes, and a sorted
 * view rebuilt lazily for iteration. One overlay lives as long as its
 * keyspace and is cleared between batches, so its arrays are reused. The
 * copies of keys and values sit in a bump arena that a clear empties (no
 * allocator round trip per write: a pipeline group of SETs made two
 * mallocs and two frees per command); a value replaced in the same batch
 * keeps its space until then, which the batch itself bounds (it holds a copy
 * of every write too). */
#include "keyspace/overlay.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/err.h"

typedef struct range {
    uint8_t *s, *e;
    size_t slen, elen;
} range;

#define ARENA_CHUNK (64u << 10)

typedef struct chunk {
    struct chunk *prev;
    size_t used, cap;
    _Alignas(8) uint8_t data[];
} chunk;

struct ks__overlay {
    chunk *arena; /* current chunk first; the last one (a standard chunk) survives a clear */
    ks__ov_entry *ents;
    size_t n, cap;
    size_t *index; /* entry number + 1, 0 = empty; size index_cap (power of two) */
    size_t index_cap;
    range *ranges;
    size_t nranges, rcap;
    ks__ov_entry **sorted;
    size_t sorted_cap;
    int sorted_ok;
    size_t writes;
};

int ks__keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

ks__overlay *ks__ov_new(void)
{
    return calloc(1, sizeof(ks__overlay));
}

/* n bytes of arena (never NULL for n = 0 unless out of memory). Big copies
 * get a chunk of their own behind the current one. */
static uint8_t *arena_copy(ks__overlay *o, const void *p, size_t n)
{
    size_t need = (n + 7) & ~(size_t)7;
    chunk *c = o->arena;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        chunk *nc = malloc(sizeof(*nc) + cap);
        if (!nc) return NULL;
        nc->cap = cap;
        nc->used = 0;
        if (c && cap != ARENA_CHUNK) { /* keep filling the current chunk */
            nc->prev = c->prev;
            c->prev = nc;
        } else {
            nc->prev = c;
            o->arena = nc;
        }
        c = nc;
    }
    uint8_t *d = c->data + c->used;
    c->used += need;
    if (n) memcpy(d, p, n);
    return d;
}

static void arena_reset(ks__overlay *o)
{
    chunk *c = o->arena, *keep = NULL;
    while (c) {
        chunk *prev = c->prev;
        if (!keep && c->cap == ARENA_CHUNK) {
            keep = c;
        } else {
            free(c);
        }
        c = prev;
    }
    if (keep) {
        keep->prev = NULL;
        keep->used = 0;
    }
    o->arena = keep;
}

void ks__ov_clear(ks__overlay *o)
{
    arena_reset(o);
    if (o->index && o->n * 8 < o->index_cap) {
        /* Few entries in a big index: empty just their slots (each entry
         * sits at or after its home slot; zeros met on the way are slots
         * already emptied, not ends of a probe chain). */
        size_t mask = o->index_cap - 1;
        for (size_t i = 0; i < o->n; i++) {
            size_t j = o->ents[i].hash & mask;
            while (o->index[j] != i + 1) j = (j + 1) & mask;
            o->index[j] = 0;
        }
    } else if (o->index) {
        memset(o->index, 0, o->index_cap * sizeof(size_t));
    }
    o->n = 0;
    o->nranges = 0;
    o->writes = 0;
    o->sorted_ok = 0;
    /* Do not keep a huge index after a huge transaction. */
    if (o->index_cap > 4096) {
        free(o->index);
        o->index = NULL;
        o->index_cap = 0;
    }
}

void ks__ov_free(ks__overlay *o)
{
    if (!o) return;
    ks__ov_clear(o);
    free(o->arena);
    free(o->ents);
    free(o->index);
    free(o->ranges);
    free(o->sorted);
    free(o);
}

const ks__ov_entry *ks__ov_entries(const ks__overlay *o, size_t *n)
{
    *n = o->n;
    return o->ents;
}

size_t ks__ov_ranges(const ks__overlay *o)
{
    return o->nranges;
}

size_t ks__ov_writes(const ks__overlay *o)
{
    return o->writes;
}

static size_t *find_slot(const ks__overlay *o, const void *k, size_t klen, uint64_t h)
{
    size_t mask = o->index_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        size_t *s = &o->index[i];
        if (*s == 0) return s;
        const ks__ov_entry *e = &o->ents[*s - 1];
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0) return s;
    }
}

static int grow_index(ks__overlay *o)
{
    size_t cap = o->index_cap ? o->index_cap * 2 : 64;
    size_t *ix = calloc(cap, sizeof(size_t));
    if (!ix) return ERR_NOMEM;
    free(o->index);
    o->index = ix;
    o->index_cap = cap;
    for (size_t i = 0; i < o->n; i++) {
        size_t *s = find_slot(o, o->ents[i].key, o->ents[i].klen, o->ents[i].hash);
        *s = i + 1;
    }
    return 0;
}

static int set(ks__overlay *o, const void *k, size_t klen, const void *v, size_t vlen, int del)
{
    if ((o->n + 1) * 2 > o->index_cap) {
        int rc = grow_index(o);
        if (rc) return rc;
    }
    uint64_t h = XXH3_64bits(k, klen);
    size_t *s = find_slot(o, k, klen, h);
    uint8_t *nv = NULL;
    if (!del && !(nv = arena_copy(o, v, vlen))) return ERR_NOMEM;
    o->writes++;
    if (*s) {
        ks__ov_entry *e = &o->ents[*s - 1];
        e->val = nv;
        e->vlen = vlen;
        return 0;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 32;
        ks__ov_entry *ne = realloc(o->ents, cap * sizeof(*ne));
        if (!ne) return ERR_NOMEM;
        o->ents = ne;
        o->cap = cap;
    }
    uint8_t *nk = arena_copy(o, k, klen);
    if (!nk) return ERR_NOMEM;
    o->ents[o->n] = (ks__ov_entry){nk, klen, nv, vlen, h};
    *s = ++o->n;
    o->sorted_ok = 0;
    return 0;
}

int ks__ov_put(ks__overlay *o, const void *k, size_t klen, const void *v, size_t vlen)
{
    return set(o, k, klen, v, vlen, 0);
}

int ks__ov_del(ks__overlay *o, const void *k, size_t klen)
{
    return set(o, k, klen, NULL, 0, 1);
}

int ks__ov_del_range(ks__overlay *o, const void *s, size_t slen, const void *e, size_t elen)
{
    if (o->nranges == o->rcap) {
        size_t cap = o->rcap ? o->rcap * 2 : 4;
        range *nr = realloc(o->ranges, cap * sizeof(*nr));
        if (!nr) return ERR_NOMEM;
        o->ranges = nr;
        o->rcap = cap;
    }
    range r = {arena_copy(o, s, slen), arena_copy(o, e, elen), slen, elen};
    if (!r.s || !r.e) return ERR_NOMEM;
    o->ranges[o->nranges++] = r;
    for (size_t i = 0; i < o->n; i++) {
        ks__ov_entry *x = &o->ents[i];
        if (x->val && ks__keycmp(x->key, x->klen, s, slen) >= 0 &&
            ks__keycmp(x->key, x->klen, e, elen) < 0) {
            x->val = NULL;
            x->vlen = 0;
        }
    }
    o->writes++;
    return 0;
}

const ks__ov_entry *ks__ov_get(const ks__overlay *o, const void *k, size_t klen)
{
    if (o->n == 0) return NULL;
    size_t *s = find_slot(o, k, klen, XXH3_64bits(k, klen));
    return *s ? &o->ents[*s - 1] : NULL;
}

int ks__ov_covered(const ks__overlay *o, const void *k, size_t klen)
{
    for (size_t i = 0; i < o->nranges; i++) {
        const range *r = &o->ranges[i];
        if (ks__keycmp(k, klen, r->s, r->slen) >= 0 && ks__keycmp(k, klen, r->e, r->elen) < 0)
            return 1;
    }
    return 0;
}

static int cmp_ent(const void *a, const void *b)
{
    const ks__ov_entry *x = *(ks__ov_entry *const *)a, *y = *(ks__ov_entry *const *)b;
    return ks__keycmp(x->key, x->klen, y->key, y->klen);
}

ks__ov_entry *const *ks__ov_sorted(ks__overlay *o, size_t *n)
{
    if (!o->sorted_ok) {
        if (o->sorted_cap < o->n) {
            ks__ov_entry **ns = realloc(o->sorted, o->n * sizeof(*ns));
            if (!ns) {
                *n = 0;
                return NULL;
            }
            o->sorted = ns;
            o->sorted_cap = o->n;
        }
        for (size_t i = 0; i < o->n; i++) o->sorted[i] = &o->ents[i];
        if (o->n) qsort(o->sorted, o->n, sizeof(*o->sorted), cmp_ent);
        o->sorted_ok = 1;
    }
    *n = o->n;
    return o->sorted;
}
