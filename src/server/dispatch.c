/* Command dispatch: input parsing, command checks, execution, batch commit.
 *
 * Per command: resp_parse -> process_command (lookup, arity, auth, pub/sub
 * context, filters, MULTI queueing, CLIENT PAUSE) -> call (handler, batch
 * commit, stats, slowlog, WATCH invalidation).
 *
 * Invariants
 *  1. The write batch is committed exactly once per command, or once per
 *     EXEC; a failed commit replaces that command's replies by an error.
 *  2. Commits write the WAL without an fsync; srv__durable_point() makes a
 *     loop iteration's writes durable (appendfsync) before any reply of it
 *     goes out. */
#include "server/dispatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/reply.h"
#include "util/err.h"
#include "util/log.h"

/* ---------------- WATCH ---------------- */

typedef struct watchers {
    int n, cap;
    srv_client **v;
} watchers;

static size_t watch_key(char *out, size_t cap, int db, const void *key, size_t len)
{
    if (len + 4 > cap) len = cap - 4;
    memcpy(out, &db, 4);
    memcpy(out + 4, key, len);
    return len + 4;
}

int srv__watch(srv_client *c, const char *key, size_t len)
{
    char k[4096];
    char *kp = len + 4 > sizeof(k) ? malloc(len + 4) : k;
    if (!kp) return ERR_NOMEM;
    memcpy(kp, &c->db, 4);
    memcpy(kp + 4, key, len);
    size_t kl = len + 4;
    if (!c->watched.size && !c->watched.count) dict_init(&c->watched, 0);
    if (!dict_find(&c->watched, kp, kl)) {
        dict_add(&c->watched, kp, kl, NULL);
        dict_entry *e = dict_find(&srv.watched_keys, kp, kl);
        if (!e) e = dict_add(&srv.watched_keys, kp, kl, calloc(1, sizeof(watchers)));
        watchers *w = e->val;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4;
            w->v = realloc(w->v, (size_t)w->cap * sizeof(*w->v));
            if (!w->v) abort();
        }
        w->v[w->n++] = c;
    }
    if (kp != k) free(kp);
    return 0;
}

void srv__unwatch_all(srv_client *c)
{
    dict_iter it;
    dict_iter_init(&it, &c->watched);
    for (dict_entry *e; (e = dict_next(&it));) {
        dict_entry *we = dict_find(&srv.watched_keys, e->key, e->klen);
        if (!we) continue;
        watchers *w = we->val;
        for (int i = 0; i < w->n; i++)
            if (w->v[i] == c) {
                w->v[i] = w->v[--w->n];
                break;
            }
        if (!w->n) {
            free(w->v);
            free(w);
            dict_del(&srv.watched_keys, e->key, e->klen);
        }
    }
    dict_clear(&c->watched, NULL);
    c->flags &= ~CL_DIRTY_CAS;
}

static void touch_raw(const char *k, size_t kl)
{
    dict_entry *we = dict_find(&srv.watched_keys, k, kl);
    if (!we) return;
    watchers *w = we->val;
    for (int i = 0; i < w->n; i++) w->v[i]->flags |= CL_DIRTY_CAS;
}

void cmd_touch_key(int db, const void *key, size_t len)
{
    if (!srv.watched_keys.count) return;
    char k[4096];
    if (len + 4 > sizeof(k)) {
        char *kp = malloc(len + 4);
        if (!kp) return;
        memcpy(kp, &db, 4);
        memcpy(kp + 4, key, len);
        touch_raw(kp, len + 4);
        free(kp);
        return;
    }
    touch_raw(k, watch_key(k, sizeof(k), db, key, len));
}

void cmd_touch_db(int db)
{
    dict_iter it;
    dict_iter_init(&it, &srv.watched_keys);
    for (dict_entry *e; (e = dict_next(&it));) {
        int kdb;
        memcpy(&kdb, e->key, 4);
        if (db < 0 || kdb == db) touch_raw(e->key, e->klen);
    }
}

static void touch_command_keys(srv_client *c, const cmd_def *d)
{
    if (!srv.watched_keys.count || d->first_key <= 0) return;
    int last = d->last_key < 0 ? c->argc + d->last_key : d->last_key;
    int step = d->key_step > 0 ? d->key_step : 1;
    for (int i = d->first_key; i <= last && i < c->argc; i += step)
        cmd_touch_key(c->db, c->argv[i], c->argvlen[i]);
}

/* ---------------- command execution ---------------- */

/* Commits the batch; no_wait makes an engine write stall fail with ERR_BUSY
 * (the batch is then dropped, or kept for another try when keep_busy). */
static int commit_batch_ex(srv_client *c, int no_wait, int keep_busy)
{
    if (!srv.batch || strata_batch_count(srv.batch) == 0) return 0;
    uint32_t count = strata_batch_count(srv.batch);
    uint64_t seq = 0;
    int rc;
    if (srv.engine) {
        strata_write_options wo;
        strata_write_options_init(&wo);
        /* In memory only here; srv__durable_point() hands the whole loop
         * iteration's writes to the OS (or fsyncs them) in one call before
         * any reply goes out, as Redis does with its AOF buffer. */
        wo.durability = STRATA_DUR_NONE;
        wo.no_slowdown = no_wait != 0;
        rc = strata_write(srv.engine, &wo, srv.batch, &seq);
        if (rc == 0 && c) c->last_seq = seq + count - 1;
        if (rc == 0 && srv_cfg.appendfsync == FSYNC_ALWAYS) srv.need_sync = 1;
        if (rc == 0) srv.need_flush = 1;
        if (rc == 0) srv.stat_write_commits++;
        if (rc) err_set(rc, "%s", strata_errmsg());
        if (rc == ERR_BUSY && keep_busy) return rc;
    } else {
        rc = err_set(ERR_CLOSED, "no storage engine is open");
    }
    strata_batch_clear(srv.batch);
    srv.batch_gen++;
    for (int i = 0; i < srv.ncommit_hooks; i++) srv.commit_hooks[i](rc == 0);
    if (rc && rc != ERR_BUSY) srv.stat_commit_failures++;
    return rc;
}

static int commit_batch(srv_client *c, int no_wait)
{
    return commit_batch_ex(c, no_wait, 0);
}

/* ---------------- pipeline groups ----------------
 *
 * Data commands (read or write, not admin, pub/sub, blocking or no-multi)
 * run in one loop iteration share one engine write: the commands of one
 * client's read (a pipeline) and, when they come from the clients' read
 * handlers (srv__process_input_open), those of every client read in the
 * same batch of events (so 50 clients sending one SET each make one write
 * and one memtable insert of 50 entries, not 50). Each leaves its
 * operations in the batch; the group is committed before any command that
 * cannot join it, before any other event handler runs and after each batch
 * of events (the loop's fence, group_fence), before a member client is
 * freed, at the end of a client's input when not read by its read handler,
 * and when it reaches its bounds. Replies go out only after that and after
 * the durable point, so appendfsync is unchanged and the group adds no
 * latency. The group is atomic: if its commit fails, the replies of all its
 * commands, of every member client, are replaced by errors (reads of the
 * group may have seen its writes). A group that meets an engine stall waits
 * for it (as EXEC does) instead of being held back, and groups stay off
 * for SRV_GROUP_OFF_MS so held-back single commands carry the backpressure
 * meanwhile; while any command is held back, commands of other clients do
 * not join a group either. So a stall episode blocks the loop at most for
 * the first group that meets it (and for pipelines, as before). */

#define SRV_GROUP_MAX_CMDS  128
#define SRV_GROUP_MAX_OPS   4096
#define SRV_GROUP_MAX_BYTES (1024 * 1024)
/* A command with a longer argument runs alone: the engine refuses keys
 * past max_key_bytes (64 KiB) only at commit, and that must fail the
 * command, not its whole group. */
#define SRV_GROUP_MAX_ARG 16384
#define SRV_GROUP_OFF_MS  100

static struct {
    srv_client *members; /* clients with commands in the open group (grp_next), NULL: none */
    int n;               /* commands in it */
    int more_input;      /* set by process_input: a complete command follows? unknown: 0 */
    int span;            /* set by process_input_open: the group may stay open after it */
    uint64_t off_until_us;
} grp;

static int groupable(const srv_client *c, const cmd_def *d)
{
    if (c->flags & (CL_FAKE | CL_REPLICA | CL_IN_EXEC | CL_MULTI | CL_REPLY_OFF | CL_REPLY_SKIP |
                    CL_REPLY_SKIP_NEXT))
        return 0;
    if (!(d->flags & (CMD_WRITE | CMD_READONLY))) return 0;
    if (d->flags & (CMD_ADMIN | CMD_PUBSUB | CMD_BLOCKING | CMD_NO_MULTI)) return 0;
    for (int i = 1; i < c->argc; i++)
        if (c->argvlen[i] > SRV_GROUP_MAX_ARG) return 0;
    if (grp.off_until_us) {
        if (ev_now_us() < grp.off_until_us) return 0;
        grp.off_until_us = 0;
    }
    return 1;
}

/* Commits the open group, if any (see above). */
static void group_flush(void)
{
    srv_client *c = grp.members;
    if (!c) return;
    grp.members = NULL;
    grp.n = 0;
    int rc = commit_batch_ex(c, 1, 1);
    if (rc == ERR_BUSY) {
        uint64_t t0 = ev_now_us();
        srv.stat_write_stalls++;
        rc = commit_batch(c, 0);
        uint64_t now = ev_now_us();
        srv.stat_write_stall_us += now - t0;
        grp.off_until_us = now + SRV_GROUP_OFF_MS * 1000;
    }
    uint64_t last_seq = c->last_seq;
    for (srv_client *m = c, *next; m; m = next) {
        next = m->grp_next;
        if (rc) {
            srv__truncate_replies(m, &m->grp_mark);
            for (int i = 0; i < m->grp_n; i++) reply_errorf(m, "ERR storage error: %s", err_msg());
        } else {
            m->last_seq = last_seq;
        }
        m->grp_next = NULL;
        m->grp_n = 0;
    }
}

void srv__group_leave(srv_client *c)
{
    if (c->grp_n) group_flush();
}

static void group_fence(ev_loop *l, void *data)
{
    (void)l;
    (void)data;
    group_flush();
}

void srv__group_fence_install(ev_loop *l, ev_fn client_read)
{
    ev_set_fence(l, client_read, group_fence, NULL);
}

static void slowlog_add(srv_client *c, uint64_t usec)
{
    if (srv_cfg.slowlog_log_slower_than < 0 || srv_cfg.slowlog_max_len == 0) return;
    if ((long long)usec < srv_cfg.slowlog_log_slower_than) return;
    int cap = (int)srv_cfg.slowlog_max_len;
    if (srv.slowlog_cap != cap) srv__slowlog_reset();
    if (!srv.slowlog) {
        srv.slowlog = calloc((size_t)cap, sizeof(*srv.slowlog));
        if (!srv.slowlog) return;
        srv.slowlog_cap = cap;
    }
    slowlog_entry *e = &srv.slowlog[srv.slowlog_head];
    for (int i = 0; i < e->argc; i++) free(e->argv[i]);
    free(e->argv);
    free(e->argvlen);
    int argc = c->argc > 32 ? 32 : c->argc;
    e->argv = calloc((size_t)argc, sizeof(char *));
    e->argvlen = calloc((size_t)argc, sizeof(size_t));
    e->argc = argc;
    for (int i = 0; i < argc; i++) {
        size_t n = c->argvlen[i];
        if (i == 31 && c->argc > 32) {
            char tmp[64];
            n = (size_t)snprintf(tmp, sizeof(tmp), "... (%d more arguments)", c->argc - 31);
            e->argv[i] = strdup(tmp);
        } else if (n > 128) {
            char tmp[200];
            n = (size_t)snprintf(tmp, sizeof(tmp), "%.128s... (%zu more bytes)", c->argv[i],
                                 c->argvlen[i] - 128);
            e->argv[i] = malloc(n + 1);
            memcpy(e->argv[i], tmp, n + 1);
        } else {
            e->argv[i] = malloc(n + 1);
            memcpy(e->argv[i], c->argv[i], n);
            e->argv[i][n] = 0;
        }
        e->argvlen[i] = n;
    }
    e->id = srv.slowlog_next_id++;
    e->time = (int64_t)time(NULL);
    e->usec = usec;
    snprintf(e->addr, sizeof(e->addr), "%s", c->addr);
    snprintf(e->name, sizeof(e->name), "%s", c->name ? c->name : "");
    srv.slowlog_head = (srv.slowlog_head + 1) % cap;
    if (srv.slowlog_len < cap) srv.slowlog_len++;
}

void srv__slowlog_reset(void)
{
    for (int i = 0; i < srv.slowlog_cap; i++) {
        slowlog_entry *e = &srv.slowlog[i];
        for (int j = 0; j < e->argc; j++) free(e->argv[j]);
        free(e->argv);
        free(e->argvlen);
    }
    free(srv.slowlog);
    srv.slowlog = NULL;
    srv.slowlog_cap = srv.slowlog_len = srv.slowlog_head = 0;
}

void srv__latency_add(const char *event, uint64_t ms)
{
    latency_event *ev = NULL;
    for (int i = 0; i < srv.nlatency; i++)
        if (!strcmp(srv.latency[i].name, event)) ev = &srv.latency[i];
    if (!ev) {
        if (srv.nlatency >= (int)(sizeof(srv.latency) / sizeof(srv.latency[0]))) return;
        ev = &srv.latency[srv.nlatency++];
        memset(ev, 0, sizeof(*ev));
        snprintf(ev->name, sizeof(ev->name), "%s", event);
    }
    int64_t now = (int64_t)time(NULL);
    if (ev->hlen && ev->ht[(ev->hpos + 159) % 160] == now) {
        int last = (ev->hpos + 159) % 160;
        if (ms > ev->hv[last]) ev->hv[last] = ms;
    } else {
        ev->ht[ev->hpos] = now;
        ev->hv[ev->hpos] = ms;
        ev->hpos = (ev->hpos + 1) % 160;
        if (ev->hlen < 160) ev->hlen++;
    }
    ev->last_time = now;
    ev->last_ms = ms;
    if (ms > ev->max_ms) ev->max_ms = ms;
}

static void feed_monitors(srv_client *c)
{
    sbuf line = {0};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    sbuf_printf(&line, "+%ld.%06ld [%d %s]", (long)tv.tv_sec, (long)tv.tv_usec, c->db, c->addr);
    for (int i = 0; i < c->argc; i++) {
        sbuf_puts(&line, " ");
        sbuf_quoted(&line, c->argv[i], c->argvlen[i]);
    }
    sbuf_puts(&line, "\r\n");
    for (srv_client *m = srv.clients; m; m = m->next)
        if ((m->flags & CL_MONITOR) && m != c) srv__add_reply(m, line.buf, line.len);
    sbuf_free(&line);
}

/* Runs e's handler for c: stats, slowlog, WATCH invalidation, and the batch
 * commit unless inside EXEC. */
static void call(srv_client *c, cmd_entry *e)
{
    const cmd_def *d = e->def;
    if (srv.monitors && !(d->flags & (CMD_ADMIN | CMD_SKIP_SLOWLOG))) feed_monitors(c);
    srv__reply_mark m = srv__mark_replies(c);
    c->cmd_errors = 0;
    c->cmd = d;
    c->lastcmd = d;
    uint64_t start = ev_ticks();
    srv_client *prev = srv.current;
    /* While commands are held back by a stall, single commands stay single
     * (held back, the loop free) instead of joining a group that would wait. */
    int span = grp.span && !srv.nstalled;
    int group = (grp.more_input || span || c->grp_n) && groupable(c, d);
    if (!group) group_flush(); /* its batch must not carry the group's operations */
    if (group && !c->grp_n) {
        c->grp_mark = m;
        c->grp_next = grp.members;
        grp.members = c;
    }
    srv.current = c;
    d->proc(c);
    srv.current = prev;
    if (group) {
        grp.n++;
        c->grp_n++;
        if ((!grp.more_input && !span) || grp.n >= SRV_GROUP_MAX_CMDS ||
            (srv.batch && (strata_batch_count(srv.batch) >= SRV_GROUP_MAX_OPS ||
                           strata_batch_bytes(srv.batch) >= SRV_GROUP_MAX_BYTES)))
            group_flush();
    } else if (!(c->flags & CL_IN_EXEC)) {
        int rc = commit_batch(c, !(c->flags & CL_FAKE));
        if (rc == ERR_BUSY) { /* engine stall: hold the command back, run it again later */
            srv__truncate_replies(c, &m);
            if (!c->stall_since_us) c->stall_since_us = ev_now_us();
            c->flags |= CL_STALLED;
            srv.nstalled++;
            srv.stat_write_stalls++;
            return;
        }
        if (rc) {
            srv__truncate_replies(c, &m);
            reply_errorf(c, "ERR storage error: %s", err_msg());
        }
        if (c->stall_since_us) {
            srv.stat_write_stall_us += ev_now_us() - c->stall_since_us;
            c->stall_since_us = 0;
        }
    }
    uint64_t dur_ns = ev_ticks_to_ns(ev_ticks() - start), dur = dur_ns / 1000;
    e->st.calls++;
    e->st.nsec += dur_ns;
    hist_record(&e->st.lat, dur);
    if (c->cmd_errors) e->st.failed++;
    if ((d->flags & CMD_WRITE) && !c->cmd_errors) {
        touch_command_keys(c, d);
        srv.stat_dirty++;
    }
    if (!(d->flags & CMD_SKIP_SLOWLOG)) slowlog_add(c, dur);
    if (srv_cfg.latency_monitor_threshold &&
        dur / 1000 >= (uint64_t)srv_cfg.latency_monitor_threshold)
        srv__latency_add("command", dur / 1000);
    c->lastcmd = d;
    c->commands++;
    srv.stat_commands++;
}

static void queue_command(srv_client *c, cmd_entry *e)
{
    if (c->mq_len == c->mq_cap) {
        c->mq_cap = c->mq_cap ? c->mq_cap * 2 : 8;
        c->mq = realloc(c->mq, (size_t)c->mq_cap * sizeof(*c->mq));
        if (!c->mq) abort();
    }
    queued_cmd *q = &c->mq[c->mq_len++];
    q->cmd = (const cmd_def *)e;
    q->argc = c->argc;
    q->argv = malloc((size_t)c->argc * sizeof(char *));
    q->argvlen = malloc((size_t)c->argc * sizeof(size_t));
    if (!q->argv || !q->argvlen) abort();
    for (int i = 0; i < c->argc; i++) {
        q->argv[i] = malloc(c->argvlen[i] + 1);
        if (!q->argv[i]) abort();
        memcpy(q->argv[i], c->argv[i], c->argvlen[i] + 1);
        q->argvlen[i] = c->argvlen[i];
    }
}

void srv__discard(srv_client *c)
{
    srv__free_queued(c);
    c->flags &= ~(CL_MULTI | CL_DIRTY_EXEC | CL_DIRTY_CAS);
    srv__unwatch_all(c);
}

void srv__exec(srv_client *c)
{
    if (!(c->flags & CL_MULTI)) {
        reply_error(c, "ERR EXEC without MULTI");
        return;
    }
    if (c->flags & CL_DIRTY_EXEC) {
        reply_error(c, "EXECABORT Transaction discarded because of previous errors.");
        srv__discard(c);
        return;
    }
    if (c->flags & CL_DIRTY_CAS) {
        reply_null_array(c);
        srv__discard(c);
        return;
    }
    srv__reply_mark m = srv__mark_replies(c);
    const char **argv = c->argv;
    size_t *argvlen = c->argvlen;
    int argc = c->argc;
    const cmd_def *self = c->cmd;
    srv__unwatch_all(c); /* our own writes must not dirty us */
    reply_array(c, c->mq_len);
    c->flags |= CL_IN_EXEC;
    for (int i = 0; i < c->mq_len; i++) {
        queued_cmd *q = &c->mq[i];
        c->argv = (const char **)q->argv;
        c->argvlen = q->argvlen;
        c->argc = q->argc;
        call(c, (cmd_entry *)q->cmd);
    }
    c->flags &= ~CL_IN_EXEC;
    c->argv = argv;
    c->argvlen = argvlen;
    c->argc = argc;
    c->cmd = self;
    if (commit_batch(c, 0)) {
        srv__truncate_replies(c, &m);
        reply_errorf(c, "EXECABORT Transaction not applied: storage error: %s", err_msg());
    }
    srv__discard(c);
}

static int allowed_in_multi(const char *name)
{
    return !strcmp(name, "exec") || !strcmp(name, "discard") || !strcmp(name, "multi") ||
           !strcmp(name, "watch") || !strcmp(name, "quit") || !strcmp(name, "reset");
}

static int allowed_in_pubsub(const char *name)
{
    return !strcmp(name, "subscribe") || !strcmp(name, "unsubscribe") ||
           !strcmp(name, "psubscribe") || !strcmp(name, "punsubscribe") || !strcmp(name, "ping") ||
           !strcmp(name, "quit") || !strcmp(name, "reset") || !strcmp(name, "ssubscribe") ||
           !strcmp(name, "sunsubscribe");
}

/* Refuses the command in c. A refused EXEC aborts the transaction with the
 * reason, as Redis does. */
static void reject(srv_client *c, const char *msg)
{
    group_flush(); /* the group's replies come first and may become errors */
    if (c->cmd && !strcmp(c->cmd->name, "exec")) {
        reply_errorf(c, "EXECABORT Transaction discarded because of: %s",
                     strncmp(msg, "ERR ", 4) ? msg : msg + 4);
        srv__discard(c);
        return;
    }
    reply_error(c, msg);
    if (c->flags & CL_MULTI) c->flags |= CL_DIRTY_EXEC;
}

/* Whether CLIENT PAUSE holds this command back. */
static int paused_for(const cmd_def *d)
{
    if (!srv.pause_end_ms || ev_now_ms() >= srv.pause_end_ms) return 0;
    if (!srv.pause_writes_only) return 1;
    return (d->flags & CMD_WRITE) != 0;
}

/* Returns 1 when the command was held back by CLIENT PAUSE (not consumed). */
static int process_command(srv_client *c)
{
    cmd_entry *e = srv__lookup(c->argv[0], c->argvlen[0]);
    c->cmd = NULL;
    if (!e) {
        char args[160] = "";
        size_t o = 0;
        for (int i = 1; i < c->argc && o < 128; i++)
            o +=
                (size_t)snprintf(args + o, sizeof(args) - o, "'%.*s' ", (int)(128 - o), c->argv[i]);
        char msg[400];
        snprintf(msg, sizeof(msg), "ERR unknown command '%.128s', with args beginning with: %s",
                 c->argv[0], args);
        reject(c, msg);
        return 0;
    }
    if (e->subs.count && c->argc >= 2) {
        dict_entry *se = dict_find(&e->subs, c->argv[1], c->argvlen[1]);
        if (!se) {
            char up[64];
            size_t i = 0;
            for (; e->def->name[i] && i < sizeof(up) - 1; i++)
                up[i] =
                    (char)(e->def->name[i] >= 'a' && e->def->name[i] <= 'z' ? e->def->name[i] - 32
                                                                            : e->def->name[i]);
            up[i] = 0;
            char msg[300];
            snprintf(msg, sizeof(msg), "ERR unknown subcommand '%.128s'. Try %s HELP.", c->argv[1],
                     up);
            reject(c, msg);
            return 0;
        }
        e = se->val;
    }
    const cmd_def *d = e->def;
    c->cmd = d;
    if ((d->arity > 0 && c->argc != d->arity) || c->argc < -d->arity || !d->proc) {
        char msg[200];
        snprintf(msg, sizeof(msg), "ERR wrong number of arguments for '%s' command", e->fullname);
        e->st.rejected++;
        reject(c, msg);
        return 0;
    }
    if (!(c->flags & CL_AUTHENTICATED) && !(d->flags & CMD_NO_AUTH)) {
        reject(c, "NOAUTH Authentication required.");
        return 0;
    }
    if ((c->flags & CL_PUBSUB) && c->resp == 2 &&
        !allowed_in_pubsub(e->parent ? e->parent->def->name : d->name)) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                 "RESET are allowed in this context",
                 e->fullname);
        reject(c, msg);
        return 0;
    }
    for (int i = 0; i < srv.nfilters; i++) {
        const char *why = srv.filters[i](c, d);
        if (why) {
            reject(c, why);
            return 0;
        }
    }
    if ((c->flags & CL_MULTI) && !allowed_in_multi(d->name)) {
        if (d->flags & CMD_NO_MULTI) {
            reject(c, "ERR Command not allowed inside a transaction");
            return 0;
        }
        group_flush();
        queue_command(c, e);
        srv__add_reply(c, "+QUEUED\r\n", 9);
        return 0;
    }
    if (grp.members && !groupable(c, d)) group_flush();
    if (paused_for(d)) {
        group_flush();
        return 1;
    }
    if (c->flags & CL_REPLY_SKIP_NEXT) {
        c->flags = (c->flags & ~CL_REPLY_SKIP_NEXT) | CL_REPLY_SKIP;
        call(c, e);
        if (c->flags & CL_STALLED) { /* run again later, still skipped */
            c->flags = (c->flags & ~CL_REPLY_SKIP) | CL_REPLY_SKIP_NEXT;
            return 1;
        }
        c->flags &= ~CL_REPLY_SKIP;
        return 0;
    }
    call(c, e);
    return (c->flags & CL_STALLED) != 0;
}

static void set_argv(srv_client *c)
{
    int n = c->rp.argc;
    if (n > c->argv_cap) {
        int cap = c->argv_cap ? c->argv_cap : 8;
        while (cap < n) cap *= 2;
        c->argv = realloc(c->argv, (size_t)cap * sizeof(*c->argv));
        c->argvlen = realloc(c->argvlen, (size_t)cap * sizeof(*c->argvlen));
        if (!c->argv || !c->argvlen) abort();
        c->argv_cap = cap;
    }
    char *base = c->qbuf + c->qpos;
    for (int i = 0; i < n; i++) {
        c->argv[i] = base + c->rp.argv[i].off;
        c->argvlen[i] = c->rp.argv[i].len;
    }
    c->argc = n;
}

static void process_input(srv_client *c)
{
    /* One wall-clock read per 32 commands of a pipeline: a clock call per
     * command costs more than a PING. */
    int since_clock = 0;
    srv.now_ms = srv__wall_ms();
    while (c->qpos < c->qlen &&
           !(c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_READ_PAUSED | CL_BLOCKED))) {
        if (srv.pause_end_ms && !srv.pause_writes_only && ev_now_ms() < srv.pause_end_ms) {
            c->flags |= CL_READ_PAUSED;
            srv__set_read(c, 0);
            break;
        }
        if (srv__unsent(c) > SRV_OUTPUT_PAUSE_BYTES && !(c->flags & CL_REPLICA)) {
            c->flags |= CL_READ_PAUSED;
            srv.stat_read_pauses++;
            srv__set_read(c, 0);
            break;
        }
        resp_limits lim = {srv_cfg.proto_max_bulk_len, !(c->flags & CL_AUTHENTICATED)};
        size_t used = 0;
        int rc = resp_parse(&c->rp, c->qbuf + c->qpos, c->qlen - c->qpos, &lim, &used);
        if (rc == RESP_INCOMPLETE) break;
        if (rc == RESP_ERROR) {
            srv.stat_protocol_errors++;
            log_verbose("Protocol error (%s) from client: id=%llu addr=%s", c->rp.errbuf,
                        (unsigned long long)c->id, c->addr);
            group_flush();
            c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT);
            reply_error(c, c->rp.errbuf);
            c->flags |= CL_CLOSE_AFTER_REPLY;
            srv__set_read(c, 0);
            c->qpos = c->qlen;
            break;
        }
        if (rc == RESP_COMMAND) {
            set_argv(c);
            if (++since_clock == 32) {
                since_clock = 0;
                srv.now_ms = srv__wall_ms();
            }
            grp.more_input = c->qpos + used < c->qlen;
            int held = process_command(c);
            grp.more_input = 0;
            if (held) { /* paused: keep the command for later */
                c->flags |= CL_READ_PAUSED;
                srv__set_read(c, 0);
                break;
            }
            c->argc = 0;
        }
        c->qpos += used;
        resp_reset(&c->rp);
    }
    srv.now_ms = 0; /* outside a command, cmd_now_ms() reads the clock */
    if (c->qpos == c->qlen) c->qpos = c->qlen = 0;
}

void srv__process_input(srv_client *c)
{
    process_input(c);
    group_flush();
}

void srv__process_input_open(srv_client *c)
{
    grp.span = 1;
    process_input(c);
    grp.span = 0;
    /* Past its bounds, or not for this client (stopped mid-input, closing):
     * the group is closed now rather than left to the fence. */
    if (c->flags &
        (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_READ_PAUSED | CL_BLOCKED | CL_STALLED))
        group_flush();
}

/* Makes the writes committed so far as durable as appendfsync promises:
 * one fsync (always) or one write(2) to the OS (everysec, no) for all of
 * them. Runs before any reply that may depend on them is written. */
void srv__durable_point(void)
{
    group_flush(); /* its replies may still become errors */
    if (srv.need_sync && srv.engine) {
        uint64_t t0 = ev_now_us();
        int rc = strata_sync(srv.engine);
        if (rc) {
            /* As Redis with appendfsync always: no reply may claim a write
             * that is not on disk, so stop before sending any. */
            log_warn("Can't persist the WAL (fsync failed: %s) with appendfsync always. "
                     "Exiting...",
                     strata_errmsg());
            _exit(1);
        }
        uint64_t ms = (ev_now_us() - t0) / 1000;
        if (srv_cfg.latency_monitor_threshold && ms >= (uint64_t)srv_cfg.latency_monitor_threshold)
            srv__latency_add("aof-fsync-always", ms);
    } else if (srv.need_flush && srv.engine) {
        /* The records stay in the engine's WAL buffer: the cron retries,
         * and writes are refused until a retry succeeds (srv__disk_filter). */
        int rc = strata_flush_wal(srv.engine);
        if (rc && !srv.wal_err) log_warn("WAL write failed: %s", strata_errmsg());
        srv.wal_err = rc;
    }
    srv.need_sync = 0;
    srv.need_flush = 0;
}

int srv__disk_error(void)
{
    if (srv.wal_err) return srv.wal_err;
    if (srv_cfg.appendfsync == FSYNC_EVERYSEC && srv.engine)
        return strata_periodic_sync_status(srv.engine);
    return 0;
}

void srv__retry_wal(void)
{
    if (!srv.wal_err || !srv.engine) return;
    if (!(srv.wal_err = strata_flush_wal(srv.engine)))
        log_notice("WAL write succeeded again: writes accepted");
}

const char *srv__disk_filter(srv_client *c, const cmd_def *d)
{
    (void)c;
    int rc = srv__disk_error(); /* first: the usual answer, without a name compare */
    if (!rc) return NULL;
    /* As Redis: writes and PING (a health check must see it) are refused. */
    if (!(d->flags & CMD_WRITE) && strcmp(d->name, "ping") != 0) return NULL;
    static char msg[160];
    snprintf(msg, sizeof(msg), "MISCONF Errors writing to the AOF file: %s",
             strerror(rc == ERR_NOSPC ? ENOSPC : EIO));
    return msg;
}
