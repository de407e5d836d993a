/* Primary -> replica replication (docs/replication.md): the primary ships its
 * engine's change log (its WAL, sequence numbers as offsets) to replicas,
 * which apply each batch as one engine batch and so keep the same sequence
 * numbers; a replica too far behind gets a full sync from an engine
 * checkpoint. Commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC, SYNC, WAIT, ROLE;
 * INFO replication; READONLY and NOREPLICAS write filters.
 *
 * Wiring, from src/bin/strata-server.c:
 *     config_load(...);
 *     repl_boot();            before srv_start: finishes or discards an
 *                             interrupted full sync in the data directory
 *     srv_start(); ks_attach(...); cmds_data_init(ks);
 *     repl_init(ks);          registers commands and hooks, loads or makes
 *                             the replication id, starts the link to the
 *                             primary when replicaof is set
 * Everything runs on the server's loop thread except the checkpoint thread
 * of a full sync, which only calls strata_checkpoint(). */
#ifndef STRATA_REPL_REPL_H
#define STRATA_REPL_REPL_H

#include "keyspace/keyspace.h"

int repl_boot(void);
int repl_init(ks_t *ks);

#endif
