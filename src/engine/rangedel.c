/* Range tombstone lists (see rangedel.h). Lists are short in practice (range
 * deletes are rare and compaction drops them at the bottom level), so lookups
 * scan linearly. */
#include "engine/rangedel.h"

#include "engine/dbformat.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

int rangedel_list_add(rangedel_list *l, const void *start, size_t slen, const void *end,
                      size_t elen, uint64_t seq)
{
    if (l->n == l->cap) {
        if (l->cap > (1 << 29)) return err_set(ERR_TOOBIG, "range tombstones: too many");
        int cap = l->cap ? l->cap * 2 : 4;
        rangedel *nv = realloc(l->v, sizeof(*nv) * (size_t)cap);
        if (!nv) return err_set(ERR_NOMEM, "range tombstones: out of memory");
        l->v = nv;
        l->cap = cap;
    }
    rangedel *t = &l->v[l->n];
    t->start = malloc(slen ? slen : 1);
    t->end = malloc(elen ? elen : 1);
    if (!t->start || !t->end) {
        free(t->start);
        free(t->end);
        return err_set(ERR_NOMEM, "range tombstones: out of memory");
    }
    if (slen) memcpy(t->start, start, slen);
    if (elen) memcpy(t->end, end, elen);
    t->slen = slen;
    t->elen = elen;
    t->seq = seq;
    l->n++;
    return 0;
}

int rangedel_list_append(rangedel_list *dst, const rangedel_list *src)
{
    int n = src->n; /* src may be dst: copy only what was there */
    for (int i = 0; i < n; i++) {
        const rangedel *t = &src->v[i];
        int rc = rangedel_list_add(dst, t->start, t->slen, t->end, t->elen, t->seq);
        if (rc) return rc;
    }
    return 0;
}

void rangedel_list_free(rangedel_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].start);
        free(l->v[i].end);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

uint64_t rangedel_max_seq(const rangedel_list *l, const void *ukey, size_t klen, uint64_t snap)
{
    uint64_t best = 0;
    for (int i = 0; i < l->n; i++) {
        const rangedel *t = &l->v[i];
        if (t->seq > snap || t->seq <= best) continue;
        if (ukey_cmp(t->start, t->slen, ukey, klen) <= 0 &&
            ukey_cmp(ukey, klen, t->end, t->elen) < 0)
            best = t->seq;
    }
    return best;
}

bool rangedel_covers(const rangedel_list *l, const void *ukey, size_t klen, uint64_t key_seq,
                     uint64_t snap)
{
    return l->n && rangedel_max_seq(l, ukey, klen, snap) > key_seq;
}
