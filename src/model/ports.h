// Parser for the SLA `port` field: entries separated by ';', each "container" or
// "host:container", optionally suffixed by "/tcp" or "/udp" (default tcp).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace oak::model {

struct PortMapping {
  // 0 means the container port is not published on the host (bare "80" entry).
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  enum class Proto { kTcp, kUdp } proto = Proto::kTcp;

  bool operator==(const PortMapping&) const = default;
};

// Upper bound on entries in one field; keeps hostile inputs from producing huge rule sets.
inline constexpr std::size_t kMaxPortMappings = 1024;

// "" (or only separators and blanks) yields no mappings. Blanks around entries and parts are
// ignored; empty entries are skipped. Ports are decimal 1..65535. The same host port may not be
// published twice for one protocol. Error messages do not carry a field path; callers prefix it.
oak::Result<std::vector<PortMapping>> ParsePortMappings(std::string_view spec);

}  // namespace oak::model
