"""Replication: a primary and replicas as real processes (docs/replication.md).

Short by default; STRATA_SOAK=1 runs the loads far longer. Every test ends
with equal DEBUG DIGEST on all nodes, and the fault tests check that the
writes the mode promised are there.
"""
import os
import random
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time

import pytest
import redis

from conftest import Server, free_port, strata_bin

SOAK = os.environ.get("STRATA_SOAK", "0") == "1"


class Node:
    """A strata-server on a fixed port and data dir that can be killed and restarted."""

    def __init__(self, *extra, port=None, d=None):
        self.port = port or free_port()
        self.dir = d or tempfile.mkdtemp(prefix="strata-repl-")
        self.extra = list(extra)
        self.srv = None
        self.logs = ""
        self.start()

    def start(self, *more):
        argv = [strata_bin(), "--port", str(self.port), "--dir", self.dir] + self.extra + list(more)
        if self.srv:
            self.logs += self.srv.logtext()
        self.srv = Server(argv, self.port, self.dir, "strata")

    @property
    def pid(self):
        return self.srv.pid

    def alive(self):
        return self.srv.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        os.kill(self.pid, sig)
        if sig == signal.SIGKILL:
            self.srv.proc.wait()

    def stop(self):
        rc = self.srv.stop()
        self.logs += self.srv.logtext()
        return rc

    def c(self, **kw):
        kw.setdefault("socket_timeout", 20)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def info(self):
        return self.c().info("replication")

    def digest(self):
        return self.c().execute_command("DEBUG", "DIGEST")

    def log(self):
        return self.logs + self.srv.logtext()


@pytest.fixture
def nodes():
    made = []

    def make(*extra, **kw):
        n = Node(*extra, **kw)
        made.append(n)
        return n

    yield make
    bad = []
    for n in made:
        if n.alive():
            try:
                os.kill(n.pid, signal.SIGCONT)
            except OSError:
                pass
            rc = n.stop()
            if rc != 0:
                bad.append((n.port, rc, n.log()[-3000:]))
        shutil.rmtree(n.dir, ignore_errors=True)
    assert not bad, "server exited badly: %r" % (bad,)


def replica_of(nodes, primary, *extra):
    return nodes("--replicaof", "127.0.0.1 %d" % primary.port, *extra)


def wait_until(fn, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def in_sync(primary, *replicas, timeout=60.0):
    """Waits until every replica's link is up at the primary's offset."""

    def ok():
        off = primary.info()["master_repl_offset"]
        for r in replicas:
            i = r.info()
            if i.get("master_link_status") != "up" or i["slave_repl_offset"] != off:
                return False
        return primary.info()["master_repl_offset"] == off

    wait_until(ok, timeout, "replicas in sync")


def same_digest(*ns):
    """Same data and the same key and expiry counts (which a replica keeps
    from the count records of the stream, not by counting)."""
    ds = [n.digest() for n in ns]
    assert len(set(ds)) == 1, ds
    ks = [n.c().info("keyspace") for n in ns]
    assert all(k == ks[0] for k in ks), ks
    return ds[0]


def mixed_load(c, rnd, n, prefix="k"):
    """Strings, hashes, expiries, MULTI/EXEC and DEL of large hashes."""
    for i in range(n):
        op = rnd.random()
        k = "%s%d" % (prefix, rnd.randrange(200))
        if op < 0.3:
            c.set(k, "v%d" % rnd.randrange(10 ** 6))
        elif op < 0.45:
            c.hset("h" + k, mapping={"f%d" % j: j * i for j in range(rnd.randrange(1, 6))})
        elif op < 0.55:
            c.set("e" + k, "x", px=rnd.choice([1, 50, 200, 100000]))
        elif op < 0.62:
            c.pexpire(k, rnd.choice([1, 100, 100000]))
        elif op < 0.72:
            p = c.pipeline(transaction=True)
            p.incr("ctr")
            p.hincrby("hctr", "f", 1)
            p.set(k, "multi%d" % i)
            p.delete("h" + k)
            p.execute()
        elif op < 0.76:
            big = "big%d" % rnd.randrange(3)
            c.hset(big, mapping={"f%d" % j: "x" * 20 for j in range(300)})
            c.delete(big)
        elif op < 0.85:
            c.delete(k)
        else:
            c.append(k, "a")


def test_stream_role_info_readonly(nodes):
    p = nodes()
    pc = p.c()
    pc.set("before", "1")
    pc.hset("h", mapping={"a": "1", "b": "2"})
    r = replica_of(nodes, p)
    in_sync(p, r)
    rc = r.c()
    assert rc.get("before") == b"1"
    assert rc.hgetall("h") == {b"a": b"1", b"b": b"2"}
    pc.set("after", "2")
    in_sync(p, r)
    assert rc.get("after") == b"2"
    with pytest.raises(redis.exceptions.ReadOnlyError, match="You can't write against a read only replica"):
        rc.set("x", "1")
    # the exact error line
    s = socket.create_connection(("127.0.0.1", r.port))
    s.sendall(b"SET x 1\r\n")
    assert s.recv(100) == b"-READONLY You can't write against a read only replica.\r\n"
    s.close()
    role = pc.execute_command("ROLE")
    assert role[0] == b"master" and role[1] == p.info()["master_repl_offset"]
    assert role[2][0][1] == str(r.port).encode()
    rrole = rc.execute_command("ROLE")
    assert rrole[0] == b"slave" and rrole[2] == p.port and rrole[3] == b"connected"
    pi, ri = p.info(), r.info()
    assert pi["role"] == "master" and pi["connected_slaves"] == 1
    assert pi["slave0"]["state"] == "online" and pi["slave0"]["port"] == r.port
    assert ri["role"] == "slave" and ri["master_link_status"] == "up"
    assert ri["master_replid"] == pi["master_replid"] and len(pi["master_replid"]) == 40
    for f in ("master_last_io_seconds_ago", "master_sync_in_progress", "slave_repl_offset",
              "repl_backlog_first_byte_offset", "repl_backlog_histlen", "second_repl_offset"):
        assert f in ri, f
    # WAIT counts the replica once it acknowledged this client's write
    pc.set("w", "1")
    assert pc.execute_command("WAIT", 1, 5000) == 1
    assert pc.execute_command("WAIT", 2, 200) == 1  # times out with what it has
    with pytest.raises(redis.exceptions.ResponseError, match="WAIT cannot be used with replica"):
        rc.execute_command("WAIT", 1, 10)
    same_digest(p, r)
    # promotion: new replication id, writable, old id kept as replid2
    old = ri["master_replid"]
    assert rc.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    ri = r.info()
    assert ri["role"] == "master" and ri["master_replid2"] == old
    assert ri["master_replid"] != old
    rc.set("x", "now writable")
    assert rc.get("x") == b"now writable"


def test_replicaof_command_and_config(nodes):
    p = nodes()
    p.c().set("a", "1")
    r = nodes()
    rc = r.c()
    assert rc.execute_command("REPLICAOF", "127.0.0.1", str(p.port)) == b"OK"
    assert rc.execute_command("REPLICAOF", "127.0.0.1", str(p.port)) == \
        b"OK Already connected to specified master"
    in_sync(p, r)
    assert rc.get("a") == b"1"
    assert rc.config_get("replicaof")["replicaof"] == "127.0.0.1 %d" % p.port
    with pytest.raises(redis.exceptions.ResponseError):
        rc.execute_command("REPLICAOF", "127.0.0.1", "notaport")
    assert rc.execute_command("SLAVEOF", "NO", "ONE") in (True, b"OK")
    assert r.info()["role"] == "master"
    assert rc.config_get("replicaof")["replicaof"] == ""


def test_min_replicas_to_write(nodes):
    p = nodes("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"SET a 1\r\n")
    assert s.recv(100) == b"-NOREPLICAS Not enough good replicas to write.\r\n"
    s.close()
    assert p.c().get("a") is None  # reads are fine
    r = replica_of(nodes, p)
    wait_until(lambda: p.info().get("connected_slaves") == 1 and
               p.info()["slave0"]["state"] == "online", what="replica online")
    wait_until(lambda: p.c().set("a", "1"), what="write accepted")
    in_sync(p, r)
    assert r.c().get("a") == b"1"


def test_convergence_two_replicas_and_chain(nodes):
    p = nodes()
    r1 = replica_of(nodes, p)
    r2 = replica_of(nodes, p)
    r3 = replica_of(nodes, r1)  # chained: same offsets
    rnd = random.Random(7)
    n = 40000 if SOAK else 2500
    stop = threading.Event()
    errors = []

    def writer(seed):
        try:
            mixed_load(p.c(), random.Random(seed), n // 2, prefix="t%d-" % seed)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
    for t in ts:
        t.start()
    mixed_load(p.c(), rnd, n // 2)
    for t in ts:
        t.join()
    stop.set()
    assert not errors, errors
    time.sleep(0.3)  # let short expiries pass
    in_sync(p, r1, r2)
    in_sync(p, r3)
    d = same_digest(p, r1, r2, r3)
    assert d != "0" * 40
    # expired keys are hidden on replicas and deleted only by the stream
    p.c().set("gone", "x", px=100)
    in_sync(p, r1, r2, r3)
    time.sleep(0.3)
    assert r1.c().get("gone") is None
    in_sync(p, r1, r2, r3)
    same_digest(p, r1, r2, r3)
    for r in (r1, r2, r3):
        assert r.info()["slave_repl_offset"] == p.info()["master_repl_offset"]


def test_kill_replica_resumes_partially(nodes):
    p = nodes()
    r = replica_of(nodes, p)
    in_sync(p, r)
    full0 = p.info()["sync_full"]
    rounds = 6 if SOAK else 2
    for k in range(rounds):
        stop = threading.Event()

        def writer():
            c = p.c()
            i = 0
            while not stop.is_set():
                c.set("k%d" % (i % 500), "r%d-%d" % (k, i))
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)
        r.kill()
        time.sleep(0.2)
        r.start()
        time.sleep(0.3)
        stop.set()
        t.join()
        in_sync(p, r)
        same_digest(p, r)
    i = p.info()
    assert i["sync_full"] == full0, "a restarted replica must resume partially"
    assert i["sync_partial_ok"] >= rounds


def test_kill_replica_during_full_sync(nodes):
    p = nodes()
    c = p.c()
    n = 60000 if SOAK else 20000
    # values that do not compress: 20 MB to send, so the kill below lands in
    # the middle of the transfer even though it runs at socket speed
    for i in range(0, n, 500):
        c.mset({"key:%d" % j: os.urandom(1000) for j in range(i, i + 500)})
    r = replica_of(nodes, p)
    tmp = os.path.join(r.dir, "repl-sync.tmp")

    def receiving():
        try:
            return any(os.path.getsize(os.path.join(tmp, f)) > 0 for f in os.listdir(tmp))
        except OSError:
            return False

    deadline = time.time() + 60
    while not receiving() and time.time() < deadline:
        time.sleep(0.001)
    r.kill()
    assert os.path.isdir(tmp), "the replica must be killed in the middle of the transfer"
    assert not os.path.exists(os.path.join(r.dir, "repl-sync.ready"))
    c.set("after-kill", "1")
    r.start()
    in_sync(p, r, timeout=120)
    assert r.c().dbsize() == n + 1
    assert r.c().get("after-kill") == b"1"
    same_digest(p, r)
    assert not os.path.exists(tmp)
    assert not os.path.exists(os.path.join(r.dir, "repl-sync.ready"))
    assert r.log().count("replication: full sync from primary") == 2


def test_full_sync_and_catch_up_keep_the_socket_busy(nodes):
    """The files of a full sync and the change log of a catch-up go out as
    fast as the socket takes them, not a window per wakeup of the primary's
    loop: with --hz 1 its loop wakes once a second when idle, and a 1 MiB
    window per wakeup would make 16 MiB take 16 s. Only the replica is
    polled meanwhile (a request to the primary wakes its loop)."""
    p = nodes("--hz", "1")
    c = p.c()
    n, size = 16000, 1024  # 16 MiB that does not compress
    for i in range(0, n, 500):
        c.mset({"key:%d" % j: os.urandom(size) for j in range(i, i + 500)})
    target = p.info()["master_repl_offset"]

    def synced():
        i = r.info()
        return i.get("master_link_status") == "up" and i["slave_repl_offset"] == target

    t0 = time.time()
    r = replica_of(nodes, p)
    wait_until(synced, 60, "full sync")
    full_s = time.time() - t0
    assert r.c().dbsize() == n
    r.kill()
    for i in range(0, n, 500):
        c.mset({"key:%d" % j: os.urandom(size) for j in range(i, i + 500)})
    target = p.info()["master_repl_offset"]
    t0 = time.time()
    r.start()
    wait_until(synced, 60, "catch-up")
    catchup_s = time.time() - t0
    in_sync(p, r)
    same_digest(p, r)
    i = p.info()
    assert i["sync_full"] == 1 and i["sync_partial_ok"] == 1
    # about 0.3 s each (ASan build); paced by the loop's wakeups, 16 s and 5 s
    assert full_s < 3 and catchup_s < 3, (full_s, catchup_s)


def test_sigstop_replica_dropped_past_output_limit(nodes):
    p = nodes("--client-output-buffer-limit", "replica 1mb 0 0")
    r = replica_of(nodes, p)
    in_sync(p, r)
    r.kill(signal.SIGSTOP)
    try:
        c = p.c()
        val = "y" * 10000
        deadline = time.time() + 60
        i = 0
        while p.info()["connected_slaves"] == 1 and time.time() < deadline:
            c.mset({"big:%d" % j: val for j in range(i, i + 100)})
            i += 100
        assert p.info()["connected_slaves"] == 0, "the primary must drop the stopped replica"
        assert "output buffer limits" in p.log()
    finally:
        r.kill(signal.SIGCONT)
    in_sync(p, r, timeout=120)
    same_digest(p, r)


def test_shared_feed_replicas_leave_and_rejoin_under_writes(nodes):
    """Caught-up replicas share one change-log cursor on the primary (the
    feed). One is dropped (SIGSTOP past the output limit) while the other
    stays on the feed; it comes back, catches up on its own cursor while
    writes continue, and rejoins; a third joins by full sync mid-stream.
    All converge to the primary's offset and digest."""
    p = nodes("--client-output-buffer-limit", "replica 1mb 0 0")
    r1 = replica_of(nodes, p)
    r2 = replica_of(nodes, p)
    c = p.c()
    rnd = random.Random(11)
    mixed_load(c, rnd, 500, prefix="a")
    in_sync(p, r1, r2)
    r2.kill(signal.SIGSTOP)
    try:
        val = "z" * 10000
        deadline = time.time() + 60
        i = 0
        while p.info()["connected_slaves"] == 2 and time.time() < deadline:
            c.mset({"big:%d" % j: val for j in range(i, i + 100)})
            i += 100
        assert p.info()["connected_slaves"] == 1, "the stopped replica must be dropped"
        in_sync(p, r1)  # the other member kept streaming
    finally:
        r2.kill(signal.SIGCONT)
    stop = threading.Event()
    errors = []

    def writer():
        try:
            wc = p.c()
            k = 0
            while not stop.is_set():
                wc.set("w:%d" % (k % 3000), str(k))
                k += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    th = threading.Thread(target=writer)
    th.start()
    try:
        r3 = replica_of(nodes, p)
        wait_until(lambda: r2.info().get("master_link_status") == "up", 60, "r2 back")
        wait_until(lambda: r3.info().get("master_link_status") == "up", 60, "r3 synced")
        mixed_load(c, rnd, 500, prefix="b")
    finally:
        stop.set()
        th.join()
    assert not errors, errors
    time.sleep(0.3)  # let short expiries pass (the primary's deletes are streamed)
    in_sync(p, r1, r2, r3)
    d = same_digest(p, r1, r2, r3)
    assert d != "0" * 40
    assert p.info()["sync_partial_ok"] >= 1


def test_primary_sigkill_restart_fsync_always(nodes):
    p = nodes("--appendfsync", "always")
    r1 = replica_of(nodes, p)
    r2 = replica_of(nodes, p)
    in_sync(p, r1, r2)
    c = p.c()
    acked = {}
    for i in range(2000 if SOAK else 300):
        k = "a%d" % (i % 100)
        c.set(k, str(i))
        acked[k] = str(i).encode()
    p.kill()
    p.start()
    c = p.c()
    for k, v in acked.items():
        assert c.get(k) == v
    in_sync(p, r1, r2)
    i = p.info()
    assert i["sync_full"] == 0 and i["sync_partial_ok"] == 2, i
    c.set("post", "1")
    in_sync(p, r1, r2)
    same_digest(p, r1, r2)
    assert r1.c().get("post") == b"1"


def test_primary_restart_with_wiped_dir_full_syncs(nodes):
    p = nodes()
    r1 = replica_of(nodes, p)
    r2 = replica_of(nodes, p)
    c = p.c()
    for i in range(200):
        c.set("k%d" % i, i)
    in_sync(p, r1, r2)
    old = p.info()["master_replid"]
    p.kill()
    for f in os.listdir(p.dir):
        if f != "server.log":
            path = os.path.join(p.dir, f)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    p.start()
    assert p.info()["master_replid"] != old
    p.c().set("fresh", "1")
    in_sync(p, r1, r2)
    i = p.info()
    assert i["sync_full"] == 2 and i["sync_partial_ok"] == 0
    assert r1.c().dbsize() == 1 and r2.c().get("fresh") == b"1"
    same_digest(p, r1, r2)


def test_wait_then_kill_primary(nodes):
    p = nodes()
    r1 = replica_of(nodes, p)
    r2 = replica_of(nodes, p)
    in_sync(p, r1, r2)
    c = p.c()
    for i in range(20 if not SOAK else 200):
        c.set("w%d" % i, "v%d" % i)
        assert c.execute_command("WAIT", 2, 1000) == 2
    p.kill()
    for r in (r1, r2):
        rc = r.c()
        for i in range(20 if not SOAK else 200):
            assert rc.get("w%d" % i) == ("v%d" % i).encode()


def fake_primary(handler):
    """A socket server that answers one replica with handler(conn)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port = ls.getsockname()[1]
    seen = []

    def run():
        ls.settimeout(30)
        try:
            while True:
                conn, _ = ls.accept()
                seen.append(conn)
                handler(conn, len(seen))
        except OSError:
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return ls, port, seen


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(t, payload, corrupt=False):
    h = bytes([ord(t)]) + struct.pack("<I", len(payload))
    c = crc32c(h + payload)
    m = (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    if corrupt:
        m ^= 1
    return h + struct.pack("<I", m) + payload


def read_handshake(conn):
    buf = b""
    conn.settimeout(10)
    while buf.count(b"PSYNC") == 0 or not buf.endswith(b"\r\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return None
        buf += chunk
    return buf


@pytest.mark.parametrize("bad", ["checksum", "gap", "replid"])
def test_bad_stream_drops_link_and_applies_nothing(nodes, bad):
    rid = "ab" * 20
    got = {}

    def handler(conn, nth):
        hs = read_handshake(conn)
        got.setdefault("hs", hs)
        conn.sendall(b"+OK\r\n+OK\r\n+CONTINUE " + rid.encode() + b"\r\n")
        # an empty batch body is enough: nothing may be applied anyway
        body = struct.pack("<Q", 1) + struct.pack("<QI", 1, 1) + b"\x00" * 8
        if bad == "checksum":
            conn.sendall(frame("B", body, corrupt=True))
        elif bad == "gap":
            conn.sendall(frame("B", struct.pack("<Q", 50) + body[8:]))
        else:
            conn.sendall(frame("P", struct.pack("<QQ", 5, 0) + b"cd" * 20))
        time.sleep(0.5)
        conn.close()

    ls, port, seen = fake_primary(handler)
    try:
        r = nodes("--replicaof", "127.0.0.1 %d" % port)
        wait_until(lambda: len(seen) >= 2, 30, "the replica to reconnect")
        assert b"PSYNC" in got["hs"] and b"listening-port" in got["hs"]
        assert r.c().dbsize() == 0
        assert r.info()["slave_repl_offset"] == 0
        log = r.log()
        want = {"checksum": "frame checksum mismatch", "gap": "batch at offset 50, expected 1",
                "replid": "replication id changed"}[bad]
        assert want in log, log[-2000:]
        if bad == "gap":
            # the replica forgot its history: it will not ask to continue the old id
            assert r.info()["master_replid"] != rid
    finally:
        ls.close()


def test_lag_in_info_and_metrics(nodes):
    import urllib.request
    mport = free_port()
    p = nodes("--metrics-port", str(mport))
    r = replica_of(nodes, p)
    p.c().set("a", "1")
    in_sync(p, r)
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
    assert 'strata_repl_replica_lag_offsets{replica="127.0.0.1:%d"}' % r.port in body
    assert "strata_repl_replica_lag_bytes" in body and "strata_repl_offset" in body
    s0 = p.info()["slave0"]
    assert "lag_offsets" in s0 and "lag_bytes" in s0
    ri = r.info()
    assert ri["master_lag_offsets"] == 0 and "master_lag_seconds" in ri


def test_old_primary_with_diverged_history_full_syncs(nodes):
    p = nodes()
    r = replica_of(nodes, p)
    pc, rc = p.c(), r.c()
    for i in range(50):
        pc.set("k%d" % i, i)
    in_sync(p, r)
    # failover: the replica is promoted; the old primary takes writes the
    # new history never sees
    assert rc.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    rc.set("new-history", "1")
    for i in range(10):
        pc.set("lost%d" % i, i)
    assert p.info()["master_repl_offset"] > r.info()["second_repl_offset"] - 1
    full0 = r.info()["sync_full"]
    pc.execute_command("REPLICAOF", "127.0.0.1", str(r.port))
    in_sync(r, p)
    assert r.info()["sync_full"] == full0 + 1
    assert pc.get("lost0") is None and pc.get("new-history") == b"1"
    same_digest(p, r)
    # a replica at or behind the fork point resumes partially after a promotion
    r2 = replica_of(nodes, r)
    in_sync(r, p, r2)
    assert r2.c().execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    partial0 = r2.info()["sync_partial_ok"]
    rc.execute_command("REPLICAOF", "127.0.0.1", str(r2.port))
    in_sync(r2, r)
    assert r2.info()["sync_partial_ok"] == partial0 + 1
    same_digest(r2, r)


def read_line(s):
    out = b""
    while not out.endswith(b"\r\n"):
        ch = s.recv(1)
        assert ch, "closed after %r" % out
        out += ch
    return out[:-2]


def read_frame(s):
    from conftest import read_exact
    h = read_exact(s, 9, timeout=20)
    n = struct.unpack("<I", h[1:5])[0]
    body = read_exact(s, n, timeout=20) if n else b""
    assert frame(chr(h[0]), body) == h + body, "frame checksum"
    return chr(h[0]), body


def test_primary_stream_format_seen_by_a_fake_replica(nodes):
    p = nodes()
    c = p.c()
    c.set("a", "1")
    c.hset("h", "f", "v")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=20)
    s.sendall(b"REPLCONF listening-port 1234\r\nREPLCONF capa strata1\r\nPSYNC ? -1\r\n")
    assert read_line(s) == b"+OK" and read_line(s) == b"+OK"
    line = read_line(s).split()
    assert line[0] == b"+FULLRESYNC" and len(line[1]) == 40
    seq = int(line[2])
    assert seq == p.info()["master_repl_offset"]
    files, cur, data = {}, None, b""
    while True:
        t, body = read_frame(s)
        if t == "F":
            cur, size, data = body[8:].decode(), struct.unpack("<Q", body[:8])[0], b""
        elif t == "D":
            data += body
        elif t == "E":
            crc, size2 = struct.unpack("<IQ", body)
            assert crc == crc32c(data) and size2 == len(data) == size
            files[cur] = data
        elif t == "S":
            sseq, nfiles = struct.unpack("<QI", body)
            assert sseq == seq and nfiles == len(files)
            break
        else:
            assert t == "P"
    assert "CURRENT" in files and any(f.startswith("MANIFEST-") for f in files)
    c.set("b", "2")
    while True:
        t, body = read_frame(s)
        if t == "B":
            bseq = struct.unpack("<Q", body[:8])[0]
            assert bseq == seq + 1
            assert struct.unpack("<Q", body[8:16])[0] == bseq  # the engine batch header
            assert b"b" in body[20:] and b"2" in body[20:]
            break
    s.sendall(b"REPLCONF ACK %d\r\n" % (bseq,))
    wait_until(lambda: p.info().get("slave0", {}).get("offset") == bseq, what="ack")
    assert p.info()["slave0"]["port"] == 1234
    s.close()


def test_interrupted_install_is_finished_at_start(nodes):
    p = nodes()
    for i in range(100):
        p.c().set("k%d" % i, i)
    assert p.stop() == 0
    r = nodes()
    r.c().set("junk", "replaced by the install")
    assert r.stop() == 0
    # a complete snapshot in repl-sync.ready, as the replica leaves it right
    # before installing: the primary's files and the meta file naming its id
    ready = os.path.join(r.dir, "repl-sync.ready")
    os.mkdir(ready)
    for f in os.listdir(p.dir):
        if f == "CURRENT" or f.startswith("MANIFEST-") or f.endswith(".sst") or \
                (f.endswith(".log") and f[:-4].isdigit()):
            shutil.copy(os.path.join(p.dir, f), os.path.join(ready, f))
    meta = open(os.path.join(p.dir, "replication.meta")).read()
    with open(os.path.join(ready, "replication.meta"), "w") as f:
        f.write(meta.replace("role master", "role replica"))
    # the crash happened half-way through the install: no CURRENT yet
    os.unlink(os.path.join(r.dir, "CURRENT"))
    p.start()
    r.start("--replicaof", "127.0.0.1 %d" % p.port)
    assert not os.path.exists(ready)
    in_sync(p, r)
    assert r.c().get("junk") is None and r.c().dbsize() == 100
    assert p.info()["sync_partial_ok"] == 1 and p.info()["sync_full"] == 0
    same_digest(p, r)
