"""Differential test: random string and key commands on strata-server and
redis-server 7.0 must give the same replies (tests/py/difflib_strata.py)."""
import pytest

from difflib_strata import full_scan, run_diff, seed_from_env

KEYS = [b"s%d" % i for i in range(6)] + [b"h0", b"{t}a", b"{t}b"]
INTS = [b"0", b"1", b"-1", b"10", b"9223372036854775807", b"-9223372036854775808",
        b"12abc", b"", b" 1", b"007", b"1.5", b"+1", b"-0"]
FLOATS = [b"1.5", b"-2.25", b"1e3", b"0.1", b"abc", b"inf", b"-inf", b"3.0", b"5e-3", b"1e308"]
VALS = [b"", b"a", b"hello", b"10", b"-5", b"3.5", b"\x00\xff", b"x" * 50, b"\xf0\x0f"]


def k(r):
    return r.choice(KEYS)


def val(r):
    return r.choice(VALS + INTS)


def idx(r):
    return r.choice([b"0", b"1", b"-1", b"2", b"-3", b"100", b"-100", b"x", b"5"])


def gen(r):
    c = r.randrange(41)
    if c == 0:
        opts = []
        for o in r.sample([b"NX", b"XX", b"GET", b"KEEPTTL", b"EX", b"PX", b"EXAT", b"PXAT"],
                          r.randrange(3)):
            opts.append(o)
            if o in (b"EX", b"PX"):
                opts.append(r.choice([b"1000", b"0", b"-5", b"x", b"100000"]))
            elif o == b"EXAT":
                # No past times: an expired key lingers until touched, so
                # DBSIZE would depend on when each server notices it.
                opts.append(r.choice([b"99999999999", b"0", b"x"]))
            elif o == b"PXAT":
                opts.append(r.choice([b"99999999999000", b"0", b"-1"]))
        return [b"SET", k(r), val(r)] + opts
    if c == 1:
        return [b"GET", k(r)]
    if c == 2:
        return [b"SETNX", k(r), val(r)]
    if c == 3:
        return [r.choice([b"SETEX", b"PSETEX"]), k(r), r.choice([b"100000", b"0", b"-1", b"x"]), val(r)]
    if c == 4:
        return [b"GETSET", k(r), val(r)]
    if c == 5:
        return [b"GETDEL", k(r)]
    if c == 6:
        opt = r.choice([[], [b"PERSIST"], [b"EX", b"100000"], [b"PX", b"0"], [b"EXAT", b"1"],
                        [b"EX", b"10", b"PX", b"10"], [b"FOO"]])
        return [b"GETEX", k(r)] + opt
    if c == 7:
        return [b"MGET"] + [k(r) for _ in range(r.randrange(1, 4))]
    if c == 8:
        n = r.randrange(1, 4)
        a = [b"MSET"]
        for _ in range(n):
            a += [k(r), val(r)]
        if r.random() < 0.1:
            a.append(b"odd")
        return a
    if c == 9:
        n = r.randrange(1, 3)
        a = [b"MSETNX"]
        for _ in range(n):
            a += [k(r), val(r)]
        return a
    if c == 10:
        return [b"APPEND", k(r), val(r)]
    if c == 11:
        return [b"STRLEN", k(r)]
    if c == 12:
        return [r.choice([b"GETRANGE", b"SUBSTR"]), k(r), idx(r), idx(r)]
    if c == 13:
        return [b"SETRANGE", k(r), r.choice([b"0", b"3", b"-1", b"x", b"20"]), val(r)]
    if c == 14:
        return [r.choice([b"INCR", b"DECR"]), k(r)]
    if c == 15:
        return [r.choice([b"INCRBY", b"DECRBY"]), k(r), r.choice(INTS)]
    if c == 16:
        return [b"INCRBYFLOAT", k(r), r.choice(FLOATS + INTS[:4])]
    if c == 17:
        return [b"SETBIT", k(r), r.choice([b"0", b"7", b"13", b"100", b"-1", b"x"]),
                r.choice([b"0", b"1", b"2"])]
    if c == 18:
        return [b"GETBIT", k(r), r.choice([b"0", b"7", b"13", b"100", b"-1"])]
    if c == 19:
        a = [b"BITCOUNT", k(r)]
        if r.random() < 0.6:
            a += [idx(r), idx(r)]
            if r.random() < 0.5:
                a.append(r.choice([b"BYTE", b"BIT", b"FOO"]))
        return a
    if c == 20:
        a = [b"BITPOS", k(r), r.choice([b"0", b"1", b"2"])]
        for _ in range(r.randrange(3)):
            a.append(idx(r))
        if len(a) == 5 and r.random() < 0.5:
            a.append(r.choice([b"BYTE", b"BIT"]))
        return a
    if c == 21:
        op = r.choice([b"AND", b"OR", b"XOR", b"NOT", b"NAND"])
        return [b"BITOP", op, k(r)] + [k(r) for _ in range(r.randrange(1, 3))]
    if c == 22:
        a = [b"LCS", k(r), k(r)]
        for o in r.sample([b"LEN", b"IDX", b"WITHMATCHLEN", b"MINMATCHLEN"], r.randrange(3)):
            a.append(o)
            if o == b"MINMATCHLEN":
                a.append(r.choice([b"0", b"2", b"-1"]))
        return a
    if c == 23:
        return [r.choice([b"DEL", b"UNLINK", b"EXISTS", b"TOUCH"])] + [k(r) for _ in range(r.randrange(1, 4))]
    if c == 24:
        return [b"TYPE", k(r)]
    if c == 25:
        return [r.choice([b"RENAME", b"RENAMENX"]), k(r), k(r)]
    if c == 26:
        a = [b"COPY", k(r), k(r)]
        if r.random() < 0.4:
            a.append(b"REPLACE")
        if r.random() < 0.3:
            a += [b"DB", r.choice([b"0", b"1", b"99", b"x"])]
        return a
    if c == 27:
        return [b"MOVE", k(r), r.choice([b"0", b"1", b"2", b"16", b"x"])]
    if c == 28:
        cmd = r.choice([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
        t = r.choice([b"100000", b"200000000", b"1", b"-1", b"0", b"x", b"9223372036854775807"])
        if cmd in (b"EXPIREAT", b"PEXPIREAT") and t == b"100000":
            t = b"99999999999"
        if cmd in (b"EXPIRE", b"PEXPIRE") and t == b"1":
            t = b"5000000"
        opts = r.sample([b"NX", b"XX", b"GT", b"LT", b"ZZ"], r.randrange(3))
        return [cmd, k(r), t] + opts
    if c == 29:
        return [r.choice([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME", b"PERSIST"]), k(r)]
    if c == 30:
        return [b"KEYS", r.choice([b"*", b"s*", b"{t}*", b"s[0-2]", b"?0", b"h\\0", b"*b"])]
    if c == 31:
        return [b"DBSIZE"]
    if c == 32:
        return [b"SELECT", r.choice([b"0", b"1"])]
    if c == 33:
        return [b"HSET", k(r), r.choice([b"f", b"g"]), val(r)]
    if c == 34:
        return [b"EXISTS", k(r), k(r)]
    if c == 35:
        return [b"SWAPDB", r.choice([b"0", b"1", b"x"]), r.choice([b"0", b"1", b"20"])]
    if c == 36:
        return [b"GET", k(r)]
    if c == 37:
        return [b"STRLEN", k(r)]
    if c == 39:
        a = [r.choice([b"BITFIELD", b"BITFIELD", b"BITFIELD_RO"]), k(r)]
        for _ in range(r.randrange(1, 4)):
            op = r.choice([b"GET", b"SET", b"INCRBY", b"OVERFLOW"])
            if op == b"OVERFLOW":
                a += [op, r.choice([b"WRAP", b"SAT", b"FAIL", b"BAD"])]
                continue
            t = r.choice([b"u8", b"i8", b"u1", b"i64", b"u63", b"i5", b"u64", b"x3", b"i0"])
            off = r.choice([b"0", b"3", b"#1", b"#2", b"100", b"-1", b"x"])
            a += [op, t, off]
            if op != b"GET":
                a.append(r.choice([b"1", b"-1", b"127", b"200", b"-200", b"9223372036854775807", b"x"]))
        return a
    if c == 38 and r.random() < 0.05:
        return [r.choice([b"FLUSHDB", b"FLUSHALL"])]
    return [b"MGET", k(r), k(r)]


def check_state(a, b, seed, i):
    for db in (0, 1):
        a.execute_command("SELECT", db)
        b.execute_command("SELECT", db)
        assert full_scan(a) == set(b.keys("*")), "seed %d after %d: SCAN differs in db %d" % (seed, i, db)
        assert a.dbsize() == b.dbsize(), "seed %d after %d: DBSIZE differs" % (seed, i)
        for key in sorted(b.keys("*")):
            assert a.type(key) == b.type(key)
            if b.type(key) == b"string":
                assert a.get(key) == b.get(key), "seed %d: value of %r" % (seed, key)
    a.execute_command("SELECT", 0)
    b.execute_command("SELECT", 0)


def test_diff_strings_and_keys(strata, redis_ref):
    seed = seed_from_env()
    # SELECT in the generator changes the connection's db: one connection each.
    a = strata.client(single_connection_client=True)
    b = redis_ref.client(single_connection_client=True)
    run_diff(a, b, gen, 3000, seed, check_state)
