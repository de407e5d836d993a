"""Differential testing helpers: run the same command sequence against
strata-server and redis-server 7.0 and compare replies.

A generator yields argument lists; `normalize` turns replies whose order or
exact value Redis leaves open (KEYS, HGETALL, SCAN pages, random picks,
TTL rounding) into comparable forms. Intended differences are listed in
docs/compatibility.md; anything else that differs fails with the seed and
the command history needed to replay it (STRATA_SEED=<seed>).
"""
import os
import random

import redis

UNORDERED = {b"KEYS", b"HKEYS", b"HVALS", b"SMEMBERS"}
PAIRS = {b"HGETALL"}


def seed_from_env():
    s = os.environ.get("STRATA_SEED")
    return int(s) if s else random.randrange(1 << 30)


def call(client, args):
    try:
        return ("ok", client.execute_command(*args))
    except redis.exceptions.ResponseError as e:
        return ("err", type(e).__name__, str(e))


def normalize(args, reply):
    name = args[0].upper() if isinstance(args[0], bytes) else args[0].encode().upper()
    if reply[0] != "ok":
        return reply
    v = reply[1]
    if name in UNORDERED and isinstance(v, list):
        return ("ok", sorted(v))
    if name in PAIRS:
        if isinstance(v, dict):
            return ("ok", sorted(v.items()))
        return ("ok", sorted(zip(v[0::2], v[1::2])))
    if name in TIMES and isinstance(v, int) and v >= 0:
        # The two servers read their clocks a moment apart.
        return ("time", v, TIMES[name])
    return reply


TIMES = {b"TTL": 1, b"EXPIRETIME": 1, b"PTTL": 1000, b"PEXPIRETIME": 1000}


def same(ra, rb):
    if ra[0] == "time" and rb[0] == "time":
        return abs(ra[1] - rb[1]) <= ra[2]
    return ra == rb


def full_scan(client, *extra):
    """All keys a complete SCAN returns (a set; duplicates allowed by SCAN)."""
    out = set()
    cur = 0
    for _ in range(100000):
        cur, keys = client.execute_command("SCAN", cur, *extra)
        out.update(keys)
        cur = int(cur)
        if cur == 0:
            break
    return out


def full_hscan(client, key, *extra):
    out = {}
    cur = 0
    for _ in range(100000):
        cur, items = client.execute_command("HSCAN", key, cur, *extra)
        if isinstance(items, dict):  # redis-py pairs HSCAN items up itself
            out.update(items)
        else:
            for i in range(0, len(items), 2):
                out[items[i]] = items[i + 1]
        cur = int(cur)
        if cur == 0:
            break
    return out


def run_diff(a, b, gen, n, seed, check_state=None):
    """Runs n generated commands on clients a (strata) and b (redis)."""
    rng = random.Random(seed)
    history = []
    for i in range(n):
        args = gen(rng)
        history.append(args)
        ra, rb = normalize(args, call(a, args)), normalize(args, call(b, args))
        if not same(ra, rb):
            tail = "\n".join(" ".join(map(repr, h)) for h in history[-15:])
            raise AssertionError(
                "seed %d, command %d %r:\n strata: %r\n redis:  %r\nlast commands:\n%s"
                % (seed, i, args, ra, rb, tail))
        if check_state and i % 100 == 99:
            check_state(a, b, seed, i)
