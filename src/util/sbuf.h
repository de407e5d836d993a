/* Growable byte buffer for text built at human speed (INFO, CONFIG REWRITE,
 * metrics pages, CLIENT LIST). Not for the request hot path.
 *
 * Invariants: buf is NUL-terminated whenever non-NULL (len < cap); an
 * allocation failure aborts (these buffers are small and bounded by their
 * callers). A zeroed sbuf is a valid empty buffer. */
#ifndef STRATA_UTIL_SBUF_H
#define STRATA_UTIL_SBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
} sbuf;

/* Appends n bytes. */
void sbuf_append(sbuf *b, const void *p, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap);
/* Appends s quoted and escaped the way redis.conf and CLIENT LIST expect
 * ("\n", "\x01", "\"" escapes; always wrapped in double quotes). */
void sbuf_quoted(sbuf *b, const char *s, size_t n);
/* Empties without freeing. */
void sbuf_reset(sbuf *b);
void sbuf_free(sbuf *b);
/* The contents ("" when empty; never NULL). */
const char *sbuf_str(const sbuf *b);

#endif
