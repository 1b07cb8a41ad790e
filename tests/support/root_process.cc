#include "support/root_process.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"

namespace oak::testing {

RootProcess::RootProcess(std::string data_dir, RootConfig cfg) : data_dir_(std::move(data_dir)), cfg_(std::move(cfg)) {
  Start();
}

RootProcess::~RootProcess() {
  if (proc_) proc_->Stop(SIGKILL);
}

void RootProcess::Start() {
  if (proc_) proc_->Stop(SIGKILL);
  std::string ready = data_dir_ + ".ready";
  std::filesystem::remove(ready);
  std::vector<std::string> argv = {OAK_BINARY,   "root",        "--data-dir",       data_dir_,
                                   "--listen",   listen_,       "--ready-file",     ready,
                                   "--admin-password", cfg_.admin_password, "--cluster-token", cfg_.cluster_token,
                                   "--log-level", "debug"};
  argv.insert(argv.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  proc_ = std::make_unique<Process>(argv, data_dir_ + ".log." + std::to_string(++starts_));
  bool up = WaitFor([&] { return std::filesystem::exists(ready) || !proc_->Running(); }, std::chrono::seconds(10));
  auto addr = ReadFile(ready);
  if (!up || !addr.ok()) {
    ADD_FAILURE() << "oak root did not start; log:\n" << proc_->Log();
    return;
  }
  std::string a = *addr;
  while (!a.empty() && a.back() == '\n') a.pop_back();
  url_ = "http://" + a;
}

void RootProcess::Restart() {
  if (url_.rfind("http://", 0) == 0) listen_ = url_.substr(7);
  Start();
  listen_ = "127.0.0.1:0";
}

void RootProcess::Kill9() {
  if (proc_) proc_->Stop(SIGKILL);
}

int RootProcess::Stop() { return proc_ ? proc_->Stop(SIGTERM) : -1; }

ApiClient RootProcess::Admin() const {
  ApiClient c(url_);
  auto r = c.Login("Admin", cfg_.admin_password);
  EXPECT_EQ(r.status, 200u) << r.body << r.error;
  return c;
}

}  // namespace oak::testing
