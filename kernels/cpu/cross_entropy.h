// Softmax cross-entropy with label smoothing over dense logits [n, c] and
// int32 labels [n] (already validated: 0 <= label < c). The target row is
// (1 - s) one_hot(label) + s / c, like PyTorch's label_smoothing.
#pragma once
#include <cstdint>

namespace motive::cpu {

// Returns the summed loss over rows, each row's being
//   log-sum-exp(x) - (1 - s) x[label] - (s / c) sum(x)
// (a stable log-softmax: the row max is subtracted before exp). When `probs`
// is non-null it receives softmax(x) for the backward pass.
template <class T>
double cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                             double smoothing, T* probs);

// dx = scale * (probs - target); scale is the incoming gradient / n.
template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* probs, const int32_t* labels,
                            double smoothing, double scale, T* dx);

}  // namespace motive::cpu
