/* The config table: every option of strata-server in one place, with its
 * type, bounds, default, whether CONFIG SET may change it at run time, and
 * an optional apply hook. Command-line flags, the config file, CONFIG
 * GET/SET/REWRITE and INFO all read this table.
 *
 * Invariants
 *  1. srv_cfg always holds a fully valid configuration: a value is parsed and
 *     checked into a temporary first; only when every value of a CONFIG SET
 *     (or the whole file + flags at start) is valid is anything changed.
 *  2. A bad value gives an error naming the option; nothing changes.
 *  3. apply hooks run after the values are stored; if one fails, the old
 *     values are restored and the hooks run again with them. */
#ifndef STRATA_SERVER_CONFIG_H
#define STRATA_SERVER_CONFIG_H

#include <stddef.h>

#include "util/sbuf.h"

enum { OBUF_NORMAL = 0, OBUF_REPLICA = 1, OBUF_PUBSUB = 2, OBUF_CLASSES = 3 };
enum { FSYNC_NO = 0, FSYNC_ALWAYS = 1, FSYNC_EVERYSEC = 2 };

typedef struct obuf_limit {
    long long hard_bytes;
    long long soft_bytes;
    long long soft_seconds;
} obuf_limit;

typedef struct srv_config {
    long long port;
    char *bind; /* space-separated addresses */
    char *dir;
    int appendfsync;
    int appendonly;
    char *save;
    long long maxclients;
    char *requirepass; /* "" = none */
    int protected_mode;
    long long databases;
    long long client_query_buffer_limit;
    long long proto_max_bulk_len;
    obuf_limit obuf[OBUF_CLASSES];
    long long timeout;
    long long tcp_keepalive;
    long long tcp_backlog;
    int loglevel;
    char *logfile;
    long long metrics_port; /* 0 = off */
    long long memtable_bytes;
    long long block_cache_bytes;
    long long max_immutable_memtables; /* engine: memtables waiting for flush before writes stop */
    long long level0_slowdown_trigger; /* engine: level-0 files that slow writes down */
    long long level0_stop_trigger;     /* engine: level-0 files that stop writes */
    long long slowlog_log_slower_than;
    long long slowlog_max_len;
    long long latency_monitor_threshold;
    long long hz;
    int daemonize;
    char *pidfile;
    long long maxmemory;
    long long io_threads;
    /* replication (src/repl/) */
    char *replicaof; /* "host port", "" = this node is a primary */
    char *masterauth;
    int replica_read_only;
    long long repl_backlog_size; /* engine WAL retention (bytes) */
    long long repl_timeout;      /* seconds */
    long long min_replicas_to_write;
    long long min_replicas_max_lag;
} srv_config;

extern srv_config srv_cfg;

/* Sets every option to its default. */
void config_init_defaults(void);
/* Loads a redis.conf-style file (may be NULL) then "--name value ..." flags
 * (argv after the file). On error writes a message naming the option (and
 * line) to err and returns ERR_INVAL; srv_cfg is unchanged. */
int config_load(const char *file, int argc, char **argv, char *err, size_t errlen);
/* CONFIG SET of n name/value pairs, all or nothing. On error writes the
 * Redis-style error line (no leading '-') to err. */
int config_set(const char **names, const char **values, int n, char *err, size_t errlen);
/* Appends name/value pairs of options matching any of the glob patterns to
 * out (as a flat list of NUL-separated strings); returns the pair count. */
typedef void (*config_emit)(void *arg, const char *name, const char *value, size_t vlen);
int config_get(const char **patterns, int npatterns, config_emit emit, void *arg);
/* Rewrites the loaded config file with current values (CONFIG REWRITE). */
int config_rewrite(char *err, size_t errlen);
/* Current value text of one option; returns 0 or ERR_NOTFOUND. */
int config_format(const char *name, sbuf *out);
const char *config_file_path(void);

/* Apply hooks implemented by the server (server.c). */
int srv__apply_logging(void);
int srv__apply_maxclients(void);
/* Set by the replication layer: applies a changed replicaof (NULL until then). */
extern int (*config_replicaof_hook)(void);
int srv__apply_hz(void);

#endif
