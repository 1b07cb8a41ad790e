#include "node/runtime/image_store.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.h"
#include "common/ids.h"
#include "common/subprocess.h"

namespace oak::node {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kIndexFile = "references.json";
constexpr const char* kLayoutTag = "image";  // the tag every cached layout holds its image under

bool ValidDigest(const std::string& d) {
  static const std::regex re("[a-z0-9]+:[0-9a-f]{32,128}");
  return std::regex_match(d, re);
}

// "sha256:abc" -> "sha256-abc": no ':' in paths, which overlayfs options use as a separator.
std::string DigestDirName(const std::string& digest) {
  std::string s = digest;
  s[s.find(':')] = '-';
  return s;
}

std::string BlobPath(const std::string& layout, const std::string& digest) {
  auto colon = digest.find(':');
  return layout + "/blobs/" + digest.substr(0, colon) + "/" + digest.substr(colon + 1);
}

Result<json> ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Status::Internal(path + " is not valid JSON");
  return j;
}

std::vector<std::string> StringList(const json& obj, const char* field) {
  std::vector<std::string> out;
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// skopeo logs errors as `time="..." level=fatal msg="..."`: keep what is inside msg.
std::string ToolMessage(const CommandResult& r) {
  std::string line = r.ErrorLine();
  auto begin = line.find("msg=\"");
  if (begin == std::string::npos) return line;
  begin += 5;
  auto end = line.rfind('"');
  if (end == std::string::npos || end < begin) return line.substr(begin);
  std::string msg = line.substr(begin, end - begin);
  for (size_t p = 0; (p = msg.find("\\\"", p)) != std::string::npos;) msg.erase(p, 1);
  return msg;
}

Code PullErrorCode(const CommandResult& r, const std::string& msg) {
  if (r.timed_out) return Code::kUnavailable;
  for (const char* s : {"manifest unknown", "name unknown", "not found", "no such file", "no descriptor found"}) {
    if (msg.find(s) != std::string::npos) return Code::kNotFound;
  }
  for (const char* s : {"connection refused", "no such host", "i/o timeout", "network is unreachable",
                        "connection reset", "server misbehaving", "TLS handshake"}) {
    if (msg.find(s) != std::string::npos) return Code::kUnavailable;
  }
  return Code::kInternal;
}

// Flushes the file system holding `path`, so that what a rename publishes survives a power cut.
void SyncFileSystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

bool IsMountRoot(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return false;
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  struct stat self {}, parent {};
  if (::lstat(path.c_str(), &self) != 0 || ::lstat((path + "/..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

// Non-throwing checks: an unreadable path counts as absent.
bool IsDir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}
bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// skopeo and umoci tell of a full or read-only disk only in their messages; such a failure is a
// storage error like any other (kStorage), else `fallback`.
Status ToolStatus(Code fallback, const std::string& what, const std::string& msg) {
  std::string lower = msg;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string text = what + ": " + msg;
  if (lower.find("no space left on device") != std::string::npos || lower.find("disk quota exceeded") != std::string::npos)
    return Status::Storage("storage full: " + text);
  if (lower.find("read-only file system") != std::string::npos)
    return Status::Storage("data directory is read-only: " + text);
  return Status(fallback, text);
}

// Removes a directory tree and reports (rather than throws) a failure.
Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::Internal("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

Status Unpack(const std::string& layout, const std::string& target) {
  CommandOptions options;
  options.timeout = std::chrono::minutes(10);
  auto r = RunCommand({"umoci", "raw", "unpack", "--image", layout + ":" + kLayoutTag, target}, options);
  if (!r.ok()) return Status::Internal("unpack " + layout + ": " + r.status().message());
  if (!r->ok()) return ToolStatus(Code::kInternal, "unpack " + layout, "umoci: " + r->ErrorLine());
  return Status::Ok();
}

}  // namespace

struct ImageStore::Flight {
  bool done = false;
  Result<Image> result;
  std::condition_variable cv;  // waits with mu_
};

ImageStore::ImageStore(ImageStoreOptions opts) : opts_(std::move(opts)) {
  init_status_ = Init();
  if (!init_status_.ok()) spdlog::error("image store {}: {}", opts_.dir, init_status_.message());
}

Status ImageStore::Init() {
  if (opts_.dir.empty() || opts_.dir.front() != '/') {
    return Status::Invalid("image store directory must be an absolute path, not '" + opts_.dir + "'");
  }
  for (const char* sub : {"", "/layouts", "/rootfs", "/tmp"}) OAK_RETURN_IF_ERROR(EnsureDir(opts_.dir + sub));
  // Whatever is in tmp/ is an unfinished pull or unpack of an earlier run.
  std::error_code ec;
  std::vector<std::string> leftovers;
  for (fs::directory_iterator it(opts_.dir + "/tmp", ec), end; !ec && it != end; it.increment(ec)) {
    leftovers.push_back(it->path().string());
  }
  for (const auto& path : leftovers) {
    spdlog::info("image store: removing unfinished {}", path);
    OAK_RETURN_IF_ERROR(RemoveTree(path));
  }
  std::string index = opts_.dir + "/" + kIndexFile;
  if (!Exists(index)) return Status::Ok();
  auto j = ReadJson(index);
  if (!j.ok() || !j->is_object() || !j->contains("references") || !(*j)["references"].is_object()) {
    // Only the reference -> digest map is lost: images are pulled again (and found by digest).
    spdlog::warn("image store: ignoring unreadable {}", index);
    return Status::Ok();
  }
  for (const auto& [key, digest] : (*j)["references"].items()) {
    if (digest.is_string() && ValidDigest(digest.get<std::string>())) digests_[key] = digest.get<std::string>();
  }
  return Status::Ok();
}

std::string ImageStore::LayoutDir(const std::string& digest) const {
  return opts_.dir + "/layouts/" + DigestDirName(digest);
}
std::string ImageStore::RootfsDir(const std::string& digest) const {
  return opts_.dir + "/rootfs/" + DigestDirName(digest);
}

std::shared_ptr<std::mutex> ImageStore::DigestLock(const std::string& digest) {
  std::lock_guard lk(mu_);
  auto& m = digest_locks_[digest];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Result<Image> ImageStore::Ensure(const std::string& reference) {
  auto ref = ParseImageRef(reference);
  if (!ref.ok()) return ref.status();
  if (!init_status_.ok()) return init_status_;
  const std::string key = ref->Canonical();
  std::unique_lock lk(mu_);
  while (true) {
    if (auto it = flights_.find(key); it != flights_.end()) {
      auto flight = it->second;
      flight->cv.wait(lk, [&] { return flight->done; });
      Result<Image> shared = flight->result;
      if (shared.ok()) shared->reference = reference;
      return shared;
    }
    lk.unlock();
    auto cached = Lookup(reference, *ref, key);
    lk.lock();
    if (cached.ok() || cached.status().code() != Code::kNotFound) return cached;
    if (!flights_.count(key)) break;  // else another caller started the pull meanwhile: wait for it
  }
  auto flight = std::make_shared<Flight>();
  flights_[key] = flight;
  lk.unlock();
  Result<Image> result = Pull(reference, *ref, key);
  lk.lock();
  flight->result = result;
  flight->done = true;
  flights_.erase(key);
  flight->cv.notify_all();
  return result;
}

// kNotFound when the reference is not cached (the caller pulls); an unpack of a digest whose
// layout is cached but not unpacked happens here.
Result<Image> ImageStore::Lookup(const std::string& reference, const ImageRef& ref, const std::string& key) {
  std::string digest;
  {
    std::lock_guard lk(mu_);
    if (auto it = digests_.find(key); it != digests_.end()) digest = it->second;
  }
  if (digest.empty()) {
    // A reference pinned to a digest this store holds needs no pull.
    if (ref.digest.empty() || !ValidDigest(ref.digest) || !IsDir(LayoutDir(ref.digest))) {
      return Status::NotFound("not cached");
    }
    digest = ref.digest;
    OAK_RETURN_IF_ERROR(Remember(key, digest));
  }
  if (!IsDir(RootfsDir(digest))) {
    if (!IsDir(LayoutDir(digest))) return Status::NotFound("not cached");
    OAK_RETURN_IF_ERROR(InstallDigest(digest, ""));
  }
  auto config = ConfigOf(digest);
  if (!config.ok()) return config.status();
  return MakeImage(reference, digest, *config);
}

Result<Image> ImageStore::Pull(const std::string& reference, const ImageRef& ref, const std::string& key) {
  pulls_++;
  const std::string work = opts_.dir + "/tmp/pull-" + RandomHex(8);
  OAK_RETURN_IF_ERROR(EnsureDir(work));
  struct Cleanup {
    std::string path;
    ~Cleanup() { RemoveTree(path); }
  } cleanup{work};
  const std::string layout = work + "/layout";

  std::vector<std::string> argv{"skopeo", "copy", "--quiet"};
  if (IsInsecureRegistry(ref, opts_.insecure_registries)) argv.push_back("--src-tls-verify=false");
  argv.push_back(ref.Canonical());
  argv.push_back("oci:" + layout + ":" + kLayoutTag);
  auto started = std::chrono::steady_clock::now();
  CommandOptions options;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.pull_timeout);
  auto run = RunCommand(argv, options);
  if (!run.ok()) return Status::Internal("pull " + reference + ": " + run.status().message());
  if (!run->ok()) {
    std::string msg = ToolMessage(*run);
    if (run->timed_out) msg = "skopeo timed out after " + std::to_string(opts_.pull_timeout.count()) + " s";
    return ToolStatus(PullErrorCode(*run, msg), "pull " + reference, msg);
  }

  auto index = ReadJson(layout + "/index.json");
  if (!index.ok()) return Status::Internal("pull " + reference + ": " + index.status().message());
  std::string digest;
  for (const auto& m : index->value("manifests", json::array())) {
    if (m.is_object() && m.value("digest", json()).is_string()) digest = m["digest"].get<std::string>();
  }
  if (!ValidDigest(digest)) return Status::Internal("pull " + reference + ": no manifest digest in the pulled layout");
  OAK_RETURN_IF_ERROR(InstallDigest(digest, layout));
  auto config = ConfigOf(digest);
  if (!config.ok()) return Status(config.status().code(), "pull " + reference + ": " + config.status().message());
  OAK_RETURN_IF_ERROR(Remember(key, digest));
  spdlog::info("image store: pulled {} ({}) in {} ms", reference, digest,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return MakeImage(reference, digest, *config);
}

// Moves a pulled layout into layouts/ (unless that digest is there already) and unpacks the
// digest into rootfs/ once. Both steps publish by rename, so a crash leaves either nothing or a
// complete directory. `pulled_layout` empty: only unpack.
Status ImageStore::InstallDigest(const std::string& digest, const std::string& pulled_layout) {
  auto lock = DigestLock(digest);
  std::lock_guard lk(*lock);
  const std::string layout = LayoutDir(digest);
  if (!IsDir(layout)) {
    if (pulled_layout.empty()) return Status::NotFound("no cached layout for " + digest);
    SyncFileSystem(pulled_layout);
    if (::rename(pulled_layout.c_str(), layout.c_str()) != 0) return ErrnoStatus(errno, "cannot move pulled image to " + layout);
  }
  const std::string rootfs = RootfsDir(digest);
  if (IsDir(rootfs)) return Status::Ok();
  const std::string unpacking = opts_.dir + "/tmp/unpack-" + RandomHex(8);
  auto status = Unpack(layout, unpacking);
  if (status.ok()) {
    SyncFileSystem(unpacking);
    if (::rename(unpacking.c_str(), rootfs.c_str()) != 0) status = ErrnoStatus(errno, "cannot move unpacked image to " + rootfs);
  }
  if (!status.ok()) RemoveTree(unpacking);
  return status;
}

Result<ImageStore::Config> ImageStore::ConfigOf(const std::string& digest) {
  {
    std::lock_guard lk(mu_);
    if (auto it = configs_.find(digest); it != configs_.end()) return it->second;
  }
  const std::string layout = LayoutDir(digest);
  auto manifest = ReadJson(BlobPath(layout, digest));
  if (!manifest.ok()) return manifest.status();
  const json config_desc = manifest->value("config", json::object());
  std::string config_digest = config_desc.is_object() ? config_desc.value("digest", "") : "";
  if (!ValidDigest(config_digest)) return Status::Internal("manifest " + digest + " names no image config");
  auto image_config = ReadJson(BlobPath(layout, config_digest));
  if (!image_config.ok()) return image_config.status();
  json c = image_config->value("config", json::object());
  if (!c.is_object()) c = json::object();
  Config config;
  config.entrypoint = StringList(c, "Entrypoint");
  config.cmd = StringList(c, "Cmd");
  config.env = StringList(c, "Env");
  if (c.value("WorkingDir", json()).is_string()) config.working_dir = c["WorkingDir"];
  if (c.value("User", json()).is_string()) config.user = c["User"];
  std::lock_guard lk(mu_);
  configs_[digest] = config;
  return config;
}

Status ImageStore::Remember(const std::string& key, const std::string& digest) {
  std::lock_guard write(index_mu_);  // one writer at a time, so the newest map is written last
  json refs = json::object();
  {
    std::lock_guard lk(mu_);
    digests_[key] = digest;
    for (const auto& [k, d] : digests_) refs[k] = d;
  }
  json doc{{"version", 1}, {"references", refs}};
  return WriteFileAtomic(opts_.dir + "/" + kIndexFile, doc.dump(2) + "\n", 0600);
}

Image ImageStore::MakeImage(const std::string& reference, const std::string& digest, const Config& config) const {
  Image image;
  image.reference = reference;
  image.digest = digest;
  image.rootfs = RootfsDir(digest);
  image.entrypoint = config.entrypoint;
  image.cmd = config.cmd;
  image.env = config.env;
  image.working_dir = config.working_dir;
  image.user = config.user;
  return image;
}

// --- Instance root file systems -------------------------------------------------------------

Status ImageStore::PrepareRootfs(const Image& image, const std::string& bundle_dir) {
  if (!init_status_.ok()) return init_status_;
  if (!ValidDigest(image.digest) || image.rootfs != RootfsDir(image.digest) || !IsDir(image.rootfs)) {
    return Status::NotFound("image " + image.reference + " (" + image.digest + ") is not in the store");
  }
  const std::string rootfs = bundle_dir + "/rootfs";
  if (IsMountRoot(rootfs)) return Status::Ok();  // prepared already
  std::error_code ec;
  fs::create_directories(bundle_dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "cannot create " + bundle_dir);
  if (Exists(bundle_dir + "/.rootfs-copied")) return Status::Ok();
  if (opts_.rootfs_mode == RootfsMode::kOverlay) {
    auto mounted = MountOverlay(image, bundle_dir);
    if (mounted.ok()) return mounted;
    spdlog::warn("image store: {}; copying the image instead", mounted.message());
  }
  return CopyRootfs(image, bundle_dir);
}

Status ImageStore::MountOverlay(const Image& image, const std::string& bundle_dir) const {
  const std::string rootfs = bundle_dir + "/rootfs", upper = bundle_dir + "/upper", work = bundle_dir + "/work";
  for (const auto& p : {image.rootfs, upper, work}) {
    if (p.find_first_of(",:\\") != std::string::npos) return Status::Invalid("overlay cannot use the path " + p);
  }
  for (const auto& p : {rootfs, upper, work}) {
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) return ErrnoStatus(ec.value(), "cannot create " + p);
  }
  std::string options = "lowerdir=" + image.rootfs + ",upperdir=" + upper + ",workdir=" + work;
  if (::mount("overlay", rootfs.c_str(), "overlay", 0, options.c_str()) != 0) {
    return ErrnoStatus(errno, "overlay mount on " + rootfs);
  }
  return Status::Ok();
}

// A private unpack of the image, published by rename and marked done, so that a crash mid-copy
// is redone rather than taken for a finished copy.
Status ImageStore::CopyRootfs(const Image& image, const std::string& bundle_dir) const {
  const std::string rootfs = bundle_dir + "/rootfs", copying = bundle_dir + "/.rootfs-copying";
  OAK_RETURN_IF_ERROR(RemoveTree(copying));
  auto status = Unpack(LayoutDir(image.digest), copying);
  if (status.ok()) status = RemoveTree(rootfs);  // an empty mount point or an unfinished attempt
  if (status.ok() && ::rename(copying.c_str(), rootfs.c_str()) != 0) status = ErrnoStatus(errno, "cannot move copy to " + rootfs);
  if (status.ok()) status = WriteFileAtomic(bundle_dir + "/.rootfs-copied", "", 0600);
  if (!status.ok()) RemoveTree(copying);
  return status;
}

Status ImageStore::ReleaseRootfs(const std::string& bundle_dir) {
  const std::string rootfs = bundle_dir + "/rootfs";
  if (IsMountRoot(rootfs)) {
    if (::umount2(rootfs.c_str(), 0) != 0) {
      if (errno != EBUSY || ::umount2(rootfs.c_str(), MNT_DETACH) != 0) {
        if (errno != EINVAL && errno != ENOENT) return Status::Internal(Errno("unmount " + rootfs));
      }
    }
    // Never remove through a mount that is still there: that would write whiteouts, or worse.
    if (IsMountRoot(rootfs)) return Status::Internal("unmount " + rootfs + ": still mounted");
  }
  for (const char* leaf : {"/rootfs", "/upper", "/work", "/.rootfs-copying", "/.rootfs-copied"}) {
    OAK_RETURN_IF_ERROR(RemoveTree(bundle_dir + leaf));
  }
  return Status::Ok();
}

Result<uint64_t> ImageStore::WritableBytes(const std::string& bundle_dir) const {
  std::string root = bundle_dir + "/upper";
  if (!IsDir(root)) root = bundle_dir + "/rootfs";
  if (!IsDir(root) || IsMountRoot(root)) return uint64_t{0};
  uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> seen;  // hard links count once
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) continue;
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  if (ec) return Status::Internal("cannot measure " + root + ": " + ec.message());
  return bytes;
}

}  // namespace oak::node
