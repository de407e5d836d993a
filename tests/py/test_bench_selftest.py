"""The engine benchmark's harness checks itself: `bench_engine --self-test`
runs every engine (StrataDB, RocksDB, LevelDB, LMDB, SQLite) on a tiny key
count and verifies every value read against the version last written, so a
driver bug (wrong key, stale value, lost write, bad scan) fails `make test`.
"""
import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "build" / "rel" / "bench" / "bench_engine"
ENGINES = ["strata", "rocksdb", "leveldb", "lmdb", "sqlite"]
LINE = re.compile(
    r"^engine-vs-best-lsm: fillseq=(\S+) fillrandom=(\S+) overwrite=(\S+) "
    r"readrandom=(\S+) seekrandom=(\S+) sync16=(\S+) space=(\S+) lmdb_read=(\S+)$"
)


@pytest.fixture(scope="module")
def bench():
    subprocess.run(["make", "-s", "build/rel/bench/bench_engine"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return str(BIN)


def run(bench, *args, timeout=120):
    return subprocess.run([bench, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_self_test_every_engine(bench, tmp_path):
    tsv = tmp_path / "engine.tsv"
    data = tmp_path / "data"
    p = run(bench, "--self-test", "--num", "1500", "--dir", str(data), "--tsv", str(tsv))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "self-test: 0 engine(s) failed, 0 value(s) did not verify: OK" in p.stdout
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    for e in ENGINES:
        mine = {r["workload"]: r for r in rows if r["engine"] == e}
        for w in ("fillseq", "fillrandom", "overwrite", "readrandom", "readmissing",
                  "seekrandom", "readwhilewriting", "sync1", "sync4", "sync16", "space",
                  "verify_fillseq", "verify_reopen", "verify_end", "verify_end_reopen"):
            assert w in mine, (e, w)
            assert mine[w]["errors"] == "0", (e, w)
        for w in ("fillseq", "fillrandom", "overwrite", "readrandom", "readmissing"):
            assert int(mine[w]["ops"]) == 1500, (e, w)
            assert float(mine[w]["ops_per_s"]) > 0, (e, w)
        assert int(mine["space"]["bytes"]) > 0, e
    # The engine directories are removed; the parent directory given stays.
    assert data.is_dir() and list(data.iterdir()) == []
    last = p.stdout.strip().splitlines()[-1]
    m = LINE.match(last)
    assert m, last
    for v in m.groups():
        assert float(v) > 0, last


def test_self_test_catches_a_wrong_value(bench, tmp_path):
    # --self-test-inject makes the check expect a version that was never
    # written for one key: the self-test must notice and fail.
    p = run(bench, "--self-test-inject", "--num", "500", "--engines", "strata,lmdb",
            "--dir", str(tmp_path), "--tsv", str(tmp_path / "x.tsv"))
    assert p.returncode == 1
    assert "did not verify: FAIL" in p.stdout
    assert "stale or unknown version" in p.stderr


def test_bad_options_are_errors(bench, tmp_path):
    p = run(bench, "--engines", "strata,nosuchdb", "--dir", str(tmp_path))
    assert p.returncode == 2 and "unknown engine 'nosuchdb'" in p.stderr
    p = run(bench, "--workloads", "fillseq,nosuch", "--dir", str(tmp_path))
    assert p.returncode == 2 and "unknown workload 'nosuch'" in p.stderr
    p = run(bench, "--value-size", "4", "--dir", str(tmp_path))
    assert p.returncode == 2


def test_workload_subset_and_default_dir_removed(bench, tmp_path):
    before = set(os.listdir("/tmp"))
    tsv = tmp_path / "e.tsv"
    p = run(bench, "--num", "800", "--engines", "leveldb,lmdb", "--workloads",
            "readrandom,seekrandom", "--tsv", str(tsv))
    assert p.returncode == 0, p.stderr[-2000:]
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    got = {(r["engine"], r["workload"]) for r in rows}
    # The data is loaded untimed when fillrandom is not asked for; space is
    # always measured after the load.
    assert got == {(e, w) for e in ("leveldb", "lmdb")
                   for w in ("space", "readrandom", "seekrandom")}
    leftover = [d for d in set(os.listdir("/tmp")) - before if d.startswith("strata-bench-")]
    assert leftover == []
    assert p.stdout.strip().splitlines()[-1].startswith("engine-vs-best-lsm: fillseq=n/a")
