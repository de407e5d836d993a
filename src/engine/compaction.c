/* Compaction picking and the merge that writes flushes and compactions
 * (see compaction.h for the policy). */
#include "engine/compaction.h"

#include "engine/dbformat.h"
#include "engine/merge.h"
#include "util/err.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- picking ---- */
typedef struct cursor {
    uint32_t part;
    int level;
    uint8_t *key;
    size_t len;
} cursor;

struct compaction_picker {
    cursor *v;
    int n, cap;
};

compaction_picker *compaction_picker_new(void)
{
    return calloc(1, sizeof(compaction_picker));
}

void compaction_picker_free(compaction_picker *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) free(p->v[i].key);
    free(p->v);
    free(p);
}

static cursor *cursor_of(compaction_picker *p, uint32_t part, int level)
{
    for (int i = 0; i < p->n; i++)
        if (p->v[i].part == part && p->v[i].level == level) return &p->v[i];
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 16;
        cursor *nv = realloc(p->v, sizeof(*nv) * (size_t)nc);
        if (!nv) return NULL;
        p->v = nv;
        p->cap = nc;
    }
    p->v[p->n] = (cursor){part, level, NULL, 0};
    return &p->v[p->n++];
}

static uint64_t level_target(const compaction_limits *lim, int level)
{
    uint64_t t = lim->level1_max_bytes;
    for (int l = 1; l < level; l++) t *= (uint64_t)lim->size_ratio;
    return t;
}

static double level_score(const part_levels *p, int l, const compaction_limits *lim)
{
    if (l == 0) return (double)p->n[0] / (double)lim->level0_trigger;
    return (double)p->bytes[l] / (double)level_target(lim, l);
}

uint64_t compaction_pending_bytes(version *v, const compaction_limits *lim)
{
    uint64_t debt = 0;
    for (int i = 0; i < v->nparts; i++) {
        const part_levels *p = &v->parts[i];
        if (p->n[0] >= lim->level0_trigger) debt += p->bytes[0];
        for (int l = 1; l < lim->num_levels - 1; l++) {
            uint64_t t = level_target(lim, l);
            if (p->bytes[l] > t) debt += p->bytes[l] - t;
        }
    }
    return debt;
}

static void user_range(file_meta **fs, int n, const uint8_t **lo, size_t *lol, const uint8_t **hi,
                       size_t *hil)
{
    for (int i = 0; i < n; i++) {
        size_t sl, ll;
        const uint8_t *s = fm_smallest_ukey(fs[i], &sl), *l = fm_largest_ukey(fs[i], &ll);
        if (i == 0 || ukey_cmp(s, sl, *lo, *lol) < 0) *lo = s, *lol = sl;
        if (i == 0 || ukey_cmp(l, ll, *hi, *hil) > 0) *hi = l, *hil = ll;
    }
}

/* Fills in[1], bottommost and trivial_move for c with in[0] set. */
static int complete(compaction *c)
{
    const uint8_t *lo, *hi;
    size_t lol, hil;
    user_range(c->in[0], c->nin[0], &lo, &lol, &hi, &hil);
    if (c->out_level != c->level) {
        int rc = version_overlapping(c->v, c->part, c->out_level, lo, lol, hi, hil, &c->in[1],
                                     &c->nin[1]);
        if (rc) return rc;
    }
    if (c->nin[1]) {
        const uint8_t *lo2, *hi2;
        size_t lol2, hil2;
        user_range(c->in[1], c->nin[1], &lo2, &lol2, &hi2, &hil2);
        if (ukey_cmp(lo2, lol2, lo, lol) < 0) lo = lo2, lol = lol2;
        if (ukey_cmp(hi2, hil2, hi, hil) > 0) hi = hi2, hil = hil2;
    }
    c->bottommost = true;
    for (int l = c->out_level + 1; l < VER_MAX_LEVELS && c->bottommost; l++) {
        file_meta **o;
        int n;
        int rc = version_overlapping(c->v, c->part, l, lo, lol, hi, hil, &o, &n);
        if (rc) return rc;
        free(o);
        if (n) c->bottommost = false;
    }
    c->trivial_move = c->out_level != c->level && c->nin[0] == 1 && c->nin[1] == 0;
    return 0;
}

static compaction *new_compaction(version *v, uint32_t part, int level, int out_level)
{
    compaction *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->v = v;
    version_ref(v);
    c->part = part;
    c->level = level;
    c->out_level = out_level;
    return c;
}

void compaction_free(compaction *c)
{
    if (!c) return;
    free(c->in[0]);
    free(c->in[1]);
    version_unref(c->v);
    free(c);
}

compaction *compaction_pick(compaction_picker *pk, version *v, const compaction_limits *lim)
{
    double best = 1.0;
    const part_levels *bp = NULL;
    int bl = -1;
    for (int i = 0; i < v->nparts; i++)
        for (int l = 0; l < lim->num_levels - 1; l++) {
            double s = level_score(&v->parts[i], l, lim);
            if (s >= best) {
                best = s;
                bp = &v->parts[i];
                bl = l;
            }
        }
    if (!bp) return NULL;
    compaction *c = new_compaction(v, bp->id, bl, bl + 1);
    if (!c) return NULL;
    int n = bl == 0 ? bp->n[0] : 1;
    c->in[0] = malloc(sizeof(file_meta *) * (size_t)n);
    if (!c->in[0]) goto fail;
    if (bl == 0) {
        memcpy(c->in[0], bp->files[0], sizeof(file_meta *) * (size_t)n);
    } else {
        cursor *cur = cursor_of(pk, bp->id, bl);
        int pick = 0;
        if (cur && cur->key) {
            while (pick < bp->n[bl] && ikey_cmp(bp->files[bl][pick]->largest,
                                                bp->files[bl][pick]->llen, cur->key, cur->len) <= 0)
                pick++;
            if (pick == bp->n[bl]) pick = 0;
        }
        file_meta *f = bp->files[bl][pick];
        c->in[0][0] = f;
        if (cur) {
            uint8_t *k = malloc(f->llen);
            if (k) {
                memcpy(k, f->largest, f->llen);
                free(cur->key);
                cur->key = k;
                cur->len = f->llen;
            }
        }
    }
    c->nin[0] = n;
    if (complete(c)) goto fail;
    return c;
fail:
    compaction_free(c);
    return NULL;
}

compaction *compaction_for_range(version *v, uint32_t part, int level, int out_level,
                                 const void *lo, size_t lol, const void *hi, size_t hil)
{
    compaction *c = new_compaction(v, part, level, out_level);
    if (!c) return NULL;
    int rc = level == 0
                 ? version_overlapping(v, part, 0, NULL, 0, NULL, 0, &c->in[0], &c->nin[0])
                 : version_overlapping(v, part, level, lo, lol, hi, hil, &c->in[0], &c->nin[0]);
    if (rc || c->nin[0] == 0 || complete(c)) {
        compaction_free(c);
        return NULL;
    }
    return c;
}

uint64_t compaction_input_bytes(const compaction *c)
{
    uint64_t n = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < c->nin[w]; i++) n += c->in[w][i]->size;
    return n;
}

/* ---- output files ---- */
typedef struct out_state {
    merge_ctx *m;
    uint32_t part;
    int level;
    version_edit *e;
    const rangedel_list *keep; /* tombstones to write, clipped per file */
    sst_builder *b;
    uint64_t number;
    uint8_t *first, *last; /* first and last point keys of the open file */
    size_t firstl, lastl, firstcap, lastcap;
    uint8_t *lo; /* clip bound: user key where this file's range starts */
    size_t lol;
    bool has_lo;
    uint64_t sseq, lseq;
} out_state;

static int copy_into(uint8_t **buf, size_t *cap, size_t *len, const void *src, size_t n)
{
    if (n > *cap) {
        uint8_t *nb = realloc(*buf, n);
        if (!nb) return err_set(ERR_NOMEM, "compaction: out of memory");
        *buf = nb;
        *cap = n;
    }
    memcpy(*buf, src, n);
    *len = n;
    return 0;
}

static int out_open(out_state *o)
{
    char path[PATH_MAX];
    o->number = o->m->new_file_number(o->m->arg);
    if (o->m->pending_output) o->m->pending_output(o->m->arg, o->number, true);
    table_path(path, sizeof(path), version_set_dir(o->m->vs), o->number);
    int rc = sst_builder_open(version_set_env(o->m->vs), path, &o->m->sst, &o->b);
    if (rc && o->m->pending_output) o->m->pending_output(o->m->arg, o->number, false);
    o->firstl = o->lastl = 0;
    o->sseq = UINT64_MAX;
    o->lseq = 0;
    return rc;
}

static int out_add(out_state *o, const void *k, size_t kl, const void *v, size_t vl)
{
    int rc = o->b ? 0 : out_open(o);
    if (rc) return rc;
    if (!o->firstl) rc = copy_into(&o->first, &o->firstcap, &o->firstl, k, kl);
    if (!rc) rc = copy_into(&o->last, &o->lastcap, &o->lastl, k, kl);
    uint64_t s = ikey_seq(k, kl);
    if (s < o->sseq) o->sseq = s;
    if (s > o->lseq) o->lseq = s;
    return rc ? rc : sst_builder_add(o->b, k, kl, v, vl);
}

static uint8_t *sentinel(const void *ukey, size_t n, size_t *len)
{
    uint8_t *k = malloc(n + 8);
    if (k) *len = ikey_build(k, ukey, n, SEQ_MAX, TYPE_RANGE_DELETION);
    return k;
}

/* Closes the open file (opening one if tombstones need it) with range
 * [lo, hi); hi NULL = unbounded. */
static int out_finish(out_state *o, const void *hi, size_t hil)
{
    const rangedel_list *rd = o->keep;
    uint8_t *smallest = NULL, *largest = NULL;
    size_t sl = 0, ll = 0;
    int rc = 0;
    for (int i = 0; rd && i < rd->n && !rc; i++) {
        const rangedel *t = &rd->v[i];
        const uint8_t *s = t->start, *e = t->end;
        size_t sn = t->slen, en = t->elen;
        if (o->has_lo && ukey_cmp(s, sn, o->lo, o->lol) < 0) s = o->lo, sn = o->lol;
        if (hi && ukey_cmp(e, en, hi, hil) > 0) e = hi, en = hil;
        if (ukey_cmp(s, sn, e, en) >= 0) continue;
        if (!o->b && (rc = out_open(o))) break;
        rc = sst_builder_add_range_del(o->b, s, sn, e, en, t->seq);
        if (t->seq < o->sseq) o->sseq = t->seq;
        if (t->seq > o->lseq) o->lseq = t->seq;
        size_t kl;
        uint8_t *lk = sentinel(s, sn, &kl);
        if (!lk) rc = err_set(ERR_NOMEM, "compaction: out of memory");
        if (lk && (!smallest || ikey_cmp(lk, kl, smallest, sl) < 0)) {
            free(smallest);
            smallest = lk, sl = kl;
        } else {
            free(lk);
        }
        uint8_t *hk = sentinel(e, en, &kl);
        if (!hk) rc = err_set(ERR_NOMEM, "compaction: out of memory");
        if (hk && (!largest || ikey_cmp(hk, kl, largest, ll) > 0)) {
            free(largest);
            largest = hk, ll = kl;
        } else {
            free(hk);
        }
    }
    if (!rc && o->b) {
        file_meta *f = file_meta_new();
        sst_props props;
        memset(&props, 0, sizeof(props));
        rc = f ? sst_builder_finish(o->b, &props) : err_set(ERR_NOMEM, "out of memory");
        if (!f) sst_builder_abandon(o->b);
        o->b = NULL;
        if (!rc) {
            if (o->firstl && (!smallest || ikey_cmp(o->first, o->firstl, smallest, sl) < 0)) {
                free(smallest);
                smallest = malloc(o->firstl);
                if (smallest) memcpy(smallest, o->first, sl = o->firstl);
            }
            if (o->lastl && (!largest || ikey_cmp(o->last, o->lastl, largest, ll) > 0)) {
                free(largest);
                largest = malloc(o->lastl);
                if (largest) memcpy(largest, o->last, ll = o->lastl);
            }
            if (!smallest || !largest) rc = err_set(ERR_NOMEM, "compaction: out of memory");
        }
        if (!rc) {
            f->part = o->part;
            f->number = o->number;
            f->size = props.file_size;
            f->smallest = smallest, f->slen = sl;
            f->largest = largest, f->llen = ll;
            smallest = largest = NULL;
            f->smallest_seq = o->sseq;
            f->largest_seq = o->lseq;
            f->entries = props.entries;
            f->range_dels = props.range_dels;
            o->m->bytes_written += f->size;
            rc = version_edit_add_file(o->e, o->level, f);
        }
        if (rc && f) file_meta_unref(NULL, f);
        sst_props_free(&props);
    }
    free(smallest);
    free(largest);
    if (!rc && hi) {
        rc = copy_into(&o->lo, &o->lol, &o->lol, hi, hil);
        o->has_lo = true;
    }
    return rc;
}

/* True if no file below `level` in v may hold ukey. */
static bool bottom_for_key(const compaction *c, const void *ukey, size_t n)
{
    if (!c) return false;
    if (c->bottommost) return true;
    const part_levels *p = version_part(c->v, c->part);
    if (!p) return true;
    for (int l = c->out_level + 1; l < VER_MAX_LEVELS; l++)
        for (int i = 0; i < p->n[l]; i++) {
            size_t sl, ll;
            const uint8_t *s = fm_smallest_ukey(p->files[l][i], &sl);
            const uint8_t *e = fm_largest_ukey(p->files[l][i], &ll);
            if (ukey_cmp(ukey, n, s, sl) >= 0 && ukey_cmp(ukey, n, e, ll) <= 0) return false;
        }
    return true;
}

/* The merge loop shared by flush and compaction. c is NULL for a flush
 * (then `bottom` says whether the whole partition is empty below). */
static int merge_stream(merge_ctx *m, const compaction *c, bool bottom, uint32_t part, int level,
                        ikiter *in, const rangedel_list *all_rd, version_edit *e)
{
    rangedel_list keep = {0};
    int rc = 0;
    bool whole_bottom = c ? c->bottommost : bottom;
    for (int i = 0; all_rd && i < all_rd->n && !rc; i++) {
        const rangedel *t = &all_rd->v[i];
        if (whole_bottom && t->seq <= m->smallest_snapshot) continue;
        rc = rangedel_list_add(&keep, t->start, t->slen, t->end, t->elen, t->seq);
    }
    out_state o = {.m = m, .part = part, .level = level, .e = e, .keep = &keep};
    uint8_t *cur = NULL, *conv = NULL;
    size_t curl = 0, curcap = 0, convcap = 0;
    bool has_cur = false;
    uint64_t last_seq = UINT64_MAX;
    const uint64_t snap = m->smallest_snapshot;
    if (!rc) iki_seek_first(in);
    for (; !rc && iki_valid(in); iki_next(in)) {
        size_t kl, vl;
        const uint8_t *k = iki_key(in, &kl);
        const void *v = iki_value(in, &vl);
        if (kl < IKEY_TRAILER) {
            rc = err_set(ERR_CORRUPT, "compaction: malformed internal key");
            break;
        }
        size_t ul = ikey_user_len(kl);
        uint64_t s = ikey_seq(k, kl);
        int t = ikey_type(k, kl);
        bool new_key = !has_cur || ukey_cmp(k, ul, cur, curl) != 0;
        if (new_key) {
            if ((rc = copy_into(&cur, &curcap, &curl, k, ul))) break;
            has_cur = true;
            last_seq = UINT64_MAX;
        }
        bool drop = false;
        const void *ok = k;
        size_t okl = kl;
        if (last_seq <= snap) {
            drop = true; /* shadowed by a newer entry every snapshot sees */
        } else if (t == TYPE_DELETION && s <= snap && (c ? bottom_for_key(c, k, ul) : bottom)) {
            drop = true;
        } else if (all_rd && all_rd->n && rangedel_max_seq(all_rd, k, ul, snap) > s) {
            drop = true;
        } else if (t == TYPE_VALUE && m->filter && s <= snap &&
                   m->filter(m->filter_arg, part, k, ul, v, vl) == STRATA_FILTER_DROP) {
            if (c ? bottom_for_key(c, k, ul) : bottom) {
                drop = true;
            } else { /* an older version may live below: hide it */
                size_t need = kl;
                if (need > convcap) {
                    uint8_t *nc = realloc(conv, need);
                    if (!nc) {
                        rc = err_set(ERR_NOMEM, "compaction: out of memory");
                        break;
                    }
                    conv = nc, convcap = need;
                }
                okl = ikey_build(conv, k, ul, s, TYPE_DELETION);
                ok = conv;
                vl = 0;
            }
        }
        last_seq = s;
        if (drop) {
            m->dropped++;
            continue;
        }
        if (new_key && o.b && c && sst_builder_size(o.b) >= m->target_file_bytes)
            if ((rc = out_finish(&o, k, ul))) break;
        rc = out_add(&o, ok, okl, v, vl);
    }
    if (!rc) rc = iki_status(in);
    if (!rc) rc = out_finish(&o, NULL, 0);
    if (o.b) sst_builder_abandon(o.b);
    free(o.first);
    free(o.last);
    free(o.lo);
    free(cur);
    free(conv);
    rangedel_list_free(&keep);
    return rc;
}

int compaction_flush(merge_ctx *m, uint32_t part, ikiter *in, const rangedel_list *rdels,
                     bool bottommost, version_edit *e)
{
    return merge_stream(m, NULL, bottommost, part, 0, in, rdels, e);
}

int compaction_run(compaction *c, merge_ctx *m, version_edit *e)
{
    int rc = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < c->nin[w] && !rc; i++)
            rc =
                version_edit_del_file(e, w ? c->out_level : c->level, c->part, c->in[w][i]->number);
    if (rc) return rc;
    if (c->trivial_move) {
        file_meta_ref(c->in[0][0]);
        rc = version_edit_add_file(e, c->out_level, c->in[0][0]);
        if (rc) file_meta_unref(NULL, c->in[0][0]);
        return rc;
    }
    int nk = 0;
    ikiter *kids[VER_MAX_LEVELS + 64];
    ikiter **kv = kids;
    int total = c->nin[0] + 2;
    if (total > (int)(sizeof(kids) / sizeof(kids[0]))) {
        kv = malloc(sizeof(ikiter *) * (size_t)total);
        if (!kv) return err_set(ERR_NOMEM, "compaction: out of memory");
    }
    rangedel_list rd = {0};
    table_cache *tc = version_set_table_cache(m->vs);
    for (int w = 0; w < 2 && !rc; w++) {
        bool each = w == 0 && c->level == 0;
        for (int i = 0; i < c->nin[w] && !rc; i++) {
            file_meta *f = c->in[w][i];
            m->bytes_read += f->size;
            if (f->range_dels) {
                tc_handle *h;
                sst_reader *r;
                rc = table_cache_get(tc, f->number, f->size, &h, &r);
                if (!rc) {
                    rc = rangedel_list_append(&rd, sst_reader_range_dels(r));
                    table_cache_release(tc, h);
                }
            }
            if (each && !rc) {
                kv[nk] = version_level_iter(m->vs, &c->in[w][i], 1, false);
                if (!kv[nk++]) rc = err_set(ERR_NOMEM, "compaction: out of memory");
            }
        }
        if (!each && c->nin[w] && !rc) {
            kv[nk] = version_level_iter(m->vs, c->in[w], c->nin[w], false);
            if (!kv[nk++]) rc = err_set(ERR_NOMEM, "compaction: out of memory");
        }
    }
    ikiter *in = NULL;
    if (!rc) {
        in = merge_iter_new(kv, nk);
        nk = 0;
        if (!in) rc = err_set(ERR_NOMEM, "compaction: out of memory");
    }
    for (int i = 0; i < nk; i++) iki_destroy(kv[i]);
    if (kv != kids) free(kv);
    if (!rc) rc = merge_stream(m, c, c->bottommost, c->part, c->out_level, in, &rd, e);
    iki_destroy(in);
    rangedel_list_free(&rd);
    return rc;
}
