/* Versions: which SST files make up the database, per partition and level,
 * and the manifest that records every change to that set.
 *
 * A version is an immutable, refcounted list of files; readers pin one and
 * read without locks. A version_edit describes a change (files added and
 * removed, partitions created and dropped, counters); version_set_apply
 * appends it to the manifest (docs/format/manifest.md), syncs, and installs
 * the resulting version as current. The manifest is rewritten as one
 * snapshot edit into a new MANIFEST-NNNNNN at open and when it grows past
 * a bound, and CURRENT is switched atomically (write temp, sync, rename).
 *
 * Levels: L0 files may overlap and are kept newest first; files of L1 and
 * deeper are disjoint and sorted by key. File bounds are internal keys; a
 * bound that comes from a range tombstone's exclusive end is the sentinel
 * (end, SEQ_MAX, TYPE_RANGE_DELETION), which sorts before every real entry
 * of that user key.
 *
 * Locking: version_set_apply and the registry functions are called with the
 * db mutex held; versions themselves are immutable. */
#ifndef STRATA_ENGINE_VERSION_H
#define STRATA_ENGINE_VERSION_H

#include "engine/iter.h"
#include "engine/rangedel.h"
#include "engine/tablecache.h"
#include "util/env.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define VER_MAX_LEVELS 8
#define PART_NAME_MAX  255

typedef struct file_meta {
    int refs;      /* atomic */
    bool obsolete; /* removed from the current version: unlink when unreferenced */
    uint32_t part;
    uint64_t number, size;
    uint8_t *smallest, *largest; /* internal keys */
    size_t slen, llen;
    uint64_t smallest_seq, largest_seq;
    uint64_t entries, range_dels;
} file_meta;

typedef struct part_levels {
    uint32_t id;
    int n[VER_MAX_LEVELS];
    file_meta **files[VER_MAX_LEVELS];
    uint64_t bytes[VER_MAX_LEVELS];
} part_levels;

typedef struct version_set version_set;

typedef struct version {
    int refs; /* atomic */
    version_set *vs;
    int nparts;
    part_levels *parts; /* sorted by id */
} version;

typedef struct ve_file {
    int level;
    file_meta *f; /* owned by the edit until applied */
} ve_file;
typedef struct ve_del {
    int level;
    uint32_t part;
    uint64_t number;
} ve_del;
typedef struct ve_part {
    uint32_t id;
    char *name;
} ve_part;

typedef struct version_edit {
    bool has_log_number, has_next_file, has_last_seq, has_next_part, has_flushed_seq;
    uint64_t log_number; /* WAL segments below this are not needed by recovery */
    uint64_t next_file;
    uint64_t last_seq;
    uint64_t flushed_seq; /* every write <= this is in SST files */
    uint32_t next_part;
    ve_file *adds;
    int nadds, cadds;
    ve_del *dels;
    int ndels, cdels;
    ve_part *new_parts;
    int nnew_parts;
    uint32_t *drop_parts;
    int ndrop_parts;
} version_edit;

void version_edit_init(version_edit *e);
void version_edit_free(version_edit *e);
int version_edit_add_file(version_edit *e, int level, file_meta *f);
int version_edit_del_file(version_edit *e, int level, uint32_t part, uint64_t number);
int version_edit_add_part(version_edit *e, uint32_t id, const char *name);
int version_edit_drop_part(version_edit *e, uint32_t id);
/* Manifest record payloads. decode validates every field. */
int version_edit_encode(const version_edit *e, uint8_t **out, size_t *len);
int version_edit_decode(version_edit *e, const void *data, size_t len);

file_meta *file_meta_new(void);
void file_meta_ref(file_meta *f);
void file_meta_unref(version_set *vs, file_meta *f);

typedef struct version_options {
    env_t *env;
    const char *dir;
    int num_levels;
    bool create_if_missing, error_if_exists;
    uint64_t max_manifest_bytes;
    table_cache *tc;
} version_options;

/* Recovers from CURRENT and its manifest, or creates a new database when
 * there is none and create_if_missing. Then writes a fresh manifest. */
int version_set_open(const version_options *o, version_set **out);
void version_set_close(version_set *vs);
/* Applies e (which it consumes: files move into the version) and makes it
 * durable. On error the current version is unchanged. */
int version_set_apply(version_set *vs, version_edit *e);
/* version_set_apply for callers holding mu (the db mutex): mu is released
 * while the edit's directory sync and manifest record are written and
 * synced, so that the db is not blocked on that I/O. Edits still apply one
 * at a time (a second caller waits on mu), and the registry and current
 * version change only once mu is held again. Every caller that may run
 * while another holds mu released this way must use this form. With old,
 * the replaced version is handed to the caller (NULL on error) instead of
 * being released here: its last release unlinks the files the edit made
 * obsolete, which the caller can then do without mu. */
int version_set_apply_mu(version_set *vs, version_edit *e, pthread_mutex_t *mu, version **old);
/* Waits (on mu, held) until no edit is being applied: a caller that reads
 * the registry or counters to build its edit calls this first, so that no
 * edit lands between its reads and its own apply. */
void version_set_wait_apply(version_set *vs, pthread_mutex_t *mu);
version *version_set_current(version_set *vs); /* referenced */
void version_ref(version *v);
void version_unref(version *v);

uint64_t version_set_new_file_number(version_set *vs);
uint64_t version_set_next_file_number(version_set *vs);
uint64_t version_set_last_seq(version_set *vs);
uint64_t version_set_log_number(version_set *vs);
uint64_t version_set_flushed_seq(version_set *vs);
uint64_t version_set_manifest_number(version_set *vs);
int version_set_num_levels(version_set *vs);

/* Partition registry. */
int version_set_part_find(version_set *vs, const char *name, uint32_t *id);
const char *version_set_part_name(version_set *vs, uint32_t id);
bool version_set_part_exists(version_set *vs, uint32_t id);
uint32_t version_set_next_part(version_set *vs);
int version_set_part_list(version_set *vs, uint32_t *ids, int max);

/* A partition's levels in v, or NULL if it has no files. */
const part_levels *version_part(const version *v, uint32_t part);

/* Point lookup through the levels of one partition: the newest entry of ukey
 * with seq <= snap. 0 with type/seq/val (malloc'd; NULL val skips the copy),
 * ERR_NOTFOUND if none, another error on corruption or I/O. *rd_seq gets the
 * largest range-tombstone seq <= snap covering ukey in these files. */
int version_get(version *v, uint32_t part, const void *ukey, size_t klen, uint64_t snap, int *type,
                uint64_t *seq, void **val, size_t *vlen, uint64_t *rd_seq);
/* Appends the partition's iterators (one per L0 file, one per deeper level)
 * to kids (room for VER_MAX_LEVELS + L0 count). Returns the count or an error. */
int version_add_iters(version *v, uint32_t part, bool fill_cache, ikiter **kids, int max);
int version_range_dels(version *v, uint32_t part, rangedel_list *out);
/* Iterator over a sorted, disjoint run of files (a level, or compaction inputs). */
ikiter *version_level_iter(version_set *vs, file_meta **files, int n, bool fill_cache);

/* Files of level L in part overlapping the user-key range [lo, hi] (NULL =
 * unbounded); fills a malloc'd array. */
int version_overlapping(const version *v, uint32_t part, int level, const void *lo, size_t lol,
                        const void *hi, size_t hil, file_meta ***out, int *n);
uint64_t version_total_bytes(const version *v);

/* Writes a manifest holding exactly v's files plus the registry (for a
 * checkpoint) as dir/MANIFEST-000001 and dir/CURRENT. */
int version_set_write_snapshot(version_set *vs, version *v, const char *dir, uint64_t last_seq,
                               uint64_t next_file);
/* Extracts the user key range of a file. */
static inline const uint8_t *fm_smallest_ukey(const file_meta *f, size_t *n)
{
    *n = f->slen - 8;
    return f->smallest;
}
static inline const uint8_t *fm_largest_ukey(const file_meta *f, size_t *n)
{
    *n = f->llen - 8;
    return f->largest;
}

table_cache *version_set_table_cache(version_set *vs);
env_t *version_set_env(version_set *vs);
const char *version_set_dir(version_set *vs);

#endif
