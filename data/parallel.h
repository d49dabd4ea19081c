// A blocking parallel loop for one-off scans (image checks, channel
// statistics); the loader keeps its own long-lived workers.
#pragma once
#include <cstdint>
#include <functional>

namespace motive {

// Worker threads to use when the caller says 0: the machine's hardware threads.
int default_threads();

// Calls fn(begin, end) on `threads` threads (0: default_threads()) for
// contiguous ranges covering [0, n), and returns when all are done. The first
// exception (lowest range) is rethrown after every thread has finished.
void parallel_ranges(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace motive
