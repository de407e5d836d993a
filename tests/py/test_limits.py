"""Protected mode and per-class output buffer limits."""
import socket
import time

import pytest

from conftest import raw, start_strata


def non_loopback_ipv4():
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


def test_protected_mode_refuses_remote_without_password():
    ip = non_loopback_ipv4()
    if not ip:
        pytest.skip("no non-loopback IPv4 address")
    s = start_strata("--bind", "0.0.0.0")
    try:
        c = socket.create_connection((ip, s.port), timeout=5)
        out = raw(c, b"", expect_close=True)  # written at accept, then closed
        assert out.startswith(b"-DENIED ")
        assert s.client().ping()  # loopback still served
        assert s.client().config_set("protected-mode", "no")
        c = socket.create_connection((ip, s.port), timeout=5)
        assert raw(c, b"PING\r\n") == b"+PONG\r\n"
    finally:
        assert s.stop() == 0


def test_protected_mode_allows_remote_with_password():
    ip = non_loopback_ipv4()
    if not ip:
        pytest.skip("no non-loopback IPv4 address")
    s = start_strata("--bind", "0.0.0.0", "--requirepass", "pw")
    try:
        c = socket.create_connection((ip, s.port), timeout=5)
        assert raw(c, b"AUTH pw\r\nPING\r\n") == b"+OK\r\n+PONG\r\n"
    finally:
        assert s.stop() == 0


def test_normal_output_hard_limit_closes_client():
    s = start_strata("--client-output-buffer-limit", "normal 1mb 0 0")
    try:
        c = s.sock()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = b"x" * 200000
        frame = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(big), big)
        try:
            for _ in range(200):
                c.sendall(frame)
        except OSError:
            pass
        time.sleep(0.5)
        r = s.client()
        assert r.info("stats")["client_output_buffer_limit_disconnections"] >= 1
        assert len(r.client_list()) == 1
    finally:
        assert s.stop() == 0


def test_soft_limit_needs_its_seconds():
    s = start_strata("--client-output-buffer-limit", "normal 0 64kb 2")
    try:
        c = s.sock()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = b"y" * 100000
        frame = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(big), big)
        c.settimeout(2)
        try:
            for _ in range(60):
                c.sendall(frame)
        except OSError:
            pass
        r = s.client()
        time.sleep(0.5)
        assert r.info("stats")["client_output_buffer_limit_disconnections"] == 0
        time.sleep(2.5)
        assert r.info("stats")["client_output_buffer_limit_disconnections"] >= 1
    finally:
        assert s.stop() == 0
