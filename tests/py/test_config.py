"""The config table: CONFIG GET/SET/RESETSTAT/REWRITE, config files and
flags, and bad values at start and at run time."""
import os
import subprocess
import tempfile

import pytest
import redis

from conftest import free_port, start_strata, strata_bin


def test_config_get_patterns(strata):
    r = strata.client()
    assert r.config_get("port") == {"port": str(strata.port)}
    got = r.config_get("maxclients")
    assert got == {"maxclients": "10000"}
    many = r.execute_command("CONFIG", "GET", "port", "timeout", "databases")
    assert dict(zip(many[::2], many[1::2])) == {b"port": str(strata.port).encode(),
                                                 b"timeout": b"0", b"databases": b"16"}
    allv = r.config_get("*")
    for name in ["bind", "dir", "appendfsync", "requirepass", "protected-mode",
                 "client-query-buffer-limit", "proto-max-bulk-len", "client-output-buffer-limit",
                 "tcp-keepalive", "loglevel", "logfile", "metrics-port", "memtable-bytes",
                 "block-cache-bytes", "keyspace-cache-bytes"]:
        assert name in allv, name
    assert r.config_get("nonexistent-*") == {}


def test_config_set_and_errors(strata):
    r = strata.client()
    assert r.config_set("timeout", "30")
    assert r.config_get("timeout") == {"timeout": "30"}
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("timeout", "abc")
    assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'timeout') - "
                            "argument couldn't be parsed into an integer")
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("maxclients", "0")
    assert "argument must be between 1 and" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("port", "1234")
    assert str(e.value) == ("CONFIG SET failed (possibly related to argument 'port') - "
                            "can't set immutable config")
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("no-such-option", "1")
    assert str(e.value) == "Unknown option or number of arguments for CONFIG SET - 'no-such-option'"
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("appendfsync", "sometimes")
    assert "one of the following: always, everysec, no" in str(e.value)
    assert r.config_get("timeout") == {"timeout": "30"}


def test_config_set_multiple_is_atomic(strata):
    r = strata.client()
    with pytest.raises(redis.ResponseError):
        r.execute_command("CONFIG", "SET", "timeout", "77", "tcp-keepalive", "nope")
    assert r.config_get("timeout") == {"timeout": "0"}
    assert r.execute_command("CONFIG", "SET", "timeout", "77", "tcp-keepalive", "10")
    assert r.config_get("timeout") == {"timeout": "77"}
    assert r.config_get("tcp-keepalive") == {"tcp-keepalive": "10"}


def test_memory_units_and_obuf(strata):
    r = strata.client()
    assert r.config_set("proto-max-bulk-len", "2mb")
    assert r.config_get("proto-max-bulk-len") == {"proto-max-bulk-len": "2097152"}
    assert r.config_set("client-output-buffer-limit", "pubsub 1mb 512kb 5")
    v = r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    assert "pubsub 1048576 524288 5" in v
    assert v.startswith("normal 0 0 0")
    with pytest.raises(redis.ResponseError):
        r.config_set("client-output-buffer-limit", "bogus 1 2 3")
    with pytest.raises(redis.ResponseError):
        r.config_set("client-output-buffer-limit", "normal 1 2")


def test_bad_value_at_start_exits_nonzero():
    tmp = tempfile.mkdtemp()
    p = subprocess.run([strata_bin(), "--port", "notaport", "--dir", tmp],
                       capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"port" in p.stderr
    p = subprocess.run([strata_bin(), "--no-such-thing", "1"], capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"no-such-thing" in p.stderr
    conf = os.path.join(tmp, "bad.conf")
    with open(conf, "w") as f:
        f.write("# comment\nport %d\nappendfsync maybe\n" % free_port())
    p = subprocess.run([strata_bin(), conf], capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"appendfsync" in p.stderr and b"line 3" in p.stderr


def test_config_file_then_flags_and_rewrite():
    s = start_strata("--timeout", "12",
                     conf='# test config\ntimeout 5\nloglevel warning\nrequirepass ""\n')
    try:
        r = s.client()
        assert r.config_get("timeout") == {"timeout": "12"}  # flags override the file
        assert r.config_get("loglevel") == {"loglevel": "warning"}
        assert r.config_set("tcp-keepalive", "42")
        assert r.config_rewrite()
        text = open(os.path.join(s.dir, "strata.conf")).read()
        assert "# test config" in text
        assert "tcp-keepalive" in text and "42" in text
        assert 'timeout "12"' in text
    finally:
        assert s.stop() == 0


def test_rewrite_without_file(strata):
    with pytest.raises(redis.ResponseError) as e:
        strata.client().config_rewrite()
    assert "without a config file" in str(e.value)


def test_resetstat(strata):
    r = strata.client()
    r.ping()
    assert r.info("stats")["total_commands_processed"] >= 1
    assert r.config_resetstat()
    assert r.info("stats")["total_commands_processed"] <= 1
