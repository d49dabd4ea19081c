// The trainer program's contract (docs/training.md): bad flags, unknown
// data sets or models, a base the motivated model cannot contain, a diverging
// loss: one clear line on stderr and exit code 2, and nothing already written
// is lost. --help works on every subcommand.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "engine/device.h"
#include "tests/trainer_testing.h"
#include "trainer/checkpoint.h"
#include "trainer/run_parts.h"
#include "trainer/train.h"

using namespace motive;
using namespace motive::test;

namespace {

// A run of seconds (4 steps an epoch); bad input is refused before any
// training. Later flags override these.
const std::string kSmall =
    " --limit-train 128 --limit-test 32 --base resnet20x0.25 --motivated resnet20x0.5 "
    "--batch-size 32 --epochs 1 --device cpu --workers 1 --quiet";

void check_refused(const std::string& args, const std::string& says, const TempDir& dir) {
  INFO("trainer " << args);
  const Exec e = run_trainer(args, dir);
  CHECK(e.code == 2);
  CHECK(lines(e.err) == 1);
  CHECK_MESSAGE(e.err.find(says) != std::string::npos, e.err);
}

}  // namespace

TEST_CASE("trainer cli: --help on the program and every subcommand") {
  TempDir dir;
  for (const char* args :
       {"--help", "train --help", "eval --help", "export --help", "models --help"}) {
    INFO(args);
    const Exec e = run_trainer(args, dir);
    CHECK(e.code == 0);
    CHECK(e.out.find("Usage:") != std::string::npos);
  }
  CHECK(run_trainer("train --help", dir).out.find("--recalibrate") != std::string::npos);
}

TEST_CASE("trainer cli: bad input is one line and exit code 2, before anything is written") {
  TempDir dir;
  const std::string out = " --out " + (dir / "run");
  check_refused("train" + kSmall + " --epochs 0", "--epochs 0: expected an integer from 1", dir);
  check_refused("train --bogus", "bogus", dir);
  check_refused("train --optimizer lion" + kSmall, "--optimizer", dir);
  check_refused("train --precision fp16" + kSmall, "--precision", dir);
  check_refused("train --data nope" + kSmall + out, "unknown data set", dir);
  check_refused("train --data-root /nonexistent --data mnist" + kSmall + out, "not found", dir);
  check_refused("train" + kSmall + out + " --base resnet21", "resnet21", dir);
  check_refused("train" + kSmall + out + " --base resnet32 --motivated resnet20", "cannot contain",
                dir);
  check_refused("train" + kSmall + out + " --trigger sometimes", "sometimes", dir);
  check_refused("train" + kSmall + out + " --duration forever", "forever", dir);
  check_refused("train" + kSmall + out + " --schedule zigzag", "zigzag", dir);
  check_refused("train" + kSmall + out + " --motivated none --trigger always",
                "needs a motivated model", dir);
  check_refused("train" + kSmall + out + " --reference " + (dir / "absent"), "absent", dir);
  // Models: families, chains, and capabilities a family lacks.
  const std::string vit = " --base vit-ti-p7-d1-h1 --motivated vit-ti-p7-d1-h2";
  check_refused("train" + kSmall + out + vit + " --bn-stats separate",
                "--bn-stats separate: vit-ti-p7-d1-h2 has no running statistics", dir);
  check_refused("train" + kSmall + out + vit + " --recalibrate 2",
                "--recalibrate: vit-ti-p7-d1-h2 has no running statistics", dir);
  check_refused("train" + kSmall + out + " --base vit-ti-p8", "does not divide the image side 28",
                dir);
  check_refused("train" + kSmall + out + " --base resnet8 --motivated vit-ti-p7",
                "not the same family (resnet vs vit)", dir);
  const std::string data =
      " --limit-train 128 --limit-test 32 --batch-size 32 --device cpu --quiet" + out;
  check_refused("train" + data + " --models resnet8", "--models needs at least two", dir);
  check_refused("train" + data + " --models resnet8,resnet14 --base resnet8",
                "instead of --base and --motivated", dir);
  check_refused("train" + data + " --models resnet8x0.5,resnet14,resnet8",
                "resnet8 cannot contain resnet14", dir);
  check_refused("eval --checkpoint " + (dir / "absent.safetensors"), "absent.safetensors", dir);
  check_refused("export --run " + (dir / "absent") + " --model base --out x.safetensors",
                "config.json", dir);
  if (!cuda_available())
    check_refused("train" + kSmall + out + " --device cuda", "no usable GPU", dir);
  CHECK_FALSE(std::filesystem::exists(dir / "run"));
}

TEST_CASE("trainer cli: an existing run is neither overwritten nor changed on resume") {
  TempDir dir;
  const std::string out = " --out " + (dir / "run");
  REQUIRE(run_trainer("train" + kSmall + out, dir).code == 0);
  const std::string config = read_text(dir / "run/config.json");
  check_refused("train" + kSmall + out, "already holds a run", dir);
  check_refused("train --resume " + (dir / "run") + " --epochs 5", "--epochs", dir);
  check_refused("train --resume " + (dir / "run") + " --lr 0.5", "is finished: --lr", dir);
  CHECK(run_trainer("train --resume " + (dir / "run") + " --quiet --workers 1", dir).code == 0);
  CHECK(read_text(dir / "run/config.json") == config);
  check_refused(
      "export --run " + (dir / "run") + " --model base --out " + (dir / "nowhere/x.safetensors"),
      "nowhere", dir);
  // A hand-edited config.json with a precision the trainer does not have.
  std::string edited = config;
  const size_t at = edited.find("\"fp32\"");
  REQUIRE(at != std::string::npos);
  edited.replace(at, 6, "\"fp16\"");
  write_text(dir / "run/config.json", edited);
  check_refused("train --resume " + (dir / "run"), "precision 'fp16': expected fp32 or bf16", dir);
}

TEST_CASE("trainer cli: a base trained alone has no motivated model to export") {
  TempDir dir;
  const Exec e = run_trainer(
      "train --limit-train 128 --limit-test 32 --base resnet20x0.25 "
      "--batch-size 32 --epochs 1 --device cpu --quiet --out " +
          (dir / "run"),
      dir);
  REQUIRE_MESSAGE(e.code == 0, e.err);
  const nlohmann::json summary = read_json(dir / "run/summary.json");
  CHECK(summary.at("motivated").is_null());
  CHECK(summary.at("motivated_steps") == 0);
  CHECK(summary.at("acc_motivated").is_null());
  CHECK(summary.at("train_flops_motivated") == 0);
  check_refused(
      "export --run " + (dir / "run") + " --model motivated --out " + (dir / "m.safetensors"),
      "no motivated model", dir);
}

TEST_CASE("trainer cli: a diverging loss stops the run, names the step, keeps the checkpoint") {
  TempDir dir;
  SUBCASE("in the first epoch: no checkpoint yet") {
    const Exec e = run_trainer("train" + kSmall + " --lr 1e30 --out " + (dir / "run"), dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK(e.err.find("diverged") != std::string::npos);
    CHECK(e.err.find("at step ") != std::string::npos);
    CHECK(e.err.find("no checkpoint") != std::string::npos);
    CHECK(std::filesystem::exists(dir / "run/config.json"));
    CHECK_FALSE(std::filesystem::exists(dir / "run/checkpoint.safetensors"));
    // The advice: a resume with a lower rate starts over at step 0 and ends.
    const std::string advice = "trainer train --resume " + (dir / "run") + " --lr 1e+29";
    REQUIRE_MESSAGE(e.err.find(advice) != std::string::npos, e.err);
    CHECK(run_trainer("train --resume " + (dir / "run") + " --quiet --lr 0.05", dir).code == 0);
    const auto steps = read_records(dir / "run", "step");
    CHECK(steps.size() == 4);
    CHECK(steps.front().at("step") == 0);
  }
  SUBCASE("in the second epoch: the first epoch's checkpoint stays") {
    // 4 steps an epoch; the rate jumps by 1e30 at step 4, the first of epoch 2.
    const Exec e = run_trainer(
        "train" + kSmall + " --epochs 3 --schedule step:4:1e30 --lr 0.05 --out " + (dir / "run"),
        dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK_MESSAGE(e.err.find("epoch 2, ") != std::string::npos, e.err);
    CHECK(e.err.find("after epoch 1") != std::string::npos);
    // The kept checkpoint is whole and resumable into the same pair.
    const RunConfig config = load_run_config(dir / "run");
    const NestedChain chain = build_chain(config);
    const auto optimizer = make_optimizer(config, chain);
    ChainPolicy policy = make_policy(config, 12);
    const TrainState state =
        load_checkpoint(checkpoint_path(dir / "run"), chain, *optimizer, policy);
    CHECK(state.counters.epochs_done == 1);
    CHECK(state.counters.steps == 4);
    // Every step before the diverging one is in metrics.jsonl.
    const size_t logged = read_records(dir / "run", "step").size();
    CHECK(logged >= 4);
    CHECK(e.err.find("at step " + std::to_string(logged) + " ") != std::string::npos);
  }
}

TEST_CASE("trainer cli: out of memory stops the run, names the step, keeps the checkpoint") {
  // --memory-limit caps the device's tensor memory, so the GPU's out-of-memory
  // path (the same OutOfMemory error) runs on any machine.
  TempDir dir;
  SUBCASE("in the first epoch: no checkpoint yet") {
    const Exec e =
        run_trainer("train" + kSmall + " --memory-limit 4 --out " + (dir / "run"), dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK_MESSAGE(e.err.find("step 0 (epoch 1, base model): out of cpu memory") !=
                      std::string::npos,
                  e.err);
    CHECK(e.err.find("no checkpoint") != std::string::npos);
    CHECK(e.err.find("resume with a smaller batch: trainer train --resume " + (dir / "run") +
                     " --batch-size 16 (or with a larger --memory-limit than 4)") !=
          std::string::npos);
  }
  SUBCASE("on resume: the checkpoint stays, and a resume with room or a smaller batch finishes") {
    RunConfig config = tiny_run(dir / "run");
    TrainOptions stop_after_one = quiet();
    stop_after_one.after_checkpoint = [](const RunCounters& saved) {
      return saved.epochs_done < 1;
    };
    train_new(config, stop_after_one);
    const Exec e = run_trainer("train --resume " + (dir / "run") + " --quiet --memory-limit 4", dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK_MESSAGE(e.err.find("step 8 (epoch 2, ") != std::string::npos, e.err);
    CHECK(e.err.find("keeps the state after epoch 1") != std::string::npos);
    CHECK(e.err.find("--batch-size 16") != std::string::npos);
    // The cap is recorded from step 8 on, so a plain resume runs out again;
    // the advice (a smaller batch, or more room) finishes it.
    const RunConfig recorded = load_run_config(dir / "run");
    CHECK(recorded.memory_limit_mib == 0);
    CHECK(recorded.at_step(8).memory_limit_mib == 4);
    CHECK(run_trainer("train --resume " + (dir / "run") + " --quiet", dir).code == 2);
    CHECK(run_trainer("train --resume " + (dir / "run") + " --quiet --memory-limit 0", dir).code ==
          0);
    CHECK(load_run_config(dir / "run").at_step(8).memory_limit_mib == 0);
    CHECK(read_json(dir / "run/summary.json").at("steps") == 16);
  }
}

TEST_CASE("trainer cli: --sync-bn is refused on the CUDA backend, naming the flag") {
  // Checked on the settings: on a machine without a GPU the CLI stops at the
  // device first.
  RunConfig config;
  config.sync_bn = true;
  config.device = "cuda";
  CHECK_THROWS_WITH_AS(check_run_config(config),
                       doctest::Contains("--sync-bn runs on the CPU backend only"), Error);
  config.device = "cpu";
  CHECK_NOTHROW(check_run_config(config));
}
