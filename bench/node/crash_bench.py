#!/usr/bin/env python3
"""Node crash with real containers: time to get an instance RUNNING again on another node.

    sudo python3 bench/node/crash_bench.py BUILD_DIR [--kills 10] [--stops 4] [--json OUT.json]

Everything runs inside a network namespace this script creates (so the nodes' bridges, nft tables
and loopback are its own): a docker-registry with the busybox image of scripts/busybox-image.sh,
`oak root`, `oak cluster` (with its mosquitto, default node timeout 6 s) and two
`oak node --runtime runc` processes, a and b. One service, one instance of a long-running process
(`sh` waiting on `sleep`, exiting on SIGTERM like a well-behaved server). Both nodes first run one
warm-up instance each (the image pull is not part of the figure); then KILLS times:

  1. SIGKILL to the `oak node` process whose node runs the instance; its container keeps running
     (runc containers outlive their engine, under their `oak shim`);
  2. times the kill to RUNNING at the root (GET /api/service/<id>, polled every 5 ms) on the other
     node, split at the cluster's `msg="node inactive"` log line (detection, and by what: the
     broker's last will or silence) and at the new node's RUNNING line;
  3. starts the killed node again (same data directory) and times until the container it still
     runs is gone from its runc root, so that only one copy runs; checks that only one copy runs;
  4. waits until the root counts both nodes active, then kills the node that now runs the instance:
     the kills alternate between the two nodes.
Then STOPS times the same with SIGSTOP instead of SIGKILL: a hung engine (or a host cut off without
closing its connections) sends no last will, so the cluster has to notice the silence (its node
timeout); SIGCONT brings the node back, still holding its container, which must then be removed.

Baseline in the same run: a bare `runc run --detach` of the same image's bundle, once after each
kill (as bench/node/runc_bench.py), timed until it returns. Goal: kill to RUNNING elsewhere <= 3 s.

Needs root, runc, umoci, skopeo, docker-registry and iproute2; without them it says so and exits 0.
BENCH_QUICK=1: 4 kills, 2 stops. BENCH_OUT_DIR=DIR: also writes DIR/crash.json. Cleanup, also on failure or
Ctrl-C: every process by its PID, `oak node --reset` for both data directories, the network
namespace, the temporary directory (kept, with a message, if a mount is still in it).
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "root"))
sys.path.insert(0, HERE)
from root_bench import (ADMIN_PW, CLUSTER_TOKEN, Api, Child, Restartable, free_port, wait_for,  # noqa: E402
                        wait_for_quiet, write_json)
from runc_bench import (RuncBaseline, build_image, cleanup_runc_root, instances, log_time,  # noqa: E402
                        mounts_under, pct, run, start_registry)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
NODE_TOKEN = "bench-node-token"
POLL_S = 0.005
GOAL_S = 3.0
CLONE_NEWNET = 0x40000000
CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def log(msg):
    print(f"[crash-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load():
    return round(os.getloadavg()[0], 2)


class Netns:
    """A named network namespace entered by this (single-threaded) process: every child inherits it."""

    def __init__(self, name):
        self.name = name
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.original = os.open("/proc/self/ns/net", os.O_RDONLY)
        run(["ip", "netns", "add", name])
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            if self.libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
        run(["ip", "link", "set", "lo", "up"])

    def leave(self):
        if self.libc.setns(self.original, CLONE_NEWNET) != 0:
            log(f"setns back failed: errno {ctypes.get_errno()}")
        os.close(self.original)
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


def service_doc(image):
    ms = {"microserviceID": "", "microservice_name": "server", "microservice_namespace": "bench",
          "virtualization": "container", "memory": 16, "vcpus": 0, "vgpus": 0, "vtpus": 0,
          "bandwidth_in": 0, "bandwidth_out": 0, "storage": 0, "code": image, "cmd": CMD, "state": "",
          "added_files": []}
    app = {"applicationID": "", "application_name": "crashbench", "application_namespace": "bench",
           "application_desc": "node crash benchmark", "microservices": [ms]}
    return {"sla_version": "v2.0", "customerID": "Admin", "applications": [app]}


def containers(data_dir):
    """Containers in a node's runc root: {id: status}."""
    root = os.path.join(data_dir, "runc")
    if not os.path.isdir(root):
        return {}
    r = subprocess.run(["runc", "--root", root, "list", "--format", "json"], capture_output=True, text=True)
    try:
        return {c["id"]: c["status"] for c in json.loads(r.stdout or "[]") or []}
    except ValueError:
        return {}


class Node(Restartable):
    def __init__(self, tmp, oak, name, cluster_url):
        self.name = name
        self.dir = os.path.join(tmp, "node-" + name)
        super().__init__(tmp, "node-" + name,
                         [oak, "node", "--data-dir", self.dir, "--cluster", cluster_url, "--node-token", NODE_TOKEN,
                          "--name", name, "--runtime", "runc", "--log-level", "debug"])
        self.id = None


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--kills", type=int, default=4 if QUICK else 10)
    ap.add_argument("--stops", type=int, default=2 if QUICK else 4,
                    help="then SIGSTOP the node instead (a hung engine, no last will) and SIGCONT it")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.json is None and os.environ.get("BENCH_OUT_DIR"):
        a.json = os.path.join(os.environ["BENCH_OUT_DIR"], "crash.json")
    oak = os.path.join(os.path.abspath(a.build), "oak")
    missing = [t for t in ("runc", "umoci", "skopeo", "docker-registry", "ip") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        log(f"skipped: needs root and {', '.join(missing) or 'runc, umoci, skopeo, docker-registry, ip'}")
        return 0

    tmp = tempfile.mkdtemp(prefix="oak-bench-crash-")
    children, nodes = [], []
    result = {"kills": a.kills, "stops": a.stops, "cores": os.cpu_count(), "goal_s": GOAL_S}
    ns = None

    def start(argv, name):
        c = Child(argv, os.path.join(tmp, name + ".log"), name)
        children.append(c)
        return c

    try:
        la = wait_for_quiet()
        result["load_at_start"] = [round(x, 2) for x in la]
        log(f"machine: {os.cpu_count()} cores, load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
        ns = Netns(f"oakb-crash-{os.getpid()}")

        layout = build_image(tmp)
        reg_port = start_registry(tmp, start)
        image = f"127.0.0.1:{reg_port}/bench/sleeper:1"
        run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:sleeper", "docker://" + image])

        ready = os.path.join(tmp, "root.ready")
        root = start([oak, "root", "--data-dir", os.path.join(tmp, "root"), "--listen", "127.0.0.1:0",
                      "--ready-file", ready, "--admin-password", ADMIN_PW, "--cluster-token", CLUSTER_TOKEN,
                      "--log-level", "warn"], "root")
        assert wait_for(lambda: os.path.exists(ready), 15), root.output()[-3000:]
        root_host, _, root_port = open(ready).read().strip().rpartition(":")
        cready = os.path.join(tmp, "cluster.ready")
        cluster = start([oak, "cluster", "--data-dir", os.path.join(tmp, "cluster"),
                         "--root", f"http://{root_host}:{root_port}", "--cluster-token", CLUSTER_TOKEN,
                         "--name", "bench", "--location", "48.1,11.5,50", "--listen", "127.0.0.1:0",
                         "--mqtt-listen", f"127.0.0.1:{free_port()}", "--node-token", NODE_TOKEN,
                         "--ready-file", cready, "--log-level", "info"], "cluster")
        assert wait_for(lambda: os.path.exists(cready), 15), cluster.output()[-3000:]
        cluster_url = "http://" + open(cready).read().strip()
        for name in ("a", "b"):
            nodes.append(Node(tmp, oak, name, cluster_url).start())

        api = Api(root_host, int(root_port))
        api.login()

        def active_nodes():
            s, j, _ = api.call("GET", "/api/clusters")
            return sum(c.get("active_nodes", 0) for c in j or [] if c.get("active")) if s == 200 else 0
        if not wait_for(lambda: active_nodes() >= 2, 30, step=0.2):
            raise RuntimeError("the nodes did not become active:\n" + nodes[0].output()[-2000:] + cluster.output()[-2000:])
        capi = Api("127.0.0.1", int(cluster_url.rpartition(":")[2]))
        capi.token = NODE_TOKEN
        for n in capi.call("GET", "/api/nodes")[1]:
            for node in nodes:
                if n["node_name"] == node.name:
                    node.id = n["id"]
        by_id = {n.id: n for n in nodes}

        s, j, raw = api.call("POST", "/api/application/", service_doc(image))
        if s != 200:
            raise RuntimeError(f"POST /api/application/ answered {s}: {raw[:300]!r}")
        app_id = next(x["_id"]["$oid"] for x in j if x.get("application_name") == "crashbench")
        sid = api.call("GET", f"/api/services/{app_id}")[1][0]["_id"]["$oid"]

        def post():
            st, jj, rr = api.call("POST", f"/api/service/{sid}/instance", {})
            if st != 200:
                raise RuntimeError(f"POST /api/service/{sid}/instance answered {st}: {rr[:300]!r}")
            return jj["instance_number"]

        def running(n, timeout=120):
            ok = wait_for(lambda: instances(api, sid).get(n, {}).get("status") == "RUNNING", timeout, step=0.05)
            if not ok:
                raise RuntimeError(f"instance {n} not RUNNING: {instances(api, sid).get(n)}")
            return instances(api, sid)[n]

        # Warm-up: one instance per node (spread placement), so that both have pulled the image.
        warm = [post(), post()]
        workers = {running(n)["worker_id"] for n in warm}
        if len(workers) != 2:
            log(f"warning: both warm-up instances landed on one node ({workers}); the first failover may pull")
        for n in warm:
            api.call("DELETE", f"/api/service/{sid}/instance/{n}")
        if not wait_for(lambda: all(not containers(x.dir) for x in nodes), 60, step=0.2):
            raise RuntimeError("warm-up instances not removed")

        inst = post()
        cur = running(inst)
        cname = next(iter(containers(by_id[cur["worker_id"]].dir)), None)
        log(f"instance {inst} RUNNING on node {by_id[cur['worker_id']].name} (container {cname})")

        baseline = RuncBaseline(tmp, layout)
        baseline.once()  # warms the page cache, as the warm-up did for Oak
        result["load_before_kills"] = load()
        rows, runc_ms = [], []
        plan = ["kill"] * a.kills + ["stop"] * a.stops
        for k, mode in enumerate(plan):
            victim = by_id[instances(api, sid)[inst]["worker_id"]]
            other = next(n for n in nodes if n is not victim)
            before = containers(victim.dir)
            wall0 = time.time()
            t0 = time.monotonic()
            if mode == "kill":
                victim.kill9()
            else:
                victim.child.proc.send_signal(signal.SIGSTOP)  # a hung engine: its connections stay open
            first_not_running = None
            end = t0 + 60
            now = None
            while time.monotonic() < end:
                now = instances(api, sid).get(inst, {})
                if now.get("status") == "RUNNING" and now.get("worker_id") == other.id:
                    break
                if first_not_running is None and now.get("status") != "RUNNING":
                    first_not_running = time.monotonic() - t0
                time.sleep(POLL_S)
            else:
                raise RuntimeError(f"{mode} {k}: instance not RUNNING on {other.name} after 60 s: {now}\n"
                                   + cluster.output()[-3000:])
            failover_s = time.monotonic() - t0
            orphan_alive = containers(victim.dir)
            # The split, from the logs (same clock: this host's wall clock).
            detect = None
            by = None
            for line in cluster.output().splitlines():
                if 'msg="node inactive"' in line and f"node={victim.id}" in line:
                    t = log_time(line)
                    if t and t >= wall0 - 0.01:
                        detect, by = t - wall0, ("will" if "last will" in line else "silence")
                        break
            new_running = None
            for line in other.output(last_only=True).splitlines():
                if 'msg="instance status"' in line and "status=RUNNING" in line and \
                        re.search(rf"\.instance\.{inst}\b", line):
                    t = log_time(line)
                    if t and t >= wall0:
                        new_running = t - wall0
            # The node comes back (restarted, or resumed): the copy it still runs must go.
            t1 = time.monotonic()
            if mode == "kill":
                victim.start()
            else:
                victim.child.proc.send_signal(signal.SIGCONT)
            gone = wait_for(lambda: not containers(victim.dir), 60, step=0.05)
            orphan_removed_s = time.monotonic() - t1 if gone else None
            two_copies_s = time.monotonic() - (t0 + failover_s) if gone else None
            copies = sum(1 for n in nodes for st in containers(n.dir).values() if st == "running")
            if not wait_for(lambda: active_nodes() >= 2, 30, step=0.1):
                raise RuntimeError(f"node {victim.name} not active again:\n" + victim.output(True)[-3000:])
            rejoin_s = time.monotonic() - t1
            root_now = instances(api, sid).get(inst, {})
            row = {"n": k, "mode": mode, "victim": victim.name, "failover_s": failover_s, "detected_s": detect,
                   "detected_by": by, "new_node_running_s": new_running,
                   "root_first_not_running_s": first_not_running,
                   "orphan_running_after_failover": sorted(c for c, st in orphan_alive.items() if st == "running"),
                   "containers_before": sorted(before), "orphan_removed_after_return_s": orphan_removed_s,
                   "two_copies_ran_s": two_copies_s,
                   "running_copies_after": copies, "rejoined_s": rejoin_s,
                   "root_after": {k_: root_now.get(k_) for k_ in ("status", "worker_id")}}
            rows.append(row)
            what = "SIGKILL" if mode == "kill" else "SIGSTOP"
            log(f"{what} {k + 1}/{len(plan)} of node {victim.name}: RUNNING on {other.name} at the root after "
                f"{failover_s:.2f} s (cluster detected it after {detect if detect is None else round(detect, 2)} s by "
                f"{by}); its container {'still ran' if row['orphan_running_after_failover'] else 'was gone'}; "
                f"removed {orphan_removed_s if orphan_removed_s is None else round(orphan_removed_s, 2)} s after the "
                f"node came back; {copies} running cop{'y' if copies == 1 else 'ies'}")
            runc_ms.append(baseline.once())
            time.sleep(1)  # the returned node's first reports, before the next failure
        result["load_after_kills"] = load()

        def summary(sel):
            fo = [r["failover_s"] for r in sel]
            det = [r["detected_s"] for r in sel if r["detected_s"] is not None]
            nr = [r["new_node_running_s"] for r in sel if r["new_node_running_s"] is not None]
            orm = [r["orphan_removed_after_return_s"] for r in sel]
            ok = [x for x in orm if x is not None]
            tc = [r["two_copies_ran_s"] for r in sel if r["two_copies_ran_s"] is not None]
            return {"n": len(sel), "failover_s": {"p50": pct(fo, 50), "max": max(fo), "min": min(fo)},
                    "detected_s": {"p50": pct(det, 50), "max": max(det)} if det else None,
                    "detected_by": sorted({r["detected_by"] for r in sel if r["detected_by"]}),
                    "new_node_running_s": {"p50": pct(nr, 50), "max": max(nr)} if nr else None,
                    "orphan_removed_s": {"p50": pct(ok, 50) if ok else None, "max": max(ok, default=None),
                                         "never": len(orm) - len(ok)},
                    "two_copies_ran_s": {"p50": pct(tc, 50), "max": max(tc)} if tc else None,
                    "orphans_seen_running": sum(1 for r in sel if r["orphan_running_after_failover"]),
                    "max_running_copies_after": max(r["running_copies_after"] for r in sel)}
        for mode in ("kill", "stop"):
            sel = [r for r in rows if r["mode"] == mode]
            if sel:
                result[mode] = summary(sel)
        result["runc_run_ms"] = {"p50": pct(runc_ms, 50), "max": max(runc_ms), "n": len(runc_ms)}
        result["per_failure"] = rows
    finally:
        for n in nodes:
            if n.child is not None:
                if n.child.running():
                    n.child.proc.send_signal(signal.SIGCONT)
                n.child.stop()
            r = subprocess.run([oak, "node", "--reset", "--data-dir", n.dir, "--log-level", "warn"],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                log(f"oak node --reset {n.dir} failed: {r.stderr.strip()[-500:]}")
        for c in reversed(children):
            c.stop()
        cleanup_runc_root(os.path.join(tmp, "baseline-runc"))
        if ns is not None:
            ns.leave()
        left = mounts_under(tmp)
        if left:
            log(f"not removing {tmp}: still mounted there: {left[:3]}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(result)
    write_json(a.json, result)
    return 0


NODE_TIMEOUT_S = 6  # `oak cluster --node-timeout`, left at its default here


def report(r):
    b = r["runc_run_ms"]

    def s(d, key):
        return "-" if not d or d.get(key) is None else f"{d[key]:.2f} s"

    def verdict(ok):
        return "met" if ok else "MISSED"
    rows = []
    for mode, title in (("kill", "SIGKILL of the node"), ("stop", "SIGSTOP of the node (hung, no last will)")):
        m = r.get(mode)
        if not m:
            continue
        f = m["failover_s"]
        # A crash is seen at once (the last will); a hung node only by its silence, so its goal is
        # the cluster's node timeout plus the same re-placement goal.
        goal = GOAL_S if mode == "kill" else NODE_TIMEOUT_S + GOAL_S
        rows += [
            (f"{title}, {m['n']} times: to RUNNING on the other, p50", s(f, "p50"), f"<= {goal:.0f} s",
             verdict(f["p50"] <= goal)),
            ("  max / min", f"{f['max']:.2f} / {f['min']:.2f} s", f"<= {goal:.0f} s", verdict(f["max"] <= goal)),
            ("  cluster detects the loss, p50 / max", f"{s(m['detected_s'], 'p50')} / {s(m['detected_s'], 'max')}",
             "by " + "+".join(m["detected_by"]), ""),
            ("  new node's RUNNING (its log), p50 / max",
             f"{s(m['new_node_running_s'], 'p50')} / {s(m['new_node_running_s'], 'max')}", "", ""),
            ("  old container still running after the failover", f"{m['orphans_seen_running']} of {m['n']}", "", ""),
            ("  removed once the node is back, p50 / max",
             f"{s(m['orphan_removed_s'], 'p50')} / {s(m['orphan_removed_s'], 'max')}",
             f"{m['orphan_removed_s']['never']} never", ""),
            ("  two copies ran (new RUNNING to old gone), p50 / max",
             f"{s(m['two_copies_ran_s'], 'p50')} / {s(m['two_copies_ran_s'], 'max')}", "", ""),
            ("  running copies once the node is back, most", f"{m['max_running_copies_after']}", "must be 1",
             verdict(m["max_running_copies_after"] == 1)),
        ]
    rows.append(("baseline: runc run --detach, p50 / max", f"{b['p50']:.0f} / {b['max']:.0f} ms", "same run", ""))
    print(f"\nNode failures with real containers, alternating between two runc nodes; load at start "
          f"{r['load_at_start'][0]}, during the failures {r['load_before_kills']}-{r['load_after_kills']}")
    w = max(len(x[0]) for x in rows)
    for name, value, goal, v in rows:
        print(f"  {name:<{w}}  {value:>18}  {goal:>10}  {v}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
