/* The command interface: what a command handler (the files of src/commands/, layer
 * above server/) sees of the server, and how a family of commands registers.
 *
 * Registration. Each commands/FAMILY.c exports one table:
 *
 *     const cmd_def strings_commands[] = {
 *         {"get", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, get_cmd, "string",
 *          "Returns the string value of a key.", "1.0.0", "O(1)"},
 *         ...
 *         {0},
 *     };
 *
 * and a header declaring it; src/bin/strata-server.c calls cmd_register()
 * with each table before the server starts, so server/ never includes
 * commands/. The server's own commands (CONFIG, CLIENT, MULTI, ...) use the
 * same table shape. Names are lower case; lookups are case-insensitive.
 *
 * Execution. The server checks arity, authentication, MULTI queueing and
 * pub/sub context before calling the handler, so a handler may assume
 * argc matches its arity. A handler answers with exactly one reply (see
 * reply.h) unless it is a subscription command.
 *
 * Writes and transactions. A handler never writes to the engine directly: it
 * adds its operations to cmd_batch(c). The server commits that batch once
 * after the command returns or, inside MULTI, once after the last queued
 * command of EXEC, so an EXEC is one atomic engine batch. If the commit
 * fails, the server replaces the replies of that command (or of the whole
 * EXEC) with an error, so no client is told "OK" for a lost write. With
 * appendfsync always, replies of committed writes are held until the WAL is
 * synced (group commit). Reads inside an EXEC do not see the uncommitted
 * batch by themselves: the keyspace keeps its own overlay of what it added
 * and must drop it whenever cmd_batch_gen() changes (the batch was committed
 * or discarded).
 *
 * WATCH. After a successful CMD_WRITE command the server marks every key at
 * the table's key positions as modified. Commands whose touched keys are not
 * at those positions (FLUSHDB, SWAPDB, MOVE's target db, expiry) call
 * cmd_touch_key() / cmd_touch_db() themselves.
 *
 * Threading: everything here runs on the event-loop thread. */
#ifndef STRATA_SERVER_CMD_H
#define STRATA_SERVER_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "strata/engine.h"
#include "server/reply.h"

typedef void (*cmd_proc)(srv_client *c);

/* Flags, as COMMAND reports them. */
enum {
    CMD_WRITE = 1u << 0,         /* modifies data ("write") */
    CMD_READONLY = 1u << 1,      /* reads data only ("readonly") */
    CMD_DENYOOM = 1u << 2,       /* may grow memory use ("denyoom") */
    CMD_ADMIN = 1u << 3,         /* administrative ("admin") */
    CMD_PUBSUB = 1u << 4,        /* pub/sub ("pubsub") */
    CMD_NOSCRIPT = 1u << 5,      /* ("noscript") */
    CMD_BLOCKING = 1u << 6,      /* may block the client ("blocking") */
    CMD_LOADING = 1u << 7,       /* allowed while loading ("loading") */
    CMD_STALE = 1u << 8,         /* allowed on a stale replica ("stale") */
    CMD_FAST = 1u << 9,          /* O(1) or O(log n) ("fast") */
    CMD_NO_AUTH = 1u << 10,      /* allowed before AUTH ("no_auth") */
    CMD_NO_MULTI = 1u << 11,     /* refused inside MULTI ("no_multi") */
    CMD_SKIP_SLOWLOG = 1u << 12, /* never in SLOWLOG ("skip_slowlog") */
    CMD_ALLOW_BUSY = 1u << 13,   /* ("allow_busy") */
    CMD_RANDOM = 1u << 14,       /* non-deterministic output (used by differential tests) */
};

typedef struct cmd_def {
    const char *name;  /* lower case; "container|sub" for subcommands */
    int arity;         /* Redis convention: n = exactly n args, -n = at least n (name counts) */
    uint32_t flags;    /* CMD_* */
    int first_key;     /* argv index of the first key, 0 if none */
    int last_key;      /* index of the last key; -1 = last argument, -2 = one before, ... */
    int key_step;      /* distance between keys (2 for MSET) */
    cmd_proc proc;     /* handler; NULL for a container whose subcommands do the work */
    const char *group; /* COMMAND DOCS group: "string", "generic", "hash", "server", ... */
    const char *summary;
    const char *since;                 /* first Redis version with this command, e.g. "1.0.0" */
    const char *complexity;            /* e.g. "O(1)" */
    const struct cmd_def *subcommands; /* {0}-terminated table, or NULL */
} cmd_def;

/* Adds a {0}-terminated table. Returns ERR_EXISTS (and logs the name) when a
 * name is already registered. Call before srv_run(); tables must outlive
 * the server (static const). */
int cmd_register(const cmd_def *table);

/* ---- Arguments ---- */
/* Number of arguments, command name included. */
int cmd_argc(const srv_client *c);
/* Argument i (0 = command name): pointer and length; always NUL-terminated;
 * valid until the handler returns. */
const char *cmd_arg(const srv_client *c, int i, size_t *len);
/* Case-insensitive comparison of argument i with an ASCII word. */
int cmd_arg_is(const srv_client *c, int i, const char *word);
/* Strict integer parse of argument i (Redis rules: no spaces, no "+", no
 * leading zeros, fits in long long). 0 or ERR_INVAL; nothing is replied. */
int cmd_arg_ll(const srv_client *c, int i, long long *out);
/* Strict double parse (accepts inf/-inf, rejects nan and trailing junk). */
int cmd_arg_double(const srv_client *c, int i, double *out);
/* Same as cmd_arg_ll, and replies "ERR value is not an integer or out of range"
 * on failure. Returns 0 or ERR_INVAL. */
int cmd_arg_ll_or_reply(srv_client *c, int i, long long *out);

/* ---- Context ---- */
/* The database (0 .. databases-1) the client has SELECTed. */
int cmd_db(const srv_client *c);
/* Number of databases (config "databases"). */
int cmd_databases(void);
/* The open engine, or NULL when the server runs without one. */
strata_db *cmd_engine(void);
/* The write batch of the running command or EXEC (created on first use,
 * never NULL). Committed and cleared by the server; do not free. */
strata_batch *cmd_batch(srv_client *c);
/* Increases each time the server commits or discards the batch. */
uint64_t cmd_batch_gen(void);
/* 1 while the handler runs as part of EXEC. */
int cmd_in_exec(const srv_client *c);
/* Unix time in milliseconds, fixed for the duration of one command (and of a
 * whole EXEC), so one command sees one "now" for expiry. */
int64_t cmd_now_ms(void);
/* The client's id (CLIENT ID). */
uint64_t cmd_client_id(const srv_client *c);

/* ---- Side effects the server must know about ---- */
/* Marks a key of db as modified for WATCH (beyond the automatic key positions). */
void cmd_touch_key(int db, const void *key, size_t len);
/* Marks every watched key of db as modified (db < 0: of all dbs). */
void cmd_touch_db(int db);
/* Counts keys removed by expiry (INFO stats expired_keys, metrics). */
void cmd_stat_expired(uint64_t n);
/* Counts keyspace hits and misses of read commands (INFO stats). */
void cmd_stat_keyspace(uint64_t hits, uint64_t misses);
/* Adds n to the changes-since-last-save counter (INFO rdb_changes_since_last_save). */
void cmd_stat_dirty(uint64_t n);

/* ---- INFO sections provided by upper layers ---- */
/* Appends the body of an INFO section (lines "field:value\r\n") to a buffer
 * through append(buf, text, len). Registered e.g. for "keyspace" by the
 * commands layer. The section name "prometheus" is special: its text is
 * appended to the /metrics page (Prometheus text format) instead of INFO. */
typedef void (*cmd_info_append)(void *buf, const char *text, size_t len);
typedef void (*cmd_info_fn)(void *buf, cmd_info_append append);
int cmd_register_info(const char *section, cmd_info_fn fn);

/* Called after every commit attempt of a non-empty batch, with 1 when it was
 * applied and 0 when it was discarded (engine error or write stall). */
typedef void (*cmd_commit_fn)(int committed);
int cmd_register_commit_hook(cmd_commit_fn fn);

/* ---- Lifecycle hooks (optional; set by the binary) ---- */
/* Called on the loop thread about every 100 ms (active expiry and the like);
 * gets a time budget in microseconds. */
typedef void (*cmd_cron_fn)(uint64_t budget_us);
int cmd_register_cron(cmd_cron_fn fn);

/* ---- Hooks for the replication layer (src/repl/) ---- */
/* Last sequence of the client's last committed write, 0 if it never wrote
 * (WAIT waits for replicas to acknowledge this offset). */
uint64_t cmd_client_last_seq(const srv_client *c);
/* A filter runs before each command is executed or queued in MULTI (after
 * the arity and authentication checks); returning an error line (no leading
 * '-') rejects the command with it. */
typedef const char *(*cmd_filter_fn)(srv_client *c, const cmd_def *d);
int cmd_register_filter(cmd_filter_fn fn);
/* Called in every before-sleep, after the group-commit WAL sync and before
 * replies are written; and in srv_stop() before the engine is closed. */
typedef void (*cmd_hook_fn)(void);
int cmd_register_before_sleep(cmd_hook_fn fn);
int cmd_register_shutdown(cmd_hook_fn fn);
/* Blocking. cmd_block() from a handler that did not reply: the client gets
 * its reply later (from a hook) and no further input of it is processed
 * until cmd_unblock(); not allowed inside EXEC. Clients can vanish while
 * blocked: keep ids, find them with cmd_client_by_id(). */
void cmd_block(srv_client *c);
void cmd_unblock(srv_client *c);
srv_client *cmd_client_by_id(uint64_t id);
/* Replica links on a primary: cmd_client_set_replica() makes c use the
 * "replica" client-output-buffer-limit, exempts it from timeout and read
 * pauses, and drops its normal replies; the stream is written with
 * cmd_client_write_raw(). */
void cmd_client_set_replica(srv_client *c);
void cmd_client_write_raw(srv_client *c, const void *p, size_t n);
/* Bytes of output not yet written to the socket. */
size_t cmd_client_unsent(const srv_client *c);
/* Writes c's queued output to its socket now, as far as the socket takes
 * it (the rest goes at the socket's next write event). 0, or -1 on a write
 * error (the caller closes c). */
int cmd_client_flush(srv_client *c);
/* "ip:port" of the peer. */
const char *cmd_client_addr(const srv_client *c);
/* Closes c once the running command (if any) returns. */
void cmd_client_close(srv_client *c);
/* Closes the engine (running the engine hooks' closing), calls between(arg)
 * (which may replace the files of the data directory), and opens the engine
 * again with the same options (configure hooks run; opened hooks do not:
 * the caller re-attaches what holds the old handle, e.g. ks_reload). The
 * write batch must be empty. On error cmd_engine() may be NULL. */
int cmd_engine_reopen(int (*between)(void *arg), void *arg);
/* The event loop (server/ev.h), for sockets and timers of upper layers. */
struct ev_loop *cmd_loop(void);
/* ---- Engine lifecycle hooks (optional; set by the binary) ---- */
/* configure runs on the options before strata_open (compaction filter,
 * partitions-related options); opened runs once the engine is open (a
 * negative return aborts start-up with that error); closing runs before
 * strata_close. Any of them may be NULL. */
typedef struct cmd_engine_hooks {
    void (*configure)(strata_options *o);
    int (*opened)(strata_db *db);
    void (*closing)(strata_db *db);
} cmd_engine_hooks;
int cmd_register_engine_hooks(const cmd_engine_hooks *hooks);

#endif
