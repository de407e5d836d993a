/* Replication: both sides, full and partial sync, WAIT, ROLE, INFO
 * replication, the READONLY / NOREPLICAS filters. Design and protocol:
 * docs/replication.md.
 *
 * Invariants
 *  1. Offsets are engine sequence numbers. A replica applies each batch of
 *     its primary as one engine batch, so its last sequence equals its
 *     primary's offset; after each apply the sequence the engine gave must
 *     equal the batch's, else the replica forgets its replication id (next
 *     sync is full) and drops the link. A replica writes nothing else.
 *  2. Every frame of the stream carries a CRC32C of its type, length and
 *     payload. A bad checksum, a sequence gap or a heartbeat with another
 *     replication id drops the link before anything of it is applied.
 *  3. A full sync is received in DIR/repl-sync.tmp; when complete it is
 *     renamed DIR/repl-sync.ready (atomic), then installed by deleting the
 *     engine files of DIR and hard-linking the new ones in (CURRENT last),
 *     then removing the ready directory. Installing again after a crash at
 *     any point gives the same result; a tmp directory is simply deleted.
 *  4. DIR/replication.meta holds the replication id this node's data
 *     belongs to. A node starting (or promoted) as a primary keeps its id
 *     only after a clean shutdown as a primary with nothing written since;
 *     otherwise it takes a new id and keeps the old one as replid2, valid up
 *     to its last sequence, so replicas resume but never continue a history
 *     this node may have lost (power loss) or never had.
 *  5. Replica links are server clients flagged replica; this file keeps
 *     their ids, never pointers across loop iterations. */
#include "repl/repl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/cmd.h"
#include "server/config.h"
#include "server/ev.h"
#include "server/reply.h"
#include "metrics/metrics.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"
#include "util/rand.h"
#include "util/sbuf.h"

#define META_FILE    "replication.meta"
#define SYNC_TMP     "repl-sync.tmp"
#define SYNC_READY   "repl-sync.ready"
#define CKPT_PREFIX  "repl-ckpt-"
#define FRAME_HDR    9
#define FRAME_MAX    (1100u * 1024 * 1024) /* a batch may hold a 512 MiB value */
#define CHUNK_BYTES  (64 * 1024)
#define FILES_WINDOW (1024 * 1024)     /* unsent bytes kept in flight during file transfer */
#define PUMP_BYTES   (8 * 1024 * 1024) /* change log appended per replica per iteration */

enum {
    FR_BATCH = 'B',
    FR_FILE = 'F',
    FR_DATA = 'D',
    FR_FEND = 'E',
    FR_SNAP = 'S',
    FR_PING = 'P',
    FR_GETACK = 'G'
};

/* ---- state ---- */

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
    uint64_t stuck_ms; /* since when the log has nothing readable below the last sequence */
    /* full sync */
    pthread_t th;
    int th_started;
    atomic_int th_done;
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

enum { L_NONE, L_CONNECT, L_CONNECTING, L_HANDSHAKE, L_TRANSFER, L_CONNECTED };

typedef struct waiter {
    uint64_t cid, target, deadline_ms;
    long num;
} waiter;

static struct {
    ks_t *ks;
    char dir[PATH_MAX];
    char replid[41], replid2[41]; /* replid2 "" = none */
    uint64_t second_offset;       /* replid2 is valid up to this sequence */
    /* role */
    int is_replica;
    char mhost[256];
    int mport;
    /* primary side */
    rslave **slaves;
    int nslaves, cslaves;
    int getack;
    waiter *waiters;
    int nwaiters, cwaiters;
    uint64_t sync_full, sync_partial_ok, sync_partial_err;
    /* replica side: the link to the primary */
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
    uint64_t tseq, trx_bytes, ttotal_hint;
    int tfd, tfiles;
    uint64_t tsize, toff;
    uint32_t tcrc;
    char tname[256];
    uint64_t link_seq_errors;
} R = {.fd = -1, .tfd = -1};

/* snprintf that may truncate (paths, messages). */
static void fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, cap, f, ap);
    va_end(ap);
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static strata_db *db(void)
{
    return cmd_engine();
}

static uint64_t last_seq(void)
{
    return db() ? strata_last_sequence(db()) : 0;
}

static void path_in(char *out, size_t cap, const char *sub)
{
    fmt(out, cap, "%s/%s", R.dir, sub);
}

static void new_replid(char out[41])
{
    static rng_t rng;
    static int seeded;
    if (!seeded) {
        uint64_t s = ev_now_us() ^ ((uint64_t)getpid() << 32) ^ wall_ms();
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            uint64_t r;
            if (read(fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) s ^= r;
            close(fd);
        }
        rng_seed(&rng, s);
        seeded = 1;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 40; i++) out[i] = hex[rng_next(&rng) & 15];
    out[40] = 0;
}

/* ---- files ---- */

static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err_set(err_from_errno(errno), "open %s: %s", path, strerror(errno));
    int rc = fsync(fd) ? err_set(ERR_IO, "fsync %s: %s", path, strerror(errno)) : 0;
    close(fd);
    return rc;
}

static int rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : err_set(ERR_IO, "opendir %s: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        fmt(p, sizeof(p), "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(path) && errno != ENOENT ? err_set(ERR_IO, "rmdir %s: %s", path, strerror(errno))
                                          : 0;
}

static int all_digits(const char *s, size_t n)
{
    if (!n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Files the engine owns in a database directory (LOCK stays). */
static int engine_file(const char *n)
{
    size_t l = strlen(n);
    if (!strcmp(n, "CURRENT") || !strncmp(n, "MANIFEST-", 9)) return 1;
    if (l > 4 && (!strcmp(n + l - 4, ".sst") || !strcmp(n + l - 4, ".log")))
        return all_digits(n, l - 4);
    if (l > 4 && !strcmp(n + l - 4, ".tmp")) return !strncmp(n, "CURRENT", 7) || all_digits(n, 6);
    return 0;
}

/* Installs DIR/repl-sync.ready as the engine's files (engine closed). */
static int install_ready(void *arg)
{
    (void)arg;
    char ready[PATH_MAX];
    path_in(ready, sizeof(ready), SYNC_READY);
    struct stat st;
    if (stat(ready, &st)) return 0;
    DIR *d = opendir(R.dir);
    if (!d) return err_set(ERR_IO, "opendir %s: %s", R.dir, strerror(errno));
    struct dirent *e;
    char p[PATH_MAX], q[PATH_MAX];
    /* CURRENT first: a directory without it is no database */
    path_in(p, sizeof(p), "CURRENT");
    unlink(p);
    while ((e = readdir(d)))
        if (engine_file(e->d_name)) {
            path_in(p, sizeof(p), e->d_name);
            unlink(p);
        }
    closedir(d);
    int rc = 0;
    if (!(d = opendir(ready))) return err_set(ERR_IO, "opendir %s: %s", ready, strerror(errno));
    int have_current = 0;
    while ((e = readdir(d)) && !rc) {
        if (e->d_name[0] == '.') continue;
        if (!strcmp(e->d_name, "CURRENT")) {
            have_current = 1;
            continue;
        }
        fmt(p, sizeof(p), "%s/%s", ready, e->d_name);
        path_in(q, sizeof(q), e->d_name);
        unlink(q);
        if (link(p, q)) rc = err_set(ERR_IO, "link %s: %s", q, strerror(errno));
    }
    closedir(d);
    if (!rc && !have_current) rc = err_set(ERR_CORRUPT, "full sync: %s has no CURRENT", ready);
    if (!rc) rc = sync_dir(R.dir);
    if (!rc) {
        fmt(p, sizeof(p), "%s/CURRENT", ready);
        path_in(q, sizeof(q), "CURRENT");
        if (link(p, q)) rc = err_set(ERR_IO, "link %s: %s", q, strerror(errno));
    }
    if (!rc) rc = sync_dir(R.dir);
    if (!rc) rc = rm_tree(ready);
    if (!rc) rc = sync_dir(R.dir);
    return rc;
}

/* ---- replication meta file ---- */

typedef struct meta {
    int valid;
    int replica;
    char replid[41], replid2[41];
    uint64_t second_offset;
    int clean;
    uint64_t clean_seq;
} meta;

static int hex40(const char *s)
{
    if (strlen(s) != 40) return 0;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static void meta_read(meta *m)
{
    memset(m, 0, sizeof(*m));
    char p[PATH_MAX];
    path_in(p, sizeof(p), META_FILE);
    FILE *f = fopen(p, "r");
    if (!f) return;
    char role[16] = "", id[64] = "", id2[64] = "";
    unsigned long long so = 0, cs = 0;
    int clean = 0, ver = 0;
    int n = fscanf(f,
                   "strata-replication %d\nrole %15s\nreplid %63s\nreplid2 %63s\n"
                   "second_offset %llu\nclean %d\nclean_seq %llu\n",
                   &ver, role, id, id2, &so, &clean, &cs);
    fclose(f);
    if (n != 7 || ver != 1 || !hex40(id)) {
        log_warn("replication: ignoring unreadable %s", p);
        return;
    }
    m->valid = 1;
    m->replica = !strcmp(role, "replica");
    fmt(m->replid, sizeof(m->replid), "%s", id);
    if (hex40(id2)) fmt(m->replid2, sizeof(m->replid2), "%s", id2);
    m->second_offset = so;
    m->clean = clean;
    m->clean_seq = cs;
}

/* Writes the meta file into dir (tmp + fsync + rename + fsync dir). */
static int meta_write_in(const char *dir, int clean, uint64_t clean_seq)
{
    char p[PATH_MAX], t[PATH_MAX];
    fmt(p, sizeof(p), "%s/%s", dir, META_FILE);
    fmt(t, sizeof(t), "%s/%s.tmp-%d", dir, META_FILE, (int)getpid());
    FILE *f = fopen(t, "w");
    if (!f) return err_set(ERR_IO, "open %s: %s", t, strerror(errno));
    fprintf(f,
            "strata-replication 1\nrole %s\nreplid %s\nreplid2 %s\nsecond_offset %llu\n"
            "clean %d\nclean_seq %llu\n",
            R.is_replica ? "replica" : "master", R.replid, R.replid2[0] ? R.replid2 : "-",
            (unsigned long long)R.second_offset, clean, (unsigned long long)clean_seq);
    int rc = 0;
    if (fflush(f) || fsync(fileno(f))) rc = err_set(ERR_IO, "write %s: %s", t, strerror(errno));
    fclose(f);
    if (!rc && rename(t, p)) rc = err_set(ERR_IO, "rename %s: %s", p, strerror(errno));
    if (!rc) rc = sync_dir(dir);
    if (rc) {
        unlink(t);
        log_warn("replication: cannot save %s: %s", p, err_msg());
    }
    return rc;
}

static int meta_write(void)
{
    return meta_write_in(R.dir, 0, 0);
}

/* This node starts a new history (promotion, start as primary after anything
 * but a clean shutdown): the old id stays valid up to the last sequence. */
static void shift_replid(void)
{
    memcpy(R.replid2, R.replid, sizeof(R.replid2));
    R.second_offset = last_seq();
    new_replid(R.replid);
    log_notice("replication: new replication id %s (previous %s valid up to offset %llu)", R.replid,
               R.replid2, (unsigned long long)R.second_offset);
}

/* ---- frames ---- */

static void frame_hdr(uint8_t h[FRAME_HDR], int type, const void *p1, size_t n1, const void *p2,
                      size_t n2)
{
    h[0] = (uint8_t)type;
    put_u32(h + 1, (uint32_t)(n1 + n2));
    uint32_t crc = crc32c(h, 5);
    crc = crc32c_extend(crc, p1, n1);
    crc = crc32c_extend(crc, p2, n2);
    put_u32(h + 5, crc32c_mask(crc));
}

static void send_frame(srv_client *c, int type, const void *p1, size_t n1, const void *p2,
                       size_t n2)
{
    uint8_t h[FRAME_HDR];
    frame_hdr(h, type, p1, n1, p2, n2);
    cmd_client_write_raw(c, h, FRAME_HDR);
    if (n1) cmd_client_write_raw(c, p1, n1);
    if (n2) cmd_client_write_raw(c, p2, n2);
}

/* ---- primary side ---- */

static rslave *slave_find(uint64_t cid)
{
    for (int i = 0; i < R.nslaves; i++)
        if (R.slaves[i]->cid == cid) return R.slaves[i];
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
    const char *a = cmd_client_addr(c);
    const char *colon = strrchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    if (n >= sizeof(s->ip)) n = sizeof(s->ip) - 1;
    memcpy(s->ip, a, n);
    s->ip[n] = 0;
    if (R.nslaves == R.cslaves) {
        R.cslaves = R.cslaves ? R.cslaves * 2 : 8;
        R.slaves = realloc(R.slaves, (size_t)R.cslaves * sizeof(*R.slaves));
        if (!R.slaves) abort();
    }
    R.slaves[R.nslaves++] = s;
    return s;
}

static void slave_free_at(int i)
{
    rslave *s = R.slaves[i];
    if (s->th_started) pthread_join(s->th, NULL);
    if (s->cur) strata_changes_close(s->cur);
    if (s->fd >= 0) close(s->fd);
    for (int j = 0; j < s->nfiles; j++) free(s->files[j]);
    free(s->files);
    if (s->ckdir[0]) rm_tree(s->ckdir);
    free(s);
    R.slaves[i] = R.slaves[--R.nslaves];
}

/* Drops every replica link (engine about to close, new history). */
static void drop_slaves(const char *why)
{
    while (R.nslaves) {
        rslave *s = R.slaves[R.nslaves - 1];
        srv_client *c = cmd_client_by_id(s->cid);
        if (c && s->state != SL_HANDSHAKE) {
            log_notice("replication: dropping replica %s:%d (%s)", s->ip, s->port, why);
            cmd_client_close(c);
        }
        slave_free_at(R.nslaves - 1);
    }
}

static int good_replicas(void)
{
    uint64_t now = ev_now_ms();
    int n = 0;
    for (int i = 0; i < R.nslaves; i++) {
        rslave *s = R.slaves[i];
        if (s->state == SL_ONLINE &&
            (now <= s->ack_ms || now - s->ack_ms <= (uint64_t)srv_cfg.min_replicas_max_lag * 1000))
            n++;
    }
    return n;
}

static long acked_replicas(uint64_t seq)
{
    long n = 0;
    for (int i = 0; i < R.nslaves; i++)
        if (R.slaves[i]->state == SL_ONLINE && R.slaves[i]->ack >= seq) n++;
    return n;
}

static void *ckpt_thread(void *arg)
{
    rslave *s = arg;
    s->th_rc = strata_checkpoint(s->th_db, s->ckdir, &s->ck_seq);
    if (s->th_rc) fmt(s->th_err, sizeof(s->th_err), "%s", strata_errmsg());
    atomic_store(&s->th_done, 1);
    return NULL;
}

static int start_full_sync(srv_client *c, rslave *s)
{
    fmt(s->ckdir, sizeof(s->ckdir), "%s/%s%llu", R.dir, CKPT_PREFIX, (unsigned long long)s->cid);
    rm_tree(s->ckdir);
    s->th_db = db();
    s->state = SL_CKPT;
    atomic_store(&s->th_done, 0);
    if (pthread_create(&s->th, NULL, ckpt_thread, s)) {
        s->ckdir[0] = 0;
        return err_set(ERR_NOMEM, "cannot start the checkpoint thread");
    }
    s->th_started = 1;
    R.sync_full++;
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

/* Appends more of the transfer while the client's output is small. Returns
 * 1 when the snapshot is completely queued. */
static int pump_files(srv_client *c, rslave *s)
{
    static uint8_t buf[CHUNK_BYTES];
    while (cmd_client_unsent(c) < FILES_WINDOW) {
        if (s->fd < 0) {
            if (s->fi == s->nfiles) {
                uint8_t p[12];
                put_u64(p, s->ck_seq);
                put_u32(p + 8, (uint32_t)s->nfiles);
                send_frame(c, FR_SNAP, p, 12, NULL, 0);
                return 1;
            }
            char path[PATH_MAX];
            fmt(path, sizeof(path), "%s/%s", s->ckdir, s->files[s->fi]);
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
            send_frame(c, FR_FILE, p, 8, s->files[s->fi], strlen(s->files[s->fi]));
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
            send_frame(c, FR_DATA, buf, (size_t)n, NULL, 0);
            continue;
        }
        uint8_t p[12];
        put_u32(p, s->fcrc);
        put_u64(p + 4, s->fsize);
        send_frame(c, FR_FEND, p, 12, NULL, 0);
        close(s->fd);
        s->fd = -1;
        s->fi++;
    }
    return 0;
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

/* Appends the change log from s->next_seq. While catching up, only as much
 * as the replica drains (the WAL is the backlog); once caught up, every new
 * batch at once, so a replica that stops reading fills its output buffer
 * and is dropped at client-output-buffer-limit. -1 when the link must go. */
static int pump_log(srv_client *c, rslave *s)
{
    size_t sent = 0, window = catchup_window();
    while (sent < PUMP_BYTES && (s->eager || cmd_client_unsent(c) < window)) {
        uint64_t seq;
        const void *data;
        size_t len;
        int rc = strata_changes_next(s->cur, &seq, &data, &len);
        if (rc == ERR_NOTFOUND) {
            s->eager = 1;
            if (s->next_seq > last_seq())
                s->stuck_ms = 0;
            else if (!s->stuck_ms)
                s->stuck_ms = ev_now_ms();
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
        send_frame(c, FR_BATCH, p, 8, data, len);
        s->next_seq = seq + get_u32((const uint8_t *)data + 8);
        sent += len + FRAME_HDR + 8;
    }
    return 0;
}

static void send_ping(srv_client *c)
{
    uint8_t p[56];
    put_u64(p, last_seq());
    put_u64(p + 8, wall_ms());
    memcpy(p + 16, R.replid, 40);
    send_frame(c, FR_PING, p, 56, NULL, 0);
}

static void go_online(srv_client *c, rslave *s, uint64_t from)
{
    s->state = SL_ONLINE;
    s->next_seq = from;
    s->ack_ms = ev_now_ms();
    s->ping_ms = 0;
    (void)c;
}

static void serve_slaves(void)
{
    uint64_t now = ev_now_ms();
    int getack = R.getack;
    R.getack = 0;
    for (int i = 0; i < R.nslaves; i++) {
        rslave *s = R.slaves[i];
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
            pthread_join(s->th, NULL);
            s->th_started = 0;
            if (s->th_rc || list_files(s)) {
                log_warn("replication: checkpoint for replica %s:%d failed: %s", s->ip, s->port,
                         s->th_rc ? s->th_err : err_msg());
                fail = 1;
                break;
            }
            {
                char line[128];
                int n = snprintf(line, sizeof(line), "+FULLRESYNC %s %llu\r\n", R.replid,
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
            rm_tree(s->ckdir);
            s->ckdir[0] = 0;
            int rc = strata_changes_open(db(), s->ck_seq + 1, &s->cur);
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
            if (pump_log(c, s)) {
                fail = 1;
                break;
            }
            if (now - s->ping_ms >= 1000) {
                s->ping_ms = now;
                send_ping(c);
            }
            if (getack) send_frame(c, FR_GETACK, NULL, 0, NULL, 0);
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

static void check_waiters(void)
{
    uint64_t now = ev_now_ms();
    for (int i = 0; i < R.nwaiters; i++) {
        waiter *w = &R.waiters[i];
        srv_client *c = cmd_client_by_id(w->cid);
        long n = acked_replicas(w->target);
        int done = n >= w->num || (w->deadline_ms && now >= w->deadline_ms) || R.is_replica;
        if (c && !done) continue;
        if (c) {
            reply_int(c, n);
            cmd_unblock(c);
        }
        R.waiters[i--] = R.waiters[--R.nwaiters];
    }
}

static void wait_cmd(srv_client *c)
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
    if (R.is_replica) {
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
    if (R.nwaiters == R.cwaiters) {
        R.cwaiters = R.cwaiters ? R.cwaiters * 2 : 16;
        R.waiters = realloc(R.waiters, (size_t)R.cwaiters * sizeof(*R.waiters));
        if (!R.waiters) abort();
    }
    R.waiters[R.nwaiters++] = (waiter){cmd_client_id(c), target,
                                       timeout ? ev_now_ms() + (uint64_t)timeout : 0, (long)num};
    R.getack = 1;
    cmd_block(c);
}

/* ---- PSYNC / REPLCONF / SYNC ---- */

static void psync_cmd(srv_client *c)
{
    size_t idlen;
    const char *id = cmd_arg(c, 1, &idlen);
    long long off;
    int offok = cmd_arg_ll(c, 2, &off) == 0;
    if (!db()) {
        reply_error(c, "ERR no storage engine is open");
        return;
    }
    if (R.is_replica && R.lstate == L_TRANSFER) {
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
    uint64_t last = last_seq();
    int cont = 0;
    if (offok && off >= 0 && idlen == 40) {
        if (!strcmp(id, R.replid) && (uint64_t)off <= last) cont = 1;
        if (R.replid2[0] && !strcmp(id, R.replid2) && (uint64_t)off <= R.second_offset &&
            (uint64_t)off <= last)
            cont = 1;
    }
    cmd_client_set_replica(c);
    if (cont) {
        int rc = strata_changes_open(db(), (uint64_t)off + 1, &s->cur);
        if (rc) {
            log_notice("replication: replica %s:%d asked for offset %lld: %s; full sync", s->ip,
                       s->port, off, strata_errmsg());
            cont = 0;
        }
    }
    if (cont) {
        char line[80];
        int n = snprintf(line, sizeof(line), "+CONTINUE %s\r\n", R.replid);
        cmd_client_write_raw(c, line, (size_t)n);
        go_online(c, s, (uint64_t)off + 1);
        R.sync_partial_ok++;
        log_notice("replication: partial resync of replica %s:%d from offset %lld", s->ip, s->port,
                   off);
        return;
    }
    if (idlen != 1 || id[0] != '?') R.sync_partial_err++;
    if (start_full_sync(c, s)) {
        log_warn("replication: %s", err_msg());
        cmd_client_close(c);
    }
}

static void sync_cmd(srv_client *c)
{
    reply_error(c, "ERR SYNC is not supported: replicas use PSYNC with the strata stream");
}

static void replconf_cmd(srv_client *c)
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

/* ---- replica side: the link to the primary ---- */

static void link_close(void)
{
    if (R.fd >= 0) {
        ev_set(cmd_loop(), R.fd, 0, NULL, NULL, NULL);
        close(R.fd);
        R.fd = -1;
    }
    free(R.in);
    R.in = NULL;
    R.inlen = R.incap = R.inpos = 0;
    sbuf_free(&R.out);
    R.outpos = 0;
    if (R.tfd >= 0) close(R.tfd);
    R.tfd = -1;
    if (R.lstate == L_TRANSFER) {
        char p[PATH_MAX];
        path_in(p, sizeof(p), SYNC_TMP);
        rm_tree(p);
    }
}

static void link_fail(const char *why)
{
    if (R.lstate == L_CONNECTED) R.down_since_ms = ev_now_ms();
    log_warn("replication: link with primary %s:%d: %s", R.mhost, R.mport, why);
    link_close();
    R.lstate = R.is_replica ? L_CONNECT : L_NONE;
    R.next_try_ms = ev_now_ms() + 1000;
}

/* The replica's data no longer follows any primary's numbering. */
static void forget_history(const char *why)
{
    log_warn("replication: %s: the next sync will be a full one", why);
    new_replid(R.replid);
    R.replid2[0] = 0;
    meta_write();
}

static void link_write(ev_loop *l, int fd, void *data, int mask);
static void link_read(ev_loop *l, int fd, void *data, int mask);

static void link_flush(void)
{
    while (R.outpos < R.out.len) {
        ssize_t w = write(R.fd, R.out.buf + R.outpos, R.out.len - R.outpos);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (w <= 0) {
            link_fail("write error");
            return;
        }
        R.outpos += (size_t)w;
    }
    int want = EV_READ | (R.outpos < R.out.len ? EV_WRITE : 0);
    if (R.outpos == R.out.len) {
        sbuf_reset(&R.out);
        R.outpos = 0;
    }
    ev_set(cmd_loop(), R.fd, want, link_read, link_write, NULL);
}

static void link_cmd(int argc, const char **argv)
{
    sbuf_printf(&R.out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) sbuf_printf(&R.out, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

static void send_ack(void)
{
    char off[32];
    fmt(off, sizeof(off), "%llu", (unsigned long long)last_seq());
    const char *a[] = {"REPLCONF", "ACK", off};
    link_cmd(3, a);
    R.last_ack_ms = ev_now_ms();
    link_flush();
}

static void link_write(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)data;
    (void)mask;
    if (R.lstate == L_CONNECTING) {
        int err = 0;
        socklen_t sl = sizeof(err);
        if (getsockopt(R.fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
            link_fail(err ? strerror(err) : "connect failed");
            return;
        }
        R.lstate = L_HANDSHAKE;
        R.last_io_ms = ev_now_ms();
        R.handshake_left = 0;
        if (srv_cfg.masterauth && srv_cfg.masterauth[0]) {
            const char *a[] = {"AUTH", srv_cfg.masterauth};
            link_cmd(2, a);
            R.handshake_left++;
        }
        char port[16];
        fmt(port, sizeof(port), "%lld", srv_cfg.port);
        const char *lp[] = {"REPLCONF", "listening-port", port};
        link_cmd(3, lp);
        const char *cp[] = {"REPLCONF", "capa", "strata1"};
        link_cmd(3, cp);
        R.handshake_left += 2;
        char off[32];
        fmt(off, sizeof(off), "%llu", (unsigned long long)last_seq());
        const char *ps[] = {"PSYNC", R.replid, off};
        link_cmd(3, ps);
        log_notice("replication: connected to primary %s:%d, PSYNC %s %s", R.mhost, R.mport,
                   R.replid, off);
    }
    link_flush();
}

static void link_connect(void)
{
    char port[16];
    fmt(port, sizeof(port), "%d", R.mport);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(R.mhost, port, &hints, &res);
    if (e || !res) {
        R.next_try_ms = ev_now_ms() + 1000;
        log_warn("replication: cannot resolve %s: %s", R.mhost, gai_strerror(e));
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        R.next_try_ms = ev_now_ms() + 1000;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc && errno != EINPROGRESS) {
        close(fd);
        R.next_try_ms = ev_now_ms() + 1000;
        return;
    }
    R.fd = fd;
    R.lstate = L_CONNECTING;
    R.last_io_ms = ev_now_ms();
    ev_set(cmd_loop(), fd, EV_WRITE, NULL, link_write, NULL);
}

static int begin_transfer(const char *id, uint64_t seq)
{
    char p[PATH_MAX];
    path_in(p, sizeof(p), SYNC_TMP);
    rm_tree(p);
    if (mkdir(p, 0755)) return err_set(ERR_IO, "mkdir %s: %s", p, strerror(errno));
    fmt(R.pending_id, sizeof(R.pending_id), "%s", id);
    R.tseq = seq;
    R.tfiles = 0;
    R.trx_bytes = 0;
    R.lstate = L_TRANSFER;
    log_notice("replication: full sync from primary %s:%d (id %s, offset %llu)", R.mhost, R.mport,
               id, (unsigned long long)seq);
    return 0;
}

/* One line of the handshake; returns -1 when the link failed. */
static int handshake_line(const char *line)
{
    if (R.handshake_left > 0) {
        R.handshake_left--;
        if (line[0] == '-') {
            char why[300];
            fmt(why, sizeof(why), "handshake refused: %.250s", line + 1);
            link_fail(why);
            return -1;
        }
        return 0;
    }
    char id[64];
    unsigned long long seq;
    if (!strncmp(line, "+CONTINUE", 9)) {
        if (sscanf(line, "+CONTINUE %63s", id) == 1 && hex40(id) && strcmp(id, R.replid)) {
            /* the primary moved to a new history that extends ours */
            memcpy(R.replid2, R.replid, sizeof(R.replid2));
            R.second_offset = last_seq();
            fmt(R.replid, sizeof(R.replid), "%s", id);
            meta_write();
        }
        R.lstate = L_CONNECTED;
        R.caught_up_ms = ev_now_ms();
        R.master_seq = last_seq();
        R.down_since_ms = 0;
        log_notice("replication: partial resync with %s:%d from offset %llu", R.mhost, R.mport,
                   (unsigned long long)last_seq());
        send_ack();
        return R.lstate == L_CONNECTED ? 0 : -1;
    }
    if (sscanf(line, "+FULLRESYNC %63s %llu", id, &seq) == 2 && hex40(id)) {
        if (begin_transfer(id, seq)) {
            link_fail(err_msg());
            return -1;
        }
        return 0;
    }
    char why[300];
    fmt(why, sizeof(why), "PSYNC refused: %.250s", line);
    link_fail(why);
    return -1;
}

static int install_snapshot(uint64_t seq, uint32_t nfiles)
{
    char tmp[PATH_MAX], ready[PATH_MAX];
    path_in(tmp, sizeof(tmp), SYNC_TMP);
    path_in(ready, sizeof(ready), SYNC_READY);
    if (nfiles != (uint32_t)R.tfiles || seq != R.tseq || R.tfd >= 0)
        return err_set(ERR_CORRUPT, "snapshot end: %u files (got %d), offset %llu (expected %llu)",
                       nfiles, R.tfiles, (unsigned long long)seq, (unsigned long long)R.tseq);
    /* the data's id travels with the data */
    char save[41];
    memcpy(save, R.replid, sizeof(save));
    fmt(R.replid, sizeof(R.replid), "%s", R.pending_id);
    R.replid2[0] = 0;
    int rc = meta_write_in(tmp, 0, 0);
    memcpy(R.replid, save, sizeof(save));
    if (!rc) rc = sync_dir(tmp);
    if (!rc) rm_tree(ready);
    if (!rc && rename(tmp, ready)) rc = err_set(ERR_IO, "rename %s: %s", ready, strerror(errno));
    if (!rc) rc = sync_dir(R.dir);
    if (rc) return rc;
    drop_slaves("full sync from my primary");
    R.lstate = L_CONNECTED; /* the tmp dir is gone: link_close must not touch it */
    rc = cmd_engine_reopen(install_ready, NULL);
    if (!db()) {
        log_warn("replication: cannot open the engine after a full sync: %s", err_msg());
        exit(1);
    }
    int krc = R.ks ? ks_reload(R.ks, db()) : 0;
    if (rc || krc) return rc ? rc : krc;
    fmt(R.replid, sizeof(R.replid), "%s", R.pending_id);
    R.replid2[0] = 0;
    R.second_offset = 0;
    if (last_seq() != seq) {
        forget_history("the snapshot does not end at its offset");
        return err_set(ERR_CORRUPT, "snapshot holds offset %llu, expected %llu",
                       (unsigned long long)last_seq(), (unsigned long long)seq);
    }
    R.caught_up_ms = ev_now_ms();
    R.master_seq = seq;
    R.down_since_ms = 0;
    log_notice("replication: full sync done: %d files, offset %llu, %llu bytes", R.tfiles,
               (unsigned long long)seq, (unsigned long long)R.trx_bytes);
    return 0;
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
    if (R.lstate == L_TRANSFER) {
        switch (type) {
        case FR_FILE: {
            if (R.tfd >= 0 || len < 9 || !valid_name((const char *)p + 8, len - 8)) break;
            fmt(R.tname, sizeof(R.tname), "%.*s", (int)(len - 8), (const char *)p + 8);
            char path[PATH_MAX];
            fmt(path, sizeof(path), "%s/%s/%s", R.dir, SYNC_TMP, R.tname);
            R.tfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (R.tfd < 0) {
                fmt(why, sizeof(why), "full sync: cannot create %s: %s", R.tname, strerror(errno));
                link_fail(why);
                return -1;
            }
            R.tsize = get_u64(p);
            R.toff = 0;
            R.tcrc = 0;
            return 0;
        }
        case FR_DATA: {
            if (R.tfd < 0 || R.toff + len > R.tsize) break;
            for (uint32_t o = 0; o < len;) {
                ssize_t w = write(R.tfd, p + o, len - o);
                if (w <= 0) {
                    fmt(why, sizeof(why), "full sync: write %s: %s", R.tname, strerror(errno));
                    link_fail(why);
                    return -1;
                }
                o += (uint32_t)w;
            }
            R.tcrc = crc32c_extend(R.tcrc, p, len);
            R.toff += len;
            R.trx_bytes += len;
            return 0;
        }
        case FR_FEND:
            if (R.tfd < 0 || len != 12) break;
            if (get_u32(p) != R.tcrc || get_u64(p + 4) != R.toff || R.toff != R.tsize) {
                fmt(why, sizeof(why), "full sync: %s does not match its checksum or size", R.tname);
                link_fail(why);
                return -1;
            }
            if (fsync(R.tfd)) {
                link_fail("full sync: fsync failed");
                return -1;
            }
            close(R.tfd);
            R.tfd = -1;
            R.tfiles++;
            return 0;
        case FR_SNAP:
            if (len != 12) break;
            if (install_snapshot(get_u64(p), get_u32(p + 8))) {
                fmt(why, sizeof(why), "full sync failed: %.150s", err_msg());
                link_fail(why);
                return -1;
            }
            return 0;
        case FR_PING:
        case FR_GETACK: return 0;
        }
        fmt(why, sizeof(why), "unexpected frame '%c' during full sync", type);
        link_fail(why);
        return -1;
    }
    switch (type) {
    case FR_BATCH: {
        if (len < 8 + 12) break;
        uint64_t seq = get_u64(p);
        uint64_t expect = last_seq() + 1;
        if (seq != expect) {
            fmt(why, sizeof(why), "batch at offset %llu, expected %llu", (unsigned long long)seq,
                (unsigned long long)expect);
            R.link_seq_errors++;
            forget_history(why);
            link_fail(why);
            return -1;
        }
        strata_write_options w;
        strata_write_options_init(&w);
        w.durability = STRATA_DUR_BUFFERED;
        uint64_t got = 0;
        int rc = strata_write_encoded(db(), &w, p + 8, len - 8, &got);
        if (rc) {
            fmt(why, sizeof(why), "cannot apply batch %llu: %.120s", (unsigned long long)seq,
                strata_errmsg());
            link_fail(why);
            return -1;
        }
        if (R.ks) ks_follow(R.ks, p + 8, len - 8);
        cmd_touch_db(-1); /* replicated writes invalidate WATCH */
        if (got != seq) {
            fmt(why, sizeof(why), "applied batch got offset %llu, primary's is %llu",
                (unsigned long long)got, (unsigned long long)seq);
            forget_history(why);
            link_fail(why);
            return -1;
        }
        uint64_t end = seq + get_u32(p + 8 + 8) - 1;
        if (end > R.master_seq) R.master_seq = end;
        if (last_seq() >= R.master_seq) R.caught_up_ms = ev_now_ms();
        *applied = 1;
        return 0;
    }
    case FR_PING:
        if (len != 56) break;
        if (memcmp(p + 16, R.replid, 40)) {
            link_fail("the primary's replication id changed");
            return -1;
        }
        if (get_u64(p) > R.master_seq) R.master_seq = get_u64(p);
        if (last_seq() >= R.master_seq) R.caught_up_ms = ev_now_ms();
        return 0;
    case FR_GETACK: R.ack_now = 1; return 0;
    }
    fmt(why, sizeof(why), "unexpected frame '%c'", type);
    link_fail(why);
    return -1;
}

static void link_read(ev_loop *l, int fd, void *data, int mask)
{
    (void)l;
    (void)fd;
    (void)data;
    (void)mask;
    for (int round = 0; round < 16; round++) {
        if (R.incap - R.inlen < 64 * 1024) {
            if (R.inpos) {
                memmove(R.in, R.in + R.inpos, R.inlen - R.inpos);
                R.inlen -= R.inpos;
                R.inpos = 0;
            }
            if (R.incap - R.inlen < 64 * 1024) {
                size_t cap = R.incap ? R.incap * 2 : 256 * 1024;
                char *n = realloc(R.in, cap);
                if (!n) abort();
                R.in = n;
                R.incap = cap;
            }
        }
        ssize_t n = read(R.fd, R.in + R.inlen, R.incap - R.inlen);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            link_fail(n == 0 ? "connection closed by the primary" : strerror(errno));
            return;
        }
        if (n < 0) break;
        R.inlen += (size_t)n;
        R.last_io_ms = ev_now_ms();
        /* parse */
        int applied = 0;
        while (R.inpos < R.inlen) {
            if (R.lstate == L_HANDSHAKE) {
                char *s = R.in + R.inpos;
                char *nl = memchr(s, '\n', R.inlen - R.inpos);
                if (!nl) {
                    if (R.inlen - R.inpos > 4096) {
                        link_fail("handshake line too long");
                        return;
                    }
                    break;
                }
                size_t ll = (size_t)(nl - s);
                if (ll && s[ll - 1] == '\r') ll--;
                char line[512];
                fmt(line, sizeof(line), "%.*s", (int)ll, s);
                R.inpos += (size_t)(nl - s) + 1;
                if (handshake_line(line)) return;
                continue;
            }
            if (R.inlen - R.inpos < FRAME_HDR) break;
            const uint8_t *h = (const uint8_t *)R.in + R.inpos;
            uint32_t len = get_u32(h + 1);
            if (len > FRAME_MAX) {
                link_fail("frame too large");
                return;
            }
            if (R.inlen - R.inpos < FRAME_HDR + (size_t)len) {
                if (R.incap < FRAME_HDR + (size_t)len + 64 * 1024) {
                    size_t cap = R.incap;
                    while (cap < FRAME_HDR + (size_t)len + 64 * 1024) cap *= 2;
                    char *nb = realloc(R.in, cap);
                    if (!nb) abort();
                    R.in = nb;
                    R.incap = cap;
                }
                break;
            }
            uint32_t crc = crc32c(h, 5);
            crc = crc32c_extend(crc, h + FRAME_HDR, len);
            if (crc32c_mask(crc) != get_u32(h + 5)) {
                link_fail("frame checksum mismatch");
                return;
            }
            R.inpos += FRAME_HDR + len;
            if (handle_frame(h[0], h + FRAME_HDR, len, &applied)) return;
        }
        if (applied && srv_cfg.appendfsync == FSYNC_ALWAYS) strata_sync(db());
        if (R.ack_now && R.lstate == L_CONNECTED) {
            R.ack_now = 0;
            send_ack();
            if (R.fd < 0) return;
        }
        if (R.inpos == R.inlen) R.inpos = R.inlen = 0;
        if ((size_t)n < 16 * 1024) break;
    }
}

static void link_cron(void)
{
    uint64_t now = ev_now_ms();
    if (!R.is_replica) return;
    if (R.lstate == L_CONNECT && now >= R.next_try_ms) {
        link_connect();
        return;
    }
    if (R.lstate >= L_CONNECTING && now - R.last_io_ms > (uint64_t)srv_cfg.repl_timeout * 1000) {
        link_fail("timeout: no data from the primary");
        return;
    }
    if (R.lstate == L_CONNECTED && now - R.last_ack_ms >= 1000) send_ack();
}

/* ---- role changes ---- */

static int parse_replicaof(const char *v, char *host, size_t hcap, int *port)
{
    if (!v || !*v || !strcasecmp(v, "no one")) return 0;
    char h[256];
    long p;
    if (sscanf(v, "%255s %ld", h, &p) != 2 || p < 1 || p > 65535)
        return err_set(ERR_INVAL, "replicaof must be 'host port'");
    fmt(host, hcap, "%s", h);
    *port = (int)p;
    return 1;
}

static int become_primary(void)
{
    if (!R.is_replica) return 0;
    link_close();
    R.lstate = L_NONE;
    R.is_replica = 0;
    if (R.ks) {
        ks_set_replica(R.ks, 0);
        ks_reload(R.ks, db());
    }
    shift_replid();
    drop_slaves("new replication id");
    meta_write();
    log_notice("replication: this node is now a primary");
    return 0;
}

static int become_replica(const char *host, int port)
{
    if (R.is_replica && !strcmp(host, R.mhost) && port == R.mport) return 0;
    link_close();
    R.is_replica = 1;
    if (R.ks) ks_set_replica(R.ks, 1);
    fmt(R.mhost, sizeof(R.mhost), "%s", host);
    R.mport = port;
    R.lstate = L_CONNECT;
    R.next_try_ms = 0;
    R.down_since_ms = ev_now_ms();
    drop_slaves("changing primary");
    /* waiting clients get their count now: this node no longer takes writes */
    R.getack = 0;
    meta_write();
    log_notice("replication: replica of %s:%d", host, port);
    return 0;
}

static int apply_replicaof(void)
{
    char host[256];
    int port = 0;
    int r = parse_replicaof(srv_cfg.replicaof, host, sizeof(host), &port);
    if (r < 0) return r;
    return r ? become_replica(host, port) : become_primary();
}

static void replicaof_cmd(srv_client *c)
{
    char err[256];
    const char *name = "replicaof";
    if (cmd_arg_is(c, 1, "no") && cmd_arg_is(c, 2, "one")) {
        const char *v = "";
        if (!R.is_replica) {
            reply_ok(c);
            return;
        }
        if (config_set(&name, &v, 1, err, sizeof(err))) {
            reply_error(c, err);
            return;
        }
        reply_ok(c);
        return;
    }
    long long port;
    if (cmd_arg_ll(c, 2, &port) || port < 1 || port > 65535) {
        reply_error(c, "ERR Invalid master port");
        return;
    }
    size_t hl;
    const char *host = cmd_arg(c, 1, &hl);
    if (R.is_replica && !strcasecmp(host, R.mhost) && port == R.mport) {
        reply_simple(c, "OK Already connected to specified master");
        return;
    }
    char v[320];
    fmt(v, sizeof(v), "%.255s %lld", host, port);
    const char *vp = v;
    if (config_set(&name, &vp, 1, err, sizeof(err))) {
        reply_error(c, err);
        return;
    }
    reply_ok(c);
}

static const char *link_state_name(void)
{
    switch (R.lstate) {
    case L_CONNECT: return "connect";
    case L_CONNECTING:
    case L_HANDSHAKE: return "connecting";
    case L_TRANSFER: return "sync";
    case L_CONNECTED: return "connected";
    }
    return "none";
}

static void role_cmd(srv_client *c)
{
    if (R.is_replica) {
        reply_array(c, 5);
        reply_bulk_cstr(c, "slave");
        reply_bulk_cstr(c, R.mhost);
        reply_int(c, R.mport);
        reply_bulk_cstr(c, link_state_name());
        reply_int(c, R.lstate == L_CONNECTED ? (long long)last_seq() : -1);
        return;
    }
    int n = 0;
    for (int i = 0; i < R.nslaves; i++) n += R.slaves[i]->state == SL_ONLINE;
    reply_array(c, 3);
    reply_bulk_cstr(c, "master");
    reply_int(c, (long long)last_seq());
    reply_array(c, n);
    for (int i = 0; i < R.nslaves; i++) {
        rslave *s = R.slaves[i];
        if (s->state != SL_ONLINE) continue;
        reply_array(c, 3);
        reply_bulk_cstr(c, s->ip);
        reply_bulk_ll(c, s->port);
        reply_bulk_ll(c, (long long)s->ack);
    }
}

/* ---- INFO replication ---- */

static void info_replication(void *buf, cmd_info_append append)
{
    sbuf o = {0};
    uint64_t now = ev_now_ms();
    uint64_t last = last_seq();
    sbuf_printf(&o, "role:%s\r\n", R.is_replica ? "slave" : "master");
    if (R.is_replica) {
        sbuf_printf(&o, "master_host:%s\r\nmaster_port:%d\r\n", R.mhost, R.mport);
        sbuf_printf(&o, "master_link_status:%s\r\n", R.lstate == L_CONNECTED ? "up" : "down");
        sbuf_printf(&o, "master_last_io_seconds_ago:%lld\r\n",
                    R.lstate >= L_HANDSHAKE ? (long long)((now - R.last_io_ms) / 1000) : -1LL);
        sbuf_printf(&o, "master_sync_in_progress:%d\r\n", R.lstate == L_TRANSFER);
        sbuf_printf(&o, "slave_read_repl_offset:%llu\r\n", (unsigned long long)last);
        sbuf_printf(&o, "slave_repl_offset:%llu\r\n", (unsigned long long)last);
        if (R.lstate == L_TRANSFER)
            sbuf_printf(&o,
                        "master_sync_read_bytes:%llu\r\nmaster_sync_files:%d\r\n"
                        "master_sync_last_io_seconds_ago:%lld\r\n",
                        (unsigned long long)R.trx_bytes, R.tfiles,
                        (long long)((now - R.last_io_ms) / 1000));
        if (R.lstate != L_CONNECTED)
            sbuf_printf(&o, "master_link_down_since_seconds:%lld\r\n",
                        R.down_since_ms ? (long long)((now - R.down_since_ms) / 1000) : -1LL);
        uint64_t lag_seq = R.master_seq > last ? R.master_seq - last : 0;
        sbuf_printf(&o, "master_lag_offsets:%llu\r\n", (unsigned long long)lag_seq);
        sbuf_printf(&o, "master_lag_seconds:%.3f\r\n",
                    lag_seq && R.lstate == L_CONNECTED ? (double)(now - R.caught_up_ms) / 1000.0
                                                       : 0.0);
        sbuf_printf(&o, "slave_priority:100\r\nslave_read_only:%d\r\nreplica_announced:1\r\n",
                    srv_cfg.replica_read_only);
    }
    int online = 0;
    for (int i = 0; i < R.nslaves; i++) online += R.slaves[i]->state != SL_HANDSHAKE;
    sbuf_printf(&o, "connected_slaves:%d\r\n", online);
    if (!R.is_replica && srv_cfg.min_replicas_to_write)
        sbuf_printf(&o, "min_slaves_good_slaves:%d\r\n", good_replicas());
    int k = 0;
    for (int i = 0; i < R.nslaves; i++) {
        rslave *s = R.slaves[i];
        if (s->state == SL_HANDSHAKE) continue;
        srv_client *c = cmd_client_by_id(s->cid);
        const char *st = s->state == SL_ONLINE ? "online"
                         : s->state == SL_CKPT ? "wait_bgsave"
                                               : "send_bulk";
        sbuf_printf(&o,
                    "slave%d:ip=%s,port=%d,state=%s,offset=%llu,lag=%llu,lag_offsets=%llu,"
                    "lag_bytes=%zu\r\n",
                    k++, s->ip, s->port, st, (unsigned long long)s->ack,
                    (unsigned long long)(now > s->ack_ms ? (now - s->ack_ms) / 1000 : 0),
                    (unsigned long long)(last > s->ack ? last - s->ack : 0),
                    c ? cmd_client_unsent(c) : (size_t)0);
    }
    uint64_t oldest = db() ? strata_changes_oldest(db()) : 1;
    sbuf_printf(&o, "master_failover_state:no-failover\r\n");
    sbuf_printf(&o, "master_replid:%s\r\n", R.replid);
    sbuf_printf(&o, "master_replid2:%s\r\n",
                R.replid2[0] ? R.replid2 : "0000000000000000000000000000000000000000");
    sbuf_printf(&o, "master_repl_offset:%llu\r\n", (unsigned long long)last);
    if (R.replid2[0])
        sbuf_printf(&o, "second_repl_offset:%llu\r\n", (unsigned long long)R.second_offset + 1);
    else
        sbuf_printf(&o, "second_repl_offset:-1\r\n");
    sbuf_printf(&o,
                "repl_backlog_active:1\r\nrepl_backlog_size:%lld\r\n"
                "repl_backlog_first_byte_offset:%llu\r\nrepl_backlog_histlen:%llu\r\n",
                srv_cfg.repl_backlog_size, (unsigned long long)oldest,
                (unsigned long long)(last + 1 > oldest ? last + 1 - oldest : 0));
    sbuf_printf(&o, "sync_full:%llu\r\nsync_partial_ok:%llu\r\nsync_partial_err:%llu\r\n",
                (unsigned long long)R.sync_full, (unsigned long long)R.sync_partial_ok,
                (unsigned long long)R.sync_partial_err);
    append(buf, o.buf, o.len);
    sbuf_free(&o);
}

/* Prometheus samples (appended to the server's /metrics). */
static void metrics_replication(void *buf, cmd_info_append append)
{
    sbuf o = {0};
    uint64_t now = ev_now_ms(), last = last_seq();
    metrics_family(&o, "strata_repl_is_replica", "gauge", "1 on a replica, 0 on a primary.");
    metrics_sample_u64(&o, "strata_repl_is_replica", NULL, (uint64_t)R.is_replica);
    metrics_family(&o, "strata_repl_offset", "gauge", "Replication offset (last sequence).");
    metrics_sample_u64(&o, "strata_repl_offset", NULL, last);
    metrics_family(&o, "strata_repl_connected_replicas", "gauge", "Replica links.");
    int n = 0;
    for (int i = 0; i < R.nslaves; i++) n += R.slaves[i]->state != SL_HANDSHAKE;
    metrics_sample_u64(&o, "strata_repl_connected_replicas", NULL, (uint64_t)n);
    metrics_family(&o, "strata_repl_replica_lag_offsets", "gauge",
                   "Sequences a replica has not acknowledged yet.");
    metrics_family(&o, "strata_repl_replica_lag_bytes", "gauge",
                   "Stream bytes queued for a replica, not yet sent.");
    metrics_family(&o, "strata_repl_replica_ack_age_seconds", "gauge",
                   "Seconds since a replica's last acknowledgement.");
    for (int i = 0; i < R.nslaves; i++) {
        rslave *s = R.slaves[i];
        if (s->state == SL_HANDSHAKE) continue;
        char lab[128];
        fmt(lab, sizeof(lab), "replica=\"%s:%d\"", s->ip, s->port);
        srv_client *c = cmd_client_by_id(s->cid);
        metrics_sample_u64(&o, "strata_repl_replica_lag_offsets", lab,
                           last > s->ack ? last - s->ack : 0);
        metrics_sample_u64(&o, "strata_repl_replica_lag_bytes", lab,
                           c ? (uint64_t)cmd_client_unsent(c) : 0);
        metrics_sample(&o, "strata_repl_replica_ack_age_seconds", lab,
                       now > s->ack_ms ? (double)(now - s->ack_ms) / 1000.0 : 0.0);
    }
    if (R.is_replica) {
        uint64_t lag = R.master_seq > last ? R.master_seq - last : 0;
        metrics_family(&o, "strata_repl_master_link_up", "gauge", "1 when the link is streaming.");
        metrics_sample_u64(&o, "strata_repl_master_link_up", NULL, R.lstate == L_CONNECTED);
        metrics_family(&o, "strata_repl_lag_offsets", "gauge",
                       "Sequences the primary announced that this replica has not applied.");
        metrics_sample_u64(&o, "strata_repl_lag_offsets", NULL, lag);
        metrics_family(&o, "strata_repl_lag_seconds", "gauge",
                       "Seconds since this replica was last caught up.");
        metrics_sample(&o, "strata_repl_lag_seconds", NULL,
                       lag && R.lstate == L_CONNECTED ? (double)(now - R.caught_up_ms) / 1000.0
                                                      : 0.0);
    }
    metrics_family(&o, "strata_repl_syncs_total", "counter", "Syncs served, by kind.");
    metrics_sample_u64(&o, "strata_repl_syncs_total", "kind=\"full\"", R.sync_full);
    metrics_sample_u64(&o, "strata_repl_syncs_total", "kind=\"partial\"", R.sync_partial_ok);
    append(buf, o.buf, o.len);
    sbuf_free(&o);
}

/* ---- hooks ---- */

static const char *write_filter(srv_client *c, const cmd_def *d)
{
    (void)c;
    if (!(d->flags & CMD_WRITE)) return NULL;
    if (R.is_replica && srv_cfg.replica_read_only)
        return "READONLY You can't write against a read only replica.";
    if (!R.is_replica && srv_cfg.min_replicas_to_write &&
        good_replicas() < srv_cfg.min_replicas_to_write)
        return "NOREPLICAS Not enough good replicas to write.";
    return NULL;
}

static void before_sleep(void)
{
    if (!db()) return;
    serve_slaves();
    check_waiters();
}

static void cron(uint64_t budget_us)
{
    (void)budget_us;
    link_cron();
    /* NONE-durability writes (expiry) reach the change log only at the next
     * sync: force one when a caught-up replica has waited for them 200 ms */
    uint64_t now = ev_now_ms();
    for (int i = 0; i < R.nslaves && db(); i++) {
        rslave *s = R.slaves[i];
        if (s->state == SL_ONLINE && s->stuck_ms && now - s->stuck_ms >= 200) {
            strata_sync(db());
            for (int j = 0; j < R.nslaves; j++) R.slaves[j]->stuck_ms = 0;
            break;
        }
    }
}

static void shutdown_hook(void)
{
    link_close();
    R.lstate = L_NONE;
    while (R.nslaves) slave_free_at(R.nslaves - 1);
    if (db()) {
        strata_sync(db());
        meta_write_in(R.dir, 1, last_seq());
    }
}

static const cmd_def repl_commands[] = {
    {"replicaof", 3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, replicaof_cmd, "server",
     "Configures a server as replica of another, or promotes it to a primary.", "5.0.0", "O(1)"},
    {"slaveof", 3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, replicaof_cmd, "server",
     "Sets a server as a replica of another, or promotes it to being a primary.", "1.0.0", "O(1)"},
    {"replconf", -1, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE | CMD_SKIP_SLOWLOG, 0, 0, 0, replconf_cmd,
     "server", "An internal command for configuring the replication stream.", "3.0.0", "O(1)"},
    {"psync", -3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, psync_cmd, "server",
     "An internal command used in replication.", "2.8.0", "O(1)"},
    {"sync", 1, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, sync_cmd, "server",
     "An internal command used in replication.", "1.0.0", "O(1)"},
    {"wait", 3, 0, 0, 0, 0, wait_cmd, "generic",
     "Blocks until the asynchronous replication of all preceding write commands sent by the "
     "connection is completed.",
     "3.0.0", "O(1)"},
    {"role", 1, CMD_FAST | CMD_STALE, 0, 0, 0, role_cmd, "server", "Returns the replication role.",
     "2.8.12", "O(1)"},
    {0},
};

/* ---- lifecycle ---- */

int repl_boot(void)
{
    fmt(R.dir, sizeof(R.dir), "%s", srv_cfg.dir);
    mkdir(R.dir, 0755);
    int rc = install_ready(NULL);
    if (rc) return rc;
    char p[PATH_MAX];
    path_in(p, sizeof(p), SYNC_TMP);
    rm_tree(p); /* an interrupted full sync starts over */
    DIR *d = opendir(R.dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, CKPT_PREFIX, strlen(CKPT_PREFIX))) {
                path_in(p, sizeof(p), e->d_name);
                rm_tree(p);
            }
        closedir(d);
    }
    return 0;
}

/* The engine is about to close (DEBUG RELOAD, full sync install): the
 * replicas' change-log readers hold the old handle, so their links go; they
 * come back with PSYNC and continue from their offsets. */
static void engine_closing(strata_db *d)
{
    drop_slaves("storage engine reopened");
}

int repl_init(ks_t *ks)
{
    R.ks = ks;
    if (!R.dir[0]) fmt(R.dir, sizeof(R.dir), "%s", srv_cfg.dir);
    int rc = cmd_register(repl_commands);
    if (!rc) rc = cmd_register_filter(write_filter);
    if (!rc) rc = cmd_register_before_sleep(before_sleep);
    if (!rc) rc = cmd_register_shutdown(shutdown_hook);
    if (!rc) rc = cmd_register_cron(cron);
    static const cmd_engine_hooks hooks = {NULL, NULL, engine_closing};
    if (!rc) rc = cmd_register_engine_hooks(&hooks);
    if (!rc) rc = cmd_register_info("replication", info_replication);
    if (!rc) rc = cmd_register_info("prometheus", metrics_replication);
    if (rc) return rc;
    char host[256];
    int port = 0;
    int r = parse_replicaof(srv_cfg.replicaof, host, sizeof(host), &port);
    if (r < 0) return r;
    meta m;
    meta_read(&m);
    uint64_t last = last_seq();
    if (m.valid) {
        memcpy(R.replid, m.replid, sizeof(R.replid));
        memcpy(R.replid2, m.replid2, sizeof(R.replid2));
        R.second_offset = m.second_offset;
    } else {
        new_replid(R.replid);
        R.replid2[0] = 0;
    }
    if (r) {
        R.is_replica = 1;
        if (ks) ks_set_replica(ks, 1);
        fmt(R.mhost, sizeof(R.mhost), "%s", host);
        R.mport = port;
        R.lstate = L_CONNECT;
        R.down_since_ms = ev_now_ms();
    } else if (m.valid && !(!m.replica && m.clean && m.clean_seq == last)) {
        shift_replid();
    }
    meta_write();
    config_replicaof_hook = apply_replicaof;
    log_notice("replication: %s, replication id %s, offset %llu",
               R.is_replica ? "replica" : "primary", R.replid, (unsigned long long)last);
    return 0;
}
