// `oak up`'s local image registry and its demo application: build the busybox httpd image, push
// it, apply examples/hello.json and follow one instance to RUNNING.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "cli/up_steps.h"
#include "common/fs.h"
#include "common/json_fields.h"
#include "common/subprocess.h"

namespace oak::cli {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr const char* kDemoTag = "oak/hello:1";

// docker-registry's own configuration; the address and storage come from its environment
// (REGISTRY_HTTP_ADDR, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY), so no path is quoted into YAML.
constexpr const char* kRegistryConfig = R"(# Written by `oak up`; rewritten at every start.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
)";

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool RegistryHasDemo(uint16_t port) {
  auto res = LocalFetch(port, "/v2/oak/hello/tags/list");
  if (!res.ok() || res->status != 200) return false;
  json j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("tags") || !j["tags"].is_array()) return false;
  for (const auto& t : j["tags"])
    if (t == "1") return true;
  return false;
}

// The instance `number` in a service document, or null.
json FindInstance(const json& svc, int64_t number) {
  if (!svc.is_object() || !svc.contains("instance_list") || !svc["instance_list"].is_array()) return nullptr;
  for (const auto& i : svc["instance_list"])
    if (i.is_object() && i.contains("instance_number") && i["instance_number"] == number) return i;
  return nullptr;
}

// An instance of an earlier run to follow instead of deploying another one: the newest one that has
// not failed. -1 when there is none.
int64_t LiveInstance(const json& svc) {
  int64_t best = -1;
  if (!svc.is_object() || !svc.contains("instance_list") || !svc["instance_list"].is_array()) return best;
  for (const auto& i : svc["instance_list"]) {
    if (!i.is_object() || !i.contains("instance_number") || !i["instance_number"].is_number_integer()) continue;
    std::string st = StringOr(i, "status");
    if (IsFailedStatus(st) || st == "UNDEPLOYED") continue;
    best = std::max(best, i["instance_number"].get<int64_t>());
  }
  return best;
}

}  // namespace

Status StartRegistry(UpContext& c) {
  auto bin = FindExecutable("docker-registry");
  if (!bin) return Status::NotFound("docker-registry not found in PATH: install the Debian package docker-registry (`make deps`)");
  std::string base = c.dir + "/registry";
  if (Status s = EnsureDir(base + "/data", 0755); !s.ok()) return s;
  if (Status s = WriteFileAtomic(base + "/config.yml", kRegistryConfig, 0644); !s.ok()) return s;
  std::string addr = "127.0.0.1:" + std::to_string(c.o.registry_port);
  auto pid = c.sup.Start({"registry", {*bin, "serve", base + "/config.yml"}, c.dir + "/registry.log",
                          {"REGISTRY_HTTP_ADDR=" + addr, "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=" + base + "/data"}});
  if (!pid.ok()) return pid.status();
  Say("started registry (pid " + std::to_string(*pid) + ") on " + addr + ", storage in " + base + "/data");
  return WaitReady(c, "registry", "GET /v2/ answering 200", seconds(c.o.startup_timeout_s), [&]() -> Result<bool> {
    auto res = LocalFetch(c.o.registry_port, "/v2/");
    return res.ok() && res->status == 200;
  });
}

Status PushDemoImage(UpContext& c) {
  std::string ref = "127.0.0.1:" + std::to_string(c.o.registry_port) + "/" + kDemoTag;
  if (RegistryHasDemo(c.o.registry_port)) {
    Say("demo image " + ref + " is in the registry already");
    return Status::Ok();
  }
  auto script = FindProjectFile("scripts/busybox-image.sh");
  if (!script.ok()) return script.status();
  auto t0 = std::chrono::steady_clock::now();
  // skopeo's oci: transport splits at ':' — the layout path must not contain one.
  std::string layout = c.dir + "/images/hello";
  if (layout.find(':') != std::string::npos)
    return Status::Invalid("--data-dir must not contain ':' (skopeo cannot name the image layout " + layout + ")");
  if (Status s = EnsureDir(c.dir + "/images", 0755); !s.ok()) return s;
  CommandOptions opts;
  opts.timeout = milliseconds(120'000);
  auto built = RunChecked({*script, layout, "hello", "--httpd", "8080", "--page", "Hello from Oak"}, opts);
  if (!built.ok()) return Status(built.status().code(), "building the demo image: " + built.status().message() +
                                                   " (--no-demo starts without it)");
  auto pushed = RunChecked({"skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:" + layout + ":hello",
                            "docker://" + ref},
                           opts);
  if (!pushed.ok()) return Status(pushed.status().code(), "pushing the demo image: " + pushed.status().message() +
                                                    " (--no-demo starts without it)");
  Say(fmt::format("built the demo image with {} and pushed it to {} ({:.1f} s)", *script, ref, SecondsSince(t0)));
  return Status::Ok();
}

Status DeployDemo(UpContext& c, ApiClient& api) {
  auto path = FindProjectFile("examples/hello.json");
  if (!path.ok()) return path.status();
  auto text = ReadFile(*path);
  if (!text.ok()) return text.status();
  json sla = json::parse(*text, nullptr, false);
  if (sla.is_discarded()) return Status::Invalid(*path + ": not valid JSON");
  sla = DemoSla(std::move(sla), "127.0.0.1:" + std::to_string(c.o.registry_port), c.o.demo_port);

  auto apps = api.Get("/api/applications/");
  if (!apps.ok()) return apps.status();
  std::string app_id;
  for (const auto& a : *apps)
    if (StringOr(a, "application_name") == "hello" && StringOr(a, "application_namespace") == "demo")
      app_id = StringOr(a, "applicationID");
  if (app_id.empty()) {
    auto mine = api.Post("/api/application/", sla);
    if (!mine.ok()) return Status(mine.status().code(), "applying " + *path + ": " + mine.status().message());
    for (const auto& a : *mine)
      if (StringOr(a, "application_name") == "hello" && StringOr(a, "application_namespace") == "demo")
        app_id = StringOr(a, "applicationID");
    if (app_id.empty()) return Status::Internal("the root did not answer the application hello.demo it created");
    Say("applied " + *path + ": application hello.demo (" + app_id + ")");
  }
  auto services = api.Get("/api/services/" + app_id);
  if (!services.ok()) return services.status();
  if (!services->is_array() || services->empty()) return Status::Internal("application hello.demo has no service");
  json svc = (*services)[0];
  std::string id = StringOr(svc, "microserviceID"), job = StringOr(svc, "job_name");

  int64_t number = LiveInstance(svc);
  if (number >= 0) {
    Say("following instance #" + std::to_string(number) + " of " + job + " from an earlier start");
  } else {
    auto inst = api.Post("/api/service/" + id + "/instance", json::object());
    if (!inst.ok()) return Status(inst.status().code(), "deploying " + job + ": " + inst.status().message());
    if (!inst->is_object() || !inst->contains("instance_number") || !(*inst)["instance_number"].is_number_integer())
      return Status::Internal("the deploy answer of " + job + " has no instance_number");
    number = (*inst)["instance_number"].get<int64_t>();
    Say("deploying " + job + " instance #" + std::to_string(number));
  }

  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + seconds(c.o.deploy_timeout_s);
  std::string last;
  while (true) {
    if (StopRequested()) return Status::Unavailable("interrupted");
    auto doc = api.Get("/api/service/" + id);
    json inst = doc.ok() ? FindInstance(*doc, number) : json(nullptr);
    std::string status = StringOr(inst, "status"), detail = StringOr(inst, "status_detail");
    if (!status.empty() && status != last) {
      std::printf("    %6.2f s  %-18s %s\n", SecondsSince(t0), status.c_str(), detail.c_str());
      std::fflush(stdout);
      last = status;
    }
    if (status == "RUNNING") {
      // The node's address for the mapping when it reports one; every node of `oak up` is local.
      std::string host = StringOr(inst, "publicip");
      if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
      c.demo_url = "http://" + host + ":" + std::to_string(c.o.demo_port) + "/";
      return Status::Ok();
    }
    if (IsFailedStatus(status))
      return Status::Unavailable(job + " instance #" + std::to_string(number) + " is " + status +
                                 (detail.empty() ? "" : ": " + detail));
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Unavailable(fmt::format("{} instance #{} is still {} after {} s", job, number,
                                             last.empty() ? "not reported" : last, c.o.deploy_timeout_s));
    std::this_thread::sleep_for(milliseconds(100));
  }
}

}  // namespace oak::cli
