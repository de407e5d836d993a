/* Latency histogram with fixed log-linear buckets (no allocation, O(1)
 * record), for per-command latency in INFO, LATENCY and Prometheus.
 *
 * Buckets: upper bounds in microseconds follow 1, 2, 5 x 10^k from 1 us to
 * 10^8 us (100 s), plus +Inf. Prometheus needs cumulative counts over fixed
 * bounds, so the bounds are shared by every histogram (hist_bound()).
 * Not thread-safe: one writer (the event loop). */
#ifndef STRATA_UTIL_HIST_H
#define STRATA_UTIL_HIST_H

#include <stdint.h>

#define HIST_BUCKETS 25 /* 24 finite bounds + Inf */

typedef struct hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t max_us;
    uint64_t buckets[HIST_BUCKETS]; /* non-cumulative */
} hist;

/* Adds one observation. */
void hist_record(hist *h, uint64_t us);
/* Upper bound of bucket i in microseconds (UINT64_MAX for the last). */
uint64_t hist_bound(int i);
/* Approximate percentile (0..100) in microseconds: the upper bound of the
 * bucket holding it (max_us for the last bucket); 0 when empty. */
uint64_t hist_percentile(const hist *h, double pct);
void hist_reset(hist *h);

#endif
