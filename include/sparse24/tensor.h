// sparse24 — a strided, typed view of memory on the CPU or a CUDA device.
// A Tensor either owns its storage (shared, reference counted: copies of a Tensor alias the
// same bytes, like torch.Tensor) or borrows memory that the caller keeps alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sparse24/dtype.h"
#include "sparse24/status.h"

namespace s24 {

using Shape = std::vector<int64_t>;

enum class DeviceType : uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  static Device cpu() { return Device{DeviceType::kCPU, 0}; }
  static Device cuda(int index = 0) { return Device{DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu" or "cuda:0"
};

// An opaque CUDA stream (cudaStream_t); nullptr is the legacy default stream. Public headers
// never include CUDA headers.
using Stream = void*;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false

  // Uninitialised, contiguous, owning. CPU memory is 64-byte aligned; CUDA memory comes from
  // cudaMalloc (256-byte aligned).
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // Borrowed memory: the caller keeps `data` alive as long as the tensor and its copies live.
  // Empty `strides` means contiguous row-major. Strides are in elements.
  static Tensor borrow(void* data, const Shape& shape, DType dtype, Device device = Device::cpu(),
                       const Shape& strides = {});

  bool defined() const { return defined_; }
  DType dtype() const { return dtype_; }
  const Device& device() const { return device_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_; }
  size_t element_size() const { return dtype_size(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel_) * element_size(); }
  bool is_contiguous() const;
  bool owns_storage() const { return storage_ != nullptr; }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  // Typed access; throws kDTypeMismatch when T is not this tensor's storage type.
  template <class T>
  T* data() {
    check_type(dtype_of<T>::value);
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    check_type(dtype_of<T>::value);
    return static_cast<const T*>(data_);
  }

  // A contiguous owning copy on `device` (same device: a deep copy).
  Tensor to(Device device, Stream stream = nullptr) const;
  Tensor clone() const { return to(device_); }
  // This tensor if already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  // Same storage, new shape; requires a contiguous tensor and the same numel.
  Tensor view(const Shape& shape) const;
  // Same storage, dims 0 and 1 swapped (2-D only); not contiguous afterwards.
  Tensor t() const;
  // Rows [begin, end) of dim 0, sharing storage.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Copies `src` (same shape and dtype, any devices) into this tensor's memory.
  void copy_from(const Tensor& src, Stream stream = nullptr);

  // A float32 CPU copy (converting from any value dtype); for tests and references.
  Tensor to_f32_cpu() const;
  // A contiguous CPU copy converted to `dtype` with the rules of dtype.h (from any value dtype).
  Tensor cast_cpu(DType dtype) const;

  std::string describe() const;  // e.g. "F16[4, 8] cuda:0"

 private:
  void check_type(DType want) const;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  Shape shape_;
  Shape strides_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kF32;
  bool defined_ = false;
  Device device_;
};

int64_t shape_numel(const Shape& shape);  // throws kInvalidArgument on negative dims or overflow
std::string shape_str(const Shape& shape);

// True when a CUDA device is usable by this build and this process (false in CPU-only builds).
bool cuda_available();
void cuda_synchronize();  // throws kCuda on a pending asynchronous error

}  // namespace s24
