// MOTIVE_HOST_DEVICE marks a function that both the host and CUDA kernels
// call (__host__ __device__ under nvcc, nothing for the host compiler).
#pragma once

#if defined(__CUDACC__)
#define MOTIVE_HOST_DEVICE __host__ __device__
#else
#define MOTIVE_HOST_DEVICE
#endif
