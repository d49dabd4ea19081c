#include "engine/device.h"

#include <atomic>

#include "engine/dispatch.h"  // MOTIVE_CUDA_ONLY
#include "kernels/cuda/host.h"
#include "kernels/cuda/runtime.h"

namespace motive {

namespace {
std::atomic<bool> g_allow_tf32{false};
}
void set_allow_tf32(bool on) { g_allow_tf32 = on; }
bool allow_tf32() { return g_allow_tf32; }

// The loader's plumbing: kernels/cuda/host.h's functions, which exist in CUDA
// builds only.
void* pinned_host_alloc([[maybe_unused]] size_t nbytes) {
  MOTIVE_CUDA_ONLY(return cuda::pinned_alloc(nbytes));
}
void pinned_host_free([[maybe_unused]] void* p) noexcept {
#ifdef MOTIVE_WITH_CUDA
  cuda::pinned_free(p);
#endif
}
DeviceEvent device_event_create() { MOTIVE_CUDA_ONLY(return cuda::event_create()); }
void device_event_destroy([[maybe_unused]] DeviceEvent e) noexcept {
#ifdef MOTIVE_WITH_CUDA
  cuda::event_destroy(e);
#endif
}
void device_event_synchronize([[maybe_unused]] DeviceEvent e) {
  MOTIVE_CUDA_ONLY(cuda::event_synchronize(e));
}
void copy_to_device_on_copy_stream([[maybe_unused]] void* dst, [[maybe_unused]] const void* src,
                                   [[maybe_unused]] size_t nbytes,
                                   [[maybe_unused]] DeviceEvent after,
                                   [[maybe_unused]] DeviceEvent done) {
  MOTIVE_CUDA_ONLY(cuda::copy_to_device_on_copy_stream(dst, src, nbytes, after, done));
}
void compute_stream_wait([[maybe_unused]] DeviceEvent e) {
  MOTIVE_CUDA_ONLY(cuda::compute_stream_wait(e));
}
void record_on_compute_stream([[maybe_unused]] DeviceEvent e) {
  MOTIVE_CUDA_ONLY(cuda::record_on_compute_stream(e));
}
void copy_device_to_device([[maybe_unused]] void* dst, [[maybe_unused]] const void* src,
                           [[maybe_unused]] size_t nbytes) {
  MOTIVE_CUDA_ONLY(cuda::copy_device_to_device(dst, src, nbytes));
}

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
