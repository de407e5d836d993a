/* Reply writer; see reply.h. Encodes RESP2/RESP3 into the client's output
 * buffer through srv__add_reply(), which enforces the output limits. */
#include "server/reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/srv.h"

static inline void add(srv_client *c, const void *p, size_t n)
{
    srv__add_reply(c, p, n);
}

/* Writes "<prefix><v>\r\n" without printf (hot path). */
static void add_prefixed_ll(srv_client *c, char prefix, long long v)
{
    char tmp[32];
    char *e = tmp + sizeof(tmp);
    char *p = e;
    *--p = '\n';
    *--p = '\r';
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    *--p = prefix;
    add(c, p, (size_t)(e - p));
}

void reply_simple(srv_client *c, const char *s)
{
    add(c, "+", 1);
    add(c, s, strlen(s));
    add(c, "\r\n", 2);
}

void reply_ok(srv_client *c)
{
    add(c, "+OK\r\n", 5);
}

static void count_error(const char *msg)
{
    size_t n = strcspn(msg, " ");
    if (n > 32) n = 32;
    dict_entry *e = dict_find(&srv.error_stats, msg, n);
    if (!e) e = dict_add(&srv.error_stats, msg, n, NULL);
    e->val = (void *)((uintptr_t)e->val + 1);
    srv.stat_errors++;
}

void reply_error(srv_client *c, const char *msg)
{
    size_t n = strlen(msg);
    add(c, "-", 1);
    const char *p = msg;
    if (!memchr(msg, '\r', n) && !memchr(msg, '\n', n)) {
        add(c, p, n);
    } else {
        for (size_t i = 0; i < n; i++)
            add(c, (msg[i] == '\r' || msg[i] == '\n') ? " " : &msg[i], 1);
    }
    add(c, "\r\n", 2);
    count_error(msg);
    c->cmd_errors++;
}

void reply_errorf(srv_client *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    reply_error(c, buf);
}

void reply_error_syntax(srv_client *c)
{
    reply_error(c, "ERR syntax error");
}

void reply_error_not_int(srv_client *c)
{
    reply_error(c, "ERR value is not an integer or out of range");
}

void reply_error_not_float(srv_client *c)
{
    reply_error(c, "ERR value is not a valid float");
}

void reply_error_wrongtype(srv_client *c)
{
    reply_error(c, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

void reply_error_overflow(srv_client *c)
{
    reply_error(c, "ERR increment or decrement would overflow");
}

void reply_error_arity(srv_client *c)
{
    const char *name = "unknown";
    cmd_entry *e = c->cmd ? srv__lookup_argv(c) : NULL;
    if (e) name = e->fullname;
    reply_errorf(c, "ERR wrong number of arguments for '%s' command", name);
}

void reply_int(srv_client *c, long long v)
{
    if (v >= 0 && v < 10) {
        char s[4] = {':', (char)('0' + v), '\r', '\n'};
        add(c, s, 4);
        return;
    }
    add_prefixed_ll(c, ':', v);
}

void reply_bulk(srv_client *c, const void *p, size_t n)
{
    add_prefixed_ll(c, '$', (long long)n);
    add(c, p, n);
    add(c, "\r\n", 2);
}

void reply_bulk_cstr(srv_client *c, const char *s)
{
    if (!s)
        reply_null(c);
    else
        reply_bulk(c, s, strlen(s));
}

void reply_bulk_ll(srv_client *c, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    reply_bulk(c, tmp, (size_t)n);
}

void reply_null(srv_client *c)
{
    if (c->resp >= 3)
        add(c, "_\r\n", 3);
    else
        add(c, "$-1\r\n", 5);
}

void reply_null_array(srv_client *c)
{
    if (c->resp >= 3)
        add(c, "_\r\n", 3);
    else
        add(c, "*-1\r\n", 5);
}

void reply_array(srv_client *c, long n)
{
    add_prefixed_ll(c, '*', n);
}

void reply_map(srv_client *c, long pairs)
{
    if (c->resp >= 3)
        add_prefixed_ll(c, '%', pairs);
    else
        add_prefixed_ll(c, '*', pairs * 2);
}

void reply_set(srv_client *c, long n)
{
    add_prefixed_ll(c, c->resp >= 3 ? '~' : '*', n);
}

void reply_push(srv_client *c, long n)
{
    add_prefixed_ll(c, c->resp >= 3 ? '>' : '*', n);
}

/* Formats d the way Redis prints doubles: inf, -inf, or %.17g. */
static int fmt_double(char *buf, size_t len, double d)
{
    if (isinf(d)) return snprintf(buf, len, "%s", d > 0 ? "inf" : "-inf");
    if (isnan(d)) return snprintf(buf, len, "nan");
    return snprintf(buf, len, "%.17g", d);
}

void reply_double(srv_client *c, double d)
{
    char tmp[64];
    int n = fmt_double(tmp, sizeof(tmp), d);
    if (c->resp >= 3) {
        add(c, ",", 1);
        add(c, tmp, (size_t)n);
        add(c, "\r\n", 2);
    } else {
        reply_bulk(c, tmp, (size_t)n);
    }
}

void reply_bulk_ld(srv_client *c, long double d)
{
    char tmp[128];
    int n;
    if (isinf(d)) {
        n = snprintf(tmp, sizeof(tmp), "%s", d > 0 ? "inf" : "-inf");
    } else {
        n = snprintf(tmp, sizeof(tmp), "%.17Lf", d);
        if (memchr(tmp, '.', (size_t)n)) {
            while (n > 0 && tmp[n - 1] == '0') n--;
            if (n > 0 && tmp[n - 1] == '.') n--;
        }
        if (n == 2 && tmp[0] == '-' && tmp[1] == '0') tmp[0] = '0', n = 1;
    }
    reply_bulk(c, tmp, (size_t)n);
}

void reply_bool(srv_client *c, int v)
{
    if (c->resp >= 3)
        add(c, v ? "#t\r\n" : "#f\r\n", 4);
    else
        add(c, v ? ":1\r\n" : ":0\r\n", 4);
}

void reply_verbatim(srv_client *c, const void *p, size_t n, const char *ext)
{
    if (c->resp < 3) {
        reply_bulk(c, p, n);
        return;
    }
    add_prefixed_ll(c, '=', (long long)n + 4);
    add(c, ext, 3);
    add(c, ":", 1);
    add(c, p, n);
    add(c, "\r\n", 2);
}

/* A deferred length is its own chunk in the reply list: appends after it
 * always go to a new chunk, and the length is written into it later. */
reply_deferred *reply_defer(srv_client *c)
{
    return (reply_deferred *)srv__add_deferred(c);
}

static void set_deferred(srv_client *c, reply_deferred *d, char prefix, long n)
{
    ochunk *ch = (ochunk *)d;
    if (!ch) return;
    ch->used = (size_t)snprintf(ch->data, ch->size, "%c%ld\r\n", prefix, n);
    ch->deferred = 0;
    c->reply_bytes += ch->used;
}

void reply_defer_array(srv_client *c, reply_deferred *d, long n)
{
    set_deferred(c, d, '*', n);
}

void reply_defer_map(srv_client *c, reply_deferred *d, long pairs)
{
    if (c->resp >= 3)
        set_deferred(c, d, '%', pairs);
    else
        set_deferred(c, d, '*', pairs * 2);
}

void reply_defer_set(srv_client *c, reply_deferred *d, long n)
{
    set_deferred(c, d, c->resp >= 3 ? '~' : '*', n);
}

int reply_proto(const srv_client *c)
{
    return c->resp;
}
