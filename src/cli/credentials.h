// Where `oak login` keeps the session, and which API URL a command talks to.
#pragma once

#include <string>

#include "common/status.h"

namespace oak::cli {

inline constexpr const char* kDefaultApi = "http://127.0.0.1:10000";

struct Credentials {
  std::string api;            // the root's base URL the tokens were issued by
  std::string token;          // short-lived access token
  std::string refresh_token;  // long-lived; trades for a new access token
  std::string user;
};

// $XDG_CONFIG_HOME/oak/credentials.json, or ~/.config/oak/credentials.json.
std::string CredentialsPath();

// NotFound when nobody has logged in yet; Invalid when the file is not a credentials document.
Result<Credentials> LoadCredentials(const std::string& path);
// Creates the directory with mode 0700 and writes the file atomically with mode 0600: the tokens
// are secrets, and a crash mid-write must not leave a half file.
Status SaveCredentials(const std::string& path, const Credentials& c);

// The URL a command uses: $OAK_API, else `stored` (when not empty), else kDefaultApi.
std::string EffectiveApi(const std::string& stored);

}  // namespace oak::cli
