#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/cublaslt.h"
#include "core/check.h"
#include "cuda/arch/grid_dependency.cuh"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/launch.cuh"
#include "cuda/vec.cuh"
#include "cuda/workspace.h"
#include "ops/activation.h"
#include "ops/linear_dense_cuda.h"
#include "ops/linear_q8_cpu.h"

namespace s24::detail {
namespace {

// f32 <-> the output / bias / residual element types (round to nearest even on the way out).
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(int32_t v) { return __int2float_rn(v); }  // RNE, as the CPU
template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float apply_activation(float v, int act) {
  return activate_gpu(static_cast<Activation>(act), v);
}

// In place act(y) for the activations cuBLASLt cannot fuse; 8 elements (16 bytes) per thread.
template <class T>
__global__ void activation_kernel(T* y, int64_t count, int act, bool vector_ok) {
  arch::grid_dependency_wait();
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  if (i >= count) return;
  if (vector_ok && i + 8 <= count) {
    uint4 v = *reinterpret_cast<uint4*>(y + i);
    uint32_t* w = reinterpret_cast<uint32_t*>(&v);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = Pack2<T>::to_float2(w[j]);
      w[j] = Pack2<T>::from_float2(apply_activation(f.x, act), apply_activation(f.y, act));
    }
    *reinterpret_cast<uint4*>(y + i) = v;
  } else {
    for (int64_t j = i; j < count; ++j) y[j] = from_f32<T>(apply_activation(to_f32(y[j]), act));
  }
}

// ops.h's epilogue on the unrounded product (f32, or the exact int32 sum of an int8 product,
// rounded to f32 first as linear_q8_cpu does), y rounded once:
//   y = act(alpha * x_scale[m] * w_scale[n] * acc + bias[n]) + residual[m, n].
// Every step is one explicitly rounded f32 operation in the CPU reference's order (no FMA
// contraction), so with ReLU or no activation the result equals linear_q8_cpu / linear_cpu bit
// for bit whenever the accumulators agree (always for int8). One element per thread: a
// baseline's epilogue, bound by memory traffic either way. With residual == y each element is
// read by the thread that then writes it.
template <class Acc, class T>
__global__ void dense_epilogue_kernel(const Acc* acc, int64_t rows, int64_t cols, float alpha,
                                      const float* x_scale, const float* w_scale, const T* bias,
                                      int act, const T* residual, T* y) {
  const int64_t count = rows * cols;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / cols, n = i - m * cols;
    const float row_scale = x_scale != nullptr ? __fmul_rn(alpha, x_scale[m]) : alpha;
    float v = to_f32(acc[i]);
    v = w_scale != nullptr ? __fmul_rn(__fmul_rn(row_scale, w_scale[n]), v)
                           : __fmul_rn(row_scale, v);
    if (bias != nullptr) v = __fadd_rn(v, to_f32(bias[n]));
    v = apply_activation(v, act);
    if (residual != nullptr) v = __fadd_rn(v, to_f32(residual[i]));
    y[i] = from_f32<T>(v);
  }
}

template <class Acc, class T>
void launch_epilogue(const void* acc, int64_t m, int64_t n, const Tensor* bias, Tensor& y,
                     const LinearOptions& options, cudaStream_t s) {
  const float* xs = options.x_scale ? options.x_scale->data<float>() : nullptr;
  const float* ws = options.w_scale ? options.w_scale->data<float>() : nullptr;
  const int64_t count = m * n;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 65535));
  dense_epilogue_kernel<Acc, T><<<blocks, 256, 0, s>>>(
      static_cast<const Acc*>(acc), m, n, options.alpha, xs, ws,
      bias ? static_cast<const T*>(bias->raw_data()) : nullptr,
      static_cast<int>(options.activation),
      options.residual ? static_cast<const T*>(options.residual->raw_data()) : nullptr,
      static_cast<T*>(y.raw_data()));
  S24_CUDA_CHECK_LAUNCH();
}

template <class Acc>
void launch_epilogue_for(DType y_dtype, const void* acc, int64_t m, int64_t n, const Tensor* bias,
                         Tensor& y, const LinearOptions& options, cudaStream_t s) {
  switch (y_dtype) {
    case DType::kF16:
      return launch_epilogue<Acc, __half>(acc, m, n, bias, y, options, s);
    case DType::kBF16:
      return launch_epilogue<Acc, __nv_bfloat16>(acc, m, n, bias, y, options, s);
    case DType::kF32:
      return launch_epilogue<Acc, float>(acc, m, n, bias, y, options, s);
    default:
      S24_THROW(ErrorCode::kInternal, "dense epilogue called with output ", dtype_name(y_dtype));
  }
}

bool aligned16(const Tensor& t) { return (reinterpret_cast<uintptr_t>(t.raw_data()) & 15) == 0; }

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

// The dtypes of one call; returns true for an 8-bit product. 16-bit: x, w, y (and the bias and
// residual, checked elsewhere) share F16 or BF16. 8-bit: int8 x int8 or fp8 x fp8, y F16, BF16
// or F32, and a product cuBLASLt has kernels for on this device (kUnsupported otherwise).
bool check_dense_dtypes(DType xd, DType wd, DType yd, const Device& device) {
  if (!is_8bit_value_dtype(xd) && !is_8bit_value_dtype(wd)) {
    S24_CHECK(wd == DType::kF16 || wd == DType::kBF16, ErrorCode::kDTypeMismatch,
              "the CUDA dense linear takes F16, BF16 or 8-bit (I8, F8_E4M3, F8_E5M2) operands, "
              "got ",
              dtype_name(wd));
    S24_CHECK(xd == wd && yd == wd, ErrorCode::kDTypeMismatch,
              "x, w and y must share one dtype (x ", dtype_name(xd), ", w ", dtype_name(wd), ", y ",
              dtype_name(yd), ")");
    return false;
  }
  S24_CHECK(is_8bit_value_dtype(xd) && is_8bit_value_dtype(wd) &&
                (xd == DType::kI8) == (wd == DType::kI8),
            ErrorCode::kDTypeMismatch, "the CUDA dense linear: x is ", dtype_name(xd), " but w is ",
            dtype_name(wd), "; 8-bit products are int8 x int8 (I8) or fp8 x fp8 ",
            "(F8_E4M3, F8_E5M2)");
  S24_CHECK(yd == DType::kF16 || yd == DType::kBF16 || yd == DType::kF32, ErrorCode::kDTypeMismatch,
            "the CUDA dense linear: y is ", dtype_name(yd),
            "; an 8-bit product writes F16, BF16 or F32");
  cublaslt::check_8bit_support(xd, wd, device);
  return true;
}

}  // namespace

void linear_dense_cuda(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                       const LinearOptions& options) {
  S24_CHECK(w.defined() && w.dim() == 2, ErrorCode::kShapeMismatch, "w must be [N, K]");
  const Device device = w.device();
  S24_CHECK(device.is_cuda() && x.device() == device && y.device() == device,
            ErrorCode::kInvalidArgument, "x, w and y must be on one CUDA device");
  const DType wd = w.dtype(), yd = y.dtype();
  const bool q8 = check_dense_dtypes(x.dtype(), wd, yd, device);
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
    S24_CHECK(bias->device() == device && bias->dtype() == yd && bias->dim() == 1 &&
                  bias->size(0) == n && bias->is_contiguous(),
              ErrorCode::kShapeMismatch, "bias must be a contiguous [", n, "] ", dtype_name(yd),
              " tensor on ", device.str());
  }
  const int64_t m = n == 0 ? 0 : y.numel() / n;  // x's leading dims, flattened
  check_dense_epilogue(options, m, n, yd, device, y);
  if (q8) {
    // cuBLASLt's fp8 kernels need 16-byte aligned operands and rows (K % 16 for the 1-byte
    // operands, N % 8 for a 16-bit Y); its int8 (IMMA) kernels are held to the same rule.
    S24_CHECK(k % 16 == 0, ErrorCode::kAlignment, "the CUDA dense 8-bit linear needs K % 16 == 0 ",
              "(16-byte rows of X and W), got K = ", k);
    S24_CHECK(n % 8 == 0, ErrorCode::kAlignment, "the CUDA dense 8-bit linear needs N % 8 == 0, ",
              "got N = ", n);
    S24_CHECK(aligned16(x) && aligned16(w) && aligned16(y), ErrorCode::kAlignment,
              "the CUDA dense 8-bit linear needs x, w and y 16-byte aligned");
    S24_CHECK(wd != DType::kI8 || k <= kMaxI8Products, ErrorCode::kInvalidArgument, "K = ", k,
              " int8 products per output overflow the int32 sum (at most ", kMaxI8Products, ")");
  }
  if (x.numel() == 0 || n == 0) return;
  const int act = static_cast<int>(options.activation);
  auto s = static_cast<cudaStream_t>(options.stream);
  const bool epilogue_operands =
      options.x_scale != nullptr || options.w_scale != nullptr || options.residual != nullptr;

  if (q8) {
    if (wd != DType::kI8 && !epilogue_operands && bias == nullptr &&
        options.activation == Activation::kNone) {
      // The plain fp8 product (the 8-bit baseline): cuBLASLt scales the f32 accumulator by
      // alpha and rounds it to Y itself, one kernel.
      cublaslt::linear_dense(x, w, nullptr, y, Activation::kNone, options.stream, options.alpha);
      return;
    }
    // Everything else: cuBLASLt writes the unrounded product (fp8: F32; int8: the exact I32 sum)
    // into a per-stream workspace and one elementwise pass applies the whole epilogue, rounding
    // Y once (as linear_q8_cpu does). The workspace also makes residual == y safe.
    const bool integer = wd == DType::kI8;
    void* product = stream_workspace(device, options.stream, WorkspaceSlot::kDenseProduct,
                                     static_cast<size_t>(m) * n * 4);
    Tensor acc = Tensor::borrow(product, {m, n}, integer ? DType::kI32 : DType::kF32, device);
    cublaslt::linear_dense(x, w, nullptr, acc, Activation::kNone, options.stream);
    ensure_current_device(device);
    if (integer)
      launch_epilogue_for<int32_t>(yd, product, m, n, bias, y, options, s);
    else
      launch_epilogue_for<float>(yd, product, m, n, bias, y, options, s);
    return;
  }

  if (epilogue_operands) {
    // No cuBLASLt epilogue has per-row / per-column scales before the bias, or a residual after
    // the activation: cuBLASLt writes the unrounded f32 product to a workspace and one
    // elementwise pass applies the whole epilogue, rounding once (as the native kernels do).
    // The workspace also makes the in-place residual (residual == y) safe.
    void* product = stream_workspace(device, options.stream, WorkspaceSlot::kDenseProduct,
                                     static_cast<size_t>(m) * n * sizeof(float));
    Tensor acc = Tensor::borrow(product, {m, n}, DType::kF32, device);
    cublaslt::linear_dense(x, w, nullptr, acc, Activation::kNone, options.stream);
    ensure_current_device(device);
    launch_epilogue_for<float>(yd, product, m, n, bias, y, options, s);
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
  const bool vector_ok = aligned16(y);
  const bool programmatic = programmatic_launch(device.index);
  if (wd == DType::kF16)
    launch_kernel(activation_kernel<__half>, dim3(blocks), dim3(256), 0, s, programmatic,
                  static_cast<__half*>(y.raw_data()), count, act, vector_ok);
  else
    launch_kernel(activation_kernel<__nv_bfloat16>, dim3(blocks), dim3(256), 0, s, programmatic,
                  static_cast<__nv_bfloat16*>(y.raw_data()), count, act, vector_ok);
}

}  // namespace s24::detail
