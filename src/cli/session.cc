#include "cli/session.h"

#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "cli/credentials.h"

namespace oak::cli {

Result<ApiClient> OpenSession() {
  std::string path = CredentialsPath();
  auto creds = LoadCredentials(path);
  if (!creds.ok()) return creds.status();
  if (creds->token.empty() && creds->refresh_token.empty())
    return Status::Unauthorized("not logged in; run `oak login -u USER` first");
  Credentials stored = *creds;
  auto save = [path, stored](const std::string& token) mutable {
    stored.token = token;
    // The command can still succeed with the new token in memory; the next one will refresh again.
    if (Status s = SaveCredentials(path, stored); !s.ok())
      std::fprintf(stderr, "oak: warning: cannot store the refreshed token: %s\n", s.message().c_str());
  };
  return ApiClient(EffectiveApi(creds->api), creds->token, creds->refresh_token, save);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "oak: %s\n", s.message().c_str());
  return kExitFailure;
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help, int& exit_code,
                     std::function<int()> body) {
  CLI::App* cmd = parent.add_subcommand(name, help);
  cmd->callback([&exit_code, body = std::move(body)] {
    exit_code = body();
    std::cout.flush();
  });
  return cmd;
}

void AddClientCommands(CLI::App& app, int& exit_code) {
  AddLoginCommand(app, exit_code);
  AddAppCommands(app, exit_code);
  AddServiceCommands(app, exit_code);
  AddUpCommand(app, exit_code);
  AddLogsCommand(app, exit_code);
}

}  // namespace oak::cli
