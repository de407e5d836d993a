/* The config table; see config.h.
 *
 * Each row names a field of srv_cfg (by offset), its type and bounds. Values
 * are staged by applying them straight into srv_cfg after saving a shallow
 * copy of the struct; strings are always freshly allocated, so a rollback
 * frees every string that differs from the copy and restores it, and a
 * commit frees the replaced ones. */
#include "server/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/resp.h"
#include "util/err.h"
#include "util/glob.h"
#include "util/log.h"

srv_config srv_cfg;

enum { T_BOOL, T_INT, T_MEM, T_STR, T_ENUM, T_OBUF };
enum { F_IMMUTABLE = 1, F_SENSITIVE = 2 };

typedef struct enum_name {
    const char *name;
    int val;
} enum_name;

typedef struct cfg_def {
    const char *name;
    const char *alias;
    int type;
    int flags;
    size_t off;
    long long min, max;
    const char *deflt;
    const enum_name *enums;
    int (*apply)(void);
} cfg_def;

static const enum_name fsync_enum[] = {
    {"always", FSYNC_ALWAYS}, {"everysec", FSYNC_EVERYSEC}, {"no", FSYNC_NO}, {0, 0}};
static const enum_name loglevel_enum[] = {{"debug", LOG_DEBUG},
                                          {"verbose", LOG_VERBOSE},
                                          {"notice", LOG_NOTICE},
                                          {"warning", LOG_WARNING},
                                          {0, 0}};

int (*config_replicaof_hook)(void);

/* replicaof is "" or "host port" (port 1..65535); the replication layer applies it. */
static int apply_replicaof(void)
{
    const char *v = srv_cfg.replicaof ? srv_cfg.replicaof : "";
    if (*v && strcasecmp(v, "no one")) {
        char host[256];
        long port;
        char extra;
        if (sscanf(v, "%255s %ld %c", host, &port, &extra) != 2 || port < 1 || port > 65535)
            return err_set(ERR_INVAL, "replicaof must be 'host port'");
    }
    return config_replicaof_hook ? config_replicaof_hook() : 0;
}

#define OFF(f) offsetof(srv_config, f)
#define LLMAX  9223372036854775807LL

static const cfg_def table[] = {
    {"port", 0, T_INT, F_IMMUTABLE, OFF(port), 0, 65535, "6379", 0, 0},
    {"bind", 0, T_STR, F_IMMUTABLE, OFF(bind), 0, 0, "127.0.0.1", 0, 0},
    {"dir", 0, T_STR, F_IMMUTABLE, OFF(dir), 0, 0, ".", 0, 0},
    {"appendfsync", 0, T_ENUM, 0, OFF(appendfsync), 0, 0, "everysec", fsync_enum,
     srv__apply_appendfsync},
    {"appendonly", 0, T_BOOL, F_IMMUTABLE, OFF(appendonly), 0, 0, "yes", 0, 0},
    {"save", 0, T_STR, 0, OFF(save), 0, 0, "", 0, 0},
    {"maxclients", 0, T_INT, 0, OFF(maxclients), 1, 4294967295LL, "10000", 0,
     srv__apply_maxclients},
    {"requirepass", 0, T_STR, F_SENSITIVE, OFF(requirepass), 0, 0, "", 0, 0},
    {"protected-mode", 0, T_BOOL, 0, OFF(protected_mode), 0, 0, "yes", 0, 0},
    {"databases", 0, T_INT, F_IMMUTABLE, OFF(databases), 1, 255, "16", 0, 0},
    {"client-query-buffer-limit", 0, T_MEM, 0, OFF(client_query_buffer_limit), 1024 * 1024, LLMAX,
     "1gb", 0, 0},
    {"proto-max-bulk-len", 0, T_MEM, 0, OFF(proto_max_bulk_len), 1024 * 1024, LLMAX, "512mb", 0, 0},
    {"client-output-buffer-limit", 0, T_OBUF, 0, OFF(obuf), 0, 0,
     "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60", 0, 0},
    {"timeout", 0, T_INT, 0, OFF(timeout), 0, 2147483647, "0", 0, 0},
    {"tcp-keepalive", 0, T_INT, 0, OFF(tcp_keepalive), 0, 2147483647, "300", 0, 0},
    {"tcp-backlog", 0, T_INT, F_IMMUTABLE, OFF(tcp_backlog), 0, 65535, "511", 0, 0},
    {"loglevel", 0, T_ENUM, 0, OFF(loglevel), 0, 0, "notice", loglevel_enum, srv__apply_logging},
    {"logfile", 0, T_STR, 0, OFF(logfile), 0, 0, "", 0, srv__apply_logging},
    {"metrics-port", 0, T_INT, F_IMMUTABLE, OFF(metrics_port), 0, 65535, "0", 0, 0},
    {"memtable-bytes", 0, T_MEM, F_IMMUTABLE, OFF(memtable_bytes), 1024 * 1024, LLMAX, "64mb", 0,
     0},
    {"block-cache-bytes", 0, T_MEM, F_IMMUTABLE, OFF(block_cache_bytes), 0, LLMAX, "256mb", 0, 0},
    {"max-immutable-memtables", 0, T_INT, F_IMMUTABLE, OFF(max_immutable_memtables), 1, 63, "2", 0,
     0},
    {"level0-slowdown-trigger", 0, T_INT, F_IMMUTABLE, OFF(level0_slowdown_trigger), 1, 100000,
     "20", 0, 0},
    {"level0-stop-trigger", 0, T_INT, F_IMMUTABLE, OFF(level0_stop_trigger), 1, 100000, "36", 0, 0},
    {"keyspace-cache-bytes", 0, T_MEM, F_IMMUTABLE, OFF(keyspace_cache_bytes), 0, LLMAX, "32mb", 0,
     0},
    {"slowlog-log-slower-than", 0, T_INT, 0, OFF(slowlog_log_slower_than), -1, LLMAX, "10000", 0,
     0},
    {"slowlog-max-len", 0, T_INT, 0, OFF(slowlog_max_len), 0, 1000000, "128", 0, 0},
    {"latency-monitor-threshold", 0, T_INT, 0, OFF(latency_monitor_threshold), 0, LLMAX, "0", 0, 0},
    {"hz", 0, T_INT, 0, OFF(hz), 0, 2147483647, "10", 0, srv__apply_hz},
    {"daemonize", 0, T_BOOL, F_IMMUTABLE, OFF(daemonize), 0, 0, "no", 0, 0},
    {"pidfile", 0, T_STR, F_IMMUTABLE, OFF(pidfile), 0, 0, "", 0, 0},
    {"maxmemory", 0, T_MEM, 0, OFF(maxmemory), 0, LLMAX, "0", 0, 0},
    {"io-threads", 0, T_INT, F_IMMUTABLE, OFF(io_threads), 1, 1, "1", 0, 0},
    {"replicaof", "slaveof", T_STR, 0, OFF(replicaof), 0, 0, "", 0, apply_replicaof},
    {"masterauth", 0, T_STR, F_SENSITIVE, OFF(masterauth), 0, 0, "", 0, 0},
    {"replica-read-only", "slave-read-only", T_BOOL, 0, OFF(replica_read_only), 0, 0, "yes", 0, 0},
    {"repl-backlog-size", 0, T_MEM, F_IMMUTABLE, OFF(repl_backlog_size), 0, LLMAX, "1gb", 0, 0},
    {"repl-timeout", 0, T_INT, 0, OFF(repl_timeout), 1, 2147483647, "60", 0, 0},
    {"min-replicas-to-write", "min-slaves-to-write", T_INT, 0, OFF(min_replicas_to_write), 0,
     2147483647, "0", 0, 0},
    {"min-replicas-max-lag", "min-slaves-max-lag", T_INT, 0, OFF(min_replicas_max_lag), 0,
     2147483647, "10", 0, 0},
};
#define NCFG ((int)(sizeof(table) / sizeof(table[0])))

static char *cfg_file;

const char *config_file_path(void)
{
    return cfg_file;
}

static const cfg_def *lookup(const char *name)
{
    for (int i = 0; i < NCFG; i++)
        if (!strcasecmp(table[i].name, name) ||
            (table[i].alias && !strcasecmp(table[i].alias, name)))
            return &table[i];
    if (!strcasecmp(name, "slave")) return NULL;
    return NULL;
}

#define FIELD(d, T) ((T *)((char *)&srv_cfg + (d)->off))

static int parse_mem(const char *v, long long *out)
{
    char *end;
    errno = 0;
    if (!*v) return -1;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v) return -1;
    long long mul = 1;
    if (!strcasecmp(end, ""))
        mul = 1;
    else if (!strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k"))
        mul = 1000;
    else if (!strcasecmp(end, "kb"))
        mul = 1024;
    else if (!strcasecmp(end, "m"))
        mul = 1000 * 1000;
    else if (!strcasecmp(end, "mb"))
        mul = 1024 * 1024;
    else if (!strcasecmp(end, "g"))
        mul = 1000LL * 1000 * 1000;
    else if (!strcasecmp(end, "gb"))
        mul = 1024LL * 1024 * 1024;
    else
        return -1;
    if (n != 0 && (n > LLMAX / mul || n < -LLMAX / mul)) return -1;
    *out = n * mul;
    return 0;
}

static int parse_int(const char *v, long long *out)
{
    return resp_str2ll(v, strlen(v), out) ? 0 : -1;
}

static int obuf_class(const char *s)
{
    if (!strcasecmp(s, "normal")) return OBUF_NORMAL;
    if (!strcasecmp(s, "replica") || !strcasecmp(s, "slave")) return OBUF_REPLICA;
    if (!strcasecmp(s, "pubsub")) return OBUF_PUBSUB;
    return -1;
}

/* Parses "class hard soft secs ..." into lim (only the named classes change). */
static const char *parse_obuf(const char *v, obuf_limit *lim)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", v);
    char *tok[64];
    int n = 0;
    for (char *s = strtok(buf, " \t"); s && n < 64; s = strtok(NULL, " \t")) tok[n++] = s;
    if (n == 0 || n % 4) return "Wrong number of arguments in buffer limit configuration.";
    obuf_limit tmp[OBUF_CLASSES];
    memcpy(tmp, lim, sizeof(tmp));
    for (int i = 0; i < n; i += 4) {
        int cls = obuf_class(tok[i]);
        if (cls < 0) return "Invalid client class specified in buffer limit configuration.";
        long long h, s, secs;
        if (parse_mem(tok[i + 1], &h) || parse_mem(tok[i + 2], &s) ||
            parse_int(tok[i + 3], &secs) || h < 0 || s < 0 || secs < 0)
            return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        tmp[cls].hard_bytes = h;
        tmp[cls].soft_bytes = s;
        tmp[cls].soft_seconds = secs;
    }
    memcpy(lim, tmp, sizeof(tmp));
    return NULL;
}

/* Stores v into the field of d; returns NULL or a Redis-style reason. */
static const char *set_one(const cfg_def *d, const char *v, char *why, size_t whylen)
{
    long long n;
    switch (d->type) {
    case T_BOOL:
        if (!strcasecmp(v, "yes"))
            *FIELD(d, int) = 1;
        else if (!strcasecmp(v, "no"))
            *FIELD(d, int) = 0;
        else
            return "argument must be 'yes' or 'no'";
        return NULL;
    case T_INT:
    case T_MEM:
        if (d->type == T_INT ? parse_int(v, &n) : parse_mem(v, &n))
            return d->type == T_INT ? "argument couldn't be parsed into an integer"
                                    : "argument must be a memory value";
        if (n < d->min || n > d->max) {
            snprintf(why, whylen, "argument must be between %lld and %lld inclusive", d->min,
                     d->max);
            return why;
        }
        *FIELD(d, long long) = n;
        return NULL;
    case T_STR: {
        char *s = strdup(v);
        if (!s) return "out of memory";
        *FIELD(d, char *) = s; /* the old pointer lives on in the caller's copy */
        return NULL;
    }
    case T_ENUM:
        for (const enum_name *e = d->enums; e->name; e++)
            if (!strcasecmp(e->name, v)) {
                *FIELD(d, int) = e->val;
                return NULL;
            }
        {
            size_t o = (size_t)snprintf(why, whylen, "argument(s) must be one of the following: ");
            for (const enum_name *e = d->enums; e->name && o < whylen; e++)
                o += (size_t)snprintf(why + o, whylen - o, "%s%s", e == d->enums ? "" : ", ",
                                      e->name);
        }
        return why;
    case T_OBUF: return parse_obuf(v, FIELD(d, obuf_limit));
    }
    return "unknown type";
}

/* Frees strings of `from` that `to` no longer uses. */
static void free_replaced(const srv_config *from, const srv_config *to)
{
    for (int i = 0; i < NCFG; i++) {
        if (table[i].type != T_STR) continue;
        char *a = *(char *const *)((const char *)from + table[i].off);
        char *b = *(char *const *)((const char *)to + table[i].off);
        if (a != b) free(a);
    }
}

static void rollback(const srv_config *old)
{
    free_replaced(&srv_cfg, old);
    srv_cfg = *old;
}

static void commit(const srv_config *old)
{
    free_replaced(old, &srv_cfg);
}

void config_init_defaults(void)
{
    char why[256];
    for (int i = 0; i < NCFG; i++) {
        if (table[i].type == T_STR) *FIELD(&table[i], char *) = NULL;
        if (table[i].type == T_OBUF)
            memset(FIELD(&table[i], obuf_limit), 0, sizeof(obuf_limit) * OBUF_CLASSES);
    }
    for (int i = 0; i < NCFG; i++) {
        const char *r = set_one(&table[i], table[i].deflt, why, sizeof(why));
        if (r) {
            fprintf(stderr, "bad default for %s: %s\n", table[i].name, r);
            abort();
        }
    }
}

static int run_applies(const srv_config *old)
{
    for (int i = 0; i < NCFG; i++) {
        const cfg_def *d = &table[i];
        if (!d->apply) continue;
        const char *a = (const char *)old + d->off, *b = (const char *)&srv_cfg + d->off;
        size_t sz = d->type == T_STR                       ? sizeof(char *)
                    : d->type == T_INT || d->type == T_MEM ? 8
                                                           : 4;
        int changed = d->type == T_STR ? strcmp(*(char *const *)a, *(char *const *)b) != 0
                                       : memcmp(a, b, sz) != 0;
        if (changed && d->apply()) return -1;
    }
    return 0;
}

int config_set(const char **names, const char **values, int n, char *err, size_t errlen)
{
    const cfg_def *defs[64];
    char why[256];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        defs[i] = lookup(names[i]);
        if (!defs[i]) {
            snprintf(err, errlen, "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                     names[i]);
            return ERR_INVAL;
        }
        for (int j = 0; j < i; j++)
            if (defs[j] == defs[i]) {
                snprintf(err, errlen,
                         "ERR CONFIG SET failed (possibly related to argument '%s') - duplicate "
                         "parameter",
                         names[i]);
                return ERR_INVAL;
            }
        if (defs[i]->flags & F_IMMUTABLE) {
            snprintf(err, errlen,
                     "ERR CONFIG SET failed (possibly related to argument '%s') - can't set "
                     "immutable config",
                     names[i]);
            return ERR_INVAL;
        }
    }
    srv_config old = srv_cfg;
    for (int i = 0; i < n; i++) {
        const char *r = set_one(defs[i], values[i], why, sizeof(why));
        if (r) {
            snprintf(err, errlen, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                     names[i], r);
            rollback(&old);
            return ERR_INVAL;
        }
    }
    if (run_applies(&old)) {
        snprintf(err, errlen, "ERR CONFIG SET failed - %s", err_msg());
        srv_config bad = srv_cfg;
        rollback(&old);
        run_applies(&bad);
        return ERR_INVAL;
    }
    commit(&old);
    return 0;
}

static void format_value(const cfg_def *d, const srv_config *c, sbuf *out)
{
    const char *p = (const char *)c + d->off;
    switch (d->type) {
    case T_BOOL: sbuf_puts(out, *(const int *)p ? "yes" : "no"); break;
    case T_INT:
    case T_MEM: sbuf_printf(out, "%lld", *(const long long *)p); break;
    case T_STR: sbuf_puts(out, *(char *const *)p ? *(char *const *)p : ""); break;
    case T_ENUM:
        for (const enum_name *e = d->enums; e->name; e++)
            if (e->val == *(const int *)p) sbuf_puts(out, e->name);
        break;
    case T_OBUF: {
        const obuf_limit *l = (const obuf_limit *)p;
        static const char *names[] = {"normal", "slave", "pubsub"};
        for (int i = 0; i < OBUF_CLASSES; i++)
            sbuf_printf(out, "%s%s %lld %lld %lld", i ? " " : "", names[i], l[i].hard_bytes,
                        l[i].soft_bytes, l[i].soft_seconds);
        break;
    }
    }
}

int config_format(const char *name, sbuf *out)
{
    const cfg_def *d = lookup(name);
    if (!d) return ERR_NOTFOUND;
    format_value(d, &srv_cfg, out);
    return 0;
}

int config_get(const char **patterns, int npatterns, config_emit emit, void *arg)
{
    int count = 0;
    sbuf v = {0};
    for (int i = 0; i < NCFG; i++) {
        const cfg_def *d = &table[i];
        const char *hit = NULL;
        for (int j = 0; j < npatterns && !hit; j++) {
            if (glob_match(patterns[j], strlen(patterns[j]), d->name, strlen(d->name), 1))
                hit = d->name;
            else if (d->alias &&
                     glob_match(patterns[j], strlen(patterns[j]), d->alias, strlen(d->alias), 1))
                hit = d->alias;
        }
        if (!hit) continue;
        sbuf_reset(&v);
        format_value(d, &srv_cfg, &v);
        emit(arg, hit, sbuf_str(&v), v.len);
        count++;
    }
    sbuf_free(&v);
    return count;
}

/* One "name arg arg..." directive: joins the arguments with spaces. */
/* Applies one option of a load whose values before it began are in old. */
static int apply_directive(const srv_config *old, int argc, char **argv, int line, char *err,
                           size_t errlen)
{
    char why[256];
    const cfg_def *d = lookup(argv[0]);
    if (!d) {
        if (line)
            snprintf(err, errlen, "unknown option '%s' at line %d", argv[0], line);
        else
            snprintf(err, errlen, "unknown option '%s'", argv[0]);
        return ERR_INVAL;
    }
    sbuf v = {0};
    for (int i = 1; i < argc; i++) {
        if (i > 1) sbuf_puts(&v, " ");
        sbuf_puts(&v, argv[i]);
    }
    if (argc < 2 && d->type != T_STR) {
        snprintf(err, errlen, "wrong number of arguments for option '%s'", d->name);
        sbuf_free(&v);
        return ERR_INVAL;
    }
    char *prev = d->type == T_STR ? *FIELD(d, char *) : NULL;
    const char *r = set_one(d, sbuf_str(&v), why, sizeof(why));
    sbuf_free(&v);
    /* Set twice in one load: the first value is neither old's nor the new one. */
    if (!r && d->type == T_STR && prev != *(char *const *)((const char *)old + d->off)) free(prev);
    if (r) {
        if (line)
            snprintf(err, errlen, "invalid value for option '%s' at line %d: %s", d->name, line, r);
        else
            snprintf(err, errlen, "invalid value for option '%s': %s", d->name, r);
        return ERR_INVAL;
    }
    return 0;
}

static int load_file(const char *path, srv_config *old, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file '%s': %s", path, strerror(errno));
        return ERR_IO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    resp_parser p;
    resp_init(&p);
    resp_limits lim = {LLMAX, 0};
    while (fgets(line, sizeof(line) - 1, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') line[n++] = '\n', line[n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\r') continue;
        resp_reset(&p);
        p.kind = 2; /* always inline */
        size_t used;
        int r = resp_parse(&p, s, strlen(s), &lim, &used);
        if (r == RESP_ERROR) {
            snprintf(err, errlen, "config file line %d: unbalanced quotes", lineno);
            rc = ERR_INVAL;
            break;
        }
        if (r != RESP_COMMAND) continue;
        char *args[64];
        int argc = p.argc < 64 ? p.argc : 64;
        for (int i = 0; i < argc; i++) args[i] = s + p.argv[i].off;
        if ((rc = apply_directive(old, argc, args, lineno, err, errlen))) break;
    }
    resp_free(&p);
    fclose(f);
    return rc;
}

int config_load(const char *file, int argc, char **argv, char *err, size_t errlen)
{
    srv_config old = srv_cfg;
    int rc = 0;
    if (file && (rc = load_file(file, &old, err, errlen))) goto err;
    for (int i = 0; i < argc;) {
        if (strncmp(argv[i], "--", 2) || !argv[i][2]) {
            snprintf(err, errlen, "expected an option name starting with '--', got '%s'", argv[i]);
            rc = ERR_INVAL;
            goto err;
        }
        char *args[64];
        int n = 0;
        args[n++] = argv[i] + 2;
        i++;
        while (i < argc && strncmp(argv[i], "--", 2) && n < 64) args[n++] = argv[i++];
        if (n == 1) args[n++] = "";
        if ((rc = apply_directive(&old, n, args, 0, err, errlen))) goto err;
    }
    if (file) {
        free(cfg_file);
        cfg_file = realpath(file, NULL);
    }
    commit(&old);
    return 0;
err:
    rollback(&old);
    return rc;
}

int config_rewrite(char *err, size_t errlen)
{
    if (!cfg_file) {
        snprintf(err, errlen, "ERR The server is running without a config file");
        return ERR_INVAL;
    }
    sbuf out = {0}, v = {0};
    char seen[NCFG];
    memset(seen, 0, sizeof(seen));
    FILE *f = fopen(cfg_file, "r");
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        char name[128] = "";
        sscanf(line, " %127s", name);
        const cfg_def *d = line[0] == '#' ? NULL : lookup(name);
        if (!d) {
            sbuf_puts(&out, line);
            if (out.len && out.buf[out.len - 1] != '\n') sbuf_puts(&out, "\n");
            continue;
        }
        int idx = (int)(d - table);
        if (seen[idx]) continue; /* one line per option after a rewrite */
        seen[idx] = 1;
        sbuf_reset(&v);
        format_value(d, &srv_cfg, &v);
        sbuf_printf(&out, "%s ", d->name);
        sbuf_quoted(&out, v.buf ? v.buf : "", v.len);
        sbuf_puts(&out, "\n");
    }
    if (f) fclose(f);
    for (int i = 0; i < NCFG; i++) {
        if (seen[i]) continue;
        sbuf_reset(&v);
        format_value(&table[i], &srv_cfg, &v);
        char why[256];
        /* compare with the default text formatted the same way */
        srv_config save = srv_cfg;
        set_one(&table[i], table[i].deflt, why, sizeof(why));
        sbuf d = {0};
        format_value(&table[i], &srv_cfg, &d);
        if (table[i].type == T_STR) free(*FIELD(&table[i], char *));
        srv_cfg = save;
        if (strcmp(sbuf_str(&d), sbuf_str(&v))) {
            sbuf_printf(&out, "%s ", table[i].name);
            sbuf_quoted(&out, sbuf_str(&v), v.len);
            sbuf_puts(&out, "\n");
        }
        sbuf_free(&d);
    }
    sbuf_free(&v);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", cfg_file);
    int rc = 0;
    FILE *w = fopen(tmp, "w");
    if (!w || fwrite(out.buf ? out.buf : "", 1, out.len, w) != out.len || fflush(w) ||
        fsync(fileno(w))) {
        snprintf(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
        rc = ERR_IO;
    }
    if (w) fclose(w);
    if (!rc && rename(tmp, cfg_file)) {
        snprintf(err, errlen, "ERR Rewriting config file: %s", strerror(errno));
        rc = ERR_IO;
    }
    sbuf_free(&out);
    return rc;
}
