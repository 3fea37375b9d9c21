#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backends/cublaslt.h"
#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm_kernel.cuh"
#include "ops/linear_dense_cuda.h"

namespace s24::detail {
namespace {

// In place act(y) for the activations cuBLASLt cannot fuse; 8 elements (16 bytes) per thread.
template <class T>
__global__ void activation_kernel(T* y, int64_t count, int act, bool vector_ok) {
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  if (i >= count) return;
  if (vector_ok && i + 8 <= count) {
    uint4 v = *reinterpret_cast<uint4*>(y + i);
    uint32_t* w = reinterpret_cast<uint32_t*>(&v);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = gemm::ElemTraits<T>::to_float2(w[j]);
      w[j] = gemm::ElemTraits<T>::from_float2(gemm::apply_activation(f.x, act),
                                              gemm::apply_activation(f.y, act));
    }
    *reinterpret_cast<uint4*>(y + i) = v;
  } else {
    for (int64_t j = i; j < count; ++j) {
      const float f = static_cast<float>(y[j]);
      y[j] = static_cast<T>(gemm::apply_activation(f, act));
    }
  }
}

}  // namespace

void linear_dense_cuda(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const LinearOptions& options) {
  S24_CHECK(w.defined() && w.dim() == 2, ErrorCode::kShapeMismatch, "w must be [N, K]");
  const Device device = w.device();
  S24_CHECK(device.is_cuda() && x.device() == device && y.device() == device,
            ErrorCode::kInvalidArgument, "x, w and y must be on one CUDA device");
  const DType dt = w.dtype();
  S24_CHECK(dt == DType::kF16 || dt == DType::kBF16, ErrorCode::kDTypeMismatch,
            "the CUDA dense linear takes F16 or BF16, got ", dtype_name(dt));
  S24_CHECK(x.dtype() == dt && y.dtype() == dt, ErrorCode::kDTypeMismatch,
            "x, w and y must share one dtype");
  const int64_t n = w.size(0), k = w.size(1);
  S24_CHECK(x.dim() >= 1 && x.size(-1) == k && y.dim() == x.dim() && y.size(-1) == n,
            ErrorCode::kShapeMismatch, "x ", shape_str(x.shape()), ", w ", shape_str(w.shape()),
            ", y ", shape_str(y.shape()), " do not make Y = X W^T");
  for (int64_t d = 0; d + 1 < x.dim(); ++d)
    S24_CHECK(y.size(d) == x.size(d), ErrorCode::kShapeMismatch, "y is ", shape_str(y.shape()),
              " but x is ", shape_str(x.shape()));
  S24_CHECK(x.is_contiguous() && w.is_contiguous() && y.is_contiguous(),
            ErrorCode::kInvalidArgument, "x, w and y must be contiguous");
  if (bias != nullptr) {
    S24_CHECK(bias->device() == device && bias->dtype() == dt && bias->dim() == 1 &&
                  bias->size(0) == n && bias->is_contiguous(),
              ErrorCode::kShapeMismatch, "bias must be a contiguous [", n, "] ", dtype_name(dt),
              " tensor on ", device.str());
  }
  if (x.numel() == 0 || n == 0) return;
  const bool fused = cublaslt::fuses(options.activation);
  cublaslt::linear_dense(x, w, bias, y, fused ? options.activation : Activation::kNone,
                         options.stream);
  if (fused) return;
  const int act = static_cast<int>(options.activation);
  const int64_t count = y.numel();
  const int64_t threads = (count + 7) / 8;
  const unsigned blocks = static_cast<unsigned>((threads + 255) / 256);
  ensure_current_device(device);
  auto s = static_cast<cudaStream_t>(options.stream);
  const bool vector_ok = (reinterpret_cast<uintptr_t>(y.raw_data()) & 15) == 0;
  if (dt == DType::kF16)
    activation_kernel<__half>
        <<<blocks, 256, 0, s>>>(static_cast<__half*>(y.raw_data()), count, act, vector_ok);
  else
    activation_kernel<__nv_bfloat16>
        <<<blocks, 256, 0, s>>>(static_cast<__nv_bfloat16*>(y.raw_data()), count, act, vector_ok);
  S24_CUDA_CHECK_LAUNCH();
}

}  // namespace s24::detail
