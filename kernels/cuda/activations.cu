// Pointwise activations on the GPU: one elementwise kernel template, the math
// is the functor table shared with the CPU (kernels/cpu/activation_math.h).
// 16-byte accesses when every array is 16-byte aligned (a scalar tail covers
// n % 4), one vector per thread: memory-bound, a read and a write per element
// forward, two reads and a write backward.
#include "kernels/bf16.h"
#include "kernels/cpu/activation_math.h"
#include "kernels/cuda/activations.h"
#include "kernels/cuda/reduce.cuh"

namespace motive::cuda {
namespace {

using activation_math::with_activation;

template <class A, class T>
struct Forward {
  const T* x;
  T* y;
  template <int W>
  __device__ void apply(int64_t e) const {
    const Vec<T, W> xv = load_vec<W>(x + e, 0);
    Vec<T, W> o;
#pragma unroll
    for (int i = 0; i < W; ++i) o.v[i] = A::f(static_cast<wide_t<T>>(xv.v[i]));
    store_vec<W>(y + e, 0, o);
  }
};

template <class A, class T>
struct Backward {
  const T* x;
  const T* g;
  T* dx;
  template <int W>
  __device__ void apply(int64_t e) const {
    const Vec<T, W> xv = load_vec<W>(x + e, 0), gv = load_vec<W>(g + e, 0);
    Vec<T, W> o;
#pragma unroll
    for (int i = 0; i < W; ++i) o.v[i] = gv.v[i] * A::df(static_cast<wide_t<T>>(xv.v[i]));
    store_vec<W>(dx + e, 0, o);
  }
};

// Work item i < n / N: elements [i N, i N + N) as one vector; the n % N items
// after them: one element each.
template <int N, class Op>
__global__ void map_kernel(int64_t n, Op op) {
  const int64_t nvec = n / N, items = nvec + n % N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < items;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (i < nvec) op.template apply<N>(i * N);
    else op.template apply<1>(nvec * N + (i - nvec));
  }
}

template <class T, class Op>
void launch_map(int64_t n, std::initializer_list<const void*> arrays, const Op& op,
                const char* name) {
  if (n == 0) return;
  with_vec_width<T>(all_aligned16(arrays), [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    map_kernel<N><<<blocks_for(n / N + n % N), 256, 0, stream()>>>(n, op);
  });
  MOTIVE_CUDA_LAUNCH_CHECK(name);
}

}  // namespace

template <class T>
void activation_forward(Activation a, int64_t n, const T* x, T* y) {
  with_activation(a, [&](auto act) {
    launch_map<T>(n, {x, y}, Forward<decltype(act), T>{x, y}, "activation");
  });
}

template <class T>
void activation_backward(Activation a, int64_t n, const T* x, const T* g, T* dx) {
  with_activation(a, [&](auto act) {
    launch_map<T>(n, {x, g, dx}, Backward<decltype(act), T>{x, g, dx}, "activation backward");
  });
}

#define MOTIVE_INSTANTIATE(T)                                                         \
  template void activation_forward<T>(Activation, int64_t, const T*, T*);            \
  template void activation_backward<T>(Activation, int64_t, const T*, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
