"""Pipelines against redis-server 7.0: strata-server commits the commands of
one pipeline that arrive in one read as one engine write (dispatch.c,
"pipeline groups"); replies, errors in the middle of a group, MULTI/EXEC,
unknown commands and arity errors inside a pipeline, and the data left
behind must all match Redis."""
import random
import socket
import time

import redis

import test_diff_hashes
import test_diff_strings
from difflib_strata import normalize, same, seed_from_env
from resp_util import encode

EXTRA = [
    [b"MULTI"], [b"EXEC"], [b"DISCARD"], [b"NOSUCHCMD", b"x"], [b"GET"], [b"PING"],
    [b"DBSIZE"], [b"SET", b"p1", b"v"], [b"INCR", b"p1"], [b"ECHO", b"hi"],
]


def gen(r):
    """Commands with random answers are left out (they may sit in an EXEC)."""
    while True:
        x = r.random()
        if x < 0.1:
            return list(r.choice(EXTRA))
        args = test_diff_strings.gen(r) if x < 0.55 else test_diff_hashes.gen(r)
        if args[0].upper() not in test_diff_hashes.RANDOM | {b"RANDOMKEY"}:
            return args


def deep(v):
    """EXEC replies: errors as text, inner lists without order (KEYS, SCAN
    pages and random picks inside a transaction are unordered)."""
    if isinstance(v, redis.exceptions.ResponseError):
        return ("err", str(v))
    if isinstance(v, (list, tuple)):
        return ("list", sorted(repr(deep(x)) for x in v))
    return v


def as_reply(v):
    if isinstance(v, redis.exceptions.ResponseError):
        return ("err", type(v).__name__, str(v))
    return ("ok", v)


def run_batches(a, b, rng, seed, batches):
    queued = None  # the commands queued since a MULTI (from strata's replies)
    for n in range(batches):
        cmds = [gen(rng) for _ in range(rng.randrange(1, 40))]
        out = []
        for c in (a, b):
            p = c.pipeline(transaction=False)
            for args in cmds:
                p.execute_command(*args)
            out.append(p.execute(raise_on_error=False))
        for i, args in enumerate(cmds):
            ra, rb = normalize(args, as_reply(out[0][i])), normalize(args, as_reply(out[1][i]))
            name = args[0].upper()
            if args[0].upper() == b"EXEC" and ra[0] == rb[0] == "ok":
                xa, xb = ra[1], rb[1]
                if isinstance(xa, list) and isinstance(xb, list) and len(xa) == len(xb):
                    qs = queued if queued is not None and len(queued) == len(xa) else None
                    for j in range(len(xa)):  # first differing queued reply
                        if qs is not None and same(normalize(qs[j], as_reply(xa[j])),
                                                   normalize(qs[j], as_reply(xb[j]))):
                            continue  # e.g. expiry times a second apart
                        if deep(xa[j]) != deep(xb[j]):
                            ra, rb = (j, deep(xa[j])), (j, deep(xb[j]))
                            break
                    else:
                        ra = rb
            if name == b"MULTI" and out[0][i] in (b"OK", "OK", True):
                queued = []
            elif name in (b"EXEC", b"DISCARD"):
                queued = None
            elif queued is not None and out[0][i] in (b"QUEUED", "QUEUED"):
                queued.append(args)
            assert same(ra, rb), "seed %d batch %d command %d %r:\n strata: %r\n redis:  %r" % (
                seed, n, i, args, ra, rb)
        if n % 20 == 19:
            for c in (a, b):  # a batch may have left a MULTI open
                try:
                    c.execute_command("DISCARD")
                except redis.exceptions.ResponseError:
                    pass
            queued = None
            test_diff_strings.check_state(a, b, seed, n)


def test_pipelines_match_redis(strata, redis_ref):
    seed = seed_from_env()
    rng = random.Random(seed)
    a = strata.client(single_connection_client=True)
    b = redis_ref.client(single_connection_client=True)
    run_batches(a, b, rng, seed, 400)


def test_one_read_pipeline_raw_bytes(strata, redis_ref):
    """The same bytes in one send give the same reply bytes (no parsing by
    the client library in between)."""
    frame = b"".join(encode(*c) for c in [
        ["SET", "a", "1"], ["INCR", "a"], ["GET", "a"], ["HSET", "a", "f", "v"],
        ["SET", "b", "x"], ["INCR", "b"], ["NOSUCH"], ["GET"], ["MULTI"], ["INCR", "a"],
        ["SET", "c", "3"], ["EXEC"], ["MGET", "a", "b", "c"], ["DEL", "a", "b", "c"],
        ["EXISTS", "a", "b", "c"], ["DBSIZE"]])
    got = []
    for port in (strata.port, redis_ref.port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(frame + b"*1\r\n$4\r\nQUIT\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        got.append(data)
    assert got[0] == got[1]


def test_commit_error_stays_with_its_command(strata):
    """A key the engine refuses at commit (past max_key_bytes) fails only
    its own command, not the pipelined commands around it."""
    r = strata.client()
    big = "k" * (70 * 1024)
    p = r.pipeline(transaction=False)
    p.set("a", "1").set(big, "v").set("b", "2").incr("a").get("b")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and res[2] is True and res[3] == 2 and res[4] == b"2"
    assert isinstance(res[1], redis.exceptions.ResponseError)
    assert r.mget("a", "b") == [b"2", b"2"] and r.exists(big) == 0


def read_replies(s, n):
    """n RESP2 replies (simple, error, integer, bulk) as raw lines."""
    f = s.makefile("rb")
    out = []
    for _ in range(n):
        line = f.readline()
        if line.startswith(b"$") and line != b"$-1\r\n":
            line += f.readline()
        out.append(line)
    return out


def test_clients_read_in_one_batch_share_one_write(strata):
    """Single commands of many clients that are read in the same batch of
    events join one pipeline group (one engine write): each still reads its
    own writes, the shared counter counts every INCR, and the engine saw
    far fewer writes than clients (each client's read was a group of its own
    before)."""
    r = strata.client()
    n = 30
    socks = [socket.create_connection(("127.0.0.1", strata.port), timeout=10) for _ in range(n)]
    for s in socks:
        s.sendall(encode("PING"))
        assert read_replies(s, 1) == [b"+PONG\r\n"]
    before = r.info("stats")["write_commits"]
    sleeper = socket.create_connection(("127.0.0.1", strata.port), timeout=10)
    sleeper.sendall(encode("DEBUG", "SLEEP", "0.5"))
    time.sleep(0.1)  # the server sleeps; every client's commands wait in its socket
    for i, s in enumerate(socks):
        s.sendall(encode("SET", "k:%d" % i, "v%d" % i) + encode("INCR", "shared") +
                  encode("GET", "k:%d" % i))
    assert read_replies(sleeper, 1) == [b"+OK\r\n"]
    counts = []
    for i, s in enumerate(socks):
        rep = read_replies(s, 3)
        assert rep[0] == b"+OK\r\n" and rep[1].startswith(b":"), rep
        assert rep[2] == b"$%d\r\nv%d\r\n" % (len("v%d" % i), i), rep
        counts.append(int(rep[1][1:]))
    assert sorted(counts) == list(range(1, n + 1))
    assert r.get("shared") == b"%d" % n and r.dbsize() == n + 1
    commits = r.info("stats")["write_commits"] - before
    assert 1 <= commits <= n // 5, commits
    for s in socks + [sleeper]:
        s.close()
