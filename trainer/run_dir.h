// A run directory belongs to one process at a time: `trainer train` and
// `trainer train --resume` hold an exclusive lock on RUN/trainer.lock
// (flock(2), released when the process ends, however it ends) for the whole
// run, so a second trainer on the same directory is refused instead of
// writing into the first one's files. The lock file holds the owner's pid,
// for the refusal's message; it stays in the directory.
#pragma once
#include <string>

namespace motive {

class RunDirLock {
 public:
  // For a new run: creates `dir` (and its parents), or takes an existing empty
  // directory. Of two trainers given the same directory at the same time,
  // exactly one gets it. Throws motive::Error, in one line, for a directory
  // in use, one that holds a run (continue it with --resume), one that holds
  // other files (named), and a path that is a file or cannot be created.
  static RunDirLock create(const std::string& dir);
  // For a resume: `dir` must hold a run (config.json). Throws motive::Error
  // when it does not or when another trainer is using it.
  static RunDirLock open(const std::string& dir);

  ~RunDirLock();
  RunDirLock(RunDirLock&& other) noexcept;
  RunDirLock& operator=(RunDirLock&&) = delete;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  explicit RunDirLock(const std::string& dir);
  int fd_ = -1;
};

}  // namespace motive
