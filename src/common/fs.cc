#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "common/ids.h"

namespace oak {

Status EnsureDir(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return ErrnoStatus(ec.value(), "cannot create directory " + path);
  if (::chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, "cannot chmod " + path);
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  // On failure the temporary file goes and `path` keeps its old content: a full or read-only
  // file system never leaves a half-written file behind.
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "cannot write " + path);
  auto fail = [&](int err, const char* what) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, std::string(what) + " " + path);
  };
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "cannot write");
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(errno, "cannot sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "cannot sync " + path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "cannot rename " + tmp + " to " + path);
  }
  return Status::Ok();
}


Result<std::string> LoadOrCreateSecret(const std::string& path, size_t bytes) {
  if (auto existing = ReadFile(path); existing.ok() && !existing->empty()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      spdlog::warn("msg=\"secret file readable by others; fixing mode\" path={}", path);
      ::chmod(path.c_str(), 0600);
    }
    std::string v = *existing;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\r')) v.pop_back();
    return v;
  }
  std::string fresh = RandomHex(bytes);
  OAK_RETURN_IF_ERROR(WriteFileAtomic(path, fresh + "\n", 0600));
  return fresh;
}

}  // namespace oak
