// `oak-node`: the worker roles alone (`node`, `sim`, `shim`). A node engine built from the node,
// model and common libraries maps a fraction of the code and shared libraries of the full `oak`
// binary, which is most of an idle engine's resident memory. `oak node ...` hands over to this
// binary when it sits beside `oak` (src/main.cc), so both spellings run the same code.
#include <CLI/CLI.hpp>

#include "common/malloc_tuning.h"
#include "node/node_main.h"

int main(int argc, char** argv) {
  // Every role here runs long (common/malloc_tuning.h); `oak node` brings the setting along.
  if (argc > 1 && oak::AddMallocTunables()) oak::ExecSelf(argv);
  CLI::App app{"Oak worker node engine (the `oak node`, `oak sim` and `oak shim` roles)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "oak-node 0.1.0");
  std::function<int()> run;
  oak::node::AddNodeCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return run ? run() : 0;
}
