#include "trainer/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace motive {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLockFile = "trainer.lock";

// "a.txt, notes/ and 3 more": what a directory holds besides the lock file.
std::vector<std::string> entries_besides_lock(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name == kLockFile) continue;
    names.push_back(name + (entry.is_directory(ec) ? "/" : ""));
  }
  MOTIVE_CHECK(!ec, "cannot list '", dir, "': ", ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::string some_of(const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  std::string out;
  for (size_t i = 0; i < std::min(names.size(), kShown); ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

}  // namespace

RunDirLock::RunDirLock(const std::string& dir) {
  const std::string path = dir + "/" + kLockFile;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MOTIVE_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char owner[32] = {};
    const ssize_t n = ::pread(fd, owner, sizeof owner - 1, 0);
    ::close(fd);
    MOTIVE_CHECK(err == EWOULDBLOCK, "cannot lock '", path, "': ", std::strerror(err));
    std::string pid(owner, n > 0 ? static_cast<size_t>(n) : 0);
    pid.erase(std::remove(pid.begin(), pid.end(), '\n'), pid.end());
    fail("'", dir, "' is in use by another trainer", pid.empty() ? "" : " (process " + pid + ")",
         ": wait for it to end, or give another directory");
  }
  fd_ = fd;
  // The owner's pid, for the message a second trainer gets.
  const std::string pid = std::to_string(::getpid()) + "\n";
  const bool written = ::ftruncate(fd_, 0) == 0 &&
                       ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  if (!written) {
    const int err = errno;
    ::close(fd_);
    fail("cannot write '", path, "': ", std::strerror(err));
  }
}

RunDirLock RunDirLock::create(const std::string& dir) {
  MOTIVE_CHECK(!dir.empty(), "train: no output directory (--out)");
  const fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    MOTIVE_CHECK(!ec, "cannot create '", parent.string(), "' for the run directory '", dir,
                 "': ", ec.message());
  }
  // mkdir either creates the directory or finds one: there is no moment at
  // which two trainers both see it missing. The lock then decides.
  if (::mkdir(dir.c_str(), 0777) != 0) {
    const int err = errno;
    MOTIVE_CHECK(err == EEXIST, "cannot create the run directory '", dir, "': ",
                 std::strerror(err));
    struct stat st {};
    MOTIVE_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "'", dir,
                 "' exists and is not a directory: give a new or empty directory for --out");
  }
  RunDirLock lock(dir);
  const std::vector<std::string> held = entries_besides_lock(dir);
  MOTIVE_CHECK(std::find(held.begin(), held.end(), "config.json") == held.end(), "'", dir,
               "' already holds a run: continue it with --resume ", dir, ", or give another --out");
  MOTIVE_CHECK(held.empty(), "'", dir, "' is not empty and holds no run (it has ", some_of(held),
               "): give a new or empty directory for --out");
  return lock;
}

RunDirLock RunDirLock::open(const std::string& dir) {
  std::error_code ec;
  MOTIVE_CHECK(fs::is_regular_file(dir + "/config.json", ec), "'", dir,
               "' holds no run (no config.json): start one with --out ", dir);
  return RunDirLock(dir);
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

RunDirLock::RunDirLock(RunDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

}  // namespace motive
