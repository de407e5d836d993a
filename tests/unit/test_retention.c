/* Change-log retention by age, driven by the fault env's clock: WAL segments
 * stay readable through strata_changes_* while younger than
 * wal_retention_seconds, go once older, and a wall clock that steps backwards
 * (an NTP correction) never makes them go early. */
#include "test.h"

#include "engine/faultenv.h"
#include "strata/engine.h"
#include "util/env.h"

#include <stdio.h>
#include <string.h>

#define SEC 1000000ull /* microseconds */

static int write_mb(strata_db *db, int from, int n)
{
    static char v[1000];
    memset(v, 'v', sizeof(v));
    strata_write_options w;
    strata_write_options_init(&w);
    w.durability = STRATA_DUR_BUFFERED;
    for (int i = from; i < from + n; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%06d", i);
        int rc = strata_put(db, &w, 0, k, strlen(k), v, sizeof(v), NULL);
        if (rc) return rc;
    }
    return strata_flush(db, true); /* retention runs after a flush */
}

static void test_retention_by_age(void)
{
    const char *dir = test_tmpdir("retention");
    env_t *fe = faultenv_new(env_posix());
    REQUIRE(fe);
    faultenv_real_sync(fe, false);
    uint64_t t0 = 1700000000ull * SEC;
    faultenv_set_time(fe, 1000000000ull, t0);
    strata_options o;
    strata_options_init(&o);
    o.env = fe;
    o.memtable_bytes = 64 << 10;
    o.wal_file_bytes = 64 << 10;
    o.wal_retention_seconds = 60;
    o.wal_retention_bytes = 1ull << 40;
    strata_db *db;
    REQUIRE(strata_open(dir, &o, &db) == 0);
    CHECK_EQ_INT(write_mb(db, 0, 300), 0);
    CHECK_EQ_INT(strata_changes_oldest(db), 1);

    /* 30 s later: still young. */
    faultenv_set_time(fe, 2000000000ull, t0 + 30 * SEC);
    CHECK_EQ_INT(write_mb(db, 300, 100), 0);
    CHECK_EQ_INT(strata_changes_oldest(db), 1);

    /* The wall clock steps back an hour: nothing may look old because of it. */
    faultenv_set_time(fe, 3000000000ull, t0 - 3600 * SEC);
    CHECK_EQ_INT(write_mb(db, 400, 100), 0);
    if (strata_changes_oldest(db) != 1)
        fprintf(stderr, "a backwards clock step dropped retained WAL: oldest %llu\n",
                (unsigned long long)strata_changes_oldest(db));
    CHECK_EQ_INT(strata_changes_oldest(db), 1);
    strata_changes *c;
    int rc = strata_changes_open(db, 1, &c);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        uint64_t seq;
        const void *data;
        size_t len;
        CHECK_EQ_INT(strata_changes_next(c, &seq, &data, &len), 0);
        CHECK_EQ_INT(seq, 1);
        strata_changes_close(c);
    }

    /* Two hours after the start: the early segments are past retention. */
    faultenv_set_time(fe, 4000000000ull, t0 + 7200 * SEC);
    CHECK_EQ_INT(write_mb(db, 500, 100), 0);
    uint64_t oldest = strata_changes_oldest(db);
    CHECK(oldest > 1);
    CHECK_EQ_INT(strata_changes_open(db, 1, &c), STRATA_EGONE);
    rc = strata_changes_open(db, oldest, &c);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) strata_changes_close(c);
    CHECK_EQ_INT(strata_close(db), 0);
    faultenv_free(fe);
}

int main(void)
{
    RUN(test_retention_by_age);
    TEST_END();
}
