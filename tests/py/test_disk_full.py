"""A full disk under appendfsync everysec: as Redis does while its AOF cannot
be written, the server refuses writes (and PING) with MISCONF, keeps
serving reads, keeps every write it acknowledged, and accepts writes again
once a retry of the WAL hand-over succeeds. The data directory is a small
tmpfs of its own (root only: mount)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import redis

from conftest import start_strata

MISCONF = "MISCONF Errors writing to the AOF file: No space left on device"


@pytest.fixture
def small_disk():
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    base = tempfile.mkdtemp(prefix="strata-disk-")
    mnt = os.path.join(base, "disk")
    os.mkdir(mnt)
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt],
                        capture_output=True)
    if rc.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("cannot mount a tmpfs here: %s" % rc.stderr.decode(errors="replace"))
    yield mnt
    subprocess.run(["umount", "-l", mnt])
    shutil.rmtree(base, ignore_errors=True)


def fill(path, leave_bytes):
    """Fills the file system of path with one file, leaving about leave_bytes."""
    st = os.statvfs(os.path.dirname(path))
    n = st.f_bavail * st.f_frsize - leave_bytes
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while n > 0:
            f.write(chunk[:min(n, len(chunk))])
            n -= len(chunk)


def test_full_disk_gives_misconf_keeps_acked_writes_and_recovers(small_disk):
    s = start_strata("--dir", small_disk, "--appendfsync", "everysec")
    s2 = None
    try:
        r = s.client()
        assert r.set("before", "x")
        assert r.info("persistence")["aof_last_write_status"] == "ok"
        filler = os.path.join(small_disk, "filler")
        fill(filler, 512 << 10)
        acked = {}
        refused = None
        for i in range(400):
            v = (b"%06d" % i) * ((16 << 10) // 6)  # about 16 KiB, distinct per key
            try:
                assert r.set("k%d" % i, v)
                acked[b"k%d" % i] = v
            except redis.ResponseError as e:
                refused = str(e)
                break
        assert refused == MISCONF, refused
        assert acked, "the disk filled before the first write"
        # Reads go on; writes and PING are refused; INFO shows it.
        assert r.get("before") == b"x"
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            r.ping()
        with pytest.raises(redis.ResponseError, match="^MISCONF"):
            r.set("later", "y")
        assert r.info("persistence")["aof_last_write_status"] == "err"
        assert r.get("later") is None
        os.remove(filler)
        deadline = time.time() + 10
        while True:
            try:
                assert r.set("after", "z")
                break
            except redis.ResponseError as e:
                assert str(e).startswith("MISCONF"), e
                assert time.time() < deadline, "writes still refused with space back"
                time.sleep(0.1)
        assert r.ping()
        assert r.info("persistence")["aof_last_write_status"] == "ok"
        for k, v in acked.items():
            assert r.get(k) == v, k
        # Everything acknowledged reached the OS: it survives SIGKILL.
        time.sleep(1.5)
        os.kill(s.pid, signal.SIGKILL)
        s.proc.wait()
        s.log.close()
        s2 = start_strata("--dir", small_disk, "--appendfsync", "everysec")
        r2 = s2.client()
        assert r2.get("before") == b"x"
        assert r2.get("after") == b"z"
        assert r2.get("later") is None
        for k, v in acked.items():
            assert r2.get(k) == v, k
        assert r2.dbsize() == len(acked) + 2
    finally:
        if s.proc.poll() is None:
            s.stop()
        if s2 is not None:
            assert s2.stop() == 0, s2.logtext()[-3000:]
            shutil.rmtree(s2.dir, ignore_errors=True)
        shutil.rmtree(s.dir, ignore_errors=True)
