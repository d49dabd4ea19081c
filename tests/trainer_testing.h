// Helpers for the trainer's tests: a run small enough for a unit test, the
// records a run wrote, and the trainer program run as a user runs it.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/file_fixtures.h"
#include "trainer/run_config.h"
#include "trainer/train.h"

namespace motive::test {

// resnet20x0.25 in resnet20x0.5 on 256 Fashion-MNIST images (8 steps of 32 an
// epoch), 2 epochs, loss-decrease:1 so that both models train: about a second.
inline RunConfig tiny_run(const std::string& out) {
  RunConfig c;
  c.limit_train = 256;
  c.limit_test = 200;
  c.base = "resnet20x0.25";
  c.motivated = "resnet20x0.5";
  c.trigger = "loss-decrease:1";
  c.epochs = 2;
  c.batch_size = 32;
  c.device = "cpu";
  c.workers = 2;
  c.out = out;
  return c;
}

// A run that prints nothing; `workers` overrides the config's on resume.
inline TrainOptions quiet(std::optional<int> workers = std::nullopt) {
  TrainOptions o;
  o.quiet = true;
  o.workers = workers;
  return o;
}

// The records of RUN/metrics.jsonl whose "type" is `type` ("step", "epoch").
inline std::vector<nlohmann::json> read_records(const std::string& run_dir,
                                                const std::string& type) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  REQUIRE(in);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("type") == type) out.push_back(j);
  }
  return out;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  return nlohmann::json::parse(in);
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Exec {
  int code = -1;
  std::string out, err;
};

// Runs build/bin/trainer with `args` (shell words), capturing its exit code,
// stdout and stderr.
inline Exec run_trainer(const std::string& args, const TempDir& scratch) {
  const std::string out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string cmd = std::string(MOTIVE_TRAINER_BIN) + " " + args + " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  Exec e;
  e.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  e.out = read_text(out);
  e.err = read_text(err);
  return e;
}

}  // namespace motive::test
