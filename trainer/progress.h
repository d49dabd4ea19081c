// What `trainer train` prints while it runs. On a terminal, one progress line
// redrawn in place (epoch, step, images/s, loss, the current model,
// activations so far, ETA) with log lines above it; otherwise (a file, a CI
// log) the same fields as plain lines, ten per epoch. Quiet prints nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "trainer/run_config.h"

namespace motive {

struct StepProgress {
  int64_t epoch = 0, epochs = 0;  // epoch is 0-based, shown 1-based
  int64_t steps_done = 0, total_steps = 0;
  double loss = 0;
  std::string model = "base";  // the level name of the model that ran
  int64_t activations = 0;
  double images_per_second = 0;
  double eta_seconds = 0;
};

class Progress {
 public:
  Progress(bool quiet, int64_t steps_per_epoch);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void step(const StepProgress& p);
  void line(const std::string& text);  // a log line

 private:
  bool quiet_, tty_;
  int64_t log_every_;
  bool line_open_ = false;  // a progress line is drawn and not yet ended
  std::chrono::steady_clock::time_point last_draw_{};
};

// "45s", "3m05s", "2h07m".
std::string format_duration(double seconds);

// The lines around the progress: what the run is (after "trainer: training "),
// an epoch's accuracies (from its metrics record), and the result (from the
// summary).
std::string run_banner(const RunConfig& config, const std::string& policy, const std::string& data,
                       int64_t steps_per_epoch);
std::string epoch_line(const RunConfig& config, const nlohmann::json& record);
std::string result_line(const RunConfig& config, const nlohmann::json& summary);

}  // namespace motive
