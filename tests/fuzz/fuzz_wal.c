/* libFuzzer target: the input becomes a WAL file, which is read with logr_*;
 * every record is validated and walked as a write batch. Must never crash,
 * read out of bounds or leak, and the reader's answers must be consistent.
 *
 * Input: byte 0 selects how the file is made from the rest (r):
 *   0: the file is r (header included, so header checks are fuzzed);
 *   1: a valid WAL header followed by r (raw record bytes);
 *   2: r is a run of [len u16 LE][payload] written with logw_add (valid
 *      framing, so the batch decoder sees fuzzed payloads), any leftover
 *      bytes appended raw (a torn or garbage tail);
 *   3: as 2, then the file is cut at (first u16 of r) modulo its size. */
#include "engine/batch.h"
#include "engine/logfile.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/env.h"
#include "util/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_wal: %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, err_msg());      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static volatile uint8_t sink;

static int touch(void *arg, uint64_t seq, int op, uint32_t part, const void *k, size_t kl,
                 const void *v, size_t vl)
{
    const uint8_t *kp = k, *vp = v;
    /* Read every byte so ASan sees any key or value outside the buffer. */
    for (size_t i = 0; i < kl; i++) sink ^= kp[i];
    for (size_t i = 0; i < vl; i++) sink ^= vp[i];
    FUZZ_ASSERT(op >= STRATA_OP_PUT && op <= STRATA_OP_DELETE_RANGE);
    FUZZ_ASSERT(op != STRATA_OP_DELETE || (v == NULL && vl == 0));
    (*(uint32_t *)arg)++;
    return 0;
}

static void check_payload(const void *p, size_t n)
{
    /* An exact-size copy, so an over-read past the payload is caught. */
    uint8_t *c = malloc(n ? n : 1);
    FUZZ_ASSERT(c);
    if (n) memcpy(c, p, n);
    uint32_t ops = 0;
    int rc = strata_batch_iterate(c, n, touch, &ops);
    FUZZ_ASSERT(rc == 0 || rc == ERR_CORRUPT);
    FUZZ_ASSERT(batch__validate(c, n) == rc);
    strata_batch *b = strata_batch_new();
    FUZZ_ASSERT(b);
    strata_batch_put(b, 9, "prior", 5, "content", 7);
    int rc2 = batch__from_encoded(b, c, n);
    FUZZ_ASSERT(rc2 == rc);
    if (rc == 0) {
        FUZZ_ASSERT(ops == get_u32(c + 8) && strata_batch_count(b) == ops);
        size_t len;
        const uint8_t *d = batch__data(b, &len);
        FUZZ_ASSERT(len == n && memcmp(d, c, n) == 0);
        /* Appending it to itself stays a valid batch of twice the ops. */
        if (batch__append(b, b) == 0) {
            d = batch__data(b, &len);
            FUZZ_ASSERT(batch__validate(d, len) == 0 && strata_batch_count(b) == 2 * ops);
        }
    } else {
        FUZZ_ASSERT(strata_batch_count(b) == 1); /* left as it was */
    }
    strata_batch_free(b);
    free(c);
}

/* Writes the file; returns the number of whole records written by logw
 * (modes 2 and 3) and sets *tail to the raw bytes appended after them. */
static int write_file(env_t *e, const char *path, const uint8_t *mode_data, size_t size,
                      size_t *tail)
{
    int written = 0;
    *tail = 0;
    uint8_t mode = mode_data[0] & 3;
    const uint8_t *r = mode_data + 1;
    size_t n = size - 1;
    env_file *f;
    if (mode <= 1) {
        FUZZ_ASSERT(env_open(e, path, ENV_WRITE | ENV_TRUNC, &f) == 0);
        if (mode == 1) {
            uint8_t h[LOG_FILE_HEADER];
            put_u64(h, LOG_MAGIC_WAL);
            put_u32(h + 8, LOG_VERSION);
            put_u32(h + 12, crc32c_mask(crc32c(h, 12)));
            FUZZ_ASSERT(env_append(f, h, sizeof(h)) == 0);
        }
        if (n) FUZZ_ASSERT(env_append(f, r, n) == 0);
        FUZZ_ASSERT(env_close(f) == 0);
        return 0;
    }
    logw *w;
    FUZZ_ASSERT(logw_open(e, path, LOG_MAGIC_WAL, 4096, &w) == 0);
    size_t i = 0;
    while (n - i >= 2) {
        size_t len = get_u16(r + i);
        if (len > n - i - 2) break;
        FUZZ_ASSERT(logw_add(w, r + i + 2, len) == 0);
        i += 2 + len;
        written++;
    }
    FUZZ_ASSERT(logw_flush(w) == 0);
    uint64_t sz = logw_size(w);
    FUZZ_ASSERT(logw_close(w) == 0);
    FUZZ_ASSERT(env_open(e, path, ENV_WRITE, &f) == 0);
    if (n > i) FUZZ_ASSERT(env_append(f, r + i, n - i) == 0);
    sz += n - i;
    *tail = n - i;
    if (mode == 3 && n >= 2) FUZZ_ASSERT(env_truncate(f, get_u16(r) % (sz + 1)) == 0);
    FUZZ_ASSERT(env_close(f) == 0);
    return written;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    static char path[128];
    if (!path[0]) /* tmpfs when there is one: a file per input */
        snprintf(path, sizeof(path), "%s/strata_fuzz_wal.%d.log",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    env_t *e = env_posix();
    size_t tail;
    int written = write_file(e, path, data, size, &tail);
    uint64_t fsize = 0;
    FUZZ_ASSERT(env_file_size(e, path, &fsize) == 0);
    logr *r;
    int rc = logr_open(e, path, LOG_MAGIC_WAL, &r);
    if (rc) {
        FUZZ_ASSERT(rc == ERR_CORRUPT && strstr(err_msg(), path));
        env_unlink(e, path);
        return 0;
    }
    uint64_t off = logr_offset(r);
    const void *p;
    size_t n;
    int records = 0;
    while ((rc = logr_next(r, &p, &n)) == 0) {
        /* Each record ends where the reader says and lies inside the file. */
        FUZZ_ASSERT(logr_offset(r) == off + LOG_REC_HEADER + n && logr_offset(r) <= fsize);
        off = logr_offset(r);
        check_payload(p, n);
        records++;
    }
    FUZZ_ASSERT(rc == ERR_NOTFOUND || rc == ERR_CORRUPT);
    FUZZ_ASSERT(logr_offset(r) == off);
    if (rc == ERR_CORRUPT) FUZZ_ASSERT(strstr(err_msg(), path) && strstr(err_msg(), "offset"));
    if (rc == ERR_NOTFOUND && !logr_torn(r)) FUZZ_ASSERT(off == fsize);
    if (logr_torn(r)) FUZZ_ASSERT(off < fsize || (off == 0 && fsize < LOG_FILE_HEADER));
    bool torn = logr_torn(r);
    logr_close(r);
    env_unlink(e, path);
    /* Mode 2: every record written with logw comes back, whatever the raw
     * tail after them; without a tail the end is clean. */
    if ((data[0] & 3) == 2) {
        FUZZ_ASSERT(records >= written);
        if (!tail) FUZZ_ASSERT(records == written && rc == ERR_NOTFOUND && !torn);
    }
    return 0;
}
