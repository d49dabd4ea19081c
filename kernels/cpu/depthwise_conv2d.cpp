#include "kernels/cpu/depthwise_conv2d.h"

#include <cstring>
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/column_sums.h"

namespace motive::cpu {
namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 15;
// A register block: kPixels output pixels x kVectors SIMD vectors of channels.
constexpr int kPixels = 4;
constexpr int kVectors = 2;

// One tap as a pixel reads it: the offset of the input element from the pixel's
// reference point, and the offset of the tap's row in the [tap, C] filter.
struct Tap {
  int64_t in, w;
};

// Pixels that read through the same taps: pixel j of the run writes output
// element out + j * out_step + c and reads in + j * in_step + tap.in + c for
// each tap (offsets within one image; c the channel).
struct Run {
  int64_t out, out_step, in, in_step, count;
  std::vector<Tap> taps;
};

// The runs that cover one row of the output (forward) or of the input (the
// backward of the data): the interior pixels, whose taps all land inside the
// image, as one run (one per stride phase), each border pixel as its own.
using Row = std::vector<Run>;

// Appends `run` to `row`, merging it into the previous run when it continues
// it with the same taps (the interior of a row).
void append(Row& row, Run run, bool interior, bool& open) {
  if (interior && open) {
    ++row.back().count;
    return;
  }
  row.push_back(std::move(run));
  open = interior;
}

// Forward (and filter gradient) runs of output row oh: output pixel ow reads
// input pixel (oh * stride - padding + kh * dilation, ow * stride - padding +
// kw * dilation) through tap (kh, kw); its reference point is the input column
// ow * stride - padding of that image.
Row forward_row(const Conv2dShape& s, int64_t oh) {
  const Window2d& win = s.win;
  const int64_t c = s.c_in;
  Row row;
  bool open = false;
  for (int64_t ow = 0; ow < win.w_out; ++ow) {
    Run run{
        (oh * win.w_out + ow) * c, c, (ow * win.stride - win.padding) * c, win.stride * c, 1, {}};
    bool interior = true;
    for (int64_t kh = 0; kh < win.k_h; ++kh) {
      const int64_t ih = oh * win.stride - win.padding + kh * win.dilation;
      if (ih < 0 || ih >= win.h) continue;  // a whole row of taps in the padding: for every pixel
      for (int64_t kw = 0; kw < win.k_w; ++kw) {
        const int64_t iw = ow * win.stride - win.padding + kw * win.dilation;
        if (iw < 0 || iw >= win.w) {
          interior = false;
          continue;
        }
        run.taps.push_back({(ih * win.w + kw * win.dilation) * c, (kh * win.k_w + kw) * c});
      }
    }
    append(row, std::move(run), interior, open);
  }
  return row;
}

// Runs of input row ih for the backward of the data: input pixel (ih, iw)
// gathers dy at (oh, ow) = ((ih + padding - kh * dilation) / stride, (iw +
// padding - kw * dilation) / stride) for every tap where both divide exactly and
// land inside the output. Pixels of one stride phase (iw, iw + stride, ...)
// share their taps, relative to the reference output column (iw + padding) /
// stride; the interior of each phase is one run.
Row backward_data_row(const Conv2dShape& s, int64_t ih) {
  const Window2d& win = s.win;
  const int64_t c = s.c_in;
  Row row;
  for (int64_t phase = 0; phase < win.stride && phase < win.w; ++phase) {
    bool open = false;
    for (int64_t iw = phase; iw < win.w; iw += win.stride) {
      const int64_t ow_ref = (iw + win.padding) / win.stride;
      Run run{(ih * win.w + iw) * c, win.stride * c, ow_ref * c, c, 1, {}};
      bool interior = true;
      for (int64_t kh = 0; kh < win.k_h; ++kh) {
        const int64_t th = ih + win.padding - kh * win.dilation;
        // Not on the stride grid, or outside the output: for every pixel of the row.
        if (th < 0 || th % win.stride != 0 || th / win.stride >= win.h_out) continue;
        const int64_t oh = th / win.stride;
        for (int64_t kw = 0; kw < win.k_w; ++kw) {
          const int64_t tw = iw + win.padding - kw * win.dilation;
          if ((tw % win.stride + win.stride) % win.stride != 0) continue;  // another phase's tap
          if (tw < 0 || tw / win.stride >= win.w_out) {
            interior = false;
            continue;
          }
          run.taps.push_back(
              {(oh * win.w_out + tw / win.stride - ow_ref) * c, (kh * win.k_w + kw) * c});
        }
      }
      append(row, std::move(run), interior, open);
    }
  }
  return row;
}

// ---- the SIMD loops, compiled once per instruction set ----

// kLanes values of T in one SIMD register (GCC/clang vector extension; one
// lane is T itself, for the channels left over).
template <class T, int kLanes>
struct Simd {
  typedef T V __attribute__((vector_size(kLanes * sizeof(T))));
};
template <class T>
struct Simd<T, 1> {
  using V = T;
};

#define MOTIVE_INLINE inline __attribute__((always_inline))

// Pixels [first, first + P) of run r, channels [c, c + kVecs * kLanes):
// out = bias (or 0) + sum over the taps of in * wt.
template <class T, int kLanes, int kVecs, int P>
MOTIVE_INLINE void gather_block(const Run& r, int64_t first, int64_t c, const T* in, const T* wt,
                                const T* bias, T* out) {
  using V = typename Simd<T, kLanes>::V;
  V acc[P][kVecs];
  for (int v = 0; v < kVecs; ++v) {
    V init{};
    if (bias) std::memcpy(&init, bias + c + v * kLanes, sizeof(V));
    for (int j = 0; j < P; ++j) acc[j][v] = init;
  }
  const int64_t in0 = r.in + first * r.in_step + c;
  for (const Tap& t : r.taps) {
    V wv[kVecs];
    for (int v = 0; v < kVecs; ++v) std::memcpy(&wv[v], wt + t.w + c + v * kLanes, sizeof(V));
    for (int j = 0; j < P; ++j)
      for (int v = 0; v < kVecs; ++v) {
        V xv;
        std::memcpy(&xv, in + (in0 + j * r.in_step + t.in + v * kLanes), sizeof(V));
        acc[j][v] += xv * wv[v];
      }
  }
  const int64_t out0 = r.out + first * r.out_step + c;
  for (int j = 0; j < P; ++j)
    for (int v = 0; v < kVecs; ++v)
      std::memcpy(out + (out0 + j * r.out_step + v * kLanes), &acc[j][v], sizeof(V));
}

template <class T, int kLanes, int kVecs>
MOTIVE_INLINE void gather_channels(const Row& row, int64_t c, const T* in, const T* wt,
                                   const T* bias, T* out) {
  for (const Run& r : row) {
    int64_t j = 0;
    for (; j + kPixels <= r.count; j += kPixels)
      gather_block<T, kLanes, kVecs, kPixels>(r, j, c, in, wt, bias, out);
    for (; j < r.count; ++j) gather_block<T, kLanes, kVecs, 1>(r, j, c, in, wt, bias, out);
  }
}

// One row of a gather (forward or backward of the data) over all `channels`:
// blocks of kVectors registers, then single registers, then single channels.
template <class T, int kLanes>
MOTIVE_INLINE void gather_row(const Row& row, int64_t channels, const T* in, const T* wt,
                              const T* bias, T* out) {
  int64_t c = 0;
  for (; c + kVectors * kLanes <= channels; c += kVectors * kLanes)
    gather_channels<T, kLanes, kVectors>(row, c, in, wt, bias, out);
  for (; c + kLanes <= channels; c += kLanes)
    gather_channels<T, kLanes, 1>(row, c, in, wt, bias, out);
  for (; c < channels; ++c) gather_channels<T, 1, 1>(row, c, in, wt, bias, out);
}

// Channels [c, c + kVecs * kLanes) of acc[tap, C] += the sum over the row's
// pixels of x * dy, four pixels in flight per tap (independent sums).
template <class T, int kLanes, int kVecs>
MOTIVE_INLINE void filter_channels(const Row& row, int64_t c, const T* x, const T* dy, T* acc) {
  using V = typename Simd<T, kLanes>::V;
  for (const Run& r : row)
    for (const Tap& t : r.taps) {
      V part[kPixels][kVecs] = {};
      const int64_t x0 = r.in + t.in + c, dy0 = r.out + c;
      int64_t j = 0;
      const auto add = [&](int u, int64_t pixel) {
        for (int v = 0; v < kVecs; ++v) {
          V xv, gv;
          std::memcpy(&xv, x + (x0 + pixel * r.in_step + v * kLanes), sizeof(V));
          std::memcpy(&gv, dy + (dy0 + pixel * r.out_step + v * kLanes), sizeof(V));
          part[u][v] += xv * gv;
        }
      };
      for (; j + kPixels <= r.count; j += kPixels)
        for (int u = 0; u < kPixels; ++u) add(u, j + u);
      for (; j < r.count; ++j) add(0, j);
      for (int v = 0; v < kVecs; ++v) {
        V sum;
        std::memcpy(&sum, acc + t.w + c + v * kLanes, sizeof(V));
        for (int u = 0; u < kPixels; ++u) sum += part[u][v];
        std::memcpy(acc + t.w + c + v * kLanes, &sum, sizeof(V));
      }
    }
}

template <class T, int kLanes>
MOTIVE_INLINE void filter_row(const Row& row, int64_t channels, const T* x, const T* dy, T* acc) {
  int64_t c = 0;
  for (; c + kVectors * kLanes <= channels; c += kVectors * kLanes)
    filter_channels<T, kLanes, kVectors>(row, c, x, dy, acc);
  for (; c + kLanes <= channels; c += kLanes) filter_channels<T, kLanes, 1>(row, c, x, dy, acc);
  for (; c < channels; ++c) filter_channels<T, 1, 1>(row, c, x, dy, acc);
}

// The instruction sets, widest first. Each entry point is compiled for its
// target and inlines the loops above, so they vectorise for it.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MOTIVE_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define MOTIVE_AVX2 __attribute__((target("avx2,fma")))
#define MOTIVE_HAS_ISA_CHOICE 1
#endif

// The widest level this CPU runs, or `asked` when it is narrower.
SimdLevel level_to_run(SimdLevel asked) {
#ifdef MOTIVE_HAS_ISA_CHOICE
  static const SimdLevel best =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
              __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
          ? SimdLevel::Avx512
      : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? SimdLevel::Avx2
                                                                        : SimdLevel::Baseline;
  // The enum lists the levels widest first (after Auto).
  return asked == SimdLevel::Auto || asked < best ? best : asked;
#else
  (void)asked;
  return SimdLevel::Baseline;
#endif
}

#ifdef MOTIVE_HAS_ISA_CHOICE
template <class T>
MOTIVE_AVX512 void gather_row_avx512(const Row& row, int64_t channels, const T* in, const T* wt,
                                     const T* bias, T* out) {
  gather_row<T, 64 / sizeof(T)>(row, channels, in, wt, bias, out);
}
template <class T>
MOTIVE_AVX2 void gather_row_avx2(const Row& row, int64_t channels, const T* in, const T* wt,
                                 const T* bias, T* out) {
  gather_row<T, 32 / sizeof(T)>(row, channels, in, wt, bias, out);
}
template <class T>
MOTIVE_AVX512 void filter_row_avx512(const Row& row, int64_t channels, const T* x, const T* dy,
                                     T* acc) {
  filter_row<T, 64 / sizeof(T)>(row, channels, x, dy, acc);
}
template <class T>
MOTIVE_AVX2 void filter_row_avx2(const Row& row, int64_t channels, const T* x, const T* dy,
                                 T* acc) {
  filter_row<T, 32 / sizeof(T)>(row, channels, x, dy, acc);
}
#endif

template <class T>
void gather_row_at(SimdLevel level, const Row& row, int64_t channels, const T* in, const T* wt,
                   const T* bias, T* out) {
#ifdef MOTIVE_HAS_ISA_CHOICE
  if (level == SimdLevel::Avx512) return gather_row_avx512(row, channels, in, wt, bias, out);
  if (level == SimdLevel::Avx2) return gather_row_avx2(row, channels, in, wt, bias, out);
#endif
  (void)level;
  gather_row<T, 16 / sizeof(T)>(row, channels, in, wt, bias, out);
}

template <class T>
void filter_row_at(SimdLevel level, const Row& row, int64_t channels, const T* x, const T* dy,
                   T* acc) {
#ifdef MOTIVE_HAS_ISA_CHOICE
  if (level == SimdLevel::Avx512) return filter_row_avx512(row, channels, x, dy, acc);
  if (level == SimdLevel::Avx2) return filter_row_avx2(row, channels, x, dy, acc);
#endif
  (void)level;
  filter_row<T, 16 / sizeof(T)>(row, channels, x, dy, acc);
}

// ---- the entry points: rows in parallel ----

bool is_depthwise_shape(const Conv2dShape& s) { return s.groups == s.c_in && s.c_out == s.c_in; }

int64_t multiply_adds(const Conv2dShape& s) {
  return s.n * s.win.h_out * s.win.w_out * s.win.taps() * s.c_in;
}

// The filter [C, taps] as [tap, C]: each tap's channel vector contiguous.
template <class T>
std::vector<T> taps_major(const Conv2dShape& s, const T* w) {
  const int64_t taps = s.win.taps(), c_n = s.c_in;
  std::vector<T> wt(static_cast<size_t>(taps * c_n));
  for (int64_t c = 0; c < c_n; ++c)
    for (int64_t k = 0; k < taps; ++k) wt[static_cast<size_t>(k * c_n + c)] = w[c * taps + k];
  return wt;
}

// Runs gather_row_best over every (image, row) of `rows` rows per image.
template <class T>
void gather(const Conv2dShape& s, const std::vector<Row>& rows, const T* in, int64_t in_image,
            const std::vector<T>& wt, const T* bias, T* out, int64_t out_image, SimdLevel level) {
  const SimdLevel run_level = level_to_run(level);
  const int64_t n_rows = static_cast<int64_t>(rows.size());
#pragma omp parallel for collapse(2) schedule(static) if (multiply_adds(s) > kParallelWork)
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t r = 0; r < n_rows; ++r)
      gather_row_at(run_level, rows[static_cast<size_t>(r)], s.c_in, in + n * in_image, wt.data(),
                    bias, out + n * out_image);
}

}  // namespace

template <class T>
void depthwise_conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y,
                              SimdLevel level) {
  MOTIVE_CHECK(is_depthwise_shape(s), "depthwise_conv2d: needs groups == C_in == C_out");
  std::vector<Row> rows;
  for (int64_t oh = 0; oh < s.win.h_out; ++oh) rows.push_back(forward_row(s, oh));
  gather(s, rows, x, s.win.h * s.win.w * s.c_in, taps_major(s, w), b, y,
         s.win.h_out * s.win.w_out * s.c_in, level);
}

template <class T>
void depthwise_conv2d_backward_data(const Conv2dShape& s, const T* w, const T* dy, T* dx,
                                    SimdLevel level) {
  MOTIVE_CHECK(is_depthwise_shape(s), "depthwise_conv2d: needs groups == C_in == C_out");
  std::vector<Row> rows;
  for (int64_t ih = 0; ih < s.win.h; ++ih) rows.push_back(backward_data_row(s, ih));
  gather(s, rows, dy, s.win.h_out * s.win.w_out * s.c_in, taps_major(s, w),
         static_cast<const T*>(nullptr), dx, s.win.h * s.win.w * s.c_in, level);
}

template <class T>
void depthwise_conv2d_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw,
                                      SimdLevel level) {
  MOTIVE_CHECK(is_depthwise_shape(s), "depthwise_conv2d: needs groups == C_in == C_out");
  const Window2d& win = s.win;
  const int64_t c_n = s.c_in, taps = win.taps(), width = taps * c_n;
  std::vector<Row> rows;
  for (int64_t oh = 0; oh < win.h_out; ++oh) rows.push_back(forward_row(s, oh));
  const SimdLevel run_level = level_to_run(level);
  const int64_t x_image = win.h * win.w * c_n, dy_image = win.h_out * win.w_out * c_n;
  // [tap, C] sums in double, by chunks of (image, output row) rows.
  std::vector<double> total(static_cast<size_t>(width));
  column_sums(s.n * win.h_out, width, total.data(), [&](int64_t begin, int64_t end, double* out) {
    std::vector<T> acc(static_cast<size_t>(width), T(0));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / win.h_out, oh = r % win.h_out;
      filter_row_at(run_level, rows[static_cast<size_t>(oh)], c_n, x + n * x_image,
                    dy + n * dy_image, acc.data());
    }
    for (int64_t i = 0; i < width; ++i) out[i] += static_cast<double>(acc[static_cast<size_t>(i)]);
  });
  for (int64_t c = 0; c < c_n; ++c)
    for (int64_t k = 0; k < taps; ++k)
      dw[c * taps + k] = static_cast<T>(total[static_cast<size_t>(k * c_n + c)]);
}

template void depthwise_conv2d_forward<float>(const Conv2dShape&, const float*, const float*,
                                              const float*, float*, SimdLevel);
template void depthwise_conv2d_forward<double>(const Conv2dShape&, const double*, const double*,
                                               const double*, double*, SimdLevel);
template void depthwise_conv2d_backward_data<float>(const Conv2dShape&, const float*, const float*,
                                                    float*, SimdLevel);
template void depthwise_conv2d_backward_data<double>(const Conv2dShape&, const double*,
                                                     const double*, double*, SimdLevel);
template void depthwise_conv2d_backward_filter<float>(const Conv2dShape&, const float*,
                                                      const float*, float*, SimdLevel);
template void depthwise_conv2d_backward_filter<double>(const Conv2dShape&, const double*,
                                                       const double*, double*, SimdLevel);

}  // namespace motive::cpu
