#include "trainer/interrupt.h"

namespace motive {
namespace {

volatile std::sig_atomic_t g_received = 0;

extern "C" void on_stop_signal(int signal) { g_received = signal; }

// A signal the process was started to ignore (a shell's background job
// ignores SIGINT) stays ignored.
void install(int signal, const struct sigaction& action, struct sigaction* previous) {
  sigaction(signal, nullptr, previous);
  if (previous->sa_handler != SIG_IGN) sigaction(signal, &action, nullptr);
}

}  // namespace

StopOnSignals::StopOnSignals(bool repeat_kills) {
  g_received = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: the second signal meets the default action. SA_RESTART:
  // reads and waits the signal lands in go on.
  action.sa_flags = (repeat_kills ? SA_RESETHAND : 0) | SA_RESTART;
  install(SIGINT, action, &previous_int_);
  install(SIGTERM, action, &previous_term_);
}

StopOnSignals::~StopOnSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopOnSignals::received() { return g_received; }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace motive
