#include "node/runtime/oci_spec.h"

#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

namespace oak::node {

namespace {

using nlohmann::json;

// Docker's default capability set: what a service expects of a container.
const std::vector<std::string> kDefaultCaps = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

const std::vector<std::string> kAllCaps = {
    "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE", "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
    "CAP_SYS_PACCT", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_WAKE_ALARM"};

std::optional<uint32_t> ParseId(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Finds `name` in a passwd/group file; returns fields[2] (the id) and, for passwd, fields[3].
std::optional<std::pair<uint32_t, uint32_t>> LookUp(const std::string& file, std::string_view name) {
  std::istringstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string_view> f;
    std::string_view rest = line;
    for (size_t pos; (pos = rest.find(':')) != std::string_view::npos; rest.remove_prefix(pos + 1)) {
      f.push_back(rest.substr(0, pos));
    }
    f.push_back(rest);
    if (f.size() < 3 || f[0] != name) continue;
    auto id = ParseId(f[2]);
    if (!id) return std::nullopt;
    auto gid = f.size() > 3 ? ParseId(f[3]) : std::optional<uint32_t>(*id);
    return std::make_pair(*id, gid.value_or(*id));
  }
  return std::nullopt;
}

Result<json> User(const std::string& user, const OciSpecInput& in) {
  if (user.empty() || user == "root") return json{{"uid", 0}, {"gid", 0}};
  std::string_view u = user, g;
  if (auto colon = user.find(':'); colon != std::string::npos) {
    u = std::string_view(user).substr(0, colon);
    g = std::string_view(user).substr(colon + 1);
  }
  uint32_t uid = 0, gid = 0;
  if (auto id = ParseId(u)) {  // a numeric uid needs no passwd entry; its group defaults to it
    uid = *id;
    gid = *id;
  } else if (auto e = LookUp(in.passwd, u)) {
    uid = e->first;
    gid = e->second;
  } else {
    return Status::Invalid("image user '" + user + "': no such user in the image's /etc/passwd");
  }
  if (!g.empty()) {
    if (auto id = ParseId(g)) {
      gid = *id;
    } else if (auto e = LookUp(in.group, g)) {
      gid = e->first;
    } else {
      return Status::Invalid("image user '" + user + "': no such group in the image's /etc/group");
    }
  }
  return json{{"uid", uid}, {"gid", gid}};
}

json Mounts() {
  auto m = [](const char* dest, const char* type, const char* src, std::vector<std::string> opts) {
    json j = {{"destination", dest}, {"type", type}, {"source", src}};
    if (!opts.empty()) j["options"] = opts;
    return j;
  };
  return json::array({
      m("/proc", "proc", "proc", {}),
      m("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      m("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      m("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      m("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      m("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      m("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}),
      m("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}),
  });
}

}  // namespace

std::vector<std::string> ProcessArgs(const DeploySpec& spec, const ImageRunConfig& image) {
  std::vector<std::string> argv = spec.cmd.empty() ? image.entrypoint : spec.cmd;
  const auto& tail = !spec.args.empty() ? spec.args : (spec.cmd.empty() ? image.cmd : std::vector<std::string>{});
  argv.insert(argv.end(), tail.begin(), tail.end());
  return argv;
}

std::vector<std::string> ProcessEnv(const DeploySpec& spec, const ImageRunConfig& image) {
  std::vector<std::string> order;
  std::map<std::string, std::string> vars;
  auto put = [&](const std::string& kv) {
    std::string key = kv.substr(0, kv.find('='));
    if (!vars.count(key)) order.push_back(key);
    vars[key] = kv;
  };
  put("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const auto& kv : image.env) put(kv);
  for (const auto& kv : spec.environment) put(kv);
  put("HOSTNAME=" + spec.key.ContainerName());
  std::vector<std::string> out;
  for (const auto& k : order) out.push_back(vars[k]);
  return out;
}

Result<json> BuildOciConfig(const DeploySpec& spec, const ImageRunConfig& image, const OciSpecInput& in) {
  auto args = ProcessArgs(spec, image);
  if (args.empty()) {
    return Status::Invalid("cmd: the service gives no cmd and the image " + spec.image + " has no entrypoint or cmd");
  }
  for (const auto& kv : spec.environment) {
    if (kv.find('=') == std::string::npos || kv.front() == '=') {
      return Status::Invalid("environment: '" + kv + "' is not KEY=VALUE");
    }
  }
  auto user = User(image.user, in);
  if (!user.ok()) return user.status();

  const auto& caps = in.privileged ? kAllCaps : kDefaultCaps;
  json process = {
      {"terminal", false},
      {"user", *user},
      {"args", args},
      {"env", ProcessEnv(spec, image)},
      {"cwd", image.working_dir.empty() ? "/" : image.working_dir},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"noNewPrivileges", !in.privileged},
  };

  json ns = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  ns.push_back(in.netns_path.empty() ? json{{"type", "network"}} : json{{"type", "network"}, {"path", in.netns_path}});

  json resources = {{"devices", json::array({{{"allow", in.privileged}, {"access", "rwm"}}})}};
  if (spec.memory_mb > 0) {
    int64_t bytes = spec.memory_mb * 1024 * 1024;
    // The same swap limit: an instance over its memory is killed, not slowed down by swapping.
    resources["memory"] = {{"limit", bytes}, {"swap", bytes}};
  }
  if (spec.vcpus > 0) {
    constexpr int64_t kPeriod = 100'000;
    resources["cpu"] = {{"quota", std::llround(spec.vcpus * kPeriod)}, {"period", kPeriod}};
  }

  json linux = {{"resources", resources}, {"namespaces", ns}};
  if (!in.cgroups_path.empty()) linux["cgroupsPath"] = in.cgroups_path;
  if (!in.privileged) {
    linux["maskedPaths"] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"};
    linux["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  }

  return json{
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", in.rootfs}, {"readonly", false}}},
      {"hostname", in.hostname},
      {"mounts", Mounts()},
      {"linux", linux},
  };
}

}  // namespace oak::node
