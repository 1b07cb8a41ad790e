#include "node/runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/subprocess.h"

namespace oak::node {

namespace {

constexpr int kStatusFd = 3;

void Answer(const std::string& line) {
  std::string l = line + "\n";
  (void)!::write(kStatusFd, l.data(), l.size());
  ::close(kStatusFd);
}

void WriteExit(const std::string& bundle, const nlohmann::json& j) {
  (void)WriteFileAtomic(bundle + "/exit.json", j.dump() + "\n", 0644);
}

// Appends container output to BUNDLE/log, rotating to log.1 past the cap.
class LogWriter {
 public:
  LogWriter(std::string path, uint64_t max) : path_(std::move(path)), max_(max) { Open(); }
  ~LogWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  void Write(const char* p, size_t n) {
    if (fd_ < 0) return;
    if (size_ + n > max_ && size_ > 0) {
      ::close(fd_);
      ::rename(path_.c_str(), (path_ + ".1").c_str());
      Open();
    }
    if (::write(fd_, p, n) > 0) size_ += n;
  }

 private:
  void Open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    off_t end = fd_ >= 0 ? ::lseek(fd_, 0, SEEK_END) : 0;
    size_ = end > 0 ? static_cast<uint64_t>(end) : 0;
  }
  std::string path_;
  uint64_t max_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::string ReadAll(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : std::string();
}

}  // namespace

std::string RuncLogError(const std::string& log_text) {
  std::istringstream in(log_text);
  std::string line, last;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    auto level = j.value("level", "");
    if ((level == "error" || level == "fatal") && j.contains("msg") && j["msg"].is_string()) {
      last = j["msg"].get<std::string>();
    }
  }
  return last;
}

uint64_t OomKills(const std::string& cgroups_path) {
  if (cgroups_path.empty()) return 0;
  for (const std::string& file : {"/sys/fs/cgroup" + cgroups_path + "/memory.events",
                                 "/sys/fs/cgroup/memory" + cgroups_path + "/memory.oom_control"}) {
    std::istringstream in(ReadAll(file));
    std::string key;
    uint64_t value = 0;
    bool found = false;
    while (in >> key >> value) {
      if (key == "oom_kill") return value;
      found = true;
    }
    if (found) return 0;
  }
  return 0;
}

int RunShim(const ShimOptions& o) {
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::fcntl(kStatusFd, F_SETFD, FD_CLOEXEC);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    Answer(std::string("error pipe: ") + ::strerror(errno));
    return 1;
  }
  const std::string runc_log = o.bundle + "/runc.log";
  const std::string pid_file = o.bundle + "/container.pid";
  ::unlink(runc_log.c_str());
  ::unlink(pid_file.c_str());
  std::vector<std::string> argv = {o.runc, "--root", o.runc_root, "--log", runc_log, "--log-format", "json",
                                   "run", "--detach", "--bundle", o.bundle, "--pid-file", pid_file, o.id};
  SpawnStdio io;
  io.out = io.err = out[1];
  auto spawned = Spawn(argv, io);
  ::close(out[1]);
  if (!spawned.ok()) {
    std::string msg = spawned.status().message();
    WriteExit(o.bundle, {{"error", msg}});
    Answer("error " + msg);
    return 1;
  }
  const pid_t runc = *spawned;

  LogWriter log(o.bundle + "/log", o.log_max);
  char buf[16384];
  std::string runc_output;  // what runc itself printed before the container took over the pipe
  int status = 0;
  while (::waitpid(runc, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) runc_output.append(buf, static_cast<size_t>(n));
    std::string msg = RuncLogError(ReadAll(runc_log));
    if (msg.empty()) {
      auto end = runc_output.find_last_not_of("\r\n ");
      msg = end == std::string::npos ? "runc run failed" : runc_output.substr(0, end + 1);
      msg = msg.substr(msg.rfind('\n') == std::string::npos ? 0 : msg.rfind('\n') + 1);
    }
    WriteExit(o.bundle, {{"error", msg}});
    Answer("error " + msg);
    return 1;
  }
  pid_t container = 0;
  {
    std::string p = ReadAll(pid_file);
    container = static_cast<pid_t>(std::atol(p.c_str()));
  }
  if (container <= 0) {
    WriteExit(o.bundle, {{"error", "runc wrote no container pid"}});
    Answer("error runc wrote no container pid");
    return 1;
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, container, 0));
  Answer("ok " + std::to_string(container));

  // Copy output until the container's process has ended; its pid namespace ends with it, so the
  // pipe drains shortly after.
  bool exited = false;
  int wstatus = 0;
  auto drain_deadline = std::chrono::steady_clock::time_point::max();
  while (true) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    int timeout = exited ? 100 : (pidfd < 0 ? 500 : -1);
    int n = ::poll(fds, pidfd >= 0 && !exited ? 2 : 1, timeout);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = ::read(out[0], buf, sizeof buf);
      if (got > 0) {
        log.Write(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (exited) break;
        ::close(out[0]);
        out[0] = -1;
      }
    }
    if (!exited) {
      pid_t w = ::waitpid(container, &wstatus, WNOHANG);
      if (w == container || (w < 0 && errno == ECHILD)) {
        exited = true;
        drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
    }
    if (out[0] < 0 && !exited) {
      // Output closed early (the container closed its stdio): just wait for the process.
      while (::waitpid(container, &wstatus, 0) < 0 && errno == EINTR) {
      }
      exited = true;
      break;
    }
    if (exited && std::chrono::steady_clock::now() > drain_deadline) break;
  }
  // Reap whatever else the container left reparented to us.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  nlohmann::json exit = {{"finished_at", static_cast<int64_t>(std::time(nullptr))}};
  if (WIFSIGNALED(wstatus)) {
    exit["signal"] = WTERMSIG(wstatus);
  } else {
    exit["exit_code"] = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  }
  if (OomKills(o.cgroup) > 0) exit["oom"] = true;
  WriteExit(o.bundle, exit);
  return 0;
}

}  // namespace oak::node
