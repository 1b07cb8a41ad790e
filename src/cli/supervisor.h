// The process supervisor behind `oak up`: starts children by PID, each in its own process group
// with its output appended to its log file, restarts a child that dies with back-off, and stops
// them all in reverse start order (SIGTERM, then SIGKILL after a grace period).
//
// Single-threaded and blocking: the owner calls Poll() in its loop. Invariants: every child is
// reaped by its own PID (waitpid(pid), never waitpid(-1), so RunCommand's children stay its own);
// a child gets SIGTERM when the supervisor dies (PR_SET_PDEATHSIG), so nothing outlives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace oak::cli {

using SteadyTime = std::chrono::steady_clock::time_point;

// When to restart a child that exited. Delays double from `first` up to `max`; a child that ran
// at least `stable` before it exited starts again from `first`. After `max_attempts` restarts in a
// row that each died before `stable`, the child is given up on.
class RestartBackoff {
 public:
  struct Options {
    std::chrono::milliseconds first{1000};
    std::chrono::milliseconds max{30'000};
    std::chrono::milliseconds stable{60'000};
    int max_attempts = 5;
  };
  RestartBackoff() : RestartBackoff(Options{}) {}
  explicit RestartBackoff(Options o) : o_(o) {}

  // Records an exit after the child ran for `uptime`; answers the delay before the next start, or
  // nullopt when the child is given up on.
  std::optional<std::chrono::milliseconds> OnExit(std::chrono::milliseconds uptime);
  int attempts() const { return attempts_; }  // restarts in a row so far

 private:
  Options o_;
  int attempts_ = 0;
};

// How a child ended, for people: "exited with code 2", "was killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

// The last `lines` lines of a file (empty if it cannot be read), each indented by two spaces.
std::string LogTail(const std::string& path, size_t lines = 15);

struct ChildSpec {
  std::string name;               // "root", "cluster", "node-1", "registry"
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::string log_path;
  std::vector<std::string> env;  // "KEY=VALUE" added to the environment
};

class Supervisor {
 public:
  // Called for every line of news ("node-2 (pid 41) was killed by signal 9 ...").
  using Reporter = std::function<void(const std::string&)>;

  Supervisor(std::string pid_file, Reporter report, RestartBackoff::Options backoff = {});
  ~Supervisor();  // StopAll()
  Supervisor(const Supervisor&) = delete;

  // Starts a child; its PID goes into the PID file.
  Result<pid_t> Start(ChildSpec spec);
  // The PID of the running child `name`, or -1.
  pid_t Pid(const std::string& name) const;
  // True while `name` has not exited (reaps it if it has).
  bool Alive(const std::string& name);
  // The first child that has exited (reaping them all), or empty when every child runs.
  std::string FirstExited();

  // While `restart` is false an exit is only recorded (startup: the caller reports and gives up).
  void EnableRestarts(bool restart) { restart_ = restart; }
  // Reaps exited children, reports them with their log tail and restarts them when due. A Status
  // when a child was given up on (then the caller stops everything and exits non-zero).
  Status Poll();

  // Stops every child in reverse start order: SIGTERM to its process group, SIGKILL after `grace`.
  void StopAll(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  struct Child {
    ChildSpec spec;
    pid_t pid = -1;
    SteadyTime started{};
    std::optional<SteadyTime> restart_at;
    RestartBackoff backoff;
    int last_status = 0;
  };
  Status Spawn(Child& c);
  bool Reap(Child& c);  // true when it exited just now
  void WritePidFile() const;

  std::string pid_file_;
  Reporter report_;
  RestartBackoff::Options backoff_opts_;
  std::vector<Child> children_;
  bool restart_ = false;
};

}  // namespace oak::cli
