// "HOST:PORT" as given on command lines ("[::1]:80" for IPv6).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace oak {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// `what` names the flag in the error, e.g. "listen".
Result<HostPort> ParseHostPort(std::string_view text, std::string_view what);
// True for 0.0.0.0, :: and empty: the address means "every interface", not one to dial.
bool IsWildcardHost(std::string_view host);

}  // namespace oak
