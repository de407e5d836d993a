/* The node's replication identity and files: the replication id, the meta
 * file, the installation of a received full sync. Design: docs/replication.md.
 *
 * Invariants
 *  1. A full sync is received in DIR/repl-sync.tmp; when complete it is
 *     renamed DIR/repl-sync.ready (atomic), then installed by deleting the
 *     engine files of DIR and hard-linking the new ones in (CURRENT last),
 *     then removing the ready directory. Installing again after a crash at
 *     any point gives the same result; a tmp directory is simply deleted.
 *  2. DIR/replication.meta holds the replication id this node's data
 *     belongs to. A node starting (or promoted) as a primary keeps its id
 *     only after a clean shutdown as a primary with nothing written since;
 *     otherwise it takes a new id and keeps the old one as replid2, valid up
 *     to its last sequence, so replicas resume but never continue a history
 *     this node may have lost (power loss) or never had.
 *  3. The meta file is replaced with tmp + fsync + rename + fsync of the
 *     directory: a crash leaves the old or the new one, never a mix. */
#include "repl/repl_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/cmd.h"
#include "server/ev.h"
#include "util/err.h"
#include "util/log.h"
#include "util/rand.h"

repl__state repl__g;

/* snprintf that may truncate (paths, messages). */
void repl__fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, cap, f, ap);
    va_end(ap);
}

uint64_t repl__wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

strata_db *repl__db(void)
{
    return cmd_engine();
}

uint64_t repl__last_seq(void)
{
    return repl__db() ? strata_last_sequence(repl__db()) : 0;
}

void repl__path_in(char *out, size_t cap, const char *sub)
{
    repl__fmt(out, cap, "%s/%s", repl__g.dir, sub);
}

void repl__new_replid(char out[41])
{
    static rng_t rng;
    static int seeded;
    if (!seeded) {
        uint64_t s = ev_now_us() ^ ((uint64_t)getpid() << 32) ^ repl__wall_ms();
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

int repl__sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err_set(err_from_errno(errno), "open %s: %s", path, strerror(errno));
    int rc = fsync(fd) ? err_set(ERR_IO, "fsync %s: %s", path, strerror(errno)) : 0;
    close(fd);
    return rc;
}

int repl__sync_files(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return err_set(ERR_IO, "opendir %s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[PATH_MAX];
        repl__fmt(p, sizeof(p), "%s/%s", path, e->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd)) rc = err_set(ERR_IO, "fsync %s: %s", p, strerror(errno));
        if (fd >= 0) close(fd);
    }
    closedir(d);
    return rc;
}

int repl__rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : err_set(ERR_IO, "opendir %s: %s", path, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        repl__fmt(p, sizeof(p), "%s/%s", path, e->d_name);
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
int repl__install_ready(void *arg)
{
    (void)arg;
    char ready[PATH_MAX];
    repl__path_in(ready, sizeof(ready), REPL_SYNC_READY);
    struct stat st;
    if (stat(ready, &st)) return 0;
    DIR *d = opendir(repl__g.dir);
    if (!d) return err_set(ERR_IO, "opendir %s: %s", repl__g.dir, strerror(errno));
    struct dirent *e;
    char p[PATH_MAX], q[PATH_MAX];
    /* CURRENT first: a directory without it is no database */
    repl__path_in(p, sizeof(p), "CURRENT");
    unlink(p);
    while ((e = readdir(d)))
        if (engine_file(e->d_name)) {
            repl__path_in(p, sizeof(p), e->d_name);
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
        repl__fmt(p, sizeof(p), "%s/%s", ready, e->d_name);
        repl__path_in(q, sizeof(q), e->d_name);
        unlink(q);
        if (link(p, q)) rc = err_set(ERR_IO, "link %s: %s", q, strerror(errno));
    }
    closedir(d);
    if (!rc && !have_current) rc = err_set(ERR_CORRUPT, "full sync: %s has no CURRENT", ready);
    if (!rc) rc = repl__sync_dir(repl__g.dir);
    if (!rc) {
        repl__fmt(p, sizeof(p), "%s/CURRENT", ready);
        repl__path_in(q, sizeof(q), "CURRENT");
        if (link(p, q)) rc = err_set(ERR_IO, "link %s: %s", q, strerror(errno));
    }
    if (!rc) rc = repl__sync_dir(repl__g.dir);
    if (!rc) rc = repl__rm_tree(ready);
    if (!rc) rc = repl__sync_dir(repl__g.dir);
    return rc;
}

/* ---- replication meta file ---- */

int repl__hex40(const char *s)
{
    if (strlen(s) != 40) return 0;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

void repl__meta_read(repl__meta *m)
{
    memset(m, 0, sizeof(*m));
    char p[PATH_MAX];
    repl__path_in(p, sizeof(p), REPL_META_FILE);
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
    if (n != 7 || ver != 1 || !repl__hex40(id)) {
        log_warn("replication: ignoring unreadable %s", p);
        return;
    }
    m->valid = 1;
    m->replica = !strcmp(role, "replica");
    repl__fmt(m->replid, sizeof(m->replid), "%s", id);
    if (repl__hex40(id2)) repl__fmt(m->replid2, sizeof(m->replid2), "%s", id2);
    m->second_offset = so;
    m->clean = clean;
    m->clean_seq = cs;
}

/* Writes the meta file into dir (tmp + fsync + rename + fsync dir). */
int repl__meta_write_in(const char *dir, int clean, uint64_t clean_seq)
{
    char p[PATH_MAX], t[PATH_MAX];
    repl__fmt(p, sizeof(p), "%s/%s", dir, REPL_META_FILE);
    repl__fmt(t, sizeof(t), "%s/%s.tmp-%d", dir, REPL_META_FILE, (int)getpid());
    FILE *f = fopen(t, "w");
    if (!f) return err_set(ERR_IO, "open %s: %s", t, strerror(errno));
    fprintf(f,
            "strata-replication 1\nrole %s\nreplid %s\nreplid2 %s\nsecond_offset %llu\n"
            "clean %d\nclean_seq %llu\n",
            repl__g.is_replica ? "replica" : "master", repl__g.replid,
            repl__g.replid2[0] ? repl__g.replid2 : "-", (unsigned long long)repl__g.second_offset,
            clean, (unsigned long long)clean_seq);
    int rc = 0;
    if (fflush(f) || fsync(fileno(f))) rc = err_set(ERR_IO, "write %s: %s", t, strerror(errno));
    fclose(f);
    if (!rc && rename(t, p)) rc = err_set(ERR_IO, "rename %s: %s", p, strerror(errno));
    if (!rc) rc = repl__sync_dir(dir);
    if (rc) {
        unlink(t);
        log_warn("replication: cannot save %s: %s", p, err_msg());
    }
    return rc;
}

int repl__meta_write(void)
{
    return repl__meta_write_in(repl__g.dir, 0, 0);
}

/* This node starts a new history (promotion, start as primary after anything
 * but a clean shutdown): the old id stays valid up to the last sequence. */
void repl__shift_replid(void)
{
    memcpy(repl__g.replid2, repl__g.replid, sizeof(repl__g.replid2));
    repl__g.second_offset = repl__last_seq();
    repl__new_replid(repl__g.replid);
    log_notice("replication: new replication id %s (previous %s valid up to offset %llu)",
               repl__g.replid, repl__g.replid2, (unsigned long long)repl__g.second_offset);
}
