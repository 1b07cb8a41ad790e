// The client commands of `oak` (login, apply, app, svc, logs, clusters) and `oak up`.
#pragma once

#include <CLI/CLI.hpp>

namespace oak::cli {

// Registers the client subcommands on `app`. A command runs from its CLI11 callback and stores its
// process exit code in `exit_code`.
void AddClientCommands(CLI::App& app, int& exit_code);

}  // namespace oak::cli
