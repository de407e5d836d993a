/* Merging iterator (see merge.h). The current child is the one with the
 * smallest key (forward) or the largest (backward). Changing direction
 * repositions every other child around the current key, as LevelDB's
 * MergingIterator does.
 *
 * Invariants
 *  1. Forward: every valid child other than cur is positioned at a key
 *     > key(cur). Backward: at a key < key(cur).
 *  2. A child with a non-zero status makes the merge report that status and
 *     become invalid at once: stepping on over the other children would
 *     silently skip the failed child's entries (a gap in a scan). */
#include "engine/merge.h"

#include "engine/dbformat.h"

#include <stdlib.h>
#include <string.h>

typedef struct merge_iter {
    ikiter base;
    ikiter **kids;
    int n;
    int cur; /* -1: invalid */
    int forward;
} merge_iter;

/* Makes cur the child with the smallest key (dir 1) or the largest (dir -1);
 * none when a child has failed (invariant 2). One pass over the children. */
static void find_cur(merge_iter *m, int dir)
{
    int best = -1;
    const void *bk = NULL;
    size_t bl = 0;
    for (int i = 0; i < m->n; i++) {
        if (iki_status(m->kids[i]) != 0) {
            m->cur = -1;
            return;
        }
        if (!iki_valid(m->kids[i])) continue;
        size_t l;
        const void *k = iki_key(m->kids[i], &l);
        if (best < 0 || dir * ikey_cmp(k, l, bk, bl) < 0) {
            best = i;
            bk = k;
            bl = l;
        }
    }
    m->cur = best;
}

static bool mg_valid(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    return m->cur >= 0;
}
static void mg_seek_first(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iki_seek_first(m->kids[i]);
    m->forward = 1;
    find_cur(m, 1);
}
static void mg_seek_last(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iki_seek_last(m->kids[i]);
    m->forward = 0;
    find_cur(m, -1);
}
static void mg_seek(ikiter *it, const void *k, size_t n)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iki_seek(m->kids[i], k, n);
    m->forward = 1;
    find_cur(m, 1);
}

/* Last entry <= k in child c. */
static void child_seek_for_prev(ikiter *c, const void *k, size_t n)
{
    if (c->ops->seek_for_prev) {
        c->ops->seek_for_prev(c, k, n);
        return;
    }
    iki_seek(c, k, n);
    if (!iki_valid(c)) {
        if (iki_status(c) == 0) iki_seek_last(c);
        return;
    }
    size_t l;
    const void *ck = iki_key(c, &l);
    if (ikey_cmp(ck, l, k, n) > 0) iki_prev(c);
}

static void mg_seek_for_prev(ikiter *it, const void *k, size_t n)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) child_seek_for_prev(m->kids[i], k, n);
    m->forward = 0;
    find_cur(m, -1);
}

static void mg_next(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->forward) {
        /* Put every other child just after the current key. */
        size_t l;
        const void *k = iki_key(m->kids[m->cur], &l);
        uint8_t stack[256];
        uint8_t *copy = l <= sizeof(stack) ? stack : malloc(l);
        if (!copy) {
            m->cur = -1;
            return;
        }
        memcpy(copy, k, l);
        for (int i = 0; i < m->n; i++) {
            if (i == m->cur) continue;
            ikiter *c = m->kids[i];
            iki_seek(c, copy, l);
            if (iki_valid(c)) {
                size_t cl;
                const void *ck = iki_key(c, &cl);
                if (ikey_cmp(ck, cl, copy, l) == 0) iki_next(c);
            }
        }
        if (copy != stack) free(copy);
        m->forward = 1;
    }
    iki_next(m->kids[m->cur]);
    find_cur(m, 1);
}

static void mg_prev(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->forward) {
        size_t l;
        const void *k = iki_key(m->kids[m->cur], &l);
        uint8_t stack[256];
        uint8_t *copy = l <= sizeof(stack) ? stack : malloc(l);
        if (!copy) {
            m->cur = -1;
            return;
        }
        memcpy(copy, k, l);
        for (int i = 0; i < m->n; i++) {
            if (i == m->cur) continue;
            ikiter *c = m->kids[i];
            iki_seek(c, copy, l);
            if (iki_valid(c))
                iki_prev(c); /* keys equal to copy cannot exist in another child */
            else if (iki_status(c) == 0)
                iki_seek_last(c);
        }
        if (copy != stack) free(copy);
        m->forward = 0;
    }
    iki_prev(m->kids[m->cur]);
    find_cur(m, -1);
}

static const void *mg_key(ikiter *it, size_t *n)
{
    merge_iter *m = (merge_iter *)it;
    return iki_key(m->kids[m->cur], n);
}
static const void *mg_value(ikiter *it, size_t *n)
{
    merge_iter *m = (merge_iter *)it;
    return iki_value(m->kids[m->cur], n);
}
static int mg_status(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) {
        int rc = iki_status(m->kids[i]);
        if (rc) return rc;
    }
    return 0;
}
static void mg_destroy(ikiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (int i = 0; i < m->n; i++) iki_destroy(m->kids[i]);
    free(m->kids);
    free(m);
}

static const ikiter_ops merge_ops = {
    .valid = mg_valid,
    .seek_first = mg_seek_first,
    .seek_last = mg_seek_last,
    .seek = mg_seek,
    .seek_for_prev = mg_seek_for_prev,
    .next = mg_next,
    .prev = mg_prev,
    .key = mg_key,
    .value = mg_value,
    .status = mg_status,
    .destroy = mg_destroy,
};

ikiter *merge_iter_new(ikiter **children, int n)
{
    merge_iter *m = calloc(1, sizeof(*m));
    ikiter **kids = malloc(sizeof(*kids) * (size_t)(n ? n : 1));
    if (!m || !kids) {
        free(m);
        free(kids);
        for (int i = 0; i < n; i++) iki_destroy(children[i]);
        return NULL;
    }
    memcpy(kids, children, sizeof(*kids) * (size_t)n);
    m->base.ops = &merge_ops;
    m->kids = kids;
    m->n = n;
    m->cur = -1;
    m->forward = 1;
    return &m->base;
}
