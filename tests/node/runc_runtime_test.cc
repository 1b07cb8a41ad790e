// The runc runtime with real runc and real `oak shim` processes. The image side is a plain busybox
// root file system copied per instance (the registry-backed ImageStore is tested on its own), so
// these tests need nothing but runc and busybox-static. Each test owns a data dir and a node tag
// derived from its PID; a guard removes every container even when the test fails.
#include "node/runtime/runc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "common/fs.h"
#include "common/subprocess.h"
#include "support/process.h"

namespace oak::node {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A busybox root file system, built once per test binary; each instance gets its own copy.
class CopiedBusybox final : public ImageSource {
 public:
  explicit CopiedBusybox(std::string dir) : dir_(std::move(dir)) {}
  Result<Image> Ensure(const std::string& reference) override {
    if (reference == "missing:1") return Status::NotFound("pull missing:1: manifest unknown");
    std::lock_guard lock(mu_);  // called from the runtime's pool threads
    if (!fs::exists(dir_ + "/bin/busybox")) {
      fs::create_directories(dir_ + "/bin");
      fs::create_directories(dir_ + "/etc");
      fs::copy_file("/bin/busybox", dir_ + "/bin/busybox");
      for (const char* applet : {"sh", "echo", "sleep", "cat", "dd", "head", "true", "false"}) {
        fs::create_symlink("busybox", dir_ + "/bin/" + applet);
      }
      OAK_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n", 0644));
    }
    Image img;
    img.reference = reference;
    img.digest = "sha256:test";
    img.rootfs = dir_;
    img.cmd = {"sh", "-c", "echo image-default; sleep 3600"};
    return img;
  }
  Status PrepareRootfs(const Image& image, const std::string& bundle_dir) override {
    std::error_code ec;
    fs::copy(image.rootfs, bundle_dir + "/rootfs", fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    return ec ? Status::Internal(ec.message()) : Status::Ok();
  }
  Status ReleaseRootfs(const std::string&) override { return Status::Ok(); }
  Result<uint64_t> WritableBytes(const std::string&) const override { return uint64_t{0}; }

 private:
  std::string dir_;
  std::mutex mu_;
};

class RuncRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !FindExecutable("runc") || !fs::exists("/bin/busybox")) {
      GTEST_SKIP() << "needs root, runc and busybox-static";
    }
    tag_ = "t" + std::to_string(::getpid()) + std::to_string(counter_++);
    Make();
  }
  void TearDown() override {
    if (!rt_) return;
    rt_->Shutdown();
    rt_.reset();
    // Whatever a failed test left: remove it through a fresh runtime, which adopts everything.
    RuncRuntime cleaner(io_.get_executor(), Options(), images_, nullptr);
    (void)cleaner.Start();
    (void)cleaner.RemoveAll();
    auto left = RunCommand({"runc", "--root", dir_.path() + "/data/runc", "list", "-q"});
    EXPECT_TRUE(left.ok() && left->out.empty()) << "containers left: " << (left.ok() ? left->out : "");
  }
  RuncOptions Options() {
    RuncOptions o;
    o.data_dir = dir_.path() + "/data";
    o.node_tag = tag_;
    o.shim_exe = OAK_BINARY;
    o.stop_grace = 2s;
    return o;
  }
  void Make() {
    rt_ = std::make_unique<RuncRuntime>(io_.get_executor(), Options(), images_, nullptr);
    rt_->SetEventHandler([this](const InstanceStatus& s) { events_.push_back(s); });
    ASSERT_TRUE(rt_->Start().ok());
  }
  DeploySpec Spec(int n, std::vector<std::string> cmd, bool one_shot = false) {
    DeploySpec d;
    d.key = {"app.ns.svc.ns", n};
    d.image = "busybox:test";
    d.cmd = std::move(cmd);
    d.one_shot = one_shot;
    d.doc = nlohmann::json::object();
    return d;
  }
  std::string StatusOf(const InstanceKey& k) const {
    for (const auto& i : rt_->List()) {
      if (i.key == k) return i.status;
    }
    return "";
  }
  InstanceStatus Last(const InstanceKey& k) const {
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->key == k) return *it;
    }
    return {};
  }
  bool WaitStatus(const InstanceKey& k, const std::string& status, std::chrono::milliseconds t = 20s) {
    // Stops early at an unexpected final status reached meanwhile, so a failure shows at once.
    size_t from = events_.size();
    oak::testing::PumpUntil(io_, [&] {
      if (Last(k).status == status) return true;
      for (size_t i = from; i < events_.size(); ++i) {
        if (events_[i].key == k && (HasEnded(events_[i].status) || events_[i].status == "UNDEPLOYED")) return true;
      }
      return false;
    }, t);
    return Last(k).status == status;
  }

  static inline int counter_ = 0;
  oak::testing::TempDir dir_{"oak-runc-test"};
  CopiedBusybox images_{dir_.path() + "/busybox"};
  std::string tag_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<RuncRuntime> rt_;
  std::vector<InstanceStatus> events_;
};

TEST_F(RuncRuntimeTest, RunsLogsAndRemovesAContainer) {
  auto spec = Spec(0, {"sh", "-c", "echo hello from $HOSTNAME; echo to-stderr >&2; exec sleep 3600"});
  spec.environment = {"GREETING=hi"};
  ASSERT_TRUE(rt_->Deploy(spec).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "RUNNING")) << Last(spec.key).detail;
  EXPECT_EQ(rt_->Deploy(spec).code(), Code::kConflict);
  ASSERT_TRUE(oak::testing::PumpUntil(io_, [&] {
    auto logs = rt_->Logs(spec.key, 4096);
    return logs.ok() && logs->find("to-stderr") != std::string::npos;
  }, 10s));
  EXPECT_NE(rt_->Logs(spec.key, 4096)->find("hello from app.ns.svc.ns.instance.0"), std::string::npos);
  auto state = RunCommand({"runc", "--root", dir_.path() + "/data/runc", "state", "app.ns.svc.ns.instance.0"});
  ASSERT_TRUE(state.ok() && state->ok()) << (state.ok() ? state->err : state.status().message());
  EXPECT_NE(state->out.find("\"running\""), std::string::npos);
  auto usage = rt_->Usage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_GT(usage[0].memory_mb, 0);

  ASSERT_TRUE(rt_->Remove(spec.key).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "UNDEPLOYED"));
  EXPECT_TRUE(rt_->List().empty());
  EXPECT_FALSE(fs::exists(rt_->BundleDir(spec.key)));
  auto gone = RunCommand({"runc", "--root", dir_.path() + "/data/runc", "list", "-q"});
  EXPECT_EQ(gone->out, "");
  EXPECT_EQ(rt_->Remove(spec.key).code(), Code::kNotFound);
}

TEST_F(RuncRuntimeTest, ExitsBecomeCompletedOrDeadWithTheCode) {
  auto done = Spec(1, {"sh", "-c", "echo done"}, /*one_shot=*/true);
  auto bad = Spec(2, {"sh", "-c", "exit 3"}, /*one_shot=*/true);
  auto killed = Spec(3, {"sleep", "3600"});
  ASSERT_TRUE(rt_->Deploy(done).ok());
  ASSERT_TRUE(rt_->Deploy(bad).ok());
  ASSERT_TRUE(rt_->Deploy(killed).ok());
  ASSERT_TRUE(WaitStatus(done.key, "COMPLETED")) << Last(done.key).detail;
  ASSERT_TRUE(WaitStatus(bad.key, "DEAD"));
  EXPECT_EQ(Last(bad.key).detail, "exited with code 3");
  ASSERT_TRUE(WaitStatus(killed.key, "RUNNING"));
  ASSERT_TRUE(RunCommand({"runc", "--root", dir_.path() + "/data/runc", "kill", killed.key.ContainerName(), "KILL"}).ok());
  ASSERT_TRUE(WaitStatus(killed.key, "DEAD"));
  EXPECT_EQ(Last(killed.key).detail, "killed by signal 9 (SIGKILL)");
  EXPECT_NE(rt_->Logs(done.key, 100)->find("done"), std::string::npos) << "logs stay after the end";
  // An ended instance may be deployed again under the same key.
  ASSERT_TRUE(oak::testing::PumpUntil(io_, [&] { return rt_->Deploy(bad).ok(); }, 10s));
  ASSERT_TRUE(WaitStatus(bad.key, "DEAD"));
}

TEST_F(RuncRuntimeTest, OverTheMemoryLimitIsAnOutOfMemoryDeath) {
  auto spec = Spec(4, {"dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"});
  spec.memory_mb = 16;
  ASSERT_TRUE(rt_->Deploy(spec).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "DEAD", 30s)) << Last(spec.key).status << ": " << Last(spec.key).detail;
  EXPECT_NE(Last(spec.key).detail.find("out of memory"), std::string::npos) << Last(spec.key).detail;
  EXPECT_NE(Last(spec.key).detail.find("16 MB"), std::string::npos) << Last(spec.key).detail;
}

TEST_F(RuncRuntimeTest, StartFailuresAreFailedWithTheToolsLine) {
  auto nocmd = Spec(5, {"/no/such/program"});
  auto noimage = Spec(6, {"true"});
  noimage.image = "missing:1";
  ASSERT_TRUE(rt_->Deploy(nocmd).ok());
  ASSERT_TRUE(rt_->Deploy(noimage).ok());
  ASSERT_TRUE(WaitStatus(nocmd.key, "FAILED"));
  EXPECT_NE(Last(nocmd.key).detail.find("/no/such/program"), std::string::npos) << Last(nocmd.key).detail;
  ASSERT_TRUE(WaitStatus(noimage.key, "FAILED"));
  EXPECT_NE(Last(noimage.key).detail.find("manifest unknown"), std::string::npos) << Last(noimage.key).detail;
  auto other = Spec(7, {"true"});
  other.virtualization = "unikernel";
  EXPECT_EQ(rt_->Deploy(other).code(), Code::kInvalid);
  ASSERT_TRUE(rt_->Remove(nocmd.key).ok());
  ASSERT_TRUE(WaitStatus(nocmd.key, "UNDEPLOYED"));
}

TEST_F(RuncRuntimeTest, ContainersOutliveTheRuntimeAndAreAdoptedAgain) {
  auto spec = Spec(8, {});  // the image's own cmd
  ASSERT_TRUE(rt_->Deploy(spec).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "RUNNING")) << Last(spec.key).detail;
  auto pid_before = ReadFile(rt_->BundleDir(spec.key) + "/container.pid");
  ASSERT_TRUE(pid_before.ok());

  rt_->Shutdown();
  rt_.reset();
  events_.clear();
  Make();
  ASSERT_EQ(StatusOf(spec.key), "RUNNING");
  EXPECT_EQ(*ReadFile(rt_->BundleDir(spec.key) + "/container.pid"), *pid_before);
  EXPECT_TRUE(fs::exists("/proc/" + *pid_before));
  // RUNNING means started, not yet printed: the image's greeting is waited for.
  oak::testing::PumpUntil(io_, [&] {
    auto logs = rt_->Logs(spec.key, 100);
    return logs.ok() && logs->find("image-default") != std::string::npos;
  }, 10s);
  EXPECT_NE(rt_->Logs(spec.key, 100)->find("image-default"), std::string::npos);

  // The adopted container's end is still noticed.
  ASSERT_TRUE(RunCommand({"runc", "--root", dir_.path() + "/data/runc", "kill", spec.key.ContainerName(), "KILL"}).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "DEAD"));
  ASSERT_TRUE(rt_->Remove(spec.key).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "UNDEPLOYED"));
}

TEST_F(RuncRuntimeTest, RemoveDuringStartWaitsForIt) {
  auto spec = Spec(9, {"sleep", "3600"});
  ASSERT_TRUE(rt_->Deploy(spec).ok());
  ASSERT_TRUE(rt_->Remove(spec.key).ok());
  ASSERT_TRUE(WaitStatus(spec.key, "UNDEPLOYED"));
  EXPECT_TRUE(rt_->List().empty());
}

TEST(StatusFromExitTest, ReadsEveryEnding) {
  InstanceKey k{"a.b.c.d", 0};
  EXPECT_EQ(StatusFromExit(k, {{"exit_code", 0}}, true, 0).status, "COMPLETED");
  EXPECT_EQ(StatusFromExit(k, {{"exit_code", 0}}, false, 0).detail, "exited with code 0");
  EXPECT_EQ(StatusFromExit(k, {{"signal", 15}}, false, 0).detail, "killed by signal 15 (SIGTERM)");
  EXPECT_EQ(StatusFromExit(k, {{"signal", 9}, {"oom", true}}, false, 64).detail,
            "out of memory: killed by the kernel's OOM killer (limit 64 MB)");
  EXPECT_EQ(StatusFromExit(k, {{"error", "runc: exec failed"}}, false, 0).status, "FAILED");
}

}  // namespace
}  // namespace oak::node
