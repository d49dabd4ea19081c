#include "dist/world.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>
#include <vector>

#include "engine/error.h"

#ifdef MOTIVE_WITH_MPI
#include <mpi.h>
#endif

namespace motive::dist {
namespace {

// How many ranks the launcher started, from its environment (0: not launched
// by one). Open MPI's mpirun, then PMI (MPICH, Slurm), then PMIx.
int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

int g_rank = 0, g_size = 1, g_local_rank = 0;
bool g_joined = false;

#ifdef MOTIVE_WITH_MPI
// MPI counts in int; a larger buffer goes in pieces.
constexpr int64_t kMaxCount = std::numeric_limits<int>::max();

// The watchdog: MPI has no timeout, and a rank that hangs (stopped, stuck)
// without dying would keep the others in their collective forever. Each
// collective stamps its start; a thread checks the stamp every 100 ms and,
// past MOTIVE_COLLECTIVE_TIMEOUT seconds (default 600), prints one line and
// ends this process, which makes mpirun end the job. The thread calls no MPI.
using Clock = std::chrono::steady_clock;
std::atomic<int64_t> g_collective_since{0};  // Clock ticks; 0: in no collective

double collective_timeout() {
  const char* v = std::getenv("MOTIVE_COLLECTIVE_TIMEOUT");
  return v ? std::atof(v) : 600.0;
}

void start_watchdog() {
  const double timeout = collective_timeout();
  std::thread([timeout] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t since = g_collective_since.load();
      if (since == 0) continue;
      const double waited = std::chrono::duration<double>(
                                Clock::now() - Clock::time_point(Clock::duration(since)))
                                .count();
      if (waited < timeout) continue;
      std::fprintf(stderr,
                   "rank %d of %d: a collective did not finish in %g s: another rank died or "
                   "hangs; ending the job (MOTIVE_COLLECTIVE_TIMEOUT sets the limit)\n",
                   g_rank, g_size, timeout);
      std::_Exit(1);
    }
  }).detach();
}

// Marks the calling scope as waiting in a collective, for the watchdog.
struct InCollective {
  InCollective() { g_collective_since = Clock::now().time_since_epoch().count(); }
  ~InCollective() { g_collective_since = 0; }
};

// The non-blocking sums' communicator, and the sums started and not yet
// waited for.
MPI_Comm g_sums_comm = MPI_COMM_NULL;
std::vector<MPI_Request> g_sums;

template <class T>
void allreduce(T* data, int64_t count, MPI_Datatype type, MPI_Op op) {
  if (!g_joined) return;
  const InCollective waiting;
  for (int64_t at = 0; at < count; at += kMaxCount) {
    const int n = static_cast<int>(std::min(kMaxCount, count - at));
    MPI_Allreduce(MPI_IN_PLACE, data + at, n, type, op, MPI_COMM_WORLD);
  }
}
#endif

}  // namespace

bool mpi_built() {
#ifdef MOTIVE_WITH_MPI
  return true;
#else
  return false;
#endif
}

void init(int* argc, char*** argv) {
  const int launched = launched_ranks();
  if (launched == 0) return;
#ifdef MOTIVE_WITH_MPI
  // One thread calls MPI (the training loop); loader threads never do.
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_local_rank);
  MPI_Comm_free(&local);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_sums_comm);
  g_joined = true;
  if (g_size > 1) start_watchdog();
#else
  (void)argc;
  (void)argv;
  MOTIVE_CHECK(launched <= 1, "launched as one of ", launched,
               " processes, but this build has no MPI (configure with -DMOTIVE_MPI=ON after "
               "tools/setup.sh installs Open MPI)");
#endif
}

void finalize() {
#ifdef MOTIVE_WITH_MPI
  if (!g_joined) return;
  wait_sums();
  MPI_Comm_free(&g_sums_comm);
  MPI_Finalize();
  g_joined = false;
#endif
}

void abort(int code) {
#ifdef MOTIVE_WITH_MPI
  if (g_joined && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

int rank() { return g_rank; }
int world_size() { return g_size; }
int local_rank() { return g_local_rank; }
std::string backend() { return g_joined ? "mpi" : "none"; }

#ifdef MOTIVE_WITH_MPI
void allreduce_sum(float* data, int64_t count) { allreduce(data, count, MPI_FLOAT, MPI_SUM); }
void allreduce_sum(double* data, int64_t count) { allreduce(data, count, MPI_DOUBLE, MPI_SUM); }
void allreduce_max(double* data, int64_t count) { allreduce(data, count, MPI_DOUBLE, MPI_MAX); }
void broadcast(void* data, int64_t bytes, int root) {
  if (!g_joined) return;
  const InCollective waiting;
  auto* p = static_cast<char*>(data);
  for (int64_t at = 0; at < bytes; at += kMaxCount)
    MPI_Bcast(p + at, static_cast<int>(std::min(kMaxCount, bytes - at)), MPI_BYTE, root,
              MPI_COMM_WORLD);
}
void start_sum(float* data, int64_t count) {
  if (!g_joined) return;
  for (int64_t at = 0; at < count; at += kMaxCount) {
    const int n = static_cast<int>(std::min(kMaxCount, count - at));
    MPI_Iallreduce(MPI_IN_PLACE, data + at, n, MPI_FLOAT, MPI_SUM, g_sums_comm,
                   &g_sums.emplace_back());
  }
}
void progress_sums() {
  if (g_sums.empty()) return;
  int done = 0;
  MPI_Testall(static_cast<int>(g_sums.size()), g_sums.data(), &done, MPI_STATUSES_IGNORE);
  if (done) g_sums.clear();
}
void wait_sums() {
  if (g_sums.empty()) return;
  const InCollective waiting;
  MPI_Waitall(static_cast<int>(g_sums.size()), g_sums.data(), MPI_STATUSES_IGNORE);
  g_sums.clear();
}
#else
// A world of one: every collective leaves the data as it is.
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
void allreduce_max(double*, int64_t) {}
void broadcast(void*, int64_t, int) {}
void start_sum(float*, int64_t) {}
void progress_sums() {}
void wait_sums() {}
#endif

}  // namespace motive::dist
