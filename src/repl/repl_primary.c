/* The primary side: replicas of this node and WAIT. Design and protocol:
 * docs/replication.md.
 *
 * Invariants
 *  1. Offsets are engine sequence numbers: a replica's cursor (next_seq) is
 *     the sequence of the next batch it gets; batches are sent whole, in
 *     sequence order, with no gap (a gap drops the link).
 *  2. While a replica catches up or gets the files of a full sync, at most
 *     a window of output is queued for it (the WAL and the checkpoint are
 *     the backlog), and a full window is written to the socket at once
 *     (pump_room), so the socket, not the loop's wakeups, sets the pace;
 *     once caught up (eager), every new batch is queued at once and
 *     client-output-buffer-limit applies.
 *  3. Replica links are server clients flagged replica; this file keeps
 *     their ids, never pointers across loop iterations.
 *  4. The checkpoint thread of a full sync touches only its rslave's th_*
 *     fields and calls strata_checkpoint; th_done publishes its result, and
 *     a write to th_wake (an eventfd in the loop) wakes the loop to use it.
 *     The thread is joined before th_wake is closed.
 *
 * Replica states: HANDSHAKE (REPLCONF seen) -> PSYNC -> ONLINE (partial) or
 * CKPT (start_full_sync) -> FILES (checkpoint done, serve_slaves) -> ONLINE
 * (snapshot queued, pump_files). */
#include "repl/repl_primary.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl/repl_frame.h"
#include "repl/repl_link.h"
#include "repl/repl_state.h"
#include "server/config.h"
#include "server/ev.h"
#include "server/reply.h"
#include "metrics/metrics.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

#define CHUNK_BYTES  (64 * 1024)
#define FILES_WINDOW (1024 * 1024)     /* unsent bytes kept in flight during file transfer */
#define PUMP_BYTES   (8 * 1024 * 1024) /* change log appended per replica per iteration */

enum { SL_HANDSHAKE, SL_CKPT, SL_FILES, SL_ONLINE };

typedef struct rslave {
    uint64_t cid;
    int state;
    char ip[64];
    int port;
    uint64_t ack, ack_ms;
    uint64_t next_seq; /* next sequence to send */
    strata_changes *cur;
    uint64_t ping_ms;
    int eager;         /* caught up once: new batches are queued as they come */
    int on_feed;       /* follows the shared feed (cur is NULL) */
    int feed_failed;   /* the shared feed broke: the link must go */
    uint64_t stuck_ms; /* since when the log has nothing readable below the last sequence */
    /* full sync */
    pthread_t th;
    int th_started;
    atomic_int th_done;
    int th_wake; /* eventfd the thread writes when done; -1 = none */
    int th_rc;
    char th_err[256];
    strata_db *th_db;
    uint64_t ck_seq;
    char ckdir[PATH_MAX];
    char **files;
    int nfiles, fi;
    int fd;
    uint64_t fsize, foff;
    uint32_t fcrc;
} rslave;

typedef struct waiter {
    uint64_t cid, target, deadline_ms;
    long num;
} waiter;

static struct {
    rslave **slaves;
    int nslaves, cslaves;
    int getack;
    waiter *waiters;
    int nwaiters, cwaiters;
    uint64_t sync_full, sync_partial_ok, sync_partial_err;
} P;

/* The shared feed: one change-log cursor for every replica that has caught
 * up with it, so that each new batch is read from the WAL and framed (CRC)
 * once, whatever the number of replicas; each member gets a copy of the same
 * frames. A replica catches up on its own cursor and joins the feed when
 * that cursor reaches the feed's position (the end of the log). */
static struct {
    strata_changes *cur; /* NULL while no replica follows the feed */
    uint64_t next_seq;   /* next sequence the feed reads */
    uint64_t stuck_ms;   /* as rslave.stuck_ms */
    sbuf frames;         /* frames read in this iteration */
} F;

static void feed_close(void)
{
    if (F.cur) strata_changes_close(F.cur);
    F.cur = NULL;
    F.stuck_ms = 0;
    sbuf_free(&F.frames);
}

static rslave *slave_find(uint64_t cid)
{
    for (int i = 0; i < P.nslaves; i++)
        if (P.slaves[i]->cid == cid) return P.slaves[i];
    return NULL;
}

static rslave *slave_get(srv_client *c)
{
    rslave *s = slave_find(cmd_client_id(c));
    if (s) return s;
    s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->cid = cmd_client_id(c);
    s->fd = -1;
    s->th_wake = -1;
    const char *a = cmd_client_addr(c);
    const char *colon = strrchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    if (n >= sizeof(s->ip)) n = sizeof(s->ip) - 1;
    memcpy(s->ip, a, n);
    s->ip[n] = 0;
    if (P.nslaves == P.cslaves) {
        P.cslaves = P.cslaves ? P.cslaves * 2 : 8;
        P.slaves = realloc(P.slaves, (size_t)P.cslaves * sizeof(*P.slaves));
        if (!P.slaves) abort();
    }
    P.slaves[P.nslaves++] = s;
    return s;
}

/* Joins a finished or running checkpoint thread and closes its eventfd. */
static void ckpt_join(rslave *s)
{
    if (s->th_started) pthread_join(s->th, NULL);
    s->th_started = 0;
    if (s->th_wake >= 0) {
        ev_set(cmd_loop(), s->th_wake, 0, NULL, NULL, NULL);
        close(s->th_wake);
    }
    s->th_wake = -1;
}

static void slave_free_at(int i)
{
    rslave *s = P.slaves[i];
    ckpt_join(s);
    if (s->cur) strata_changes_close(s->cur);
    if (s->fd >= 0) close(s->fd);
    for (int j = 0; j < s->nfiles; j++) free(s->files[j]);
    free(s->files);
    if (s->ckdir[0]) repl__rm_tree(s->ckdir);
    free(s);
    P.slaves[i] = P.slaves[--P.nslaves];
}

/* Drops every replica link (engine about to close, new history). */
void repl__drop_slaves(const char *why)
{
    while (P.nslaves) {
        rslave *s = P.slaves[P.nslaves - 1];
        srv_client *c = cmd_client_by_id(s->cid);
        if (c && s->state != SL_HANDSHAKE) {
            log_notice("replication: dropping replica %s:%d (%s)", s->ip, s->port, why);
            cmd_client_close(c);
        }
        slave_free_at(P.nslaves - 1);
    }
    P.getack = 0;
    feed_close();
}

int repl__good_replicas(void)
{
    uint64_t now = ev_now_ms();
    int n = 0;
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        if (s->state == SL_ONLINE &&
            (now <= s->ack_ms || now - s->ack_ms <= (uint64_t)srv_cfg.min_replicas_max_lag * 1000))
            n++;
    }
    return n;
}

static long acked_replicas(uint64_t seq)
{
    long n = 0;
    for (int i = 0; i < P.nslaves; i++)
        if (P.slaves[i]->state == SL_ONLINE && P.slaves[i]->ack >= seq) n++;
    return n;
}

static void *ckpt_thread(void *arg)
{
    rslave *s = arg;
    s->th_rc = strata_checkpoint(s->th_db, s->ckdir, &s->ck_seq);
    if (s->th_rc) repl__fmt(s->th_err, sizeof(s->th_err), "%s", strata_errmsg());
    atomic_store(&s->th_done, 1);
    uint64_t one = 1;
    ssize_t w = write(s->th_wake, &one, sizeof(one)); /* fails only on a full counter */
    (void)w;
    return NULL;
}

/* The loop woke for a finished checkpoint: its before-sleep (serve_slaves)
 * takes the result. */
static void ckpt_woken(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)data;
    (void)mask;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof(n)); /* resets the counter; EAGAIN if already read */
    (void)r;
}

static int start_full_sync(srv_client *c, rslave *s)
{
    repl__fmt(s->ckdir, sizeof(s->ckdir), "%s/%s%llu", repl__g.dir, REPL_CKPT_PREFIX,
              (unsigned long long)s->cid);
    repl__rm_tree(s->ckdir);
    s->th_db = repl__db();
    s->state = SL_CKPT;
    atomic_store(&s->th_done, 0);
    s->th_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->th_wake < 0 || ev_set(cmd_loop(), s->th_wake, EV_READ, ckpt_woken, NULL, NULL) ||
        pthread_create(&s->th, NULL, ckpt_thread, s)) {
        ckpt_join(s);
        s->ckdir[0] = 0;
        return err_set(ERR_NOMEM, "cannot start the checkpoint thread");
    }
    s->th_started = 1;
    P.sync_full++;
    log_notice("replication: full sync of replica %s:%d started (checkpoint)", s->ip, s->port);
    (void)c;
    return 0;
}

static int list_files(rslave *s)
{
    DIR *d = opendir(s->ckdir);
    if (!d) return err_set(ERR_IO, "opendir %s: %s", s->ckdir, strerror(errno));
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (s->nfiles == cap) {
            cap = cap ? cap * 2 : 16;
            char **nf = realloc(s->files, (size_t)cap * sizeof(char *));
            if (!nf) abort();
            s->files = nf;
        }
        s->files[s->nfiles++] = strdup(e->d_name);
    }
    closedir(d);
    return 0;
}

/* Whether a pump fed from disk (the files of a full sync, the change log
 * while catching up) may queue more for c, having queued `queued` bytes in
 * this iteration: while less than `window` is unsent, yes; at the window,
 * the output is written now, so that a socket that takes it all does not
 * wait for the loop's next timer to get more. 1: queue more; 0: stop (the
 * socket is full and its write event brings the loop back, or this
 * iteration's share is used and the loop comes back at once); -1: write
 * error. */
static int pump_room(srv_client *c, size_t window, size_t queued)
{
    if (cmd_client_unsent(c) >= window) {
        if (cmd_client_flush(c)) return -1;
        if (cmd_client_unsent(c) >= window) return 0;
    }
    if (queued < PUMP_BYTES) return 1;
    ev_wake_in(cmd_loop(), 0);
    return 0;
}

/* Appends more of the transfer while the socket takes it (pump_room).
 * Returns 1 when the snapshot is completely queued, -1 on an error. */
static int pump_files(srv_client *c, rslave *s)
{
    static uint8_t buf[CHUNK_BYTES];
    size_t queued = 0;
    int room;
    while ((room = pump_room(c, FILES_WINDOW, queued)) > 0) {
        if (s->fd < 0) {
            if (s->fi == s->nfiles) {
                uint8_t p[12];
                put_u64(p, s->ck_seq);
                put_u32(p + 8, (uint32_t)s->nfiles);
                repl__send_frame(c, FR_SNAP, p, 12, NULL, 0);
                return 1;
            }
            char path[PATH_MAX];
            repl__fmt(path, sizeof(path), "%s/%s", s->ckdir, s->files[s->fi]);
            s->fd = open(path, O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (s->fd < 0 || fstat(s->fd, &st)) {
                log_warn("replication: full sync: cannot read %s: %s", path, strerror(errno));
                return -1;
            }
            s->fsize = (uint64_t)st.st_size;
            s->foff = 0;
            s->fcrc = 0;
            uint8_t p[8];
            put_u64(p, s->fsize);
            repl__send_frame(c, FR_FILE, p, 8, s->files[s->fi], strlen(s->files[s->fi]));
        }
        if (s->foff < s->fsize) {
            size_t want =
                s->fsize - s->foff < CHUNK_BYTES ? (size_t)(s->fsize - s->foff) : CHUNK_BYTES;
            ssize_t n = pread(s->fd, buf, want, (off_t)s->foff);
            if (n <= 0) {
                log_warn("replication: full sync: read of %s failed", s->files[s->fi]);
                return -1;
            }
            s->fcrc = crc32c_extend(s->fcrc, buf, (size_t)n);
            s->foff += (uint64_t)n;
            repl__send_frame(c, FR_DATA, buf, (size_t)n, NULL, 0);
            queued += (size_t)n + REPL_FRAME_HDR;
            continue;
        }
        uint8_t p[12];
        put_u32(p, s->fcrc);
        put_u64(p + 4, s->fsize);
        repl__send_frame(c, FR_FEND, p, 12, NULL, 0);
        close(s->fd);
        s->fd = -1;
        s->fi++;
    }
    return room < 0 ? -1 : 0;
}

/* Output kept in flight while a replica catches up from the change log:
 * below the replica output limits, so catching up never trips them. */
static size_t catchup_window(void)
{
    size_t w = FILES_WINDOW;
    const obuf_limit *l = &srv_cfg.obuf[OBUF_REPLICA];
    if (l->hard_bytes && (size_t)l->hard_bytes / 2 < w) w = (size_t)l->hard_bytes / 2;
    if (l->soft_bytes && (size_t)l->soft_bytes / 2 < w) w = (size_t)l->soft_bytes / 2;
    return w ? w : 1;
}

/* A replica whose own cursor reached the end of the log at the feed's
 * position follows the feed from now on; with no feed, its cursor becomes
 * the feed's. */
static void join_feed(rslave *s)
{
    if (!F.cur) {
        F.cur = s->cur;
        F.next_seq = s->next_seq;
        F.stuck_ms = s->stuck_ms;
    } else if (F.next_seq == s->next_seq) {
        strata_changes_close(s->cur);
    } else {
        return; /* the feed is elsewhere (more than PUMP_BYTES behind or ahead) */
    }
    s->cur = NULL;
    s->on_feed = 1;
}

/* Reads the new part of the change log once into F.frames. -1 when the
 * feed is broken (every member's link must go). */
static int feed_read(void)
{
    sbuf_reset(&F.frames);
    while (F.frames.len < PUMP_BYTES) {
        uint64_t seq;
        const void *data;
        size_t len;
        int rc = strata_changes_next(F.cur, &seq, &data, &len);
        if (rc == ERR_NOTFOUND) {
            if (F.next_seq > repl__last_seq())
                F.stuck_ms = 0;
            else if (!F.stuck_ms)
                F.stuck_ms = ev_now_ms();
            return 0;
        }
        F.stuck_ms = 0;
        if (rc) {
            log_warn("replication: change log: %s", strata_errmsg());
            return -1;
        }
        if (seq != F.next_seq || len < 12) {
            log_warn("replication: change log at %llu, expected %llu", (unsigned long long)seq,
                     (unsigned long long)F.next_seq);
            return -1;
        }
        uint8_t h[REPL_FRAME_HDR], p[8];
        put_u64(p, seq);
        repl__frame_hdr(h, FR_BATCH, p, 8, data, len);
        sbuf_append(&F.frames, h, REPL_FRAME_HDR);
        sbuf_append(&F.frames, p, 8);
        sbuf_append(&F.frames, data, len);
        F.next_seq = seq + get_u32((const uint8_t *)data + 8);
    }
    return 0;
}

/* Queues the feed's new frames on every member (once per iteration). */
static void serve_feed(void)
{
    int members = 0;
    for (int i = 0; i < P.nslaves; i++) members += P.slaves[i]->on_feed;
    if (!members) {
        feed_close();
        return;
    }
    int rc = feed_read();
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        if (!s->on_feed) continue;
        srv_client *c = cmd_client_by_id(s->cid);
        if (rc) {
            s->on_feed = 0;
            s->feed_failed = 1;
            continue;
        }
        if (c && F.frames.len) cmd_client_write_raw(c, F.frames.buf, F.frames.len);
        s->next_seq = F.next_seq;
        s->stuck_ms = F.stuck_ms;
    }
    if (rc)
        feed_close();
    else if (F.frames.cap > 2 * PUMP_BYTES)
        sbuf_free(&F.frames);
}

/* Appends the change log from s->next_seq. While catching up, only as much
 * as the replica drains (the WAL is the backlog); once caught up, every new
 * batch at once, so a replica that stops reading fills its output buffer
 * and is dropped at client-output-buffer-limit. -1 when the link must go. */
static int pump_log(srv_client *c, rslave *s)
{
    size_t sent = 0, window = catchup_window();
    int room = 1;
    while (s->eager ? sent < PUMP_BYTES : (room = pump_room(c, window, sent)) > 0) {
        uint64_t seq;
        const void *data;
        size_t len;
        int rc = strata_changes_next(s->cur, &seq, &data, &len);
        if (rc == ERR_NOTFOUND) {
            s->eager = 1;
            if (s->next_seq > repl__last_seq())
                s->stuck_ms = 0;
            else if (!s->stuck_ms)
                s->stuck_ms = ev_now_ms();
            join_feed(s);
            return 0;
        }
        s->stuck_ms = 0;
        if (rc) {
            log_warn("replication: replica %s:%d: change log: %s", s->ip, s->port, strata_errmsg());
            return -1;
        }
        if (seq != s->next_seq || len < 12) {
            log_warn("replication: replica %s:%d: change log at %llu, expected %llu", s->ip,
                     s->port, (unsigned long long)seq, (unsigned long long)s->next_seq);
            return -1;
        }
        uint8_t p[8];
        put_u64(p, seq);
        repl__send_frame(c, FR_BATCH, p, 8, data, len);
        s->next_seq = seq + get_u32((const uint8_t *)data + 8);
        sent += len + REPL_FRAME_HDR + 8;
    }
    return room < 0 ? -1 : 0;
}

static void send_ping(srv_client *c)
{
    uint8_t p[56];
    put_u64(p, repl__last_seq());
    put_u64(p + 8, repl__wall_ms());
    memcpy(p + 16, repl__g.replid, 40);
    repl__send_frame(c, FR_PING, p, 56, NULL, 0);
}

static void go_online(srv_client *c, rslave *s, uint64_t from)
{
    s->state = SL_ONLINE;
    s->next_seq = from;
    s->ack_ms = ev_now_ms();
    s->ping_ms = 0;
    (void)c;
}

void repl__serve_slaves(void)
{
    uint64_t now = ev_now_ms();
    int getack = P.getack;
    P.getack = 0;
    serve_feed();
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        srv_client *c = cmd_client_by_id(s->cid);
        if (!c) {
            if (s->state != SL_HANDSHAKE)
                log_notice("replication: connection with replica %s:%d lost", s->ip, s->port);
            slave_free_at(i--);
            continue;
        }
        int fail = 0;
        switch (s->state) {
        case SL_HANDSHAKE: break;
        case SL_CKPT:
            if (!atomic_load(&s->th_done)) break;
            ckpt_join(s);
            if (s->th_rc || list_files(s)) {
                log_warn("replication: checkpoint for replica %s:%d failed: %s", s->ip, s->port,
                         s->th_rc ? s->th_err : err_msg());
                fail = 1;
                break;
            }
            {
                char line[128];
                int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %llu\r\n", repl__g.replid,
                                 (unsigned long long)s->ck_seq);
                cmd_client_write_raw(c, line, (size_t)n);
            }
            s->state = SL_FILES;
            /* fall through */
        case SL_FILES: {
            int r = pump_files(c, s);
            if (r < 0) {
                fail = 1;
                break;
            }
            if (r == 0) break;
            repl__rm_tree(s->ckdir);
            s->ckdir[0] = 0;
            int rc = strata_changes_open(repl__db(), s->ck_seq + 1, &s->cur);
            if (rc) {
                log_warn("replication: replica %s:%d: change log from %llu: %s", s->ip, s->port,
                         (unsigned long long)s->ck_seq + 1, strata_errmsg());
                fail = 1;
                break;
            }
            log_notice("replication: snapshot sent to replica %s:%d, streaming from %llu", s->ip,
                       s->port, (unsigned long long)s->ck_seq + 1);
            go_online(c, s, s->ck_seq + 1);
        }
            /* fall through */
        case SL_ONLINE:
            if (s->feed_failed || (!s->on_feed && pump_log(c, s))) {
                fail = 1;
                break;
            }
            if (now - s->ping_ms >= 1000) {
                s->ping_ms = now;
                send_ping(c);
            }
            if (getack) repl__send_frame(c, FR_GETACK, NULL, 0, NULL, 0);
            if (now > s->ack_ms && now - s->ack_ms > (uint64_t)srv_cfg.repl_timeout * 1000) {
                log_warn("replication: replica %s:%d timed out", s->ip, s->port);
                fail = 1;
            }
            break;
        }
        if (fail) {
            cmd_client_close(c);
            slave_free_at(i--);
        }
    }
}

/* ---- WAIT ---- */

void repl__check_waiters(void)
{
    uint64_t now = ev_now_ms();
    for (int i = 0; i < P.nwaiters; i++) {
        waiter *w = &P.waiters[i];
        srv_client *c = cmd_client_by_id(w->cid);
        long n = acked_replicas(w->target);
        int done = n >= w->num || (w->deadline_ms && now >= w->deadline_ms) || repl__g.is_replica;
        if (c && !done) continue;
        if (c) {
            reply_int(c, n);
            cmd_unblock(c);
        }
        P.waiters[i--] = P.waiters[--P.nwaiters];
    }
}

void repl__wait_cmd(srv_client *c)
{
    long long num, timeout;
    if (cmd_arg_ll_or_reply(c, 1, &num)) return;
    if (cmd_arg_ll(c, 2, &timeout)) {
        reply_error(c, "ERR timeout is not an integer or out of range");
        return;
    }
    if (timeout < 0) {
        reply_error(c, "ERR timeout is negative");
        return;
    }
    if (repl__g.is_replica) {
        reply_error(c, "ERR WAIT cannot be used with replica instances. Please also note that "
                       "writes to replicas are just local and are not propagated.");
        return;
    }
    uint64_t target = cmd_client_last_seq(c);
    long n = acked_replicas(target);
    if (n >= num || cmd_in_exec(c)) {
        reply_int(c, n);
        return;
    }
    if (P.nwaiters == P.cwaiters) {
        P.cwaiters = P.cwaiters ? P.cwaiters * 2 : 16;
        P.waiters = realloc(P.waiters, (size_t)P.cwaiters * sizeof(*P.waiters));
        if (!P.waiters) abort();
    }
    P.waiters[P.nwaiters++] = (waiter){cmd_client_id(c), target,
                                       timeout ? ev_now_ms() + (uint64_t)timeout : 0, (long)num};
    P.getack = 1;
    cmd_block(c);
}

/* ---- PSYNC / REPLCONF / SYNC ---- */

void repl__psync_cmd(srv_client *c)
{
    size_t idlen;
    const char *id = cmd_arg(c, 1, &idlen);
    long long off;
    int offok = cmd_arg_ll(c, 2, &off) == 0;
    if (!repl__db()) {
        reply_error(c, "ERR no storage engine is open");
        return;
    }
    if (repl__g.is_replica && repl__link_in_transfer()) {
        reply_error(c, "NOMASTERLINK Can't SYNC while not connected with my master");
        return;
    }
    rslave *s = slave_get(c);
    if (!s) {
        reply_error(c, "ERR out of memory");
        return;
    }
    if (s->state != SL_HANDSHAKE) {
        reply_error(c, "ERR PSYNC already received on this connection");
        return;
    }
    uint64_t last = repl__last_seq();
    int cont = 0;
    if (offok && off >= 0 && idlen == 40) {
        if (!strcmp(id, repl__g.replid) && (uint64_t)off <= last) cont = 1;
        if (repl__g.replid2[0] && !strcmp(id, repl__g.replid2) &&
            (uint64_t)off <= repl__g.second_offset && (uint64_t)off <= last)
            cont = 1;
    }
    cmd_client_set_replica(c);
    if (cont) {
        int rc = strata_changes_open(repl__db(), (uint64_t)off + 1, &s->cur);
        if (rc) {
            log_notice("replication: replica %s:%d asked for offset %lld: %s; full sync", s->ip,
                       s->port, off, strata_errmsg());
            cont = 0;
        }
    }
    if (cont) {
        char line[80];
        int n = snprintf(line, sizeof(line), "+CONTINUE %s\r\n", repl__g.replid);
        cmd_client_write_raw(c, line, (size_t)n);
        go_online(c, s, (uint64_t)off + 1);
        P.sync_partial_ok++;
        log_notice("replication: partial resync of replica %s:%d from offset %lld", s->ip, s->port,
                   off);
        return;
    }
    if (idlen != 1 || id[0] != '?') P.sync_partial_err++;
    if (start_full_sync(c, s)) {
        log_warn("replication: %s", err_msg());
        cmd_client_close(c);
    }
}

void repl__sync_cmd(srv_client *c)
{
    reply_error(c, "ERR SYNC is not supported: replicas use PSYNC with the strata stream");
}

void repl__replconf_cmd(srv_client *c)
{
    int argc = cmd_argc(c);
    if (argc % 2 == 0) {
        reply_error_syntax(c);
        return;
    }
    for (int i = 1; i < argc; i += 2) {
        if (cmd_arg_is(c, i, "ack")) {
            long long off;
            rslave *s = slave_find(cmd_client_id(c));
            if (s && s->state == SL_ONLINE && !cmd_arg_ll(c, i + 1, &off) && off >= 0) {
                s->ack = (uint64_t)off;
                s->ack_ms = ev_now_ms();
            }
            return; /* never answered */
        }
        if (cmd_arg_is(c, i, "listening-port")) {
            long long port;
            if (cmd_arg_ll(c, i + 1, &port) || port < 0 || port > 65535) {
                reply_error(c, "ERR invalid listening-port");
                return;
            }
            rslave *s = slave_get(c);
            if (s) s->port = (int)port;
        } else if (cmd_arg_is(c, i, "ip-address")) {
            rslave *s = slave_get(c);
            size_t n;
            const char *ip = cmd_arg(c, i + 1, &n);
            if (s && n < sizeof(s->ip)) memcpy(s->ip, ip, n + 1);
        } else if (!cmd_arg_is(c, i, "capa") && !cmd_arg_is(c, i, "getack")) {
            size_t n;
            reply_errorf(c, "ERR Unrecognized REPLCONF option: %.64s", cmd_arg(c, i, &n));
            return;
        }
    }
    reply_ok(c);
}

void repl__primary_cron(void)
{
    /* NONE-durability writes (expiry) reach the change log only at the next
     * sync: force one when a caught-up replica has waited for them 200 ms */
    uint64_t now = ev_now_ms();
    for (int i = 0; i < P.nslaves && repl__db(); i++) {
        rslave *s = P.slaves[i];
        if (s->state == SL_ONLINE && s->stuck_ms && now - s->stuck_ms >= 200) {
            strata_sync(repl__db());
            for (int j = 0; j < P.nslaves; j++) P.slaves[j]->stuck_ms = 0;
            F.stuck_ms = 0;
            break;
        }
    }
}

void repl__primary_shutdown(void)
{
    while (P.nslaves) slave_free_at(P.nslaves - 1);
    feed_close();
}

/* ---- ROLE, INFO, metrics ---- */

void repl__primary_role(srv_client *c)
{
    int n = 0;
    for (int i = 0; i < P.nslaves; i++) n += P.slaves[i]->state == SL_ONLINE;
    reply_array(c, 3);
    reply_bulk_cstr(c, "master");
    reply_int(c, (long long)repl__last_seq());
    reply_array(c, n);
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        if (s->state != SL_ONLINE) continue;
        reply_array(c, 3);
        reply_bulk_cstr(c, s->ip);
        reply_bulk_ll(c, s->port);
        reply_bulk_ll(c, (long long)s->ack);
    }
}

void repl__primary_info_replicas(sbuf *o)
{
    uint64_t now = ev_now_ms(), last = repl__last_seq();
    int online = 0;
    for (int i = 0; i < P.nslaves; i++) online += P.slaves[i]->state != SL_HANDSHAKE;
    sbuf_printf(o, "connected_slaves:%d\r\n", online);
    if (!repl__g.is_replica && srv_cfg.min_replicas_to_write)
        sbuf_printf(o, "min_slaves_good_slaves:%d\r\n", repl__good_replicas());
    int k = 0;
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        if (s->state == SL_HANDSHAKE) continue;
        srv_client *c = cmd_client_by_id(s->cid);
        const char *st = s->state == SL_ONLINE ? "online"
                         : s->state == SL_CKPT ? "wait_bgsave"
                                               : "send_bulk";
        sbuf_printf(o,
                    "slave%d:ip=%s,port=%d,state=%s,offset=%llu,lag=%llu,lag_offsets=%llu,"
                    "lag_bytes=%zu\r\n",
                    k++, s->ip, s->port, st, (unsigned long long)s->ack,
                    (unsigned long long)(now > s->ack_ms ? (now - s->ack_ms) / 1000 : 0),
                    (unsigned long long)(last > s->ack ? last - s->ack : 0),
                    c ? cmd_client_unsent(c) : (size_t)0);
    }
}

void repl__primary_info_syncs(sbuf *o)
{
    sbuf_printf(o, "sync_full:%llu\r\nsync_partial_ok:%llu\r\nsync_partial_err:%llu\r\n",
                (unsigned long long)P.sync_full, (unsigned long long)P.sync_partial_ok,
                (unsigned long long)P.sync_partial_err);
}

void repl__primary_metrics_replicas(sbuf *o)
{
    uint64_t now = ev_now_ms(), last = repl__last_seq();
    metrics_family(o, "strata_repl_connected_replicas", "gauge", "Replica links.");
    int n = 0;
    for (int i = 0; i < P.nslaves; i++) n += P.slaves[i]->state != SL_HANDSHAKE;
    metrics_sample_u64(o, "strata_repl_connected_replicas", NULL, (uint64_t)n);
    metrics_family(o, "strata_repl_replica_lag_offsets", "gauge",
                   "Sequences a replica has not acknowledged yet.");
    metrics_family(o, "strata_repl_replica_lag_bytes", "gauge",
                   "Stream bytes queued for a replica, not yet sent.");
    metrics_family(o, "strata_repl_replica_ack_age_seconds", "gauge",
                   "Seconds since a replica's last acknowledgement.");
    for (int i = 0; i < P.nslaves; i++) {
        rslave *s = P.slaves[i];
        if (s->state == SL_HANDSHAKE) continue;
        char lab[128];
        repl__fmt(lab, sizeof(lab), "replica=\"%s:%d\"", s->ip, s->port);
        srv_client *c = cmd_client_by_id(s->cid);
        metrics_sample_u64(o, "strata_repl_replica_lag_offsets", lab,
                           last > s->ack ? last - s->ack : 0);
        metrics_sample_u64(o, "strata_repl_replica_lag_bytes", lab,
                           c ? (uint64_t)cmd_client_unsent(c) : 0);
        metrics_sample(o, "strata_repl_replica_ack_age_seconds", lab,
                       now > s->ack_ms ? (double)(now - s->ack_ms) / 1000.0 : 0.0);
    }
}

void repl__primary_metrics_syncs(sbuf *o)
{
    metrics_family(o, "strata_repl_syncs_total", "counter", "Syncs served, by kind.");
    metrics_sample_u64(o, "strata_repl_syncs_total", "kind=\"full\"", P.sync_full);
    metrics_sample_u64(o, "strata_repl_syncs_total", "kind=\"partial\"", P.sync_partial_ok);
}
