// Child processes and temporary directories for integration tests. Everything a test starts is
// stopped by PID and everything it creates is removed, also when the test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace oak::testing {

// A fresh directory under $TMPDIR (or /tmp) named oak-test-<name>-<random>; removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& leaf) const { return path_ + "/" + leaf; }

 private:
  std::string path_;
};

class Process {
 public:
  // Starts `argv` with stdout and stderr appended to `log_path`.
  Process(std::vector<std::string> argv, const std::string& log_path, std::vector<std::string> extra_env = {});
  ~Process();  // SIGKILL and reap if still running
  Process(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Sends `sig` and waits up to `timeout` for the exit; answers the wait status, or -1.
  int Stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// The value of `name` in the environment `pid`'s program started with (/proc/PID/environ); "" if unset.
std::string EnvironOf(pid_t pid, const std::string& name);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
uint16_t FreePort();

// A listening TCP socket on 127.0.0.1 at an ephemeral port, closed on destruction: a port that
// stays busy for as long as the test holds it. port() is 0 when it could not be opened.
class HeldPort {
 public:
  explicit HeldPort(int backlog = 1);
  ~HeldPort();
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs `io`'s handlers on this thread until `cond` holds or `timeout` passes.
bool PumpUntil(boost::asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace oak::testing
