/* The data command families (strings, keys and expiry, hashes, the
 * keyspace parts of the server family) over the keyspace layer.
 *
 * Wiring, from src/bin/strata-server.c, before srv_start():
 *     ks_t *ks = ks_new();
 *     cmds_data_setup(ks);
 * which registers engine hooks (the keyspace's compaction filter goes into
 * the engine options; once the engine is open the keyspace attaches and
 * cmds_data_init registers the tables, cron and INFO section) and a commit
 * hook (the keyspace learns whether each batch was applied). The keyspace
 * stays owned by the caller (ks_free after srv_stop). */
#ifndef STRATA_COMMANDS_DATA_H
#define STRATA_COMMANDS_DATA_H

#include "keyspace/keyspace.h"
#include "server/cmd.h"

extern const cmd_def string_commands[];
extern const cmd_def keys_commands[];
extern const cmd_def hash_commands[];
extern const cmd_def ksserver_commands[];

/* Registers the engine and commit hooks described above. */
int cmds_data_setup(ks_t *ks);

/* Registers the tables above, the active-expiry cron and the "keyspace"
 * INFO section. 0 or the first registration error. */
int cmds_data_init(ks_t *ks);

#endif
