#include "kernels/bf16.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/reduce.cuh"
#include "kernels/layout.h"

namespace motive::cuda {
namespace {

template <class T>
__device__ T apply_op(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    default: return x / y;
  }
}

// Dense operands: N elements per thread as one 16-byte vector when every
// pointer is aligned (nvec = n / N vectors, the scalar tail done by the host's
// second launch with N = 1).
template <class T, int N>
__global__ void binary_dense(int64_t nvec, BinaryOp op, T* out, const T* a, const T* b) {
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < nvec;
       v += int64_t(gridDim.x) * blockDim.x) {
    const Vec<T, N> x = load_vec<N>(a, v), y = load_vec<N>(b, v);
    Vec<T, N> z;
#pragma unroll
    for (int i = 0; i < N; ++i) z.v[i] = apply_op(op, x.v[i], y.v[i]);
    store_vec<N>(out, v, z);
  }
}

template <class T>
__global__ void binary_strided(int64_t n, BinaryOp op, StridedIndexer<3> ix, T* out, const T* a,
                               const T* b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    ix.offsets(i, off);
    out[off[0]] = apply_op(op, a[off[1]], b[off[2]]);
  }
}

template <class T>
__global__ void affine_kernel(int64_t n, const T* a, wide_t<T> scale, wide_t<T> shift, T* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = a[i] * scale + shift;
}

// kept: indexer over the output's dims (input and output strides); reduced:
// indexer over the summed dims (input strides).
template <class T>
__global__ void sum_kernel(int64_t outputs, int64_t per_output, StridedIndexer<2> kept,
                           StridedIndexer<1> reduced, T* out, const T* in) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < outputs;
       o += int64_t(gridDim.x) * blockDim.x) {
    int64_t base[2];
    kept.offsets(o, base);
    double acc = 0;
    for (int64_t r = 0; r < per_output; ++r) {
      int64_t off[1];
      reduced.offsets(r, off);
      acc += static_cast<double>(in[base[0] + off[0]]);
    }
    out[base[1]] += static_cast<T>(acc);
  }
}

}  // namespace

template <class T>
void binary(BinaryOp op, int64_t rank, const int64_t* shape, T* out, const int64_t* os,
            const T* a, const int64_t* as, const T* b, const int64_t* bs) {
  const int64_t n = element_count(rank, shape);
  if (n == 0) return;
  if (is_dense(rank, shape, os) && is_dense(rank, shape, as) && is_dense(rank, shape, bs)) {
    constexpr int kN = kVec16<T>;
    const int64_t nvec = all_aligned16({out, a, b}) ? n / kN : 0;
    if (nvec > 0)
      binary_dense<T, kN><<<blocks_for(nvec), 256, 0, stream()>>>(nvec, op, out, a, b);
    const int64_t done = nvec * kN;
    if (done < n)
      binary_dense<T, 1><<<blocks_for(n - done), 256, 0, stream()>>>(n - done, op, out + done,
                                                                    a + done, b + done);
  } else {
    const int64_t* strides[3] = {os, as, bs};
    binary_strided<T><<<blocks_for(n), 256, 0, stream()>>>(
        n, op, make_indexer<3>(rank, shape, strides, "elementwise"), out, a, b);
  }
  MOTIVE_CUDA_LAUNCH_CHECK("elementwise");
}

template <class T>
void affine(int64_t n, const T* a, wide_t<T> scale, wide_t<T> shift, T* out) {
  if (n == 0) return;
  affine_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(n, a, scale, shift, out);
  MOTIVE_CUDA_LAUNCH_CHECK("affine");
}

template <class T>
void sum_into(int64_t rank, const int64_t* shape, T* out, const int64_t* os, const T* in,
              const int64_t* is) {
  // Split the dims: kept (output stride != 0 or size 1) and reduced.
  int64_t kept_shape[kMaxDims], kept_in[kMaxDims], kept_out[kMaxDims];
  int64_t red_shape[kMaxDims], red_in[kMaxDims];
  int64_t nk = 0, nr = 0, outputs = 1, per_output = 1;
  MOTIVE_CHECK(rank <= kMaxDims, "sum: CUDA kernels take at most ", kMaxDims, " dims");
  for (int64_t d = 0; d < rank; ++d) {
    if (os[d] != 0 || shape[d] == 1) {
      kept_shape[nk] = shape[d], kept_in[nk] = is[d], kept_out[nk] = os[d], ++nk;
      outputs *= shape[d];
    } else {
      red_shape[nr] = shape[d], red_in[nr] = is[d], ++nr;
      per_output *= shape[d];
    }
  }
  if (outputs == 0) return;
  const int64_t* ks[2] = {kept_in, kept_out};
  const int64_t* rs[1] = {red_in};
  sum_kernel<T><<<blocks_for(outputs), 256, 0, stream()>>>(
      outputs, per_output, make_indexer<2>(nk, kept_shape, ks, "sum"),
      make_indexer<1>(nr, red_shape, rs, "sum"), out, in);
  MOTIVE_CUDA_LAUNCH_CHECK("sum");
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template void binary<T>(BinaryOp, int64_t, const int64_t*, T*, const int64_t*, const T*,     \
                          const int64_t*, const T*, const int64_t*);                           \
  template void affine<T>(int64_t, const T*, wide_t<T>, wide_t<T>, T*);                        \
  template void sum_into<T>(int64_t, const int64_t*, T*, const int64_t*, const T*,             \
                            const int64_t*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)

}  // namespace motive::cuda
