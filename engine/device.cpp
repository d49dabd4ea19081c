#include "engine/device.h"

#include <atomic>

#include "kernels/cuda/runtime.h"

namespace motive {

namespace {
std::atomic<bool> g_allow_tf32{false};
}
void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

#ifdef MOTIVE_WITH_CUDA
bool cuda_built() { return true; }
bool cuda_available() { return cuda::device_count() > 0; }
std::string cuda_describe() { return cuda::describe(); }
#else
bool cuda_built() { return false; }
bool cuda_available() { return false; }
std::string cuda_describe() { return "cuda: not built (configure with -DMOTIVE_CUDA=ON)"; }
#endif

}  // namespace motive
