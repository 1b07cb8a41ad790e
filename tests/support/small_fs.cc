#include "support/small_fs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/ids.h"
#include "common/subprocess.h"

namespace oak::testing {

namespace {
constexpr const char* kFiller = ".oak-test-filler";

std::string TestPath(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  return std::string(base && *base ? base : "/tmp") + "/oak-test-" + name + "-" + RandomHex(4);
}

// Runs a tool; empty on success, else what went wrong.
std::string Run(const std::vector<std::string>& argv, std::string* out = nullptr) {
  CommandOptions o;
  o.timeout = std::chrono::seconds(30);
  auto r = RunCommand(argv, o);
  if (!r.ok()) return r.status().message();
  if (!r->ok()) return argv[0] + ": " + r->ErrorLine();
  if (out) {
    *out = r->out;
    while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
  }
  return "";
}
}  // namespace

SmallFs::SmallFs(const std::string& name, int size_mb) : options_("size=" + std::to_string(size_mb) + "m,mode=0755") {
  dir_ = TestPath(name);
  path_ = dir_ + "/disk";
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) {
    error_ = "cannot create " + path_ + ": " + ec.message();
    return;
  }
  if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options_.c_str()) != 0) {
    error_ = "cannot mount a tmpfs on " + path_ + ": " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

SmallFs::~SmallFs() {
  if (mounted_) {
    Remount(false);  // so that the files can go
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path_, ec)) std::filesystem::remove_all(e.path(), ec);
    if (::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int64_t SmallFs::Fill() {
  std::string filler = path_ + "/" + kFiller;
  int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> block(64 * 1024, 'x');
  int64_t total = 0;
  // Smaller writes once the big ones fail take the last partial pages too.
  for (size_t size = block.size(); size > 0;) {
    ssize_t n = ::write(fd, block.data(), size);
    if (n > 0) {
      total += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      size /= 2;
    }
  }
  ::close(fd);
  return total;
}

void SmallFs::Unfill() { ::unlink((path_ + "/" + kFiller).c_str()); }

bool SmallFs::Remount(bool read_only) {
  unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
  if (::mount(nullptr, path_.c_str(), nullptr, flags, options_.c_str()) != 0) {
    error_ = std::string("cannot remount ") + (read_only ? "read-only" : "read-write") + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool SmallFs::RemountReadOnly() { return Remount(true); }
bool SmallFs::RemountReadWrite() { return Remount(false); }

int64_t SmallFs::FreeBytes() const {
  struct statvfs st {};
  if (::statvfs(path_.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

Ext4Fs::Ext4Fs(const std::string& name, int size_mb) : path_(TestPath(name)), image_(path_ + ".img") {
  if (!FindExecutable("losetup") || !FindExecutable("mkfs.ext4")) {
    error_ = "needs losetup and mkfs.ext4";
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  int fd = ::open(image_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (ec || fd < 0 || ::ftruncate(fd, int64_t{size_mb} << 20) != 0) {
    if (fd >= 0) ::close(fd);
    error_ = "cannot create " + image_;
    return;
  }
  ::close(fd);
  if (error_ = Run({"mkfs.ext4", "-q", "-F", image_}); !error_.empty()) return;
  if (error_ = Run({"losetup", "--find", "--show", image_}, &device_); !error_.empty()) return;
  if (::mount(device_.c_str(), path_.c_str(), "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro") != 0) {
    error_ = "cannot mount " + device_ + " on " + path_ + ": " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

Ext4Fs::~Ext4Fs() {
  if (mounted_ && ::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
  // A device still busy (a lazy unmount) is detached by the kernel once free.
  if (!device_.empty()) Run({"losetup", "--detach", device_});
  ::unlink(image_.c_str());
  ::rmdir(path_.c_str());
}

bool Ext4Fs::TriggerError() {
  std::string dev = device_.substr(device_.rfind('/') + 1);
  std::string knob = "/sys/fs/ext4/" + dev + "/trigger_fs_error";
  int fd = ::open(knob.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error_ = "cannot open " + knob + ": " + std::strerror(errno);
    return false;
  }
  const char msg[] = "oak test: read-only data directory\n";
  bool ok = ::write(fd, msg, sizeof msg - 1) > 0;
  ::close(fd);
  if (!ok) error_ = "cannot write " + knob;
  return ok;
}

}  // namespace oak::testing
