#!/usr/bin/env python3
"""Placement at scale and idle footprints (issue: cluster orchestrator; SPEC section 9).

    python3 bench/cluster/placement_bench.py BUILD_DIR [--clusters 10] [--nodes 10000]
        [--instances 100000] [--services 100] [--json OUT.json]

Starts, on 127.0.0.1 with private data directories:
  1. the broker's own round-trip rate (BUILD_DIR/bench/cluster/oak_bench_broker_rate), QoS 1 and
     QoS 0, as the physical limit under every cluster;
  2. one `oak root`, CLUSTERS `oak cluster` (each with its mosquitto) and one `oak sim` per cluster
     holding NODES/CLUSTERS simulated nodes;
  3. idle RSS of the first cluster with its nodes connected, and of one separate `oak node
     --runtime simulated` (beside an idle `sleep` as the floor of any process);
  4. INSTANCES deploys through POST /api/service/<id>/instance spread over SERVICES services
     (BUILD_DIR/bench/cluster/oak_bench_deploy), timed from each API call to RUNNING at the root:
     instances/s, p50/p99 latency; then the peak RSS (VmHWM) of every process.

BENCH_QUICK=1 scales down to 2 clusters, 200 nodes and 2,000 instances. Every process is stopped by
its PID; the temporary directory is removed.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "root"))
from root_bench import Child, cpu_seconds, free_port, proc_status_kb, wait_for  # noqa: E402  (shared process helpers)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ADMIN_PW = "bench-admin-pw"
CLUSTER_TOKEN = "bench-cluster-token"
NODE_TOKEN = "bench-node-token"


def log(msg):
    print(f"[placement-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def get_json(url, token=None, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def cluster_intake_held(cluster_urls):
    """How often, and how long, the clusters held the root's hand-overs while their nodes were behind."""
    held, seconds = 0, 0.0
    for url in cluster_urls:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("oak_cluster_intake_held_total "):
                    held += int(float(line.split()[1]))
                elif line.startswith("oak_cluster_intake_held_seconds_total "):
                    seconds += float(line.split()[1])
    return held, seconds


def root_gauges(root_url):
    """The dispatcher's gauges from the root's /metrics (no token needed)."""
    out = {}
    with urllib.request.urlopen(root_url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(("oak_dispatch_", "oak_instances{", "oak_store_group_commit")):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
    return out


class Perf:
    """`perf record -a` (flat, cpu-clock) over one phase of the run, when asked for; stopped by PID."""

    def __init__(self, out_dir, phase):
        self.proc = None
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            self.proc = subprocess.Popen(["perf", "record", "-a", "-e", "cpu-clock", "-F", "499", "-q",
                                          "-o", os.path.join(out_dir, phase + ".data")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


class Sampler:
    """During the burst: CPU seconds of every process of the run (from /proc/PID/stat), and once a
    second the root's dispatch queue, in-flight count and instances by status."""

    def __init__(self, groups, root_url, period=1.0):
        self.groups = groups  # name -> list of pids
        self.root_url = root_url
        self.period = period
        self.timeline = []
        self.seen = {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def cpu(self):
        # A process that ended (the deploy client) keeps its last reading.
        for pids in self.groups.values():
            for p in pids:
                try:
                    self.seen[p] = cpu_seconds(p)
                except OSError:
                    pass
        return {g: sum(self.seen.get(p, 0.0) for p in pids) for g, pids in self.groups.items()}

    def start(self):
        self.t0 = time.monotonic()
        self.cpu0 = self.cpu()
        self.thread.start()

    def run(self):
        last = self.cpu0
        while not self.stop_flag.wait(self.period):
            now = self.cpu()
            row = {"t": round(time.monotonic() - self.t0, 1),
                   "cpu": {g: round(now[g] - last[g], 2) for g in now}}
            last = now
            try:
                m = root_gauges(self.root_url)
                row["queued"] = m.get("oak_dispatch_queued", 0)
                row["in_flight"] = m.get("oak_dispatch_in_flight", 0)
                row["running"] = m.get('oak_instances{status="RUNNING"}', 0)
                row["scheduled"] = m.get('oak_instances{status="CLUSTER_SCHEDULED"}', 0)
            except Exception:
                pass
            self.timeline.append(row)

    def finish(self):
        self.stop_flag.set()
        self.thread.join()
        wall = time.monotonic() - self.t0
        end = self.cpu()
        return {"wall_s": wall, "cpu_s": {g: end[g] - self.cpu0[g] for g in end}, "timeline": self.timeline}


def read_ready(path):
    with open(path) as f:
        return "http://" + f.read().strip()


def main():
    # SIGTERM runs the cleanup in `finally`, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--clusters", type=int, default=2 if QUICK else 10)
    ap.add_argument("--nodes", type=int, default=200 if QUICK else 10_000)
    ap.add_argument("--instances", type=int, default=2_000 if QUICK else 100_000)
    ap.add_argument("--services", type=int, default=20 if QUICK else 100)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--sim-nice", type=int, default=5,
                    help="nice value of the `oak sim` processes: they stand for remote machines, and at the default "
                         "CPU share of one process each they would take the CPU of the tiers being measured")
    ap.add_argument("--json")
    ap.add_argument("--root-log-level", default="warn")
    ap.add_argument("--no-keep-alive", action="store_true", help="the deploy client opens a connection per call")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    ap.add_argument("--no-broker-rate", action="store_true", help="skip the broker round-trip baseline")
    ap.add_argument("--idle-seconds", type=float, default=5,
                    help="how long the idle system is watched before the burst (with --profile: its CPU)")
    ap.add_argument("--steady-seconds", type=float, default=10,
                    help="with --profile: how long the CPU is read with every instance running")
    ap.add_argument("--perf", metavar="DIR",
                    help="also record `perf record -a` samples of the idle, burst and steady phases into DIR")
    ap.add_argument("--profile", action="store_true",
                    help="sample per-process CPU and the root's dispatch gauges during the burst")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    oak = os.path.join(build, "oak")
    tmp = tempfile.mkdtemp(prefix="oak-bench-placement-")
    children = []
    result = {"clusters": a.clusters, "nodes": a.nodes, "instances": a.instances, "services": a.services,
              "sim_nice": a.sim_nice}

    def start(argv, name):
        c = Child(argv, os.path.join(tmp, name + ".log"), name)
        children.append(c)
        return c

    try:
        log(f"machine: {os.cpu_count()} cores, load {open('/proc/loadavg').read().split()[0]}")
        # The host's speed drifts (shared VMs): one scheduler decision at 10,000 candidates, pure CPU
        # work of the same build, printed beside the figures makes runs comparable.
        sched = os.path.join(build, "bench/scheduler/oak_scheduler_bench")
        if os.access(sched, os.X_OK):
            out = subprocess.run([sched, "--benchmark_filter=BM_Schedule_Spread/10000$", "--benchmark_format=json",
                                  "--benchmark_min_time=0.5"], capture_output=True, text=True, timeout=120)
            try:
                us = json.loads(out.stdout)["benchmarks"][0]["cpu_time"] / 1000.0
                result["calibration_spread_10000_us"] = us
                log(f"calibration: one spread decision at 10,000 candidates takes {us:.1f} us (49.4 at 2026-12-02 14:30)")
            except (ValueError, KeyError, IndexError):
                log("calibration: the scheduler benchmark gave no figure")
        rate_tool = os.path.join(build, "bench/cluster/oak_bench_broker_rate")
        for qos in () if a.no_broker_rate else (1, 0):
            out = subprocess.run([rate_tool, "--messages", "50000" if QUICK else "200000", "--qos", str(qos),
                                  "--dir", os.path.join(tmp, f"broker-rate-{qos}")],
                                 capture_output=True, text=True, timeout=300)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            result[f"broker_qos{qos}_msgs_per_s"] = r["round_trip_msgs_per_s"]
            log(f"broker round trip, one publisher to one subscriber, QoS {qos}: {r['round_trip_msgs_per_s']:,.0f} msg/s")

        root = start([oak, "root", "--data-dir", os.path.join(tmp, "root"), "--listen", "127.0.0.1:0",
                      "--ready-file", os.path.join(tmp, "root.ready"), "--admin-password", ADMIN_PW,
                      "--cluster-token", CLUSTER_TOKEN, "--log-level", a.root_log_level, "--heartbeat-interval", "2"], "root")
        assert wait_for(lambda: os.path.exists(os.path.join(tmp, "root.ready")), 15), root.output()[-3000:]
        root_url = read_ready(os.path.join(tmp, "root.ready"))

        token = get_json(root_url + "/api/auth/login", body={"username": "Admin", "password": ADMIN_PW})["token"]
        clusters, sims = [], []
        per_cluster = a.nodes // a.clusters
        for i in range(a.clusters):
            ready = os.path.join(tmp, f"c{i}.ready")
            clusters.append(start([oak, "cluster", "--data-dir", os.path.join(tmp, f"c{i}"), "--root", root_url,
                                   "--cluster-token", CLUSTER_TOKEN, "--name", f"c{i}",
                                   "--location", f"{48 + i * 0.1},{11 + i * 0.1},50",
                                   "--listen", "127.0.0.1:0", "--mqtt-listen", f"127.0.0.1:{free_port()}",
                                   "--node-token", NODE_TOKEN, "--ready-file", ready, "--log-level", "warn"],
                                  f"cluster{i}"))
            assert wait_for(lambda: os.path.exists(ready), 15), clusters[-1].output()[-3000:]
        for i in range(a.clusters):
            url = read_ready(os.path.join(tmp, f"c{i}.ready"))
            sims.append(start([oak, "sim", "--cluster", url, "--node-token", NODE_TOKEN, "--nodes", str(per_cluster),
                               "--name-prefix", f"c{i}-n", "--log-level", "warn"], f"sim{i}"))
            if a.sim_nice:
                os.setpriority(os.PRIO_PROCESS, sims[-1].pid, a.sim_nice)

        def active_nodes():
            try:
                return sum(c.get("active_nodes", 0) for c in get_json(root_url + "/api/clusters", token)
                           if c.get("active"))
            except Exception:
                return 0

        t0 = time.monotonic()
        ok = wait_for(lambda: active_nodes() >= per_cluster * a.clusters, 60 + a.nodes / 50, step=1)
        result["seconds_to_all_nodes_active"] = time.monotonic() - t0
        log(f"{active_nodes()} of {per_cluster * a.clusters} nodes active at the root after "
            f"{result['seconds_to_all_nodes_active']:.1f} s")
        if not ok:
            raise SystemExit("not all nodes became active; sim log:\n" + sims[0].output()[-3000:])

        # Idle footprints (and, with --profile, the CPU the idle system costs: node reports, heartbeats).
        groups = {"root": [root.pid], "clusters": [c.pid for c in clusters],
                  "brokers": [k for c in clusters for k in children_of(c.pid)], "sims": [s.pid for s in sims]}
        idle0, t_idle = {g: sum(cpu_seconds(p) for p in pids) for g, pids in groups.items()}, time.monotonic()
        perf = Perf(a.perf, "idle")
        time.sleep(a.idle_seconds)
        perf.stop()
        if a.profile:
            wall = time.monotonic() - t_idle
            idle = {g: (sum(cpu_seconds(p) for p in pids) - idle0[g]) / wall for g, pids in groups.items()}
            result["idle_cpu_per_s"] = idle
            log("idle CPU (cores busy): " + ", ".join(f"{g} {v:.2f}" for g, v in idle.items()))
        c0 = proc_status_kb(clusters[0].pid)
        result["cluster_idle_rss_mb"] = c0.get("VmRSS", 0) / 1024
        result["cluster_idle_nodes"] = per_cluster

        # The burst.
        log(f"burst starts, load {open('/proc/loadavg').read().split()[0]}")
        deploy_proc = subprocess.Popen([os.path.join(build, "bench/cluster/oak_bench_deploy"), "--root", root_url,
                                        "--password", ADMIN_PW, "--services", str(a.services), "--instances",
                                        str(a.instances), "--concurrency", str(a.concurrency), "--timeout", "900"]
                                       + (["--no-keep-alive"] if a.no_keep_alive else []),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        perf = Perf(a.perf, "burst")
        sampler = None
        if a.profile:
            sampler = Sampler(dict(groups, deploy_client=[deploy_proc.pid]), root_url)
            sampler.start()
        out, err = deploy_proc.communicate(timeout=1000)
        perf.stop()
        d = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err}
        if sampler:
            prof = sampler.finish()
            result["profile"] = prof
            total = sum(prof["cpu_s"].values())
            log(f"CPU seconds during the burst ({prof['wall_s']:.1f} s wall, {total:.1f} s CPU, "
                f"load {open('/proc/loadavg').read().split()[0]}): " +
                ", ".join(f"{g} {v:.1f}" for g, v in prof["cpu_s"].items()))
            for row in prof["timeline"]:
                log(f"  t={row['t']:6.1f} " + " ".join(f"{g}={v:.2f}" for g, v in row["cpu"].items()) +
                    f" queued={row.get('queued', -1):.0f} in_flight={row.get('in_flight', -1):.0f}"
                    f" scheduled={row.get('scheduled', -1):.0f} running={row.get('running', -1):.0f}")
        result["deploy"] = d
        held, held_s = cluster_intake_held([read_ready(os.path.join(tmp, f"c{i}.ready")) for i in range(a.clusters)])
        result["cluster_intake_held"] = {"batches": held, "seconds": held_s}
        log(f"clusters held {held} hand-overs for {held_s:.1f} s in all while their nodes were behind")
        log(f"deploy: {d.get('instances_acknowledged')} acknowledged in {d.get('api_seconds', 0):.1f} s "
            f"({d.get('api_rate_per_s', 0):,.0f}/s at the API); {d.get('running')} RUNNING after "
            f"{d.get('seconds_to_all_running', 0):.1f} s = {d.get('running_rate_per_s', 0):,.0f} instances/s "
            f"(goal >= 5,000); latency p50 {d.get('latency_p50_s', 0) * 1000:.0f} ms, "
            f"p99 {d.get('latency_p99_s', 0) * 1000:.0f} ms; statuses {d.get('final_statuses')}")

        if a.profile:
            # With every instance running: what the periodic node reports and heartbeats cost.
            before, t_s = {g: sum(cpu_seconds(p) for p in pids) for g, pids in groups.items()}, time.monotonic()
            perf = Perf(a.perf, "steady")
            time.sleep(a.steady_seconds)
            perf.stop()
            wall = time.monotonic() - t_s
            steady = {g: (sum(cpu_seconds(p) for p in pids) - before[g]) / wall for g, pids in groups.items()}
            result["steady_cpu_per_s"] = steady
            log(f"CPU with the instances running, nothing deployed (cores busy, load "
                f"{open('/proc/loadavg').read().split()[0]}): " + ", ".join(f"{g} {v:.2f}" for g, v in steady.items()))

        peaks = {}
        for c in children:
            if c.running():
                peaks[c.name] = proc_status_kb(c.pid).get("VmHWM", 0) / 1024
                for kid in children_of(c.pid):
                    peaks[c.name + "/mosquitto"] = proc_status_kb(kid).get("VmHWM", 0) / 1024
        result["peak_rss_mb"] = peaks
        log("peak RSS (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(peaks.items())))

        # Last: a node stopped with SIGTERM stays a placement candidate until the cluster's node
        # timeout, so it must not be there while the burst is placed.
        single_ready = os.path.join(tmp, "single")
        node = start([oak, "node", "--data-dir", single_ready, "--cluster", read_ready(os.path.join(tmp, "c0.ready")),
                      "--node-token", NODE_TOKEN, "--name", "single", "--runtime", "simulated",
                      "--log-level", "warn"], "node")
        sleeper = start(["sleep", "600"], "sleep")
        time.sleep(8)
        result["node_idle_rss_mb"] = proc_status_kb(node.pid).get("VmRSS", 0) / 1024
        result["sleep_rss_mb"] = proc_status_kb(sleeper.pid).get("VmRSS", 0) / 1024
        log(f"idle RSS: oak cluster with {per_cluster} nodes {result['cluster_idle_rss_mb']:.1f} MB "
            f"(goal <= 20 MB, measured before the burst); one oak node {result['node_idle_rss_mb']:.1f} MB "
            f"(goal <= 10 MB); sleep {result['sleep_rss_mb']:.1f} MB")
        node.stop()
        sleeper.stop()

    finally:
        for c in reversed(children):
            c.stop()
        if a.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
