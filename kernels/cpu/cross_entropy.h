// Softmax cross-entropy with label smoothing over dense logits [n, c] and
// int32 labels [n] (already validated: 0 <= label < c). The target row is
// (1 - s) one_hot(label) + s / c, like PyTorch's label_smoothing.
#pragma once
#include <cstdint>

namespace motive::cpu {

// Sets *first_bad to the first index whose label is outside [0, c), or -1.
// The op validates with it before the kernels below run (a throw must not
// cross a parallel region, nor can a CUDA kernel throw).
void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, int64_t* first_bad);

// *loss (one element) receives the mean loss over rows, each row's being
//   log-sum-exp(x) - (1 - s) x[label] - (s / c) sum(x)
// (a stable log-softmax: the row max is subtracted before exp). When `probs`
// is non-null it receives softmax(x) for the backward pass. The loss stays
// where the logits are, so a device caller never waits for it.
template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* probs, T* loss);

// dx = scale * (probs - target) with scale = *grad_loss / n (grad_loss: the
// incoming gradient of the loss, one element beside the logits).
template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* probs, const int32_t* labels,
                            double smoothing, const T* grad_loss, T* dx);

}  // namespace motive::cpu
