/* Reading through a version: point lookups level by level, the level
 * (concatenating) iterator, overlap queries and range tombstones.
 *
 * Lookup order is newest to oldest: L0 files newest first, then L1, L2...
 * Data only moves down, so for one user key every entry in a level is newer
 * than any entry of a deeper level; the first entry found at or below the
 * snapshot is the answer. Range tombstones of the files visited up to that
 * point are the only ones that can cover it. */
#include "engine/dbformat.h"
#include "engine/version.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static bool ukey_in_file(const file_meta *f, const void *k, size_t kl)
{
    size_t sl, ll;
    const uint8_t *s = fm_smallest_ukey(f, &sl), *l = fm_largest_ukey(f, &ll);
    return ukey_cmp(k, kl, s, sl) >= 0 && ukey_cmp(k, kl, l, ll) <= 0;
}

/* First file in a sorted level whose largest internal key >= ikey. */
static int find_file(file_meta **files, int n, const void *ikey, size_t iklen)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ikey_cmp(files[mid]->largest, files[mid]->llen, ikey, iklen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Looks in one file; updates *rd_seq with its tombstones. */
static int get_in_file(version_set *vs, file_meta *f, const void *ukey, size_t klen, uint64_t hash,
                       uint64_t snap, int *type, uint64_t *seq, void **val, size_t *vlen,
                       uint64_t *rd_seq)
{
    table_cache *tc = version_set_table_cache(vs);
    tc_handle *h;
    sst_reader *r;
    int rc = table_cache_get(tc, f->number, f->size, &h, &r);
    if (rc) return rc;
    if (f->range_dels) {
        uint64_t s = rangedel_max_seq(sst_reader_range_dels(r), ukey, klen, snap);
        if (s > *rd_seq) *rd_seq = s;
    }
    rc = sst_reader_get_hashed(r, ukey, klen, hash, snap, type, seq, val, vlen);
    table_cache_release(tc, h);
    return rc;
}

int version_get(version *v, uint32_t part, const void *ukey, size_t klen, uint64_t snap, int *type,
                uint64_t *seq, void **val, size_t *vlen, uint64_t *rd_seq)
{
    const part_levels *p = version_part(v, part);
    if (!p) return ERR_NOTFOUND;
    uint64_t hash = sst_key_hash(ukey, klen); /* one bloom hash for every file */
    for (int i = 0; i < p->n[0]; i++) {
        file_meta *f = p->files[0][i];
        if (!ukey_in_file(f, ukey, klen)) continue;
        int rc = get_in_file(v->vs, f, ukey, klen, hash, snap, type, seq, val, vlen, rd_seq);
        if (rc != ERR_NOTFOUND) return rc;
    }
    uint8_t stack[512];
    uint8_t *ik = klen + 8 <= sizeof(stack) ? stack : malloc(klen + 8);
    if (!ik) return err_set(ERR_NOMEM, "get: out of memory");
    size_t ikl = ikey_build(ik, ukey, klen, snap, TYPE_SEEK);
    int rc = ERR_NOTFOUND;
    for (int l = 1; l < VER_MAX_LEVELS && rc == ERR_NOTFOUND; l++) {
        if (!p->n[l]) continue;
        int i = find_file(p->files[l], p->n[l], ik, ikl);
        if (i >= p->n[l] || !ukey_in_file(p->files[l][i], ukey, klen)) continue;
        rc = get_in_file(v->vs, p->files[l][i], ukey, klen, hash, snap, type, seq, val, vlen,
                         rd_seq);
    }
    if (ik != stack) free(ik);
    return rc;
}

int version_range_dels(version *v, uint32_t part, rangedel_list *out)
{
    const part_levels *p = version_part(v, part);
    if (!p) return 0;
    table_cache *tc = version_set_table_cache(v->vs);
    for (int l = 0; l < VER_MAX_LEVELS; l++)
        for (int i = 0; i < p->n[l]; i++) {
            file_meta *f = p->files[l][i];
            if (!f->range_dels) continue;
            tc_handle *h;
            sst_reader *r;
            int rc = table_cache_get(tc, f->number, f->size, &h, &r);
            if (rc) return rc;
            rc = rangedel_list_append(out, sst_reader_range_dels(r));
            table_cache_release(tc, h);
            if (rc) return rc;
        }
    return 0;
}

int version_overlapping(const version *v, uint32_t part, int level, const void *lo, size_t lol,
                        const void *hi, size_t hil, file_meta ***out, int *n)
{
    *out = NULL;
    *n = 0;
    const part_levels *p = version_part(v, part);
    if (!p || !p->n[level]) return 0;
    file_meta **res = malloc(sizeof(*res) * (size_t)p->n[level]);
    if (!res) return err_set(ERR_NOMEM, "version: out of memory");
    int k = 0;
    for (int i = 0; i < p->n[level]; i++) {
        file_meta *f = p->files[level][i];
        size_t sl, ll;
        const uint8_t *s = fm_smallest_ukey(f, &sl), *l = fm_largest_ukey(f, &ll);
        if (lo && ukey_cmp(l, ll, lo, lol) < 0) continue;
        if (hi && ukey_cmp(s, sl, hi, hil) > 0) continue;
        res[k++] = f;
    }
    *out = res;
    *n = k;
    return 0;
}

/* ---- level iterator: a sorted, disjoint run of files ---- */
typedef struct level_iter {
    ikiter base;
    version_set *vs;
    file_meta **files;
    int n, idx; /* idx: file of `cur`, or -1 */
    bool fill_cache;
    tc_handle *h;
    ikiter *cur;
    int status;
} level_iter;

static void li_close_cur(level_iter *li)
{
    if (li->cur) iki_destroy(li->cur);
    if (li->h) table_cache_release(version_set_table_cache(li->vs), li->h);
    li->cur = NULL;
    li->h = NULL;
    li->idx = -1;
}

static bool li_open(level_iter *li, int idx)
{
    if (li->idx == idx && li->cur) return true;
    li_close_cur(li);
    if (idx < 0 || idx >= li->n) return false;
    sst_reader *r;
    int rc = table_cache_get(version_set_table_cache(li->vs), li->files[idx]->number,
                             li->files[idx]->size, &li->h, &r);
    if (rc) {
        li->h = NULL;
        li->status = rc;
        return false;
    }
    li->cur = sst_reader_iter(r, li->fill_cache);
    if (!li->cur) {
        li->status = err_set(ERR_NOMEM, "iterator: out of memory");
        li_close_cur(li);
        return false;
    }
    li->idx = idx;
    return true;
}

static bool li_valid(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    return li->cur && iki_valid(li->cur);
}

/* Moves forward over exhausted files. */
static void li_skip_forward(level_iter *li)
{
    while (li->cur && !iki_valid(li->cur)) {
        int rc = iki_status(li->cur);
        if (rc) {
            li->status = rc;
            li_close_cur(li);
            return;
        }
        int next = li->idx + 1;
        if (!li_open(li, next)) return;
        iki_seek_first(li->cur);
    }
}
static void li_skip_backward(level_iter *li)
{
    while (li->cur && !iki_valid(li->cur)) {
        int rc = iki_status(li->cur);
        if (rc) {
            li->status = rc;
            li_close_cur(li);
            return;
        }
        int prev = li->idx - 1;
        if (!li_open(li, prev)) return;
        iki_seek_last(li->cur);
    }
}

static void li_seek_first(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    if (li_open(li, 0)) iki_seek_first(li->cur);
    li_skip_forward(li);
}
static void li_seek_last(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    if (li_open(li, li->n - 1)) iki_seek_last(li->cur);
    li_skip_backward(li);
}
static void li_seek(ikiter *it, const void *k, size_t n)
{
    level_iter *li = (level_iter *)it;
    int i = find_file(li->files, li->n, k, n);
    if (i >= li->n) {
        li_close_cur(li);
        return;
    }
    if (li_open(li, i)) iki_seek(li->cur, k, n);
    li_skip_forward(li);
}
static void li_seek_for_prev(ikiter *it, const void *k, size_t n)
{
    level_iter *li = (level_iter *)it;
    /* last file whose smallest <= k */
    int lo = 0, hi = li->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ikey_cmp(li->files[mid]->smallest, li->files[mid]->slen, k, n) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int i = lo - 1;
    if (i < 0) {
        li_close_cur(li);
        return;
    }
    if (li_open(li, i)) {
        ikiter *c = li->cur;
        if (c->ops->seek_for_prev) {
            c->ops->seek_for_prev(c, k, n);
        } else {
            iki_seek(c, k, n);
            if (!iki_valid(c)) {
                if (!iki_status(c)) iki_seek_last(c);
            } else {
                size_t cl;
                const void *ck = iki_key(c, &cl);
                if (ikey_cmp(ck, cl, k, n) > 0) iki_prev(c);
            }
        }
    }
    li_skip_backward(li);
}
static void li_next(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    iki_next(li->cur);
    li_skip_forward(li);
}
static void li_prev(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    iki_prev(li->cur);
    li_skip_backward(li);
}
static const void *li_key(ikiter *it, size_t *n)
{
    return iki_key(((level_iter *)it)->cur, n);
}
static const void *li_value(ikiter *it, size_t *n)
{
    return iki_value(((level_iter *)it)->cur, n);
}
static int li_status(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    if (li->status) return li->status;
    return li->cur ? iki_status(li->cur) : 0;
}
static void li_destroy(ikiter *it)
{
    level_iter *li = (level_iter *)it;
    li_close_cur(li);
    for (int i = 0; i < li->n; i++) file_meta_unref(li->vs, li->files[i]);
    free(li->files);
    free(li);
}

static const ikiter_ops level_ops = {
    .valid = li_valid,
    .seek_first = li_seek_first,
    .seek_last = li_seek_last,
    .seek = li_seek,
    .seek_for_prev = li_seek_for_prev,
    .next = li_next,
    .prev = li_prev,
    .key = li_key,
    .value = li_value,
    .status = li_status,
    .destroy = li_destroy,
};

ikiter *version_level_iter(version_set *vs, file_meta **files, int n, bool fill_cache)
{
    level_iter *li = calloc(1, sizeof(*li));
    if (!li) return NULL;
    li->files = malloc(sizeof(file_meta *) * (size_t)(n ? n : 1));
    if (!li->files) {
        free(li);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        li->files[i] = files[i];
        file_meta_ref(files[i]);
    }
    li->base.ops = &level_ops;
    li->vs = vs;
    li->n = n;
    li->idx = -1;
    li->fill_cache = fill_cache;
    return &li->base;
}

int version_add_iters(version *v, uint32_t part, bool fill_cache, ikiter **kids, int max)
{
    const part_levels *p = version_part(v, part);
    if (!p) return 0;
    int k = 0;
    for (int i = 0; i < p->n[0]; i++) {
        if (k >= max) return err_set(ERR_INVAL, "too many iterators");
        kids[k] = version_level_iter(v->vs, &p->files[0][i], 1, fill_cache);
        if (!kids[k]) goto oom;
        k++;
    }
    for (int l = 1; l < VER_MAX_LEVELS; l++) {
        if (!p->n[l]) continue;
        if (k >= max) return err_set(ERR_INVAL, "too many iterators");
        kids[k] = version_level_iter(v->vs, p->files[l], p->n[l], fill_cache);
        if (!kids[k]) goto oom;
        k++;
    }
    return k;
oom:
    for (int i = 0; i < k; i++) iki_destroy(kids[i]);
    return err_set(ERR_NOMEM, "iterator: out of memory");
}
