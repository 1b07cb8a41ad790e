#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace oak {

Status InitLogging(std::string_view level, std::string_view component) {
  auto lvl = spdlog::level::from_str(std::string(level));
  // from_str answers `off` for anything it does not know; only accept `off` when asked for.
  if (lvl == spdlog::level::off && level != "off") {
    return Status::Invalid("log-level: unknown level '" + std::string(level) +
                           "' (trace, debug, info, warn, error, off)");
  }
  auto logger = spdlog::stderr_logger_st(std::string(component) + "-" + std::to_string(::getpid()));
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l comp=" + std::string(component) + " %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace oak
