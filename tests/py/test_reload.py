"""DEBUG RELOAD: the engine is synced, closed and opened again from the data
directory; the data set (DEBUG DIGEST), the key counts and the expiries are
the same afterwards, and replicas attached to a reloading primary resume
with a partial resync."""
import random
import time

import pytest
import redis

from test_repl import in_sync, mixed_load, nodes, replica_of, same_digest  # noqa: F401


def test_reload_keeps_data(strata):
    r = strata.client()
    rnd = random.Random(7)
    mixed_load(r, rnd, 600)
    r.set("ttl", "v", ex=1000)
    r.hset("big", mapping={"f%d" % i: i for i in range(2000)})
    r.select(3)
    r.set("other-db", "x")
    r.select(0)
    time.sleep(0.3)  # the load's short expiries (1 to 200 ms) have passed
    before = (r.execute_command("DEBUG", "DIGEST"), r.dbsize(), r.info("keyspace"))
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    after = (r.execute_command("DEBUG", "DIGEST"), r.dbsize(), r.info("keyspace"))
    assert before == after
    assert 990 <= r.ttl("ttl") <= 1000
    assert r.hlen("big") == 2000
    # the server keeps working: writes after the reload, a second reload
    r.set("after", "1")
    assert r.execute_command("DEBUG", "RELOAD", "NOSAVE", "merge") == b"OK"
    assert r.get("after") == b"1"
    assert r.dbsize() == before[1] + 1


def test_reload_bad_option_and_multi(strata):
    r = strata.client()
    r.set("k", "v")
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("DEBUG", "RELOAD", "NOW")
    assert str(e.value) == "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
    p = r.pipeline(transaction=True)
    p.execute_command("DEBUG", "RELOAD")
    with pytest.raises(redis.ResponseError) as e:
        p.execute()
    assert r.get("k") == b"v"


def test_reload_primary_replica_resumes(nodes):  # noqa: F811
    p = nodes()
    rep = replica_of(nodes, p)
    c = p.c()
    rnd = random.Random(11)
    mixed_load(c, rnd, 300)
    in_sync(p, rep)
    full0 = p.info()["sync_full"]
    assert c.execute_command("DEBUG", "RELOAD") == b"OK"
    mixed_load(c, rnd, 300)
    in_sync(p, rep)
    same_digest(p, rep)
    assert p.info()["sync_full"] == full0, "a reload must not force a full sync"
    # a reload on the replica keeps its offset and its link
    assert rep.c().execute_command("DEBUG", "RELOAD") == b"OK"
    mixed_load(c, rnd, 100)
    in_sync(p, rep)
    same_digest(p, rep)
    assert p.info()["sync_full"] == full0
