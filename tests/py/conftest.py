"""Fixtures that start real server processes for black-box tests.

`strata` starts strata-server (the ASan build unless STRATA_ASAN=0) on a
free port with a temporary data directory and stops it by PID; `redis_ref`
starts Debian's /usr/bin/redis-server 7.0 the same way, for differential
tests. Both bind 127.0.0.1 only.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REL_BIN = os.path.join(ROOT, "bin", "strata-server")
ASAN_BIN = os.path.join(ROOT, "build", "asan", "bin", "strata-server")
REDIS_BIN = "/usr/bin/redis-server"


def strata_bin():
    """The ASan+UBSan build when it exists (as `make test` builds it), unless
    STRATA_ASAN=0 asks for the release binary."""
    if os.environ.get("STRATA_ASAN", "1") == "1" and os.path.exists(ASAN_BIN):
        return ASAN_BIN
    return REL_BIN


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not listen on %d" % port)


class Server:
    """A running server process (strata or redis) on 127.0.0.1:port."""

    def __init__(self, argv, port, tmpdir, kind):
        self.port = port
        self.dir = tmpdir
        self.kind = kind
        self.log = open(os.path.join(tmpdir, "server.log"), "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        wait_port(port, self.proc)

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def sock(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def logtext(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")


def start_strata(*extra, conf=None):
    tmp = tempfile.mkdtemp(prefix="strata-test-")
    port = free_port()
    argv = [strata_bin()]
    if conf is not None:
        path = os.path.join(tmp, "strata.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv.append(path)
    argv += ["--port", str(port), "--dir", tmp] + list(extra)
    return Server(argv, port, tmp, "strata")


def start_redis(*extra):
    tmp = tempfile.mkdtemp(prefix="redis-ref-")
    port = free_port()
    argv = [REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
            "--save", "", "--appendonly", "no", "--daemonize", "no"] + list(extra)
    return Server(argv, port, tmp, "redis")


@pytest.fixture
def strata():
    s = start_strata()
    yield s
    rc = s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)
    assert rc == 0, "strata-server exited with %s:\n%s" % (rc, s.logtext()[-3000:])


@pytest.fixture
def redis_ref():
    if not os.path.exists(REDIS_BIN):
        pytest.skip("redis-server not installed")
    s = start_redis()
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


def raw(sock, data, expect_close=False, timeout=2.0):
    """Sends bytes and returns what the server answers until it pauses (or closes)."""
    if data:
        sock.sendall(data)
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
        if not expect_close:
            sock.settimeout(0.2)
    return out


def read_exact(sock, n, timeout=10.0):
    """Reads exactly n bytes (fails the test on early close)."""
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "connection closed after %r" % out
        out += chunk
    return out
