// The CUDA runtime as motive uses it: device discovery, the stream-ordered
// memory pool, host<->device copies, and strided copy/fill kernels. Declared
// without CUDA headers so engine/ can include it; defined in runtime.cu.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/dtype.h"

namespace motive::cuda {

int device_count();        // 0 when there is no driver or no device
std::string describe();    // one line: devices found, or the runtime's reason for none

// Stream-ordered pool (cudaMallocAsync on the compute stream; the pool keeps
// freed memory for reuse, so the training loop never reaches cudaMalloc).
// Out of memory throws motive::Error naming the request and the free memory.
void* allocate(size_t nbytes);
void release(void* p);
void memset_bytes(void* p, int value, size_t nbytes);

void copy_host_to_device(void* dst, const void* src, size_t nbytes);
void copy_device_to_host(void* dst, const void* src, size_t nbytes);  // waits for it
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
void synchronize();  // waits for all work on the compute stream

// Input checks that run on the device, so that the host does not wait for
// them (a label out of range): `flag` is 8 bytes from allocate(), which the
// check's kernel leaves at UINT64_MAX or sets to the first bad index. The host
// reads it at its next wait (copy_device_to_host, synchronize: every host read
// of a value, such as a loss's item()) and calls `report(index)` for a set
// flag, which throws the op's error there, like a CUDA error reported by a
// later call (PyTorch's device-side asserts, but recoverable). At most 64
// checks wait; one more makes the host wait then. Takes ownership of `flag`.
void defer_check(void* flag, std::function<void(int64_t index)> report);

// Same contracts as cpu::copy_strided / cpu::fill_strided, on device memory.
void copy_strided(int64_t rank, const int64_t* shape, void* dst, DType dst_type,
                  const int64_t* dst_strides, const void* src, DType src_type,
                  const int64_t* src_strides);
void fill_strided(int64_t rank, const int64_t* shape, void* dst, DType type,
                  const int64_t* strides, double value);

}  // namespace motive::cuda
