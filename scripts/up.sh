#!/usr/bin/env bash
# Starts an all-in-one Oak on this machine: the root, one cluster (with its mosquitto) and one
# node, all on 127.0.0.1, with their data under ~/.local/share/oak; then deploys the demo app.
# Ctrl-C stops everything.
set -euo pipefail
build=${1:-build}
oak="$build/oak"
data=${OAK_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/oak}
port=${OAK_PORT:-10000}
cluster_port=${OAK_CLUSTER_PORT:-10100}
mqtt_port=${OAK_MQTT_PORT:-10003}
password=${OAK_ADMIN_PASSWORD:-Admin}
mkdir -p "$data"
pids=()
stop() {
  trap - INT TERM EXIT
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_http() {  # URL, what
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "$2 did not come up; see $data/*.log" >&2
  exit 1
}

# The cluster token is shared between root and cluster through the root's data dir.
"$oak" root --data-dir "$data/root" --listen "127.0.0.1:$port" --admin-password "$password" \
  2>>"$data/root.log" &
pids+=($!)
wait_http "http://127.0.0.1:$port/healthz" "oak root"
"$oak" cluster --data-dir "$data/cluster" --root "http://127.0.0.1:$port" \
  --cluster-token "$(cat "$data/root/cluster.token")" --name local --location "48.14,11.58,50" \
  --listen "127.0.0.1:$cluster_port" --mqtt-listen "127.0.0.1:$mqtt_port" 2>>"$data/cluster.log" &
pids+=($!)
wait_http "http://127.0.0.1:$cluster_port/healthz" "oak cluster"
"$oak" node --data-dir "$data/node" --cluster "http://127.0.0.1:$cluster_port" \
  --node-token "$(cat "$data/cluster/node.token")" --name "$(hostname)" 2>>"$data/node.log" &
pids+=($!)

"$oak" login --api "http://127.0.0.1:$port" -u Admin -p "$password" >/dev/null
echo "Waiting for the node to join..."
for _ in $(seq 1 100); do
  "$oak" clusters --json 2>/dev/null | grep -q '"active_nodes": *[1-9]' && break
  sleep 0.2
done
if ! "$oak" app ls 2>/dev/null | grep -q '^hello'; then
  "$oak" apply examples/hello.json --deploy
fi
for _ in $(seq 1 50); do
  "$oak" svc ls 2>/dev/null | grep -q RUNNING && break
  sleep 0.2
done
"$oak" svc ls

cat <<MSG

  Oak is running (root, cluster "local", node "$(hostname)"; Ctrl-C stops all three)
  API:        http://127.0.0.1:$port   (OpenAPI: /api/docs, metrics: /metrics)
  login:      Admin / $password
  data, logs: $data
  This build's node engine runs the simulated runtime: instances go through their states without
  processes.

  Next, in another terminal:
    $oak svc ls
    $oak nodes
    $oak svc show hello.demo.web.demo
    $oak app rm hello

MSG
wait -n "${pids[@]}"
echo "a process of Oak exited; stopping the others (logs in $data)" >&2
