#include "model/ports.h"

#include <string>

namespace oak::model {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Entries are echoed in messages; cap them so a hostile field cannot bloat the error.
std::string Shown(std::string_view entry) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : entry.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (entry.size() > kMax) out += "...";
  return "\"" + out + "\"";
}

// Decimal digits only: no sign, no blanks inside, no hex.
bool ParsePort(std::string_view s, uint16_t* out) {
  s = Trim(s);
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

oak::Status Bad(std::string_view entry, std::string_view why) {
  return oak::Status::Invalid("port entry " + Shown(entry) + ": " + std::string(why));
}

oak::Result<PortMapping> ParseEntry(std::string_view entry) {
  PortMapping m;
  std::string_view ports = entry;
  if (auto slash = entry.find('/'); slash != std::string_view::npos) {
    std::string_view proto = Trim(entry.substr(slash + 1));
    if (proto == "tcp") {
      m.proto = PortMapping::Proto::kTcp;
    } else if (proto == "udp") {
      m.proto = PortMapping::Proto::kUdp;
    } else {
      return Bad(entry, "protocol must be tcp or udp");
    }
    ports = entry.substr(0, slash);
  }
  const auto colon = ports.find(':');
  if (colon == std::string_view::npos) {
    if (!ParsePort(ports, &m.container_port)) return Bad(entry, "container port must be a number in 1..65535");
    return m;
  }
  if (ports.find(':', colon + 1) != std::string_view::npos) {
    return Bad(entry, "expected host:container (a host IP is not supported)");
  }
  if (!ParsePort(ports.substr(0, colon), &m.host_port)) return Bad(entry, "host port must be a number in 1..65535");
  if (!ParsePort(ports.substr(colon + 1), &m.container_port)) {
    return Bad(entry, "container port must be a number in 1..65535");
  }
  return m;
}

}  // namespace

oak::Result<std::vector<PortMapping>> ParsePortMappings(std::string_view spec) {
  std::vector<PortMapping> out;
  while (!spec.empty()) {
    const auto semi = spec.find(';');
    std::string_view entry = Trim(spec.substr(0, semi));
    spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
    if (entry.empty()) continue;
    if (out.size() == kMaxPortMappings) {
      return oak::Status::Invalid("too many port entries (at most " + std::to_string(kMaxPortMappings) + ")");
    }
    auto m = ParseEntry(entry);
    if (!m.ok()) return m.status();
    if (m->host_port != 0) {
      for (const PortMapping& prev : out) {
        if (prev.host_port == m->host_port && prev.proto == m->proto) {
          return Bad(entry, "host port " + std::to_string(m->host_port) + "/" +
                                (m->proto == PortMapping::Proto::kTcp ? "tcp" : "udp") + " is already mapped");
        }
      }
    }
    out.push_back(*m);
  }
  return out;
}

}  // namespace oak::model
