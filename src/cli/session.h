// Plumbing shared by the client commands: the stored session, output and exit codes.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "common/status.h"

namespace oak::cli {

// Exit codes: 0 success, 1 any failure (the API refused, not found, unreachable, bad input).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;

// A client over the stored credentials ($OAK_API overriding their URL) that writes a refreshed
// access token back to the credentials file.
Result<ApiClient> OpenSession();

// Prints "oak: <message>" on stderr and answers kExitFailure.
int Fail(const Status& s);
void PrintJson(const nlohmann::json& j);

// Registers a command whose body runs from its callback; the body answers the exit code.
CLI::App* AddCommand(CLI::App& parent, const std::string& name, const std::string& help, int& exit_code,
                     std::function<int()> body);

// Per-command registration (one file each).
void AddLoginCommand(CLI::App& app, int& exit_code);
void AddAppCommands(CLI::App& app, int& exit_code);
void AddServiceCommands(CLI::App& app, int& exit_code);
void AddUpCommand(CLI::App& app, int& exit_code);
void AddLogsCommand(CLI::App& app, int& exit_code);

}  // namespace oak::cli
