#!/usr/bin/python3
"""make bench-repl: StrataDB replication side by side with Redis 7.0.

For each system (strata-server release build, /usr/bin/redis-server):
  1. full sync: N keys of 100-byte values on the primary, then a replica
     started with replicaof; time until master_link_status:up and the
     replica holds N keys;
  2. replication lag at a steady write rate: a writer stores its send time
     (ns) in key "ts" at RATE writes/s; a reader on the replica reads it in
     a loop; lag = read time - stored time (p50, p99, max in ms);
  3. primary write throughput (redis-benchmark SET, pipelined) with 0, 1
     and 2 replicas attached.
Ends with one line:
  repl-vs-redis: fullsync=R lag_p99_ms=X throughput_1replica=R
where R is strata's figure over redis's (fullsync: redis time / strata time,
so > 1 means strata is faster). BENCH_KEYS, BENCH_RATE and BENCH_SECS
override the sizes (defaults 1000000, 50000, 10).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STRATA = os.path.join(ROOT, "bin", "strata-server")
REDIS = "/usr/bin/redis-server"
KEYS = int(os.environ.get("BENCH_KEYS", "1000000"))
RATE = int(os.environ.get("BENCH_RATE", "50000"))
SECS = float(os.environ.get("BENCH_SECS", "10"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, kind, *extra):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-repl-")
        if kind == "strata":
            argv = [STRATA, "--port", str(self.port), "--dir", self.dir,
                    "--appendfsync", "everysec"]
        else:
            argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--repl-diskless-sync", "no"]
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.p = subprocess.Popen(argv + list(extra), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.02)

    def c(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=60)

    def stop(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def load(c, n):
    val = "v" * 100
    p = c.pipeline(transaction=False)
    for i in range(0, n, 1000):
        p.mset({"key:%010d" % j: val for j in range(i, min(n, i + 1000))})
        if (i // 1000) % 20 == 19:
            p.execute()
    p.execute()


def replica_of(kind, primary):
    return Proc(kind, "--replicaof", "127.0.0.1", str(primary.port)) if kind == "redis" else \
        Proc(kind, "--replicaof", "127.0.0.1 %d" % primary.port)


def wait_synced(r, n, timeout=600):
    deadline = time.time() + timeout
    c = r.c()
    while time.time() < deadline:
        try:
            if c.info("replication").get("master_link_status") == "up" and c.dbsize() >= n:
                return True
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.01)
    raise RuntimeError("replica did not sync")


def fullsync(kind):
    p = Proc(kind)
    try:
        load(p.c(), KEYS)
        t0 = time.time()
        r = replica_of(kind, p)
        wait_synced(r, KEYS)
        dt = time.time() - t0
        r.stop()
        return dt
    finally:
        p.stop()


def _writer(port, rate, secs):
    c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60)
    batch = max(1, rate // 1000)  # one pipeline per millisecond
    end = time.perf_counter() + secs
    next_t = time.perf_counter()
    while time.perf_counter() < end:
        pl = c.pipeline(transaction=False)
        for i in range(batch):
            pl.set("k%d" % i, "x" * 100)
        pl.set("ts", str(time.time_ns()))
        pl.execute()
        next_t += 0.001
        d = next_t - time.perf_counter()
        if d > 0:
            time.sleep(d)


def lag(kind):
    """The writer runs in its own process so that the reader's timing is not
    skewed by the writer holding the interpreter."""
    import multiprocessing
    p = Proc(kind)
    r = replica_of(kind, p)
    try:
        wait_synced(r, 0)
        w = multiprocessing.Process(target=_writer, args=(p.port, RATE, SECS))
        w.start()
        c = r.c()
        lags = []
        while w.is_alive():
            v = c.get("ts")
            now = time.time_ns()
            if v:
                lags.append((now - int(v)) / 1e6)
        w.join()
        lags.sort()
        if not lags:
            return (0, 0, 0)
        return (lags[len(lags) // 2], lags[int(len(lags) * 0.99)], lags[-1])
    finally:
        r.stop()
        p.stop()


def throughput(kind, nrep):
    p = Proc(kind)
    rs = [replica_of(kind, p) for _ in range(nrep)]
    try:
        for r in rs:
            wait_synced(r, 0)
        out = subprocess.run(["redis-benchmark", "-p", str(p.port), "-t", "set", "-n", "300000",
                              "-P", "16", "-c", "50", "-r", "100000", "-q"],
                             capture_output=True, text=True, timeout=600).stdout
        for tok in reversed(out.replace("\r", "\n").split("\n")):
            if tok.startswith("SET:") and "requests per second" in tok:
                return float(tok.split()[1])
        return 0.0
    finally:
        for r in rs:
            r.stop()
        p.stop()


def main():
    if not os.path.exists(STRATA):
        sys.exit("build first: make")
    res = {}
    for kind in ("strata", "redis"):
        if kind == "redis" and not os.path.exists(REDIS):
            continue
        fs = fullsync(kind)
        lp = lag(kind)
        tp = [throughput(kind, n) for n in (0, 1, 2)]
        res[kind] = (fs, lp, tp)
        print("%-6s fullsync %d keys: %.2f s; lag ms p50 %.2f p99 %.2f max %.2f; "
              "SET/s with 0/1/2 replicas: %.0f / %.0f / %.0f (2 replicas: %.2fx of none)"
              % (kind, KEYS, fs, lp[0], lp[1], lp[2], tp[0], tp[1], tp[2],
                 tp[2] / tp[0] if tp[0] else 0), flush=True)
    s = res["strata"]
    rd = res.get("redis")
    fs_ratio = rd[0] / s[0] if rd and s[0] else 0
    tp_ratio = s[2][1] / rd[2][1] if rd and rd[2][1] else 0
    print("repl-vs-redis: fullsync=%.2f lag_p99_ms=%.2f throughput_1replica=%.2f"
          % (fs_ratio, s[1][1], tp_ratio))


if __name__ == "__main__":
    main()
