#include "trainer/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "models/nest.h"

namespace motive {

std::string format_duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  return buf;
}

Progress::Progress(bool quiet, int64_t steps_per_epoch)
    : quiet_(quiet),
      tty_(isatty(fileno(stdout)) != 0),
      log_every_(std::max<int64_t>(1, steps_per_epoch / 10)) {}

Progress::~Progress() {
  if (line_open_) std::printf("\n");
}

void Progress::step(const StepProgress& p) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = p.steps_done == p.total_steps;
  if (tty_) {
    // Redrawing costs a write per step; ten a second is enough to read.
    if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else if (p.steps_done % log_every_ != 0 && !last) {
    return;
  }
  last_draw_ = now;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "epoch %lld/%lld  step %lld/%lld  %.0f img/s  loss %.4f  %-9s  activations %lld  "
                "ETA %s",
                static_cast<long long>(p.epoch + 1), static_cast<long long>(p.epochs),
                static_cast<long long>(p.steps_done), static_cast<long long>(p.total_steps),
                p.images_per_second, p.loss, p.model.c_str(),
                static_cast<long long>(p.activations), format_duration(p.eta_seconds).c_str());
  if (tty_) {
    std::printf("\r%s\033[K", buf);  // \033[K clears what a longer previous line left
    line_open_ = true;
  } else {
    std::printf("%s\n", buf);
  }
  std::fflush(stdout);
}

void Progress::line(const std::string& text) {
  if (quiet_) return;
  if (line_open_) std::printf("\r\033[K");  // the log line takes the progress line's place
  line_open_ = false;
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

namespace {

std::string percent(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", v.get<double>());
  return buf;
}

}  // namespace

std::string run_banner(const RunConfig& config, const std::string& policy, const std::string& data,
                       int64_t steps_per_epoch) {
  std::ostringstream os;
  const std::vector<std::string> chain = config.chain();
  for (size_t i = 0; i < chain.size(); ++i) os << (i ? " in " : "") << chain[i];
  os << " (" << policy << ") on " << data << "; " << config.epochs << " epochs x "
     << steps_per_epoch << " steps of " << config.batch_size << ", " << config.optimizer << " lr "
     << config.lr << ' ' << config.schedule << ", " << config.device << " -> " << config.out;
  return os.str();
}

std::string epoch_line(const RunConfig& config, const nlohmann::json& r) {
  std::ostringstream os;
  const std::vector<std::string> chain = config.chain();
  const auto key = [&](size_t level, const char* suffix) {
    return "acc_" + level_name(level, chain.size()) + suffix;
  };
  os << "epoch " << r.at("epoch").get<int64_t>() + 1 << '/' << config.epochs << ": test accuracy ";
  for (size_t level = 0; level < chain.size(); ++level)
    os << (level ? ", " : "") << chain[level] << ' ' << percent(r.at(key(level, "")));
  if (config.recalibrate > 0) {
    os << " (BN recalibrated: ";
    for (size_t level = 0; level < chain.size(); ++level)
      os << (level ? ", " : "") << percent(r.at(key(level, "_recalibrated")));
    os << ')';
  }
  os << "; " << r.at("motivated_steps").get<int64_t>() << " motivated steps of "
     << r.at("steps").get<int64_t>() << ", " << r.at("activations").get<int64_t>()
     << " activations";
  return os.str();
}

std::string result_line(const RunConfig& config, const nlohmann::json& s) {
  std::ostringstream os;
  os.precision(4);
  os << "done: " << s.at("train_flops").get<double>() / 1e15 << " PFLOPs in "
     << format_duration(s.at("wall_seconds").get<double>()) << " ("
     << static_cast<int64_t>(s.at("images_per_second").get<double>()) << " img/s), "
     << "switch bytes copied " << s.at("switch_bytes_copied").get<int64_t>();
  if (s.contains("f_ratio")) os << ", F_Ratio " << s.at("f_ratio").get<double>();
  os << "; summary in " << config.out << "/summary.json";
  return os.str();
}

}  // namespace motive
