/* The replica side: the link to the primary. Design and protocol:
 * docs/replication.md.
 *
 * Invariants
 *  1. A replica applies each batch of its primary as one engine batch, so
 *     its last sequence equals its primary's offset; after each apply the
 *     sequence the engine gave must equal the batch's, else the replica
 *     forgets its replication id (next sync is full) and drops the link. A
 *     replica writes nothing else.
 *  2. Every frame is checked (repl__frame_ok) before anything of it is used;
 *     a bad checksum, a sequence gap or a heartbeat with another replication
 *     id drops the link.
 *  3. A full sync is received into DIR/repl-sync.tmp, each file checked
 *     against its size and CRC32C; all of them are fsynced when the
 *     snapshot is complete (a tmp directory is deleted at start-up, so a
 *     file needs to be durable only from then on), then the directory is
 *     renamed DIR/repl-sync.ready and installed (repl_state.c). Writeback
 *     is started as the files arrive (sync_file_range), so that the disk
 *     works while the network does and the final fsyncs find little to do.
 *
 * Link states: NONE (primary) -> CONNECT (repl__link_start; retry each
 * second after link_fail) -> CONNECTING (link_connect) -> HANDSHAKE
 * (link_write: AUTH, REPLCONF, PSYNC) -> CONNECTED (+CONTINUE) or TRANSFER
 * (+FULLRESYNC, begin_transfer) -> CONNECTED (install_snapshot). */
#include "repl/repl_link.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl/repl_frame.h"
#include "repl/repl_primary.h"
#include "repl/repl_state.h"
#include "server/config.h"
#include "server/ev.h"
#include "server/reply.h"
#include "metrics/metrics.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

enum { L_NONE, L_CONNECT, L_CONNECTING, L_HANDSHAKE, L_TRANSFER, L_CONNECTED };

#define WRITEBACK_BYTES (4 * 1024 * 1024) /* received bytes between writeback starts */

static struct {
    int lstate;
    int fd;
    char *in;
    size_t inlen, incap, inpos;
    sbuf out;
    size_t outpos;
    int handshake_left; /* replies before the PSYNC answer */
    uint64_t next_try_ms, last_io_ms, down_since_ms, last_ack_ms;
    int ack_now;
    uint64_t master_seq, caught_up_ms;
    /* transfer */
    char pending_id[41];
    uint64_t tseq, trx_bytes;
    int tfd, tfiles;
    uint64_t tsize, toff, tflushed; /* tflushed: writeback started up to here */
    uint32_t tcrc;
    char tname[256];
    uint64_t link_seq_errors;
} L = {.fd = -1, .tfd = -1};

void repl__link_close(void)
{
    if (L.fd >= 0) {
        ev_set(cmd_loop(), L.fd, 0, NULL, NULL, NULL);
        close(L.fd);
        L.fd = -1;
    }
    free(L.in);
    L.in = NULL;
    L.inlen = L.incap = L.inpos = 0;
    sbuf_free(&L.out);
    L.outpos = 0;
    if (L.tfd >= 0) close(L.tfd);
    L.tfd = -1;
    if (L.lstate == L_TRANSFER) {
        char p[PATH_MAX];
        repl__path_in(p, sizeof(p), REPL_SYNC_TMP);
        repl__rm_tree(p);
    }
}

static void link_fail(const char *why)
{
    if (L.lstate == L_CONNECTED) L.down_since_ms = ev_now_ms();
    log_warn("replication: link with primary %s:%d: %s", repl__g.mhost, repl__g.mport, why);
    repl__link_close();
    L.lstate = repl__g.is_replica ? L_CONNECT : L_NONE;
    L.next_try_ms = ev_now_ms() + 1000;
}

/* The replica's data no longer follows any primary's numbering. */
static void forget_history(const char *why)
{
    log_warn("replication: %s: the next sync will be a full one", why);
    repl__new_replid(repl__g.replid);
    repl__g.replid2[0] = 0;
    repl__meta_write();
}

static void link_write(ev_loop *l, int fd, void *data, int mask);
static void link_read(ev_loop *l, int fd, void *data, int mask);

static void link_flush(void)
{
    while (L.outpos < L.out.len) {
        ssize_t w = write(L.fd, L.out.buf + L.outpos, L.out.len - L.outpos);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (w <= 0) {
            link_fail("write error");
            return;
        }
        L.outpos += (size_t)w;
    }
    int want = EV_READ | (L.outpos < L.out.len ? EV_WRITE : 0);
    if (L.outpos == L.out.len) {
        sbuf_reset(&L.out);
        L.outpos = 0;
    }
    ev_set(cmd_loop(), L.fd, want, link_read, link_write, NULL);
}

static void link_cmd(int argc, const char **argv)
{
    sbuf_printf(&L.out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) sbuf_printf(&L.out, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

static void send_ack(void)
{
    char off[32];
    repl__fmt(off, sizeof(off), "%llu", (unsigned long long)repl__last_seq());
    const char *a[] = {"REPLCONF", "ACK", off};
    link_cmd(3, a);
    L.last_ack_ms = ev_now_ms();
    link_flush();
}

static void link_write(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)data;
    (void)mask;
    if (L.lstate == L_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof(err);
        if (getsockopt(L.fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
            link_fail(err ? strerror(err) : "connect failed");
            return;
        }
        L.lstate = L_HANDSHAKE;
        L.last_io_ms = ev_now_ms();
        L.handshake_left = 0;
        if (srv_cfg.masterauth && srv_cfg.masterauth[0]) {
            const char *a[] = {"AUTH", srv_cfg.masterauth};
            link_cmd(2, a);
            L.handshake_left++;
        }
        char port[16];
        repl__fmt(port, sizeof(port), "%lld", srv_cfg.port);
        const char *lp[] = {"REPLCONF", "listening-port", port};
        link_cmd(3, lp);
        const char *cp[] = {"REPLCONF", "capa", "strata1"};
        link_cmd(3, cp);
        L.handshake_left += 2;
        char off[32];
        repl__fmt(off, sizeof(off), "%llu", (unsigned long long)repl__last_seq());
        const char *ps[] = {"PSYNC", repl__g.replid, off};
        link_cmd(3, ps);
        log_notice("replication: connected to primary %s:%d, PSYNC %s %s", repl__g.mhost,
                   repl__g.mport, repl__g.replid, off);
    }
    link_flush();
}

static void link_connect(void)
{
    char port[16];
    repl__fmt(port, sizeof(port), "%d", repl__g.mport);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(repl__g.mhost, port, &hints, &res);
    if (e || !res) {
        L.next_try_ms = ev_now_ms() + 1000;
        log_warn("replication: cannot resolve %s: %s", repl__g.mhost, gai_strerror(e));
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        L.next_try_ms = ev_now_ms() + 1000;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc && errno != EINPROGRESS) {
        close(fd);
        L.next_try_ms = ev_now_ms() + 1000;
        return;
    }
    L.fd = fd;
    L.lstate = L_CONNECTING;
    L.last_io_ms = ev_now_ms();
    ev_set(cmd_loop(), fd, EV_WRITE, NULL, link_write, NULL);
}

static int begin_transfer(const char *id, uint64_t seq)
{
    char p[PATH_MAX];
    repl__path_in(p, sizeof(p), REPL_SYNC_TMP);
    repl__rm_tree(p);
    if (mkdir(p, 0755)) return err_set(ERR_IO, "mkdir %s: %s", p, strerror(errno));
    repl__fmt(L.pending_id, sizeof(L.pending_id), "%s", id);
    L.tseq = seq;
    L.tfiles = 0;
    L.trx_bytes = 0;
    L.lstate = L_TRANSFER;
    log_notice("replication: full sync from primary %s:%d (id %s, offset %llu)", repl__g.mhost,
               repl__g.mport, id, (unsigned long long)seq);
    return 0;
}

/* One line of the handshake; returns -1 when the link failed. */
static int handshake_line(const char *line)
{
    if (L.handshake_left > 0) {
        L.handshake_left--;
        if (line[0] == '-') {
            char why[300];
            repl__fmt(why, sizeof(why), "handshake refused: %.250s", line + 1);
            link_fail(why);
            return -1;
        }
        return 0;
    }
    char id[64];
    unsigned long long seq;
    if (!strncmp(line, "+CONTINUE", 9)) {
        if (sscanf(line, "+CONTINUE %63s", id) == 1 && repl__hex40(id) &&
            strcmp(id, repl__g.replid)) {
            /* the primary moved to a new history that extends ours */
            memcpy(repl__g.replid2, repl__g.replid, sizeof(repl__g.replid2));
            repl__g.second_offset = repl__last_seq();
            repl__fmt(repl__g.replid, sizeof(repl__g.replid), "%s", id);
            repl__meta_write();
        }
        L.lstate = L_CONNECTED;
        L.caught_up_ms = ev_now_ms();
        L.master_seq = repl__last_seq();
        L.down_since_ms = 0;
        log_notice("replication: partial resync with %s:%d from offset %llu", repl__g.mhost,
                   repl__g.mport, (unsigned long long)repl__last_seq());
        send_ack();
        return L.lstate == L_CONNECTED ? 0 : -1;
    }
    if (sscanf(line, "+FULLRESYNC %63s %llu", id, &seq) == 2 && repl__hex40(id)) {
        if (begin_transfer(id, seq)) {
            link_fail(err_msg());
            return -1;
        }
        return 0;
    }
    char why[300];
    repl__fmt(why, sizeof(why), "PSYNC refused: %.250s", line);
    link_fail(why);
    return -1;
}

static int install_snapshot(uint64_t seq, uint32_t nfiles)
{
    char tmp[PATH_MAX], ready[PATH_MAX];
    repl__path_in(tmp, sizeof(tmp), REPL_SYNC_TMP);
    repl__path_in(ready, sizeof(ready), REPL_SYNC_READY);
    if (nfiles != (uint32_t)L.tfiles || seq != L.tseq || L.tfd >= 0)
        return err_set(ERR_CORRUPT, "snapshot end: %u files (got %d), offset %llu (expected %llu)",
                       nfiles, L.tfiles, (unsigned long long)seq, (unsigned long long)L.tseq);
    /* the data's id travels with the data */
    char save[41];
    memcpy(save, repl__g.replid, sizeof(save));
    repl__fmt(repl__g.replid, sizeof(repl__g.replid), "%s", L.pending_id);
    repl__g.replid2[0] = 0;
    int rc = repl__meta_write_in(tmp, 0, 0);
    memcpy(repl__g.replid, save, sizeof(save));
    if (!rc) rc = repl__sync_files(tmp);
    if (!rc) rc = repl__sync_dir(tmp);
    if (!rc) repl__rm_tree(ready);
    if (!rc && rename(tmp, ready)) rc = err_set(ERR_IO, "rename %s: %s", ready, strerror(errno));
    if (!rc) rc = repl__sync_dir(repl__g.dir);
    if (rc) return rc;
    repl__drop_slaves("full sync from my primary");
    L.lstate = L_CONNECTED; /* the tmp dir is gone: link_close must not touch it */
    rc = cmd_engine_reopen(repl__install_ready, NULL);
    if (!repl__db()) {
        log_warn("replication: cannot open the engine after a full sync: %s", err_msg());
        exit(1);
    }
    int krc = repl__g.ks ? ks_reload(repl__g.ks, repl__db()) : 0;
    if (rc || krc) return rc ? rc : krc;
    repl__fmt(repl__g.replid, sizeof(repl__g.replid), "%s", L.pending_id);
    repl__g.replid2[0] = 0;
    repl__g.second_offset = 0;
    if (repl__last_seq() != seq) {
        forget_history("the snapshot does not end at its offset");
        return err_set(ERR_CORRUPT, "snapshot holds offset %llu, expected %llu",
                       (unsigned long long)repl__last_seq(), (unsigned long long)seq);
    }
    L.caught_up_ms = ev_now_ms();
    L.master_seq = seq;
    L.down_since_ms = 0;
    log_notice("replication: full sync done: %d files, offset %llu, %llu bytes", L.tfiles,
               (unsigned long long)seq, (unsigned long long)L.trx_bytes);
    return 0;
}

/* Starts the writeback of what was written of the current file since the
 * last call, without waiting for it. A hint: errors come from the fsync of
 * every file at the snapshot's end (repl__sync_files). */
static void start_writeback(void)
{
    if (L.toff > L.tflushed)
        sync_file_range(L.tfd, (off_t)L.tflushed, (off_t)(L.toff - L.tflushed),
                        SYNC_FILE_RANGE_WRITE);
    L.tflushed = L.toff;
}

static int valid_name(const char *n, size_t len)
{
    if (!len || len > 200 || n[0] == '.') return 0;
    for (size_t i = 0; i < len; i++)
        if (n[i] == '/' || n[i] == 0) return 0;
    return 1;
}

/* Handles one verified frame; returns -1 when the link failed. */
static int handle_frame(int type, const uint8_t *p, uint32_t len, int *applied)
{
    char why[200];
    if (L.lstate == L_TRANSFER) {
        switch (type) {
        case FR_FILE: {
            if (L.tfd >= 0 || len < 9 || !valid_name((const char *)p + 8, len - 8)) break;
            repl__fmt(L.tname, sizeof(L.tname), "%.*s", (int)(len - 8), (const char *)p + 8);
            char path[PATH_MAX];
            repl__fmt(path, sizeof(path), "%s/%s/%s", repl__g.dir, REPL_SYNC_TMP, L.tname);
            L.tfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (L.tfd < 0) {
                repl__fmt(why, sizeof(why), "full sync: cannot create %s: %s", L.tname,
                          strerror(errno));
                link_fail(why);
                return -1;
            }
            L.tsize = get_u64(p);
            L.toff = L.tflushed = 0;
            L.tcrc = 0;
            return 0;
        }
        case FR_DATA: {
            if (L.tfd < 0 || L.toff + len > L.tsize) break;
            for (uint32_t o = 0; o < len;) {
                ssize_t w = write(L.tfd, p + o, len - o);
                if (w <= 0) {
                    repl__fmt(why, sizeof(why), "full sync: write %s: %s", L.tname,
                              strerror(errno));
                    link_fail(why);
                    return -1;
                }
                o += (uint32_t)w;
            }
            L.tcrc = crc32c_extend(L.tcrc, p, len);
            L.toff += len;
            L.trx_bytes += len;
            if (L.toff - L.tflushed >= WRITEBACK_BYTES) start_writeback();
            return 0;
        }
        case FR_FEND:
            if (L.tfd < 0 || len != 12) break;
            if (get_u32(p) != L.tcrc || get_u64(p + 4) != L.toff || L.toff != L.tsize) {
                repl__fmt(why, sizeof(why), "full sync: %s does not match its checksum or size",
                          L.tname);
                link_fail(why);
                return -1;
            }
            start_writeback(); /* the fsync comes with the snapshot's end */
            close(L.tfd);
            L.tfd = -1;
            L.tfiles++;
            return 0;
        case FR_SNAP:
            if (len != 12) break;
            if (install_snapshot(get_u64(p), get_u32(p + 8))) {
                repl__fmt(why, sizeof(why), "full sync failed: %.150s", err_msg());
                link_fail(why);
                return -1;
            }
            return 0;
        case FR_PING:
        case FR_GETACK: return 0;
        }
        repl__fmt(why, sizeof(why), "unexpected frame '%c' during full sync", type);
        link_fail(why);
        return -1;
    }
    switch (type) {
    case FR_BATCH: {
        if (len < 8 + 12) break;
        uint64_t seq = get_u64(p);
        uint64_t expect = repl__last_seq() + 1;
        if (seq != expect) {
            repl__fmt(why, sizeof(why), "batch at offset %llu, expected %llu",
                      (unsigned long long)seq, (unsigned long long)expect);
            L.link_seq_errors++;
            forget_history(why);
            link_fail(why);
            return -1;
        }
        /* NONE: the WAL write (or fsync) for every batch of this read is
         * one, in apply_end, before any ACK can cover them */
        strata_write_options w;
        strata_write_options_init(&w);
        w.durability = STRATA_DUR_NONE;
        uint64_t got = 0;
        int rc = strata_write_encoded(repl__db(), &w, p + 8, len - 8, &got);
        if (rc) {
            repl__fmt(why, sizeof(why), "cannot apply batch %llu: %.120s", (unsigned long long)seq,
                      strata_errmsg());
            link_fail(why);
            return -1;
        }
        *applied = 1;
        if (repl__g.ks) ks_follow(repl__g.ks, p + 8, len - 8);
        if (got != seq) {
            repl__fmt(why, sizeof(why), "applied batch got offset %llu, primary's is %llu",
                      (unsigned long long)got, (unsigned long long)seq);
            forget_history(why);
            link_fail(why);
            return -1;
        }
        uint64_t end = seq + get_u32(p + 8 + 8) - 1;
        if (end > L.master_seq) L.master_seq = end;
        if (repl__last_seq() >= L.master_seq) L.caught_up_ms = ev_now_ms();
        return 0;
    }
    case FR_PING:
        if (len != 56) break;
        if (memcmp(p + 16, repl__g.replid, 40)) {
            link_fail("the primary's replication id changed");
            return -1;
        }
        if (get_u64(p) > L.master_seq) L.master_seq = get_u64(p);
        if (repl__last_seq() >= L.master_seq) L.caught_up_ms = ev_now_ms();
        return 0;
    case FR_GETACK: L.ack_now = 1; return 0;
    }
    repl__fmt(why, sizeof(why), "unexpected frame '%c'", type);
    link_fail(why);
    return -1;
}

/* Handles every complete line (handshake) or frame in the input buffer;
 * *applied is set when a batch was applied. -1 when the link failed. */
static int parse_input(int *applied)
{
    while (L.inpos < L.inlen) {
        if (L.lstate == L_HANDSHAKE) {
            char *s = L.in + L.inpos;
            char *nl = memchr(s, '\n', L.inlen - L.inpos);
            if (!nl) {
                if (L.inlen - L.inpos > 4096) {
                    link_fail("handshake line too long");
                    return -1;
                }
                break;
            }
            size_t ll = (size_t)(nl - s);
            if (ll && s[ll - 1] == '\r') ll--;
            char line[512];
            repl__fmt(line, sizeof(line), "%.*s", (int)ll, s);
            L.inpos += (size_t)(nl - s) + 1;
            if (handshake_line(line)) return -1;
            continue;
        }
        if (L.inlen - L.inpos < REPL_FRAME_HDR) break;
        const uint8_t *h = (const uint8_t *)L.in + L.inpos;
        uint32_t len = repl__frame_len(h);
        if (len > REPL_FRAME_MAX) {
            link_fail("frame too large");
            return -1;
        }
        if (L.inlen - L.inpos < REPL_FRAME_HDR + (size_t)len) {
            if (L.incap < REPL_FRAME_HDR + (size_t)len + 64 * 1024) {
                size_t cap = L.incap;
                while (cap < REPL_FRAME_HDR + (size_t)len + 64 * 1024) cap *= 2;
                char *nb = realloc(L.in, cap);
                if (!nb) abort();
                L.in = nb;
                L.incap = cap;
            }
            break;
        }
        if (!repl__frame_ok(h)) {
            link_fail("frame checksum mismatch");
            return -1;
        }
        L.inpos += REPL_FRAME_HDR + len;
        if (handle_frame(h[0], h + REPL_FRAME_HDR, len, applied)) return -1;
    }
    return 0;
}

/* Ends a read that applied batches: hands them all to the OS in one WAL
 * write (one fsync with appendfsync always), as the server's durable point
 * does for its clients' writes, and invalidates WATCH once (no client runs
 * in between). Runs before an ACK can cover them. -1 when the link failed. */
static int apply_end(void)
{
    cmd_touch_db(-1);
    if (!repl__db()) return 0;
    int rc = srv_cfg.appendfsync == FSYNC_ALWAYS ? strata_sync(repl__db())
                                                 : strata_flush_wal(repl__db());
    if (rc) {
        char why[200];
        repl__fmt(why, sizeof(why), "cannot write the WAL: %.150s", strata_errmsg());
        if (L.fd >= 0) link_fail(why);
        return -1;
    }
    return 0;
}

static void link_read(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)data;
    (void)mask;
    for (int round = 0; round < 16; round++) {
        if (L.incap - L.inlen < 64 * 1024) {
            if (L.inpos) {
                memmove(L.in, L.in + L.inpos, L.inlen - L.inpos);
                L.inlen -= L.inpos;
                L.inpos = 0;
            }
            if (L.incap - L.inlen < 64 * 1024) {
                size_t cap = L.incap ? L.incap * 2 : 256 * 1024;
                char *n = realloc(L.in, cap);
                if (!n) abort();
                L.in = n;
                L.incap = cap;
            }
        }
        ssize_t n = read(L.fd, L.in + L.inlen, L.incap - L.inlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            link_fail(n == 0 ? "connection closed by the primary" : strerror(errno));
            return;
        }
        if (n < 0) break;
        L.inlen += (size_t)n;
        L.last_io_ms = ev_now_ms();
        int applied = 0;
        int rc = parse_input(&applied);
        if (applied && apply_end()) return;
        if (rc) return;
        if (L.ack_now && L.lstate == L_CONNECTED) {
            L.ack_now = 0;
            send_ack();
            if (L.fd < 0) return;
        }
        if (L.inpos == L.inlen) L.inpos = L.inlen = 0;
        if ((size_t)n < 16 * 1024) break;
    }
}

int repl__link_connect_due(void)
{
    if (!repl__g.is_replica || L.lstate != L_CONNECT || ev_now_ms() < L.next_try_ms) return 0;
    link_connect();
    return 1;
}

void repl__link_cron(void)
{
    uint64_t now = ev_now_ms();
    if (!repl__g.is_replica || repl__link_connect_due()) return;
    if (L.lstate >= L_CONNECTING && now - L.last_io_ms > (uint64_t)srv_cfg.repl_timeout * 1000) {
        link_fail("timeout: no data from the primary");
        return;
    }
    if (L.lstate == L_CONNECTED && now - L.last_ack_ms >= 1000) send_ack();
}

void repl__link_start(void)
{
    L.lstate = L_CONNECT;
    L.next_try_ms = 0;
    L.down_since_ms = ev_now_ms();
}

void repl__link_stop(void)
{
    repl__link_close();
    L.lstate = L_NONE;
}

int repl__link_in_transfer(void)
{
    return L.lstate == L_TRANSFER;
}

/* ---- ROLE, INFO, metrics ---- */

static const char *link_state_name(void)
{
    switch (L.lstate) {
    case L_CONNECT: return "connect";
    case L_CONNECTING:
    case L_HANDSHAKE: return "connecting";
    case L_TRANSFER: return "sync";
    case L_CONNECTED: return "connected";
    }
    return "none";
}

void repl__link_role(srv_client *c)
{
    reply_array(c, 5);
    reply_bulk_cstr(c, "slave");
    reply_bulk_cstr(c, repl__g.mhost);
    reply_int(c, repl__g.mport);
    reply_bulk_cstr(c, link_state_name());
    reply_int(c, L.lstate == L_CONNECTED ? (long long)repl__last_seq() : -1);
}

void repl__link_info(sbuf *o)
{
    uint64_t now = ev_now_ms(), last = repl__last_seq();
    sbuf_printf(o, "master_host:%s\r\nmaster_port:%d\r\n", repl__g.mhost, repl__g.mport);
    sbuf_printf(o, "master_link_status:%s\r\n", L.lstate == L_CONNECTED ? "up" : "down");
    sbuf_printf(o, "master_last_io_seconds_ago:%lld\r\n",
                L.lstate >= L_HANDSHAKE ? (long long)((now - L.last_io_ms) / 1000) : -1LL);
    sbuf_printf(o, "master_sync_in_progress:%d\r\n", L.lstate == L_TRANSFER);
    sbuf_printf(o, "slave_read_repl_offset:%llu\r\n", (unsigned long long)last);
    sbuf_printf(o, "slave_repl_offset:%llu\r\n", (unsigned long long)last);
    if (L.lstate == L_TRANSFER)
        sbuf_printf(o,
                    "master_sync_read_bytes:%llu\r\nmaster_sync_files:%d\r\n"
                    "master_sync_last_io_seconds_ago:%lld\r\n",
                    (unsigned long long)L.trx_bytes, L.tfiles,
                    (long long)((now - L.last_io_ms) / 1000));
    if (L.lstate != L_CONNECTED)
        sbuf_printf(o, "master_link_down_since_seconds:%lld\r\n",
                    L.down_since_ms ? (long long)((now - L.down_since_ms) / 1000) : -1LL);
    uint64_t lag_seq = L.master_seq > last ? L.master_seq - last : 0;
    sbuf_printf(o, "master_lag_offsets:%llu\r\n", (unsigned long long)lag_seq);
    sbuf_printf(o, "master_lag_seconds:%.3f\r\n",
                lag_seq && L.lstate == L_CONNECTED ? (double)(now - L.caught_up_ms) / 1000.0 : 0.0);
    sbuf_printf(o, "slave_priority:100\r\nslave_read_only:%d\r\nreplica_announced:1\r\n",
                srv_cfg.replica_read_only);
}

void repl__link_metrics(sbuf *o)
{
    uint64_t now = ev_now_ms(), last = repl__last_seq();
    uint64_t lag = L.master_seq > last ? L.master_seq - last : 0;
    metrics_family(o, "strata_repl_master_link_up", "gauge", "1 when the link is streaming.");
    metrics_sample_u64(o, "strata_repl_master_link_up", NULL, L.lstate == L_CONNECTED);
    metrics_family(o, "strata_repl_lag_offsets", "gauge",
                   "Sequences the primary announced that this replica has not applied.");
    metrics_sample_u64(o, "strata_repl_lag_offsets", NULL, lag);
    metrics_family(o, "strata_repl_lag_seconds", "gauge",
                   "Seconds since this replica was last caught up.");
    metrics_sample(o, "strata_repl_lag_seconds", NULL,
                   lag && L.lstate == L_CONNECTED ? (double)(now - L.caught_up_ms) / 1000.0 : 0.0);
}
