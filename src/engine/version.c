/* Version set: the current version, the manifest and the partition
 * registry (see version.h).
 *
 * Invariants
 *  1. `current` always matches the manifest on disk: an edit is installed
 *     only after its record is synced.
 *  2. A file removed from the current version is marked obsolete and is
 *     unlinked when the last version holding it goes away.
 *  3. L0 files are sorted newest first (largest_seq, then number,
 *     descending); deeper levels by smallest internal key, disjoint.
 *  4. Partition ids are never reused: next_part only grows. */
#include "engine/version.h"

#include "engine/dbformat.h"
#include "engine/logfile.h"
#include "util/err.h"
#include "util/log.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reg_part {
    uint32_t id;
    char *name;
} reg_part;

struct version_set {
    env_t *env;
    char *dir;
    int num_levels;
    uint64_t max_manifest_bytes;
    table_cache *tc;
    version *current;
    uint64_t next_file, last_seq, log_number, flushed_seq, manifest_number;
    uint32_t next_part;
    reg_part *parts;
    int nparts, cparts;
    logw *manifest;
    bool manifest_suspect; /* may end in a failed edit: switch before the next */
    /* An edit is being applied (its manifest I/O may run with the caller's
     * mutex released): edits are applied one at a time. */
    bool applying;
    pthread_cond_t apply_cv;
};

/* ---- files and versions ---- */
void file_meta_unref(version_set *vs, file_meta *f)
{
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (f->obsolete && vs) {
        char path[PATH_MAX];
        table_path(path, sizeof(path), vs->dir, f->number);
        table_cache_evict(vs->tc, f->number);
        if (env_unlink(vs->env, path) && err_msg()) log_warn("unlink %s: %s", path, err_msg());
    }
    free(f->smallest);
    free(f->largest);
    free(f);
}

static version *version_alloc(version_set *vs)
{
    version *v = calloc(1, sizeof(*v));
    if (v) {
        v->refs = 1;
        v->vs = vs;
    }
    return v;
}

void version_ref(version *v)
{
    __atomic_fetch_add(&v->refs, 1, __ATOMIC_RELAXED);
}

static void free_part(version_set *vs, part_levels *p)
{
    for (int l = 0; l < VER_MAX_LEVELS; l++) {
        for (int i = 0; i < p->n[l]; i++) file_meta_unref(vs, p->files[l][i]);
        free(p->files[l]);
    }
}

void version_unref(version *v)
{
    if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (int i = 0; i < v->nparts; i++) free_part(v->vs, &v->parts[i]);
    free(v->parts);
    free(v);
}

const part_levels *version_part(const version *v, uint32_t part)
{
    int lo = 0, hi = v->nparts - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v->parts[mid].id == part) return &v->parts[mid];
        if (v->parts[mid].id < part)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int l0_order(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    if (x->largest_seq != y->largest_seq) return x->largest_seq > y->largest_seq ? -1 : 1;
    return x->number > y->number ? -1 : x->number < y->number;
}
static int key_order(const void *a, const void *b)
{
    const file_meta *x = *(file_meta *const *)a, *y = *(file_meta *const *)b;
    return ikey_cmp(x->smallest, x->slen, y->smallest, y->slen);
}

static bool edit_adds(const version_edit *e, uint64_t number)
{
    for (int i = 0; i < e->nadds; i++)
        if (e->adds[i].f->number == number) return true;
    return false;
}
static bool edit_drops(const version_edit *e, uint32_t part)
{
    for (int i = 0; i < e->ndrop_parts; i++)
        if (e->drop_parts[i] == part) return true;
    return false;
}
static bool edit_deletes(const version_edit *e, uint32_t part, int level, uint64_t number)
{
    for (int i = 0; i < e->ndels; i++)
        if (e->dels[i].part == part && e->dels[i].level == level && e->dels[i].number == number)
            return true;
    return false;
}

/* True if partition id exists once e is applied. */
static bool part_live(version_set *vs, const version_edit *e, uint32_t id)
{
    if (edit_drops(e, id)) return false;
    if (version_set_part_exists(vs, id)) return true;
    for (int i = 0; i < e->nnew_parts; i++)
        if (e->new_parts[i].id == id) return true;
    return false;
}

static int add_to_part(part_levels *p, int level, file_meta *f)
{
    file_meta **nf = realloc(p->files[level], sizeof(*nf) * (size_t)(p->n[level] + 1));
    if (!nf) return err_set(ERR_NOMEM, "version: out of memory");
    p->files[level] = nf;
    nf[p->n[level]++] = f;
    p->bytes[level] += f->size;
    file_meta_ref(f);
    return 0;
}

static part_levels *find_or_add_part(version *v, uint32_t id)
{
    for (int i = 0; i < v->nparts; i++)
        if (v->parts[i].id == id) return &v->parts[i];
    part_levels *np = realloc(v->parts, sizeof(*np) * (size_t)(v->nparts + 1));
    if (!np) return NULL;
    v->parts = np;
    memset(&np[v->nparts], 0, sizeof(*np));
    np[v->nparts].id = id;
    return &np[v->nparts++];
}

static int part_id_order(const void *a, const void *b)
{
    const part_levels *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Builds base + e. When mark, files leaving the version become obsolete. */
static int build_version(version_set *vs, const version *base, const version_edit *e, bool mark,
                         version **out)
{
    version *v = version_alloc(vs);
    if (!v) return err_set(ERR_NOMEM, "version: out of memory");
    int rc = 0;
    for (int i = 0; base && i < base->nparts && !rc; i++) {
        const part_levels *bp = &base->parts[i];
        bool dropped = edit_drops(e, bp->id);
        for (int l = 0; l < VER_MAX_LEVELS && !rc; l++) {
            for (int j = 0; j < bp->n[l] && !rc; j++) {
                file_meta *f = bp->files[l][j];
                if (dropped || edit_deletes(e, bp->id, l, f->number)) {
                    if (mark && !edit_adds(e, f->number)) f->obsolete = true;
                    continue;
                }
                part_levels *p = find_or_add_part(v, bp->id);
                rc = p ? add_to_part(p, l, f) : err_set(ERR_NOMEM, "version: out of memory");
            }
        }
    }
    for (int i = 0; i < e->nadds && !rc; i++) {
        if (!part_live(vs, e, e->adds[i].f->part)) continue;
        part_levels *p = find_or_add_part(v, e->adds[i].f->part);
        rc = p ? add_to_part(p, e->adds[i].level, e->adds[i].f)
               : err_set(ERR_NOMEM, "version: out of memory");
    }
    if (rc) {
        version_unref(v);
        return rc;
    }
    if (v->nparts > 1) qsort(v->parts, (size_t)v->nparts, sizeof(*v->parts), part_id_order);
    for (int i = 0; i < v->nparts; i++) {
        part_levels *p = &v->parts[i];
        if (p->n[0] > 1) qsort(p->files[0], (size_t)p->n[0], sizeof(file_meta *), l0_order);
        for (int l = 1; l < VER_MAX_LEVELS; l++)
            if (p->n[l] > 1) qsort(p->files[l], (size_t)p->n[l], sizeof(file_meta *), key_order);
    }
    *out = v;
    return 0;
}

/* ---- registry ---- */
static int reg_add(version_set *vs, uint32_t id, const char *name)
{
    for (int i = 0; i < vs->nparts; i++)
        if (vs->parts[i].id == id) return 0;
    if (vs->nparts == vs->cparts) {
        int nc = vs->cparts ? vs->cparts * 2 : 8;
        reg_part *np = realloc(vs->parts, sizeof(*np) * (size_t)nc);
        if (!np) return err_set(ERR_NOMEM, "partitions: out of memory");
        vs->parts = np;
        vs->cparts = nc;
    }
    char *n = strdup(name);
    if (!n) return err_set(ERR_NOMEM, "partitions: out of memory");
    vs->parts[vs->nparts++] = (reg_part){id, n};
    if (id >= vs->next_part) vs->next_part = id + 1;
    return 0;
}
static void reg_drop(version_set *vs, uint32_t id)
{
    for (int i = 0; i < vs->nparts; i++) {
        if (vs->parts[i].id != id) continue;
        free(vs->parts[i].name);
        vs->parts[i] = vs->parts[--vs->nparts];
        return;
    }
}

int version_set_part_find(version_set *vs, const char *name, uint32_t *id)
{
    for (int i = 0; i < vs->nparts; i++)
        if (!strcmp(vs->parts[i].name, name)) {
            *id = vs->parts[i].id;
            return 0;
        }
    return ERR_NOTFOUND;
}
const char *version_set_part_name(version_set *vs, uint32_t id)
{
    for (int i = 0; i < vs->nparts; i++)
        if (vs->parts[i].id == id) return vs->parts[i].name;
    return NULL;
}
bool version_set_part_exists(version_set *vs, uint32_t id)
{
    return version_set_part_name(vs, id) != NULL;
}
uint32_t version_set_next_part(version_set *vs)
{
    return vs->next_part;
}
static int u32_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}
int version_set_part_list(version_set *vs, uint32_t *ids, int max)
{
    uint32_t *all = malloc(sizeof(uint32_t) * (size_t)(vs->nparts + 1));
    if (!all) return err_set(ERR_NOMEM, "partitions: out of memory");
    for (int i = 0; i < vs->nparts; i++) all[i] = vs->parts[i].id;
    qsort(all, (size_t)vs->nparts, sizeof(uint32_t), u32_order);
    for (int i = 0; i < vs->nparts && i < max; i++) ids[i] = all[i];
    free(all);
    return vs->nparts;
}

/* Counters and registry changes of an edit (recovery and apply). */
static int apply_meta(version_set *vs, const version_edit *e)
{
    if (e->has_log_number && e->log_number > vs->log_number) vs->log_number = e->log_number;
    if (e->has_next_file && e->next_file > vs->next_file) vs->next_file = e->next_file;
    if (e->has_last_seq && e->last_seq > vs->last_seq) vs->last_seq = e->last_seq;
    if (e->has_flushed_seq && e->flushed_seq > vs->flushed_seq) vs->flushed_seq = e->flushed_seq;
    if (e->has_next_part && e->next_part > vs->next_part) vs->next_part = e->next_part;
    for (int i = 0; i < e->nnew_parts; i++) {
        int rc = reg_add(vs, e->new_parts[i].id, e->new_parts[i].name);
        if (rc) return rc;
    }
    for (int i = 0; i < e->ndrop_parts; i++) reg_drop(vs, e->drop_parts[i]);
    for (int i = 0; i < e->nadds; i++)
        if (e->adds[i].f->number >= vs->next_file) vs->next_file = e->adds[i].f->number + 1;
    return 0;
}

/* ---- manifest ---- */
static int snapshot_edit(version_set *vs, version *v, version_edit *e, uint64_t last_seq,
                         uint64_t next_file, uint64_t log_number)
{
    version_edit_init(e);
    e->has_log_number = e->has_next_file = e->has_last_seq = e->has_next_part = true;
    e->has_flushed_seq = true;
    e->log_number = log_number;
    e->next_file = next_file;
    e->last_seq = last_seq;
    e->flushed_seq = vs->flushed_seq < last_seq ? vs->flushed_seq : last_seq;
    e->next_part = vs->next_part;
    int rc = 0;
    for (int i = 0; i < vs->nparts && !rc; i++)
        rc = version_edit_add_part(e, vs->parts[i].id, vs->parts[i].name);
    for (int i = 0; v && i < v->nparts && !rc; i++)
        for (int l = 0; l < VER_MAX_LEVELS && !rc; l++)
            for (int j = 0; j < v->parts[i].n[l] && !rc; j++) {
                file_meta *f = v->parts[i].files[l][j];
                file_meta_ref(f);
                rc = version_edit_add_file(e, l, f);
                if (rc) file_meta_unref(vs, f);
            }
    if (rc) version_edit_free(e);
    return rc;
}

static int write_record(logw *w, const version_edit *e)
{
    uint8_t *buf;
    size_t len;
    int rc = version_edit_encode(e, &buf, &len);
    if (rc) return rc;
    rc = logw_add(w, buf, len);
    free(buf);
    return rc ? rc : logw_sync(w);
}

static void manifest_name(char *buf, size_t cap, uint64_t number)
{
    snprintf(buf, cap, "MANIFEST-%06llu", (unsigned long long)number);
}

/* Writes a new manifest holding v, points CURRENT at it and drops the old one. */
static int new_manifest(version_set *vs, version *v)
{
    uint64_t number = vs->next_file++;
    char name[64], path[PATH_MAX];
    manifest_name(name, sizeof(name), number);
    snprintf(path, sizeof(path), "%s/%s", vs->dir, name);
    logw *w = NULL;
    int rc = logw_open(vs->env, path, LOG_MAGIC_MANIFEST, 64 << 10, &w);
    if (rc) return rc;
    version_edit e;
    rc = snapshot_edit(vs, v, &e, vs->last_seq, vs->next_file, vs->log_number);
    if (!rc) {
        rc = write_record(w, &e);
        version_edit_free(&e);
    }
    if (!rc) {
        char cur[80];
        int n = snprintf(cur, sizeof(cur), "%s\n", name);
        rc = env_write_atomic(vs->env, vs->dir, "CURRENT", cur, (size_t)n);
        if (rc) {
            /* CURRENT may already name the new manifest (the rename went
             * through, the directory sync did not): keep both, each holds
             * the whole state, and switch again before the next edit. */
            logw_close(w);
            vs->manifest_suspect = true;
            return rc;
        }
    }
    if (rc) {
        logw_close(w);
        env_unlink(vs->env, path);
        return rc;
    }
    if (vs->manifest) {
        logw_close(vs->manifest);
        char old[64], opath[PATH_MAX];
        manifest_name(old, sizeof(old), vs->manifest_number);
        snprintf(opath, sizeof(opath), "%s/%s", vs->dir, old);
        env_unlink(vs->env, opath);
    }
    vs->manifest = w;
    vs->manifest_number = number;
    return 0;
}

static int recover(version_set *vs, const char *current, size_t clen)
{
    char name[128], path[PATH_MAX];
    if (clen < 2 || clen >= sizeof(name) || current[clen - 1] != '\n' ||
        strncmp(current, "MANIFEST-", 9))
        return err_set(ERR_CORRUPT, "%s/CURRENT: malformed (%zu bytes)", vs->dir, clen);
    memcpy(name, current, clen - 1);
    name[clen - 1] = 0;
    if (strchr(name, '/'))
        return err_set(ERR_CORRUPT, "%s/CURRENT: malformed manifest name", vs->dir);
    snprintf(path, sizeof(path), "%s/%s", vs->dir, name);
    vs->manifest_number = strtoull(name + 9, NULL, 10);
    logr *r = NULL;
    int rc = logr_open(vs->env, path, LOG_MAGIC_MANIFEST, &r);
    if (rc) return rc;
    version *v = version_alloc(vs);
    if (!v) rc = err_set(ERR_NOMEM, "version: out of memory");
    const void *payload;
    size_t len;
    while (!rc) {
        uint64_t off = logr_offset(r);
        rc = logr_next(r, &payload, &len);
        if (rc == ERR_NOTFOUND) {
            /* A torn manifest tail is an edit whose sync never returned:
             * the change it describes was never relied upon. */
            rc = 0;
            break;
        }
        if (rc) break;
        version_edit e;
        rc = version_edit_decode(&e, payload, len);
        if (rc == ERR_CORRUPT) {
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            rc = err_set(ERR_CORRUPT, "%s: record at offset %llu: %s", path,
                         (unsigned long long)off, msg);
        }
        if (rc) break;
        rc = apply_meta(vs, &e);
        version *nv = NULL;
        if (!rc) rc = build_version(vs, v, &e, false, &nv);
        version_edit_free(&e);
        if (!rc) {
            version_unref(v);
            v = nv;
        }
    }
    logr_close(r);
    if (rc) {
        version_unref(v);
        return rc;
    }
    vs->current = v;
    return 0;
}

int version_set_open(const version_options *o, version_set **out)
{
    version_set *vs = calloc(1, sizeof(*vs));
    if (vs) pthread_cond_init(&vs->apply_cv, NULL);
    if (!vs) return err_set(ERR_NOMEM, "version set: out of memory");
    vs->env = o->env;
    vs->dir = strdup(o->dir);
    vs->num_levels = o->num_levels;
    vs->max_manifest_bytes = o->max_manifest_bytes ? o->max_manifest_bytes : (4u << 20);
    vs->tc = o->tc;
    vs->next_file = 2;
    vs->next_part = 1;
    int rc = vs->dir ? 0 : err_set(ERR_NOMEM, "version set: out of memory");
    char *cur = NULL;
    size_t clen = 0;
    char cpath[PATH_MAX];
    snprintf(cpath, sizeof(cpath), "%s/CURRENT", o->dir);
    int crc = rc ? rc : env_read_all(o->env, cpath, &cur, &clen);
    if (!rc && crc == 0) {
        if (o->error_if_exists)
            rc = err_set(ERR_EXISTS, "%s: database exists (error_if_exists)", o->dir);
        else
            rc = recover(vs, cur, clen);
    } else if (!rc && crc == ERR_NOTFOUND) {
        if (!o->create_if_missing)
            rc = err_set(ERR_NOTFOUND, "%s: no database (create_if_missing is false)", o->dir);
        else {
            vs->current = version_alloc(vs);
            rc = vs->current ? reg_add(vs, 0, "default")
                             : err_set(ERR_NOMEM, "version: out of memory");
        }
    } else if (!rc) {
        rc = crc;
    }
    free(cur);
    if (!rc && !version_set_part_exists(vs, 0)) rc = reg_add(vs, 0, "default");
    if (!rc) rc = new_manifest(vs, vs->current);
    if (rc) {
        version_set_close(vs);
        return rc;
    }
    *out = vs;
    return 0;
}

void version_set_close(version_set *vs)
{
    if (!vs) return;
    if (vs->manifest) logw_close(vs->manifest);
    version_unref(vs->current);
    for (int i = 0; i < vs->nparts; i++) free(vs->parts[i].name);
    free(vs->parts);
    free(vs->dir);
    pthread_cond_destroy(&vs->apply_cv);
    free(vs);
}

/* version_set_apply with applying set; mu (if any) is released around the
 * directory sync and the manifest append + sync. */
static int apply_edit(version_set *vs, version_edit *e, pthread_mutex_t *mu, version **old)
{
    if (!e->has_next_file) {
        e->has_next_file = true;
        e->next_file = vs->next_file;
    }
    /* A flush or compaction that ran while its partition was dropped:
     * its files never enter the version and go when nothing holds them. */
    int kept = 0;
    for (int i = 0; i < e->nadds; i++) {
        file_meta *f = e->adds[i].f;
        if (part_live(vs, e, f->part)) {
            e->adds[kept++] = e->adds[i];
            continue;
        }
        f->obsolete = true;
        file_meta_unref(vs, f);
    }
    e->nadds = kept;
    if (vs->manifest_suspect) {
        int rc = new_manifest(vs, vs->current);
        if (rc) return rc;
        vs->manifest_suspect = false;
    }
    /* Build first so a failure leaves nothing on disk; mark nothing yet.
     * current cannot change meanwhile: only an apply changes it. */
    version *nv = NULL;
    int rc = build_version(vs, vs->current, e, false, &nv);
    if (rc) return rc;
    if (mu) pthread_mutex_unlock(mu);
    /* New files must be in the directory for good before the manifest
     * names them. */
    rc = e->nadds ? env_sync_dir(vs->env, vs->dir) : 0;
    bool dir_ok = rc == 0;
    if (dir_ok) rc = write_record(vs->manifest, e);
    if (mu) pthread_mutex_lock(mu);
    if (!dir_ok) { /* the manifest is untouched */
        version_unref(nv);
        return rc;
    }
    if (rc) {
        /* The manifest may now end in a partial record, or in the whole
         * record if only its sync failed (the next open would apply it):
         * start a new one without it. If that fails too, keep the files
         * the edit names (the caller deletes what stays in e; the next open
         * collects them if the record did not last) and switch first
         * before the next edit. */
        int saved = rc;
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        if (new_manifest(vs, vs->current)) {
            log_warn("manifest switch failed: %s", err_msg());
            vs->manifest_suspect = true;
            for (int i = 0; i < e->nadds; i++) file_meta_unref(NULL, e->adds[i].f);
            e->nadds = 0;
        }
        version_unref(nv);
        return err_set(saved, "%s", msg);
    }
    version *tmp = NULL; /* marks obsolete files now that the edit is durable */
    if (!build_version(vs, vs->current, e, true, &tmp)) version_unref(tmp);
    apply_meta(vs, e);
    if (old)
        *old = vs->current;
    else
        version_unref(vs->current);
    vs->current = nv;
    version_edit_free(e);
    if (logw_size(vs->manifest) > vs->max_manifest_bytes) {
        rc = new_manifest(vs, nv);
        if (rc) log_warn("manifest rewrite failed (kept the old one): %s", err_msg());
    }
    return 0;
}

void version_set_wait_apply(version_set *vs, pthread_mutex_t *mu)
{
    while (vs->applying) pthread_cond_wait(&vs->apply_cv, mu);
}

int version_set_apply_mu(version_set *vs, version_edit *e, pthread_mutex_t *mu, version **old)
{
    if (old) *old = NULL;
    if (mu) version_set_wait_apply(vs, mu);
    assert(!vs->applying);
    vs->applying = true;
    int rc = apply_edit(vs, e, mu, old);
    vs->applying = false;
    if (mu) pthread_cond_broadcast(&vs->apply_cv);
    return rc;
}

int version_set_apply(version_set *vs, version_edit *e)
{
    return version_set_apply_mu(vs, e, NULL, NULL);
}

version *version_set_current(version_set *vs)
{
    version_ref(vs->current);
    return vs->current;
}

uint64_t version_set_new_file_number(version_set *vs)
{
    return vs->next_file++;
}
uint64_t version_set_next_file_number(version_set *vs)
{
    return vs->next_file;
}
uint64_t version_set_last_seq(version_set *vs)
{
    return vs->last_seq;
}
uint64_t version_set_log_number(version_set *vs)
{
    return vs->log_number;
}
uint64_t version_set_flushed_seq(version_set *vs)
{
    return vs->flushed_seq;
}
uint64_t version_set_manifest_number(version_set *vs)
{
    return vs->manifest_number;
}
int version_set_num_levels(version_set *vs)
{
    return vs->num_levels;
}
table_cache *version_set_table_cache(version_set *vs)
{
    return vs->tc;
}
env_t *version_set_env(version_set *vs)
{
    return vs->env;
}
const char *version_set_dir(version_set *vs)
{
    return vs->dir;
}

uint64_t version_total_bytes(const version *v)
{
    uint64_t n = 0;
    for (int i = 0; i < v->nparts; i++)
        for (int l = 0; l < VER_MAX_LEVELS; l++) n += v->parts[i].bytes[l];
    return n;
}

int version_set_write_snapshot(version_set *vs, version *v, const char *dir, uint64_t last_seq,
                               uint64_t next_file)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/MANIFEST-000001", dir);
    logw *w = NULL;
    int rc = logw_open(vs->env, path, LOG_MAGIC_MANIFEST, 64 << 10, &w);
    if (rc) return rc;
    version_edit e;
    /* No WAL comes with the copy: log_number past every file number. */
    rc = snapshot_edit(vs, v, &e, last_seq, next_file, next_file);
    if (!rc) {
        e.has_flushed_seq = true;
        e.flushed_seq = last_seq;
        rc = write_record(w, &e);
        version_edit_free(&e);
    }
    int crc = logw_close(w);
    if (!rc) rc = crc;
    if (!rc) rc = env_write_atomic(vs->env, dir, "CURRENT", "MANIFEST-000001\n", 16);
    return rc;
}
