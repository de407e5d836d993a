/* Unit tests of keyspace/: slots (CRC16 vectors), glob matching against
 * Redis 7.0's answers, the write overlay, and (on a real engine in a temp
 * dir) the key/hash/expiry/count/scan/digest/dump behaviour. */
#include "test.h"

#include "keyspace/glob.h"
#include "keyspace/overlay.h"
#include "keyspace/slot.h"

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
    ks__ov_free(o);
}

int main(void)
{
    RUN(test_crc16_slots);
    RUN(test_glob_redis_cases);
    RUN(test_overlay);
    TEST_END();
}
