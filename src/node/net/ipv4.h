// IPv4 addresses and subnets as host-order integers, for the node's instance network.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace oak::node::net {

struct Ipv4Subnet {
  uint32_t network = 0;  // host bits are zero
  int prefix = 0;        // 1..30: room for a gateway and at least one instance

  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t broadcast() const { return network | ~mask(); }
  uint32_t gateway() const { return network + 1; }  // the first host address, on the bridge
  bool Contains(uint32_t addr) const { return (addr & mask()) == network; }
  std::string ToString() const;  // "10.18.0.0/26"
};

// "a.b.c.d/p" with 1 <= p <= 30 and no host bits set; kInvalid naming the text otherwise.
Result<Ipv4Subnet> ParseSubnet(std::string_view text);
// A dotted quad; kInvalid otherwise.
Result<uint32_t> ParseAddress(std::string_view text);
std::string FormatAddress(uint32_t addr);

}  // namespace oak::node::net
