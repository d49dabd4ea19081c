// conv2d on the GPU against cuDNN called directly with its best algorithms.
//
// Shapes: ResNet 3x3 stride-1 pad-1 layers, N=256 at 32x32x64, 16x16x128 and
// 8x8x256 (CIFAR ResNet stages), and N=64 at 56x56x64 (ImageNet stage 1); each
// in exact fp32 (mode=0), with TF32 allowed (mode=1; PyTorch's default for
// cuDNN convolutions) and in bf16 with float32 accumulation (mode=2; what
// autocast runs, the bf16 operands made once outside the timed step).
//
// Rows, per shape and mode:
//   BM_CudnnBest  forward + backward-data + backward-filter through cuDNN's
//                 legacy API, each with the fastest algorithm cudnnFind*Ex
//                 reports for that math mode (workspace up to 1 GiB), no
//                 allocation in the loop: the ceiling.
//   BM_Conv       motive's conv2d forward and its recorded backward (dx, dw), as
//                 a network pays them: dx goes on to the previous layer, so the
//                 node's closure is called directly (a leaf's gradient
//                 accumulation is the leaf's cost). vs_cudnn = ours / ceiling.
//                 The last BM_Conv row (api=1, first shape, fp32) runs it
//                 through Tensor::backward with x and w as leaves instead,
//                 accumulation into their gradients included.
// Counters: TFLOP/s over 3 x 2*N*H*W*C_out*9*C_in (forward + two backward
// GEMM-equivalents) from the median iteration.
//
// Width nesting: BM_ConvNested runs a 32->32 base layer whose weight is the
// [0,32) x [0,32) sub-block view of a 64->64 3x3 OHWI weight (N=256, 32x32),
// forward + API backward; BM_ConvNestedDense the same layer with its own dense
// weight. Counters: pack_bytes (memory_stats(cuda).bytes_copied per step: the
// filter packed for cuDNN; the gradient scatter back into the owner's
// sub-block is an accumulate-add of the same size) and pack_share, the
// fraction of the nested step's time that the pack and scatter add.
//
// Timing: CUDA events on motive's stream around kReps steps after two warm-up
// steps (cuDNN algorithm search, handles, pool growth). Inputs are random
// normal values. Without a GPU (or the CUDA backend) it prints one line, exits 0.
#include "bench/cuda_bench.h"

#ifdef MOTIVE_WITH_CUDA
#include <cudnn.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "engine/autograd.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace motive;

namespace {

constexpr int kReps = 5;

struct ConvShape {
  int64_t n, hw, c;  // 3x3, stride 1, pad 1, C_in = C_out = c
};
const ConvShape kShapes[] = {{256, 32, 64}, {256, 16, 128}, {256, 8, 256}, {64, 56, 64}};
// Modes: exact fp32, TF32 allowed, bf16 (float32 accumulation).
enum Mode : int64_t { kFp32 = 0, kTf32 = 1, kBf16 = 2 };
double g_ceiling[4][3] = {};  // BM_CudnnBest's TFLOP/s by [shape][mode]

double train_flops(const ConvShape& s) {
  return 3.0 * static_cast<double>(conv2d_flops(s.n, s.hw, s.hw, s.c, 3, 3, s.c));
}

Tensor device_randn(const Shape& shape, uint64_t seed, DType dtype = DType::F32) {
  Generator gen(seed);
  return randn(shape, gen, dtype).to(Device::CUDA);
}

// The median seconds per step over the row's iterations (0 when the step failed).
template <class Step>
double time_steps(benchmark::State& state, Step&& step) {
  std::vector<double> per_step = bench::time_launches(state, kReps, step);
  if (per_step.empty()) return 0;
  std::nth_element(per_step.begin(), per_step.begin() + per_step.size() / 2, per_step.end());
  return per_step[per_step.size() / 2];
}

double set_tflops(benchmark::State& state, const ConvShape& s, double seconds) {
  const double tflops = seconds > 0 ? train_flops(s) / seconds * 1e-12 : 0;
  state.counters["TFLOP/s"] = tflops;
  return tflops;
}

#define CUDNN_OK(expr)                                            \
  do {                                                            \
    const cudnnStatus_t status_ = (expr);                         \
    if (status_ != CUDNN_STATUS_SUCCESS)                          \
      fail("bench: ", #expr, ": ", cudnnGetErrorString(status_)); \
  } while (0)

// Device buffers of one forward + backward step.
struct Buffers {
  const void *x, *w, *dy;
  void *y, *dx, *dw;
};

// The peer: cuDNN's legacy API driven directly, the way a framework with no
// extra layers would (descriptors once, best algorithms once, one workspace).
class CudnnConv {
 public:
  CudnnConv(const ConvShape& s, Mode mode, const Buffers& b) {
    const int n = int(s.n), c = int(s.c), hw = int(s.hw);
    const cudnnDataType_t type = mode == kBf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    const bool any_math = mode != kFp32;
    CUDNN_OK(cudnnCreate(&handle_));
    CUDNN_OK(cudnnSetStream(handle_, cuda::stream()));
    CUDNN_OK(cudnnCreateTensorDescriptor(&act_));
    CUDNN_OK(cudnnSetTensor4dDescriptor(act_, CUDNN_TENSOR_NHWC, type, n, c, hw, hw));
    CUDNN_OK(cudnnCreateFilterDescriptor(&filter_));
    CUDNN_OK(cudnnSetFilter4dDescriptor(filter_, type, CUDNN_TENSOR_NHWC, c, c, 3, 3));
    CUDNN_OK(cudnnCreateConvolutionDescriptor(&conv_));
    CUDNN_OK(cudnnSetConvolution2dDescriptor(conv_, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                             CUDNN_DATA_FLOAT));
    CUDNN_OK(cudnnSetConvolutionMathType(conv_, mode == kFp32   ? CUDNN_FMA_MATH
                                                : mode == kTf32 ? CUDNN_DEFAULT_MATH
                                                                : CUDNN_TENSOR_OP_MATH));
    workspace_ = cuda::allocate(kWorkspace);
    // Input and output have the same shape here, so one descriptor serves both.
    int count = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_OK(cudnnFindConvolutionForwardAlgorithmEx(handle_, act_, b.x, filter_, b.w, conv_, act_,
                                                    b.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count,
                                                    fwd, workspace_, kWorkspace));
    const int f = best(fwd, count, any_math);
    fwd_ = fwd[f].algo, fwd_math_ = fwd[f].mathType;
    cudnnConvolutionBwdDataAlgoPerf_t data[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_OK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        handle_, filter_, b.w, act_, b.dy, conv_, act_, b.dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
        &count, data, workspace_, kWorkspace));
    const int d = best(data, count, any_math);
    data_ = data[d].algo, data_math_ = data[d].mathType;
    cudnnConvolutionBwdFilterAlgoPerf_t filt[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_OK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        handle_, act_, b.x, act_, b.dy, conv_, filter_, b.dw,
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, filt, workspace_, kWorkspace));
    const int g = best(filt, count, any_math);
    filter_algo_ = filt[g].algo, filter_math_ = filt[g].mathType;
  }
  ~CudnnConv() {
    cuda::release(workspace_);
    cudnnDestroyConvolutionDescriptor(conv_);
    cudnnDestroyFilterDescriptor(filter_);
    cudnnDestroyTensorDescriptor(act_);
    cudnnDestroy(handle_);
  }
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  void step(const Buffers& b) {
    const float one = 1, zero = 0;
    CUDNN_OK(cudnnSetConvolutionMathType(conv_, fwd_math_));
    CUDNN_OK(cudnnConvolutionForward(handle_, &one, act_, b.x, filter_, b.w, conv_, fwd_,
                                     workspace_, kWorkspace, &zero, act_, b.y));
    CUDNN_OK(cudnnSetConvolutionMathType(conv_, data_math_));
    CUDNN_OK(cudnnConvolutionBackwardData(handle_, &one, filter_, b.w, act_, b.dy, conv_, data_,
                                          workspace_, kWorkspace, &zero, act_, b.dx));
    CUDNN_OK(cudnnSetConvolutionMathType(conv_, filter_math_));
    CUDNN_OK(cudnnConvolutionBackwardFilter(handle_, &one, act_, b.x, act_, b.dy, conv_,
                                            filter_algo_, workspace_, kWorkspace, &zero, filter_,
                                            b.dw));
  }

 private:
  static constexpr size_t kWorkspace = size_t{1} << 30;

  // any_math: tensor-core kernels qualify too (TF32, bf16).
  template <class Perf>
  static int best(const Perf* perf, int count, bool any_math) {
    for (int i = 0; i < count; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && (any_math || perf[i].mathType == CUDNN_FMA_MATH))
        return i;
    fail("bench: cuDNN found no algorithm");
  }

  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t act_ = nullptr;
  cudnnFilterDescriptor_t filter_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  void* workspace_ = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t data_{};
  cudnnConvolutionBwdFilterAlgo_t filter_algo_{};
  cudnnMathType_t fwd_math_{}, data_math_{}, filter_math_{};
};

// Sets allow_tf32 for one row and restores exact fp32 after it.
struct Tf32Scope {
  explicit Tf32Scope(bool on) { set_allow_tf32(on); }
  ~Tf32Scope() { set_allow_tf32(false); }
};

void BM_CudnnBest(benchmark::State& state) {
  const auto i = state.range(0);
  const Mode mode = Mode(state.range(1));
  const DType dtype = mode == kBf16 ? DType::BF16 : DType::F32;
  const ConvShape& s = kShapes[i];
  const Shape act{s.n, s.hw, s.hw, s.c}, filter{s.c, 3, 3, s.c};
  const Tensor x = device_randn(act, 1, dtype), w = device_randn(filter, 2, dtype);
  const Tensor dy = device_randn(act, 3, dtype);
  const Tensor y = Tensor::empty(act, dtype, Device::CUDA);
  const Tensor dx = Tensor::empty(act, dtype, Device::CUDA);
  const Tensor dw = Tensor::empty(filter, dtype, Device::CUDA);
  const Buffers b{x.raw_data(), w.raw_data(),  dy.raw_data(),
                  y.raw_data(), dx.raw_data(), dw.raw_data()};
  try {
    CudnnConv conv(s, mode, b);
    g_ceiling[i][mode] = set_tflops(state, s, time_steps(state, [&] { conv.step(b); }));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// range(2) = 0: the op's forward and its node's backward; 1: Tensor::backward
// with x and w as leaves (accumulation into their gradients included).
// bf16 rows read bf16 casts of float32 leaves, made once outside the step.
void BM_Conv(benchmark::State& state) {
  const auto i = state.range(0);
  const Mode mode = Mode(state.range(1));
  const bool api = state.range(2) != 0;
  const Tf32Scope tf32(mode == kTf32);
  const ConvShape& s = kShapes[i];
  Tensor x = device_randn({s.n, s.hw, s.hw, s.c}, 1), w = device_randn({s.c, 3, 3, s.c}, 2);
  x.requires_grad_();
  w.requires_grad_();
  Tensor dy = device_randn({s.n, s.hw, s.hw, s.c}, 3);
  if (mode == kBf16) {
    x = cast(x, DType::BF16);
    w = cast(w, DType::BF16);
    dy = dy.to(DType::BF16);
  }
  const double ours = set_tflops(state, s, time_steps(state, [&] {
                                   const Tensor y = conv2d(x, w, Tensor(), {1, 1, 1, 1});
                                   if (api) {
                                     y.backward(dy);
                                   } else {
                                     NoGradGuard backward_mode;
                                     y.impl().grad_fn->backward(dy);
                                   }
                                 }));
  if (g_ceiling[i][mode] > 0) state.counters["vs_cudnn"] = ours / g_ceiling[i][mode];
}

// Width nesting: a 32->32 layer over N=256 32x32 inputs.
constexpr int64_t kNestN = 256, kNestHW = 32, kBase = 32, kMotivated = 64;
double g_nested_dense_seconds = 0;

double nested_step_seconds(benchmark::State& state, const Tensor& w) {
  Tensor x = device_randn({kNestN, kNestHW, kNestHW, kBase}, 4);
  x.requires_grad_();
  const Tensor dy = device_randn({kNestN, kNestHW, kNestHW, kBase}, 5);
  auto step = [&] { conv2d(x, w, Tensor(), {1, 1, 1, 1}).backward(dy); };
  step();  // warm: the algorithm search happens here, outside the byte count
  const int64_t before = memory_stats(Device::CUDA).bytes_copied;
  step();
  state.counters["pack_bytes"] = double(memory_stats(Device::CUDA).bytes_copied - before);
  return time_steps(state, step);
}

void BM_ConvNestedDense(benchmark::State& state) {
  Tensor w = device_randn({kBase, 3, 3, kBase}, 6);
  w.requires_grad_();
  g_nested_dense_seconds = nested_step_seconds(state, w);
}

void BM_ConvNested(benchmark::State& state) {
  Tensor owner = device_randn({kMotivated, 3, 3, kMotivated}, 6);
  owner.requires_grad_();
  Tensor base;
  {
    NoGradGuard parameter_view;
    base = owner.slice(0, 0, kBase).slice(3, 0, kBase);
  }
  const double seconds = nested_step_seconds(state, base);
  if (seconds > 0 && g_nested_dense_seconds > 0)
    state.counters["pack_share"] = (seconds - g_nested_dense_seconds) / seconds;
}

void shapes_and_modes(benchmark::internal::Benchmark* b) {
  for (int64_t mode : {kFp32, kTf32, kBf16})
    for (int64_t i = 0; i < 4; ++i) b->Args({i, mode});
}

// BM_Conv's rows: the op on every shape and mode, then the API on the first.
void conv_rows(benchmark::internal::Benchmark* b) {
  for (int64_t mode : {kFp32, kTf32, kBf16})
    for (int64_t i = 0; i < 4; ++i) b->Args({i, mode, 0});
  b->Args({0, kFp32, 1});
}

}  // namespace

// The nesting rows first: they are cheap, and the algorithm searches of the
// rows after them are what a spent time budget (tools/gpu-check.sh) cuts.
BENCHMARK(BM_ConvNestedDense)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvNested)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CudnnBest)->Apply(shapes_and_modes)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Conv)->Apply(conv_rows)->UseManualTime()->Unit(benchmark::kMillisecond);
#endif  // MOTIVE_WITH_CUDA

int main(int argc, char** argv) {
  return motive::bench::cuda_bench_main("bench_cuda_conv", argc, argv);
}
