#include "dist/reducer.h"

#include "dist/world.h"

#ifdef MOTIVE_WITH_NCCL
#include "dist/nccl.h"
#endif

namespace motive::dist {
namespace {

// Host memory, or a GPU buffer staged through the host (builds without NCCL).
class MpiReducer : public Reducer {
 public:
  void sum(const Tensor& buffer) override {
    MOTIVE_CHECK(buffer.dtype() == DType::F32 && buffer.is_contiguous(),
                 "allreduce: expected a contiguous float32 buffer, got ", buffer.str());
    if (world_size() == 1) return;
    if (buffer.device() == Device::CPU) {
      allreduce_sum(buffer.data<float>(), buffer.numel());
      return;
    }
    Tensor host = buffer.to(Device::CPU);
    allreduce_sum(host.data<float>(), host.numel());
    Tensor target = buffer;  // a handle: the copy writes the caller's buffer
    target.copy_(host);
  }
  std::string name() const override { return world_size() == 1 ? "none" : "mpi"; }
};

}  // namespace

std::unique_ptr<Reducer> make_reducer(Device device) {
#ifdef MOTIVE_WITH_NCCL
  if (device == Device::CUDA && world_size() > 1) return make_nccl_reducer();
#else
  (void)device;
#endif
  return std::make_unique<MpiReducer>();
}

void bind_local_gpu() {
#ifdef MOTIVE_WITH_NCCL
  if (world_size() > 1) bind_local_gpu_nccl();
#endif
}

}  // namespace motive::dist
