#include "support/registry.h"

#include <fstream>

#include "common/fs.h"
#include "common/subprocess.h"
#include "support/api_client.h"

namespace oak::testing {

Registry::Registry() : dir_("registry") {}

Registry::~Registry() { Stop(); }

Status Registry::Start() {
  if (Running()) return Status::Ok();
  const std::string storage = dir_ / "storage", config = dir_ / "config.yml";
  OAK_RETURN_IF_ERROR(EnsureDir(storage));
  // A port that was free may be taken before the registry binds it: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    std::string yaml =
        "version: 0.1\n"
        "log:\n  level: info\n  formatter: text\n"
        "storage:\n  filesystem:\n    rootdirectory: " + storage + "\n  delete:\n    enabled: true\n"
        "http:\n  addr: " + host() + "\n";
    OAK_RETURN_IF_ERROR(WriteFileAtomic(config, yaml, 0600));
    process_ = std::make_unique<Process>(std::vector<std::string>{"/usr/bin/docker-registry", "serve", config},
                                         dir_ / "registry.log");
    ApiClient client("http://" + host());
    bool up = WaitFor([&] { return !process_->Running() || client.Get("/v2/").status == 200; },
                      std::chrono::seconds(10));
    if (up && process_->Running()) return Status::Ok();
    process_->Stop(9, std::chrono::seconds(2));
  }
  return Status::Unavailable("docker-registry did not come up on " + host() + ": " + Log());
}

void Registry::Stop() {
  if (process_) process_->Stop(15, std::chrono::seconds(5));
}

bool Registry::Running() const { return process_ && process_->Running(); }

std::string Registry::Log() const { return process_ ? process_->Log() : std::string(); }

Status BuildBusyboxLayout(const std::string& layout, const std::string& tag, const BusyboxImageOptions& options) {
  std::vector<std::string> argv{"bash", std::string(OAK_SOURCE_DIR) + "/scripts/busybox-image.sh", layout, tag};
  if (options.httpd_port > 0) {
    argv.insert(argv.end(), {"--httpd", std::to_string(options.httpd_port)});
    if (!options.page.empty()) argv.insert(argv.end(), {"--page", options.page});
  }
  auto r = RunChecked(argv);
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::string> PushBusyboxImage(const Registry& registry, const std::string& name_tag,
                                     const BusyboxImageOptions& options) {
  TempDir work("busybox-push");
  OAK_RETURN_IF_ERROR(BuildBusyboxLayout(work / "layout", "image", options));
  auto r = RunChecked({"skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--digestfile", work / "digest",
                       "oci:" + (work / "layout") + ":image", "docker://" + registry.host() + "/" + name_tag});
  if (!r.ok()) return r.status();
  return ReadFile(work / "digest");
}

}  // namespace oak::testing
