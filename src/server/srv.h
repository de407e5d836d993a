/* Internals shared by the files of src/server/ (not a public header: the
 * binary uses server.h, commands use cmd.h and reply.h).
 *
 * A client owns: its socket, a query buffer with a RESP parser, the argv of
 * the command being run (pointers into the query buffer, or into a queued
 * MULTI copy), a fixed reply buffer plus a list of overflow chunks, its
 * MULTI queue, its WATCHed keys and its pub/sub subscriptions. */
#ifndef STRATA_SERVER_SRV_H
#define STRATA_SERVER_SRV_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/cmd.h"
#include "server/config.h"
#include "server/ev.h"
#include "server/resp.h"
#include "util/dict.h"
#include "util/hist.h"
#include "util/sbuf.h"

#define SRV_BUF_BYTES   (16 * 1024)
#define SRV_CHUNK_BYTES (16 * 1024)
#define SRV_IOV_MAX     64
/* A client whose unsent output exceeds this stops being read until it drains
 * (backpressure for pipelining clients that do not read). */
#define SRV_OUTPUT_PAUSE_BYTES (8 * 1024 * 1024)

enum {
    CL_MULTI = 1 << 0,
    CL_DIRTY_CAS = 1 << 1,  /* a WATCHed key changed */
    CL_DIRTY_EXEC = 1 << 2, /* a command was rejected while queueing */
    CL_CLOSE_AFTER_REPLY = 1 << 3,
    CL_CLOSE_ASAP = 1 << 4,
    CL_PENDING_WRITE = 1 << 5,
    CL_PUBSUB = 1 << 6,
    CL_MONITOR = 1 << 7,
    CL_REPLY_OFF = 1 << 8,
    CL_REPLY_SKIP_NEXT = 1 << 9,
    CL_REPLY_SKIP = 1 << 10,
    CL_NO_EVICT = 1 << 11,
    CL_AUTHENTICATED = 1 << 12,
    CL_READ_PAUSED = 1 << 13, /* not reading: output backpressure or CLIENT PAUSE */
    CL_IN_EXEC = 1 << 14,
    CL_FAKE = 1 << 15,    /* no socket (unit tests, internal) */
    CL_STALLED = 1 << 16, /* its write met an engine stall; retried soon */
    CL_BLOCKED = 1 << 17, /* waiting for cmd_unblock (WAIT): no input is processed */
    CL_REPLICA = 1 << 18, /* a replica's link: replica output limits, normal replies dropped */
};

typedef struct ochunk {
    struct ochunk *next;
    size_t size, used;
    int deferred; /* placeholder for a length set later */
    char data[];
} ochunk;

typedef struct queued_cmd {
    const cmd_def *cmd;
    int argc;
    char **argv;
    size_t *argvlen;
} queued_cmd;

/* Reply position, to undo a command's replies when its commit fails (conn.c). */
typedef struct srv__reply_mark {
    size_t bufpos;
    ochunk *tail;
    size_t tail_used;
    size_t reply_bytes;
} srv__reply_mark;

struct srv_client {
    uint64_t id;
    int fd;
    uint32_t flags;
    int resp;
    int db;
    char addr[64];
    char laddr[64];
    char *name;
    time_t ctime;
    uint64_t last_ms; /* last interaction (monotonic ms) */
    /* query */
    char *qbuf;
    size_t qlen, qcap, qpos; /* qpos: start of the command being parsed */
    size_t qbuf_peak;
    resp_parser rp;
    /* current command */
    int argc;
    int argv_cap;
    const char **argv;
    size_t *argvlen;
    const cmd_def *cmd, *lastcmd;
    /* output */
    size_t bufpos, sentlen;
    ochunk *head, *tail;
    size_t reply_bytes; /* bytes held in chunks */
    uint64_t obuf_soft_since_ms;
    char buf[SRV_BUF_BYTES];
    /* MULTI */
    queued_cmd *mq;
    int mq_len, mq_cap;
    /* WATCH: keys as "db:key" strings in a dict (value unused) */
    dict watched;
    /* pub/sub */
    dict channels;
    dict patterns;
    /* links */
    struct srv_client *prev, *next;
    uint64_t net_in, net_out;
    uint64_t commands;
    int cmd_errors;          /* errors replied by the running command */
    uint64_t stall_since_us; /* first refused attempt of the held command */
    uint64_t last_seq;       /* last sequence of this client's last committed write */
    /* pipeline groups (dispatch.c): membership of the open group */
    struct srv_client *grp_next; /* next member */
    int grp_n;                   /* commands of this client in it; 0: not a member */
    srv__reply_mark grp_mark;    /* replies before its first command in it */
};

typedef struct cmd_stats {
    uint64_t calls, failed, rejected;
    uint64_t nsec; /* total time in the handler (and its commit) */
    hist lat;
} cmd_stats;

/* One registered command (or subcommand). */
typedef struct cmd_entry {
    const cmd_def *def;
    char fullname[64]; /* "config|get" */
    cmd_stats st;
    dict subs; /* name -> cmd_entry (containers only) */
    struct cmd_entry *parent;
} cmd_entry;

typedef struct slowlog_entry {
    uint64_t id;
    int64_t time;
    uint64_t usec;
    int argc;
    char **argv;
    size_t *argvlen;
    char addr[64];
    char name[64];
} slowlog_entry;

typedef struct latency_event {
    char name[32];
    int64_t last_time;
    uint64_t last_ms, max_ms;
    int64_t ht[160];
    uint64_t hv[160];
    int hlen, hpos;
} latency_event;

typedef struct srv_state {
    ev_loop *loop;
    int listen_fds[16];
    int nlisten;
    int metrics_fd;
    strata_db *engine;
    strata_batch *batch;
    uint64_t batch_gen;
    int need_sync;  /* appendfsync always: fsync the WAL before replies go out */
    int need_flush; /* otherwise: hand the WAL to the OS before replies go out */
    int wal_err;    /* engine error of the last failed WAL hand-over; 0 = ok (MISCONF) */
    dict commands;  /* name -> cmd_entry */
    cmd_entry *entries[1024];
    int nentries;
    srv_client *clients; /* list head */
    int nclients;
    dict clients_by_id; /* id (8 bytes) -> client */
    uint64_t next_client_id;
    srv_client **pending; /* clients with output to write */
    int npending, pending_cap;
    srv_client *current;  /* client running a command */
    dict watched_keys;    /* "db:key" -> watcher array (srv_client **, NULL-terminated) */
    dict pubsub_channels; /* channel -> dict of clients (by id) */
    dict pubsub_patterns; /* pattern -> dict of clients */
    int monitors;
    int64_t now_ms; /* cached wall clock for a command */
    time_t start_time;
    uint64_t start_us;
    int shutdown_asap;
    int pause_until_ms_set;
    uint64_t pause_end_ms;
    int pause_writes_only;
    /* stats */
    uint64_t stat_connections, stat_rejected, stat_commands, stat_net_in, stat_net_out;
    uint64_t stat_expired, stat_hits, stat_misses, stat_dirty, stat_errors;
    uint64_t stat_protocol_errors, stat_obuf_disconnects, stat_qbuf_disconnects;
    uint64_t stat_read_pauses, stat_pubsub_msgs, stat_commit_failures;
    uint64_t stat_write_commits; /* engine writes of client commands (a group is one) */
    uint64_t last_save;
    dict error_stats; /* error code -> uint64_t* */
    /* slowlog */
    slowlog_entry *slowlog;
    int slowlog_len, slowlog_cap, slowlog_head;
    uint64_t slowlog_next_id;
    latency_event latency[8];
    int nlatency;
    /* hooks */
    const cmd_engine_hooks *engine_hooks[8];
    int nengine_hooks;
    cmd_commit_fn commit_hooks[8];
    int ncommit_hooks;
    uint64_t stall_retry_us; /* next retry of stalled clients */
    int nstalled;
    uint64_t stat_write_stalls, stat_write_stall_us;
    cmd_cron_fn crons[8];
    int ncrons;
    struct {
        char name[32];
        cmd_info_fn fn;
    } infos[16];
    int ninfos;
    cmd_filter_fn filters[4];
    int nfilters;
    cmd_hook_fn sleep_hooks[4];
    int nsleep_hooks;
    cmd_hook_fn stop_hooks[4];
    int nstop_hooks;
    uint64_t *unblocked; /* ids of clients to resume at the next before-sleep */
    int nunblocked, unblocked_cap;
} srv_state;

extern srv_state srv;

/* server.c */
void srv__add_reply(srv_client *c, const void *p, size_t n);
/* Appends a placeholder chunk for a deferred length; NULL when replies are off. */
ochunk *srv__add_deferred(srv_client *c);
void srv__client_close(srv_client *c);
/* Marks c to be closed by the loop (safe from inside any command). */
void srv__client_close_asap(srv_client *c);
size_t srv__unsent(const srv_client *c);
srv_client *srv__client_by_id(uint64_t id);
cmd_entry *srv__lookup(const char *name, size_t len);
cmd_entry *srv__lookup_argv(srv_client *c);
void srv__unwatch_all(srv_client *c);
int srv__watch(srv_client *c, const char *key, size_t len);
void srv__exec(srv_client *c);
void srv__discard(srv_client *c);
void srv__client_info(srv_client *c, sbuf *out);
void srv__info(srv_client *c, const char *section, sbuf *out);
void srv__reset_stats(void);
const char *srv__version(void);
/* Wall clock in unix ms. */
int64_t srv__wall_ms(void);
void srv__latency_add(const char *event, uint64_t ms);
void srv__slowlog_reset(void);
const cmd_def *srv__builtin_table(void);
int srv__render_metrics(sbuf *out);

/* pubsub.c */
int srv__subscribe(srv_client *c, const char *ch, size_t len, int pattern);
int srv__unsubscribe(srv_client *c, const char *ch, size_t len, int pattern, int notify);
void srv__unsubscribe_all(srv_client *c, int pattern, int notify);
long srv__publish(const char *ch, size_t clen, const char *msg, size_t mlen);
int srv__subscription_count(srv_client *c);

#endif
