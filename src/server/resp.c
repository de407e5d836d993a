/* RESP request parser; see resp.h for the contract and state machine. */
#include "server/resp.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_NONE = 0, KIND_MULTIBULK = 1, KIND_INLINE = 2 };

void resp_init(resp_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->bulk_len = -1;
}

void resp_free(resp_parser *p)
{
    free(p->argv);
    p->argv = NULL;
    p->argv_cap = 0;
}

void resp_reset(resp_parser *p)
{
    p->kind = KIND_NONE;
    p->mb_left = 0;
    p->bulk_len = -1;
    p->pos = 0;
    p->argc = 0;
    p->need = 0;
    p->done = 0;
}

int resp_str2ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20) return 0;
    size_t i = 0;
    int neg = 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1) return 0;
    }
    if (s[i] < '1' || s[i] > '9') return 0;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1) return 0;
        *out = (long long)(0 - v);
    } else {
        if (v > (unsigned long long)LLONG_MAX) return 0;
        *out = (long long)v;
    }
    return 1;
}

static int fail(resp_parser *p, const char *msg)
{
    snprintf(p->errbuf, sizeof(p->errbuf), "ERR Protocol error: %s", msg);
    return RESP_ERROR;
}

static int push_arg(resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->argv_cap) {
        int cap = p->argv_cap ? p->argv_cap * 2 : 16;
        resp_arg *a = realloc(p->argv, (size_t)cap * sizeof(*a));
        if (!a) return -1;
        p->argv = a;
        p->argv_cap = cap;
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits buf[0..end) into arguments in place, redis-cli quoting rules:
 * "..." with \n \r \t \b \a \xHH escapes, '...' with \' only; a closing
 * quote must be followed by a space or the end. Output never outgrows input. */
static int split_inline(resp_parser *p, char *buf, size_t end)
{
    size_t r = 0;
    while (1) {
        while (r < end && (buf[r] == ' ' || buf[r] == '\t' || buf[r] == '\n' || buf[r] == '\r' ||
                           buf[r] == '\v' || buf[r] == '\f'))
            r++;
        if (r >= end) return 0;
        size_t start = r, w = r;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            if (inq) {
                if (r >= end) return -1;
                if (buf[r] == '\\' && r + 3 < end && buf[r + 1] == 'x' && hexval(buf[r + 2]) >= 0 &&
                    hexval(buf[r + 3]) >= 0) {
                    buf[w++] = (char)(hexval(buf[r + 2]) * 16 + hexval(buf[r + 3]));
                    r += 3;
                } else if (buf[r] == '\\' && r + 1 < end) {
                    char c;
                    r++;
                    switch (buf[r]) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = buf[r]; break;
                    }
                    buf[w++] = c;
                } else if (buf[r] == '"') {
                    if (r + 1 < end && buf[r + 1] != ' ' && buf[r + 1] != '\t' &&
                        buf[r + 1] != '\n' && buf[r + 1] != '\r' && buf[r + 1] != '\v' &&
                        buf[r + 1] != '\f')
                        return -1;
                    done = 1;
                } else {
                    buf[w++] = buf[r];
                }
            } else if (insq) {
                if (r >= end) return -1;
                if (buf[r] == '\\' && r + 1 < end && buf[r + 1] == '\'') {
                    r++;
                    buf[w++] = '\'';
                } else if (buf[r] == '\'') {
                    if (r + 1 < end && buf[r + 1] != ' ' && buf[r + 1] != '\t' &&
                        buf[r + 1] != '\n' && buf[r + 1] != '\r' && buf[r + 1] != '\v' &&
                        buf[r + 1] != '\f')
                        return -1;
                    done = 1;
                } else {
                    buf[w++] = buf[r];
                }
            } else {
                if (r >= end) break;
                switch (buf[r]) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\v':
                case '\f':
                case '\0': done = 1; break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: buf[w++] = buf[r]; break;
                }
            }
            r++;
        }
        if (push_arg(p, start, w - start)) return -2;
        /* w < r always holds here (a separator or closing quote was consumed,
         * or r == end and the caller keeps the newline after end). */
        buf[w] = '\0';
    }
}

static int parse_inline(resp_parser *p, char *buf, size_t len, size_t *consumed)
{
    char *nl = memchr(buf, '\n', len);
    if (!nl) {
        if (len > RESP_INLINE_MAX) return fail(p, "too big inline request");
        return RESP_INCOMPLETE;
    }
    size_t end = (size_t)(nl - buf);
    size_t linelen = end;
    if (linelen && buf[linelen - 1] == '\r') linelen--;
    p->argc = 0;
    int rc = split_inline(p, buf, linelen);
    if (rc == -1) return fail(p, "unbalanced quotes in request");
    if (rc == -2) return fail(p, "out of memory");
    *consumed = end + 1;
    p->pos = end + 1;
    p->done = p->argc > 0;
    return p->argc ? RESP_COMMAND : RESP_SKIP;
}

/* Finds the "\r" ending a header line starting at from; returns its offset
 * or -1 if the line (and the byte after "\r") is not all there yet. */
static long find_cr(const char *buf, size_t from, size_t len)
{
    const char *cr = memchr(buf + from, '\r', len - from);
    if (!cr || (size_t)(cr - buf) + 1 >= len) return -1;
    return cr - buf;
}

int resp_parse(resp_parser *p, char *buf, size_t len, const resp_limits *lim, size_t *consumed)
{
    if (p->done) {
        *consumed = p->pos;
        return RESP_COMMAND;
    }
    if (p->kind == KIND_NONE) {
        if (len == 0) return RESP_INCOMPLETE;
        p->kind = buf[0] == '*' ? KIND_MULTIBULK : KIND_INLINE;
    }
    if (p->kind == KIND_INLINE) return parse_inline(p, buf, len, consumed);

    if (p->pos == 0) { /* the "*<count>" line */
        long cr = find_cr(buf, 0, len);
        if (cr < 0) {
            if (len > RESP_INLINE_MAX) return fail(p, "too big mbulk count string");
            return RESP_INCOMPLETE;
        }
        long long ll;
        if (!resp_str2ll(buf + 1, (size_t)cr - 1, &ll) || ll > INT_MAX)
            return fail(p, "invalid multibulk length");
        if (ll > 10 && lim->unauthenticated) return fail(p, "unauthenticated multibulk length");
        p->pos = (size_t)cr + 2;
        if (ll <= 0) {
            *consumed = p->pos;
            return RESP_SKIP;
        }
        p->mb_left = ll;
        p->argc = 0;
        p->bulk_len = -1;
    }
    while (p->mb_left > 0) {
        if (p->bulk_len < 0) {
            if (p->pos >= len) return RESP_INCOMPLETE;
            long cr = find_cr(buf, p->pos, len);
            if (cr < 0) {
                if (len - p->pos > RESP_INLINE_MAX) return fail(p, "too big bulk count string");
                return RESP_INCOMPLETE;
            }
            if (buf[p->pos] != '$') {
                char m[64];
                snprintf(m, sizeof(m), "expected '$', got '%c'", buf[p->pos]);
                return fail(p, m);
            }
            long long ll;
            if (!resp_str2ll(buf + p->pos + 1, (size_t)cr - p->pos - 1, &ll) || ll < 0 ||
                ll > lim->max_bulk)
                return fail(p, "invalid bulk length");
            if (ll > 16384 && lim->unauthenticated) return fail(p, "unauthenticated bulk length");
            p->bulk_len = ll;
            p->pos = (size_t)cr + 2;
        }
        size_t blen = (size_t)p->bulk_len;
        if (len - p->pos < blen + 2) {
            p->need = p->pos + blen + 2;
            return RESP_INCOMPLETE;
        }
        if (push_arg(p, p->pos, blen)) return fail(p, "out of memory");
        p->pos += blen + 2;
        p->bulk_len = -1;
        p->mb_left--;
        p->need = 0;
    }
    for (int i = 0; i < p->argc; i++) buf[p->argv[i].off + p->argv[i].len] = '\0';
    *consumed = p->pos;
    p->done = 1;
    return RESP_COMMAND;
}
