/* Log-linear latency histogram; see hist.h. */
#include "util/hist.h"

#include <string.h>

static const uint64_t bounds[HIST_BUCKETS - 1] = {
    1,      2,      5,       10,      20,      50,       100,      200,
    500,    1000,   2000,    5000,    10000,   20000,    50000,    100000,
    200000, 500000, 1000000, 2000000, 5000000, 10000000, 50000000, 100000000,
};

uint64_t hist_bound(int i)
{
    return i < HIST_BUCKETS - 1 ? bounds[i] : UINT64_MAX;
}

void hist_record(hist *h, uint64_t us)
{
    int lo = 0, hi = HIST_BUCKETS - 1; /* first bound >= us, binary search */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (hist_bound(mid) >= us)
            hi = mid;
        else
            lo = mid + 1;
    }
    h->buckets[lo]++;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us) h->max_us = us;
}

uint64_t hist_percentile(const hist *h, double pct)
{
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)((pct / 100.0) * (double)h->count);
    if (rank >= h->count) rank = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t b = hist_bound(i);
            return b < h->max_us ? b : h->max_us;
        }
    }
    return h->max_us;
}

void hist_reset(hist *h)
{
    memset(h, 0, sizeof(*h));
}
