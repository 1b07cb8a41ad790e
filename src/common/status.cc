#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace oak {

std::string Status::ToString() const {
  static const char* const kNames[] = {"ok",       "invalid",   "unauthorized", "forbidden", "not found",
                                       "conflict", "too large", "unavailable",  "internal",  "storage"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<int>(Code::kStorage) + 1);
  if (ok()) return "ok";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

bool IsStorageErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EROFS || err == EIO; }

Status ErrnoStatus(int err, std::string_view what) {
  std::string tail = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return Status::Storage("storage full: " + tail);
    case EROFS: return Status::Storage("data directory is read-only: " + tail);
    case EIO: return Status::Storage("storage I/O error: " + tail);
    default: return Status::Internal(std::move(tail));
  }
}

Status InDataDir(Status s, std::string_view dir) {
  if (s.code() != Code::kStorage || dir.empty()) return s;
  std::string note = " (data dir " + std::string(dir) + ")";
  if (s.message().find(note) != std::string::npos) return s;
  return Status::Storage(s.message() + note);
}

}  // namespace oak
