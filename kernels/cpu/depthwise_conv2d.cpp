#include "kernels/cpu/depthwise_conv2d.h"

#include <algorithm>
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

// Pixels of a row that read through the same taps: pixel j of the run writes
// output element out + j * out_step + c and reads in + j * in_step + tap.in + c
// for each tap (offsets from the row's reference elements; c the channel).
struct Run {
  int64_t out, out_step, in, in_step, count;
  std::vector<Tap> taps;
};

// The runs that cover one row of the output (forward) or of the input (the
// backward of the data): the interior pixels, whose taps all land inside the
// image, as one run (one per stride phase), each border pixel as its own.
using Row = std::vector<Run>;

// One axis of the window (rows or columns) seen from the side that is written:
// destination index i (an output index in the forward, an input index in the
// backward of the data) reads source index ref(i) + rel through kernel index k,
// for the (k, rel) of taps(i).
//   forward:  source i * stride - padding + k * dilation, inside the input;
//   backward: source (i + padding - k * dilation) / stride where that divides
//             exactly and lands inside the output.
// Destinations of one stride phase (i, i + dst_step, ...) in the interior have
// the same taps, their references ref_step apart.
struct AxisTap {
  int64_t k, rel;
  bool operator==(const AxisTap& o) const { return k == o.k && rel == o.rel; }
};

struct Axis {
  int64_t dst_size, src_size, kernel, stride, padding, dilation;
  bool backward;

  int64_t ref(int64_t i) const { return backward ? (i + padding) / stride : i * stride - padding; }
  int64_t phases() const { return backward ? stride : 1; }
  int64_t dst_step() const { return backward ? stride : 1; }
  int64_t ref_step() const { return backward ? 1 : stride; }
  std::vector<AxisTap> taps(int64_t i) const {
    std::vector<AxisTap> out;
    for (int64_t k = 0; k < kernel; ++k) {
      int64_t src = i * stride - padding + k * dilation;
      if (backward) {
        const int64_t t = i + padding - k * dilation;
        if (t < 0 || t % stride != 0) continue;
        src = t / stride;
      }
      if (src >= 0 && src < src_size) out.push_back({k, src - ref(i)});
    }
    return out;
  }
};

Axis row_axis(const Conv2dShape& s, bool backward) {
  const Window2d& w = s.win;
  return backward ? Axis{w.h, w.h_out, w.k_h, w.stride, w.padding, w.dilation, true}
                  : Axis{w.h_out, w.h, w.k_h, w.stride, w.padding, w.dilation, false};
}

Axis column_axis(const Conv2dShape& s, bool backward) {
  const Window2d& w = s.win;
  return backward ? Axis{w.w, w.w_out, w.k_w, w.stride, w.padding, w.dilation, true}
                  : Axis{w.w_out, w.w, w.k_w, w.stride, w.padding, w.dilation, false};
}

// Every destination row's runs and reference elements. Rows whose taps are the
// same (all interior rows of one stride phase) share one Row.
struct Plan {
  std::vector<Row> rows;
  std::vector<size_t> row_of;              // per destination row: its entry of `rows`
  std::vector<int64_t> in_base, out_base;  // per destination row: reference elements
};

// forward: output rows reading x (also the filter gradient's plan, reading x
// and dy); backward: input rows of dx reading dy.
Plan make_plan(const Conv2dShape& s, bool backward) {
  const Axis rows = row_axis(s, backward), cols = column_axis(s, backward);
  const int64_t c = s.c_in;
  // The column runs, shared by every row: consecutive destinations of one phase
  // with the same taps.
  struct ColumnRun {
    int64_t first, count;
    std::vector<AxisTap> taps;
  };
  std::vector<ColumnRun> column_runs;
  for (int64_t phase = 0; phase < std::min(cols.phases(), cols.dst_size); ++phase) {
    bool open = false;
    for (int64_t i = phase; i < cols.dst_size; i += cols.dst_step()) {
      std::vector<AxisTap> taps = cols.taps(i);
      if (open && column_runs.back().taps == taps) {
        ++column_runs.back().count;
      } else {
        column_runs.push_back({i, 1, std::move(taps)});
        open = true;
      }
    }
  }
  Plan plan;
  std::vector<std::vector<AxisTap>> keys;
  for (int64_t i = 0; i < rows.dst_size; ++i) {
    const std::vector<AxisTap> row_taps = rows.taps(i);
    size_t index = 0;
    while (index < keys.size() && !(keys[index] == row_taps)) ++index;
    if (index == keys.size()) {
      keys.push_back(row_taps);
      Row& row = plan.rows.emplace_back();
      for (const ColumnRun& cr : column_runs) {
        Run run{cr.first * c,
                cols.dst_step() * c,
                cols.ref(cr.first) * c,
                cols.ref_step() * c,
                cr.count,
                {}};
        for (const AxisTap& th : row_taps)
          for (const AxisTap& tw : cr.taps)
            run.taps.push_back(
                {(th.rel * cols.src_size + tw.rel) * c, (th.k * s.win.k_w + tw.k) * c});
        row.push_back(std::move(run));
      }
    }
    plan.row_of.push_back(index);
    plan.in_base.push_back(rows.ref(i) * cols.src_size * c);
    plan.out_base.push_back(i * cols.dst_size * c);
  }
  return plan;
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

// Where a row's reference elements are: offsets into the input and output
// arrays (the input's may be negative: a top row's window starts in the padding).
struct Bases {
  int64_t in, out;
};

// Pixels [first, first + P) of run r, channels [c, c + kVecs * kLanes):
// out = bias (or 0) + sum over the taps of in * wt.
template <class T, int kLanes, int kVecs, int P>
MOTIVE_INLINE void gather_block(const Run& r, int64_t first, int64_t c, Bases at, const T* in,
                                const T* wt, const T* bias, T* out) {
  using V = typename Simd<T, kLanes>::V;
  // Locals: the stores below go through memcpy, which the compiler must assume
  // may change `r`.
  const int64_t in_step = r.in_step, out_step = r.out_step;
  const int64_t in0 = at.in + r.in + first * in_step + c;
  const int64_t out0 = at.out + r.out + first * out_step + c;
  const Tap* const taps = r.taps.data();
  const size_t n_taps = r.taps.size();
  V acc[P][kVecs];
  for (int v = 0; v < kVecs; ++v) {
    V init{};
    if (bias) std::memcpy(&init, bias + c + v * kLanes, sizeof(V));
    for (int j = 0; j < P; ++j) acc[j][v] = init;
  }
  for (size_t k = 0; k < n_taps; ++k) {
    const Tap t = taps[k];
    V wv[kVecs];
    for (int v = 0; v < kVecs; ++v) std::memcpy(&wv[v], wt + t.w + c + v * kLanes, sizeof(V));
    for (int j = 0; j < P; ++j)
      for (int v = 0; v < kVecs; ++v) {
        V xv;
        std::memcpy(&xv, in + (in0 + j * in_step + t.in + v * kLanes), sizeof(V));
        acc[j][v] += xv * wv[v];
      }
  }
  for (int j = 0; j < P; ++j)
    for (int v = 0; v < kVecs; ++v)
      std::memcpy(out + (out0 + j * out_step + v * kLanes), &acc[j][v], sizeof(V));
}

template <class T, int kLanes, int kVecs>
MOTIVE_INLINE void gather_channels(const Row& row, int64_t c, Bases at, const T* in, const T* wt,
                                   const T* bias, T* out) {
  for (const Run& r : row) {
    int64_t j = 0;
    for (; j + kPixels <= r.count; j += kPixels)
      gather_block<T, kLanes, kVecs, kPixels>(r, j, c, at, in, wt, bias, out);
    for (; j < r.count; ++j) gather_block<T, kLanes, kVecs, 1>(r, j, c, at, in, wt, bias, out);
  }
}

// One row of a gather (forward or backward of the data) over all `channels`:
// blocks of kVectors registers, then single registers, then single channels.
template <class T, int kLanes>
MOTIVE_INLINE void gather_row(const Row& row, int64_t channels, Bases at, const T* in, const T* wt,
                              const T* bias, T* out) {
  int64_t c = 0;
  for (; c + kVectors * kLanes <= channels; c += kVectors * kLanes)
    gather_channels<T, kLanes, kVectors>(row, c, at, in, wt, bias, out);
  for (; c + kLanes <= channels; c += kLanes)
    gather_channels<T, kLanes, 1>(row, c, at, in, wt, bias, out);
  for (; c < channels; ++c) gather_channels<T, 1, 1>(row, c, at, in, wt, bias, out);
}

// Channels [c, c + kVecs * kLanes) of acc[tap, C] += the sum over run r's
// pixels of x * dy (x at the input side of `at`, dy at the output side), for
// taps [t0, t0 + G): each dy vector loaded serves G taps, G * kVecs
// independent sums.
template <class T, int kLanes, int kVecs, int G>
MOTIVE_INLINE void filter_taps(const Run& r, size_t t0, int64_t c, Bases at, const T* x,
                               const T* dy, T* acc) {
  using V = typename Simd<T, kLanes>::V;
  const int64_t in_step = r.in_step, out_step = r.out_step, count = r.count;
  const int64_t dy0 = at.out + r.out + c;
  int64_t x0[G], w0[G];
  for (int g = 0; g < G; ++g) {
    x0[g] = at.in + r.in + r.taps[t0 + g].in + c;
    w0[g] = r.taps[t0 + g].w + c;
  }
  V sums[G][kVecs] = {};
  for (int64_t j = 0; j < count; ++j) {
    V gv[kVecs];
    for (int v = 0; v < kVecs; ++v)
      std::memcpy(&gv[v], dy + (dy0 + j * out_step + v * kLanes), sizeof(V));
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < kVecs; ++v) {
        V xv;
        std::memcpy(&xv, x + (x0[g] + j * in_step + v * kLanes), sizeof(V));
        sums[g][v] += xv * gv[v];
      }
  }
  for (int g = 0; g < G; ++g)
    for (int v = 0; v < kVecs; ++v) {
      V total;
      std::memcpy(&total, acc + w0[g] + v * kLanes, sizeof(V));
      total += sums[g][v];
      std::memcpy(acc + w0[g] + v * kLanes, &total, sizeof(V));
    }
}

template <class T, int kLanes, int kVecs>
MOTIVE_INLINE void filter_channels(const Row& row, int64_t c, Bases at, const T* x, const T* dy,
                                   T* acc) {
  constexpr int kGroup = 4;
  for (const Run& r : row) {
    size_t t = 0;
    for (; t + kGroup <= r.taps.size(); t += kGroup)
      filter_taps<T, kLanes, kVecs, kGroup>(r, t, c, at, x, dy, acc);
    for (; t < r.taps.size(); ++t) filter_taps<T, kLanes, kVecs, 1>(r, t, c, at, x, dy, acc);
  }
}

template <class T, int kLanes>
MOTIVE_INLINE void filter_row(const Row& row, int64_t channels, Bases at, const T* x, const T* dy,
                              T* acc) {
  int64_t c = 0;
  for (; c + kVectors * kLanes <= channels; c += kVectors * kLanes)
    filter_channels<T, kLanes, kVectors>(row, c, at, x, dy, acc);
  for (; c + kLanes <= channels; c += kLanes) filter_channels<T, kLanes, 1>(row, c, at, x, dy, acc);
  for (; c < channels; ++c) filter_channels<T, 1, 1>(row, c, at, x, dy, acc);
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
MOTIVE_AVX512 void gather_row_avx512(const Row& row, int64_t channels, Bases at, const T* in,
                                     const T* wt, const T* bias, T* out) {
  gather_row<T, 64 / sizeof(T)>(row, channels, at, in, wt, bias, out);
}
template <class T>
MOTIVE_AVX2 void gather_row_avx2(const Row& row, int64_t channels, Bases at, const T* in,
                                 const T* wt, const T* bias, T* out) {
  gather_row<T, 32 / sizeof(T)>(row, channels, at, in, wt, bias, out);
}
template <class T>
MOTIVE_AVX512 void filter_row_avx512(const Row& row, int64_t channels, Bases at, const T* x,
                                     const T* dy, T* acc) {
  filter_row<T, 64 / sizeof(T)>(row, channels, at, x, dy, acc);
}
template <class T>
MOTIVE_AVX2 void filter_row_avx2(const Row& row, int64_t channels, Bases at, const T* x,
                                 const T* dy, T* acc) {
  filter_row<T, 32 / sizeof(T)>(row, channels, at, x, dy, acc);
}
#endif

template <class T>
void gather_row_at(SimdLevel level, const Row& row, int64_t channels, Bases at, const T* in,
                   const T* wt, const T* bias, T* out) {
#ifdef MOTIVE_HAS_ISA_CHOICE
  if (level == SimdLevel::Avx512) return gather_row_avx512(row, channels, at, in, wt, bias, out);
  if (level == SimdLevel::Avx2) return gather_row_avx2(row, channels, at, in, wt, bias, out);
#endif
  (void)level;
  gather_row<T, 16 / sizeof(T)>(row, channels, at, in, wt, bias, out);
}

template <class T>
void filter_row_at(SimdLevel level, const Row& row, int64_t channels, Bases at, const T* x,
                   const T* dy, T* acc) {
#ifdef MOTIVE_HAS_ISA_CHOICE
  if (level == SimdLevel::Avx512) return filter_row_avx512(row, channels, at, x, dy, acc);
  if (level == SimdLevel::Avx2) return filter_row_avx2(row, channels, at, x, dy, acc);
#endif
  (void)level;
  filter_row<T, 16 / sizeof(T)>(row, channels, at, x, dy, acc);
}

// ---- the entry points: rows in parallel ----

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

// gather_row_at over every (image, destination row) of `plan`: `in` and `out`
// hold s.n images of in_image and out_image elements.
template <class T>
void gather(const Conv2dShape& s, const Plan& plan, const T* in, int64_t in_image,
            const std::vector<T>& wt, const T* bias, T* out, int64_t out_image, SimdLevel level) {
  const SimdLevel run_level = level_to_run(level);
  const int64_t n_rows = static_cast<int64_t>(plan.row_of.size());
#pragma omp parallel for collapse(2) schedule(static) if (multiply_adds(s) > kParallelWork)
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t r = 0; r < n_rows; ++r) {
      const size_t i = static_cast<size_t>(r);
      const Bases at{n * in_image + plan.in_base[i], n * out_image + plan.out_base[i]};
      gather_row_at(run_level, plan.rows[plan.row_of[i]], s.c_in, at, in, wt.data(), bias, out);
    }
}

void check_depthwise(const Conv2dShape& s) {
  MOTIVE_CHECK(s.groups == s.c_in && s.c_out == s.c_in,
               "depthwise_conv2d: needs groups == C_in == C_out, got groups ", s.groups, ", C_in ",
               s.c_in, ", C_out ", s.c_out);
}

}  // namespace

template <class T>
void depthwise_conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y,
                              SimdLevel level) {
  check_depthwise(s);
  gather(s, make_plan(s, false), x, s.win.h * s.win.w * s.c_in, taps_major(s, w), b, y,
         s.win.h_out * s.win.w_out * s.c_in, level);
}

template <class T>
void depthwise_conv2d_backward_data(const Conv2dShape& s, const T* w, const T* dy, T* dx,
                                    SimdLevel level) {
  check_depthwise(s);
  gather(s, make_plan(s, true), dy, s.win.h_out * s.win.w_out * s.c_in, taps_major(s, w),
         static_cast<const T*>(nullptr), dx, s.win.h * s.win.w * s.c_in, level);
}

template <class T>
void depthwise_conv2d_backward_filter(const Conv2dShape& s, const T* x, const T* dy, T* dw,
                                      SimdLevel level) {
  check_depthwise(s);
  const Window2d& win = s.win;
  const int64_t c_n = s.c_in, taps = win.taps(), width = taps * c_n;
  const Plan plan = make_plan(s, false);
  const SimdLevel run_level = level_to_run(level);
  const int64_t x_image = win.h * win.w * c_n, dy_image = win.h_out * win.w_out * c_n;
  // [tap, C] sums in double, by chunks of (image, output row) rows.
  std::vector<double> total(static_cast<size_t>(width));
  column_sums(s.n * win.h_out, width, total.data(), [&](int64_t begin, int64_t end, double* out) {
    std::vector<T> acc(static_cast<size_t>(width), T(0));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / win.h_out;
      const size_t oh = static_cast<size_t>(r % win.h_out);
      const Bases at{n * x_image + plan.in_base[oh], n * dy_image + plan.out_base[oh]};
      filter_row_at(run_level, plan.rows[plan.row_of[oh]], c_n, at, x, dy, acc.data());
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
