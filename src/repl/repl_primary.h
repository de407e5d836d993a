/* The primary side of replication: the replicas of this node (PSYNC,
 * REPLCONF, full sync from a checkpoint, streaming of the change log) and
 * WAIT. Internal to src/repl; every function runs on the loop thread. */
#ifndef STRATA_REPL_PRIMARY_H
#define STRATA_REPL_PRIMARY_H

#include "server/cmd.h"
#include "util/sbuf.h"

/* Command handlers (registered by repl.c). */
void repl__psync_cmd(srv_client *c);
void repl__sync_cmd(srv_client *c);
void repl__replconf_cmd(srv_client *c);
void repl__wait_cmd(srv_client *c);

/* Before-sleep: advances every replica (checkpoint, files, change log,
 * heartbeats, GETACK, timeouts), then answers WAIT clients that are done. */
void repl__serve_slaves(void);
void repl__check_waiters(void);
/* Cron: forces a WAL sync when a caught-up replica waits for NONE writes. */
void repl__primary_cron(void);
/* Closes every replica link (engine about to close, new history). */
void repl__drop_slaves(const char *why);
/* Frees the replica state without closing the clients (shutdown). */
void repl__primary_shutdown(void);
/* Replicas streaming and acknowledged within min-replicas-max-lag. */
int repl__good_replicas(void);

/* ROLE of a primary; INFO replication and Prometheus parts of this side. */
void repl__primary_role(srv_client *c);
void repl__primary_info_replicas(sbuf *o);
void repl__primary_info_syncs(sbuf *o);
void repl__primary_metrics_replicas(sbuf *o);
void repl__primary_metrics_syncs(sbuf *o);

#endif
