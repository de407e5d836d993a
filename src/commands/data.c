/* Wiring of the data families (see data.h): registration, the expired-key
 * hook (stats and WATCH), the active-expiry cron, the INFO keyspace section
 * and the keyspace-wide server commands (DBSIZE, FLUSHDB, FLUSHALL, SWAPDB). */
#include "commands/data.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "commands/cmdutil.h"
#include "util/err.h"
#include "util/log.h"

static void on_expired(void *arg, int db, const void *key, size_t len)
{
    cmd_stat_expired(1);
    cmd_touch_key(db, key, len);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* About 100 ms apart; a key costs a few microseconds, so the budget in
 * microseconds / 10 bounds the keys handled per call. */
static void cron(uint64_t budget_us)
{
    size_t max = budget_us / 10;
    if (max < 20) max = 20;
    if (max > 2000) max = 2000;
    size_t n;
    ks_cron(cmds__ks, cmd_batch_gen(), wall_ms(), max, &n);
}

static void info_keyspace(void *buf, cmd_info_append append)
{
    for (int db = 0; db < ks_databases(cmds__ks); db++) {
        uint64_t exp, keys = ks_dbsize_committed(cmds__ks, db, &exp);
        if (!keys) continue;
        char line[128];
        int n = snprintf(line, sizeof(line), "db%d:keys=%llu,expires=%llu,avg_ttl=0\r\n", db,
                         (unsigned long long)keys, (unsigned long long)exp);
        append(buf, line, (size_t)n);
    }
}

static void dbsize_cmd(srv_client *c)
{
    reply_int(c, (long long)ks_dbsize(cmds__tx(c), cmd_db(c)));
}

/* FLUSHDB/FLUSHALL [ASYNC|SYNC]: both are one range delete, so ASYNC and SYNC are the same. */
static int flush_args(srv_client *c)
{
    if (cmd_argc(c) > 2) return -1;
    if (cmd_argc(c) == 2 && !cmd_arg_is(c, 1, "async") && !cmd_arg_is(c, 1, "sync")) return -1;
    return 0;
}

static void flushdb_cmd(srv_client *c)
{
    if (flush_args(c)) {
        reply_error_syntax(c);
        return;
    }
    int rc = ks_flushdb(cmds__tx(c), cmd_db(c));
    if (rc) {
        cmds__reply_ks_error(c, rc);
        return;
    }
    cmd_touch_db(cmd_db(c));
    cmd_stat_dirty(1);
    reply_ok(c);
}

static void flushall_cmd(srv_client *c)
{
    if (flush_args(c)) {
        reply_error_syntax(c);
        return;
    }
    int rc = ks_flushall(cmds__tx(c));
    if (rc) {
        cmds__reply_ks_error(c, rc);
        return;
    }
    cmd_touch_db(-1);
    cmd_stat_dirty(1);
    reply_ok(c);
}

/* DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: syncs and closes the engine, then
 * opens it again from the data directory (recovery included) and reloads the
 * keyspace's counters from it. The options exist for Redis's RDB and change
 * nothing here: there is no dump to save, and the data directory is the data. */
static void debug_reload_cmd(srv_client *c)
{
    for (int i = 2; i < cmd_argc(c); i++)
        if (!cmd_arg_is(c, i, "merge") && !cmd_arg_is(c, i, "noflush") &&
            !cmd_arg_is(c, i, "nosave")) {
            reply_error(c, "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    int rc = cmd_engine_reopen(NULL, NULL);
    if (!cmd_engine()) {
        log_warn("DEBUG RELOAD: cannot open the storage engine again: %s", err_msg());
        exit(1);
    }
    if (!rc) rc = ks_reload(cmds__ks, cmd_engine());
    if (rc) {
        reply_errorf(c, "ERR Error trying to reload the data set: %s", err_msg());
        return;
    }
    reply_ok(c);
}

static void swapdb_cmd(srv_client *c)
{
    long long a, b;
    if (cmd_arg_ll(c, 1, &a) || a < INT_MIN || a > INT_MAX) {
        reply_error(c, "ERR invalid first DB index");
        return;
    }
    if (cmd_arg_ll(c, 2, &b) || b < INT_MIN || b > INT_MAX) {
        reply_error(c, "ERR invalid second DB index");
        return;
    }
    if (a < 0 || b < 0 || a >= cmd_databases() || b >= cmd_databases()) {
        reply_error(c, "ERR DB index is out of range");
        return;
    }
    if (a != b) {
        int rc = ks_swapdb(cmds__tx(c), (int)a, (int)b);
        if (rc) {
            cmds__reply_ks_error(c, rc);
            return;
        }
        cmd_touch_db((int)a);
        cmd_touch_db((int)b);
    }
    reply_ok(c);
}

/* Every handler runs through a wrapper that puts the key counts it changed
 * into the batch (ks_end) before the server commits. */
CMDS_WRAP(dbsize_cmd)
CMDS_WRAP(flushdb_cmd)
CMDS_WRAP(flushall_cmd)
CMDS_WRAP(swapdb_cmd)

static const cmd_def debug_subs[] = {
    {"debug|reload", -2, CMD_ADMIN | CMD_NO_MULTI, 0, 0, 0, debug_reload_cmd, "server",
     "Closes the storage engine and opens it again from the data directory.", "1.0.0", "O(N)"},
    {0},
};

const cmd_def ksserver_commands[] = {
    {"dbsize", 1, CMD_READONLY | CMD_FAST, 0, 0, 0, dbsize_cmd_w, "server",
     "Returns the number of keys in the database.", "1.0.0", "O(1)"},
    {"flushdb", -1, CMD_WRITE, 0, 0, 0, flushdb_cmd_w, "server",
     "Removes all keys from the current database.", "1.0.0", "O(1)"},
    {"flushall", -1, CMD_WRITE, 0, 0, 0, flushall_cmd_w, "server",
     "Removes all keys from all databases.", "1.0.0", "O(1)"},
    {"swapdb", 3, CMD_WRITE | CMD_FAST, 0, 0, 0, swapdb_cmd_w, "server", "Swaps two databases.",
     "4.0.0", "O(1)"},
    {"debug", -2, CMD_ADMIN, 0, 0, 0, NULL, "server", "A container for debugging commands.",
     "1.0.0", "Depends on subcommand.", debug_subs},
    {0},
};

static ks_t *setup_ks;

static void engine_configure(strata_options *o)
{
    ks_engine_options(setup_ks, o);
}

static int engine_opened(strata_db *db)
{
    int rc = ks_attach(setup_ks, db, cmd_databases());
    return rc ? rc : cmds_data_init(setup_ks);
}

static void batch_committed(int committed)
{
    ks_commit_done(setup_ks, committed);
}

int cmds_data_setup(ks_t *ks)
{
    static const cmd_engine_hooks hooks = {engine_configure, engine_opened, NULL};
    setup_ks = ks;
    int rc = cmd_register_engine_hooks(&hooks);
    return rc ? rc : cmd_register_commit_hook(batch_committed);
}

int cmds_data_init(ks_t *ks)
{
    cmds__ks = ks;
    ks_set_expired_hook(ks, on_expired, NULL);
    const cmd_def *tables[] = {string_commands, keys_commands, hash_commands, ksserver_commands};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int rc = cmd_register(tables[i]);
        if (rc) return rc;
    }
    int rc = cmd_register_cron(cron);
    if (!rc) rc = cmd_register_info("keyspace", info_keyspace);
    return rc;
}
