"""Backpressure: when the engine stalls writes, the server holds writing
clients back (it stops reading their sockets) instead of buffering without
bound, keeps serving reads, applies every held-back write in order once the
stall clears, and counts each wait in INFO and /metrics.

The engine is configured to stall often: a 1 MiB memtable, one immutable
memtable at most, and level-0 slowdown/stop triggers of 1 file, so every
flush stops writes until a compaction has moved the file out of level 0.
"""
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from conftest import free_port, start_strata, strata_bin

STALL_ARGS = ("--memtable-bytes", "1mb", "--max-immutable-memtables", "1",
              "--level0-slowdown-trigger", "1", "--level0-stop-trigger", "1",
              "--appendfsync", "no")


def info_stats(r):
    return r.info("stats")


def test_bad_trigger_order_refused_at_start(tmp_path):
    p = subprocess.run([strata_bin(), "--port", str(free_port()), "--dir", str(tmp_path),
                        "--level0-slowdown-trigger", "8", "--level0-stop-trigger", "4"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 1
    assert b"level0-stop-trigger (4) must be at least level0-slowdown-trigger (8)" in p.stdout


def test_writes_held_back_reads_served():
    mport = free_port()
    s = start_strata("--metrics-port", str(mport), *STALL_ARGS)
    try:
        r = s.client()
        r.set("probe", "here")
        nkeys, vsize = 6000, 4096
        done = threading.Event()
        errors = []

        def writer():
            try:
                w = s.client(socket_timeout=120)
                for base in range(0, nkeys, 250):
                    p = w.pipeline(transaction=False)
                    for i in range(base, min(base + 250, nkeys)):
                        # incompressible values: every flush writes ~1 MiB to level 0
                        p.set("k:%d" % i, os.urandom(vsize // 2).hex())
                    assert all(p.execute())
            except Exception as e:  # reported by the main thread
                errors.append(e)
            finally:
                done.set()

        t = threading.Thread(target=writer)
        t.start()
        reads, worst = 0, 0.0
        while not done.is_set():
            t0 = time.monotonic()
            assert r.get("probe") == b"here"
            worst = max(worst, time.monotonic() - t0)
            reads += 1
        t.join()
        assert not errors, errors
        assert reads > 0
        # reads never queue behind held-back writes
        assert worst < 5.0, worst
        st = info_stats(r)
        assert st["write_stalls"] > 0, st
        assert st["write_stall_usec"] > 0, st
        eng = r.info("engine")
        assert eng["engine_stopped_count"] + eng["engine_stall_count"] > 0, eng
        # every held-back write was applied, in order: the last value of each key is there
        assert r.dbsize() == nkeys + 1
        assert len(r.get("k:%d" % (nkeys - 1))) == vsize
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                      timeout=5).read().decode()
        m = re.search(r"^strata_client_write_stalls_total (\S+)$", text, re.M)
        assert m and float(m.group(1)) > 0, text[-2000:]
        m = re.search(r"^strata_client_write_stall_microseconds_total (\S+)$", text, re.M)
        assert m and float(m.group(1)) > 0
    finally:
        rc = s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)
    assert rc == 0


def test_held_back_transaction_applies_whole():
    s = start_strata(*STALL_ARGS)
    try:
        r = s.client(socket_timeout=120)
        for round_ in range(40):
            p = r.pipeline(transaction=True)
            for i in range(40):
                p.set("t:%d:%d" % (round_, i), os.urandom(1024).hex())
            p.incr("rounds")
            out = p.execute()
            assert out[-1] == round_ + 1
        assert r.get("rounds") == b"40"
        assert r.dbsize() == 40 * 40 + 1
    finally:
        rc = s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)
    assert rc == 0
