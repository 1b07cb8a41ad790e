#include "common/host_port.h"

#include <charconv>

namespace oak {

Result<HostPort> ParseHostPort(std::string_view text, std::string_view what) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return Status::Invalid(std::string(what) + ": expected HOST:PORT");
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535)
    return Status::Invalid(std::string(what) + ": bad port in '" + std::string(text) + "'");
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

bool IsWildcardHost(std::string_view host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

}  // namespace oak
