#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace oak {

namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() { Close(0), Close(1); }
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void Close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

std::vector<std::string> MergedEnv(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    vars[kv.substr(0, eq)] = kv;
  }
  for (const auto& kv : extra) vars[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (auto& [k, kv] : vars) out.push_back(std::move(kv));
  return out;
}

std::string LastLine(const std::string& s) {
  size_t end = s.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  size_t start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

bool IsExecutable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string CommandResult::ErrorLine() const {
  if (timed_out) return "timed out";
  std::string line = LastLine(err);
  if (line.empty()) line = LastLine(out);
  if (!line.empty()) return line;
  if (signal != 0) return std::string("killed by signal ") + ::strsignal(signal);
  return "exit code " + std::to_string(exit_code);
}

std::optional<std::string> FindExecutable(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (IsExecutable(name)) return name;
    return std::nullopt;
  }
  std::string path = ::getenv("PATH") ? ::getenv("PATH") : "/usr/local/bin:/usr/bin:/bin";
  path += ":/usr/local/sbin:/usr/sbin:/sbin";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t colon = path.find(':', pos);
    if (colon == std::string::npos) colon = path.size();
    std::string dir = path.substr(pos, colon - pos);
    if (!dir.empty() && IsExecutable(dir + "/" + name)) return dir + "/" + name;
    pos = colon + 1;
  }
  return std::nullopt;
}

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnStdio& io, const std::vector<std::string>& env_extra,
                    const std::string& cwd) {
  if (argv.empty()) return Status::Invalid("empty command");
  auto exe = FindExecutable(argv[0]);
  if (!exe) return Status::NotFound(argv[0] + ": not found (is it installed?)");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const int std_fds[3] = {io.in, io.out, io.err};
  for (int target = 0; target < 3; ++target) {
    if (std_fds[target] >= 0) {
      posix_spawn_file_actions_adddup2(&fa, std_fds[target], target);
    } else {
      posix_spawn_file_actions_addopen(&fa, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  for (size_t i = 0; i < io.extra.size(); ++i) posix_spawn_file_actions_adddup2(&fa, io.extra[i], static_cast<int>(3 + i));
  posix_spawn_file_actions_addclosefrom_np(&fa, static_cast<int>(3 + io.extra.size()));
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env = MergedEnv(env_extra);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe->c_str(), &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Internal(argv[0] + ": cannot start: " + ::strerror(rc));
  return pid;
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const CommandOptions& opts) {
  Pipe in, out, err;
  if (!out.Open() || !err.Open() || (opts.stdin_data && !in.Open())) {
    return Status::Internal(std::string("pipe: ") + ::strerror(errno));
  }

  auto spawned = Spawn(argv, {opts.stdin_data ? in.fd[0] : -1, out.fd[1], err.fd[1], {}}, opts.env, opts.cwd);
  if (!spawned.ok()) return spawned.status();
  const pid_t pid = *spawned;
  in.Close(0), out.Close(1), err.Close(1);
  // A grandchild that keeps the pipes open (a daemon the tool started) must not hold us up: once
  // the child itself has exited, what is already buffered is read and the rest is not waited for.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

  CommandResult result;
  const std::string& input = opts.stdin_data ? *opts.stdin_data : std::string();
  size_t written = 0;
  if (opts.stdin_data) {
    ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
    if (input.empty()) in.Close(1);
  }
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  char buf[16384];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[4];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1, pid_i = -1;
    if (pidfd >= 0) pid_i = n, fds[n++] = {pidfd, POLLIN, 0};
    if (out.fd[0] >= 0) out_i = n, fds[n++] = {out.fd[0], POLLIN, 0};
    if (err.fd[0] >= 0) err_i = n, fds[n++] = {err.fd[0], POLLIN, 0};
    if (in.fd[1] >= 0) in_i = n, fds[n++] = {in.fd[1], POLLOUT, 0};
    int ready = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    auto drain = [&](int idx, Pipe& p, std::string& into) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = ::read(p.fd[0], buf, sizeof buf);
      if (got > 0) {
        size_t room = opts.max_output > into.size() ? opts.max_output - into.size() : 0;
        into.append(buf, std::min<size_t>(room, static_cast<size_t>(got)));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        p.Close(0);
      }
    };
    drain(out_i, out, result.out);
    drain(err_i, err, result.err);
    if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(in.fd[1], input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) in.Close(1);
      if (written == input.size()) in.Close(1);
    }
    if (pid_i >= 0 && (fds[pid_i].revents & POLLIN)) {
      for (Pipe* p : {&out, &err}) {
        if (p->fd[0] < 0) continue;
        ::fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
        std::string& into = p == &out ? result.out : result.err;
        ssize_t got;
        while ((got = ::read(p->fd[0], buf, sizeof buf)) > 0) {
          size_t room = opts.max_output > into.size() ? opts.max_output - into.size() : 0;
          into.append(buf, std::min<size_t>(room, static_cast<size_t>(got)));
        }
        p->Close(0);
      }
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  in.Close(1);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) result.signal = WTERMSIG(wstatus);
  return result;
}

Result<CommandResult> RunChecked(const std::vector<std::string>& argv, const CommandOptions& opts) {
  auto r = RunCommand(argv, opts);
  if (!r.ok()) return r;
  if (!r->ok()) {
    std::string tool = argv[0].substr(argv[0].rfind('/') + 1);
    return Status::Internal(tool + ": " + r->ErrorLine());
  }
  return r;
}

}  // namespace oak
