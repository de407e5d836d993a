/* RESP request parser: turns the bytes of a client's query buffer into one
 * command's argument vector, for both multibulk frames ("*2\r\n$3\r\nGET...")
 * and inline commands ("GET key\r\n", with redis-cli style quoting).
 *
 * Invariants
 *  1. Incremental: resp_parse() may be called again with the same buffer
 *     grown by new bytes; work already done is not repeated (the parser
 *     keeps offsets, never pointers, so the caller may realloc the buffer).
 *  2. Zero copy: arguments are (offset, length) pairs into the caller's
 *     buffer, which the parser NUL-terminates in place once the command is
 *     complete (the byte after each argument is overwritten).
 *  3. Bounded: a header line longer than RESP_INLINE_MAX without CRLF, a
 *     count above INT_MAX, a bulk above max_bulk, or (before AUTH) more than
 *     10 arguments or a bulk above 16384 bytes is a protocol error with the
 *     exact message Redis 7.0 gives. The argv array grows with the arguments
 *     actually received, not with the declared count.
 * States: kind NONE -> MULTIBULK (count read) -> bulk header/bulk body
 * alternate until mb_left == 0 -> COMMAND; or kind INLINE -> COMMAND. */
#ifndef STRATA_SERVER_RESP_H
#define STRATA_SERVER_RESP_H

#include <stddef.h>

#define RESP_INLINE_MAX (64 * 1024)

typedef struct resp_arg {
    size_t off;
    size_t len;
} resp_arg;

typedef struct resp_parser {
    int kind;           /* 0 none, 1 multibulk, 2 inline */
    long long mb_left;  /* bulks still expected */
    long long bulk_len; /* -1 while waiting for a "$n" line */
    size_t pos;         /* bytes of the buffer examined so far */
    int argc;
    int argv_cap;
    resp_arg *argv;
    size_t need;      /* hint: total bytes needed for the current bulk (0 if unknown) */
    int done;         /* a complete command is parsed; parsing again returns it unchanged */
    char errbuf[128]; /* protocol error text (no leading '-') */
} resp_parser;

typedef struct resp_limits {
    long long max_bulk;  /* proto-max-bulk-len */
    int unauthenticated; /* 1: apply Redis's pre-AUTH limits */
} resp_limits;

enum {
    RESP_INCOMPLETE = 0, /* need more bytes */
    RESP_COMMAND = 1,    /* argv holds a command of *consumed bytes */
    RESP_SKIP = 2,       /* *consumed bytes held no command (empty line, "*0") */
    RESP_ERROR = -1,     /* protocol error: errbuf; close after replying */
};

void resp_init(resp_parser *p);
void resp_free(resp_parser *p);
/* Forgets the current command (call after RESP_COMMAND/RESP_SKIP). Keeps argv memory. */
void resp_reset(resp_parser *p);
/* Parses buf[0..len) from where the last call stopped. After RESP_COMMAND and
 * before resp_reset(), calling it again returns the same command (so a
 * command can be held back and run later). */
int resp_parse(resp_parser *p, char *buf, size_t len, const resp_limits *lim, size_t *consumed);
/* Strict Redis integer parse of s[0..n): returns 1 and sets *out, or 0. */
int resp_str2ll(const char *s, size_t n, long long *out);

#endif
