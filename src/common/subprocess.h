// Running external tools (runc, skopeo, umoci, ip, nft): one blocking call that starts a program
// without a shell, feeds it optional input, collects its output and enforces a deadline.
//
// RunCommand blocks the calling thread: call it from a worker pool, never from an event loop.
// Invariants: the child never inherits the caller's other descriptors (every descriptor Oak opens is
// close-on-exec, and the child's stdio are fresh pipes or /dev/null); a child that outlives its
// deadline is killed with SIGKILL and reaped before RunCommand returns.
#pragma once

#include <chrono>
#include <optional>
#include <sys/types.h>
#include <string>
#include <vector>

#include "common/status.h"

namespace oak {

struct CommandOptions {
  std::optional<std::string> stdin_data{};       // nullopt: stdin is /dev/null
  std::chrono::milliseconds timeout{60'000};     // then SIGKILL; the result says it timed out
  size_t max_output = 1 << 20;                   // bytes kept per stream; the rest is read and dropped
  std::vector<std::string> env{};                // "KEY=VALUE" added to (or replacing in) the environment
  std::string cwd{};                             // empty: the caller's
};

struct CommandResult {
  int exit_code = -1;   // valid when signal == 0
  int signal = 0;       // the signal that ended it, 0 if it exited
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return signal == 0 && exit_code == 0 && !timed_out; }
  // The tool's own last stderr line (else stdout's), or how it ended: what a user should see.
  std::string ErrorLine() const;
};

// Descriptors a spawned child gets: each of `in`, `out`, `err` is dup'ed to 0, 1, 2 (-1: /dev/null),
// and `extra` to 3, 4, ... in order. Nothing else is inherited.
struct SpawnStdio {
  int in = -1, out = -1, err = -1;
  std::vector<int> extra;
};

// Starts argv[0] (looked up like FindExecutable) with default signal handling and an empty signal
// mask, and returns at once; the caller reaps the child. `env` as in CommandOptions.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnStdio& io, const std::vector<std::string>& env = {},
                    const std::string& cwd = {});

// kNotFound when argv[0] cannot be executed, kInvalid for an empty argv; otherwise the result,
// whatever the exit code.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const CommandOptions& opts = {});

// Runs and turns anything but exit 0 into kInternal "<tool>: <its error line>".
Result<CommandResult> RunChecked(const std::vector<std::string>& argv, const CommandOptions& opts = {});

// The absolute path of `name` found in $PATH (and /usr/sbin, /sbin, which root's tools live in),
// or nullopt. A name containing '/' is returned as it is when executable.
std::optional<std::string> FindExecutable(const std::string& name);

}  // namespace oak
