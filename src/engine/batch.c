/* Write batches (see batch.h for the encoding). A batch is a growable buffer
 * of encoded operations behind a 12-byte header; the db assigns the sequence
 * when it commits the batch.
 *
 * Invariants: buf holds exactly len bytes of a valid encoding at all times
 * (a failed append leaves the batch as it was and sets oom); the count in the
 * header equals the number of encoded operations. */
#include "engine/batch.h"

#include "util/coding.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

strata_batch *strata_batch_new(void)
{
    strata_batch *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->cap = 256;
    b->buf = malloc(b->cap);
    if (!b->buf) {
        free(b);
        return NULL;
    }
    strata_batch_clear(b);
    return b;
}

void strata_batch_free(strata_batch *b)
{
    if (!b) return;
    free(b->buf);
    free(b);
}

void strata_batch_clear(strata_batch *b)
{
    memset(b->buf, 0, BATCH_HEADER);
    b->len = BATCH_HEADER;
    b->oom = 0;
}

static int reserve(strata_batch *b, size_t extra)
{
    if (extra <= b->cap - b->len) return 0;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->oom = 1;
        return err_set(ERR_TOOBIG, "write batch: %zu more bytes is too big", extra);
    }
    size_t need = b->len + extra, cap = b->cap ? b->cap * 2 : 256;
    while (cap < need) cap *= 2;
    uint8_t *nb = realloc(b->buf, cap);
    if (!nb) {
        b->oom = 1;
        return err_set(ERR_NOMEM, "write batch: out of memory");
    }
    b->buf = nb;
    b->cap = cap;
    return 0;
}

static int add_op(strata_batch *b, int kind, uint32_t part, const void *k, size_t kl, const void *v,
                  size_t vl, int has_v)
{
    uint32_t count = get_u32(b->buf + 8);
    if (count == UINT32_MAX) return err_set(ERR_TOOBIG, "write batch: too many operations");
    if (kl > SIZE_MAX / 4 || vl > SIZE_MAX / 4)
        return err_set(ERR_TOOBIG, "write batch: key or value too big");
    int rc = reserve(b, 1 + 3 * VARINT_MAX + kl + vl);
    if (rc) return rc;
    uint8_t *p = b->buf + b->len;
    *p++ = (uint8_t)kind;
    p += put_varint(p, part);
    p += put_varint(p, kl);
    if (kl) memcpy(p, k, kl);
    p += kl;
    if (has_v) {
        p += put_varint(p, vl);
        if (vl) memcpy(p, v, vl);
        p += vl;
    }
    b->len = (size_t)(p - b->buf);
    put_u32(b->buf + 8, count + 1);
    return 0;
}

int strata_batch_put(strata_batch *b, uint32_t partition, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
    return add_op(b, STRATA_OP_PUT, partition, key, klen, val, vlen, 1);
}

int strata_batch_delete(strata_batch *b, uint32_t partition, const void *key, size_t klen)
{
    return add_op(b, STRATA_OP_DELETE, partition, key, klen, NULL, 0, 0);
}

int strata_batch_delete_range(strata_batch *b, uint32_t partition, const void *start, size_t slen,
                              const void *end, size_t elen)
{
    return add_op(b, STRATA_OP_DELETE_RANGE, partition, start, slen, end, elen, 1);
}

uint32_t strata_batch_count(const strata_batch *b)
{
    return get_u32(b->buf + 8);
}
size_t strata_batch_bytes(const strata_batch *b)
{
    return b->len;
}
void batch__set_seq(strata_batch *b, uint64_t seq)
{
    put_u64(b->buf, seq);
}
uint64_t batch__seq(const strata_batch *b)
{
    return get_u64(b->buf);
}

const uint8_t *batch__data(const strata_batch *b, size_t *len)
{
    *len = b->len;
    return b->buf;
}

int batch__append(strata_batch *dst, const strata_batch *src)
{
    size_t n = src->len - BATCH_HEADER;
    uint32_t dc = get_u32(dst->buf + 8), sc = get_u32(src->buf + 8);
    if (sc > UINT32_MAX - dc) return err_set(ERR_TOOBIG, "write batch: too many operations");
    int rc = reserve(dst, n);
    if (rc) return rc;
    /* src may be dst: its bytes [12, n + 12) do not overlap the tail. */
    memcpy(dst->buf + dst->len, src->buf + BATCH_HEADER, n);
    dst->len += n;
    put_u32(dst->buf + 8, dc + sc);
    return 0;
}

/* Walks ops; fn may be NULL (validation only). */
static int walk(const void *data, size_t len, strata_batch_fn fn, void *arg)
{
    const uint8_t *p = data, *end = p + len;
    if (len < BATCH_HEADER) return err_set(ERR_CORRUPT, "write batch: %zu bytes, too short", len);
    uint64_t seq = get_u64(p);
    uint32_t count = get_u32(p + 8);
    p += BATCH_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        if (p >= end) return err_set(ERR_CORRUPT, "write batch: op %u of %u missing", i, count);
        int kind = *p++;
        if (kind < STRATA_OP_PUT || kind > STRATA_OP_DELETE_RANGE)
            return err_set(ERR_CORRUPT, "write batch: op %u has bad kind %d", i, kind);
        uint64_t part, kl, vl = 0;
        size_t n = get_varint(p, end, &part);
        if (!n || part > UINT32_MAX) goto bad;
        p += n;
        if (!(n = get_varint(p, end, &kl)) || kl > (uint64_t)(end - p - n)) goto bad;
        p += n;
        const uint8_t *k = p, *v = NULL;
        p += kl;
        if (kind != STRATA_OP_DELETE) {
            if (!(n = get_varint(p, end, &vl)) || vl > (uint64_t)(end - p - n)) goto bad;
            v = p + n;
            p += n + vl;
        }
        if (fn) {
            int rc = fn(arg, seq + i, kind, (uint32_t)part, k, kl, v, vl);
            if (rc) return rc;
        }
        continue;
    bad:
        return err_set(ERR_CORRUPT, "write batch: op %u truncated or bad length", i);
    }
    if (p != end) return err_set(ERR_CORRUPT, "write batch: %zu trailing bytes", (size_t)(end - p));
    return 0;
}

int batch__validate(const void *data, size_t len)
{
    return walk(data, len, NULL, NULL);
}

int strata_batch_iterate(const void *data, size_t len, strata_batch_fn fn, void *arg)
{
    return walk(data, len, fn, arg);
}

int batch__from_encoded(strata_batch *b, const void *data, size_t len)
{
    int rc = batch__validate(data, len);
    if (rc) return rc;
    if (len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < len) cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb) return err_set(ERR_NOMEM, "write batch: out of memory");
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf, data, len);
    b->len = len;
    b->oom = 0;
    return 0;
}
