/* The server core: listeners, clients, the request path and its limits.
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
    dict_entry *de = dict_find(&srv.commands, name, len);
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

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t cmd_now_ms(void)
{
    return srv.now_ms ? srv.now_ms : wall_ms();
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

static size_t unsent_bytes(const srv_client *c);
static void close_asap(srv_client *c);

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
    return unsent_bytes(c);
}

const char *cmd_client_addr(const srv_client *c)
{
    return c->addr;
}

void cmd_client_close(srv_client *c)
{
    close_asap(c);
}

struct ev_loop *cmd_loop(void)
{
    return srv.loop;
}

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

/* ---------------- output ---------------- */

static void mark_pending(srv_client *c)
{
    if (c->flags & (CL_PENDING_WRITE | CL_FAKE)) return;
    if (srv.npending == srv.pending_cap) {
        srv.pending_cap = srv.pending_cap ? srv.pending_cap * 2 : 64;
        srv.pending = realloc(srv.pending, (size_t)srv.pending_cap * sizeof(*srv.pending));
        if (!srv.pending) abort();
    }
    srv.pending[srv.npending++] = c;
    c->flags |= CL_PENDING_WRITE;
}

static size_t unsent_bytes(const srv_client *c)
{
    return (c->bufpos - c->sentlen) + c->reply_bytes;
}

static void close_asap(srv_client *c)
{
    if (c->flags & CL_CLOSE_ASAP) return;
    c->flags |= CL_CLOSE_ASAP;
    mark_pending(c); /* before-sleep frees it */
}

void srv__client_close_asap(srv_client *c)
{
    close_asap(c);
}

size_t srv__unsent(const srv_client *c)
{
    return unsent_bytes(c);
}

/* Applies client-output-buffer-limit to c (called when its chunk list grows). */
static void check_output_limits(srv_client *c)
{
    int cls = (c->flags & CL_REPLICA)  ? OBUF_REPLICA
              : (c->flags & CL_PUBSUB) ? OBUF_PUBSUB
                                       : OBUF_NORMAL;
    const obuf_limit *l = &srv_cfg.obuf[cls];
    size_t used = c->reply_bytes;
    int hard = l->hard_bytes && used >= (size_t)l->hard_bytes;
    int soft = 0;
    if (l->soft_bytes && used >= (size_t)l->soft_bytes) {
        uint64_t now = ev_now_ms();
        if (!c->obuf_soft_since_ms)
            c->obuf_soft_since_ms = now;
        else if (now - c->obuf_soft_since_ms >= (uint64_t)l->soft_seconds * 1000)
            soft = 1;
    } else {
        c->obuf_soft_since_ms = 0;
    }
    if (hard || soft) {
        log_warn("Client id=%llu addr=%s scheduled to be closed ASAP for overcoming of output "
                 "buffer limits.",
                 (unsigned long long)c->id, c->addr);
        srv.stat_obuf_disconnects++;
        close_asap(c);
    }
}

static int replies_off(srv_client *c)
{
    return (c->flags & (CL_CLOSE_ASAP | CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLICA)) != 0;
}

static ochunk *new_chunk(srv_client *c, size_t min)
{
    size_t size = min > SRV_CHUNK_BYTES ? min : SRV_CHUNK_BYTES;
    ochunk *ch = malloc(sizeof(*ch) + size);
    if (!ch) abort();
    ch->next = NULL;
    ch->size = size;
    ch->used = 0;
    ch->deferred = 0;
    if (c->tail)
        c->tail->next = ch;
    else
        c->head = ch;
    c->tail = ch;
    return ch;
}

static void add_bytes(srv_client *c, const void *p, size_t n);

void srv__add_reply(srv_client *c, const void *p, size_t n)
{
    if (replies_off(c)) return;
    add_bytes(c, p, n);
}

static void add_bytes(srv_client *c, const void *p, size_t n)
{
    mark_pending(c);
    if (!c->head) {
        size_t room = SRV_BUF_BYTES - c->bufpos;
        if (n <= room) {
            memcpy(c->buf + c->bufpos, p, n);
            c->bufpos += n;
            return;
        }
        memcpy(c->buf + c->bufpos, p, room);
        c->bufpos += room;
        p = (const char *)p + room;
        n -= room;
    }
    ochunk *t = c->tail;
    if (t && !t->deferred) {
        size_t room = t->size - t->used;
        size_t k = n < room ? n : room;
        memcpy(t->data + t->used, p, k);
        t->used += k;
        c->reply_bytes += k;
        p = (const char *)p + k;
        n -= k;
    }
    if (n) {
        ochunk *ch = new_chunk(c, n);
        memcpy(ch->data, p, n);
        ch->used = n;
        c->reply_bytes += n;
        check_output_limits(c);
    }
}

void cmd_client_write_raw(srv_client *c, const void *p, size_t n)
{
    if (c->flags & CL_CLOSE_ASAP) return;
    add_bytes(c, p, n);
}

ochunk *srv__add_deferred(srv_client *c)
{
    if (replies_off(c)) return NULL;
    mark_pending(c);
    ochunk *ch = new_chunk(c, 32);
    ch->size = 32;
    ch->deferred = 1;
    return ch;
}

/* Reply position, to undo a command's replies when its commit fails. */
typedef struct reply_mark {
    size_t bufpos;
    ochunk *tail;
    size_t tail_used;
    size_t reply_bytes;
} reply_mark;

static reply_mark mark_replies(const srv_client *c)
{
    reply_mark m = {c->bufpos, c->tail, c->tail ? c->tail->used : 0, c->reply_bytes};
    return m;
}

static void truncate_replies(srv_client *c, const reply_mark *m)
{
    ochunk *ch = m->tail ? m->tail->next : c->head;
    while (ch) {
        ochunk *n = ch->next;
        free(ch);
        ch = n;
    }
    if (m->tail) {
        m->tail->next = NULL;
        m->tail->used = m->tail_used;
        c->head = c->head ? c->head : m->tail;
    } else {
        c->head = NULL;
    }
    c->tail = m->tail;
    c->bufpos = m->bufpos;
    c->reply_bytes = m->reply_bytes;
}

/* Writes as much pending output as the socket takes. Returns -1 on a
 * fatal socket error. */
static int write_client(srv_client *c)
{
    while (unsent_bytes(c) > 0) {
        struct iovec iov[SRV_IOV_MAX];
        int n = 0;
        size_t total = 0;
        if (c->bufpos > c->sentlen) {
            iov[n].iov_base = c->buf + c->sentlen;
            iov[n].iov_len = c->bufpos - c->sentlen;
            total += iov[n++].iov_len;
        }
        size_t off = c->bufpos > c->sentlen ? 0 : c->sentlen;
        for (ochunk *ch = c->head; ch && n < SRV_IOV_MAX; ch = ch->next) {
            if (ch->deferred) break; /* never send past an unset length */
            size_t skip = ch == c->head ? off : 0;
            if (ch->used > skip) {
                iov[n].iov_base = ch->data + skip;
                iov[n].iov_len = ch->used - skip;
                total += iov[n++].iov_len;
            }
            if (ch == c->head && c->bufpos > c->sentlen) skip = 0;
        }
        if (!n) break;
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            return -1;
        }
        c->net_out += (uint64_t)w;
        srv.stat_net_out += (uint64_t)w;
        size_t left = (size_t)w;
        /* consume from the fixed buffer, then the chunks */
        if (c->bufpos > c->sentlen) {
            size_t k = c->bufpos - c->sentlen;
            if (left < k) {
                c->sentlen += left;
                return 0;
            }
            left -= k;
            c->sentlen = c->bufpos = 0;
        } else if (!c->head) {
            c->sentlen = c->bufpos = 0;
        }
        while (left && c->head) {
            ochunk *ch = c->head;
            size_t avail = ch->used - c->sentlen;
            if (left < avail) {
                c->sentlen += left;
                left = 0;
                break;
            }
            left -= avail;
            c->reply_bytes -= ch->used;
            c->sentlen = 0;
            c->head = ch->next;
            if (!c->head) c->tail = NULL;
            free(ch);
        }
        if ((size_t)w < total) return 0;
    }
    if (!c->head && c->bufpos == c->sentlen) c->bufpos = c->sentlen = 0;
    return 0;
}

/* ---------------- clients ---------------- */

static void read_handler(ev_loop *l, int fd, void *data, int mask);
static void write_handler(ev_loop *l, int fd, void *data, int mask);
static void durable_point(void);

static srv_client *client_new(int fd)
{
    srv_client *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->id = ++srv.next_client_id;
    c->fd = fd;
    c->resp = 2;
    c->ctime = time(NULL);
    c->last_ms = ev_now_ms();
    resp_init(&c->rp);
    dict_init(&c->watched, 0);
    dict_init(&c->channels, 0);
    dict_init(&c->patterns, 0);
    if (!srv_cfg.requirepass || !srv_cfg.requirepass[0]) c->flags |= CL_AUTHENTICATED;
    c->next = srv.clients;
    if (srv.clients) srv.clients->prev = c;
    srv.clients = c;
    srv.nclients++;
    dict_add(&srv.clients_by_id, &c->id, sizeof(c->id), c);
    return c;
}

srv_client *srv__client_by_id(uint64_t id)
{
    dict_entry *e = dict_find(&srv.clients_by_id, &id, sizeof(id));
    return e ? e->val : NULL;
}

static void free_queued(srv_client *c)
{
    for (int i = 0; i < c->mq_len; i++) {
        for (int j = 0; j < c->mq[i].argc; j++) free(c->mq[i].argv[j]);
        free(c->mq[i].argv);
        free(c->mq[i].argvlen);
    }
    c->mq_len = 0;
}

void srv__client_close(srv_client *c)
{
    if (c == srv.current) { /* never free a client under its own command */
        close_asap(c);
        return;
    }
    if (c->fd >= 0) {
        ev_set(srv.loop, c->fd, 0, NULL, NULL, NULL);
        close(c->fd);
    }
    srv__unwatch_all(c);
    srv__unsubscribe_all(c, 0, 0);
    srv__unsubscribe_all(c, 1, 0);
    dict_clear(&c->channels, NULL);
    dict_clear(&c->patterns, NULL);
    if (c->flags & CL_MONITOR) srv.monitors--;
    if (c->flags & CL_STALLED) srv.nstalled--;
    free_queued(c);
    free(c->mq);
    if (c->flags & CL_PENDING_WRITE)
        for (int i = 0; i < srv.npending; i++)
            if (srv.pending[i] == c) {
                srv.pending[i] = srv.pending[--srv.npending];
                break;
            }
    for (ochunk *ch = c->head; ch;) {
        ochunk *n = ch->next;
        free(ch);
        ch = n;
    }
    dict_del(&srv.clients_by_id, &c->id, sizeof(c->id));
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (srv.clients == c) srv.clients = c->next;
    srv.nclients--;
    resp_free(&c->rp);
    free(c->qbuf);
    free(c->argv);
    free(c->argvlen);
    free(c->name);
    free(c);
}

static void set_read(srv_client *c, int on)
{
    int mask = ev_mask(srv.loop, c->fd);
    int want = on ? (mask | EV_READ) : (mask & ~EV_READ);
    if (want != mask) ev_set(srv.loop, c->fd, want, read_handler, write_handler, c);
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127);
    }
    return 1;
}

static void fmt_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    }
    snprintf(out, len, "%s:%d", ip, port);
}

static const char protected_msg[] =
    "-DENIED StrataDB is in protected mode: no password is set and it is not bound to "
    "loopback only, so connections are accepted from the loopback interface only. To allow "
    "this client, either set a password (requirepass), or disable protected mode with 'CONFIG "
    "SET protected-mode no' from the loopback interface (or '--protected-mode no' at start), "
    "after making sure the server is not reachable from untrusted networks.\r\n";

static void accept_handler(ev_loop *l, int lfd, void *data, int mask)
{
    (void)data;
    (void)mask;
    for (int i = 0; i < 1000; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        srv.stat_connections++;
        if (srv.nclients >= srv_cfg.maxclients) {
            static const char m[] = "-ERR max number of clients reached\r\n";
            ssize_t w = write(fd, m, sizeof(m) - 1);
            (void)w;
            close(fd);
            srv.stat_rejected++;
            continue;
        }
        if (srv_cfg.protected_mode && (!srv_cfg.requirepass || !srv_cfg.requirepass[0]) &&
            !is_loopback(&ss)) {
            ssize_t w = write(fd, protected_msg, sizeof(protected_msg) - 1);
            (void)w;
            close(fd);
            srv.stat_rejected++;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (srv_cfg.tcp_keepalive > 0) {
            int idle = (int)srv_cfg.tcp_keepalive, intvl = idle / 3 > 0 ? idle / 3 : 1, cnt = 3;
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
        }
        srv_client *c = client_new(fd);
        if (!c) {
            close(fd);
            continue;
        }
        fmt_addr(&ss, c->addr, sizeof(c->addr));
        struct sockaddr_storage ls;
        socklen_t ll = sizeof(ls);
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
            fmt_addr(&ls, c->laddr, sizeof(c->laddr));
        if (ev_set(l, fd, EV_READ, read_handler, write_handler, c)) srv__client_close(c);
    }
}

/* ---------------- command execution ---------------- */

/* Commits the batch; no_wait makes an engine write stall fail with ERR_BUSY. */
static int commit_batch(srv_client *c, int no_wait)
{
    if (!srv.batch || strata_batch_count(srv.batch) == 0) return 0;
    uint32_t count = strata_batch_count(srv.batch);
    uint64_t seq = 0;
    int rc;
    if (srv.engine) {
        strata_write_options wo;
        strata_write_options_init(&wo);
        /* In memory only here; durable_point() hands the whole loop
         * iteration's writes to the OS (or fsyncs them) in one call before
         * any reply goes out, as Redis does with its AOF buffer. */
        wo.durability = STRATA_DUR_NONE;
        wo.no_slowdown = no_wait != 0;
        rc = strata_write(srv.engine, &wo, srv.batch, &seq);
        if (rc == 0 && c) c->last_seq = seq + count - 1;
        if (rc == 0 && srv_cfg.appendfsync == FSYNC_ALWAYS) srv.need_sync = 1;
        if (rc == 0) srv.need_flush = 1;
        if (rc) err_set(rc, "%s", strata_errmsg());
    } else {
        rc = err_set(ERR_CLOSED, "no storage engine is open");
    }
    strata_batch_clear(srv.batch);
    srv.batch_gen++;
    for (int i = 0; i < srv.ncommit_hooks; i++) srv.commit_hooks[i](rc == 0);
    if (rc && rc != ERR_BUSY) srv.stat_commit_failures++;
    return rc;
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
    reply_mark m = mark_replies(c);
    c->cmd_errors = 0;
    c->cmd = d;
    c->lastcmd = d;
    uint64_t start = ev_ticks();
    srv_client *prev = srv.current;
    srv.current = c;
    d->proc(c);
    srv.current = prev;
    if (!(c->flags & CL_IN_EXEC)) {
        int rc = commit_batch(c, !(c->flags & CL_FAKE));
        if (rc == ERR_BUSY) { /* engine stall: hold the command back, run it again later */
            truncate_replies(c, &m);
            if (!c->stall_since_us) c->stall_since_us = ev_now_us();
            c->flags |= CL_STALLED;
            srv.nstalled++;
            srv.stat_write_stalls++;
            return;
        }
        if (rc) {
            truncate_replies(c, &m);
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
    free_queued(c);
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
    reply_mark m = mark_replies(c);
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
        truncate_replies(c, &m);
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
        queue_command(c, e);
        srv__add_reply(c, "+QUEUED\r\n", 9);
        return 0;
    }
    if (paused_for(d)) return 1;
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
    srv.now_ms = wall_ms();
    while (c->qpos < c->qlen &&
           !(c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_READ_PAUSED | CL_BLOCKED))) {
        if (srv.pause_end_ms && !srv.pause_writes_only && ev_now_ms() < srv.pause_end_ms) {
            c->flags |= CL_READ_PAUSED;
            set_read(c, 0);
            break;
        }
        if (unsent_bytes(c) > SRV_OUTPUT_PAUSE_BYTES && !(c->flags & CL_REPLICA)) {
            c->flags |= CL_READ_PAUSED;
            srv.stat_read_pauses++;
            set_read(c, 0);
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
            c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT);
            reply_error(c, c->rp.errbuf);
            c->flags |= CL_CLOSE_AFTER_REPLY;
            set_read(c, 0);
            c->qpos = c->qlen;
            break;
        }
        if (rc == RESP_COMMAND) {
            set_argv(c);
            if (++since_clock == 32) {
                since_clock = 0;
                srv.now_ms = wall_ms();
            }
            if (process_command(c)) { /* paused: keep the command for later */
                c->flags |= CL_READ_PAUSED;
                set_read(c, 0);
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

static void read_handler(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)mask;
    srv_client *c = data;
    if (c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY)) return;
    size_t want = 16 * 1024;
    size_t have = c->qlen - c->qpos;
    if (c->rp.need > have && c->rp.need - have > want) want = c->rp.need - have;
    if (c->qpos && c->qcap - c->qlen < want) {
        memmove(c->qbuf, c->qbuf + c->qpos, have);
        c->qlen = have;
        c->qpos = 0;
    }
    if (c->qcap - c->qlen < want) {
        size_t cap = c->qcap ? c->qcap : 16 * 1024;
        while (cap - c->qlen < want) cap *= 2;
        char *q = realloc(c->qbuf, cap + 1);
        if (!q) {
            srv__client_close(c);
            return;
        }
        c->qbuf = q;
        c->qcap = cap;
    }
    ssize_t n = read(c->fd, c->qbuf + c->qlen, c->qcap - c->qlen);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        srv__client_close(c);
        return;
    }
    if (n < 0) return;
    c->qlen += (size_t)n;
    c->net_in += (uint64_t)n;
    srv.stat_net_in += (uint64_t)n;
    c->last_ms = ev_now_ms();
    if (c->qlen - c->qpos > c->qbuf_peak) c->qbuf_peak = c->qlen - c->qpos;
    if ((long long)(c->qlen - c->qpos) > srv_cfg.client_query_buffer_limit) {
        log_warn("Closing client that reached max query buffer length: id=%llu addr=%s "
                 "(qbuf=%zu)",
                 (unsigned long long)c->id, c->addr, c->qlen - c->qpos);
        srv.stat_qbuf_disconnects++;
        srv__client_close(c);
        return;
    }
    process_input(c);
    if (c->flags & CL_CLOSE_ASAP) srv__client_close(c);
}

static void resume_client(srv_client *c)
{
    if (!(c->flags & CL_READ_PAUSED) ||
        (c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_STALLED)))
        return;
    c->flags &= ~CL_READ_PAUSED;
    set_read(c, 1);
    process_input(c);
}

static void write_handler(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)mask;
    srv_client *c = data;
    if (srv.need_sync || srv.need_flush) durable_point(); /* replies of this iteration */
    if (write_client(c)) {
        srv__client_close(c);
        return;
    }
    if (unsent_bytes(c) == 0) {
        int m = ev_mask(srv.loop, c->fd) & ~EV_WRITE;
        ev_set(srv.loop, c->fd, m, read_handler, write_handler, c);
        if (c->flags & CL_CLOSE_AFTER_REPLY) {
            srv__client_close(c);
            return;
        }
    }
    if ((c->flags & CL_READ_PAUSED) && unsent_bytes(c) < SRV_OUTPUT_PAUSE_BYTES / 2 &&
        !(srv.pause_end_ms && ev_now_ms() < srv.pause_end_ms))
        resume_client(c);
    if (c->flags & CL_CLOSE_ASAP) srv__client_close(c);
}

/* ---------------- before sleep and cron ---------------- */

static void flush_pending(void)
{
    /* Clients in one snapshot are distinct (CL_PENDING_WRITE), and only the
     * client at hand is freed here, so the snapshot never dangles. */
    for (int round = 0; round < 8 && srv.npending; round++) {
        int n = srv.npending;
        srv_client **list = malloc((size_t)n * sizeof(*list));
        if (!list) abort();
        memcpy(list, srv.pending, (size_t)n * sizeof(*list));
        srv.npending = 0;
        for (int i = 0; i < n; i++) list[i]->flags &= ~CL_PENDING_WRITE;
        for (int i = 0; i < n; i++) {
            srv_client *c = list[i];
            if ((c->flags & CL_CLOSE_ASAP) || write_client(c)) {
                srv__client_close(c);
                continue;
            }
            if (unsent_bytes(c)) {
                int m = ev_mask(srv.loop, c->fd);
                if (!(m & EV_WRITE))
                    ev_set(srv.loop, c->fd, m | EV_WRITE, read_handler, write_handler, c);
            } else if (c->flags & CL_CLOSE_AFTER_REPLY) {
                srv__client_close(c);
            } else if ((c->flags & CL_READ_PAUSED) &&
                       !(srv.pause_end_ms && ev_now_ms() < srv.pause_end_ms)) {
                resume_client(c);
            }
        }
        free(list);
    }
}

/* Clients unblocked since the last iteration run the input they queued. */
static void resume_unblocked(void)
{
    for (int i = 0; i < srv.nunblocked; i++) {
        srv_client *c = srv__client_by_id(srv.unblocked[i]);
        if (!c || (c->flags & CL_BLOCKED)) continue;
        if (c->flags & CL_READ_PAUSED)
            resume_client(c);
        else
            process_input(c);
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
        resume_client(c);
    }
}

/* Makes the writes committed so far as durable as appendfsync promises:
 * one fsync (always) or one write(2) to the OS (everysec, no) for all of
 * them. Runs before any reply that may depend on them is written. */
static void durable_point(void)
{
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
        if (strata_flush_wal(srv.engine)) log_warn("WAL write failed: %s", strata_errmsg());
    }
    srv.need_sync = 0;
    srv.need_flush = 0;
}

static void before_sleep(ev_loop *l, void *data)
{
    (void)data;
    resume_unblocked();
    durable_point();
    if (srv.nstalled && ev_now_us() >= srv.stall_retry_us) retry_stalled();
    for (int i = 0; i < srv.nsleep_hooks; i++) srv.sleep_hooks[i]();
    flush_pending();
    if (srv.nstalled) ev_wake_in(l, SRV_STALL_RETRY_MS);
    if (shutdown_requested || srv.shutdown_asap) ev_stop(l);
}

static void cron(ev_loop *l, void *data)
{
    (void)data;
    uint64_t now = ev_now_ms();
    static uint64_t last_sync_ms;
    if (srv.pause_end_ms && now >= srv.pause_end_ms) {
        srv.pause_end_ms = 0;
        for (srv_client *c = srv.clients, *n; c; c = n) {
            n = c->next;
            resume_client(c);
        }
    }
    for (srv_client *c = srv.clients, *n; c; c = n) {
        n = c->next;
        if (srv_cfg.timeout > 0 &&
            !(c->flags & (CL_PUBSUB | CL_MONITOR | CL_REPLICA | CL_BLOCKED)) &&
            now - c->last_ms > (uint64_t)srv_cfg.timeout * 1000 && !unsent_bytes(c)) {
            log_verbose("Closing idle client id=%llu", (unsigned long long)c->id);
            srv__client_close(c);
            continue;
        }
        if (c->reply_bytes) check_output_limits(c);
    }
    if (srv.engine && srv_cfg.appendfsync == FSYNC_EVERYSEC && now - last_sync_ms >= 1000) {
        last_sync_ms = now;
        if (strata_sync(srv.engine)) log_warn("WAL sync failed: %s", strata_errmsg());
    }
    for (int i = 0; i < srv.ncrons; i++) srv.crons[i](20000);
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
    srv__apply_logging();
    if (srv__apply_maxclients()) log_warn("%s", err_msg());
    char binds[512];
    snprintf(binds, sizeof(binds), "%s", srv_cfg.bind);
    for (char *save = NULL, *a = strtok_r(binds, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
        int optional = a[0] == '-';
        int fd = listen_on(optional ? a + 1 : a, (int)srv_cfg.port, accept_handler);
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
    flush_pending();
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
