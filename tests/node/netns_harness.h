// Helpers for tests of the instance network: a namespace standing in for the node's host
// namespace, and probes of connectivity from inside and outside instance namespaces.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/subprocess.h"

namespace oak::node::net::testing {

inline constexpr const char* kOutsideAddr = "192.0.2.1";  // TEST-NET-1, on a veth inside the test's namespace

std::string Base36(unsigned v);
// Runs a command with a 10 s deadline; a default result (not ok) when it cannot start.
CommandResult Cmd(const std::vector<std::string>& argv, std::optional<std::string> input = std::nullopt);
bool InNs(const std::string& ns, std::vector<std::string> argv);
bool Ping(const std::string& ns, const std::string& addr);  // busybox ping -c1 -W1 inside `ns`
// HTTP GET from the calling thread's namespace; the body, or "" on any failure.
std::string HttpGet(const std::string& addr, uint16_t port);
// HTTP GET from inside namespace `ns` (busybox nc); the body, or "".
std::string HttpGetFrom(const std::string& ns, const std::string& addr, uint16_t port);
bool SendUdp(const std::string& addr, uint16_t port, const std::string& payload);
// Receives UDP on `port` inside the namespace at `netns_path` (call it on a thread of its own: it
// enters the namespace) until `kinds` different payloads arrived or 5 s passed; their text.
std::string ReceiveUdpIn(const std::string& netns_path, uint16_t port, size_t kinds);
// Link names of the calling thread's namespace, or of `ns`.
std::set<std::string> Links(const std::string& ns = "");
// Names under /var/run/netns starting with `prefix`.
std::set<std::string> Netns(const std::string& prefix);
std::string ReadText(const std::string& path);

// A namespace "oakt-<tag>-host" standing in for the node's host namespace, entered by the calling
// thread with setns(2), with lo up and kOutsideAddr on a veth pair "x<tag>a"/"x<tag>b". Leaving it
// (also when the test fails) deletes the namespaces "oak-<tag>-*" and itself, which takes the
// bridge, veths and table created inside with it.
class HostNamespace {
 public:
  explicit HostNamespace(std::string tag);
  ~HostNamespace();
  HostNamespace(const HostNamespace&) = delete;

  bool ready() const { return ready_; }

 private:
  std::string tag_, name_;
  int original_ = -1;
  bool entered_ = false, ready_ = false;
};

}  // namespace oak::node::net::testing
