// The pure parts of `oak up`: option checks, where its files are, the demo SLA.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "cli/up.h"
#include "common/json_fields.h"
#include "model/status_names.h"

#ifndef OAK_PROJECT_SOURCE_DIR
#define OAK_PROJECT_SOURCE_DIR ""
#endif

namespace oak::cli {

namespace fs = std::filesystem;

Status ValidateUpOptions(const UpOptions& o, bool running_as_root) {
  if (o.nodes < 1 || o.nodes > 64) return Status::Invalid("--nodes: must be between 1 and 64, not " + std::to_string(o.nodes));
  if (o.runtime != "runc" && o.runtime != "simulated")
    return Status::Invalid("--runtime: must be runc or simulated, not '" + o.runtime + "'");
  if (o.runtime == "runc" && !running_as_root)
    return Status::Invalid(
        "--runtime runc needs root (containers, network namespaces, nftables): run `sudo oak up`, or try "
        "`oak up --runtime simulated` (instances go through their states without processes)");
  // Ports a child chooses itself are 0-free: every listener is named, so that a busy port is reported
  // by its flag before anything starts.
  std::map<uint16_t, std::string> seen;
  for (auto [port, flag] : {std::pair{o.port, "--port"}, {o.cluster_port, "--cluster-port"},
                            {o.mqtt_port, "--mqtt-port"}, {o.registry_port, "--registry-port"}}) {
    if (port == 0) return Status::Invalid(std::string(flag) + ": must be a port number between 1 and 65535");
    auto [it, fresh] = seen.emplace(port, flag);
    if (!fresh) return Status::Invalid(std::string(flag) + " and " + it->second + " both name port " + std::to_string(port));
  }
  if (o.demo_port == 0) return Status::Invalid("--demo-port: must be a port number between 1 and 65535");
  if (o.admin_password.find_first_of("\r\n") != std::string::npos)
    return Status::Invalid("--admin-password: must be one line");
  if (o.startup_timeout_s < 1) return Status::Invalid("--startup-timeout: must be at least 1 second");
  if (o.deploy_timeout_s < 1) return Status::Invalid("--deploy-timeout: must be at least 1 second");
  return Status::Ok();
}

std::string DefaultUpDataDir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/oak";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/oak";
}

Status CheckPortFree(uint16_t port, const std::string& what, const std::string& flag) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  // The servers set SO_REUSEADDR too: a port left in TIME_WAIT by a previous run is not busy.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  ::close(fd);
  if (rc == 0) return Status::Ok();
  std::string p = std::to_string(port);
  if (err == EADDRINUSE)
    return Status::Invalid("port " + p + " (" + what + ") on 127.0.0.1 is in use; find who holds it with `ss -ltnp "
                           "'sport = :" + p + "'`, stop it, or pass " + flag + " with a free port");
  return Status::Invalid("cannot bind 127.0.0.1:" + p + " (" + what + "): " + std::strerror(err));
}

Result<std::string> FindProjectFile(const std::string& relative) {
  std::vector<fs::path> bases;
  if (const char* env = std::getenv("OAK_PROJECT_DIR"); env && *env) bases.emplace_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    bases.push_back(exe.parent_path().parent_path());                 // <checkout>/build/oak
    bases.push_back(exe.parent_path().parent_path() / "share/oak");   // <prefix>/bin/oak
  }
  if (*OAK_PROJECT_SOURCE_DIR) bases.emplace_back(OAK_PROJECT_SOURCE_DIR);
  std::string tried;
  for (const auto& b : bases) {
    fs::path p = b / relative;
    if (fs::exists(p, ec)) return p.lexically_normal().string();
    tried += (tried.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  return Status::NotFound(relative + " not found (tried " + tried + "); set OAK_PROJECT_DIR to the Oak checkout");
}

nlohmann::json DemoSla(nlohmann::json sla, const std::string& registry, uint16_t host_port) {
  // find(), not operator[]: a missing member must stay missing, the API validates the document.
  auto array_at = [](nlohmann::json& j, const char* key) -> nlohmann::json* {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it != j.end() && it->is_array() ? &*it : nullptr;
  };
  auto* apps = array_at(sla, "applications");
  if (!apps) return sla;
  for (auto& app : *apps) {
    auto* services = array_at(app, "microservices");
    if (!services) continue;
    for (auto& ms : *services) {
      if (std::string code = StringOr(ms, "code"); code.starts_with("127.0.0.1:") || code.starts_with("localhost:")) {
        // Only a local registry reference is rewritten; an image from elsewhere stays as it is.
        if (auto slash = code.find('/'); slash != std::string::npos) ms["code"] = registry + code.substr(slash);
      }
      std::string port = StringOr(ms, "port");
      if (auto colon = port.find(':'); colon != std::string::npos && port.find(';') == std::string::npos)
        ms["port"] = std::to_string(host_port) + port.substr(colon);
    }
  }
  return sla;
}

std::vector<std::string> NodeNames(int n) {
  std::vector<std::string> names;
  for (int i = 1; i <= n; ++i) names.push_back("node-" + std::to_string(i));
  return names;
}

bool IsFailedStatus(const std::string& s) {
  return model::IsSchedulingFailure(s) || s == model::status::kFailed;
}

}  // namespace oak::cli
