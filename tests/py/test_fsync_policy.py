"""appendfsync everysec: the engine's sync thread fsyncs the WAL about once a
second aside from the event loop; `no` and `always` run no periodic sync;
CONFIG SET appendfsync switches it while the server runs."""
import shutil
import time

from conftest import start_strata


def wal_syncs(r):
    return r.info("engine")["engine_wal_syncs"]


def syncs_over(r, secs):
    r.set("k", "v")  # something to sync
    a = wal_syncs(r)
    time.sleep(secs)
    return wal_syncs(r) - a


def test_everysec_syncs_in_background_and_config_set_switches():
    s = start_strata("--appendfsync", "everysec")
    try:
        r = s.client()
        n = syncs_over(r, 2.6)
        assert 1 <= n <= 4, n
        assert r.config_set("appendfsync", "no")
        time.sleep(1.2)  # a sync already under way may still finish
        assert syncs_over(r, 2.2) == 0
        assert r.config_set("appendfsync", "everysec")
        assert syncs_over(r, 2.6) >= 1
    finally:
        rc = s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)
    assert rc == 0


def test_no_runs_no_periodic_sync():
    s = start_strata("--appendfsync", "no")
    try:
        r = s.client()
        assert syncs_over(r, 2.2) == 0
    finally:
        rc = s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)
    assert rc == 0
