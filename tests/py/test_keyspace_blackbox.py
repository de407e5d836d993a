"""Black-box tests of the keyspace through strata-server: persistence across
SIGKILL, expiry without access, big-hash DEL, DUMP/RESTORE, DEBUG DIGEST,
SCAN with many keys, SWAPDB/FLUSHDB and INFO keyspace."""
import os
import signal
import shutil
import time

import pytest
import redis

from conftest import start_strata


def restart_after_kill(s, *extra):
    os.kill(s.pid, signal.SIGKILL)
    s.proc.wait()
    s.log.close()
    return start_in(s.dir, *extra)


def start_in(dirname, *extra):
    from conftest import Server, free_port, strata_bin
    port = free_port()
    return Server([strata_bin(), "--port", str(port), "--dir", dirname] + list(extra), port,
                  dirname, "strata")


def test_data_survives_sigkill():
    s = start_strata("--appendfsync", "always")
    try:
        c = s.client()
        c.set("a", "1")
        c.hset("h", mapping={"f%d" % i: i for i in range(200)})
        c.set("t", "x", ex=1000)
        c.execute_command("SELECT", 3)
        c.set("in3", "yes")
        c.execute_command("SELECT", 0)
        c.execute_command("SWAPDB", 0, 5)
        p = c.pipeline(transaction=True)
        p.set("m1", "a").incr("m2").hset("mh", "f", "v")
        p.execute()
        before = c.execute_command("DEBUG", "DIGEST")
        s2 = restart_after_kill(s, "--appendfsync", "always")
        s = s2
        c = s.client()
        assert c.execute_command("DEBUG", "DIGEST") == before
        assert c.get("m1") == b"a" and c.get("m2") == b"1" and c.hget("mh", "f") == b"v"
        c.execute_command("SELECT", 5)
        assert c.get("a") == b"1"
        assert c.hlen("h") == 200 and c.hget("h", "f7") == b"7"
        assert 990 < c.ttl("t") <= 1000
        assert c.dbsize() == 3
        c.execute_command("SELECT", 3)
        assert c.get("in3") == b"yes"
    finally:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


def test_active_expiry_without_access(strata):
    c = strata.client()
    p = c.pipeline(transaction=False)
    for i in range(300):
        p.set("e%d" % i, "v", px=1500)
    p.set("keep", "v")
    p.dbsize()
    assert p.execute()[-1] == 301
    deadline = time.time() + 10
    while c.dbsize() > 1 and time.time() < deadline:
        time.sleep(0.05)
    assert c.dbsize() == 1
    info = c.info("stats")
    assert info["expired_keys"] >= 300
    assert c.info("keyspace")["db0"]["keys"] == 1


def test_big_hash_del_is_fast(strata):
    c = strata.client()
    p = c.pipeline(transaction=False)
    for j in range(50):
        p.hset("big", mapping={"f%d_%d" % (j, i): "x" * 20 for i in range(1000)})
    p.execute()
    assert c.hlen("big") == 50000
    t0 = time.time()
    assert c.delete("big") == 1
    assert time.time() - t0 < 0.5
    assert c.exists("big") == 0
    c.hset("big", "new", "1")
    assert c.hgetall("big") == {b"new": b"1"}


def test_dump_restore_roundtrip(strata):
    c = strata.client()
    c.set("s", b"\x00bin\xff")
    c.hset("h", mapping={"a": "1", "b": "2"})
    for key in ("s", "h"):
        payload = c.dump(key)
        c.restore(key + "2", 0, payload)
        assert c.execute_command("DEBUG", "DIGEST-VALUE", key) == \
            c.execute_command("DEBUG", "DIGEST-VALUE", key + "2")
    with pytest.raises(redis.ResponseError, match="BUSYKEY"):
        c.restore("s2", 0, c.dump("s"))
    c.restore("s2", 5000, c.dump("h"), replace=True)
    assert c.type("s2") == b"hash" and 0 < c.pttl("s2") <= 5000
    bad = bytearray(c.dump("s"))
    bad[1] ^= 0xFF
    with pytest.raises(redis.ResponseError, match="checksum"):
        c.restore("x", 0, bytes(bad))
    assert c.dump("nokey") is None


def test_digest_independent_of_order():
    a, b = start_strata(), start_strata()
    try:
        ca, cb = a.client(), b.client()
        zero = "0" * 40
        assert ca.execute_command("DEBUG", "DIGEST") in (zero, zero.encode())
        for i in range(100):
            ca.set("k%d" % i, i)
            ca.hset("h%d" % (i % 7), "f%d" % i, i)
        for i in reversed(range(100)):
            cb.hset("h%d" % (i % 7), "f%d" % i, i)
            cb.set("k%d" % i, i)
        assert ca.execute_command("DEBUG", "DIGEST") == cb.execute_command("DEBUG", "DIGEST")
        cb.hset("h3", "f3", "changed")
        assert ca.execute_command("DEBUG", "DIGEST") != cb.execute_command("DEBUG", "DIGEST")
    finally:
        for s in (a, b):
            s.stop()
            shutil.rmtree(s.dir, ignore_errors=True)


def test_scan_many_keys_and_randomkey(strata):
    c = strata.client()
    p = c.pipeline(transaction=False)
    for i in range(20000):
        p.set("key:%d" % i, i)
    p.execute()
    seen = set()
    cur, calls = 0, 0
    while True:
        cur, keys = c.scan(cur, count=500)
        seen.update(keys)
        calls += 1
        if cur == 0:
            break
    assert len(seen) == 20000 and calls > 20
    assert set(c.scan_iter(match="key:1999*")) == {b"key:1999", *{("key:1999%d" % i).encode() for i in range(10)}}
    assert c.randomkey() in seen
    assert len({c.randomkey() for _ in range(200)}) > 100
    assert c.execute_command("SCAN", 0, "TYPE", "hash")[1] == []
    c.execute_command("FLUSHDB")
    assert c.dbsize() == 0 and c.randomkey() is None


def test_info_keyspace_and_object(strata):
    c = strata.client()
    c.set("n", 12345)
    c.set("s", "short")
    c.set("r", "x" * 100)
    c.hset("h", "f", "v")
    c.expire("h", 1000)
    assert c.object("encoding", "n") == b"int"
    assert c.object("encoding", "s") == b"embstr"
    assert c.object("encoding", "r") == b"raw"
    assert c.object("encoding", "h") == b"listpack"
    assert c.object("encoding", "nokey") is None
    ks = c.info("keyspace")
    assert ks["db0"]["keys"] == 4 and ks["db0"]["expires"] == 1


def test_memory_usage(strata):
    c = strata.client()
    c.set("small", "x")
    c.set("big", "x" * 10000)
    c.hset("h", mapping={"f%d" % i: "v" * 100 for i in range(100)})
    assert 0 < c.memory_usage("small") < c.memory_usage("big")
    assert c.memory_usage("big") >= 10000
    exact = c.memory_usage("h", samples=0)
    assert exact >= 100 * 100
    assert abs(c.memory_usage("h") - exact) < exact // 5  # 5 samples, extrapolated
    assert c.memory_usage("nokey") is None
