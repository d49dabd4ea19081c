#include "engine/device.h"

#include "kernels/cuda/runtime.h"

namespace motive {

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
