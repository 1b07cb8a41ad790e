#include "common/status.h"

namespace oak {

std::string Status::ToString() const {
  static const char* const kNames[] = {"ok",       "invalid",   "unauthorized", "forbidden", "not found",
                                       "conflict", "too large", "unavailable",  "internal"};
  if (ok()) return "ok";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

}  // namespace oak
