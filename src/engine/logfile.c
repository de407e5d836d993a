/* Record log files (see logfile.h). The writer keeps a user-space buffer so
 * that writes with durability NONE cost a memcpy; logw_flush hands it to the
 * OS and logw_sync makes it durable. The reader is used by recovery and by the
 * change-log tail, which may read a file while it is being appended to: a
 * partial record at the end is then simply "not there yet". */
#include "engine/logfile.h"

#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct logw {
    env_file *f;
    uint8_t *buf;
    size_t used, cap;
    uint64_t flushed; /* bytes handed to the OS */
};

struct logr {
    env_file *f;
    uint64_t size; /* file size when last checked */
    uint64_t off;  /* next record offset */
    uint8_t *buf;
    size_t cap;
    bool torn;
};

static uint32_t rec_crc(uint32_t len, const void *payload)
{
    uint8_t l[4];
    put_u32(l, len);
    return crc32c_mask(crc32c_extend(crc32c(l, 4), payload, len));
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
        uint8_t h[LOG_FILE_HEADER];
        put_u64(h, magic);
        put_u32(h + 8, LOG_VERSION);
        put_u32(h + 12, crc32c_mask(crc32c(h, 12)));
        memcpy(w->buf, h, sizeof(h));
        w->used = sizeof(h);
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

int logw_flush(logw *w)
{
    if (!w->used) return 0;
    int rc = env_append(w->f, w->buf, w->used);
    if (rc) {
        /* The bytes may be partly in the file: drop them and truncate back so
         * that the log stays a sequence of whole records. */
        env_truncate(w->f, w->flushed);
        w->used = 0;
        return rc;
    }
    w->flushed += w->used;
    w->used = 0;
    return 0;
}

int logw_add(logw *w, const void *payload, size_t len)
{
    if (len > LOG_MAX_RECORD) return err_set(ERR_TOOBIG, "log record of %zu bytes", len);
    uint8_t h[LOG_REC_HEADER];
    put_u32(h, rec_crc((uint32_t)len, payload));
    put_u32(h + 4, (uint32_t)len);
    if (w->used + sizeof(h) + len > w->cap) {
        int rc = logw_flush(w);
        if (rc) return rc;
    }
    if (sizeof(h) + len > w->cap) {
        /* Too big for the buffer: write header and payload directly. */
        int rc = env_append(w->f, h, sizeof(h));
        if (!rc) rc = env_append(w->f, payload, len);
        if (rc) {
            env_truncate(w->f, w->flushed);
            return rc;
        }
        w->flushed += sizeof(h) + len;
        return 0;
    }
    memcpy(w->buf + w->used, h, sizeof(h));
    memcpy(w->buf + w->used + sizeof(h), payload, len);
    w->used += sizeof(h) + len;
    return 0;
}

int logw_sync(logw *w)
{
    int rc = logw_flush(w);
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
    int rc = logw_sync(w);
    int rc2 = env_close(w->f);
    free(w->buf);
    free(w);
    return rc ? rc : rc2;
}

int logr_open(env_t *env, const char *path, uint64_t magic, logr **out)
{
    logr *r = calloc(1, sizeof(*r));
    if (!r) return err_set(ERR_NOMEM, "%s: out of memory", path);
    int rc = env_open(env, path, ENV_READ, &r->f);
    if (rc) {
        free(r);
        return rc;
    }
    uint8_t h[LOG_FILE_HEADER];
    size_t got = 0;
    rc = env_pread(r->f, h, sizeof(h), 0, &got);
    if (!rc && got < sizeof(h)) {
        /* A file cut before its header was complete holds no record. */
        r->off = got;
        r->torn = true;
        r->size = got;
        *out = r;
        return 0;
    }
    if (!rc && (get_u64(h) != magic || crc32c_mask(crc32c(h, 12)) != get_u32(h + 12)))
        rc = err_set(ERR_CORRUPT, "%s: bad file header at offset 0 (magic or checksum)", path);
    if (!rc && get_u32(h + 8) != LOG_VERSION)
        rc = err_set(ERR_CORRUPT, "%s: unsupported format version %u at offset 8", path,
                     get_u32(h + 8));
    if (rc) {
        env_close(r->f);
        free(r);
        return rc;
    }
    r->off = LOG_FILE_HEADER;
    *out = r;
    return 0;
}

static int all_zero(logr *r, uint64_t from, uint64_t to)
{
    uint8_t b[4096];
    while (from < to) {
        size_t n = to - from < sizeof(b) ? (size_t)(to - from) : sizeof(b), got;
        if (env_pread(r->f, b, n, from, &got) || got != n) return 0;
        for (size_t i = 0; i < n; i++)
            if (b[i]) return 0;
        from += n;
    }
    return 1;
}

int logr_next(logr *r, const void **payload, size_t *len)
{
    int rc = env_size(r->f, &r->size);
    if (rc) return rc;
    r->torn = false;
    if (r->off < LOG_FILE_HEADER) { /* header was incomplete */
        r->torn = true;
        return ERR_NOTFOUND;
    }
    if (r->off == r->size) return ERR_NOTFOUND;
    uint8_t h[LOG_REC_HEADER];
    if (r->size - r->off < sizeof(h)) goto torn;
    if ((rc = env_read_exact(r->f, h, sizeof(h), r->off))) return rc;
    uint32_t crc = get_u32(h), n = get_u32(h + 4);
    if (n > LOG_MAX_RECORD || r->off + sizeof(h) + n > r->size) {
        if (all_zero(r, r->off, r->size) || r->off + sizeof(h) + n > r->size) goto torn;
        goto corrupt;
    }
    if (n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < (size_t)n + 1) cap *= 2;
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb) return err_set(ERR_NOMEM, "%s: out of memory", r->f->path);
        r->buf = nb;
        r->cap = cap;
    }
    if ((rc = env_read_exact(r->f, r->buf, n, r->off + sizeof(h)))) return rc;
    if (rec_crc(n, r->buf) != crc) {
        if (all_zero(r, r->off, r->size)) goto torn;
        goto corrupt;
    }
    r->off += sizeof(h) + n;
    *payload = r->buf;
    *len = n;
    return 0;
torn:
    r->torn = true;
    return ERR_NOTFOUND;
corrupt:
    return err_set(ERR_CORRUPT, "%s: corrupt record at offset %llu (checksum mismatch)", r->f->path,
                   (unsigned long long)r->off);
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
}

void logr_close(logr *r)
{
    if (!r) return;
    env_close(r->f);
    free(r->buf);
    free(r);
}

int logw_rewind(logw *w, uint64_t size)
{
    w->used = 0;
    int rc = env_truncate(w->f, size);
    if (!rc) rc = env_sync(w->f);
    if (!rc) w->flushed = size;
    return rc;
}
