/* A fault-injecting env_t for tests: wraps another env (normally env_posix())
 * and adds injected errors, torn appends, a controllable clock, sync-point
 * counting and power-loss simulation.
 *
 * Power-loss model (faultenv_crash):
 *  - File data: every file (an "inode") has a durable size, the size it had
 *    when its last sync began. A crash truncates it to that size (or, in
 *    FAULTENV_CRASH_RANDOM_TAIL mode, keeps a random prefix of the unsynced
 *    tail, or in FAULTENV_CRASH_ZERO_TAIL mode follows the synced prefix by
 *    up to that many zero bytes). ENV_TRUNC on open and env truncate() are
 *    taken as durable at once.
 *  - Names: each directory has a durable name table, copied from the current
 *    one by sync_dir(dir). A crash makes every directory the env touched match
 *    its durable table: a file created and never dir-synced disappears, an
 *    unsynced rename or unlink is undone (the old name comes back with the
 *    file's durable content), a rename over an existing file brings the old
 *    target back. Files that existed before the env first touched them count
 *    as durable with their size at that moment; files the env never touched
 *    are left alone. Directories (mkdir) are taken as durable at once, and
 *    LOCK files (env lock) are not tracked.
 *  - "Dead" state: faultenv_kill(), or reaching the sync point set with
 *    faultenv_kill_at_sync(), models the instant of the power cut: from then
 *    on every operation that would change the disk fails with ERR_IO, so the
 *    durable state is frozen while the code under test winds down (close
 *    what it has open). faultenv_crash() then applies the durable state to
 *    the real files and revives the env. Call it only with no file of this
 *    env open (other handles keep working but see the rewritten files).
 *
 * Injected faults: per operation class, the n-th matching call from now fails
 * with a given code, or with `sticky` every call from the n-th on until
 * faultenv_clear(). A path filter restricts which files count. A failing
 * append writes nothing unless it was made a torn append. Truncation (which
 * needs no space) fails only in the dead state.
 *
 * Sync points: every file sync and directory sync call (successful or not)
 * is one sync point, numbered from 1 since faultenv_new.
 *
 * Thread-safe: one mutex guards the state; file syncs run outside it. */
#ifndef STRATA_ENGINE_FAULTENV_H
#define STRATA_ENGINE_FAULTENV_H

#include "util/env.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Operation classes for injected faults. */
enum faultenv_op {
    FAULTENV_OPEN = 0, /* open with ENV_WRITE (create or append) */
    FAULTENV_READ,     /* open for reading, pread */
    FAULTENV_APPEND,   /* append */
    FAULTENV_SYNC,     /* sync of a file and sync_dir */
    FAULTENV_RENAME,   /* rename and link */
    FAULTENV_UNLINK,   /* unlink */
    FAULTENV_NUM_OPS
};

enum faultenv_crash_mode {
    FAULTENV_CRASH_DROP_UNSYNCED = 0, /* every unsynced byte is lost */
    FAULTENV_CRASH_RANDOM_TAIL = 1,   /* a random prefix of each unsynced tail survives */
    FAULTENV_CRASH_ZERO_TAIL = 2,     /* the size grew but the data did not land: the
                                         synced prefix, then a random count of zero bytes */
};

/* A new fault env over base (not owned). Free with faultenv_free after every
 * file of it is closed. NULL if out of memory. */
env_t *faultenv_new(env_t *base);
void faultenv_free(env_t *env);

/* The nth (1 = next) call of class op whose path matches the filter fails
 * with err (ERR_IO, ERR_NOSPC, ...); with sticky, every matching call from the
 * nth on fails until faultenv_clear. Replaces an earlier fault of that class. */
void faultenv_inject(env_t *env, int op, int err, uint64_t nth, bool sticky);
/* The nth matching append writes only its first keep_bytes bytes and fails
 * with err; with then_kill the env goes dead right after (a crash mid-write). */
void faultenv_torn_append(env_t *env, uint64_t nth, size_t keep_bytes, int err, bool then_kill);
/* Every append, sync, rename and write-open fails with err until cleared
 * (a full or failing disk); reads keep working. */
void faultenv_fail_writes(env_t *env, int err);
/* Every read-open and pread fails with err until cleared. */
void faultenv_fail_reads(env_t *env, int err);
/* Only paths containing substr count for injected faults (NULL: all). */
void faultenv_set_filter(env_t *env, const char *substr);
/* Removes every injected fault and the filter (not the dead state). */
void faultenv_clear(env_t *env);
/* Calls that failed because of an injected fault or the dead state. */
uint64_t faultenv_injected_failures(env_t *env);

/* Sync points reached so far (file syncs + directory syncs). */
uint64_t faultenv_sync_points(env_t *env);
/* The power goes off just before sync point k (1-based, absolute): that sync
 * fails with ERR_IO and the env is dead from then on. 0 disarms. */
void faultenv_kill_at_sync(env_t *env, uint64_t k);
/* The power goes off now. */
void faultenv_kill(env_t *env);
bool faultenv_dead(env_t *env);
/* Applies the durable state to the files (see the model above), clears the
 * dead state, the kill point and injected faults. seed is used by
 * the random modes. Returns 0 or the first I/O error. */
int faultenv_crash_ex(env_t *env, int mode, uint64_t seed);
static inline int faultenv_crash(env_t *env)
{
    return faultenv_crash_ex(env, FAULTENV_CRASH_DROP_UNSYNCED, 0);
}

/* With on false, file and directory syncs are only simulated (the model
 * above still counts them as durable) and skip the real fsync: much faster
 * crash tests. On by default. */
void faultenv_real_sync(env_t *env, bool on);

/* Freezes the clock: now_ns and wall_us return these values from now on. */
void faultenv_set_time(env_t *env, uint64_t now_ns, uint64_t wall_us);
/* Moves a frozen clock forward (freezing it at the real time first if needed). */
void faultenv_advance_time(env_t *env, uint64_t delta_ns);
/* Lets the clock follow the base env again. */
void faultenv_real_time(env_t *env);

#endif
