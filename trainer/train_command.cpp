// `trainer train`: flags -> a resolved RunConfig -> trainer/train.h.
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/error.h"
#include "trainer/commands.h"
#include "trainer/run_parts.h"
#include "trainer/train.h"

namespace motive {
namespace {

// `trainer train` with no flags at all is the README's main job: on a CPU it
// reads this subset, so that it ends in minutes. Any flag, and all data is read.
constexpr int64_t kCpuLimitTrain = 12000, kCpuLimitTest = 2000;

struct TrainFlags {
  RunConfig config;
  std::string motivated = "resnet20";  // "none" or the default as documented below
  std::vector<std::string> models;     // --models: the whole chain
  std::string device = "auto";
  std::string resume;
  bool quiet = false;
  int64_t seed = 0;  // signed, so that -1 is refused rather than read as 2^64 - 1
  // Options whose presence changes the resolution.
  CLI::Option *base_opt = nullptr, *motivated_opt = nullptr, *models_opt = nullptr,
              *trigger_opt = nullptr, *lr_opt = nullptr, *wd_opt = nullptr;
};

// runs/YYYYmmdd-HHMMSS: a fresh directory per run unless --out names one.
std::string default_out_dir() {
  const std::time_t now = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

// The flags the command line gave, by name.
std::vector<std::string> given_flags(const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0) names.push_back(opt->get_name());
  return names;
}

// The settings the flags leave open, decided. See --help for each rule.
RunConfig resolve(const TrainFlags& f, bool no_flags) {
  RunConfig c = f.config;
  MOTIVE_CHECK(f.seed >= 0, "--seed ", f.seed, ": expected an integer from 0 to ", INT64_MAX);
  c.seed = static_cast<uint64_t>(f.seed);
  if (f.models_opt->count() > 0) {
    MOTIVE_CHECK(f.base_opt->count() == 0 && f.motivated_opt->count() == 0,
                 "--models names the whole chain; give it instead of --base and --motivated");
    MOTIVE_CHECK(f.models.size() >= 2, "--models needs at least two models, smallest first "
                 "(for one model alone: --base NAME)");
    c.base = f.models.front();
    c.middle.assign(f.models.begin() + 1, f.models.end() - 1);
    c.motivated = f.models.back();
  } else {
    // With --base alone the user asked for standard training of that base.
    const bool motivated_given = f.motivated_opt->count() > 0;
    c.motivated = f.motivated == "none" || (!motivated_given && f.base_opt->count() > 0)
                      ? std::string()
                      : f.motivated;
  }
  if (!c.has_motivated()) {
    MOTIVE_CHECK(f.trigger_opt->count() == 0 || c.trigger == "never", "--trigger ", c.trigger,
                 " needs a motivated model (--motivated NAME); without one the base trains alone");
    c.trigger = "never";
  }
  const bool adamw = c.optimizer == "adamw";
  if (f.lr_opt->count() == 0) c.lr = adamw ? 1e-3 : 0.1;
  if (f.wd_opt->count() == 0) c.weight_decay = adamw ? 0.05 : 5e-4;
  c.device = resolve_device(f.device);
  if (no_flags && c.device == "cpu") {
    c.limit_train = kCpuLimitTrain;
    c.limit_test = kCpuLimitTest;
  }
  if (c.out.empty()) c.out = default_out_dir();
  return c;
}

// --resume takes every setting from the run's config.json; the flags that
// the advice of a stopped run names (a lower --lr, a smaller --batch-size,
// --memory-limit, --workers) change it from the resumed step on, and any
// other flag is refused rather than silently ignored. Not --schedule: a
// schedule is a plan over the whole run (onecycle's warm-up and annealing are
// positions in it), and a new one from the middle has no one meaning; a lower
// --lr scales the plan from that step on.
RunChange resume_change(const CLI::App& cmd, const RunConfig& given) {
  static const std::set<std::string> allowed = {"--resume", "--quiet", "--lr", "--batch-size",
                                                "--workers", "--memory-limit"};
  for (const std::string& name : given_flags(cmd))
    if (allowed.count(name) == 0)
      fail("--resume continues the run with the settings in its config.json; ", name,
           " cannot change them (with --resume only --lr, --batch-size, --workers, "
           "--memory-limit and --quiet may be given)");
  RunChange change;
  if (cmd.count("--lr") > 0) change.lr = given.lr;
  if (cmd.count("--batch-size") > 0) change.batch_size = given.batch_size;
  if (cmd.count("--workers") > 0) change.workers = given.workers;
  if (cmd.count("--memory-limit") > 0) change.memory_limit_mib = given.memory_limit_mib;
  return change;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "train",
      "train a base model and a motivated model that contains it (with no flags at all: "
      "resnet20x0.5 in resnet20 on Fashion-MNIST, loss-decrease:1 + steps:1, 3 epochs; on a CPU "
      "the first " +
          std::to_string(kCpuLimitTrain) + " training and " + std::to_string(kCpuLimitTest) +
          " test images)");
  // A flag given twice takes the last value, as with most programs (scripts
  // append overrides to a base command line).
  cmd->option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  auto f = std::make_shared<TrainFlags>();
  RunConfig& c = f->config;

  cmd->add_option("--data", c.data,
                  "data set: fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse, "
                  "folder:PATH");
  cmd->add_option("--data-root", c.data_root,
                  "where data sets are looked for "
                  "(default: $MOTIVE_DATA_ROOT, else "
                  "~/.local/share/motive/datasets)");
  cmd->add_option("--limit-train", c.limit_train, "first N training images (-1: all)");
  cmd->add_option("--limit-test", c.limit_test, "first N test images (-1: all)");
  cmd->add_option("--classes", c.classes,
                  "train and test on these classes only, relabelled 0..k-1 in the order given "
                  "(0-4, 5-9, 0,2,7): e.g. pre-train on some classes and fine-tune on the "
                  "others; the limits count the images kept");
  cmd->add_flag("!--no-augment", c.augment,
                "train on the images as they are (default: the data set's standard augmentation, "
                "e.g. random crop and flip)");
  cmd->add_option("--init-from", c.init_from,
                  "start from a model `trainer export` wrote (motive format, base or motivated): "
                  "every tensor whose name and shape match is loaded into the level of the "
                  "file's architecture, or else the level matching the most tensors; the "
                  "classifier keeps its fresh initialisation when the class count differs "
                  "(docs/transfer.md)");
  cmd->add_flag("--reinit-head", c.reinit_head,
                "with --init-from: keep the classifier's fresh initialisation even when its "
                "shape matches the file's");
  cmd->add_option("--freeze", c.freeze,
                  "backbone: train the classifier alone on the --init-from model's features (a "
                  "linear probe; forward passes in evaluation mode)")
      ->check(CLI::IsMember({"backbone"}));
  f->base_opt =
      cmd->add_option("--base", c.base, "the base model (`trainer models` lists presets)");
  f->motivated_opt = cmd->add_option(
      "--motivated", f->motivated,
      "the motivated model, which must contain the base; none: train the base alone (the "
      "default when --base is given without --motivated)");
  f->models_opt = cmd->add_option(
                         "--models", f->models,
                         "a chain of nested models, smallest first, each containing the one "
                         "before (resnet20x0.25,resnet20x0.5,resnet20); instead of --base and "
                         "--motivated")
                      ->delimiter(',');
  f->trigger_opt = cmd->add_option(
      "--trigger", c.trigger,
      "when the motivated model trains: loss-decrease:K, random-rate:P, random-count:N, "
      "always (standard training of the motivated model), never (of the base); for a chain, "
      "one spec per level above the base, comma-separated, or one for all");
  cmd->add_option("--duration", c.duration,
                  "how long per activation: steps:M, while-improving (a chain: as --trigger)");
  cmd->add_option("--epochs", c.epochs, "passes over the training set");
  cmd->add_option("--batch-size", c.batch_size,
                  "images per step (on --resume: from the resumed step on; it must divide the "
                  "images the epoch has used); under mpirun the global batch, split evenly "
                  "over the ranks");
  f->lr_opt = cmd->add_option("--lr", c.lr,
                              "base learning rate, the peak for onecycle (default: 0.1 for sgd, "
                              "1e-3 for adamw; on --resume: the schedule's base from the resumed "
                              "step on)");
  cmd->add_option("--optimizer", c.optimizer, "sgd or adamw")
      ->check(CLI::IsMember({"sgd", "adamw"}));
  cmd->add_option("--momentum", c.momentum, "SGD momentum; AdamW's beta1, in [0, 1)");
  f->wd_opt = cmd->add_option("--weight-decay", c.weight_decay,
                              "weight decay, not on norms and biases (default: 5e-4 for sgd, "
                              "0.05 for adamw)");
  cmd->add_option("--schedule", c.schedule,
                  "learning-rate schedule: constant, step:N[:gamma], "
                  "cosine[:warmup=N][:min_lr=X], onecycle[:pct_start=X]");
  cmd->add_option("--bn-stats", c.bn_stats,
                  "BN running statistics: separate (one set per model; the default for models "
                  "with BatchNorm) or shared")
      ->check(CLI::IsMember({"separate", "shared"}));
  cmd->add_flag("--sync-bn", c.sync_bn,
                "under mpirun: BatchNorm batch statistics over the whole global batch (every "
                "rank's shard), so that N ranks train as one process would; CPU backend "
                "(default: each rank's own shard, as PyTorch DDP)");
  cmd->add_option("--recalibrate", c.recalibrate,
                  "also evaluate after recomputing BN statistics over N training batches (0: off)");
  cmd->add_option("--checkpoint-every", c.checkpoint_every,
                  "also write the checkpoint every N steps, so that an interrupted long epoch "
                  "resumes where it stopped (0: at epoch ends only)");
  cmd->add_option("--device", f->device, "cpu, cuda or auto (the GPU when one is usable)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->add_flag("--tf32", c.tf32, "TF32 tensor-core math for float32 on CUDA");
  cmd->add_option("--precision", c.precision,
                  "fp32, or bf16: mixed precision (bf16 activations and GEMM/conv operands, "
                  "float32 accumulation, master weights and optimizer state)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--workers", c.workers, "loader threads (0: one per core)");
  cmd->add_option("--memory-limit", c.memory_limit_mib,
                  "cap the tensor memory on the run's device, in MiB, e.g. to share a GPU; a "
                  "step past it stops the run as out of memory would (0: no cap)");
  cmd->add_option("--out", c.out, "the run directory (default: runs/YYYYmmdd-HHMMSS)");
  cmd->add_option("--seed", f->seed, "seed of the initialisation, data order and policy");
  cmd->add_option("--reference", c.reference,
                  "a finished standalone run of the motivated model (--trigger always) on the "
                  "same data and epochs: adds F_Ratio and ACC/F_Ratio to the summary");
  cmd->add_option("--resume", f->resume,
                  "continue the run in this directory from its checkpoint (from the start when it "
                  "has none yet)");
  cmd->add_flag("--quiet", f->quiet, "print nothing but errors");

  return {cmd, [f, cmd] {
            TrainOptions options;
            options.quiet = f->quiet;
            if (!f->resume.empty()) {
              options.change = resume_change(*cmd, f->config);
              train_resume(f->resume, options);
            } else {
              train_new(resolve(*f, given_flags(*cmd).empty()), options);
            }
          }};
}

}  // namespace motive
