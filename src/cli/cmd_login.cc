// `oak login`: trades a user name and password for tokens and stores them.
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/credentials.h"
#include "cli/session.h"

namespace oak::cli {

namespace {

// The terminal settings to restore if a signal arrives while echo is off; a Ctrl-C at the prompt
// must not leave the user's shell without echo.
termios g_saved_tty;

extern "C" void RestoreTtyAndDie(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_tty);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

Result<std::string> ReadPassword() {
  std::string pw;
  bool tty = ::isatty(STDIN_FILENO) == 1;
  if (tty && ::tcgetattr(STDIN_FILENO, &g_saved_tty) == 0) {
    std::fprintf(stderr, "Password: ");
    std::fflush(stderr);
    termios quiet = g_saved_tty;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    auto old_int = ::signal(SIGINT, RestoreTtyAndDie);
    auto old_term = ::signal(SIGTERM, RestoreTtyAndDie);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    bool got = static_cast<bool>(std::getline(std::cin, pw));
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_tty);
    ::signal(SIGINT, old_int);
    ::signal(SIGTERM, old_term);
    std::fprintf(stderr, "\n");
    if (!got) return Status::Invalid("no password given");
  } else if (!std::getline(std::cin, pw)) {
    return Status::Invalid("no password given (use -p, or write it as one line on stdin)");
  }
  if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  return pw;
}

struct LoginOptions {
  std::string api;
  std::string user;
  std::string password;
  bool json = false;
};

int RunLogin(const LoginOptions& o, bool password_given) {
  std::string path = CredentialsPath();
  std::string stored_api;
  if (auto old = LoadCredentials(path); old.ok()) stored_api = old->api;
  std::string api = o.api.empty() ? EffectiveApi(stored_api) : o.api;
  std::string password = o.password;
  if (!password_given) {
    auto pw = ReadPassword();
    if (!pw.ok()) return Fail(pw.status());
    password = *pw;
  }
  auto answer = ApiClient::Login(api, o.user, password);
  if (!answer.ok()) return Fail(answer.status());
  if (Status s = SaveCredentials(path, {api, answer->token, answer->refresh_token, o.user}); !s.ok())
    return Fail(s);
  if (o.json) {
    // The tokens stay in the credentials file: output of scripts ends up in logs.
    nlohmann::json out = {{"api", api}, {"user", o.user}, {"credentials", path}};
    if (auto it = answer->body.find("expires_in"); it != answer->body.end()) out["expires_in"] = *it;
    PrintJson(out);
  } else {
    std::cout << "Logged in to " << api << " as " << o.user << ".\n";
  }
  return kExitOk;
}

}  // namespace

void AddLoginCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<LoginOptions>();
  auto password_opt = std::make_shared<CLI::Option*>(nullptr);
  CLI::App* cmd = AddCommand(app, "login", "Log in to a root orchestrator and store the session", exit_code,
                             [o, password_opt] { return RunLogin(*o, (*password_opt)->count() > 0); });
  cmd->add_option("--api", o->api, std::string("Root API URL (default: $OAK_API, the stored URL, or ") + kDefaultApi + ")");
  cmd->add_option("-u,--user", o->user, "User name")->required();
  *password_opt = cmd->add_option("-p,--password", o->password,
                                  "Password (default: prompt without echo, or one line from stdin)");
  cmd->add_flag("--json", o->json, "Print JSON instead of text");
}

}  // namespace oak::cli
