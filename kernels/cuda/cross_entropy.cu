// Softmax cross-entropy on the GPU. Forward: a group of threads per row
// (rows.cuh) holds the logits in registers, takes the stable log-sum-exp and
// the smoothing sum from them, writes the row's loss (double) and, for
// backward, the probabilities: one read of the logits, one write of probs.
// The mean over rows is a deterministic two-stage sum (reduce.cuh). Backward:
// dx = (probs - target) * grad / n in one pass.
#include <climits>

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
                   double smoothing, T* probs, double* row_loss) {
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
    if (g.lane == 0) {
      const double lse = static_cast<double>(e.max) + log(e.sum);
      row_loss[r] = lse - (1 - smoothing) * static_cast<double>(x[labels[r]]) -
                    smoothing / static_cast<double>(c) * row_sum;
    }
    if (probs) write_scaled_exp(row, g, e.max, static_cast<T>(1.0 / e.sum), probs + r * c);
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

template <class T, int N>
__global__ void __launch_bounds__(kRowThreads)
    backward_kernel(int group, int64_t n, int64_t c, const T* probs, const int32_t* labels,
                    double smoothing, const T* grad_loss, T* dx) {
  const RowGroup g(group);
  // The same constants as the CPU kernel, from the same double expressions.
  const double scale = static_cast<double>(*grad_loss) / static_cast<double>(n);
  const T k = static_cast<T>(scale), off = static_cast<T>(scale * smoothing / static_cast<double>(c));
  const T hit = static_cast<T>(scale * (1 - smoothing));
  const int64_t nvec = c / N;
  for (int64_t r = g.first_row; r < n; r += g.row_step) {
    const int64_t label = labels[r];
    for (int64_t v = g.lane; v < nvec; v += g.size) {
      const Vec<T, N> p = load_vec<N>(probs + r * c, v);
      Vec<T, N> o;
#pragma unroll
      for (int i = 0; i < N; ++i) {
        o.v[i] = k * p.v[i] - off;
        if (v * N + i == label) o.v[i] -= hit;
      }
      store_vec<N>(dx + r * c, v, o);
    }
  }
}

}  // namespace

void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, int64_t* first_bad) {
  *first_bad = -1;
  if (n == 0) return;
  Scratch<unsigned long long> bad(1);
  memset_bytes(bad.get(), 0xFF, sizeof(unsigned long long));  // ULLONG_MAX: none yet
  check_labels_kernel<<<blocks_for(n), 256, 0, stream()>>>(n, c, labels, bad.get());
  MOTIVE_CUDA_LAUNCH_CHECK("cross_entropy");
  unsigned long long host = 0;
  copy_device_to_host(&host, bad.get(), sizeof host);
  if (host != ULLONG_MAX) *first_bad = static_cast<int64_t>(host);
}

template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* probs, T* loss) {
  Scratch<double> row_loss(n);
  launch_rows<T>(n, c, {logits, probs}, [&](auto vec, auto maxv, const RowPlan& p) {
    forward_kernel<T, decltype(vec)::value, decltype(maxv)::value>
        <<<p.blocks, p.threads, 0, stream()>>>(p.group, n, c, logits, labels, smoothing, probs,
                                               row_loss.get());
  });
  MOTIVE_CUDA_LAUNCH_CHECK("cross_entropy");
  channel_sums<1, 1>(n, 1, RowLossAcc{row_loss.get()}, MeanLossFin<T>{n, loss}, "cross_entropy");
}

template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* probs, const int32_t* labels,
                            double smoothing, const T* grad_loss, T* dx) {
  with_vec_width<T>(c % kVec16<T> == 0 && all_aligned16({probs, dx}), [&](auto vec) {
    constexpr int N = decltype(vec)::value;
    const RowPlan p = plan_rows(n, c / N);
    backward_kernel<T, N><<<p.blocks, p.threads, 0, stream()>>>(p.group, n, c, probs, labels,
                                                                smoothing, grad_loss, dx);
  });
  MOTIVE_CUDA_LAUNCH_CHECK("cross_entropy backward");
}

#define MOTIVE_INSTANTIATE(T)                                                                 \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int32_t*, double,  \
                                         T*, T*);                                             \
  template void cross_entropy_backward<T>(int64_t, int64_t, const T*, const int32_t*, double, \
                                          const T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cuda
