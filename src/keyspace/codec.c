/* Keyspace encoding (see codec.h): key builders and the metadata value. */
#include "keyspace/codec.h"

#include <string.h>

#include "util/coding.h"

int ks__meta_key(ks__kbuf *b, uint8_t pdb, uint16_t slot, const void *key, size_t klen)
{
    if (ks__kb_init(b, META_HDR + klen)) return ERR_NOMEM;
    b->p[0] = pdb;
    ks__put_be16(b->p + 1, slot);
    b->p[3] = TAG_META;
    ks__put_be32(b->p + 4, ks__h32(key, klen));
    if (klen) memcpy(b->p + META_HDR, key, klen);
    b->len = META_HDR + klen;
    return 0;
}

int ks__field_key(ks__kbuf *b, uint8_t pdb, uint16_t slot, uint64_t ver, const void *f, size_t fl)
{
    if (ks__kb_init(b, FIELD_HDR + fl)) return ERR_NOMEM;
    b->p[0] = pdb;
    ks__put_be16(b->p + 1, slot);
    b->p[3] = TAG_FIELD;
    ks__put_be64(b->p + 4, ver);
    ks__put_be32(b->p + 12, ks__h32(f, fl));
    if (fl) memcpy(b->p + FIELD_HDR, f, fl);
    b->len = FIELD_HDR + fl;
    return 0;
}

/* [pdb][slot][0x02][ver] prefix and its end (ver + 1). */
void ks__field_prefix(uint8_t out[12], uint8_t pdb, uint16_t slot, uint64_t ver)
{
    out[0] = pdb;
    ks__put_be16(out + 1, slot);
    out[3] = TAG_FIELD;
    ks__put_be64(out + 4, ver);
}

int ks__exp_key(ks__kbuf *b, uint8_t pdb, int64_t when, uint16_t slot, const void *key, size_t klen)
{
    if (ks__kb_init(b, 14 + klen)) return ERR_NOMEM;
    b->p[0] = pdb;
    b->p[1] = b->p[2] = 0xFF;
    b->p[3] = TAG_EXP;
    ks__put_be64(b->p + 4, (uint64_t)when);
    ks__put_be16(b->p + 12, slot);
    if (klen) memcpy(b->p + 14, key, klen);
    b->len = 14 + klen;
    return 0;
}

/* Metadata value: [type][flags][expire u64 LE if flag][collections: version, count varints][string bytes] */
int ks__meta_encode(const ks_meta *m, const void *sval, size_t slen, uint8_t *room, size_t cap,
                    uint8_t **out, size_t *len)
{
    size_t n = 2 + (m->expire_ms ? 8 : 0) + (m->type == KS_STRING ? slen : 2 * VARINT_MAX);
    uint8_t *p = n <= cap ? room : malloc(n);
    if (!p) return ERR_NOMEM;
    size_t o = 0;
    p[o++] = (uint8_t)m->type;
    p[o++] = m->expire_ms ? MF_EXPIRE : 0;
    if (m->expire_ms) {
        put_u64(p + o, (uint64_t)m->expire_ms);
        o += 8;
    }
    if (m->type == KS_STRING) {
        if (slen) memcpy(p + o, sval, slen);
        o += slen;
    } else {
        o += put_varint(p + o, m->version);
        o += put_varint(p + o, m->count);
    }
    *out = p;
    *len = o;
    return 0;
}

int ks__meta_decode(ks_meta *m, const uint8_t *v, size_t vlen)
{
    if (vlen < 2) return err_set(ERR_CORRUPT, "keyspace: short metadata record");
    const uint8_t *p = v + 2, *end = v + vlen;
    m->type = v[0];
    m->expire_ms = 0;
    m->version = m->count = 0;
    m->val = NULL;
    m->vlen = 0;
    if (v[1] & MF_EXPIRE) {
        if (end - p < 8) return err_set(ERR_CORRUPT, "keyspace: short metadata expiry");
        m->expire_ms = (int64_t)get_u64(p);
        p += 8;
    }
    if (m->type == KS_STRING) {
        m->val = p;
        m->vlen = (size_t)(end - p);
    } else if (m->type == KS_HASH) {
        size_t a = get_varint(p, end, &m->version);
        size_t b = a ? get_varint(p + a, end, &m->count) : 0;
        if (!a || !b) return err_set(ERR_CORRUPT, "keyspace: bad collection metadata");
    } else {
        return err_set(ERR_CORRUPT, "keyspace: unknown type %d", m->type);
    }
    m->exists = m->stored = 1;
    m->stored_expire = m->expire_ms;
    m->stored_type = m->type;
    m->stored_version = m->version;
    m->stored_count = m->count;
    return 0;
}
