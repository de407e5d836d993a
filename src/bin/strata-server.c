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
#include "server/config.h"
#include "server/server.h"
#include "util/err.h"
#include "util/log.h"

static void on_signal(int sig)
{
    (void)sig;
    srv_request_shutdown();
}

#if defined(SRV_WITH_ENGINE) && SRV_WITH_ENGINE
static ks_t *g_ks;

static void engine_options(strata_options *o)
{
    ks_engine_options(g_ks, o);
}
#endif

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
#if defined(SRV_WITH_ENGINE) && SRV_WITH_ENGINE
    g_ks = ks_new();
    if (!g_ks) {
        fprintf(stderr, "strata-server: out of memory\n");
        return 1;
    }
    srv_engine_options_hook = engine_options;
#endif
    if (srv_start()) {
        fprintf(stderr, "strata-server: %s\n", err_msg());
        return 1;
    }
    /* The data command families need the open engine (registration before srv_run is allowed);
     * SRV_WITH_ENGINE is set once the engine library is linked (see server.c). */
#if defined(SRV_WITH_ENGINE) && SRV_WITH_ENGINE
    ks_t *ks = g_ks;
    if (cmd_engine()) {
        int rc = ks_attach(ks, cmd_engine(), cmd_databases());
        if (!rc) rc = cmds_data_init(ks);
        if (rc) {
            fprintf(stderr, "strata-server: keyspace: %s\n", err_msg());
            srv_stop();
            ks_free(ks);
            return 1;
        }
    }
#endif
    srv_run();
    srv_stop();
#if defined(SRV_WITH_ENGINE) && SRV_WITH_ENGINE
    ks_free(ks);
#endif
    return 0;
}
