#include "engine/tensor.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "kernels/cpu/copy.h"
#include "kernels/cuda/runtime.h"
#include "kernels/layout.h"

namespace motive {

// ---------------------------------------------------------------- memory ----

namespace {

struct Counters {
  std::atomic<int64_t> current{0}, peak{0}, allocations{0}, copied{0}, limit{0};
};
Counters& counters(Device d) {
  static Counters cpu, cuda;
  return d == Device::CPU ? cpu : cuda;
}

double mib(int64_t bytes) { return std::round(static_cast<double>(bytes) / (1 << 20) * 10) / 10; }

void check_limit(Device d, int64_t bytes) {
  const Counters& c = counters(d);
  const int64_t limit = c.limit.load(), now = c.current.load();
  if (limit > 0 && now + bytes > limit)
    throw OutOfMemory(message("out of ", device_name(d), " memory: allocating ", mib(bytes),
                              " MiB with ", mib(now), " MiB in use passes the limit of ",
                              mib(limit), " MiB"));
}

void count_alloc(Device d, int64_t bytes) {
  Counters& c = counters(d);
  const int64_t now = c.current += bytes;
  ++c.allocations;
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

}  // namespace

MemoryStats memory_stats(Device d) {
  Counters& c = counters(d);
  return {c.current.load(), c.peak.load(), c.allocations.load(), c.copied.load()};
}

void reset_peak_memory(Device d) { counters(d).peak = counters(d).current.load(); }

void set_memory_limit(Device d, int64_t bytes) {
  MOTIVE_CHECK(bytes >= 0, "set_memory_limit: negative limit ", bytes);
  counters(d).limit = bytes;
}
int64_t memory_limit(Device d) { return counters(d).limit.load(); }

void fail_no_cuda() {
  fail("cuda: this build has no CUDA backend (configure with -DMOTIVE_CUDA=ON)");
}

namespace {
bool g_poison = false;
}
void set_poison_allocations(bool on) { g_poison = on; }

Storage::Storage(size_t nbytes, Device device, bool zero_fill) : nbytes_(nbytes), device_(device) {
  // Uninitialised memory is filled with 0xFF bytes (NaN for floats) when
  // poisoning is on, so a kernel that misses an element fails its test.
  const int fill = zero_fill ? 0 : (g_poison ? 0xFF : -1);
  check_limit(device, static_cast<int64_t>(nbytes));
  if (device == Device::CUDA) {
#ifdef MOTIVE_WITH_CUDA
    data_ = cuda::allocate(nbytes);
    if (fill >= 0) cuda::memset_bytes(data_, fill, nbytes);
#else
    fail_no_cuda();
#endif
  } else {
    // 64-byte alignment keeps Eigen's vectorised paths on aligned loads.
    const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded);
    if (data_ == nullptr)
      throw OutOfMemory(message("out of host memory allocating ", nbytes, " bytes"));
    if (fill >= 0) std::memset(data_, fill, nbytes);
  }
  count_alloc(device, static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
#ifdef MOTIVE_WITH_CUDA
  if (device_ == Device::CUDA) cuda::release(data_);
  else std::free(data_);
#else
  std::free(data_);
#endif
  counters(device_).current -= static_cast<int64_t>(nbytes_);
}

const std::shared_ptr<Storage>& Storage::grad_storage() {
  if (!grad_) grad_ = std::make_shared<Storage>(nbytes_, device_, true);
  return grad_;
}

// ----------------------------------------------------------- shape utils ----

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    MOTIVE_CHECK(d >= 0, "tensor: negative dimension in shape ", shape_str(s));
    MOTIVE_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d,
                 "tensor: shape ", shape_str(s), " has too many elements");
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape strides(s.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
    strides[d] = acc;
    acc *= std::max<int64_t>(s[d], 1);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  const int64_t wrapped = dim < 0 ? dim + rank : dim;
  MOTIVE_CHECK(wrapped >= 0 && wrapped < std::max<int64_t>(rank, 1), op, ": dim ", dim,
               " out of range for a tensor of rank ", rank);
  return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    MOTIVE_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                 shape_str(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// -------------------------------------------------------------- factories ----

namespace {

Tensor make_contiguous(const Shape& shape, DType dtype, Device device, bool zero_fill) {
  auto impl = std::make_shared<TensorImpl>();
  const int64_t n = shape_numel(shape);
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(n) * dtype_size(dtype), device,
                                            zero_fill);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

// Offset (in elements) of a multi-index, with bounds checks for element access.
int64_t element_offset(const Tensor& t, const Shape& index) {
  MOTIVE_CHECK(static_cast<int64_t>(index.size()) == t.dim(), "tensor: index ",
               shape_str(index), " has the wrong rank for shape ", shape_str(t.shape()));
  int64_t off = t.offset();
  for (size_t d = 0; d < index.size(); ++d) {
    MOTIVE_CHECK(index[d] >= 0 && index[d] < t.shape()[d], "tensor: index ", shape_str(index),
                 " out of range for shape ", shape_str(t.shape()));
    off += index[d] * t.strides()[d];
  }
  return off;
}

double read_element(const Tensor& t, int64_t off) {
  const void* base = t.storage()->data();
  const DType dtype = t.dtype();
  std::aligned_storage_t<8, 8> host;  // one element brought over from the device
  if (t.device() == Device::CUDA) {
    MOTIVE_CUDA_ONLY(cuda::copy_device_to_host(
        &host, static_cast<const char*>(base) + off * dtype_size(dtype), dtype_size(dtype)));
    base = &host;
    off = 0;
  }
  switch (dtype) {
    case DType::F32: return static_cast<const float*>(base)[off];
    case DType::F64: return static_cast<const double*>(base)[off];
    case DType::BF16: return static_cast<const bf16*>(base)[off];
    case DType::I32: return static_cast<const int32_t*>(base)[off];
    default: fail("tensor: element access is not supported for dtype ", dtype_name(dtype));
  }
}

void count_copy(const Tensor& t) {
  counters(t.device()).copied += t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return make_contiguous(shape, dtype, device, false);
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return make_contiguous(shape, dtype, device, true);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  MOTIVE_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
               values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  const Shape strides = contiguous_strides(shape);
  const Shape src_shape{static_cast<int64_t>(values.size())};
  const Shape one{1};
  cpu::copy_strided(1, src_shape.data(), t.raw_data(), dtype, one.data(), values.data(),
                    DType::F64, one.data());
  return t;
}

// --------------------------------------------------------------- metadata ----

TensorImpl& Tensor::impl() const {
  MOTIVE_CHECK(impl_ != nullptr, "tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }

bool Tensor::is_contiguous() const { return is_dense(dim(), shape().data(), strides().data()); }

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * dtype_size(dtype());
}

template <class T>
T* Tensor::data() const {
  MOTIVE_CHECK(dtype() == dtype_of<T>::value, "tensor: data<", dtype_name(dtype_of<T>::value),
               ">() on a ", dtype_name(dtype()), " tensor");
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template bf16* Tensor::data<bf16>() const;
template int32_t* Tensor::data<int32_t>() const;

// --------------------------------------------------------- element access ----

double Tensor::item() const {
  MOTIVE_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " is not one element");
  return read_element(*this, offset());
}

double Tensor::at(const Shape& index) const {
  return read_element(*this, element_offset(*this, index));
}

void Tensor::set(const Shape& index, double value) {
  const int64_t off = element_offset(*this, index);
  auto one = std::make_shared<TensorImpl>(impl());
  one->shape = {};
  one->strides = {};
  one->offset = off;
  Tensor(std::move(one)).fill_(value);
}

std::vector<double> Tensor::to_vector() const {
  if (device() == Device::CUDA) return to(Device::CPU).to_vector();
  std::vector<double> out(static_cast<size_t>(numel()));
  const Shape dense = contiguous_strides(shape());
  cpu::copy_strided(dim(), shape().data(), out.data(), DType::F64, dense.data(), raw_data(),
                    dtype(), strides().data());
  return out;
}

// ------------------------------------------------------------ fill / copy ----

Tensor& Tensor::fill_(double value) {
  MOTIVE_KERNEL(device(), fill_strided, dim(), shape().data(), raw_data(), dtype(),
                strides().data(), value);
  return *this;
}

namespace {

// Host <-> device: the bytes cross as one dense block of the destination's
// dtype; any layout or dtype change happens on the side that has the strides.
void copy_across_devices(Tensor& dst, const Tensor& src) {
  const bool dst_dense = dst.is_contiguous();
  Tensor staging = dst_dense ? dst : Tensor::empty(dst.shape(), dst.dtype(), dst.device());
  const Tensor packed = src.is_contiguous() && src.dtype() == dst.dtype()
                            ? src
                            : src.to(dst.dtype());  // contiguous, on src's device
  [[maybe_unused]] const size_t bytes = static_cast<size_t>(dst.numel()) * dtype_size(dst.dtype());
  MOTIVE_CUDA_ONLY(dst.device() == Device::CUDA
                       ? cuda::copy_host_to_device(staging.raw_data(), packed.raw_data(), bytes)
                       : cuda::copy_device_to_host(staging.raw_data(), packed.raw_data(), bytes));
  if (!dst_dense) dst.copy_(staging);
}

}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  const Tensor s = src.shape() == shape() ? src : src.detach().expand(shape());
  if (numel() == 0) return *this;
  if (s.device() != device()) {
    copy_across_devices(*this, s);
  } else {
    MOTIVE_KERNEL(device(), copy_strided, dim(), shape().data(), raw_data(), dtype(),
                  strides().data(), s.raw_data(), s.dtype(), s.strides().data());
  }
  count_copy(*this);
  return *this;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType target) const {
  Tensor out = empty(shape(), target, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_(*this);
  if (requires_grad()) out.requires_grad_();
  return out;
}

// ------------------------------------------------------------- autograd ----

Tensor& Tensor::requires_grad_(bool on) {
  MOTIVE_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad");
  MOTIVE_CHECK(!on || dtype() != DType::I32,
               "requires_grad_: dtype ", dtype_name(dtype()), " cannot require grad");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad_buffer() const {
  auto g = std::make_shared<TensorImpl>();
  g->storage = storage()->grad_storage();
  g->shape = shape();
  g->strides = strides();
  g->offset = offset();
  g->dtype = dtype();
  return Tensor(std::move(g));
}

Tensor Tensor::grad() const { return has_grad() ? grad_buffer() : Tensor(); }

void Tensor::zero_grad() {
  if (storage()->has_grad_storage()) grad_buffer().zero_();
  impl().grad_touched = false;
}

Tensor Tensor::detach() const {
  auto d = std::make_shared<TensorImpl>(impl());
  d->requires_grad = false;
  d->grad_touched = false;
  d->grad_fn = nullptr;
  return Tensor(std::move(d));
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor[undefined]";
  std::string s = std::string("Tensor[") + dtype_name(dtype()) + " " + device_name(device()) +
                  " " + shape_str(shape()) + "]";
  if (numel() <= 16) {
    s += " {";
    const auto v = to_vector();
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    s += "}";
  }
  return s;
}

}  // namespace motive
