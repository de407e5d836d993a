/* Whole-value views of keys: DEBUG DIGEST / DIGEST-VALUE and the DUMP /
 * RESTORE payload (docs/keyspace.md has both formats). Built on the public
 * keyspace calls only, so it sees a transaction's pending writes like any
 * command does.
 *
 * Invariants
 *  1. The digest is a lane-wise sum of per-key hashes: independent of the
 *     order keys or fields are visited in.
 *  2. RESTORE validates the trailer and the whole body before it writes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "keyspace/internal.h"
#include "keyspace/keyspace.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"

/* ------------------------------------------------------ digest, DUMP/RESTORE */

/* 160-bit digest accumulator: three lanes summed mod 2^64 (order-free). */
typedef struct dig {
    uint64_t a, b, c;
} dig;

static void dig_add(dig *d, const void *p, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(p, n);
    d->a += h.low64;
    d->b += h.high64;
    d->c += XXH3_64bits_withSeed(p, n, 0x5354524154414442ull); /* "STRATADB" */
}

static void dig_hex(const dig *d, char out[41])
{
    if (!d->a && !d->b && !d->c) {
        memset(out, '0', 40);
        out[40] = 0;
        return;
    }
    snprintf(out, 41, "%016" PRIx64 "%016" PRIx64 "%08" PRIx32, d->a, d->b, (uint32_t)(d->c >> 32));
}

static int hash_field_digest(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    uint8_t *buf = malloc(flen + vlen + 16);
    if (!buf) return ERR_NOMEM;
    put_u64(buf, flen);
    memcpy(buf + 8, f, flen);
    put_u64(buf + 8 + flen, vlen);
    memcpy(buf + 16 + flen, v, vlen);
    dig_add(arg, buf, flen + vlen + 16);
    free(buf);
    return 0;
}

/* Value digest: type plus content (fields summed, so their order is free). */
static int value_digest(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, dig *d)
{
    memset(d, 0, sizeof(*d));
    if (m->type == KS_STRING) {
        uint8_t *buf = malloc(m->vlen + 1);
        if (!buf) return ERR_NOMEM;
        buf[0] = KS_STRING;
        memcpy(buf + 1, m->val, m->vlen);
        dig_add(d, buf, m->vlen + 1);
        free(buf);
        return 0;
    }
    uint8_t ty = (uint8_t)m->type;
    dig_add(d, &ty, 1);
    uint64_t next;
    return ks_hash_scan(t, db, key, klen, m, 0, 0, hash_field_digest, d, &next);
}

int ks_digest_value(ks_txn *t, int db, const void *key, size_t klen, char out[41])
{
    ks_meta m;
    dig d = {0, 0, 0};
    int rc = ks_lookup(t, db, key, klen, &m);
    if (!rc && m.exists) rc = value_digest(t, db, key, klen, &m, &d);
    ks_meta_release(&m);
    dig_hex(&d, out);
    return rc;
}

typedef struct keyvec {
    uint8_t **k;
    size_t *l;
    size_t n, cap;
} keyvec;

static int kv_add(void *arg, const void *key, size_t klen)
{
    keyvec *kv = arg;
    if (kv->n == kv->cap) {
        size_t cap = kv->cap ? kv->cap * 2 : 256;
        uint8_t **nk = realloc(kv->k, cap * sizeof(*nk));
        if (nk) kv->k = nk;
        size_t *nl = realloc(kv->l, cap * sizeof(*nl));
        if (nl) kv->l = nl;
        if (!nk || !nl) return ERR_NOMEM;
        kv->cap = cap;
    }
    uint8_t *c = malloc(klen ? klen : 1);
    if (!c) return ERR_NOMEM;
    memcpy(c, key, klen);
    kv->k[kv->n] = c;
    kv->l[kv->n++] = klen;
    return 0;
}

static void kv_free(keyvec *kv)
{
    for (size_t i = 0; i < kv->n; i++) free(kv->k[i]);
    free(kv->k);
    free(kv->l);
    memset(kv, 0, sizeof(*kv));
}

int ks_digest(ks_txn *t, char out[41])
{
    dig total = {0, 0, 0};
    int rc = 0;
    for (int db = 0; db < ks__txn_databases(t) && !rc; db++) {
        uint64_t cur = 0;
        do {
            keyvec kv = {0};
            rc = ks_scan(t, db, cur, 1024, KS_NONE, NULL, 0, kv_add, &kv, &cur);
            for (size_t i = 0; i < kv.n && !rc; i++) {
                ks_meta m;
                if ((rc = ks_lookup(t, db, kv.k[i], kv.l[i], &m))) break;
                dig vd;
                if (m.exists && !(rc = value_digest(t, db, kv.k[i], kv.l[i], &m, &vd))) {
                    /* Per key: db, key, expiry and the value digest, hashed together. */
                    size_t n = 4 + 8 + kv.l[i] + 24;
                    uint8_t *buf = malloc(n);
                    if (!buf) {
                        rc = ERR_NOMEM;
                    } else {
                        put_u32(buf, (uint32_t)db);
                        put_u64(buf + 4, (uint64_t)m.expire_ms);
                        memcpy(buf + 12, kv.k[i], kv.l[i]);
                        put_u64(buf + 12 + kv.l[i], vd.a);
                        put_u64(buf + 20 + kv.l[i], vd.b);
                        put_u64(buf + 28 + kv.l[i], vd.c);
                        dig_add(&total, buf, n);
                        free(buf);
                    }
                }
                ks_meta_release(&m);
            }
            kv_free(&kv);
        } while (cur && !rc);
    }
    dig_hex(&total, out);
    return rc;
}

/* DUMP payload: [type u8][body][format version u16 LE][crc32c u32 LE of all before].
 * string body: the bytes; hash body: varint n, n x (varint flen, field, varint vlen, value). */
#define DUMP_VERSION 1

int ks_dump(ks_txn *t, int db, const void *key, size_t klen, const ks_meta *m, uint8_t **out,
            size_t *len)
{
    if (!m->exists) return ERR_NOTFOUND;
    ks__fieldvec fv = {0};
    size_t n = 1 + 6;
    int rc = 0;
    if (m->type == KS_STRING) {
        n += m->vlen;
    } else {
        if ((rc = ks__fv_load(t, db, key, klen, m, &fv))) return rc;
        n += VARINT_MAX;
        for (size_t i = 0; i < fv.n; i++) n += 2 * VARINT_MAX + fv.fl[i] + fv.vl[i];
    }
    uint8_t *p = malloc(n);
    if (!p) {
        ks__fv_free(&fv);
        return ERR_NOMEM;
    }
    size_t o = 0;
    p[o++] = (uint8_t)m->type;
    if (m->type == KS_STRING) {
        memcpy(p + o, m->val, m->vlen);
        o += m->vlen;
    } else {
        o += put_varint(p + o, fv.n);
        for (size_t i = 0; i < fv.n; i++) {
            o += put_varint(p + o, fv.fl[i]);
            memcpy(p + o, fv.f[i], fv.fl[i]);
            o += fv.fl[i];
            o += put_varint(p + o, fv.vl[i]);
            memcpy(p + o, fv.v[i], fv.vl[i]);
            o += fv.vl[i];
        }
    }
    put_u16(p + o, DUMP_VERSION);
    o += 2;
    put_u32(p + o, crc32c(p, o));
    o += 4;
    ks__fv_free(&fv);
    *out = p;
    *len = o;
    return 0;
}

int ks_dump_verify(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len < 7 || get_u16(p + len - 6) != DUMP_VERSION ||
        get_u32(p + len - 4) != crc32c(p, len - 4))
        return ERR_CORRUPT;
    return 0;
}

int ks_restore(ks_txn *t, int db, const void *key, size_t klen, ks_meta *m, const void *data,
               size_t len, int64_t expire_ms)
{
    int rc = ks_dump_verify(data, len);
    if (rc) return rc;
    const uint8_t *p = data, *end = p + len - 6;
    int type = *p++;
    if (type == KS_STRING)
        return ks_set_string(t, db, key, klen, m, p, (size_t)(end - p), expire_ms);
    if (type != KS_HASH) return ERR_CORRUPT;
    /* Validate the whole body before writing anything. */
    uint64_t n;
    size_t a = get_varint(p, end, &n);
    if (!a || n == 0) return ERR_CORRUPT;
    const uint8_t *q = p + a;
    for (uint64_t i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            uint64_t l;
            size_t b = get_varint(q, end, &l);
            if (!b || l > (uint64_t)(end - q - b)) return ERR_CORRUPT;
            q += b + l;
        }
    }
    if (q != end) return ERR_CORRUPT;
    /* Replace: the key becomes a new hash. */
    if (m->exists && (rc = ks_delete(t, db, key, klen, m)) < 0) return rc;
    rc = 0;
    m->exists = 0;
    q = p + a;
    for (uint64_t i = 0; i < n && !rc; i++) {
        uint64_t fl = 0, vl = 0;
        q += get_varint(q, end, &fl);
        const uint8_t *f = q;
        q += fl;
        q += get_varint(q, end, &vl);
        int added;
        rc = ks_hash_put(t, db, key, klen, m, f, fl, q, vl, &added);
        q += vl;
    }
    if (rc) return rc;
    m->expire_ms = expire_ms;
    return ks_hash_commit(t, db, key, klen, m);
}
