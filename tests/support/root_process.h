// `oak root` as a real process on an ephemeral loopback port, with its own data directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/api_client.h"
#include "support/process.h"

namespace oak::testing {

struct RootConfig {
  std::string admin_password = "test-admin-pw";
  std::string cluster_token = "test-cluster-token";
  std::vector<std::string> extra_args;  // e.g. {"--cluster-timeout", "2"}
};

class RootProcess {
 public:
  // Uses `data_dir` (kept across restarts); fails the test if the root does not come up in 10 s.
  RootProcess(std::string data_dir, RootConfig cfg = {});
  ~RootProcess();

  void Start();      // (re)starts on a fresh ephemeral port
  // Restarts on the port of the last run, for tests whose clusters keep the root's address.
  void Restart();
  void Kill9();      // SIGKILL, as a crash
  int Stop();        // SIGTERM and wait
  bool Running() { return proc_ && proc_->Running(); }

  const std::string& url() const { return url_; }
  ApiClient Client() const { return ApiClient(url_); }
  // A client logged in as Admin.
  ApiClient Admin() const;
  const RootConfig& config() const { return cfg_; }
  std::string Log() const { return proc_ ? proc_->Log() : std::string(); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }

 private:
  std::string data_dir_;
  RootConfig cfg_;
  std::unique_ptr<Process> proc_;
  std::string url_;
  std::string listen_ = "127.0.0.1:0";
  int starts_ = 0;
};

}  // namespace oak::testing
