#include "node/runtime/runc.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/subprocess.h"
#include "node/runtime/shim.h"

namespace oak::node {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

CommandOptions Within(std::chrono::milliseconds timeout) {
  CommandOptions o;
  o.timeout = timeout;
  return o;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Waits until the process behind `pidfd` has ended, at most `timeout`. True when it has.
bool WaitGone(int pidfd, std::chrono::milliseconds timeout) {
  if (pidfd < 0) return true;
  pollfd p{pidfd, POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  return n > 0;
}

// True when `pid` is the shim of `bundle` (a pid file may outlive its process and the pid be reused).
bool IsShimOf(pid_t pid, const std::string& bundle) {
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok()) return false;
  std::string args = *cmdline;
  for (char& c : args) c = c == '\0' ? ' ' : c;
  return args.find(" shim ") != std::string::npos && args.find(bundle) != std::string::npos;
}

}  // namespace

RuncRuntime::RuncRuntime(asio::any_io_executor loop, RuncOptions opts, ImageSource& images, InstanceNetwork* network)
    : loop_(std::move(loop)),
      opts_(std::move(opts)),
      images_(images),
      network_(network),
      pool_(static_cast<size_t>(std::max(1, opts_.workers))),
      runc_root_(opts_.data_dir + "/runc"),
      containers_dir_(opts_.data_dir + "/containers") {
  if (opts_.node_memory_mb <= 0) opts_.node_memory_mb = HostMemoryMb();
}

RuncRuntime::~RuncRuntime() {
  Shutdown();
  pool_.join();
}

std::string RuncRuntime::BundleDir(const InstanceKey& key) const { return containers_dir_ + "/" + ContainerId(key); }
std::string RuncRuntime::CgroupPath(const InstanceKey& key) const {
  return "/oak-" + opts_.node_tag + "/" + ContainerId(key);
}

Status RuncRuntime::Start() {
  auto runc = FindExecutable(opts_.runc);
  if (!runc) return Status::Unavailable("runc not found (install the runc package, or pass --runc PATH)");
  opts_.runc = *runc;
  OAK_RETURN_IF_ERROR(EnsureDir(opts_.data_dir));
  OAK_RETURN_IF_ERROR(EnsureDir(runc_root_));
  OAK_RETURN_IF_ERROR(EnsureDir(containers_dir_));
  Adopt();
  return Status::Ok();
}

void RuncRuntime::Emit(InstanceStatus st) {
  asio::post(loop_, [this, alive = alive_, st = std::move(st)] {
    if (*alive && handler_) handler_(st);
  });
}

void RuncRuntime::Set(const InstanceKey& key, Instance& inst, std::string status, std::string detail) {
  inst.status = std::move(status);
  inst.detail = std::move(detail);
  Emit({key, inst.status, inst.detail});
}

Status RuncRuntime::Deploy(const DeploySpec& spec) {
  if (spec.virtualization != "container") {
    return Status::Invalid("virtualization: the runc runtime runs containers, not '" + spec.virtualization + "'");
  }
  if (spec.image.empty()) return Status::Invalid("code: the service names no image");
  auto it = instances_.find(spec.key);
  if (it != instances_.end()) {
    Instance& inst = it->second;
    if (!HasEnded(inst.status) || inst.remove_wanted) {
      return Status::Conflict(spec.key.ContainerName() + " is " + inst.status);
    }
    if (inst.busy) {  // still cleaning up after its end: deploy once that is done
      inst.redeploy = spec;
      return Status::Ok();
    }
    inst.spec = spec;
  } else {
    it = instances_.emplace(spec.key, Instance{}).first;
    it->second.spec = spec;
  }
  StartDeploy(spec.key);
  return Status::Ok();
}

void RuncRuntime::StartDeploy(const InstanceKey& key) {
  Instance& inst = instances_.at(key);
  inst.busy = true;
  inst.generation = next_generation_++;
  inst.shim_watch.reset();
  inst.shim_pid = 0;
  Set(key, inst, "CREATING");
  asio::post(pool_, [this, alive = alive_, spec = inst.spec, gen = inst.generation] {
    StartResult r = DeployBlocking(spec, gen);
    asio::post(loop_, [this, alive, key = spec.key, gen, r = std::move(r)]() mutable {
      if (*alive) OnStarted(key, gen, std::move(r));
    });
  });
}

RuncRuntime::StartResult RuncRuntime::DeployBlocking(const DeploySpec& spec, uint64_t) {
  const std::string bundle = BundleDir(spec.key);
  const std::string id = ContainerId(spec.key);
  auto fail = [&](const Status& s) {
    // Nothing of a failed start may hold resources (ports, addresses, mounts); the bundle stays
    // with exit.json and logs until the instance is removed.
    RunCommand({opts_.runc, "--root", runc_root_, "delete", "--force", id}, Within(std::chrono::seconds(30)));
    if (network_) (void)network_->Detach(id);
    (void)images_.ReleaseRootfs(bundle);
    // A full or read-only data directory says so, and which directory it is.
    Status why = InDataDir(s, opts_.data_dir);
    (void)WriteFileAtomic(bundle + "/exit.json", json{{"error", why.message()}}.dump() + "\n", 0644);
    return StartResult{why, 0};
  };
  // Per-stage timing for the debug log (bench/node/runc_bench.py reads it).
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  const Clock::time_point t_start = Clock::now();
  if (Status s = RemoveBlocking(spec.key, 0); !s.ok()) return StartResult{s, 0};  // leftovers of an earlier run
  if (Status s = EnsureDir(bundle); !s.ok()) return StartResult{InDataDir(s, opts_.data_dir), 0};
  json meta = {{"job_name", spec.key.job_name}, {"instance_number", spec.key.instance}, {"service", spec.doc}};
  if (Status s = WriteFileAtomic(bundle + "/instance.json", meta.dump(), 0600); !s.ok()) return fail(s);

  const Clock::time_point t_prepared = Clock::now();
  auto image = images_.Ensure(spec.image);
  if (!image.ok()) return fail(image.status());
  const Clock::time_point t_image = Clock::now();
  if (Status s = images_.PrepareRootfs(*image, bundle); !s.ok()) return fail(s);
  const Clock::time_point t_rootfs = Clock::now();

  OciSpecInput in;
  in.hostname = id.size() > 63 ? id.substr(0, 63) : id;
  in.cgroups_path = CgroupPath(spec.key);
  in.privileged = spec.doc.is_object() && spec.doc.value("privileged", false) == true;
  if (auto p = ReadFile(image->rootfs + "/etc/passwd"); p.ok()) in.passwd = *p;
  if (auto g = ReadFile(image->rootfs + "/etc/group"); g.ok()) in.group = *g;
  if (network_) {
    std::vector<model::PortMapping> ports;
    if (spec.doc.is_object() && spec.doc.contains("port") && spec.doc["port"].is_string()) {
      auto parsed = model::ParsePortMappings(spec.doc["port"].get<std::string>());
      if (!parsed.ok()) return fail(Status::Invalid("port: " + parsed.status().message()));
      ports = *parsed;
    }
    auto att = network_->Attach(id, ports);
    if (!att.ok()) return fail(att.status());
    in.netns_path = att->netns_path;
  }
  const Clock::time_point t_network = Clock::now();
  ImageRunConfig run{image->entrypoint, image->cmd, image->env, image->working_dir, image->user};
  auto config = BuildOciConfig(spec, run, in);
  if (!config.ok()) return fail(config.status());
  if (Status s = WriteFileAtomic(bundle + "/config.json", config->dump(2), 0600); !s.ok()) return fail(s);

  const Clock::time_point t_config = Clock::now();
  // The shim answers on descriptor 3: "ok <pid>" or "error <message>".
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) return fail(Status::Internal(std::string("pipe: ") + ::strerror(errno)));
  std::vector<std::string> argv = {opts_.shim_exe, "shim", "--bundle", bundle, "--id", id, "--runc", opts_.runc,
                                   "--runc-root", runc_root_, "--cgroup", in.cgroups_path,
                                   "--log-max", std::to_string(opts_.log_max_bytes)};
  SpawnStdio io;
  io.extra = {status_pipe[1]};
  auto spawned = Spawn(argv, io);
  ::close(status_pipe[1]);
  if (!spawned.ok()) {
    ::close(status_pipe[0]);
    return fail(Status::Internal("cannot start the shim: " + spawned.status().message()));
  }
  const pid_t shim = *spawned;
  (void)WriteFileAtomic(bundle + "/shim.pid", std::to_string(shim) + "\n", 0600);

  std::string answer;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + opts_.start_timeout;
  while (answer.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{status_pipe[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t got = ::read(status_pipe[0], buf, sizeof buf);
    if (got <= 0) break;
    answer.append(buf, static_cast<size_t>(got));
  }
  ::close(status_pipe[0]);
  if (answer.rfind("ok ", 0) == 0) {
    const Clock::time_point t_end = Clock::now();
    spdlog::debug("msg=\"deploy timing\" instance={} prepare_ms={:.2f} image_ms={:.2f} rootfs_ms={:.2f} network_ms={:.2f} "
                  "config_ms={:.2f} shim_ms={:.2f} total_ms={:.2f}",
                  id, ms(t_start, t_prepared), ms(t_prepared, t_image), ms(t_image, t_rootfs), ms(t_rootfs, t_network),
                  ms(t_network, t_config), ms(t_config, t_end), ms(t_start, t_end));
    return StartResult{Status::Ok(), shim};
  }
  // The shim has failed (and wrote exit.json) or hangs: make sure it is gone.
  ::kill(shim, SIGKILL);
  while (::waitpid(shim, nullptr, 0) < 0 && errno == EINTR) {
  }
  std::string msg = answer.rfind("error ", 0) == 0 ? answer.substr(6) : "";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (msg.empty()) msg = answer.empty() ? "the container did not start within " +
                                              std::to_string(opts_.start_timeout.count() / 1000) + " s"
                                        : answer;
  return fail(Status::Internal("runc: " + msg));
}

void RuncRuntime::OnStarted(const InstanceKey& key, uint64_t generation, StartResult r) {
  auto it = instances_.find(key);
  if (it == instances_.end() || it->second.generation != generation) return;
  Instance& inst = it->second;
  inst.busy = false;
  if (r.status.ok()) {
    inst.shim_pid = r.shim_pid;
    Set(key, inst, "RUNNING");
    Watch(key, inst);
  } else {
    Set(key, inst, "FAILED", r.status.message());
  }
  if (inst.remove_wanted) StartRemove(key);
}

void RuncRuntime::Watch(const InstanceKey& key, Instance& inst) {
  int fd = PidfdOpen(inst.shim_pid);
  if (fd < 0) {  // already gone
    asio::post(loop_, [this, alive = alive_, key, gen = inst.generation] {
      if (*alive) OnShimExit(key, gen);
    });
    return;
  }
  inst.shim_watch = std::make_unique<asio::posix::stream_descriptor>(loop_, fd);
  inst.shim_watch->async_wait(asio::posix::stream_descriptor::wait_read,
                              [this, alive = alive_, key, gen = inst.generation](boost::system::error_code ec) {
                                if (*alive && !ec) OnShimExit(key, gen);
                              });
}

void RuncRuntime::OnShimExit(const InstanceKey& key, uint64_t generation) {
  auto it = instances_.find(key);
  if (it == instances_.end() || it->second.generation != generation || it->second.busy) return;
  Instance& inst = it->second;
  inst.shim_watch.reset();
  if (inst.shim_pid > 0) ::waitpid(inst.shim_pid, nullptr, WNOHANG);  // ours unless adopted
  inst.shim_pid = 0;
  auto text = ReadFile(BundleDir(key) + "/exit.json");
  json exit = text.ok() ? json::parse(*text, nullptr, false) : json();
  InstanceStatus st = exit.is_object() ? StatusFromExit(key, exit, inst.spec.one_shot, inst.spec.memory_mb)
                                       : InstanceStatus{key, "DEAD", "the container's supervisor ended without a record"};
  Set(key, inst, st.status, st.detail);
  StartRelease(key);
}

void RuncRuntime::StartRelease(const InstanceKey& key) {
  Instance& inst = instances_.at(key);
  inst.busy = true;
  uint64_t gen = inst.generation;
  asio::post(pool_, [this, alive = alive_, key, gen] {
    ReleaseBlocking(key);
    asio::post(loop_, [this, alive, key, gen] {
      if (*alive) OnReleased(key, gen);
    });
  });
}

void RuncRuntime::ReleaseBlocking(const InstanceKey& key) {
  const std::string id = ContainerId(key);
  RunCommand({opts_.runc, "--root", runc_root_, "delete", "--force", id}, Within(std::chrono::seconds(30)));
  if (network_) {
    if (Status s = network_->Detach(id); !s.ok()) spdlog::warn("msg=\"cannot detach network\" instance={} error=\"{}\"", id, s.message());
  }
  if (Status s = images_.ReleaseRootfs(BundleDir(key)); !s.ok()) {
    spdlog::warn("msg=\"cannot release rootfs\" instance={} error=\"{}\"", id, s.message());
  }
}

void RuncRuntime::OnReleased(const InstanceKey& key, uint64_t generation) {
  auto it = instances_.find(key);
  if (it == instances_.end() || it->second.generation != generation) return;
  Instance& inst = it->second;
  inst.busy = false;
  if (inst.remove_wanted) {
    StartRemove(key);
  } else if (inst.redeploy) {
    inst.spec = std::move(*inst.redeploy);
    inst.redeploy.reset();
    StartDeploy(key);
  }
}

Status RuncRuntime::Remove(const InstanceKey& key) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return Status::NotFound(key.ContainerName() + " is not on this node");
  Instance& inst = it->second;
  inst.redeploy.reset();
  if (inst.busy) {
    inst.remove_wanted = true;
    return Status::Ok();
  }
  StartRemove(key);
  return Status::Ok();
}

void RuncRuntime::StartRemove(const InstanceKey& key) {
  Instance& inst = instances_.at(key);
  inst.busy = true;
  inst.remove_wanted = true;
  inst.shim_watch.reset();  // its end is expected now; no DEAD before UNDEPLOYED
  inst.generation = next_generation_++;
  asio::post(pool_, [this, alive = alive_, key, pid = inst.shim_pid] {
    Status s = RemoveBlocking(key, pid);
    asio::post(loop_, [this, alive, key, s] {
      if (*alive) OnRemoved(key, s);
    });
  });
}

Status RuncRuntime::RemoveBlocking(const InstanceKey& key, pid_t shim_pid) {
  const std::string bundle = BundleDir(key);
  const std::string id = ContainerId(key);
  std::error_code ec;
  if (!fs::exists(bundle, ec)) {
    if (network_) (void)network_->Detach(id);
    return Status::Ok();
  }
  if (shim_pid <= 0) {
    if (auto p = ReadFile(bundle + "/shim.pid"); p.ok()) shim_pid = static_cast<pid_t>(std::atol(p->c_str()));
  }
  int pidfd = shim_pid > 0 && IsShimOf(shim_pid, bundle) ? PidfdOpen(shim_pid) : -1;
  const CommandOptions quick = Within(std::chrono::seconds(30));
  if (pidfd >= 0) {
    RunCommand({opts_.runc, "--root", runc_root_, "kill", id, "TERM"}, quick);
    if (!WaitGone(pidfd, opts_.stop_grace)) {
      RunCommand({opts_.runc, "--root", runc_root_, "kill", "--all", id, "KILL"}, quick);
      if (!WaitGone(pidfd, std::chrono::seconds(10))) ::kill(shim_pid, SIGKILL);
    }
    ::close(pidfd);
    ::waitpid(shim_pid, nullptr, WNOHANG);
  }
  RunCommand({opts_.runc, "--root", runc_root_, "delete", "--force", id}, quick);
  if (network_) {
    if (Status s = network_->Detach(id); !s.ok()) return s;
  }
  if (Status s = images_.ReleaseRootfs(bundle); !s.ok()) return s;
  fs::remove_all(bundle, ec);
  if (ec) return Status::Internal("cannot remove " + bundle + ": " + ec.message());
  return Status::Ok();
}

void RuncRuntime::OnRemoved(const InstanceKey& key, Status s) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return;
  Instance& inst = it->second;
  inst.busy = false;
  if (!s.ok()) {
    spdlog::warn("msg=\"cannot remove instance\" instance={} error=\"{}\"", key.ContainerName(), s.message());
    inst.remove_wanted = false;
    Set(key, inst, "FAILED", "removal failed: " + s.message());
    return;
  }
  instances_.erase(it);
  Emit({key, "UNDEPLOYED", ""});
}

std::vector<InstanceStatus> RuncRuntime::List() const {
  std::vector<InstanceStatus> out;
  out.reserve(instances_.size());
  for (const auto& [key, inst] : instances_) out.push_back({key, inst.status, inst.detail});
  return out;
}

void RuncRuntime::Shutdown() {
  // Containers keep running under their shims; the next Start adopts them.
  *alive_ = false;
  for (auto& [key, inst] : instances_) inst.shim_watch.reset();
}

void RuncRuntime::Adopt() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(containers_dir_, ec)) {
    if (!entry.is_directory(ec)) continue;
    const std::string bundle = entry.path().string();
    auto meta_text = ReadFile(bundle + "/instance.json");
    json meta = meta_text.ok() ? json::parse(*meta_text, nullptr, false) : json();
    if (!meta.is_object() || !meta.contains("job_name") || !meta["job_name"].is_string() ||
        !meta.contains("instance_number") || !meta["instance_number"].is_number_integer()) {
      spdlog::warn("msg=\"removing a bundle without a readable instance.json\" bundle={}", bundle);
      (void)images_.ReleaseRootfs(bundle);
      fs::remove_all(bundle, ec);
      continue;
    }
    InstanceKey key{meta["job_name"].get<std::string>(), meta["instance_number"].get<int>()};
    if (BundleDir(key) != bundle) continue;
    Instance inst;
    inst.spec.key = key;
    inst.spec.doc = meta.value("service", json::object());
    inst.spec.one_shot = inst.spec.doc.is_object() && inst.spec.doc.value("one_shot", false) == true;
    if (inst.spec.doc.is_object() && inst.spec.doc.contains("memory") && inst.spec.doc["memory"].is_number()) {
      inst.spec.memory_mb = inst.spec.doc["memory"].get<int64_t>();
    }
    inst.generation = next_generation_++;
    auto exit_text = ReadFile(bundle + "/exit.json");
    pid_t shim = 0;
    if (auto p = ReadFile(bundle + "/shim.pid"); p.ok()) shim = static_cast<pid_t>(std::atol(p->c_str()));
    auto [it, _] = instances_.emplace(key, std::move(inst));
    if (exit_text.ok()) {
      json exit = json::parse(*exit_text, nullptr, false);
      InstanceStatus st = exit.is_object() ? StatusFromExit(key, exit, it->second.spec.one_shot, it->second.spec.memory_mb)
                                           : InstanceStatus{key, "DEAD", "unreadable exit record"};
      Set(key, it->second, st.status, st.detail);
      StartRelease(key);
    } else if (shim > 0 && IsShimOf(shim, bundle)) {
      it->second.shim_pid = shim;
      Set(key, it->second, "RUNNING");
      Watch(key, it->second);
    } else {
      Set(key, it->second, "DEAD", "the container's supervisor was gone when the node engine started");
      StartRelease(key);
    }
    spdlog::info("msg=\"adopted instance\" instance={} status={}", key.ContainerName(), it->second.status);
  }
}

Status RuncRuntime::RemoveAll() {
  std::error_code ec;
  std::vector<InstanceKey> keys;
  for (const auto& [key, inst] : instances_) keys.push_back(key);
  // Everything gets SIGTERM first, so the grace periods run together rather than one after another.
  for (const auto& key : keys) {
    RunCommand({opts_.runc, "--root", runc_root_, "kill", ContainerId(key), "TERM"}, Within(std::chrono::seconds(10)));
  }
  Status first;
  for (const auto& key : keys) {
    Status s = RemoveBlocking(key, instances_.at(key).shim_pid);
    if (!s.ok() && first.ok()) first = s;
    instances_.erase(key);
  }
  return first;
}

}  // namespace oak::node
