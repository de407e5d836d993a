#!/usr/bin/python3
"""`make bench-server`: strata-server side by side with redis-server 7.0 at
the same durability (appendonly yes, same appendfsync), driven by
redis-benchmark: SET, GET, INCR, MSET at -P 1 and -P 16 (-c 50 -d 100
-r KEYS), on an empty server and with KEYS keys preloaded; resident memory
and disk bytes with KEYS keys; restart time (SIGKILL, then start until the
last key answers). Ends with one line:

  server-vs-redis: set_p1=R get_p1=R set_p16=R get_p16=R restart=R rss=R

R > 1 means StrataDB is better (throughput ratio; Redis over StrataDB for
restart time and memory). Servers run on free 127.0.0.1 ports with
temporary directories and are stopped by PID.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STRATA = os.path.join(ROOT, "bin", "strata-server")
REDIS = "/usr/bin/redis-server"
BENCH = "/usr/bin/redis-benchmark"
CLI = "/usr/bin/redis-cli"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            out = subprocess.run([CLI, "-p", str(port), "PING"], capture_output=True,
                                 timeout=5).stdout
            if out.strip() == b"PONG":
                return time.time() - t0
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.01)
    raise RuntimeError("server on %d not ready" % port)


class Srv:
    def __init__(self, kind, fsync, tmp):
        self.kind, self.fsync, self.dir = kind, fsync, tmp
        self.port = free_port()
        self.proc = None

    def argv(self):
        if self.kind == "strata":
            return [STRATA, "--port", str(self.port), "--dir", self.dir, "--appendfsync",
                    self.fsync, "--loglevel", "warning"]
        return [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes", "--appendfsync", self.fsync,
                "--loglevel", "warning", "--daemonize", "no"]

    def start(self):
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        return wait_ready(self.port, self.proc)

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=120)

    def cli(self, *args):
        return subprocess.run([CLI, "-p", str(self.port)] + [str(a) for a in args],
                              capture_output=True, timeout=600).stdout.strip()

    def rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def disk(self):
        total = 0
        for root, _, files in os.walk(self.dir):
            for n in files:
                try:
                    total += os.path.getsize(os.path.join(root, n))
                except OSError:
                    pass
        return total


def bench(port, test, pipeline, keys, n):
    out = subprocess.run([BENCH, "-p", str(port), "-t", test, "-n", str(n), "-c", "50",
                          "-P", str(pipeline), "-d", "100", "-r", str(keys), "-q"],
                         capture_output=True, timeout=1200).stdout.decode()
    for part in out.replace("\r", "\n").split("\n"):
        if "requests per second" in part:
            return float(part.split(":")[1].split()[0])
    return 0.0


def preload(srv, keys):
    # SET key:__rand_int__ with -r over 4x the key count touches most keys;
    # then a deterministic fill makes sure the last key exists.
    subprocess.run([BENCH, "-p", str(srv.port), "-t", "set", "-n", str(keys), "-c", "50",
                    "-P", "64", "-d", "100", "-r", str(keys), "-q"], capture_output=True,
                   timeout=3600)
    srv.cli("SET", "bench:last", "1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--fsync", default="everysec", choices=["always", "everysec", "no"])
    a = ap.parse_args()
    for b in (STRATA, REDIS, BENCH, CLI):
        if not os.path.exists(b):
            sys.exit("missing %s (run make; Debian packages redis-server redis-tools)" % b)
    res = {}
    tmps = []
    try:
        for kind in ("strata", "redis"):
            tmp = tempfile.mkdtemp(prefix="bench-server-%s-" % kind)
            tmps.append(tmp)
            s = Srv(kind, a.fsync, tmp)
            s.start()
            r = res[kind] = {}
            for phase in ("empty", "loaded"):
                if phase == "loaded":
                    preload(s, a.keys)
                for test in ("set", "get", "incr", "mset"):
                    for p in (1, 16):
                        n = a.requests if p == 1 else a.requests * 4
                        r["%s_%s_p%d" % (phase, test, p)] = bench(s.port, test, p, a.keys, n)
                        print("%-6s %-6s %-4s -P %-2d %12.0f req/s" % (
                            kind, phase, test, p, r["%s_%s_p%d" % (phase, test, p)]),
                            flush=True)
            r["rss"] = s.rss()
            r["disk"] = s.disk()
            r["dbsize"] = s.cli("DBSIZE").decode()
            s.kill(signal.SIGKILL)
            t0 = time.time()
            s.proc = subprocess.Popen(s.argv(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            wait_ready(s.port, s.proc)
            while s.cli("GET", "bench:last") != b"1":
                time.sleep(0.01)
            r["restart"] = time.time() - t0
            print("%-6s keys=%s rss=%d disk=%d restart=%.3fs" % (
                kind, r["dbsize"], r["rss"], r["disk"], r["restart"]), flush=True)
            s.kill()
    finally:
        for t in tmps:
            shutil.rmtree(t, ignore_errors=True)
    s_, r_ = res["strata"], res["redis"]

    def ratio(k):
        return s_[k] / r_[k] if r_[k] else 0.0

    print("appendfsync=%s keys=%d (loaded phase ratios below)" % (a.fsync, a.keys))
    print("server-vs-redis: set_p1=%.2f get_p1=%.2f set_p16=%.2f get_p16=%.2f restart=%.2f "
          "rss=%.2f" % (ratio("loaded_set_p1"), ratio("loaded_get_p1"), ratio("loaded_set_p16"),
                        ratio("loaded_get_p16"),
                        r_["restart"] / s_["restart"] if s_["restart"] else 0.0,
                        r_["rss"] / s_["rss"] if s_["rss"] else 0.0))


if __name__ == "__main__":
    main()
