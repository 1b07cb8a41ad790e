#include "cli/cli.h"

namespace oak::cli {
void AddClientCommands(CLI::App&, int&) {}
}  // namespace oak::cli
