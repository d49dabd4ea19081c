// build/bin/trainer: the motive command line (trainer/commands.h).
#include <CLI/CLI.hpp>

#include "trainer/cli.h"
#include "trainer/commands.h"

using namespace motive;

int main(int argc, char** argv) {
  CLI::App app{"motive trainer: motivation-inspired dual-model training (arXiv 2602.21064)"};
  app.require_subcommand(1);
  const Command commands[] = {add_train_command(app), add_eval_command(app),
                              add_export_command(app), add_models_command(app)};
  return run_cli(app, argc, argv, "trainer", [&] {
    for (const Command& c : commands)
      if (*c.app) c.run();
  });
}
