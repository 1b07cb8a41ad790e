#include "node/net/net_tools.h"

#include <dirent.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace oak::node::net {

using nlohmann::json;

namespace {


std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// The tool's error on one line: its "Error: ..." lines when there are any (nft follows them with
// the offending script line and carets), else its stderr without `ip -batch`'s "Command failed".
std::string ToolError(const CommandResult& r) {
  std::istringstream in(r.err);
  std::string line, errors, all;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("Command failed", 0) == 0) continue;
    all += (all.empty() ? "" : "; ") + line;
    if (line.find("Error:") != std::string::npos) errors += (errors.empty() ? "" : "; ") + line;
  }
  if (!errors.empty()) return errors;
  return all.empty() ? r.ErrorLine() : all;
}

}  // namespace

Result<CommandResult> RunTool(const std::vector<std::string>& argv, std::optional<std::string> input) {
  CommandOptions o;
  o.stdin_data = std::move(input);
  o.timeout = kToolTimeout;
  auto r = RunCommand(argv, o);
  if (!r.ok()) return Status::Unavailable(argv[0] + ": " + r.status().message());
  if (!r->ok()) return Status::Internal(Join(argv) + ": " + ToolError(*r));
  return r;
}

Status RunIpBatch(const std::vector<std::string>& prefix, const std::string& commands) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), prefix.begin(), prefix.end());
  argv.insert(argv.end(), {"-batch", "-"});
  CommandOptions o;
  o.stdin_data = commands;
  o.timeout = kToolTimeout;
  auto r = RunCommand(argv, o);
  if (!r.ok()) return Status::Unavailable("ip: " + r.status().message());
  if (r->ok()) return Status::Ok();
  // ip names the failed line ("Command failed -:N") unless it exited while parsing the line.
  int failed_line = 0;
  if (auto at = r->err.find("Command failed -:"); at != std::string::npos) failed_line = std::atoi(r->err.c_str() + at + 17);
  std::string failed, line;
  std::istringstream in(commands);
  for (int i = 1; std::getline(in, line); ++i) {
    if (failed_line == 0) failed += (failed.empty() ? "" : "; ") + line;
    else if (i == failed_line) failed = line;
  }
  argv.resize(argv.size() - 2);
  return Status::Internal(Join(argv) + " " + failed + ": " + ToolError(*r));
}

Status ApplyNft(const std::string& script) {
  auto r = RunTool({"nft", "-f", "-"}, script);
  return r.ok() ? Status::Ok() : r.status();
}

bool LinkExists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

bool NetnsMounted(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

bool PathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status WriteSysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/net/" + key;
  std::ofstream out(path);
  out << value << "\n";
  out.close();
  if (!out) return Status::Internal("cannot set " + path + " to " + value + ": " + std::strerror(errno));
  return Status::Ok();
}

std::vector<std::string> NetnsNames(const std::string& prefix) {
  std::vector<std::string> names;
  DIR* d = ::opendir(kNetnsDir);
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(prefix, 0) == 0) names.push_back(n);
  }
  ::closedir(d);
  return names;
}

Status DeleteNetns(const std::string& name) {
  if (!PathExists(std::string(kNetnsDir) + "/" + name)) return Status::Ok();
  auto r = RunTool({"ip", "netns", "delete", name});
  return r.ok() ? Status::Ok() : r.status();
}

Status DeleteLink(const std::string& name) {
  if (!LinkExists(name)) return Status::Ok();
  auto r = RunTool({"ip", "link", "delete", name});
  if (!r.ok() && LinkExists(name)) return r.status();  // else someone else just removed it
  return Status::Ok();
}

Result<json> IpJson(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip", "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunTool(argv);
  if (!r.ok()) return r.status();
  if (r->out.find_first_not_of(" \n") == std::string::npos) return json::array();
  json j = json::parse(r->out, nullptr, false);
  if (!j.is_array()) return Status::Internal(Join(argv) + ": unexpected output");
  return j;
}

}  // namespace oak::node::net
