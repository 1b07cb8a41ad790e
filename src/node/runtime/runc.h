// The `runc` runtime: OCI containers, one bundle and one `oak shim` per instance (docs/node.md,
// "Containers"). Images come from an ImageSource, addresses and port mappings from an
// InstanceNetwork; both are blocking and thread-safe and run on the runtime's worker pool.
//
// State lives under DATA_DIR/containers/<container name>/ (the bundle: config.json, rootfs,
// instance.json, shim.pid, log, exit.json) and runc's own state under DATA_DIR/runc. On start the
// runtime adopts the bundles it finds: a live shim is watched again, an ended one is reported.
//
// Threading: the Runtime methods and every event run on the loop executor; the blocking steps of a
// deploy or removal run on the pool and post their outcome back. An instance has at most one
// operation in flight (`busy`), so a Remove that arrives during a deploy waits for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "model/ports.h"
#include "node/runtime.h"
#include "node/runtime/image_store.h"
#include "node/runtime/oci_spec.h"

namespace oak::node {

// Where images come from: the ImageStore (image_store.h) in a node, a plain directory in tests.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual Result<Image> Ensure(const std::string& reference) = 0;
  // Makes bundle_dir/rootfs the instance's own writable root over the image; ReleaseRootfs undoes it.
  virtual Status PrepareRootfs(const Image& image, const std::string& bundle_dir) = 0;
  virtual Status ReleaseRootfs(const std::string& bundle_dir) = 0;
  // Bytes the instance wrote to its own layer (usage reports); may walk a directory tree.
  virtual Result<uint64_t> WritableBytes(const std::string& bundle_dir) const = 0;
};

struct NetworkAttachment {
  std::string netns_path;
  std::string ip;
};

class InstanceNetwork {
 public:
  virtual ~InstanceNetwork() = default;
  // kConflict naming the port when a host port is taken, with nothing created.
  virtual Result<NetworkAttachment> Attach(const std::string& instance, const std::vector<model::PortMapping>& ports) = 0;
  virtual Status Detach(const std::string& instance) = 0;
};

struct RuncOptions {
  std::string data_dir;          // bundles under DATA_DIR/containers, runc state under DATA_DIR/runc
  std::string node_tag;          // distinguishes this node's cgroups from other nodes on the host
  std::string runc = "runc";
  std::string shim_exe = "/proc/self/exe";  // `oak`, started as `oak shim ...`
  uint64_t log_max_bytes = 1 << 20;         // per file; one older file is kept
  std::chrono::milliseconds stop_grace{5'000};  // SIGTERM, then SIGKILL
  std::chrono::milliseconds start_timeout{60'000};
  int64_t node_memory_mb = 0;               // denominator of memory_percent; 0: read /proc/meminfo
  int workers = 4;
};

class RuncRuntime final : public Runtime {
 public:
  // `images` and `network` (optional: without it instances get a private loopback-only network)
  // must outlive the runtime.
  RuncRuntime(boost::asio::any_io_executor loop, RuncOptions opts, ImageSource& images, InstanceNetwork* network);
  ~RuncRuntime() override;

  // Checks runc, creates the directories and adopts the bundles already there. Call once, before
  // SetEventHandler's first event is wanted; adoption events follow on the loop.
  Status Start();

  std::string_view name() const override { return "runc"; }
  std::vector<std::string> Virtualizations() const override { return {"container"}; }
  void SetEventHandler(EventHandler h) override { handler_ = std::move(h); }
  Status Deploy(const DeploySpec& spec) override;
  Status Remove(const InstanceKey& key) override;
  std::vector<InstanceStatus> List() const override;
  std::vector<InstanceUsage> Usage() override;
  void Shutdown() override;

  // The last `max_bytes` of the instance's output (stdout and stderr together).
  Result<std::string> Logs(const InstanceKey& key, size_t max_bytes) const override;
  // Removes every container of this node and its bundle (blocking; for `oak node --reset` and tests).
  Status RemoveAll();

  std::string BundleDir(const InstanceKey& key) const;
  std::string CgroupPath(const InstanceKey& key) const;

 private:
  struct Instance {
    DeploySpec spec;
    std::string status;
    std::string detail;
    bool busy = false;            // a pool operation is in flight
    bool remove_wanted = false;   // Remove arrived while busy
    std::optional<DeploySpec> redeploy;  // Deploy of an ended instance arrived while busy
    pid_t shim_pid = 0;
    std::unique_ptr<boost::asio::posix::stream_descriptor> shim_watch;  // pidfd of the shim
    uint64_t generation = 0;
    // CPU sampling for Usage(): cumulative ns at the previous sample.
    uint64_t cpu_ns = 0;
    std::chrono::steady_clock::time_point cpu_at{};
    double disk_mb = 0;  // sampled on the pool, at most every kDiskSampleEvery
  };
  struct StartResult {
    Status status;
    pid_t shim_pid = 0;
  };

  void Set(const InstanceKey& key, Instance& inst, std::string status, std::string detail = {});
  void Emit(InstanceStatus st);
  void StartDeploy(const InstanceKey& key);
  StartResult DeployBlocking(const DeploySpec& spec, uint64_t generation);
  void OnStarted(const InstanceKey& key, uint64_t generation, StartResult r);
  void Watch(const InstanceKey& key, Instance& inst);
  void OnShimExit(const InstanceKey& key, uint64_t generation);
  // After an instance ended: frees what it held (runc state, cgroup, ports, mount), keeps logs.
  void StartRelease(const InstanceKey& key);
  void ReleaseBlocking(const InstanceKey& key);
  void OnReleased(const InstanceKey& key, uint64_t generation);
  void StartRemove(const InstanceKey& key);
  Status RemoveBlocking(const InstanceKey& key, pid_t shim_pid);
  void OnRemoved(const InstanceKey& key, Status s);
  void Adopt();
  std::string ContainerId(const InstanceKey& key) const { return key.ContainerName(); }
  static int64_t HostMemoryMb();  // MemTotal of /proc/meminfo

  boost::asio::any_io_executor loop_;
  RuncOptions opts_;
  ImageSource& images_;
  InstanceNetwork* network_;
  EventHandler handler_;
  std::map<InstanceKey, Instance> instances_;
  boost::asio::thread_pool pool_;
  uint64_t next_generation_ = 1;
  std::string runc_root_;
  std::string containers_dir_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Disk use walks each writable layer: done on the pool, not in Usage() on the loop.
  static constexpr std::chrono::seconds kDiskSampleEvery{10};
  void SampleDisk();
  bool disk_sampling_ = false;
  std::chrono::steady_clock::time_point disk_sampled_at_{};
};

// How an ended container's exit.json reads as a status: COMPLETED (exit 0 of a one_shot), DEAD
// with "exit code N" / "killed by signal N (SIGKILL)" / "out of memory (limit N MB)", FAILED with the
// start error. A service that is not one_shot and exits 0 is DEAD too: it was meant to keep running.
InstanceStatus StatusFromExit(const InstanceKey& key, const nlohmann::json& exit, bool one_shot, int64_t memory_mb);

}  // namespace oak::node
