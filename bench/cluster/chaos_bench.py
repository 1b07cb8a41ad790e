#!/usr/bin/env python3
"""Failure handling under chaos: node processes and a cluster killed with SIGKILL while instances run.

    python3 bench/cluster/chaos_bench.py BUILD_DIR [--clusters 3] [--nodes 300] [--instances 3000]
        [--duration 180] [--kill-interval 6] [--restart-after 3,10] [--cluster-down 20]
        [--poll 0.5] [--seed 1] [--json OUT.json]

Starts on 127.0.0.1, each with a private data directory: one `oak root`, CLUSTERS `oak cluster`
processes, each with its own mosquitto, and NODES simulated nodes. Deploys INSTANCES instances of
10 services through POST /api/service/<id>/instance (the first 20 one at a time, timed from the call
to RUNNING at the root: the baseline, what re-placing one instance costs at least), waits until all
are RUNNING, then for DURATION seconds:

  - every KILL_INTERVAL s (jittered) sends SIGKILL to one random live node process and starts it
    again, with the same arguments and data directory, RESTART_AFTER s later (uniform in the range);
  - once, at 40 % of the run, sends SIGKILL to one whole `oak cluster` process (its broker and nodes
    keep running) and starts it again CLUSTER_DOWN s later;
  - polls the root every POLL s (GET /api/services/<application id>, all instances in one answer,
    and GET /api/clusters), and every 5 s each cluster's GET /api/nodes.

Then it restarts whatever is still down and waits (at most --settle s) until the root shows every
instance RUNNING and the nodes' own reports agree, and reports:

  - instances lost: asked for but not RUNNING at the root at the end (must be 0); and "phantoms":
    RUNNING at the root but reported by no active node (the root's view is wrong; must be 0);
  - duplicates: the same instance reported live by two active nodes (the nodes' instance lists in
    the clusters' GET /api/nodes), at the end (must be 0) and the most seen during the run;
  - per node-process kill: time from the SIGKILL to all instances that were on its nodes RUNNING
    again at the root on a live node (p50, max), and the cluster's detection time (its
    `msg="node inactive"` log line) with the reason (last will or silence);
  - instance-seconds of unavailability, summed over the samples: (a) as the root shows it (not
    RUNNING), (b) truly: also RUNNING at the root but on a node killed after that status was set
    (the root does not know yet);
  - for the cluster kill: when the root marked the cluster inactive and active again, and what the
    root showed of its instances meanwhile.

Why these processes. `oak node --runtime simulated` costs about 10 MB per process, too much for
300 nodes on a small machine; `oak sim --nodes N` holds N nodes in one process, but killing it kills
all N. So each cluster gets a mix: a tenth of its nodes as single `oak node --runtime simulated`
processes (a kill is one node's crash) and the rest as `oak sim` processes of --sim-size nodes each
(a kill is a rack or host failure taking several nodes at once). Both keep their identity across a
restart: the cluster knows a node by its name. A simulated node comes back empty (its instances
died with the process), as a real host's containers would after a reboot.

Why an operator-run broker. `oak cluster` supervises its own mosquitto and takes it down with it
(PR_SET_PDEATHSIG), so a killed cluster would also disconnect all its nodes. Here each cluster gets
a mosquitto started by this script (`--mqtt-url`, anonymous on loopback), so that killing the
cluster process leaves its broker and nodes running, as a crashed cluster manager on a separate
broker host would. Everything else is Oak's default (node timeout 6 s, report interval 2 s, root
cluster timeout 15 s), unless given.

BENCH_QUICK=1: 3 clusters, 30 nodes, 300 instances, 40 s, the cluster down for 20 s.
BENCH_OUT_DIR=DIR: also writes DIR/chaos.json. Every process is stopped by its PID; the temporary
directory is removed (kept with --keep, for the logs).
"""

import argparse
import calendar
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "root"))
from root_bench import (ADMIN_PW, CLUSTER_TOKEN, Api, Child, Restartable, free_port, wait_for,  # noqa: E402
                        wait_for_quiet, write_json)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
NODE_TOKEN = "bench-node-token"
SERVICES = 10
BASELINE_DEPLOYS = 20
# Spread placement ranks nodes by absolute headroom: with tiny requests the biggest synthetic node
# (up to 32 GB) would take nearly everything. 256 MB spreads 3,000 instances over most nodes.
MEMORY_MB = 256
LIVE = ("NODE_SCHEDULED", "CREATING", "CREATED", "RUNNING")


def log(msg):
    print(f"[chaos-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


TS = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")


def log_time(line):
    m = TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1000.0


# ---------------------------------------------------------------------------------------------
# processes


class Proc(Restartable):
    """One restartable process of the run: a cluster, a node or a sim."""

    def __init__(self, tmp, name, argv, kind, cluster=None, node_names=()):
        super().__init__(tmp, name, argv)
        self.name, self.kind, self.cluster = name, kind, cluster
        self.node_names = list(node_names)
        self.dead_since = None

    def start(self):
        self.dead_since = None
        return super().start()

    def kill9(self):
        self.dead_since = time.time()  # before the signal: the broker may publish the will at once
        super().kill9()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_broker(tmp, name, port):
    import pwd
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write(f"per_listener_settings false\nuser {pwd.getpwuid(os.getuid()).pw_name}\n"
                f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_inflight_messages 10000\nmax_queued_messages 100000\nset_tcp_nodelay true\n"
                "log_dest stdout\nlog_type error\nlog_type warning\n")
    p = Proc(tmp, name, ["mosquitto", "-c", conf], "broker").start()
    if not wait_for(lambda: port_open(port) or not p.alive(), 10) or not p.alive():
        raise RuntimeError(f"mosquitto {name} did not come up: {p.output()[-1000:]}")
    return p


# ---------------------------------------------------------------------------------------------
# the API


def service_doc(count):
    ms = [{"microserviceID": "", "microservice_name": f"svc{m}", "microservice_namespace": "chaos",
           "virtualization": "container", "cmd": ["sh", "-c", "sleep infinity"], "memory": MEMORY_MB, "vcpus": 0,
           "vgpus": 0, "vtpus": 0, "bandwidth_in": 0, "bandwidth_out": 0, "storage": 0,
           "code": "docker.io/library/busybox:latest", "state": "", "added_files": []} for m in range(count)]
    app = {"applicationID": "", "application_name": "chaos", "application_namespace": "bench",
           "application_desc": "chaos benchmark", "microservices": ms}
    return {"sla_version": "v2.0", "customerID": "Admin", "applications": [app]}


def snapshot(api, app_id):
    """{(service id, n): (status, worker_id, cluster_id, last_modified wall s)} from one GET."""
    s, j, raw = api.call("GET", f"/api/services/{app_id}")
    if s != 200 or not isinstance(j, list):
        raise RuntimeError(f"GET /api/services/{app_id} answered {s}: {raw[:200]!r}")
    out = {}
    for svc in j:
        sid = svc["_id"]["$oid"]
        for i in svc.get("instance_list", []):
            out[(sid, i["instance_number"])] = (i.get("status"), i.get("worker_id") or "", i.get("cluster_id") or "",
                                                float(i.get("last_modified_timestamp") or 0))
    return out


def cluster_nodes(url):
    """A cluster's GET /api/nodes (node token), or None when it does not answer."""
    host, _, port = url.replace("http://", "").rpartition(":")
    try:
        api = Api(host, int(port))
        api.conn.timeout = 5
        api.token = NODE_TOKEN
        s, j, _ = api.call("GET", "/api/nodes")
        api.close()
        return j if s == 200 and isinstance(j, list) else None
    except (OSError, ValueError):
        return None


def truth(clusters, keys):
    """What the nodes themselves report, over all clusters: per root key, the active nodes running it.
    Also the clusters that did not answer."""
    where = {k: [] for k in keys}
    silent = []
    for c in clusters:
        nodes = cluster_nodes(c.url)
        if nodes is None:
            silent.append(c.name)
            continue
        job_ids = {}
        for n in nodes:
            for p in n.get("instances", []):
                job_ids[p["job_name"]] = p["job_id"]
        for n in nodes:
            if not n.get("active"):
                continue
            for r in n.get("reported_instances", []):
                if r.get("status") not in LIVE:
                    continue
                k = (job_ids.get(r["job_name"], r["job_name"]), r["instance_number"])
                where.setdefault(k, []).append(n["node_name"])
    return where, silent


# ---------------------------------------------------------------------------------------------
# the observer


class Observer(threading.Thread):
    """Polls the root every `poll` s; keeps only running sums and the latest snapshot.

    An instance counts as RUNNING on a killed node ("stale") when the root shows it RUNNING on node W
    and W was killed after this observer first saw it RUNNING there. The observer's own first sight
    is used, not the root's last_modified_timestamp, which also moves when only the reported usage
    (cpu_percent, memory_percent, ...) changes. Every 5 s, the nodes' own instance lists (the clusters'
    GET /api/nodes) are also compared with the root: RUNNING at the root but reported by no active
    node in two checks in a row is a phantom; live on two active nodes is a duplicate."""

    def __init__(self, root, app_id, keys, poll, last_kill, clusters, lock):
        super().__init__(daemon=True)
        self.api = Api(*root)
        self.api.login()
        self.app_id, self.keys, self.poll, self.last_kill, self.clusters = app_id, keys, poll, last_kill, clusters
        self.lock = lock
        self.latest = {}
        self.since = {}  # key -> (status, worker, wall time first seen so)
        self.events = []  # kill events with their instance sets, resolved here
        self.unavail_root_s = 0.0  # instance-seconds not RUNNING at the root
        self.unavail_true_s = 0.0  # ... or RUNNING at the root on a node killed since
        self.samples = 0
        self.poll_ms = []
        self.max_not_running = 0
        self.max_stale = 0
        self.cluster_active = {}  # cluster id -> list of (wall, active) changes
        self.max_dups_seen = 0
        self.dup_checks = 0
        self.missing = set()  # RUNNING at the root, on no active node, at the last check
        self.max_phantoms_seen = 0
        self.phantom_s = 0.0
        self.last_check = None
        self.stop_flag = False
        self.counting = False
        self.prev_t = None
        self.errors = 0

    def stale(self, k, v):
        if v is None or v[0] != "RUNNING":
            return False
        seen = self.since.get(k)
        return seen is not None and self.last_kill.get(v[1], 0) > seen[2]

    def recovered(self, k, v):
        return v is not None and v[0] == "RUNNING" and not self.stale(k, v)

    def check_truth(self):
        where, silent = truth(self.clusters, self.keys)
        # A cluster that does not answer (killed) says nothing about its nodes: not counted.
        unknown = {c.cid for c in self.clusters if c.name in silent}
        now = time.monotonic()
        with self.lock:
            snap = self.latest
            missing = {k for k in self.keys
                       if snap.get(k, ("",))[0] == "RUNNING" and not where.get(k) and snap[k][2] not in unknown}
            phantoms = missing & self.missing
            self.missing = missing
            self.dup_checks += 1
            self.max_dups_seen = max(self.max_dups_seen, sum(1 for v in where.values() if len(v) > 1))
            self.max_phantoms_seen = max(self.max_phantoms_seen, len(phantoms))
            if self.last_check is not None:
                self.phantom_s += len(phantoms) * (now - self.last_check)
            self.last_check = now

    def run(self):
        next_check = time.monotonic() + 5
        while not self.stop_flag:
            t0 = time.monotonic()
            wall0 = time.time()
            try:
                snap = snapshot(self.api, self.app_id)
                _, clusters, _ = self.api.call("GET", "/api/clusters")
            except Exception as e:  # the root is never killed: count, and keep polling
                self.errors += 1
                log(f"poll failed: {e}")
                time.sleep(self.poll)
                continue
            t1 = time.monotonic()
            wall = time.time()
            self.poll_ms.append((t1 - t0) * 1000)
            with self.lock:
                self.latest = snap
                for k, v in snap.items():
                    seen = self.since.get(k)
                    if seen is None or seen[:2] != v[:2]:
                        self.since[k] = (v[0], v[1], wall0)
                for c in clusters or []:
                    hist = self.cluster_active.setdefault(c.get("cluster_id"), [])
                    if not hist or hist[-1][1] != bool(c.get("active")):
                        hist.append((wall, bool(c.get("active"))))
                not_running = sum(1 for k in self.keys if snap.get(k, ("",))[0] != "RUNNING")
                stale = sum(1 for k in self.keys if self.stale(k, snap.get(k)))
                if self.counting and self.prev_t is not None:
                    dt = t1 - self.prev_t
                    self.unavail_root_s += not_running * dt
                    self.unavail_true_s += (not_running + stale) * dt
                    self.max_not_running = max(self.max_not_running, not_running)
                    self.max_stale = max(self.max_stale, stale)
                    self.samples += 1
                self.prev_t = t1
                for e in self.events:
                    if e["kind"] != "cluster" and e.get("recovered_s") is None and e["instances"] and \
                            all(self.recovered(k, snap.get(k)) for k in e["instances"]):
                        e["recovered_s"] = wall - e["wall"]
                    if e["kind"] == "cluster":
                        c = e["cluster_id"]
                        mine = [k for k, v in snap.items() if v[2] == c]
                        e["max_not_running_at_root"] = max(e.get("max_not_running_at_root", 0),
                                                           sum(1 for k in mine if snap[k][0] != "RUNNING"))
            if self.counting and time.monotonic() >= next_check:
                next_check = time.monotonic() + 5
                self.check_truth()
            time.sleep(max(0.0, self.poll - (time.monotonic() - t0)))


# ---------------------------------------------------------------------------------------------


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # cleanup in `finally`, as for Ctrl-C
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--clusters", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=30 if QUICK else 300)
    ap.add_argument("--instances", type=int, default=300 if QUICK else 3000)
    ap.add_argument("--duration", type=float, default=40 if QUICK else 180)
    ap.add_argument("--sim-size", type=int, default=4 if QUICK else 10, help="nodes per `oak sim` process")
    ap.add_argument("--single-share", type=float, default=0.1 if not QUICK else 0.2,
                    help="share of each cluster's nodes run as single `oak node` processes")
    ap.add_argument("--kill-interval", type=float, default=5 if QUICK else 6)
    ap.add_argument("--restart-after", default="3,10", help="MIN,MAX seconds before a killed node restarts")
    ap.add_argument("--cluster-down", type=float, default=20)
    ap.add_argument("--no-cluster-kill", action="store_true")
    ap.add_argument("--node-timeout", type=int, default=6)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--settle", type=float, default=30 if QUICK else 60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.json is None and os.environ.get("BENCH_OUT_DIR"):
        a.json = os.path.join(os.environ["BENCH_OUT_DIR"], "chaos.json")
    if not shutil.which("mosquitto") and not os.path.exists("/usr/sbin/mosquitto"):
        log("skipped: needs mosquitto")
        return 0
    rmin, rmax = (float(x) for x in a.restart_after.split(","))
    rng = random.Random(a.seed)
    oak = os.path.join(os.path.abspath(a.build), "oak")
    tmp = tempfile.mkdtemp(prefix="oak-bench-chaos-")
    procs = []
    result = {"clusters": a.clusters, "nodes": a.nodes, "instances": a.instances, "duration_s": a.duration,
              "sim_size": a.sim_size, "kill_interval_s": a.kill_interval, "restart_after_s": [rmin, rmax],
              "cluster_down_s": None if a.no_cluster_kill else a.cluster_down, "node_timeout_s": a.node_timeout,
              "poll_s": a.poll, "seed": a.seed, "cores": os.cpu_count()}
    observer = None

    def keep(p):
        procs.append(p)
        return p

    try:
        la = wait_for_quiet()
        result["load_at_start"] = [round(x, 2) for x in la]
        log(f"machine: {os.cpu_count()} cores, load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")

        ready = os.path.join(tmp, "root.ready")
        root = keep(Proc(tmp, "root", [oak, "root", "--data-dir", os.path.join(tmp, "root"), "--listen",
                                       "127.0.0.1:0", "--ready-file", ready, "--admin-password", ADMIN_PW,
                                       "--cluster-token", CLUSTER_TOKEN, "--log-level", "warn"], "root").start())
        assert wait_for(lambda: os.path.exists(ready), 15), root.output()[-3000:]
        rhost, _, rport = open(ready).read().strip().rpartition(":")
        root_addr = (rhost, int(rport))
        root_url = f"http://{rhost}:{rport}"
        api = Api(*root_addr)
        api.login()

        # Clusters, each with a broker of its own and a fixed API port (nodes find it again after a restart).
        clusters = []
        for i in range(a.clusters):
            mport = free_port()
            keep(start_broker(tmp, f"mosquitto{i}", mport))
            cport = free_port()
            cready = os.path.join(tmp, f"c{i}.ready")
            c = keep(Proc(tmp, f"cluster{i}", [
                oak, "cluster", "--data-dir", os.path.join(tmp, f"c{i}"), "--root", root_url,
                "--cluster-token", CLUSTER_TOKEN, "--name", f"c{i}", "--location", f"{48 + i * 0.1},{11 + i * 0.1},50",
                "--listen", f"127.0.0.1:{cport}", "--mqtt-url", f"mqtt://127.0.0.1:{mport}",
                "--node-token", NODE_TOKEN, "--node-timeout", str(a.node_timeout), "--ready-file", cready,
                "--log-level", "info"], "cluster"))
            c.ready, c.url, c.index = cready, f"http://127.0.0.1:{cport}", i
            c.start()
            clusters.append(c)
        for c in clusters:
            assert wait_for(lambda: os.path.exists(c.ready), 15), c.output()[-3000:]

        # Nodes: per cluster, a share as single processes, the rest in `oak sim` processes.
        per_cluster = a.nodes // a.clusters
        nodes = []
        for c in clusters:
            singles = max(1, int(round(per_cluster * a.single_share)))
            for j in range(singles):
                name = f"c{c.index}-s{j}"
                nodes.append(keep(Proc(tmp, name, [
                    oak, "node", "--data-dir", os.path.join(tmp, name), "--cluster", c.url, "--node-token", NODE_TOKEN,
                    "--name", name, "--runtime", "simulated", "--log-level", "warn"], "node", c, [name]).start()))
            rest, j = per_cluster - singles, 0
            while rest > 0:
                k = min(a.sim_size, rest)
                prefix = f"c{c.index}-p{j}"
                nodes.append(keep(Proc(tmp, prefix, [
                    oak, "sim", "--cluster", c.url, "--node-token", NODE_TOKEN, "--nodes", str(k),
                    "--name-prefix", prefix, "--log-level", "warn"], "sim", c,
                    [f"{prefix}-{x}" for x in range(k)]).start()))
                rest -= k
                j += 1
        total_nodes = per_cluster * a.clusters
        result["node_processes"] = {"single": sum(1 for n in nodes if n.kind == "node"),
                                    "sim": sum(1 for n in nodes if n.kind == "sim")}

        def active_nodes():
            s, j, _ = api.call("GET", "/api/clusters")
            return sum(c.get("active_nodes", 0) for c in j or [] if c.get("active")) if s == 200 else 0
        t0 = time.monotonic()
        if not wait_for(lambda: active_nodes() >= total_nodes, 60 + total_nodes / 20, step=0.5):
            raise RuntimeError(f"only {active_nodes()} of {total_nodes} nodes active")
        log(f"{total_nodes} nodes in {len(nodes)} processes ({result['node_processes']}) active after "
            f"{time.monotonic() - t0:.1f} s")

        # Node ids by name (stable: a restarted node registers under its name and gets its id back).
        node_id = {}
        cluster_id = {}
        for c in clusters:
            for n in cluster_nodes(c.url) or []:
                node_id[n["node_name"]] = n["id"]
        s, j, _ = api.call("GET", "/api/clusters")
        for c in j:
            cluster_id[c.get("cluster_name")] = c.get("cluster_id")
        for c in clusters:
            c.cid = cluster_id.get(f"c{c.index}")

        # Services and instances.
        s, j, raw = api.call("POST", "/api/application/", service_doc(SERVICES))
        if s != 200:
            raise RuntimeError(f"POST /api/application/ answered {s}: {raw[:300]!r}")
        app_id = next(x["_id"]["$oid"] for x in j if x.get("application_name") == "chaos")
        s, svcs, _ = api.call("GET", f"/api/services/{app_id}")
        sids = [x["_id"]["$oid"] for x in svcs]
        keys = []
        lock = threading.Lock()

        def post(api_, sid):
            st, jj, rr = api_.call("POST", f"/api/service/{sid}/instance", {})
            if st != 200:
                raise RuntimeError(f"POST /api/service/{sid}/instance answered {st}: {rr[:300]!r}")
            return (sid, jj["instance_number"])

        base_ms = []
        for b in range(min(BASELINE_DEPLOYS, a.instances)):
            t = time.monotonic()
            k = post(api, sids[b % len(sids)])
            keys.append(k)
            if not wait_for(lambda: snapshot(api, app_id).get(k, ("",))[0] == "RUNNING", 30, step=0.01):
                raise RuntimeError(f"baseline instance {k} not RUNNING")
            base_ms.append((time.monotonic() - t) * 1000)
        result["baseline_deploy_ms"] = {"n": len(base_ms), "p50": pct(base_ms, 50), "max": max(base_ms)}
        log(f"baseline: one deploy, API call to RUNNING at the root (poll 10 ms), p50 {pct(base_ms, 50):.0f} ms, "
            f"max {max(base_ms):.0f} ms ({len(base_ms)} deploys)")

        todo = [sids[x % len(sids)] for x in range(len(keys), a.instances)]
        errs = []

        def worker(part):
            w = Api(*root_addr)
            w.login()
            got = []
            try:
                for sid in part:
                    got.append(post(w, sid))
            except Exception as e:
                errs.append(e)
            with lock:
                keys.extend(got)
        ts = [threading.Thread(target=worker, args=(todo[x::8],)) for x in range(8)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            raise RuntimeError(f"deploys failed: {errs[0]}")

        def running_count():
            snap = snapshot(api, app_id)
            return sum(1 for k in keys if snap.get(k, ("",))[0] == "RUNNING")
        if not wait_for(lambda: running_count() == len(keys), 120, step=1):
            raise RuntimeError(f"only {running_count()} of {len(keys)} instances RUNNING")
        result["deploy_all_s"] = time.monotonic() - t0
        log(f"{len(keys)} instances RUNNING at the root, {result['deploy_all_s']:.1f} s after the bulk deploy began")

        # Chaos.
        last_kill = {}  # node id -> wall time of its last SIGKILL
        observer = Observer(root_addr, app_id, list(keys), a.poll, last_kill, clusters, lock)
        observer.start()
        wait_for(lambda: observer.latest, 10)
        schedule = []  # (t, action, target)
        t = a.kill_interval * rng.uniform(0.5, 1.0)
        while t < a.duration:
            schedule.append((t, "kill-node", None))
            t += a.kill_interval * rng.uniform(0.5, 1.5)
        victim = None
        if not a.no_cluster_kill:
            victim = clusters[rng.randrange(len(clusters))]
            schedule.append((a.duration * 0.4, "kill-cluster", victim))
            schedule.append((a.duration * 0.4 + a.cluster_down, "start", victim))
        result["load_before_chaos"] = loadavg()
        log(f"chaos for {a.duration:.0f} s: {sum(1 for s_ in schedule if s_[1] == 'kill-node')} node-process kills"
            + (f", cluster {victim.name} down at {a.duration * 0.4:.0f} s for {a.cluster_down:.0f} s" if victim else ""))
        start = time.monotonic()
        with lock:
            observer.counting = True
        while schedule:
            schedule.sort(key=lambda x: x[0])
            t, action, target = schedule.pop(0)
            time.sleep(max(0.0, start + t - time.monotonic()))
            if action == "kill-node":
                live = [n for n in nodes if n.alive()]
                target = live[rng.randrange(len(live))]
                ids = {node_id.get(n) for n in target.node_names} - {None}
                with lock:
                    target.kill9()
                    for i in ids:
                        last_kill[i] = target.dead_since
                    inst = [k for k, v in observer.latest.items() if v[1] in ids]
                    observer.events.append({"kind": target.kind, "target": target.name, "wall": target.dead_since,
                                            "t": round(t, 1), "nodes": len(ids), "node_ids": sorted(ids),
                                            "cluster_down": victim is not None and not victim.alive(),
                                            "instances": inst, "recovered_s": None})
                log(f"t={t:5.1f} s: SIGKILL {target.kind} {target.name} ({len(ids)} nodes, {len(inst)} instances)")
                back = t + rng.uniform(rmin, rmax)
                if back < a.duration:
                    schedule.append((back, "start", target))
            elif action == "kill-cluster":
                with lock:
                    target.kill9()
                    inst = [k for k, v in observer.latest.items() if v[2] == target.cid]
                    observer.events.append({"kind": "cluster", "target": target.name, "cluster_id": target.cid,
                                            "wall": target.dead_since, "t": round(t, 1), "instances": inst,
                                            "recovered_s": None})
                log(f"t={t:5.1f} s: SIGKILL oak cluster {target.name} ({len(inst)} instances; broker and nodes stay)")
            elif action == "start":
                if not target.alive():
                    if target.kind == "cluster" and os.path.exists(target.ready):
                        os.remove(target.ready)
                    target.start()
                    if target.kind == "cluster":
                        with lock:
                            for e in observer.events:
                                if e["kind"] == "cluster" and e["target"] == target.name:
                                    e["restart_wall"] = time.time()
                    log(f"t={time.monotonic() - start:5.1f} s: started {target.kind} {target.name} again")
        for n in nodes + clusters:
            if not n.alive():
                n.start()
                log(f"end of chaos: started {n.kind} {n.name} again")
        end_chaos = time.monotonic()
        result["load_after_chaos"] = loadavg()

        # Settle: every instance RUNNING at the root, not on a killed node, and the nodes agree.
        def final_state():
            with lock:
                snap = dict(observer.latest)
                stale = [k for k in keys if observer.stale(k, snap.get(k))]
            where, silent = truth(clusters, keys)
            not_running = [k for k in keys if snap.get(k, ("",))[0] != "RUNNING"]
            phantom = [k for k in keys if snap.get(k, ("",))[0] == "RUNNING" and not where.get(k)]
            dups = {k: v for k, v in where.items() if len(v) > 1}
            unknown = [k for k in where if k not in set(keys) and where[k]]
            return {"not_running": not_running, "stale": stale, "phantom": phantom, "dups": dups,
                    "unknown_running": unknown, "silent_clusters": silent, "snap": snap}
        deadline = time.monotonic() + a.settle
        good_in_a_row = 0
        while True:
            time.sleep(2.5)  # a bit more than one report interval: the nodes' lists are fresh
            fs = final_state()
            ok = not (fs["not_running"] or fs["stale"] or fs["phantom"] or fs["dups"] or fs["silent_clusters"])
            good_in_a_row = good_in_a_row + 1 if ok else 0
            if good_in_a_row >= 2 or time.monotonic() > deadline:
                break
        result["settle_s"] = time.monotonic() - end_chaos
        with lock:
            observer.counting = False
        observer.stop_flag = True
        observer.join(10)

        # Results.
        snap = fs["snap"]
        result["lost"] = len(fs["not_running"])
        result["lost_examples"] = [f"{k[0]}/{k[1]}: {snap.get(k)}" for k in fs["not_running"][:10]]
        result["phantoms"] = len(fs["phantom"])
        result["phantom_examples"] = [f"{k[0]}/{k[1]}: {snap.get(k)}" for k in fs["phantom"][:10]]
        name_of = {v: k for k, v in node_id.items()}
        by_node = {}
        for k in fs["phantom"]:
            w = name_of.get(snap[k][1], snap[k][1])
            by_node[w] = by_node.get(w, 0) + 1
        result["phantoms_by_node"] = by_node
        result["stale_at_end"] = len(fs["stale"])
        result["duplicates"] = len(fs["dups"])
        result["duplicate_examples"] = [f"{k[0]}/{k[1]}: {v}" for k, v in list(fs["dups"].items())[:10]]
        result["unknown_running"] = len(fs["unknown_running"])
        result["silent_clusters_at_end"] = fs["silent_clusters"]
        result["max_duplicates_seen"] = observer.max_dups_seen
        result["max_phantoms_seen"] = observer.max_phantoms_seen
        result["phantom_instance_s"] = round(observer.phantom_s, 1)
        result["duplicate_checks"] = observer.dup_checks
        result["poll_errors"] = observer.errors
        result["samples"] = observer.samples
        result["poll_ms_p50"] = pct(observer.poll_ms, 50)
        result["poll_ms_max"] = max(observer.poll_ms) if observer.poll_ms else None
        span = observer.samples * a.poll
        result["unavailable_instance_s_root"] = round(observer.unavail_root_s, 1)
        result["unavailable_instance_s_true"] = round(observer.unavail_true_s, 1)
        result["observed_instance_s"] = round(len(keys) * (time.monotonic() - start), 1)
        result["max_not_running_at_root"] = observer.max_not_running
        result["max_running_at_root_on_killed_node"] = observer.max_stale

        # Detection, from the clusters' logs: the first `node inactive` line after each kill.
        inactive = []  # (wall, node id, reason)
        for c in clusters:
            for line in c.output().splitlines():
                if 'msg="node inactive"' in line:
                    m = re.search(r"node=(\S+) .*reason=\"([^\"]*)\"", line)
                    if m:
                        inactive.append((log_time(line), m.group(1), m.group(2)))
        node_events = [e for e in observer.events if e["kind"] in ("node", "sim")]
        for i, e in enumerate(node_events):
            # Per node, its first `node inactive` line after this kill and before its next one.
            nxt = min([x["wall"] for x in node_events[i + 1:] if set(x["node_ids"]) & set(e["node_ids"])] + [1e18])
            first = {}
            for w, nid, r in sorted(x for x in inactive if x[0]):
                if nid in e["node_ids"] and e["wall"] - 0.01 <= w < nxt and nid not in first:
                    first[nid] = (w - e["wall"], r)
            e["detected_s"] = max(d for d, _ in first.values()) if len(first) == len(e["node_ids"]) else None
            e["detected_nodes"] = len(first)
            e["detected_by"] = sorted({"will" if "will" in r else "silence" for _, r in first.values()})
            e["instances"] = len(e["instances"])
        for e in observer.events:
            if e["kind"] == "cluster":
                hist = observer.cluster_active.get(e["cluster_id"], [])
                e["root_inactive_after_s"] = next((w - e["wall"] for w, act in hist if not act and w > e["wall"]), None)
                rw = e.get("restart_wall")
                e["root_active_after_restart_s"] = next((w - rw for w, act in hist if act and rw and w > rw), None)
                e["instances"] = len(e["instances"])
        rec = [e["recovered_s"] for e in node_events if e["instances"] and e["recovered_s"] is not None]
        unrec = [e for e in node_events if e["instances"] and e["recovered_s"] is None]
        det = [e["detected_s"] for e in node_events if e.get("detected_s") is not None]
        result["node_kills"] = len(node_events)
        result["node_kills_with_instances"] = len(rec) + len(unrec)
        result["recovery_s"] = {"p50": pct(rec, 50), "max": max(rec) if rec else None, "n": len(rec),
                                "never": len(unrec)}
        for kind in ("node", "sim"):
            r = [e["recovered_s"] for e in node_events if e["kind"] == kind and e["recovered_s"] is not None]
            result[f"recovery_s_{kind}"] = {"p50": pct(r, 50), "max": max(r) if r else None, "n": len(r)}
        rdown = [e["recovered_s"] for e in node_events if e["cluster_down"] and e["recovered_s"] is not None]
        result["recovery_s_while_cluster_down"] = {"p50": pct(rdown, 50), "max": max(rdown) if rdown else None,
                                                   "n": sum(1 for e in node_events if e["cluster_down"])}
        result["detection_s"] = {"p50": pct(det, 50), "max": max(det) if det else None, "n": len(det)}
        result["events"] = observer.events
    finally:
        if observer is not None:
            observer.stop_flag = True
        for p in reversed(procs):
            p.stop()
        if a.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(result)
    write_json(a.json, result)
    bad = result["lost"] or result["phantoms"] or result["duplicates"]
    return 1 if bad else 0


def report(r):
    def s(x, unit="s"):
        return "-" if x is None else f"{x:.1f} {unit}"

    rec, det = r["recovery_s"], r["detection_s"]
    total = r["observed_instance_s"] or 1
    rows = [
        ("instances lost (not RUNNING at the root at the end)", f"{r['lost']}", "must be 0"),
        ("phantoms (RUNNING at the root, on no active node)", f"{r['phantoms']}", "must be 0"),
        ("duplicates at the end (live on two active nodes)", f"{r['duplicates']}", "must be 0"),
        ("duplicates, most seen during the run", f"{r['max_duplicates_seen']} ({r['duplicate_checks']} checks)", ""),
        ("phantoms, most seen during the run", f"{r['max_phantoms_seen']}", "nodes' lists every 5 s"),
        ("phantom instance-seconds during the run", f"{r['phantom_instance_s']:.0f}", "from the nodes' own lists"),
        ("node-process kills (with instances)", f"{r['node_kills']} ({r['node_kills_with_instances']})", ""),
        ("kill to all its instances RUNNING again, p50 / max",
         f"{s(rec['p50'])} / {s(rec['max'])}", f"{rec['never']} never"),
        ("  single `oak node` kills, p50 / max",
         f"{s(r['recovery_s_node']['p50'])} / {s(r['recovery_s_node']['max'])}", f"n={r['recovery_s_node']['n']}"),
        ("  `oak sim` kills (several nodes), p50 / max",
         f"{s(r['recovery_s_sim']['p50'])} / {s(r['recovery_s_sim']['max'])}", f"n={r['recovery_s_sim']['n']}"),
        ("  kills while a cluster was down, p50 / max",
         f"{s(r['recovery_s_while_cluster_down']['p50'])} / {s(r['recovery_s_while_cluster_down']['max'])}",
         f"n={r['recovery_s_while_cluster_down']['n']}"),
        ("cluster detects the loss (log), p50 / max", f"{s(det['p50'])} / {s(det['max'])}",
         f"node timeout {r['node_timeout_s']} s"),
        ("baseline: one deploy to RUNNING at the root, p50",
         f"{r['baseline_deploy_ms']['p50']:.0f} ms", "same run"),
        ("unavailable instance-seconds, as the root shows",
         f"{r['unavailable_instance_s_root']:.0f} ({100 * r['unavailable_instance_s_root'] / total:.2f} %)", ""),
        ("unavailable instance-seconds, truly",
         f"{r['unavailable_instance_s_true']:.0f} ({100 * r['unavailable_instance_s_true'] / total:.2f} %)",
         "also RUNNING on a killed node"),
        ("most instances not RUNNING at the root at once", f"{r['max_not_running_at_root']}", ""),
        ("most RUNNING at the root on a killed node at once", f"{r['max_running_at_root_on_killed_node']}", ""),
    ]
    print(f"\nChaos: {r['clusters']} clusters, {r['nodes']} simulated nodes in {r['node_processes']['single']} "
          f"`oak node` + {r['node_processes']['sim']} `oak sim` processes, {r['instances']} instances, "
          f"{r['duration_s']:.0f} s, root polled every {r['poll_s']} s (GET p50 {r['poll_ms_p50']:.0f} ms); "
          f"load {r['load_at_start'][0]} at the start, {r['load_before_chaos'][0]} -> {r['load_after_chaos'][0]} "
          f"during the chaos")
    w = max(len(x[0]) for x in rows)
    for name, value, note in rows:
        print(f"  {name:<{w}}  {value:>24}  {note}")
    for e in r["events"]:
        if e["kind"] == "cluster":
            print(f"  cluster {e['target']} killed at t={e['t']} s with {e['instances']} instances: root marked it "
                  f"inactive after {s(e['root_inactive_after_s'])}, active again {s(e['root_active_after_restart_s'])} "
                  f"after its restart; at most {e.get('max_not_running_at_root', 0)} of its instances not RUNNING "
                  f"at the root meanwhile")
    if r["phantoms_by_node"]:
        print("  phantoms by the node the root names: " + ", ".join(f"{k} {v}" for k, v in sorted(r["phantoms_by_node"].items())))
    if r["lost_examples"] or r["phantom_examples"] or r["duplicate_examples"]:
        print("  examples: " + "; ".join(r["lost_examples"][:3] + r["phantom_examples"][:3] + r["duplicate_examples"][:3]))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
