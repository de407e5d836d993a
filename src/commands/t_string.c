/* String commands: GET, SET and its variants, MGET/MSET, APPEND, ranges,
 * counters, LCS and the bit commands, with Redis 7.0's replies and errors.
 * Strings are stored inline in the key's metadata record (docs/keyspace.md);
 * commands that modify a string keep its expiry unless Redis drops it
 * (SET without KEEPTTL, GETSET). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/cmdutil.h"
#include "commands/data.h"
#include "util/err.h"

#define MAX_STRING (512ll * 1024 * 1024)

static const char *arg(srv_client *c, int i, size_t *n)
{
    return cmd_arg(c, i, n);
}

/* Writes a string over m (key = argument i). keep_ttl keeps m's expiry. */
static int store(srv_client *c, int i, ks_meta *m, const void *v, size_t vl, int64_t expire)
{
    size_t kl;
    const char *k = arg(c, i, &kl);
    int rc = ks_set_string(cmds__tx(c), cmd_db(c), k, kl, m, v, vl, expire);
    if (rc) cmds__reply_ks_error(c, rc);
    return rc;
}

static void get_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    if (m.exists)
        reply_bulk(c, m.val, m.vlen);
    else
        reply_null(c);
    ks_meta_release(&m);
}

/* Flags of SET/GETEX option parsing. */
enum {
    O_NX = 1,
    O_XX = 2,
    O_GET = 4,
    O_KEEPTTL = 8,
    O_PERSIST = 16,
    O_EX = 32,
    O_PX = 64,
    O_EXAT = 128,
    O_PXAT = 256
};
#define O_ANYEXP (O_EX | O_PX | O_EXAT | O_PXAT)

/* Parses options from argument `from`; for_set selects SET's or GETEX's
 * grammar. *exp_arg gets the index of the expire value. -1 on syntax error. */
static int parse_opts(srv_client *c, int from, int for_set, int *flags, int *exp_arg)
{
    *flags = 0;
    *exp_arg = 0;
    int argc = cmd_argc(c);
    for (int j = from; j < argc; j++) {
        int f = *flags, next = j + 1 < argc;
        if (cmd_arg_is(c, j, "nx") && !(f & O_XX) && for_set) {
            *flags |= O_NX;
        } else if (cmd_arg_is(c, j, "xx") && !(f & O_NX) && for_set) {
            *flags |= O_XX;
        } else if (cmd_arg_is(c, j, "get") && for_set) {
            *flags |= O_GET;
        } else if (cmd_arg_is(c, j, "keepttl") && !(f & (O_PERSIST | O_ANYEXP)) && for_set) {
            *flags |= O_KEEPTTL;
        } else if (cmd_arg_is(c, j, "persist") && !for_set && !(f & (O_ANYEXP | O_KEEPTTL))) {
            *flags |= O_PERSIST;
        } else {
            static const struct {
                const char *w;
                int f;
            } ex[] = {{"ex", O_EX}, {"px", O_PX}, {"exat", O_EXAT}, {"pxat", O_PXAT}};
            int hit = 0;
            for (int e = 0; e < 4 && !hit; e++) {
                if (cmd_arg_is(c, j, ex[e].w) && !(f & (O_KEEPTTL | O_PERSIST)) &&
                    !(f & (O_ANYEXP & ~ex[e].f)) && next) {
                    *flags |= ex[e].f;
                    *exp_arg = ++j;
                    hit = 1;
                }
            }
            if (!hit) return -1;
        }
    }
    return 0;
}

/* Absolute expiry in ms from the option at argument i, or replies an error. */
static int parse_expire(srv_client *c, int i, int flags, const char *cmd, int64_t *out)
{
    long long v;
    if (cmd_arg_ll_or_reply(c, i, &v)) return -1;
    int secs = flags & (O_EX | O_EXAT);
    if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
        reply_errorf(c, "ERR invalid expire time in '%s' command", cmd);
        return -1;
    }
    if (secs) v *= 1000;
    if (flags & (O_EX | O_PX)) {
        if (v > LLONG_MAX - cmd_now_ms()) {
            reply_errorf(c, "ERR invalid expire time in '%s' command", cmd);
            return -1;
        }
        v += cmd_now_ms();
    }
    *out = v;
    return 0;
}

static void set_generic(srv_client *c, int flags, int exp_arg, int val_arg, const char *cmd)
{
    int64_t expire = 0;
    if (exp_arg && parse_expire(c, exp_arg, flags, cmd, &expire)) return;
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if ((flags & O_GET) && m.exists && m.type != KS_STRING) {
        reply_error_wrongtype(c);
        goto done;
    }
    if ((flags & O_GET)) {
        if (m.exists)
            reply_bulk(c, m.val, m.vlen);
        else
            reply_null(c);
    }
    if (((flags & O_NX) && m.exists) || ((flags & O_XX) && !m.exists)) {
        if (!(flags & O_GET)) reply_null(c);
        goto done;
    }
    if ((flags & O_KEEPTTL) && m.exists) expire = m.expire_ms;
    size_t vl;
    const char *v = arg(c, val_arg, &vl);
    /* With GET the reply is already out; a storage error then has no reply
     * slot of its own, and the server replaces the reply when the commit fails. */
    size_t kl;
    const char *k = arg(c, 1, &kl);
    int rc = ks_set_string(cmds__tx(c), cmd_db(c), k, kl, &m, v, vl, expire);
    if (rc && !(flags & O_GET)) {
        cmds__reply_ks_error(c, rc);
        goto done;
    }
    cmd_stat_dirty(1);
    if (!(flags & O_GET)) reply_ok(c);
done:
    ks_meta_release(&m);
}

static void set_cmd(srv_client *c)
{
    int flags, exp_arg;
    if (parse_opts(c, 3, 1, &flags, &exp_arg)) {
        reply_error_syntax(c);
        return;
    }
    set_generic(c, flags, exp_arg, 2, "set");
}

static void setnx_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    if (m.exists) {
        reply_int(c, 0);
    } else {
        size_t vl;
        const char *v = arg(c, 2, &vl);
        if (store(c, 1, &m, v, vl, 0) == 0) {
            cmd_stat_dirty(1);
            reply_int(c, 1);
        }
    }
    ks_meta_release(&m);
}

static void setex_generic(srv_client *c, int flags, const char *cmd)
{
    int64_t expire;
    if (parse_expire(c, 2, flags, cmd, &expire)) return;
    ks_meta m;
    if (cmds__lookup(c, 1, &m)) return;
    size_t vl;
    const char *v = arg(c, 3, &vl);
    if (store(c, 1, &m, v, vl, expire) == 0) {
        cmd_stat_dirty(1);
        reply_ok(c);
    }
    ks_meta_release(&m);
}

static void setex_cmd(srv_client *c)
{
    setex_generic(c, O_EX, "setex");
}

static void psetex_cmd(srv_client *c)
{
    setex_generic(c, O_PX, "psetex");
}

static void getset_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    if (m.exists)
        reply_bulk(c, m.val, m.vlen);
    else
        reply_null(c);
    size_t vl, kl;
    const char *v = arg(c, 2, &vl), *k = arg(c, 1, &kl);
    if (ks_set_string(cmds__tx(c), cmd_db(c), k, kl, &m, v, vl, 0) == 0) cmd_stat_dirty(1);
    ks_meta_release(&m);
}

static void getdel_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    if (!m.exists) {
        reply_null(c);
    } else {
        reply_bulk(c, m.val, m.vlen);
        size_t kl;
        const char *k = arg(c, 1, &kl);
        if (ks_delete(cmds__tx(c), cmd_db(c), k, kl, &m) >= 0) cmd_stat_dirty(1);
    }
    ks_meta_release(&m);
}

static void getex_cmd(srv_client *c)
{
    int flags, exp_arg;
    if (parse_opts(c, 2, 0, &flags, &exp_arg)) {
        reply_error_syntax(c);
        return;
    }
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    if (!m.exists) {
        reply_null(c);
        goto done;
    }
    /* Redis validates the expiry only once the key is known to exist. */
    int64_t expire = 0;
    if (exp_arg && parse_expire(c, exp_arg, flags, "getex", &expire)) goto done;
    reply_bulk(c, m.val, m.vlen);
    size_t kl;
    const char *k = arg(c, 1, &kl);
    ks_txn *t = cmds__tx(c);
    if (exp_arg && expire <= cmd_now_ms()) {
        if (ks_delete(t, cmd_db(c), k, kl, &m) >= 0) cmd_stat_dirty(1);
    } else if (exp_arg) {
        if (ks_set_expire(t, cmd_db(c), k, kl, &m, expire) == 0) cmd_stat_dirty(1);
    } else if ((flags & O_PERSIST) && m.expire_ms) {
        if (ks_set_expire(t, cmd_db(c), k, kl, &m, 0) == 0) cmd_stat_dirty(1);
    }
done:
    ks_meta_release(&m);
}

static void mget_cmd(srv_client *c)
{
    int n = cmd_argc(c) - 1;
    reply_array(c, n);
    for (int i = 1; i <= n; i++) {
        ks_meta m;
        size_t kl;
        const char *k = arg(c, i, &kl);
        int rc = ks_lookup(cmds__tx(c), cmd_db(c), k, kl, &m);
        if (rc == 0) cmd_stat_keyspace(m.exists ? 1 : 0, m.exists ? 0 : 1);
        if (rc == 0 && m.exists && m.type == KS_STRING)
            reply_bulk(c, m.val, m.vlen);
        else
            reply_null(c);
        ks_meta_release(&m);
    }
}

static void mset_generic(srv_client *c, int nx)
{
    int argc = cmd_argc(c);
    if (argc % 2 == 0) {
        reply_error_arity(c);
        return;
    }
    ks_txn *t = cmds__tx(c);
    if (nx) {
        for (int i = 1; i < argc; i += 2) {
            ks_meta m;
            if (cmds__lookup(c, i, &m)) return;
            int e = m.exists;
            ks_meta_release(&m);
            if (e) {
                reply_int(c, 0);
                return;
            }
        }
    }
    for (int i = 1; i < argc; i += 2) {
        ks_meta m;
        if (cmds__lookup(c, i, &m)) return;
        size_t kl, vl;
        const char *k = arg(c, i, &kl), *v = arg(c, i + 1, &vl);
        int rc = ks_set_string(t, cmd_db(c), k, kl, &m, v, vl, 0);
        ks_meta_release(&m);
        if (rc) {
            cmds__reply_ks_error(c, rc);
            return;
        }
        cmd_touch_key(cmd_db(c), k, kl);
    }
    cmd_stat_dirty((uint64_t)(argc - 1) / 2);
    if (nx)
        reply_int(c, 1);
    else
        reply_ok(c);
}

static void mset_cmd(srv_client *c)
{
    mset_generic(c, 0);
}

static void msetnx_cmd(srv_client *c)
{
    mset_generic(c, 1);
}

static void append_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    size_t al;
    const char *a = arg(c, 2, &al);
    if (m.exists && (long long)(m.vlen + al) > MAX_STRING) {
        reply_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        goto done;
    }
    size_t n = (m.exists ? m.vlen : 0) + al;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    if (m.exists) memcpy(buf, m.val, m.vlen);
    memcpy(buf + n - al, a, al);
    if (store(c, 1, &m, buf, n, m.exists ? m.expire_ms : 0) == 0) {
        cmd_stat_dirty(1);
        reply_int(c, (long long)n);
    }
    free(buf);
done:
    ks_meta_release(&m);
}

static void strlen_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    reply_int(c, m.exists ? (long long)m.vlen : 0);
    ks_meta_release(&m);
}

static void getrange_cmd(srv_client *c)
{
    long long s, e;
    if (cmd_arg_ll_or_reply(c, 2, &s) || cmd_arg_ll_or_reply(c, 3, &e)) return;
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    long long len = m.exists ? (long long)m.vlen : 0;
    if (s < 0 && e < 0 && s > e) {
        reply_bulk(c, "", 0);
        ks_meta_release(&m);
        return;
    }
    if (s < 0) s += len;
    if (e < 0) e += len;
    if (s < 0) s = 0;
    if (e < 0) e = 0;
    if (e >= len) e = len - 1;
    if (len == 0 || s > e)
        reply_bulk(c, "", 0);
    else
        reply_bulk(c, m.val + s, (size_t)(e - s + 1));
    ks_meta_release(&m);
}

static void setrange_cmd(srv_client *c)
{
    long long off;
    if (cmd_arg_ll_or_reply(c, 2, &off)) return;
    if (off < 0) {
        reply_error(c, "ERR offset is out of range");
        return;
    }
    size_t vl;
    const char *v = arg(c, 3, &vl);
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    size_t cur = m.exists ? m.vlen : 0;
    if (vl == 0) { /* nothing to write: no key is created */
        reply_int(c, (long long)cur);
        goto done;
    }
    if (off + (long long)vl > MAX_STRING) {
        reply_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        goto done;
    }
    size_t n = (size_t)off + vl > cur ? (size_t)off + vl : cur;
    char *buf = calloc(1, n);
    if (!buf) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    if (cur) memcpy(buf, m.val, cur);
    memcpy(buf + off, v, vl);
    if (store(c, 1, &m, buf, n, m.exists ? m.expire_ms : 0) == 0) {
        cmd_stat_dirty(1);
        reply_int(c, (long long)n);
    }
    free(buf);
done:
    ks_meta_release(&m);
}

static void incr_generic(srv_client *c, long long by)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    long long v = 0;
    if (m.exists && !resp_str2ll((const char *)m.val, m.vlen, &v)) {
        reply_error_not_int(c);
        goto done;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        reply_error_overflow(c);
        goto done;
    }
    v += by;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld", v);
    if (store(c, 1, &m, buf, (size_t)n, m.exists ? m.expire_ms : 0) == 0) {
        cmd_stat_dirty(1);
        reply_int(c, v);
    }
done:
    ks_meta_release(&m);
}

static void incr_cmd(srv_client *c)
{
    incr_generic(c, 1);
}

static void decr_cmd(srv_client *c)
{
    incr_generic(c, -1);
}

static void incrby_cmd(srv_client *c)
{
    long long by;
    if (cmd_arg_ll_or_reply(c, 2, &by)) return;
    incr_generic(c, by);
}

static void decrby_cmd(srv_client *c)
{
    long long by;
    if (cmd_arg_ll_or_reply(c, 2, &by)) return;
    if (by == LLONG_MIN) {
        reply_error(c, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -by);
}

static void incrbyfloat_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    long double v = 0, by;
    size_t bl;
    const char *b = arg(c, 2, &bl);
    if ((m.exists && !cmds__str2ld((const char *)m.val, m.vlen, &v)) || !cmds__str2ld(b, bl, &by)) {
        reply_error_not_float(c);
        goto done;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        reply_error(c, "ERR increment would produce NaN or Infinity");
        goto done;
    }
    char buf[5200];
    int n = cmds__ld2str(buf, sizeof(buf), v);
    if (store(c, 1, &m, buf, (size_t)n, m.exists ? m.expire_ms : 0) == 0) {
        cmd_stat_dirty(1);
        reply_bulk(c, buf, (size_t)n);
    }
done:
    ks_meta_release(&m);
}

/* ---- LCS ---- */

static void lcs_cmd(srv_client *c)
{
    ks_meta ma, mb;
    if (cmds__lookup(c, 1, &ma)) return;
    if (cmds__lookup(c, 2, &mb)) {
        ks_meta_release(&ma);
        return;
    }
    int getlen = 0, getidx = 0, withlen = 0;
    long long minlen = 0;
    uint32_t *dp = NULL;
    char *res = NULL;
    if ((ma.exists && ma.type != KS_STRING) || (mb.exists && mb.type != KS_STRING)) {
        reply_error(c, "ERR The specified keys must contain string values");
        goto done;
    }
    for (int j = 3; j < cmd_argc(c); j++) {
        if (cmd_arg_is(c, j, "idx")) {
            getidx = 1;
        } else if (cmd_arg_is(c, j, "len")) {
            getlen = 1;
        } else if (cmd_arg_is(c, j, "withmatchlen")) {
            withlen = 1;
        } else if (cmd_arg_is(c, j, "minmatchlen") && j + 1 < cmd_argc(c)) {
            if (cmd_arg_ll_or_reply(c, ++j, &minlen)) goto done;
            if (minlen < 0) minlen = 0;
        } else {
            reply_error_syntax(c);
            goto done;
        }
    }
    if (getlen && getidx) {
        reply_error(c, "ERR If you want both the length and indexes, please just use IDX.");
        goto done;
    }
    const uint8_t *a = ma.exists ? ma.val : (const uint8_t *)"",
                  *b = mb.exists ? mb.val : (const uint8_t *)"";
    size_t alen = ma.exists ? ma.vlen : 0, blen = mb.exists ? mb.vlen : 0;
    if ((double)(alen + 1) * (double)(blen + 1) * 4 > (double)MAX_STRING) {
        reply_error(c,
                    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        goto done;
    }
    dp = malloc((alen + 1) * (blen + 1) * sizeof(uint32_t));
    if (!dp) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
#define LCS(i, j) dp[(j) + (size_t)(i) * (blen + 1)]
    for (size_t i = 0; i <= alen; i++) {
        for (size_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS(i, j) = LCS(i - 1, j - 1) + 1;
            else
                LCS(i, j) = LCS(i - 1, j) > LCS(i, j - 1) ? LCS(i - 1, j) : LCS(i, j - 1);
        }
    }
    uint32_t idx = LCS(alen, blen);
    if (getlen) {
        reply_int(c, idx);
        goto done;
    }
    res = malloc(idx + 1);
    if (!res) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    reply_deferred *d = NULL;
    long nranges = 0;
    if (getidx) {
        reply_map(c, 2);
        reply_bulk_cstr(c, "matches");
        d = reply_defer(c);
    }
    /* Walk back from the end, emitting runs of diagonal matches (Redis's order). */
    size_t i = alen, j = blen, as = alen, ae = 0, bs = 0, be = 0;
    uint32_t k = idx;
    while (i > 0 && j > 0) {
        int emit = 0;
        if (a[i - 1] == b[j - 1]) {
            res[k - 1] = (char)a[i - 1];
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--;
                bs--;
            } else {
                emit = 1;
            }
            if (as == 0 || bs == 0) emit = 1;
            k--;
            i--;
            j--;
        } else {
            if (LCS(i - 1, j) > LCS(i, j - 1))
                i--;
            else
                j--;
            if (as != alen) emit = 1;
        }
        size_t mlen = ae - as + 1;
        if (emit) {
            if (getidx && (minlen == 0 || (long long)mlen >= minlen)) {
                reply_array(c, 2 + withlen);
                reply_array(c, 2);
                reply_int(c, (long long)as);
                reply_int(c, (long long)ae);
                reply_array(c, 2);
                reply_int(c, (long long)bs);
                reply_int(c, (long long)be);
                if (withlen) reply_int(c, (long long)mlen);
                nranges++;
            }
            as = alen;
        }
    }
#undef LCS
    if (getidx) {
        reply_defer_array(c, d, nranges);
        reply_bulk_cstr(c, "len");
        reply_int(c, idx);
    } else {
        reply_bulk(c, res, idx);
    }
done:
    free(dp);
    free(res);
    ks_meta_release(&ma);
    ks_meta_release(&mb);
}

/* ---- bits ---- */

static int bit_offset(srv_client *c, int i, uint64_t *out)
{
    long long v;
    if (cmd_arg_ll(c, i, &v) || v < 0 || (v >> 3) >= MAX_STRING) {
        reply_error(c, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static void setbit_cmd(srv_client *c)
{
    uint64_t off;
    long long on;
    if (bit_offset(c, 2, &off)) return;
    if (cmd_arg_ll(c, 3, &on) || (on & ~1)) {
        reply_error(c, "ERR bit is not an integer or out of range");
        return;
    }
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) return;
    size_t byte = (size_t)(off >> 3), cur = m.exists ? m.vlen : 0;
    size_t n = byte + 1 > cur ? byte + 1 : cur;
    uint8_t *buf = calloc(1, n);
    if (!buf) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    if (cur) memcpy(buf, m.val, cur);
    int bit = 7 - (int)(off & 7);
    int old = (buf[byte] >> bit) & 1;
    buf[byte] = (uint8_t)((buf[byte] & ~(1 << bit)) | ((int)on << bit));
    if (store(c, 1, &m, buf, n, m.exists ? m.expire_ms : 0) == 0) {
        cmd_stat_dirty(1);
        reply_int(c, old);
    }
    free(buf);
done:
    ks_meta_release(&m);
}

static void getbit_cmd(srv_client *c)
{
    uint64_t off;
    if (bit_offset(c, 2, &off)) return;
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    size_t byte = (size_t)(off >> 3);
    int v = 0;
    if (m.exists && byte < m.vlen) v = (m.val[byte] >> (7 - (off & 7))) & 1;
    reply_int(c, v);
    ks_meta_release(&m);
}

static int bit_at(const uint8_t *p, long long i)
{
    return (p[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Normalizes [s, e] against total length tot like Redis; 0 if empty. */
static int clamp_range(long long *s, long long *e, long long tot)
{
    if (*s < 0) *s += tot;
    if (*e < 0) *e += tot;
    if (*s < 0) *s = 0;
    if (*e < 0) *e = 0;
    if (*e >= tot) *e = tot - 1;
    return *s <= *e;
}

static void bitcount_cmd(srv_client *c)
{
    /* Redis 7.0 looks the key up before parsing the range. */
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    if (!m.exists) {
        reply_int(c, 0);
        return;
    }
    int argc = cmd_argc(c), isbit = 0;
    long long s = 0, e = -1;
    if (argc == 4 || argc == 5) {
        if (cmd_arg_ll_or_reply(c, 2, &s) || cmd_arg_ll_or_reply(c, 3, &e)) goto done;
        if (s < 0 && e < 0 && s > e) { /* empty, before the unit is even parsed */
            reply_int(c, 0);
            goto done;
        }
        if (argc == 5) {
            if (cmd_arg_is(c, 4, "bit")) {
                isbit = 1;
            } else if (!cmd_arg_is(c, 4, "byte")) {
                reply_error_syntax(c);
                goto done;
            }
        }
    } else if (argc != 2) {
        reply_error_syntax(c);
        goto done;
    }
    long long count = 0, tot = (long long)m.vlen * (isbit ? 8 : 1);
    if (clamp_range(&s, &e, tot)) {
        long long bs = isbit ? s : s * 8, be = isbit ? e : e * 8 + 7;
        for (long long i = bs; i <= be;) {
            if ((i & 7) == 0 && i + 7 <= be) {
                count += __builtin_popcount(m.val[i >> 3]);
                i += 8;
            } else {
                count += bit_at(m.val, i++);
            }
        }
    }
    reply_int(c, count);
done:
    ks_meta_release(&m);
}

static void bitpos_cmd(srv_client *c)
{
    long long bit;
    if (cmd_arg_ll_or_reply(c, 2, &bit)) return;
    if (bit != 0 && bit != 1) {
        reply_error(c, "ERR The bit argument must be 1 or 0.");
        return;
    }
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_STRING, &m)) return;
    if (!m.exists) {
        reply_int(c, bit ? -1 : 0);
        return;
    }
    int argc = cmd_argc(c), isbit = 0, end_given = 0;
    long long tot = (long long)m.vlen, s = 0, e = tot - 1;
    if (argc >= 4 && argc <= 6) {
        if (cmd_arg_ll_or_reply(c, 3, &s)) goto done;
        if (argc == 6) {
            if (cmd_arg_is(c, 5, "bit")) {
                isbit = 1;
            } else if (!cmd_arg_is(c, 5, "byte")) {
                reply_error_syntax(c);
                goto done;
            }
        }
        if (argc >= 5) {
            if (cmd_arg_ll_or_reply(c, 4, &e)) goto done;
            end_given = 1;
        } else {
            e = isbit ? tot * 8 - 1 : tot - 1;
        }
        if (isbit) tot *= 8;
    } else if (argc != 3) {
        reply_error_syntax(c);
        goto done;
    }
    if (!clamp_range(&s, &e, tot)) {
        reply_int(c, -1);
        goto done;
    }
    long long bs = isbit ? s : s * 8, be = isbit ? e : e * 8 + 7, pos = -1;
    for (long long i = bs; i <= be;) {
        if ((i & 7) == 0 && i + 7 <= be && m.val[i >> 3] == (bit ? 0x00 : 0xFF)) {
            i += 8; /* a whole byte without the wanted bit */
            continue;
        }
        if (bit_at(m.val, i) == bit) {
            pos = i;
            break;
        }
        i++;
    }
    /* Looking for a 0 without an explicit end: the string is zero padded. */
    if (pos == -1 && bit == 0 && !end_given) pos = ((be >> 3) + 1) * 8;
    reply_int(c, pos);
done:
    ks_meta_release(&m);
}

static void bitop_cmd(srv_client *c)
{
    int op;
    if (cmd_arg_is(c, 1, "and"))
        op = 0;
    else if (cmd_arg_is(c, 1, "or"))
        op = 1;
    else if (cmd_arg_is(c, 1, "xor"))
        op = 2;
    else if (cmd_arg_is(c, 1, "not"))
        op = 3;
    else {
        reply_error_syntax(c);
        return;
    }
    int nsrc = cmd_argc(c) - 3;
    if (op == 3 && nsrc != 1) {
        reply_error(c, "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    ks_meta *src = calloc((size_t)nsrc, sizeof(*src));
    uint8_t *out = NULL;
    int got = 0;
    if (!src) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        return;
    }
    size_t maxlen = 0;
    for (; got < nsrc; got++) {
        if (cmds__lookup_type(c, 3 + got, KS_STRING, &src[got])) goto done;
        if (src[got].exists && src[got].vlen > maxlen) maxlen = src[got].vlen;
    }
    out = calloc(1, maxlen ? maxlen : 1);
    if (!out) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    for (size_t i = 0; i < maxlen; i++) {
        uint8_t acc = 0;
        for (int j = 0; j < nsrc; j++) {
            uint8_t b = src[j].exists && i < src[j].vlen ? src[j].val[i] : 0;
            if (j == 0)
                acc = op == 3 ? (uint8_t)~b : b;
            else if (op == 0)
                acc &= b;
            else if (op == 1)
                acc |= b;
            else
                acc ^= b;
        }
        out[i] = acc;
    }
    ks_meta d;
    if (cmds__lookup(c, 2, &d)) goto done;
    size_t kl;
    const char *k = arg(c, 2, &kl);
    int rc = maxlen ? ks_set_string(cmds__tx(c), cmd_db(c), k, kl, &d, out, maxlen, 0)
                    : (d.exists ? ks_delete(cmds__tx(c), cmd_db(c), k, kl, &d) : 0);
    ks_meta_release(&d);
    if (rc < 0) {
        cmds__reply_ks_error(c, rc);
        goto done;
    }
    cmd_stat_dirty(1);
    reply_int(c, (long long)maxlen);
done:
    for (int j = 0; j < got; j++) ks_meta_release(&src[j]);
    free(src);
    free(out);
}

/* ---- BITFIELD ---- */

enum { BF_GET, BF_SET, BF_INCRBY };
enum { OV_WRAP, OV_SAT, OV_FAIL };

typedef struct bfop {
    int op, sign, bits, ov;
    uint64_t off;
    long long v;
} bfop;

static uint64_t bf_get_u(const uint8_t *p, uint64_t off, int bits)
{
    uint64_t v = 0;
    for (int i = 0; i < bits; i++, off++) v = (v << 1) | ((p[off >> 3] >> (7 - (off & 7))) & 1);
    return v;
}

static int64_t bf_get_s(const uint8_t *p, uint64_t off, int bits)
{
    uint64_t u = bf_get_u(p, off, bits);
    if (bits < 64 && (u & (1ull << (bits - 1)))) u |= ~0ull << bits; /* sign-extend */
    return (int64_t)u;
}

static void bf_set(uint8_t *p, uint64_t off, int bits, uint64_t v)
{
    for (int i = bits - 1; i >= 0; i--, off++) {
        int b = (int)((v >> i) & 1);
        int sh = 7 - (int)(off & 7);
        p[off >> 3] = (uint8_t)((p[off >> 3] & ~(1 << sh)) | (b << sh));
    }
}

/* Overflow of value + incr in a signed field: 0 none, else *limit gets the
 * wrapped or saturated result (Redis's rules). */
static int bf_over_s(int64_t value, int64_t incr, int bits, int ov, int64_t *limit)
{
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)((1ull << (bits - 1)) - 1);
    int64_t min = -max - 1;
    int r = 0;
    if (value > max || (bits != 64 && incr > max - value) ||
        (value >= 0 && incr > 0 && incr > max - value))
        r = 1;
    else if (value < min || (bits != 64 && incr < min - value) ||
             (value < 0 && incr < 0 && incr < min - value))
        r = -1;
    if (!r) return 0;
    if (ov == OV_SAT) {
        *limit = r > 0 ? max : min;
    } else {
        uint64_t c = (uint64_t)value + (uint64_t)incr;
        if (bits < 64) {
            uint64_t mask = ~0ull << bits;
            c = (c & (1ull << (bits - 1))) ? (c | mask) : (c & ~mask);
        }
        *limit = (int64_t)c;
    }
    return r;
}

static int bf_over_u(uint64_t value, int64_t incr, int bits, int ov, uint64_t *limit)
{
    uint64_t max = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    int64_t maxincr = (int64_t)(max - value), minincr = -(int64_t)value;
    int r = 0;
    if (value > max || (incr > 0 && incr > maxincr))
        r = 1;
    else if (incr < 0 && incr < minincr)
        r = -1;
    if (!r) return 0;
    if (ov == OV_SAT)
        *limit = r > 0 ? max : 0;
    else
        *limit = (value + (uint64_t)incr) & ~(~0ull << bits);
    return r;
}

static int bf_type(srv_client *c, int i, int *sign, int *bits)
{
    size_t n;
    const char *p = arg(c, i, &n);
    long long b;
    if (n >= 2 && (p[0] == 'i' || p[0] == 'I' || p[0] == 'u' || p[0] == 'U') &&
        resp_str2ll(p + 1, n - 1, &b)) {
        *sign = p[0] == 'i' || p[0] == 'I';
        if (b >= 1 && ((*sign && b <= 64) || (!*sign && b <= 63))) {
            *bits = (int)b;
            return 0;
        }
    }
    reply_error(c, "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
                   "supported but i64 is.");
    return -1;
}

static int bf_offset(srv_client *c, int i, int bits, uint64_t *out)
{
    size_t n;
    const char *p = arg(c, i, &n);
    int hash = n && p[0] == '#';
    long long v;
    if (!resp_str2ll(p + hash, n - (size_t)hash, &v) ||
        (hash && (v > LLONG_MAX / bits || v < LLONG_MIN / bits))) {
        reply_error(c, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    if (hash) v *= bits;
    if (v < 0 || (v >> 3) >= MAX_STRING) {
        reply_error(c, "ERR bit offset is not an integer or out of range");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static void bitfield_generic(srv_client *c, int ro_cmd)
{
    int argc = cmd_argc(c), ov = OV_WRAP, readonly = 1, nops = 0;
    bfop *ops = calloc((size_t)argc, sizeof(*ops));
    uint8_t *buf = NULL;
    ks_meta m;
    int have_m = 0;
    uint64_t top = 0; /* highest bit a write reaches */
    if (!ops) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        return;
    }
    for (int j = 2; j < argc; j++) {
        int rem = argc - j - 1, op;
        if (cmd_arg_is(c, j, "get") && rem >= 2) {
            op = BF_GET;
        } else if (cmd_arg_is(c, j, "set") && rem >= 3) {
            op = BF_SET;
        } else if (cmd_arg_is(c, j, "incrby") && rem >= 3) {
            op = BF_INCRBY;
        } else if (cmd_arg_is(c, j, "overflow") && rem >= 1) {
            j++;
            if (cmd_arg_is(c, j, "wrap"))
                ov = OV_WRAP;
            else if (cmd_arg_is(c, j, "sat"))
                ov = OV_SAT;
            else if (cmd_arg_is(c, j, "fail"))
                ov = OV_FAIL;
            else {
                reply_error(c, "ERR Invalid OVERFLOW type specified");
                goto done;
            }
            continue;
        } else {
            reply_error_syntax(c);
            goto done;
        }
        bfop *o = &ops[nops];
        o->op = op;
        o->ov = ov;
        if (bf_type(c, j + 1, &o->sign, &o->bits) || bf_offset(c, j + 2, o->bits, &o->off))
            goto done;
        if (op != BF_GET) {
            readonly = 0;
            if (top < o->off + (uint64_t)o->bits - 1) top = o->off + (uint64_t)o->bits - 1;
            if (cmd_arg_ll_or_reply(c, j + 3, &o->v)) goto done;
        }
        nops++;
        j += op == BF_GET ? 2 : 3;
    }
    if (!readonly && ro_cmd) {
        reply_error(c, "ERR BITFIELD_RO only supports the GET subcommand");
        goto done;
    }
    if (cmds__lookup_type(c, 1, KS_STRING, &m)) goto done;
    have_m = 1;
    size_t cur = m.exists ? m.vlen : 0, n = cur;
    if (!readonly && (size_t)(top >> 3) + 1 > n) n = (size_t)(top >> 3) + 1;
    /* Zero padding past the end keeps every read inside the buffer (9 spare bytes). */
    buf = calloc(1, n + 9);
    if (!buf) {
        cmds__reply_ks_error(c, ERR_NOMEM);
        goto done;
    }
    if (cur) memcpy(buf, m.val, cur);
    size_t readable = readonly ? cur : n;
    reply_array(c, nops);
    for (int i = 0; i < nops; i++) {
        bfop *o = &ops[i];
        if (o->op == BF_GET) {
            /* Reads past the end see zeros (the buffer is padded, but a read may start beyond it). */
            if ((o->off >> 3) >= readable) {
                reply_int(c, 0);
            } else if (o->sign) {
                reply_int(c, bf_get_s(buf, o->off, o->bits));
            } else {
                reply_int(c, (long long)bf_get_u(buf, o->off, o->bits));
            }
            continue;
        }
        if (o->sign) {
            int64_t old = bf_get_s(buf, o->off, o->bits), nv, lim = 0, ret;
            int over;
            if (o->op == BF_INCRBY) {
                over = bf_over_s(old, o->v, o->bits, o->ov, &lim);
                nv = over ? lim : old + o->v;
                ret = nv;
            } else {
                nv = o->v;
                over = bf_over_s(nv, 0, o->bits, o->ov, &lim);
                if (over) nv = lim;
                ret = old;
            }
            if (over && o->ov == OV_FAIL) {
                reply_null(c);
            } else {
                reply_int(c, ret);
                bf_set(buf, o->off, o->bits, (uint64_t)nv);
            }
        } else {
            uint64_t old = bf_get_u(buf, o->off, o->bits), nv, lim = 0, ret;
            int over;
            if (o->op == BF_INCRBY) {
                over = bf_over_u(old, o->v, o->bits, o->ov, &lim);
                nv = over ? lim : old + (uint64_t)o->v;
                ret = nv;
            } else {
                nv = (uint64_t)o->v;
                over = bf_over_u(nv, 0, o->bits, o->ov, &lim);
                if (over) nv = lim;
                ret = old;
            }
            if (over && o->ov == OV_FAIL) {
                reply_null(c);
            } else {
                reply_int(c, (long long)ret);
                bf_set(buf, o->off, o->bits, nv);
            }
        }
    }
    if (!readonly) {
        /* Like Redis, a write grows (or creates) the string even when every write failed. */
        size_t kl;
        const char *k = arg(c, 1, &kl);
        if (ks_set_string(cmds__tx(c), cmd_db(c), k, kl, &m, buf, n, m.exists ? m.expire_ms : 0) ==
            0)
            cmd_stat_dirty(1);
    }
done:
    if (have_m) ks_meta_release(&m);
    free(ops);
    free(buf);
}

static void bitfield_cmd(srv_client *c)
{
    bitfield_generic(c, 0);
}

static void bitfield_ro_cmd(srv_client *c)
{
    bitfield_generic(c, 1);
}

/* Every handler runs through a wrapper that puts the key counts it changed
 * into the batch (ks_end) before the server commits. */
CMDS_WRAP(get_cmd)
CMDS_WRAP(set_cmd)
CMDS_WRAP(setnx_cmd)
CMDS_WRAP(setex_cmd)
CMDS_WRAP(psetex_cmd)
CMDS_WRAP(getset_cmd)
CMDS_WRAP(getdel_cmd)
CMDS_WRAP(getex_cmd)
CMDS_WRAP(mget_cmd)
CMDS_WRAP(mset_cmd)
CMDS_WRAP(msetnx_cmd)
CMDS_WRAP(append_cmd)
CMDS_WRAP(strlen_cmd)
CMDS_WRAP(getrange_cmd)
CMDS_WRAP(setrange_cmd)
CMDS_WRAP(incr_cmd)
CMDS_WRAP(decr_cmd)
CMDS_WRAP(incrby_cmd)
CMDS_WRAP(decrby_cmd)
CMDS_WRAP(incrbyfloat_cmd)
CMDS_WRAP(lcs_cmd)
CMDS_WRAP(setbit_cmd)
CMDS_WRAP(getbit_cmd)
CMDS_WRAP(bitcount_cmd)
CMDS_WRAP(bitpos_cmd)
CMDS_WRAP(bitop_cmd)
CMDS_WRAP(bitfield_cmd)
CMDS_WRAP(bitfield_ro_cmd)

const cmd_def string_commands[] = {
    {"get", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, get_cmd_w, "string",
     "Returns the string value of a key.", "1.0.0", "O(1)"},
    {"set", -3, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, set_cmd_w, "string",
     "Sets the string value of a key, ignoring its type.", "1.0.0", "O(1)"},
    {"setnx", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, setnx_cmd_w, "string",
     "Set the string value of a key only when the key doesn't exist.", "1.0.0", "O(1)"},
    {"setex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, setex_cmd_w, "string",
     "Sets the string value and expiration time of a key.", "2.0.0", "O(1)"},
    {"psetex", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, psetex_cmd_w, "string",
     "Sets both string value and expiration time in milliseconds of a key.", "2.6.0", "O(1)"},
    {"getset", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, getset_cmd_w, "string",
     "Returns the previous string value of a key after setting it to a new value.", "1.0.0",
     "O(1)"},
    {"getdel", 2, CMD_WRITE | CMD_FAST, 1, 1, 1, getdel_cmd_w, "string",
     "Returns the string value of a key after deleting the key.", "6.2.0", "O(1)"},
    {"getex", -2, CMD_WRITE | CMD_FAST, 1, 1, 1, getex_cmd_w, "string",
     "Returns the string value of a key after setting its expiration time.", "6.2.0", "O(1)"},
    {"mget", -2, CMD_READONLY | CMD_FAST, 1, -1, 1, mget_cmd_w, "string",
     "Atomically returns the string values of one or more keys.", "1.0.0", "O(N)"},
    {"mset", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, mset_cmd_w, "string",
     "Atomically creates or modifies the string values of one or more keys.", "1.0.1", "O(N)"},
    {"msetnx", -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, msetnx_cmd_w, "string",
     "Atomically modifies the string values of one or more keys only when all keys don't exist.",
     "1.0.1", "O(N)"},
    {"append", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, append_cmd_w, "string",
     "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0",
     "O(1)"},
    {"strlen", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, strlen_cmd_w, "string",
     "Returns the length of a string value.", "2.2.0", "O(1)"},
    {"getrange", 4, CMD_READONLY, 1, 1, 1, getrange_cmd_w, "string",
     "Returns a substring of the string stored at a key.", "2.4.0", "O(N)"},
    {"substr", 4, CMD_READONLY, 1, 1, 1, getrange_cmd_w, "string",
     "Returns a substring from a string value.", "1.0.0", "O(N)"},
    {"setrange", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, setrange_cmd_w, "string",
     "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't "
     "exist.",
     "2.2.0", "O(1)"},
    {"incr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, incr_cmd_w, "string",
     "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't "
     "exist.",
     "1.0.0", "O(1)"},
    {"decr", 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, decr_cmd_w, "string",
     "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't "
     "exist.",
     "1.0.0", "O(1)"},
    {"incrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, incrby_cmd_w, "string",
     "Increments the integer value of a key by a number. Uses 0 as initial value if the key "
     "doesn't exist.",
     "1.0.0", "O(1)"},
    {"decrby", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, decrby_cmd_w, "string",
     "Decrements a number from the integer value of a key. Uses 0 as initial value if the key "
     "doesn't exist.",
     "1.0.0", "O(1)"},
    {"incrbyfloat", 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, incrbyfloat_cmd_w, "string",
     "Increment the floating point value of a key by a number. Uses 0 as initial value if the key "
     "doesn't exist.",
     "2.6.0", "O(1)"},
    {"lcs", -3, CMD_READONLY, 1, 2, 1, lcs_cmd_w, "string", "Finds the longest common substring.",
     "7.0.0", "O(N*M)"},
    {"setbit", 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, setbit_cmd_w, "bitmap",
     "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
     "2.2.0", "O(1)"},
    {"getbit", 3, CMD_READONLY | CMD_FAST, 1, 1, 1, getbit_cmd_w, "bitmap",
     "Returns a bit value by offset.", "2.2.0", "O(1)"},
    {"bitcount", -2, CMD_READONLY, 1, 1, 1, bitcount_cmd_w, "bitmap",
     "Counts the number of set bits (population counting) in a string.", "2.6.0", "O(N)"},
    {"bitpos", -3, CMD_READONLY, 1, 1, 1, bitpos_cmd_w, "bitmap",
     "Finds the first set (1) or clear (0) bit in a string.", "2.8.7", "O(N)"},
    {"bitop", -4, CMD_WRITE | CMD_DENYOOM, 2, -1, 1, bitop_cmd_w, "bitmap",
     "Performs bitwise operations on multiple strings, and stores the result.", "2.6.0", "O(N)"},
    {"bitfield", -2, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, bitfield_cmd_w, "bitmap",
     "Performs arbitrary bitfield integer operations on strings.", "3.2.0",
     "O(1) for each subcommand specified"},
    {"bitfield_ro", -2, CMD_READONLY | CMD_FAST, 1, 1, 1, bitfield_ro_cmd_w, "bitmap",
     "Performs arbitrary read-only bitfield integer operations on strings.", "6.0.0",
     "O(1) for each subcommand specified"},
    {0},
};
