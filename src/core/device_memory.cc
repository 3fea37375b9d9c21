#include "core/device_memory.h"

#include <cstdlib>
#include <cstring>

#include "core/check.h"
#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#endif

namespace s24::detail {

#if S24_WITH_CUDA
namespace {
cudaMemcpyKind copy_kind(const Device& dst, const Device& src) {
  if (dst.is_cuda() && src.is_cuda()) return cudaMemcpyDeviceToDevice;
  if (dst.is_cuda()) return cudaMemcpyHostToDevice;
  if (src.is_cuda()) return cudaMemcpyDeviceToHost;
  return cudaMemcpyHostToHost;
}
}  // namespace
#endif

void* device_alloc(size_t bytes, const Device& device) {
  S24_CHECK(device.is_cuda(), ErrorCode::kInternal, "device_alloc on ", device.str());
#if S24_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    S24_THROW(ErrorCode::kUnsupported, "no CUDA device is available (", device.str(),
              " requested)");
  }
  S24_CHECK(device.index >= 0 && device.index < count, ErrorCode::kInvalidArgument, device.str(),
            " requested but only ", count, " CUDA device(s) exist");
  S24_CUDA_CHECK(cudaSetDevice(device.index));
  void* p = nullptr;
  const cudaError_t st = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (st == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    S24_THROW(ErrorCode::kOutOfMemory, "cudaMalloc of ", bytes, " bytes on ", device.str(),
              " failed");
  }
  S24_CUDA_CHECK(st);
  return p;
#else
  (void)bytes;
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
}

void device_free(void* ptr, const Device& device) noexcept {
#if S24_WITH_CUDA
  if (ptr && device.is_cuda()) (void)cudaFree(ptr);  // no throwing from a deleter
#else
  (void)ptr;
  (void)device;
#endif
}

void copy_bytes(void* dst, const Device& dst_device, const void* src, const Device& src_device,
                size_t bytes, Stream stream) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, bytes);
    return;
  }
#if S24_WITH_CUDA
  auto s = static_cast<cudaStream_t>(stream);
  S24_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, copy_kind(dst_device, src_device), s));
  if (dst_device.is_cpu() || src_device.is_cpu()) S24_CUDA_CHECK(cudaStreamSynchronize(s));
#else
  (void)stream;
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
}

void copy_2d(void* dst, size_t dst_pitch, const Device& dst_device, const void* src,
             size_t src_pitch, const Device& src_device, size_t row_bytes, size_t rows,
             Stream stream) {
  if (rows == 0 || row_bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    for (size_t r = 0; r < rows; ++r)
      std::memmove(static_cast<char*>(dst) + r * dst_pitch,
                   static_cast<const char*>(src) + r * src_pitch, row_bytes);
    return;
  }
#if S24_WITH_CUDA
  auto s = static_cast<cudaStream_t>(stream);
  S24_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows,
                                   copy_kind(dst_device, src_device), s));
  if (dst_device.is_cpu() || src_device.is_cpu()) S24_CUDA_CHECK(cudaStreamSynchronize(s));
#else
  (void)stream;
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
}

void fill_zero(void* ptr, const Device& device, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memset(ptr, 0, bytes);
    return;
  }
#if S24_WITH_CUDA
  S24_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, static_cast<cudaStream_t>(stream)));
#else
  (void)stream;
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
}

}  // namespace s24::detail
