/* The server core: command registry and the cmd.h API, the loop's
 * before-sleep and cron, the metrics endpoint, start and stop. Connections
 * live in conn.c, command dispatch in dispatch.c.
 *
 * Request path (one loop iteration):
 *   readable -> read into qbuf (bounded by client-query-buffer-limit)
 *            -> resp_parse -> dispatch (lookup, arity, auth, pub/sub
 *               context, MULTI queueing, CLIENT PAUSE) -> call (handler,
 *               batch commit, stats, slowlog, WATCH invalidation)
 *   before sleep -> WAL sync if a write was committed under appendfsync
 *               always (group commit) -> write pending replies (writev),
 *               close clients marked CLOSE_ASAP / CLOSE_AFTER_REPLY.
 *
 * Invariants
 *  1. A client is freed only from the loop's own code paths (before-sleep,
 *     its read/write handler after processing), never while a command runs.
 *  2. A client's unsent output is bounded: past client-output-buffer-limit
 *     (hard, or soft for soft-seconds) it is closed; past
 *     SRV_OUTPUT_PAUSE_BYTES its socket is not read until the output drains.
 *  3. The write batch is committed exactly once per command, or once per
 *     EXEC; a failed commit replaces that command's replies by an error.
 *  4. Replies of a loop iteration are sent only after its group-commit sync. */
#include "server/server.h"

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

#include "metrics/metrics.h"
#include "server/conn.h"
#include "server/dispatch.h"
#include "server/srv.h"
#include "util/err.h"
#include "util/log.h"

/* The engine is linked once include/strata/engine.h has an implementation. */

#define STRATA_VERSION "7.0.0"

srv_state srv;
static volatile sig_atomic_t shutdown_requested;

const char *srv__version(void)
{
    return STRATA_VERSION;
}

/* ---------------- command registry ---------------- */

static cmd_entry *new_entry(const cmd_def *d, cmd_entry *parent)
{
    cmd_entry *e = calloc(1, sizeof(*e));
    if (!e) abort();
    e->def = d;
    e->parent = parent;
    snprintf(e->fullname, sizeof(e->fullname), "%s%s%s", parent ? parent->def->name : "",
             parent ? "|" : "", d->name);
    dict_init(&e->subs, 1);
    if (srv.nentries < (int)(sizeof(srv.entries) / sizeof(srv.entries[0])))
        srv.entries[srv.nentries++] = e;
    return e;
}

int cmd_register(const cmd_def *table)
{
    if (!srv.commands.size && !srv.commands.count) dict_init(&srv.commands, 1);
    for (const cmd_def *d = table; d->name; d++) {
        dict_entry *old = dict_find(&srv.commands, d->name, strlen(d->name));
        if (old && d->subcommands && !d->proc && ((cmd_entry *)old->val)->subs.count) {
            /* another table adds subcommands to an existing container */
            cmd_entry *e = old->val;
            for (const cmd_def *s = d->subcommands; s->name; s++) {
                const char *bar = strchr(s->name, '|');
                const char *sub = bar ? bar + 1 : s->name;
                if (dict_find(&e->subs, sub, strlen(sub))) {
                    log_warn("command '%s' registered twice", s->name);
                    return ERR_EXISTS;
                }
                cmd_entry *se = new_entry(s, e);
                snprintf(se->fullname, sizeof(se->fullname), "%s|%s", d->name, sub);
                dict_add(&e->subs, sub, strlen(sub), se);
            }
            continue;
        }
        if (old) {
            log_warn("command '%s' registered twice", d->name);
            return ERR_EXISTS;
        }
        cmd_entry *e = new_entry(d, NULL);
        dict_add(&srv.commands, d->name, strlen(d->name), e);
        for (const cmd_def *s = d->subcommands; s && s->name; s++) {
            const char *bar = strchr(s->name, '|');
            const char *sub = bar ? bar + 1 : s->name;
            cmd_entry *se = new_entry(s, e);
            snprintf(se->fullname, sizeof(se->fullname), "%s|%s", d->name, sub);
            dict_add(&e->subs, sub, strlen(sub), se);
        }
    }
    return 0;
}

cmd_entry *srv__lookup(const char *name, size_t len)
{
    /* Pipelines repeat a command: the last hit answers without hashing.
     * Entries are never freed or replaced, so the pointer stays valid. */
    static cmd_entry *last;
    static size_t last_len;
    if (last && len == last_len && strncasecmp(name, last->def->name, len) == 0) return last;
    dict_entry *de = dict_find(&srv.commands, name, len);
    if (de && strlen(((cmd_entry *)de->val)->def->name) == len) {
        last = de->val;
        last_len = len;
    }
    return de ? de->val : NULL;
}

/* The entry for c's argv: the subcommand entry for containers. */
cmd_entry *srv__lookup_argv(srv_client *c)
{
    if (c->argc < 1) return NULL;
    cmd_entry *e = srv__lookup(c->argv[0], c->argvlen[0]);
    if (e && e->subs.count && c->argc >= 2) {
        dict_entry *de = dict_find(&e->subs, c->argv[1], c->argvlen[1]);
        return de ? de->val : NULL;
    }
    return e;
}

/* ---------------- accessors of cmd.h ---------------- */

int cmd_argc(const srv_client *c)
{
    return c->argc;
}

const char *cmd_arg(const srv_client *c, int i, size_t *len)
{
    if (i < 0 || i >= c->argc) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = c->argvlen[i];
    return c->argv[i];
}

int cmd_arg_is(const srv_client *c, int i, const char *word)
{
    if (i < 0 || i >= c->argc) return 0;
    size_t n = strlen(word);
    return c->argvlen[i] == n && strncasecmp(c->argv[i], word, n) == 0;
}

int cmd_arg_ll(const srv_client *c, int i, long long *out)
{
    if (i < 0 || i >= c->argc) return ERR_INVAL;
    return resp_str2ll(c->argv[i], c->argvlen[i], out) ? 0 : ERR_INVAL;
}

int cmd_arg_double(const srv_client *c, int i, double *out)
{
    if (i < 0 || i >= c->argc) return ERR_INVAL;
    const char *s = c->argv[i];
    size_t n = c->argvlen[i];
    if (n == 0 || n > 5000 || s[0] == ' ' || s[0] == '\t' || s[0] == '\n') return ERR_INVAL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if ((size_t)(end - s) != n || d != d) return ERR_INVAL;
    if (errno == ERANGE && (d > 1 || d < -1)) return ERR_INVAL;
    *out = d;
    return 0;
}

int cmd_arg_ll_or_reply(srv_client *c, int i, long long *out)
{
    if (cmd_arg_ll(c, i, out)) {
        reply_error_not_int(c);
        return ERR_INVAL;
    }
    return 0;
}

int cmd_db(const srv_client *c)
{
    return c->db;
}

int cmd_databases(void)
{
    return (int)srv_cfg.databases;
}

strata_db *cmd_engine(void)
{
    return srv.engine;
}

strata_batch *cmd_batch(srv_client *c)
{
    (void)c;
    if (!srv.batch) {
        srv.batch = strata_batch_new();
        if (!srv.batch) abort();
    }
    return srv.batch;
}

uint64_t cmd_batch_gen(void)
{
    return srv.batch_gen;
}

int cmd_in_exec(const srv_client *c)
{
    return (c->flags & CL_IN_EXEC) != 0;
}

int64_t srv__wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t cmd_now_ms(void)
{
    return srv.now_ms ? srv.now_ms : srv__wall_ms();
}

uint64_t cmd_client_id(const srv_client *c)
{
    return c->id;
}

void cmd_stat_expired(uint64_t n)
{
    srv.stat_expired += n;
}

void cmd_stat_keyspace(uint64_t hits, uint64_t misses)
{
    srv.stat_hits += hits;
    srv.stat_misses += misses;
}

void cmd_stat_dirty(uint64_t n)
{
    srv.stat_dirty += n;
}

int cmd_register_info(const char *section, cmd_info_fn fn)
{
    if (srv.ninfos >= (int)(sizeof(srv.infos) / sizeof(srv.infos[0]))) return ERR_NOMEM;
    snprintf(srv.infos[srv.ninfos].name, sizeof(srv.infos[0].name), "%s", section);
    srv.infos[srv.ninfos++].fn = fn;
    return 0;
}

int cmd_register_engine_hooks(const cmd_engine_hooks *hooks)
{
    if (srv.nengine_hooks >= (int)(sizeof(srv.engine_hooks) / sizeof(srv.engine_hooks[0])))
        return ERR_NOMEM;
    srv.engine_hooks[srv.nengine_hooks++] = hooks;
    return 0;
}

int cmd_register_commit_hook(cmd_commit_fn fn)
{
    if (srv.ncommit_hooks >= (int)(sizeof(srv.commit_hooks) / sizeof(srv.commit_hooks[0])))
        return ERR_NOMEM;
    srv.commit_hooks[srv.ncommit_hooks++] = fn;
    return 0;
}

int cmd_register_cron(cmd_cron_fn fn)
{
    if (srv.ncrons >= (int)(sizeof(srv.crons) / sizeof(srv.crons[0]))) return ERR_NOMEM;
    srv.crons[srv.ncrons++] = fn;
    return 0;
}

uint64_t cmd_client_last_seq(const srv_client *c)
{
    return c->last_seq;
}

int cmd_register_filter(cmd_filter_fn fn)
{
    if (srv.nfilters >= (int)(sizeof(srv.filters) / sizeof(srv.filters[0]))) return ERR_NOMEM;
    srv.filters[srv.nfilters++] = fn;
    return 0;
}

int cmd_register_before_sleep(cmd_hook_fn fn)
{
    if (srv.nsleep_hooks >= (int)(sizeof(srv.sleep_hooks) / sizeof(srv.sleep_hooks[0])))
        return ERR_NOMEM;
    srv.sleep_hooks[srv.nsleep_hooks++] = fn;
    return 0;
}

int cmd_register_shutdown(cmd_hook_fn fn)
{
    if (srv.nstop_hooks >= (int)(sizeof(srv.stop_hooks) / sizeof(srv.stop_hooks[0])))
        return ERR_NOMEM;
    srv.stop_hooks[srv.nstop_hooks++] = fn;
    return 0;
}

void cmd_block(srv_client *c)
{
    if (!(c->flags & CL_IN_EXEC)) c->flags |= CL_BLOCKED;
}

void cmd_unblock(srv_client *c)
{
    if (!(c->flags & CL_BLOCKED)) return;
    c->flags &= ~CL_BLOCKED;
    if (srv.nunblocked == srv.unblocked_cap) {
        srv.unblocked_cap = srv.unblocked_cap ? srv.unblocked_cap * 2 : 16;
        srv.unblocked = realloc(srv.unblocked, (size_t)srv.unblocked_cap * sizeof(uint64_t));
        if (!srv.unblocked) abort();
    }
    srv.unblocked[srv.nunblocked++] = c->id;
}

srv_client *cmd_client_by_id(uint64_t id)
{
    return srv__client_by_id(id);
}

void cmd_client_set_replica(srv_client *c)
{
    c->flags |= CL_REPLICA;
}

size_t cmd_client_unsent(const srv_client *c)
{
    return srv__unsent(c);
}

const char *cmd_client_addr(const srv_client *c)
{
    return c->addr;
}

void cmd_client_close(srv_client *c)
{
    srv__client_close_asap(c);
}

struct ev_loop *cmd_loop(void)
{
    return srv.loop;
}

/* Clients unblocked since the last iteration run the input they queued. */
static void resume_unblocked(void)
{
    for (int i = 0; i < srv.nunblocked; i++) {
        srv_client *c = srv__client_by_id(srv.unblocked[i]);
        if (!c || (c->flags & CL_BLOCKED)) continue;
        if (c->flags & CL_READ_PAUSED)
            srv__resume_client(c);
        else
            srv__process_input(c);
    }
    srv.nunblocked = 0;
}

#define SRV_STALL_RETRY_MS 2

/* Runs again the held-back commands of clients whose writes met a stall. */
static void retry_stalled(void)
{
    srv.stall_retry_us = ev_now_us() + SRV_STALL_RETRY_MS * 1000;
    srv.nstalled = 0;
    for (srv_client *c = srv.clients, *n; c; c = n) {
        n = c->next;
        if (!(c->flags & CL_STALLED)) continue;
        c->flags &= ~CL_STALLED;
        srv__resume_client(c);
    }
}

static void before_sleep(ev_loop *l, void *data)
{
    (void)data;
    resume_unblocked();
    srv__durable_point();
    if (srv.nstalled && ev_now_us() >= srv.stall_retry_us) retry_stalled();
    for (int i = 0; i < srv.nsleep_hooks; i++) srv.sleep_hooks[i]();
    srv__flush_pending();
    if (srv.nstalled) ev_wake_in(l, SRV_STALL_RETRY_MS);
    if (shutdown_requested || srv.shutdown_asap) ev_stop(l);
}

static void cron(ev_loop *l, void *data)
{
    (void)data;
    uint64_t now = ev_now_ms();
    if (srv.pause_end_ms && now >= srv.pause_end_ms) {
        srv.pause_end_ms = 0;
        for (srv_client *c = srv.clients, *n; c; c = n) {
            n = c->next;
            srv__resume_client(c);
        }
    }
    for (srv_client *c = srv.clients, *n; c; c = n) {
        n = c->next;
        if (srv_cfg.timeout > 0 &&
            !(c->flags & (CL_PUBSUB | CL_MONITOR | CL_REPLICA | CL_BLOCKED)) &&
            now - c->last_ms > (uint64_t)srv_cfg.timeout * 1000 && !srv__unsent(c)) {
            log_verbose("Closing idle client id=%llu", (unsigned long long)c->id);
            srv__client_close(c);
            continue;
        }
        if (c->reply_bytes) srv__check_output_limits(c);
    }
    for (int i = 0; i < srv.ncrons; i++) srv.crons[i](20000);
    srv__retry_wal();
    if (shutdown_requested) ev_stop(l);
}

/* ---------------- metrics endpoint ---------------- */

typedef struct http_conn {
    int fd;
    size_t len;
    char buf[8200];
    sbuf out;
    size_t sent;
} http_conn;

static void http_close(http_conn *h)
{
    ev_set(srv.loop, h->fd, 0, NULL, NULL, NULL);
    close(h->fd);
    sbuf_free(&h->out);
    free(h);
}

static void http_write(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)mask;
    http_conn *h = data;
    while (h->sent < h->out.len) {
        ssize_t w = write(fd, h->out.buf + h->sent, h->out.len - h->sent);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (w <= 0) break;
        h->sent += (size_t)w;
    }
    http_close(h);
}

static void http_read(ev_loop *l, int fd, void *data, int mask)
{
    (void)mask;
    http_conn *h = data;
    ssize_t n = read(fd, h->buf + h->len, sizeof(h->buf) - h->len - 1);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        http_close(h);
        return;
    }
    h->len += (size_t)n;
    char path[256];
    int rc = metrics_http_request(h->buf, h->len, path, sizeof(path));
    if (rc == 0 && h->len < sizeof(h->buf) - 1) return;
    if (rc == 1 && (!strcmp(path, "/metrics") || !strncmp(path, "/metrics?", 9))) {
        sbuf body = {0};
        srv__render_metrics(&body);
        metrics_http_response(&h->out, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
                              sbuf_str(&body), body.len);
        sbuf_free(&body);
    } else if (rc == 1) {
        metrics_http_response(&h->out, "404 Not Found", "text/plain", "not found\n", 10);
    } else {
        metrics_http_response(&h->out, "400 Bad Request", "text/plain", "bad request\n", 12);
    }
    ev_set(l, fd, EV_WRITE, NULL, http_write, h);
    http_write(l, fd, h, EV_WRITE);
}

static void http_accept(ev_loop *l, int lfd, void *data, int mask)
{
    (void)data;
    (void)mask;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    http_conn *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return;
    }
    h->fd = fd;
    ev_set(l, fd, EV_READ, http_read, NULL, h);
}

/* ---------------- start / run / stop ---------------- */

static int listen_on(const char *addr, int port, ev_fn fn)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    int family;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (!strcmp(addr, "::*")) addr = "::";
        if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
            return err_set(ERR_INVAL, "bind: invalid address '%s'", addr);
        sl = sizeof(*a);
        family = AF_INET6;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (!strcmp(addr, "*")) addr = "0.0.0.0";
        if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
            return err_set(ERR_INVAL, "bind: invalid address '%s'", addr);
        sl = sizeof(*a);
        family = AF_INET;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_set(ERR_IO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, (int)srv_cfg.tcp_backlog)) {
        int e = errno;
        close(fd);
        return err_set(ERR_IO, "Could not create server TCP listening socket %s:%d: %s", addr, port,
                       strerror(e));
    }
    if (ev_set(srv.loop, fd, EV_READ, fn, NULL, NULL)) {
        close(fd);
        return ERR_IO;
    }
    return fd;
}

int srv__apply_logging(void)
{
    log_set_level(srv_cfg.loglevel);
    return log_set_file(srv_cfg.logfile);
}

/* Redis accepts any hz and clamps it to 1..500. */
int srv__apply_hz(void)
{
    if (srv_cfg.hz < 1) srv_cfg.hz = 1;
    if (srv_cfg.hz > 500) srv_cfg.hz = 500;
    if (srv.loop) ev_set_timer(srv.loop, (int)(1000 / srv_cfg.hz), cron, NULL);
    return 0;
}

/* everysec: the engine's sync thread fsyncs the WAL once a second, aside
 * from the event loop (writes keep flowing during the fsync, as Redis's
 * background fsync lets them); always and no: no periodic sync. */
static uint64_t sync_interval_ms(void)
{
    return srv_cfg.appendfsync == FSYNC_EVERYSEC ? 1000 : 0;
}

int srv__apply_appendfsync(void)
{
    if (srv.engine && strata_set_wal_sync_interval(srv.engine, sync_interval_ms()))
        return err_set(ERR_IO, "%s", strata_errmsg());
    return 0;
}

int srv__apply_maxclients(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)srv_cfg.maxclients + 32;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rlim_t want = need < rl.rlim_max ? need : rl.rlim_max;
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (want < need)
            return err_set(ERR_INVAL,
                           "The operating system is not able to handle the specified "
                           "number of clients (open file limit %llu)",
                           (unsigned long long)want);
    }
    return 0;
}

const cmd_def *srv__builtin_table(void);

/* Opens the engine; start-up runs the engines hooks' opened (a reopen does not:
 * its caller re-attaches what it needs). */
static int open_engine(int run_opened)
{
    strata_options o;
    strata_options_init(&o);
    o.memtable_bytes = (size_t)srv_cfg.memtable_bytes;
    o.block_cache_bytes = (size_t)srv_cfg.block_cache_bytes;
    if (srv_cfg.level0_stop_trigger < srv_cfg.level0_slowdown_trigger)
        return err_set(ERR_INVAL,
                       "level0-stop-trigger (%lld) must be at least "
                       "level0-slowdown-trigger (%lld)",
                       srv_cfg.level0_stop_trigger, srv_cfg.level0_slowdown_trigger);
    o.max_immutable_memtables = (int)srv_cfg.max_immutable_memtables;
    o.level0_slowdown_trigger = (int)srv_cfg.level0_slowdown_trigger;
    o.level0_stop_trigger = (int)srv_cfg.level0_stop_trigger;
    o.wal_sync_interval_ms = sync_interval_ms();
    if (o.level0_compaction_trigger > o.level0_slowdown_trigger)
        o.level0_compaction_trigger = o.level0_slowdown_trigger;
    o.wal_retention_bytes = (uint64_t)srv_cfg.repl_backlog_size;
    for (int i = 0; i < srv.nengine_hooks; i++)
        if (srv.engine_hooks[i]->configure) srv.engine_hooks[i]->configure(&o);
    int rc = strata_open(srv_cfg.dir, &o, &srv.engine);
    if (rc)
        return err_set(rc, "cannot open the storage engine in '%s': %s", srv_cfg.dir,
                       strata_errmsg());
    for (int i = 0; i < srv.nengine_hooks && run_opened; i++)
        if (srv.engine_hooks[i]->opened && (rc = srv.engine_hooks[i]->opened(srv.engine)))
            return err_set(rc, "storage engine start-up hook failed: %s", err_msg());
    return 0;
}

int cmd_engine_reopen(int (*between)(void *arg), void *arg)
{
    if (srv.batch && strata_batch_count(srv.batch))
        return err_set(ERR_INVAL, "engine reopen with a write batch open");
    int rc = 0;
    if (srv.engine) {
        for (int i = 0; i < srv.nengine_hooks; i++)
            if (srv.engine_hooks[i]->closing) srv.engine_hooks[i]->closing(srv.engine);
        strata_sync(srv.engine);
        rc = strata_close(srv.engine);
        srv.engine = NULL;
        if (rc) log_warn("closing the engine: %s", strata_errmsg());
    }
    srv.batch_gen++;
    int brc = between ? between(arg) : 0;
    rc = open_engine(0);
    return brc ? brc : rc;
}

int srv_start(void)
{
    int rc = 0;
    srv.loop = ev_create();
    if (!srv.loop) return err_set(ERR_IO, "epoll_create failed");
    srv__conn_loop_init(srv.loop);
    srv.start_time = time(NULL);
    srv.start_us = ev_now_us();
    srv.metrics_fd = -1;
    srv.last_save = (uint64_t)time(NULL);
    dict_init(&srv.clients_by_id, 0);
    dict_init(&srv.watched_keys, 0);
    dict_init(&srv.pubsub_channels, 0);
    dict_init(&srv.pubsub_patterns, 0);
    dict_init(&srv.error_stats, 0);
    if (!srv.commands.size) dict_init(&srv.commands, 1);
    if ((rc = cmd_register(srv__builtin_table()))) return rc;
    if ((rc = cmd_register_filter(srv__disk_filter))) return rc;
    srv__apply_logging();
    if (srv__apply_maxclients()) log_warn("%s", err_msg());
    char binds[512];
    snprintf(binds, sizeof(binds), "%s", srv_cfg.bind);
    for (char *save = NULL, *a = strtok_r(binds, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
        int optional = a[0] == '-';
        int fd = listen_on(optional ? a + 1 : a, (int)srv_cfg.port, srv__accept_handler);
        if (fd < 0) {
            if (optional) continue;
            return fd;
        }
        if (srv.nlisten < 16) srv.listen_fds[srv.nlisten++] = fd;
    }
    if (!srv.nlisten)
        return err_set(ERR_INVAL, "no address to listen on (bind '%s')", srv_cfg.bind);
    if (srv_cfg.metrics_port) {
        int fd = listen_on(strchr(srv_cfg.bind, ':') ? "::" : "0.0.0.0", (int)srv_cfg.metrics_port,
                           http_accept);
        if (fd < 0) return fd;
        srv.metrics_fd = fd;
    }
    if ((rc = open_engine(1))) return rc;
    srv__apply_hz();
    ev_set_before_sleep(srv.loop, before_sleep, NULL);
    log_notice("Ready to accept connections on port %lld", srv_cfg.port);
    return 0;
}

void srv_run(void)
{
    ev_run(srv.loop);
}

void srv_request_shutdown(void)
{
    shutdown_requested = 1;
}

void srv_stop(void)
{
    log_notice("User requested shutdown...");
    srv__flush_pending();
    while (srv.clients) srv__client_close(srv.clients);
    for (int i = 0; i < srv.nstop_hooks; i++) srv.stop_hooks[i]();
    for (int i = 0; i < srv.nlisten; i++) close(srv.listen_fds[i]);
    if (srv.metrics_fd >= 0) close(srv.metrics_fd);
    if (srv.engine) {
        for (int i = 0; i < srv.nengine_hooks; i++)
            if (srv.engine_hooks[i]->closing) srv.engine_hooks[i]->closing(srv.engine);
        strata_sync(srv.engine);
        strata_close(srv.engine);
        srv.engine = NULL;
    }
    if (srv.batch) strata_batch_free(srv.batch);
    srv.batch = NULL;
    srv__slowlog_reset();
    log_notice("StrataDB is now ready to exit, bye bye...");
}
