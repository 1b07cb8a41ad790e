#include "node/netns_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace oak::node::net::testing {

using namespace std::chrono_literals;
using nlohmann::json;

std::string Base36(unsigned v) {
  std::string s;
  do {
    s.insert(s.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
    v /= 36;
  } while (v);
  return s;
}

CommandResult Cmd(const std::vector<std::string>& argv, std::optional<std::string> input) {
  CommandOptions o;
  o.stdin_data = std::move(input);
  o.timeout = 10s;
  auto r = RunCommand(argv, o);
  return r.ok() ? *r : CommandResult{};
}

bool InNs(const std::string& ns, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return Cmd(argv).ok();
}

bool Ping(const std::string& ns, const std::string& addr) {
  return InNs(ns, {"busybox", "ping", "-c1", "-W1", addr});
}

std::string HttpGet(const std::string& addr, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  std::string resp;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  auto body = resp.find("\r\n\r\n");
  return resp.rfind("HTTP/1.", 0) == 0 && body != std::string::npos ? resp.substr(body + 4) : "";
}

std::string HttpGetFrom(const std::string& ns, const std::string& addr, uint16_t port) {
  CommandResult r = Cmd({"ip", "netns", "exec", ns, "busybox", "nc", "-w", "2", addr, std::to_string(port)},
                        "GET / HTTP/1.0\r\n\r\n");
  auto body = r.out.find("\r\n\r\n");
  return body == std::string::npos ? "" : r.out.substr(body + 4);
}

bool SendUdp(const std::string& addr, uint16_t port, const std::string& payload) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  bool ok = ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) ==
            static_cast<ssize_t>(payload.size());
  ::close(fd);
  return ok;
}

std::string ReceiveUdpIn(const std::string& netns_path, uint16_t port, size_t kinds) {
  int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) return "cannot enter " + netns_path;
  ::close(ns);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return "cannot bind";
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::set<std::string> seen;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (seen.size() < kinds && std::chrono::steady_clock::now() < deadline) {
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) seen.insert(std::string(buf, static_cast<size_t>(n)));
  }
  ::close(fd);
  std::string all;
  for (const auto& s : seen) all += s;
  return all;
}

std::set<std::string> Links(const std::string& ns) {
  std::vector<std::string> argv{"ip", "-j"};
  if (!ns.empty()) argv.insert(argv.end(), {"-n", ns});
  argv.insert(argv.end(), {"link", "show"});
  std::set<std::string> names;
  json j = json::parse(Cmd(argv).out, nullptr, false);
  if (j.is_array()) {
    for (const auto& l : j) names.insert(l.value("ifname", ""));
  }
  return names;
}

std::set<std::string> Netns(const std::string& prefix) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/var/run/netns", ec)) {
    std::string n = e.path().filename();
    if (n.rfind(prefix, 0) == 0) names.insert(n);
  }
  return names;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

HostNamespace::HostNamespace(std::string tag) : tag_(std::move(tag)), name_("oakt-" + tag_ + "-host") {
  original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0 || !Cmd({"ip", "netns", "add", name_}).ok()) return;
  int fd = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
  entered_ = fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) ::close(fd);
  if (!entered_) return;
  // The node's "outside" address: a veth pair inside this namespace.
  const std::string a = "x" + tag_ + "a", b = "x" + tag_ + "b";
  ready_ = Cmd({"ip", "-batch", "-"}, "link set lo up\nlink add " + a + " type veth peer name " + b +
                                          "\naddr add " + kOutsideAddr + "/24 dev " + a + "\nlink set " + a +
                                          " up\nlink set " + b + " up\n").ok();
}

HostNamespace::~HostNamespace() {
  for (const auto& ns : Netns("oak-" + tag_ + "-")) Cmd({"ip", "netns", "delete", ns});
  if (entered_ && ::setns(original_, CLONE_NEWNET) != 0) std::perror("setns back");
  if (original_ >= 0) ::close(original_);
  Cmd({"ip", "netns", "delete", name_});
}

}  // namespace oak::node::net::testing
