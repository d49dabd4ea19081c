// The part of batch_norm2d that batch_norm2d_relu shares: the operand checks
// and the per-channel statistics (engine/ops/batchnorm.cpp).
#pragma once
#include <memory>

#include "engine/batchnorm_sync.h"
#include "engine/tensor.h"

namespace motive::bn {

struct Statistics {
  Tensor x;           // the input, dense
  Tensor mean, rstd;  // per channel, in the parameters' dtype (float32 beside bf16)
  int64_t rows, c;    // x as [rows = N*H*W, c]
  // Synchronised batch norm (engine/batchnorm_sync.h), training only: the
  // scope's sync, for backward, and the rows of every process together;
  // otherwise null and `rows`.
  std::shared_ptr<const BatchNormSync> sync;
  double count;
};

// Checks the operands (errors name `op`) and computes the statistics: the
// batch's in training (updating the running buffers when defined; over every
// process's shard inside a BatchNormSyncScope), the running ones in eval.
Statistics statistics(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                      const Tensor& running_mean, const Tensor& running_var, bool training,
                      double momentum, double eps);

}  // namespace motive::bn
