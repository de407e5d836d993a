/* Version edits and their manifest encoding (docs/format/manifest.md).
 * Each edit is one record of the manifest: a sequence of tagged fields,
 * tag varint then the field. Decoding checks every length against the
 * record, so a malformed record is ERR_CORRUPT, never a wild read. */
#include "engine/version.h"

#include "util/coding.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

enum {
    TAG_LOG_NUMBER = 1,
    TAG_NEXT_FILE = 2,
    TAG_LAST_SEQ = 3,
    TAG_NEXT_PART = 4,
    TAG_FLUSHED_SEQ = 5,
    TAG_ADD_FILE = 10,
    TAG_DEL_FILE = 11,
    TAG_ADD_PART = 12,
    TAG_DROP_PART = 13,
};

file_meta *file_meta_new(void)
{
    file_meta *f = calloc(1, sizeof(*f));
    if (f) f->refs = 1;
    return f;
}

void file_meta_ref(file_meta *f)
{
    __atomic_fetch_add(&f->refs, 1, __ATOMIC_RELAXED);
}

void version_edit_init(version_edit *e)
{
    memset(e, 0, sizeof(*e));
}

void version_edit_free(version_edit *e)
{
    for (int i = 0; i < e->nadds; i++)
        if (e->adds[i].f) file_meta_unref(NULL, e->adds[i].f);
    for (int i = 0; i < e->nnew_parts; i++) free(e->new_parts[i].name);
    free(e->adds);
    free(e->dels);
    free(e->new_parts);
    free(e->drop_parts);
    memset(e, 0, sizeof(*e));
}

static int grow(void **p, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 8;
    void *np = realloc(*p, elem * (size_t)nc);
    if (!np) return err_set(ERR_NOMEM, "version edit: out of memory");
    *p = np;
    *cap = nc;
    return 0;
}

int version_edit_add_file(version_edit *e, int level, file_meta *f)
{
    if (grow((void **)&e->adds, &e->cadds, e->nadds, sizeof(ve_file))) return ERR_NOMEM;
    e->adds[e->nadds++] = (ve_file){level, f};
    return 0;
}

int version_edit_del_file(version_edit *e, int level, uint32_t part, uint64_t number)
{
    if (grow((void **)&e->dels, &e->cdels, e->ndels, sizeof(ve_del))) return ERR_NOMEM;
    e->dels[e->ndels++] = (ve_del){level, part, number};
    return 0;
}

int version_edit_add_part(version_edit *e, uint32_t id, const char *name)
{
    ve_part *np = realloc(e->new_parts, sizeof(*np) * (size_t)(e->nnew_parts + 1));
    if (!np) return err_set(ERR_NOMEM, "version edit: out of memory");
    e->new_parts = np;
    char *n = strdup(name);
    if (!n) return err_set(ERR_NOMEM, "version edit: out of memory");
    e->new_parts[e->nnew_parts++] = (ve_part){id, n};
    return 0;
}

int version_edit_drop_part(version_edit *e, uint32_t id)
{
    uint32_t *np = realloc(e->drop_parts, sizeof(*np) * (size_t)(e->ndrop_parts + 1));
    if (!np) return err_set(ERR_NOMEM, "version edit: out of memory");
    e->drop_parts = np;
    e->drop_parts[e->ndrop_parts++] = id;
    return 0;
}

/* ---- encoding ---- */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

static void wb_reserve(wbuf *b, size_t n)
{
    if (b->oom || b->len + n <= b->cap) return;
    size_t c = b->cap ? b->cap * 2 : 256;
    while (c < b->len + n) c *= 2;
    uint8_t *np = realloc(b->p, c);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = c;
}
static void wb_varint(wbuf *b, uint64_t v)
{
    wb_reserve(b, VARINT_MAX);
    if (!b->oom) b->len += put_varint(b->p + b->len, v);
}
static void wb_bytes(wbuf *b, const void *d, size_t n)
{
    wb_varint(b, n);
    wb_reserve(b, n);
    if (!b->oom && n) {
        memcpy(b->p + b->len, d, n);
        b->len += n;
    }
}

int version_edit_encode(const version_edit *e, uint8_t **out, size_t *len)
{
    wbuf b = {0};
    if (e->has_log_number) wb_varint(&b, TAG_LOG_NUMBER), wb_varint(&b, e->log_number);
    if (e->has_next_file) wb_varint(&b, TAG_NEXT_FILE), wb_varint(&b, e->next_file);
    if (e->has_last_seq) wb_varint(&b, TAG_LAST_SEQ), wb_varint(&b, e->last_seq);
    if (e->has_next_part) wb_varint(&b, TAG_NEXT_PART), wb_varint(&b, e->next_part);
    if (e->has_flushed_seq) wb_varint(&b, TAG_FLUSHED_SEQ), wb_varint(&b, e->flushed_seq);
    for (int i = 0; i < e->nnew_parts; i++) {
        wb_varint(&b, TAG_ADD_PART);
        wb_varint(&b, e->new_parts[i].id);
        wb_bytes(&b, e->new_parts[i].name, strlen(e->new_parts[i].name));
    }
    for (int i = 0; i < e->ndels; i++) {
        wb_varint(&b, TAG_DEL_FILE);
        wb_varint(&b, (uint64_t)e->dels[i].level);
        wb_varint(&b, e->dels[i].part);
        wb_varint(&b, e->dels[i].number);
    }
    for (int i = 0; i < e->nadds; i++) {
        const file_meta *f = e->adds[i].f;
        wb_varint(&b, TAG_ADD_FILE);
        wb_varint(&b, (uint64_t)e->adds[i].level);
        wb_varint(&b, f->part);
        wb_varint(&b, f->number);
        wb_varint(&b, f->size);
        wb_bytes(&b, f->smallest, f->slen);
        wb_bytes(&b, f->largest, f->llen);
        wb_varint(&b, f->smallest_seq);
        wb_varint(&b, f->largest_seq);
        wb_varint(&b, f->entries);
        wb_varint(&b, f->range_dels);
    }
    for (int i = 0; i < e->ndrop_parts; i++) {
        wb_varint(&b, TAG_DROP_PART);
        wb_varint(&b, e->drop_parts[i]);
    }
    if (b.oom) {
        free(b.p);
        return err_set(ERR_NOMEM, "version edit: out of memory");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

typedef struct rbuf {
    const uint8_t *p, *end;
    int bad;
} rbuf;

static uint64_t rb_varint(rbuf *r)
{
    uint64_t v = 0;
    if (r->bad) return 0;
    size_t n = get_varint(r->p, r->end, &v);
    if (!n) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}
static const uint8_t *rb_bytes(rbuf *r, size_t *len)
{
    uint64_t n = rb_varint(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *d = r->p;
    r->p += n;
    *len = (size_t)n;
    return d;
}

static int decode_file(rbuf *r, version_edit *e)
{
    uint64_t level = rb_varint(r), part = rb_varint(r);
    file_meta *f = file_meta_new();
    if (!f) return err_set(ERR_NOMEM, "version edit: out of memory");
    f->part = (uint32_t)part;
    f->number = rb_varint(r);
    f->size = rb_varint(r);
    size_t sl = 0, ll = 0;
    const uint8_t *s = rb_bytes(r, &sl), *l = rb_bytes(r, &ll);
    f->smallest_seq = rb_varint(r);
    f->largest_seq = rb_varint(r);
    f->entries = rb_varint(r);
    f->range_dels = rb_varint(r);
    if (r->bad || level >= VER_MAX_LEVELS || part > UINT32_MAX || sl < 8 || ll < 8) {
        file_meta_unref(NULL, f);
        return ERR_CORRUPT;
    }
    f->smallest = malloc(sl);
    f->largest = malloc(ll);
    if (!f->smallest || !f->largest) {
        file_meta_unref(NULL, f);
        return err_set(ERR_NOMEM, "version edit: out of memory");
    }
    memcpy(f->smallest, s, sl);
    memcpy(f->largest, l, ll);
    f->slen = sl;
    f->llen = ll;
    int rc = version_edit_add_file(e, (int)level, f);
    if (rc) file_meta_unref(NULL, f);
    return rc;
}

static int decode_field(rbuf *r, version_edit *e, uint64_t tag)
{
    switch (tag) {
    case TAG_LOG_NUMBER: e->has_log_number = true, e->log_number = rb_varint(r); return 0;
    case TAG_NEXT_FILE: e->has_next_file = true, e->next_file = rb_varint(r); return 0;
    case TAG_LAST_SEQ: e->has_last_seq = true, e->last_seq = rb_varint(r); return 0;
    case TAG_FLUSHED_SEQ: e->has_flushed_seq = true, e->flushed_seq = rb_varint(r); return 0;
    case TAG_NEXT_PART: {
        uint64_t v = rb_varint(r);
        if (v > UINT32_MAX) return ERR_CORRUPT;
        e->has_next_part = true, e->next_part = (uint32_t)v;
        return 0;
    }
    case TAG_ADD_FILE: return decode_file(r, e);
    case TAG_DEL_FILE: {
        uint64_t level = rb_varint(r), part = rb_varint(r), num = rb_varint(r);
        if (r->bad || level >= VER_MAX_LEVELS || part > UINT32_MAX) return ERR_CORRUPT;
        return version_edit_del_file(e, (int)level, (uint32_t)part, num);
    }
    case TAG_ADD_PART: {
        uint64_t id = rb_varint(r);
        size_t nl = 0;
        const uint8_t *n = rb_bytes(r, &nl);
        if (r->bad || id > UINT32_MAX || nl == 0 || nl > PART_NAME_MAX || memchr(n, 0, nl))
            return ERR_CORRUPT;
        char name[PART_NAME_MAX + 1];
        memcpy(name, n, nl);
        name[nl] = 0;
        return version_edit_add_part(e, (uint32_t)id, name);
    }
    case TAG_DROP_PART: {
        uint64_t id = rb_varint(r);
        if (r->bad || id > UINT32_MAX) return ERR_CORRUPT;
        return version_edit_drop_part(e, (uint32_t)id);
    }
    default: return ERR_CORRUPT;
    }
}

int version_edit_decode(version_edit *e, const void *data, size_t len)
{
    version_edit_init(e);
    rbuf r = {data, (const uint8_t *)data + len, 0};
    while (r.p < r.end) {
        uint64_t tag = rb_varint(&r);
        int rc = r.bad ? ERR_CORRUPT : decode_field(&r, e, tag);
        if (!rc && r.bad) rc = ERR_CORRUPT;
        if (rc) {
            version_edit_free(e);
            if (rc == ERR_CORRUPT)
                return err_set(ERR_CORRUPT, "bad field (tag %llu) at byte %zu of the record",
                               (unsigned long long)tag, (size_t)(r.p - (const uint8_t *)data));
            return rc;
        }
    }
    return 0;
}
