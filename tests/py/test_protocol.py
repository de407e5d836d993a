"""RESP protocol handling: framing, inline commands, pipelining, errors that
close only the offending connection, limits, and slow or many clients."""
import socket
import time

import pytest

from conftest import raw, read_exact, start_strata


def test_ping_echo_resp2(strata):
    r = strata.client()
    assert r.ping() is True
    assert r.echo(b"hello\x00world") == b"hello\x00world"


def test_inline_commands(strata):
    s = strata.sock()
    assert raw(s, b"PING\r\n") == b"+PONG\r\n"
    assert raw(s, b"ECHO \"a b\\x41\" \r\n") == b"$4\r\na bA\r\n"
    assert raw(s, b"echo 'it\\'s'\r\n") == b"$4\r\nit's\r\n"
    s.close()
    s = strata.sock()
    assert raw(s, b"\r\n\r\nPING\n") == b"+PONG\r\n"
    s.close()


def test_unbalanced_quotes_closes(strata):
    s = strata.sock()
    out = raw(s, b"ECHO \"abc\r\n", expect_close=True)
    assert out == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert strata.client().ping()


def test_pipelining(strata):
    s = strata.sock()
    n = 1000
    s.sendall(b"*1\r\n$4\r\nPING\r\n" * n + b"PING\r\n" * n)
    want = b"+PONG\r\n" * (2 * n)
    got = b""
    s.settimeout(5)
    while len(got) < len(want):
        chunk = s.recv(65536)
        assert chunk
        got += chunk
    assert got == want


def test_split_frames_byte_by_byte(strata):
    s = strata.sock()
    msg = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n"
    for b in msg:
        s.sendall(bytes([b]))
        time.sleep(0.001)
    assert raw(s, b"") == b"$5\r\nhello\r\n"


@pytest.mark.parametrize("frame,err", [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n+PING\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$9999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
])
def test_malformed_frames_close_only_that_connection(strata, frame, err):
    other = strata.client()
    other.ping()
    s = strata.sock()
    out = raw(s, frame, expect_close=True)
    assert out == err
    assert other.ping() is True


def test_too_big_inline(strata):
    s = strata.sock()
    out = raw(s, b"A" * (70 * 1024), expect_close=True)
    assert out == b"-ERR Protocol error: too big inline request\r\n"


def test_too_big_mbulk_count_string(strata):
    s = strata.sock()
    out = raw(s, b"*" + b"1" * (70 * 1024), expect_close=True)
    assert out == b"-ERR Protocol error: too big mbulk count string\r\n"


def test_empty_multibulk_is_ignored(strata):
    s = strata.sock()
    assert raw(s, b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n"


def test_unknown_command_and_arity(strata):
    s = strata.sock()
    out = raw(s, b"FOO a b\r\n")
    assert out == b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
    assert raw(s, b"ECHO\r\n") == b"-ERR wrong number of arguments for 'echo' command\r\n"
    assert raw(s, b"CONFIG NOPE\r\n") == b"-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n"
    assert raw(s, b"CONFIG\r\n") == b"-ERR wrong number of arguments for 'config' command\r\n"
    assert raw(s, b"PING\r\n") == b"+PONG\r\n"


def test_proto_max_bulk_len():
    s = start_strata("--proto-max-bulk-len", "1mb")
    try:
        c = s.sock()
        out = raw(c, b"*2\r\n$4\r\nECHO\r\n$2000000\r\n", expect_close=True)
        assert out == b"-ERR Protocol error: invalid bulk length\r\n"
        r = s.client()
        assert r.echo(b"x" * 1000000) == b"x" * 1000000
    finally:
        assert s.stop() == 0


def test_query_buffer_limit_closes_client():
    s = start_strata("--client-query-buffer-limit", "1mb")
    try:
        c = s.sock()
        c.sendall(b"*2\r\n$4\r\nECHO\r\n$1500000\r\n")
        closed = False
        try:
            for _ in range(40):
                c.sendall(b"x" * 65536)
        except OSError:
            closed = True
        if not closed:
            c.settimeout(5)
            try:
                closed = c.recv(100) == b""
            except OSError:
                closed = True
        assert closed
        assert s.client().ping()
        assert "query buffer" in s.logtext()
    finally:
        assert s.stop() == 0


def test_large_bulk_roundtrip(strata):
    r = strata.client()
    big = bytes(range(256)) * 40000  # 10 MB
    assert r.echo(big) == big


def test_client_that_never_reads_is_bounded(strata):
    """A client pipelining without reading stops being read (backpressure)
    instead of growing the server's memory without bound."""
    s = strata.sock()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = b"*2\r\n$4\r\nECHO\r\n$1000\r\n" + b"x" * 1000 + b"\r\n"
    s.settimeout(0.5)
    sent = 0
    try:
        for _ in range(200000):
            s.sendall(payload * 10)
            sent += 10
    except (socket.timeout, OSError):
        pass
    r = strata.client()
    assert r.ping()
    info = r.info("clients")
    assert info["client_recent_max_output_buffer"] < 64 * 1024 * 1024
    assert sent < 200000 * 10  # the server stopped accepting bytes at some point
    s.close()


def test_many_connections(strata):
    socks = []
    for _ in range(500):
        socks.append(strata.sock())
    for s in socks:
        s.sendall(b"PING\r\n")
    for s in socks:
        assert read_exact(s, 7) == b"+PONG\r\n"
    r = strata.client()
    assert r.info("clients")["connected_clients"] >= 500
    for s in socks:
        s.close()


def test_maxclients():
    s = start_strata("--maxclients", "3")
    try:
        # The start-up probe connection may not be reaped yet on a loaded
        # machine: retry until three clients fit.
        deadline = time.time() + 20
        while True:
            keep = [s.sock() for _ in range(3)]
            got = [raw(k, b"PING\r\n") for k in keep]
            if all(g == b"+PONG\r\n" for g in got):
                break
            for k in keep:
                k.close()
            assert time.time() < deadline, got
            time.sleep(0.2)
        extra = s.sock()
        assert raw(extra, b"", expect_close=True) == b"-ERR max number of clients reached\r\n"
        assert s.client  # noqa
        keep[0].close()
        time.sleep(0.2)
        assert s.client().ping()
    finally:
        assert s.stop() == 0


def test_quit(strata):
    s = strata.sock()
    assert raw(s, b"QUIT\r\n", expect_close=True) == b"+OK\r\n"


def test_unauthenticated_limits():
    s = start_strata("--requirepass", "pw")
    try:
        c = s.sock()
        assert raw(c, b"*11\r\n", expect_close=True) == \
            b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        c = s.sock()
        assert raw(c, b"*1\r\n$20000\r\n", expect_close=True) == \
            b"-ERR Protocol error: unauthenticated bulk length\r\n"
    finally:
        assert s.stop() == 0


def test_idle_timeout():
    s = start_strata("--timeout", "1")
    try:
        c = s.sock()
        assert raw(c, b"PING\r\n") == b"+PONG\r\n"
        c.settimeout(5)
        assert c.recv(10) == b""  # closed by the server after ~1 s idle
    finally:
        assert s.stop() == 0


def test_sigterm_clean_exit():
    s = start_strata()
    s.client().ping()
    assert s.stop() == 0
    assert "bye" in s.logtext()


def test_binary_garbage_from_many_connections(strata):
    """Random bytes (fixed seed) on many connections: each gets an error or is
    closed or waits for more; the server keeps serving a normal client."""
    import random
    rng = random.Random(1234)
    socks = []
    for i in range(40):
        s = strata.sock()
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000)))
        if i % 3 == 0:
            blob = b"*" + blob
        elif i % 3 == 1:
            blob = b"*3\r\n$" + blob
        try:
            s.sendall(blob)
        except OSError:
            pass
        socks.append(s)
    r = strata.client()
    assert r.ping()
    assert r.echo(b"still here") == b"still here"
    for s in socks:
        s.close()
    time.sleep(0.2)
    assert r.info("clients")["connected_clients"] == 1
