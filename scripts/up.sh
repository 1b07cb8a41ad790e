#!/usr/bin/env bash
# Starts the root orchestrator on this machine with its data in ~/.local/share/oak and shows how
# to use it. Ctrl-C stops it.
set -euo pipefail
build=${1:-build}
data=${OAK_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/oak}
port=${OAK_PORT:-10000}
password=${OAK_ADMIN_PASSWORD:-Admin}
mkdir -p "$data"
cat <<MSG

  Oak root orchestrator
  API:        http://127.0.0.1:$port   (OpenAPI: /api/docs, metrics: /metrics)
  login:      Admin / $password
  data:       $data/root
  cluster join token: $data/root/cluster.token

  Next, in another terminal:
    $build/oak login --api http://127.0.0.1:$port -u Admin -p $password
    $build/oak apply examples/hello.json
    $build/oak app ls
    $build/oak svc ls

MSG
exec "$build/oak" root --data-dir "$data/root" --listen "0.0.0.0:$port" --admin-password "$password"
