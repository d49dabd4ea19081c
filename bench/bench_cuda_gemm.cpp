// GEMM on CUDA: TFLOP/s of motive::matmul (fp32, TF32 and bf16 with float32
// accumulation) against a plain cublasSgemm (bf16: cublasGemmEx with
// CUBLAS_COMPUTE_32F) on its own handle at the same shape and operand layout,
// in the same run: a square 4096^3, a wide K=1024 product, a ResNet 3x3-conv im2col
// shape, ViT-Ti's qkv projection, a classifier head, and a weight that is a
// sub-block view of a 1.5x larger one (the base layer inside the motivated
// model). Device time by CUDA events around a run of calls after warm-up;
// inputs that fit in L2 rotate among several copies. Prints a ratio table
// last (target: motive/cuBLAS >= 0.95). Without a GPU: one line, exit 0.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "engine/device.h"

#ifdef MOTIVE_WITH_CUDA
#include <cublas_v2.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"

using namespace motive;

namespace {

struct Case {
  const char* label;
  int64_t m, k, n;
  bool weight_layout;  // B = W^T for a row-major W [N, K] (linear), else B [K, N]
  bool sub_block;      // the stored matrix is the leading block of one 1.5x larger
};

// fp32 exact, fp32 with TF32 tensor cores, or bf16 operands (float32 accumulation).
enum class Mode { kFp32, kTf32, kBf16 };
constexpr Mode kModes[] = {Mode::kFp32, Mode::kTf32, Mode::kBf16};
const char* mode_name(Mode m) { return m == Mode::kFp32 ? "fp32" : m == Mode::kTf32 ? "tf32" : "bf16"; }

const Case kCases[] = {
    {"square", 4096, 4096, 4096, false, false},
    {"wide K=1024", 8192, 1024, 8192, false, false},
    {"resnet conv3x3 im2col", 65536, 576, 64, false, false},
    {"vit-ti qkv linear", 16384, 192, 576, true, false},
    {"classifier head", 256, 512, 10, true, false},
    {"square sub-block", 4096, 4096, 4096, false, true},
    {"vit-ti qkv sub-block", 16384, 192, 576, true, true},
};

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("bench_cuda_gemm: ", what, ": ", cublasGetStatusString(status));
}

// Device inputs of one case, made once and shared by all its rows: several
// copies when one set fits in L2, so repeated calls do not time the cache.
struct Inputs {
  std::vector<Tensor> a, b;  // b: the [K, N] operand as matmul sees it (a view)
  int64_t ldb;               // its stored leading dimension
};

// The operands in float32 (fp32 and TF32 rows) or bf16.
const Inputs& inputs(const Case& c, DType dtype) {
  static std::map<std::string, std::unique_ptr<Inputs>> cache;
  auto& slot = cache[std::string(c.label) + dtype_name(dtype)];
  if (slot) return *slot;
  NoGradGuard no_grad;
  Generator gen(7);
  const int64_t rows = c.weight_layout ? c.n : c.k, cols = c.weight_layout ? c.k : c.n;
  const int64_t owner_rows = c.sub_block ? rows * 3 / 2 : rows;
  const int64_t owner_cols = c.sub_block ? cols * 3 / 2 : cols;
  int l2 = 0;
  MOTIVE_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), "bench_cuda_gemm");
  const int64_t set_bytes =
      int64_t(dtype_size(dtype)) * (c.m * c.k + owner_rows * owner_cols + c.m * c.n);
  const int64_t sets = std::clamp<int64_t>(2 * int64_t(l2) / set_bytes + 1, 1, 256);
  slot = std::make_unique<Inputs>();
  slot->ldb = owner_cols;
  for (int64_t s = 0; s < sets; ++s) {
    slot->a.push_back(randn({c.m, c.k}, gen, dtype).to(Device::CUDA));
    const Tensor stored = randn({owner_rows, owner_cols}, gen, dtype).to(Device::CUDA).slice(0, 0, rows).slice(1, 0, cols);
    slot->b.push_back(c.weight_layout ? stored.transpose(0, 1) : stored);
  }
  return *slot;
}

std::map<std::string, double>& rates() {
  static std::map<std::string, double> r;
  return r;
}

std::string row_key(const Case& c, Mode mode, bool ours) {
  return std::string(c.label) + " " + mode_name(mode) + (ours ? " motive" : " cublas");
}

// Times `once(i)` (i counts calls, for rotating inputs) with CUDA events over a
// run long enough to keep launch gaps small, and records TFLOP/s.
template <class F>
void time_gemm(benchmark::State& state, const Case& c, const std::string& key, F&& once) {
  const double flops = 2.0 * double(c.m) * double(c.k) * double(c.n);
  const int reps = static_cast<int>(std::clamp(2e10 / flops, 1.0, 1000.0));
  int64_t call = 0;
  for (int w = 0; w < 3; ++w) once(call++);  // handle, heuristics and pool growth
  cuda::synchronize();
  cudaEvent_t start, stop;
  MOTIVE_CUDA_CHECK(cudaEventCreate(&start), "bench_cuda_gemm");
  MOTIVE_CUDA_CHECK(cudaEventCreate(&stop), "bench_cuda_gemm");
  double seconds = 0, work = 0;
  for (auto _ : state) {
    MOTIVE_CUDA_CHECK(cudaEventRecord(start, cuda::stream()), "bench_cuda_gemm");
    for (int r = 0; r < reps; ++r) once(call++);
    MOTIVE_CUDA_CHECK(cudaEventRecord(stop, cuda::stream()), "bench_cuda_gemm");
    MOTIVE_CUDA_CHECK(cudaEventSynchronize(stop), "bench_cuda_gemm");
    float ms = 0;
    MOTIVE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop), "bench_cuda_gemm");
    state.SetIterationTime(ms * 1e-3);
    seconds += ms * 1e-3;
    work += flops * reps;
  }
  MOTIVE_CUDA_CHECK(cudaEventDestroy(start), "bench_cuda_gemm");
  MOTIVE_CUDA_CHECK(cudaEventDestroy(stop), "bench_cuda_gemm");
  rates()[key] = work / seconds * 1e-12;
  state.counters["TFLOP/s"] = rates()[key];
}

void BM_Motive(benchmark::State& state, const Case& c, Mode mode) {
  const Inputs& in = inputs(c, mode == Mode::kBf16 ? DType::BF16 : DType::F32);
  NoGradGuard no_grad;
  set_allow_tf32(mode == Mode::kTf32);
  time_gemm(state, c, row_key(c, mode, true), [&](int64_t i) {
    const size_t s = static_cast<size_t>(i) % in.a.size();
    benchmark::DoNotOptimize(matmul(in.a[s], in.b[s]).raw_data());
  });
  set_allow_tf32(false);
}

// The peer: what a program calling cuBLAS directly does, with a preallocated
// output (row-major C = A B as column-major C^T = B^T A^T).
void BM_Cublas(benchmark::State& state, const Case& c, Mode mode) {
  const DType dtype = mode == Mode::kBf16 ? DType::BF16 : DType::F32;
  const Inputs& in = inputs(c, dtype);
  cublasHandle_t h = nullptr;
  check(cublasCreate(&h), "cublasCreate");
  check(cublasSetStream(h, cuda::stream()), "cublasSetStream");
  // As motive's handle: no reduced-precision (bf16) split-K reductions.
  const int math = (mode == Mode::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) |
                   CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
  check(cublasSetMathMode(h, static_cast<cublasMath_t>(math)), "cublasSetMathMode");
  const Tensor out = Tensor::empty({c.m, c.n}, dtype, Device::CUDA);
  const int m = int(c.m), k = int(c.k), n = int(c.n), ldb = int(in.ldb);
  const float alpha = 1, beta = 0;
  const cublasOperation_t op_b = c.weight_layout ? CUBLAS_OP_T : CUBLAS_OP_N;
  time_gemm(state, c, row_key(c, mode, false), [&](int64_t i) {
    const size_t s = static_cast<size_t>(i) % in.a.size();
    if (mode == Mode::kBf16)
      check(cublasGemmEx(h, op_b, CUBLAS_OP_N, n, m, k, &alpha, in.b[s].raw_data(), CUDA_R_16BF, ldb,
                         in.a[s].raw_data(), CUDA_R_16BF, k, &beta, out.raw_data(), CUDA_R_16BF, n,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
    else
      check(cublasSgemm(h, op_b, CUBLAS_OP_N, n, m, k, &alpha, in.b[s].data<float>(), ldb,
                        in.a[s].data<float>(), k, &beta, out.data<float>(), n),
            "cublasSgemm");
  });
  check(cublasDestroy(h), "cublasDestroy");
}

void print_table() {
  std::printf("\n%-24s %-5s %14s %14s %14s\n", "GEMM (MxKxN)", "mode", "cuBLAS TFLOP/s",
              "motive TFLOP/s", "motive/cuBLAS");
  for (const Case& c : kCases)
    for (Mode mode : kModes) {
      const auto peer = rates().find(row_key(c, mode, false)), ours = rates().find(row_key(c, mode, true));
      if (peer == rates().end() || ours == rates().end()) continue;  // filtered out
      std::printf("%-24s %-5s %14.2f %14.2f %14.3f   %lldx%lldx%lld\n", c.label, mode_name(mode),
                  peer->second, ours->second, ours->second / peer->second, (long long)c.m,
                  (long long)c.k, (long long)c.n);
    }
}

}  // namespace
#endif

int main([[maybe_unused]] int argc, [[maybe_unused]] char** argv) {
  if (!motive::cuda_available()) {
    std::printf("bench_cuda_gemm: skipped (%s)\n", motive::cuda_describe().c_str());
    return 0;
  }
#ifdef MOTIVE_WITH_CUDA
  for (const Case& c : kCases)
    for (Mode mode : kModes) {
      const std::string suffix = std::string("/") + mode_name(mode) + "/" + c.label;
      benchmark::RegisterBenchmark(("cublas_gemm" + suffix).c_str(), BM_Cublas, c, mode)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("motive_matmul" + suffix).c_str(), BM_Motive, c, mode)
          ->UseManualTime()->Unit(benchmark::kMillisecond);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  print_table();
  benchmark::Shutdown();
#endif
  return 0;
}
