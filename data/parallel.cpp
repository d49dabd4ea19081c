#include "data/parallel.h"

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace motive {

int default_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void parallel_ranges(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t t =
      std::max<int64_t>(1, std::min<int64_t>(threads > 0 ? threads : default_threads(), n));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(t));
  std::vector<std::thread> pool;
  for (int64_t k = 0; k < t; ++k)
    pool.emplace_back([&, k] {
      try {
        fn(n * k / t, n * (k + 1) / t);
      } catch (...) {
        errors[static_cast<size_t>(k)] = std::current_exception();
      }
    });
  for (std::thread& th : pool) th.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace motive
