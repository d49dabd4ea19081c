// build/bin/trainer: the motive command line (trainer/commands.h).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdlib>

#include "dist/reducer.h"
#include "dist/world.h"
#include "trainer/cli.h"
#include "trainer/commands.h"

using namespace motive;

int main(int argc, char** argv) {
  // OpenMP threads sleep between parallel regions unless OMP_WAIT_POLICY says
  // otherwise: spinning ran the CPU main job 5x slower beside other jobs on
  // 2 cores (docs/cpu-performance.md). The runtime reads the variable when it
  // loads, so the program restarts itself once with it set.
  if (!std::getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
    execv("/proc/self/exe", argv);
  // Under mpirun: join the job, and take this machine's GPU of the rank
  // (docs/distributed.md). Anything else: a world of one, as before.
  try {
    dist::init(&argc, &argv);
    dist::bind_local_gpu();
  } catch (const Error& e) {
    std::fprintf(stderr, "trainer: %s\n", e.what());
    return 2;
  }
  CLI::App app{"motive trainer: motivation-inspired dual-model training (arXiv 2602.21064)"};
  app.require_subcommand(1);
  const Command commands[] = {add_train_command(app), add_eval_command(app),
                              add_export_command(app), add_models_command(app)};
  const int code = run_cli(app, argc, argv, "trainer", [&] {
    for (const Command& c : commands)
      if (*c.app) c.run();
  });
  // A rank that failed ends the job at once (the others may be waiting for it
  // in a collective); the line above says why. A run stopped by a signal
  // (128 + its number) stopped on every rank after the same step: each
  // leaves the job normally.
  if (code != 0 && code <= 128 && dist::world_size() > 1) dist::abort(code);
  dist::finalize();
  return code;
}
