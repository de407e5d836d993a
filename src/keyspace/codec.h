/* Keyspace encoding: engine key layouts and the metadata value format
 * (docs/keyspace.md), shared by the files of keyspace/.
 *
 *   meta    [pdb u8][slot u16][0x01][h u32][key]
 *   field   [pdb u8][slot u16][0x02][version u64][fh u32][field]
 *   expiry  [pdb u8][0xFFFF][0x03][expire_ms u64][slot u16][key]
 * Integers are big-endian so that byte order is numeric order; h and fh are
 * never 0. */
#ifndef STRATA_KEYSPACE_CODEC_H
#define STRATA_KEYSPACE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "keyspace/keyspace.h"
#include "util/err.h"

#define TAG_META  0x01
#define TAG_FIELD 0x02
#define TAG_EXP   0x03
#define SYS       0xFF
#define META_HDR  8  /* pdb + slot + tag + h */
#define FIELD_HDR 16 /* pdb + slot + tag + version + fh */
#define MF_EXPIRE 0x01

static inline void ks__put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ks__put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void ks__put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint16_t ks__get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t ks__get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t ks__get_be64(const uint8_t *p)
{
    return ((uint64_t)ks__get_be32(p) << 32) | ks__get_be32(p + 4);
}

static inline uint32_t ks__h32(const void *p, size_t n)
{
    uint32_t h = (uint32_t)XXH3_64bits(p, n);
    return h ? h : 1;
}

/* A key buffer: inline for short keys, heap for long ones. */
typedef struct ks__kbuf {
    uint8_t *p;
    size_t len;
    uint8_t inl[160];
} ks__kbuf;

static inline int ks__kb_init(ks__kbuf *b, size_t need)
{
    b->len = 0;
    b->p = need <= sizeof(b->inl) ? b->inl : malloc(need);
    return b->p ? 0 : ERR_NOMEM;
}
static inline void ks__kb_free(ks__kbuf *b)
{
    if (b->p != b->inl) free(b->p);
    b->p = NULL;
}

/* Key builders: fill b (ks__kb_free it afterwards); 0 or ERR_NOMEM. */
int ks__meta_key(ks__kbuf *b, uint8_t pdb, uint16_t slot, const void *key, size_t klen);
int ks__field_key(ks__kbuf *b, uint8_t pdb, uint16_t slot, uint64_t ver, const void *f, size_t fl);
/* [pdb][slot][0x02][ver]: the prefix of a field set. */
void ks__field_prefix(uint8_t out[12], uint8_t pdb, uint16_t slot, uint64_t ver);
int ks__exp_key(ks__kbuf *b, uint8_t pdb, int64_t when, uint16_t slot, const void *key,
                size_t klen);
/* Encodes m (and, for strings, the value) into room when it fits in cap
 * bytes, else into a malloc'd buffer: free *out when it is not room. */
int ks__meta_encode(const ks_meta *m, const void *sval, size_t slen, uint8_t *room, size_t cap,
                    uint8_t **out, size_t *len);
/* Decodes a metadata record into m (exists and stored set); 0 or ERR_CORRUPT. */
int ks__meta_decode(ks_meta *m, const uint8_t *v, size_t vlen);

#endif
