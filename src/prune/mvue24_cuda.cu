// MVUE24 on the GPU: the Philox draws and the f32 operation sequence of prune_group.h (with
// __f*_rn intrinsics), so the result equals mvue24_cpu.cc bit for bit.
#include "prune/group_pruners_cuda.cuh"
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {

void launch_mvue24_cuda(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out,
                        unsigned long long* fault, Stream stream) {
  switch (w.dtype()) {
    case DType::kF32:
      launch_group_kernel<float>(w, out, Mvue24Pruner<float>{seed, offset}, fault, stream);
      break;
    case DType::kF16:
      launch_group_kernel<float16>(w, out, Mvue24Pruner<float16>{seed, offset}, fault, stream);
      break;
    case DType::kBF16:
      launch_group_kernel<bfloat16>(w, out, Mvue24Pruner<bfloat16>{seed, offset}, fault, stream);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "MVUE24 kernel for dtype ", dtype_name(w.dtype()));
  }
}

void mvue24_cuda(const Tensor& w_in, uint64_t seed, uint64_t offset, const PruneOutputs& out) {
  const Tensor w = contiguous_cuda(w_in);
  DeviceFault fault(w.device());
  launch_mvue24_cuda(w, seed, offset, out, fault.ptr(), nullptr);
  fault.throw_if_any(w.size(1), "MVUE24");
}

}  // namespace s24::detail
