/* Block building and iteration (see block.h). */
#include "engine/block.h"

#include "engine/dbformat.h"
#include "util/coding.h"
#include "util/err.h"

#include <stdatomic.h>
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

int block_new(uint8_t *data, size_t size, const char *what, block **out)
{
    if (size < 4 || size > UINT32_MAX) goto bad;
    uint32_t n = get_u32(data + size - 4);
    if (n == 0 || n > (size - 4) / 4) goto bad;
    /* Restart offsets: the first is 0, then strictly ascending, all inside
     * the entries (an empty block has the single restart 0 == its end). */
    size_t roff = size - 4 - 4 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = get_u32(data + roff + 4 * (size_t)i);
        if (i == 0 ? r != 0 : (r <= get_u32(data + roff + 4 * (size_t)(i - 1)) || r >= roff))
            goto bad;
    }
    block *b = calloc(1, sizeof(*b));
    if (!b) {
        free(data);
        return err_set(ERR_NOMEM, "block: out of memory");
    }
    b->data = data;
    b->size = size;
    b->n_restarts = n;
    b->restart_off = (uint32_t)(size - 4 - 4 * (size_t)n);
    atomic_init(&b->refs, 1);
    *out = b;
    return 0;
bad:
    free(data);
    return err_set(ERR_CORRUPT, "%s: bad block trailer", what);
}

void block_ref(block *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void block_unref(block *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    if (b->release) {
        b->release(b, b->release_arg);
        return;
    }
    free((void *)b->data);
    free(b);
}

/* ---- iterator ---- */
typedef struct biter {
    ikiter base;
    block *b;
    uint32_t cur;     /* offset of the current entry; == restart_off when invalid */
    uint32_t next;    /* offset after the current entry */
    uint32_t restart; /* index of the restart block containing cur */
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
    return get_u32(i->b->data + i->b->restart_off + 4 * (size_t)idx);
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
    uint64_t shared, unshared, vlen;
    size_t n;
    if (!(n = get_varint(p, end, &shared))) goto bad;
    p += n;
    if (!(n = get_varint(p, end, &unshared))) goto bad;
    p += n;
    if (!(n = get_varint(p, end, &vlen))) goto bad;
    p += n;
    if (shared > i->klen || unshared > (uint64_t)(end - p) || vlen > (uint64_t)(end - p) - unshared)
        goto bad;
    if (shared + unshared < IKEY_TRAILER) goto bad; /* every key is an internal key */
    size_t nk = (size_t)(shared + unshared);
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
    while (i->restart + 1 < i->b->n_restarts && restart_at(i, i->restart + 1) <= i->cur)
        i->restart++;
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
    uint32_t lo = 0, hi = i->b->n_restarts - 1;
    while (lo < hi) { /* last restart with key < target */
        uint32_t mid = (lo + hi + 1) / 2;
        seek_restart(i, mid);
        if (!parse_next(i)) return;
        if (i->klen < IKEY_TRAILER) return corrupt(i);
        if (ikey_cmp(i->key, i->klen, k, klen) < 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    seek_restart(i, lo);
    while (parse_next(i)) {
        if (i->klen < IKEY_TRAILER) return corrupt(i);
        if (ikey_cmp(i->key, i->klen, k, klen) >= 0) return;
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
