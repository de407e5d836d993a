/* Unit tests of the RESP request parser (server/resp.c): complete and split
 * frames, inline quoting, every protocol error, limits, and the incremental
 * contract (feeding a frame one byte at a time gives the same result). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"
#include "test.h"

static const resp_limits lim = {512LL * 1024 * 1024, 0};

/* Parses s (copied into a scratch buffer) with a fresh parser. */
static int parse1(const char *s, size_t n, resp_parser *p, char *buf, size_t *used,
                  const resp_limits *l)
{
    memcpy(buf, s, n);
    resp_init(p);
    return resp_parse(p, buf, n, l ? l : &lim, used);
}

static int arg_is(const resp_parser *p, const char *buf, int i, const char *want, size_t wlen)
{
    return p->argv[i].len == wlen && memcmp(buf + p->argv[i].off, want, wlen) == 0 &&
           buf[p->argv[i].off + wlen] == '\0';
}

static void test_multibulk(void)
{
    char buf[256];
    resp_parser p;
    size_t used = 0;
    const char *f = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0b\r\n\r\nrest";
    size_t flen = 31;
    CHECK_EQ_INT(parse1(f, flen + 4, &p, buf, &used, NULL), RESP_COMMAND);
    CHECK_EQ_INT(used, flen);
    REQUIRE(p.argc == 3);
    CHECK(arg_is(&p, buf, 0, "SET", 3));
    CHECK(arg_is(&p, buf, 1, "k", 1));
    CHECK(arg_is(&p, buf, 2, "a\0b\r\n", 5));
    resp_free(&p);
}

static void test_incremental(void)
{
    const char *f = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
    size_t n = strlen(f);
    char buf[128];
    resp_parser p;
    resp_init(&p);
    size_t used = 0;
    for (size_t i = 1; i < n; i++) {
        memcpy(buf, f, i);
        CHECK_EQ_INT(resp_parse(&p, buf, i, &lim, &used), RESP_INCOMPLETE);
    }
    memcpy(buf, f, n);
    CHECK_EQ_INT(resp_parse(&p, buf, n, &lim, &used), RESP_COMMAND);
    CHECK_EQ_INT(used, n);
    CHECK(arg_is(&p, buf, 1, "hello world", 11));
    resp_free(&p);
}

static void test_inline(void)
{
    char buf[256];
    resp_parser p;
    size_t used;
    const char *f = "  set \"a\\x41\\n\" 'it\\'s' plain\r\n";
    CHECK_EQ_INT(parse1(f, strlen(f), &p, buf, &used, NULL), RESP_COMMAND);
    CHECK_EQ_INT(used, strlen(f));
    REQUIRE(p.argc == 4);
    CHECK(arg_is(&p, buf, 0, "set", 3));
    CHECK(arg_is(&p, buf, 1, "aA\n", 3));
    CHECK(arg_is(&p, buf, 2, "it's", 4));
    CHECK(arg_is(&p, buf, 3, "plain", 5));
    resp_free(&p);
    CHECK_EQ_INT(parse1("\r\n", 2, &p, buf, &used, NULL), RESP_SKIP);
    CHECK_EQ_INT(used, 2);
    resp_free(&p);
    CHECK_EQ_INT(parse1("PING", 4, &p, buf, &used, NULL), RESP_INCOMPLETE);
    resp_free(&p);
    CHECK_EQ_INT(parse1("PING\n", 5, &p, buf, &used, NULL), RESP_COMMAND);
    CHECK(arg_is(&p, buf, 0, "PING", 4));
    resp_free(&p);
    CHECK_EQ_INT(parse1("a \"b\r\n", 6, &p, buf, &used, NULL), RESP_ERROR);
    CHECK(strcmp(p.errbuf, "ERR Protocol error: unbalanced quotes in request") == 0);
    resp_free(&p);
    CHECK_EQ_INT(parse1("a \"b\"c\r\n", 8, &p, buf, &used, NULL), RESP_ERROR);
    resp_free(&p);
}

static void expect_error(const char *frame, size_t n, const char *msg, const resp_limits *l)
{
    char *buf = malloc(n + 1);
    resp_parser p;
    size_t used;
    CHECK_EQ_INT(parse1(frame, n, &p, buf, &used, l), RESP_ERROR);
    if (strcmp(p.errbuf, msg)) fprintf(stderr, "got '%s' want '%s'\n", p.errbuf, msg);
    CHECK(strcmp(p.errbuf, msg) == 0);
    resp_free(&p);
    free(buf);
}

static void test_errors(void)
{
    expect_error("*x\r\n", 4, "ERR Protocol error: invalid multibulk length", NULL);
    expect_error("*2147483648\r\n", 13, "ERR Protocol error: invalid multibulk length", NULL);
    expect_error("*1\r\n:1\r\n", 8, "ERR Protocol error: expected '$', got ':'", NULL);
    expect_error("*1\r\n$-1\r\n", 9, "ERR Protocol error: invalid bulk length", NULL);
    expect_error("*1\r\n$01\r\n", 9, "ERR Protocol error: invalid bulk length", NULL);
    resp_limits small = {100, 0};
    expect_error("*1\r\n$101\r\n", 10, "ERR Protocol error: invalid bulk length", &small);
    resp_limits unauth = {lim.max_bulk, 1};
    expect_error("*11\r\n", 5, "ERR Protocol error: unauthenticated multibulk length", &unauth);
    expect_error("*1\r\n$16385\r\n", 12, "ERR Protocol error: unauthenticated bulk length",
                 &unauth);
    size_t big = RESP_INLINE_MAX + 10;
    char *s = malloc(big);
    memset(s, '1', big);
    s[0] = '*';
    expect_error(s, big, "ERR Protocol error: too big mbulk count string", NULL);
    memcpy(s, "*1\r\n$", 5);
    expect_error(s, big, "ERR Protocol error: too big bulk count string", NULL);
    memset(s, 'a', big);
    expect_error(s, big, "ERR Protocol error: too big inline request", NULL);
    free(s);
}

static void test_empty_and_huge_count(void)
{
    char buf[64];
    resp_parser p;
    size_t used;
    CHECK_EQ_INT(parse1("*0\r\n", 4, &p, buf, &used, NULL), RESP_SKIP);
    CHECK_EQ_INT(used, 4);
    resp_free(&p);
    CHECK_EQ_INT(parse1("*-1\r\n", 5, &p, buf, &used, NULL), RESP_SKIP);
    resp_free(&p);
    /* a huge declared count allocates nothing up front */
    CHECK_EQ_INT(parse1("*1000000\r\n$1\r\na\r\n", 17, &p, buf, &used, NULL), RESP_INCOMPLETE);
    CHECK(p.argv_cap <= 16);
    CHECK_EQ_INT(p.need, 0);
    resp_free(&p);
    /* need hints the bytes of a big bulk */
    CHECK_EQ_INT(parse1("*1\r\n$1000\r\nab", 13, &p, buf, &used, NULL), RESP_INCOMPLETE);
    CHECK_EQ_INT(p.need, 11 + 1000 + 2);
    resp_free(&p);
}

static void test_str2ll(void)
{
    long long v;
    CHECK(resp_str2ll("0", 1, &v) && v == 0);
    CHECK(resp_str2ll("-12", 3, &v) && v == -12);
    CHECK(resp_str2ll("9223372036854775807", 19, &v) && v == LLONG_MAX);
    CHECK(resp_str2ll("-9223372036854775808", 20, &v) && v == LLONG_MIN);
    CHECK(!resp_str2ll("9223372036854775808", 19, &v));
    CHECK(!resp_str2ll("01", 2, &v));
    CHECK(!resp_str2ll("+1", 2, &v));
    CHECK(!resp_str2ll("-0", 2, &v));
    CHECK(!resp_str2ll("", 0, &v));
    CHECK(!resp_str2ll("1 ", 2, &v));
    CHECK(!resp_str2ll("-", 1, &v));
}

/* Several commands back to back, with a reset between them. */
static void test_sequence(void)
{
    const char *f = "*1\r\n$4\r\nPING\r\nECHO x\r\n*0\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n";
    size_t n = strlen(f) + 0;
    char buf[128];
    memcpy(buf, f, n);
    resp_parser p;
    resp_init(&p);
    size_t pos = 0, used;
    int kinds[8], k = 0;
    while (pos < n && k < 8) {
        int rc = resp_parse(&p, buf + pos, n - pos, &lim, &used);
        if (rc <= 0) break;
        kinds[k++] = rc == RESP_COMMAND ? p.argc : 0;
        pos += used;
        resp_reset(&p);
    }
    CHECK_EQ_INT(pos, n);
    REQUIRE(k == 4);
    CHECK_EQ_INT(kinds[0], 1);
    CHECK_EQ_INT(kinds[1], 2);
    CHECK_EQ_INT(kinds[2], 0);
    CHECK_EQ_INT(kinds[3], 2);
    resp_free(&p);
}

/* A parsed command can be asked for again (held back by a pause or a write
 * stall) and comes back identical, inline quoting included. */
static void test_done_is_idempotent(void)
{
    const char *f = "SET \"a b\" 'c'\r\nPING\r\n";
    size_t n = strlen(f);
    char buf[64];
    memcpy(buf, f, n);
    resp_parser p;
    resp_init(&p);
    size_t u1 = 0, u2 = 0;
    CHECK_EQ_INT(resp_parse(&p, buf, n, &lim, &u1), RESP_COMMAND);
    CHECK_EQ_INT(resp_parse(&p, buf, n, &lim, &u2), RESP_COMMAND);
    CHECK_EQ_INT(u1, u2);
    REQUIRE(p.argc == 3);
    CHECK(arg_is(&p, buf, 1, "a b", 3));
    CHECK(arg_is(&p, buf, 2, "c", 1));
    resp_reset(&p);
    CHECK_EQ_INT(resp_parse(&p, buf + u1, n - u1, &lim, &u2), RESP_COMMAND);
    CHECK(arg_is(&p, buf + u1, 0, "PING", 4));
    resp_free(&p);
}

int main(void)
{
    RUN(test_done_is_idempotent);
    RUN(test_multibulk);
    RUN(test_incremental);
    RUN(test_inline);
    RUN(test_errors);
    RUN(test_empty_and_huge_count);
    RUN(test_str2ll);
    RUN(test_sequence);
    TEST_END();
}
