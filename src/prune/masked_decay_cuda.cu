// Masked decay on the GPU. Two kernels on one stream: the first checks the mask, the second reads
// the check's verdict on the device and writes nothing if the mask was bad, so a bad mask leaves
// grad untouched (as on the CPU) without a host round trip between them.
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

__global__ void check_mask_kernel(const uint8_t* __restrict__ mask, int64_t n,
                                  unsigned long long* fault) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    if (mask[i] > 1) report_fault(fault, pack_fault(i, mask[i], kFaultMaskValue));
}

template <class G, class W>
__global__ void masked_decay_kernel(G* __restrict__ grad, const W* __restrict__ w,
                                    const uint8_t* __restrict__ mask, int64_t n, float alpha,
                                    const unsigned long long* fault) {
  if (*fault != kNoFault) return;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (mask[i] != 0) continue;  // kept weights: grad keeps its exact bits
    grad[i] =
        Elem<G>::encode(masked_decay_value(Elem<G>::decode(grad[i]), Elem<W>::decode(w[i]), alpha));
  }
}

template <class G, class W>
void launch(Tensor& grad, const Tensor& w, const uint8_t* mask, float alpha,
            const unsigned long long* fault) {
  const int64_t n = grad.numel();
  masked_decay_kernel<G, W><<<blocks_for(n), kThreadsPerBlock>>>(
      static_cast<G*>(grad.raw_data()), static_cast<const W*>(w.raw_data()), mask, n, alpha, fault);
  S24_CUDA_CHECK_LAUNCH();
}

template <class G>
void launch_for_grad(Tensor& grad, const Tensor& w, const uint8_t* mask, float alpha,
                     const unsigned long long* fault) {
  switch (w.dtype()) {
    case DType::kF32:
      launch<G, float>(grad, w, mask, alpha, fault);
      break;
    case DType::kF16:
      launch<G, float16>(grad, w, mask, alpha, fault);
      break;
    case DType::kBF16:
      launch<G, bfloat16>(grad, w, mask, alpha, fault);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "masked decay: weight dtype ", dtype_name(w.dtype()));
  }
}

}  // namespace

void masked_decay_cuda(Tensor& grad, const Tensor& w, const Tensor& mask, float alpha) {
  const int64_t n = grad.numel();
  DeviceFault fault(grad.device());
  if (n > 0) {
    const uint8_t* m = static_cast<const uint8_t*>(mask.raw_data());
    check_mask_kernel<<<blocks_for(n), kThreadsPerBlock>>>(m, n, fault.ptr());
    S24_CUDA_CHECK_LAUNCH();
    switch (grad.dtype()) {
      case DType::kF32:
        launch_for_grad<float>(grad, w, m, alpha, fault.ptr());
        break;
      case DType::kF16:
        launch_for_grad<float16>(grad, w, m, alpha, fault.ptr());
        break;
      case DType::kBF16:
        launch_for_grad<bfloat16>(grad, w, m, alpha, fault.ptr());
        break;
      default:
        S24_THROW(ErrorCode::kInternal, "masked decay: grad dtype ", dtype_name(grad.dtype()));
    }
  }
  fault.throw_if_any(grad.dim() >= 1 ? grad.size(-1) : 1, "masked_decay_");
}

}  // namespace s24::detail
