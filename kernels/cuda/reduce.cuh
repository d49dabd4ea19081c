// Building blocks for the memory-bound CUDA kernels of the norm, softmax and
// loss ops: 16-byte vector access, deterministic warp/block reductions, pool
// scratch, and the "channels" geometry of batch norm / layer norm's parameter
// gradients: channel_sums, per-column sums of K computed quantities over the
// rows of a row-major [rows, cols] array (two stages, no atomics, so every run
// gives the same bits; column_sums.cuh is the plain sum of one array), and
// channel_map (y[r, c] = f(x[r, c]) with per-column constants in registers).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"

namespace motive::cuda {

// ------------------------------------------------------------ vectors ----

// N consecutive elements moved as one access (16 bytes for the widest N).
template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// Elements per 16-byte access: float 4, double 2.
template <class T>
constexpr int kVec16 = static_cast<int>(16 / sizeof(T));

__host__ __device__ inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Vector v (elements [v * N, v * N + N)) of p; p + v * N must be N-aligned.
template <int N, class T>
__device__ __forceinline__ Vec<T, N> load_vec(const T* p, int64_t v) {
  return reinterpret_cast<const Vec<T, N>*>(p)[v];
}
template <int N, class T>
__device__ __forceinline__ void store_vec(T* p, int64_t v, const Vec<T, N>& x) {
  reinterpret_cast<Vec<T, N>*>(p)[v] = x;
}

// Elements [v * N, v * N + N) of an optional 1-D parameter with stride
// `stride` (a prefix view of a bigger parameter keeps stride 1; a stepped
// slice does not): `absent` everywhere when p is null.
template <int N, class T>
__device__ __forceinline__ Vec<T, N> load_param(const T* p, int64_t stride, int64_t v, T absent) {
  Vec<T, N> out;
  if (p == nullptr) {
#pragma unroll
    for (int i = 0; i < N; ++i) out.v[i] = absent;
  } else if (N > 1 && stride == 1 && aligned16(p)) {
    out = load_vec<N>(p, v);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out.v[i] = p[(v * N + i) * stride];
  }
  return out;
}

inline bool all_aligned16(std::initializer_list<const void*> arrays) {
  for (const void* p : arrays)
    if (p != nullptr && !aligned16(p)) return false;
  return true;
}

// Calls f(std::integral_constant<int, N>) with N = kVec16<T> (16-byte
// accesses) when `wide`, else N = 1. Callers pass wide when every row of
// every array starts 16-byte aligned (row length a multiple of kVec16<T>,
// all_aligned16 of the arrays).
template <class T, class F>
void with_vec_width(bool wide, F&& f) {
  if (wide) f(std::integral_constant<int, kVec16<T>>{});
  else f(std::integral_constant<int, 1>{});
}

// ---------------------------------------------------------- reductions ----

struct SumOp {
  static __device__ __forceinline__ double apply(double a, double b) { return a + b; }
  static constexpr double kIdentity = 0.0;
};
struct MaxOp {
  static __device__ __forceinline__ double apply(double a, double b) { return a > b ? a : b; }
  static constexpr double kIdentity = -INFINITY;
};

// Butterfly over groups of `width` consecutive lanes (a power of two <= 32)
// whose lanes are `mask`: every lane ends with the same bits (each step
// combines the same pair in the same order on both sides), and the tree is
// fixed, so the result is deterministic.
template <class Op>
__device__ __forceinline__ double warp_allreduce(double v, int width,
                                                 unsigned mask = 0xffffffffu) {
  for (int offset = width / 2; offset > 0; offset /= 2)
    v = Op::apply(v, __shfl_xor_sync(mask, v, offset));
  return v;
}

// Over the whole block (blockDim.x a multiple of 32, <= 1024): every thread
// gets the result. smem: 32 doubles, reusable by the next call (the leading
// barrier keeps a call's writes off the previous call's reads).
template <class Op>
__device__ double block_allreduce(double v, double* smem) {
  v = warp_allreduce<Op>(v, 32);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  // Every warp reduces the same per-warp values the same way.
  return warp_allreduce<Op>(lane < static_cast<int>(blockDim.x / 32) ? smem[lane] : Op::kIdentity,
                            32);
}

// -------------------------------------------------------------- scratch ----

// Device scratch from the stream-ordered pool, returned when it goes out of
// scope: the release is ordered after the kernels queued before it.
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : p_(static_cast<T*>(allocate(static_cast<size_t>(n) * sizeof(T)))) {}
  ~Scratch() { release(p_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

// ----------------------------------------------- columns over many rows ----
//
// Blocks of kTileThreads = tx * ty threads: tx threads across column groups
// (N adjacent columns each, read as one vector; a warp reads 32/tx rows of
// tx * N contiguous columns), ty threads down the rows. Block (bx, by) owns
// column groups [bx * tx, bx * tx + tx) and rows by * ty + i * gridDim.y * ty:
// each thread keeps its column group for the whole kernel, so per-column
// constants load once into registers.

constexpr int kTileThreads = 256;

struct ChannelTiles {
  int tx, ty;
  int64_t gx;
  int gy;
};

// The grid depends on the shape only, so the column sums' order of
// summation, hence their bits, do too.
inline ChannelTiles plan_channels(int64_t rows, int64_t groups) {
  constexpr int64_t kTargetBlocks = 1024;  // ~8 resident blocks on each of 132 SMs
  constexpr int64_t kMinRowsPerThread = 4;  // amortises the per-block partials
  ChannelTiles t{};
  t.tx = 1;
  while (t.tx < 32 && t.tx < groups) t.tx *= 2;
  t.ty = kTileThreads / t.tx;
  t.gx = (groups + t.tx - 1) / t.tx;
  const int64_t by_rows = std::max<int64_t>(1, rows / (t.ty * kMinRowsPerThread));
  const int64_t by_target = std::max<int64_t>(1, kTargetBlocks / t.gx);
  t.gy = static_cast<int>(std::min<int64_t>({by_rows, by_target, 65535}));
  return t;
}

// This thread's column group (may be past the end) and first row.
struct TileThread {
  int tx, ty;
  int64_t group, row, row_step;
  __device__ explicit TileThread(const ChannelTiles& t)
      : tx(threadIdx.x % t.tx),
        ty(threadIdx.x / t.tx),
        group(int64_t(blockIdx.x) * t.tx + tx),
        row(int64_t(blockIdx.y) * t.ty + ty),
        row_step(int64_t(gridDim.y) * t.ty) {}
};

// Stage 1: block (bx, by) writes partial[k][by][col] = its rows' sum of
// quantity k. Acc: `State column(int64_t group) const` (per-thread constants)
// and `void add(const State&, int64_t row, int64_t group, double (&s)[K][N]) const`.
template <int K, int N, class Acc>
__global__ void __launch_bounds__(kTileThreads)
    column_partials_kernel(int64_t rows, int64_t groups, ChannelTiles t, Acc acc,
                           double* partial) {
  __shared__ double sm[K * N * kTileThreads];
  const TileThread th(t);
  double s[K][N] = {};
  if (th.group < groups) {
    const auto state = acc.column(th.group);
    // Unrolled so that several rows' loads are in flight before the adds.
#pragma unroll 4
    for (int64_t r = th.row; r < rows; r += th.row_step) acc.add(state, r, th.group, s);
  }
  // Fixed tree over the ty threads of each column: deterministic.
  auto at = [&](int q, int y) -> double& { return sm[(q * t.ty + y) * t.tx + th.tx]; };
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int i = 0; i < N; ++i) at(k * N + i, th.ty) = s[k][i];
  __syncthreads();
  for (int half = t.ty / 2; half > 0; half /= 2) {
    if (th.ty < half)
      for (int q = 0; q < K * N; ++q) at(q, th.ty) += at(q, th.ty + half);
    __syncthreads();
  }
  if (th.ty != 0 || th.group >= groups) return;
  const int64_t cols = groups * N;
  for (int k = 0; k < K; ++k)
    for (int i = 0; i < N; ++i)
      partial[(int64_t(k) * gridDim.y + blockIdx.y) * cols + th.group * N + i] = at(k * N + i, 0);
}

// Stage 2: one warp per column adds its partials in a fixed order and calls
// fin(col, double (&total)[K]) from lane 0.
template <int K, class Fin>
__global__ void column_finalize_kernel(int64_t cols, int parts, const double* partial, Fin fin) {
  const int64_t col = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (col >= cols) return;  // whole warps: col is uniform across a warp
  double total[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    double s = 0;
    // Unrolled so that the loads (from L2) overlap instead of queueing one by one.
#pragma unroll 8
    for (int p = lane; p < parts; p += 32) s += partial[(int64_t(k) * parts + p) * cols + col];
    total[k] = warp_allreduce<SumOp>(s, 32);
  }
  if (lane == 0) fin(col, total);
}

// Per-column sums of K quantities over `rows` rows, accumulated in double,
// deterministic; fin receives each column's totals on the device.
template <int K, int N, class Acc, class Fin>
void channel_sums(int64_t rows, int64_t cols, const Acc& acc, const Fin& fin, const char* op) {
  const int64_t groups = cols / N;
  const ChannelTiles t = plan_channels(rows, groups);
  Scratch<double> partial(int64_t(K) * t.gy * cols);
  column_partials_kernel<K, N><<<dim3(static_cast<unsigned>(t.gx), t.gy), kTileThreads, 0,
                                 stream()>>>(rows, groups, t, acc, partial.get());
  MOTIVE_CUDA_LAUNCH_CHECK(op);
  constexpr int kWarps = 8;
  column_finalize_kernel<K><<<static_cast<unsigned>((cols + kWarps - 1) / kWarps), 32 * kWarps, 0,
                              stream()>>>(cols, t.gy, partial.get(), fin);
  MOTIVE_CUDA_LAUNCH_CHECK(op);
}

// Map: `State column(int64_t group) const` and
// `void apply(const State&, int64_t row, int64_t group) const`.
template <class Map>
__global__ void __launch_bounds__(kTileThreads)
    channel_map_kernel(int64_t rows, int64_t groups, ChannelTiles t, Map map) {
  const TileThread th(t);
  if (th.group >= groups) return;
  const auto state = map.column(th.group);
  for (int64_t r = th.row; r < rows; r += th.row_step) map.apply(state, r, th.group);
}

// Runs map over every (row, column group) of a [rows, cols] array, N columns a group.
template <int N, class Map>
void channel_map(int64_t rows, int64_t cols, const Map& map, const char* op) {
  const int64_t groups = cols / N;
  const ChannelTiles t = plan_channels(rows, groups);
  channel_map_kernel<<<dim3(static_cast<unsigned>(t.gx), t.gy), kTileThreads, 0, stream()>>>(
      rows, groups, t, map);
  MOTIVE_CUDA_LAUNCH_CHECK(op);
}

}  // namespace motive::cuda
