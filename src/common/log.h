// Structured, line-oriented logging on stderr ("ts level component msg key=value ...").
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace oak {

// Installs the process-wide default logger. `level` is trace|debug|info|warn|error|off.
Status InitLogging(std::string_view level, std::string_view component);

}  // namespace oak
