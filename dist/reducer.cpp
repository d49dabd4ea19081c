#include "dist/reducer.h"

#include "dist/world.h"

#ifdef MOTIVE_WITH_NCCL
#include "dist/nccl.h"
#endif

namespace motive::dist {
namespace {

void check_buffer(const Tensor& buffer) {
  MOTIVE_CHECK(buffer.dtype() == DType::F32 && buffer.is_contiguous(),
               "allreduce: expected a contiguous float32 buffer, got ", buffer.str());
}

// Host memory, or a GPU buffer staged through the host (builds without NCCL).
// Both go through the non-blocking sums' communicator (dist/world.h): a
// staged GPU buffer waits at once, a host buffer when wait() is called.
class MpiReducer : public Reducer {
 public:
  void sum(const Tensor& buffer) override {
    check_buffer(buffer);
    if (world_size() == 1) return;
    Tensor host = buffer.to(Device::CPU);  // itself on the host
    start_sum(host.data<float>(), host.numel());
    wait_sums();
    if (buffer.device() == Device::CPU) return;
    Tensor target = buffer;  // a handle: the copy writes the caller's buffer
    target.copy_(host);
  }
  void start(const Tensor& buffer) override {
    if (buffer.device() != Device::CPU) return Reducer::start(buffer);
    check_buffer(buffer);
    if (world_size() > 1) start_sum(buffer.data<float>(), buffer.numel());
  }
  void progress() override { progress_sums(); }
  void wait() override {
    wait_sums();
    Reducer::wait();
  }
  std::string name() const override { return world_size() == 1 ? "none" : "mpi"; }
};

}  // namespace

std::unique_ptr<Reducer> make_reducer(Device device) {
#ifdef MOTIVE_WITH_NCCL
  if (device == Device::CUDA) return make_nccl_reducer();
#else
  (void)device;
#endif
  return std::make_unique<MpiReducer>();
}

bool nccl_built() {
#ifdef MOTIVE_WITH_NCCL
  return true;
#else
  return false;
#endif
}

void bind_local_gpu() {
#ifdef MOTIVE_WITH_NCCL
  if (world_size() > 1) bind_local_gpu_nccl();
#endif
}

}  // namespace motive::dist
