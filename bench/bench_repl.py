#!/usr/bin/python3
"""make bench-repl: StrataDB replication side by side with Redis 7.0.

For each system (strata-server release build, /usr/bin/redis-server):
  1. full sync: N keys of 100-byte values on the primary, then a replica
     started with replicaof; time until master_link_status:up and the
     replica holds N keys;
  2. replication lag at a steady write rate: a writer process sends RATE
     SETs/s (one pipeline per millisecond) and ends each pipeline with
     SET ts <its send time in ns>; a reader on the replica reads ts in a
     tight loop, and each new value gives one sample: the time it was first
     seen on the replica - the time it was sent to the primary (p50, p99,
     max in ms). Repeated reads of a value already seen are not samples (they
     measure the gap between writes, not replication). The writer's achieved
     rate is printed: a writer that falls behind RATE is not a valid run;
  3. primary write throughput (redis-benchmark SET, pipelined) with 0, 1
     and 2 replicas attached, with the CPU time the primary (and each
     replica) spent per SET, from /proc/PID/stat: on a shared machine
     wall-clock throughput is noisy, CPU per write is not.
The load average is printed with each figure. Ends with one line:
  repl-vs-redis: fullsync=R lag_p99_ms=X redis_lag_p99_ms=X
                 throughput_1replica=R tp2_vs_0=R redis_tp2_vs_0=R
                 cpu2_vs_0=R redis_cpu2_vs_0=R
(on one line) where fullsync = redis time / strata time (> 1: strata is
faster), throughput_1replica = strata SET/s with one replica over redis's,
tp2_vs_0 = a server's SET/s with two replicas over its SET/s with none,
cpu2_vs_0 = its primary's CPU per SET with none over with two replicas
(the same target judged by CPU instead of wall clock).
BENCH_KEYS, BENCH_RATE, BENCH_SECS and BENCH_REQS override the sizes
(defaults 1000000, 50000, 10, 1000000); BENCH_ONLY=lag,throughput runs only
those parts and BENCH_SERVERS=strata only that server.
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
REQS = int(os.environ.get("BENCH_REQS", "1000000"))
ONLY = os.environ.get("BENCH_ONLY", "fullsync,lag,throughput").split(",")
SERVERS = os.environ.get("BENCH_SERVERS", "strata,redis").split(",")
TICK = os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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


def _writer(port, rate, secs, done):
    c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=60)
    batch = max(1, rate // 1000)  # one pipeline per millisecond
    val = "x" * 100
    t0 = time.perf_counter()
    end = t0 + secs
    next_t = t0
    n = 0
    while time.perf_counter() < end:
        pl = c.pipeline(transaction=False)
        for i in range(batch - 1):
            pl.set("k%d" % i, val)
        pl.set("ts", str(time.time_ns()))
        pl.execute()
        n += batch
        next_t += 0.001
        d = next_t - time.perf_counter()
        if d > 0:
            time.sleep(d)
    done.value = n / (time.perf_counter() - t0)


def lag(kind):
    """The writer runs in its own process so that the reader's timing is not
    skewed by the writer holding the interpreter. Returns (p50, p99, max,
    samples, achieved writes/s)."""
    import multiprocessing
    p = Proc(kind)
    r = replica_of(kind, p)
    try:
        wait_synced(r, 0)
        done = multiprocessing.Value("d", 0.0)
        w = multiprocessing.Process(target=_writer, args=(p.port, RATE, SECS, done))
        w.start()
        c = r.c()
        lags = []
        last = None
        while w.is_alive():
            v = c.get("ts")
            now = time.time_ns()
            if v and v != last:
                last = v
                lags.append((now - int(v)) / 1e6)
        w.join()
        lags.sort()
        if not lags:
            return (0, 0, 0, 0, done.value)
        return (lags[len(lags) // 2], lags[int(len(lags) * 0.99)], lags[-1], len(lags),
                done.value)
    finally:
        r.stop()
        p.stop()


def throughput(kind, nrep):
    """SET/s of redis-benchmark against the primary with nrep replicas, and
    CPU microseconds per SET of the primary and of the replicas (mean)."""
    p = Proc(kind)
    rs = [replica_of(kind, p) for _ in range(nrep)]
    try:
        for r in rs:
            wait_synced(r, 0)
        c0 = cpu_s(p.p.pid)
        r0 = [cpu_s(r.p.pid) for r in rs]
        out = subprocess.run(["redis-benchmark", "-p", str(p.port), "-t", "set", "-n", str(REQS),
                              "-P", "16", "-c", "50", "-r", "100000", "-q"],
                             capture_output=True, text=True, timeout=600).stdout
        # let the replicas finish applying what was streamed
        deadline = time.time() + 60
        c = p.c()
        while rs and time.time() < deadline:
            info = c.info("replication")
            off = info.get("master_repl_offset")
            if all(info.get("slave%d" % i, {}).get("offset") == off for i in range(nrep)):
                break
            time.sleep(0.05)
        cpu_p = (cpu_s(p.p.pid) - c0) * 1e6 / REQS
        cpu_r = (sum(cpu_s(r.p.pid) for r in rs) - sum(r0)) * 1e6 / REQS / nrep if rs else 0
        tp = 0.0
        for tok in reversed(out.replace("\r", "\n").split("\n")):
            if tok.startswith("SET:") and "requests per second" in tok:
                tp = float(tok.split()[1])
                break
        return (tp, cpu_p, cpu_r)
    finally:
        for r in rs:
            r.stop()
        p.stop()


def main():
    if not os.path.exists(STRATA):
        sys.exit("build first: make")
    res = {}
    for kind in SERVERS:
        if kind == "redis" and not os.path.exists(REDIS):
            continue
        fs = lp = None
        tp = []
        if "fullsync" in ONLY:
            fs = fullsync(kind)
            print("%-6s fullsync %d keys: %.2f s (load %s)" % (kind, KEYS, fs, loadavg()),
                  flush=True)
        if "lag" in ONLY:
            lp = lag(kind)
            print("%-6s lag at %d writes/s (achieved %.0f/s, %d samples): ms p50 %.2f p99 %.2f "
                  "max %.2f (load %s)" % (kind, RATE, lp[4], lp[3], lp[0], lp[1], lp[2],
                                          loadavg()), flush=True)
        if "throughput" in ONLY:
            for n in (0, 1, 2):
                tp.append(throughput(kind, n))
                print("%-6s SET/s with %d replicas: %.0f; primary CPU %.2f us/SET, replica CPU "
                      "%.2f us/SET (load %s)" % (kind, n, tp[-1][0], tp[-1][1], tp[-1][2],
                                                  loadavg()), flush=True)
            print("%-6s SET/s with 2 replicas: %.2fx of none; primary CPU per SET with none / "
                  "with 2 replicas: %.2f" % (kind, tp[2][0] / tp[0][0] if tp[0][0] else 0,
                                             tp[0][1] / tp[2][1] if tp[2][1] else 0), flush=True)
        res[kind] = (fs, lp, tp)
    s = res.get("strata")
    rd = res.get("redis")
    if not s or not rd or not all(s) or not all(rd):
        return

    def ratio(a, b):
        return a / b if b else 0
    print("repl-vs-redis: fullsync=%.2f lag_p99_ms=%.2f redis_lag_p99_ms=%.2f "
          "throughput_1replica=%.2f tp2_vs_0=%.2f redis_tp2_vs_0=%.2f cpu2_vs_0=%.2f "
          "redis_cpu2_vs_0=%.2f"
          % (ratio(rd[0], s[0]), s[1][1], rd[1][1], ratio(s[2][1][0], rd[2][1][0]),
             ratio(s[2][2][0], s[2][0][0]), ratio(rd[2][2][0], rd[2][0][0]),
             ratio(s[2][0][1], s[2][2][1]), ratio(rd[2][0][1], rd[2][2][1])))


if __name__ == "__main__":
    main()
