// Helpers for the trainer's tests: a run small enough for a unit test, the
// records a run wrote, and the trainer program run as a user runs it.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
  o.change.workers = workers;
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

// Lines of a program's output: an error is one.
inline size_t lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

struct Exec {
  int code = -1;
  std::string out, err;
};

// Runs build/bin/trainer with `args` (shell words), capturing its exit code,
// stdout and stderr. `launcher` goes before the program (mpirun and its flags).
inline Exec run_trainer(const std::string& args, const TempDir& scratch,
                        const std::string& launcher = "") {
  const std::string out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string cmd =
      launcher + MOTIVE_TRAINER_BIN + " " + args + " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  Exec e;
  e.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  e.out = read_text(out);
  e.err = read_text(err);
  return e;
}

// A trainer started in the background, for tests that signal or race it.
struct Child {
  pid_t pid = -1;
  std::string out, err;
};

inline Child spawn_trainer(const std::string& args, const TempDir& scratch, const std::string& tag,
                           const std::string& launcher = "") {
  Child c{-1, scratch / (tag + ".out"), scratch / (tag + ".err")};
  // exec: the pid is the trainer's (or its launcher's), not a shell's.
  const std::string cmd =
      "exec " + launcher + MOTIVE_TRAINER_BIN + " " + args + " > " + c.out + " 2> " + c.err;
  c.pid = fork();
  REQUIRE(c.pid >= 0);
  if (c.pid == 0) {
    signal(SIGINT, SIG_DFL);  // as from a terminal, whatever this process inherited
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return c;
}

// Waits for it to end: the exit code, or 128 + the signal that ended it (as a
// shell reports it).
inline Exec wait_trainer(const Child& c) {
  int status = 0;
  REQUIRE(waitpid(c.pid, &status, 0) == c.pid);
  Exec e;
  e.code = WIFEXITED(status) ? WEXITSTATUS(status)
                             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  e.out = read_text(c.out);
  e.err = read_text(c.err);
  return e;
}

// Waits until the running trainer `c` has written `count` lines to `path`.
inline void wait_for_lines(const Child& c, const std::string& path, size_t count) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    if (lines(read_text(path)) >= count) return;
    int status = 0;
    REQUIRE_MESSAGE(waitpid(c.pid, &status, WNOHANG) == 0,
                    "the trainer ended early: " << read_text(c.err));
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    usleep(10'000);
  }
}

}  // namespace motive::test
