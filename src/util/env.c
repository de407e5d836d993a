/* POSIX implementation of the env seam (see env.h). */
#include "util/env.h"

#include "util/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int io_err(const char *op, const char *path)
{
    int e = errno;
    return err_set(err_from_errno(e), "%s %s: %s", op, path, strerror(e));
}

static int px_open(env_t *env, const char *path, int flags, env_file **out)
{
    int oflags = O_CLOEXEC;
    if (flags & ENV_WRITE) {
        oflags |= O_WRONLY | O_CREAT | O_APPEND;
        if (flags & ENV_TRUNC) oflags |= O_TRUNC;
        if (flags & ENV_EXCL) oflags |= O_EXCL;
        if (flags & ENV_READ) oflags = (oflags & ~O_WRONLY) | O_RDWR;
    } else {
        oflags |= O_RDONLY;
    }
    int fd = open(path, oflags, 0644);
    if (fd < 0) return io_err("open", path);
    env_file *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        close(fd);
        free(f);
        free(p);
        return err_set(ERR_NOMEM, "open %s: out of memory", path);
    }
    f->env = env;
    f->path = p;
    f->fd = fd;
    *out = f;
    return 0;
}

static int px_close(env_file *f)
{
    int rc = 0;
    if (f->fd >= 0 && close(f->fd) != 0) rc = io_err("close", f->path);
    free(f->path);
    free(f);
    return rc;
}

static int px_pread(env_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return io_err("read", f->path);
        }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int px_append(env_file *f, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return io_err("write", f->path);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int px_sync(env_file *f)
{
    if (fdatasync(f->fd) != 0) return io_err("fdatasync", f->path);
    return 0;
}

static int px_size(env_file *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) return io_err("stat", f->path);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_map(env_file *f, uint64_t size, const void **addr)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) return io_err("stat", f->path);
    /* Never map past the end: touching such a page raises SIGBUS. */
    if ((uint64_t)st.st_size < size || size == 0 || size > SIZE_MAX)
        return err_set(ERR_CORRUPT, "map %s: file of %llu bytes, %llu expected", f->path,
                       (unsigned long long)st.st_size, (unsigned long long)size);
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED) return io_err("mmap", f->path);
    *addr = p;
    return 0;
}

static void px_unmap(env_file *f, const void *addr, uint64_t size)
{
    munmap((void *)addr, (size_t)size);
}

static int px_truncate(env_file *f, uint64_t size)
{
    if (ftruncate(f->fd, (off_t)size) != 0) return io_err("truncate", f->path);
    return 0;
}

static int px_rename(env_t *env, const char *from, const char *to)
{
    if (rename(from, to) != 0) return io_err("rename", from);
    return 0;
}

static int px_unlink(env_t *env, const char *path)
{
    if (unlink(path) != 0) return io_err("unlink", path);
    return 0;
}

static int px_link(env_t *env, const char *from, const char *to)
{
    if (link(from, to) != 0) return io_err("link", from);
    return 0;
}

static int px_mkdir(env_t *env, const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return io_err("mkdir", path);
    return 0;
}

static int px_sync_dir(env_t *env, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_err("open dir", path);
    int rc = 0;
    if (fsync(fd) != 0) rc = io_err("fsync dir", path);
    close(fd);
    return rc;
}

static int px_list_dir(env_t *env, const char *path, char ***names, int *count)
{
    DIR *d = opendir(path);
    if (!d) return io_err("opendir", path);
    int n = 0, cap = 16;
    char **v = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *de;
    while (v && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            cap *= 2;
            char **nv = realloc(v, sizeof(char *) * (size_t)cap);
            if (!nv) break;
            v = nv;
        }
        v[n] = strdup(de->d_name);
        if (!v[n]) break;
        n++;
    }
    int failed = !v || de != NULL;
    closedir(d);
    if (failed) {
        env_free_list(v, n);
        return err_set(ERR_NOMEM, "list %s: out of memory", path);
    }
    *names = v;
    *count = n;
    return 0;
}

static int px_file_size(env_t *env, const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0) return io_err("stat", path);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_lock(env_t *env, const char *path, env_file **out)
{
    int rc = px_open(env, path, ENV_WRITE, out);
    if (rc) return rc;
    if (flock((*out)->fd, LOCK_EX | LOCK_NB) != 0) {
        px_close(*out);
        *out = NULL;
        return err_set(ERR_BUSY, "lock %s: held by another process", path);
    }
    return 0;
}

static uint64_t px_now_ns(env_t *env)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t px_wall_us(env_t *env)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

const env_ops env_posix_ops = {
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .append = px_append,
    .sync = px_sync,
    .size = px_size,
    .truncate = px_truncate,
    .rename = px_rename,
    .unlink = px_unlink,
    .link = px_link,
    .mkdir = px_mkdir,
    .sync_dir = px_sync_dir,
    .list_dir = px_list_dir,
    .file_size = px_file_size,
    .lock = px_lock,
    .map = px_map,
    .unmap = px_unmap,
    .now_ns = px_now_ns,
    .wall_us = px_wall_us,
};

env_t *env_posix(void)
{
    static env_t env = {&env_posix_ops, NULL};
    return &env;
}

int env_read_exact(env_file *f, void *buf, size_t n, uint64_t off)
{
    size_t got;
    int rc = env_pread(f, buf, n, off, &got);
    if (rc) return rc;
    if (got != n)
        return err_set(ERR_CORRUPT, "%s: short read at offset %llu (%zu of %zu bytes)", f->path,
                       (unsigned long long)off, got, n);
    return 0;
}

int env_read_all(env_t *e, const char *path, char **data, size_t *len)
{
    env_file *f;
    uint64_t sz;
    int rc = env_open(e, path, ENV_READ, &f);
    if (rc) return rc;
    rc = env_size(f, &sz);
    char *buf = NULL;
    if (!rc) {
        buf = malloc(sz + 1);
        if (!buf) rc = err_set(ERR_NOMEM, "read %s: out of memory", path);
    }
    if (!rc) rc = env_read_exact(f, buf, sz, 0);
    env_close(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[sz] = 0;
    *data = buf;
    *len = sz;
    return 0;
}

int env_write_atomic(env_t *e, const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    env_file *f;
    int rc = env_open(e, tmp, ENV_WRITE | ENV_TRUNC, &f);
    if (rc) return rc;
    rc = env_append(f, data, len);
    if (!rc) rc = env_sync(f);
    int rc2 = env_close(f);
    if (!rc) rc = rc2;
    if (!rc) rc = env_rename(e, tmp, dst);
    if (!rc) rc = env_sync_dir(e, dir);
    if (rc) env_unlink(e, tmp);
    return rc;
}

void env_free_list(char **names, int count)
{
    if (!names) return;
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}
