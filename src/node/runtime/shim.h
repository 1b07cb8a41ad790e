// `oak shim`: the small per-container supervisor between the node engine and runc, so that
// containers outlive a restart of the engine (docs/node.md, "Containers").
//
// The engine starts one shim per instance with a status pipe on descriptor 3. The shim leaves the
// engine's session, becomes the child subreaper, runs `runc run --detach` with the container's
// stdout and stderr on a pipe it owns, and answers on descriptor 3 with one line: `ok <pid>` once
// the container runs, or `error <runc's error line>`. It then copies the container's output into
// BUNDLE/log (at most `log_max` bytes; the older part is kept in BUNDLE/log.1), reaps the
// container's process when it ends, and writes BUNDLE/exit.json atomically:
//   {"exit_code": N} or {"signal": N}, plus "oom": true when the cgroup recorded an OOM kill,
//   "finished_at" (Unix seconds), or {"error": "..."} when the container never started.
// Invariant: exit.json exists exactly when the container's process is gone (or never ran).
#pragma once

#include <cstdint>
#include <string>

namespace oak::node {

struct ShimOptions {
  std::string bundle;      // absolute bundle dir (config.json, rootfs)
  std::string id;          // runc container id
  std::string runc = "runc";
  std::string runc_root;   // runc --root: the node's own state dir
  std::string cgroup;      // the container's cgroupsPath, to read its OOM counter after it ended
  uint64_t log_max = 1 << 20;
};

// The process exit code: 0 once exit.json is written, 1 when the container could not start.
int RunShim(const ShimOptions& o);

// Reads the OOM-kill counter of a cgroup (v2 memory.events, else v1 memory.oom_control); 0 when
// neither exists.
uint64_t OomKills(const std::string& cgroups_path);

// The last error message runc wrote to its JSON log (`--log-format json`), or "".
std::string RuncLogError(const std::string& log_text);

}  // namespace oak::node
