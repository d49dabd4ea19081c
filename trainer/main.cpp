// build/bin/trainer: the motive command line. Subcommands so far: `models`.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "trainer/cli.h"
#include "trainer/models_table.h"

using namespace motive;

int main(int argc, char** argv) {
  CLI::App app{"motive trainer: motivation-inspired dual-model training (arXiv 2602.21064)"};
  app.require_subcommand(1);

  CLI::App* models = app.add_subcommand(
      "models", "print model presets with their parameters and forward FLOPs per image");
  std::vector<std::string> names = standard_preset_names();
  for (const char* cifar_stem : {"resnet18-cifar", "resnet34-cifar", "resnet50-cifar"})
    names.push_back(cifar_stem);
  PresetOptions preset;
  const CLI::Range count(1, 1'000'000);  // CLI::PositiveNumber's message prints DBL_MAX
  models->add_option("names", names,
                     "models to list, e.g. resnet20x0.5 resnet18-cifar (default: the presets)");
  models->add_option("--in-channels", preset.in_channels, "input channels")->check(count);
  models
      ->add_option("--classes", preset.num_classes,
                   "classes (default: 10 for the CIFAR family, 1000 for the ImageNet one)")
      ->check(count);

  return run_cli(app, argc, argv, "trainer", [&] {
    if (*models) {
      std::fputs(models_table(names, preset).c_str(), stdout);
      std::puts(
          "\nFLOPs: multiply-add = 2, convolutions and the classifier (BN, ReLU, additions "
          "and pooling not counted).");
    }
  });
}
