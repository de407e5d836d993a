/* Connections: accept, socket reads, reply buffers and socket writes.
 *
 * Output of a client: a fixed buffer (buf, bufpos, sentlen) then a list of
 * chunks; a deferred chunk is a placeholder for a length set later, and
 * nothing past it is written before it is filled in.
 *
 * Invariants
 *  1. A client is freed only from the loop's own code paths (its read/write
 *     handler after processing, flush-pending), never while a command runs.
 *  2. A client's unsent output is bounded: past client-output-buffer-limit
 *     (hard, or soft for soft-seconds) it is closed; past
 *     SRV_OUTPUT_PAUSE_BYTES its socket is not read until the output drains.
 *  3. Replies are written only after the durable point of the writes they
 *     may depend on (write_handler runs it first; before-sleep runs it
 *     before flush-pending). */
#include "server/conn.h"

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

#include "server/dispatch.h"
#include "util/err.h"
#include "util/log.h"

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
void srv__check_output_limits(srv_client *c)
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
        srv__check_output_limits(c);
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

srv__reply_mark srv__mark_replies(const srv_client *c)
{
    srv__reply_mark m = {c->bufpos, c->tail, c->tail ? c->tail->used : 0, c->reply_bytes};
    return m;
}

void srv__truncate_replies(srv_client *c, const srv__reply_mark *m)
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

int cmd_client_flush(srv_client *c)
{
    if (c->flags & CL_CLOSE_ASAP) return -1;
    return write_client(c); /* c stays pending: before-sleep arms EV_WRITE for the rest */
}

/* ---------------- clients ---------------- */

static void read_handler(ev_loop *l, int fd, void *data, int mask);
static void write_handler(ev_loop *l, int fd, void *data, int mask);

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

void srv__free_queued(srv_client *c)
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
    srv__group_leave(c); /* its replies go nowhere, but the batch holds its writes */
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
    srv__free_queued(c);
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

void srv__set_read(srv_client *c, int on)
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

void srv__accept_handler(ev_loop *l, int lfd, void *data, int mask)
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
    srv__process_input_open(c);
    if (c->flags & CL_CLOSE_ASAP) srv__client_close(c);
}

void srv__conn_loop_init(ev_loop *l)
{
    srv__group_fence_install(l, read_handler);
}

void srv__resume_client(srv_client *c)
{
    if (!(c->flags & CL_READ_PAUSED) ||
        (c->flags & (CL_CLOSE_ASAP | CL_CLOSE_AFTER_REPLY | CL_STALLED)))
        return;
    c->flags &= ~CL_READ_PAUSED;
    srv__set_read(c, 1);
    srv__process_input(c);
}

static void write_handler(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)mask;
    srv_client *c = data;
    if (srv.need_sync || srv.need_flush) srv__durable_point(); /* replies of this iteration */
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
        srv__resume_client(c);
    if (c->flags & CL_CLOSE_ASAP) srv__client_close(c);
}

void srv__flush_pending(void)
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
                srv__resume_client(c);
            }
        }
        free(list);
    }
}
