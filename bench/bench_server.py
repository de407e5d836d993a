#!/usr/bin/python3
"""`make bench-server`: strata-server against redis-server 7.0, side by side.

Both servers run on this machine, on 127.0.0.1, on free ports, each with its
own temporary data directory, with `appendonly yes` and the same
`appendfsync`; they are started and stopped by PID by this script, one at a
time under load (the other idles), and driven by Debian's redis-benchmark.

For each appendfsync mode (always, everysec):
  empty      each redis-benchmark run on a new server with an empty data
             directory: SET, GET, INCR, MSET at -P 1 and -P 16 (-c 50 -d 100
             -r KEYS)
  loaded     fresh servers; KEYS keys key:000000000000.. preloaded with
             redis-cli --pipe (DBSIZE checked); resident memory (VmRSS) and
             bytes on disk (du of the data directory); restart time: SIGKILL,
             start again, time until DBSIZE is back and a sample of keys
             answer with their values; then the same runs as `empty` on the
             KEYS keys (GET hits every time)
Optionally (--budget) strata-server again with a small memory budget
(memtable + block cache) and the same data, SET and GET only.

Invariants: a server is only measured while it is the only one under load; a
run whose redis-benchmark fails, prints an error reply or leaves its server
dead fails the whole benchmark (exit 1); every server started is stopped
(SIGTERM, then SIGKILL after 30 s) and every temporary directory removed.
Output: a table on stdout, a TSV (one row per server and measurement) and a
last line
  server-vs-redis: set_p1=R get_p1=R set_p16=R get_p16=R restart=R rss=R
where R > 1 means StrataDB is better: StrataDB's ops/s over Redis's (the
geometric mean over the modes and states run), Redis's restart seconds and
resident bytes over StrataDB's (geometric mean over the modes).
"""
import argparse
import csv
import io
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STRATA_BIN = os.path.join(ROOT, "bin", "strata-server")
REDIS_BIN = "/usr/bin/redis-server"
BENCH_BIN = "/usr/bin/redis-benchmark"
CLI_BIN = "/usr/bin/redis-cli"
SERVERS = ("strata", "redis")
TESTS = ("set", "get", "incr", "mset")
SAMPLE = 1000  # keys checked after a restart


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_name(i):
    # redis-benchmark's -r replaces __rand_int__ with 12 zero-padded digits.
    return b"key:%012d" % i


def value_of(i, size):
    head = b"v%011d" % i
    return (head + b"p" * size)[:size]


class Server:
    """One server process (strata or redis) with its own data directory."""

    def __init__(self, kind, mode, workdir, args, extra=()):
        self.kind = kind
        self.mode = mode
        self.base = tempfile.mkdtemp(prefix="bench-%s-" % kind, dir=workdir)
        self.dir = os.path.join(self.base, "data")
        os.mkdir(self.dir)
        self.port = free_port()
        self.args = args
        self.extra = list(extra)
        self.proc = None
        self.logf = None
        self.starts = 0

    def argv(self):
        if self.kind == "strata":
            return [self.args.strata_bin, "--port", str(self.port), "--dir", self.dir,
                    "--appendonly", "yes", "--appendfsync", self.mode] + self.extra
        return [self.args.redis_bin, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--appendonly", "yes", "--appendfsync", self.mode,
                "--save", "", "--daemonize", "no", "--protected-mode", "yes"] + self.extra

    def start(self):
        self.starts += 1
        self.logf = open(os.path.join(self.base, "server-%d.log" % self.starts), "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.base)
        return self.proc.pid

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=60):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=1)

    def wait_ready(self, timeout=120):
        """Until PING answers PONG (Redis answers -LOADING while it loads)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError("%s exited with %s:\n%s" %
                                 (self.kind, self.proc.returncode, self.logtail()))
            try:
                if self.client(5).ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            except redis.ResponseError as e:
                if "LOADING" not in str(e):
                    raise
            time.sleep(0.01)
        raise BenchError("%s did not answer within %ds" % (self.kind, timeout))

    def logtail(self):
        try:
            with open(self.logf.name, "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.logf.close()

    def remove(self):
        shutil.rmtree(self.base, ignore_errors=True)

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise BenchError("no VmRSS for %d" % self.proc.pid)

    def disk(self):
        out = subprocess.run(["du", "-sb", self.dir], capture_output=True, text=True,
                             check=True).stdout
        return int(out.split()[0])

    def settle(self, timeout=300):
        """Until Redis has no AOF rewrite running (its child would outlive a
        SIGKILL of the parent and take a core); a no-op for StrataDB."""
        if self.kind != "redis":
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.client().info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("loading"):
                return
            time.sleep(0.1)
        raise BenchError("redis AOF rewrite still running after %ds" % timeout)


def run_benchmark(srv, test, pipeline, args):
    """One redis-benchmark run; returns (ops/s, p50 ms, p99 ms)."""
    argv = [args.bench_bin, "-h", "127.0.0.1", "-p", str(srv.port), "-t", test,
            "-n", str(args.requests), "-c", str(args.clients), "-d", str(args.size),
            "-r", str(args.keys), "-P", str(pipeline), "--csv"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=args.run_timeout)
    if p.returncode != 0 or "ERR" in p.stderr or "Error" in p.stderr or "error" in p.stdout:
        raise BenchError("redis-benchmark %s -P %d on %s failed (%d): %s %s" %
                         (test, pipeline, srv.kind, p.returncode, p.stdout[-500:],
                          p.stderr[-500:]))
    if not srv.alive():
        raise BenchError("%s died during %s -P %d:\n%s" % (srv.kind, test, pipeline,
                                                            srv.logtail()))
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    want = "MSET (10 keys)" if test == "mset" else test.upper()
    row = [r for r in rows if r.get("test") == want]
    if len(row) != 1:
        raise BenchError("no %r row in redis-benchmark's output: %r" % (want, p.stdout))
    r = row[0]
    return float(r["rps"]), float(r["p50_latency_ms"]), float(r["p99_latency_ms"])


def check_after(srv, test, state, args):
    """A cheap check that the run did what it says: writes left keys behind,
    preloaded keys still answer."""
    c = srv.client()
    if test in ("set", "incr", "mset"):
        if c.dbsize() == 0:
            raise BenchError("%s: DBSIZE is 0 after %s" % (srv.kind, test))
        if test == "incr":
            # Every counter redis-benchmark touched is a positive integer.
            found = [k for k in c.scan(0, match="counter:*", count=1000)[1]][:20]
            if not found:
                raise BenchError("%s: no counter:* key after INCR" % srv.kind)
            for k in found:
                if int(c.get(k)) <= 0:
                    raise BenchError("%s: %r is not a positive counter" % (srv.kind, k))
    if state == "loaded":
        idx = random.Random(7).sample(range(args.keys), min(50, args.keys))
        vals = c.mget([key_name(i) for i in idx])
        for i, v in zip(idx, vals):
            if v is None or len(v) != args.size:
                raise BenchError("%s: %r lost or wrong after %s: %r" %
                                 (srv.kind, key_name(i), test, v))


def write_preload(path, keys, size):
    with open(path, "wb") as f:
        buf = []
        for i in range(keys):
            k = key_name(i)
            v = value_of(i, size)
            buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
            if len(buf) == 10000:
                f.write(b"".join(buf))
                buf = []
        f.write(b"".join(buf))


def preload(srv, path, args):
    t0 = time.monotonic()
    with open(path, "rb") as f:
        p = subprocess.run([args.cli_bin, "-h", "127.0.0.1", "-p", str(srv.port), "--pipe"],
                           stdin=f, capture_output=True, text=True, timeout=3600)
    secs = time.monotonic() - t0
    if p.returncode != 0 or "errors: 0, replies: %d" % args.keys not in p.stdout:
        raise BenchError("preload of %s failed: %s %s" % (srv.kind, p.stdout[-500:],
                                                          p.stderr[-500:]))
    n = srv.client().dbsize()
    if n != args.keys:
        raise BenchError("%s: DBSIZE %d after preloading %d keys" % (srv.kind, n, args.keys))
    return args.keys / secs


def sample_ok(c, idx, size):
    vals = c.mget([key_name(i) for i in idx])
    return all(v == value_of(i, size) for i, v in zip(idx, vals))


def restart(srv, args):
    """SIGKILL, start again, seconds until DBSIZE is what it was and every
    sampled key answers with its preloaded value."""
    c = srv.client()
    expect = c.dbsize()
    idx = random.Random(11).sample(range(args.keys), min(SAMPLE, args.keys))
    if not sample_ok(c, idx, args.size):
        raise BenchError("%s: sample wrong before the restart" % srv.kind)
    c.close()
    srv.settle()
    srv.kill9()
    t0 = time.monotonic()
    srv.start()
    deadline = t0 + args.restart_timeout
    while time.monotonic() < deadline:
        if not srv.alive():
            raise BenchError("%s exited during restart:\n%s" % (srv.kind, srv.logtail()))
        try:
            c = srv.client(10)
            if c.dbsize() == expect and sample_ok(c, idx, args.size):
                secs = time.monotonic() - t0
                c.close()
                return secs
            c.close()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            pass
        except redis.ResponseError as e:
            if "LOADING" not in str(e):
                raise
        time.sleep(0.005)
    raise BenchError("%s: keys not back %ds after the restart (DBSIZE %s, expected %d)" %
                     (srv.kind, args.restart_timeout, safe_dbsize(srv), expect))


def safe_dbsize(srv):
    try:
        return srv.client(2).dbsize()
    except Exception as e:  # for the error message only
        return repr(e)


class Results:
    def __init__(self):
        self.rows = []  # dicts with the TSV columns

    def add(self, mode, state, metric, pipeline, server, value, unit, p50="", p99=""):
        self.rows.append(dict(mode=mode, state=state, metric=metric, pipeline=pipeline,
                              server=server, value=value, unit=unit, p50_ms=p50, p99_ms=p99))

    def get(self, mode, state, metric, pipeline, server):
        for r in self.rows:
            if (r["mode"], r["state"], r["metric"], r["pipeline"], r["server"]) == \
                    (mode, state, metric, pipeline, server):
                return r
        return None

    def write_tsv(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        cols = ["mode", "state", "metric", "pipeline", "server", "value", "unit", "p50_ms",
                "p99_ms"]
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, cols, delimiter="\t", lineterminator="\n")
            w.writeheader()
            for r in self.rows:
                w.writerow({k: fmt_tsv(r[k]) for k in cols})
        os.replace(tmp, path)


def fmt_tsv(v):
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def ratio_str(r):
    return "n/a" if r is None else "%.2f" % r


def human_bytes(n):
    return "%.1f MiB" % (n / 1048576.0)


def bench_runs(mode, state, servers, res, args):
    for test in args.tests:
        for pipeline in args.pipelines:
            for srv in servers:
                rps, p50, p99 = run_benchmark(srv, test, pipeline, args)
                check_after(srv, test, state, args)
                res.add(mode, state, test, pipeline, srv.kind, rps, "ops/s", p50, p99)
                log("  %-8s %-6s %-4s -P %-2d %-6s %10.0f ops/s  p50 %.3f ms  p99 %.3f ms" %
                    (mode, state, test, pipeline, srv.kind, rps, p50, p99))


def empty_runs(mode, res, args, started):
    """Each run on a new server with an empty data directory (a FLUSHALL
    would leave StrataDB's old versions to its compactions)."""
    for test in args.tests:
        for pipeline in args.pipelines:
            for kind in args.servers:
                srv = Server(kind, mode, args.workdir, args)
                started.append(srv)
                try:
                    srv.start()
                    srv.wait_ready()
                    bench_runs(mode, "empty", [srv], res, argparse.Namespace(
                        **dict(vars(args), tests=[test], pipelines=[pipeline])))
                finally:
                    srv.stop()
                    if not args.keep:
                        srv.remove()


def phase(mode, state, res, args, preload_path, started):
    if state == "empty":
        return empty_runs(mode, res, args, started)
    servers = []
    try:
        for kind in args.servers:
            srv = Server(kind, mode, args.workdir, args)
            started.append(srv)
            servers.append(srv)
            srv.start()
            srv.wait_ready()
        if state == "loaded":
            for srv in servers:
                rate = preload(srv, preload_path, args)
                res.add(mode, state, "preload", "", srv.kind, rate, "keys/s")
                log("  %-8s preload %-6s %10.0f keys/s" % (mode, srv.kind, rate))
            time.sleep(args.settle)  # everysec: the last second is on disk
            for srv in servers:
                srv.settle()
                res.add(mode, state, "rss", "", srv.kind, srv.rss(), "bytes")
                res.add(mode, state, "disk", "", srv.kind, srv.disk(), "bytes")
                secs = restart(srv, args)
                res.add(mode, state, "restart", "", srv.kind, secs, "s")
                log("  %-8s %-6s rss %s disk %s restart %.3f s" %
                    (mode, srv.kind, human_bytes(res.get(mode, state, "rss", "", srv.kind)["value"]),
                     human_bytes(res.get(mode, state, "disk", "", srv.kind)["value"]), secs))
        bench_runs(mode, state, servers, res, args)
    finally:
        for srv in servers:
            srv.stop()
            if not args.keep:
                srv.remove()


def budget_phase(res, args, preload_path, started):
    """strata-server with a small memory budget on the same data."""
    mode = "everysec"
    extra = ["--memtable-bytes", args.budget_memtable, "--block-cache-bytes",
             args.budget_cache]
    srv = Server("strata", mode, args.workdir, args, extra)
    started.append(srv)
    try:
        srv.start()
        srv.wait_ready()
        rate = preload(srv, preload_path, args)
        res.add(mode, "budget", "preload", "", "strata", rate, "keys/s")
        time.sleep(args.settle)
        res.add(mode, "budget", "disk", "", "strata", srv.disk(), "bytes")
        # Restart so that reads start from a cold block cache.
        secs = restart(srv, args)
        res.add(mode, "budget", "restart", "", "strata", secs, "s")
        for test in ("set", "get"):
            for pipeline in args.pipelines:
                rps, p50, p99 = run_benchmark(srv, test, pipeline, args)
                check_after(srv, test, "loaded", args)
                res.add(mode, "budget", test, pipeline, "strata", rps, "ops/s", p50, p99)
                log("  budget   %-4s -P %-2d strata %10.0f ops/s" % (test, pipeline, rps))
        res.add(mode, "budget", "rss", "", "strata", srv.rss(), "bytes")
    finally:
        srv.stop()
        if not args.keep:
            srv.remove()


def print_table(res, args):
    out = []
    out.append("server benchmark: keys=%d requests=%d clients=%d size=%d" %
               (args.keys, args.requests, args.clients, args.size))
    hdr = "%-9s %-7s %-6s %-4s %12s %12s %6s %16s %16s" % (
        "fsync", "state", "test", "-P", "strata ops/s", "redis ops/s", "ratio",
        "strata p50/p99", "redis p50/p99")
    out.append(hdr)
    out.append("-" * len(hdr))
    for mode in args.modes:
        for state in args.states:
            for test in args.tests:
                for pl in args.pipelines:
                    s = res.get(mode, state, test, pl, "strata")
                    r = res.get(mode, state, test, pl, "redis")
                    sv = s["value"] if s else None
                    rv = r["value"] if r else None
                    ratio = sv / rv if sv and rv else None
                    out.append("%-9s %-7s %-6s %-4d %12s %12s %6s %16s %16s" % (
                        mode, state, test.upper(), pl, "%.0f" % sv if sv else "-",
                        "%.0f" % rv if rv else "-", ratio_str(ratio),
                        "%.2f/%.2f" % (s["p50_ms"], s["p99_ms"]) if s else "-",
                        "%.2f/%.2f" % (r["p50_ms"], r["p99_ms"]) if r else "-"))
    if "loaded" in args.states:
        out.append("")
        out.append("%-9s %-22s %14s %14s %6s" % ("fsync", "with %d keys" % args.keys, "strata",
                                                  "redis", "R"))
        for mode in args.modes:
            for metric, unit in (("preload", "keys/s"), ("rss", "bytes"), ("disk", "bytes"),
                                 ("restart", "s")):
                s = res.get(mode, "loaded", metric, "", "strata")
                r = res.get(mode, "loaded", metric, "", "redis")
                sv = s["value"] if s else None
                rv = r["value"] if r else None
                if metric == "preload":
                    ratio = sv / rv if sv and rv else None
                else:
                    ratio = rv / sv if sv and rv else None

                def show(v):
                    if v is None:
                        return "-"
                    if unit == "bytes":
                        return human_bytes(v)
                    if unit == "s":
                        return "%.3f s" % v
                    return "%.0f/s" % v
                out.append("%-9s %-22s %14s %14s %6s" % (mode, metric, show(sv), show(rv),
                                                         ratio_str(ratio)))
    if args.budget:
        out.append("")
        out.append("strata-server with memtable %s + block cache %s (everysec):" %
                   (args.budget_memtable, args.budget_cache))
        for test in ("set", "get"):
            for pl in args.pipelines:
                b = res.get("everysec", "budget", test, pl, "strata")
                d = res.get("everysec", "loaded", test, pl, "strata")
                if b:
                    out.append("  %-4s -P %-2d %10.0f ops/s (default budget: %s, ratio %s)" % (
                        test.upper(), pl, b["value"], "%.0f" % d["value"] if d else "-",
                        ratio_str(b["value"] / d["value"] if d else None)))
        for metric in ("disk", "rss", "restart"):
            b = res.get("everysec", "budget", metric, "", "strata")
            if b:
                out.append("  %-8s %s" % (metric, human_bytes(b["value"]) if b["unit"] == "bytes"
                                           else "%.3f s" % b["value"]))
    print("\n".join(out))


def summary(res, args):
    def tput(test, pl):
        rs = []
        for mode in args.modes:
            for state in args.states:
                s = res.get(mode, state, test, pl, "strata")
                r = res.get(mode, state, test, pl, "redis")
                if s and r and r["value"] > 0:
                    rs.append(s["value"] / r["value"])
        return geomean(rs)

    def inverse(metric):
        rs = []
        for mode in args.modes:
            s = res.get(mode, "loaded", metric, "", "strata")
            r = res.get(mode, "loaded", metric, "", "redis")
            if s and r and s["value"] > 0:
                rs.append(r["value"] / s["value"])
        return geomean(rs)

    return "server-vs-redis: set_p1=%s get_p1=%s set_p16=%s get_p16=%s restart=%s rss=%s" % (
        ratio_str(tput("set", 1)), ratio_str(tput("get", 1)), ratio_str(tput("set", 16)),
        ratio_str(tput("get", 16)), ratio_str(inverse("restart")), ratio_str(inverse("rss")))


def csv_list(s, allowed=None, conv=str):
    out = [conv(x) for x in s.split(",") if x]
    if allowed is not None:
        for x in out:
            if x not in allowed:
                raise argparse.ArgumentTypeError("unknown value %r (allowed: %s)" %
                                                 (x, ",".join(map(str, allowed))))
    return out


def parse_args(argv):
    env = os.environ
    ap = argparse.ArgumentParser(description="strata-server against redis-server 7.0")
    ap.add_argument("--keys", type=int, default=int(env.get("N") or 1000000),
                    help="keys preloaded and the -r range (env N; default 1000000)")
    ap.add_argument("--requests", type=int, default=int(env.get("REQS") or 0),
                    help="requests per redis-benchmark run (env REQS; default min(200000, "
                    "max(keys/10, 1000)))")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--modes", type=lambda s: csv_list(s, ("always", "everysec", "no")),
                    default=["always", "everysec"])
    ap.add_argument("--states", type=lambda s: csv_list(s, ("empty", "loaded")),
                    default=["empty", "loaded"])
    ap.add_argument("--tests", type=lambda s: csv_list(s, TESTS), default=list(TESTS))
    ap.add_argument("--pipelines", type=lambda s: csv_list(s, None, int), default=[1, 16])
    ap.add_argument("--servers", type=lambda s: csv_list(s, SERVERS), default=list(SERVERS))
    ap.add_argument("--budget", action="store_true", default=env.get("BUDGET") == "1",
                    help="also strata-server with a small memory budget (env BUDGET=1)")
    ap.add_argument("--budget-memtable", default="4mb")
    ap.add_argument("--budget-cache", default="4mb")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds between the preload and the measurements")
    ap.add_argument("--tsv", default=os.path.join(ROOT, "bench", "results", "server.tsv"))
    ap.add_argument("--workdir", default=None, help="parent of the temporary directories")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    ap.add_argument("--strata-bin", default=STRATA_BIN)
    ap.add_argument("--redis-bin", default=REDIS_BIN)
    ap.add_argument("--bench-bin", default=BENCH_BIN)
    ap.add_argument("--cli-bin", default=CLI_BIN)
    ap.add_argument("--run-timeout", type=int, default=1800)
    ap.add_argument("--restart-timeout", type=int, default=600)
    args = ap.parse_args(argv)
    if args.keys < 1 or args.clients < 1 or args.size < 16 or args.requests < 0:
        ap.error("--keys and --clients must be >= 1, --size >= 16")
    if not args.requests:
        args.requests = min(200000, max(args.keys // 10, 1000))
    if args.budget and "strata" not in args.servers:
        ap.error("--budget needs strata in --servers")
    return args


def main(argv):
    args = parse_args(argv)
    for b in (args.strata_bin, args.redis_bin, args.bench_bin, args.cli_bin):
        if not os.access(b, os.X_OK):
            log("bench-server: %s is missing" % b)
            return 2
    res = Results()
    started = []
    top = tempfile.mkdtemp(prefix="strata-benchsrv-", dir=args.workdir)
    args.workdir = top
    t0 = time.monotonic()
    try:
        preload_path = os.path.join(top, "preload.resp")
        if "loaded" in args.states or args.budget:
            write_preload(preload_path, args.keys, args.size)
        for mode in args.modes:
            for state in args.states:
                log("== appendfsync %s, %s" % (mode, state))
                phase(mode, state, res, args, preload_path, started)
        if args.budget:
            log("== strata-server with a small memory budget")
            budget_phase(res, args, preload_path, started)
    except (BenchError, redis.RedisError, subprocess.SubprocessError, OSError) as e:
        log("bench-server: FAILED: %s" % e)
        res.write_tsv(args.tsv)
        return 1
    finally:
        for srv in started:
            if srv.alive():
                srv.stop()
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    res.write_tsv(args.tsv)
    print_table(res, args)
    print("elapsed %.0f s, tsv %s" % (time.monotonic() - t0, args.tsv))
    print(summary(res, args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
