"""The server benchmark's harness checks itself: `bench/bench_server.py` with a
tiny key count runs every workload on both servers (strata-server and
redis-server 7.0) in both appendfsync modes, writes a complete TSV, ends with
the summary line and leaves no process or directory behind; a server that
loses its keys on restart makes it fail.
"""
import csv
import os
import re
import stat
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "bench", "bench_server.py")
STRATA = os.path.join(ROOT, "bin", "strata-server")
LINE = re.compile(r"^server-vs-redis: set_p1=(\S+) get_p1=(\S+) set_p16=(\S+) get_p16=(\S+) "
                  r"restart=(\S+) rss=(\S+)$")


@pytest.fixture(scope="module")
def strata_bin():
    subprocess.run(["make", "-s", "bin/strata-server"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return STRATA


def run(*args, timeout=120):
    return subprocess.run(["/usr/bin/python3", SCRIPT, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def servers_running_under(path):
    """PIDs of processes whose command line mentions path."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if path.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_every_workload_on_both_servers(strata_bin, tmp_path):
    tsv = tmp_path / "server.tsv"
    work = tmp_path / "work"
    work.mkdir()
    p = run("--keys", "2000", "--requests", "1000", "--tsv", str(tsv), "--workdir", str(work),
            "--strata-bin", strata_bin)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    got = {(r["mode"], r["state"], r["metric"], r["pipeline"], r["server"]): r for r in rows}
    for mode in ("always", "everysec"):
        for server in ("strata", "redis"):
            for state in ("empty", "loaded"):
                for test in ("set", "get", "incr", "mset"):
                    for pl in ("1", "16"):
                        r = got[(mode, state, test, pl, server)]
                        assert r["unit"] == "ops/s" and float(r["value"]) > 0, r
                        assert 0 < float(r["p50_ms"]) <= float(r["p99_ms"]), r
            for metric, unit in (("preload", "keys/s"), ("rss", "bytes"), ("disk", "bytes"),
                                 ("restart", "s")):
                r = got[(mode, "loaded", metric, "", server)]
                assert r["unit"] == unit and float(r["value"]) > 0, r
            # 2000 keys of 100 bytes take at least that much room in memory
            # and on disk, and well under 100 MiB of disk.
            assert int(got[(mode, "loaded", "rss", "", server)]["value"]) > 200000
            assert 20000 < int(got[(mode, "loaded", "disk", "", server)]["value"]) < 100 << 20
    assert len(rows) == 2 * 2 * (2 * 4 * 2 + 4)
    out = p.stdout.strip().splitlines()
    assert any(line.startswith("always    loaded  GET    16") for line in out), p.stdout
    m = LINE.match(out[-1])
    assert m, out[-1]
    for v in m.groups():
        assert float(v) > 0, out[-1]
    # Every server was stopped and every temporary directory removed.
    assert servers_running_under(str(work)) == []
    assert list(work.iterdir()) == []


def test_a_server_that_loses_keys_on_restart_fails_the_run(strata_bin, tmp_path):
    # The wrapper starts the real strata-server but empties its data
    # directory when it is started a second time (after the SIGKILL): the
    # restart measurement must not accept that.
    wrapper = tmp_path / "forgetful-strata"
    wrapper.write_text(
        "#!/bin/sh\n"
        "dir=''; prev=''\n"
        "for a in \"$@\"; do [ \"$prev\" = --dir ] && dir=$a; prev=$a; done\n"
        "if [ -e \"$dir/../started\" ]; then rm -rf \"$dir\"/*; fi\n"
        "touch \"$dir/../started\"\n"
        "exec %s \"$@\"\n" % strata_bin)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    p = run("--keys", "500", "--requests", "500", "--modes", "always", "--states", "loaded",
            "--servers", "strata", "--tests", "get", "--pipelines", "1", "--restart-timeout",
            "3", "--tsv", str(tmp_path / "x.tsv"), "--workdir", str(work), "--strata-bin",
            str(wrapper))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "bench-server: FAILED: strata: keys not back 3s after the restart" in p.stderr
    assert servers_running_under(str(work)) == []
    assert list(work.iterdir()) == []


def test_bad_options_are_errors(tmp_path):
    p = run("--modes", "always,sometimes", "--tsv", str(tmp_path / "x.tsv"))
    assert p.returncode == 2 and "unknown value 'sometimes'" in p.stderr
    p = run("--tests", "get,lpush", "--tsv", str(tmp_path / "x.tsv"))
    assert p.returncode == 2 and "unknown value 'lpush'" in p.stderr
    p = run("--strata-bin", str(tmp_path / "nothing"), "--tsv", str(tmp_path / "x.tsv"))
    assert p.returncode == 2 and "is missing" in p.stderr
