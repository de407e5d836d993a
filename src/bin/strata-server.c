/* strata-server: a single StrataDB node.
 *
 *   strata-server [CONFIG_FILE] [--name value ...]
 *
 * Loads the config (file first, then flags, like redis-server), registers the
 * command tables of the commands layer, starts the server and runs until
 * SHUTDOWN, SIGTERM or SIGINT, then shuts down cleanly. A bad option prints
 * an error naming it and exits with status 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/data.h"
#include "keyspace/keyspace.h"
#include "repl/repl.h"
#include "server/config.h"
#include "server/server.h"
#include "util/err.h"
#include "util/log.h"

static void on_signal(int sig)
{
    (void)sig;
    srv_request_shutdown();
}

static void usage(void)
{
    fprintf(stderr, "Usage: strata-server [/path/to/strata.conf] [--option value ...]\n"
                    "       strata-server --version\n"
                    "Example: strata-server --port 6380 --dir ./data --appendfsync always\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int first = 1;
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))) {
        printf("strata-server v=0.1.0 (redis protocol 7.0)\n");
        return 0;
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage();
        return 0;
    }
    if (argc >= 2 && strncmp(argv[1], "--", 2)) {
        file = argv[1];
        first = 2;
    }
    config_init_defaults();
    char err[512];
    if (config_load(file, argc - first, argv + first, err, sizeof(err))) {
        fprintf(stderr, "strata-server: configuration error: %s\n", err);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* An interrupted full sync of a replica is finished or discarded before
     * the engine opens (repl/repl.h). */
    if (repl_boot()) {
        fprintf(stderr, "strata-server: replication: %s\n", err_msg());
        return 1;
    }
    /* The data families hook into the engine's start-up: the keyspace's
     * compaction filter goes into the options, and the tables are registered
     * once the engine is open (commands/data.h). */
    ks_t *ks = ks_new();
    if (!ks || ks_set_cache_bytes(ks, (size_t)srv_cfg.keyspace_cache_bytes) ||
        cmds_data_setup(ks)) {
        fprintf(stderr, "strata-server: cannot set up the keyspace\n");
        return 1;
    }
    if (srv_start()) {
        /* The engine may be open, its compaction thread calling the
         * keyspace's filter: the keyspace is left to the exit. */
        fprintf(stderr, "strata-server: %s\n", err_msg());
        return 1;
    }
    if (cmd_engine() && repl_init(ks)) {
        fprintf(stderr, "strata-server: replication: %s\n", err_msg());
        srv_stop();
        ks_free(ks);
        return 1;
    }
    srv_run();
    srv_stop();
    ks_free(ks);
    return 0;
}
