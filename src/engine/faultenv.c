/* The fault-injecting env (see faultenv.h for the power-loss model).
 *
 * State, all under ctx->mu:
 *  - inodes: one fe_inode per file the env has touched, with its durable size
 *    and, once its last current name is gone while a durable name still
 *    points at it, a copy of its durable bytes (saved) for a crash to restore.
 *    An inode is referenced by its current names, its durable names and its
 *    open handles; it is freed when the last reference goes.
 *  - cur: path -> inode as the file system has it now (tracked paths only).
 *  - dur: path -> inode as a crash would leave it. sync_dir(d) replaces the
 *    entries of d in dur by those of d in cur.
 * Paths are canonical: realpath of the directory + "/" + the name, so that
 * "dir/x" and "./dir/x" are one entry.
 *
 * Invariants:
 *  1. ino->durable never exceeds the real file's size, except after the file
 *     was changed behind the env's back.
 *  2. Every inode in dur with no name in cur has saved content.
 *  3. In the dead state no call changes a file (so cur/dur/durable change
 *     only through syncs that began before the power cut).
 */
#include "engine/faultenv.h"

#include "util/err.h"
#include "util/rand.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct fe_inode {
    uint64_t durable; /* bytes that survive a crash */
    int refs;         /* cur names + dur names + open handles */
    bool has_saved;
    uint8_t *saved; /* durable bytes, once no current name is left */
    size_t saved_len;
    uint64_t mark;  /* crash bookkeeping */
    uint64_t keep;  /* crash: bytes to keep */
    uint64_t zeros; /* crash: zero bytes to add after them */
    bool zeroed;    /* crash: zeros added to the file in place */
    uint8_t *load;  /* crash: content to write at missing names */
    bool need_load; /* crash: some durable name does not hold it now */
} fe_inode;

typedef struct fe_name {
    char *path; /* canonical */
    char *dir;  /* canonical directory of path */
    fe_inode *ino;
} fe_name;

typedef struct fe_table {
    fe_name *v;
    int n, cap;
} fe_table;

typedef struct fe_fault {
    bool active, sticky;
    int err;
    uint64_t countdown; /* fires when it is 1 */
} fe_fault;

typedef struct fe_ctx {
    env_t *base;
    pthread_mutex_t mu;
    fe_table cur, dur;
    fe_fault faults[FAULTENV_NUM_OPS];
    struct {
        bool active, kill;
        uint64_t countdown;
        size_t keep;
        int err;
    } torn;
    char *filter;
    uint64_t sync_points, kill_at, failures, epoch;
    bool dead;
    bool frozen;
    uint64_t now_ns, wall_us;
    bool real_sync; /* pass syncs to the base env (default) */
} fe_ctx;

typedef struct fe_handle {
    env_file *base;
    fe_inode *ino; /* NULL for files opened only for reading */
} fe_handle;

static const env_ops fe_ops;

static fe_ctx *ctx_of(env_t *env)
{
    return env->ctx;
}

/* ---- inodes and name tables ---- */

static fe_inode *ino_new(uint64_t durable)
{
    fe_inode *i = calloc(1, sizeof(*i));
    if (i) i->durable = durable;
    return i;
}

static void ino_unref(fe_inode *i)
{
    if (--i->refs > 0) return;
    free(i->saved);
    free(i->load);
    free(i);
}

static int tbl_find(const fe_table *t, const char *path)
{
    for (int k = 0; k < t->n; k++)
        if (!strcmp(t->v[k].path, path)) return k;
    return -1;
}

static fe_inode *tbl_get(const fe_table *t, const char *path)
{
    int k = tbl_find(t, path);
    return k < 0 ? NULL : t->v[k].ino;
}

static void tbl_del(fe_table *t, int k)
{
    free(t->v[k].path);
    free(t->v[k].dir);
    ino_unref(t->v[k].ino);
    t->v[k] = t->v[--t->n];
}

/* Points path at ino (replacing an older entry). */
static int tbl_set(fe_table *t, const char *path, const char *dir, fe_inode *ino)
{
    int k = tbl_find(t, path);
    if (k >= 0) {
        ino->refs++;
        ino_unref(t->v[k].ino);
        t->v[k].ino = ino;
        return 0;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 32;
        fe_name *v = realloc(t->v, sizeof(*v) * (size_t)cap);
        if (!v) return err_set(ERR_NOMEM, "faultenv: out of memory");
        t->v = v;
        t->cap = cap;
    }
    char *p = strdup(path), *d = strdup(dir);
    if (!p || !d) {
        free(p);
        free(d);
        return err_set(ERR_NOMEM, "faultenv: out of memory");
    }
    t->v[t->n++] = (fe_name){p, d, ino};
    ino->refs++;
    return 0;
}

static int names_of(const fe_table *t, const fe_inode *ino)
{
    int c = 0;
    for (int k = 0; k < t->n; k++) c += t->v[k].ino == ino;
    return c;
}

static void tbl_free(fe_table *t)
{
    while (t->n > 0) tbl_del(t, t->n - 1);
    free(t->v);
    t->v = NULL;
    t->cap = 0;
}

/* ---- paths ---- */

/* Canonical form of path; *dir_out (may be NULL) gets its directory. */
static char *canon(const char *path, char **dir_out)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash == path ? 1 : slash - path)) : strdup(".");
    const char *name = slash ? slash + 1 : path;
    if (!dir) return NULL;
    char *real = realpath(dir, NULL);
    if (real) {
        free(dir);
        dir = real;
    }
    size_t dl = strlen(dir), nl = strlen(name);
    char *out = malloc(dl + nl + 2);
    if (out) {
        memcpy(out, dir, dl);
        size_t o = dl;
        if (dl == 0 || dir[dl - 1] != '/') out[o++] = '/';
        memcpy(out + o, name, nl + 1);
    }
    if (out && dir_out)
        *dir_out = dir;
    else
        free(dir);
    return out;
}

static char *canon_dir(const char *path)
{
    char *real = realpath(path, NULL);
    if (real) return real;
    char *d = strdup(path);
    size_t n = d ? strlen(d) : 0;
    while (n > 1 && d[n - 1] == '/') d[--n] = 0;
    return d;
}

/* ---- faults ---- */

static bool matches(const fe_ctx *c, const char *p1, const char *p2)
{
    if (!c->filter) return true;
    return (p1 && strstr(p1, c->filter)) || (p2 && strstr(p2, c->filter));
}

/* 0, or the injected error for one call of class op (mutating unless READ). */
static int fault_check(fe_ctx *c, int op, const char *p1, const char *p2)
{
    if (c->dead && op != FAULTENV_READ) {
        c->failures++;
        return err_set(ERR_IO, "faultenv: %s: power is off", p1);
    }
    fe_fault *f = &c->faults[op];
    if (!f->active || !matches(c, p1, p2)) return 0;
    if (f->countdown > 1) {
        f->countdown--;
        return 0;
    }
    if (!f->sticky) f->active = false;
    c->failures++;
    return err_set(f->err, "faultenv: injected %s on %s", err_name(f->err), p1);
}

/* Adopts a file the env has not seen: durable as it is now. NULL if absent. */
static fe_inode *adopt(fe_ctx *c, const char *cpath, const char *cdir)
{
    fe_inode *i = tbl_get(&c->cur, cpath);
    if (i) return i;
    uint64_t size;
    if (c->base->ops->file_size(c->base, cpath, &size) != 0) {
        err_clear();
        return NULL;
    }
    i = ino_new(size);
    if (!i) return NULL;
    i->refs = 1; /* held while being inserted */
    /* A durable entry for the path (a different, renamed-away file) wins. */
    if (tbl_set(&c->cur, cpath, cdir, i) ||
        (tbl_find(&c->dur, cpath) < 0 && tbl_set(&c->dur, cpath, cdir, i))) {
        int k = tbl_find(&c->cur, cpath);
        if (k >= 0) tbl_del(&c->cur, k);
        ino_unref(i);
        return NULL;
    }
    ino_unref(i);
    return i;
}

/* Reads the first n bytes of path (through the base env) into *out. */
static int read_prefix(fe_ctx *c, const char *path, uint64_t n, uint8_t **out)
{
    env_file *f;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return err_set(ERR_NOMEM, "faultenv: out of memory");
    int rc = c->base->ops->open(c->base, path, ENV_READ, &f);
    if (!rc) {
        size_t got = 0;
        rc = n ? c->base->ops->pread(f, buf, n, 0, &got) : 0;
        if (!rc && got != n)
            rc = err_set(ERR_IO, "faultenv: %s shorter than its durable size", path);
        c->base->ops->close(f);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* Before path's name goes away: if it is the inode's last current name and a
 * durable name still points at the inode, keep its durable bytes. */
static int save_if_last(fe_ctx *c, fe_inode *i, const char *cpath)
{
    if (i->has_saved || names_of(&c->cur, i) > 1 || names_of(&c->dur, i) == 0) return 0;
    uint8_t *buf;
    int rc = read_prefix(c, cpath, i->durable, &buf);
    if (rc) return rc;
    i->saved = buf;
    i->saved_len = i->durable;
    i->has_saved = true;
    return 0;
}

static void unsave(fe_inode *i)
{
    free(i->saved);
    i->saved = NULL;
    i->has_saved = false;
}

/* ---- files ---- */

static int wrap(env_t *env, env_file *b, fe_inode *ino, env_file **out)
{
    env_file *f = calloc(1, sizeof(*f));
    fe_handle *h = calloc(1, sizeof(*h));
    char *p = strdup(b->path);
    if (!f || !h || !p) {
        free(f);
        free(h);
        free(p);
        b->env->ops->close(b);
        return err_set(ERR_NOMEM, "faultenv: out of memory");
    }
    h->base = b;
    h->ino = ino;
    if (ino) ino->refs++;
    f->env = env;
    f->path = p;
    f->fd = b->fd;
    f->ctx = h;
    *out = f;
    return 0;
}

static int fe_open(env_t *env, const char *path, int flags, env_file **out)
{
    fe_ctx *c = ctx_of(env);
    env_file *b;
    if (!(flags & ENV_WRITE)) {
        /* A read handle of a file this env tracks shares its inode: as on
         * Linux, an fsync through any descriptor makes the file durable. */
        char *rdir = NULL, *rp = canon(path, &rdir);
        if (!rp) return err_set(ERR_NOMEM, "faultenv: out of memory");
        pthread_mutex_lock(&c->mu);
        int rc = fault_check(c, FAULTENV_READ, path, NULL);
        if (!rc) rc = c->base->ops->open(c->base, path, flags, &b);
        if (!rc) rc = wrap(env, b, tbl_get(&c->cur, rp), out);
        pthread_mutex_unlock(&c->mu);
        free(rp);
        free(rdir);
        return rc;
    }
    char *dir = NULL, *cp = canon(path, &dir);
    if (!cp) return err_set(ERR_NOMEM, "faultenv: out of memory");
    pthread_mutex_lock(&c->mu);
    int rc = fault_check(c, FAULTENV_OPEN, cp, NULL);
    fe_inode *ino = NULL;
    if (!rc) ino = adopt(c, cp, dir); /* an existing file keeps its inode */
    if (!rc) rc = c->base->ops->open(c->base, path, flags, &b);
    if (!rc && !ino) {
        ino = ino_new(0);
        if (!ino) rc = err_set(ERR_NOMEM, "faultenv: out of memory");
        if (!rc) {
            ino->refs = 1;
            rc = tbl_set(&c->cur, cp, dir, ino);
            ino_unref(ino);
        }
        if (rc) c->base->ops->close(b);
    }
    if (!rc && (flags & ENV_TRUNC)) ino->durable = 0;
    if (!rc) rc = wrap(env, b, ino, out);
    pthread_mutex_unlock(&c->mu);
    free(cp);
    free(dir);
    return rc;
}

static int fe_close(env_file *f)
{
    fe_ctx *c = ctx_of(f->env);
    fe_handle *h = f->ctx;
    int rc = h->base->env->ops->close(h->base);
    if (h->ino) {
        pthread_mutex_lock(&c->mu);
        ino_unref(h->ino);
        pthread_mutex_unlock(&c->mu);
    }
    free(h);
    free(f->path);
    free(f);
    return rc;
}

static int fe_pread(env_file *f, void *buf, size_t n, uint64_t off, size_t *got)
{
    fe_ctx *c = ctx_of(f->env);
    fe_handle *h = f->ctx;
    pthread_mutex_lock(&c->mu);
    int rc = fault_check(c, FAULTENV_READ, f->path, NULL);
    pthread_mutex_unlock(&c->mu);
    return rc ? rc : h->base->env->ops->pread(h->base, buf, n, off, got);
}

static int fe_append(env_file *f, const void *buf, size_t n)
{
    fe_ctx *c = ctx_of(f->env);
    fe_handle *h = f->ctx;
    size_t keep = n;
    int torn_err = 0;
    bool kill = false;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->dead) {
        rc = fault_check(c, FAULTENV_APPEND, f->path, NULL);
    } else if (c->torn.active && matches(c, f->path, NULL)) {
        if (c->torn.countdown > 1) {
            c->torn.countdown--;
        } else {
            c->torn.active = false;
            keep = c->torn.keep < n ? c->torn.keep : n;
            torn_err = c->torn.err ? c->torn.err : ERR_IO;
            kill = c->torn.kill;
            c->failures++;
        }
    }
    if (!rc && !torn_err) rc = fault_check(c, FAULTENV_APPEND, f->path, NULL);
    pthread_mutex_unlock(&c->mu);
    if (rc) return rc;
    if (keep > 0) rc = h->base->env->ops->append(h->base, buf, keep);
    if (rc || !torn_err) return rc;
    if (kill) {
        pthread_mutex_lock(&c->mu);
        c->dead = true;
        pthread_mutex_unlock(&c->mu);
    }
    return err_set(torn_err, "faultenv: torn append on %s (%zu of %zu bytes)", f->path, keep, n);
}

/* Counts a sync point and fires the kill point; 0 or the error. */
static int sync_point(fe_ctx *c, const char *path)
{
    c->sync_points++;
    if (c->kill_at && c->sync_points == c->kill_at) c->dead = true;
    return fault_check(c, FAULTENV_SYNC, path, NULL);
}

static int fe_sync(env_file *f)
{
    fe_ctx *c = ctx_of(f->env);
    fe_handle *h = f->ctx;
    pthread_mutex_lock(&c->mu);
    int rc = sync_point(c, f->path);
    pthread_mutex_unlock(&c->mu);
    if (rc) return rc;
    uint64_t size = 0;
    pthread_mutex_lock(&c->mu);
    bool real = c->real_sync;
    pthread_mutex_unlock(&c->mu);
    if (h->ino) rc = h->base->env->ops->size(h->base, &size);
    if (!rc && real) rc = h->base->env->ops->sync(h->base);
    if (!rc && h->ino) {
        pthread_mutex_lock(&c->mu);
        if (h->ino->durable < size) h->ino->durable = size;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

static int fe_size(env_file *f, uint64_t *size)
{
    fe_handle *h = f->ctx;
    return h->base->env->ops->size(h->base, size);
}

static int fe_truncate(env_file *f, uint64_t size)
{
    fe_ctx *c = ctx_of(f->env);
    fe_handle *h = f->ctx;
    pthread_mutex_lock(&c->mu);
    /* Shrinking a file needs no space: only a power cut stops it. */
    int rc = c->dead ? fault_check(c, FAULTENV_APPEND, f->path, NULL) : 0;
    if (!rc) rc = h->base->env->ops->truncate(h->base, size);
    if (!rc && h->ino && h->ino->durable > size) h->ino->durable = size;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- names ---- */

static int fe_rename(env_t *env, const char *from, const char *to)
{
    fe_ctx *c = ctx_of(env);
    char *fdir = NULL, *tdir = NULL, *cf = canon(from, &fdir), *ct = canon(to, &tdir);
    int rc = cf && ct ? 0 : err_set(ERR_NOMEM, "faultenv: out of memory");
    pthread_mutex_lock(&c->mu);
    if (!rc) rc = fault_check(c, FAULTENV_RENAME, cf, ct);
    fe_inode *src = NULL, *dst = NULL;
    if (!rc) {
        src = adopt(c, cf, fdir);
        dst = adopt(c, ct, tdir);
    }
    bool saved = false;
    if (!rc && src && dst && dst != src && !dst->has_saved) {
        rc = save_if_last(c, dst, ct);
        saved = dst->has_saved;
    }
    if (!rc) rc = c->base->ops->rename(c->base, from, to);
    if (rc && saved) unsave(dst);
    if (!rc && src && src != dst) {
        rc = tbl_set(&c->cur, ct, tdir, src);
        int k = tbl_find(&c->cur, cf);
        if (k >= 0) tbl_del(&c->cur, k);
    }
    pthread_mutex_unlock(&c->mu);
    free(cf);
    free(ct);
    free(fdir);
    free(tdir);
    return rc;
}

static int fe_unlink(env_t *env, const char *path)
{
    fe_ctx *c = ctx_of(env);
    char *dir = NULL, *cp = canon(path, &dir);
    if (!cp) return err_set(ERR_NOMEM, "faultenv: out of memory");
    pthread_mutex_lock(&c->mu);
    int rc = fault_check(c, FAULTENV_UNLINK, cp, NULL);
    fe_inode *i = rc ? NULL : adopt(c, cp, dir);
    bool saved = false;
    if (i && !i->has_saved) {
        rc = save_if_last(c, i, cp);
        saved = i->has_saved;
    }
    if (!rc) rc = c->base->ops->unlink(c->base, path);
    if (rc && saved) unsave(i);
    if (!rc && i) tbl_del(&c->cur, tbl_find(&c->cur, cp));
    pthread_mutex_unlock(&c->mu);
    free(cp);
    free(dir);
    return rc;
}

static int fe_link(env_t *env, const char *from, const char *to)
{
    fe_ctx *c = ctx_of(env);
    char *fdir = NULL, *tdir = NULL, *cf = canon(from, &fdir), *ct = canon(to, &tdir);
    int rc = cf && ct ? 0 : err_set(ERR_NOMEM, "faultenv: out of memory");
    pthread_mutex_lock(&c->mu);
    if (!rc) rc = fault_check(c, FAULTENV_RENAME, cf, ct);
    fe_inode *src = rc ? NULL : adopt(c, cf, fdir);
    if (!rc) rc = c->base->ops->link(c->base, from, to);
    if (!rc && src) rc = tbl_set(&c->cur, ct, tdir, src);
    pthread_mutex_unlock(&c->mu);
    free(cf);
    free(ct);
    free(fdir);
    free(tdir);
    return rc;
}

static int fe_mkdir(env_t *env, const char *path)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    int rc = c->dead ? fault_check(c, FAULTENV_OPEN, path, NULL) : 0;
    pthread_mutex_unlock(&c->mu);
    return rc ? rc : c->base->ops->mkdir(c->base, path);
}

static int fe_sync_dir(env_t *env, const char *path)
{
    fe_ctx *c = ctx_of(env);
    char *cd = canon_dir(path);
    if (!cd) return err_set(ERR_NOMEM, "faultenv: out of memory");
    pthread_mutex_lock(&c->mu);
    int rc = sync_point(c, cd);
    if (!rc && c->real_sync) rc = c->base->ops->sync_dir(c->base, path);
    if (!rc) {
        for (int k = c->dur.n - 1; k >= 0; k--)
            if (!strcmp(c->dur.v[k].dir, cd)) tbl_del(&c->dur, k);
        for (int k = 0; k < c->cur.n && !rc; k++)
            if (!strcmp(c->cur.v[k].dir, cd))
                rc = tbl_set(&c->dur, c->cur.v[k].path, cd, c->cur.v[k].ino);
    }
    pthread_mutex_unlock(&c->mu);
    free(cd);
    return rc;
}

static int fe_list_dir(env_t *env, const char *path, char ***names, int *count)
{
    fe_ctx *c = ctx_of(env);
    return c->base->ops->list_dir(c->base, path, names, count);
}

static int fe_file_size(env_t *env, const char *path, uint64_t *size)
{
    fe_ctx *c = ctx_of(env);
    return c->base->ops->file_size(c->base, path, size);
}

static int fe_lock(env_t *env, const char *path, env_file **out)
{
    fe_ctx *c = ctx_of(env);
    env_file *b;
    int rc = c->base->ops->lock(c->base, path, &b);
    return rc ? rc : wrap(env, b, NULL, out);
}

static uint64_t fe_now_ns(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    bool frozen = c->frozen;
    uint64_t t = c->now_ns;
    pthread_mutex_unlock(&c->mu);
    return frozen ? t : c->base->ops->now_ns(c->base);
}

static uint64_t fe_wall_us(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    bool frozen = c->frozen;
    uint64_t t = c->wall_us;
    pthread_mutex_unlock(&c->mu);
    return frozen ? t : c->base->ops->wall_us(c->base);
}

static const env_ops fe_ops = {
    .open = fe_open,
    .close = fe_close,
    .pread = fe_pread,
    .append = fe_append,
    .sync = fe_sync,
    .size = fe_size,
    .truncate = fe_truncate,
    .rename = fe_rename,
    .unlink = fe_unlink,
    .link = fe_link,
    .mkdir = fe_mkdir,
    .sync_dir = fe_sync_dir,
    .list_dir = fe_list_dir,
    .file_size = fe_file_size,
    .lock = fe_lock,
    .now_ns = fe_now_ns,
    .wall_us = fe_wall_us,
};

/* ---- control ---- */

env_t *faultenv_new(env_t *base)
{
    env_t *env = calloc(1, sizeof(*env));
    fe_ctx *c = calloc(1, sizeof(*c));
    if (!env || !c) {
        free(env);
        free(c);
        return NULL;
    }
    c->base = base;
    c->real_sync = true;
    pthread_mutex_init(&c->mu, NULL);
    env->ops = &fe_ops;
    env->ctx = c;
    return env;
}

void faultenv_free(env_t *env)
{
    if (!env) return;
    fe_ctx *c = ctx_of(env);
    tbl_free(&c->cur);
    tbl_free(&c->dur);
    free(c->filter);
    pthread_mutex_destroy(&c->mu);
    free(c);
    free(env);
}

void faultenv_inject(env_t *env, int op, int err, uint64_t nth, bool sticky)
{
    fe_ctx *c = ctx_of(env);
    if (op < 0 || op >= FAULTENV_NUM_OPS) return;
    pthread_mutex_lock(&c->mu);
    c->faults[op] = (fe_fault){true, sticky, err, nth ? nth : 1};
    pthread_mutex_unlock(&c->mu);
}

void faultenv_torn_append(env_t *env, uint64_t nth, size_t keep_bytes, int err, bool then_kill)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->torn.active = true;
    c->torn.countdown = nth ? nth : 1;
    c->torn.keep = keep_bytes;
    c->torn.err = err;
    c->torn.kill = then_kill;
    pthread_mutex_unlock(&c->mu);
}

void faultenv_fail_writes(env_t *env, int err)
{
    faultenv_inject(env, FAULTENV_OPEN, err, 1, true);
    faultenv_inject(env, FAULTENV_APPEND, err, 1, true);
    faultenv_inject(env, FAULTENV_SYNC, err, 1, true);
    faultenv_inject(env, FAULTENV_RENAME, err, 1, true);
}

void faultenv_fail_reads(env_t *env, int err)
{
    faultenv_inject(env, FAULTENV_READ, err, 1, true);
}

void faultenv_real_sync(env_t *env, bool on)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->real_sync = on;
    pthread_mutex_unlock(&c->mu);
}

void faultenv_set_filter(env_t *env, const char *substr)
{
    fe_ctx *c = ctx_of(env);
    char *f = substr ? strdup(substr) : NULL;
    pthread_mutex_lock(&c->mu);
    free(c->filter);
    c->filter = f;
    pthread_mutex_unlock(&c->mu);
}

static void clear_locked(fe_ctx *c)
{
    memset(c->faults, 0, sizeof(c->faults));
    c->torn.active = false;
    free(c->filter);
    c->filter = NULL;
}

void faultenv_clear(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    clear_locked(c);
    pthread_mutex_unlock(&c->mu);
}

uint64_t faultenv_injected_failures(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->failures;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t faultenv_sync_points(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->sync_points;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void faultenv_kill_at_sync(env_t *env, uint64_t k)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->kill_at = k;
    if (k && k <= c->sync_points) c->dead = true;
    pthread_mutex_unlock(&c->mu);
}

void faultenv_kill(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->dead = true;
    pthread_mutex_unlock(&c->mu);
}

bool faultenv_dead(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    bool d = c->dead;
    pthread_mutex_unlock(&c->mu);
    return d;
}

/* A current path of inode i, or NULL. */
static const char *cur_path(const fe_ctx *c, const fe_inode *i)
{
    for (int k = 0; k < c->cur.n; k++)
        if (c->cur.v[k].ino == i) return c->cur.v[k].path;
    return NULL;
}

static int write_file(fe_ctx *c, const char *path, const uint8_t *data, uint64_t n)
{
    env_file *f;
    int rc = c->base->ops->open(c->base, path, ENV_WRITE | ENV_TRUNC, &f);
    if (rc) return rc;
    if (n) rc = c->base->ops->append(f, data, (size_t)n);
    int rc2 = c->base->ops->close(f);
    return rc ? rc : rc2;
}

static int truncate_path(fe_ctx *c, const char *path, uint64_t n)
{
    env_file *f;
    uint64_t size;
    int rc = c->base->ops->open(c->base, path, ENV_WRITE, &f);
    if (rc) return rc;
    rc = c->base->ops->size(f, &size);
    if (!rc && size > n) rc = c->base->ops->truncate(f, n);
    int rc2 = c->base->ops->close(f);
    return rc ? rc : rc2;
}

static int append_zeros(fe_ctx *c, const char *path, uint64_t n)
{
    static const uint8_t zero[4096];
    env_file *f;
    int rc = c->base->ops->open(c->base, path, ENV_WRITE, &f);
    if (rc) return rc;
    while (!rc && n > 0) {
        size_t m = n < sizeof(zero) ? (size_t)n : sizeof(zero);
        rc = c->base->ops->append(f, zero, m);
        n -= m;
    }
    int rc2 = c->base->ops->close(f);
    return rc ? rc : rc2;
}

int faultenv_crash_ex(env_t *env, int mode, uint64_t seed)
{
    fe_ctx *c = ctx_of(env);
    rng_t rng;
    rng_seed(&rng, seed);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    uint64_t epoch = ++c->epoch;
    /* 1. Decide each durable inode's kept length and load the content that
     *    must be written at names which do not hold the inode now. */
    for (int k = 0; k < c->dur.n && !rc; k++) {
        fe_inode *i = c->dur.v[k].ino;
        if (i->mark != epoch) {
            i->mark = epoch;
            i->need_load = false;
            i->keep = i->has_saved ? i->saved_len : i->durable;
            i->zeros = 0;
            i->zeroed = false;
            const char *p = cur_path(c, i);
            uint64_t size;
            if (!i->has_saved && p && mode != FAULTENV_CRASH_DROP_UNSYNCED &&
                c->base->ops->file_size(c->base, p, &size) == 0 && size > i->keep) {
                uint64_t extra = rng_below(&rng, size - i->keep + 1);
                if (mode == FAULTENV_CRASH_ZERO_TAIL)
                    i->zeros = extra;
                else
                    i->keep += extra;
            }
        }
        if (tbl_get(&c->cur, c->dur.v[k].path) != i && !i->need_load) {
            i->need_load = true;
            if (i->has_saved) continue;
            const char *p = cur_path(c, i);
            if (!p) {
                rc = err_set(ERR_IO, "faultenv: lost the content of %s", c->dur.v[k].path);
                break;
            }
            rc = read_prefix(c, p, i->keep, &i->load);
        }
    }
    /* 2. Remove every current name that is not durable (or names another file). */
    for (int k = 0; k < c->cur.n && !rc; k++)
        if (tbl_get(&c->dur, c->cur.v[k].path) != c->cur.v[k].ino) {
            int r = c->base->ops->unlink(c->base, c->cur.v[k].path);
            if (r && r != ERR_NOTFOUND) rc = r;
        }
    /* 3. Truncate files left in place; write the others back. */
    for (int k = 0; k < c->dur.n && !rc; k++) {
        fe_name *d = &c->dur.v[k];
        fe_inode *i = d->ino;
        bool in_place = tbl_get(&c->cur, d->path) == i;
        if (in_place)
            rc = truncate_path(c, d->path, i->keep);
        else
            rc = write_file(c, d->path, i->has_saved ? i->saved : i->load, i->keep);
        if (!rc && i->zeros && !(in_place && i->zeroed)) rc = append_zeros(c, d->path, i->zeros);
        if (in_place) i->zeroed = true;
    }
    /* 4. The disk now is the durable state. */
    while (c->cur.n > 0 && !rc) tbl_del(&c->cur, c->cur.n - 1);
    for (int k = 0; k < c->dur.n && !rc; k++) {
        fe_inode *i = c->dur.v[k].ino;
        rc = tbl_set(&c->cur, c->dur.v[k].path, c->dur.v[k].dir, i);
        i->durable = i->keep + i->zeros;
        i->zeros = 0;
        unsave(i);
        free(i->load);
        i->load = NULL;
    }
    c->dead = false;
    c->kill_at = 0;
    clear_locked(c);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void faultenv_set_time(env_t *env, uint64_t now_ns, uint64_t wall_us)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->frozen = true;
    c->now_ns = now_ns;
    c->wall_us = wall_us;
    pthread_mutex_unlock(&c->mu);
}

void faultenv_advance_time(env_t *env, uint64_t delta_ns)
{
    fe_ctx *c = ctx_of(env);
    uint64_t n = c->base->ops->now_ns(c->base), w = c->base->ops->wall_us(c->base);
    pthread_mutex_lock(&c->mu);
    if (!c->frozen) {
        c->frozen = true;
        c->now_ns = n;
        c->wall_us = w;
    }
    c->now_ns += delta_ns;
    c->wall_us += delta_ns / 1000;
    pthread_mutex_unlock(&c->mu);
}

void faultenv_real_time(env_t *env)
{
    fe_ctx *c = ctx_of(env);
    pthread_mutex_lock(&c->mu);
    c->frozen = false;
    pthread_mutex_unlock(&c->mu);
}
