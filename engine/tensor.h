// Tensor = (shared storage, shape, strides, offset, dtype). Views share storage.
//
// Gradients live in a second storage of the same size ("grad storage") that is
// shared by every view of the data storage. A leaf's gradient is therefore the
// same view over the grad storage: if parameter P is a slice of buffer B, P's
// gradient lands in exactly the matching sub-region of B's gradient, with no
// copy of B. This is what the motivated model's superset views are built on.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/bf16.h"  // the bf16 type, complete for data<bf16>() and its users

namespace motive {

struct Node;

// Bytes moved by tensor copies (host and device), for the "a switch copies
// nothing" invariant, and allocation statistics.
struct MemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t allocations = 0;
  int64_t bytes_copied = 0;  // every copy_/contiguous()/to() adds its byte count
};
MemoryStats memory_stats(Device d = Device::CPU);
void reset_peak_memory(Device d = Device::CPU);
// Caps the tensor bytes live on a device (0: no cap, the default), as PyTorch's
// set_per_process_memory_fraction does: an allocation past it throws
// OutOfMemory, as the device itself would when full. For sharing a GPU, and for
// testing out-of-memory handling on any machine. Library workspaces (cuBLAS,
// cuDNN) are not tensors and are not counted.
void set_memory_limit(Device d, int64_t bytes);
int64_t memory_limit(Device d);
// Tests turn this on: uninitialised allocations are filled with 0xFF bytes
// (NaN in float32/float64), so outputs a kernel forgot to write show up.
void set_poison_allocations(bool on);

class Storage {
 public:
  // zero_fill=false leaves the bytes uninitialised (outputs a kernel overwrites).
  Storage(size_t nbytes, Device device, bool zero_fill = true);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // The parallel gradient buffer (same byte size), zero-allocated on first use.
  const std::shared_ptr<Storage>& grad_storage();
  bool has_grad_storage() const { return grad_ != nullptr; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::shared_ptr<Storage> grad_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;
  bool requires_grad = false;
  bool grad_touched = false;  // a gradient arrived since the last zero_grad()
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

class Generator;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (contiguous, row-major) ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = Device::CPU);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t numel() const;
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Typed pointer to element 0 (storage base + offset). Checks the dtype.
  template <class T> T* data() const;
  void* raw_data() const;

  // ---- element access (tests, small host code) ----
  double item() const;  // one-element tensors
  double at(const Shape& index) const;
  void set(const Shape& index, double value);
  std::vector<double> to_vector() const;  // row-major order, any strides

  // ---- in-place fills and copies (never recorded by autograd) ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // same shape (or broadcastable), any strides/dtypes
  Tensor clone() const;               // contiguous deep copy, detached
  Tensor to(DType dtype) const;       // copy with conversion (shares nothing)
  // Copy to another device (itself when already there). A leaf that requires
  // grad gives a new leaf that requires grad: this is how parameters move.
  Tensor to(Device device) const;

  // ---- views (share storage; recorded by autograd when the input has a history) ----
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops the dim
  Tensor view(const Shape& shape) const;            // error if the strides do not allow it
  Tensor reshape(const Shape& shape) const;         // a view when possible, else a copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor expand(const Shape& shape) const;          // broadcast: size-1 dims get stride 0
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor contiguous() const;  // itself when already contiguous, else a copy

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  // The gradient: for a leaf, the same view over the grad storage. Undefined
  // when no gradient arrived since the last zero_grad().
  Tensor grad() const;
  // The grad-storage view regardless of whether a gradient arrived (zeros then).
  Tensor grad_buffer() const;
  bool has_grad() const { return impl().grad_touched; }
  void zero_grad();  // zeros this view's region of the grad storage, clears has_grad()
  Tensor detach() const;  // shares storage, no history, requires_grad = false
  // Runs the tape backwards from this tensor. Scalar tensors use gradient 1;
  // others need an explicit seed gradient of the same shape.
  void backward(const Tensor& seed = Tensor()) const;

  std::string str() const;  // "Tensor[F32 cpu 2x3]" plus values when small

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Normalises a possibly negative dim against rank (op name for the error).
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// NumPy broadcasting of two shapes; names the op in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace motive
