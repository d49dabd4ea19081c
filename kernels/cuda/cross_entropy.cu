// Softmax cross-entropy on the GPU. Forward: a group of threads per row
// (rows.cuh) holds the logits in registers, takes the stable log-sum-exp and
// the smoothing sum from them, writes the row's loss (double) and, for
// backward, the gradient for a unit incoming gradient, (softmax - target) / n:
// one read of the logits, one write of the gradient, the fewest bytes a fused
// forward + backward can move. The mean over rows is a deterministic two-stage
// sum (reduce.cuh). Backward scales that gradient in place by the incoming
// one, and moves nothing when it is 1 (the loss as the root of backward). The
// labels are checked on the device, reported at the host's next wait.
#include <cmath>

#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/softmax_row.cuh"

namespace motive::cuda {
namespace {

__global__ void check_labels_kernel(int64_t n, int64_t c, const int32_t* labels,
                                    unsigned long long* first_bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    if (labels[i] < 0 || labels[i] >= c) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

template <class T, int N, int MAXV>
__global__ void __launch_bounds__(kRowThreads, 3)
    forward_kernel(int group, int64_t n, int64_t c, const T* logits, const int32_t* labels,
                   double smoothing, T* grad, double* row_loss) {
  __shared__ double smem[32];
  const RowGroup g(group);
  for (int64_t r = g.first_row; r < n; r += g.row_step) {
    const T* x = logits + r * c;
    const RowCache<T, N, MAXV> row({x}, c, g);
    const ShiftedExp<T> e = shifted_exp(row, g, smem);
    double xs = 0;
    row.for_each(g, [&](int64_t, const auto& v) {
#pragma unroll
      for (int i = 0; i < N; ++i) xs += v[0].v[i];
    });
    const double row_sum = g.allreduce<SumOp>(xs, smem);
    // A label out of range (reported by the deferred check) gives a NaN loss
    // and is never used as an index.
    const int64_t label = labels[r];
    const bool valid = label >= 0 && label < c;
    if (g.lane == 0) {
      const double lse = static_cast<double>(e.max) + log(e.sum);
      row_loss[r] = valid ? lse - (1 - smoothing) * static_cast<double>(x[label]) -
                                smoothing / static_cast<double>(c) * row_sum
                          : static_cast<double>(NAN);
    }
    if (grad == nullptr) continue;
    // The same constants as the CPU kernel, from the same double expressions.
    const double scale = 1.0 / static_cast<double>(n);
    const T k = static_cast<T>(scale), off = static_cast<T>(scale * smoothing / static_cast<double>(c));
    const T hit = static_cast<T>(scale * (1 - smoothing)), inv = static_cast<T>(1.0 / e.sum);
    row.for_each(g, [&](int64_t v, const auto& xv) {
      Vec<T, N> o;
#pragma unroll
      for (int i = 0; i < N; ++i) {
        o.v[i] = k * (static_cast<T>(exp(xv[0].v[i] - e.max)) * inv) - off;
        if (v * N + i == label) o.v[i] -= hit;
      }
      store_vec<N>(grad + r * c, v, o);
    });
  }
}

// Second stage of the mean: the row losses as a one-column sum.
struct RowLossAcc {
  const double* row_loss;
  struct State {};
  __device__ State column(int64_t) const { return {}; }
  __device__ void add(const State&, int64_t r, int64_t, double (&s)[1][1]) const {
    s[0][0] += row_loss[r];
  }
};

template <class T>
struct MeanLossFin {
  int64_t n;
  T* loss;
  __device__ void operator()(int64_t, const double (&total)[1]) const {
    *loss = static_cast<T>(total[0] / static_cast<double>(n));
  }
};

// grad *= *grad_loss; every thread leaves at once when it is 1.
template <class T>
__global__ void scale_kernel(int64_t count, const T* grad_loss, T* grad) {
  const T g = *grad_loss;
  if (g == T(1)) return;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    grad[i] *= g;
}

}  // namespace

void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, const BadLabel& bad) {
  if (n == 0) return;
  void* flag = allocate(sizeof(unsigned long long));
  memset_bytes(flag, 0xFF, sizeof(unsigned long long));  // ULLONG_MAX: none yet
  check_labels_kernel<<<blocks_for(n), 256, 0, stream()>>>(
      n, c, labels, static_cast<unsigned long long*>(flag));
  const cudaError_t launched = cudaGetLastError();
  if (launched != cudaSuccess) {
    release(flag);
    fail_cuda(launched, "cross_entropy", "label check launch");
  }
  defer_check(flag, bad);
}

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* grad, T* loss) {
  Scratch<double> row_loss(n);
  launch_rows<T>(n, c, {logits, grad}, [&](auto vec, auto maxv, const RowPlan& p) {
    forward_kernel<T, decltype(vec)::value, decltype(maxv)::value>
        <<<p.blocks, p.threads, 0, stream()>>>(p.group, n, c, logits, labels, smoothing, grad,
                                               row_loss.get());
  });
  MOTIVE_CUDA_LAUNCH_CHECK("cross_entropy");
  channel_sums<1, 1>(n, 1, RowLossAcc{row_loss.get()}, MeanLossFin<T>{n, loss}, "cross_entropy");
}

template <class T>
void cross_entropy_backward(int64_t count, const T* grad_loss, T* grad) {
  if (count == 0) return;
  scale_kernel<T><<<blocks_for(count), 256, 0, stream()>>>(count, grad_loss, grad);
  MOTIVE_CUDA_LAUNCH_CHECK("cross_entropy backward");
}

#define MOTIVE_INSTANTIATE(T)                                                                 \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int32_t*, double,  \
                                         T*, T*);                                             \
  template void cross_entropy_backward<T>(int64_t, const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
