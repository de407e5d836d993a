/* SST files: builder, reader and two-level iterator (see sst.h and
 * docs/format/sst.md for the byte layout).
 *
 * Invariants:
 *  1. A file is [data blocks][range-del block][filter block][props block]
 *     [index block][footer]; every block is payload + 5-byte trailer
 *     (type u8, masked CRC32C of payload+type). Handles name the payload only.
 *  2. The index block has one entry per data block, in file order; its key
 *     is an internal key >= every key of the block and < every key of the
 *     next block; its value is varint offset | varint size.
 *  3. The filter is one bloom filter over the distinct user keys of the
 *     whole file (no partitions); a file without filter has a zero handle.
 *     From version 2 it is cache-line blocked: all probes of a key fall in
 *     one 64-byte line, so a lookup costs one memory access per file
 *     instead of k (version 1 files, probes spread over the whole filter,
 *     are still read).
 *  4. The reader never trusts a length it read: every handle is checked
 *     against the file size, every decompressed size against a ratio bound,
 *     every block trailer by block_new. Every ERR_CORRUPT names the file and
 *     an offset.
 *  5. The index, filter, props and range tombstones stay pinned in the
 *     reader; data blocks go through the shared block cache keyed by
 *     (file number, block offset).
 *  6. A reader is refcounted: every iterator holds a reference, so closing a
 *     reader while iterators are alive defers the free to the last of them.
 *  7. Bytes come from a read-only mapping of the whole file when the env
 *     offers one (and the file is as long as expected), else from pread;
 *     either way every block is checked the same way. Cached blocks are
 *     copies (decompressed or not), never pointers into the mapping, so a
 *     reader may be closed (unmapped) while its blocks stay cached.
 *  8. Point lookups (sst_reader_get*) use no iterator: block_find on the
 *     index, then on the one data block it names. When that block has no
 *     entry >= the key (the key falls between the block's last key and a
 *     shortened separator), they fall back to the two-level iterator, which
 *     moves on to the next block.
 *
 * Locking: a builder belongs to one thread. A reader is immutable after
 * open and safe to use from many threads (the cache locks itself; the bloom
 * counter is atomic). */
#include "engine/sst.h"

#include "engine/dbformat.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"

#include <lz4.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#define BLOCK_TRAILER   5
#define MAX_BLOCK_BYTES (1ull << 30) /* largest uncompressed block */
#define LZ4_MAX_RATIO   255ull
#define ZSTD_MAX_RATIO  32768ull
#define PROPS_FIELDS    8

/* Footer layout (all little-endian). */
enum {
    FOOT_INDEX = 0,     /* offset u64 | size u32 */
    FOOT_FILTER = 12,   /* offset u64 | size u32 (size 0: no filter) */
    FOOT_PROPS = 24,    /* offset u64 | size u32 */
    FOOT_RANGEDEL = 36, /* offset u64 | size u32 */
    FOOT_VERSION = 48,  /* u32 */
    FOOT_MAGIC = 52,    /* u64 */
    FOOT_CRC = 60,      /* masked CRC32C of bytes [0, 60) */
    FOOT_END = 64,
};
_Static_assert(FOOT_FILTER == FOOT_INDEX + 12 && FOOT_PROPS == FOOT_FILTER + 12 &&
                   FOOT_RANGEDEL == FOOT_PROPS + 12 && FOOT_VERSION == FOOT_RANGEDEL + 12,
               "footer handles are 12 bytes each");
_Static_assert(FOOT_MAGIC == FOOT_VERSION + 4 && FOOT_CRC == FOOT_MAGIC + 8 &&
                   FOOT_END == FOOT_CRC + 4,
               "footer fields are contiguous");
_Static_assert(FOOT_END == SST_FOOTER, "footer is SST_FOOTER bytes");

enum { CT_NONE = 0, CT_LZ4 = 1, CT_ZSTD = 2 }; /* == enum strata_compression */

typedef struct bhandle {
    uint64_t off, size; /* payload only; the trailer follows */
} bhandle;

static void put_handle(uint8_t *p, bhandle h)
{
    put_u64(p, h.off);
    put_u32(p + 8, (uint32_t)h.size);
}
static bhandle get_handle(const uint8_t *p)
{
    bhandle h = {get_u64(p), get_u32(p + 8)};
    return h;
}

/* Bloom probe positions: double hashing over one XXH3 hash. */
static inline uint64_t bloom_hash(const void *ukey, size_t klen)
{
    return XXH3_64bits(ukey, klen);
}
static inline uint64_t bloom_delta(uint64_t h)
{
    h ^= 0x9e3779b97f4a7c15ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h | 1;
}
static int bloom_probes(int bits_per_key)
{
    int k = (int)(bits_per_key * 0.69); /* ln 2 */
    return k < 1 ? 1 : k > 30 ? 30 : k;
}

/* Blocked filter (version 2): the high 32 bits of the hash pick the line
 * (multiply-shift, no division), the low 32 bits are remixed by an odd
 * multiplier for each probe, whose top 9 bits pick the bit of the line. */
#define BLOOM_LINE_BITS 512
static inline uint64_t bloom_line(uint64_t h, uint64_t nlines)
{
    return ((h >> 32) * nlines) >> 32;
}
static inline uint32_t bloom_next(uint32_t x)
{
    return x * 0x9e3779b9u;
}

/* ---------------------------------------------------------------- builder */

struct sst_builder {
    env_t *env;
    env_file *f;
    char *path;
    sst_options o;
    uint64_t off; /* bytes appended so far */
    block_builder data, index;
    uint8_t *last; /* last internal key added */
    size_t last_len, last_cap;
    uint8_t *sep; /* scratch for index separators */
    size_t sep_cap;
    int pending_index; /* a data block was written, its index entry not yet */
    bhandle pending;
    uint64_t *hashes; /* bloom hashes of distinct user keys */
    size_t nhash, cap_hash;
    rangedel_list rdels;
    sst_props p;
    uint8_t *cbuf; /* compression output */
    size_t ccap;
    ZSTD_CCtx *zc;
    uint64_t data_blocks;
    int status; /* sticky first error */
};

static int grow_buf(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    uint8_t *nb = realloc(*buf, c);
    if (!nb) return err_set(ERR_NOMEM, "sst: out of memory");
    *buf = nb;
    *cap = c;
    return 0;
}

static int fail(sst_builder *b, int rc)
{
    if (!b->status) b->status = rc;
    return rc;
}

int sst_builder_open(env_t *env, const char *path, const sst_options *o, sst_builder **out)
{
    if (o->compression < CT_NONE || o->compression > CT_ZSTD)
        return err_set(ERR_INVAL, "sst: unknown compression %d", o->compression);
    if (o->bloom_bits_per_key < 0 || o->bloom_bits_per_key > 1000)
        return err_set(ERR_INVAL, "sst: bloom_bits_per_key %d out of range", o->bloom_bits_per_key);
    sst_builder *b = calloc(1, sizeof(*b));
    if (!b) return err_set(ERR_NOMEM, "sst: out of memory");
    int rc = ERR_NOMEM;
    b->env = env;
    b->o = *o;
    if (!b->o.block_size) b->o.block_size = 4096;
    if (b->o.compression == CT_ZSTD && !b->o.zstd_level) b->o.zstd_level = 3;
    block_builder_init(&b->data, o->restart_interval);
    block_builder_init(&b->index, 1);
    b->p.smallest_seq = UINT64_MAX;
    if (!(b->path = strdup(path))) {
        err_set(ERR_NOMEM, "sst: out of memory");
        goto err;
    }
    if (b->o.compression == CT_ZSTD && !(b->zc = ZSTD_createCCtx())) {
        err_set(ERR_NOMEM, "sst: out of memory");
        goto err;
    }
    rc = env_open(env, path, ENV_WRITE | ENV_TRUNC, &b->f);
    if (rc) goto err;
    *out = b;
    return 0;
err:
    block_builder_free(&b->data);
    block_builder_free(&b->index);
    ZSTD_freeCCtx(b->zc);
    free(b->path);
    free(b);
    return rc;
}

/* Appends payload + trailer, compressing when allowed and worth it. */
static int write_block(sst_builder *b, const uint8_t *raw, size_t len, int compress, bhandle *h)
{
    if (len > MAX_BLOCK_BYTES)
        return fail(b, err_set(ERR_TOOBIG, "%s: block of %zu bytes at offset %llu is too big",
                               b->path, len, (unsigned long long)b->off));
    const uint8_t *payload = raw;
    size_t plen = len;
    uint8_t type = CT_NONE;
    int ct = compress ? b->o.compression : CT_NONE;
    if (ct != CT_NONE && len > 0) {
        size_t bound = ct == CT_LZ4 ? (size_t)LZ4_compressBound((int)len) : ZSTD_compressBound(len);
        if (grow_buf(&b->cbuf, &b->ccap, bound + VARINT_MAX)) return fail(b, ERR_NOMEM);
        size_t hl = put_varint(b->cbuf, len), n = 0;
        if (ct == CT_LZ4) {
            int r = len <= LZ4_MAX_INPUT_SIZE
                        ? LZ4_compress_default((const char *)raw, (char *)b->cbuf + hl, (int)len,
                                               (int)(b->ccap - hl))
                        : 0;
            n = r > 0 ? (size_t)r : 0;
        } else {
            size_t r =
                ZSTD_compressCCtx(b->zc, b->cbuf + hl, b->ccap - hl, raw, len, b->o.zstd_level);
            n = ZSTD_isError(r) ? 0 : r;
        }
        if (n && hl + n <= len - len / 8) { /* keep it only if it saves >= 12.5% */
            payload = b->cbuf;
            plen = hl + n;
            type = (uint8_t)ct;
        }
    }
    uint8_t t[BLOCK_TRAILER];
    t[0] = type;
    put_u32(t + 1, crc32c_mask(crc32c_extend(crc32c(payload, plen), t, 1)));
    int rc = plen ? env_append(b->f, payload, plen) : 0;
    if (!rc) rc = env_append(b->f, t, sizeof(t));
    if (rc) return fail(b, rc);
    h->off = b->off;
    h->size = plen;
    b->off += plen + BLOCK_TRAILER;
    return 0;
}

static int flush_data(sst_builder *b)
{
    if (block_builder_empty(&b->data)) return 0;
    size_t len;
    const uint8_t *raw = block_builder_finish(&b->data, &len);
    if (!raw) return fail(b, ERR_NOMEM);
    int rc = write_block(b, raw, len, 1, &b->pending);
    if (rc) return rc;
    block_builder_reset(&b->data);
    b->pending_index = 1;
    b->data_blocks++;
    return 0;
}

/* Index key for the pending block: a (possibly shorter) internal key k with
 * last <= k < next, or the successor of last when next is NULL. */
static int add_index_entry(sst_builder *b, const uint8_t *next, size_t nlen)
{
    const uint8_t *a = b->last;
    size_t alen = b->last_len, ua = alen - IKEY_TRAILER;
    if (grow_buf(&b->sep, &b->sep_cap, alen)) return fail(b, ERR_NOMEM);
    size_t slen = 0;
    if (next) {
        size_t un = nlen - IKEY_TRAILER, n = ua < un ? ua : un, i = 0;
        while (i < n && a[i] == next[i]) i++;
        if (i < n && a[i] < 0xff && a[i] + 1 < next[i]) slen = i + 1;
    } else {
        size_t i = 0;
        while (i < ua && a[i] == 0xff) i++;
        if (i < ua) slen = i + 1;
    }
    if (slen) { /* user key a[0..slen-1] with its last byte bumped sorts after a */
        memcpy(b->sep, a, slen);
        b->sep[slen - 1]++;
        put_u64(b->sep + slen, ikey_pack(SEQ_MAX, TYPE_SEEK));
        slen += IKEY_TRAILER;
    }
    if (!slen || slen >= alen) { /* no gain: the last key itself */
        memcpy(b->sep, a, alen);
        slen = alen;
    }
    uint8_t hv[2 * VARINT_MAX];
    size_t hn = put_varint(hv, b->pending.off);
    hn += put_varint(hv + hn, b->pending.size);
    if (block_builder_add(&b->index, b->sep, slen, hv, hn)) return fail(b, ERR_NOMEM);
    b->pending_index = 0;
    return 0;
}

int sst_builder_add(sst_builder *b, const void *ikey, size_t iklen, const void *val, size_t vlen)
{
    if (b->status) return b->status;
    if (iklen < IKEY_TRAILER)
        return err_set(ERR_INVAL, "%s: internal key of %zu bytes", b->path, iklen);
    const uint8_t *k = ikey;
    size_t uk = iklen - IKEY_TRAILER;
    int same_user = 0;
    if (b->p.entries) {
        if (ikey_cmp(b->last, b->last_len, k, iklen) >= 0)
            return err_set(ERR_INVAL, "%s: keys added out of order", b->path);
        same_user = ukey_cmp(b->last, b->last_len - IKEY_TRAILER, k, uk) == 0;
    }
    if (b->pending_index && add_index_entry(b, k, iklen)) return b->status;
    if (b->o.bloom_bits_per_key > 0 && !same_user) {
        if (b->nhash == b->cap_hash) {
            size_t cap = b->cap_hash ? b->cap_hash * 2 : 1024;
            uint64_t *nh = realloc(b->hashes, cap * sizeof(*nh));
            if (!nh) return fail(b, err_set(ERR_NOMEM, "sst: out of memory"));
            b->hashes = nh;
            b->cap_hash = cap;
        }
        b->hashes[b->nhash++] = bloom_hash(k, uk);
    }
    if (grow_buf(&b->last, &b->last_cap, iklen)) return fail(b, ERR_NOMEM);
    memcpy(b->last, k, iklen);
    b->last_len = iklen;
    if (!b->p.entries) {
        if (!(b->p.smallest = malloc(iklen))) return fail(b, err_set(ERR_NOMEM, "sst: oom"));
        memcpy(b->p.smallest, k, iklen);
        b->p.smallest_len = iklen;
    }
    uint64_t seq = ikey_seq(k, iklen);
    if (seq < b->p.smallest_seq) b->p.smallest_seq = seq;
    if (seq > b->p.largest_seq) b->p.largest_seq = seq;
    b->p.entries++;
    b->p.raw_key_bytes += iklen;
    b->p.raw_value_bytes += vlen;
    if (block_builder_add(&b->data, k, iklen, val, vlen)) return fail(b, ERR_NOMEM);
    if (block_builder_size_estimate(&b->data) >= b->o.block_size) return flush_data(b);
    return 0;
}

int sst_builder_add_range_del(sst_builder *b, const void *start, size_t slen, const void *end,
                              size_t elen, uint64_t seq)
{
    if (b->status) return b->status;
    if (seq > SEQ_MAX) return err_set(ERR_INVAL, "%s: range tombstone seq too large", b->path);
    int rc = rangedel_list_add(&b->rdels, start, slen, end, elen, seq);
    if (rc) return fail(b, rc);
    b->p.range_dels++;
    if (seq < b->p.smallest_seq) b->p.smallest_seq = seq;
    if (seq > b->p.largest_seq) b->p.largest_seq = seq;
    return 0;
}

uint64_t sst_builder_size(const sst_builder *b)
{
    return b->off + (block_builder_empty(&b->data) ? 0 : block_builder_size_estimate(&b->data));
}

uint64_t sst_builder_entries(const sst_builder *b)
{
    return b->p.entries;
}

static int rdel_cmp(const void *x, const void *y)
{
    const rangedel *a = x, *c = y;
    int r = ukey_cmp(a->start, a->slen, c->start, c->slen);
    if (r) return r;
    return a->seq > c->seq ? -1 : a->seq < c->seq;
}

/* Replaces *dst with a copy of k when better (want < 0: smaller). */
static int widen(uint8_t **dst, size_t *dlen, const uint8_t *k, size_t klen, int want)
{
    if (*dst) {
        int c = ikey_cmp(k, klen, *dst, *dlen);
        if (want < 0 ? c >= 0 : c <= 0) return 0;
    }
    uint8_t *n = malloc(klen);
    if (!n) return err_set(ERR_NOMEM, "sst: out of memory");
    memcpy(n, k, klen);
    free(*dst);
    *dst = n;
    *dlen = klen;
    return 0;
}

static int write_range_dels(sst_builder *b, bhandle *h)
{
    block_builder rb;
    block_builder_init(&rb, b->o.restart_interval);
    uint8_t *k = NULL;
    size_t kcap = 0;
    int rc = 0;
    if (b->rdels.n) qsort(b->rdels.v, (size_t)b->rdels.n, sizeof(rangedel), rdel_cmp);
    for (int i = 0; i < b->rdels.n && !rc; i++) {
        const rangedel *t = &b->rdels.v[i];
        size_t need = (t->slen > t->elen ? t->slen : t->elen) + IKEY_TRAILER;
        if ((rc = grow_buf(&k, &kcap, need))) break;
        size_t kl = ikey_build(k, t->start, t->slen, t->seq, TYPE_RANGE_DELETION);
        if ((rc = block_builder_add(&rb, k, kl, t->end, t->elen))) break;
        if ((rc = widen(&b->p.smallest, &b->p.smallest_len, k, kl, -1))) break;
        kl = ikey_build(k, t->end, t->elen, SEQ_MAX, TYPE_RANGE_DELETION);
        rc = widen(&b->p.largest, &b->p.largest_len, k, kl, 1);
    }
    if (!rc) {
        size_t len;
        const uint8_t *raw = block_builder_finish(&rb, &len);
        rc = raw ? write_block(b, raw, len, 1, h) : ERR_NOMEM;
    }
    block_builder_free(&rb);
    free(k);
    return rc ? fail(b, rc) : 0;
}

/* The version 2 filter: nlines 64-byte lines, then k. */
static int write_blocked_filter(sst_builder *b, bhandle *h)
{
    uint64_t nbits = (uint64_t)b->nhash * (uint64_t)b->o.bloom_bits_per_key;
    uint64_t nlines = (nbits + BLOOM_LINE_BITS - 1) / BLOOM_LINE_BITS;
    if (nlines > UINT32_MAX) nlines = UINT32_MAX; /* the line pick multiplies by 32 bits */
    size_t nbytes = (size_t)nlines * (BLOOM_LINE_BITS / 8);
    int k = bloom_probes(b->o.bloom_bits_per_key);
    uint8_t *f = calloc(nbytes + 1, 1);
    if (!f) return fail(b, err_set(ERR_NOMEM, "sst: out of memory"));
    for (size_t i = 0; i < b->nhash; i++) {
        uint64_t hh = b->hashes[i];
        uint8_t *line = f + bloom_line(hh, nlines) * (BLOOM_LINE_BITS / 8);
        uint32_t x = (uint32_t)hh;
        for (int j = 0; j < k; j++, x = bloom_next(x))
            line[x >> 26] |= (uint8_t)(1u << (x >> 23 & 7));
    }
    f[nbytes] = (uint8_t)k;
    int rc = write_block(b, f, nbytes + 1, 0, h);
    free(f);
    return rc;
}

static int write_filter(sst_builder *b, bhandle *h)
{
    h->off = h->size = 0;
    if (b->o.bloom_bits_per_key <= 0 || b->nhash == 0) return 0;
    if (b->o.format_version != 1) return write_blocked_filter(b, h);
    uint64_t nbits = (uint64_t)b->nhash * (uint64_t)b->o.bloom_bits_per_key;
    if (nbits < 64) nbits = 64;
    size_t nbytes = (size_t)((nbits + 7) / 8);
    nbits = (uint64_t)nbytes * 8;
    int k = bloom_probes(b->o.bloom_bits_per_key);
    uint8_t *f = calloc(nbytes + 1, 1);
    if (!f) return fail(b, err_set(ERR_NOMEM, "sst: out of memory"));
    for (size_t i = 0; i < b->nhash; i++) {
        uint64_t h1 = b->hashes[i], h2 = bloom_delta(h1);
        for (int j = 0; j < k; j++) {
            uint64_t bit = (h1 + (uint64_t)j * h2) % nbits;
            f[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        }
    }
    f[nbytes] = (uint8_t)k;
    int rc = write_block(b, f, nbytes + 1, 0, h);
    free(f);
    return rc;
}

static int write_props(sst_builder *b, bhandle *h)
{
    size_t cap = (PROPS_FIELDS + 3) * VARINT_MAX + b->p.smallest_len + b->p.largest_len;
    uint8_t *buf = malloc(cap), *p = buf;
    if (!buf) return fail(b, err_set(ERR_NOMEM, "sst: out of memory"));
    p += put_varint(p, PROPS_FIELDS);
    p += put_varint(p, b->p.entries);
    p += put_varint(p, b->p.range_dels);
    p += put_varint(p, b->p.smallest_seq);
    p += put_varint(p, b->p.largest_seq);
    p += put_varint(p, b->p.raw_key_bytes);
    p += put_varint(p, b->p.raw_value_bytes);
    p += put_varint(p, b->data_blocks);
    p += put_varint(p, (uint64_t)b->o.compression);
    p += put_varint(p, b->p.smallest_len);
    if (b->p.smallest_len) memcpy(p, b->p.smallest, b->p.smallest_len);
    p += b->p.smallest_len;
    p += put_varint(p, b->p.largest_len);
    if (b->p.largest_len) memcpy(p, b->p.largest, b->p.largest_len);
    p += b->p.largest_len;
    int rc = write_block(b, buf, (size_t)(p - buf), 1, h);
    free(buf);
    return rc;
}

static void builder_free(sst_builder *b)
{
    block_builder_free(&b->data);
    block_builder_free(&b->index);
    free(b->last);
    free(b->sep);
    free(b->hashes);
    free(b->cbuf);
    ZSTD_freeCCtx(b->zc);
    rangedel_list_free(&b->rdels);
    sst_props_free(&b->p);
    free(b->path);
    free(b);
}

int sst_builder_finish(sst_builder *b, sst_props *props)
{
    int rc = b->status;
    bhandle hr, hf, hp, hi;
    if (rc) goto err;
    if ((rc = flush_data(b))) goto err;
    if (b->pending_index && (rc = add_index_entry(b, NULL, 0))) goto err;
    if (b->p.entries) {
        free(b->p.largest);
        if (!(b->p.largest = malloc(b->last_len))) {
            rc = err_set(ERR_NOMEM, "sst: out of memory");
            goto err;
        }
        memcpy(b->p.largest, b->last, b->last_len);
        b->p.largest_len = b->last_len;
    }
    if (!b->p.entries && !b->p.range_dels) b->p.smallest_seq = 0;
    if ((rc = write_range_dels(b, &hr))) goto err;
    if ((rc = write_filter(b, &hf))) goto err;
    if ((rc = write_props(b, &hp))) goto err;
    size_t ilen;
    const uint8_t *iraw = block_builder_finish(&b->index, &ilen);
    if (!iraw) {
        rc = ERR_NOMEM;
        goto err;
    }
    if ((rc = write_block(b, iraw, ilen, 1, &hi))) goto err;
    uint8_t foot[SST_FOOTER];
    memset(foot, 0, sizeof(foot));
    put_handle(foot + FOOT_INDEX, hi);
    put_handle(foot + FOOT_FILTER, hf);
    put_handle(foot + FOOT_PROPS, hp);
    put_handle(foot + FOOT_RANGEDEL, hr);
    put_u32(foot + FOOT_VERSION, b->o.format_version == 1 ? 1 : SST_VERSION);
    put_u64(foot + FOOT_MAGIC, SST_MAGIC);
    put_u32(foot + FOOT_CRC, crc32c_mask(crc32c(foot, FOOT_CRC)));
    if ((rc = env_append(b->f, foot, sizeof(foot)))) goto err;
    b->off += sizeof(foot);
    if ((rc = env_sync(b->f))) goto err;
    rc = env_close(b->f);
    b->f = NULL;
    if (rc) goto err;
    b->p.file_size = b->off;
    if (props) {
        *props = b->p;
        memset(&b->p, 0, sizeof(b->p));
    }
    builder_free(b);
    return 0;
err:
    sst_builder_abandon(b);
    return rc;
}

void sst_builder_abandon(sst_builder *b)
{
    if (!b) return;
    if (b->f) env_close(b->f);
    env_unlink(b->env, b->path);
    builder_free(b);
}

void sst_props_free(sst_props *p)
{
    free(p->smallest);
    free(p->largest);
    p->smallest = p->largest = NULL;
    p->smallest_len = p->largest_len = 0;
}

/* ----------------------------------------------------------------- reader */

struct sst_reader {
    env_t *env;
    env_file *f;
    const uint8_t *map; /* the whole file, when the env can map it; else NULL */
    char *path;
    uint64_t number, size;
    block_cache *cache;
    block *index;
    uint64_t index_off;
    uint8_t *filter; /* bit array + probe count byte; NULL if none */
    uint64_t filter_bits, filter_wrap;
    uint64_t filter_lines; /* blocked filter (version 2): 64-byte lines; 0 in version 1 */
    int filter_k;
    sst_props props;
    rangedel_list rdels;
    bool verify;
    _Atomic uint64_t bloom_useful;
    _Atomic int refs;
};

static int corrupt_at(const sst_reader *r, uint64_t off, const char *what)
{
    return err_set(ERR_CORRUPT, "%s: %s at offset %llu", r->path, what, (unsigned long long)off);
}

/* The stored bytes (payload + trailer) of the block at h: in the mapping,
 * or read into stack (room for RAW_STACK bytes) or a malloc'd buffer (*heap,
 * the caller frees it). Checks the handle against the file and, if verify,
 * the checksum. */
#define RAW_STACK 16384
static int read_raw(sst_reader *r, bhandle h, bool verify, bool use_map, uint8_t *stack,
                    uint8_t **heap, const uint8_t **raw)
{
    *heap = NULL;
    uint64_t limit = r->size - SST_FOOTER;
    if (h.off > limit || h.size > limit - h.off || h.size + BLOCK_TRAILER > limit - h.off)
        return err_set(ERR_CORRUPT, "%s: block handle (offset %llu, size %llu) beyond the data",
                       r->path, (unsigned long long)h.off, (unsigned long long)h.size);
    size_t n = (size_t)h.size;
    const uint8_t *map = use_map ? r->map : NULL;
    const uint8_t *buf = map ? map + h.off : stack;
    if (!map) {
        if (n + BLOCK_TRAILER > RAW_STACK && !(buf = *heap = malloc(n + BLOCK_TRAILER)))
            return err_set(ERR_NOMEM, "%s: out of memory", r->path);
        int rc = env_read_exact(r->f, (uint8_t *)buf, n + BLOCK_TRAILER, h.off);
        if (rc) return rc;
    }
    if (verify) {
        uint32_t want = crc32c_unmask(get_u32(buf + n + 1));
        if (crc32c_extend(crc32c(buf, n), buf + n, 1) != want)
            return corrupt_at(r, h.off, "block checksum mismatch");
    }
    *raw = buf;
    return 0;
}

/* Size of the uncompressed contents of the n-byte payload raw of type t
 * (at file offset off); *hl is the length of the size header. */
static int payload_size(sst_reader *r, const uint8_t *raw, size_t n, uint8_t t, uint64_t off,
                        size_t *hl, uint64_t *ulen)
{
    if (t == CT_NONE) {
        *hl = 0;
        *ulen = n;
        return 0;
    }
    if (t != CT_LZ4 && t != CT_ZSTD)
        return err_set(ERR_CORRUPT, "%s: unknown compression type %u at offset %llu", r->path, t,
                       (unsigned long long)off);
    *hl = get_varint(raw, raw + n, ulen);
    uint64_t clen = n - *hl, ratio = t == CT_LZ4 ? LZ4_MAX_RATIO : ZSTD_MAX_RATIO;
    if (!*hl || *ulen > MAX_BLOCK_BYTES || *ulen > (clen + 16) * ratio)
        return corrupt_at(r, off, "bad compressed block size");
    return 0;
}

/* Decodes the n-byte payload raw of type t into out (ulen bytes). */
static int decode_payload(sst_reader *r, const uint8_t *raw, size_t n, uint8_t t, size_t hl,
                          uint8_t *out, uint64_t ulen, uint64_t off)
{
    if (t == CT_NONE) {
        if (n) memcpy(out, raw, n);
        return 0;
    }
    uint64_t clen = n - hl;
    int ok;
    if (t == CT_LZ4) {
        int got =
            clen <= LZ4_MAX_INPUT_SIZE
                ? LZ4_decompress_safe((const char *)raw + hl, (char *)out, (int)clen, (int)ulen)
                : -1;
        ok = got >= 0 && (uint64_t)got == ulen;
    } else {
        size_t got = ZSTD_decompress(out, (size_t)ulen, raw + hl, (size_t)clen);
        ok = !ZSTD_isError(got) && got == ulen;
    }
    if (!ok)
        return err_set(ERR_CORRUPT, "%s: %s block does not decompress at offset %llu", r->path,
                       t == CT_LZ4 ? "LZ4" : "ZSTD", (unsigned long long)off);
    return 0;
}

/* Destination of a decoded block: *owner gets what the caller keeps (and
 * what free() releases), the return value where the ulen bytes go. */
typedef uint8_t *(*dst_alloc)(size_t ulen, void **owner);

static uint8_t *alloc_buf(size_t ulen, void **owner)
{
    uint8_t *u = malloc(ulen ? ulen : 1);
    *owner = u;
    return u;
}

static uint8_t *alloc_block(size_t ulen, void **owner)
{
    uint8_t *data = NULL;
    block *b = block_alloc(ulen, &data);
    *owner = b;
    return b ? data : NULL;
}

/* Reads, checks and decompresses the block at h into memory from alloc;
 * use_map: from the mapping, if there is one. */
static int read_decoded(sst_reader *r, bhandle h, bool verify, bool use_map, dst_alloc alloc,
                        void **owner, uint64_t *ulen)
{
    uint8_t stack[RAW_STACK], *heap = NULL;
    const uint8_t *raw = NULL;
    size_t n = (size_t)h.size, hl = 0;
    int rc = read_raw(r, h, verify, use_map, stack, &heap, &raw);
    if (!rc) rc = payload_size(r, raw, n, raw[n], h.off, &hl, ulen);
    if (rc) goto err;
    uint8_t *dst = alloc((size_t)*ulen, owner);
    if (!dst) {
        free(*owner);
        rc = err_set(ERR_NOMEM, "%s: out of memory", r->path);
        goto err;
    }
    if ((rc = decode_payload(r, raw, n, raw[n], hl, dst, *ulen, h.off))) free(*owner);
err:
    free(heap);
    return rc;
}

/* The block at h into a malloc'd buffer (index-less blocks: props, filter). */
static int read_block(sst_reader *r, bhandle h, bool verify, uint8_t **out, size_t *outlen)
{
    void *owner;
    uint64_t ulen;
    int rc = read_decoded(r, h, verify, true, alloc_buf, &owner, &ulen);
    if (rc) return rc;
    *out = owner;
    *outlen = (size_t)ulen;
    return 0;
}

/* The same into a block object (one allocation for the block and its data). */
static int read_block_obj(sst_reader *r, bhandle h, bool verify, bool use_map, block **out)
{
    void *owner;
    uint64_t ulen;
    int rc = read_decoded(r, h, verify, use_map, alloc_block, &owner, &ulen);
    if (rc) return rc;
    rc = block_seal(owner, r->path); /* frees the block on failure */
    if (rc == ERR_CORRUPT) rc = corrupt_at(r, h.off, "bad block trailer");
    if (!rc) *out = owner;
    return rc;
}

/* A referenced data block, from the cache when there. Reads that do not
 * fill the cache (compaction inputs, scans that asked not to) use pread
 * even when the table is mapped: a page touched through the mapping stays
 * mapped, and a compaction would map whole tables into the process's
 * resident memory. */
static int load_block(sst_reader *r, bhandle h, bool fill, block **out)
{
    /* A mapped block's first lines start loading during the cache probe:
     * on a miss they are read at once (checksum, decompression). */
    if (fill && r->map && h.off < r->size)
        for (uint64_t o = 0; o < 512 && o < h.size && h.off + o < r->size; o += 64)
            __builtin_prefetch(r->map + h.off + o);
    if (r->cache && (*out = block_cache_lookup(r->cache, r->number, h.off))) return 0;
    int rc = read_block_obj(r, h, r->verify, fill, out);
    if (rc) return rc;
    if (r->cache && fill) block_cache_insert(r->cache, r->number, h.off, *out);
    return 0;
}

static int parse_props(sst_reader *r, const uint8_t *p, size_t n, uint64_t off)
{
    const uint8_t *end = p + n;
    uint64_t v[PROPS_FIELDS], nf;
    size_t k = get_varint(p, end, &nf);
    if (!k || nf < PROPS_FIELDS || nf > 1000) return corrupt_at(r, off, "bad properties block");
    p += k;
    for (uint64_t i = 0; i < nf; i++) {
        uint64_t x;
        if (!(k = get_varint(p, end, &x))) return corrupt_at(r, off, "bad properties block");
        p += k;
        if (i < PROPS_FIELDS) v[i] = x;
    }
    sst_props *pr = &r->props;
    pr->entries = v[0];
    pr->range_dels = v[1];
    pr->smallest_seq = v[2];
    pr->largest_seq = v[3];
    pr->raw_key_bytes = v[4];
    pr->raw_value_bytes = v[5];
    uint8_t **keys[2] = {&pr->smallest, &pr->largest};
    size_t *lens[2] = {&pr->smallest_len, &pr->largest_len};
    for (int i = 0; i < 2; i++) {
        uint64_t len;
        if (!(k = get_varint(p, end, &len)) || len > (uint64_t)(end - p - k) ||
            (len && len < IKEY_TRAILER))
            return corrupt_at(r, off, "bad key in properties block");
        p += k;
        if (len) {
            if (!(*keys[i] = malloc((size_t)len))) return err_set(ERR_NOMEM, "sst: oom");
            memcpy(*keys[i], p, (size_t)len);
            *lens[i] = (size_t)len;
        }
        p += len;
    }
    return 0;
}

static int load_range_dels(sst_reader *r, bhandle h)
{
    block *b;
    int rc = read_block_obj(r, h, true, true, &b);
    if (rc) return rc;
    ikiter *it = block_iter_new_at(b, r->path, h.off);
    block_unref(b);
    if (!it) return err_set(ERR_NOMEM, "sst: out of memory");
    for (iki_seek_first(it); iki_valid(it) && !rc; iki_next(it)) {
        size_t kl, vl;
        const uint8_t *k = iki_key(it, &kl), *v = iki_value(it, &vl);
        if (ikey_type(k, kl) != TYPE_RANGE_DELETION) {
            rc = corrupt_at(r, h.off, "bad range tombstone");
            break;
        }
        rc = rangedel_list_add(&r->rdels, k, kl - IKEY_TRAILER, v, vl, ikey_seq(k, kl));
    }
    if (!rc) rc = iki_status(it);
    iki_destroy(it);
    if (!rc && (uint64_t)r->rdels.n != r->props.range_dels)
        rc = corrupt_at(r, h.off, "range tombstone count differs from properties");
    return rc;
}

static void reader_unref(sst_reader *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    block_unref(r->index);
    free(r->filter);
    sst_props_free(&r->props);
    rangedel_list_free(&r->rdels);
    if (r->map) env_unmap(r->f, r->map, r->size);
    env_close(r->f);
    free(r->path);
    free(r);
}

void sst_reader_unmap(sst_reader *r)
{
    if (!r->map) return;
    env_unmap(r->f, r->map, r->size);
    r->map = NULL;
}

/* The filter block at hf of a version ver file, checked for its layout.
 * A blocked filter goes to a line-aligned copy, so a line is one cache line. */
static int load_filter(sst_reader *r, bhandle hf, uint32_t ver)
{
    uint8_t *f;
    size_t len;
    int rc = read_block(r, hf, true, &f, &len);
    if (rc) return rc;
    int k = len >= 9 ? f[len - 1] : 0;
    size_t line = BLOOM_LINE_BITS / 8;
    if (k < 1 || k > 30 || (ver >= 2 && (len - 1) % line != 0)) {
        free(f);
        return corrupt_at(r, hf.off, "bad bloom filter");
    }
    r->filter_k = k;
    r->filter_bits = (uint64_t)(len - 1) * 8;
    if (ver < 2) {
        r->filter = f;
        r->filter_wrap = (UINT64_MAX % r->filter_bits + 1) % r->filter_bits; /* 2^64 % bits */
        return 0;
    }
    r->filter_lines = (len - 1) / line;
    r->filter = aligned_alloc(line, len - 1 + line); /* a size that is a multiple of line */
    if (r->filter) memcpy(r->filter, f, len);
    free(f);
    return r->filter ? 0 : err_set(ERR_NOMEM, "%s: out of memory", r->path);
}

int sst_reader_open(env_t *env, const char *path, uint64_t file_number, uint64_t file_size,
                    block_cache *cache, sst_reader **out)
{
    sst_reader *r = calloc(1, sizeof(*r));
    if (!r) return err_set(ERR_NOMEM, "sst: out of memory");
    atomic_init(&r->refs, 1);
    atomic_init(&r->bloom_useful, 0);
    r->env = env;
    r->number = file_number;
    r->cache = cache;
    r->verify = true;
    int rc = ERR_NOMEM;
    if (!(r->path = strdup(path))) {
        err_set(ERR_NOMEM, "sst: out of memory");
        goto err;
    }
    if ((rc = env_open(env, path, ENV_READ, &r->f))) goto err;
    r->size = file_size;
    if (!r->size && (rc = env_size(r->f, &r->size))) goto err;
    if (r->size < SST_FOOTER) {
        rc = err_set(ERR_CORRUPT, "%s: file of %llu bytes is too short for a table at offset 0",
                     path, (unsigned long long)r->size);
        goto err;
    }
    /* Reads go through a read-only mapping when the env offers one (no
     * system call and no copy per block; the page cache holds the bytes),
     * else through pread. A file shorter than expected is not mapped: pread
     * then reports the short read as corruption. */
    const void *map;
    if (env_map(r->f, r->size, &map) == 0) r->map = map;
    err_clear();
    uint64_t foff = r->size - SST_FOOTER;
    uint8_t foot[SST_FOOTER];
    if ((rc = env_read_exact(r->f, foot, sizeof(foot), foff))) goto err;
    if (get_u64(foot + FOOT_MAGIC) != SST_MAGIC) {
        rc = corrupt_at(r, foff + FOOT_MAGIC, "bad magic number (not a table)");
        goto err;
    }
    if (crc32c_unmask(get_u32(foot + FOOT_CRC)) != crc32c(foot, FOOT_CRC)) {
        rc = corrupt_at(r, foff, "footer checksum mismatch");
        goto err;
    }
    uint32_t ver = get_u32(foot + FOOT_VERSION);
    if (ver < SST_VERSION_MIN || ver > SST_VERSION) {
        rc = err_set(ERR_CORRUPT, "%s: unsupported format version %u at offset %llu", path, ver,
                     (unsigned long long)(foff + FOOT_VERSION));
        goto err;
    }
    bhandle hi = get_handle(foot + FOOT_INDEX), hf = get_handle(foot + FOOT_FILTER),
            hp = get_handle(foot + FOOT_PROPS), hr = get_handle(foot + FOOT_RANGEDEL);
    uint8_t *data;
    size_t len;
    if ((rc = read_block(r, hp, true, &data, &len))) goto err;
    rc = parse_props(r, data, len, hp.off);
    free(data);
    if (rc) goto err;
    r->props.file_size = r->size;
    if ((rc = read_block_obj(r, hi, true, true, &r->index))) goto err;
    if ((rc = block_accelerate(r->index))) goto err;
    r->index_off = hi.off;
    if (hf.size && (rc = load_filter(r, hf, ver))) goto err;
    if ((rc = load_range_dels(r, hr))) goto err;
    *out = r;
    return 0;
err:
    reader_unref(r);
    return rc;
}

void sst_reader_close(sst_reader *r)
{
    if (r) reader_unref(r);
}

static bool may_contain_hash(sst_reader *r, uint64_t h1);

void sst_reader_set_verify(sst_reader *r, bool verify)
{
    r->verify = verify;
}

uint64_t sst_key_hash(const void *ukey, size_t klen)
{
    return bloom_hash(ukey, klen);
}

bool sst_reader_may_contain(sst_reader *r, const void *ukey, size_t klen)
{
    return !r->filter || may_contain_hash(r, bloom_hash(ukey, klen));
}

/* Version 2: k bits of one line, as write_blocked_filter set them.
 * Version 1: probe j tests bit (h1 + j * h2 mod 2^64) % m. The
 * reader steps from one probe to the next without a division: adding h2
 * adds h2 % m, and a wrap of the 64-bit sum takes 2^64 % m (filter_wrap)
 * away again. */
static bool may_contain_hash(sst_reader *r, uint64_t h1)
{
    if (r->filter_lines) {
        const uint8_t *line = r->filter + bloom_line(h1, r->filter_lines) * (BLOOM_LINE_BITS / 8);
        uint32_t x = (uint32_t)h1;
        for (int j = 0; j < r->filter_k; j++, x = bloom_next(x))
            if (!(line[x >> 26] & (1u << (x >> 23 & 7)))) return false;
        return true;
    }
    uint64_t h2 = bloom_delta(h1), m = r->filter_bits, w = r->filter_wrap;
    uint64_t x = h1, bit = h1 % m, d = h2 % m;
    for (int j = 0; j < r->filter_k; j++) {
        if (!(r->filter[bit >> 3] & (1u << (bit & 7)))) return false;
        bool wrap = __builtin_add_overflow(x, h2, &x);
        bit += d;
        if (bit >= m) bit -= m;
        if (wrap) bit = bit >= w ? bit - w : bit + m - w;
    }
    return true;
}

const rangedel_list *sst_reader_range_dels(sst_reader *r)
{
    return &r->rdels;
}

const sst_props *sst_reader_props(sst_reader *r)
{
    return &r->props;
}

uint64_t sst_reader_bloom_useful(sst_reader *r)
{
    return atomic_load(&r->bloom_useful);
}

/* ------------------------------------------------- two-level iterator */

typedef struct titer {
    ikiter base;
    sst_reader *r;
    ikiter *index; /* over the pinned index block */
    ikiter *data;  /* over the current data block, or NULL */
    uint64_t data_off;
    bool fill;
    int status;
} titer;

static void drop_data(titer *t)
{
    iki_destroy(t->data);
    t->data = NULL;
}

/* Positions t->data on the block the index points at (not yet seeked). */
static int load_data(titer *t)
{
    size_t vl;
    const uint8_t *v = iki_value(t->index, &vl), *end = v + vl;
    bhandle h;
    size_t n = get_varint(v, end, &h.off), m = n ? get_varint(v + n, end, &h.size) : 0;
    if (!m) {
        drop_data(t);
        return t->status = corrupt_at(t->r, t->r->index_off, "bad block handle in index block");
    }
    if (t->data && t->data_off == h.off) return 0;
    drop_data(t);
    block *b;
    int rc = load_block(t->r, h, t->fill, &b);
    if (rc) return t->status = rc;
    t->data = block_iter_new_at(b, t->r->path, h.off);
    block_unref(b);
    if (!t->data) return t->status = err_set(ERR_NOMEM, "sst: out of memory");
    t->data_off = h.off;
    return 0;
}

/* After the data iterator ran off its block: moves to the next (dir > 0) or
 * previous block until an entry is found, the index ends or an error. */
static void skip_empty(titer *t, int dir)
{
    while (!t->status && (!t->data || !iki_valid(t->data))) {
        if (t->data && (t->status = iki_status(t->data))) break;
        if (!iki_valid(t->index)) {
            t->status = iki_status(t->index);
            drop_data(t);
            break;
        }
        if (dir > 0)
            iki_next(t->index);
        else
            iki_prev(t->index);
        if (!iki_valid(t->index)) {
            t->status = iki_status(t->index);
            drop_data(t);
            break;
        }
        if (load_data(t)) break;
        if (dir > 0)
            iki_seek_first(t->data);
        else
            iki_seek_last(t->data);
    }
}

static bool ti_valid(ikiter *it)
{
    titer *t = (titer *)it;
    return !t->status && t->data && iki_valid(t->data);
}

static void ti_seek_first(ikiter *it)
{
    titer *t = (titer *)it;
    t->status = 0;
    iki_seek_first(t->index);
    if (!iki_valid(t->index)) {
        t->status = iki_status(t->index);
        return drop_data(t);
    }
    if (load_data(t)) return;
    iki_seek_first(t->data);
    skip_empty(t, 1);
}

static void ti_seek_last(ikiter *it)
{
    titer *t = (titer *)it;
    t->status = 0;
    iki_seek_last(t->index);
    if (!iki_valid(t->index)) {
        t->status = iki_status(t->index);
        return drop_data(t);
    }
    if (load_data(t)) return;
    iki_seek_last(t->data);
    skip_empty(t, -1);
}

static void ti_seek(ikiter *it, const void *k, size_t n)
{
    titer *t = (titer *)it;
    t->status = 0;
    iki_seek(t->index, k, n);
    if (!iki_valid(t->index)) {
        t->status = iki_status(t->index);
        return drop_data(t);
    }
    if (load_data(t)) return;
    iki_seek(t->data, k, n);
    skip_empty(t, 1);
}

static void ti_seek_for_prev(ikiter *it, const void *k, size_t n)
{
    titer *t = (titer *)it;
    t->status = 0;
    iki_seek(t->index, k, n);
    if (!iki_valid(t->index)) { /* past every separator: the last block */
        if ((t->status = iki_status(t->index))) return drop_data(t);
        iki_seek_last(t->index);
        if (!iki_valid(t->index)) {
            t->status = iki_status(t->index);
            return drop_data(t);
        }
    }
    if (load_data(t)) return;
    t->data->ops->seek_for_prev(t->data, k, n);
    skip_empty(t, -1);
}

static void ti_next(ikiter *it)
{
    titer *t = (titer *)it;
    iki_next(t->data);
    skip_empty(t, 1);
}

static void ti_prev(ikiter *it)
{
    titer *t = (titer *)it;
    iki_prev(t->data);
    skip_empty(t, -1);
}

static const void *ti_key(ikiter *it, size_t *n)
{
    return iki_key(((titer *)it)->data, n);
}

static const void *ti_value(ikiter *it, size_t *n)
{
    return iki_value(((titer *)it)->data, n);
}

static int ti_status(ikiter *it)
{
    titer *t = (titer *)it;
    if (t->status) return t->status;
    return iki_status(t->index);
}

static void titer_cleanup(titer *t)
{
    drop_data(t);
    iki_destroy(t->index);
    reader_unref(t->r);
}

static void ti_destroy(ikiter *it)
{
    titer_cleanup((titer *)it);
    free(it);
}

static const ikiter_ops titer_ops = {
    .valid = ti_valid,
    .seek_first = ti_seek_first,
    .seek_last = ti_seek_last,
    .seek = ti_seek,
    .seek_for_prev = ti_seek_for_prev,
    .next = ti_next,
    .prev = ti_prev,
    .key = ti_key,
    .value = ti_value,
    .status = ti_status,
    .destroy = ti_destroy,
};

static int titer_init(titer *t, sst_reader *r, bool fill)
{
    memset(t, 0, sizeof(*t));
    t->base.ops = &titer_ops;
    t->fill = fill;
    if (!(t->index = block_iter_new_at(r->index, r->path, r->index_off)))
        return err_set(ERR_NOMEM, "sst: out of memory");
    atomic_fetch_add(&r->refs, 1);
    t->r = r;
    return 0;
}

ikiter *sst_reader_iter(sst_reader *r, bool fill_cache)
{
    titer *t = malloc(sizeof(*t));
    if (!t) return NULL;
    if (titer_init(t, r, fill_cache)) {
        free(t);
        return NULL;
    }
    return &t->base;
}

/* A malloc'd copy of a value (never NULL on success, even when empty). */
static int copy_value(sst_reader *r, const void *v, size_t vl, void **out)
{
    if (!out) return 0;
    if (!(*out = malloc(vl ? vl : 1))) return err_set(ERR_NOMEM, "%s: out of memory", r->path);
    if (vl) memcpy(*out, v, vl);
    return 0;
}

/* Copies key k into e's scratch and points e->key at it. */
static int entry_reserve_copy(block_entry *e, const uint8_t *k, size_t kl)
{
    if (kl > e->kcap) {
        block_entry_free(e);
        if (!(e->kbuf = malloc(kl))) return err_set(ERR_NOMEM, "sst: out of memory");
        e->kcap = kl;
    }
    memcpy(e->kbuf, k, kl);
    e->key = e->kbuf;
    e->klen = kl;
    return 0;
}

/* The general path of a point lookup, through the two-level iterator: only
 * taken when the fast path's data block has no entry >= the lookup key,
 * which a well-formed index never leads to. */
static int get_by_iter(sst_reader *r, const uint8_t *lk, size_t lkl, block_entry *e, void **val)
{
    titer t;
    int rc = titer_init(&t, r, true);
    if (rc) return rc;
    ti_seek(&t.base, lk, lkl);
    rc = ERR_NOTFOUND;
    if (ti_valid(&t.base)) {
        size_t kl, vl;
        const uint8_t *k = ti_key(&t.base, &kl), *v = ti_value(&t.base, &vl);
        if ((rc = entry_reserve_copy(e, k, kl))) goto out;
        rc = copy_value(r, v, vl, val);
        e->vlen = vl;
    } else {
        rc = ti_status(&t.base) ? ti_status(&t.base) : ERR_NOTFOUND;
    }
out:
    titer_cleanup(&t);
    return rc;
}

int sst_reader_get(sst_reader *r, const void *ukey, size_t klen, uint64_t snap, int *type,
                   uint64_t *seq, void **val, size_t *vlen)
{
    return sst_reader_get_hashed(r, ukey, klen, bloom_hash(ukey, klen), snap, type, seq, val, vlen);
}

int sst_reader_get_hashed(sst_reader *r, const void *ukey, size_t klen, uint64_t hash,
                          uint64_t snap, int *type, uint64_t *seq, void **val, size_t *vlen)
{
    if (r->filter && !may_contain_hash(r, hash)) {
        atomic_fetch_add_explicit(&r->bloom_useful, 1, memory_order_relaxed);
        return ERR_NOTFOUND;
    }
    uint8_t small[256], *lk = klen + IKEY_TRAILER <= sizeof(small) ? small : malloc(klen + 8);
    if (!lk) return err_set(ERR_NOMEM, "sst: out of memory");
    size_t lkl = ikey_build(lk, ukey, klen, snap > SEQ_MAX ? SEQ_MAX : snap, TYPE_SEEK);
    block_entry e;
    block_entry_init(&e);
    block *b = NULL;
    void *v = NULL;
    /* The first index entry >= the lookup key names the only block that can
     * hold it (index invariant 2). */
    int rc = block_find(r->index, lk, lkl, &e, r->path, r->index_off);
    if (rc <= 0) {
        if (!rc) rc = ERR_NOTFOUND;
        goto out;
    }
    bhandle h;
    const uint8_t *hv = e.val, *hend = hv + e.vlen;
    size_t n = get_varint(hv, hend, &h.off), m = n ? get_varint(hv + n, hend, &h.size) : 0;
    if (!m) {
        rc = corrupt_at(r, r->index_off, "bad block handle in index block");
        goto out;
    }
    if ((rc = load_block(r, h, true, &b))) goto out;
    rc = block_find(b, lk, lkl, &e, r->path, h.off);
    if (rc == 0) {
        rc = get_by_iter(r, lk, lkl, &e, val ? &v : NULL);
    } else if (rc > 0) { /* check the user key before copying the value */
        rc = ukey_cmp(e.key, e.klen - IKEY_TRAILER, ukey, klen)
                 ? ERR_NOTFOUND
                 : copy_value(r, e.val, e.vlen, val ? &v : NULL);
    }
    if (!rc && ukey_cmp(e.key, e.klen - IKEY_TRAILER, ukey, klen) != 0) rc = ERR_NOTFOUND;
    if (!rc) {
        if (type) *type = ikey_type(e.key, e.klen);
        if (seq) *seq = ikey_seq(e.key, e.klen);
        if (val) *val = v, v = NULL;
        if (vlen) *vlen = e.vlen;
    }
out:
    free(v);
    block_unref(b);
    block_entry_free(&e);
    if (lk != small) free(lk);
    return rc;
}
