#include "sparse24/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/check.h"
#include "core/device_memory.h"
#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#endif

namespace s24 {
namespace {

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

std::shared_ptr<void> allocate(size_t bytes, const Device& device) {
  if (device.is_cpu()) {
    // 64-byte alignment: whole cache lines and any SIMD width.
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    S24_CHECK(p != nullptr, ErrorCode::kOutOfMemory, "cannot allocate ", bytes, " bytes");
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  void* p = detail::device_alloc(bytes, device);
  return std::shared_ptr<void>(p, [device](void* q) { detail::device_free(q, device); });
}

int64_t wrap_dim(int64_t d, int64_t ndim) {
  const int64_t w = d < 0 ? d + ndim : d;
  S24_CHECK(w >= 0 && w < ndim, ErrorCode::kInvalidArgument, "dimension ", d,
            " out of range for a ", ndim, "-d tensor");
  return w;
}

}  // namespace

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    S24_CHECK(d >= 0, ErrorCode::kInvalidArgument, "negative dimension in shape ",
              shape_str(shape));
    S24_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d,
              ErrorCode::kInvalidArgument, "shape ", shape_str(shape), " overflows int64");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.numel_ = shape_numel(shape);
  S24_CHECK(static_cast<uint64_t>(t.numel_) <=
                std::numeric_limits<uint64_t>::max() / 16 / dtype_size(dtype),
            ErrorCode::kInvalidArgument, "tensor ", shape_str(shape), " is too large");
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.defined_ = true;
  t.storage_ = allocate(t.nbytes(), device);
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  detail::fill_zero(t.data_, device, t.nbytes(), nullptr);
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype, Device device,
                      const Shape& strides) {
  Tensor t;
  t.numel_ = shape_numel(shape);
  S24_CHECK(data != nullptr || t.numel_ == 0, ErrorCode::kInvalidArgument,
            "borrow of a null pointer");
  S24_CHECK(strides.empty() || strides.size() == shape.size(), ErrorCode::kShapeMismatch,
            "strides ", shape_str(strides), " do not match shape ", shape_str(shape));
  for (int64_t s : strides)
    S24_CHECK(s >= 0, ErrorCode::kInvalidArgument, "negative stride in ", shape_str(strides));
  t.shape_ = shape;
  t.strides_ = strides.empty() ? contiguous_strides(shape) : strides;
  t.dtype_ = dtype;
  t.device_ = device;
  t.defined_ = true;
  t.data_ = data;
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim(d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides_[wrap_dim(d, dim())]; }

bool Tensor::is_contiguous() const {
  if (numel_ == 0) return true;  // no element to place: any strides describe the same (empty) layout
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void Tensor::check_type(DType want) const {
  S24_CHECK(defined_, ErrorCode::kInvalidArgument, "access to an undefined tensor");
  S24_CHECK(want == dtype_, ErrorCode::kDTypeMismatch, "tensor is ", dtype_name(dtype_),
            ", accessed as ", dtype_name(want));
}

void Tensor::copy_from(const Tensor& src, Stream stream) {
  S24_CHECK(defined_ && src.defined_, ErrorCode::kInvalidArgument, "copy with an undefined tensor");
  S24_CHECK(src.shape_ == shape_, ErrorCode::kShapeMismatch, "copy from ", shape_str(src.shape_),
            " into ", shape_str(shape_));
  S24_CHECK(src.dtype_ == dtype_, ErrorCode::kDTypeMismatch, "copy from ", dtype_name(src.dtype_),
            " into ", dtype_name(dtype_));
  if (numel_ == 0) return;
  const size_t es = element_size();
  if (is_contiguous() && src.is_contiguous()) {
    detail::copy_bytes(data_, device_, src.data_, src.device_, nbytes(), stream);
    return;
  }
  // 2-D with unit inner strides: one pitched copy (works across devices).
  if (dim() == 2 && strides_[1] == 1 && src.strides_[1] == 1) {
    detail::copy_2d(data_, strides_[0] * es, device_, src.data_, src.strides_[0] * es,
                    src.device_, shape_[1] * es, shape_[0], stream);
    return;
  }
  S24_CHECK(device_.is_cpu() && src.device_.is_cpu(), ErrorCode::kUnsupported,
            "strided copy of ", src.describe(), " into ", describe(),
            " needs CPU tensors or unit inner strides");
  // General strided CPU copy: walk the index space in row-major order.
  std::vector<int64_t> idx(shape_.size(), 0);
  const char* s = static_cast<const char*>(src.data_);
  char* d = static_cast<char*>(data_);
  for (int64_t n = 0; n < numel_; ++n) {
    int64_t so = 0, dof = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      so += idx[i] * src.strides_[i];
      dof += idx[i] * strides_[i];
    }
    std::memcpy(d + dof * es, s + so * es, es);
    for (size_t i = idx.size(); i-- > 0;) {
      if (++idx[i] < shape_[i]) break;
      idx[i] = 0;
    }
  }
}

Tensor Tensor::to(Device device, Stream stream) const {
  S24_CHECK(defined_, ErrorCode::kInvalidArgument, "to() of an undefined tensor");
  Tensor out = empty(shape_, dtype_, device);
  out.copy_from(*this, stream);
  return out;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : to(device_); }

Tensor Tensor::view(const Shape& shape) const {
  S24_CHECK(is_contiguous(), ErrorCode::kInvalidArgument, "view() of a non-contiguous tensor ",
            describe());
  S24_CHECK(shape_numel(shape) == numel_, ErrorCode::kShapeMismatch, "cannot view ",
            shape_str(shape_), " as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

Tensor Tensor::t() const {
  S24_CHECK(dim() == 2, ErrorCode::kShapeMismatch, "t() needs a 2-d tensor, got ", describe());
  Tensor r = *this;
  std::swap(r.shape_[0], r.shape_[1]);
  std::swap(r.strides_[0], r.strides_[1]);
  return r;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  S24_CHECK(dim() >= 1, ErrorCode::kShapeMismatch, "slice_rows of a 0-d tensor");
  S24_CHECK(0 <= begin && begin <= end && end <= shape_[0], ErrorCode::kInvalidArgument,
            "rows [", begin, ", ", end, ") out of range for ", describe());
  Tensor r = *this;
  r.shape_[0] = end - begin;
  r.numel_ = shape_numel(r.shape_);
  r.data_ = static_cast<char*>(data_) + begin * strides_[0] * static_cast<int64_t>(element_size());
  return r;
}

Tensor Tensor::to_f32_cpu() const { return cast_cpu(DType::kF32); }

Tensor Tensor::cast_cpu(DType dtype) const {
  Tensor src = device_.is_cpu() ? contiguous() : to(Device::cpu());
  if (src.dtype_ == dtype) return src.data_ == data_ ? src.clone() : src;
  Tensor out = empty(shape_, dtype, Device::cpu());
  const int64_t n = numel_;
  dispatch_value_dtype(src.dtype_, [&](auto in_tag) {
    using In = decltype(in_tag);
    const In* in = static_cast<const In*>(src.data_);
    dispatch_value_dtype(dtype, [&](auto out_tag) {
      using Out = decltype(out_tag);
      Out* o = static_cast<Out*>(out.data_);
      for (int64_t i = 0; i < n; ++i) o[i] = from_float<Out>(to_float(in[i]));
    });
  });
  return out;
}

std::string Tensor::describe() const {
  if (!defined_) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_.str();
}

bool cuda_available() {
#if S24_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
#else
  return false;
#endif
}

void cuda_synchronize() {
#if S24_WITH_CUDA
  S24_CUDA_CHECK(cudaDeviceSynchronize());
#endif
}

}  // namespace s24
