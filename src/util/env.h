/* The one seam for file I/O and time. Everything that touches a file or reads
 * a clock goes through an env_t, so tests can swap in the fault-injecting env
 * (engine/faultenv.h): EIO, ENOSPC, torn writes, loss of unsynced data, and a
 * controlled clock. env_posix() is the real one.
 *
 * Files are append-only writers or positional readers (an LSM never rewrites
 * a file in place). All functions return 0 or a negative ERR_* code and set a
 * message naming the path. */
#ifndef STRATA_UTIL_ENV_H
#define STRATA_UTIL_ENV_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct env env_t;
typedef struct env_file env_file;

enum {
    ENV_READ = 1,  /* open existing for reading */
    ENV_WRITE = 2, /* open for appending; created if missing */
    ENV_TRUNC = 4, /* with ENV_WRITE: truncate to zero */
    ENV_EXCL = 8,  /* with ENV_WRITE: fail with ERR_EXISTS if present */
};

typedef struct env_ops {
    int (*open)(env_t *env, const char *path, int flags, env_file **out);
    int (*close)(env_file *f);
    /* Reads up to n bytes at off; *got is short only at end of file. */
    int (*pread)(env_file *f, void *buf, size_t n, uint64_t off, size_t *got);
    /* Appends n bytes at the end of a file opened with ENV_WRITE. */
    int (*append)(env_file *f, const void *buf, size_t n);
    /* Makes every appended byte durable (fdatasync). */
    int (*sync)(env_file *f);
    int (*size)(env_file *f, uint64_t *size);
    int (*truncate)(env_file *f, uint64_t size);
    int (*rename)(env_t *env, const char *from, const char *to);
    int (*unlink)(env_t *env, const char *path);
    int (*link)(env_t *env, const char *from, const char *to);
    int (*mkdir)(env_t *env, const char *path);    /* ok if it exists */
    int (*sync_dir)(env_t *env, const char *path); /* makes renames/creates durable */
    /* Lists the names in a directory (no "." or ".."); free with env_free_list. */
    int (*list_dir)(env_t *env, const char *path, char ***names, int *count);
    int (*file_size)(env_t *env, const char *path, uint64_t *size);
    /* Takes an exclusive advisory lock on path (created); ERR_BUSY if held. */
    int (*lock)(env_t *env, const char *path, env_file **out);
    /* Optional (NULL: not supported, callers fall back to pread): maps the
     * first size bytes of a file opened with ENV_READ read-only at *addr,
     * valid until unmap; ERR_CORRUPT if the file is shorter. The bytes are
     * the file's, so callers still verify checksums. A wrapper that injects
     * read faults must leave map NULL, or its reads would bypass pread. */
    int (*map)(env_file *f, uint64_t size, const void **addr);
    void (*unmap)(env_file *f, const void *addr, uint64_t size);
    uint64_t (*now_ns)(env_t *env);  /* monotonic clock */
    uint64_t (*wall_us)(env_t *env); /* wall clock, microseconds since epoch */
} env_ops;

struct env {
    const env_ops *ops;
    void *ctx; /* implementation state */
};

struct env_file {
    env_t *env;
    char *path;
    int fd;    /* POSIX descriptor, -1 if not backed by one */
    void *ctx; /* implementation state */
};

/* The process-wide POSIX env (never freed). */
env_t *env_posix(void);

static inline int env_open(env_t *e, const char *p, int fl, env_file **o)
{
    return e->ops->open(e, p, fl, o);
}
static inline int env_close(env_file *f)
{
    return f ? f->env->ops->close(f) : 0;
}
static inline int env_pread(env_file *f, void *b, size_t n, uint64_t off, size_t *got)
{
    return f->env->ops->pread(f, b, n, off, got);
}
static inline int env_append(env_file *f, const void *b, size_t n)
{
    return f->env->ops->append(f, b, n);
}
static inline int env_sync(env_file *f)
{
    return f->env->ops->sync(f);
}
static inline int env_size(env_file *f, uint64_t *s)
{
    return f->env->ops->size(f, s);
}
static inline int env_truncate(env_file *f, uint64_t s)
{
    return f->env->ops->truncate(f, s);
}
static inline int env_rename(env_t *e, const char *a, const char *b)
{
    return e->ops->rename(e, a, b);
}
static inline int env_unlink(env_t *e, const char *p)
{
    return e->ops->unlink(e, p);
}
static inline int env_link(env_t *e, const char *a, const char *b)
{
    return e->ops->link(e, a, b);
}
static inline int env_mkdir(env_t *e, const char *p)
{
    return e->ops->mkdir(e, p);
}
static inline int env_sync_dir(env_t *e, const char *p)
{
    return e->ops->sync_dir(e, p);
}
static inline int env_list_dir(env_t *e, const char *p, char ***n, int *c)
{
    return e->ops->list_dir(e, p, n, c);
}
static inline int env_file_size(env_t *e, const char *p, uint64_t *s)
{
    return e->ops->file_size(e, p, s);
}
static inline int env_lock(env_t *e, const char *p, env_file **o)
{
    return e->ops->lock(e, p, o);
}
static inline int env_map(env_file *f, uint64_t size, const void **addr)
{
    return f->env->ops->map ? f->env->ops->map(f, size, addr) : ERR_INVAL;
}
static inline void env_unmap(env_file *f, const void *addr, uint64_t size)
{
    if (addr) f->env->ops->unmap(f, addr, size);
}
static inline uint64_t env_now_ns(env_t *e)
{
    return e->ops->now_ns(e);
}
static inline uint64_t env_wall_us(env_t *e)
{
    return e->ops->wall_us(e);
}

/* Reads exactly n bytes at off; ERR_CORRUPT naming the file on a short read. */
int env_read_exact(env_file *f, void *buf, size_t n, uint64_t off);
/* Reads a whole small file into a malloc'd buffer (NUL-terminated). */
int env_read_all(env_t *e, const char *path, char **data, size_t *len);
/* Writes data to path via a temp file, sync, rename and directory sync. */
int env_write_atomic(env_t *e, const char *dir, const char *name, const void *data, size_t len);
void env_free_list(char **names, int count);

/* The POSIX implementations, for wrappers such as the fault env. */
extern const env_ops env_posix_ops;

#endif
