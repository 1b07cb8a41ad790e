#include "cli/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.h"

extern char** environ;

namespace oak::cli {

using std::chrono::milliseconds;

std::optional<milliseconds> RestartBackoff::OnExit(milliseconds uptime) {
  if (uptime >= o_.stable) attempts_ = 0;
  if (attempts_ >= o_.max_attempts) return std::nullopt;
  milliseconds delay = o_.first;
  for (int i = 0; i < attempts_ && delay < o_.max; ++i) delay *= 2;
  ++attempts_;
  return std::min(delay, o_.max);
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return "was killed by signal " + std::to_string(WTERMSIG(st)) + " (" + ::strsignal(WTERMSIG(st)) + ")";
  return "ended with wait status " + std::to_string(st);
}

std::string LogTail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  " + l + "\n";
  return out;
}

Supervisor::Supervisor(std::string pid_file, Reporter report, RestartBackoff::Options backoff)
    : pid_file_(std::move(pid_file)), report_(std::move(report)), backoff_opts_(backoff) {}

Supervisor::~Supervisor() { StopAll(); }

Status Supervisor::Spawn(Child& c) {
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    bool replaced = std::any_of(c.spec.env.begin(), c.spec.env.end(), [&](const std::string& add) {
      return kv.substr(0, kv.find('=') + 1) == std::string_view(add).substr(0, add.find('=') + 1);
    });
    if (!replaced) env_store.emplace_back(kv);
  }
  env_store.insert(env_store.end(), c.spec.env.begin(), c.spec.env.end());
  std::vector<char*> argv, envp;
  for (auto& a : c.spec.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  int log_fd = ::open(c.spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::Internal("cannot open " + c.spec.log_path + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Status::Internal("fork failed for " + c.spec.name + ": " + std::strerror(errno));
  }
  if (pid == 0) {
    // Its own process group: a Ctrl-C at the terminal reaches only the supervisor, which then
    // stops the children in order.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died before prctl took effect
    ::signal(SIGPIPE, SIG_DFL);  // ignored by the supervisor; an ignored signal survives exec
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    const char msg[] = "oak up: exec failed\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a StopAll right after fork finds the group
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  c.pid = pid;
  c.started = std::chrono::steady_clock::now();
  c.restart_at.reset();
  WritePidFile();
  return Status::Ok();
}

Result<pid_t> Supervisor::Start(ChildSpec spec) {
  children_.push_back(Child{.spec = std::move(spec), .restart_at = std::nullopt, .backoff = RestartBackoff(backoff_opts_)});
  if (Status s = Spawn(children_.back()); !s.ok()) {
    children_.pop_back();
    return s;
  }
  return children_.back().pid;
}

pid_t Supervisor::Pid(const std::string& name) const {
  for (const auto& c : children_)
    if (c.spec.name == name) return c.pid;
  return -1;
}

bool Supervisor::Reap(Child& c) {
  if (c.pid <= 0) return false;
  int st = 0;
  pid_t r = ::waitpid(c.pid, &st, WNOHANG);
  if (r == 0) return false;
  // Anything the role left in its process group (mosquitto under the cluster) goes with it.
  ::kill(-c.pid, SIGKILL);
  c.last_status = r == c.pid ? st : 0;
  c.pid = -1;
  WritePidFile();
  return true;
}

bool Supervisor::Alive(const std::string& name) {
  for (auto& c : children_)
    if (c.spec.name == name) {
      Reap(c);
      return c.pid > 0;
    }
  return false;
}

std::string Supervisor::FirstExited() {
  for (auto& c : children_) {
    Reap(c);
    if (c.pid <= 0) return c.spec.name;
  }
  return {};
}

Status Supervisor::Poll() {
  auto now = std::chrono::steady_clock::now();
  for (auto& c : children_) {
    pid_t old_pid = c.pid;
    if (Reap(c)) {
      auto uptime = std::chrono::duration_cast<milliseconds>(now - c.started);
      std::string what = c.spec.name + " (pid " + std::to_string(old_pid) + ") " + DescribeWaitStatus(c.last_status);
      std::string tail = LogTail(c.spec.log_path);
      if (!restart_) {
        report_(what + "; last lines of " + c.spec.log_path + ":\n" + tail);
        continue;
      }
      auto delay = c.backoff.OnExit(uptime);
      if (!delay) {
        report_(what + "; last lines of " + c.spec.log_path + ":\n" + tail);
        return Status::Unavailable("cannot keep " + c.spec.name + " running: it died " +
                                   std::to_string(c.backoff.attempts() + 1) +
                                   " times in a row shortly after starting (see " + c.spec.log_path + ")");
      }
      report_(what + "; " +
              fmt::format("restarting it in {:.1f} s (restart {} of at most {} in a row)", delay->count() / 1000.0,
                          c.backoff.attempts(), backoff_opts_.max_attempts) +
              "; last lines of " + c.spec.log_path + ":\n" + tail);
      c.restart_at = now + *delay;
    }
    if (c.pid <= 0 && c.restart_at && now >= *c.restart_at) {
      if (Status s = Spawn(c); !s.ok()) return s;
      report_("restarted " + c.spec.name + " (pid " + std::to_string(c.pid) + ")");
    }
  }
  return Status::Ok();
}

void Supervisor::StopAll(milliseconds grace) {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    Child& c = *it;
    c.restart_at.reset();
    if (c.pid <= 0) continue;
    pid_t pid = c.pid;
    ::kill(pid, SIGTERM);
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + grace;
    while (!Reap(c) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(20));
    if (c.pid > 0) {
      report_(c.spec.name + " (pid " + std::to_string(pid) + ") ignored SIGTERM for " +
              std::to_string(grace.count() / 1000) + " s; killing it");
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      int st = 0;
      ::waitpid(pid, &st, 0);
      c.pid = -1;
    } else {
      report_(fmt::format("stopped {} (pid {}) in {:.1f} s", c.spec.name, pid,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
    }
  }
  children_.clear();
  if (!pid_file_.empty()) ::unlink(pid_file_.c_str());
}

void Supervisor::WritePidFile() const {
  if (pid_file_.empty()) return;
  nlohmann::json j = {{"supervisor", ::getpid()}};
  for (const auto& c : children_)
    if (c.pid > 0) j[c.spec.name] = c.pid;
  // Best effort: the file is for people and tests; supervision does not depend on it.
  (void)WriteFileAtomic(pid_file_, j.dump() + "\n", 0644);
}

}  // namespace oak::cli
