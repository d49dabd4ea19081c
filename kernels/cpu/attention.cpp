// How the tiles run (W = the compute type: float, or double for double):
//
// forward, per (batch, head, query tile) work item:
//   keys and values of the head are packed once into dense W buffers (a thread
//   keeps them while its next item is in the same head), the query tile is
//   packed and scaled by 1/sqrt(Dh); then for each key tile:
//     S = Q K^T (an Eigen GEMM on the packed tiles)
//     per row: m' = max(m, max S), P = exp(S - m'), l = l exp(m - m') + sum P,
//              O = O exp(m - m')    (the online softmax's rescale)
//     O += P V
//   out = O / l, lse = m + log l.
// backward, per (batch, head): the head's q (scaled), k, v and dout are packed,
//   D = rowsum(dout * out); for each (query tile, key tile):
//     P = exp(Q K^T - lse),  dV += P^T dO,  dS = P * (dO V^T - D),
//     dQ += dS K,  dK += dS^T Q
//   and dq = dQ / sqrt(Dh), dk, dv are written once (bf16: rounded once).
//
// Under the causal mask a query tile stops at the last key its last row sees,
// and in the key tile that crosses the diagonal each row's masked tail is a
// probability of exactly 0. Every row sees key 0, so the first key tile gives
// each row a finite maximum and no -inf - -inf arises.
//
// All scratch is per thread and per call: O(T * D + tile) elements, never
// O(Tq * Tk).
#include "kernels/cpu/attention.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
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

// A dense row-major block of a scratch buffer.
template <class W>
using Rows = Eigen::Map<Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// The keys query row i may attend: all of them, or j <= i under the causal mask.
int64_t visible_keys(const AttentionShape& s, int64_t i) {
  return s.causal ? std::min(i + 1, s.tk) : s.tk;
}

// Copies rows [r0, r0 + n) of head (b, h) of x into a dense n x cols buffer,
// times scale (bf16 widens to float here).
template <class T, class W>
void pack(const HeadsView<T>& x, int64_t b, int64_t h, int64_t r0, int64_t n, int64_t cols,
          W scale, W* dst) {
  const T* first = x.data + b * x.stride[0] + h * x.stride[1] + r0 * x.stride[2];
  const int64_t step = x.stride[3];
  for (int64_t r = 0; r < n; ++r) {
    const T* src = first + r * x.stride[2];
    W* d = dst + r * cols;
    if (step == 1)
      for (int64_t c = 0; c < cols; ++c) d[c] = scale * static_cast<W>(src[c]);
    else
      for (int64_t c = 0; c < cols; ++c) d[c] = scale * static_cast<W>(src[c * step]);
  }
}

// dst[i] = src[i] * scale in T (the one rounding of a bf16 result).
template <class T, class W>
void store(const W* src, int64_t n, W scale, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i] * scale);
}

// In row r of a tile of scores for queries [i0, ...) and keys [j0, j0 + cols):
// how many leading entries the causal mask leaves visible.
int64_t visible_in_tile(const AttentionShape& s, int64_t i, int64_t j0, int64_t cols) {
  return std::clamp(visible_keys(s, i) - j0, int64_t{0}, cols);
}

}  // namespace

template <class T>
void attention_forward(const AttentionShape& s, HeadsView<T> q, HeadsView<T> k, HeadsView<T> v,
                       T* out, wide_t<T>* lse) {
  using W = wide_t<T>;
  const int64_t br = tile_length(s.tq, kMaxQueryTile), bc = tile_length(s.tk, kMaxKeyTile);
  const int64_t q_tiles = (s.tq + br - 1) / br, items = s.batch * s.heads * q_tiles;
  const W scale = W(1) / std::sqrt(static_cast<W>(s.dh));
#pragma omp parallel if (items > 1)
  {
    std::vector<W> kh(s.tk * s.dh), vh(s.tk * s.dv), qt(br * s.dh), st(br * bc), ot(br * s.dv);
    std::vector<W> m(br), l(br);
    int64_t packed = -1;  // the (batch, head) whose keys and values kh and vh hold
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t bh = item / q_tiles, b = bh / s.heads, h = bh % s.heads;
      if (bh != packed) {
        pack(k, b, h, 0, s.tk, s.dh, W(1), kh.data());
        pack(v, b, h, 0, s.tk, s.dv, W(1), vh.data());
        packed = bh;
      }
      const int64_t i0 = item % q_tiles * br, rows = std::min(br, s.tq - i0);
      pack(q, b, h, i0, rows, s.dh, scale, qt.data());
      const Rows<W> Q(qt.data(), rows, s.dh);
      Rows<W> O(ot.data(), rows, s.dv);
      O.setZero();
      std::fill(m.begin(), m.end(), -std::numeric_limits<W>::infinity());
      std::fill(l.begin(), l.end(), W(0));
      const int64_t keys = visible_keys(s, i0 + rows - 1);
      for (int64_t j0 = 0; j0 < keys; j0 += bc) {
        const int64_t cols = std::min(bc, keys - j0);
        Rows<W> S(st.data(), rows, cols);
        S.noalias() = Q * Rows<W>(kh.data() + j0 * s.dh, cols, s.dh).transpose();
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t n = visible_in_tile(s, i0 + r, j0, cols);
          auto row = S.row(r);
          row.tail(cols - n).setZero();
          if (n == 0) continue;
          const W top = std::max(m[r], row.head(n).maxCoeff());
          const W rescale = std::exp(m[r] - top);  // 0 on the first tile: m = -inf
          row.head(n) = (row.head(n).array() - top).exp().matrix();
          l[r] = rescale * l[r] + row.head(n).sum();
          m[r] = top;
          if (j0 > 0) O.row(r) *= rescale;
        }
        O.noalias() += S * Rows<W>(vh.data() + j0 * s.dv, cols, s.dv);
      }
      const int64_t row0 = bh * s.tq + i0;  // of this tile in out and lse
      for (int64_t r = 0; r < rows; ++r) {
        store(ot.data() + r * s.dv, s.dv, W(1) / l[r], out + (row0 + r) * s.dv);
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
  const W scale = W(1) / std::sqrt(static_cast<W>(s.dh));
  const HeadsView<T> o{out, {s.heads * s.tq * s.dv, s.tq * s.dv, s.dv, 1}};
#pragma omp parallel if (heads > 1)
  {
    std::vector<W> qh(s.tq * s.dh), kh(s.tk * s.dh), vh(s.tk * s.dv), doh(s.tq * s.dv);
    std::vector<W> oh(s.tq * s.dv), d(s.tq), pt(br * bc), dst(br * bc);
    std::vector<W> dqh(s.tq * s.dh), dkh(s.tk * s.dh), dvh(s.tk * s.dv);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < heads; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads;
      pack(q, b, h, 0, s.tq, s.dh, scale, qh.data());
      pack(k, b, h, 0, s.tk, s.dh, W(1), kh.data());
      pack(v, b, h, 0, s.tk, s.dv, W(1), vh.data());
      pack(dout, b, h, 0, s.tq, s.dv, W(1), doh.data());
      pack(o, b, h, 0, s.tq, s.dv, W(1), oh.data());
      Eigen::Map<Eigen::Matrix<W, Eigen::Dynamic, 1>>(d.data(), s.tq) =
          Rows<W>(doh.data(), s.tq, s.dv).cwiseProduct(Rows<W>(oh.data(), s.tq, s.dv)).rowwise().sum();
      Rows<W> dQ_all(dqh.data(), s.tq, s.dh), dK_all(dkh.data(), s.tk, s.dh),
          dV_all(dvh.data(), s.tk, s.dv);
      dQ_all.setZero();
      dK_all.setZero();
      dV_all.setZero();
      const W* lse_head = lse + bh * s.tq;
      for (int64_t i0 = 0; i0 < s.tq; i0 += br) {
        const int64_t rows = std::min(br, s.tq - i0);
        const Rows<W> Q(qh.data() + i0 * s.dh, rows, s.dh), dO(doh.data() + i0 * s.dv, rows, s.dv);
        Rows<W> dQ(dqh.data() + i0 * s.dh, rows, s.dh);
        const int64_t keys = visible_keys(s, i0 + rows - 1);
        for (int64_t j0 = 0; j0 < keys; j0 += bc) {
          const int64_t cols = std::min(bc, keys - j0);
          const Rows<W> K(kh.data() + j0 * s.dh, cols, s.dh), V(vh.data() + j0 * s.dv, cols, s.dv);
          Rows<W> dK(dkh.data() + j0 * s.dh, cols, s.dh), dV(dvh.data() + j0 * s.dv, cols, s.dv);
          Rows<W> P(pt.data(), rows, cols), dS(dst.data(), rows, cols);
          P.noalias() = Q * K.transpose();
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t n = visible_in_tile(s, i0 + r, j0, cols);
            auto row = P.row(r);
            row.head(n) = (row.head(n).array() - lse_head[i0 + r]).exp().matrix();
            row.tail(cols - n).setZero();
          }
          dV.noalias() += P.transpose() * dO;
          dS.noalias() = dO * V.transpose();
          for (int64_t r = 0; r < rows; ++r)
            dS.row(r).array() = P.row(r).array() * (dS.row(r).array() - d[i0 + r]);
          dQ.noalias() += dS * K;
          dK.noalias() += dS.transpose() * Q;
        }
      }
      store(dqh.data(), s.tq * s.dh, scale, dq + bh * s.tq * s.dh);
      store(dkh.data(), s.tk * s.dh, W(1), dk + bh * s.tk * s.dh);
      store(dvh.data(), s.tk * s.dv, W(1), dv + bh * s.tk * s.dv);
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
