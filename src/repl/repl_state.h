/* The node's replication identity and the files it keeps in the data
 * directory (docs/replication.md): the replication id and replid2, the role,
 * DIR/replication.meta, and the installation of a received full sync.
 * Internal to src/repl (double-underscore names); shared by the primary
 * side (repl_primary.c), the replica side (repl_link.c) and repl.c. */
#ifndef STRATA_REPL_STATE_H
#define STRATA_REPL_STATE_H

#include <limits.h>
#include <stdint.h>

#include "keyspace/keyspace.h"
#include "strata/engine.h"

#define REPL_META_FILE   "replication.meta"
#define REPL_SYNC_TMP    "repl-sync.tmp"
#define REPL_SYNC_READY  "repl-sync.ready"
#define REPL_CKPT_PREFIX "repl-ckpt-"

/* State both sides read; written only by role changes, syncs and start-up. */
typedef struct repl__state {
    ks_t *ks;
    char dir[PATH_MAX];
    char replid[41], replid2[41]; /* replid2 "" = none */
    uint64_t second_offset;       /* replid2 is valid up to this sequence */
    int is_replica;
    char mhost[256]; /* the primary, when is_replica */
    int mport;
} repl__state;

extern repl__state repl__g;

/* Contents of DIR/replication.meta; valid = 0 when missing or unreadable. */
typedef struct repl__meta {
    int valid;
    int replica;
    char replid[41], replid2[41];
    uint64_t second_offset;
    int clean;
    uint64_t clean_seq;
} repl__meta;

/* snprintf that may truncate (paths, messages). */
void repl__fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
/* Wall clock in ms (heartbeats; ev_now_ms is monotonic loop time). */
uint64_t repl__wall_ms(void);
/* The open engine (NULL while it is reopened) and its last sequence (0 if none). */
strata_db *repl__db(void);
uint64_t repl__last_seq(void);
/* DIR/sub into out. */
void repl__path_in(char *out, size_t cap, const char *sub);
/* 40 random lower-case hex characters + NUL. */
void repl__new_replid(char out[41]);
/* 1 when s is 40 lower-case hex characters. */
int repl__hex40(const char *s);
/* fsync of a directory; rm -r of a flat directory (missing is fine). */
int repl__sync_dir(const char *path);
/* fsync of every file of a flat directory (not of the directory itself). */
int repl__sync_files(const char *path);
int repl__rm_tree(const char *path);
/* Installs DIR/repl-sync.ready as the engine's files (the engine is closed;
 * no-op without a ready directory; idempotent after a crash). */
int repl__install_ready(void *arg);
void repl__meta_read(repl__meta *m);
/* Writes the meta file of the current state into dir (tmp + fsync + rename). */
int repl__meta_write_in(const char *dir, int clean, uint64_t clean_seq);
int repl__meta_write(void);
/* Starts a new history: the old id stays valid (replid2) up to the last sequence. */
void repl__shift_replid(void);

#endif
