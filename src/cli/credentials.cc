#include "cli/credentials.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace oak::cli {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

std::string CredentialsPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  // The XDG spec says a relative value is invalid and must be ignored.
  if (base.empty() || base.front() != '/') {
    std::string home = Env("HOME");
    base = (home.empty() ? std::string(".") : home) + "/.config";
  }
  return base + "/oak/credentials.json";
}

Result<Credentials> LoadCredentials(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound("not logged in; run `oak login -u USER` first");
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return Status::Invalid(path + ": not a credentials file; run `oak login` again");
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return Credentials{str("api"), str("token"), str("refresh_token"), str("user")};
}

Status SaveCredentials(const std::string& path, const Credentials& c) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  OAK_RETURN_IF_ERROR(EnsureDir(dir, 0700));
  nlohmann::json j = {{"api", c.api}, {"token", c.token}, {"refresh_token", c.refresh_token}, {"user", c.user}};
  OAK_RETURN_IF_ERROR(WriteFileAtomic(path, j.dump(2) + "\n", 0600));
  // A stale temporary file left by a crash keeps its old mode through O_TRUNC; force 0600.
  ::chmod(path.c_str(), 0600);
  return Status::Ok();
}

std::string EffectiveApi(const std::string& stored) {
  std::string env = Env("OAK_API");
  if (!env.empty()) return env;
  return stored.empty() ? std::string(kDefaultApi) : stored;
}

}  // namespace oak::cli
