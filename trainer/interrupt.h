// SIGINT (Ctrl-C) and SIGTERM while a run trains: the first one asks the run
// to stop after its current step; it then writes a checkpoint, says how to
// resume, and the program exits with 128 + the signal's number (130, 143), as
// a shell reports a process the signal ended. The handler is then the
// default again, so a second signal ends the process at once (checkpoint
// writes are atomic: the last one stays whole). In a data-parallel job the
// ranks agree after every step whether any of them got a signal, and all
// stop after the same step (trainer/train.cpp); there a second signal does
// not end a rank (a batch system's signal is followed by mpirun's copy).
#pragma once
#include <csignal>
#include <stdexcept>
#include <string>

namespace motive {

// Installs the handler for its lifetime (the previous ones come back after).
// With `repeat_kills` false a second signal is absorbed like the first: the
// ranks of a data-parallel job get a batch system's signal and then, a moment
// later, mpirun's copy of it, which must not end a rank that is stopping.
class StopOnSignals {
 public:
  explicit StopOnSignals(bool repeat_kills = true);
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

  // The signal that asked to stop, or 0.
  static int received();

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

// "SIGINT", "SIGTERM".
std::string signal_name(int signal);

// A run that stopped on a signal, with what to do next; the program prints
// what() (unless empty: the ranks of a data-parallel job other than rank 0
// stop silently) and exits with exit_code().
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace motive
