#include "node/net/ipv4.h"

#include <arpa/inet.h>

#include <charconv>

namespace oak::node::net {

std::string FormatAddress(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  return ::inet_ntop(AF_INET, &a, buf, sizeof buf);
}

std::string Ipv4Subnet::ToString() const { return FormatAddress(network) + "/" + std::to_string(prefix); }

Result<uint32_t> ParseAddress(std::string_view text) {
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) {
    return Status::Invalid("\"" + std::string(text) + "\" is not an IPv4 address");
  }
  return ntohl(a.s_addr);
}

Result<Ipv4Subnet> ParseSubnet(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::Invalid("subnet \"" + std::string(text) + "\": " + why);
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("expected address/prefix, e.g. 10.18.0.0/26");
  auto addr = ParseAddress(text.substr(0, slash));
  if (!addr.ok()) return bad("not an IPv4 address before '/'");
  std::string_view p = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size()) return bad("prefix is not a number");
  if (prefix < 1 || prefix > 30) return bad("prefix must be 1..30 (a gateway and at least one instance)");
  Ipv4Subnet s{*addr, prefix};
  if ((*addr & ~s.mask()) != 0) return bad("host bits are set (network address is " + FormatAddress(*addr & s.mask()) + ")");
  return s;
}

}  // namespace oak::node::net
