// ImageStore against a real docker-registry, skopeo, umoci and overlayfs (as root).
#include "node/runtime/image_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/subprocess.h"
#include "support/process.h"
#include "support/registry.h"
#include "support/small_fs.h"

namespace oak::node {
namespace {
namespace fs = std::filesystem;
using oak::testing::BuildBusyboxLayout;
using oak::testing::BusyboxImageOptions;
using oak::testing::PushBusyboxImage;
using oak::testing::Registry;
using oak::testing::TempDir;

const std::string kPrefix = "oak-" + std::to_string(::getpid());

bool Mounted(const std::string& path) {
  auto info = ReadFile("/proc/self/mountinfo");
  return info.ok() && info->find(" " + path + " ") != std::string::npos;
}

std::string Slurp(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : std::string();
}

// Unmounts and removes an instance's root file system when the test ends, also on failure.
struct BundleGuard {
  ImageStore& store;
  std::string dir;
  ~BundleGuard() { (void)store.ReleaseRootfs(dir); }
};

double MillisSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

class ImageStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !FindExecutable("skopeo") || !FindExecutable("umoci") ||
        !fs::exists("/usr/bin/docker-registry")) {
      return;
    }
    registry_ = new Registry();
    auto started = registry_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
    auto sh = PushBusyboxImage(*registry_, kPrefix + "/busybox:1");
    ASSERT_TRUE(sh.ok()) << sh.status().message();
    sh_digest_ = new std::string(*sh);
    auto web = PushBusyboxImage(*registry_, kPrefix + "/web:1", {.httpd_port = 8080, .page = "hi"});
    ASSERT_TRUE(web.ok()) << web.status().message();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
    delete sh_digest_;
    sh_digest_ = nullptr;
  }
  void SetUp() override {
    if (!registry_) GTEST_SKIP() << "needs root, skopeo, umoci and docker-registry";
  }

  std::string Ref(const std::string& name_tag) const { return registry_->host() + "/" + kPrefix + "/" + name_tag; }
  ImageStoreOptions Options(RootfsMode mode = RootfsMode::kOverlay) const {
    ImageStoreOptions o;
    o.dir = dir_ / "images";
    o.pull_timeout = std::chrono::seconds(30);
    o.rootfs_mode = mode;
    return o;
  }

  static Registry* registry_;
  static std::string* sh_digest_;
  TempDir dir_{"images"};
};
Registry* ImageStoreTest::registry_ = nullptr;
std::string* ImageStoreTest::sh_digest_ = nullptr;

TEST_F(ImageStoreTest, PullsFromTheRegistry) {
  ImageStore store(Options());
  auto image = store.Ensure(Ref("busybox:1"));
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(image->reference, Ref("busybox:1"));
  EXPECT_EQ(image->digest, *sh_digest_);
  EXPECT_TRUE(fs::is_regular_file(image->rootfs + "/bin/busybox"));
  EXPECT_TRUE(fs::is_symlink(image->rootfs + "/bin/sh"));
  EXPECT_EQ(image->cmd, std::vector<std::string>{"sh"});
  EXPECT_TRUE(image->entrypoint.empty());
  EXPECT_EQ(image->working_dir, "/");
  EXPECT_EQ(image->user, "0:0");
  EXPECT_TRUE(std::any_of(image->env.begin(), image->env.end(), [](auto& e) { return e.rfind("PATH=", 0) == 0; }));
  EXPECT_EQ(fs::path(image->rootfs).parent_path(), fs::path(store.dir()) / "rootfs");
  EXPECT_NE(Slurp(store.dir() + "/references.json").find(*sh_digest_), std::string::npos);

  // Other spellings of the same reference are the same cache entry.
  auto again = store.Ensure("docker://" + Ref("busybox:1"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->digest, image->digest);
  EXPECT_EQ(store.PullCount(), 1u);

  auto web = store.Ensure(Ref("web:1"));
  ASSERT_TRUE(web.ok()) << web.status().message();
  EXPECT_EQ(web->cmd, (std::vector<std::string>{"httpd", "-f", "-v", "-p", "8080", "-h", "/www"}));
  EXPECT_EQ(Slurp(web->rootfs + "/www/index.html"), "hi\n");
  EXPECT_EQ(store.PullCount(), 2u);
}

TEST_F(ImageStoreTest, APullOntoAFullDiskIsAStorageErrorAndWorksOnceThereIsSpace) {
  oak::testing::SmallFs small("images-full", 16);
  if (!small.ok()) GTEST_SKIP() << small.error();
  ImageStoreOptions o = Options();
  o.dir = small / "images";
  ImageStore store(o);
  ASSERT_GT(small.Fill(), 0);
  auto full = store.Ensure(Ref("busybox:1"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), Code::kStorage) << full.status().ToString();
  EXPECT_EQ(full.status().message().rfind("storage full: ", 0), 0u) << full.status().message();
  small.Unfill();
  auto image = store.Ensure(Ref("busybox:1"));
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_TRUE(fs::is_regular_file(image->rootfs + "/bin/busybox"));
}

TEST_F(ImageStoreTest, SecondEnsureIsServedFromTheCache) {
  Registry own;
  ASSERT_TRUE(own.Start().ok());
  ASSERT_TRUE(PushBusyboxImage(own, kPrefix + "/cached:1").ok());
  const std::string ref = own.host() + "/" + kPrefix + "/cached:1";
  ImageStore store(Options());
  auto first = store.Ensure(ref);
  ASSERT_TRUE(first.ok()) << first.status().message();
  own.Stop();
  ASSERT_FALSE(own.Running());

  auto start = std::chrono::steady_clock::now();
  constexpr int kRounds = 1000;
  for (int i = 0; i < kRounds; ++i) {
    auto cached = store.Ensure(ref);
    ASSERT_TRUE(cached.ok()) << cached.status().message();
    ASSERT_EQ(cached->digest, first->digest);
  }
  std::printf("Ensure (cached): %.1f us\n", MillisSince(start) * 1000 / kRounds);
  EXPECT_EQ(store.PullCount(), 1u);

  // A restarted node finds its images on disk.
  ImageStore restarted(Options());
  auto after = restarted.Ensure(ref);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(after->digest, first->digest);
  EXPECT_EQ(after->cmd, first->cmd);
  EXPECT_EQ(restarted.PullCount(), 0u);

  // Pinned to a digest the store holds: no pull either.
  auto pinned = restarted.Ensure(own.host() + "/" + kPrefix + "/other@" + first->digest);
  ASSERT_TRUE(pinned.ok()) << pinned.status().message();
  EXPECT_EQ(pinned->rootfs, first->rootfs);
  EXPECT_EQ(restarted.PullCount(), 0u);
}

TEST_F(ImageStoreTest, ConcurrentEnsuresShareOnePull) {
  ImageStore store(Options());
  std::vector<Result<Image>> results(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = store.Ensure(Ref("busybox:1")); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->digest, *sh_digest_);
    EXPECT_EQ(r->reference, Ref("busybox:1"));
  }
  EXPECT_EQ(store.PullCount(), 1u);
}

TEST_F(ImageStoreTest, ErrorsNameTheReferenceAndCarryTheCause) {
  ImageStore store(Options());
  auto missing = store.Ensure(Ref("nope:1"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().message();
  EXPECT_EQ(missing.status().message().rfind("pull " + Ref("nope:1") + ": ", 0), 0u) << missing.status().message();
  EXPECT_NE(missing.status().message().find("manifest unknown"), std::string::npos) << missing.status().message();

  const std::string nowhere = "127.0.0.1:" + std::to_string(oak::testing::FreePort()) + "/x:1";
  auto refused = store.Ensure(nowhere);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable) << refused.status().message();
  EXPECT_NE(refused.status().message().find("pull " + nowhere), std::string::npos);
  EXPECT_NE(refused.status().message().find("connection refused"), std::string::npos) << refused.status().message();

  const uint64_t pulls = store.PullCount();
  for (const std::string bad : {"", "Busybox", "busy box", "ftp://host/x", "oci:relative/dir", "a:b:c",
                                "host:99999999/x", "x@sha256:short", "oci-archive:"}) {
    auto r = store.Ensure(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalid) << bad << ": " << r.status().message();
  }
  EXPECT_EQ(store.PullCount(), pulls);
  // Nothing of the failed pulls is left behind.
  EXPECT_TRUE(fs::is_empty(store.dir() + "/tmp"));
}

// A registry that accepts connections and never answers: the pull ends at pull_timeout.
TEST_F(ImageStoreTest, AStalledPullEndsAtTheTimeout) {
  oak::testing::HeldPort silent(16);
  ASSERT_NE(silent.port(), 0);
  auto options = Options();
  options.pull_timeout = std::chrono::seconds(1);
  ImageStore store(options);
  const std::string ref = "127.0.0.1:" + std::to_string(silent.port()) + "/stalled:1";
  auto start = std::chrono::steady_clock::now();
  auto r = store.Ensure(ref);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(MillisSince(start), 5000);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_EQ(r.status().message(), "pull " + ref + ": skopeo timed out after 1 s");
  EXPECT_TRUE(fs::is_empty(store.dir() + "/tmp"));
}

TEST_F(ImageStoreTest, PullsOciLayoutsAndArchives) {
  const std::string layout = dir_ / "layout", archive = dir_ / "image.tar";
  ASSERT_TRUE(BuildBusyboxLayout(layout, "web", {.httpd_port = 8081, .page = "from a layout"}).ok());
  ASSERT_TRUE(RunChecked({"skopeo", "copy", "--quiet", "oci:" + layout + ":web", "oci-archive:" + archive}).ok());
  ImageStore store(Options());
  auto from_layout = store.Ensure("oci:" + layout + ":web");
  ASSERT_TRUE(from_layout.ok()) << from_layout.status().message();
  EXPECT_EQ(from_layout->cmd[4], "8081");
  EXPECT_EQ(Slurp(from_layout->rootfs + "/www/index.html"), "from a layout\n");
  auto from_archive = store.Ensure("oci-archive:" + archive);
  ASSERT_TRUE(from_archive.ok()) << from_archive.status().message();
  EXPECT_EQ(from_archive->digest, from_layout->digest);
  EXPECT_EQ(from_archive->rootfs, from_layout->rootfs);
  auto missing_tag = store.Ensure("oci:" + layout + ":nope");
  ASSERT_FALSE(missing_tag.ok());
  EXPECT_NE(missing_tag.status().message().find("pull oci:" + layout + ":nope: "), std::string::npos);
}

// Writes in one instance reach neither the image nor another instance; release unmounts.
void CheckInstances(ImageStore& store, const Image& image, const TempDir& dir, const char* label) {
  const std::string a = dir / (std::string(label) + "-a"), b = dir / (std::string(label) + "-b");
  BundleGuard guard_a{store, a}, guard_b{store, b};
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store.PrepareRootfs(image, a).ok());
  std::printf("PrepareRootfs (%s): %.1f ms\n", label, MillisSince(start));
  ASSERT_TRUE(store.PrepareRootfs(image, b).ok());
  ASSERT_TRUE(store.PrepareRootfs(image, a).ok());  // idempotent
  EXPECT_TRUE(fs::is_regular_file(a + "/rootfs/bin/busybox"));
  const uint64_t before = *store.WritableBytes(a);

  ASSERT_TRUE(WriteFileAtomic(a + "/rootfs/etc/passwd", "changed\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(a + "/rootfs/tmp/new", std::string(1 << 20, 'x'), 0644).ok());
  fs::remove(a + "/rootfs/bin/cat");
  EXPECT_EQ(Slurp(a + "/rootfs/etc/passwd"), "changed\n");
  EXPECT_NE(Slurp(image.rootfs + "/etc/passwd"), "changed\n");
  EXPECT_NE(Slurp(b + "/rootfs/etc/passwd"), "changed\n");
  EXPECT_FALSE(fs::exists(image.rootfs + "/tmp/new"));
  EXPECT_FALSE(fs::exists(b + "/rootfs/tmp/new"));
  EXPECT_TRUE(fs::is_symlink(image.rootfs + "/bin/cat"));
  EXPECT_TRUE(fs::is_symlink(b + "/rootfs/bin/cat"));
  auto written = store.WritableBytes(a);
  ASSERT_TRUE(written.ok());
  EXPECT_GE(*written, before + (1 << 20));

  ASSERT_TRUE(store.ReleaseRootfs(a).ok());
  EXPECT_FALSE(Mounted(a + "/rootfs"));
  EXPECT_FALSE(fs::exists(a + "/rootfs"));
  EXPECT_TRUE(store.ReleaseRootfs(a).ok());  // idempotent
  EXPECT_TRUE(fs::is_regular_file(b + "/rootfs/bin/busybox"));
}

TEST_F(ImageStoreTest, InstancesGetTheirOwnWritableRootfs) {
  ImageStore store(Options());
  auto image = store.Ensure(Ref("busybox:1"));
  ASSERT_TRUE(image.ok()) << image.status().message();
  CheckInstances(store, *image, dir_, "overlay");
  const std::string c = dir_ / "overlay-c";
  {
    BundleGuard guard{store, c};
    ASSERT_TRUE(store.PrepareRootfs(*image, c).ok());
    EXPECT_TRUE(Mounted(c + "/rootfs"));
  }
  EXPECT_FALSE(Mounted(c + "/rootfs"));
  EXPECT_TRUE(store.ReleaseRootfs(dir_ / "never-prepared").ok());
  // Overlay options cannot carry a ':' in a path: such a bundle gets a copy instead.
  const std::string odd = dir_ / "odd:bundle";
  {
    BundleGuard guard{store, odd};
    ASSERT_TRUE(store.PrepareRootfs(*image, odd).ok());
    EXPECT_FALSE(Mounted(odd + "/rootfs"));
    EXPECT_TRUE(fs::is_regular_file(odd + "/rootfs/bin/busybox"));
    ASSERT_TRUE(store.PrepareRootfs(*image, odd).ok());
  }
  EXPECT_FALSE(fs::exists(odd + "/rootfs"));

  ImageStore copying(Options(RootfsMode::kCopy));
  auto same = copying.Ensure(Ref("busybox:1"));
  ASSERT_TRUE(same.ok()) << same.status().message();
  CheckInstances(copying, *same, dir_, "copy");
  EXPECT_FALSE(Mounted(dir_ / "copy-b/rootfs"));
}

TEST_F(ImageStoreTest, LeftoversOfACrashDoNotBreakTheNextEnsure) {
  const std::string images = Options().dir;
  // A pull and an unpack that were cut short, and an index write that never got renamed.
  ASSERT_TRUE(EnsureDir(images + "/tmp/pull-deadbeef/layout/blobs/sha256").ok());
  ASSERT_TRUE(WriteFileAtomic(images + "/tmp/pull-deadbeef/layout/index.json", "{\"manifests\": [", 0600).ok());
  ASSERT_TRUE(EnsureDir(images + "/tmp/unpack-deadbeef/bin").ok());
  ASSERT_TRUE(WriteFileAtomic(images + "/references.json.tmp", "{", 0600).ok());
  {
    ImageStore store(Options());
    auto image = store.Ensure(Ref("busybox:1"));
    ASSERT_TRUE(image.ok()) << image.status().message();
    EXPECT_FALSE(fs::exists(images + "/tmp/pull-deadbeef"));
    EXPECT_FALSE(fs::exists(images + "/tmp/unpack-deadbeef"));
  }
  // A crash between keeping the layout and unpacking it: the digest is unpacked without a pull.
  auto digest_dir = "sha256-" + sh_digest_->substr(7);
  fs::remove_all(images + "/rootfs/" + digest_dir);
  ImageStore store(Options());
  auto image = store.Ensure(Ref("busybox:1"));
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_TRUE(fs::is_regular_file(image->rootfs + "/bin/busybox"));
  EXPECT_EQ(store.PullCount(), 0u);
}

}  // namespace
}  // namespace oak::node
