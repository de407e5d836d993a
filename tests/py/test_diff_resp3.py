"""RESP3 replies of the data commands, byte for byte against redis-server
7.0 (maps, nulls, nested arrays), for commands whose output is
deterministic."""
import time

CMDS = [b"HELLO 3", b"HSET h f v", b"HGETALL h", b"HRANDFIELD h 2 WITHVALUES",
        b"HRANDFIELD h -2 WITHVALUES", b"SET a ohmytext", b"SET b mynewtext",
        b"LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN", b"LCS a b", b"LCS a b LEN", b"INCRBYFLOAT x 1.5",
        b"HINCRBYFLOAT h g 2.5e2", b"GET nokey", b"SCAN 0 MATCH h", b"HSCAN h 0 MATCH f",
        b"OBJECT ENCODING nokey", b"GETEX a PERSIST", b"HGETALL nokey", b"MGET a nokey",
        b"BITFIELD a GET u8 0 OVERFLOW FAIL INCRBY u8 0 255", b"TYPE h", b"HMGET h f zz",
        b"SET a x GET", b"TTL a", b"EXPIRE a 100 GT", b"HKEYS nokey", b"DBSIZE", b"RENAME nokey x",
        b"COPY a a", b"SETRANGE a -1 x", b"GETDEL a", b"DEL a b h x"]


def replies(server):
    """The reply stream of every command after HELLO (sent pipelined, then QUIT)."""
    s = server.sock()
    s.settimeout(10)
    s.sendall(CMDS[0] + b"\r\n")
    hello = b""
    while not hello.endswith(b"modules\r\n*0\r\n"):  # the last field of HELLO's map
        chunk = s.recv(65536)
        assert chunk, "connection closed during HELLO"
        hello += chunk
    s.sendall(b"".join(c + b"\r\n" for c in CMDS[1:]) + b"QUIT\r\n")
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_resp3_replies_match_redis(strata, redis_ref):
    a, b = replies(strata), replies(redis_ref)
    assert a == b, "strata:\n%r\nredis:\n%r" % (a, b)
