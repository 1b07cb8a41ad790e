#!/usr/bin/env python3
"""Real containers: deploy latency and node engine footprint with `oak node --runtime runc`.

    sudo python3 bench/node/runc_bench.py BUILD_DIR [--deploys 50] [--idle-seconds 60] [--json OUT.json]

Everything runs on 127.0.0.1 in processes this script starts:
  1. a docker-registry (temporary config and storage, a free port) holding a busybox image built by
     scripts/busybox-image.sh whose cmd is `sleep 3600`; `oak root`, `oak cluster` and one
     `oak node --runtime runc --log-level debug`;
  2. deploy latency: one service with that image; one instance is deployed first (pulls the image:
     the cold figure) and undeployed; then DEPLOYS distinct instances one after the other, each
     timed from its POST /api/service/<id>/instance to RUNNING in GET /api/service/<id> (polled
     every 5 ms); they stay running for step 3 and are undeployed together at the end. The node's
     log splits each deploy: control path (POST to the node's `msg=deploy`), the engine's stages
     (its `deploy timing` debug line), and the status path (the node's RUNNING to the client).
     Baseline in the same run: `runc run --detach` of the same image's bundle (umoci unpack),
     once after each Oak deploy, each container killed and deleted before the next (not timed);
  3. footprint of the `oak node` process (VmRSS; CPU from /proc/PID/stat over IDLE_SECONDS) with
     0 containers (after the warm-up) and with DEPLOYS running containers; RSS and PSS of its
     `oak shim` processes; an idle `sleep` as the floor of any process.
Needs root, runc, umoci, skopeo, docker-registry and busybox-static. BENCH_QUICK=1: 20 deploys and
20 s CPU windows. BENCH_OUT_DIR=DIR: also writes DIR/runc.json. Every process is stopped by its PID,
the node's containers and network are removed with `oak node --reset`, the temporary directory is
removed (unless a mount is still in it), also after a failure or Ctrl-C.
"""

import argparse
import calendar
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "root"))
from root_bench import (ADMIN_PW, CLUSTER_TOKEN, Api, Child, cpu_seconds, free_port,  # noqa: E402
                        proc_status_kb, wait_for, wait_for_quiet, write_json)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
NODE_TOKEN = "bench-node-token"
POLL_S = 0.005
GOAL_P50_MS = 300
GOAL_RATIO = 2.0
GOAL_NODE_RSS_MB = 10
GOAL_NODE_CPU_PCT = 0.3


def log(msg):
    print(f"[runc-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load():
    return round(os.getloadavg()[0], 2)


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary_ms(values):
    return {"n": len(values), "p50_ms": pct(values, 50), "p99_ms": pct(values, 99), "min_ms": min(values),
            "max_ms": max(values), "mean_ms": statistics.fmean(values)}


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


# ---------------------------------------------------------------------------------------------
# the image and the registry


def build_image(tmp):
    layout = os.path.join(tmp, "layout")
    run(["bash", os.path.join(SOURCE, "scripts/busybox-image.sh"), layout, "sleeper"])
    run(["umoci", "config", "--image", layout + ":sleeper", "--config.cmd", "sleep", "--config.cmd", "3600"])
    return layout


def start_registry(tmp, start):
    storage = os.path.join(tmp, "registry")
    os.makedirs(storage)
    for _ in range(3):  # a free port may be taken before the registry binds it
        port = free_port()
        config = os.path.join(tmp, "registry.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\n  formatter: text\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {storage}\nhttp:\n  addr: 127.0.0.1:{port}\n")
        reg = start(["docker-registry", "serve", config], "registry")

        def up():
            try:
                return Api("127.0.0.1", port).call("GET", "/v2/")[0] == 200
            except OSError:
                return False
        if wait_for(lambda: up() or not reg.running(), 10) and reg.running():
            return port
        reg.stop()
    raise RuntimeError("docker-registry did not come up: " + reg.output()[-1000:])


# ---------------------------------------------------------------------------------------------
# runc baseline


class RuncBaseline:
    """`runc run --detach` of the image's bundle (umoci unpack), timed until it returns; the
    container is killed and deleted after each run (not timed)."""

    def __init__(self, tmp, layout):
        self.bundle = os.path.join(tmp, "baseline-bundle")
        self.root = os.path.join(tmp, "baseline-runc")
        run(["umoci", "unpack", "--image", layout + ":sleeper", self.bundle])
        cfg_path = os.path.join(self.bundle, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sleep", "3600"]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.log_path = os.path.join(tmp, "baseline.log")
        self.n = 0

    def once(self):
        cid = f"oak-bench-{os.getpid()}-{self.n}"
        self.n += 1
        with open(self.log_path, "ab") as out:  # the container inherits it: never a pipe
            t0 = time.monotonic()
            r = subprocess.run(["runc", "--root", self.root, "run", "--detach", "--bundle", self.bundle, cid],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=60)
            ms = (time.monotonic() - t0) * 1000
        try:
            if r.returncode != 0:
                raise RuntimeError(f"runc run {cid}: exit {r.returncode}, see {self.log_path}")
            state = json.loads(run(["runc", "--root", self.root, "state", cid]))
            if state.get("status") != "running":
                raise RuntimeError(f"runc run {cid}: container is {state.get('status')}")
        finally:
            subprocess.run(["runc", "--root", self.root, "kill", cid, "KILL"], capture_output=True)
            subprocess.run(["runc", "--root", self.root, "delete", "--force", cid], capture_output=True)
        return ms


def cleanup_runc_root(root):
    if not os.path.isdir(root):
        return
    left = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True, text=True).stdout.split()
    for cid in left:
        subprocess.run(["runc", "--root", root, "delete", "--force", cid], capture_output=True)


# ---------------------------------------------------------------------------------------------
# the node's log

TS = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")


def log_time(line):
    m = TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + int(m.group(2)) / 1000.0


def node_events(text):
    """Per instance number: wall time of the node's deploy receipt, of its RUNNING, and the stage timing."""
    ev = {}
    for line in text.splitlines():
        m = re.search(r"instance=\S*\.instance\.(\d+)", line)
        if not m:
            continue
        e = ev.setdefault(int(m.group(1)), {})
        t = log_time(line)
        if "msg=deploy " in line:
            e["received"] = t
        elif 'msg="instance status"' in line and "status=RUNNING" in line:
            e["running"] = t
        elif 'msg="deploy timing"' in line:
            e["stages"] = {k: float(v) for k, v in re.findall(r"(\w+)_ms=([\d.]+)", line)}
    return ev


# ---------------------------------------------------------------------------------------------
# the API


def service_doc(image):
    ms = {"microserviceID": "", "microservice_name": "sleeper", "microservice_namespace": "bench",
          "virtualization": "container", "memory": 16, "vcpus": 0, "vgpus": 0, "vtpus": 0,
          "bandwidth_in": 0, "bandwidth_out": 0, "storage": 0, "code": image, "state": "", "added_files": []}
    app = {"applicationID": "", "application_name": "runcbench", "application_namespace": "bench",
           "application_desc": "runc benchmark", "microservices": [ms]}
    return {"sla_version": "v2.0", "customerID": "Admin", "applications": [app]}


def instances(api, sid):
    status, j, raw = api.call("GET", f"/api/service/{sid}")
    if status != 200 or not isinstance(j, dict):
        raise RuntimeError(f"GET /api/service/{sid} answered {status}: {raw[:200]!r}")
    return {i.get("instance_number"): i for i in j.get("instance_list", [])}


def deploy_one(api, sid, timeout=60):
    """POST, then poll until RUNNING. Answers (instance number, wall time of the POST, latency ms)."""
    wall0 = time.time()
    t0 = time.monotonic()
    status, j, raw = api.call("POST", f"/api/service/{sid}/instance", {})
    if status != 200:
        raise RuntimeError(f"POST /api/service/{sid}/instance answered {status}: {raw[:300]!r}")
    n = j["instance_number"]
    end = t0 + timeout
    last = None
    while time.monotonic() < end:
        last = instances(api, sid).get(n, {})
        if last.get("status") == "RUNNING":
            return n, wall0, (time.monotonic() - t0) * 1000
        if last.get("status") in ("FAILED", "DEAD"):
            break
        time.sleep(POLL_S)
    raise RuntimeError(f"instance {n} not RUNNING: {last}")


# ---------------------------------------------------------------------------------------------
# footprint


def footprint(node_pid, data_dir, seconds, sleeper_pid):
    time.sleep(3)  # let the last status changes and reports settle
    c0, w0 = cpu_seconds(node_pid), time.monotonic()
    time.sleep(seconds)
    c1, w1 = cpu_seconds(node_pid), time.monotonic()
    st = proc_status_kb(node_pid)
    shims = []
    for p in glob.glob(os.path.join(data_dir, "containers", "*", "shim.pid")):
        try:
            pid = int(open(p).read().strip())
            shims.append((proc_status_kb(pid).get("VmRSS", 0), pss_kb(pid)))
        except (OSError, ValueError):
            pass
    return {
        "load": load(),
        "node_rss_mb": st.get("VmRSS", 0) / 1024, "node_rss_anon_mb": st.get("RssAnon", 0) / 1024,
        "node_rss_file_mb": st.get("RssFile", 0) / 1024, "node_pss_mb": pss_kb(node_pid) / 1024,
        "node_threads": st.get("Threads", 0),
        "node_cpu_pct": 100.0 * (c1 - c0) / (w1 - w0), "cpu_window_s": w1 - w0,
        "shims": len(shims),
        "shim_rss_mb": statistics.median([s[0] for s in shims]) / 1024 if shims else 0,
        "shims_rss_sum_mb": sum(s[0] for s in shims) / 1024,
        "shims_pss_sum_mb": sum(s[1] for s in shims) / 1024,
        "sleep_rss_mb": proc_status_kb(sleeper_pid).get("VmRSS", 0) / 1024,
    }


# ---------------------------------------------------------------------------------------------


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # cleanup in `finally`, as for Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--deploys", type=int, default=20 if QUICK else 50)
    ap.add_argument("--idle-seconds", type=float, default=20 if QUICK else 60)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.json is None and os.environ.get("BENCH_OUT_DIR"):
        a.json = os.path.join(os.environ["BENCH_OUT_DIR"], "runc.json")
    oak = os.path.join(os.path.abspath(a.build), "oak")
    missing = [t for t in ("runc", "umoci", "skopeo", "docker-registry") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        log(f"skipped: needs root and {', '.join(missing) or 'runc, umoci, skopeo, docker-registry'}")
        return 0

    tmp = tempfile.mkdtemp(prefix="oak-bench-runc-")
    node_dir = os.path.join(tmp, "node")
    children = []
    result = {"deploys": a.deploys, "idle_seconds": a.idle_seconds, "cores": os.cpu_count()}

    def start(argv, name):
        c = Child(argv, os.path.join(tmp, name + ".log"), name)
        children.append(c)
        return c

    node = None
    try:
        la = wait_for_quiet()
        result["load_at_start"] = [round(x, 2) for x in la]
        log(f"machine: {os.cpu_count()} cores, load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")

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
                         "--name", "bench", "--location", "48.1,11.5,50", "--listen", "127.0.0.1:0", "--mqtt-listen", f"127.0.0.1:{free_port()}",
                         "--node-token", NODE_TOKEN, "--ready-file", cready, "--log-level", "warn"], "cluster")
        assert wait_for(lambda: os.path.exists(cready), 15), cluster.output()[-3000:]
        node = start([oak, "node", "--data-dir", node_dir, "--cluster", "http://" + open(cready).read().strip(),
                      "--node-token", NODE_TOKEN, "--name", "runc-bench", "--runtime", "runc",
                      "--log-level", "debug"], "node")
        sleeper = start(["sleep", "3600"], "sleep")

        api = Api(root_host, int(root_port))
        api.login()

        def node_active():
            s, j, _ = api.call("GET", "/api/clusters")
            return s == 200 and any(c.get("active") and c.get("active_nodes", 0) >= 1 for c in j or [])
        if not wait_for(lambda: node_active() or not node.running(), 30, step=0.2) or not node.running():
            raise RuntimeError(f"the node did not become active: clusters {api.call('GET', '/api/clusters')[2][:500]!r}\n"
                               + node.output()[-3000:] + cluster.output()[-3000:])
        result["node_fresh_rss_mb"] = proc_status_kb(node.pid).get("VmRSS", 0) / 1024

        s, j, raw = api.call("POST", "/api/application/", service_doc(image))
        if s != 200:
            raise RuntimeError(f"POST /api/application/ answered {s}: {raw[:300]!r}")
        app_id = next(x["_id"]["$oid"] for x in j if x.get("application_name") == "runcbench")
        s, svcs, raw = api.call("GET", f"/api/services/{app_id}")
        sid = svcs[0]["_id"]["$oid"]

        # Warm-up: the pull.
        n0, _, cold = deploy_one(api, sid)
        result["cold_deploy_ms"] = cold
        log(f"first deploy (pulls the image): {cold:.0f} ms")
        api.call("DELETE", f"/api/service/{sid}/instance/{n0}")
        t0 = time.monotonic()
        if not wait_for(lambda: n0 not in instances(api, sid) and not os.listdir(os.path.join(node_dir, "containers")),
                        30, step=0.1):
            raise RuntimeError("the warm-up instance was not undeployed")
        result["undeploy_one_s"] = time.monotonic() - t0

        log(f"node idle with 0 containers: {a.idle_seconds:.0f} s CPU window")
        result["idle_0"] = footprint(node.pid, node_dir, a.idle_seconds, sleeper.pid)

        # Deploy latency: distinct instances, one after the other, all kept running; each followed
        # by one baseline run, so that both see the same machine.
        baseline = RuncBaseline(tmp, layout)
        baseline.once()  # warms the page cache for runc and the bundle, as the warm-up deploy did for Oak
        result["load_before_deploys"] = load()
        lat, walls, runc_ms = {}, {}, []
        for _ in range(a.deploys):
            n, wall0, ms = deploy_one(api, sid)
            lat[n], walls[n] = ms, wall0
            runc_ms.append(baseline.once())
        result["load_after_deploys"] = load()
        values = [lat[n] for n in sorted(lat)]
        result["oak_deploy"] = summary_ms(values)
        k = max(1, len(values) // 5)
        result["oak_deploy"]["first_fifth_p50_ms"] = pct(values[:k], 50)
        result["oak_deploy"]["last_fifth_p50_ms"] = pct(values[-k:], 50)
        result["oak_deploy_all_ms"] = values

        time.sleep(0.5)
        ev = node_events(node.output())
        parts = {"control_path_ms": [], "engine_ms": [], "status_path_ms": []}
        stages, by_deploy = {}, []
        for n in sorted(lat):
            e = ev.get(n, {})
            if "received" in e and "running" in e:
                parts["control_path_ms"].append((e["received"] - walls[n]) * 1000)
                parts["engine_ms"].append((e["running"] - e["received"]) * 1000)
                parts["status_path_ms"].append(walls[n] * 1000 + lat[n] - e["running"] * 1000)
            for key, v in e.get("stages", {}).items():
                stages.setdefault(key, []).append(v)
            by_deploy.append({"instance": n, "client_ms": lat[n], **e.get("stages", {})})
        result["oak_breakdown_p50_ms"] = {k: pct(v, 50) for k, v in parts.items() if v}
        result["oak_engine_stages_p50_ms"] = {k: pct(v, 50) for k, v in stages.items()}
        result["oak_engine_stages_max_ms"] = {k: max(v) for k, v in stages.items()}
        result["oak_deploys"] = by_deploy

        log(f"node with {a.deploys} containers: {a.idle_seconds:.0f} s CPU window")
        result["idle_n"] = footprint(node.pid, node_dir, a.idle_seconds, sleeper.pid)

        result["runc_run"] = summary_ms(runc_ms)
        result["runc_run_all_ms"] = runc_ms
        result["ratio_p50"] = result["oak_deploy"]["p50_ms"] / result["runc_run"]["p50_ms"]

        # Undeploy all together; done when the node has removed every bundle (the root forgets
        # the instances at once). `sleep` as PID 1 ignores SIGTERM: each removal waits the grace.
        t0 = time.monotonic()
        for n in lat:
            api.call("DELETE", f"/api/service/{sid}/instance/{n}")
        gone = wait_for(lambda: not os.listdir(os.path.join(node_dir, "containers")), 300, step=0.2)
        result["undeploy_all_s"] = time.monotonic() - t0 if gone else None
        log(f"undeploy of {a.deploys} containers: {result['undeploy_all_s'] or 0:.1f} s")
    finally:
        if node is not None:
            node.stop()
            r = subprocess.run([oak, "node", "--reset", "--data-dir", node_dir, "--log-level", "warn"],
                               capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                log(f"oak node --reset failed: {r.stderr.strip()[-500:]}")
        for c in reversed(children):
            c.stop()
        cleanup_runc_root(os.path.join(tmp, "baseline-runc"))
        left = mounts_under(tmp)
        if left:
            log(f"not removing {tmp}: still mounted there: {left[:3]}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(result)
    write_json(a.json, result)
    return 0


def report(r):
    d, b, i0, i1 = r["oak_deploy"], r["runc_run"], r["idle_0"], r["idle_n"]
    n = r["deploys"]

    def verdict(ok):
        return "met" if ok else "MISSED"
    rows = [
        ("deploy to RUNNING, p50", f"{d['p50_ms']:.0f} ms", f"<= {GOAL_P50_MS} ms", verdict(d["p50_ms"] <= GOAL_P50_MS)),
        ("deploy to RUNNING, p99 / min / max", f"{d['p99_ms']:.0f} / {d['min_ms']:.0f} / {d['max_ms']:.0f} ms", "", ""),
        ("runc run --detach, p50 / p99", f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f} ms", "", ""),
        ("Oak p50 / runc p50", f"{r['ratio_p50']:.2f}x", f"<= {GOAL_RATIO:.0f}x", verdict(r["ratio_p50"] <= GOAL_RATIO)),
        ("first deploy (pull)", f"{r['cold_deploy_ms']:.0f} ms", "", ""),
        ("node RSS, 0 containers", f"{i0['node_rss_mb']:.1f} MB", f"<= {GOAL_NODE_RSS_MB} MB",
         verdict(i0["node_rss_mb"] <= GOAL_NODE_RSS_MB)),
        (f"node RSS, {n} containers", f"{i1['node_rss_mb']:.1f} MB", f"<= {GOAL_NODE_RSS_MB} MB",
         verdict(i1["node_rss_mb"] <= GOAL_NODE_RSS_MB)),
        ("node CPU, 0 containers", f"{i0['node_cpu_pct']:.3f} %", f"<= {GOAL_NODE_CPU_PCT} %",
         verdict(i0["node_cpu_pct"] <= GOAL_NODE_CPU_PCT)),
        (f"node CPU, {n} containers", f"{i1['node_cpu_pct']:.3f} %", f"<= {GOAL_NODE_CPU_PCT} %",
         verdict(i1["node_cpu_pct"] <= GOAL_NODE_CPU_PCT)),
        ("one oak shim, RSS", f"{i1['shim_rss_mb']:.2f} MB", "", ""),
        (f"{i1['shims']} shims, RSS sum / PSS sum", f"{i1['shims_rss_sum_mb']:.1f} / {i1['shims_pss_sum_mb']:.1f} MB", "", ""),
        ("idle sleep, RSS (floor)", f"{i1['sleep_rss_mb']:.2f} MB", "", ""),
        ("node anon RSS / PSS, 0 containers", f"{i0['node_rss_anon_mb']:.1f} / {i0['node_pss_mb']:.1f} MB", "", ""),
        (f"undeploy 1 / {n} containers", f"{r['undeploy_one_s']:.1f} / {r['undeploy_all_s'] or 0:.1f} s", "", ""),
    ]
    print(f"\nReal containers, {n} deploys, {r['idle_seconds']:.0f} s CPU windows, load at start "
          f"{r['load_at_start'][0]}, during deploys {r['load_before_deploys']}-{r['load_after_deploys']}")
    w = max(len(x[0]) for x in rows)
    for name, value, goal, v in rows:
        print(f"  {name:<{w}}  {value:>22}  {goal:>10}  {v}")
    print("  deploy split (p50): " + ", ".join(f"{k} {v:.1f}" for k, v in r["oak_breakdown_p50_ms"].items()))
    print("  engine stages (p50 ms): " + ", ".join(f"{k} {v:.1f}" for k, v in r["oak_engine_stages_p50_ms"].items()))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
