// Softmax cross-entropy, mean over the batch, with PyTorch's label smoothing.
// Fused: the forward is a stable log-softmax (row max subtracted) that also
// writes the gradient for a unit incoming gradient,
//   d loss / d logits = (softmax - target) / N,
// so the backward only scales it in place by the incoming gradient (nothing
// to do for the usual 1): one read of the logits and one write of the
// gradient in all. The loss is computed where the logits are, and on CUDA the
// labels are checked on the device: the host waits for neither.
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
  // Labels outside [0, c) are one clear error: at once on the CPU, at the
  // host's next wait on CUDA (kernels/cpu/cross_entropy.h), without a stall.
  const Shape logits_shape = logits.shape();
  const cpu::BadLabel bad_label = [labels, c, logits_shape](int64_t index) {
    fail("cross_entropy: label at index ", index, " is ", static_cast<int64_t>(labels.at({index})),
         ", outside [0, ", c, ") for logits ", shape_str(logits_shape));
  };
  MOTIVE_KERNEL(device, cross_entropy_check_labels, n, c, labels.data<int32_t>(), bad_label);

  // With a gradient to come, the forward writes it for a unit incoming
  // gradient; backward scales it in place (nothing to do for 1).
  Tensor grad;
  if (needs_grad({&logits})) grad = Tensor::empty(logits.shape(), logits.dtype(), device);
  Tensor out = Tensor::empty({}, logits.dtype(), device);
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto t) {
    using T = decltype(t);
    MOTIVE_KERNEL(device, cross_entropy_forward<T>, n, c, logits.data<T>(),
                  labels.data<int32_t>(), label_smoothing,
                  grad.defined() ? grad.data<T>() : nullptr, out.data<T>());
  });
  add_flops(cross_entropy_flops(n, c));
  // Integer labels never take a gradient: their slot stays undefined.
  return record("cross_entropy", out, {logits, labels}, [grad](const Tensor& g) {
    dispatch_float(grad.dtype(), "cross_entropy", [&](auto t) {
      using T = decltype(t);
      MOTIVE_KERNEL(grad.device(), cross_entropy_backward<T>, grad.numel(), g.data<T>(),
                    grad.data<T>());
    });
    return std::vector<Tensor>{grad, Tensor()};
  });
}

}  // namespace motive
