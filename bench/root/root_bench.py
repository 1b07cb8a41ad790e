#!/usr/bin/env python3
"""Benchmarks of `oak root` (SPEC section 9), each figure beside a baseline measured in the same run.

    python3 bench/root/root_bench.py BUILD_DIR [--json OUT.json]

Measures, against a real `BUILD_DIR/oak root` on 127.0.0.1 with a private data directory:
  1. idle RSS before and after one login (argon2id allocates 64 MiB while hashing), beside the RSS
     of an idle mosquitto broker (if installed) and of an idle `sleep`;
  2. RSS with 10,000 services stored (1,000 applications x 10 microservices, created through
     POST /api/application/), beside Oak's own idle RSS;
  3. authenticated reads, GET /api/services/<appid>, with wrk at 64 connections, beside GET /healthz
     (and, to split the cost, GET /api/clusters/, which adds only the token check, and
     GET /api/service/<id>, one service looked up by its key);
  4. deploy requests, POST /api/service/<id>/instance, with wrk at 64 connections: first with no
     cluster registered, then while a stand-in cluster (BUILD_DIR/bench/root/oak_bench_fake_cluster)
     accepts the instances; the end-to-end rate counts the instances the stand-in received over
     the time from the first API call to the last hand-over;
  5. status updates applied from pushes: 10 stand-in clusters hold instances and push status
     changes (bodies with only `jobs`, 500 instances each) back to back; the rate counts the
     instance changes the root applied (its oak_instance_status_updates_total).
  Baseline for 4 and 5: GET /healthz at the same settings, run just before.

BENCH_QUICK=1: 1,000 services and 3 s wrk runs. It first waits (at most BENCH_MAX_WAIT seconds,
default 180) for the 1-minute load average to drop below 1, and reports the load it ran under.
Uses python3's standard library and wrk, nothing else. Every process it starts is stopped by its
PID; its temporary directory is removed.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SERVICES = 1_000 if QUICK else 10_000
PER_APP = 10
APPS_PER_REQUEST = 100  # one POST per 100 applications: about 360 KB, below the 1 MiB body limit
DURATION_S = 3 if QUICK else 10
PUSH_CLUSTERS = 10
PUSH_BATCH = 500  # instances per status push
PUSH_DEPLOY_S = 2 if QUICK else 4  # deploys that give the push clusters their instances
PUSH_S = 3 if QUICK else 10
CONNECTIONS = 64
WRK_THREADS = 2
ADMIN_PW = "bench-admin-pw"
CLUSTER_TOKEN = "bench-cluster-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[root-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# processes and /proc


class Child:
    """A process we started; stopped by its PID only."""

    def __init__(self, argv, log_path, name):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Restartable:
    """A process started again and again with the same arguments; each run logs to its own file
    (TMP/LABEL.N.log). Killed by its PID only."""

    def __init__(self, tmp, label, argv):
        self.tmp, self.label, self.argv = tmp, label, argv
        self.gen = 0
        self.child = None
        self.logs = []

    def start(self):
        path = os.path.join(self.tmp, f"{self.label}.{self.gen}.log")
        self.gen += 1
        self.logs.append(path)
        self.child = Child(self.argv, path, self.label)
        return self

    def kill9(self):
        self.child.proc.kill()  # SIGKILL, to this PID only
        self.child.proc.wait()
        self.child.log_file.close()

    def alive(self):
        return self.child is not None and self.child.running()

    def stop(self):
        if self.child is not None:
            self.child.stop()

    def output(self, last_only=False):
        out = []
        for p in self.logs[-1:] if last_only else self.logs:
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode(errors="replace"))
            except OSError:
                pass
        return "".join(out)


def write_json(path, result):
    """Writes a benchmark's figures to PATH (its directory is created); no-op without a path."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


def proc_status_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(rest.split()[0])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def sched_ns(pid):
    """Main thread (the root's event loop): ns on a CPU, ns runnable but waiting for one."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, _ = f.read().split()
    return int(run), int(wait)


def io_counters(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v)
    return out


def mb(kb):
    return kb / 1024.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def wait_for_quiet(max_wait=int(os.environ.get("BENCH_MAX_WAIT", "180")), threshold=1.0):
    """Other engineers share the 2 cores: wait (bounded) until the 1-minute load settles."""
    start = time.monotonic()
    while os.getloadavg()[0] > threshold and time.monotonic() - start < max_wait:
        log(f"load average {os.getloadavg()[0]:.2f} > {threshold}: waiting for it to settle")
        time.sleep(10)
    return os.getloadavg()


# ---------------------------------------------------------------------------------------------
# HTTP


class Api:
    """A keep-alive JSON client for one host."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=120)
        self.token = ""

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                res = self.conn.getresponse()
                raw = res.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2:
                    raise
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return res.status, parsed, raw

    def login(self):
        status, j, raw = self.call("POST", "/api/auth/login", {"username": "Admin", "password": ADMIN_PW})
        if status != 200:
            raise RuntimeError(f"login answered {status}: {raw[:200]!r}")
        self.token = j["token"]

    def close(self):
        self.conn.close()


def sla(first_app, count):
    apps = []
    for a in range(first_app, first_app + count):
        apps.append({
            "applicationID": "",
            "application_name": f"app{a}",
            "application_namespace": "bench",
            "application_desc": "root benchmark",
            "microservices": [{
                "microserviceID": "",
                "microservice_name": f"svc{m}",
                "microservice_namespace": "bench",
                "virtualization": "container",
                "cmd": ["sh", "-c", "sleep infinity"],
                "memory": 100,
                "vcpus": 1,
                "vgpus": 0,
                "vtpus": 0,
                "bandwidth_in": 0,
                "bandwidth_out": 0,
                "storage": 0,
                "code": "docker.io/library/nginx:latest",
                "state": "",
                "port": "80",
                "added_files": [],
            } for m in range(PER_APP)],
        })
    return {"sla_version": "v2.0", "customerID": "Admin", "applications": apps}


def metrics(api):
    status, _, raw = api.call("GET", "/metrics")
    out = {}
    if status != 200:
        return out
    for line in raw.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# wrk

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def run_wrk(url, token=None, script=None, duration=DURATION_S, cpu_pid=None):
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    cpu0 = cpu_seconds(cpu_pid) if cpu_pid else None
    sched0 = sched_ns(cpu_pid) if cpu_pid else None
    io0 = io_counters(cpu_pid) if cpu_pid else None
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    wall = time.monotonic() - t0
    cpu1 = cpu_seconds(cpu_pid) if cpu_pid else None
    sched1 = sched_ns(cpu_pid) if cpu_pid else None
    io1 = io_counters(cpu_pid) if cpu_pid else None
    text = out.stdout + out.stderr
    r = {"url": url, "raw": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    r["requests"] = int(m.group(1)) if m else 0
    r["duration_s"] = to_ms(m.group(2) + m.group(3)) / 1e3 if m else wall
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        r[f"p{pct}_ms"] = to_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    r["socket_errors"] = m.group(1).strip() if m else ""
    if cpu0 is not None:
        r["server_cpu_s"] = cpu1 - cpu0
        r["server_cpu_share"] = (cpu1 - cpu0) / wall  # 1.0 = one core fully busy
        r["server_cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / r["requests"] if r["requests"] else None
        # The event loop's thread: share of the wall time it ran, waited for a CPU (other processes,
        # wrk included), or neither (blocked: in a system call such as fsync, or idle).
        run_s, wait_s = (sched1[0] - sched0[0]) / 1e9 / wall, (sched1[1] - sched0[1]) / 1e9 / wall
        r["loop_running"], r["loop_waiting_cpu"] = run_s, wait_s
        r["loop_blocked_or_idle"] = max(0.0, 1.0 - run_s - wait_s)
        r["server_write_bytes"] = io1["write_bytes"] - io0["write_bytes"]
        r["server_syscw"] = io1["syscw"] - io0["syscw"]
        # Bytes returned by read system calls (sockets included): shows pages re-read from the OS.
        r["server_rchar"] = io1["rchar"] - io0["rchar"]
        st = proc_status_kb(cpu_pid)
        r["rss_after_kb"], r["hwm_after_kb"] = st["VmRSS"], st["VmHWM"]
    return r


def wrk_line(name, r):
    cpu = ""
    if r.get("server_cpu_us_per_req"):
        cpu = (f", root CPU {r['server_cpu_us_per_req']:.0f} us/request; loop thread ran "
               f"{r['loop_running'] * 100:.0f}%, waited for a CPU {r['loop_waiting_cpu'] * 100:.0f}%, blocked/idle "
               f"{r['loop_blocked_or_idle'] * 100:.0f}%; read() returned {r['server_rchar'] / 2**20:.1f} MiB; "
               f"{r['server_write_bytes'] / 2**20:.1f} MiB written to disk; RSS {mb(r['rss_after_kb']):.1f} MB, "
               f"peak so far {mb(r['hwm_after_kb']):.1f} MB")
    errs = ""
    if r["non_2xx"]:
        errs += f", {r['non_2xx']} non-2xx"
    if r["socket_errors"]:
        errs += f", socket errors: {r['socket_errors']}"
    return (f"{name}: {r['rps']:,.0f} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
            f"({r['requests']} requests{cpu}{errs})")


# ---------------------------------------------------------------------------------------------
# the measures


def baseline_rss(tmp):
    """RSS of idle reference processes: a mosquitto broker if installed, and `sleep`."""
    out = {}
    sleeper = Child(["sleep", "600"], os.path.join(tmp, "sleep.log"), "sleep")
    try:
        time.sleep(0.5)
        out["sleep_kb"] = proc_status_kb(sleeper.pid)["VmRSS"]
    finally:
        sleeper.stop()
    mosq = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if mosq:
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {free_port()} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n")
        broker = Child([mosq, "-c", conf], os.path.join(tmp, "mosquitto.log"), "mosquitto")
        try:
            time.sleep(1.5)
            if broker.running():
                out["mosquitto_kb"] = proc_status_kb(broker.pid)["VmRSS"]
            else:
                log("mosquitto exited at once: " + broker.output()[-300:])
        finally:
            broker.stop()
    return out


def start_root(oak, tmp):
    data = os.path.join(tmp, "root-data")
    ready = os.path.join(tmp, "root.ready")
    argv = [oak, "root", "--data-dir", data, "--listen", "127.0.0.1:0", "--ready-file", ready,
            "--admin-password", ADMIN_PW, "--cluster-token", CLUSTER_TOKEN]
    root = Child(argv, os.path.join(tmp, "root.log"), "oak root")
    if not wait_for(lambda: os.path.exists(ready) or not root.running(), 15):
        raise RuntimeError("oak root did not come up in 15 s")
    if not root.running():
        raise RuntimeError("oak root exited: " + root.output()[-2000:])
    host, _, port = open(ready).read().strip().rpartition(":")
    return root, host, int(port), data


def populate(api, total_services):
    """Creates total_services services as applications of PER_APP microservices each."""
    apps = total_services // PER_APP
    t0 = time.monotonic()
    last = None
    slowest = 0.0
    for first in range(0, apps, APPS_PER_REQUEST):
        n = min(APPS_PER_REQUEST, apps - first)
        t = time.monotonic()
        status, j, raw = api.call("POST", "/api/application/", sla(first, n))
        slowest = max(slowest, time.monotonic() - t)
        if status != 200:
            raise RuntimeError(f"POST /api/application/ answered {status}: {raw[:300]!r}")
        last = j
    elapsed = time.monotonic() - t0
    return last, elapsed, slowest


def dir_kb(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total // 1024


def instance_counts(api):
    m = metrics(api)
    prefix = 'oak_instances{status="'
    return {k[len(prefix):-2]: int(v) for k, v in m.items() if k.startswith(prefix) and v}


def deploy_script(tmp, token, service_ids, name):
    path = os.path.join(tmp, f"deploy-{name}.lua")
    ids = ", ".join(f'"{s}"' for s in service_ids)
    with open(path, "w") as f:
        f.write(f"""-- POST /api/service/<id>/instance with body {{}}, rotating over {len(service_ids)} services.
local ids = {{ {ids} }}
local n = 0
wrk.method = "POST"
wrk.body = "{{}}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  n = n + 1
  return wrk.format(nil, "/api/service/" .. ids[(n % #ids) + 1] .. "/instance")
end
""")
    return path


def read_stats(path):
    """The stand-in's `key=value ...` stats line as a dict of numbers."""
    try:
        with open(path) as f:
            return {k: float(v) for k, _, v in (w.partition("=") for w in f.read().split())}
    except OSError:
        return {}


def measure_pushes(fake, base, api, token, service_ids, tmp, root_pid, children):
    ready = os.path.join(tmp, "push.ready")
    stats = os.path.join(tmp, "push.stats")
    push = Child([fake, "--root", base, "--token", CLUSTER_TOKEN, "--name", "push", "--clusters", str(PUSH_CLUSTERS),
                  "--push-seconds", str(PUSH_S), "--push-batch", str(PUSH_BATCH), "--ready-file", ready,
                  "--stats-file", stats], os.path.join(tmp, "push.log"), "push clusters")
    children.append(push)
    if not wait_for(lambda: os.path.exists(stats) or not push.running(), 30):
        raise RuntimeError("push clusters did not register and heartbeat: " + push.output()[-1000:])
    run_wrk(base + "/", script=deploy_script(tmp, token, service_ids, "push"), duration=PUSH_DEPLOY_S)
    wait_for(lambda: metrics(api).get("oak_dispatch_in_flight", 1) == 0, 120, step=0.05)
    # Heartbeats report the new instances RUNNING.
    wait_for(lambda: read_stats(stats).get("reported", -1) >= read_stats(stats).get("held", 0), 60, step=0.2)
    held = read_stats(stats).get("held", 0)
    updates0 = metrics(api).get("oak_instance_status_updates_total", 0)
    cpu0 = cpu_seconds(root_pid)
    push.proc.send_signal(signal.SIGUSR1)
    if not wait_for(lambda: read_stats(stats).get("push_s", 0) > 0, PUSH_S + 60, step=0.1):
        raise RuntimeError("push phase did not finish: " + push.output()[-1000:])
    cpu1 = cpu_seconds(root_pid)
    m = metrics(api)
    st = read_stats(stats)
    push.stop()
    # Every report changes its instance (statuses alternate), so without the root's counter (older
    # roots) the reports it acknowledged count as applied.
    counted = "oak_instance_status_updates_total" in m
    applied = m["oak_instance_status_updates_total"] - updates0 if counted else st["pushed"]
    r = {"clusters": PUSH_CLUSTERS, "batch": PUSH_BATCH, "instances_held": held, "seconds": st["push_s"],
         "applied_from": "oak_instance_status_updates_total" if counted else "reports acknowledged",
         "pushes": st["pushes"], "reported": st["pushed"], "failed_pushes": st["failed_pushes"], "applied": applied,
         "rate": applied / st["push_s"], "root_cpu_us_per_update": (cpu1 - cpu0) * 1e6 / applied if applied else None}
    log(f"status pushes: {PUSH_CLUSTERS} clusters holding {held:.0f} instances, {st['pushes']:.0f} pushes of "
        f"{PUSH_BATCH} in {st['push_s']:.1f} s; {applied:.0f} updates applied = {r['rate']:,.0f}/s "
        f"({st['failed_pushes']:.0f} failed pushes)")
    return r


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    json_out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    oak = os.path.join(build, "oak")
    fake = os.path.join(build, "bench", "root", "oak_bench_fake_cluster")
    for need in (oak,):
        if not os.access(need, os.X_OK):
            print(f"missing {need}: build the `oak` target first", file=sys.stderr)
            return 2
    if not shutil.which("wrk"):
        print("wrk is not installed (Debian package `wrk`)", file=sys.stderr)
        return 2

    res = {"quick": QUICK, "services": SERVICES, "duration_s": DURATION_S, "connections": CONNECTIONS,
           "wrk_threads": WRK_THREADS, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    res["load_before"] = wait_for_quiet()
    log(f"load average {res['load_before'][0]:.2f} {res['load_before'][1]:.2f} {res['load_before'][2]:.2f}; "
        f"{SERVICES} services, {DURATION_S} s runs at {CONNECTIONS} connections")

    tmp = tempfile.mkdtemp(prefix="oak-root-bench-")
    children = []
    try:
        # 1. idle memory
        res["baseline"] = baseline_rss(tmp)
        root, host, port, data = start_root(oak, tmp)
        children.append(root)
        base = f"http://{host}:{port}"
        time.sleep(2)
        res["idle_before_login"] = proc_status_kb(root.pid)
        api = Api(host, port)
        t = time.monotonic()
        api.login()
        res["login_ms"] = (time.monotonic() - t) * 1e3
        time.sleep(3)
        res["idle_after_login"] = proc_status_kb(root.pid)
        log(f"idle RSS {mb(res['idle_before_login']['VmRSS']):.1f} MB before login, "
            f"{mb(res['idle_after_login']['VmRSS']):.1f} MB after (peak {mb(res['idle_after_login']['VmHWM']):.1f} MB)")

        # 2. memory with many services
        last, elapsed, slowest = populate(api, SERVICES)
        res["populate_s"] = elapsed
        res["populate_slowest_request_s"] = slowest
        m = metrics(api)
        res["stored_services"] = int(m.get("oak_services", 0))
        time.sleep(2)
        res["with_services"] = proc_status_kb(root.pid)
        res["data_dir_kb"] = dir_kb(data)
        log(f"{res['stored_services']} services stored in {elapsed:.1f} s "
            f"(slowest POST {slowest:.2f} s); RSS {mb(res['with_services']['VmRSS']):.1f} MB")
        app_id = last[0]["applicationID"]
        service_ids = []
        for a in last[:10]:
            service_ids += a["microservices"]

        # 3. reads
        api.login()  # a fresh 10-minute token for the wrk runs
        token = api.token
        status, j, raw = api.call("GET", f"/api/services/{app_id}")
        res["services_body_bytes"] = len(raw)
        if status != 200 or len(j) != PER_APP:
            raise RuntimeError(f"GET /api/services/{app_id} answered {status} with {raw[:200]!r}")
        res["wrk_healthz"] = run_wrk(base + "/healthz", cpu_pid=root.pid)
        log(wrk_line("GET /healthz", res["wrk_healthz"]))
        res["wrk_clusters"] = run_wrk(base + "/api/clusters/", token=token, cpu_pid=root.pid)
        log(wrk_line("GET /api/clusters/", res["wrk_clusters"]))
        res["wrk_service"] = run_wrk(base + f"/api/service/{service_ids[0]}", token=token, cpu_pid=root.pid)
        log(wrk_line("GET /api/service/<id>", res["wrk_service"]))
        res["wrk_services"] = run_wrk(base + f"/api/services/{app_id}", token=token, cpu_pid=root.pid)
        log(wrk_line(f"GET /api/services/<appid> ({res['services_body_bytes']} B)", res["wrk_services"]))

        # 4. deploys. First with no cluster registered (the request path, the instance write and a
        # failed scheduling decision), then with the stand-in cluster (adds the hand-over to the
        # cluster and the heartbeat that reports the instance RUNNING). Each run uses its own services.
        api.login()  # fresh token: the earlier one may be close to its 10 minutes
        token = api.token
        nocluster_ids = [sid for a in last[10:20] for sid in a["microservices"]]
        res["wrk_deploy_nocluster"] = run_wrk(base + "/", script=deploy_script(tmp, token, nocluster_ids, "nocluster"),
                                              cpu_pid=root.pid)
        log(wrk_line("POST /api/service/<id>/instance, no cluster", res["wrk_deploy_nocluster"]))
        wait_for(lambda: metrics(api).get("oak_dispatch_in_flight", 1) == 0, 60, step=0.2)
        res["instances_nocluster"] = instance_counts(api)
        log(f"instances by status: {res['instances_nocluster']}")

        cluster = None
        if os.access(fake, os.X_OK):
            ready = os.path.join(tmp, "cluster.ready")
            stats = os.path.join(tmp, "cluster.stats")
            cluster = Child([fake, "--root", base, "--token", CLUSTER_TOKEN, "--name", "bench",
                             "--ready-file", ready, "--stats-file", stats], os.path.join(tmp, "cluster.log"),
                            "fake cluster")
            children.append(cluster)
            if not wait_for(lambda: os.path.exists(stats) or not cluster.running(), 15):
                raise RuntimeError("fake cluster did not register and heartbeat: " + cluster.output()[-1000:])
            status, j, _ = api.call("GET", "/api/clusters/active")
            res["cluster"] = "a stand-in cluster (bench/root/oak_bench_fake_cluster, heartbeat every 1 s)"
            log(f"fake cluster registered; active clusters: {len(j) if isinstance(j, list) else j}")
            cluster_cpu0 = cpu_seconds(cluster.pid)
            res["wrk_healthz_before_deploy"] = run_wrk(base + "/healthz", cpu_pid=root.pid)
            log(wrk_line("GET /healthz", res["wrk_healthz_before_deploy"]))
            res["wrk_deploy"] = run_wrk(base + "/", script=deploy_script(tmp, token, service_ids, "cluster"),
                                        cpu_pid=root.pid)
            log(wrk_line("POST /api/service/<id>/instance", res["wrk_deploy"]))
            # How long the dispatcher needs to hand over everything that was accepted.
            t = time.monotonic()
            wait_for(lambda: metrics(api).get("oak_dispatch_in_flight", 1) == 0, 120, step=0.05)
            res["drain_s"] = time.monotonic() - t
            # The stand-in reports what it received as RUNNING once a second.
            wait_for(lambda: read_stats(stats).get("reported", -1) >= read_stats(stats).get("held", 0), 60, step=0.2)
            time.sleep(0.5)
            res["cluster_cpu_s"] = cpu_seconds(cluster.pid) - cluster_cpu0
            after = instance_counts(api)
            before = res["instances_nocluster"]
            res["instances_by_status"] = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
            received = read_stats(stats).get("held", 0)
            seconds = res["wrk_deploy"]["duration_s"] + res["drain_s"]
            res["deploy_e2e"] = {"instances": received, "seconds": seconds, "rate": received / seconds}
            log(f"end to end: {received} instances at the stand-in in {seconds:.2f} s = {received / seconds:,.0f}/s")
            m = metrics(api)
            res["store_after_deploy"] = {k: v for k, v in m.items()
                                         if k.startswith(("oak_store_", "oak_cluster_connections"))}
            cluster.stop()
            res["cluster_stats"] = cluster.output().strip().splitlines()[-1:]

            # 5. status pushes: 10 stand-in clusters get instances, then push status changes.
            res["push"] = measure_pushes(fake, base, api, token, [s for a in last[20:30] for s in a["microservices"]],
                                         tmp, root.pid, children)
        else:
            res["cluster"] = "no cluster (build the target oak_bench_fake_cluster for the full path)"
            log("no stand-in cluster binary (target oak_bench_fake_cluster): only the run without a cluster")
            res["wrk_healthz_before_deploy"] = run_wrk(base + "/healthz", cpu_pid=root.pid)
            res["wrk_deploy"] = None
        res["after_deploy"] = proc_status_kb(root.pid)
        if res["wrk_deploy"]:
            log(f"dispatcher drained {res['drain_s']:.1f} s after wrk ended; instances by status: "
                f"{res['instances_by_status']}; RSS {mb(res['after_deploy']['VmRSS']):.1f} MB")
        api.close()
    finally:
        for c in reversed(children):
            c.stop()
        res["root_log_tail"] = children[0].output()[-1500:] if children else ""
        res["load_after"] = os.getloadavg()
        shutil.rmtree(tmp, ignore_errors=True)

    report(res)
    if json_out:
        for k in list(res):
            if isinstance(res[k], dict) and "raw" in res[k]:
                res[k] = {kk: vv for kk, vv in res[k].items() if kk != "raw"}
        with open(json_out, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def report(r):
    b = r["baseline"]
    if "mosquitto_kb" in b:
        base_mem = f"mosquitto {mb(b['mosquitto_kb']):.1f} MB; sleep {mb(b['sleep_kb']):.1f} MB"
    else:
        base_mem = f"sleep {mb(b['sleep_kb']):.1f} MB (mosquitto not installed)"
    ib, ia, ws = r["idle_before_login"], r["idle_after_login"], r["with_services"]
    hz, hz2 = r["wrk_healthz"], r["wrk_healthz_before_deploy"]

    def rate(w):
        return f"{w['rps']:,.0f}/s p50 {w['p50_ms']:.2f} ms p99 {w['p99_ms']:.2f} ms" if w["p50_ms"] else "failed"

    rows = [
        ("idle RSS, before login", f"{mb(ib['VmRSS']):.1f} MB", base_mem, "<= 30 MB"),
        ("idle RSS, 3 s after one login", f"{mb(ia['VmRSS']):.1f} MB (peak {mb(ia['VmHWM']):.1f})", base_mem,
         "<= 30 MB"),
        (f"RSS, {r['stored_services']:,} services stored", f"{mb(ws['VmRSS']):.1f} MB",
         f"Oak idle {mb(ia['VmRSS']):.1f} MB", "none (idle goal 30 MB)"),
        ("GET /api/services/<appid>, bearer", rate(r["wrk_services"]), "/healthz " + rate(hz), ">= 10,000/s"),
        ("POST /api/service/<id>/instance" + ("" if r["wrk_deploy"] else ", no cluster"),
         rate(r["wrk_deploy"] or r["wrk_deploy_nocluster"]), "/healthz " + rate(hz2), "none (accepting only)"),
    ]
    if r.get("deploy_e2e"):
        e = r["deploy_e2e"]
        rows.append(("deploys end to end (API call to the stand-in cluster)",
                     f"{e['rate']:,.0f}/s ({e['instances']:,.0f} in {e['seconds']:.1f} s)",
                     f"/healthz {hz2['rps']:,.0f}/s", ">= 5,000/s"))
    if r.get("push"):
        p = r["push"]
        rows.append((f"status updates applied from pushes ({p['clusters']} clusters)",
                     f"{p['rate']:,.0f}/s ({p['applied']:,.0f} in {p['seconds']:.1f} s)",
                     f"/healthz {hz2['rps']:,.0f}/s", ">= 5,000/s"))
    widths = [max(len(row[i]) for row in rows + [("measure", "Oak", "baseline", "goal")]) for i in range(4)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print()
    print(f"oak root benchmarks ({'quick' if r['quick'] else 'full'}: {r['services']:,} services, "
          f"{r['duration_s']} s wrk runs, {r['connections']} connections, {r['cores']} cores, "
          f"load {r['load_before'][0]:.2f} before / {r['load_after'][0]:.2f} after)")
    print(line(("measure", "Oak", "baseline", "goal")))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print()
    print(f"- login took {r['login_ms']:.0f} ms; creating {r['stored_services']:,} services took "
          f"{r['populate_s']:.1f} s (slowest POST {r['populate_slowest_request_s']:.2f} s); "
          f"data dir {r['data_dir_kb'] / 1024:.1f} MB")
    for key, name in (("wrk_healthz", "GET /healthz"), ("wrk_clusters", "GET /api/clusters/ (token check only)"),
                      ("wrk_service", "GET /api/service/<id> (one service, looked up by key)"),
                      ("wrk_services", f"GET /api/services/<appid> ({r['services_body_bytes']} B body)"),
                      ("wrk_deploy_nocluster", "POST /api/service/<id>/instance, no cluster registered"),
                      ("wrk_healthz_before_deploy", "GET /healthz (deploy baseline)"),
                      ("wrk_deploy", "POST /api/service/<id>/instance, with the cluster")):
        if r.get(key):
            print("- " + wrk_line(name, r[key]))
    print(f"- without a cluster the instances ended as {r['instances_nocluster']}")
    if r["wrk_deploy"]:
        print(f"- deploy run with {r['cluster']}: the dispatcher drained {r['drain_s']:.1f} s after wrk ended; "
              f"instances by status: {r['instances_by_status']}; the stand-in used {r['cluster_cpu_s']:.1f} s CPU")
    print(f"- RSS after the deploy runs {mb(r['after_deploy']['VmRSS']):.1f} MB")
    if r.get("cluster_stats"):
        print(f"- fake cluster: {r['cluster_stats'][0]}")
    if r.get("store_after_deploy"):
        print("- store and connections after the deploy runs: " +
              ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r["store_after_deploy"].items())))
    if r.get("push"):
        p = r["push"]
        cpu = f"{p['root_cpu_us_per_update']:.1f}" if p["root_cpu_us_per_update"] else "?"
        print(f"- status pushes: {p['clusters']} stand-in clusters holding {p['instances_held']:,.0f} instances sent "
              f"{p['pushes']:,.0f} pushes of up to {p['batch']} instances ({p['reported']:,.0f} reported, "
              f"{p['failed_pushes']:.0f} pushes failed); the root applied {p['applied']:,.0f} changes, "
              f"{cpu} us of root CPU each")


if __name__ == "__main__":
    sys.exit(main())
