// The trainer against a careful, hostile user: a diverging run is stopped and
// nothing non-finite is ever checkpointed or exported; a resume can follow the
// advice of a stopped run (--lr, --batch-size, --memory-limit, --workers,
// recorded in config.json) and refuses any other change, including a
// config.json or checkpoint edited by hand; a run directory belongs to one
// process; SIGINT/SIGTERM stop a run with a checkpoint; a bad path or value
// is one line and exit code 2, and nothing already written is lost.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "engine/schedule.h"
#include "engine/serialize.h"
#include "tests/trainer_testing.h"
#include "trainer/checkpoint.h"
#include "trainer/finite.h"
#include "trainer/run_dir.h"

using namespace motive;
using namespace motive::test;
namespace fs = std::filesystem;

namespace {

// 4 steps an epoch; later flags override these.
const std::string kSmall =
    " --limit-train 128 --limit-test 32 --base resnet20x0.25 --motivated resnet20x0.5 "
    "--batch-size 32 --epochs 2 --device cpu --workers 1 --quiet";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// Every tensor of a safetensors file is finite.
bool all_values_finite(const std::string& path) {
  for (const auto& [name, t] : load_safetensors(path).tensors)
    for (const double v : t.to_vector())
      if (!std::isfinite(v)) return false;
  return true;
}

// A hand edit of a checkpoint's metadata entry ("state", "config"), as
// Python's safetensors would write it: the tensors stay, `edit` changes the
// JSON (or, returning false, removes the entry).
void edit_metadata(const std::string& path, const std::string& key,
                   const std::function<bool(nlohmann::json&)>& edit) {
  SafetensorsFile file = load_safetensors(path);
  nlohmann::json j = nlohmann::json::parse(file.metadata.at(key));
  if (edit(j))
    file.metadata[key] = j.dump();
  else
    file.metadata.erase(key);
  save_safetensors(path, file.tensors, file.metadata);
}

// A NaN written into the first value of a checkpoint's tensor `name`.
void write_nan(const std::string& path, const std::string& name) {
  SafetensorsFile file = load_safetensors(path);
  bool found = false;
  for (auto& [n, t] : file.tensors)
    if (n == name) {
      t.data<float>()[0] = std::nanf("");
      found = true;
    }
  REQUIRE(found);
  save_safetensors(path, file.tensors, file.metadata);
}

void edit_config(const std::string& run, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = read_json(run + "/config.json");
  edit(j);
  write_text(run + "/config.json", j.dump(2));
}

// A run's files, byte for byte (but the lock file, which holds its owner's
// pid): what a refused command must leave as it was.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename() != "trainer.lock")
      files[entry.path().filename().string()] = read_text(entry.path().string());
  return files;
}

// The records of a run, each line parsed: a torn line fails the parse.
void check_same_records(const std::string& a, const std::string& b) {
  CHECK(read_records(a, "step") == read_records(b, "step"));
  CHECK(read_records(a, "epoch") == read_records(b, "epoch"));
}

// Runs of the table below start from copies of these.
struct Fixtures {
  TempDir dir;
  std::string done = dir / "done", mid = dir / "mid";
  Fixtures() {
    RunConfig config = tiny_run(done);  // 8 steps of 32 an epoch
    config.epochs = 1;
    train_new(config, quiet());
    config = tiny_run(mid);
    config.checkpoint_every = 3;
    TrainOptions stop = quiet();
    stop.after_checkpoint = [](const RunCounters& saved) { return saved.steps < 3; };
    REQUIRE(train_new(config, stop).is_null());  // stopped at step 3, 96 images into epoch 1
  }
};

struct Refusal {
  const char* what;
  std::string args;  // RUN: the run directory of the case
  std::string says;  // part of the one line on stderr
  const char* fixture = "";  // "done" (a finished run), "mid" (stopped in epoch 1), "" (none)
  std::function<void(const std::string& run)> setup = nullptr;  // before the command
};

}  // namespace

TEST_CASE("trainer hardening: the finiteness check finds every NaN and infinity, and names it") {
  const double inf = HUGE_VAL, nan = std::nan("");
  for (const DType dtype : {DType::F32, DType::F64, DType::BF16}) {
    for (const double bad : {nan, inf, -inf}) {
      for (const bool strided : {false, true}) {
        INFO(dtype_name(dtype) << " " << bad << (strided ? " strided" : ""));
        std::vector<double> values(12, 1.5);
        values[7] = -3e38 * (dtype == DType::F64);  // finite, near float's limit in F64 only
        const Tensor ok = Tensor::from_vector(values, {3, 4}, dtype);
        values[5] = bad;
        Tensor broken = Tensor::from_vector(values, {3, 4}, dtype);
        if (strided) broken = broken.transpose(0, 1);
        CHECK(all_finite({{"a", ok}, {"b", ok.transpose(0, 1)}}));
        CHECK_FALSE(all_finite({{"a", ok}, {"b", broken}}));
        CHECK(find_non_finite({{"a", ok}, {"b", broken}}) ==
              "b (1 of 12 values are NaN or infinite)");
        CHECK_FALSE(find_non_finite({{"a", ok}}).has_value());
      }
    }
  }
  CHECK(all_finite({{"labels", Tensor::from_vector({1, 2}, {2}, DType::I32)}}));
}

TEST_CASE("trainer hardening: each refusal is one line, exit code 2, and loses nothing") {
  const Fixtures fixtures;
  const auto resume = [](const std::string& flags) { return "train --resume RUN --quiet" + flags; };
  const auto state = [](const std::function<void(nlohmann::json&)>& edit) {
    return [edit](const std::string& run) {
      edit_metadata(checkpoint_path(run), "state", [&](nlohmann::json& j) {
        edit(j);
        return true;
      });
    };
  };
  const auto config = [](const char* key, nlohmann::json value) {
    return [key, value](const std::string& run) {
      edit_config(run, [&](nlohmann::json& j) { j[key] = value; });
    };
  };
  const std::string train = "train" + kSmall + " --out ";
  std::vector<Refusal> table = {
      // A bad --out: before anything is written.
      {"--out is a file", train + "RUN", "exists and is not a directory", "",
       [](const std::string& run) { write_text(run, "x"); }},
      {"--out under a file", train + "RUN/sub", "Not a directory", "",
       [](const std::string& run) { write_text(run, "x"); }},
      {"--out in /proc", train + "/proc/motive-run", "cannot create the run directory '/proc/"},
      {"--out /dev/null", train + "/dev/null", "'/dev/null' exists and is not a directory"},
      {"--out holds other files but no run", train + "RUN",
       "is not empty and holds no run (it has notes.txt)", "",
       [](const std::string& run) { write_text(run + "/notes.txt", "mine"); }},
      // Values out of range: the flag and what it accepts.
      {"--lr 0", train + "RUN --lr 0", "--lr 0: expected a finite number above 0"},
      {"--limit-test 0", train + "RUN --limit-test 0", "--limit-test 0: expected -1"},
      {"--seed -1", train + "RUN --seed -1", "--seed -1: expected an integer from 0"},
      {"--epochs 10^12", train + "RUN --epochs 1000000000000",
       "--epochs 1000000000000: expected an integer from 1 to 1000000000"},
      {"--momentum 1", train + "RUN --momentum 1", "--momentum 1: expected a number from 0"},
      {"a run too short for onecycle", train + "RUN --limit-train 64 --epochs 1",
       "has only 2 steps (1 epoch of 2 batches of 32), fewer than --schedule onecycle needs: give "
       "--schedule constant"},
      // --resume: only the advice's flags.
      {"--resume a directory without a run", resume(""), "holds no run (no config.json)"},
      {"--resume --epochs", resume(" --epochs 5"), "--epochs cannot change them", "done"},
      {"--resume --schedule", resume(" --schedule constant"), "--schedule cannot change them",
       "done"},
      {"--resume a finished run with --lr", resume(" --lr 0.01"), "is finished: --lr would change",
       "done"},
      {"--resume --lr 0", resume(" --lr 0"), "--lr 0: expected a finite number above 0", "mid"},
      {"--resume --workers -1", resume(" --workers -1"), "--workers -1: expected an integer from 0",
       "mid"},
      {"--resume --batch-size that does not divide the epoch so far", resume(" --batch-size 64"),
       "the run stands 96 images into epoch 1, not a whole number of batches of 64; give a size "
       "that divides 96 (e.g. 48)",
       "mid"},
      // config.json edited: invalid, or disagreeing with the checkpoint.
      {"config.json: epochs 10^12", resume(""),
       "epochs 1000000000000: expected an integer from 1 to 1000000000", "done",
       config("epochs", 1000000000000)},
      {"config.json: epochs 1e12", resume(""), "key 'epochs' has the wrong type (1000000000000.0)",
       "done", config("epochs", 1e12)},
      {"config.json: device tpu", resume(""), "device 'tpu': expected cpu or cuda", "done",
       config("device", "tpu")},
      {"config.json: seed -1", resume(""), "key 'seed' has the wrong type (-1)", "done",
       config("seed", -1)},
      {"config.json: batch size", resume(""),
       "disagrees with its checkpoint on batch_size (config.json: 64, the checkpoint: 32)", "mid",
       config("batch_size", 64)},
      {"config.json: lr", resume(""), "disagrees with its checkpoint on lr", "mid",
       config("lr", 0.5)},
      {"config.json: seed", resume(""), "disagrees with its checkpoint on seed", "mid",
       config("seed", 3)},
      {"config.json: limits", resume(""), "disagrees with its checkpoint on limit_train", "mid",
       config("limit_train", 128)},
      {"config.json: epochs", resume(""), "disagrees with its checkpoint on epochs", "mid",
       config("epochs", 5)},
      {"config.json: models", resume(""), "disagrees with its checkpoint on base", "mid",
       config("base", "resnet20x0.5")},
      {"config.json: memory limit", resume(""), "disagrees with its checkpoint on memory_limit_mib",
       "mid", config("memory_limit_mib", 4)},
      {"config.json: changes", resume(""), "disagrees with its checkpoint on changes", "mid",
       config("changes", nlohmann::json::array({{{"from_step", 1}, {"lr", 0.5}}}))},
      // The checkpoint's metadata edited.
      {"checkpoint: no state", resume(""), "no 'state' in its metadata", "mid",
       [](const std::string& run) {
         edit_metadata(checkpoint_path(run), "state", [](nlohmann::json&) { return false; });
       }},
      {"checkpoint: negative metrics_bytes", resume(""), "key 'metrics_bytes' is -5", "mid",
       state([](nlohmann::json& j) { j["metrics_bytes"] = -5; })},
      {"checkpoint: steps of the wrong type", resume(""), "key 'steps' has the wrong type (\"x\")",
       "mid", state([](nlohmann::json& j) { j["counters"]["steps"] = "x"; })},
      {"checkpoint: negative epochs_done", resume(""), "key 'epochs_done' is -1", "mid",
       state([](nlohmann::json& j) { j["counters"]["epochs_done"] = -1; })},
      {"checkpoint: a data position elsewhere", resume(""), "is not where its step 3 stands", "mid",
       state([](nlohmann::json& j) { j["next_batch"] = 2; })},
  };
  if (geteuid() != 0)  // root writes into read-only directories
    table.push_back({"--out under a read-only directory", train + "RUN/sub", "Permission denied",
                     "", [](const std::string& run) {
                       fs::create_directories(run);
                       fs::permissions(run, fs::perms::owner_read | fs::perms::owner_exec);
                     }});

  for (const Refusal& row : table) {
    INFO("case: " << std::string(row.what));
    TempDir dir;
    const std::string run = dir / "run";
    if (std::string(row.fixture) == "done") fs::copy(fixtures.done, run, fs::copy_options::recursive);
    if (std::string(row.fixture) == "mid") fs::copy(fixtures.mid, run, fs::copy_options::recursive);
    if (row.setup) row.setup(run);
    const bool existed = fs::exists(run);
    const auto before = snapshot(run);
    const std::string args = replace_all(row.args, "RUN", run);
    INFO("trainer " << args);
    const Exec e = run_trainer(args, dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK_MESSAGE(e.err.find(row.says) != std::string::npos, e.err);
    CHECK(e.err.find("internal error") == std::string::npos);
    CHECK(e.err.find("17976931348623157") == std::string::npos);  // no DBL_MAX in full
    CHECK(fs::exists(run) == existed);
    CHECK(snapshot(run) == before);  // the checkpoint and metrics.jsonl as they were
    if (fs::exists(run)) fs::permissions(run, fs::perms::owner_all, fs::perm_options::add);
  }
}

TEST_CASE("trainer hardening: a NaN written into a checkpoint is refused by resume and export") {
  TempDir dir;
  const std::string run = dir / "run";
  RunConfig config = tiny_run(run);
  config.epochs = 3;
  TrainOptions stop = quiet();
  stop.after_checkpoint = [](const RunCounters& saved) { return saved.epochs_done < 1; };
  train_new(config, stop);
  write_nan(checkpoint_path(run), "models.motivated.stem.conv.weight");
  const auto before = snapshot(run);
  const Exec resumed = run_trainer("train --resume " + run + " --quiet", dir);
  CHECK(resumed.code == 2);
  CHECK(lines(resumed.err) == 1);
  CHECK_MESSAGE(resumed.err.find("models.motivated.stem.conv.weight (1 of 72 values are NaN or "
                                 "infinite)") != std::string::npos,
                resumed.err);
  const Exec exported = run_trainer(
      "export --run " + run + " --model base --out " + (dir / "base.safetensors"), dir);
  CHECK(exported.code == 2);
  CHECK(lines(exported.err) == 1);
  CHECK_MESSAGE(exported.err.find("the base model of '" + run + "' holds stem.conv.weight (1 of") !=
                    std::string::npos,
                exported.err);
  CHECK_FALSE(fs::exists(dir / "base.safetensors"));
  CHECK(snapshot(run) == before);
}

namespace {

// A run that diverges in its one epoch, checkpointing every step: exit code 2,
// one line naming the step, the epoch and what to do; the checkpoint it
// keeps and both models' exports hold only finite values.
Exec diverge(const std::string& flags, const std::string& run, const TempDir& dir) {
  const Exec e = run_trainer(
      "train --limit-train 256 --limit-test 64 --base resnet20x0.25 --motivated resnet20x0.5 "
      "--batch-size 32 --epochs 1 --device cpu --workers 1 --seed 7 --quiet --checkpoint-every 1 "
      "--out " + run + flags,
      dir);
  CHECK(e.code == 2);
  CHECK(lines(e.err) == 1);
  CHECK_MESSAGE(e.err.find("training diverged at step ") != std::string::npos, e.err);
  CHECK(e.err.find("; epoch 1, ") != std::string::npos);
  CHECK(e.err.find("keeps the state after step ") != std::string::npos);
  REQUIRE(fs::exists(checkpoint_path(run)));
  CHECK(all_values_finite(checkpoint_path(run)));
  for (const char* model : {"base", "motivated"}) {
    const std::string out = dir / (std::string(model) + ".safetensors");
    REQUIRE(run_trainer("export --run " + run + " --model " + model + " --out " + out, dir).code ==
            0);
    CHECK(all_values_finite(out));
  }
  return e;
}

}  // namespace

TEST_CASE("trainer hardening: a diverging run stops, keeps a finite checkpoint, and resumes") {
  TempDir dir;
  SUBCASE("lr 50: the loss explodes") {
    const std::string run = dir / "lr50";
    const Exec e = diverge(" --lr 50 --schedule constant", run, dir);
    CHECK(e.err.find("the loss has been above 230.259") != std::string::npos);
    CHECK(e.err.find("trainer train --resume " + run + " --lr 5") != std::string::npos);
    // The advice is followable: the run ends with the lower rate from the
    // kept checkpoint on, and config.json says from which step.
    const int64_t kept = nlohmann::json::parse(
        load_safetensors(checkpoint_path(run)).metadata.at("state"))["counters"]["steps"];
    const Exec resumed = run_trainer("train --resume " + run + " --lr 0.5 --quiet", dir);
    CHECK_MESSAGE(resumed.code == 0, resumed.err);
    const nlohmann::json changes = read_json(run + "/config.json").at("changes");
    CHECK(changes == nlohmann::json::array({{{"from_step", kept}, {"lr", 0.5}}}));
    for (const nlohmann::json& r : read_records(run, "step"))
      CHECK(r.at("lr").get<double>() == (r.at("step") < kept ? 50 : 0.5));
    CHECK(all_values_finite(checkpoint_path(run)));
  }
  SUBCASE("lr 10^6: the weights turn to NaN") {
    const Exec e = diverge(" --lr 1e6", dir / "lr1e6", dir);
    CHECK_MESSAGE(e.err.find("after its update, models.") != std::string::npos, e.err);
    CHECK(e.err.find("values are NaN or infinite") != std::string::npos);
    CHECK(e.err.find("--lr 100000") != std::string::npos);
  }
}

TEST_CASE("trainer hardening: a run directory belongs to one process") {
  TempDir dir;
  // 16 steps in its one epoch: still running when the test stops it.
  const std::string run = dir / "run",
                    args = "train" + kSmall + " --limit-train 512 --epochs 1 --out " + run;
  const Child first = spawn_trainer(args, dir, "first");
  wait_for_lines(first, run + "/metrics.jsonl", 1);
  REQUIRE(kill(first.pid, SIGSTOP) == 0);  // holds the directory, deterministically
  const std::string in_use =
      "'" + run + "' is in use by another trainer (process " + std::to_string(first.pid) + ")";
  for (const std::string& second : {"train --resume " + run + " --quiet", args}) {
    INFO(second);
    const Exec e = run_trainer(second, dir);
    CHECK(e.code == 2);
    CHECK(lines(e.err) == 1);
    CHECK_MESSAGE(e.err.find(in_use) != std::string::npos, e.err);
  }
  // Killed before its first checkpoint: the resume starts over at step 0, and
  // with the advice after running out of memory (a smaller batch, here a
  // larger one to be quick) it is the run started with it.
  REQUIRE(kill(first.pid, SIGKILL) == 0);
  CHECK(wait_trainer(first).code == 128 + SIGKILL);
  REQUIRE_FALSE(fs::exists(checkpoint_path(run)));
  const Exec resumed = run_trainer("train --resume " + run + " --quiet --batch-size 64", dir);
  CHECK_MESSAGE(resumed.code == 0, resumed.err);
  CHECK(read_json(run + "/config.json").at("changes") ==
        nlohmann::json::array({{{"from_step", 0}, {"batch_size", 64}}}));
  REQUIRE(run_trainer(replace_all(args, run, dir / "whole") + " --batch-size 64", dir).code == 0);
  check_same_records(dir / "whole", run);
}

TEST_CASE("trainer hardening: two trainers started together on one new --out: one wins") {
  TempDir dir;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string run = dir / ("run" + std::to_string(attempt));
    const std::string args = "train" + kSmall + " --limit-train 64 --schedule constant --out " + run;
    const Child a = spawn_trainer(args, dir, "a"), b = spawn_trainer(args, dir, "b");
    const Exec ea = wait_trainer(a), eb = wait_trainer(b);
    INFO("attempt " << attempt << ": " << ea.err << " / " << eb.err);
    CHECK(std::min(ea.code, eb.code) == 0);
    CHECK(std::max(ea.code, eb.code) == 2);
    const std::string& lost = ea.code == 0 ? eb.err : ea.err;
    CHECK(lines(lost) == 1);
    CHECK((lost.find("in use by another trainer") != std::string::npos ||
           lost.find("already holds a run") != std::string::npos));
    CHECK(read_records(run, "step").size() == 4);  // every line whole, none twice
    CHECK(read_records(run, "epoch").size() == 2);
  }
  // The same race between threads, many times: exactly one takes the directory.
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::string run = dir / ("threads" + std::to_string(attempt));
    std::atomic<int> ready{0}, won{0}, refused{0};
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<RunDirLock>> locks(4);
    for (size_t t = 0; t < locks.size(); ++t)
      threads.emplace_back([&, t] {
        ++ready;
        while (ready < static_cast<int>(locks.size())) {
        }
        try {
          locks[t] = std::make_unique<RunDirLock>(RunDirLock::create(run));
          ++won;
        } catch (const Error&) {
          ++refused;
        }
      });
    for (std::thread& t : threads) t.join();
    CHECK(won == 1);
    CHECK(refused == static_cast<int>(locks.size()) - 1);
  }
}

TEST_CASE("trainer hardening: SIGTERM and SIGINT stop a run with a checkpoint; it resumes exactly") {
  TempDir dir;
  const std::string args = "train" + kSmall + " --limit-train 192 --out ";
  REQUIRE(run_trainer(args + (dir / "whole"), dir).code == 0);  // 6 steps an epoch, 2 epochs
  for (const int signal : {SIGTERM, SIGINT}) {
    const std::string run = dir / ("stopped" + std::to_string(signal));
    const Child child = spawn_trainer(args + run, dir, "child");
    wait_for_lines(child, run + "/metrics.jsonl", 2);
    // Stopped, then signalled: the signal is handled in the step it resumes in.
    REQUIRE(kill(child.pid, SIGSTOP) == 0);
    REQUIRE(kill(child.pid, signal) == 0);
    REQUIRE(kill(child.pid, SIGCONT) == 0);
    const Exec e = wait_trainer(child);
    INFO(e.err);
    CHECK(e.code == 128 + signal);
    CHECK(lines(e.err) == 1);
    CHECK(e.err.find(signal == SIGTERM ? "stopped by SIGTERM: " : "stopped by SIGINT: ") !=
          std::string::npos);
    CHECK(e.err.find("continue with: trainer train --resume " + run) != std::string::npos);
    REQUIRE(fs::exists(checkpoint_path(run)));
    CHECK_FALSE(fs::exists(run + "/summary.json"));
    const Exec resumed = run_trainer("train --resume " + run + " --quiet", dir);
    CHECK_MESSAGE(resumed.code == 0, resumed.err);
    check_same_records(dir / "whole", run);
  }
}

TEST_CASE("trainer hardening: changes on resume are recorded; a second resume continues them") {
  TempDir dir;
  // 192 images of 32: 6 steps an epoch, 2 epochs; stopped at step 4.
  RunConfig config = tiny_run(dir / "once");
  config.limit_train = 192;
  config.checkpoint_every = 2;
  const auto stop_at = [](int64_t step) {
    return [step](const RunCounters& saved) { return saved.steps < step; };
  };
  TrainOptions change = quiet();
  change.change.lr = 0.05;
  change.change.batch_size = 16;  // 128 images into epoch 1: from its 9th batch of 16 on
  for (const char* name : {"once", "twice"}) {
    config.out = dir / name;
    TrainOptions first = quiet();
    first.after_checkpoint = stop_at(4);
    REQUIRE(train_new(config, first).is_null());
    if (std::string(name) == "once") {
      train_resume(config.out, change);
    } else {  // stopped again after the change; a second resume, with no flags
      TrainOptions changed_then_stopped = change;
      changed_then_stopped.after_checkpoint = stop_at(10);
      REQUIRE(train_resume(config.out, changed_then_stopped).is_null());
      train_resume(config.out, quiet());
    }
  }
  check_same_records(dir / "once", dir / "twice");
  const nlohmann::json changes = read_json(dir / "twice/config.json").at("changes");
  CHECK(changes == nlohmann::json::array({{{"from_step", 4}, {"lr", 0.05}, {"batch_size", 16}}}));
  const auto steps = read_records(dir / "twice", "step");
  // 4 steps of 32, 4 of 16 to the end of epoch 1, 12 of 16 in epoch 2.
  REQUIRE(steps.size() == 4 + 4 + 12);
  CHECK(steps[7].at("epoch") == 0);
  CHECK(steps[8].at("epoch") == 1);
  // The schedule's plan goes on where it was, with the new base rate, its 8
  // remaining planned steps stretched over the 16 steps of 16 left.
  const auto before = make_schedule("onecycle", 0.1, 12), after = make_schedule("onecycle", 0.05, 12);
  CHECK(steps[3].at("lr").get<double>() == before->lr_at(3));
  CHECK(steps[4].at("lr").get<double>() == after->lr_at(4));
  CHECK(steps[12].at("lr").get<double>() == after->lr_at(8));
  CHECK(steps[19].at("lr").get<double>() == after->lr_at(12));
  const nlohmann::json summary = read_json(dir / "twice/summary.json");
  CHECK(summary.at("steps") == 20);
  CHECK(summary.at("train_images_base").get<int64_t>() +
            summary.at("train_images_motivated").get<int64_t>() ==
        2 * 192);
}
