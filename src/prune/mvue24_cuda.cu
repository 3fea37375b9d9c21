// MVUE24 on the GPU: the Philox draws and the f32 operation sequence of prune_group.h (with
// __f*_rn intrinsics), so the result equals mvue24_cpu.cc bit for bit.
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

template <class T>
struct Mvue24Pruner {
  uint64_t seed, offset;
  __device__ __forceinline__ uint32_t operator()(int64_t gf, const T (&in)[4], T (&pruned)[4],
                                                 unsigned long long* fault) const {
    float x[4];
    bool finite = true;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t key = Elem<T>::key(in[i]);
      if (key >= Elem<T>::kInfKey) {
        report_fault(fault,
                     pack_fault(4 * gf + i, 0, key >= Elem<T>::kNanKey ? kFaultNaN : kFaultInf));
        finite = false;
      }
      x[i] = Elem<T>::decode(in[i]);
    }
    float y[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t keep = 0x3u;
    if (finite) {
      const Philox4x32Out draw = mvue24_draw(seed, static_cast<uint64_t>(gf), offset);
      keep = mvue24_group(x, uniform_from_bits(draw.v[0]), uniform_from_bits(draw.v[1]), y);
      if (keep == 0) {
        report_fault(fault, pack_fault(4 * gf, 0, kFaultSumOverflow));
        keep = 0x3u;
#pragma unroll
        for (int i = 0; i < 4; ++i) y[i] = 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) pruned[i] = Elem<T>::encode(y[i]);
    return keep;
  }
};

}  // namespace

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
