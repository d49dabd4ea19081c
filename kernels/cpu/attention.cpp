// How the tiles run (W = the compute type: float, or double for double; the
// scale c = 1/sqrt(Dh) is applied to the scores, not to q):
//
// forward, per (batch, head, query tile) work item, with m = -inf, l = 0, O = 0:
//   for each key tile:
//     S = Q K^T (an Eigen GEMM)
//     per row: m' = max(m, c max S), P = exp(c S - m'), l = l exp(m - m') + sum P,
//              O = O exp(m - m')    (the online softmax's rescale)
//     O += P V
//   out = O / l, lse = m + log l.
// backward, per (batch, head): D = rowsum(dout * out); for each (query tile,
//   key tile):
//     P = exp(c Q K^T - lse),  dV += P^T dO,  dS = P * (dO V^T - D),
//     dQ += dS K,  dK += dS^T Q
//   and dq = c dQ, dk = c dK, dv = dV are written once (bf16: rounded once).
//
// Operands are read in place when their rows are unit-stride W (Eigen's GEMM
// packs its operands anyway); bf16 and other layouts are widened into a dense
// per-thread copy of the head first, O(T * D), made once per head.
//
// Under the causal mask a query tile stops at the last key its last row sees,
// and in the key tile that crosses the diagonal each row's masked tail is a
// probability of exactly 0. Every row sees key 0, so the first key tile gives
// each row a finite maximum and no -inf - -inf arises.
//
// A score tile's rows are padded to a whole number of 64-byte SIMD registers
// and start aligned, so the exponentials, maxima and sums run in whole
// vectors (no scalar head or tail): the padding and the masked keys are set to
// -inf before and to 0 after the exponential.
//
// All scratch is per thread and per call: O(T * D + tile) elements, never
// O(Tq * Tk).
#include "kernels/cpu/attention.h"

#include "kernels/cpu/eigen.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace motive::cpu {
namespace {

// Tile bounds: a float tile of scores is at most 128 x 256 (128 KiB); with the
// query tile, its output accumulator and the head's keys and values it stays in
// the L2 cache of current cores (1-2 MiB) at the head sizes of vision models.
// Tiles are balanced: 65 queries make one tile of 65, not 64 + 1.
constexpr int64_t kMaxQueryTile = 128;
constexpr int64_t kMaxKeyTile = 256;

int64_t tile_length(int64_t n, int64_t max_tile) {
  const int64_t tiles = (n + max_tile - 1) / max_tile;
  return tiles == 0 ? 1 : (n + tiles - 1) / tiles;
}

template <class W>
using Matrix = Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class W>
using Rows = Eigen::Map<Matrix<W>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class W>
using ConstRows = Eigen::Map<const Matrix<W>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class W>
using RowArray = Eigen::Map<Eigen::Array<W, 1, Eigen::Dynamic>>;

// The keys query row i may attend: all of them, or j <= i under the causal mask.
int64_t visible_keys(const AttentionShape& s, int64_t i) {
  return s.causal ? std::min(i + 1, s.tk) : s.tk;
}

// Of the key tile [j0, j0 + cols), how many leading keys query row i sees.
int64_t visible_in_tile(const AttentionShape& s, int64_t i, int64_t j0, int64_t cols) {
  return std::clamp(visible_keys(s, i) - j0, int64_t{0}, cols);
}

// One [T, D] head of a [B, H, T, D] operand as a row-major W matrix: the
// operand's own memory when its rows are unit-stride W and do not overlap,
// else a dense widened copy (bf16, transposed layouts), remade only when the
// head changes.
template <class T, class W>
class HeadRows {
 public:
  HeadRows(const HeadsView<T>& x, int64_t rows, int64_t cols) : x_(x), rows_(rows), cols_(cols) {}

  void select(int64_t b, int64_t h) {
    const int64_t offset = b * x_.stride[0] + h * x_.stride[1];
    const T* first = x_.data + offset;
    const int64_t row_step = x_.stride[2], col_step = x_.stride[3];
    if constexpr (std::is_same_v<T, W>) {
      if ((col_step == 1 || cols_ == 1) && (row_step >= cols_ || rows_ == 1)) {
        data_ = first;
        stride_ = rows_ == 1 ? cols_ : row_step;
        return;
      }
    }
    if (offset != copied_) {
      copy_.resize(static_cast<size_t>(rows_ * cols_));
      for (int64_t r = 0; r < rows_; ++r)
        for (int64_t c = 0; c < cols_; ++c)
          copy_[r * cols_ + c] = static_cast<W>(first[r * row_step + c * col_step]);
      copied_ = offset;
    }
    data_ = copy_.data();
    stride_ = cols_;
  }

  // Rows [r0, r0 + n) of the selected head.
  ConstRows<W> rows(int64_t r0, int64_t n) const {
    return ConstRows<W>(data_ + r0 * stride_, n, cols_, Eigen::OuterStride<>(stride_));
  }

 private:
  HeadsView<T> x_;
  int64_t rows_, cols_;
  const W* data_ = nullptr;
  int64_t stride_ = 0;
  std::vector<W> copy_;
  int64_t copied_ = -1;  // element offset of the head held in copy_
};

// A per-thread tile of scores (or probabilities, or their gradient): rows of
// up to `max_cols` entries padded to whole 64-byte registers, each row
// 64-byte aligned (Eigen aligns the allocation), zero-initialised.
template <class W>
class ScoreTile {
 public:
  static constexpr int64_t kLanes = EIGEN_MAX_ALIGN_BYTES / sizeof(W);
  ScoreTile(int64_t max_rows, int64_t max_cols)
      : pitch_(padded(max_cols)), data_(Matrix<W>::Zero(max_rows, pitch_)) {}

  static int64_t padded(int64_t cols) { return (cols + kLanes - 1) / kLanes * kLanes; }

  // The [rows, cols] tile, as a GEMM operand or destination.
  Rows<W> matrix(int64_t rows, int64_t cols) {
    return Rows<W>(data_.data(), rows, cols, Eigen::OuterStride<>(pitch_));
  }
  // Row r over its padded length for `cols` columns.
  RowArray<W> row(int64_t r, int64_t cols) {
    return RowArray<W>(data_.data() + r * pitch_, padded(cols));
  }

 private:
  int64_t pitch_;
  Matrix<W> data_;
};

// p = exp(c p - shift) over the first n entries of a padded row, 0 after them.
template <class W>
void exp_visible(RowArray<W> p, int64_t n, W c, W shift) {
  const int64_t tail = p.size() - n;
  p.tail(tail).setConstant(-std::numeric_limits<W>::infinity());
  p = (p * c - shift).exp();
  p.tail(tail).setZero();
}

// dst[i] = src(i) * scale in T (the one rounding of a bf16 result).
template <class T, class W, class Src>
void store_rows(const Src& src, W scale, T* dst) {
  const int64_t cols = src.cols();
  for (int64_t r = 0; r < src.rows(); ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = static_cast<T>(src(r, c) * scale);
}

}  // namespace

template <class T>
void attention_forward(const AttentionShape& s, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                       T* out, wide_t<T>* lse) {
  using W = wide_t<T>;
  const int64_t br = tile_length(s.tq, kMaxQueryTile), bc = tile_length(s.tk, kMaxKeyTile);
  const int64_t q_tiles = (s.tq + br - 1) / br, items = s.batch * s.heads * q_tiles;
  const W c = W(1) / std::sqrt(static_cast<W>(s.dh));
#pragma omp parallel if (items > 1)
  {
    HeadRows<T, W> qh(q, s.tq, s.dh), kh(k, s.tk, s.dh), vh(v, s.tk, s.dv);
    ScoreTile<W> tile(br, bc);
    Matrix<W> o_acc(br, s.dv);
    std::vector<W> m(br), l(br);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t bh = item / q_tiles, b = bh / s.heads, h = bh % s.heads;
      qh.select(b, h);
      kh.select(b, h);
      vh.select(b, h);
      const int64_t i0 = item % q_tiles * br, rows = std::min(br, s.tq - i0);
      const ConstRows<W> Q = qh.rows(i0, rows);
      auto O = o_acc.topRows(rows);
      O.setZero();
      std::fill(m.begin(), m.end(), -std::numeric_limits<W>::infinity());
      std::fill(l.begin(), l.end(), W(0));
      const int64_t keys = visible_keys(s, i0 + rows - 1);
      for (int64_t j0 = 0; j0 < keys; j0 += bc) {
        const int64_t cols = std::min(bc, keys - j0);
        Rows<W> S = tile.matrix(rows, cols);
        S.noalias() = Q * kh.rows(j0, cols).transpose();
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t n = visible_in_tile(s, i0 + r, j0, cols);
          RowArray<W> p = tile.row(r, cols);
          if (n == 0) {  // a later tile wholly above the diagonal for this row
            p.setZero();
            continue;
          }
          const W top = std::max(m[r], c * p.head(n).maxCoeff());
          exp_visible(p, n, c, top);
          const W rescale = j0 == 0 ? W(0) : std::exp(m[r] - top);
          l[r] = rescale * l[r] + p.sum();
          m[r] = top;
          if (j0 > 0) O.row(r) *= rescale;
        }
        O.noalias() += S * vh.rows(j0, cols);
      }
      const int64_t row0 = bh * s.tq + i0;  // of this tile in out and lse
      for (int64_t r = 0; r < rows; ++r) {
        store_rows(O.row(r), W(1) / l[r], out + (row0 + r) * s.dv);
        lse[row0 + r] = m[r] + std::log(l[r]);
      }
    }
  }
}

template <class T>
void attention_backward(const AttentionShape& s, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                        const T* out, const wide_t<T>* lse, HeadsView<T> dout, T* dq, T* dk,
                        T* dv) {
  using W = wide_t<T>;
  const int64_t br = tile_length(s.tq, kMaxQueryTile), bc = tile_length(s.tk, kMaxKeyTile);
  const int64_t heads = s.batch * s.heads;
  const W c = W(1) / std::sqrt(static_cast<W>(s.dh));
  const HeadsView<T> o{out, {s.heads * s.tq * s.dv, s.tq * s.dv, s.dv, 1}};
#pragma omp parallel if (heads > 1)
  {
    HeadRows<T, W> qh(q, s.tq, s.dh), kh(k, s.tk, s.dh), vh(v, s.tk, s.dv);
    HeadRows<T, W> doh(dout, s.tq, s.dv), oh(o, s.tq, s.dv);
    ScoreTile<W> p_tile(br, bc), ds_tile(br, bc);
    Matrix<W> dq_acc(s.tq, s.dh), dk_acc(s.tk, s.dh), dv_acc(s.tk, s.dv);
    Eigen::Matrix<W, Eigen::Dynamic, 1> d(s.tq);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < heads; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads;
      for (HeadRows<T, W>* x : {&qh, &kh, &vh, &doh, &oh}) x->select(b, h);
      for (int64_t i = 0; i < s.tq; ++i) d[i] = doh.rows(i, 1).row(0).dot(oh.rows(i, 1).row(0));
      dq_acc.setZero();
      dk_acc.setZero();
      dv_acc.setZero();
      const W* lse_head = lse + bh * s.tq;
      for (int64_t i0 = 0; i0 < s.tq; i0 += br) {
        const int64_t rows = std::min(br, s.tq - i0);
        const ConstRows<W> Q = qh.rows(i0, rows), dO = doh.rows(i0, rows);
        auto dQ = dq_acc.middleRows(i0, rows);
        const int64_t keys = visible_keys(s, i0 + rows - 1);
        for (int64_t j0 = 0; j0 < keys; j0 += bc) {
          const int64_t cols = std::min(bc, keys - j0);
          const ConstRows<W> K = kh.rows(j0, cols), V = vh.rows(j0, cols);
          Rows<W> P = p_tile.matrix(rows, cols), dS = ds_tile.matrix(rows, cols);
          P.noalias() = Q * K.transpose();
          for (int64_t r = 0; r < rows; ++r)
            exp_visible(p_tile.row(r, cols), visible_in_tile(s, i0 + r, j0, cols), c,
                        lse_head[i0 + r]);
          dv_acc.middleRows(j0, cols).noalias() += P.transpose() * dO;
          dS.noalias() = dO * V.transpose();
          // The padding of both tiles is 0 (never written by a GEMM), so
          // whole padded rows can be used.
          for (int64_t r = 0; r < rows; ++r)
            ds_tile.row(r, cols) = p_tile.row(r, cols) * (ds_tile.row(r, cols) - d[i0 + r]);
          dQ.noalias() += dS * K;
          dk_acc.middleRows(j0, cols).noalias() += dS.transpose() * Q;
        }
      }
      store_rows(dq_acc, c, dq + bh * s.tq * s.dh);
      store_rows(dk_acc, c, dk + bh * s.tk * s.dh);
      store_rows(dv_acc, W(1), dv + bh * s.tk * s.dv);
    }
  }
}

#define MOTIVE_INSTANTIATE(T)                                                                  \
  template void attention_forward<T>(const AttentionShape&, HeadsView<T>, HeadsView<T>,        \
                                     HeadsView<T>, T*, wide_t<T>*);                            \
  template void attention_backward<T>(const AttentionShape&, HeadsView<T>, HeadsView<T>,       \
                                      HeadsView<T>, const T*, const wide_t<T>*, HeadsView<T>, \
                                      T*, T*, T*);
MOTIVE_INSTANTIATE(float)
MOTIVE_INSTANTIATE(double)
MOTIVE_INSTANTIATE(bf16)
#undef MOTIVE_INSTANTIATE

}  // namespace motive::cpu
