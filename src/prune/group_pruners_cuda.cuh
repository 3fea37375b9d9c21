// Internal: the per-group pruners shared by the logical-layout kernels (launch_group_kernel) and
// the fused hardware-layout kernel (prune_hw_cuda.cu): one definition, so both layouts hold the
// same values bit for bit. Each maps a group of 4 inputs to its pruned values and returns the
// kept-index bits, reporting NaN / Inf / overflow through the fault word.
#pragma once

#include "prune/prune_cuda_common.cuh"

namespace s24::detail {

// MVUE24: the Philox draws and the f32 operation sequence of prune_group.h (__f*_rn intrinsics),
// so the result equals mvue24_cpu.cc bit for bit.
template <class T>
struct Mvue24Pruner {
  static constexpr bool kPacked16 = false;  // for the fused hardware-layout kernel
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

template <class T>
struct SoftThresholdPruner {
  static constexpr bool kPacked16 = false;
  __device__ __forceinline__ uint32_t operator()(int64_t gf, const T (&in)[4], T (&pruned)[4],
                                                 unsigned long long* fault) const {
    float x[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t key = Elem<T>::key(in[i]);
      if (key >= Elem<T>::kInfKey)
        report_fault(fault,
                     pack_fault(4 * gf + i, 0, key >= Elem<T>::kNanKey ? kFaultNaN : kFaultInf));
      x[i] = Elem<T>::decode(in[i]);
    }
    float y[4];
    const uint32_t keep = soft_threshold_group(x, y);
#pragma unroll
    for (int i = 0; i < 4; ++i) pruned[i] = Elem<T>::encode(y[i]);
    return keep;
  }
};

}  // namespace s24::detail
