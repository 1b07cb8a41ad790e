// The node's OCI image cache: pulls images with skopeo, unpacks each manifest digest once with
// umoci, and gives every container instance its own writable root file system on top (overlayfs,
// or a full copy where overlay is not available). On-disk layout: docs/node.md, "Images".
//
// Thread-safe and BLOCKING: call from a worker pool, never from an event loop. Nothing in the
// cache is taken for finished before it is: pulls and unpacks go to temporary directories that
// are renamed into place when complete, and leftovers of a crash are removed on construction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "node/runtime/image_ref.h"

namespace oak::node {

enum class RootfsMode {
  kOverlay,  // overlayfs: lower = the image's rootfs, upper/work in the bundle; copy if it fails
  kCopy,     // a full unpack of the image per instance (umoci raw unpack)
};

struct ImageStoreOptions {
  std::string dir;                               // DATA_DIR/images; created if missing
  std::vector<std::string> insecure_registries;  // "host:port" reached over plain HTTP
  std::chrono::seconds pull_timeout{600};
  RootfsMode rootfs_mode = RootfsMode::kOverlay;
};

struct Image {                  // an image ready to run
  std::string reference;        // as the user wrote it
  std::string digest;           // manifest digest, "sha256:..."
  std::string rootfs;           // absolute path of the unpacked root file system (never written)
  std::vector<std::string> entrypoint, cmd, env;  // from the image config (OCI/Docker)
  std::string working_dir, user;
};

class ImageStore {
 public:
  explicit ImageStore(ImageStoreOptions opts);
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Pulls unless cached (by reference, then by digest), unpacks once per digest. Concurrent calls
  // for the same reference share one pull. kInvalid for a malformed reference; a failed pull
  // carries skopeo's line ("pull REF: ... manifest unknown"), kNotFound when the image does not
  // exist, kUnavailable when the registry cannot be reached.
  Result<Image> Ensure(const std::string& reference);

  // Makes bundle_dir/rootfs the instance's own writable root file system on top of `image`
  // (overlay: upper and work in bundle_dir), or a copy where overlay fails. Idempotent.
  Status PrepareRootfs(const Image& image, const std::string& bundle_dir);
  // Undoes PrepareRootfs: unmounts and removes rootfs, upper and work. Idempotent.
  Status ReleaseRootfs(const std::string& bundle_dir);
  // Disk used by the instance's writable layer in bytes (the copy's size in copy mode).
  Result<uint64_t> WritableBytes(const std::string& bundle_dir) const;

  // How many `skopeo copy` runs this store started (for tests and metrics).
  uint64_t PullCount() const { return pulls_.load(); }
  const std::string& dir() const { return opts_.dir; }

 private:
  struct Config {  // what Image takes from the image config
    std::vector<std::string> entrypoint, cmd, env;
    std::string working_dir, user;
  };
  struct Flight;  // one pull in progress, shared by the callers that wait for it

  Status Init();
  Result<Image> Lookup(const std::string& reference, const ImageRef& ref, const std::string& key);
  Result<Image> Pull(const std::string& reference, const ImageRef& ref, const std::string& key);
  Status InstallDigest(const std::string& digest, const std::string& pulled_layout);
  Result<Config> ConfigOf(const std::string& digest);
  Status Remember(const std::string& key, const std::string& digest);
  std::shared_ptr<std::mutex> DigestLock(const std::string& digest);
  Image MakeImage(const std::string& reference, const std::string& digest, const Config& config) const;
  std::string LayoutDir(const std::string& digest) const;
  std::string RootfsDir(const std::string& digest) const;
  Status MountOverlay(const Image& image, const std::string& bundle_dir) const;
  Status CopyRootfs(const Image& image, const std::string& bundle_dir) const;

  ImageStoreOptions opts_;
  Status init_status_;
  std::atomic<uint64_t> pulls_{0};

  std::mutex index_mu_;  // serializes writes of the reference index file
  std::mutex mu_;        // guards everything below
  std::map<std::string, std::string> digests_;              // canonical reference -> digest
  std::map<std::string, Config> configs_;                   // digest -> its config
  std::map<std::string, std::shared_ptr<Flight>> flights_;  // canonical reference -> pull
  std::map<std::string, std::shared_ptr<std::mutex>> digest_locks_;
};

}  // namespace oak::node
