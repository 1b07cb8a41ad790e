#include "common/malloc_tuning.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace oak {

namespace {
constexpr std::string_view kTunable = "glibc.malloc.tcache_count";
}  // namespace

std::string WithTcacheTunable(const char* current) {
  std::string value = current ? current : "";
  if (value.find(kTunable) != std::string::npos) return value;
  if (!value.empty()) value += ':';
  value.append(kTunable).append("=").append(std::to_string(kTcacheCount));
  return value;
}

bool AddMallocTunables() {
  const char* current = std::getenv("GLIBC_TUNABLES");
  std::string wanted = WithTcacheTunable(current);
  if (current && wanted == current) return false;
  return setenv("GLIBC_TUNABLES", wanted.c_str(), 1) == 0;
}

void ExecSelf(char** argv) {
  // The binary's own path, not /proc/self/exe: the kernel names a process after the file it
  // executes, and `ps` would show "exe".
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return;
  path[n] = '\0';
  execv(path, argv);
}

}  // namespace oak
