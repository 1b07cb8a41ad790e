// The `oak node` and `oak sim` subcommands.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace oak::node {

// Registers `node` and `sim` on `app`. When one of them is chosen, its parse callback sets `run` to
// the function that runs it and answers the process exit code.
void AddNodeCommands(CLI::App& app, std::function<int()>& run);

}  // namespace oak::node
