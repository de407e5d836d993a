/* Generic key commands (DEL, EXISTS, TYPE, RENAME, COPY, MOVE, the expiry
 * family, TOUCH, RANDOMKEY, KEYS, SCAN, OBJECT, DUMP/RESTORE) and the DEBUG
 * subcommands that read the keyspace (DIGEST, DIGEST-VALUE). Replies follow
 * Redis 7.0; docs/compatibility.md lists the intended differences (OBJECT
 * FREQ/IDLETIME/REFCOUNT, the DUMP format, SCAN cursors and order). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/cmdutil.h"
#include "commands/data.h"
#include "util/err.h"

#define VARINT_BYTES 10

static const char *arg(srv_client *c, int i, size_t *n)
{
    return cmd_arg(c, i, n);
}

static void del_cmd(srv_client *c)
{
    long long n = 0;
    for (int i = 1; i < cmd_argc(c); i++) {
        ks_meta m;
        if (cmds__lookup(c, i, &m)) return;
        size_t kl;
        const char *k = arg(c, i, &kl);
        int rc = ks_delete(cmds__tx(c), cmd_db(c), k, kl, &m);
        ks_meta_release(&m);
        if (rc < 0) {
            cmds__reply_ks_error(c, rc);
            return;
        }
        n += rc;
    }
    if (n) cmd_stat_dirty((uint64_t)n);
    reply_int(c, n);
}

static void exists_cmd(srv_client *c)
{
    long long n = 0;
    for (int i = 1; i < cmd_argc(c); i++) {
        ks_meta m;
        if (cmds__lookup(c, i, &m)) return;
        n += m.exists;
        ks_meta_release(&m);
    }
    reply_int(c, n);
}

static const char *type_name(int t)
{
    return t == KS_STRING ? "string" : t == KS_HASH ? "hash" : "none";
}

static void type_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    reply_simple(c, m.exists ? type_name(m.type) : "none");
    ks_meta_release(&m);
}

static int same_arg(srv_client *c, int a, int b)
{
    size_t al, bl;
    const char *x = arg(c, a, &al), *y = arg(c, b, &bl);
    return al == bl && memcmp(x, y, al) == 0;
}

static void rename_generic(srv_client *c, int nx)
{
    ks_meta src, dst;
    if (cmds__lookup(c, 1, &src)) return;
    if (!src.exists) {
        reply_error(c, "ERR no such key");
        ks_meta_release(&src);
        return;
    }
    if (same_arg(c, 1, 2)) {
        if (nx)
            reply_int(c, 0);
        else
            reply_ok(c);
        ks_meta_release(&src);
        return;
    }
    if (cmds__lookup(c, 2, &dst)) {
        ks_meta_release(&src);
        return;
    }
    if (nx && dst.exists) {
        reply_int(c, 0);
    } else {
        size_t sl, dl;
        const char *s = arg(c, 1, &sl), *d = arg(c, 2, &dl);
        int rc = ks_copy(cmds__tx(c), cmd_db(c), s, sl, &src, cmd_db(c), d, dl, &dst, 1);
        if (rc) {
            cmds__reply_ks_error(c, rc);
        } else {
            cmd_stat_dirty(1);
            if (nx)
                reply_int(c, 1);
            else
                reply_ok(c);
        }
    }
    ks_meta_release(&src);
    ks_meta_release(&dst);
}

static void rename_cmd(srv_client *c)
{
    rename_generic(c, 0);
}

static void renamenx_cmd(srv_client *c)
{
    rename_generic(c, 1);
}

/* DB index argument: replies and returns -1 when invalid. */
static int parse_db(srv_client *c, int i, int *out)
{
    long long v;
    if (cmd_arg_ll(c, i, &v) || v < INT_MIN || v > INT_MAX) {
        reply_error_not_int(c);
        return -1;
    }
    if (v < 0 || v >= cmd_databases()) {
        reply_error(c, "ERR DB index is out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void copy_cmd(srv_client *c)
{
    int db = cmd_db(c), ddb = db, replace = 0;
    for (int j = 3; j < cmd_argc(c); j++) {
        if (cmd_arg_is(c, j, "replace")) {
            replace = 1;
        } else if (cmd_arg_is(c, j, "db") && j + 1 < cmd_argc(c)) {
            if (parse_db(c, ++j, &ddb)) return;
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    if (ddb == db && same_arg(c, 1, 2)) {
        reply_error(c, "ERR source and destination objects are the same");
        return;
    }
    ks_meta src, dst;
    if (cmds__lookup(c, 1, &src)) return;
    if (!src.exists) {
        reply_int(c, 0);
        ks_meta_release(&src);
        return;
    }
    size_t sl, dl;
    const char *s = arg(c, 1, &sl), *d = arg(c, 2, &dl);
    ks_txn *t = cmds__tx(c);
    int rc = ks_lookup(t, ddb, d, dl, &dst);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else if (dst.exists && !replace) {
        reply_int(c, 0);
    } else if ((rc = ks_copy(t, db, s, sl, &src, ddb, d, dl, &dst, 0))) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_touch_key(ddb, d, dl);
        cmd_stat_dirty(1);
        reply_int(c, 1);
    }
    ks_meta_release(&src);
    ks_meta_release(&dst);
}

static void move_cmd(srv_client *c)
{
    int ddb;
    if (parse_db(c, 2, &ddb)) return;
    if (ddb == cmd_db(c)) {
        reply_error(c, "ERR source and destination objects are the same");
        return;
    }
    ks_meta src, dst;
    if (cmds__lookup(c, 1, &src)) return;
    if (!src.exists) {
        reply_int(c, 0);
        ks_meta_release(&src);
        return;
    }
    size_t kl;
    const char *k = arg(c, 1, &kl);
    ks_txn *t = cmds__tx(c);
    int rc = ks_lookup(t, ddb, k, kl, &dst);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else if (dst.exists) {
        reply_int(c, 0);
    } else if ((rc = ks_copy(t, cmd_db(c), k, kl, &src, ddb, k, kl, &dst, 1))) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_touch_key(ddb, k, kl);
        cmd_stat_dirty(1);
        reply_int(c, 1);
    }
    ks_meta_release(&src);
    ks_meta_release(&dst);
}

/* ---- expiry ---- */

enum { X_NX = 1, X_XX = 2, X_GT = 4, X_LT = 8 };

/* EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key when [NX|XX|GT|LT]. */
static void expire_generic(srv_client *c, int64_t base_ms, int secs, const char *name)
{
    int flags = 0;
    for (int j = 3; j < cmd_argc(c); j++) {
        if (cmd_arg_is(c, j, "nx"))
            flags |= X_NX;
        else if (cmd_arg_is(c, j, "xx"))
            flags |= X_XX;
        else if (cmd_arg_is(c, j, "gt"))
            flags |= X_GT;
        else if (cmd_arg_is(c, j, "lt"))
            flags |= X_LT;
        else {
            reply_errorf(c, "ERR Unsupported option %s", arg(c, j, &(size_t){0}));
            return;
        }
    }
    if ((flags & X_NX) && (flags & (X_XX | X_GT | X_LT))) {
        reply_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & X_GT) && (flags & X_LT)) {
        reply_error(c, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (cmd_arg_ll_or_reply(c, 2, &when)) return;
    if (secs && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", name);
        return;
    }
    if (secs) when *= 1000;
    if (when > LLONG_MAX - base_ms) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when += base_ms;
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if (!m.exists) {
        reply_int(c, 0);
        goto done;
    }
    if (flags) {
        int64_t cur = m.expire_ms; /* 0: no expiry, an infinite TTL */
        if (((flags & X_NX) && cur) || ((flags & X_XX) && !cur) ||
            ((flags & X_GT) && (!cur || when <= cur)) || ((flags & X_LT) && cur && when >= cur)) {
            reply_int(c, 0);
            goto done;
        }
    }
    size_t kl;
    const char *k = arg(c, 1, &kl);
    int rc;
    if (when <= cmd_now_ms())
        rc = ks_delete(cmds__tx(c), cmd_db(c), k, kl, &m); /* already past: the key goes now */
    else
        rc = ks_set_expire(cmds__tx(c), cmd_db(c), k, kl, &m, when);
    if (rc < 0) {
        cmds__reply_ks_error(c, rc);
        goto done;
    }
    cmd_stat_dirty(1);
    reply_int(c, 1);
done:
    ks_meta_release(&m);
}

static void expire_cmd(srv_client *c)
{
    expire_generic(c, cmd_now_ms(), 1, "expire");
}
static void pexpire_cmd(srv_client *c)
{
    expire_generic(c, cmd_now_ms(), 0, "pexpire");
}
static void expireat_cmd(srv_client *c)
{
    expire_generic(c, 0, 1, "expireat");
}
static void pexpireat_cmd(srv_client *c)
{
    expire_generic(c, 0, 0, "pexpireat");
}

/* mode: 0 TTL, 1 PTTL, 2 EXPIRETIME, 3 PEXPIRETIME */
static void ttl_generic(srv_client *c, int mode)
{
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if (!m.exists)
        reply_int(c, -2);
    else if (!m.expire_ms)
        reply_int(c, -1);
    else if (mode == 2)
        reply_int(c, m.expire_ms / 1000);
    else if (mode == 3)
        reply_int(c, m.expire_ms);
    else {
        long long ttl = m.expire_ms - cmd_now_ms();
        if (ttl < 0) ttl = 0;
        reply_int(c, mode == 1 ? ttl : (ttl + 500) / 1000);
    }
    ks_meta_release(&m);
}

static void ttl_cmd(srv_client *c)
{
    ttl_generic(c, 0);
}
static void pttl_cmd(srv_client *c)
{
    ttl_generic(c, 1);
}
static void expiretime_cmd(srv_client *c)
{
    ttl_generic(c, 2);
}
static void pexpiretime_cmd(srv_client *c)
{
    ttl_generic(c, 3);
}

static void persist_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if (!m.exists || !m.expire_ms) {
        reply_int(c, 0);
    } else {
        size_t kl;
        const char *k = arg(c, 1, &kl);
        int rc = ks_set_expire(cmds__tx(c), cmd_db(c), k, kl, &m, 0);
        if (rc) {
            cmds__reply_ks_error(c, rc);
        } else {
            cmd_stat_dirty(1);
            reply_int(c, 1);
        }
    }
    ks_meta_release(&m);
}

static void randomkey_cmd(srv_client *c)
{
    void *k;
    size_t kl;
    int rc = ks_randomkey(cmds__tx(c), cmd_db(c), &k, &kl);
    if (rc == ERR_NOTFOUND) {
        reply_null(c);
    } else if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        reply_bulk(c, k, kl);
        free(k);
    }
}

/* ---- KEYS and SCAN ---- */

typedef struct keysink {
    srv_client *c;
    long n;
} keysink;

static int emit_key(void *arg, const void *key, size_t klen)
{
    keysink *s = arg;
    reply_bulk(s->c, key, klen);
    s->n++;
    return 0;
}

static void keys_cmd(srv_client *c)
{
    size_t pl;
    const char *p = arg(c, 1, &pl);
    keysink s = {c, 0};
    reply_deferred *d = reply_defer(c);
    uint64_t cur = 0;
    int rc = 0;
    do {
        rc = ks_scan(cmds__tx(c), cmd_db(c), cur, 4096, KS_NONE, p, pl, emit_key, &s, &cur);
    } while (!rc && cur);
    reply_defer_array(c, d, s.n);
}

static int type_by_name(srv_client *c, int i)
{
    if (cmd_arg_is(c, i, "string")) return KS_STRING;
    if (cmd_arg_is(c, i, "hash")) return KS_HASH;
    return -1; /* a type this server does not store: nothing matches */
}

int cmds__scan_args(srv_client *c, int i, int allow_type, uint64_t *cursor, const char **pat,
                    size_t *plen, long long *count, int *type)
{
    size_t cl;
    const char *cs = arg(c, i, &cl);
    char *end;
    errno = 0;
    unsigned long long cv = strtoull(cs, &end, 10);
    if (cl == 0 || (size_t)(end - cs) != cl || errno || cs[0] == '-' || cs[0] == '+' ||
        cs[0] == ' ') {
        reply_error(c, "ERR invalid cursor");
        return -1;
    }
    *cursor = cv;
    *pat = NULL;
    *plen = 0;
    *count = 10;
    *type = KS_NONE;
    for (int j = i + 1; j < cmd_argc(c); j += 2) {
        if (j + 1 >= cmd_argc(c)) {
            reply_error_syntax(c);
            return -1;
        }
        if (cmd_arg_is(c, j, "count")) {
            if (cmd_arg_ll_or_reply(c, j + 1, count)) return -1;
            if (*count < 1) {
                reply_error_syntax(c);
                return -1;
            }
        } else if (cmd_arg_is(c, j, "match")) {
            *pat = arg(c, j + 1, plen);
        } else if (allow_type && cmd_arg_is(c, j, "type")) {
            *type = type_by_name(c, j + 1);
        } else {
            reply_error_syntax(c);
            return -1;
        }
    }
    return 0;
}

/* Keys collected for a reply whose head (the cursor) is known last. */
typedef struct keyvec {
    char **k;
    size_t *l;
    size_t n, cap;
    int oom;
} keyvec;

static int collect_key(void *arg, const void *key, size_t klen)
{
    keyvec *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **nk = realloc(v->k, cap * sizeof(*nk));
        if (nk) v->k = nk;
        size_t *nl = realloc(v->l, cap * sizeof(*nl));
        if (nl) v->l = nl;
        if (!nk || !nl) {
            v->oom = 1;
            return 1;
        }
        v->cap = cap;
    }
    char *k = malloc(klen ? klen : 1);
    if (!k) {
        v->oom = 1;
        return 1;
    }
    memcpy(k, key, klen);
    v->k[v->n] = k;
    v->l[v->n++] = klen;
    return 0;
}

static void scan_cmd(srv_client *c)
{
    uint64_t cur, next = 0;
    const char *p;
    size_t pl;
    long long count;
    int type;
    if (cmds__scan_args(c, 1, 1, &cur, &p, &pl, &count, &type)) return;
    keyvec v = {0};
    int rc = 0;
    if (type >= 0)
        rc = ks_scan(cmds__tx(c), cmd_db(c), cur, (size_t)count, type, p, pl, collect_key, &v,
                     &next);
    if (rc || v.oom) {
        cmds__reply_ks_error(c, rc ? rc : ERR_NOMEM);
    } else {
        char buf[32];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)next);
        reply_array(c, 2);
        reply_bulk_cstr(c, buf);
        reply_array(c, (long)v.n);
        for (size_t i = 0; i < v.n; i++) reply_bulk(c, v.k[i], v.l[i]);
    }
    for (size_t i = 0; i < v.n; i++) free(v.k[i]);
    free(v.k);
    free(v.l);
}

static void touch_cmd(srv_client *c)
{
    exists_cmd(c);
}

/* ---- OBJECT ---- */

static int hash_small(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    if (flen > 64 || vlen > 64) {
        *(int *)arg = 0;
        return 1;
    }
    return 0;
}

static const char *encoding_of(srv_client *c, const ks_meta *m)
{
    if (m->type == KS_STRING) {
        long long v;
        if (m->vlen <= 20 && resp_str2ll((const char *)m->val, m->vlen, &v)) return "int";
        return m->vlen <= 44 ? "embstr" : "raw";
    }
    /* Hashes: the encoding Redis would pick with its default thresholds. */
    if (m->count > 128) return "hashtable";
    int small = 1;
    uint64_t next;
    size_t kl;
    const char *k = arg(c, 2, &kl);
    ks_hash_scan(cmds__tx(c), cmd_db(c), k, kl, m, 0, 0, hash_small, &small, &next);
    return small ? "listpack" : "hashtable";
}

static void object_lookup(srv_client *c, ks_meta *m, int *ok)
{
    *ok = 0;
    if (cmds__lookup(c, 2, m)) return;
    if (!m->exists) {
        reply_null(c);
        ks_meta_release(m);
        return;
    }
    *ok = 1;
}

static void object_encoding_cmd(srv_client *c)
{
    ks_meta m;
    int ok;
    object_lookup(c, &m, &ok);
    if (!ok) return;
    reply_bulk_cstr(c, encoding_of(c, &m));
    ks_meta_release(&m);
}

static void object_freq_cmd(srv_client *c)
{
    ks_meta m;
    int ok;
    object_lookup(c, &m, &ok);
    if (!ok) return;
    reply_error(c, "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                   "Please note that when switching between policies at runtime LRU and LFU data "
                   "will take some time to adjust.");
    ks_meta_release(&m);
}

static void object_idletime_cmd(srv_client *c)
{
    ks_meta m;
    int ok;
    object_lookup(c, &m, &ok);
    if (!ok) return;
    reply_int(c, 0); /* access times are not tracked (docs/compatibility.md) */
    ks_meta_release(&m);
}

static void object_refcount_cmd(srv_client *c)
{
    ks_meta m;
    int ok;
    object_lookup(c, &m, &ok);
    if (!ok) return;
    reply_int(c, 1);
    ks_meta_release(&m);
}

static void object_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help."};
    size_t n = sizeof(lines) / sizeof(lines[0]);
    reply_array(c, (long)n);
    for (size_t i = 0; i < n; i++) reply_simple(c, lines[i]);
}

/* ---- DUMP / RESTORE ---- */

static void dump_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if (!m.exists) {
        reply_null(c);
        ks_meta_release(&m);
        return;
    }
    uint8_t *p;
    size_t pl;
    size_t kl;
    const char *k = arg(c, 1, &kl);
    int rc = ks_dump(cmds__tx(c), cmd_db(c), k, kl, &m, &p, &pl);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        reply_bulk(c, p, pl);
        free(p);
    }
    ks_meta_release(&m);
}

static void restore_cmd(srv_client *c)
{
    int replace = 0, absttl = 0;
    long long ttl;
    for (int j = 4; j < cmd_argc(c); j++) {
        long long v;
        if (cmd_arg_is(c, j, "replace")) {
            replace = 1;
        } else if (cmd_arg_is(c, j, "absttl")) {
            absttl = 1;
        } else if (cmd_arg_is(c, j, "idletime") && j + 1 < cmd_argc(c)) {
            if (cmd_arg_ll_or_reply(c, ++j, &v)) return;
            if (v < 0) {
                reply_error(c, "ERR Invalid IDLETIME value, must be >= 0");
                return;
            }
        } else if (cmd_arg_is(c, j, "freq") && j + 1 < cmd_argc(c)) {
            if (cmd_arg_ll_or_reply(c, ++j, &v)) return;
            if (v < 0 || v > 255) {
                reply_error(c, "ERR Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    if (cmd_arg_ll_or_reply(c, 2, &ttl)) return;
    if (ttl < 0) {
        reply_error(c, "ERR Invalid TTL value, must be >= 0");
        return;
    }
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    size_t pl, kl;
    const char *p = arg(c, 3, &pl), *k = arg(c, 1, &kl);
    if (m.exists && !replace) {
        reply_error(c, "BUSYKEY Target key name already exists.");
        goto done;
    }
    if (ks_dump_verify(p, pl)) {
        reply_error(c, "ERR DUMP payload version or checksum are wrong");
        goto done;
    }
    int64_t expire = ttl ? (absttl ? ttl : ttl + cmd_now_ms()) : 0;
    int rc;
    if (expire && expire <= cmd_now_ms()) {
        /* Already expired: Redis answers OK and leaves no key (deleting a replaced one). */
        rc = m.exists ? ks_delete(cmds__tx(c), cmd_db(c), k, kl, &m) : 0;
    } else {
        rc = ks_restore(cmds__tx(c), cmd_db(c), k, kl, &m, p, pl, expire);
    }
    if (rc == ERR_CORRUPT) {
        reply_error(c, "ERR Bad data format");
    } else if (rc < 0) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_stat_dirty(1);
        reply_ok(c);
    }
done:
    ks_meta_release(&m);
}

/* ---- DEBUG DIGEST / DIGEST-VALUE ---- */

static void debug_digest_cmd(srv_client *c)
{
    char out[41];
    int rc = ks_digest(cmds__tx(c), out);
    if (rc)
        cmds__reply_ks_error(c, rc);
    else
        reply_simple(c, out);
}

static void debug_digest_value_cmd(srv_client *c)
{
    int n = cmd_argc(c) - 2;
    char(*out)[41] = calloc((size_t)(n ? n : 1), 41);
    if (!out) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t kl;
        const char *k = arg(c, i + 2, &kl);
        int rc = ks_digest_value(cmds__tx(c), cmd_db(c), k, kl, out[i]);
        if (rc) {
            cmds__reply_ks_error(c, rc);
            free(out);
            return;
        }
    }
    reply_array(c, n);
    for (int i = 0; i < n; i++) reply_simple(c, out[i]);
    free(out);
}

/* ---- MEMORY USAGE ---- */

typedef struct usage {
    uint64_t bytes, n;
} usage;

static int add_usage(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    usage *u = arg;
    u->bytes += flen + vlen + 16 + 8; /* field key prefix (16) and engine entry overhead (8) */
    u->n++;
    return 0;
}

/* MEMORY USAGE key [SAMPLES n]: the bytes the key takes in the engine (its
 * metadata record and its field records, with per-record overhead); for a
 * hash, SAMPLES fields are measured and the rest extrapolated (0 = all). */
static void memory_usage_cmd(srv_client *c)
{
    long long samples = 5;
    for (int j = 3; j < cmd_argc(c); j++) {
        if (cmd_arg_is(c, j, "samples") && j + 1 < cmd_argc(c)) {
            if (cmd_arg_ll_or_reply(c, ++j, &samples)) return;
            if (samples < 0) {
                reply_error_syntax(c);
                return;
            }
        } else {
            reply_error_syntax(c);
            return;
        }
    }
    ks_meta m;
    if (cmds__lookup(c, 2, &m)) return;
    if (!m.exists) {
        reply_null(c);
        ks_meta_release(&m);
        return;
    }
    size_t kl;
    const char *k = arg(c, 2, &kl);
    uint64_t bytes = kl + 8 + 2 + (m.expire_ms ? 8 : 0) + 8; /* metadata key, header, expiry */
    if (m.type == KS_STRING) {
        bytes += m.vlen;
    } else {
        usage u = {0, 0};
        uint64_t next;
        size_t want = samples == 0 ? 0 : (size_t)samples;
        ks_hash_scan(cmds__tx(c), cmd_db(c), k, kl, &m, 0, want, add_usage, &u, &next);
        bytes += 2 * VARINT_BYTES;
        if (u.n) bytes += u.bytes * (m.count > u.n ? m.count : u.n) / u.n;
    }
    reply_int(c, (long long)bytes);
    ks_meta_release(&m);
}

static void memory_help_cmd(srv_client *c)
{
    static const char *const lines[] = {
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help."};
    size_t n = sizeof(lines) / sizeof(lines[0]);
    reply_array(c, (long)n);
    for (size_t i = 0; i < n; i++) reply_simple(c, lines[i]);
}

/* Every handler runs through a wrapper that puts the key counts it changed
 * into the batch (ks_end) before the server commits. */
CMDS_WRAP(memory_usage_cmd)
CMDS_WRAP(memory_help_cmd)
CMDS_WRAP(object_encoding_cmd)
CMDS_WRAP(object_freq_cmd)
CMDS_WRAP(object_idletime_cmd)
CMDS_WRAP(object_refcount_cmd)
CMDS_WRAP(object_help_cmd)
CMDS_WRAP(debug_digest_cmd)
CMDS_WRAP(debug_digest_value_cmd)
CMDS_WRAP(del_cmd)
CMDS_WRAP(exists_cmd)
CMDS_WRAP(type_cmd)
CMDS_WRAP(rename_cmd)
CMDS_WRAP(renamenx_cmd)
CMDS_WRAP(copy_cmd)
CMDS_WRAP(move_cmd)
CMDS_WRAP(expire_cmd)
CMDS_WRAP(pexpire_cmd)
CMDS_WRAP(expireat_cmd)
CMDS_WRAP(pexpireat_cmd)
CMDS_WRAP(ttl_cmd)
CMDS_WRAP(pttl_cmd)
CMDS_WRAP(expiretime_cmd)
CMDS_WRAP(pexpiretime_cmd)
CMDS_WRAP(persist_cmd)
CMDS_WRAP(touch_cmd)
CMDS_WRAP(randomkey_cmd)
CMDS_WRAP(keys_cmd)
CMDS_WRAP(scan_cmd)
CMDS_WRAP(dump_cmd)
CMDS_WRAP(restore_cmd)

static const cmd_def object_subs[] = {
    {"object|encoding", 3, CMD_READONLY, 2, 2, 1, object_encoding_cmd_w, "generic",
     "Returns the internal encoding of a Redis object.", "2.2.3", "O(1)"},
    {"object|freq", 3, CMD_READONLY | CMD_RANDOM, 2, 2, 1, object_freq_cmd_w, "generic",
     "Returns the logarithmic access frequency counter of a Redis object.", "4.0.0", "O(1)"},
    {"object|idletime", 3, CMD_READONLY | CMD_RANDOM, 2, 2, 1, object_idletime_cmd_w, "generic",
     "Returns the time since the last access to a Redis object.", "2.2.3", "O(1)"},
    {"object|refcount", 3, CMD_READONLY, 2, 2, 1, object_refcount_cmd_w, "generic",
     "Returns the reference count of a value of a key.", "2.2.3", "O(1)"},
    {"object|help", 2, 0, 0, 0, 0, object_help_cmd_w, "generic",
     "Returns helpful text about the different subcommands.", "6.2.0", "O(1)"},
    {0},
};

static const cmd_def memory_subs[] = {
    {"memory|usage", -3, CMD_READONLY, 2, 2, 1, memory_usage_cmd_w, "server",
     "Estimates the memory usage of a key.", "4.0.0", "O(N) where N is the number of samples."},
    {"memory|help", 2, 0, 0, 0, 0, memory_help_cmd_w, "server",
     "Returns helpful text about the different subcommands.", "4.0.0", "O(1)"},
    {0},
};

static const cmd_def debug_subs[] = {
    {"debug|digest", 2, CMD_ADMIN, 0, 0, 0, debug_digest_cmd_w, "server",
     "Returns a checksum of the whole data set.", "1.0.0", "O(N)"},
    {"debug|digest-value", -2, CMD_ADMIN, 0, 0, 0, debug_digest_value_cmd_w, "server",
     "Returns a checksum of the values of the given keys.", "1.0.0", "O(N)"},
    {0},
};

const cmd_def keys_commands[] = {
    {"del", -2, CMD_WRITE, 1, -1, 1, del_cmd_w, "generic", "Deletes one or more keys.", "1.0.0",
     "O(N)"},
    {"unlink", -2, CMD_WRITE | CMD_FAST, 1, -1, 1, del_cmd_w, "generic",
     "Asynchronously deletes one or more keys.", "4.0.0", "O(1) for each key removed"},
    {"exists", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, exists_cmd_w, "generic",
     "Determines whether one or more keys exist.", "1.0.0", "O(N)"},
    {"type", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, type_cmd_w, "generic",
     "Determines the type of value stored at a key.", "1.0.0", "O(1)"},
    {"rename", 3, CMD_WRITE, 1, 2, 1, rename_cmd_w, "generic",
     "Renames a key and overwrites the destination.", "1.0.0", "O(1)"},
    {"renamenx", 3, CMD_WRITE | CMD_FAST, 1, 2, 1, renamenx_cmd_w, "generic",
     "Renames a key only when the target key name doesn't exist.", "1.0.0", "O(1)"},
    {"copy", -3, CMD_WRITE | CMD_DENYOOM, 1, 2, 1, copy_cmd_w, "generic",
     "Copies the value of a key to a new key.", "6.2.0", "O(N)"},
    {"move", 3, CMD_WRITE | CMD_FAST, 1, 1, 1, move_cmd_w, "generic",
     "Moves a key to another database.", "1.0.0", "O(1)"},
    {"expire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, expire_cmd_w, "generic",
     "Sets the expiration time of a key in seconds.", "1.0.0", "O(1)"},
    {"pexpire", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, pexpire_cmd_w, "generic",
     "Sets the expiration time of a key in milliseconds.", "2.6.0", "O(1)"},
    {"expireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, expireat_cmd_w, "generic",
     "Sets the expiration time of a key to a Unix timestamp.", "1.2.0", "O(1)"},
    {"pexpireat", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, pexpireat_cmd_w, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0", "O(1)"},
    {"ttl", 2, CMD_READONLY | CMD_FAST | CMD_RANDOM, 1, 1, 1, ttl_cmd_w, "generic",
     "Returns the expiration time in seconds of a key.", "1.0.0", "O(1)"},
    {"pttl", 2, CMD_READONLY | CMD_FAST | CMD_RANDOM, 1, 1, 1, pttl_cmd_w, "generic",
     "Returns the expiration time in milliseconds of a key.", "2.6.0", "O(1)"},
    {"expiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, expiretime_cmd_w, "generic",
     "Returns the expiration time of a key as a Unix timestamp.", "7.0.0", "O(1)"},
    {"pexpiretime", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, pexpiretime_cmd_w, "generic",
     "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0", "O(1)"},
    {"persist", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, persist_cmd_w, "generic",
     "Removes the expiration time of a key.", "2.2.0", "O(1)"},
    {"touch", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, touch_cmd_w, "generic",
     "Returns the number of existing keys out of those specified after updating the time they were "
     "last accessed.",
     "3.2.1", "O(N)"},
    {"randomkey", 1, CMD_READONLY | CMD_RANDOM, 0, 0, 0, randomkey_cmd_w, "generic",
     "Returns a random key name from the database.", "1.0.0", "O(1)"},
    {"keys", 2, CMD_READONLY, 0, 0, 0, keys_cmd_w, "generic",
     "Returns all key names that match a pattern.", "1.0.0", "O(N)"},
    {"scan", -2, CMD_READONLY | CMD_RANDOM, 0, 0, 0, scan_cmd_w, "generic",
     "Iterates over the key names in the database.", "2.8.0",
     "O(1) for every call. O(N) for a complete iteration."},
    {"object", -2, 0, 0, 0, 0, NULL, "generic", "A container for object introspection commands.",
     "2.2.3", "Depends on subcommand.", object_subs},
    {"dump", 2, CMD_READONLY | CMD_RANDOM, 1, 1, 1, dump_cmd_w, "generic",
     "Returns a serialized representation of the value stored at a key.", "2.6.0",
     "O(1) to access the key and additional O(N*M) to serialize it"},
    {"restore", -4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, restore_cmd_w, "generic",
     "Creates a key from the serialized representation of a value.", "2.6.0",
     "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value"},
    {"memory", -2, 0, 0, 0, 0, NULL, "server", "A container for memory diagnostics commands.",
     "4.0.0", "Depends on subcommand.", memory_subs},
    {"debug", -2, CMD_ADMIN, 0, 0, 0, NULL, "server", "A container for debugging commands.",
     "1.0.0", "Depends on subcommand.", debug_subs},
    {0},
};
