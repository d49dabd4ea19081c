// `trainer eval`, `trainer export` and `trainer models`.
#include <cstdio>
#include <memory>

#include "trainer/commands.h"
#include "trainer/model_io.h"
#include "trainer/models_table.h"
#include "models/registry.h"
#include "trainer/run_parts.h"

namespace motive {

// Counts and sizes: CLI::PositiveNumber's message would print DBL_MAX.
static const CLI::Range kCount(1, 1'000'000'000);

Command add_eval_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "test accuracy of a model file written by `trainer export` (or any safetensors "
      "file with a preset's tensor names)");
  cmd->option_defaults()->always_capture_default();
  auto req = std::make_shared<EvalRequest>();
  req->device = "auto";
  cmd->add_option("--checkpoint", req->checkpoint, "the model file (.safetensors)")->required();
  cmd->add_option("--arch", req->arch, "model preset, e.g. resnet20x0.5 (default: the file's)");
  cmd->add_option("--data", req->data, "data set (default: the file's)");
  cmd->add_option("--data-root", req->data_root, "where data sets are looked for");
  cmd->add_option("--limit-test", req->limit_test, "first N test images (-1: all)")
      ->check(CLI::Range(int64_t{-1}, int64_t{2'000'000'000}));
  cmd->add_option("--batch-size", req->batch_size, "images per forward")->check(kCount);
  cmd->add_option("--device", req->device, "cpu, cuda or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_option("--workers", req->workers, "loader threads (0: one per core)")
      ->check(CLI::Range(0, 1024));
  return {cmd, [req] {
            EvalRequest r = *req;
            r.device = resolve_device(r.device);
            const EvalResult res = eval_model_file(r);
            std::printf("eval: %s on %s test: accuracy %.2f%% (%lld/%lld correct)\n",
                        res.arch.c_str(), res.data.c_str(), res.accuracy.percent(),
                        static_cast<long long>(res.accuracy.correct),
                        static_cast<long long>(res.accuracy.total));
          }};
}

Command add_export_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "export",
      "write one model of a run as a standalone safetensors file (train once, deploy twice)");
  cmd->option_defaults()->always_capture_default();
  struct Flags {
    std::string run, model, out, format = "motive";
    int64_t recalibrate = 0;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("--run", f->run, "the run directory (trainer train --out)")->required();
  cmd->add_option("--model", f->model,
                  "which model: base, motivated, or level<k> for the k-th model of a chain")
      ->required();
  cmd->add_option("--out", f->out, "the file to write (.safetensors)")->required();
  cmd->add_option("--format", f->format,
                  "motive (for trainer eval and --init-from) or torch (PyTorch's names and "
                  "layouts: torchvision's ResNet, timm's VisionTransformer)")
      ->check(CLI::IsMember({"motive", "torch"}));
  cmd->add_option("--recalibrate", f->recalibrate,
                  "recompute the BN statistics over N training batches first (0: as trained)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000}));
  return {cmd, [f] {
            export_model(f->run, f->model, f->out, f->recalibrate,
                         parse_export_format(f->format));
            std::printf("export: the %s model of %s -> %s (%s format)\n", f->model.c_str(),
                        f->run.c_str(), f->out.c_str(), f->format.c_str());
          }};
}

Command add_models_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "models", "print model presets with their parameters and forward FLOPs per image");
  struct Flags {
    std::vector<std::string> names = preset_names();
    ModelShape shape;
    int64_t image_size = 0;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("names", f->names,
                  "models to list, e.g. resnet20x0.5 vit-ti-p4 (default: the presets)");
  cmd->add_option("--in-channels", f->shape.in_channels, "input channels")->check(kCount);
  cmd->add_option("--classes", f->shape.num_classes,
                  "classes (default: each family's; ResNet: 10 for the CIFAR family, 1000 for "
                  "the ImageNet one)")
      ->check(kCount);
  cmd->add_option("--image-size", f->image_size,
                  "square image side the models are built for and FLOPs counted at (default: "
                  "each preset's native size)")
      ->check(kCount);
  return {cmd, [f] {
            ModelShape shape = f->shape;
            shape.image_height = shape.image_width = f->image_size;
            std::fputs(models_table(f->names, shape).c_str(), stdout);
            std::puts(
                "\nFLOPs: multiply-add = 2. ResNet: convolutions and the classifier (BN, ReLU, "
                "additions and pooling not counted). ViT: every matrix product (patch "
                "embedding, attention projections, scores, weighted sums, MLP, head), not "
                "norms, GELU, softmax or additions. EfficientNet: every convolution (stem, "
                "expansion, depthwise, projection, head), the squeeze-excitation layers and the "
                "classifier, not BN, SiLU, sigmoid, pooling, the gating product or additions.");
          }};
}

}  // namespace motive
