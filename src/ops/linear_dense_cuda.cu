#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "backends/cublaslt.h"
#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/gemm/sparse_gemm_kernel.cuh"
#include "cuda/workspace.h"
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

// ops.h's epilogue on the unrounded f32 product, y rounded once:
//   y = act(alpha * x_scale[m] * w_scale[n] * acc + bias[n]) + residual[m, n].
// One element per thread: a baseline's epilogue, bound by memory traffic either way. With
// residual == y each element is read by the thread that then writes it.
template <class T>
__global__ void dense_epilogue_kernel(const float* acc, int64_t rows, int64_t cols, float alpha,
                                      const float* x_scale, const float* w_scale, const T* bias,
                                      int act, const T* residual, T* y) {
  const int64_t count = rows * cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / cols, n = i - m * cols;
    const float row_scale = x_scale != nullptr ? alpha * x_scale[m] : alpha;
    float v = acc[i];
    v = w_scale != nullptr ? row_scale * w_scale[n] * v : row_scale * v;
    if (bias != nullptr) v += static_cast<float>(bias[n]);
    v = gemm::apply_activation(v, act);
    if (residual != nullptr) v += static_cast<float>(residual[i]);
    y[i] = static_cast<T>(v);
  }
}

// The operands of LinearOptions' epilogue for y [m, n] (x, w, y, bias already checked).
void check_dense_epilogue(const LinearOptions& options, int64_t m, int64_t n, DType dt,
                          const Device& device, const Tensor& y) {
  S24_CHECK(std::isfinite(options.alpha), ErrorCode::kInvalidArgument, "alpha is ", options.alpha,
            "; it must be finite");
  const Tensor* scales[2] = {options.x_scale, options.w_scale};
  const int64_t counts[2] = {m, n};
  const char* names[2] = {"x_scale", "w_scale"};
  for (int i = 0; i < 2; ++i) {
    const Tensor* sc = scales[i];
    if (sc == nullptr) continue;
    S24_CHECK(sc->defined() && sc->device() == device, ErrorCode::kInvalidArgument, names[i],
              " must be a tensor on ", device.str());
    S24_CHECK(sc->dtype() == DType::kF32, ErrorCode::kDTypeMismatch, names[i], " is ",
              dtype_name(sc->dtype()), "; scales are F32");
    S24_CHECK(sc->dim() == 1 && sc->size(0) == counts[i], ErrorCode::kShapeMismatch, names[i],
              " is ", shape_str(sc->shape()), ", expected [", counts[i], "]");
    S24_CHECK(sc->is_contiguous(), ErrorCode::kInvalidArgument, names[i], " must be contiguous");
  }
  const Tensor* r = options.residual;
  if (r == nullptr) return;
  S24_CHECK(r->defined() && r->device() == device, ErrorCode::kInvalidArgument,
            "residual must be a tensor on ", device.str());
  S24_CHECK(r->dtype() == dt, ErrorCode::kDTypeMismatch, "residual is ", dtype_name(r->dtype()),
            " but y is ", dtype_name(dt));
  S24_CHECK(r->shape() == y.shape(), ErrorCode::kShapeMismatch, "residual is ",
            shape_str(r->shape()), ", expected y's shape ", shape_str(y.shape()));
  S24_CHECK(r->is_contiguous(), ErrorCode::kInvalidArgument, "residual must be contiguous");
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
  const int64_t m = n == 0 ? 0 : y.numel() / n;  // x's leading dims, flattened
  check_dense_epilogue(options, m, n, dt, device, y);
  if (x.numel() == 0 || n == 0) return;
  const int act = static_cast<int>(options.activation);
  auto s = static_cast<cudaStream_t>(options.stream);

  if (options.x_scale != nullptr || options.w_scale != nullptr || options.residual != nullptr) {
    // No cuBLASLt epilogue has per-row / per-column scales before the bias, or a residual after
    // the activation: cuBLASLt writes the unrounded f32 product to a workspace and one
    // elementwise pass applies the whole epilogue, rounding once (as the native kernels do).
    // The workspace also makes the in-place residual (residual == y) safe.
    void* product = stream_workspace(device, options.stream, WorkspaceSlot::kDenseProduct,
                                     static_cast<size_t>(m) * n * sizeof(float));
    Tensor acc = Tensor::borrow(product, {m, n}, DType::kF32, device);
    cublaslt::linear_dense(x, w, nullptr, acc, Activation::kNone, options.stream);
    const float* xs = options.x_scale ? options.x_scale->data<float>() : nullptr;
    const float* ws = options.w_scale ? options.w_scale->data<float>() : nullptr;
    const int64_t count = m * n;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 65535));
    ensure_current_device(device);
    if (dt == DType::kF16) {
      dense_epilogue_kernel<__half><<<blocks, 256, 0, s>>>(
          static_cast<const float*>(product), m, n, options.alpha, xs, ws,
          bias ? static_cast<const __half*>(bias->raw_data()) : nullptr, act,
          options.residual ? static_cast<const __half*>(options.residual->raw_data()) : nullptr,
          static_cast<__half*>(y.raw_data()));
    } else {
      dense_epilogue_kernel<__nv_bfloat16><<<blocks, 256, 0, s>>>(
          static_cast<const float*>(product), m, n, options.alpha, xs, ws,
          bias ? static_cast<const __nv_bfloat16*>(bias->raw_data()) : nullptr, act,
          options.residual ? static_cast<const __nv_bfloat16*>(options.residual->raw_data())
                           : nullptr,
          static_cast<__nv_bfloat16*>(y.raw_data()));
    }
    S24_CUDA_CHECK_LAUNCH();
    return;
  }

  // alpha scales the product before cuBLASLt's bias and activation, as ops.h does.
  const bool fused = cublaslt::fuses(options.activation);
  cublaslt::linear_dense(x, w, bias, y, fused ? options.activation : Activation::kNone,
                         options.stream, options.alpha);
  if (fused) return;
  const int64_t count = y.numel();
  const int64_t threads = (count + 7) / 8;
  const unsigned blocks = static_cast<unsigned>((threads + 255) / 256);
  ensure_current_device(device);
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
