/* Block building, iteration and point lookup (see block.h).
 *
 * Reading keeps to a few cache lines: restart keys are compared where they
 * lie (shared == 0 there), the index's restarts through an accelerator of
 * 8-byte numbers, and a block of up to 16 restarts (a data block) carries
 * its restart offsets and a 4-byte number per restart key in its header,
 * so its search reads the data at one place only. Blocks made by block_alloc hold their data in the same (line-
 * aligned) allocation; freed ones are kept per thread (up to 4) for reuse.
 * All decoding is bounds-checked (see block.h); block_find and the iterator
 * share the entry decoder, so both see the same corruption. */
#include "engine/block.h"

#include "engine/dbformat.h"
#include "util/coding.h"
#include "util/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bb_reserve(block_builder *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *nb = realloc(b->buf, cap);
    if (!nb) return b->oom = 1, err_set(ERR_NOMEM, "block builder: out of memory");
    b->buf = nb;
    b->cap = cap;
    return 0;
}

void block_builder_init(block_builder *b, int restart_interval)
{
    memset(b, 0, sizeof(*b));
    b->interval = restart_interval > 0 ? restart_interval : 16;
}

void block_builder_free(block_builder *b)
{
    free(b->buf);
    free(b->restarts);
    free(b->last_key);
    memset(b, 0, sizeof(*b));
}

void block_builder_reset(block_builder *b)
{
    b->len = 0;
    b->n_restarts = 0;
    b->counter = 0;
    b->entries = 0;
    b->last_len = 0;
}

static int add_restart(block_builder *b, uint32_t off)
{
    if (b->n_restarts == b->cap_restarts) {
        int cap = b->cap_restarts ? b->cap_restarts * 2 : 64;
        uint32_t *nr = realloc(b->restarts, sizeof(*nr) * (size_t)cap);
        if (!nr) return b->oom = 1, err_set(ERR_NOMEM, "block builder: out of memory");
        b->restarts = nr;
        b->cap_restarts = cap;
    }
    b->restarts[b->n_restarts++] = off;
    return 0;
}

int block_builder_add(block_builder *b, const void *k, size_t klen, const void *v, size_t vlen)
{
    size_t shared = 0;
    if (b->counter >= b->interval || b->entries == 0) {
        if (add_restart(b, (uint32_t)b->len)) return ERR_NOMEM;
        b->counter = 0;
    } else {
        size_t n = klen < b->last_len ? klen : b->last_len;
        const uint8_t *a = b->last_key, *c = k;
        while (shared < n && a[shared] == c[shared]) shared++;
    }
    if (bb_reserve(b, 3 * VARINT_MAX + klen - shared + vlen)) return ERR_NOMEM;
    uint8_t *p = b->buf + b->len;
    p += put_varint(p, shared);
    p += put_varint(p, klen - shared);
    p += put_varint(p, vlen);
    memcpy(p, (const uint8_t *)k + shared, klen - shared);
    p += klen - shared;
    if (vlen) memcpy(p, v, vlen);
    p += vlen;
    b->len = (size_t)(p - b->buf);
    if (klen > b->last_cap) {
        size_t cap = klen * 2;
        uint8_t *nk = realloc(b->last_key, cap);
        if (!nk) return b->oom = 1, err_set(ERR_NOMEM, "block builder: out of memory");
        b->last_key = nk;
        b->last_cap = cap;
    }
    memcpy(b->last_key, k, klen);
    b->last_len = klen;
    b->counter++;
    b->entries++;
    return 0;
}

const uint8_t *block_builder_finish(block_builder *b, size_t *len)
{
    if (b->n_restarts == 0 && add_restart(b, 0)) return NULL;
    if (bb_reserve(b, 4 * (size_t)b->n_restarts + 4)) return NULL;
    for (int i = 0; i < b->n_restarts; i++)
        put_u32(b->buf + b->len + 4 * (size_t)i, b->restarts[i]);
    b->len += 4 * (size_t)b->n_restarts;
    put_u32(b->buf + b->len, (uint32_t)b->n_restarts);
    b->len += 4;
    *len = b->len;
    return b->buf;
}

size_t block_builder_size_estimate(const block_builder *b)
{
    return b->len + 4 * (size_t)b->n_restarts + 8;
}

/* Checks the trailer of size bytes at data; 0 or -1. */
static int check_trailer(const uint8_t *data, size_t size, uint32_t *nr)
{
    if (size < 4 || size > UINT32_MAX) return -1;
    uint32_t n = get_u32(data + size - 4);
    if (n == 0 || n > (size - 4) / 4) return -1;
    /* Restart offsets: the first is 0, then strictly ascending, all inside
     * the entries (an empty block has the single restart 0 == its end). */
    size_t roff = size - 4 - 4 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = get_u32(data + roff + 4 * (size_t)i);
        if (i == 0 ? r != 0 : (r <= get_u32(data + roff + 4 * (size_t)(i - 1)) || r >= roff))
            return -1;
    }
    *nr = n;
    return 0;
}

_Static_assert(offsetof(block, accel) + sizeof(void *) <= 64,
               "the fields a search reads first fit one line");
_Static_assert(offsetof(block, num) == 64 && offsetof(block, restarts) == 128 &&
                   offsetof(block, prefix) + BLOCK_PREFIX_MAX <= 192,
               "restart numbers on line 1, restarts and the prefix on line 2");

static inline const uint8_t *restart_key(const block *b, uint32_t idx, uint32_t *klen);
/* The big-endian user-key bytes [skip, skip + 8), zero-padded: for keys
 * that share their first skip bytes, a smaller number means a smaller key. */
static inline uint64_t key_num(const uint8_t *ukey, size_t ulen, size_t skip)
{
    if (ulen >= skip + 8) {
        uint64_t x;
        memcpy(&x, ukey + skip, 8);
        return __builtin_bswap64(x);
    }
    uint64_t x = 0;
    for (size_t j = 0; j < 8; j++) x = x << 8 | (skip + j < ulen ? ukey[skip + j] : 0);
    return x;
}

/* The same for the bytes [skip, skip + 4) (the header's numbers). */
static inline uint32_t key_num32(const uint8_t *ukey, size_t ulen, size_t skip)
{
    return (uint32_t)(key_num(ukey, ulen, skip) >> 32);
}

/* Fills num[] and prefix[] from the restart keys (a block with inline
 * restarts). A malformed restart key leaves nums false: the plain search
 * then finds and reports it. */
static void set_nums(block *b)
{
    uint32_t n = b->n_restarts, fl = 0, ll = 0;
    const uint8_t *first = restart_key(b, 0, &fl), *last = restart_key(b, n - 1, &ll);
    if (!first || !last) return;
    size_t skip = 0, m = (fl < ll ? fl : ll) - IKEY_TRAILER;
    if (m > BLOCK_PREFIX_MAX) m = BLOCK_PREFIX_MAX;
    while (skip < m && first[skip] == last[skip]) skip++;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const uint8_t *k = restart_key(b, i, &kl);
        if (!k) return;
        b->num[i] = key_num32(k, kl - IKEY_TRAILER, skip);
    }
    memcpy(b->prefix, first, skip);
    b->skip = (uint8_t)skip;
    b->nums = true;
}

static void set_layout(block *b, size_t size, uint32_t n)
{
    b->size = size;
    b->n_restarts = n;
    b->restart_off = (uint32_t)(size - 4 - 4 * (size_t)n);
    b->inline_restarts = n <= BLOCK_INLINE_RESTARTS && b->restart_off <= UINT16_MAX;
    b->nums = false;
    for (uint32_t i = 0; i < n && b->inline_restarts; i++)
        b->restarts[i] = (uint16_t)get_u32(b->data + b->restart_off + 4 * (size_t)i);
    if (b->inline_restarts) set_nums(b);
    atomic_init(&b->refs, 1);
}

/* Offset of restart idx (< n_restarts; checked by check_trailer). */
static inline uint32_t restart_offset(const block *b, uint32_t idx)
{
    return b->inline_restarts ? b->restarts[idx]
                              : get_u32(b->data + b->restart_off + 4 * (size_t)idx);
}

int block_new(uint8_t *data, size_t size, const char *what, block **out)
{
    uint32_t n;
    if (check_trailer(data, size, &n)) {
        free(data);
        return err_set(ERR_CORRUPT, "%s: bad block trailer", what);
    }
    block *b = calloc(1, sizeof(*b));
    if (!b) {
        free(data);
        return err_set(ERR_NOMEM, "block: out of memory");
    }
    b->data = data;
    set_layout(b, size, n);
    *out = b;
    return 0;
}

/* A few spare block allocations per thread. A block-cache miss allocates a
 * block and, through the insert, usually evicts and frees about one other
 * of about the same size on the same thread: freed ones are kept and
 * reused, which saves a malloc and a free (and the coalescing that comes
 * with freeing 4 KiB chunks). Allocations are rounded up to SPARE_STEP so
 * that blocks of slightly different sizes fit each other. */
#define SPARE_STEP  1024
#define SPARE_MAX   (64u << 10)
#define SPARE_SLOTS 4
typedef struct spares {
    int n;
    block *slot[SPARE_SLOTS];
} spares;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_ok;

static void spares_free(void *p) /* at thread exit */
{
    spares *sp = p;
    for (int i = 0; i < sp->n; i++) free(sp->slot[i]);
    free(sp);
}

static void spare_init(void)
{
    spare_ok = pthread_key_create(&spare_key, spares_free) == 0;
}

static spares *thread_spares(void)
{
    pthread_once(&spare_once, spare_init);
    if (!spare_ok) return NULL;
    spares *sp = pthread_getspecific(spare_key);
    if (!sp && (sp = calloc(1, sizeof(*sp))) && pthread_setspecific(spare_key, sp)) {
        free(sp);
        sp = NULL;
    }
    return sp;
}

/* Takes a spare of this thread that holds at least cap bytes of data. */
static block *spare_take(size_t cap)
{
    spares *sp = thread_spares();
    if (!sp) return NULL;
    for (int i = sp->n - 1; i >= 0; i--) {
        block *b = sp->slot[i];
        if (b->alloc_cap < cap) continue;
        sp->slot[i] = sp->slot[--sp->n];
        return b;
    }
    return NULL;
}

/* Frees a block_alloc'd block, or keeps it as a spare of this thread. A
 * full set keeps the larger: sizes that straddle a SPARE_STEP boundary
 * would otherwise fill it with spares too small for half the requests. */
static void spare_put(block *b)
{
    spares *sp = b->alloc_cap <= SPARE_MAX ? thread_spares() : NULL;
    if (sp && sp->n < SPARE_SLOTS) {
        sp->slot[sp->n++] = b;
        return;
    }
    for (int i = 0; sp && i < sp->n; i++)
        if (sp->slot[i]->alloc_cap < b->alloc_cap) {
            block *small = sp->slot[i];
            sp->slot[i] = b;
            b = small;
            break;
        }
    free(b);
}

block *block_alloc(size_t size, uint8_t **data)
{
    if (size > UINT32_MAX) return NULL;
    size_t cap = (size + SPARE_STEP) / SPARE_STEP * SPARE_STEP; /* > size, so never 0 */
    block *b = cap <= SPARE_MAX ? spare_take(cap) : NULL;
    /* Line-aligned, so that the header's first 64 bytes are one cache line. */
    size_t total = (sizeof(*b) + cap + 63) / 64 * 64;
    if (!b && !(b = aligned_alloc(64, total))) return NULL;
    memset(b, 0, sizeof(*b));
    b->alloc_cap = (uint32_t)(cap <= UINT32_MAX ? cap : UINT32_MAX);
    *data = (uint8_t *)(b + 1);
    b->data = *data;
    b->size = size;
    return b;
}

int block_seal(block *b, const char *what)
{
    uint32_t n;
    if (check_trailer(b->data, b->size, &n)) {
        free(b);
        return err_set(ERR_CORRUPT, "%s: bad block trailer", what);
    }
    set_layout(b, b->size, n);
    return 0;
}

void block_ref(block *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void block_unref(block *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    free(b->accel);
    b->accel = NULL;
    if (b->data == (const uint8_t *)(b + 1)) /* block_alloc'd */
        return spare_put(b);
    if (b->release) {
        b->release(b, b->release_arg);
        return;
    }
    free((void *)b->data);
    free(b);
}

/* ---- entry decoding, shared by the iterator and block_find ---- */

/* Decodes the header of the entry at p (entries end at end): returns where
 * its key suffix starts, or NULL if the header or the lengths it gives do
 * not fit. Most headers are three one-byte varints. */
static inline const uint8_t *entry_header(const uint8_t *p, const uint8_t *end, uint32_t *shared,
                                          uint32_t *unshared, uint32_t *vlen)
{
    if (end - p >= 3 && (p[0] | p[1] | p[2]) < 0x80) {
        *shared = p[0];
        *unshared = p[1];
        *vlen = p[2];
        p += 3;
    } else {
        size_t n;
        if (!(n = get_varint32(p, end, shared))) return NULL;
        p += n;
        if (!(n = get_varint32(p, end, unshared))) return NULL;
        p += n;
        if (!(n = get_varint32(p, end, vlen))) return NULL;
        p += n;
    }
    if (*unshared > (size_t)(end - p) || *vlen > (size_t)(end - p) - *unshared) return NULL;
    return p;
}

/* The whole key of restart idx, in place (restart keys are stored whole:
 * shared == 0); NULL if its entry is malformed. */
static inline const uint8_t *restart_key(const block *b, uint32_t idx, uint32_t *klen)
{
    const uint8_t *base = b->data, *end = base + b->restart_off;
    uint32_t sh, vl;
    const uint8_t *key = entry_header(base + restart_offset(b, idx), end, &sh, klen, &vl);
    return key && sh == 0 && *klen >= IKEY_TRAILER ? key : NULL;
}

/* Search accelerator of a big pinned block (block_accelerate): for every
 * restart key, the 8 user-key bytes after the prefix all of them share,
 * big-endian and zero-padded. A smaller number means a smaller key, so the
 * binary search compares integers in one contiguous array and reads a key
 * only when the numbers tie. */
#define ACCEL_STRIDE 32 /* restarts per entry of the top level */
struct block_accel {
    uint32_t skip;         /* length of the shared user-key prefix */
    uint32_t ntop;         /* entries of top */
    const uint8_t *prefix; /* the shared prefix (in the block's first key) */
    const uint64_t *top;   /* num[j * ACCEL_STRIDE]: small enough to stay in L1 */
    uint64_t num[];        /* per restart, then top */
};

int block_accelerate(block *b)
{
    uint32_t fl = 0, ll = 0, n = b->n_restarts;
    if (n < 64) return 0; /* small: searched the plain way */
    /* The prefix comes from the first and the last but one key: an index's
     * last key is often the shortest successor of the file's last key
     * ("1" after "0000..."), which shares no prefix with the others. */
    const uint8_t *first = restart_key(b, 0, &fl), *last = restart_key(b, n - 2, &ll);
    if (!first || !last) return 0; /* corrupt: searched the plain way */
    size_t skip = 0, m = (fl < ll ? fl : ll) - IKEY_TRAILER;
    while (skip < m && first[skip] == last[skip]) skip++;
    uint32_t ntop = (n + ACCEL_STRIDE - 1) / ACCEL_STRIDE;
    struct block_accel *a = malloc(sizeof(*a) + sizeof(uint64_t) * ((size_t)n + ntop));
    if (!a) return err_set(ERR_NOMEM, "block: out of memory");
    a->skip = (uint32_t)skip;
    a->ntop = ntop;
    a->top = a->num + n;
    a->prefix = first;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl;
        const uint8_t *k = restart_key(b, i, &kl);
        if (!k) { /* corrupt: leave it to the plain search to report */
            free(a);
            return 0;
        }
        /* Keys after the last one with the prefix are above every key with
         * it: the largest number, which a key with the prefix at most ties
         * (and a tie compares the keys themselves). */
        bool has = kl - IKEY_TRAILER >= skip && memcmp(k, first, skip) == 0;
        a->num[i] = has ? key_num(k, kl - IKEY_TRAILER, skip) : UINT64_MAX;
    }
    for (uint32_t j = 0; j < ntop; j++) a->num[n + j] = a->num[j * ACCEL_STRIDE];
    b->accel = a;
    return 0;
}

/* The last restart whose key is < k (0 if none), comparing the restart keys
 * in place; ERR_CORRUPT if one is bad. */
static int restart_search(const block *b, const void *k, size_t klen, uint32_t *out)
{
    const struct block_accel *a = b->accel;
    size_t ulen = klen - IKEY_TRAILER;
    bool fast = a && ulen >= a->skip && memcmp(k, a->prefix, a->skip) == 0;
    uint64_t kn = fast ? key_num(k, ulen, a->skip) : 0;
    uint32_t lo = 0, hi = b->n_restarts - 1;
    if (b->nums) { /* the header's numbers stand for the restart keys */
        size_t sk = b->skip;
        int c = memcmp(k, b->prefix, ulen < sk ? ulen : sk);
        if (c < 0 || (c == 0 && ulen < sk)) { /* below every restart key */
            *out = 0;
            return 0;
        }
        if (c > 0) { /* above every restart key */
            *out = hi;
            return 0;
        }
        a = NULL;
        fast = true;
        kn = key_num32(k, ulen, sk);
    } else if (fast) { /* the top level narrows [lo, hi] to at most 2 strides */
        uint32_t l = 0, h = a->ntop;
        while (l < h) { /* the first top entry >= kn */
            uint32_t m = (l + h) / 2;
            if (a->top[m] < kn)
                l = m + 1;
            else
                h = m;
        }
        if (l > 0) lo = (l - 1) * ACCEL_STRIDE; /* a restart key < k */
        while (l < a->ntop && a->top[l] == kn) l++;
        if (l < a->ntop) hi = l ? l * ACCEL_STRIDE - 1 : 0; /* restart l*S is > k */
        for (uint32_t i = lo; i <= hi; i += 8) __builtin_prefetch(&a->num[i]);
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        int c;
        uint64_t num = !fast ? 0 : a ? a->num[mid] : b->num[mid];
        if (fast && num != kn) {
            c = num < kn ? -1 : 1;
        } else {
            uint32_t rl;
            const uint8_t *rk = restart_key(b, mid, &rl);
            if (!rk) return ERR_CORRUPT;
            c = ikey_cmp_inline(rk, rl, k, klen);
        }
        if (c < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    *out = lo;
    return 0;
}

void block_entry_free(block_entry *e)
{
    if (e->kbuf != e->inline_key) free(e->kbuf);
    block_entry_init(e);
}

/* Makes room for a key of n bytes in e's scratch, keeping its first keep bytes. */
static int entry_reserve(block_entry *e, size_t n, size_t keep)
{
    if (n <= e->kcap) return 0;
    size_t cap = n * 2;
    uint8_t *nb = malloc(cap);
    if (!nb) return err_set(ERR_NOMEM, "block: out of memory");
    memcpy(nb, e->kbuf, keep);
    if (e->kbuf != e->inline_key) free(e->kbuf);
    e->kbuf = nb;
    e->kcap = cap;
    return 0;
}

int block_find(const block *b, const void *k, size_t klen, block_entry *e, const char *file,
               uint64_t off)
{
    uint32_t r;
    if (restart_search(b, k, klen, &r)) goto bad;
    const uint8_t *base = b->data, *end = base + b->restart_off;
    const uint8_t *p = base + restart_offset(b, r);
    const uint8_t *prev = NULL; /* the previous key: in the block or in e->kbuf */
    size_t prev_len = 0;
    while (p < end) {
        uint32_t sh, un, vl;
        const uint8_t *suffix = entry_header(p, end, &sh, &un, &vl);
        if (!suffix || sh > prev_len || (size_t)sh + un < IKEY_TRAILER) goto bad;
        size_t nk = (size_t)sh + un;
        const uint8_t *key = suffix;
        if (sh) {                          /* rebuild the key: the shared prefix comes from prev */
            bool in_buf = prev == e->kbuf; /* then the prefix is already there */
            if (entry_reserve(e, nk, in_buf ? sh : 0)) return ERR_NOMEM;
            if (!in_buf) memcpy(e->kbuf, prev, sh);
            memcpy(e->kbuf + sh, suffix, un);
            key = e->kbuf;
        }
        p = suffix + un + vl;
        if (ikey_cmp_inline(key, nk, k, klen) >= 0) {
            e->key = key;
            e->klen = nk;
            e->val = suffix + un;
            e->vlen = vl;
            return 1;
        }
        prev = key;
        prev_len = nk;
    }
    return 0;
bad:
    return err_set(ERR_CORRUPT, "%s: corrupt block entry in block at offset %llu", file,
                   (unsigned long long)off);
}

/* ---- iterator ---- */
typedef struct biter {
    ikiter base;
    block *b;
    uint32_t cur;          /* offset of the current entry; == restart_off when invalid */
    uint32_t next;         /* offset after the current entry */
    uint32_t restart;      /* index of the restart block containing cur */
    uint32_t next_restart; /* offset where the restart block after it starts */
    uint8_t *key;
    size_t klen, kcap;
    const uint8_t *val;
    size_t vlen;
    int status;
    const char *file; /* names the block in errors: file + off, or what */
    uint64_t off;
    char *what;
} biter;

static void corrupt(biter *i)
{
    if (!i->status)
        i->status = i->file
                        ? err_set(ERR_CORRUPT, "%s: corrupt block entry in block at offset %llu",
                                  i->file, (unsigned long long)i->off)
                        : err_set(ERR_CORRUPT, "%s: corrupt block entry", i->what);
    i->cur = i->next = i->b->restart_off;
}

static inline uint32_t restart_at(biter *i, uint32_t idx)
{
    return restart_offset(i->b, idx);
}

/* Decodes the entry at i->next into key/val; returns 0 at end or on error. */
static int parse_next(biter *i)
{
    const uint8_t *base = i->b->data, *p = base + i->next, *end = base + i->b->restart_off;
    i->cur = i->next;
    if (p >= end) {
        i->cur = i->next = i->b->restart_off;
        return 0;
    }
    uint32_t shared, unshared, vlen;
    if (!(p = entry_header(p, end, &shared, &unshared, &vlen)) || shared > i->klen) goto bad;
    if ((size_t)shared + unshared < IKEY_TRAILER) goto bad; /* every key is an internal key */
    size_t nk = (size_t)shared + unshared;
    if (nk > i->kcap) {
        size_t cap = nk * 2 + 16;
        uint8_t *nb = realloc(i->key, cap);
        if (!nb) {
            i->status = err_set(ERR_NOMEM, "block iterator: out of memory");
            i->cur = i->next = i->b->restart_off;
            return 0;
        }
        i->key = nb;
        i->kcap = cap;
    }
    memcpy(i->key + shared, p, (size_t)unshared);
    i->klen = nk;
    p += unshared;
    i->val = p;
    i->vlen = (size_t)vlen;
    i->next = (uint32_t)(p + vlen - base);
    if (i->cur >= i->next_restart) { /* entered the next restart interval */
        while (i->restart + 1 < i->b->n_restarts && restart_at(i, i->restart + 1) <= i->cur)
            i->restart++;
        i->next_restart =
            i->restart + 1 < i->b->n_restarts ? restart_at(i, i->restart + 1) : i->b->restart_off;
    }
    return 1;
bad:
    corrupt(i);
    return 0;
}

static void seek_restart(biter *i, uint32_t idx)
{
    i->klen = 0;
    i->restart = idx;
    i->next = restart_at(i, idx);
    i->next_restart = idx + 1 < i->b->n_restarts ? restart_at(i, idx + 1) : i->b->restart_off;
    if (i->next > i->b->restart_off) corrupt(i);
}

static bool bi_valid(ikiter *it)
{
    biter *i = (biter *)it;
    return i->cur < i->b->restart_off && !i->status;
}
static void bi_seek_first(ikiter *it)
{
    biter *i = (biter *)it;
    seek_restart(i, 0);
    parse_next(i);
}
static void bi_seek_last(ikiter *it)
{
    biter *i = (biter *)it;
    seek_restart(i, i->b->n_restarts - 1);
    while (parse_next(i) && i->next < i->b->restart_off) {
    }
}
static void bi_seek(ikiter *it, const void *k, size_t klen)
{
    biter *i = (biter *)it;
    uint32_t lo;
    if (restart_search(i->b, k, klen, &lo)) return corrupt(i);
    seek_restart(i, lo);
    while (parse_next(i)) {
        if (i->klen < IKEY_TRAILER) return corrupt(i);
        if (ikey_cmp_inline(i->key, i->klen, k, klen) >= 0) return;
    }
}
static void bi_next(ikiter *it)
{
    parse_next((biter *)it);
}
static void bi_prev(ikiter *it)
{
    biter *i = (biter *)it;
    uint32_t target = i->cur;
    uint32_t r = i->restart;
    while (restart_at(i, r) >= target) {
        if (r == 0) { /* no entry before the first */
            i->cur = i->next = i->b->restart_off;
            return;
        }
        r--;
    }
    seek_restart(i, r);
    while (parse_next(i) && i->next < target) {
    }
    /* The entry before target ends exactly at target, unless the restart
     * array points into the middle of an entry. */
    if (bi_valid(it) && i->next != target) corrupt(i);
}
static void bi_seek_for_prev(ikiter *it, const void *k, size_t klen)
{
    biter *i = (biter *)it;
    bi_seek(it, k, klen);
    if (bi_valid(it)) {
        if (ikey_cmp(i->key, i->klen, k, klen) > 0) bi_prev(it);
    } else if (!i->status) {
        bi_seek_last(it);
    }
}
static const void *bi_key(ikiter *it, size_t *n)
{
    biter *i = (biter *)it;
    *n = i->klen;
    return i->key;
}
static const void *bi_value(ikiter *it, size_t *n)
{
    biter *i = (biter *)it;
    *n = i->vlen;
    return i->val;
}
static int bi_status(ikiter *it)
{
    return ((biter *)it)->status;
}
static void bi_destroy(ikiter *it)
{
    biter *i = (biter *)it;
    block_unref(i->b);
    free(i->key);
    free(i->what);
    free(i);
}

static const ikiter_ops biter_ops = {
    .valid = bi_valid,
    .seek_first = bi_seek_first,
    .seek_last = bi_seek_last,
    .seek = bi_seek,
    .seek_for_prev = bi_seek_for_prev,
    .next = bi_next,
    .prev = bi_prev,
    .key = bi_key,
    .value = bi_value,
    .status = bi_status,
    .destroy = bi_destroy,
};

static biter *iter_alloc(block *b)
{
    biter *i = calloc(1, sizeof(*i));
    if (!i) return NULL;
    i->base.ops = &biter_ops;
    block_ref(b);
    i->b = b;
    i->cur = i->next = b->restart_off;
    return i;
}

ikiter *block_iter_new(block *b, const char *what)
{
    biter *i = iter_alloc(b);
    if (!i) return NULL;
    if (!(i->what = strdup(what))) {
        bi_destroy(&i->base);
        return NULL;
    }
    return &i->base;
}

ikiter *block_iter_new_at(block *b, const char *file, uint64_t off)
{
    biter *i = iter_alloc(b);
    if (!i) return NULL;
    i->file = file;
    i->off = off;
    return &i->base;
}
