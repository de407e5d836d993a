/* Minimal unit-test harness: each tests/unit/test_*.c is one program that runs
 * its cases with RUN() and ends with TEST_END(), which prints
 * "<prog>: N passed, N failed" and sets the exit status. */
#ifndef STRATA_TEST_H
#define STRATA_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test__failures; /* failed checks in the current case */
extern int test__passed, test__failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            test__failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, a_, b_);                                                               \
            test__failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Aborts the current case on failure (for preconditions of later checks). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            test__failures++;                                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        test__failures = 0;                                                                        \
        fn();                                                                                      \
        if (test__failures) {                                                                      \
            test__failed++;                                                                        \
            fprintf(stderr, "not ok - %s\n", #fn);                                                 \
        } else {                                                                                   \
            test__passed++;                                                                        \
            fprintf(stderr, "ok - %s\n", #fn);                                                     \
        }                                                                                          \
    } while (0)

#define TEST_END()                                                                                 \
    do {                                                                                           \
        printf("%s: %d passed, %d failed\n", __FILE__, test__passed, test__failed);                \
        return test__failed ? 1 : 0;                                                               \
    } while (0)

/* A fresh empty directory under build/tmp for one test; returns a static path. */
const char *test_tmpdir(const char *name);
/* Seed for randomized tests: $STRATA_SEED if set, else time-based; printed. */
unsigned long long test_seed(void);
/* 1 when STRATA_SOAK=1 (long mode). */
int test_soak(void);

#endif
