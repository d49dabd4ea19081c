// Softmax cross-entropy, mean over the batch, with PyTorch's label smoothing.
// Fused: the forward is a stable log-softmax (row max subtracted) that also
// saves the probabilities, so the backward is one pass:
//   d loss / d logits = (softmax - target) * grad / N.
// The loss is computed where the logits are (no device wait for it); on CUDA
// the label check waits for one small device-to-host copy.
// FLOPs (forward): 6 per logit — max, subtract, exp, sum (log-sum-exp), and
// the sum/pick of the target dot product.
#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/flops.h"
#include "engine/ops.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cuda/cross_entropy.h"

namespace motive {

int64_t cross_entropy_flops(int64_t n, int64_t classes) { return 6 * n * classes; }

Tensor cross_entropy(const Tensor& logits_in, const Tensor& labels_in, double label_smoothing) {
  MOTIVE_CHECK(logits_in.defined() && labels_in.defined(),
               "cross_entropy: logits and labels must be defined");
  MOTIVE_CHECK(logits_in.dim() == 2 && logits_in.size(0) >= 1 && logits_in.size(1) >= 1,
               "cross_entropy: logits must be [N, C] with N, C >= 1, got ",
               shape_str(logits_in.shape()));
  MOTIVE_CHECK(labels_in.dtype() == DType::I32, "cross_entropy: labels must be I32, got ",
               dtype_name(labels_in.dtype()));
  MOTIVE_CHECK(labels_in.shape() == Shape{logits_in.size(0)}, "cross_entropy: labels ",
               shape_str(labels_in.shape()), " do not match logits ", shape_str(logits_in.shape()));
  MOTIVE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
               "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);
  MOTIVE_CHECK(labels_in.device() == logits_in.device(), "cross_entropy: logits are on ",
               device_name(logits_in.device()), ", labels on ", device_name(labels_in.device()));
  const Tensor logits = widen_bf16(logits_in).contiguous();  // float32: engine/autocast.h
  const Tensor labels = labels_in.detach().contiguous();
  const int64_t n = logits.size(0), c = logits.size(1);
  const Device device = logits.device();
  // Validated before the kernels run (they index logits by label); on CUDA
  // this waits for a device-side check.
  int64_t bad = -1;
  MOTIVE_KERNEL(device, cross_entropy_check_labels, n, c, labels.data<int32_t>(), &bad);
  MOTIVE_CHECK(bad < 0, "cross_entropy: label at index ", bad, " is ",
               static_cast<int64_t>(labels.at({bad})), ", outside [0, ", c, ") for logits ",
               shape_str(logits.shape()));

  Tensor probs;
  if (needs_grad({&logits})) probs = Tensor::empty(logits.shape(), logits.dtype(), device);
  Tensor out = Tensor::empty({}, logits.dtype(), device);
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(device, cross_entropy_forward<T>, n, c, logits.data<T>(),
                  labels.data<int32_t>(), label_smoothing,
                  probs.defined() ? probs.data<T>() : nullptr, out.data<T>());
  });
  add_flops(cross_entropy_flops(n, c));
  // Integer labels never take a gradient: their slot stays undefined.
  return record("cross_entropy", out, {logits, labels},
                [probs, labels, label_smoothing, n, c](const Tensor& g) {
                  Tensor dx = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
                  dispatch_float(probs.dtype(), "cross_entropy", [&](auto t) {
                    using T = decltype(t);
                    MOTIVE_KERNEL(probs.device(), cross_entropy_backward<T>, n, c,
                                  probs.data<T>(), labels.data<int32_t>(), label_smoothing,
                                  g.data<T>(), dx.data<T>());
                  });
                  return std::vector<Tensor>{dx, Tensor()};
                });
}

}  // namespace motive
