#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "kernels/bf16.h"
#include "kernels/cuda/column_sums.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/reduce.cuh"
#include "kernels/cuda/runtime.h"

namespace motive::cuda {
namespace {

std::string describe(const Conv2dShape& s) {
  const auto& v = s.win;
  return "input [" + std::to_string(s.n) + "," + std::to_string(v.h) + "," + std::to_string(v.w) +
         "," + std::to_string(s.c_in) + "] weight [" + std::to_string(s.c_out) + "," +
         std::to_string(v.k_h) + "," + std::to_string(v.k_w) + "," +
         std::to_string(s.c_in / s.groups) + "] stride " + std::to_string(v.stride) + " padding " +
         std::to_string(v.padding) + " dilation " + std::to_string(v.dilation) + " groups " +
         std::to_string(s.groups);
}

// Device memory from the stream-ordered pool for the length of one call; the
// release is stream-ordered too, so it may happen right after the enqueue.
class Workspace {
 public:
  explicit Workspace(size_t nbytes) : nbytes_(nbytes), p_(nbytes ? allocate(nbytes) : nullptr) {}
  ~Workspace() {
    if (p_) release(p_);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return p_; }
  size_t size() const { return nbytes_; }

 private:
  size_t nbytes_;
  void* p_;
};

// ------------------------------------------------------- bias (every dtype) ----

// After cuDNN: y += b in wide_t<T> (for bf16 a second rounding of y, as in
// PyTorch, whose cuDNN path adds the bias to the bf16 output the same way).
template <class T>
__global__ void add_bias_kernel(int64_t total, int64_t c, const T* b, T* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = static_cast<wide_t<T>>(y[i]) + static_cast<wide_t<T>>(b[i % c]);
}

// ------------------------------------------------------- direct kernels ----
// For float64, and for float32/bf16 geometries cuDNN offers no algorithm for.
// Forward and backward-data: one thread per output element, taps in (kh, kw)
// order, channels innermost, accumulating in wide_t<T> (float for bf16,
// rounded once at the store); backward-filter: im2col + GEMM (below).
// Simple and exact, not tuned (float64 is the reference dtype, not a training one).

// The forward adds the bias (when b is non-null) in the accumulator.
template <class T>
__global__ void direct_forward(int64_t total, Conv2dShape s, const T* x, const T* w, const T* b,
                               T* y) {
  const auto& v = s.win;
  const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t co = i % s.c_out, ow = i / s.c_out % v.w_out,
                  oh = i / s.c_out / v.w_out % v.h_out;
    const int64_t n = i / s.c_out / v.w_out / v.h_out;
    wide_t<T> acc = b ? static_cast<wide_t<T>>(b[co]) : wide_t<T>(0);
    for (int64_t kh = 0; kh < v.k_h; ++kh) {
      const int64_t ih = oh * v.stride - v.padding + kh * v.dilation;
      if (ih < 0 || ih >= v.h) continue;
      for (int64_t kw = 0; kw < v.k_w; ++kw) {
        const int64_t iw = ow * v.stride - v.padding + kw * v.dilation;
        if (iw < 0 || iw >= v.w) continue;
        const T* xp = x + ((n * v.h + ih) * v.w + iw) * s.c_in + co / cog * cig;
        const T* wp = w + ((co * v.k_h + kh) * v.k_w + kw) * cig;
        for (int64_t c = 0; c < cig; ++c)
          acc += static_cast<wide_t<T>>(xp[c]) * static_cast<wide_t<T>>(wp[c]);
      }
    }
    y[i] = acc;
  }
}

// One thread per dx element: gathers from every output pixel whose window reads it.
template <class T>
__global__ void direct_backward_data(int64_t total, Conv2dShape s, const T* w, const T* dy, T* dx) {
  const auto& v = s.win;
  const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ci = i % s.c_in, iw = i / s.c_in % v.w, ih = i / s.c_in / v.w % v.h;
    const int64_t n = i / s.c_in / v.w / v.h;
    const int64_t g = ci / cig, cl = ci % cig;
    wide_t<T> acc = 0;
    for (int64_t kh = 0; kh < v.k_h; ++kh) {
      const int64_t th = ih + v.padding - kh * v.dilation;
      if (th < 0 || th % v.stride != 0 || th / v.stride >= v.h_out) continue;
      for (int64_t kw = 0; kw < v.k_w; ++kw) {
        const int64_t tw = iw + v.padding - kw * v.dilation;
        if (tw < 0 || tw % v.stride != 0 || tw / v.stride >= v.w_out) continue;
        const T* gp = dy + ((n * v.h_out + th / v.stride) * v.w_out + tw / v.stride) * s.c_out;
        for (int64_t co = g * cog; co < (g + 1) * cog; ++co)
          acc += static_cast<wide_t<T>>(gp[co]) *
                 static_cast<wide_t<T>>(w[((co * v.k_h + kh) * v.k_w + kw) * cig + cl]);
      }
    }
    dx[i] = acc;
  }
}

// Backward-filter is a GEMM over the pixels: for group g,
//   dw_g [cog, taps * cig] = dy_g^T [cog, P] x cols_g [P, taps * cig],
// with cols_g the im2col patches of x (row p: the (kh, kw, c) values under
// output pixel p, 0 in the padding; dw's OHWI rows have the same order). A
// kernel thread per dw element would sum all P products alone (262,144 of them
// for a 3-channel stem at N=256, 32x32: an idle GPU); cuBLAS spreads the sum.
// The patches are built in chunks of pixels that fit kColsBytes, each chunk's
// product added to the last (deterministic: fixed chunks, cuBLAS's fixed order).
template <class T>
__global__ void im2col_kernel(int64_t total, Conv2dShape s, int64_t group, int64_t first_pixel,
                              const T* x, T* cols) {
  const auto& v = s.win;
  const int64_t cig = s.c_in / s.groups, width = v.k_h * v.k_w * cig;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % width, p = first_pixel + i / width;
    const int64_t cl = j % cig, kw = j / cig % v.k_w, kh = j / cig / v.k_w;
    const int64_t ow = p % v.w_out, oh = p / v.w_out % v.h_out, n = p / v.w_out / v.h_out;
    const int64_t ih = oh * v.stride - v.padding + kh * v.dilation;
    const int64_t iw = ow * v.stride - v.padding + kw * v.dilation;
    cols[i] = ih >= 0 && ih < v.h && iw >= 0 && iw < v.w
                  ? x[((n * v.h + ih) * v.w + iw) * s.c_in + group * cig + cl]
                  : T(0);
  }
}

constexpr int64_t kColsBytes = int64_t(64) << 20;

template <class T>
void gemm_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw,
                          bool allow_tf32) {
  const auto& v = s.win;
  const int64_t cig = s.c_in / s.groups, cog = s.c_out / s.groups;
  const int64_t width = v.k_h * v.k_w * cig, pixels = s.n * v.h_out * v.w_out;
  const int64_t chunk =
      std::clamp<int64_t>(kColsBytes / static_cast<int64_t>(width * sizeof(T)), 1, pixels);
  Scratch<T> cols(chunk * width);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t p0 = 0; p0 < pixels; p0 += chunk) {
      const int64_t rows = std::min(chunk, pixels - p0);
      im2col_kernel<T><<<blocks_for(rows * width), 256, 0, stream()>>>(rows * width, s, g, p0, x,
                                                                        cols.get());
      MOTIVE_CUDA_LAUNCH_CHECK("conv2d backward-filter");
      // dy_g^T: element (co, p) at dy[(p0 + p) * c_out + g * cog + co].
      gemm<T>(cog, width, rows, dy + p0 * s.c_out + g * cog, {1, s.c_out}, cols.get(),
              {width, 1}, dw + g * cog * width, width, p0 > 0, allow_tf32);
    }
}

// ------------------------------------------------ cuDNN (float32 and bf16) ----
// bf16 tensors and filters with compute type float (float32 accumulation).

[[noreturn]] void fail_cudnn(cudnnStatus_t status, const char* what, const Conv2dShape& s) {
  fail("conv2d: ", what, " failed: ", cudnnGetErrorString(status), " (", describe(s), ")");
}

// Checks a cuDNN call; the error names conv2d, the call and the shapes.
#define MOTIVE_CUDNN_CHECK(expr, shape)                                                   \
  do {                                                                                    \
    const cudnnStatus_t motive_status_ = (expr);                                          \
    if (motive_status_ != CUDNN_STATUS_SUCCESS) fail_cudnn(motive_status_, #expr, shape); \
  } while (0)

// One handle for the process, bound to motive's compute stream. Never
// destroyed: its teardown could run after the CUDA context is gone.
cudnnHandle_t handle(const Conv2dShape& s) {
  static cudnnHandle_t h = nullptr;
  if (!h) {
    cudnnHandle_t created = nullptr;
    MOTIVE_CUDNN_CHECK(cudnnCreate(&created), s);
    MOTIVE_CUDNN_CHECK(cudnnSetStream(created, stream()), s);
    h = created;
  }
  return h;
}

// A descriptor owned for the life of its plan.
template <class D, cudnnStatus_t (*Create)(D*), cudnnStatus_t (*Destroy)(D)>
class Descriptor {
 public:
  explicit Descriptor(const Conv2dShape& s) { MOTIVE_CUDNN_CHECK(Create(&d_), s); }
  ~Descriptor() { Destroy(d_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  D get() const { return d_; }

 private:
  D d_ = nullptr;
};
using TensorDesc =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                            cudnnDestroyConvolutionDescriptor>;

enum Direction { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };
constexpr int kDirect = -1;
const char* const kDirectionName[] = {"forward", "backward-data", "backward-filter"};

// Which kernels an algorithm may use: plain FMA (exact float32), TF32 tensor
// cores (float32 when the caller allows TF32), or tensor cores (bf16, their
// own type).
enum class Math { kFma, kTf32, kTensorOps };

Math math_for(cudnnDataType_t type, bool allow_tf32) {
  if (type == CUDNN_DATA_BFLOAT16) return Math::kTensorOps;
  return allow_tf32 ? Math::kTf32 : Math::kFma;
}

const char* type_name(cudnnDataType_t type) {
  return type == CUDNN_DATA_BFLOAT16 ? "bf16" : "float32";
}

// cuDNN's data type for T: bf16 or float32 (float64 never reaches cuDNN).
template <class T>
constexpr cudnnDataType_t kCudnnType =
    std::is_same_v<T, bf16> ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;

struct Choice {
  int algo;  // kDirect: cuDNN offered nothing usable, the direct kernel runs
  cudnnMathType_t math;
  size_t workspace;
};

// The descriptors of one convolution geometry and the algorithm chosen for
// each direction (found on first use of that direction).
struct Plan {
  cudnnDataType_t type;
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  std::optional<Choice> choice[3];
  Plan(const Conv2dShape& s, cudnnDataType_t t) : type(t), x(s), y(s), w(s), conv(s) {}
};

int to_int(int64_t v, const Conv2dShape& s) {
  MOTIVE_CHECK(v <= INT32_MAX, "conv2d: size ", v, " exceeds cuDNN's 32-bit limit (", describe(s),
               ")");
  return static_cast<int>(v);
}

std::unique_ptr<Plan> make_plan(const Conv2dShape& s, cudnnDataType_t type) {
  const auto& v = s.win;
  // cuDNN's legacy kernels index tensors with 32 bits.
  to_int(s.n * v.h * v.w * s.c_in, s);
  to_int(s.n * v.h_out * v.w_out * s.c_out, s);
  auto p = std::make_unique<Plan>(s, type);
  MOTIVE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x.get(), CUDNN_TENSOR_NHWC, type, to_int(s.n, s),
                                                to_int(s.c_in, s), to_int(v.h, s), to_int(v.w, s)),
                     s);
  MOTIVE_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(p->y.get(), CUDNN_TENSOR_NHWC, type, to_int(s.n, s),
                                 to_int(s.c_out, s), to_int(v.h_out, s), to_int(v.w_out, s)),
      s);
  // NHWC filter format = KRSC, i.e. our OHWI.
  MOTIVE_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(p->w.get(), type, CUDNN_TENSOR_NHWC, to_int(s.c_out, s),
                                 to_int(s.c_in / s.groups, s), to_int(v.k_h, s), to_int(v.k_w, s)),
      s);
  MOTIVE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
                         p->conv.get(), to_int(v.padding, s), to_int(v.padding, s),
                         to_int(v.stride, s), to_int(v.stride, s), to_int(v.dilation, s),
                         to_int(v.dilation, s), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                     s);
  MOTIVE_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv.get(), to_int(s.groups, s)), s);
  // Our output size and cuDNN's must agree, or every call below would be wrong.
  int dims[4];
  MOTIVE_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv.get(), p->x.get(), p->w.get(),
                                                           &dims[0], &dims[1], &dims[2], &dims[3]),
                     s);
  MOTIVE_CHECK(dims[0] == s.n && dims[1] == s.c_out && dims[2] == v.h_out && dims[3] == v.w_out,
               "conv2d: cuDNN computes output [", dims[0], ",", dims[2], ",", dims[3], ",", dims[1],
               "] for ", describe(s));
  return p;
}

// The largest power of two (at most 16) that divides every pointer: cuDNN's
// vectorised kernels need aligned operands, so an algorithm timed on aligned
// pointers may not run on an offset view; the alignment is part of the key.
int64_t alignment(std::initializer_list<const void*> ptrs) {
  uintptr_t bits = 16;
  for (const void* p : ptrs) bits |= reinterpret_cast<uintptr_t>(p);
  return static_cast<int64_t>(bits & (~bits + 1));
}

using Key = std::array<int64_t, 14>;

// Plans by (shape, stride, padding, dilation, groups, dtype, math, alignment).
// Ops run on one host thread (as the tensor API assumes), so no lock.
Plan& plan_for(const Conv2dShape& s, cudnnDataType_t type, Math math, int64_t align) {
  static std::map<Key, std::unique_ptr<Plan>> plans;
  const auto& v = s.win;
  const Key key{s.n,   v.h,      v.w,       s.c_in,     s.c_out,       s.groups,      v.k_h,
                v.k_w, v.stride, v.padding, v.dilation, int64_t(type), int64_t(math), align};
  auto& slot = plans[key];
  if (!slot) slot = make_plan(s, type);
  return *slot;
}

// Find times candidates with a workspace up to this size (or less when the
// pool cannot provide it); larger candidates are left out.
constexpr size_t kFindWorkspaceCap = size_t{1} << 30;

// A workspace of up to `want` bytes: halves on out-of-memory down to none.
std::unique_ptr<Workspace> workspace_up_to(size_t want) {
  for (;;) {
    try {
      return std::make_unique<Workspace>(want);
    } catch (const Error&) {
      if (want == 0) throw;
      want /= 2;
    }
  }
}

// The largest workspace any algorithm in [0, count) asks for (capped).
template <class SizeOf>
size_t largest_workspace(int count, SizeOf size_of) {
  size_t most = 0;
  for (int a = 0; a < count; ++a) {
    size_t bytes = 0;
    if (size_of(a, &bytes) == CUDNN_STATUS_SUCCESS) most = std::max(most, bytes);
  }
  return std::min(most, kFindWorkspaceCap);
}

// The fastest successful result (cuDNN sorts them by time) that honours the
// math mode: for float32 with TF32 off, only plain-FMA kernels qualify. Without
// one, the direct kernel: correct but slow, so say so once for this geometry.
template <class Perf>
Choice fastest(const Perf* perf, int count, cudnnDataType_t type, Math math, Direction dir,
               const Conv2dShape& s) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS &&
        (math != Math::kFma || perf[i].mathType == CUDNN_FMA_MATH))
      return {static_cast<int>(perf[i].algo), perf[i].mathType, perf[i].memory};
  std::fprintf(stderr,
               "conv2d: cuDNN offers no %s %s algorithm%s for %s; using the direct kernel\n",
               type_name(type), kDirectionName[dir], math == Math::kFma ? " without TF32" : "",
               describe(s).c_str());
  return {kDirect, CUDNN_DEFAULT_MATH, 0};
}

// How many results a Find call returned: none when it reports the geometry
// unsupported as a whole; any other failure is an error.
int found(cudnnStatus_t status, int returned, const char* call, const Conv2dShape& s) {
  if (status == CUDNN_STATUS_NOT_SUPPORTED) return 0;
  if (status != CUDNN_STATUS_SUCCESS) fail_cudnn(status, call, s);
  return returned;
}

// Times every algorithm of `dir` on the call's own buffers (the output is
// overwritten, which the real call then does again) and keeps the fastest.
// in0/in1/out: x, w, y (forward); w, dy, dx (backward-data); x, dy, dw (backward-filter).
Choice find(Plan& p, Direction dir, Math math, const Conv2dShape& s, const void* in0,
            const void* in1, void* out) {
  const cudnnHandle_t h = handle(s);
  // FMA_MATH forbids TF32 (exact fp32 parity); DEFAULT_MATH lets cuDNN use it;
  // TENSOR_OP_MATH offers bf16's tensor-core kernels. Set here because an
  // earlier direction left its own algorithm's math type.
  const cudnnMathType_t search = math == Math::kFma    ? CUDNN_FMA_MATH
                                 : math == Math::kTf32 ? CUDNN_DEFAULT_MATH
                                                       : CUDNN_TENSOR_OP_MATH;
  MOTIVE_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.get(), search), s);
  int returned = 0;
  switch (dir) {
    case kForward: {
      const auto ws = workspace_up_to(
          largest_workspace(CUDNN_CONVOLUTION_FWD_ALGO_COUNT, [&](int a, size_t* bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.w.get(), p.conv.get(),
                                                           p.y.get(), cudnnConvolutionFwdAlgo_t(a),
                                                           bytes);
          }));
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      const cudnnStatus_t status = cudnnFindConvolutionForwardAlgorithmEx(
          h, p.x.get(), in0, p.w.get(), in1, p.conv.get(), p.y.get(), out,
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, ws->get(), ws->size());
      return fastest(perf, found(status, returned, "cudnnFindConvolutionForwardAlgorithmEx", s),
                     p.type, math, dir, s);
    }
    case kBackwardData: {
      const auto ws = workspace_up_to(
          largest_workspace(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, [&](int a, size_t* bytes) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(
                h, p.w.get(), p.y.get(), p.conv.get(), p.x.get(), cudnnConvolutionBwdDataAlgo_t(a),
                bytes);
          }));
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      const cudnnStatus_t status = cudnnFindConvolutionBackwardDataAlgorithmEx(
          h, p.w.get(), in0, p.y.get(), in1, p.conv.get(), p.x.get(), out,
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf, ws->get(), ws->size());
      return fastest(perf,
                     found(status, returned, "cudnnFindConvolutionBackwardDataAlgorithmEx", s),
                     p.type, math, dir, s);
    }
    case kBackwardFilter: {
      const auto ws = workspace_up_to(
          largest_workspace(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, [&](int a, size_t* bytes) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                h, p.x.get(), p.y.get(), p.conv.get(), p.w.get(),
                cudnnConvolutionBwdFilterAlgo_t(a), bytes);
          }));
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      const cudnnStatus_t status = cudnnFindConvolutionBackwardFilterAlgorithmEx(
          h, p.x.get(), in0, p.y.get(), in1, p.conv.get(), p.w.get(), out,
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf, ws->get(), ws->size());
      return fastest(perf,
                     found(status, returned, "cudnnFindConvolutionBackwardFilterAlgorithmEx", s),
                     p.type, math, dir, s);
    }
  }
  fail("conv2d: unknown direction");
}

// out = conv_dir(in0, in1) with the cached (or newly found) algorithm; false
// when cuDNN has none for this geometry and math mode.
bool run_cudnn(Direction dir, cudnnDataType_t type, bool allow_tf32, const Conv2dShape& s,
               int64_t align, const void* in0, const void* in1, void* out) {
  const Math math = math_for(type, allow_tf32);
  Plan& p = plan_for(s, type, math, align);
  auto& slot = p.choice[dir];
  if (!slot) slot = find(p, dir, math, s, in0, in1, out);
  const Choice c = *slot;
  if (c.algo == kDirect) return false;
  // The math type goes with the algorithm (cuDNN needs both to pick the kernel).
  MOTIVE_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.get(), c.math), s);
  const Workspace ws(c.workspace);
  // Scaling factors are float for float32 and bf16 data; beta = 0: the output is not read.
  const float one = 1, zero = 0;
  const cudnnHandle_t h = handle(s);
  switch (dir) {
    case kForward:
      MOTIVE_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x.get(), in0, p.w.get(), in1,
                                                 p.conv.get(), cudnnConvolutionFwdAlgo_t(c.algo),
                                                 ws.get(), ws.size(), &zero, p.y.get(), out),
                         s);
      break;
    case kBackwardData:
      MOTIVE_CUDNN_CHECK(
          cudnnConvolutionBackwardData(h, &one, p.w.get(), in0, p.y.get(), in1, p.conv.get(),
                                       cudnnConvolutionBwdDataAlgo_t(c.algo), ws.get(), ws.size(),
                                       &zero, p.x.get(), out),
          s);
      break;
    case kBackwardFilter:
      MOTIVE_CUDNN_CHECK(
          cudnnConvolutionBackwardFilter(h, &one, p.x.get(), in0, p.y.get(), in1, p.conv.get(),
                                         cudnnConvolutionBwdFilterAlgo_t(c.algo), ws.get(),
                                         ws.size(), &zero, p.w.get(), out),
          s);
      break;
  }
  return true;
}

template <class K, class... Args>
void launch(K kernel, int64_t total, Args... args) {
  if (total == 0) return;
  kernel<<<blocks_for(total), 256, 0, stream()>>>(total, args...);
  MOTIVE_CUDA_LAUNCH_CHECK("conv2d");
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y,
                    bool allow_tf32) {
  const int64_t total = s.n * s.win.h_out * s.win.w_out * s.c_out;
  if (total == 0) return;
  bool done = false;
  if constexpr (!std::is_same_v<T, double>)
    done = run_cudnn(kForward, kCudnnType<T>, allow_tf32, s, alignment({x, w, y}), x, w, y);
  if (!done)
    launch(direct_forward<T>, total, s, x, w, b, y);
  else if (b)
    launch(add_bias_kernel<T>, total, s.c_out, b, y);
}

template <class T>
void conv2d_backward(const Conv2dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db, bool allow_tf32) {
  const int64_t rows = s.n * s.win.h_out * s.win.w_out;
  const int64_t w_size = s.c_out * s.win.taps() * (s.c_in / s.groups);
  if (rows == 0) {  // no pixels: the filter and bias gradients are empty sums
    if (dw) memset_bytes(dw, 0, static_cast<size_t>(w_size) * sizeof(T));
    if (db) memset_bytes(db, 0, static_cast<size_t>(s.c_out) * sizeof(T));
    return;
  }
  if (db) column_sums(1, rows, s.c_out, dy, db, 1.0, "conv2d bias gradient");
  bool dx_done = false, dw_done = false;
  if constexpr (!std::is_same_v<T, double>) {
    const int64_t align = alignment({x, w, dy, dx, dw});
    dx_done = dx && run_cudnn(kBackwardData, kCudnnType<T>, allow_tf32, s, align, w, dy, dx);
    dw_done = dw && run_cudnn(kBackwardFilter, kCudnnType<T>, allow_tf32, s, align, x, dy, dw);
  }
  if (dx && !dx_done)
    launch(direct_backward_data<T>, s.n * s.win.h * s.win.w * s.c_in, s, w, dy, dx);
  if (dw && !dw_done) gemm_backward_filter(s, x, dy, dw, allow_tf32);
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                    float*, bool);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*,
                                     const double*, double*, bool);
template void conv2d_backward<float>(const Conv2dShape&, const float*, const float*, const float*,
                                     float*, float*, float*, bool);
template void conv2d_backward<double>(const Conv2dShape&, const double*, const double*,
                                      const double*, double*, double*, double*, bool);

template void conv2d_forward<bf16>(const Conv2dShape&, const bf16*, const bf16*, const bf16*,
                                   bf16*, bool);
template void conv2d_backward<bf16>(const Conv2dShape&, const bf16*, const bf16*, const bf16*,
                                    bf16*, bf16*, bf16*, bool);

}  // namespace motive::cuda
