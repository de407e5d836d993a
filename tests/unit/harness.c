/* Shared helpers of the unit-test harness (see test.h). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int test__failures, test__passed, test__failed;

const char *test_tmpdir(const char *name)
{
    static char path[512];
    char cmd[1200];
    snprintf(path, sizeof(path), "build/tmp/%s.%d", name, (int)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    return path;
}

unsigned long long test_seed(void)
{
    const char *s = getenv("STRATA_SEED");
    unsigned long long seed;
    if (s && *s)
        seed = strtoull(s, NULL, 0);
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (unsigned long long)ts.tv_sec * 1000003ULL ^ (unsigned long long)ts.tv_nsec;
    }
    fprintf(stderr, "seed: %llu (replay with STRATA_SEED=%llu)\n", seed, seed);
    return seed;
}

int test_soak(void)
{
    const char *s = getenv("STRATA_SOAK");
    return s && *s == '1';
}
