// Small file-system helpers; every write that must survive a crash goes through WriteFileAtomic.
#pragma once

#include <string>
#include <sys/types.h>

#include "common/status.h"

namespace oak {

Status EnsureDir(const std::string& path, mode_t mode = 0700);
Result<std::string> ReadFile(const std::string& path);
// Writes to a temporary file, fsyncs it and renames it over `path`: readers see the old or the new
// content, never a mix.
Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode = 0600);

// Reads a secret file (trailing whitespace trimmed), or creates it with `bytes` random bytes in
// hex. The file is kept private (0600): a wider mode is fixed with a warning.
Result<std::string> LoadOrCreateSecret(const std::string& path, size_t bytes);

}  // namespace oak
