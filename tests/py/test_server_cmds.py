"""Server commands: COMMAND, CLIENT, AUTH/HELLO and RESP3, pub/sub,
MULTI/EXEC/WATCH framework, SLOWLOG, LATENCY, INFO, MONITOR, metrics."""
import socket
import threading
import time
import urllib.request

import pytest
import redis

from conftest import free_port, raw, read_exact, start_strata


def test_command_count_info_docs_getkeys(strata):
    r = strata.client()
    r.response_callbacks = {}  # plain replies, no client-side parsing
    n = r.execute_command("COMMAND", "COUNT")
    allc = r.execute_command("COMMAND")
    assert n == len(allc) and n > 20
    info = r.execute_command("COMMAND", "INFO", "ping", "watch", "nosuch")
    assert info[0][0] == b"ping" and info[0][1] == -1
    assert info[1][:6][3:6] == [1, -1, 1]
    assert info[2] is None
    docs = r.execute_command("COMMAND", "DOCS", "echo")
    assert docs[0] == b"echo"
    d = dict(zip(docs[1][::2], docs[1][1::2]))
    assert d[b"group"] == b"connection"
    assert r.execute_command("COMMAND", "GETKEYS", "WATCH", "a", "b") == [b"a", b"b"]
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("COMMAND", "GETKEYS", "PING", "x")
    assert "has no key arguments" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("COMMAND", "GETKEYS", "NOSUCH", "x")
    assert str(e.value) == "Invalid command specified"
    names = r.execute_command("COMMAND", "LIST")
    assert b"config|get" in names and b"ping" in names


def test_client_commands(strata):
    r = strata.client()
    cid = r.client_id()
    assert isinstance(cid, int)
    assert r.client_getname() is None
    assert r.client_setname("worker-1")
    assert r.client_getname() == "worker-1"
    with pytest.raises(redis.ResponseError) as e:
        r.client_setname("bad name")
    assert "cannot contain spaces" in str(e.value)
    lst = r.client_list()
    me = [c for c in lst if int(c["id"]) == cid][0]
    assert me["name"] == "worker-1" and me["db"] == "0"
    info = r.execute_command("CLIENT", "INFO").decode()
    assert "id=%d " % cid in info and "name=worker-1" in info
    other = strata.sock()
    oid = int(raw(other, b"CLIENT ID\r\n")[1:-2])
    assert r.client_kill_filter(_id=oid) == 1
    assert raw(other, b"", expect_close=True) == b""
    assert r.execute_command("CLIENT", "KILL", "ID", "999999") == 0


def test_client_reply_off_skip(strata):
    s = strata.sock()
    s.sendall(b"CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\n")
    assert read_exact(s, 5) == b"+OK\r\n"
    s.sendall(b"CLIENT REPLY SKIP\r\nECHO a\r\nECHO b\r\n")
    assert read_exact(s, 7) == b"$1\r\nb\r\n"


def test_client_pause_write_and_unpause(strata):
    r = strata.client()
    assert r.execute_command("CLIENT", "PAUSE", "300", "ALL")
    other = strata.client()
    t0 = time.time()
    assert other.ping()
    assert time.time() - t0 >= 0.2


def test_client_pause_write_lets_reads_through():
    s = start_strata()
    try:
        r = s.client()
        assert r.execute_command("CLIENT", "PAUSE", "5000", "WRITE")
        t0 = time.time()
        assert r.ping()
        assert r.execute_command("CLIENT", "UNPAUSE")
        assert time.time() - t0 < 2
    finally:
        assert s.stop() == 0


def test_select(strata):
    r = strata.client()
    assert r.execute_command("SELECT", 15)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SELECT", 16)
    assert str(e.value) == "DB index is out of range"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SELECT", "x")
    assert str(e.value) == "value is not an integer or out of range"


def test_auth_and_hello():
    s = start_strata("--requirepass", "s3cret")
    try:
        c = s.sock()
        assert raw(c, b"PING\r\n") == b"-NOAUTH Authentication required.\r\n"
        assert raw(c, b"AUTH wrong\r\n") == \
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        assert raw(c, b"HELLO 3\r\n").startswith(b"-NOAUTH HELLO must be called")
        out = raw(c, b"HELLO 3 AUTH default s3cret SETNAME me\r\n")
        assert out.startswith(b"%7\r\n$6\r\nserver\r\n")
        assert b"$5\r\nproto\r\n:3\r\n" in out
        assert raw(c, b"CLIENT GETNAME\r\n") == b"$2\r\nme\r\n"
        assert raw(c, b"PING\r\n") == b"+PONG\r\n"
        r = s.client(password="s3cret")
        assert r.ping()
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)) as e:
            s.client(password="nope").ping()
        assert "WRONGPASS" in str(e.value) or "invalid username-password" in str(e.value)
    finally:
        assert s.stop() == 0


def test_auth_without_password(strata):
    s = strata.sock()
    assert raw(s, b"AUTH x\r\n").startswith(b"-ERR AUTH <password> called without any password")
    assert raw(s, b"HELLO 4\r\n") == b"-NOPROTO unsupported protocol version\r\n"


def test_resp3_types(strata):
    s = strata.sock()
    raw(s, b"HELLO 3\r\n")
    assert raw(s, b"CLIENT GETNAME\r\n") == b"_\r\n"
    out = raw(s, b"CONFIG GET timeout\r\n")
    assert out == b"%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    out = raw(s, b"CLIENT INFO\r\n")
    assert out.startswith(b"=") and b"txt:id=" in out
    assert raw(s, b"HELLO 2\r\n").startswith(b"*14\r\n")
    assert raw(s, b"CLIENT GETNAME\r\n") == b"$-1\r\n"


def test_reset(strata):
    s = strata.sock()
    raw(s, b"HELLO 3\r\n")
    raw(s, b"SELECT 3\r\n")
    raw(s, b"CLIENT SETNAME x\r\n")
    raw(s, b"MULTI\r\n")
    assert raw(s, b"RESET\r\n") == b"+RESET\r\n"
    assert raw(s, b"CLIENT GETNAME\r\n") == b"$-1\r\n"
    assert b"db=0" in raw(s, b"CLIENT INFO\r\n")


def test_pubsub_resp2(strata):
    r = strata.client()
    p = r.pubsub()
    p.subscribe("news")
    p.psubscribe("n*")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    assert r.publish("news", "hello") == 2
    m1 = p.get_message(timeout=2)
    m2 = p.get_message(timeout=2)
    assert {m1["type"], m2["type"]} == {"message", "pmessage"}
    assert r.pubsub_channels() == [b"news"]
    assert r.pubsub_numsub("news", "other") == [(b"news", 1), (b"other", 0)]
    assert r.pubsub_numpat() == 1
    s = strata.sock()
    assert raw(s, b"SUBSCRIBE a b\r\n") == (b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
                                           b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
    assert raw(s, b"ECHO x\r\n") == (b"-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / "
                                    b"(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                                    b"this context\r\n")
    assert raw(s, b"PING\r\n") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    assert raw(s, b"UNSUBSCRIBE\r\n").count(b"unsubscribe") == 2
    assert raw(s, b"UNSUBSCRIBE\r\n") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    assert raw(s, b"ECHO x\r\n") == b"$1\r\nx\r\n"


def test_pubsub_resp3_push(strata):
    s = strata.sock()
    raw(s, b"HELLO 3\r\n")
    assert raw(s, b"SUBSCRIBE ch\r\n") == b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    assert raw(s, b"ECHO ok\r\n") == b"$2\r\nok\r\n"  # RESP3 allows commands while subscribed
    strata.client().publish("ch", "m")
    assert raw(s, b"") == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"


def test_pubsub_output_limit_disconnects_slow_subscriber():
    s = start_strata("--client-output-buffer-limit", "pubsub 256kb 128kb 1")
    try:
        sub = s.sock()
        sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw(sub, b"SUBSCRIBE flood\r\n")
        r = s.client()
        msg = b"x" * 10000
        p = r.pipeline(transaction=False)
        for _ in range(3000):  # 30 MB: more than the kernel's socket buffers hold
            p.publish("flood", msg)
        p.execute()
        time.sleep(0.3)
        assert r.pubsub_numsub("flood") == [(b"flood", 0)]
        assert r.info("stats")["client_output_buffer_limit_disconnections"] >= 1
    finally:
        assert s.stop() == 0


def test_multi_framework(strata):
    s = strata.sock()
    assert raw(s, b"MULTI\r\n") == b"+OK\r\n"
    assert raw(s, b"MULTI\r\n") == b"-ERR MULTI calls can not be nested\r\n"
    assert raw(s, b"PING\r\n") == b"+QUEUED\r\n"
    assert raw(s, b"ECHO hi\r\n") == b"+QUEUED\r\n"
    assert raw(s, b"WATCH k\r\n") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert raw(s, b"EXEC\r\n") == b"*2\r\n+PONG\r\n$2\r\nhi\r\n"
    assert raw(s, b"EXEC\r\n") == b"-ERR EXEC without MULTI\r\n"
    assert raw(s, b"DISCARD\r\n") == b"-ERR DISCARD without MULTI\r\n"
    raw(s, b"MULTI\r\n")
    assert raw(s, b"NOSUCH\r\n").startswith(b"-ERR unknown command")
    assert raw(s, b"ECHO\r\n") == b"-ERR wrong number of arguments for 'echo' command\r\n"
    assert raw(s, b"EXEC\r\n") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    raw(s, b"MULTI\r\n")
    raw(s, b"PING\r\n")
    assert raw(s, b"DISCARD\r\n") == b"+OK\r\n"
    raw(s, b"MULTI\r\n")
    assert raw(s, b"SHUTDOWN\r\n") == b"-ERR Command not allowed inside a transaction\r\n"
    assert raw(s, b"DISCARD\r\n") == b"+OK\r\n"


def test_watch_framework_unwatch(strata):
    s = strata.sock()
    assert raw(s, b"WATCH a b\r\n") == b"+OK\r\n"
    assert raw(s, b"UNWATCH\r\n") == b"+OK\r\n"
    raw(s, b"MULTI\r\n")
    raw(s, b"PING\r\n")
    assert raw(s, b"EXEC\r\n") == b"*1\r\n+PONG\r\n"


def test_slowlog(strata):
    r = strata.client()
    r.config_set("slowlog-log-slower-than", "0")
    r.slowlog_reset()
    r.echo("find-me")
    entries = r.slowlog_get(10)
    assert any(b"find-me" in e["command"] for e in entries)
    assert r.slowlog_len() >= 1
    r.config_set("slowlog-log-slower-than", "-1")
    r.slowlog_reset()
    r.echo("x")
    assert r.slowlog_len() == 0


def test_latency_and_debug_sleep(strata):
    r = strata.client()
    r.config_set("latency-monitor-threshold", "50")
    assert r.execute_command("DEBUG", "SLEEP", "0.1")
    latest = r.execute_command("LATENCY", "LATEST")
    assert latest and latest[0][0] == b"command" and latest[0][2] >= 50
    hist = r.execute_command("LATENCY", "HISTORY", "command")
    assert len(hist) >= 1
    assert r.execute_command("LATENCY", "RESET") == 1
    assert r.execute_command("LATENCY", "LATEST") == []


def test_info_sections(strata):
    r = strata.client()
    info = r.info()
    for f in ["redis_version", "process_id", "tcp_port", "uptime_in_seconds",
              "connected_clients", "maxclients", "total_connections_received",
              "total_commands_processed", "total_net_input_bytes", "rejected_connections",
              "keyspace_hits", "used_memory"]:
        assert f in info, f
    r.echo("x")
    cs = r.info("commandstats")
    assert cs["cmdstat_echo"]["calls"] >= 1
    allinfo = r.info("all")
    assert "cmdstat_echo" in allinfo and "latency_percentiles_usec_echo" in allinfo
    r.execute_command("TIME")


def test_monitor(strata):
    s = strata.sock()
    assert raw(s, b"MONITOR\r\n") == b"+OK\r\n"
    strata.client().echo("watched")
    out = raw(s, b"")
    assert b'"ECHO" "watched"' in out


def test_shutdown_command():
    s = start_strata()
    c = s.sock()
    assert raw(c, b"SHUTDOWN\r\n", expect_close=True) == b""
    assert s.proc.wait(timeout=10) == 0


def test_metrics_endpoint():
    mport = free_port()
    s = start_strata("--metrics-port", str(mport))
    try:
        r = s.client()
        r.echo("x")
        with pytest.raises(redis.ResponseError):
            r.execute_command("NOSUCH")
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
        text = body.decode()
        assert "# TYPE strata_connected_clients gauge" in text
        assert 'strata_command_calls_total{cmd="echo"} 1' in text
        assert 'strata_command_duration_seconds_bucket{cmd="echo",le="+Inf"} 1' in text
        assert "strata_process_resident_memory_bytes" in text
        assert "strata_error_replies_total 1" in text
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen("http://127.0.0.1:%d/other" % mport, timeout=5)
    finally:
        assert s.stop() == 0
