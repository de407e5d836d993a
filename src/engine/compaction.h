/* Compaction: choosing which files to merge and merging them.
 *
 * Leveled: L0 files (flushed memtables, overlapping) are merged all at once
 * into L1 when there are level0_compaction_trigger of them; a level n >= 1
 * larger than its target (level1_max_bytes * ratio^(n-1)) sends one file,
 * chosen round-robin by key, into level n+1. A file with no overlap below
 * moves down by a manifest edit alone (trivial move).
 *
 * Merging keeps, for each user key, every version a live snapshot may read
 * and drops the rest; drops deletions and covered keys at the bottom (no
 * deeper file overlaps); applies the compaction filter; splits outputs at
 * target_file_bytes on user-key boundaries (a user key never spans two
 * files of one level), clipping range tombstones to each output's range.
 * The same merge writes flushes (one output, level 0). */
#ifndef STRATA_ENGINE_COMPACTION_H
#define STRATA_ENGINE_COMPACTION_H

#include "engine/sst.h"
#include "engine/version.h"
#include "strata/engine.h"

typedef struct compaction {
    uint32_t part;
    int level, out_level;
    file_meta **in[2]; /* in[0] at level, in[1] at out_level */
    int nin[2];
    bool bottommost; /* no file below out_level overlaps the input range */
    bool trivial_move;
    version *v; /* pinned input version */
} compaction;

typedef struct compaction_limits {
    int num_levels;
    int level0_trigger;
    uint64_t level1_max_bytes;
    int size_ratio;
} compaction_limits;

/* Picker state: round-robin positions per partition and level. */
typedef struct compaction_picker compaction_picker;
compaction_picker *compaction_picker_new(void);
void compaction_picker_free(compaction_picker *p);

/* The most urgent compaction of v, or NULL when every score is below 1. */
compaction *compaction_pick(compaction_picker *p, version *v, const compaction_limits *lim);
/* A compaction of part's files at `level` overlapping [lo, hi] (NULL =
 * unbounded) into out_level; NULL when level holds none. */
compaction *compaction_for_range(version *v, uint32_t part, int level, int out_level,
                                 const void *lo, size_t lol, const void *hi, size_t hil);
void compaction_free(compaction *c);
/* Bytes of compaction debt: how far each level is above its target. */
uint64_t compaction_pending_bytes(version *v, const compaction_limits *lim);
uint64_t compaction_input_bytes(const compaction *c);

/* What the merge needs from the db. new_file_number must be thread-safe. */
typedef struct merge_ctx {
    version_set *vs;
    sst_options sst;
    uint64_t target_file_bytes;
    uint64_t smallest_snapshot;
    strata_compaction_filter filter;
    void *filter_arg;
    uint64_t (*new_file_number)(void *arg);
    void (*pending_output)(void *arg, uint64_t number, bool add); /* protects outputs from GC */
    void *arg;
    uint64_t bytes_read, bytes_written; /* out */
    uint64_t dropped;                   /* out: records dropped */
} merge_ctx;

/* Runs c, putting input deletions and outputs into e. */
int compaction_run(compaction *c, merge_ctx *m, version_edit *e);
/* Writes a flush of one memtable partition (entries of `in`, tombstones
 * rdels) as level-0 file(s) into e. bottommost: no file of the partition
 * exists, so deletions visible to all snapshots can be dropped. */
int compaction_flush(merge_ctx *m, uint32_t part, ikiter *in, const rangedel_list *rdels,
                     bool bottommost, version_edit *e);

#endif
