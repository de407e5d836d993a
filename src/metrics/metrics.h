/* Prometheus text exposition and the tiny HTTP/1.0 front it is served by.
 *
 * The metrics layer owns no sockets: the server's event loop accepts on
 * metrics-port, feeds the request bytes to metrics_http_request(), writes the
 * response and closes. Values are rendered from the caller's counters at
 * scrape time, so nothing here is shared between threads.
 *
 * Invariants: every family is written once with its # HELP and # TYPE lines;
 * histogram buckets are cumulative with le labels from hist_bound() in
 * seconds, ending with +Inf, then _sum (seconds) and _count. */
#ifndef STRATA_METRICS_METRICS_H
#define STRATA_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/hist.h"
#include "util/sbuf.h"

/* Writes "# HELP" and "# TYPE" for a family (type: counter, gauge, histogram). */
void metrics_family(sbuf *out, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. labels may be NULL or "" (no braces). */
void metrics_sample(sbuf *out, const char *name, const char *labels, double value);
void metrics_sample_u64(sbuf *out, const char *name, const char *labels, uint64_t value);
/* The _bucket/_sum/_count samples of a histogram of microseconds. */
void metrics_histogram(sbuf *out, const char *name, const char *labels, const hist *h);
/* Escapes a label value (backslash, double quote, newline). */
void metrics_label_value(sbuf *out, const char *s, size_t n);

/* Looks at the bytes of an HTTP request received so far. Returns 0 when the
 * header is not complete yet, -1 when it is malformed or larger than 8 KiB,
 * and 1 when complete, with the request path copied to path. */
int metrics_http_request(const char *buf, size_t len, char *path, size_t pathlen);
/* Builds a whole HTTP/1.0 response with the given status line text
 * ("200 OK"), content type and body. */
void metrics_http_response(sbuf *out, const char *status, const char *ctype, const char *body,
                           size_t blen);
/* Resident set size of this process in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t metrics_rss_bytes(void);

#endif
