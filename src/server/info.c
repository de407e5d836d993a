/* INFO sections (Redis field names) and the Prometheus page, both rendered
 * from the server's counters, the command table's per-command stats and the
 * sections that upper layers register with cmd_register_info(). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "server/dispatch.h"
#include "server/srv.h"

static void info_append(void *buf, const char *text, size_t len)
{
    sbuf_append(buf, text, len);
}

static void human(char *out, size_t len, uint64_t n)
{
    const char *u = "BKMGT";
    double d = (double)n;
    int i = 0;
    while (d >= 1024 && i < 4) d /= 1024, i++;
    if (i == 0)
        snprintf(out, len, "%lluB", (unsigned long long)n);
    else
        snprintf(out, len, "%.2f%c", d, u[i]);
}

static int want(const char *section, const char *name, int is_default)
{
    if (!strcasecmp(section, "all") || !strcasecmp(section, "everything")) return 1;
    if (!strcasecmp(section, "default")) return is_default;
    return !strcasecmp(section, name);
}

static void sec_server(sbuf *o)
{
    struct utsname u;
    uname(&u);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long up = (long long)(time(NULL) - srv.start_time);
    sbuf_printf(
        o,
        "# Server\r\nredis_version:%s\r\nstrata_version:0.1.0\r\nredis_git_sha1:00000000\r\n"
        "redis_git_dirty:0\r\nredis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n"
        "multiplexing_api:epoll\r\nprocess_id:%d\r\ntcp_port:%lld\r\n"
        "server_time_usec:%lld\r\nuptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n"
        "hz:%lld\r\nconfigured_hz:%lld\r\nconfig_file:%s\r\n",
        srv__version(), u.sysname, u.release, u.machine, (int)sizeof(void *) * 8, (int)getpid(),
        srv_cfg.port, (long long)tv.tv_sec * 1000000 + tv.tv_usec, up, up / 86400, srv_cfg.hz,
        srv_cfg.hz, config_file_path() ? config_file_path() : "");
}

static void sec_clients(sbuf *o)
{
    size_t maxin = 0, maxout = 0;
    int pubsub = 0;
    for (srv_client *c = srv.clients; c; c = c->next) {
        if (c->qbuf_peak > maxin) maxin = c->qbuf_peak;
        size_t out = srv__unsent(c);
        if (out > maxout) maxout = out;
        if (c->flags & CL_PUBSUB) pubsub++;
    }
    sbuf_printf(o,
                "# Clients\r\nconnected_clients:%d\r\ncluster_connections:0\r\nmaxclients:%lld\r\n"
                "client_recent_max_input_buffer:%zu\r\nclient_recent_max_output_buffer:%zu\r\n"
                "blocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n"
                "pubsub_clients:%d\r\n",
                srv.nclients, srv_cfg.maxclients, maxin, maxout, pubsub);
}

static void sec_memory(sbuf *o)
{
    uint64_t rss = metrics_rss_bytes();
    char h[32], mh[32];
    human(h, sizeof(h), rss);
    human(mh, sizeof(mh), (uint64_t)srv_cfg.maxmemory);
    sbuf_printf(o,
                "# Memory\r\nused_memory:%llu\r\nused_memory_human:%s\r\nused_memory_rss:%llu\r\n"
                "used_memory_rss_human:%s\r\nmaxmemory:%lld\r\nmaxmemory_human:%s\r\n"
                "maxmemory_policy:noeviction\r\n",
                (unsigned long long)rss, h, (unsigned long long)rss, h, srv_cfg.maxmemory, mh);
}

static void sec_persistence(sbuf *o)
{
    sbuf_printf(o,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:%llu"
                "\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:%llu\r\naof_enabled:1\r\n"
                "aof_rewrite_in_progress:0\r\naof_last_write_status:%s\r\n",
                (unsigned long long)srv.stat_dirty, (unsigned long long)srv.last_save,
                srv__disk_error() ? "err" : "ok");
}

static void sec_stats(sbuf *o)
{
    sbuf_printf(
        o,
        "# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
        "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\nrejected_connections:%llu\r\n"
        "expired_keys:%llu\r\nevicted_keys:0\r\nkeyspace_hits:%llu\r\nkeyspace_misses:%llu\r\n"
        "pubsub_channels:%zu\r\npubsub_patterns:%zu\r\ntotal_error_replies:%llu\r\n"
        "total_protocol_errors:%llu\r\nclient_query_buffer_limit_disconnections:%llu\r\n"
        "client_output_buffer_limit_disconnections:%llu\r\nclient_read_pauses:%llu\r\n"
        "write_commit_failures:%llu\r\nwrite_stalls:%llu\r\nwrite_stall_usec:%llu\r\n"
        "write_commits:%llu\r\n",
        (unsigned long long)srv.stat_connections, (unsigned long long)srv.stat_commands,
        (unsigned long long)srv.stat_net_in, (unsigned long long)srv.stat_net_out,
        (unsigned long long)srv.stat_rejected, (unsigned long long)srv.stat_expired,
        (unsigned long long)srv.stat_hits, (unsigned long long)srv.stat_misses,
        srv.pubsub_channels.count, srv.pubsub_patterns.count, (unsigned long long)srv.stat_errors,
        (unsigned long long)srv.stat_protocol_errors, (unsigned long long)srv.stat_qbuf_disconnects,
        (unsigned long long)srv.stat_obuf_disconnects, (unsigned long long)srv.stat_read_pauses,
        (unsigned long long)srv.stat_commit_failures, (unsigned long long)srv.stat_write_stalls,
        (unsigned long long)srv.stat_write_stall_us, (unsigned long long)srv.stat_write_commits);
}

static void sec_engine(sbuf *o)
{
    sbuf_puts(o, "# Engine\r\n");
    strata_stats st;
    if (!srv.engine || strata_get_stats(srv.engine, &st)) {
        sbuf_puts(o, "engine_open:0\r\n");
        return;
    }
    sbuf_printf(o,
                "engine_open:1\r\nengine_last_sequence:%llu\r\nengine_memtable_bytes:%llu\r\n"
                "engine_immutable_memtables:%llu\r\nengine_live_sst_bytes:%llu\r\n"
                "engine_wal_bytes:%llu\r\nengine_flushes:%llu\r\nengine_compactions:%llu\r\n"
                "engine_pending_compaction_bytes:%llu\r\nengine_write_amplification:%.2f\r\n"
                "engine_stall_count:%llu\r\nengine_stall_micros:%llu\r\n"
                "engine_stopped_count:%llu\r\nengine_block_cache_hits:%llu\r\n"
                "engine_block_cache_misses:%llu\r\nengine_block_cache_bytes:%llu\r\n"
                "engine_wal_syncs:%llu\r\nengine_background_error:%d\r\n",
                (unsigned long long)st.last_sequence, (unsigned long long)st.memtable_bytes,
                (unsigned long long)st.immutable_memtables, (unsigned long long)st.live_sst_bytes,
                (unsigned long long)st.wal_bytes, (unsigned long long)st.flushes,
                (unsigned long long)st.compactions, (unsigned long long)st.pending_compaction_bytes,
                st.write_amplification, (unsigned long long)st.stall_count,
                (unsigned long long)st.stall_micros, (unsigned long long)st.stopped_count,
                (unsigned long long)st.block_cache_hits, (unsigned long long)st.block_cache_misses,
                (unsigned long long)st.block_cache_bytes, (unsigned long long)st.syncs,
                st.background_error ? 1 : 0);
    sbuf_printf(o, "engine_memtable_filter_bytes:%llu\r\nengine_memtable_filter_useful:%llu\r\n",
                (unsigned long long)st.memtable_filter_bytes,
                (unsigned long long)st.memtable_filter_useful);
    for (int i = 0; i < st.num_levels && i < STRATA_MAX_LEVELS; i++)
        sbuf_printf(o, "engine_level%d:files=%llu,bytes=%llu\r\n", i,
                    (unsigned long long)st.levels[i].files, (unsigned long long)st.levels[i].bytes);
}

static void metrics_engine(sbuf *o)
{
    strata_stats st;
    if (!srv.engine || strata_get_stats(srv.engine, &st)) return;
    struct {
        const char *name, *type, *help;
        double v;
    } m[] = {
        {"strata_engine_memtable_bytes", "gauge", "Bytes in active and immutable memtables.",
         (double)st.memtable_bytes},
        {"strata_engine_memtable_filter_bytes", "gauge",
         "Bytes of the memtables' whole-key filters (part of the memtable bytes).",
         (double)st.memtable_filter_bytes},
        {"strata_engine_memtable_filter_useful_total", "counter",
         "Memtable lookups a whole-key filter answered absent.", (double)st.memtable_filter_useful},
        {"strata_engine_live_sst_bytes", "gauge", "Bytes of live SST files.",
         (double)st.live_sst_bytes},
        {"strata_engine_wal_bytes", "gauge", "Retained WAL bytes.", (double)st.wal_bytes},
        {"strata_engine_flushes_total", "counter", "Memtable flushes.", (double)st.flushes},
        {"strata_engine_compactions_total", "counter", "Compactions.", (double)st.compactions},
        {"strata_engine_pending_compaction_bytes", "gauge", "Bytes waiting for compaction.",
         (double)st.pending_compaction_bytes},
        {"strata_engine_write_amplification", "gauge", "Bytes written per user byte.",
         st.write_amplification},
        {"strata_engine_write_stalls_total", "counter", "Engine writes that waited on a stall.",
         (double)st.stall_count},
        {"strata_engine_write_stall_seconds_total", "counter", "Time engine writes waited.",
         (double)st.stall_micros / 1e6},
        {"strata_engine_block_cache_hits_total", "counter", "Block cache hits.",
         (double)st.block_cache_hits},
        {"strata_engine_block_cache_misses_total", "counter", "Block cache misses.",
         (double)st.block_cache_misses},
        {"strata_engine_wal_syncs_total", "counter", "WAL fsyncs.", (double)st.syncs},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        metrics_family(o, m[i].name, m[i].type, m[i].help);
        metrics_sample(o, m[i].name, NULL, m[i].v);
    }
    metrics_family(o, "strata_engine_level_files", "gauge", "SST files per level.");
    char lab[32];
    for (int i = 0; i < st.num_levels && i < STRATA_MAX_LEVELS; i++) {
        snprintf(lab, sizeof(lab), "level=\"%d\"", i);
        metrics_sample_u64(o, "strata_engine_level_files", lab, st.levels[i].files);
    }
    metrics_family(o, "strata_engine_level_bytes", "gauge", "SST bytes per level.");
    for (int i = 0; i < st.num_levels && i < STRATA_MAX_LEVELS; i++) {
        snprintf(lab, sizeof(lab), "level=\"%d\"", i);
        metrics_sample_u64(o, "strata_engine_level_bytes", lab, st.levels[i].bytes);
    }
}

static void sec_cpu(sbuf *o)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    sbuf_printf(o, "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n",
                (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, (long)ru.ru_utime.tv_sec,
                (long)ru.ru_utime.tv_usec);
}

static void sec_commandstats(sbuf *o)
{
    sbuf_puts(o, "# Commandstats\r\n");
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (!e->st.calls && !e->st.failed) continue;
        sbuf_printf(o,
                    "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                    "failed_calls=%llu\r\n",
                    e->fullname, (unsigned long long)e->st.calls,
                    (unsigned long long)(e->st.nsec / 1000),
                    e->st.calls ? (double)e->st.nsec / 1000.0 / (double)e->st.calls : 0.0,
                    (unsigned long long)e->st.rejected, (unsigned long long)e->st.failed);
    }
}

static void sec_latencystats(sbuf *o)
{
    sbuf_puts(o, "# Latencystats\r\n");
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (!e->st.lat.count) continue;
        sbuf_printf(o, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", e->fullname,
                    (double)hist_percentile(&e->st.lat, 50),
                    (double)hist_percentile(&e->st.lat, 99),
                    (double)hist_percentile(&e->st.lat, 99.9));
    }
}

static void sec_errorstats(sbuf *o)
{
    sbuf_puts(o, "# Errorstats\r\n");
    dict_iter it;
    dict_iter_init(&it, &srv.error_stats);
    for (dict_entry *e; (e = dict_next(&it));)
        sbuf_printf(o, "errorstat_%s:count=%llu\r\n", e->key,
                    (unsigned long long)(uintptr_t)e->val);
}

static void sec_registered(sbuf *o, const char *section)
{
    for (int i = 0; i < srv.ninfos; i++) {
        const char *name = srv.infos[i].name;
        if (!strcasecmp(name, "prometheus")) continue;
        int is_default = 1;
        if (!want(section, name, is_default)) continue;
        char title[40];
        snprintf(title, sizeof(title), "%s", name);
        title[0] = (char)(title[0] >= 'a' && title[0] <= 'z' ? title[0] - 32 : title[0]);
        if (o->len) sbuf_puts(o, "\r\n");
        sbuf_printf(o, "# %s\r\n", title);
        srv.infos[i].fn(o, info_append);
    }
}

void srv__info(srv_client *c, const char *section, sbuf *o)
{
    (void)c;
    struct {
        const char *name;
        int def;
        void (*fn)(sbuf *);
    } secs[] = {
        {"server", 1, sec_server},
        {"clients", 1, sec_clients},
        {"memory", 1, sec_memory},
        {"persistence", 1, sec_persistence},
        {"stats", 1, sec_stats},
        {"cpu", 1, sec_cpu},
        {"commandstats", 0, sec_commandstats},
        {"errorstats", 1, sec_errorstats},
        {"latencystats", 0, sec_latencystats},
        {"engine", 1, sec_engine},
    };
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        if (!want(section, secs[i].name, secs[i].def)) continue;
        if (o->len) sbuf_puts(o, "\r\n");
        secs[i].fn(o);
    }
    int have_repl = 0;
    for (int i = 0; i < srv.ninfos; i++)
        if (!strcasecmp(srv.infos[i].name, "replication")) have_repl = 1;
    if (!have_repl && want(section, "replication", 1)) {
        if (o->len) sbuf_puts(o, "\r\n");
        sbuf_puts(o,
                  "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n");
    }
    int have_keyspace = 0;
    for (int i = 0; i < srv.ninfos; i++)
        if (!strcasecmp(srv.infos[i].name, "keyspace")) have_keyspace = 1;
    if (!have_keyspace && want(section, "keyspace", 1)) {
        if (o->len) sbuf_puts(o, "\r\n");
        sbuf_puts(o, "# Keyspace\r\n");
    }
    sec_registered(o, section);
}

void srv__reset_stats(void)
{
    srv.stat_connections = srv.stat_rejected = srv.stat_commands = 0;
    srv.stat_net_in = srv.stat_net_out = srv.stat_expired = srv.stat_hits = 0;
    srv.stat_misses = srv.stat_errors = srv.stat_protocol_errors = 0;
    srv.stat_obuf_disconnects = srv.stat_qbuf_disconnects = srv.stat_read_pauses = 0;
    srv.stat_pubsub_msgs = srv.stat_commit_failures = srv.stat_write_commits = 0;
    for (int i = 0; i < srv.nentries; i++) memset(&srv.entries[i]->st, 0, sizeof(cmd_stats));
    dict_clear(&srv.error_stats, NULL);
    dict_init(&srv.error_stats, 0);
}

int srv__render_metrics(sbuf *o)
{
    struct {
        const char *name, *type, *help;
        uint64_t v;
    } simple[] = {
        {"strata_connected_clients", "gauge", "Client connections open now.",
         (uint64_t)srv.nclients},
        {"strata_connections_received_total", "counter", "Connections accepted.",
         srv.stat_connections},
        {"strata_rejected_connections_total", "counter",
         "Connections refused (maxclients, protected mode).", srv.stat_rejected},
        {"strata_commands_processed_total", "counter", "Commands executed.", srv.stat_commands},
        {"strata_net_input_bytes_total", "counter", "Bytes read from clients.", srv.stat_net_in},
        {"strata_net_output_bytes_total", "counter", "Bytes written to clients.", srv.stat_net_out},
        {"strata_error_replies_total", "counter", "Error replies sent.", srv.stat_errors},
        {"strata_protocol_errors_total", "counter", "Malformed requests (connection closed).",
         srv.stat_protocol_errors},
        {"strata_expired_keys_total", "counter", "Keys removed by expiry.", srv.stat_expired},
        {"strata_keyspace_hits_total", "counter", "Key lookups that found the key.", srv.stat_hits},
        {"strata_keyspace_misses_total", "counter", "Key lookups that missed.", srv.stat_misses},
        {"strata_output_buffer_disconnects_total", "counter",
         "Clients closed for exceeding client-output-buffer-limit.", srv.stat_obuf_disconnects},
        {"strata_query_buffer_disconnects_total", "counter",
         "Clients closed for exceeding client-query-buffer-limit.", srv.stat_qbuf_disconnects},
        {"strata_client_read_pauses_total", "counter",
         "Times a client's socket stopped being read because its replies were not consumed.",
         srv.stat_read_pauses},
        {"strata_write_commit_failures_total", "counter", "Write batches the engine refused.",
         srv.stat_commit_failures},
        {"strata_write_commits_total", "counter",
         "Engine writes made for client commands (a pipeline group is one).",
         srv.stat_write_commits},
        {"strata_pubsub_messages_total", "counter", "PUBLISH calls.", srv.stat_pubsub_msgs},
        {"strata_client_write_stalls_total", "counter",
         "Client writes held back (socket not read) because the engine stalled writes.",
         srv.stat_write_stalls},
        {"strata_client_write_stall_microseconds_total", "counter",
         "Time client writes were held back by engine stalls.", srv.stat_write_stall_us},
        {"strata_process_resident_memory_bytes", "gauge", "Resident set size of the process.",
         metrics_rss_bytes()},
        {"strata_uptime_seconds", "gauge", "Seconds since the server started.",
         (uint64_t)(time(NULL) - srv.start_time)},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        metrics_family(o, simple[i].name, simple[i].type, simple[i].help);
        metrics_sample_u64(o, simple[i].name, NULL, simple[i].v);
    }
    sbuf lab = {0};
    metrics_family(o, "strata_command_calls_total", "counter", "Calls per command.");
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (!e->st.calls) continue;
        sbuf_reset(&lab);
        sbuf_puts(&lab, "cmd=\"");
        metrics_label_value(&lab, e->fullname, strlen(e->fullname));
        sbuf_puts(&lab, "\"");
        metrics_sample_u64(o, "strata_command_calls_total", lab.buf, e->st.calls);
    }
    metrics_family(o, "strata_command_failed_calls_total", "counter",
                   "Calls per command that replied with an error.");
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (!e->st.calls) continue;
        sbuf_reset(&lab);
        sbuf_printf(&lab, "cmd=\"%s\"", e->fullname);
        metrics_sample_u64(o, "strata_command_failed_calls_total", lab.buf, e->st.failed);
    }
    metrics_family(o, "strata_command_duration_seconds", "histogram",
                   "Command execution time per command.");
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (!e->st.calls) continue;
        sbuf_reset(&lab);
        sbuf_printf(&lab, "cmd=\"%s\"", e->fullname);
        metrics_histogram(o, "strata_command_duration_seconds", lab.buf, &e->st.lat);
    }
    sbuf_free(&lab);
    metrics_engine(o);
    for (int i = 0; i < srv.ninfos; i++)
        if (!strcasecmp(srv.infos[i].name, "prometheus")) srv.infos[i].fn(o, info_append);
    return 0;
}
