// The steps of `oak up` shared between cmd_up.cc (the tiers) and up_demo.cc (registry and demo).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/beast/http/verb.hpp>

#include "cli/client.h"
#include "cli/supervisor.h"
#include "cli/up.h"
#include "common/http_client.h"

namespace oak::cli {

struct UpContext {
  const UpOptions& o;
  std::string dir;  // the data directory, absolute
  std::string exe;  // this binary, re-executed for every role
  Supervisor& sup;
  std::string api;  // http://127.0.0.1:PORT of the root
  std::string admin_password;
  std::string demo_url;  // set by DeployDemo once RUNNING: where the demo's mapped port answers
};

// Progress lines on stdout, flushed at once (the output is often a pipe or a log).
void Say(const std::string& line);
// Set by SIGINT/SIGTERM. A step that fails while it is set was interrupted: the run stops
// everything and exits 0.
bool StopRequested();

// One HTTP call to 127.0.0.1:port with a short timeout.
Result<ClientResponse> LocalFetch(uint16_t port, const std::string& target, const std::string& bearer = "",
                                  boost::beast::http::verb method = boost::beast::http::verb::get,
                                  const std::string& body = "");

// Polls `ready` until it answers true. Fails when `child` exits first, when `timeout` passes
// (naming `what` it waited for and the tail of the child's log), or on a stop signal. `ready` may
// fail with a Status to give up at once.
Status WaitReady(UpContext& c, const std::string& child, const std::string& what, std::chrono::seconds timeout,
                 const std::function<Result<bool>()>& ready);

// Starts docker-registry on 127.0.0.1:registry_port with its storage under DIR/registry.
Status StartRegistry(UpContext& c);
// Builds the demo image with scripts/busybox-image.sh and pushes it with skopeo (skipped when the
// registry already has it).
Status PushDemoImage(UpContext& c);
// Applies examples/hello.json (once) and deploys one instance unless one exists, printing each
// status the instance reaches until RUNNING, a failure or the deadline.
Status DeployDemo(UpContext& c, ApiClient& api);

}  // namespace oak::cli
