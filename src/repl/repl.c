/* Replication: roles (REPLICAOF, start-up), ROLE, INFO replication, the
 * READONLY / NOREPLICAS filters, and the wiring of the two sides into the
 * server's hooks. Design and protocol: docs/replication.md.
 *
 * Modules of src/repl:
 *   repl_state   replication id, DIR/replication.meta, full sync install
 *   repl_frame   the stream's frame header and checksum
 *   repl_primary replicas of this node: PSYNC, full sync sending, change-log
 *                streaming, WAIT
 *   repl_link    the link to this node's primary: handshake, full sync
 *                receipt, batch application, ACKs
 *   repl         this file
 *
 * Invariants
 *  1. Offsets are engine sequence numbers (both sides).
 *  2. A role change closes what the old role had open (replica links or
 *     the link to a primary) and writes the meta file before it returns.
 *  3. A node is a replica exactly when repl__g.is_replica is set, and then
 *     writes from clients are refused unless replica-read-only is off. */
#include "repl/repl.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "repl/repl_link.h"
#include "repl/repl_primary.h"
#include "repl/repl_state.h"
#include "server/cmd.h"
#include "server/config.h"
#include "server/ev.h"
#include "server/reply.h"
#include "metrics/metrics.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sbuf.h"

/* ---- role changes ---- */

static int parse_replicaof(const char *v, char *host, size_t hcap, int *port)
{
    if (!v || !*v || !strcasecmp(v, "no one")) return 0;
    char h[256];
    long p;
    if (sscanf(v, "%255s %ld", h, &p) != 2 || p < 1 || p > 65535)
        return err_set(ERR_INVAL, "replicaof must be 'host port'");
    repl__fmt(host, hcap, "%s", h);
    *port = (int)p;
    return 1;
}

static int become_primary(void)
{
    if (!repl__g.is_replica) return 0;
    repl__link_stop();
    repl__g.is_replica = 0;
    if (repl__g.ks) {
        ks_set_replica(repl__g.ks, 0);
        ks_reload(repl__g.ks, repl__db());
    }
    repl__shift_replid();
    repl__drop_slaves("new replication id");
    repl__meta_write();
    log_notice("replication: this node is now a primary");
    return 0;
}

static int become_replica(const char *host, int port)
{
    if (repl__g.is_replica && !strcmp(host, repl__g.mhost) && port == repl__g.mport) return 0;
    repl__link_close();
    repl__g.is_replica = 1;
    if (repl__g.ks) ks_set_replica(repl__g.ks, 1);
    repl__fmt(repl__g.mhost, sizeof(repl__g.mhost), "%s", host);
    repl__g.mport = port;
    repl__link_start();
    /* waiting clients get their count now: this node no longer takes writes */
    repl__drop_slaves("changing primary");
    repl__meta_write();
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
        if (!repl__g.is_replica) {
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
    if (repl__g.is_replica && !strcasecmp(host, repl__g.mhost) && port == repl__g.mport) {
        reply_simple(c, "OK Already connected to specified master");
        return;
    }
    char v[320];
    repl__fmt(v, sizeof(v), "%.255s %lld", host, port);
    const char *vp = v;
    if (config_set(&name, &vp, 1, err, sizeof(err))) {
        reply_error(c, err);
        return;
    }
    reply_ok(c);
}

static void role_cmd(srv_client *c)
{
    if (repl__g.is_replica)
        repl__link_role(c);
    else
        repl__primary_role(c);
}

/* ---- INFO replication ---- */

static void info_replication(void *buf, cmd_info_append append)
{
    sbuf o = {0};
    uint64_t last = repl__last_seq();
    sbuf_printf(&o, "role:%s\r\n", repl__g.is_replica ? "slave" : "master");
    if (repl__g.is_replica) repl__link_info(&o);
    repl__primary_info_replicas(&o);
    uint64_t oldest = repl__db() ? strata_changes_oldest(repl__db()) : 1;
    sbuf_printf(&o, "master_failover_state:no-failover\r\n");
    sbuf_printf(&o, "master_replid:%s\r\n", repl__g.replid);
    sbuf_printf(&o, "master_replid2:%s\r\n",
                repl__g.replid2[0] ? repl__g.replid2 : "0000000000000000000000000000000000000000");
    sbuf_printf(&o, "master_repl_offset:%llu\r\n", (unsigned long long)last);
    if (repl__g.replid2[0])
        sbuf_printf(&o, "second_repl_offset:%llu\r\n",
                    (unsigned long long)repl__g.second_offset + 1);
    else
        sbuf_printf(&o, "second_repl_offset:-1\r\n");
    sbuf_printf(&o,
                "repl_backlog_active:1\r\nrepl_backlog_size:%lld\r\n"
                "repl_backlog_first_byte_offset:%llu\r\nrepl_backlog_histlen:%llu\r\n",
                srv_cfg.repl_backlog_size, (unsigned long long)oldest,
                (unsigned long long)(last + 1 > oldest ? last + 1 - oldest : 0));
    repl__primary_info_syncs(&o);
    append(buf, o.buf, o.len);
    sbuf_free(&o);
}

/* Prometheus samples (appended to the server's /metrics). */
static void metrics_replication(void *buf, cmd_info_append append)
{
    sbuf o = {0};
    uint64_t last = repl__last_seq();
    metrics_family(&o, "strata_repl_is_replica", "gauge", "1 on a replica, 0 on a primary.");
    metrics_sample_u64(&o, "strata_repl_is_replica", NULL, (uint64_t)repl__g.is_replica);
    metrics_family(&o, "strata_repl_offset", "gauge", "Replication offset (last sequence).");
    metrics_sample_u64(&o, "strata_repl_offset", NULL, last);
    repl__primary_metrics_replicas(&o);
    if (repl__g.is_replica) repl__link_metrics(&o);
    repl__primary_metrics_syncs(&o);
    append(buf, o.buf, o.len);
    sbuf_free(&o);
}

/* ---- hooks ---- */

static const char *write_filter(srv_client *c, const cmd_def *d)
{
    (void)c;
    if (!(d->flags & CMD_WRITE)) return NULL;
    if (repl__g.is_replica && srv_cfg.replica_read_only)
        return "READONLY You can't write against a read only replica.";
    if (!repl__g.is_replica && srv_cfg.min_replicas_to_write &&
        repl__good_replicas() < srv_cfg.min_replicas_to_write)
        return "NOREPLICAS Not enough good replicas to write.";
    return NULL;
}

static void before_sleep(void)
{
    if (!repl__db()) return;
    repl__link_connect_due();
    repl__serve_slaves();
    repl__check_waiters();
}

static void cron(uint64_t budget_us)
{
    (void)budget_us;
    repl__link_cron();
    repl__primary_cron();
}

static void shutdown_hook(void)
{
    repl__link_stop();
    repl__primary_shutdown();
    if (repl__db()) {
        strata_sync(repl__db());
        repl__meta_write_in(repl__g.dir, 1, repl__last_seq());
    }
}

static const cmd_def repl_commands[] = {
    {"replicaof", 3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, replicaof_cmd, "server",
     "Configures a server as replica of another, or promotes it to a primary.", "5.0.0", "O(1)"},
    {"slaveof", 3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, replicaof_cmd, "server",
     "Sets a server as a replica of another, or promotes it to being a primary.", "1.0.0", "O(1)"},
    {"replconf", -1, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE | CMD_SKIP_SLOWLOG, 0, 0, 0,
     repl__replconf_cmd, "server", "An internal command for configuring the replication stream.",
     "3.0.0", "O(1)"},
    {"psync", -3, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, repl__psync_cmd, "server",
     "An internal command used in replication.", "2.8.0", "O(1)"},
    {"sync", 1, CMD_ADMIN | CMD_NO_MULTI | CMD_STALE, 0, 0, 0, repl__sync_cmd, "server",
     "An internal command used in replication.", "1.0.0", "O(1)"},
    {"wait", 3, 0, 0, 0, 0, repl__wait_cmd, "generic",
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
    repl__fmt(repl__g.dir, sizeof(repl__g.dir), "%s", srv_cfg.dir);
    mkdir(repl__g.dir, 0755);
    int rc = repl__install_ready(NULL);
    if (rc) return rc;
    char p[PATH_MAX];
    repl__path_in(p, sizeof(p), REPL_SYNC_TMP);
    repl__rm_tree(p); /* an interrupted full sync starts over */
    DIR *d = opendir(repl__g.dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, REPL_CKPT_PREFIX, strlen(REPL_CKPT_PREFIX))) {
                repl__path_in(p, sizeof(p), e->d_name);
                repl__rm_tree(p);
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
    repl__drop_slaves("storage engine reopened");
}

int repl_init(ks_t *ks)
{
    repl__g.ks = ks;
    if (!repl__g.dir[0]) repl__fmt(repl__g.dir, sizeof(repl__g.dir), "%s", srv_cfg.dir);
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
    repl__meta m;
    repl__meta_read(&m);
    uint64_t last = repl__last_seq();
    if (m.valid) {
        memcpy(repl__g.replid, m.replid, sizeof(repl__g.replid));
        memcpy(repl__g.replid2, m.replid2, sizeof(repl__g.replid2));
        repl__g.second_offset = m.second_offset;
    } else {
        repl__new_replid(repl__g.replid);
        repl__g.replid2[0] = 0;
    }
    if (r) {
        repl__g.is_replica = 1;
        if (ks) ks_set_replica(ks, 1);
        repl__fmt(repl__g.mhost, sizeof(repl__g.mhost), "%s", host);
        repl__g.mport = port;
        repl__link_start();
    } else if (m.valid && !(!m.replica && m.clean && m.clean_seq == last)) {
        repl__shift_replid();
    }
    repl__meta_write();
    config_replicaof_hook = apply_replicaof;
    log_notice("replication: %s, replication id %s, offset %llu",
               repl__g.is_replica ? "replica" : "primary", repl__g.replid,
               (unsigned long long)last);
    return 0;
}
