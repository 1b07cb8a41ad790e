// A real registry for image tests: Debian's docker-registry (distribution) on 127.0.0.1, with its
// storage and config in a temporary directory, stopped by PID on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "support/process.h"

namespace oak::testing {

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;

  // Starts the registry on a free loopback port and waits until `GET /v2/` answers 200.
  Status Start();
  // Stops it (SIGTERM, then SIGKILL); the storage stays until destruction.
  void Stop();
  bool Running() const;

  uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }  // for references
  std::string Log() const;

 private:
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
};

struct BusyboxImageOptions {
  int httpd_port = 0;   // >0: the image runs `httpd -f -v -p PORT -h /www`; else `sh`
  std::string page;     // /www/index.html (with httpd_port); empty: the script's default
};

// Runs scripts/busybox-image.sh into `layout` (an OCI layout directory, created if missing).
Status BuildBusyboxLayout(const std::string& layout, const std::string& tag, const BusyboxImageOptions& options = {});

// Builds the busybox image in a temporary layout and pushes it to `registry` as `name_tag`
// ("name:tag") with skopeo. Answers the pushed manifest's digest.
Result<std::string> PushBusyboxImage(const Registry& registry, const std::string& name_tag,
                                     const BusyboxImageOptions& options = {});

}  // namespace oak::testing
