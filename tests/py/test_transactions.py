"""MULTI/EXEC/WATCH with data commands: an EXEC is one atomic batch, WATCH
sees other clients' writes, reads inside EXEC see earlier queued writes; and
redis-cli interop for RESP3 and --pipe."""
import subprocess

import pytest
import redis


def test_exec_results_and_read_your_writes(strata):
    r = strata.client()
    p = r.pipeline(transaction=True)
    p.set("k", "1").incr("k").incrby("k", 5).get("k").hset("h", "f", "v").hget("h", "f")
    assert p.execute() == [True, 2, 7, b"7", 1, b"v"]


def test_watch_detects_other_client_write(strata):
    a, b = strata.client(), strata.client()
    a.set("w", "0")
    with a.pipeline(transaction=True) as p:
        p.watch("w")
        b.set("w", "changed")
        p.multi()
        p.set("w", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert a.get("w") == b"changed"
    with a.pipeline(transaction=True) as p:
        p.watch("w")
        p.multi()
        p.set("w", "mine")
        assert p.execute() == [True]
    assert a.get("w") == b"mine"


def test_watch_untouched_key_and_flushall(strata):
    a, b = strata.client(), strata.client()
    with a.pipeline(transaction=True) as p:
        p.watch("x")
        b.set("other", "1")
        p.multi()
        p.set("x", "1")
        assert p.execute() == [True]
    with a.pipeline(transaction=True) as p:
        p.watch("x")
        b.flushall()
        p.multi()
        p.set("x", "2")
        with pytest.raises(redis.WatchError):
            p.execute()


def test_exec_runtime_error_does_not_stop_others(strata):
    r = strata.client()
    r.set("s", "str")
    p = r.pipeline(transaction=True)
    p.incr("s").set("t", "1")
    res = p.execute(raise_on_error=False)
    assert isinstance(res[0], redis.ResponseError) and res[1] is True
    assert r.get("t") == b"1"


def test_redis_cli_resp3_and_pipe(strata):
    out = subprocess.run(["redis-cli", "-p", str(strata.port), "-3", "HELLO", "3"],
                         capture_output=True, timeout=20).stdout
    assert b"proto" in out and b"3" in out
    cmds = "".join("SET pipe:%d %d\r\n" % (i, i) for i in range(2000)).encode()
    p = subprocess.run(["redis-cli", "-p", str(strata.port), "--pipe"], input=cmds,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert b"errors: 0, replies: 2000" in p.stdout
    assert strata.client().get("pipe:1999") == b"1999"
