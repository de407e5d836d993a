/* Growable byte buffer; see sbuf.h. Doubling growth, NUL-terminated. */
#include "util/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sbuf_reserve(sbuf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(b->buf, cap);
    if (!p) abort();
    b->buf = p;
    b->cap = cap;
}

void sbuf_append(sbuf *b, const void *p, size_t n)
{
    sbuf_reserve(b, n);
    if (n) memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s)
{
    sbuf_append(b, s, strlen(s));
}

void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    sbuf_reserve(b, (size_t)n);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sbuf_quoted(sbuf *b, const char *s, size_t n)
{
    sbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '\\': sbuf_append(b, "\\\\", 2); break;
        case '"': sbuf_append(b, "\\\"", 2); break;
        case '\n': sbuf_append(b, "\\n", 2); break;
        case '\r': sbuf_append(b, "\\r", 2); break;
        case '\t': sbuf_append(b, "\\t", 2); break;
        case '\a': sbuf_append(b, "\\a", 2); break;
        case '\b': sbuf_append(b, "\\b", 2); break;
        default:
            if (ch < 32 || ch >= 127)
                sbuf_printf(b, "\\x%02x", ch);
            else
                sbuf_append(b, &s[i], 1);
        }
    }
    sbuf_append(b, "\"", 1);
}

void sbuf_reset(sbuf *b)
{
    b->len = 0;
    if (b->buf) b->buf[0] = '\0';
}

void sbuf_free(sbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

const char *sbuf_str(const sbuf *b)
{
    return b->buf ? b->buf : "";
}
