/* libFuzzer target for SST files (engine/sst.c, block.c). The first input
 * byte picks a mode:
 *   0: the rest is a whole file: open it, iterate both ways, seek, get,
 *      with block checksums verified and then not verified.
 *   1: the rest is a list of entries (klen u8 | key | vlen u8 | value) and
 *      four option bytes: build a table, reopen it and check that it reads
 *      back exactly what was written (abort on any difference).
 *   2: build a fixed valid table, flip the bytes named by the rest
 *      (offset u16 | xor u8 triples), then as mode 0.
 * Nothing may crash, leak, hang or read out of bounds; a damaged file may
 * only give ERR_CORRUPT (or ERR_NOTFOUND from get). */
#include "engine/cache.h"
#include "engine/dbformat.h"
#include "engine/sst.h"
#include "util/env.h"
#include "util/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void set_path(void)
{
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/fuzz_sst.%d.sst", (int)getpid());
}

static int write_file(const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(d, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}

static void check_rc(int rc)
{
    if (rc != 0 && rc != ERR_CORRUPT && rc != ERR_NOTFOUND) abort();
}

/* Reads everything a caller could read; bounded. */
static void exercise(block_cache *c, bool verify)
{
    sst_reader *r;
    int rc = sst_reader_open(env_posix(), path, 1, 0, c, &r);
    check_rc(rc);
    if (rc) return;
    sst_reader_set_verify(r, verify);
    ikiter *it = sst_reader_iter(r, true);
    if (!it) abort();
    int n = 0;
    for (iki_seek_first(it); iki_valid(it) && n < 100000; iki_next(it)) {
        size_t kl, vl;
        iki_key(it, &kl);
        iki_value(it, &vl);
        if (kl < IKEY_TRAILER) abort();
        n++;
    }
    check_rc(iki_status(it));
    for (iki_seek_last(it); iki_valid(it) && n < 200000; iki_prev(it)) n++;
    check_rc(iki_status(it));
    static const char *probes[] = {"", "a", "k", "key1", "zz", "\xff\xff"};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        uint8_t k[16];
        size_t pl = strlen(probes[i]);
        size_t kl = ikey_build(k, probes[i], pl, SEQ_MAX, TYPE_SEEK);
        iki_seek(it, k, kl);
        if (iki_valid(it)) iki_prev(it);
        it->ops->seek_for_prev(it, k, kl);
        if (iki_valid(it)) iki_next(it);
        void *v = NULL;
        size_t vl;
        int type;
        uint64_t seq;
        rc = sst_reader_get(r, probes[i], pl, SEQ_MAX, &type, &seq, &v, &vl);
        check_rc(rc);
        free(v);
        sst_reader_may_contain(r, probes[i], pl);
    }
    iki_destroy(it);
    const rangedel_list *l = sst_reader_range_dels(r);
    for (int i = 0; i < l->n; i++)
        if (l->v[i].slen && !l->v[i].start) abort();
    sst_reader_close(r);
}

typedef struct ent {
    const uint8_t *k, *v;
    size_t kl, vl;
} ent;

static int ent_cmp(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    return ukey_cmp(x->k, x->kl, y->k, y->kl);
}

static void round_trip(const uint8_t *d, size_t n)
{
    if (n < 4) return;
    sst_options o = {.block_size = 32 + (size_t)d[0] * 4,
                     .restart_interval = 1 + d[1] % 16,
                     .bloom_bits_per_key = d[2] % 16,
                     .compression = d[3] % 3,
                     .zstd_level = 1};
    d += 4;
    n -= 4;
    ent e[256];
    int ne = 0;
    while (n >= 2 && ne < 256) {
        size_t kl = d[0] < n - 1 ? d[0] : n - 1;
        e[ne].k = d + 1;
        e[ne].kl = kl;
        d += 1 + kl;
        n -= 1 + kl;
        size_t vl = 0;
        if (n) {
            vl = d[0] < n - 1 ? d[0] : n - 1;
            e[ne].v = d + 1;
            d += 1 + vl;
            n -= 1 + vl;
        }
        e[ne].vl = vl;
        if (!vl) e[ne].v = (const uint8_t *)"";
        ne++;
    }
    qsort(e, (size_t)ne, sizeof(ent), ent_cmp);
    int u = 0;
    for (int i = 0; i < ne; i++)
        if (!u || ent_cmp(&e[u - 1], &e[i])) e[u++] = e[i];
    sst_builder *b;
    if (sst_builder_open(env_posix(), path, &o, &b)) abort();
    uint8_t k[300];
    for (int i = 0; i < u; i++) {
        size_t kl = ikey_build(k, e[i].k, e[i].kl, (uint64_t)i + 1, TYPE_VALUE);
        if (sst_builder_add(b, k, kl, e[i].v, e[i].vl)) abort();
    }
    if (u > 1 && sst_builder_add_range_del(b, e[0].k, e[0].kl, e[1].k, e[1].kl, 7)) abort();
    sst_props p;
    if (sst_builder_finish(b, &p)) abort();
    if (p.entries != (uint64_t)u) abort();
    sst_props_free(&p);
    sst_reader *r;
    if (sst_reader_open(env_posix(), path, 2, 0, NULL, &r)) abort();
    ikiter *it = sst_reader_iter(r, false);
    int i = 0;
    for (iki_seek_first(it); iki_valid(it); iki_next(it), i++) {
        size_t kl, vl;
        const uint8_t *key = iki_key(it, &kl), *val = iki_value(it, &vl);
        if (i >= u || kl != e[i].kl + IKEY_TRAILER || memcmp(key, e[i].k, e[i].kl) ||
            vl != e[i].vl || memcmp(val, e[i].v, vl))
            abort();
    }
    if (i != u || iki_status(it)) abort();
    for (i = u - 1, iki_seek_last(it); iki_valid(it); iki_prev(it), i--) {
        size_t kl;
        const uint8_t *key = iki_key(it, &kl);
        if (i < 0 || kl != e[i].kl + IKEY_TRAILER || memcmp(key, e[i].k, e[i].kl)) abort();
    }
    if (i != -1) abort();
    iki_destroy(it);
    for (i = 0; i < u; i++) {
        void *v = NULL;
        size_t vl = 0;
        uint64_t seq = 0;
        int type = -1;
        if (sst_reader_get(r, e[i].k, e[i].kl, SEQ_MAX, &type, &seq, &v, &vl)) abort();
        if (type != TYPE_VALUE || seq != (uint64_t)i + 1 || vl != e[i].vl || memcmp(v, e[i].v, vl))
            abort();
        free(v);
        if (sst_reader_get(r, e[i].k, e[i].kl, (uint64_t)i, NULL, NULL, NULL, NULL) != ERR_NOTFOUND)
            abort();
    }
    if (sst_reader_range_dels(r)->n != (u > 1)) abort();
    sst_reader_close(r);
}

static void mutate_valid(const uint8_t *d, size_t n)
{
    static uint8_t *good;
    static size_t good_len;
    if (!good) {
        sst_options o = {.block_size = 128,
                         .restart_interval = 4,
                         .bloom_bits_per_key = 10,
                         .compression = 1,
                         .zstd_level = 1};
        sst_builder *b;
        if (sst_builder_open(env_posix(), path, &o, &b)) abort();
        for (int i = 0; i < 60; i++) {
            char u[16], v[32];
            uint8_t k[32];
            int ul = snprintf(u, sizeof(u), "key%d", 100 + i);
            int vl = snprintf(v, sizeof(v), "value %d %d", i, i * i);
            size_t kl = ikey_build(k, u, (size_t)ul, (uint64_t)i + 1, i % 5 ? 1 : 0);
            if (sst_builder_add(b, k, kl, v, (size_t)vl)) abort();
        }
        if (sst_builder_add_range_del(b, "key110", 6, "key120", 6, 30)) abort();
        if (sst_builder_finish(b, NULL)) abort();
        char *all;
        if (env_read_all(env_posix(), path, &all, &good_len)) abort();
        good = (uint8_t *)all; /* kept for the life of the process */
    }
    uint8_t *m = malloc(good_len);
    if (!m) abort();
    memcpy(m, good, good_len);
    for (size_t i = 0; i + 3 <= n; i += 3) {
        size_t off = ((size_t)d[i] | (size_t)d[i + 1] << 8) % good_len;
        m[off] ^= d[i + 2] ? d[i + 2] : 1;
    }
    if (write_file(m, good_len)) abort();
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    set_path();
    block_cache *c = block_cache_new(64 << 10);
    switch (data[0] % 3) {
    case 0:
        if (write_file(data + 1, size - 1)) abort();
        exercise(c, true);
        exercise(NULL, false);
        break;
    case 1: round_trip(data + 1, size - 1); break;
    case 2:
        mutate_valid(data + 1, size - 1);
        exercise(c, true);
        exercise(NULL, false);
        break;
    }
    block_cache_free(c);
    unlink(path);
    return 0;
}
