// The subcommands of build/bin/trainer (trainer/main.cpp). Each add_*
// registers a subcommand and its flags on `app` and returns what to run when
// the command line chose it; the flags' values live in that closure.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace motive {

struct Command {
  CLI::App* app;
  std::function<void()> run;
};

Command add_train_command(CLI::App& app);   // trainer/train_command.cpp
Command add_eval_command(CLI::App& app);    // trainer/model_commands.cpp
Command add_export_command(CLI::App& app);  // trainer/model_commands.cpp
Command add_models_command(CLI::App& app);  // trainer/model_commands.cpp

}  // namespace motive
