// Multi-tensor SGD and AdamW. The host turns each parameter into slots (its
// view's dims reordered and merged: a contiguous parameter is one dense slot,
// a 2-D sub-block one strided slot of rows) and packs up to kSlots of them into
// a table passed by value as the kernel's parameter, so one launch updates a
// whole model's parameters with no descriptor copy to the device. The launch's
// elements are cut into tiles of kTile elements, each within one slot; a
// block finds its tile's slot by binary search over the slots' first tiles.
// Hyper-parameters and per-parameter coefficients (step counts, decay) are
// computed on the host each step and travel in the same parameter block.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.h"
#include "kernels/optim_rules.h"

namespace motive::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kTile = 4096;  // elements per tile: 16 per thread
constexpr int kUnroll = 4;       // scalar elements in flight per thread
constexpr int kMaxRank = 4;      // dims of a strided slot
// Strided slots index their elements in 32 bits (FastDivider); larger views
// are split into several slots.
constexpr int64_t kMaxStridedNumel = INT32_MAX;
constexpr int kSlots = 128;  // slots per launch (resnet18 has 62 parameters)
constexpr int64_t kMaxBlocks = 65535;

// n / divisor for n < 2^31 with a multiply-high and a shift (Granlund and
// Montgomery, as PyTorch's IntDivider): a 32-bit division is ~20 instructions
// and a 64-bit one ~70, per dim and element.
struct FastDivider {
  uint32_t divisor, magic, shift;

  FastDivider() = default;
  explicit FastDivider(uint32_t d) : divisor(d), shift(0) {
    while (shift < 31 && (uint32_t{1} << shift) < d) ++shift;
    const uint64_t one = 1;
    magic = static_cast<uint32_t>(((one << 32) * ((one << shift) - d)) / d + 1);
  }
  __device__ uint32_t div(uint32_t n) const { return (__umulhi(n, magic) + n) >> shift; }
};

// One parameter, or one piece of a parameter too large or of too many dims
// for one slot. Dims are ordered outermost first.
template <class T, class Coef>
struct Slot {
  T* param;
  const T* grad;
  T* state[2];
  int64_t numel;
  int64_t first_tile;  // of this slot within the launch
  int64_t stride[kMaxRank];
  FastDivider size[kMaxRank];  // for dims 1 .. rank - 1 (dim 0 needs no division)
  int rank;
  bool dense;   // one dim of stride 1: the element index is the offset
  bool vector;  // dense, and every pointer 16-byte aligned
  Coef coef;

  // Offset of row-major element i (< 2^31) of a strided slot.
  __device__ int64_t offset(uint32_t i) const {
    int64_t off = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 1; --d) {
      if (d < rank) {
        const uint32_t q = size[d].div(i);
        off += static_cast<int64_t>(i - q * size[d].divisor) * stride[d];
        i = q;
      }
    }
    return off + static_cast<int64_t>(i) * stride[0];
  }
};

template <class T, class Coef>
struct Table {
  int count;
  int64_t tiles;
  Slot<T, Coef> slot[kSlots];
};

// Kernel parameters may take 32764 bytes (CUDA 12.1 and later, Volta and newer).
static_assert(sizeof(Table<double, AdamWCoef<double>>) + 64 <= 32764,
              "the slot table must fit the kernel parameter space");

// The per-element rules (kernels/optim_rules.h) with the state they carry.
template <class T, bool kMomentum>
struct SgdRule {
  using Coef = SgdCoef<T>;
  static constexpr int kStates = kMomentum ? 1 : 0;
  SgdConstants<T> c;
  __device__ void operator()(const Coef& k, T& p, T g, T* state) const {
    sgd_update<kMomentum>(c, k, p, g, state[0]);  // state[0] untouched without momentum
  }
};

template <class T>
struct AdamWRule {
  using Coef = AdamWCoef<T>;
  static constexpr int kStates = 2;
  AdamWConstants<T> c;
  __device__ void operator()(const Coef& k, T& p, T g, T* state) const {
    adamw_update(c, k, p, g, state[0], state[1]);
  }
};

// Elements [begin, end) of a slot, element i at offset_of(i). Each thread
// loads kUnroll elements before updating any: the compiler cannot move a load
// above an earlier store (the pointers may alias), so this is how several
// loads per thread get in flight.
template <class Rule, class T, class Coef, class OffsetOf>
__device__ __forceinline__ void update_elements(const Rule& rule, const Slot<T, Coef>& s,
                                                int64_t begin, int64_t end,
                                                const OffsetOf& offset_of) {
  for (int64_t base = begin + threadIdx.x; base < end; base += kThreads * kUnroll) {
    int64_t off[kUnroll];
    T p[kUnroll], g[kUnroll], st[kUnroll][2];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kThreads;
      if (i >= end) continue;
      off[u] = offset_of(i);
      p[u] = s.param[off[u]];
      g[u] = s.grad[off[u]];
#pragma unroll
      for (int b = 0; b < Rule::kStates; ++b) st[u][b] = s.state[b][off[u]];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + u * kThreads >= end) continue;
      rule(s.coef, p[u], g[u], st[u]);
      s.param[off[u]] = p[u];
#pragma unroll
      for (int b = 0; b < Rule::kStates; ++b) s.state[b][off[u]] = st[u][b];
    }
  }
}

template <class T>
struct alignas(16) Pack {
  static constexpr int kWidth = 16 / sizeof(T);
  T v[kWidth];
};

// A dense slot with aligned pointers: 16-byte accesses, then the scalar tail.
template <class Rule, class T, class Coef>
__device__ __forceinline__ void update_packs(const Rule& rule, const Slot<T, Coef>& s,
                                             int64_t begin, int64_t end) {
  constexpr int W = Pack<T>::kWidth;
  const int64_t packed_end = begin + (end - begin) / W * W;  // begin is a multiple of W
  for (int64_t i = begin + threadIdx.x * int64_t{W}; i < packed_end; i += kThreads * W) {
    Pack<T> p = *reinterpret_cast<const Pack<T>*>(s.param + i);
    const Pack<T> g = *reinterpret_cast<const Pack<T>*>(s.grad + i);
    Pack<T> st[2];
#pragma unroll
    for (int b = 0; b < Rule::kStates; ++b) st[b] = *reinterpret_cast<const Pack<T>*>(s.state[b] + i);
#pragma unroll
    for (int j = 0; j < W; ++j) {
      T state[2];
#pragma unroll
      for (int b = 0; b < Rule::kStates; ++b) state[b] = st[b].v[j];
      rule(s.coef, p.v[j], g.v[j], state);
#pragma unroll
      for (int b = 0; b < Rule::kStates; ++b) st[b].v[j] = state[b];
    }
    *reinterpret_cast<Pack<T>*>(s.param + i) = p;
#pragma unroll
    for (int b = 0; b < Rule::kStates; ++b) *reinterpret_cast<Pack<T>*>(s.state[b] + i) = st[b];
  }
  update_elements(rule, s, packed_end, end, [](int64_t i) { return i; });
}

template <class T, class Rule>
__global__ void __launch_bounds__(kThreads)
    multi_tensor_kernel(const __grid_constant__ Table<T, typename Rule::Coef> table,
                        const Rule rule) {
  for (int64_t tile = blockIdx.x; tile < table.tiles; tile += gridDim.x) {
    // The tile's slot: the last one starting at or before it.
    int lo = 0, hi = table.count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (table.slot[mid].first_tile <= tile) lo = mid;
      else hi = mid - 1;
    }
    const Slot<T, typename Rule::Coef>& s = table.slot[lo];
    const int64_t begin = (tile - s.first_tile) * kTile;
    const int64_t end = begin + kTile < s.numel ? begin + kTile : s.numel;
    if (s.vector) {
      update_packs(rule, s, begin, end);
    } else if (s.dense) {
      update_elements(rule, s, begin, end, [](int64_t i) { return i; });
    } else {
      update_elements(rule, s, begin, end,
                      [&s](int64_t i) { return s.offset(static_cast<uint32_t>(i)); });
    }
  }
}

struct Dim {
  int64_t size, stride;
};

// The view's dims without the size-1 ones, by decreasing stride, neighbours
// merged where they nest (outer stride = inner stride * inner size): a
// contiguous parameter becomes one dense dim, a 2-D sub-block of a weight
// (rows, cols) and an OHWI sub-block (O, H*W, I). Reordering is free: the
// update is elementwise, and param, grad and state share the geometry.
std::vector<Dim> canonical_dims(int64_t rank, const int64_t* shape, const int64_t* strides) {
  std::vector<Dim> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (shape[d] != 1) dims.push_back({shape[d], strides[d]});
  std::stable_sort(dims.begin(), dims.end(),
                   [](const Dim& a, const Dim& b) { return a.stride > b.stride; });
  std::vector<Dim> merged;
  for (const Dim& d : dims) {
    if (!merged.empty() && merged.back().stride == d.stride * d.size) {
      merged.back() = {merged.back().size * d.size, d.stride};
    } else {
      merged.push_back(d);
    }
  }
  return merged;
}

template <class T>
bool aligned16(const T* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Collects slots into a table and launches it when full and at the end.
template <class T, class Rule>
class Launcher {
 public:
  using Coef = typename Rule::Coef;
  Launcher(const Rule& rule, const char* op) : rule_(rule), op_(op) {}

  void add(const ParamUpdate<T>& u, const Coef& coef) {
    for (int64_t d = 0; d < u.rank; ++d)
      if (u.shape[d] == 0) return;
    add_piece(canonical_dims(u.rank, u.shape, u.strides), 0, u, coef);
  }

  void flush() {
    if (table_.count == 0) return;
    const int blocks = static_cast<int>(std::min(table_.tiles, kMaxBlocks));
    multi_tensor_kernel<T, Rule><<<blocks, kThreads, 0, stream()>>>(table_, rule_);
    MOTIVE_CUDA_LAUNCH_CHECK(op_);
    table_.count = 0;
    table_.tiles = 0;
  }

 private:
  // The elements of `dims` at `base` (elements from u's element 0).
  void add_piece(std::vector<Dim> dims, int64_t base, const ParamUpdate<T>& u, const Coef& coef) {
    if (dims.empty()) dims.push_back({1, 1});
    int64_t numel = 1;
    for (const Dim& d : dims) numel *= d.size;
    const bool dense = dims.size() == 1 && dims[0].stride == 1;
    if (dims.size() <= kMaxRank && (dense || numel <= kMaxStridedNumel)) {
      push(dims, base, numel, dense, u, coef);
      return;
    }
    // Too many dims or elements for one slot: split dim 0 into runs of rows
    // (single rows, dropping the dim, when there are too many dims).
    const int64_t inner = numel / dims[0].size;
    const int64_t rows =
        dims.size() > kMaxRank ? 1 : std::max<int64_t>(1, kMaxStridedNumel / inner);
    for (int64_t r = 0; r < dims[0].size; r += rows) {
      std::vector<Dim> piece = dims;
      piece[0].size = std::min(rows, dims[0].size - r);
      if (piece[0].size == 1) piece.erase(piece.begin());
      add_piece(std::move(piece), base + r * dims[0].stride, u, coef);
    }
  }

  void push(const std::vector<Dim>& dims, int64_t base, int64_t numel, bool dense,
            const ParamUpdate<T>& u, const Coef& coef) {
    if (table_.count == kSlots) flush();
    Slot<T, Coef>& s = table_.slot[table_.count++];
    s.param = u.param + base;
    s.grad = u.grad + base;
    bool aligned = aligned16(s.param) && aligned16(s.grad);
    for (int b = 0; b < 2; ++b) {
      s.state[b] = b < Rule::kStates ? u.state[b] + base : nullptr;
      if (b < Rule::kStates) aligned = aligned && aligned16(s.state[b]);
    }
    s.numel = numel;
    s.first_tile = table_.tiles;
    table_.tiles += (numel + kTile - 1) / kTile;
    s.rank = static_cast<int>(dims.size());
    for (size_t d = 0; d < dims.size(); ++d) {
      s.stride[d] = dims[d].stride;
      if (d > 0) s.size[d] = FastDivider(static_cast<uint32_t>(dims[d].size));
    }
    s.dense = dense;
    s.vector = dense && aligned;
    s.coef = coef;
  }

  Table<T, Coef> table_{};
  Rule rule_;
  const char* op_;
};

template <class T, class Rule, class CoefOf>
void update_all(const Rule& rule, int64_t count, const ParamUpdate<T>* params,
                const CoefOf& coef_of, const char* op) {
  Launcher<T, Rule> launcher(rule, op);
  for (int64_t i = 0; i < count; ++i) launcher.add(params[i], coef_of(params[i]));
  launcher.flush();
}

}  // namespace

template <class T>
void sgd_step(int64_t count, const ParamUpdate<T>* params, const SgdHyper& h) {
  const SgdConstants<T> c = sgd_constants<T>(h);
  const auto coef_of = [&h](const ParamUpdate<T>& u) { return sgd_coef<T>(h, u); };
  if (h.momentum != 0) {
    update_all<T>(SgdRule<T, true>{c}, count, params, coef_of, "SGD");
  } else {
    update_all<T>(SgdRule<T, false>{c}, count, params, coef_of, "SGD");
  }
}

template <class T>
void adamw_step(int64_t count, const ParamUpdate<T>* params, const AdamWHyper& h) {
  const auto coef_of = [&h](const ParamUpdate<T>& u) { return adamw_coef<T>(h, u); };
  update_all<T>(AdamWRule<T>{adamw_constants<T>(h)}, count, params, coef_of, "AdamW");
}

#define MOTIVE_OPTIM_INSTANTIATE(T)                                                \
  template void sgd_step<T>(int64_t, const ParamUpdate<T>*, const SgdHyper&);      \
  template void adamw_step<T>(int64_t, const ParamUpdate<T>*, const AdamWHyper&);
MOTIVE_OPTIM_INSTANTIATE(float)
MOTIVE_OPTIM_INSTANTIATE(double)
#undef MOTIVE_OPTIM_INSTANTIATE

}  // namespace motive::cuda
