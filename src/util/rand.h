/* Small fast deterministic PRNG (splitmix64 seeding + xoshiro256**), for
 * tests, skiplist heights and sampling. Not for secrets. */
#ifndef STRATA_UTIL_RAND_H
#define STRATA_UTIL_RAND_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng_t;

void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(rng_t *r, uint64_t n);

#endif
