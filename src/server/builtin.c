/* The server's own commands: connection (PING, ECHO, QUIT, RESET, SELECT,
 * AUTH, HELLO, CLIENT), introspection (COMMAND, CONFIG, INFO, SLOWLOG,
 * LATENCY, TIME, MONITOR), transactions (MULTI, EXEC, DISCARD, WATCH,
 * UNWATCH), pub/sub and process control (SHUTDOWN, DEBUG SLEEP).
 * They use the same cmd_def table shape as the commands layer. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/srv.h"
#include "util/glob.h"

static const char *arg(srv_client *c, int i)
{
    return c->argv[i];
}

/* ---------------- connection ---------------- */

static void ping_cmd(srv_client *c)
{
    if (c->argc > 2) {
        reply_error_arity(c);
        return;
    }
    if ((c->flags & CL_PUBSUB) && c->resp == 2) {
        reply_array(c, 2);
        reply_bulk(c, "pong", 4);
        if (c->argc == 2)
            reply_bulk(c, c->argv[1], c->argvlen[1]);
        else
            reply_bulk(c, "", 0);
        return;
    }
    if (c->argc == 2)
        reply_bulk(c, c->argv[1], c->argvlen[1]);
    else
        srv__add_reply(c, "+PONG\r\n", 7);
}

static void echo_cmd(srv_client *c)
{
    reply_bulk(c, c->argv[1], c->argvlen[1]);
}

static void quit_cmd(srv_client *c)
{
    reply_ok(c);
    c->flags |= CL_CLOSE_AFTER_REPLY;
}

static void select_cmd(srv_client *c)
{
    long long db;
    if (cmd_arg_ll(c, 1, &db)) {
        reply_error_not_int(c);
        return;
    }
    if (db < 0 || db >= srv_cfg.databases) {
        reply_error(c, "ERR DB index is out of range");
        return;
    }
    c->db = (int)db;
    reply_ok(c);
}

static int password_ok(const char *user, size_t ulen, const char *pass, size_t plen)
{
    if (ulen != 7 || strncmp(user, "default", 7)) return 0;
    const char *want = srv_cfg.requirepass ? srv_cfg.requirepass : "";
    size_t wl = strlen(want);
    if (!wl) return 1; /* nopass default user accepts anything */
    /* constant-time comparison */
    unsigned diff = (unsigned)(wl ^ plen);
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < plen ? pass[i] : 0);
    return diff == 0;
}

static void auth_cmd(srv_client *c)
{
    if (c->argc > 3) {
        reply_error_syntax(c);
        return;
    }
    if (c->argc == 2 && (!srv_cfg.requirepass || !srv_cfg.requirepass[0])) {
        reply_error(c, "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
        return;
    }
    const char *user = c->argc == 3 ? c->argv[1] : "default";
    size_t ulen = c->argc == 3 ? c->argvlen[1] : 7;
    int pi = c->argc - 1;
    if (password_ok(user, ulen, c->argv[pi], c->argvlen[pi])) {
        c->flags |= CL_AUTHENTICATED;
        reply_ok(c);
    } else {
        reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

static int valid_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '!' || s[i] > '~') return 0;
    return 1;
}

static void set_name(srv_client *c, const char *s, size_t n)
{
    free(c->name);
    c->name = NULL;
    if (n) {
        c->name = malloc(n + 1);
        if (!c->name) abort();
        memcpy(c->name, s, n);
        c->name[n] = 0;
    }
}

static void hello_cmd(srv_client *c)
{
    long long ver = 0;
    int i = 1;
    if (c->argc >= 2) {
        if (cmd_arg_ll(c, 1, &ver)) {
            reply_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            reply_error(c, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
    }
    const char *name = NULL;
    size_t namelen = 0;
    int authed_here = 0;
    for (; i < c->argc; i++) {
        int more = c->argc - i - 1;
        if (!strcasecmp(arg(c, i), "AUTH") && more >= 2) {
            if (!password_ok(c->argv[i + 1], c->argvlen[i + 1], c->argv[i + 2],
                             c->argvlen[i + 2])) {
                reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            authed_here = 1;
            i += 2;
        } else if (!strcasecmp(arg(c, i), "SETNAME") && more >= 1) {
            name = c->argv[i + 1];
            namelen = c->argvlen[i + 1];
            if (!valid_name(name, namelen)) {
                reply_error(c, "ERR Client names cannot contain spaces, newlines or special "
                               "characters.");
                return;
            }
            i++;
        } else {
            reply_errorf(c, "ERR Syntax error in HELLO option '%.128s'", arg(c, i));
            return;
        }
    }
    if (!(c->flags & CL_AUTHENTICATED) && !authed_here) {
        reply_error(c, "NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the "
                       "same time");
        return;
    }
    if (authed_here) c->flags |= CL_AUTHENTICATED;
    if (name) set_name(c, name, namelen);
    if (ver) c->resp = (int)ver;
    reply_map(c, 7);
    reply_bulk_cstr(c, "server");
    reply_bulk_cstr(c, "redis");
    reply_bulk_cstr(c, "version");
    reply_bulk_cstr(c, srv__version());
    reply_bulk_cstr(c, "proto");
    reply_int(c, c->resp);
    reply_bulk_cstr(c, "id");
    reply_int(c, (long long)c->id);
    reply_bulk_cstr(c, "mode");
    reply_bulk_cstr(c, "standalone");
    reply_bulk_cstr(c, "role");
    reply_bulk_cstr(c, "master");
    reply_bulk_cstr(c, "modules");
    reply_array(c, 0);
}

static void reset_cmd(srv_client *c)
{
    srv__discard(c);
    srv__unsubscribe_all(c, 0, 0);
    srv__unsubscribe_all(c, 1, 0);
    if (c->flags & CL_MONITOR) srv.monitors--;
    c->flags &= ~(CL_MONITOR | CL_REPLY_OFF | CL_REPLY_SKIP | CL_REPLY_SKIP_NEXT | CL_NO_EVICT);
    c->db = 0;
    c->resp = 2;
    set_name(c, NULL, 0);
    if (srv_cfg.requirepass && srv_cfg.requirepass[0]) c->flags &= ~CL_AUTHENTICATED;
    srv__add_reply(c, "+RESET\r\n", 8);
}

/* ---------------- CLIENT ---------------- */

static const char *client_type(srv_client *c)
{
    if (c->flags & CL_PUBSUB) return "pubsub";
    return "normal";
}

void srv__client_info(srv_client *c, sbuf *out)
{
    char flags[16];
    int f = 0;
    if (c->flags & CL_PUBSUB) flags[f++] = 'P';
    if (c->flags & CL_MULTI) flags[f++] = 'x';
    if (c->flags & CL_DIRTY_CAS) flags[f++] = 'd';
    if (c->flags & CL_CLOSE_AFTER_REPLY) flags[f++] = 'c';
    if (c->flags & CL_CLOSE_ASAP) flags[f++] = 'A';
    if (c->flags & CL_MONITOR) flags[f++] = 'O';
    if (c->flags & CL_NO_EVICT) flags[f++] = 'e';
    if (!f) flags[f++] = 'N';
    flags[f] = 0;
    uint64_t now = ev_now_ms();
    size_t obl = c->bufpos - c->sentlen;
    int oll = 0;
    for (ochunk *ch = c->head; ch; ch = ch->next) oll++;
    sbuf_printf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%llu flags=%s db=%d sub=%d "
                "psub=%d ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu "
                "rbp=%zu obl=%zu oll=%d omem=%zu tot-mem=%zu events=r%s cmd=%s user=default "
                "redir=-1 resp=%d",
                (unsigned long long)c->id, c->addr, c->laddr, c->fd, c->name ? c->name : "",
                (long long)(time(NULL) - c->ctime), (unsigned long long)(now - c->last_ms) / 1000,
                flags, c->db, (int)c->channels.count, (int)c->patterns.count,
                (c->flags & CL_MULTI) ? c->mq_len : -1, c->qlen - c->qpos, c->qcap - c->qlen,
                c->qcap, c->qbuf_peak, obl, oll, c->reply_bytes,
                sizeof(*c) + c->qcap + c->reply_bytes, srv__unsent(c) ? "w" : "",
                c->lastcmd ? c->lastcmd->name : "NULL", c->resp);
}

static void client_id_cmd(srv_client *c)
{
    reply_int(c, (long long)c->id);
}

static void client_setname_cmd(srv_client *c)
{
    if (!valid_name(c->argv[2], c->argvlen[2])) {
        reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    set_name(c, c->argv[2], c->argvlen[2]);
    reply_ok(c);
}

static void client_getname_cmd(srv_client *c)
{
    if (c->name)
        reply_bulk_cstr(c, c->name);
    else
        reply_null(c);
}

static void client_info_cmd(srv_client *c)
{
    sbuf out = {0};
    srv__client_info(c, &out);
    sbuf_puts(&out, "\n");
    reply_verbatim(c, out.buf, out.len, "txt");
    sbuf_free(&out);
}

static void client_list_cmd(srv_client *c)
{
    const char *type = NULL;
    int ids_from = 0;
    if (c->argc >= 4 && !strcasecmp(arg(c, 2), "TYPE") && c->argc == 4) {
        type = arg(c, 3);
        if (strcasecmp(type, "normal") && strcasecmp(type, "pubsub") &&
            strcasecmp(type, "master") && strcasecmp(type, "replica") &&
            strcasecmp(type, "slave")) {
            reply_errorf(c, "ERR Unknown client type '%s'", type);
            return;
        }
    } else if (c->argc >= 4 && !strcasecmp(arg(c, 2), "ID")) {
        ids_from = 3;
        for (int i = 3; i < c->argc; i++) {
            long long id;
            if (cmd_arg_ll(c, i, &id) || id <= 0) {
                reply_error(c, "ERR Invalid client ID");
                return;
            }
        }
    } else if (c->argc != 2) {
        reply_error_syntax(c);
        return;
    }
    sbuf out = {0};
    if (ids_from) {
        for (int i = ids_from; i < c->argc; i++) {
            long long id;
            cmd_arg_ll(c, i, &id);
            srv_client *o = srv__client_by_id((uint64_t)id);
            if (!o) continue;
            srv__client_info(o, &out);
            sbuf_puts(&out, "\n");
        }
    } else {
        /* oldest first, as Redis lists them */
        srv_client *last = srv.clients;
        while (last && last->next) last = last->next;
        for (srv_client *o = last; o; o = o->prev) {
            if (type && strcasecmp(type, client_type(o))) continue;
            srv__client_info(o, &out);
            sbuf_puts(&out, "\n");
        }
    }
    reply_verbatim(c, sbuf_str(&out), out.len, "txt");
    sbuf_free(&out);
}

static void client_kill_cmd(srv_client *c)
{
    if (c->argc == 3) { /* old form: CLIENT KILL addr:port */
        for (srv_client *o = srv.clients; o; o = o->next)
            if (!strcmp(o->addr, arg(c, 2))) {
                srv__client_close_asap(o);
                reply_ok(c);
                return;
            }
        reply_error(c, "ERR No such client");
        return;
    }
    long long id = 0;
    const char *addr = NULL, *laddr = NULL, *type = NULL, *user = NULL;
    int skipme = 1;
    if (c->argc % 2) {
        reply_error_syntax(c);
        return;
    }
    for (int i = 2; i + 1 < c->argc; i += 2) {
        const char *k = arg(c, i), *v = arg(c, i + 1);
        if (!strcasecmp(k, "ID")) {
            if (cmd_arg_ll(c, i + 1, &id) || id <= 0) {
                reply_error(c, "ERR client-id should be greater than 0");
                return;
            }
        } else if (!strcasecmp(k, "ADDR")) {
            addr = v;
        } else if (!strcasecmp(k, "LADDR")) {
            laddr = v;
        } else if (!strcasecmp(k, "TYPE")) {
            type = v;
            if (strcasecmp(type, "normal") && strcasecmp(type, "pubsub") &&
                strcasecmp(type, "master") && strcasecmp(type, "replica") &&
                strcasecmp(type, "slave")) {
                reply_errorf(c, "ERR Unknown client type '%s'", type);
                return;
            }
        } else if (!strcasecmp(k, "USER")) {
            user = v;
        } else if (!strcasecmp(k, "SKIPME")) {
            if (!strcasecmp(v, "yes"))
                skipme = 1;
            else if (!strcasecmp(v, "no"))
                skipme = 0;
            else {
                reply_error_syntax(c);
                return;
            }
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    if (user && strcmp(user, "default")) {
        reply_errorf(c, "ERR No such user '%s'", user);
        return;
    }
    long long killed = 0;
    for (srv_client *o = srv.clients; o; o = o->next) {
        if (id && o->id != (uint64_t)id) continue;
        if (addr && strcmp(o->addr, addr)) continue;
        if (laddr && strcmp(o->laddr, laddr)) continue;
        if (type && strcasecmp(type, client_type(o))) continue;
        if (o == c && skipme) continue;
        srv__client_close_asap(o);
        killed++;
    }
    reply_int(c, killed);
}

static void client_pause_cmd(srv_client *c)
{
    long long ms;
    if (cmd_arg_ll(c, 2, &ms) || ms < 0) {
        reply_error(c, "ERR timeout is not an integer or out of range");
        return;
    }
    int writes = 0;
    if (c->argc == 4) {
        if (!strcasecmp(arg(c, 3), "WRITE"))
            writes = 1;
        else if (strcasecmp(arg(c, 3), "ALL")) {
            reply_error(c, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    } else if (c->argc > 4) {
        reply_error_syntax(c);
        return;
    }
    uint64_t now = ev_now_ms(), end = now + (uint64_t)ms;
    if (!srv.pause_end_ms || srv.pause_end_ms <= now) {
        srv.pause_end_ms = end;
        srv.pause_writes_only = writes;
    } else { /* a pause is active: the longer end and the stronger mode win */
        if (end > srv.pause_end_ms) srv.pause_end_ms = end;
        srv.pause_writes_only = srv.pause_writes_only && writes;
    }
    reply_ok(c);
}

static void client_unpause_cmd(srv_client *c)
{
    srv.pause_end_ms = ev_now_ms(); /* the cron resumes the held clients */
    reply_ok(c);
}

static void client_reply_cmd(srv_client *c)
{
    if (!strcasecmp(arg(c, 2), "ON")) {
        c->flags &= ~(CL_REPLY_OFF | CL_REPLY_SKIP_NEXT | CL_REPLY_SKIP);
        reply_ok(c);
    } else if (!strcasecmp(arg(c, 2), "OFF")) {
        c->flags |= CL_REPLY_OFF;
    } else if (!strcasecmp(arg(c, 2), "SKIP")) {
        if (!(c->flags & CL_REPLY_OFF)) c->flags |= CL_REPLY_SKIP_NEXT;
    } else {
        reply_error_syntax(c);
    }
}

static void client_noevict_cmd(srv_client *c)
{
    if (!strcasecmp(arg(c, 2), "ON"))
        c->flags |= CL_NO_EVICT;
    else if (!strcasecmp(arg(c, 2), "OFF"))
        c->flags &= ~CL_NO_EVICT;
    else {
        reply_error_syntax(c);
        return;
    }
    reply_ok(c);
}

static void reply_help(srv_client *c, const char *cmd, const char *const *lines)
{
    int n = 0;
    while (lines[n]) n++;
    reply_array(c, n + 2);
    char head[128];
    snprintf(head, sizeof(head),
             "%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", cmd);
    reply_simple(c, head);
    for (int i = 0; i < n; i++) reply_simple(c, lines[i]);
    reply_simple(c, "HELP");
    reply_simple(c, "    Print this help.");
}

static void client_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "ID",
        "    Return the ID of the current connection.",
        "GETNAME",
        "    Return the name of the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "LIST [TYPE normal|pubsub] [ID <id> [<id> ...]]",
        "    Return information about client connections.",
        "KILL <ip:port> | <option> <value> [<option> <value> ...]",
        "    Kill connections (ID, ADDR, LADDR, TYPE, USER, SKIPME).",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend command processing for <timeout> milliseconds.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Accepted for compatibility; eviction does not apply.",
        NULL};
    reply_help(c, "CLIENT", lines);
}

/* ---------------- CONFIG ---------------- */

typedef struct get_acc {
    srv_client *c;
    sbuf names;  /* NUL-separated */
    sbuf values; /* NUL-separated */
    int n;
} get_acc;

static void config_emit_cb(void *arg_, const char *name, const char *value, size_t vlen)
{
    get_acc *a = arg_;
    sbuf_append(&a->names, name, strlen(name) + 1);
    sbuf_append(&a->values, value, vlen + 1);
    a->n++;
}

static void config_get_cmd(srv_client *c)
{
    const char *pats[64];
    int n = c->argc - 2 < 64 ? c->argc - 2 : 64;
    for (int i = 0; i < n; i++) pats[i] = arg(c, i + 2);
    get_acc a = {c, {0}, {0}, 0};
    config_get(pats, n, config_emit_cb, &a);
    reply_map(c, a.n);
    const char *np = sbuf_str(&a.names), *vp = sbuf_str(&a.values);
    for (int i = 0; i < a.n; i++) {
        reply_bulk_cstr(c, np);
        reply_bulk_cstr(c, vp);
        np += strlen(np) + 1;
        vp += strlen(vp) + 1;
    }
    sbuf_free(&a.names);
    sbuf_free(&a.values);
}

static void config_set_cmd(srv_client *c)
{
    if ((c->argc - 2) % 2) {
        reply_errorf(c, "ERR wrong number of arguments for 'config|set' command");
        return;
    }
    int n = (c->argc - 2) / 2;
    if (n > 64) {
        reply_error(c, "ERR too many parameters for CONFIG SET");
        return;
    }
    const char *names[64], *values[64];
    for (int i = 0; i < n; i++) {
        names[i] = arg(c, 2 + 2 * i);
        values[i] = arg(c, 3 + 2 * i);
    }
    char err[512];
    if (config_set(names, values, n, err, sizeof(err))) {
        reply_error(c, err);
        return;
    }
    reply_ok(c);
}

static void config_resetstat_cmd(srv_client *c)
{
    srv__reset_stats();
    reply_ok(c);
}

static void config_rewrite_cmd(srv_client *c)
{
    char err[512];
    if (config_rewrite(err, sizeof(err))) {
        reply_error(c, err);
        return;
    }
    reply_ok(c);
}

static void config_help_cmd(srv_client *c)
{
    static const char *const lines[] = {"GET <pattern>",
                                        "    Return parameters matching the glob-like <pattern> "
                                        "and their values.",
                                        "SET <directive> <value>",
                                        "    Set the configuration <directive> to <value>.",
                                        "RESETSTAT",
                                        "    Reset statistics reported by the INFO command.",
                                        "REWRITE",
                                        "    Rewrite the configuration file.",
                                        NULL};
    reply_help(c, "CONFIG", lines);
}

/* ---------------- COMMAND ---------------- */

static const struct {
    uint32_t bit;
    const char *name;
} flag_names[] = {
    {CMD_WRITE, "write"},
    {CMD_READONLY, "readonly"},
    {CMD_DENYOOM, "denyoom"},
    {CMD_ADMIN, "admin"},
    {CMD_PUBSUB, "pubsub"},
    {CMD_NOSCRIPT, "noscript"},
    {CMD_BLOCKING, "blocking"},
    {CMD_LOADING, "loading"},
    {CMD_STALE, "stale"},
    {CMD_FAST, "fast"},
    {CMD_NO_AUTH, "no_auth"},
    {CMD_NO_MULTI, "no_multi"},
    {CMD_SKIP_SLOWLOG, "skip_slowlog"},
    {CMD_ALLOW_BUSY, "allow_busy"},
};
#define NFLAGS ((int)(sizeof(flag_names) / sizeof(flag_names[0])))

static void reply_command_info(srv_client *c, cmd_entry *e)
{
    const cmd_def *d = e->def;
    reply_array(c, 10);
    reply_bulk_cstr(c, e->fullname);
    reply_int(c, d->arity);
    int nf = 0;
    for (int i = 0; i < NFLAGS; i++)
        if (d->flags & flag_names[i].bit) nf++;
    reply_set(c, nf);
    for (int i = 0; i < NFLAGS; i++)
        if (d->flags & flag_names[i].bit) reply_simple(c, flag_names[i].name);
    reply_int(c, d->first_key);
    reply_int(c, d->last_key);
    reply_int(c, d->key_step);
    reply_set(c, 0);   /* ACL categories */
    reply_set(c, 0);   /* tips */
    reply_array(c, 0); /* key specs: the legacy positions above describe the keys */
    reply_array(c, (long)e->subs.count);
    dict_iter it;
    dict_iter_init(&it, &e->subs);
    for (dict_entry *se; (se = dict_next(&it));) reply_command_info(c, se->val);
}

static void command_cmd(srv_client *c)
{
    reply_array(c, (long)srv.commands.count);
    dict_iter it;
    dict_iter_init(&it, &srv.commands);
    for (dict_entry *e; (e = dict_next(&it));) reply_command_info(c, e->val);
}

static void command_count_cmd(srv_client *c)
{
    reply_int(c, (long long)srv.commands.count);
}

static void command_list_cmd(srv_client *c)
{
    const char *pat = NULL;
    if (c->argc == 5 && !strcasecmp(arg(c, 2), "FILTERBY") && !strcasecmp(arg(c, 3), "PATTERN"))
        pat = arg(c, 4);
    else if (c->argc != 2) {
        reply_error_syntax(c);
        return;
    }
    reply_deferred *d = reply_defer(c);
    long n = 0;
    for (int i = 0; i < srv.nentries; i++) {
        cmd_entry *e = srv.entries[i];
        if (pat && !glob_match(pat, strlen(pat), e->fullname, strlen(e->fullname), 1)) continue;
        reply_bulk_cstr(c, e->fullname);
        n++;
    }
    reply_defer_array(c, d, n);
}

static cmd_entry *find_fullname(const char *name)
{
    const char *bar = strchr(name, '|');
    cmd_entry *e = srv__lookup(name, bar ? (size_t)(bar - name) : strlen(name));
    if (e && bar) {
        dict_entry *se = dict_find(&e->subs, bar + 1, strlen(bar + 1));
        e = se ? se->val : NULL;
    }
    return e;
}

static void command_info_cmd(srv_client *c)
{
    if (c->argc == 2) {
        command_cmd(c);
        return;
    }
    reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        cmd_entry *e = find_fullname(arg(c, i));
        if (e)
            reply_command_info(c, e);
        else
            reply_null_array(c);
    }
}

static void reply_docs(srv_client *c, cmd_entry *e)
{
    const cmd_def *d = e->def;
    int n = 4 + (e->subs.count ? 1 : 0);
    reply_map(c, n);
    reply_bulk_cstr(c, "summary");
    reply_bulk_cstr(c, d->summary ? d->summary : "");
    reply_bulk_cstr(c, "since");
    reply_bulk_cstr(c, d->since ? d->since : "1.0.0");
    reply_bulk_cstr(c, "group");
    reply_bulk_cstr(c, d->group ? d->group : "generic");
    reply_bulk_cstr(c, "complexity");
    reply_bulk_cstr(c, d->complexity ? d->complexity : "");
    if (e->subs.count) {
        reply_bulk_cstr(c, "subcommands");
        reply_map(c, (long)e->subs.count);
        dict_iter it;
        dict_iter_init(&it, &e->subs);
        for (dict_entry *se; (se = dict_next(&it));) {
            cmd_entry *s = se->val;
            reply_bulk_cstr(c, s->fullname);
            reply_docs(c, s);
        }
    }
}

static void command_docs_cmd(srv_client *c)
{
    if (c->argc == 2) {
        reply_map(c, (long)srv.commands.count);
        dict_iter it;
        dict_iter_init(&it, &srv.commands);
        for (dict_entry *e; (e = dict_next(&it));) {
            cmd_entry *ce = e->val;
            reply_bulk_cstr(c, ce->fullname);
            reply_docs(c, ce);
        }
        return;
    }
    reply_deferred *dd = reply_defer(c);
    long n = 0;
    for (int i = 2; i < c->argc; i++) {
        cmd_entry *e = find_fullname(arg(c, i));
        if (!e) continue;
        reply_bulk_cstr(c, e->fullname);
        reply_docs(c, e);
        n++;
    }
    reply_defer_map(c, dd, n);
}

static void command_getkeys_cmd(srv_client *c)
{
    cmd_entry *e = srv__lookup(c->argv[2], c->argvlen[2]);
    if (e && e->subs.count && c->argc >= 4) {
        dict_entry *se = dict_find(&e->subs, c->argv[3], c->argvlen[3]);
        e = se ? se->val : NULL;
    }
    if (!e) {
        reply_error(c, "ERR Invalid command specified");
        return;
    }
    const cmd_def *d = e->def;
    int argc = c->argc - 2;
    if ((d->arity > 0 && d->arity != argc) || argc < -d->arity) {
        reply_error(c, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (d->first_key <= 0) {
        reply_error(c, "ERR The command has no key arguments");
        return;
    }
    int last = d->last_key < 0 ? argc + d->last_key : d->last_key;
    int step = d->key_step > 0 ? d->key_step : 1;
    reply_deferred *dd = reply_defer(c);
    long n = 0;
    for (int i = d->first_key; i <= last && i < argc; i += step) {
        reply_bulk(c, c->argv[i + 2], c->argvlen[i + 2]);
        n++;
    }
    reply_defer_array(c, dd, n);
}

static void command_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "(no subcommand)",
        "    Return details about all commands.",
        "COUNT",
        "    Return the total number of commands in this server.",
        "LIST [FILTERBY PATTERN <pattern>]",
        "    Return a list of all commands in this server.",
        "INFO [<command-name> ...]",
        "    Return details about the given commands.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about the given commands.",
        "GETKEYS <full-command>",
        "    Return the keys from a full command.",
        NULL};
    reply_help(c, "COMMAND", lines);
}

/* ---------------- transactions ---------------- */

static void multi_cmd(srv_client *c)
{
    if (c->flags & CL_MULTI) {
        reply_error(c, "ERR MULTI calls can not be nested");
        return;
    }
    c->flags |= CL_MULTI;
    reply_ok(c);
}

static void exec_cmd(srv_client *c)
{
    srv__exec(c);
}

static void discard_cmd(srv_client *c)
{
    if (!(c->flags & CL_MULTI)) {
        reply_error(c, "ERR DISCARD without MULTI");
        return;
    }
    srv__discard(c);
    reply_ok(c);
}

static void watch_cmd(srv_client *c)
{
    if (c->flags & CL_MULTI) {
        reply_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    for (int i = 1; i < c->argc; i++) srv__watch(c, c->argv[i], c->argvlen[i]);
    reply_ok(c);
}

static void unwatch_cmd(srv_client *c)
{
    srv__unwatch_all(c);
    reply_ok(c);
}

/* ---------------- pub/sub ---------------- */

static void subscribe_cmd(srv_client *c)
{
    for (int i = 1; i < c->argc; i++) srv__subscribe(c, c->argv[i], c->argvlen[i], 0);
}

static void psubscribe_cmd(srv_client *c)
{
    for (int i = 1; i < c->argc; i++) srv__subscribe(c, c->argv[i], c->argvlen[i], 1);
}

static void unsubscribe_cmd(srv_client *c)
{
    if (c->argc == 1)
        srv__unsubscribe_all(c, 0, 1);
    else
        for (int i = 1; i < c->argc; i++) srv__unsubscribe(c, c->argv[i], c->argvlen[i], 0, 1);
}

static void punsubscribe_cmd(srv_client *c)
{
    if (c->argc == 1)
        srv__unsubscribe_all(c, 1, 1);
    else
        for (int i = 1; i < c->argc; i++) srv__unsubscribe(c, c->argv[i], c->argvlen[i], 1, 1);
}

static void publish_cmd(srv_client *c)
{
    reply_int(c, srv__publish(c->argv[1], c->argvlen[1], c->argv[2], c->argvlen[2]));
}

static void pubsub_channels_cmd(srv_client *c)
{
    if (c->argc > 3) {
        reply_error_arity(c);
        return;
    }
    reply_deferred *d = reply_defer(c);
    long n = 0;
    dict_iter it;
    dict_iter_init(&it, &srv.pubsub_channels);
    for (dict_entry *e; (e = dict_next(&it));) {
        if (c->argc == 3 && !glob_match(c->argv[2], c->argvlen[2], e->key, e->klen, 0)) continue;
        reply_bulk(c, e->key, e->klen);
        n++;
    }
    reply_defer_array(c, d, n);
}

static void pubsub_numsub_cmd(srv_client *c)
{
    reply_map(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        dict_entry *e = dict_find(&srv.pubsub_channels, c->argv[i], c->argvlen[i]);
        reply_bulk(c, c->argv[i], c->argvlen[i]);
        reply_int(c, e ? (long long)((dict *)e->val)->count : 0);
    }
}

static void pubsub_numpat_cmd(srv_client *c)
{
    reply_int(c, (long long)srv.pubsub_patterns.count);
}

static void pubsub_help_cmd(srv_client *c)
{
    static const char *const lines[] = {"CHANNELS [<pattern>]",
                                        "    Return the currently active channels matching a "
                                        "<pattern> (default: '*').",
                                        "NUMPAT",
                                        "    Return number of subscriptions to patterns.",
                                        "NUMSUB [<channel> ...]",
                                        "    Return the number of subscribers for the specified "
                                        "channels.",
                                        NULL};
    reply_help(c, "PUBSUB", lines);
}

/* ---------------- SLOWLOG, LATENCY, TIME, MONITOR ---------------- */

static void slowlog_get_cmd(srv_client *c)
{
    long long count = 10;
    if (c->argc == 3) {
        if (cmd_arg_ll(c, 2, &count) || count < -1) {
            reply_error(c, "ERR count should be greater than or equal to -1");
            return;
        }
        if (count == -1) count = srv.slowlog_len;
    } else if (c->argc > 3) {
        reply_error_arity(c);
        return;
    }
    if (count > srv.slowlog_len) count = srv.slowlog_len;
    reply_array(c, (long)count);
    for (long long i = 0; i < count; i++) {
        int idx = (srv.slowlog_head - 1 - (int)i + 2 * srv.slowlog_cap) % srv.slowlog_cap;
        slowlog_entry *e = &srv.slowlog[idx];
        reply_array(c, 6);
        reply_int(c, (long long)e->id);
        reply_int(c, e->time);
        reply_int(c, (long long)e->usec);
        reply_array(c, e->argc);
        for (int j = 0; j < e->argc; j++) reply_bulk(c, e->argv[j], e->argvlen[j]);
        reply_bulk_cstr(c, e->addr);
        reply_bulk_cstr(c, e->name);
    }
}

static void slowlog_len_cmd(srv_client *c)
{
    reply_int(c, srv.slowlog_len);
}

static void slowlog_reset_cmd(srv_client *c)
{
    srv__slowlog_reset();
    reply_ok(c);
}

static void slowlog_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 for all).",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        NULL};
    reply_help(c, "SLOWLOG", lines);
}

static void latency_latest_cmd(srv_client *c)
{
    reply_array(c, srv.nlatency);
    for (int i = 0; i < srv.nlatency; i++) {
        latency_event *e = &srv.latency[i];
        reply_array(c, 4);
        reply_bulk_cstr(c, e->name);
        reply_int(c, e->last_time);
        reply_int(c, (long long)e->last_ms);
        reply_int(c, (long long)e->max_ms);
    }
}

static void latency_history_cmd(srv_client *c)
{
    for (int i = 0; i < srv.nlatency; i++) {
        latency_event *e = &srv.latency[i];
        if (strcasecmp(e->name, arg(c, 2))) continue;
        reply_array(c, e->hlen);
        int start = (e->hpos - e->hlen + 160) % 160;
        for (int j = 0; j < e->hlen; j++) {
            int k = (start + j) % 160;
            reply_array(c, 2);
            reply_int(c, e->ht[k]);
            reply_int(c, (long long)e->hv[k]);
        }
        return;
    }
    reply_array(c, 0);
}

static void latency_reset_cmd(srv_client *c)
{
    long long n = 0;
    if (c->argc == 2) {
        n = srv.nlatency;
        srv.nlatency = 0;
    } else {
        for (int a = 2; a < c->argc; a++)
            for (int i = 0; i < srv.nlatency; i++)
                if (!strcasecmp(srv.latency[i].name, arg(c, a))) {
                    srv.latency[i] = srv.latency[--srv.nlatency];
                    n++;
                    break;
                }
    }
    reply_int(c, n);
}

static void latency_help_cmd(srv_client *c)
{
    static const char *const lines[] = {"LATEST",
                                        "    Return the latest latency samples for all events.",
                                        "HISTORY <event>",
                                        "    Return latency samples for the <event>.",
                                        "RESET [<event> ...]",
                                        "    Reset latency data of one or more <event> classes.",
                                        NULL};
    reply_help(c, "LATENCY", lines);
}

static void time_cmd(srv_client *c)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    reply_array(c, 2);
    reply_bulk_ll(c, (long long)tv.tv_sec);
    reply_bulk_ll(c, (long long)tv.tv_usec);
}

static void monitor_cmd(srv_client *c)
{
    if (c->flags & CL_MONITOR) return;
    c->flags |= CL_MONITOR;
    srv.monitors++;
    reply_ok(c);
}

static void shutdown_cmd(srv_client *c)
{
    for (int i = 1; i < c->argc; i++) {
        const char *a = arg(c, i);
        if (strcasecmp(a, "NOSAVE") && strcasecmp(a, "SAVE") && strcasecmp(a, "NOW") &&
            strcasecmp(a, "FORCE") && strcasecmp(a, "ABORT")) {
            reply_error_syntax(c);
            return;
        }
        if (!strcasecmp(a, "ABORT")) {
            reply_error(c, "ERR No shutdown in progress.");
            return;
        }
    }
    srv.shutdown_asap = 1;
    c->flags |= CL_REPLY_OFF; /* the connection closes without a reply, as in Redis */
}

static void debug_sleep_cmd(srv_client *c)
{
    double secs;
    if (cmd_arg_double(c, 2, &secs) || secs < 0 || secs > 3600) {
        reply_error_not_float(c);
        return;
    }
    struct timespec ts = {(time_t)secs, (long)((secs - floor(secs)) * 1e9)};
    nanosleep(&ts, NULL);
    reply_ok(c);
}

static void debug_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
        "    Sync and close the storage engine, then open it again from the data directory.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        NULL};
    reply_help(c, "DEBUG", lines);
}

static void info_cmd(srv_client *c)
{
    sbuf out = {0};
    if (c->argc == 1)
        srv__info(c, "default", &out);
    else
        for (int i = 1; i < c->argc; i++) srv__info(c, arg(c, i), &out);
    reply_verbatim(c, sbuf_str(&out), out.len, "txt");
    sbuf_free(&out);
}

/* ---------------- the table ---------------- */

#define CONN  (CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)
#define ADMIN (CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

static const cmd_def client_subs[] = {
    {"client|id", 2, CONN, 0, 0, 0, client_id_cmd, "connection",
     "Returns the unique client ID of the connection.", "5.0.0", "O(1)"},
    {"client|setname", 3, CONN, 0, 0, 0, client_setname_cmd, "connection",
     "Sets the connection name.", "2.6.9", "O(1)"},
    {"client|getname", 2, CONN, 0, 0, 0, client_getname_cmd, "connection",
     "Returns the name of the connection.", "2.6.9", "O(1)"},
    {"client|info", 2, CONN, 0, 0, 0, client_info_cmd, "connection",
     "Returns information about the connection.", "6.2.0", "O(1)"},
    {"client|list", -2, ADMIN, 0, 0, 0, client_list_cmd, "connection", "Lists open connections.",
     "2.4.0", "O(N) where N is the number of client connections"},
    {"client|kill", -3, ADMIN, 0, 0, 0, client_kill_cmd, "connection",
     "Terminates open connections.", "2.4.0", "O(N) where N is the number of client connections"},
    {"client|pause", -3, ADMIN, 0, 0, 0, client_pause_cmd, "connection",
     "Suspends commands processing.", "3.0.0", "O(1)"},
    {"client|unpause", 2, ADMIN, 0, 0, 0, client_unpause_cmd, "connection",
     "Resumes processing commands from paused clients.", "6.2.0",
     "O(N) Where N is the number of paused clients"},
    {"client|reply", 3, CONN, 0, 0, 0, client_reply_cmd, "connection",
     "Instructs the server whether to reply to commands.", "3.2.0", "O(1)"},
    {"client|no-evict", 3, ADMIN, 0, 0, 0, client_noevict_cmd, "connection",
     "Sets the client eviction mode of the connection.", "7.0.0", "O(1)"},
    {"client|help", 2, CONN, 0, 0, 0, client_help_cmd, "connection",
     "Returns helpful text about the different subcommands.", "5.0.0", "O(1)"},
    {0},
};

static const cmd_def config_subs[] = {
    {"config|get", -3, ADMIN, 0, 0, 0, config_get_cmd, "server",
     "Returns the effective values of configuration parameters.", "2.0.0",
     "O(N) when N is the number of configuration parameters provided"},
    {"config|set", -4, ADMIN, 0, 0, 0, config_set_cmd, "server",
     "Sets configuration parameters in-flight.", "2.0.0",
     "O(N) when N is the number of configuration parameters provided"},
    {"config|resetstat", 2, ADMIN, 0, 0, 0, config_resetstat_cmd, "server",
     "Resets the server's statistics.", "2.0.0", "O(1)"},
    {"config|rewrite", 2, ADMIN, 0, 0, 0, config_rewrite_cmd, "server",
     "Persists the effective configuration to file.", "2.8.0", "O(1)"},
    {"config|help", 2, CONN, 0, 0, 0, config_help_cmd, "server",
     "Returns helpful text about the different subcommands.", "5.0.0", "O(1)"},
    {0},
};

static const cmd_def command_subs[] = {
    {"command|count", 2, CONN, 0, 0, 0, command_count_cmd, "server", "Returns a count of commands.",
     "2.8.13", "O(1)"},
    {"command|info", -2, CONN, 0, 0, 0, command_info_cmd, "server",
     "Returns information about one, multiple or all commands.", "2.8.13",
     "O(N) where N is the number of commands to look up"},
    {"command|docs", -2, CONN, 0, 0, 0, command_docs_cmd, "server",
     "Returns documentary information about one, multiple or all commands.", "7.0.0",
     "O(N) where N is the number of commands to look up"},
    {"command|getkeys", -4, CONN, 0, 0, 0, command_getkeys_cmd, "server",
     "Extracts the key names from an arbitrary command.", "2.8.13",
     "O(N) where N is the number of arguments to the command"},
    {"command|list", -2, CONN, 0, 0, 0, command_list_cmd, "server",
     "Returns a list of command names.", "7.0.0", "O(N) where N is the total number of commands"},
    {"command|help", 2, CONN, 0, 0, 0, command_help_cmd, "server",
     "Returns helpful text about the different subcommands.", "5.0.0", "O(1)"},
    {0},
};

static const cmd_def pubsub_subs[] = {
    {"pubsub|channels", -2, CMD_PUBSUB | CONN, 0, 0, 0, pubsub_channels_cmd, "pubsub",
     "Returns the active channels.", "2.8.0", "O(N) where N is the number of active channels"},
    {"pubsub|numsub", -2, CMD_PUBSUB | CONN, 0, 0, 0, pubsub_numsub_cmd, "pubsub",
     "Returns a count of subscribers to channels.", "2.8.0",
     "O(N) for the NUMSUB subcommand, where N is the number of requested channels"},
    {"pubsub|numpat", 2, CMD_PUBSUB | CONN, 0, 0, 0, pubsub_numpat_cmd, "pubsub",
     "Returns a count of unique pattern subscriptions.", "2.8.0", "O(1)"},
    {"pubsub|help", 2, CONN, 0, 0, 0, pubsub_help_cmd, "pubsub",
     "Returns helpful text about the different subcommands.", "6.2.0", "O(1)"},
    {0},
};

static const cmd_def slowlog_subs[] = {
    {"slowlog|get", -2, ADMIN, 0, 0, 0, slowlog_get_cmd, "server",
     "Returns the slow log's entries.", "2.2.12", "O(N) where N is the number of entries returned"},
    {"slowlog|len", 2, ADMIN, 0, 0, 0, slowlog_len_cmd, "server",
     "Returns the number of entries in the slow log.", "2.2.12", "O(1)"},
    {"slowlog|reset", 2, ADMIN, 0, 0, 0, slowlog_reset_cmd, "server",
     "Clears all entries from the slow log.", "2.2.12",
     "O(N) where N is the number of entries in the slowlog"},
    {"slowlog|help", 2, CONN, 0, 0, 0, slowlog_help_cmd, "server",
     "Show helpful text about the different subcommands", "6.2.0", "O(1)"},
    {0},
};

static const cmd_def latency_subs[] = {
    {"latency|latest", 2, ADMIN, 0, 0, 0, latency_latest_cmd, "server",
     "Returns the latest latency samples for all events.", "2.8.13", "O(1)"},
    {"latency|history", 3, ADMIN, 0, 0, 0, latency_history_cmd, "server",
     "Returns timestamp-latency samples for an event.", "2.8.13", "O(1)"},
    {"latency|reset", -2, ADMIN, 0, 0, 0, latency_reset_cmd, "server",
     "Resets the latency data for one or more events.", "2.8.13", "O(1)"},
    {"latency|help", 2, CONN, 0, 0, 0, latency_help_cmd, "server",
     "Returns helpful text about the different subcommands.", "2.8.13", "O(1)"},
    {0},
};

static const cmd_def debug_subs[] = {
    {"debug|sleep", 3, ADMIN, 0, 0, 0, debug_sleep_cmd, "server",
     "Blocks the server for the given number of seconds.", "1.0.0", "O(1)"},
    {"debug|help", 2, ADMIN, 0, 0, 0, debug_help_cmd, "server",
     "Returns helpful text about the different subcommands.", "1.0.0", "O(1)"},
    {0},
};

#define PS (CMD_PUBSUB | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE)

static const cmd_def builtin[] = {
    {"ping", -1, CMD_FAST, 0, 0, 0, ping_cmd, "connection",
     "Returns the server's liveliness response.", "1.0.0", "O(1)"},
    {"echo", 2, CMD_FAST, 0, 0, 0, echo_cmd, "connection", "Returns the given string.", "1.0.0",
     "O(1)"},
    {"quit", -1, CONN | CMD_FAST | CMD_NO_AUTH | CMD_ALLOW_BUSY, 0, 0, 0, quit_cmd, "connection",
     "Closes the connection.", "1.0.0", "O(1)"},
    {"reset", 1, CONN | CMD_FAST | CMD_NO_AUTH | CMD_ALLOW_BUSY, 0, 0, 0, reset_cmd, "connection",
     "Resets the connection.", "6.2.0", "O(1)"},
    {"select", 2, CONN | CMD_FAST, 0, 0, 0, select_cmd, "connection",
     "Changes the selected database.", "1.0.0", "O(1)"},
    {"auth", -2, CONN | CMD_FAST | CMD_NO_AUTH | CMD_ALLOW_BUSY, 0, 0, 0, auth_cmd, "connection",
     "Authenticates the connection.", "1.0.0",
     "O(N) where N is the number of passwords defined for the user"},
    {"hello", -1, CONN | CMD_FAST | CMD_NO_AUTH | CMD_ALLOW_BUSY, 0, 0, 0, hello_cmd, "connection",
     "Handshakes with the Redis server.", "6.0.0", "O(1)"},
    {"client", -2, 0, 0, 0, 0, NULL, "connection", "A container for client connection commands.",
     "2.4.0", "Depends on subcommand.", client_subs},
    {"config", -2, 0, 0, 0, 0, NULL, "server", "A container for server configuration commands.",
     "2.0.0", "Depends on subcommand.", config_subs},
    {"command", -1, CONN, 0, 0, 0, command_cmd, "server",
     "Returns detailed information about all commands.", "2.8.13",
     "O(N) where N is the total number of Redis commands", command_subs},
    {"info", -1, CMD_LOADING | CMD_STALE, 0, 0, 0, info_cmd, "server",
     "Returns information and statistics about the server.", "1.0.0", "O(1)"},
    {"multi", 1, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_ALLOW_BUSY, 0, 0, 0,
     multi_cmd, "transactions", "Starts a transaction.", "1.2.0", "O(1)"},
    {"exec", 1, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_SKIP_SLOWLOG, 0, 0, 0, exec_cmd,
     "transactions", "Executes all commands in a transaction.", "1.2.0",
     "Depends on commands in the transaction"},
    {"discard", 1, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_ALLOW_BUSY, 0, 0, 0,
     discard_cmd, "transactions", "Discards a transaction.", "2.0.0",
     "O(N), when N is the number of queued commands"},
    {"watch", -2, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_ALLOW_BUSY, 1, -1, 1,
     watch_cmd, "transactions",
     "Monitors changes to keys to determine the execution of a transaction.", "2.2.0",
     "O(1) for every key."},
    {"unwatch", 1, CMD_NOSCRIPT | CMD_LOADING | CMD_STALE | CMD_FAST | CMD_ALLOW_BUSY, 0, 0, 0,
     unwatch_cmd, "transactions", "Forgets about watched keys of a transaction.", "2.2.0", "O(1)"},
    {"subscribe", -2, PS, 0, 0, 0, subscribe_cmd, "pubsub",
     "Listens for messages published to channels.", "2.0.0",
     "O(N) where N is the number of channels to subscribe to."},
    {"psubscribe", -2, PS, 0, 0, 0, psubscribe_cmd, "pubsub",
     "Listens for messages published to channels that match one or more patterns.", "2.0.0",
     "O(N) where N is the number of patterns the client is already subscribed to."},
    {"unsubscribe", -1, PS, 0, 0, 0, unsubscribe_cmd, "pubsub",
     "Stops listening to messages posted to channels.", "2.0.0",
     "O(N) where N is the number of clients already subscribed to a channel."},
    {"punsubscribe", -1, PS, 0, 0, 0, punsubscribe_cmd, "pubsub",
     "Stops listening to messages published to channels that match one or more patterns.", "2.0.0",
     "O(N+M)"},
    {"publish", 3, PS | CMD_FAST, 0, 0, 0, publish_cmd, "pubsub", "Posts a message to a channel.",
     "2.0.0", "O(N+M)"},
    {"pubsub", -2, 0, 0, 0, 0, NULL, "pubsub", "A container for Pub/Sub commands.", "2.8.0",
     "Depends on subcommand.", pubsub_subs},
    {"slowlog", -2, 0, 0, 0, 0, NULL, "server", "A container for slow log commands.", "2.2.12",
     "Depends on subcommand.", slowlog_subs},
    {"latency", -2, 0, 0, 0, 0, NULL, "server", "A container for latency diagnostics commands.",
     "2.8.13", "Depends on subcommand.", latency_subs},
    {"time", 1, CMD_LOADING | CMD_STALE | CMD_FAST | CMD_RANDOM, 0, 0, 0, time_cmd, "server",
     "Returns the server time.", "2.6.0", "O(1)"},
    {"monitor", 1, ADMIN, 0, 0, 0, monitor_cmd, "server",
     "Listens for all requests received by the server in real-time.", "1.0.0", ""},
    {"shutdown", -1, ADMIN | CMD_NO_MULTI | CMD_ALLOW_BUSY, 0, 0, 0, shutdown_cmd, "server",
     "Synchronously saves the database(s) to disk and shuts down the Redis server.", "1.0.0",
     "O(N) when saving, where N is the total number of keys in all databases"},
    {"debug", -2, ADMIN, 0, 0, 0, NULL, "server", "A container for debugging commands.", "1.0.0",
     "Depends on subcommand.", debug_subs},
    {0},
};

const cmd_def *srv__builtin_table(void)
{
    return builtin;
}
