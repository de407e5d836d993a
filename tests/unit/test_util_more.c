/* Unit tests of the util modules the server uses: dict, glob, hist, sbuf. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "util/dict.h"
#include "util/glob.h"
#include "util/hist.h"
#include "util/sbuf.h"

static void test_dict(void)
{
    dict d;
    dict_init(&d, 1);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof(k), "Key%d", i);
        dict_add(&d, k, (size_t)n, (void *)(intptr_t)(i + 1));
    }
    CHECK_EQ_INT(d.count, 1000);
    dict_entry *e = dict_find(&d, "KEY77", 5); /* case-insensitive */
    REQUIRE(e);
    CHECK_EQ_INT((intptr_t)e->val, 78);
    CHECK(dict_del(&d, "key77", 5) == (void *)(intptr_t)78);
    CHECK(!dict_find(&d, "key77", 5));
    dict_iter it;
    dict_iter_init(&it, &d);
    int seen = 0;
    for (dict_entry *x; (x = dict_next(&it));) {
        if (seen % 2) dict_del(&d, x->key, x->klen); /* deleting the returned entry is allowed */
        seen++;
    }
    CHECK_EQ_INT(seen, 999);
    CHECK_EQ_INT(d.count, 500);
    dict_clear(&d, NULL);
    CHECK_EQ_INT(d.count, 0);
    dict bin;
    dict_init(&bin, 0);
    dict_add(&bin, "a\0b", 3, NULL);
    CHECK(dict_find(&bin, "a\0b", 3) && !dict_find(&bin, "a\0c", 3) && !dict_find(&bin, "A\0b", 3));
    dict_clear(&bin, NULL);
}

static int gm(const char *p, const char *s)
{
    return glob_match(p, strlen(p), s, strlen(s), 0);
}

static void test_glob(void)
{
    CHECK(gm("*", ""));
    CHECK(gm("h?llo", "hello"));
    CHECK(!gm("h?llo", "hllo"));
    CHECK(gm("h*llo", "heeeello"));
    CHECK(gm("h[ae]llo", "hallo"));
    CHECK(!gm("h[^e]llo", "hello"));
    CHECK(gm("h[a-b]llo", "hbllo"));
    CHECK(gm("h\\*llo", "h*llo"));
    CHECK(!gm("h\\*llo", "hello"));
    CHECK(gm("news.*", "news.tech"));
    CHECK(!gm("news.*", "new"));
    CHECK(glob_match("MAX*", 4, "maxclients", 10, 1));
    /* many stars stay fast */
    CHECK(!gm("a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    CHECK(gm("*b*c", "abxbc"));
    CHECK(gm("a*", "a"));
    CHECK(!gm("a?", "a"));
    CHECK(gm("[abc", "a"));
    CHECK(gm("*[0-9]", "key7"));
    CHECK(!gm("*[0-9]", "key"));
    CHECK(gm("**x", "x"));
}

static void test_hist(void)
{
    hist h;
    hist_reset(&h);
    for (int i = 0; i < 99; i++) hist_record(&h, 3);
    hist_record(&h, 40000);
    CHECK_EQ_INT(h.count, 100);
    CHECK_EQ_INT(h.max_us, 40000);
    CHECK_EQ_INT(hist_percentile(&h, 50), 5);
    CHECK_EQ_INT(hist_percentile(&h, 100), 40000);
    uint64_t total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) total += h.buckets[i];
    CHECK_EQ_INT(total, 100);
    hist_record(&h, UINT64_MAX / 2);
    CHECK_EQ_INT(h.buckets[HIST_BUCKETS - 1], 1);
}

static void test_sbuf(void)
{
    sbuf b = {0};
    CHECK(strcmp(sbuf_str(&b), "") == 0);
    for (int i = 0; i < 100; i++) sbuf_printf(&b, "%d,", i);
    CHECK(strncmp(b.buf, "0,1,2,", 6) == 0);
    sbuf_reset(&b);
    sbuf_quoted(&b, "a\"b\n\x01", 5);
    CHECK(strcmp(b.buf, "\"a\\\"b\\n\\x01\"") == 0);
    sbuf_free(&b);
}

int main(void)
{
    RUN(test_dict);
    RUN(test_glob);
    RUN(test_hist);
    RUN(test_sbuf);
    TEST_END();
}
