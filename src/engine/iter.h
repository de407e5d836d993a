/* The internal iterator interface: every source of sorted internal keys
 * (memtable, SST block, SST file, level, merge of many) implements it, so
 * they compose. Keys are internal keys (dbformat.h); the merging iterator
 * and the db iterator above it turn them into user-visible entries.
 *
 * Contract: after seek*, next or prev, valid() says whether key()/value()
 * may be called; they stay valid until the iterator moves. next/prev require
 * valid(). status() is 0 or the error that stopped the iteration (an
 * iterator that hits corruption becomes invalid with a non-zero status). */
#ifndef STRATA_ENGINE_ITER_H
#define STRATA_ENGINE_ITER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ikiter ikiter;

typedef struct ikiter_ops {
    bool (*valid)(ikiter *it);
    void (*seek_first)(ikiter *it);
    void (*seek_last)(ikiter *it);
    /* First entry with internal key >= target. */
    void (*seek)(ikiter *it, const void *ikey, size_t len);
    /* Last entry with internal key <= target (optional: NULL means the
     * caller must seek and step back). */
    void (*seek_for_prev)(ikiter *it, const void *ikey, size_t len);
    void (*next)(ikiter *it);
    void (*prev)(ikiter *it);
    const void *(*key)(ikiter *it, size_t *len);
    const void *(*value)(ikiter *it, size_t *len);
    int (*status)(ikiter *it);
    void (*destroy)(ikiter *it);
} ikiter_ops;

struct ikiter {
    const ikiter_ops *ops;
};

static inline bool iki_valid(ikiter *it)
{
    return it->ops->valid(it);
}
static inline void iki_seek_first(ikiter *it)
{
    it->ops->seek_first(it);
}
static inline void iki_seek_last(ikiter *it)
{
    it->ops->seek_last(it);
}
static inline void iki_seek(ikiter *it, const void *k, size_t n)
{
    it->ops->seek(it, k, n);
}
static inline void iki_next(ikiter *it)
{
    it->ops->next(it);
}
static inline void iki_prev(ikiter *it)
{
    it->ops->prev(it);
}
static inline const void *iki_key(ikiter *it, size_t *n)
{
    return it->ops->key(it, n);
}
static inline const void *iki_value(ikiter *it, size_t *n)
{
    return it->ops->value(it, n);
}
static inline int iki_status(ikiter *it)
{
    return it->ops->status(it);
}
static inline void iki_destroy(ikiter *it)
{
    if (it) it->ops->destroy(it);
}

#endif
