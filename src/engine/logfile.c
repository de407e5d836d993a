/* Record log files (see logfile.h and docs/format/wal.md).
 *
 * Writer. A user-space buffer makes an append with durability NONE cost a
 * memcpy; logw_flush hands whole records to the OS and logw_sync makes them
 * durable. Invariant: the file always holds the header followed by whole
 * records, except for a tail cut short by a crash. A failed write is truncated
 * back to the last whole record; if that truncation also fails the writer is
 * broken and refuses further records (appending after a partial record would
 * turn a torn tail into corruption).
 *
 * Reader. Used by recovery and by the change-log tail, which may read a file
 * while it is being appended to: a partial record at the end is then simply
 * "not there yet". Reads go through a read-ahead window so that a record
 * costs no system call; the file size is re-checked only when a record seems
 * to run past it. The record header carries its own checksum, so a length
 * is trusted before the payload is read. A bad record at offset off is:
 *  - a torn tail (ERR_NOTFOUND, logr_torn) when its header is cut short by
 *    EOF, when its (valid) header claims more bytes than the file holds, or
 *    when the file is zero from the record's last byte (the header's last
 *    byte if the header is bad) to EOF: unwritten pages after a power loss;
 *  - corruption (ERR_CORRUPT naming the file and off) otherwise: a bad header
 *    or payload checksum with non-zero bytes after it, or a length beyond
 *    LOG_MAX_RECORD in a header whose checksum holds. */
#include "engine/logfile.h"

#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define READ_WINDOW (64u << 10)

struct logw {
    env_file *f;
    uint8_t *buf;
    size_t used, cap;
    uint64_t flushed; /* bytes handed to the OS */
    int broken;       /* non-zero: a failed write could not be undone */
};

struct logr {
    env_file *f;
    uint64_t magic;
    uint64_t size;       /* file size when last checked */
    uint64_t off;        /* next record offset */
    uint64_t bad_last;   /* last byte of the bad record (UINT64_MAX: runs past EOF) */
    const char *bad_why; /* what was wrong with it */
    uint8_t *win;        /* read-ahead window: file bytes [win_off, win_off + win_len) */
    size_t win_len;
    uint64_t win_off;
    uint8_t *big; /* records larger than the window */
    size_t big_cap;
    bool torn;
};

static uint32_t payload_crc(const void *payload, size_t len)
{
    return crc32c_mask(len ? crc32c(payload, len) : 0);
}

/* Fills a record header: crc | len | hcrc (checksum of the first 8 bytes). */
static void rec_header(uint8_t h[LOG_REC_HEADER], const void *payload, size_t len)
{
    put_u32(h, payload_crc(payload, len));
    put_u32(h + 4, (uint32_t)len);
    put_u32(h + 8, crc32c_mask(crc32c(h, 8)));
}

static void file_header(uint8_t h[LOG_FILE_HEADER], uint64_t magic)
{
    put_u64(h, magic);
    put_u32(h + 8, LOG_VERSION);
    put_u32(h + 12, crc32c_mask(crc32c(h, 12)));
}

int logw_open(env_t *env, const char *path, uint64_t magic, size_t buf_bytes, logw **out)
{
    logw *w = calloc(1, sizeof(*w));
    if (!w) return err_set(ERR_NOMEM, "%s: out of memory", path);
    w->cap = buf_bytes < 4096 ? 4096 : buf_bytes;
    w->buf = malloc(w->cap);
    int rc = w->buf ? env_open(env, path, ENV_WRITE | ENV_TRUNC, &w->f)
                    : err_set(ERR_NOMEM, "%s: out of memory", path);
    if (!rc) {
        file_header(w->buf, magic);
        w->used = LOG_FILE_HEADER;
        rc = logw_flush(w);
    }
    if (rc) {
        if (w->f) env_close(w->f);
        free(w->buf);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* After a failed append: cut the file back to its last whole record. */
static int undo_partial(logw *w, int rc)
{
    if (env_truncate(w->f, w->flushed)) w->broken = rc;
    return rc;
}

static int check_broken(const logw *w)
{
    if (!w->broken) return 0;
    return err_set(ERR_CLOSED, "%s: log writer failed earlier (%s) and cannot continue", w->f->path,
                   err_name(w->broken));
}

int logw_flush(logw *w)
{
    if (!w->used) return 0;
    int rc = check_broken(w);
    if (rc) return rc;
    rc = env_append(w->f, w->buf, w->used);
    if (rc) {
        /* The bytes may be partly in the file: cut them off, so the log
         * stays a run of whole records, and keep them buffered. They may be
         * acknowledged (STRATA_DUR_NONE) records: the caller drops what it
         * must (logw_rewind), a later flush retries the rest. */
        return undo_partial(w, rc);
    }
    w->flushed += w->used;
    w->used = 0;
    return 0;
}

int logw_add(logw *w, const void *payload, size_t len)
{
    if (len > LOG_MAX_RECORD)
        return err_set(ERR_TOOBIG, "%s: log record of %zu bytes", w->f->path, len);
    int rc = check_broken(w);
    if (rc) return rc;
    uint8_t h[LOG_REC_HEADER];
    rec_header(h, payload, len);
    if (w->used + sizeof(h) + len > w->cap && (rc = logw_flush(w))) return rc;
    if (sizeof(h) + len > w->cap) {
        /* Too big for the buffer: write header and payload directly. */
        rc = env_append(w->f, h, sizeof(h));
        if (!rc) rc = env_append(w->f, payload, len);
        if (rc) return undo_partial(w, rc);
        w->flushed += sizeof(h) + len;
        return 0;
    }
    memcpy(w->buf + w->used, h, sizeof(h));
    if (len) memcpy(w->buf + w->used + sizeof(h), payload, len);
    w->used += sizeof(h) + len;
    return 0;
}

int logw_sync(logw *w)
{
    int rc = logw_flush(w);
    if (!rc) rc = check_broken(w);
    return rc ? rc : env_sync(w->f);
}

uint64_t logw_size(const logw *w)
{
    return w->flushed + w->used;
}
uint64_t logw_flushed(const logw *w)
{
    return w->flushed;
}

int logw_close(logw *w)
{
    if (!w) return 0;
    int rc = w->broken ? check_broken(w) : logw_sync(w);
    int rc2 = env_close(w->f);
    free(w->buf);
    free(w);
    return rc ? rc : rc2;
}

/* ---- reader ---- */

static int short_read(logr *r, uint64_t off)
{
    return err_set(ERR_CORRUPT, "%s: short read at offset %llu (file shrank while read)",
                   r->f->path, (unsigned long long)off);
}

/* Points *p at file bytes [off, off + n), which lie below r->size. The
 * pointer is valid until the next call. */
static int span(logr *r, uint64_t off, size_t n, const uint8_t **p)
{
    if (off >= r->win_off && off - r->win_off + n <= r->win_len) {
        *p = r->win + (off - r->win_off);
        return 0;
    }
    uint8_t *dst = r->win;
    size_t want = n;
    if (n <= READ_WINDOW) {
        want = r->size - off < READ_WINDOW ? (size_t)(r->size - off) : READ_WINDOW;
        r->win_len = 0;
    } else {
        if (n > r->big_cap) {
            uint8_t *nb = realloc(r->big, n);
            if (!nb) return err_set(ERR_NOMEM, "%s: out of memory", r->f->path);
            r->big = nb;
            r->big_cap = n;
        }
        dst = r->big;
    }
    size_t got = 0;
    int rc = env_pread(r->f, dst, want, off, &got);
    if (rc) return rc;
    if (got < n) return short_read(r, off);
    if (dst == r->win) {
        r->win_off = off;
        r->win_len = got;
    }
    *p = dst;
    return 0;
}

static int all_zero(logr *r, uint64_t from, uint64_t to);

int logr_open(env_t *env, const char *path, uint64_t magic, logr **out)
{
    logr *r = calloc(1, sizeof(*r));
    if (!r) return err_set(ERR_NOMEM, "%s: out of memory", path);
    r->magic = magic;
    r->win = malloc(READ_WINDOW);
    int rc = r->win ? env_open(env, path, ENV_READ, &r->f)
                    : err_set(ERR_NOMEM, "%s: out of memory", path);
    if (rc) {
        free(r->win);
        free(r);
        return rc;
    }
    uint8_t h[LOG_FILE_HEADER], want[LOG_FILE_HEADER];
    size_t got = 0;
    file_header(want, magic);
    rc = env_pread(r->f, h, sizeof(h), 0, &got);
    static const uint8_t zeros[LOG_FILE_HEADER];
    if (!rc && got < sizeof(h) && (memcmp(h, want, got) == 0 || memcmp(h, zeros, got) == 0)) {
        /* A file cut before its header was complete (or whose few bytes
         * never reached the disk) holds no record. */
        r->off = 0;
        r->torn = true;
        *out = r;
        return 0;
    }
    if (!rc && got == sizeof(h) && get_u64(h) == 0 && get_u64(h + 8) == 0) {
        /* A zero header over an all-zero file: the size reached the disk but
         * no data did (power loss right after creation). Like a zero tail,
         * that is a torn log holding no record, not corruption. */
        rc = env_size(r->f, &r->size);
        int z = rc ? rc : all_zero(r, 0, r->size);
        if (z == 1) {
            r->off = 0;
            r->torn = true;
            *out = r;
            return 0;
        }
        rc = z < 0 ? z : 0;
    }
    if (!rc && (got < sizeof(h) || get_u64(h) != magic))
        rc = err_set(ERR_CORRUPT, "%s: bad file header at offset 0 (magic mismatch)", path);
    if (!rc && crc32c_mask(crc32c(h, 12)) != get_u32(h + 12))
        rc = err_set(ERR_CORRUPT, "%s: bad file header at offset 0 (checksum mismatch)", path);
    if (!rc && get_u32(h + 8) != LOG_VERSION)
        rc = err_set(ERR_CORRUPT,
                     "%s: unsupported format version %u at offset 8 (this build reads %u)", path,
                     get_u32(h + 8), LOG_VERSION);
    if (!rc) rc = env_size(r->f, &r->size);
    if (rc) {
        logr_close(r);
        return rc;
    }
    r->off = LOG_FILE_HEADER;
    *out = r;
    return 0;
}

/* 1 if every byte in [from, to) is zero, 0 if not, or a negative error. */
static int all_zero(logr *r, uint64_t from, uint64_t to)
{
    while (from < to) {
        size_t n = to - from < READ_WINDOW ? (size_t)(to - from) : READ_WINDOW;
        const uint8_t *p;
        int rc = span(r, from, n, &p);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++)
            if (p[i]) return 0;
        from += n;
    }
    return 1;
}

static int corrupt(logr *r, const char *why)
{
    return err_set(ERR_CORRUPT, "%s: corrupt record at offset %llu (%s)", r->f->path,
                   (unsigned long long)r->off, why);
}

/* The record at r->off is bad (r->bad_last: offset of its last byte, or
 * UINT64_MAX when it runs past EOF): torn tail or corruption. */
static int classify(logr *r)
{
    if (r->bad_last != UINT64_MAX) {
        int rc = all_zero(r, r->bad_last, r->size);
        if (rc < 0) return rc;
        if (!rc) return corrupt(r, r->bad_why);
    }
    r->torn = true;
    r->win_len = 0; /* the tail may still be completed by a writer */
    return ERR_NOTFOUND;
}

#define BAD_RECORD 1

static int bad(logr *r, uint64_t last, const char *why)
{
    r->bad_last = last;
    r->bad_why = why;
    return BAD_RECORD;
}

/* One attempt at the current r->size: 0, ERR_NOTFOUND at the end (or past
 * it while the size may be stale), BAD_RECORD (r->bad_* set) or a negative
 * error. */
static int read_record(logr *r, const void **payload, size_t *len, bool fresh)
{
    if (r->off == r->size || (r->off > r->size && !fresh)) return ERR_NOTFOUND;
    if (r->off > r->size)
        return err_set(ERR_CORRUPT, "%s: offset %llu is past the end of the file (%llu bytes)",
                       r->f->path, (unsigned long long)r->off, (unsigned long long)r->size);
    if (r->size - r->off < LOG_REC_HEADER) return bad(r, UINT64_MAX, "header cut short");
    const uint8_t *h;
    int rc = span(r, r->off, LOG_REC_HEADER, &h);
    if (rc) return rc;
    if (crc32c_mask(crc32c(h, 8)) != get_u32(h + 8))
        return bad(r, r->off + LOG_REC_HEADER - 1, "record header checksum mismatch");
    uint32_t crc = get_u32(h), n = get_u32(h + 4);
    if (n > LOG_MAX_RECORD) return bad(r, r->off, "record length beyond the maximum");
    uint64_t end = r->off + LOG_REC_HEADER + n;
    if (end > r->size) return bad(r, UINT64_MAX, "payload cut short");
    const uint8_t *p;
    if ((rc = span(r, r->off + LOG_REC_HEADER, n, &p))) return rc;
    if (payload_crc(p, n) != crc) return bad(r, end - 1, "payload checksum mismatch");
    r->off = end;
    *payload = p;
    *len = n;
    return 0;
}

int logr_next(logr *r, const void **payload, size_t *len)
{
    r->torn = false;
    if (r->off < LOG_FILE_HEADER) { /* the header itself was cut short */
        r->torn = true;
        return ERR_NOTFOUND;
    }
    for (int fresh = 0;; fresh = 1) {
        int rc = read_record(r, payload, len, fresh);
        if (rc == 0 || (rc < 0 && rc != ERR_NOTFOUND)) return rc;
        if (fresh) return rc == ERR_NOTFOUND ? rc : classify(r);
        /* At the end or at a bad record: the file may have grown since. */
        if ((rc = env_size(r->f, &r->size))) return rc;
        r->win_len = 0;
    }
}

bool logr_torn(const logr *r)
{
    return r->torn;
}
uint64_t logr_offset(const logr *r)
{
    return r->off;
}
void logr_seek(logr *r, uint64_t off)
{
    r->off = off;
    r->torn = false;
}

void logr_close(logr *r)
{
    if (!r) return;
    env_close(r->f);
    free(r->win);
    free(r->big);
    free(r);
}

int logw_rewind(logw *w, uint64_t size)
{
    if (size >= w->flushed) { /* only buffered records go; the file keeps its records */
        int rc = w->broken ? env_truncate(w->f, w->flushed) : 0;
        if (rc) return rc;
        w->broken = 0;
        if (size - w->flushed < w->used) w->used = (size_t)(size - w->flushed);
        return 0;
    }
    w->used = 0;
    int rc = env_truncate(w->f, size);
    if (!rc) rc = env_sync(w->f);
    if (!rc) {
        w->flushed = size;
        w->broken = 0;
    }
    return rc;
}
