/* The data command families (strings, keys and expiry, hashes, the
 * keyspace parts of the server family) over the keyspace layer.
 *
 * Wiring, from src/bin/strata-server.c:
 *     ks_t *ks = ks_new();
 *     ks_engine_options(ks, &engine_opts);   before strata_open
 *     strata_open(...); ks_attach(ks, db, databases);
 *     cmds_data_init(ks);                    registers tables, cron, INFO
 * The keyspace stays owned by the caller (ks_free after the server stops). */
#ifndef STRATA_COMMANDS_DATA_H
#define STRATA_COMMANDS_DATA_H

#include "keyspace/keyspace.h"
#include "server/cmd.h"

extern const cmd_def string_commands[];
extern const cmd_def keys_commands[];
extern const cmd_def hash_commands[];
extern const cmd_def ksserver_commands[];

/* Registers the tables above, the active-expiry cron and the "keyspace"
 * INFO section. 0 or the first registration error. */
int cmds_data_init(ks_t *ks);

#endif
