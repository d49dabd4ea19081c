// Data-parallel training over MPI (docs/distributed.md), run as a user runs
// it: `mpirun --oversubscribe -np 2 trainer train ...` on the CPU backend.
// Skips, in one line, in a build without MPI.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "dist/world.h"
#include "engine/serialize.h"
#include "models/nest.h"
#include "tests/trainer_testing.h"
#include "trainer/checkpoint.h"

using namespace motive;
using namespace motive::test;
namespace fs = std::filesystem;

namespace {

// A ViT pair without BatchNorm (the ranks' batch statistics would differ) and
// without dropout: 160 images, 20 steps of a global batch of 8, SGD at a
// constant lr 0.01, small enough that float reassociation of the summed
// gradients does not grow over 20 steps.
const std::string kPair =
    " --base vit-ti-p7-d1-h1-hd16 --motivated vit-ti-p7-d2-h2-hd16 --limit-train 160"
    " --limit-test 50 --epochs 1 --batch-size 8 --device cpu --workers 1 --trigger loss-decrease:1"
    " --lr 0.01 --schedule constant --quiet";

// A ResNet pair with BatchNorm, as kPair otherwise: with --sync-bn the ranks'
// batch statistics are the global batch's.
const std::string kBnPair =
    " --base resnet8x0.25 --motivated resnet8x0.5 --limit-train 160 --limit-test 50 --epochs 1"
    " --batch-size 8 --device cpu --workers 1 --trigger loss-decrease:1 --lr 0.01"
    " --schedule constant --quiet";

// kPair with `images` training images instead of 160.
std::string with_train_images(int images) {
  std::string args = kPair;
  const std::string limit = "--limit-train 160";
  return args.replace(args.find(limit), limit.size(), "--limit-train " + std::to_string(images));
}

bool skip_without_mpi() {
  if (dist::mpi_built()) return false;
  MESSAGE("skipped: this build has no MPI (configure with -DMOTIVE_MPI=ON)");
  return true;
}

// `mpirun -np N` before the trainer (root may run it: CI runs as root). In
// the sanitizer build the ranks run without LeakSanitizer: Open MPI keeps
// allocations of the plugins it loads and unloads (frames LSan cannot name,
// so no suppression matches them); AddressSanitizer and UBSan stay on, and the
// 1-rank runs here keep the leak check.
std::string mpirun(int ranks) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string options = std::string(asan ? asan : "") + (asan ? ":" : "") + "detect_leaks=0";
  return std::string(MOTIVE_MPIEXEC) + " --oversubscribe -x ASAN_OPTIONS=" + options + " -np " +
         std::to_string(ranks) + " ";
}

// The step records of two runs agree: same model every step, losses within
// 1e-4 relative.
void check_same_steps(const std::string& a, const std::string& b) {
  const auto x = read_records(a, "step"), y = read_records(b, "step");
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("step " << i);
    CHECK(x[i].at("model") == y[i].at("model"));
    const double la = x[i].at("loss"), lb = y[i].at("loss");
    CHECK(std::abs(la - lb) <= 1e-4 * std::abs(la));
  }
}

// The models' weights in two runs' checkpoints agree within 1e-4 (absolute,
// plus relative for large values); returns how many tensors were compared.
size_t check_same_weights(const std::string& a, const std::string& b) {
  const SafetensorsFile x = load_safetensors(checkpoint_path(a));
  const SafetensorsFile y = load_safetensors(checkpoint_path(b));
  std::map<std::string, Tensor> other(y.tensors.begin(), y.tensors.end());
  size_t compared = 0;
  for (const auto& [name, t] : x.tensors) {
    if (name.rfind("models.", 0) != 0) continue;
    REQUIRE(other.count(name) == 1);
    const std::vector<double> u = t.to_vector(), v = other.at(name).to_vector();
    REQUIRE(u.size() == v.size());
    double worst = 0;
    for (size_t i = 0; i < u.size(); ++i)
      worst = std::max(worst, std::abs(u[i] - v[i]) / (1 + std::abs(u[i])));
    INFO(name);
    CHECK(worst <= 1e-4);
    ++compared;
  }
  return compared;
}

// `args` trained by 1 rank into dir/one and by 2 into dir/two: `steps`
// steps, the same ones, and more than `tensors` tensors of the final weights
// the same.
void check_two_ranks_follow_one(const std::string& args, const TempDir& dir, size_t steps,
                                size_t tensors) {
  const Exec one = run_trainer("train" + args + " --out " + (dir / "one"), dir);
  REQUIRE_MESSAGE(one.code == 0, one.err);
  const Exec two = run_trainer("train" + args + " --out " + (dir / "two"), dir, mpirun(2));
  REQUIRE_MESSAGE(two.code == 0, two.err);
  REQUIRE(read_records(dir / "two", "step").size() == steps);
  check_same_steps(dir / "one", dir / "two");
  CHECK(check_same_weights(dir / "one", dir / "two") > tensors);
}

// Both models trained in `run` (a comparison then covers both kinds of step).
void check_both_models_trained(const std::string& run) {
  const auto steps = read_records(run, "step");
  CHECK(std::count_if(steps.begin(), steps.end(),
                      [](const auto& s) { return s.at("model") == "motivated"; }) > 0);
  CHECK(std::count_if(steps.begin(), steps.end(),
                      [](const auto& s) { return s.at("model") == "base"; }) > 0);
}

// The ranks of the mpirun whose pid is `mpirun` (its children), by the rank
// their environment names.
std::map<int, pid_t> job_ranks(pid_t mpirun) {
  std::map<int, pid_t> ranks;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t parent = -1;
    if (!(stat >> pid >> comm >> state >> parent) || parent != mpirun) continue;
    const std::string env = read_text(entry.path() / "environ");
    for (const int r : {0, 1})
      if (env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(r) + '\0') != std::string::npos)
        ranks[r] = std::stoi(name);
  }
  return ranks;
}

int64_t parameter_bytes(const Model& model) {
  int64_t bytes = 0;
  for (const auto& [name, p] : model.named_parameters()) bytes += p.numel() * 4;
  return bytes;
}

}  // namespace

TEST_CASE("data parallel: 2 ranks follow 1 rank with the same global batch") {
  if (skip_without_mpi()) return;
  TempDir dir;
  check_two_ranks_follow_one(kPair, dir, 20, 10);
  check_both_models_trained(dir / "two");
  const nlohmann::json summary = read_json(dir / "two/summary.json");
  CHECK(summary.at("data_parallel").at("world_size") == 2);
  CHECK(summary.at("data_parallel").at("backend") == "mpi");
  // Rank 0 alone wrote: one record per step, not two.
  CHECK(read_json(dir / "one/summary.json").count("data_parallel") == 0);
}

TEST_CASE("data parallel: with --sync-bn, 2 ranks of a BatchNorm pair follow 1 rank") {
  if (skip_without_mpi()) return;
  TempDir dir;
  // The weights and the running statistics of both models.
  check_two_ranks_follow_one(kBnPair + " --sync-bn", dir, 20, 20);
  check_both_models_trained(dir / "two");
  CHECK(read_json(dir / "two/summary.json").at("data_parallel").at("sync_bn") == true);
  // Without it each rank normalises its own 4 images: the losses part at once.
  const Exec apart = run_trainer("train" + kBnPair + " --out " + (dir / "apart"), dir, mpirun(2));
  REQUIRE_MESSAGE(apart.code == 0, apart.err);
  const double first = read_records(dir / "one", "step").at(0).at("loss");
  const double per_rank = read_records(dir / "apart", "step").at(0).at("loss");
  CHECK(std::abs(first - per_rank) > 1e-4 * std::abs(first));
  // A last batch smaller than the ranks would leave one without images.
  const Exec short_batch = run_trainer(
      "train" + kBnPair + " --sync-bn --limit-train 161 --out " + (dir / "short"), dir, mpirun(2));
  CHECK(short_batch.code == 2);
  CHECK(short_batch.err.find("--sync-bn: each epoch ends in a batch of 1 images") !=
        std::string::npos);
}

TEST_CASE("data parallel: a rank whose shard of the last batch is empty steps with the others") {
  if (skip_without_mpi()) return;
  // 17 images: the last global batch is one image, one rank's shard of it
  // empty. That rank runs no backward and starts its gradient buckets after
  // the loss's allreduce, the other during backward, before it.
  const std::string args = with_train_images(17);
  TempDir dir;
  check_two_ranks_follow_one(args, dir, 3, 10);
}

TEST_CASE("data parallel: a step allreduces exactly its model's parameter bytes") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const Exec e = run_trainer("train" + kPair + " --out " + (dir / "run"), dir, mpirun(2));
  REQUIRE_MESSAGE(e.code == 0, e.err);
  Generator gen(0);
  const NestedChain chain =
      nest({"vit-ti-p7-d1-h1-hd16", "vit-ti-p7-d2-h2-hd16"}, {1, 10, 28, 28}, gen);
  const int64_t base = parameter_bytes(chain.base()), motivated = parameter_bytes(chain.largest());
  REQUIRE(base < motivated);
  std::map<std::string, int64_t> seen;
  for (const auto& s : read_records(dir / "run", "step")) {
    const int64_t bytes = s.at("allreduce_bytes");
    CHECK(bytes == (s.at("model") == "base" ? base : motivated));
    seen[s.at("model")] = bytes;
  }
  CHECK(seen.size() == 2);
  const nlohmann::json per_step =
      read_json(dir / "run/summary.json").at("data_parallel").at("allreduce_bytes_per_step");
  CHECK(per_step.at("base") == base);
  CHECK(per_step.at("motivated") == motivated);
}

TEST_CASE("data parallel: a frozen backbone is not allreduced, only the classifier") {
  if (skip_without_mpi()) return;
  TempDir dir;
  REQUIRE(run_trainer("train" + with_train_images(16) + " --out " + (dir / "pre"), dir).code == 0);
  const std::string file = dir / "base.safetensors";
  REQUIRE(run_trainer("export --run " + (dir / "pre") + " --model base --out " + file, dir).code ==
          0);
  const Exec e = run_trainer("train" + kPair + " --init-from " + file +
                                 " --freeze backbone --out " + (dir / "probe"),
                             dir, mpirun(2));
  REQUIRE_MESSAGE(e.code == 0, e.err);
  Generator gen(0);
  const NestedChain chain =
      nest({"vit-ti-p7-d1-h1-hd16", "vit-ti-p7-d2-h2-hd16"}, {1, 10, 28, 28}, gen);
  const auto classifier_bytes = [](const Model& model) {
    int64_t bytes = 0;
    for (const auto& [name, p] : model.named_parameters())
      if (model.is_classifier(name)) bytes += p.numel() * 4;
    return bytes;
  };
  const int64_t base = classifier_bytes(chain.base()), motivated = classifier_bytes(chain.largest());
  REQUIRE(base > 0);
  REQUIRE(base < parameter_bytes(chain.base()));
  const auto steps = read_records(dir / "probe", "step");
  REQUIRE(!steps.empty());
  for (const auto& s : steps)
    CHECK(s.at("allreduce_bytes") == (s.at("model") == "base" ? base : motivated));
}

TEST_CASE("data parallel: a global batch that does not split over the ranks is refused") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const Exec e = run_trainer("train" + kPair + " --batch-size 7 --out " + (dir / "run"), dir, mpirun(2));
  CHECK(e.code == 2);
  CHECK(e.err.find("--batch-size 7 is the global batch and must split evenly over the 2 ranks") !=
        std::string::npos);
}

TEST_CASE("data parallel: a killed rank ends the job naming it; the run resumes on 1 rank") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const std::string args = "train" + kPair + " --epochs 3 --checkpoint-every 4 --out ";
  REQUIRE(run_trainer(args + (dir / "whole"), dir).code == 0);
  const std::string run = dir / "killed";
  // mpirun in the background; its ranks are its children.
  const Child c = spawn_trainer(args + run, dir, "job", mpirun(2));
  wait_for_lines(c, run + "/metrics.jsonl", 10);  // past the second checkpoint
  std::map<int, pid_t> ranks = job_ranks(c.pid);
  REQUIRE(ranks.size() == 2);
  const auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(kill(ranks[1], SIGKILL) == 0);
  const Exec e = wait_trainer(c);
  // The job has ended when rank 0 is gone too (a zombie of mpirun's counts).
  const auto alive = [](pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string p, comm, state;
    return stat >> p >> comm >> state && state != "Z";
  };
  while (alive(ranks[0]) && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  INFO(e.err);
  CHECK(e.code != 0);
  CHECK(seconds < 30);
  CHECK(e.err.find("rank 1") != std::string::npos);
  // The last checkpoint is intact: one rank finishes the run, as the
  // uninterrupted one went.
  const Exec resumed = run_trainer("train --resume " + run + " --quiet", dir);
  REQUIRE_MESSAGE(resumed.code == 0, resumed.err);
  check_same_steps(dir / "whole", run);
  check_same_weights(dir / "whole", run);
}

TEST_CASE("data parallel: SIGTERM to one rank stops every rank after the same step") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const std::string args = "train" + kPair + " --epochs 3 --out ";
  REQUIRE(run_trainer(args + (dir / "whole"), dir).code == 0);
  const std::string run = dir / "stopped";
  // One rank alone gets the signal: the other must stop after the same step.
  const Child c = spawn_trainer(args + run, dir, "job", mpirun(2));
  wait_for_lines(c, run + "/metrics.jsonl", 6);
  std::map<int, pid_t> ranks = job_ranks(c.pid);
  REQUIRE(ranks.size() == 2);
  REQUIRE(kill(ranks[1], SIGTERM) == 0);
  const Exec e = wait_trainer(c);
  INFO(e.err);
  CHECK(e.code != 0);
  CHECK(e.err.find("trainer: stopped by SIGTERM: " + run + "/checkpoint.safetensors keeps the "
                   "state after step") != std::string::npos);
  // One line from rank 0, none from rank 1.
  CHECK(e.err.find("trainer: stopped by") == e.err.rfind("trainer: stopped by"));
  const Exec resumed = run_trainer("train --resume " + run + " --quiet", dir);
  REQUIRE_MESSAGE(resumed.code == 0, resumed.err);
  check_same_steps(dir / "whole", run);
  check_same_weights(dir / "whole", run);
}

TEST_CASE("data parallel: a 1-rank checkpoint resumes on 2 ranks") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const std::string args = "train" + kPair + " --epochs 2 --checkpoint-every 4 --out ";
  REQUIRE(run_trainer(args + (dir / "whole"), dir).code == 0);
  const std::string run = dir / "stopped";
  const Child child = spawn_trainer(args + run, dir, "child");
  wait_for_lines(child, run + "/metrics.jsonl", 6);
  REQUIRE(kill(child.pid, SIGSTOP) == 0);
  REQUIRE(kill(child.pid, SIGINT) == 0);
  REQUIRE(kill(child.pid, SIGCONT) == 0);
  REQUIRE(wait_trainer(child).code == 128 + SIGINT);
  const Exec resumed = run_trainer("train --resume " + run + " --quiet", dir, mpirun(2));
  REQUIRE_MESSAGE(resumed.code == 0, resumed.err);
  check_same_steps(dir / "whole", run);
  check_same_weights(dir / "whole", run);
}

TEST_CASE("data parallel: a rank that hangs ends the job within the collective timeout") {
  if (skip_without_mpi()) return;
  TempDir dir;
  const std::string run = dir / "hung";
  setenv("MOTIVE_COLLECTIVE_TIMEOUT", "3", 1);
  const Child c =
      spawn_trainer("train" + kPair + " --epochs 3 --out " + run, dir, "job", mpirun(2));
  unsetenv("MOTIVE_COLLECTIVE_TIMEOUT");
  wait_for_lines(c, run + "/metrics.jsonl", 4);
  std::map<int, pid_t> ranks = job_ranks(c.pid);
  REQUIRE(ranks.size() == 2);
  const auto stopped_at = std::chrono::steady_clock::now();
  REQUIRE(kill(ranks[1], SIGSTOP) == 0);  // alive, but never reaches its next collective
  const Exec e = wait_trainer(c);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  INFO(e.err);
  CHECK(e.code != 0);
  CHECK(seconds < 30);
  CHECK(e.err.find("rank 0 of 2: a collective did not finish in 3 s: another rank died or hangs") !=
        std::string::npos);
}
