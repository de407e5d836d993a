/* Hash commands over the keyspace's versioned field records. A hash's
 * fields are read in field-hash order (docs/keyspace.md), so HGETALL/HKEYS/
 * HVALS order differs from Redis's insertion order for small hashes; the
 * set of fields and values is the same (docs/compatibility.md). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/cmdutil.h"
#include "commands/data.h"
#include "keyspace/glob.h"
#include "util/err.h"
#include "util/rand.h"

static const char *arg(srv_client *c, int i, size_t *n)
{
    return cmd_arg(c, i, n);
}

static ks_txn *T(srv_client *c)
{
    return cmds__tx(c);
}

#define KEY(c, kl) arg((c), 1, &(kl))

static void hset_generic(srv_client *c, int reply_count)
{
    int argc = cmd_argc(c);
    if (argc % 2 == 1) {
        reply_error_arity(c);
        return;
    }
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_HASH, &m)) return;
    size_t kl;
    const char *k = KEY(c, kl);
    long long added = 0;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i += 2) {
        size_t fl, vl;
        const char *f = arg(c, i, &fl), *v = arg(c, i + 1, &vl);
        int a;
        rc = ks_hash_put(T(c), cmd_db(c), k, kl, &m, f, fl, v, vl, &a);
        added += a;
    }
    if (!rc) rc = ks_hash_commit(T(c), cmd_db(c), k, kl, &m);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_stat_dirty((uint64_t)(argc - 2) / 2);
        if (reply_count)
            reply_int(c, added);
        else
            reply_ok(c);
    }
    ks_meta_release(&m);
}

static void hset_cmd(srv_client *c)
{
    hset_generic(c, 1);
}

static void hmset_cmd(srv_client *c)
{
    hset_generic(c, 0);
}

/* Reads field argument fi of the hash in m: 1 found (*v malloc'd), 0 not, -1 replied error. */
static int field_get(srv_client *c, const ks_meta *m, int fi, void **v, size_t *vl)
{
    if (!m->exists) return 0;
    size_t kl, fl;
    const char *k = KEY(c, kl), *f = arg(c, fi, &fl);
    int rc = ks_hash_get(T(c), cmd_db(c), k, kl, m, f, fl, v, vl);
    if (rc == ERR_NOTFOUND) return 0;
    if (rc) {
        cmds__reply_ks_error(c, rc);
        return -1;
    }
    return 1;
}

static void hsetnx_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r == 1) {
        free(v);
        reply_int(c, 0);
    } else if (r == 0) {
        size_t kl, fl, nl;
        const char *k = KEY(c, kl), *f = arg(c, 2, &fl), *nv = arg(c, 3, &nl);
        int a, rc = ks_hash_put(T(c), cmd_db(c), k, kl, &m, f, fl, nv, nl, &a);
        if (!rc) rc = ks_hash_commit(T(c), cmd_db(c), k, kl, &m);
        if (rc) {
            cmds__reply_ks_error(c, rc);
        } else {
            cmd_stat_dirty(1);
            reply_int(c, 1);
        }
    }
    ks_meta_release(&m);
}

static void hget_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r == 1) {
        reply_bulk(c, v, vl);
        free(v);
    } else if (r == 0) {
        reply_null(c);
    }
    ks_meta_release(&m);
}

static void hmget_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    int n = cmd_argc(c) - 2;
    reply_array(c, n);
    for (int i = 0; i < n; i++) {
        void *v;
        size_t vl;
        int r = m.exists ? field_get(c, &m, i + 2, &v, &vl) : 0;
        if (r == 1) {
            reply_bulk(c, v, vl);
            free(v);
        } else {
            reply_null(c); /* an engine error mid-array still owes this element */
        }
    }
    ks_meta_release(&m);
}

static void hdel_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_HASH, &m)) return;
    long long n = 0;
    int rc = 0;
    if (m.exists) {
        size_t kl;
        const char *k = KEY(c, kl);
        for (int i = 2; i < cmd_argc(c) && !rc; i++) {
            size_t fl;
            const char *f = arg(c, i, &fl);
            int r;
            rc = ks_hash_del(T(c), cmd_db(c), k, kl, &m, f, fl, &r);
            n += r;
        }
        if (!rc && n) rc = ks_hash_commit(T(c), cmd_db(c), k, kl, &m);
    }
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        if (n) cmd_stat_dirty((uint64_t)n);
        reply_int(c, n);
    }
    ks_meta_release(&m);
}

static void hlen_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    reply_int(c, m.exists ? (long long)m.count : 0);
    ks_meta_release(&m);
}

static void hstrlen_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r == 1) {
        reply_int(c, (long long)vl);
        free(v);
    } else if (r == 0) {
        reply_int(c, 0);
    }
    ks_meta_release(&m);
}

static void hexists_cmd(srv_client *c)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r == 1) free(v);
    if (r >= 0) reply_int(c, r);
    ks_meta_release(&m);
}

/* HKEYS (1), HVALS (2), HGETALL (3). */
typedef struct emit {
    srv_client *c;
    int what;
} emit;

static int emit_field(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    emit *e = arg;
    if (e->what & 1) reply_bulk(e->c, f, flen);
    if (e->what & 2) reply_bulk(e->c, v, vlen);
    return 0;
}

static void hgetall_generic(srv_client *c, int what)
{
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    long n = m.exists ? (long)m.count : 0;
    if (what == 3)
        reply_map(c, n);
    else
        reply_array(c, n);
    if (n) {
        size_t kl;
        const char *k = KEY(c, kl);
        emit e = {c, what};
        uint64_t next;
        /* The metadata count and the field records change in one batch, so
         * the scan yields exactly n fields. */
        ks_hash_scan(T(c), cmd_db(c), k, kl, &m, 0, 0, emit_field, &e, &next);
    }
    ks_meta_release(&m);
}

static void hkeys_cmd(srv_client *c)
{
    hgetall_generic(c, 1);
}
static void hvals_cmd(srv_client *c)
{
    hgetall_generic(c, 2);
}
static void hgetall_cmd(srv_client *c)
{
    hgetall_generic(c, 3);
}

static void hincrby_cmd(srv_client *c)
{
    long long by, cur = 0;
    if (cmd_arg_ll_or_reply(c, 3, &by)) return;
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r < 0) goto done;
    if (r == 1) {
        int ok = resp_str2ll(v, vl, &cur);
        free(v);
        if (!ok) {
            reply_error(c, "ERR hash value is not an integer");
            goto done;
        }
    }
    if ((by < 0 && cur < 0 && by < LLONG_MIN - cur) ||
        (by > 0 && cur > 0 && by > LLONG_MAX - cur)) {
        reply_error_overflow(c);
        goto done;
    }
    cur += by;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld", cur);
    size_t kl, fl;
    const char *k = KEY(c, kl), *f = arg(c, 2, &fl);
    int a, rc = ks_hash_put(T(c), cmd_db(c), k, kl, &m, f, fl, buf, (size_t)n, &a);
    if (!rc) rc = ks_hash_commit(T(c), cmd_db(c), k, kl, &m);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_stat_dirty(1);
        reply_int(c, cur);
    }
done:
    ks_meta_release(&m);
}

static void hincrbyfloat_cmd(srv_client *c)
{
    long double by, cur = 0;
    size_t bl;
    const char *b = arg(c, 3, &bl);
    if (!cmds__str2ld(b, bl, &by)) {
        reply_error_not_float(c);
        return;
    }
    if (isnan(by) || isinf(by)) {
        reply_error(c, "ERR value is NaN or Infinity");
        return;
    }
    ks_meta m;
    if (cmds__lookup_type(c, 1, KS_HASH, &m)) return;
    void *v;
    size_t vl;
    int r = field_get(c, &m, 2, &v, &vl);
    if (r < 0) goto done;
    if (r == 1) {
        int ok = cmds__str2ld(v, vl, &cur);
        free(v);
        if (!ok) {
            reply_error(c, "ERR hash value is not a float");
            goto done;
        }
    }
    cur += by;
    if (isnan(cur) || isinf(cur)) {
        reply_error(c, "ERR increment would produce NaN or Infinity");
        goto done;
    }
    char buf[5200];
    int n = cmds__ld2str(buf, sizeof(buf), cur);
    size_t kl, fl;
    const char *k = KEY(c, kl), *f = arg(c, 2, &fl);
    int a, rc = ks_hash_put(T(c), cmd_db(c), k, kl, &m, f, fl, buf, (size_t)n, &a);
    if (!rc) rc = ks_hash_commit(T(c), cmd_db(c), k, kl, &m);
    if (rc) {
        cmds__reply_ks_error(c, rc);
    } else {
        cmd_stat_dirty(1);
        reply_bulk(c, buf, (size_t)n);
    }
done:
    ks_meta_release(&m);
}

/* All fields of a hash, for HRANDFIELD. */
typedef struct fields {
    char **f, **v;
    size_t *fl, *vl;
    size_t n, cap;
    int oom;
} fields;

static int collect(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    fields *x = arg;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        char **nf = realloc(x->f, cap * sizeof(*nf));
        if (nf) x->f = nf;
        char **nv = realloc(x->v, cap * sizeof(*nv));
        if (nv) x->v = nv;
        size_t *a = realloc(x->fl, cap * sizeof(*a));
        if (a) x->fl = a;
        size_t *b = realloc(x->vl, cap * sizeof(*b));
        if (b) x->vl = b;
        if (!nf || !nv || !a || !b) {
            x->oom = 1;
            return 1;
        }
        x->cap = cap;
    }
    char *p = malloc(flen + vlen + 1);
    if (!p) {
        x->oom = 1;
        return 1;
    }
    memcpy(p, f, flen);
    memcpy(p + flen, v, vlen);
    x->f[x->n] = p;
    x->v[x->n] = p + flen;
    x->fl[x->n] = flen;
    x->vl[x->n++] = vlen;
    return 0;
}

static void fields_free(fields *x)
{
    for (size_t i = 0; i < x->n; i++) free(x->f[i]);
    free(x->f);
    free(x->v);
    free(x->fl);
    free(x->vl);
}

static rng_t hr_rng;
static int hr_seeded;

static void reply_pick(srv_client *c, fields *x, size_t i, int withvalues)
{
    if (withvalues && reply_proto(c) == 3) reply_array(c, 2);
    reply_bulk(c, x->f[i], x->fl[i]);
    if (withvalues) reply_bulk(c, x->v[i], x->vl[i]);
}

static void hrandfield_cmd(srv_client *c)
{
    int argc = cmd_argc(c), withvalues = 0, has_count = argc >= 3;
    long long count = 1;
    if (has_count) {
        if (cmd_arg_ll_or_reply(c, 2, &count)) return;
        if (count < -LONG_MAX || count > LONG_MAX) {
            reply_error(c, "ERR value is out of range");
            return;
        }
        if (argc == 4 && cmd_arg_is(c, 3, "withvalues")) {
            withvalues = 1;
        } else if (argc >= 4) {
            reply_error_syntax(c);
            return;
        }
    }
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    if (!m.exists || (has_count && count == 0)) {
        if (has_count)
            reply_array(c, 0);
        else
            reply_null(c);
        ks_meta_release(&m);
        return;
    }
    if (!hr_seeded) {
        rng_seed(&hr_rng, (uint64_t)cmd_now_ms() ^ 0x5bd1e995);
        hr_seeded = 1;
    }
    fields x = {0};
    size_t kl;
    const char *k = KEY(c, kl);
    uint64_t next;
    int rc = ks_hash_scan(T(c), cmd_db(c), k, kl, &m, 0, 0, collect, &x, &next);
    if (rc || x.oom || x.n == 0) {
        cmds__reply_ks_error(c, rc ? rc : ERR_NOMEM);
        goto done;
    }
    if (!has_count) {
        size_t i = (size_t)rng_below(&hr_rng, x.n);
        reply_bulk(c, x.f[i], x.fl[i]);
    } else if (count < 0) { /* repetitions allowed */
        long long n = -count;
        long items = (long)(withvalues && reply_proto(c) == 2 ? n * 2 : n);
        reply_array(c, items);
        for (long long j = 0; j < n; j++)
            reply_pick(c, &x, (size_t)rng_below(&hr_rng, x.n), withvalues);
    } else {
        size_t n = (size_t)count < x.n ? (size_t)count : x.n;
        /* Partial Fisher-Yates: the first n positions become a random distinct sample. */
        for (size_t i = 0; i < n; i++) {
            size_t j = i + (size_t)rng_below(&hr_rng, x.n - i);
            char *t = x.f[i];
            x.f[i] = x.f[j];
            x.f[j] = t;
            t = x.v[i];
            x.v[i] = x.v[j];
            x.v[j] = t;
            size_t u = x.fl[i];
            x.fl[i] = x.fl[j];
            x.fl[j] = u;
            u = x.vl[i];
            x.vl[i] = x.vl[j];
            x.vl[j] = u;
        }
        reply_array(c, (long)(withvalues && reply_proto(c) == 2 ? n * 2 : n));
        for (size_t i = 0; i < n; i++) reply_pick(c, &x, i, withvalues);
    }
done:
    fields_free(&x);
    ks_meta_release(&m);
}

static void hscan_cmd(srv_client *c)
{
    uint64_t cur, next = 0;
    const char *p;
    size_t pl;
    long long count;
    int type;
    if (cmds__scan_args(c, 2, 0, &cur, &p, &pl, &count, &type)) return;
    ks_meta m;
    if (cmds__lookup_read(c, 1, KS_HASH, &m)) return;
    fields x = {0};
    int rc = 0;
    if (m.exists) {
        size_t kl;
        const char *k = KEY(c, kl);
        rc = ks_hash_scan(T(c), cmd_db(c), k, kl, &m, cur, (size_t)count, collect, &x, &next);
    }
    if (rc || x.oom) {
        cmds__reply_ks_error(c, rc ? rc : ERR_NOMEM);
    } else {
        int all = !p || (pl == 1 && p[0] == '*');
        size_t keep = 0;
        char *match = calloc(x.n ? x.n : 1, 1);
        for (size_t i = 0; match && i < x.n; i++) {
            match[i] = all || ks_glob_match(p, pl, x.f[i], x.fl[i], 0);
            keep += (size_t)match[i];
        }
        char buf[32];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)next);
        reply_array(c, 2);
        reply_bulk_cstr(c, buf);
        reply_array(c, match ? (long)keep * 2 : 0);
        for (size_t i = 0; match && i < x.n; i++) {
            if (!match[i]) continue;
            reply_bulk(c, x.f[i], x.fl[i]);
            reply_bulk(c, x.v[i], x.vl[i]);
        }
        free(match);
    }
    fields_free(&x);
    ks_meta_release(&m);
}

/* Every handler runs through a wrapper that puts the key counts it changed
 * into the batch (ks_end) before the server commits. */
CMDS_WRAP(hset_cmd)
CMDS_WRAP(hmset_cmd)
CMDS_WRAP(hsetnx_cmd)
CMDS_WRAP(hget_cmd)
CMDS_WRAP(hmget_cmd)
CMDS_WRAP(hdel_cmd)
CMDS_WRAP(hlen_cmd)
CMDS_WRAP(hstrlen_cmd)
CMDS_WRAP(hexists_cmd)
CMDS_WRAP(hkeys_cmd)
CMDS_WRAP(hvals_cmd)
CMDS_WRAP(hgetall_cmd)
CMDS_WRAP(hincrby_cmd)
CMDS_WRAP(hincrbyfloat_cmd)
CMDS_WRAP(hrandfield_cmd)
CMDS_WRAP(hscan_cmd)

const cmd_def hash_commands[] = {
    {"hset", -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, hset_cmd_w, "hash",
     "Creates or modifies the value of a field in a hash.", "2.0.0",
     "O(1) for each field/value pair added"},
    {"hmset", -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, hmset_cmd_w, "hash",
     "Sets the values of multiple fields.", "2.0.0", "O(N)"},
    {"hsetnx", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, hsetnx_cmd_w, "hash",
     "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0", "O(1)"},
    {"hget", 3, CMD_READONLY | CMD_FAST, 1, 1, 1, hget_cmd_w, "hash",
     "Returns the value of a field in a hash.", "2.0.0", "O(1)"},
    {"hmget", -3, CMD_READONLY | CMD_FAST, 1, 1, 1, hmget_cmd_w, "hash",
     "Returns the values of all fields in a hash.", "2.0.0", "O(N)"},
    {"hdel", -3, CMD_WRITE | CMD_FAST, 1, 1, 1, hdel_cmd_w, "hash",
     "Deletes one or more fields and their values from a hash. Deletes the hash if no fields "
     "remain.",
     "2.0.0", "O(N)"},
    {"hlen", 2, CMD_READONLY | CMD_FAST, 1, 1, 1, hlen_cmd_w, "hash",
     "Returns the number of fields in a hash.", "2.0.0", "O(1)"},
    {"hstrlen", 3, CMD_READONLY | CMD_FAST, 1, 1, 1, hstrlen_cmd_w, "hash",
     "Returns the length of the value of a field.", "3.2.0", "O(1)"},
    {"hexists", 3, CMD_READONLY | CMD_FAST, 1, 1, 1, hexists_cmd_w, "hash",
     "Determines whether a field exists in a hash.", "2.0.0", "O(1)"},
    {"hkeys", 2, CMD_READONLY, 1, 1, 1, hkeys_cmd_w, "hash", "Returns all fields in a hash.",
     "2.0.0", "O(N)"},
    {"hvals", 2, CMD_READONLY, 1, 1, 1, hvals_cmd_w, "hash", "Returns all values in a hash.",
     "2.0.0", "O(N)"},
    {"hgetall", 2, CMD_READONLY, 1, 1, 1, hgetall_cmd_w, "hash",
     "Returns all fields and values in a hash.", "2.0.0", "O(N)"},
    {"hincrby", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, hincrby_cmd_w, "hash",
     "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if "
     "the field doesn't exist.",
     "2.0.0", "O(1)"},
    {"hincrbyfloat", 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, hincrbyfloat_cmd_w, "hash",
     "Increments the floating point value of a field by a number. Uses 0 as initial value if the "
     "field doesn't exist.",
     "2.6.0", "O(1)"},
    {"hrandfield", -2, CMD_READONLY | CMD_RANDOM, 1, 1, 1, hrandfield_cmd_w, "hash",
     "Returns one or more random fields from a hash.", "6.2.0", "O(N)"},
    {"hscan", -3, CMD_READONLY | CMD_RANDOM, 1, 1, 1, hscan_cmd_w, "hash",
     "Iterates over fields and values of a hash.", "2.8.0",
     "O(1) for every call. O(N) for a complete iteration."},
    {0},
};
