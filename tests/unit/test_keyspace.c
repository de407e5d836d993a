/* Unit tests of keyspace/: slots (CRC16 vectors), glob matching against
 * Redis 7.0's answers, the write overlay, and (on a real engine in a temp
 * dir) the key/hash/expiry/count/scan/digest/dump behaviour. */
#include "test.h"

#include <stdint.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keyspace/glob.h"
#include "keyspace/keyspace.h"
#include "keyspace/rowcache.h"
#include "keyspace/overlay.h"
#include "keyspace/slot.h"
#include "util/err.h"

static void test_crc16_slots(void)
{
    CHECK_EQ_INT(ks_crc16("123456789", 9), 0x31C3);
    CHECK_EQ_INT(ks_crc16("", 0), 0);
    /* Expected slots are what redis-server 7.0 answers to CLUSTER KEYSLOT. */
    struct {
        const char *k;
        int slot;
    } v[] = {{"123456789", 12739}, {"foo", 12182},          {"bar", 5061},
             {"hello", 866},       {"somekey", 11058},      {"{user1000}.following", 3443},
             {"foo{}{bar}", 8363}, {"foo{{bar}}zap", 4015}, {"foo{bar}{zap}", 5061},
             {"{}", 15257},        {"a{b", 13340}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        CHECK_EQ_INT(ks_key_slot(v[i].k, strlen(v[i].k)), v[i].slot);
    CHECK_EQ_INT(ks_key_slot("{user1000}.followers", 20), ks_key_slot("user1000", 8));
    /* The two-bytes-per-step CRC against a bit-at-a-time one, odd and even lengths. */
    uint8_t buf[41];
    for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(buf); n++) {
        uint16_t want = 0;
        for (size_t i = 0; i < n; i++) {
            want ^= (uint16_t)(buf[i] << 8);
            for (int b = 0; b < 8; b++)
                want = (want & 0x8000) ? (uint16_t)((want << 1) ^ 0x1021) : (uint16_t)(want << 1);
        }
        CHECK_EQ_INT(ks_crc16(buf, n), want);
    }
}

static void test_glob_redis_cases(void)
{
    /* pattern, subject, what redis-server 7.0 KEYS answered (1 = listed). */
    struct {
        const char *p, *s;
        int m;
    } c[] = {
        {"*", "", 1},
        {"**", "", 0},
        {"", "", 1},
        {"a*", "a", 1},
        {"*a", "a", 1},
        {"a*b", "ab", 1},
        {"a*b", "axxb", 1},
        {"a*b", "axxbc", 0},
        {"h?llo", "hello", 1},
        {"h?llo", "hllo", 0},
        {"h[ae]llo", "hallo", 1},
        {"h[ae]llo", "hillo", 0},
        {"h[^e]llo", "hallo", 1},
        {"h[^e]llo", "hello", 0},
        {"h[a-b]llo", "hbllo", 1},
        {"h[b-a]llo", "hbllo", 1},
        {"h[a-b]llo", "hcllo", 0},
        {"h\\*llo", "h*llo", 1},
        {"h\\*llo", "hello", 0},
        {"a\\", "a\\", 1},
        {"[abc", "b", 1},
        {"[abc", "d", 0},
        {"[", "[", 0},
        {"[^", "x", 1},
        {"[]a]", "a", 0},
        {"[]a]", "]", 0},
        {"[]a]", "a]", 0},
        {"[a-]", "b", 0},
        {"[a-]", "-", 0},
        {"[a-]", "]", 1},
        {"[a-]", "^", 1},
        {"[\\]]", "]", 1},
        {"[\\", "\\", 1},
        {"*?", "a", 1},
        {"*?", "", 0},
        {"a*?*b", "acb", 1},
        {"a*?*b", "ab", 0},
        {"*[xy]*", "zzyzz", 1},
        {"foo*bar*baz", "foobarqqbazbaz", 1},
        {"??", "ab", 1},
        {"??", "abc", 0},
        {"[!a]", "b", 0},
        {"[!a]", "!", 1},
        {"\\[a]", "[a]", 1},
        {"[a-z][0-9]", "b7", 1},
        {"*.*", "a.b", 1},
        {"*.*", "..", 1},
        {"a**b", "ab", 1},
        {"[^a-c]", "d", 1},
        {"[^a-c]", "b", 0},
        {"user:*:name", "user:12:name", 1},
        {"user:*:name", "user:12:namex", 0},
        {"*x", "xxxxxxxxxxxxxxxxxxxxxxxy", 0},
        {"a[", "a[", 0},
        {"a[", "ab", 0},
        {"a[b-", "ab", 1},
        {"a[b-", "a-", 1},
        {"a[b-", "ac", 0},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        int want = c[i].m;
        /* KEYS special-cases the lone "*" (it lists the empty key too);
         * the matcher itself follows stringmatchlen, which does not. */
        if (strcmp(c[i].p, "*") == 0 && c[i].s[0] == 0) want = 0;
        int got = ks_glob_match(c[i].p, strlen(c[i].p), c[i].s, strlen(c[i].s), 0);
        if (got != want) fprintf(stderr, "glob '%s' vs '%s': got %d\n", c[i].p, c[i].s, got);
        CHECK_EQ_INT(got, want);
    }
    CHECK(ks_glob_match("HeLLo", 5, "hello", 5, 1));
    CHECK(!ks_glob_match("HeLLo", 5, "hello", 5, 0));
    CHECK(ks_glob_match("[A-C]x", 6, "bx", 2, 1));
    /* A hostile pattern finishes quickly (no exponential backtracking). */
    char pat[200], sub[4000];
    for (int i = 0; i < 100; i++) {
        pat[2 * i] = '*';
        pat[2 * i + 1] = 'a';
    }
    memset(sub, 'a', sizeof(sub));
    sub[sizeof(sub) - 1] = 'b';
    CHECK(!ks_glob_match(pat, 200, sub, sizeof(sub), 0));
    /* Binary-safe. */
    CHECK(ks_glob_match("a?c", 3, "a\0c", 3, 0));
}

static void test_overlay(void)
{
    ks__overlay *o = ks__ov_new();
    REQUIRE(o);
    CHECK(ks__ov_get(o, "a", 1) == NULL);
    char k[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof(k), "k%04d", i);
        CHECK_EQ_INT(ks__ov_put(o, k, (size_t)n, k, (size_t)n), 0);
    }
    const ks__ov_entry *e = ks__ov_get(o, "k0500", 5);
    REQUIRE(e && e->val);
    CHECK(e->vlen == 5 && memcmp(e->val, "k0500", 5) == 0);
    CHECK_EQ_INT(ks__ov_put(o, "k0500", 5, "x", 1), 0);
    e = ks__ov_get(o, "k0500", 5);
    CHECK(e && e->vlen == 1 && e->val[0] == 'x');
    CHECK_EQ_INT(ks__ov_del(o, "k0001", 5), 0);
    e = ks__ov_get(o, "k0001", 5);
    CHECK(e && e->val == NULL);
    /* Range delete: entries inside become deletions; engine keys inside are covered. */
    CHECK_EQ_INT(ks__ov_del_range(o, "k0100", 5, "k0200", 5), 0);
    e = ks__ov_get(o, "k0150", 5);
    CHECK(e && e->val == NULL);
    e = ks__ov_get(o, "k0200", 5);
    CHECK(e && e->val != NULL);
    CHECK(ks__ov_covered(o, "k0100x", 6));
    CHECK(!ks__ov_covered(o, "k0200", 5));
    /* A put after the range delete is visible again. */
    CHECK_EQ_INT(ks__ov_put(o, "k0150", 5, "y", 1), 0);
    e = ks__ov_get(o, "k0150", 5);
    CHECK(e && e->val && e->val[0] == 'y');
    size_t n;
    ks__ov_entry *const *s = ks__ov_sorted(o, &n);
    CHECK_EQ_INT(n, 1000);
    for (size_t i = 1; i < n; i++)
        CHECK(ks__keycmp(s[i - 1]->key, s[i - 1]->klen, s[i]->key, s[i]->klen) < 0);
    ks__ov_clear(o);
    CHECK(ks__ov_get(o, "k0500", 5) == NULL);
    CHECK(!ks__ov_covered(o, "k0150", 5));
    CHECK_EQ_INT(ks__ov_writes(o), 0);
    /* The arena across clears: many chunks' worth of copies, values of every
     * size up to past a chunk, empty values, overwrites; all stay intact
     * until the clear, and the overlay is reusable after it. */
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 7 + 3);
    for (int round = 0; round < 3; round++) {
        int nk = 3000;
        for (int i = 0; i < nk; i++) {
            int kn = snprintf(k, sizeof(k), "r%05d", i);
            size_t vl = (size_t)(i * 37 + round) % 300;
            if (i % 500 == 7) vl = 20000 + (size_t)i * 30; /* chunks of their own */
            CHECK_EQ_INT(ks__ov_put(o, k, (size_t)kn, big + i % 50, vl), 0);
            if (i % 3 == 0) CHECK_EQ_INT(ks__ov_put(o, k, (size_t)kn, big + 1, 0), 0);
        }
        int bad = 0;
        for (int i = 0; i < nk; i++) {
            int kn = snprintf(k, sizeof(k), "r%05d", i);
            size_t vl = (size_t)(i * 37 + round) % 300;
            if (i % 500 == 7) vl = 20000 + (size_t)i * 30;
            if (i % 3 == 0) vl = 0;
            e = ks__ov_get(o, k, (size_t)kn);
            if (!e || !e->val || e->vlen != vl || memcmp(e->val, big + (vl ? i % 50 : 1), vl) ||
                e->klen != (size_t)kn || memcmp(e->key, k, (size_t)kn))
                bad++;
        }
        CHECK_EQ_INT(bad, 0);
        ks__ov_clear(o);
        CHECK(ks__ov_get(o, "r00001", 6) == NULL);
    }
    ks__ov_free(o);
}

/* ------------------------------------------------ on a real engine */

typedef struct env {
    strata_db *db;
    ks_t *ks;
    strata_batch *b;
    uint64_t gen;
    int64_t now;
    char dir[600];
} env;

static int env_open(env *e, const char *name, int fresh)
{
    if (fresh) {
        memset(e, 0, sizeof(*e));
        snprintf(e->dir, sizeof(e->dir), "%s", test_tmpdir(name));
        e->now = 1000000;
    }
    e->ks = ks_new();
    if (!e->ks) return -1;
    /* Every keyspace test runs through the row cache (1 MiB: evictions too). */
    if (ks_set_cache_bytes(e->ks, 1 << 20)) return -1;
    strata_options o;
    strata_options_init(&o);
    o.memtable_bytes = 1 << 20;
    ks_engine_options(e->ks, &o);
    if (strata_open(e->dir, &o, &e->db)) return -1;
    if (ks_attach(e->ks, e->db, 16)) return -1;
    if (!e->b) e->b = strata_batch_new();
    return 0;
}

static void env_close(env *e, int keep_batch)
{
    strata_close(e->db); /* first: its compaction thread calls the keyspace's filter */
    ks_free(e->ks);
    e->ks = NULL;
    e->db = NULL;
    if (!keep_batch) {
        strata_batch_free(e->b);
        e->b = NULL;
    }
}

static ks_txn *tx(env *e)
{
    return ks_begin(e->ks, e->b, e->gen, e->now);
}

static int commit(env *e)
{
    int rc = ks_end(tx(e));
    if (!rc && strata_batch_count(e->b)) {
        strata_write_options w;
        strata_write_options_init(&w);
        w.durability = STRATA_DUR_NONE;
        rc = strata_write(e->db, &w, e->b, NULL);
    }
    strata_batch_clear(e->b);
    e->gen++;
    return rc;
}

static void discard(env *e)
{
    strata_batch_clear(e->b);
    e->gen++;
}

static int set_str(env *e, int db, const char *k, const char *v, int64_t exp)
{
    ks_meta m;
    ks_txn *t = tx(e);
    int rc = ks_lookup(t, db, k, strlen(k), &m);
    if (!rc) rc = ks_set_string(t, db, k, strlen(k), &m, v, strlen(v), exp);
    ks_meta_release(&m);
    return rc;
}

/* 1 and the value in out when k is a visible string. */
static int get_str(env *e, int db, const char *k, char *out, size_t cap)
{
    ks_meta m;
    if (ks_lookup(tx(e), db, k, strlen(k), &m)) return -1;
    int r = 0;
    if (m.exists && m.type == KS_STRING) {
        size_t n = m.vlen < cap - 1 ? m.vlen : cap - 1;
        memcpy(out, m.val, n);
        out[n] = 0;
        r = 1;
    }
    ks_meta_release(&m);
    return r;
}

static int del_key(env *e, int db, const char *k)
{
    ks_meta m;
    ks_txn *t = tx(e);
    int rc = ks_lookup(t, db, k, strlen(k), &m);
    if (!rc) rc = ks_delete(t, db, k, strlen(k), &m);
    ks_meta_release(&m);
    return rc;
}

static int hset(env *e, int db, const char *k, const char *f, const char *v)
{
    ks_meta m;
    ks_txn *t = tx(e);
    int added = 0, rc = ks_lookup(t, db, k, strlen(k), &m);
    if (!rc) rc = ks_hash_put(t, db, k, strlen(k), &m, f, strlen(f), v, strlen(v), &added);
    if (!rc) rc = ks_hash_commit(t, db, k, strlen(k), &m);
    ks_meta_release(&m);
    return rc ? rc : added;
}

/* Number of engine records whose key starts with the given prefix. */
static int raw_count(env *e, const uint8_t *pre, size_t n)
{
    strata_iter *it;
    if (strata_iter_new(e->db, NULL, 0, &it)) return -1;
    int c = 0;
    for (strata_iter_seek(it, pre, n); strata_iter_valid(it); strata_iter_next(it)) {
        size_t kl;
        const uint8_t *k = strata_iter_key(it, &kl);
        if (kl < n || memcmp(k, pre, n) != 0) break;
        c++;
    }
    strata_iter_free(it);
    return c;
}

static void test_strings_and_counts(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_strings", 1) == 0);
    char buf[64];
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 0);
    CHECK_EQ_INT(set_str(&e, 0, "a", "1", 0), 0);
    CHECK_EQ_INT(set_str(&e, 0, "b", "2", 0), 0);
    CHECK_EQ_INT(set_str(&e, 0, "a", "3", 0), 0); /* overwrite in the same batch */
    CHECK_EQ_INT(get_str(&e, 0, "a", buf, sizeof(buf)), 1);
    CHECK(strcmp(buf, "3") == 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 1), 0);
    CHECK_EQ_INT(set_str(&e, 1, "a", "other db", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(get_str(&e, 0, "a", buf, sizeof(buf)), 1);
    CHECK(strcmp(buf, "3") == 0);
    CHECK_EQ_INT(del_key(&e, 0, "a"), 1);
    CHECK_EQ_INT(del_key(&e, 0, "a"), 0);
    CHECK_EQ_INT(get_str(&e, 0, "a", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    /* A discarded batch leaves nothing behind, counts included. */
    CHECK_EQ_INT(set_str(&e, 0, "zz", "x", 0), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2);
    discard(&e);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    CHECK_EQ_INT(get_str(&e, 0, "zz", buf, sizeof(buf)), 0);
    /* Binary keys and values, the empty key, a large value. */
    ks_meta m;
    ks_txn *t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "", 0, &m) == 0);
    CHECK(!m.exists);
    CHECK_EQ_INT(ks_set_string(t, 0, "", 0, &m, "\0\1", 2, 0), 0);
    char *big = malloc(1 << 20);
    REQUIRE(big);
    memset(big, 'x', 1 << 20);
    REQUIRE(ks_lookup(t, 0, "k\0bin", 5, &m) == 0);
    CHECK_EQ_INT(ks_set_string(t, 0, "k\0bin", 5, &m, big, 1 << 20, 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "k\0bin", 5, &m) == 0);
    CHECK(m.exists && m.vlen == (1u << 20) && memcmp(m.val, big, 1 << 20) == 0);
    ks_meta_release(&m);
    REQUIRE(ks_lookup(tx(&e), 0, "", 0, &m) == 0);
    CHECK(m.exists && m.vlen == 2 && m.val[1] == 1);
    ks_meta_release(&m);
    free(big);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 3);
    /* Counts and data survive a reopen. */
    env_close(&e, 1);
    REQUIRE(env_open(&e, "ks_strings", 0) == 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 3);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 1), 1);
    CHECK_EQ_INT(get_str(&e, 1, "a", buf, sizeof(buf)), 1);
    CHECK(strcmp(buf, "other db") == 0);
    env_close(&e, 0);
}

static int expired_calls;
static void on_expired(void *arg, int db, const void *key, size_t len)
{
    expired_calls++;
}

static void test_expiry(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_expiry", 1) == 0);
    ks_set_expired_hook(e.ks, on_expired, NULL);
    char buf[64];
    CHECK_EQ_INT(set_str(&e, 0, "t1", "v", e.now + 100), 0);
    CHECK_EQ_INT(set_str(&e, 0, "t2", "v", e.now + 200), 0);
    CHECK_EQ_INT(set_str(&e, 0, "p", "v", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_db_expires(tx(&e), 0), 2);
    /* Lazy: a read after the deadline sees nothing and deletes. */
    e.now += 150;
    expired_calls = 0;
    CHECK_EQ_INT(get_str(&e, 0, "t1", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(expired_calls, 1);
    CHECK_EQ_INT(get_str(&e, 0, "t2", buf, sizeof(buf)), 1);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2);
    CHECK_EQ_INT(ks_db_expires(tx(&e), 0), 1);
    /* Replica mode: hidden, not deleted. */
    e.now += 100;
    ks_set_replica(e.ks, 1);
    expired_calls = 0;
    CHECK_EQ_INT(get_str(&e, 0, "t2", buf, sizeof(buf)), 0);
    size_t n;
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 100, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(expired_calls, 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2);
    ks_set_replica(e.ks, 0);
    /* Active: the cron deletes it through the time index. */
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 100, &n), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(expired_calls, 1);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    CHECK_EQ_INT(ks_db_expires(tx(&e), 0), 0);
    /* Changing and removing an expiry keeps one index entry per key. */
    ks_meta m;
    CHECK_EQ_INT(set_str(&e, 0, "t3", "v", e.now + 50), 0);
    ks_txn *t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "t3", 2, &m) == 0 && m.exists);
    CHECK_EQ_INT(ks_set_expire(t, 0, "t3", 2, &m, e.now + 5000), 0);
    ks_meta_release(&m);
    CHECK_EQ_INT(commit(&e), 0);
    uint8_t idx[4] = {0, 0xFF, 0xFF, 0x03};
    CHECK_EQ_INT(raw_count(&e, idx, 4), 1);
    e.now += 100; /* past the first deadline, not the second */
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 100, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(get_str(&e, 0, "t3", buf, sizeof(buf)), 1);
    t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "t3", 2, &m) == 0 && m.exists);
    CHECK_EQ_INT(ks_set_expire(t, 0, "t3", 2, &m, 0), 0); /* PERSIST */
    ks_meta_release(&m);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(raw_count(&e, idx, 4), 0);
    CHECK_EQ_INT(ks_db_expires(tx(&e), 0), 0);
    /* Overwriting with SET (no expiry) drops the old index entry too. */
    CHECK_EQ_INT(set_str(&e, 0, "t4", "v", e.now + 10), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(set_str(&e, 0, "t4", "w", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(raw_count(&e, idx, 4), 0);
    /* Bounded work per call. */
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "x%d", i);
        CHECK_EQ_INT(set_str(&e, 0, k, "v", e.now + 1), 0);
    }
    CHECK_EQ_INT(commit(&e), 0);
    e.now += 10;
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 20, &n), 0);
    CHECK_EQ_INT(n, 20);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 3 + 30);
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 100, &n), 0);
    CHECK_EQ_INT(n, 30);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 3);
    env_close(&e, 0);
}

typedef struct fcount {
    int n;
    char seen[2000];
} fcount;

static int count_field(void *arg, const void *f, size_t flen, const void *v, size_t vlen)
{
    fcount *c = arg;
    char buf[32];
    size_t n = flen < 31 ? flen : 31;
    memcpy(buf, f, n);
    buf[n] = 0;
    int i = atoi(buf + 1);
    if (i >= 0 && i < 2000) c->seen[i]++;
    c->n++;
    return 0;
}

static void test_hashes(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_hashes", 1) == 0);
    CHECK_EQ_INT(hset(&e, 0, "h", "a", "1"), 1);
    CHECK_EQ_INT(hset(&e, 0, "h", "a", "2"), 0);
    CHECK_EQ_INT(hset(&e, 0, "h", "b", "3"), 1);
    ks_meta m;
    ks_txn *t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "h", 1, &m) == 0);
    CHECK(m.exists && m.type == KS_HASH && m.count == 2);
    void *v;
    size_t vl;
    REQUIRE(ks_hash_get(t, 0, "h", 1, &m, "a", 1, &v, &vl) == 0);
    CHECK(vl == 1 && ((char *)v)[0] == '2');
    free(v);
    CHECK_EQ_INT(ks_hash_get(t, 0, "h", 1, &m, "zz", 2, &v, &vl), ERR_NOTFOUND);
    ks_meta_release(&m);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    /* Delete fields down to none: the key goes. */
    t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "h", 1, &m) == 0);
    int removed;
    CHECK_EQ_INT(ks_hash_del(t, 0, "h", 1, &m, "a", 1, &removed), 0);
    CHECK_EQ_INT(removed, 1);
    CHECK_EQ_INT(ks_hash_del(t, 0, "h", 1, &m, "a", 1, &removed), 0);
    CHECK_EQ_INT(removed, 0);
    CHECK_EQ_INT(ks_hash_del(t, 0, "h", 1, &m, "b", 1, &removed), 0);
    CHECK_EQ_INT(ks_hash_commit(t, 0, "h", 1, &m), 0);
    ks_meta_release(&m);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "h", 1, &m) == 0);
    CHECK(!m.exists);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 0);
    /* A big hash, scanned in pages: every field exactly once. */
    char f[16];
    t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "big", 3, &m) == 0);
    for (int i = 0; i < 1000; i++) {
        int added;
        snprintf(f, sizeof(f), "f%d", i);
        CHECK_EQ_INT(ks_hash_put(t, 0, "big", 3, &m, f, strlen(f), "v", 1, &added), 0);
    }
    CHECK_EQ_INT(ks_hash_commit(t, 0, "big", 3, &m), 0);
    ks_meta_release(&m);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "big", 3, &m) == 0);
    CHECK_EQ_INT(m.count, 1000);
    fcount c;
    memset(&c, 0, sizeof(c));
    uint64_t cur = 0;
    int pages = 0;
    do {
        CHECK_EQ_INT(ks_hash_scan(tx(&e), 0, "big", 3, &m, cur, 37, count_field, &c, &cur), 0);
        pages++;
    } while (cur && pages < 1000);
    CHECK_EQ_INT(c.n, 1000);
    for (int i = 0; i < 1000; i++) CHECK_EQ_INT(c.seen[i], 1);
    CHECK(pages >= 27);
    ks_meta_release(&m);
    /* DEL of a big hash is O(1): its fields stay until the compaction filter drops them. */
    uint8_t fpre[4] = {0, 0, 0, 0x02};
    uint16_t slot = ks_key_slot("big", 3);
    fpre[1] = (uint8_t)(slot >> 8);
    fpre[2] = (uint8_t)slot;
    CHECK_EQ_INT(raw_count(&e, fpre, 4), 1000);
    CHECK_EQ_INT(del_key(&e, 0, "big"), 1);
    CHECK(strata_batch_count(e.b) < 10);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "big", 3, &m) == 0);
    CHECK(!m.exists);
    CHECK_EQ_INT(ks_dead_sets(e.ks), 1);
    /* A new hash under the same name does not see the old fields. */
    CHECK_EQ_INT(hset(&e, 0, "big", "f1", "new"), 1);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "big", 3, &m) == 0);
    CHECK_EQ_INT(m.count, 1);
    ks_meta_release(&m);
    CHECK_EQ_INT(strata_flush(e.db, true), 0);
    CHECK_EQ_INT(strata_compact_range(e.db, 0, NULL, 0, NULL, 0), 0);
    CHECK_EQ_INT(raw_count(&e, fpre, 4), 1);
    size_t n;
    CHECK_EQ_INT(ks_cron(e.ks, e.gen, e.now, 100, &n), 0);
    CHECK_EQ_INT(ks_dead_sets(e.ks), 0);
    /* SET over a small hash removes its fields at once. */
    CHECK_EQ_INT(set_str(&e, 0, "big", "s", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(raw_count(&e, fpre, 4), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    env_close(&e, 0);
}

typedef struct keyset {
    int n;
    char seen[3000];
} keyset;

static int count_key(void *arg, const void *key, size_t klen)
{
    keyset *s = arg;
    char buf[32];
    size_t n = klen < 31 ? klen : 31;
    memcpy(buf, key, n);
    buf[n] = 0;
    int i = atoi(buf + 2);
    if (i >= 0 && i < 3000) s->seen[i]++;
    s->n++;
    return 0;
}

static void test_scan_random_flush_swap(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_scan", 1) == 0);
    char k[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "%s%d", i % 2 ? "k:" : "h:", i);
        if (i % 2)
            CHECK_EQ_INT(set_str(&e, 0, k, "v", 0), 0);
        else
            CHECK_EQ_INT(hset(&e, 0, k, "f", "v"), 1);
    }
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 2000);
    keyset s;
    memset(&s, 0, sizeof(s));
    uint64_t cur = 0;
    int calls = 0;
    do {
        CHECK_EQ_INT(ks_scan(tx(&e), 0, cur, 50, KS_NONE, NULL, 0, count_key, &s, &cur), 0);
        calls++;
    } while (cur && calls < 10000);
    CHECK_EQ_INT(s.n, 2000);
    for (int i = 0; i < 2000; i++) CHECK_EQ_INT(s.seen[i], 1);
    /* TYPE and MATCH filters; a cursor survives a restart. */
    memset(&s, 0, sizeof(s));
    cur = 0;
    calls = 0;
    do {
        CHECK_EQ_INT(ks_scan(tx(&e), 0, cur, 100, KS_HASH, "h:1*", 4, count_key, &s, &cur), 0);
        if (calls == 3) {
            env_close(&e, 1);
            REQUIRE(env_open(&e, "ks_scan", 0) == 0);
        }
        calls++;
    } while (cur && calls < 10000);
    /* even i in [0,2000) whose decimal starts with 1: 1x, 1xx, 1xxx: 5 + 50 + 500 */
    CHECK_EQ_INT(s.n, 555);
    /* Writes in the open batch are visible to SCAN and RANDOMKEY. */
    CHECK_EQ_INT(set_str(&e, 3, "only", "v", 0), 0);
    memset(&s, 0, sizeof(s));
    CHECK_EQ_INT(ks_scan(tx(&e), 3, 0, 10, KS_NONE, NULL, 0, count_key, &s, &cur), 0);
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(cur, 0);
    void *rk;
    size_t rl;
    REQUIRE(ks_randomkey(tx(&e), 3, &rk, &rl) == 0);
    CHECK(rl == 4 && memcmp(rk, "only", 4) == 0);
    free(rk);
    CHECK_EQ_INT(ks_randomkey(tx(&e), 4, &rk, &rl), ERR_NOTFOUND);
    CHECK_EQ_INT(commit(&e), 0);
    /* RANDOMKEY spreads over the keys. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 400; i++) {
        REQUIRE(ks_randomkey(tx(&e), 0, &rk, &rl) == 0);
        count_key(&s, rk, rl);
        free(rk);
    }
    int distinct = 0;
    for (int i = 0; i < 2000; i++) distinct += s.seen[i] > 0;
    CHECK(distinct > 200);
    /* SWAPDB is a map change; FLUSHDB a range delete. */
    CHECK_EQ_INT(ks_swapdb(tx(&e), 0, 3), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 3), 2000);
    CHECK_EQ_INT(commit(&e), 0);
    env_close(&e, 1);
    REQUIRE(env_open(&e, "ks_scan", 0) == 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 3), 2000);
    char buf[16];
    CHECK_EQ_INT(get_str(&e, 0, "only", buf, sizeof(buf)), 1);
    CHECK_EQ_INT(get_str(&e, 3, "k:1", buf, sizeof(buf)), 1);
    CHECK_EQ_INT(ks_flushdb(tx(&e), 3), 0);
    CHECK_EQ_INT(get_str(&e, 3, "k:1", buf, sizeof(buf)), 0); /* in the same batch */
    CHECK_EQ_INT(set_str(&e, 3, "k:1", "again", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 3), 1);
    CHECK_EQ_INT(get_str(&e, 3, "k:1", buf, sizeof(buf)), 1);
    CHECK(strcmp(buf, "again") == 0);
    CHECK_EQ_INT(get_str(&e, 3, "k:3", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(ks_flushall(tx(&e)), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 3), 0);
    CHECK_EQ_INT(get_str(&e, 0, "only", buf, sizeof(buf)), 0);
    env_close(&e, 0);
}

static void test_copy_rename(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_copy", 1) == 0);
    for (int i = 0; i < 100; i++) {
        char f[16];
        snprintf(f, sizeof(f), "f%d", i);
        CHECK_EQ_INT(hset(&e, 0, "{t}h", f, f), 1);
    }
    CHECK_EQ_INT(set_str(&e, 0, "s", "str", e.now + 1000), 0);
    CHECK_EQ_INT(commit(&e), 0);
    ks_meta a, b;
    ks_txn *t = tx(&e);
    /* Same slot: the field set moves with the metadata. */
    REQUIRE(ks_lookup(t, 0, "{t}h", 4, &a) == 0 && ks_lookup(t, 0, "{t}h2", 5, &b) == 0);
    uint64_t ver = a.version;
    CHECK_EQ_INT(ks_copy(t, 0, "{t}h", 4, &a, 0, "{t}h2", 5, &b, 1), 0);
    ks_meta_release(&a);
    ks_meta_release(&b);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "{t}h2", 5, &b) == 0);
    CHECK(b.exists && b.version == ver && b.count == 100);
    void *v;
    size_t vl;
    REQUIRE(ks_hash_get(tx(&e), 0, "{t}h2", 5, &b, "f42", 3, &v, &vl) == 0);
    CHECK(vl == 3 && memcmp(v, "f42", 3) == 0);
    free(v);
    REQUIRE(ks_lookup(tx(&e), 0, "{t}h", 4, &a) == 0);
    CHECK(!a.exists);
    CHECK_EQ_INT(ks_dead_sets(e.ks), 0);
    /* Another db: fields are copied under a new version; the source stays (COPY). */
    t = tx(&e);
    ks_meta c;
    REQUIRE(ks_lookup(t, 5, "other", 5, &c) == 0);
    CHECK_EQ_INT(ks_copy(t, 0, "{t}h2", 5, &b, 5, "other", 5, &c, 0), 0);
    CHECK(c.version != b.version && c.count == 100);
    ks_meta_release(&c);
    ks_meta_release(&b);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 5, "other", 5, &c) == 0);
    REQUIRE(ks_hash_get(tx(&e), 5, "other", 5, &c, "f99", 3, &v, &vl) == 0);
    free(v);
    ks_meta_release(&c);
    /* A string keeps its expiry when renamed over an existing hash. */
    t = tx(&e);
    REQUIRE(ks_lookup(t, 0, "s", 1, &a) == 0 && ks_lookup(t, 0, "{t}h2", 5, &b) == 0);
    CHECK_EQ_INT(ks_copy(t, 0, "s", 1, &a, 0, "{t}h2", 5, &b, 1), 0);
    ks_meta_release(&a);
    ks_meta_release(&b);
    CHECK_EQ_INT(commit(&e), 0);
    REQUIRE(ks_lookup(tx(&e), 0, "{t}h2", 5, &b) == 0);
    CHECK(b.exists && b.type == KS_STRING && b.expire_ms == e.now + 1000);
    ks_meta_release(&b);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), 1);
    CHECK_EQ_INT(ks_db_expires(tx(&e), 0), 1);
    CHECK_EQ_INT(ks_dead_sets(e.ks), 1); /* the 100-field hash it replaced */
    env_close(&e, 0);
}

static void fill(env *e, int order)
{
    for (int j = 0; j < 50; j++) {
        int i = order ? 49 - j : j;
        char k[16], f[16];
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(f, sizeof(f), "f%d", i);
        if (i % 3 == 0) {
            set_str(e, i % 2, k, f, i % 5 == 0 ? e->now + 100000 : 0);
        } else {
            hset(e, i % 2, k, f, "1");
            hset(e, i % 2, k, "g", f);
        }
    }
}

static void test_digest_dump(void)
{
    env a, b;
    char da[41], db[41];
    REQUIRE(env_open(&a, "ks_dig_a", 1) == 0);
    REQUIRE(env_open(&b, "ks_dig_b", 1) == 0);
    CHECK_EQ_INT(ks_digest(tx(&a), da), 0);
    CHECK(strcmp(da, "0000000000000000000000000000000000000000") == 0);
    fill(&a, 0);
    fill(&b, 1);
    CHECK_EQ_INT(commit(&a), 0);
    CHECK_EQ_INT(ks_digest(tx(&a), da), 0);
    CHECK_EQ_INT(ks_digest(tx(&b), db), 0); /* b still uncommitted: the overlay counts */
    CHECK(strcmp(da, db) == 0);
    CHECK_EQ_INT(strlen(da), 40);
    CHECK_EQ_INT(commit(&b), 0);
    CHECK_EQ_INT(set_str(&b, 0, "k0", "changed", 0), 0);
    CHECK_EQ_INT(ks_digest(tx(&b), db), 0);
    CHECK(strcmp(da, db) != 0);
    CHECK_EQ_INT(ks_digest_value(tx(&a), 1, "k1", 2, da), 0);
    CHECK_EQ_INT(ks_digest_value(tx(&b), 1, "k1", 2, db), 0);
    CHECK(strcmp(da, db) == 0);
    CHECK_EQ_INT(ks_digest_value(tx(&b), 1, "nokey", 5, db), 0);
    CHECK(strcmp(db, "0000000000000000000000000000000000000000") == 0);
    /* DUMP in one database, RESTORE in the other. */
    ks_meta m, n;
    uint8_t *p;
    size_t pl;
    REQUIRE(ks_lookup(tx(&a), 1, "k1", 2, &m) == 0 && m.exists);
    REQUIRE(ks_dump(tx(&a), 1, "k1", 2, &m, &p, &pl) == 0);
    ks_meta_release(&m);
    CHECK_EQ_INT(ks_dump_verify(p, pl), 0);
    ks_txn *t = tx(&b);
    REQUIRE(ks_lookup(t, 2, "copy", 4, &n) == 0);
    CHECK_EQ_INT(ks_restore(t, 2, "copy", 4, &n, p, pl, 0), 0);
    ks_meta_release(&n);
    CHECK_EQ_INT(ks_digest_value(tx(&a), 1, "k1", 2, da), 0);
    CHECK_EQ_INT(ks_digest_value(tx(&b), 2, "copy", 4, db), 0);
    CHECK(strcmp(da, db) == 0);
    p[1] ^= 1;
    CHECK_EQ_INT(ks_dump_verify(p, pl), ERR_CORRUPT);
    REQUIRE(ks_lookup(tx(&b), 2, "bad", 3, &n) == 0);
    CHECK_EQ_INT(ks_restore(tx(&b), 2, "bad", 3, &n, p, pl, 0), ERR_CORRUPT);
    ks_meta_release(&n);
    CHECK_EQ_INT(ks_dump_verify(p, 3), ERR_CORRUPT);
    free(p);
    env_close(&a, 0);
    env_close(&b, 0);
}

static int count_keys(void *arg, const void *key, size_t klen)
{
    (*(int *)arg)++;
    return 0;
}

/* A process killed mid-stream leaves counts that match its keys: each key
 * change and its count record are one batch. */
static void test_crash_counts(void)
{
    env e;
    REQUIRE(env_open(&e, "ks_crash", 1) == 0);
    env_close(&e, 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        env c;
        memset(&c, 0, sizeof(c));
        snprintf(c.dir, sizeof(c.dir), "%s", e.dir);
        c.now = 1000000;
        if (env_open(&c, "ks_crash", 0)) _exit(2);
        strata_write_options w;
        strata_write_options_init(&w);
        w.durability = STRATA_DUR_BUFFERED;
        for (int i = 0;; i++) {
            char k[32], f[16];
            snprintf(k, sizeof(k), "k%d", i % 500);
            snprintf(f, sizeof(f), "f%d", i % 7);
            if (i % 3 == 0)
                del_key(&c, 0, k);
            else if (i % 3 == 1)
                set_str(&c, 0, k, "v", i % 2 ? c.now + 1000000 : 0);
            else
                hset(&c, 0, k, f, "v");
            ks_end(tx(&c));
            strata_write(c.db, &w, c.b, NULL);
            strata_batch_clear(c.b);
            c.gen++;
        }
    }
    usleep(300 * 1000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    REQUIRE(env_open(&e, "ks_crash", 0) == 0);
    int n = 0;
    uint64_t cur = 0;
    do {
        CHECK_EQ_INT(ks_scan(tx(&e), 0, cur, 1000, KS_NONE, NULL, 0, count_keys, &n, &cur), 0);
    } while (cur);
    CHECK(n > 0);
    CHECK_EQ_INT(ks_dbsize(tx(&e), 0), n);
    env_close(&e, 0);
}

static void test_rowcache(void)
{
    ks__rc *rc = ks__rc_new(4096);
    CHECK(rc != NULL);
    const uint8_t *v;
    size_t vl;
    const uint8_t k1[] = "\x00\x01\x02\x01"
                         "abcdkey1",
                  k2[] = "\x00\x01\x02\x01"
                         "abcekey2";
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 0);
    ks__rc_put(rc, k1, sizeof(k1), "value1", 6);
    ks__rc_put(rc, k2, sizeof(k2), NULL, 0);
    CHECK_EQ_INT(ks__rc_get(rc, k2, sizeof(k2), &v, &vl), 1);
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 2);
    CHECK(vl == 6 && memcmp(v, "value1", 6) == 0);
    /* a holder keeps its value through a replacement, an erase and a clear */
    ks__rc_put(rc, k1, sizeof(k1), "value2!", 7);
    ks__rc_erase(rc, k2, sizeof(k2));
    CHECK_EQ_INT(ks__rc_get(rc, k2, sizeof(k2), &v, &vl), 0);
    const uint8_t *v2;
    size_t vl2;
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v2, &vl2), 2);
    CHECK(vl2 == 7 && memcmp(v2, "value2!", 7) == 0);
    ks__rc_clear(rc);
    CHECK(memcmp(v, "value1", 6) == 0 && memcmp(v2, "value2!", 7) == 0);
    ks__rc_unref(v);
    ks__rc_unref(v2);
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 0);
    ks__rc_update(rc, k1, sizeof(k1), "x", 1); /* not cached: stays out */
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 0);
    ks__rc_put(rc, k1, sizeof(k1), "x", 1);
    ks__rc_update(rc, k1, sizeof(k1), "yz", 2);
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 2);
    CHECK(vl == 2 && memcmp(v, "yz", 2) == 0);
    ks__rc_unref(v);
    /* rewrites in place and into a new allocation keep key and value right,
     * and the charge follows the size */
    static const char *seq[] = {"a", "abcdefghijklmnopqrstuvwxyz0123456789", "", "abc",
                                "0123456789"};
    for (int i = 0; i < 5; i++) {
        ks__rc_update(rc, k1, sizeof(k1), seq[i], strlen(seq[i]));
        CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 2);
        CHECK(vl == strlen(seq[i]) && memcmp(v, seq[i], vl) == 0);
        ks__rc_unref(v);
        uint64_t h0, m0;
        size_t b0;
        ks__rc_stats(rc, &h0, &m0, &b0);
        CHECK_EQ_INT(b0, sizeof(k1) + strlen(seq[i]) + 48);
    }
    ks__rc_update(rc, k1, sizeof(k1), NULL, 0); /* now known absent */
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 1);
    ks__rc_erase(rc, k1, sizeof(k1));
    /* bounded: many keys never charge more than the budget; big rows are skipped */
    uint8_t k[24] = {0};
    for (int i = 0; i < 1000; i++) {
        memcpy(k + 4, &i, sizeof(i));
        char val[16];
        ks__rc_put(rc, k, sizeof(k), val, (size_t)snprintf(val, sizeof(val), "v%d", i));
    }
    uint64_t hits, misses;
    size_t bytes;
    ks__rc_stats(rc, &hits, &misses, &bytes);
    CHECK(bytes > 0 && bytes <= 4096);
    /* evicted entries reused in place for other keys: what is cached is right */
    int cached = 0, wrong = 0;
    for (int i = 0; i < 1000; i++) {
        memcpy(k + 4, &i, sizeof(i));
        char val[16];
        int n = snprintf(val, sizeof(val), "v%d", i);
        if (ks__rc_get(rc, k, sizeof(k), &v, &vl) == 2) {
            cached++;
            if (vl != (size_t)n || memcmp(v, val, vl)) wrong++;
            ks__rc_unref(v);
        }
    }
    CHECK(cached > 10);
    CHECK_EQ_INT(wrong, 0);
    static uint8_t big[5000];
    ks__rc_put(rc, k1, sizeof(k1), big, sizeof(big));
    CHECK_EQ_INT(ks__rc_get(rc, k1, sizeof(k1), &v, &vl), 0);
    ks__rc_free(rc);
    CHECK(ks__rc_new(0) == NULL);
}

/* The row cache never answers with a value the engine does not hold:
 * discarded batches, committed ones, range deletes, tiny budgets. */
static void test_cache_coherence(void)
{
    env e = {0};
    CHECK_EQ_INT(env_open(&e, "ks_cache", 1), 0);
    char out[64];
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 0); /* caches "absent" */
    CHECK_EQ_INT(set_str(&e, 0, "c", "1", 0), 0);
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 1); /* the overlay */
    discard(&e);
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 0);
    CHECK_EQ_INT(set_str(&e, 0, "c", "2", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 1);
    CHECK(strcmp(out, "2") == 0);
    CHECK_EQ_INT(set_str(&e, 0, "c", "3", 0), 0);
    discard(&e);
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 1);
    CHECK(strcmp(out, "2") == 0);
    CHECK_EQ_INT(del_key(&e, 0, "c"), 1);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(get_str(&e, 0, "c", out, sizeof(out)), 0);
    CHECK_EQ_INT(set_str(&e, 0, "d", "4", 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(get_str(&e, 0, "d", out, sizeof(out)), 1);
    CHECK_EQ_INT(ks_flushdb(tx(&e), 0), 0);
    CHECK_EQ_INT(commit(&e), 0);
    CHECK_EQ_INT(get_str(&e, 0, "d", out, sizeof(out)), 0);
    /* a budget of a few entries: values stay right through evictions */
    CHECK_EQ_INT(ks_set_cache_bytes(e.ks, 600), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 50; i++) {
            char k[32], v[32];
            snprintf(k, sizeof(k), "k%d", i);
            snprintf(v, sizeof(v), "v%d.%d", i, round);
            CHECK_EQ_INT(set_str(&e, 0, k, v, 0), 0);
            CHECK_EQ_INT(commit(&e), 0);
        }
        for (int i = 0; i < 50; i++) {
            char k[32], v[32];
            snprintf(k, sizeof(k), "k%d", i);
            snprintf(v, sizeof(v), "v%d.%d", i, round);
            CHECK_EQ_INT(get_str(&e, 0, k, out, sizeof(out)), 1);
            CHECK(strcmp(out, v) == 0);
        }
    }
    uint64_t hits, misses;
    size_t bytes;
    ks_cache_stats(e.ks, &hits, &misses, &bytes);
    CHECK(hits > 0 && bytes <= 600);
    env_close(&e, 0);
}

int main(void)
{
    RUN(test_crc16_slots);
    RUN(test_glob_redis_cases);
    RUN(test_overlay);
    RUN(test_strings_and_counts);
    RUN(test_expiry);
    RUN(test_hashes);
    RUN(test_scan_random_flush_swap);
    RUN(test_copy_rename);
    RUN(test_digest_dump);
    RUN(test_crash_counts);
    RUN(test_rowcache);
    RUN(test_cache_coherence);
    TEST_END();
}
