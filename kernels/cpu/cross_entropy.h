// Softmax cross-entropy with label smoothing over dense logits [n, c] and
// int32 labels [n]. The target row is (1 - s) one_hot(label) + s / c, like
// PyTorch's label_smoothing.
//
// The forward also takes the first backward step: it writes the gradient of
// the loss for a unit incoming gradient, (softmax(x) - target) / n, while the
// row is at hand, so backward reads nothing it has to recompute and usually
// has nothing left to do (the loss is the root of backward, with gradient 1).
#pragma once
#include <cstdint>
#include <functional>

namespace motive::cpu {

// Called with the first index whose label is outside [0, c); it throws the
// op's error. The CPU checks at once, before the kernels below index logits
// by label; the CUDA twin checks on the device and reports at the host's next
// wait (kernels/cuda/runtime.h, defer_check), its kernels guarding the index.
// The report reads the label's value then: a caller that overwrites its labels
// in place before that wait sees the right index with the new value.
using BadLabel = std::function<void(int64_t index)>;
void cross_entropy_check_labels(int64_t n, int64_t c, const int32_t* labels, const BadLabel& bad);

// *loss (one element) receives the mean loss over rows, each row's being
//   log-sum-exp(x) - (1 - s) x[label] - (s / c) sum(x)
// (a stable log-softmax: the row max is subtracted before exp). When `grad` is
// non-null it receives (softmax(x) - target) / n. The loss stays where the
// logits are, so a device caller never waits for it.
template <class T>
void cross_entropy_forward(int64_t n, int64_t c, const T* logits, const int32_t* labels,
                           double smoothing, T* grad, T* loss);

// Backward: grad (count elements, from the forward) *= *grad_loss in place;
// nothing to do when the incoming gradient is 1.
template <class T>
void cross_entropy_backward(int64_t count, const T* grad_loss, T* grad);

}  // namespace motive::cpu
