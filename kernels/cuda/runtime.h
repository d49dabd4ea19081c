// The CUDA runtime as motive uses it: device discovery, the stream-ordered
// memory pool, host<->device copies, and strided copy/fill kernels. Declared
// without CUDA headers so engine/ can include it; defined in runtime.cu.
#pragma once
#include <cstddef>
#include <cstdint>
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

// Same contracts as cpu::copy_strided / cpu::fill_strided, on device memory.
void copy_strided(int64_t rank, const int64_t* shape, void* dst, DType dst_type,
                  const int64_t* dst_strides, const void* src, DType src_type,
                  const int64_t* src_strides);
void fill_strided(int64_t rank, const int64_t* shape, void* dst, DType type,
                  const int64_t* strides, double value);

}  // namespace motive::cuda
