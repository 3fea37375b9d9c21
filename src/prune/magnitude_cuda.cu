// Magnitude pruning and explicit masks on the GPU, identical to magnitude_cpu.cc: the group-wise
// kernels of prune_cuda_common.cuh with the per-group rules of prune_group.h, and for f16/bf16 a
// packed-word kernel (magnitude16_group) that keeps prune + compress at copy speed.
#include "prune/prune_cuda.h"
#include "prune/prune_cuda_common.cuh"

namespace s24::detail {
namespace {

template <class T>
struct MagnitudePruner {
  __device__ __forceinline__ uint32_t operator()(int64_t gf, const T (&in)[4], T (&pruned)[4],
                                                 unsigned long long* fault) const {
    uint32_t key[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      key[i] = Elem<T>::key(in[i]);
      if (key[i] >= Elem<T>::kNanKey) report_fault(fault, pack_fault(4 * gf + i, 0, kFaultNaN));
    }
    const uint32_t keep = top2_of_keys(key);
#pragma unroll
    for (int i = 0; i < 4; ++i) pruned[i] = (keep >> i) & 1u ? in[i] : Elem<T>::zero();
    return keep;
  }
};

template <class T>
struct MaskPruner {
  const uint8_t* mask;
  __device__ __forceinline__ uint32_t operator()(int64_t gf, const T (&in)[4], T (&pruned)[4],
                                                 unsigned long long* fault) const {
    const uint32_t bytes = __ldg(reinterpret_cast<const unsigned int*>(mask + 4 * gf));
    uint32_t keep = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t v = (bytes >> (8 * i)) & 0xFFu;
      if (v > 1) report_fault(fault, pack_fault(4 * gf + i, v, kFaultMaskValue));
      keep |= (v & 1u) << i;
    }
    const int ones = __popc(keep);
    if (ones > 2)
      report_fault(fault, pack_fault(4 * gf, static_cast<uint32_t>(ones), kFaultMaskCount));
#pragma unroll
    for (int i = 0; i < 4; ++i) pruned[i] = (keep >> i) & 1u ? in[i] : Elem<T>::zero();
    return keep;
  }
};

// f16/bf16 with cols % 8 == 0 (the common case, and the bandwidth bar): one unit = one metadata
// byte = 8 elements = one 16-byte load; kUnroll units a block-width apart per thread, all loads
// issued first; values leave as one 8-byte store per unit, metadata as one byte.
template <uint32_t kNanKey>
__global__ void __launch_bounds__(kThreadsPerBlock)
    magnitude16_flat_kernel(const uint4* __restrict__ w, int64_t units, uint2* __restrict__ values,
                            uint8_t* __restrict__ meta, uint4* __restrict__ dense,
                            uint2* __restrict__ mask, unsigned long long* fault) {
  const int64_t tile = static_cast<int64_t>(kThreadsPerBlock) * kUnroll;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * tile + threadIdx.x; base < units;
       base += static_cast<int64_t>(gridDim.x) * tile) {
    uint4 in[kUnroll];
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t u = base + k * kThreadsPerBlock;
      if (u < units) in[k] = __ldcs(w + u);  // streamed once: evict first
    }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t u = base + k * kThreadsPerBlock;
      if (u >= units) break;
      uint32_t pair0, pair1, nib0, nib1;
      const uint32_t keep0 =
          magnitude16_group<kNanKey>(in[k].x, in[k].y, 2 * u, fault, &pair0, &nib0);
      const uint32_t keep1 =
          magnitude16_group<kNanKey>(in[k].z, in[k].w, 2 * u + 1, fault, &pair1, &nib1);
      if (values) {
        __stcs(values + u, make_uint2(pair0, pair1));
        __stcs(meta + u, static_cast<uint8_t>(nib0 | nib1 << 4));
      }
      if (dense) {
        const uint2 d0 = pruned_words16(in[k].x, in[k].y, keep0);
        const uint2 d1 = pruned_words16(in[k].z, in[k].w, keep1);
        dense[u] = make_uint4(d0.x, d0.y, d1.x, d1.y);
      }
      if (mask) mask[u] = make_uint2(mask_word(keep0), mask_word(keep1));
    }
  }
}

template <uint32_t kNanKey>
void launch_magnitude16_flat(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                             Stream stream) {
  const int64_t units = w.numel() / 8;
  if (units == 0) return;
  auto ptr = [](Tensor* t) { return t ? t->raw_data() : nullptr; };
  magnitude16_flat_kernel<kNanKey><<<blocks_for((units + kUnroll - 1) / kUnroll), kThreadsPerBlock,
                                     0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint4*>(w.raw_data()), units,
      out.compressed ? static_cast<uint2*>(out.compressed->values.raw_data()) : nullptr,
      out.compressed ? static_cast<uint8_t*>(out.compressed->meta.raw_data()) : nullptr,
      static_cast<uint4*>(ptr(out.dense)), static_cast<uint2*>(ptr(out.mask)), fault);
  S24_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_magnitude_cuda(const Tensor& w, const PruneOutputs& out, unsigned long long* fault,
                           Stream stream) {
  if (w.size(1) % 8 == 0 && w.dtype() == DType::kF16)
    return launch_magnitude16_flat<Elem<float16>::kNanKey>(w, out, fault, stream);
  if (w.size(1) % 8 == 0 && w.dtype() == DType::kBF16)
    return launch_magnitude16_flat<Elem<bfloat16>::kNanKey>(w, out, fault, stream);
  dispatch_value_dtype(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_group_kernel<T>(w, out, MagnitudePruner<T>{}, fault, stream);
  });
}

void launch_apply_mask_cuda(const Tensor& w, const Tensor& mask, const PruneOutputs& out,
                            unsigned long long* fault, Stream stream) {
  dispatch_value_dtype(w.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_group_kernel<T>(w, out, MaskPruner<T>{static_cast<const uint8_t*>(mask.raw_data())},
                           fault, stream);
  });
}

void magnitude_cuda(const Tensor& w_in, const PruneOutputs& out) {
  const Tensor w = contiguous_cuda(w_in);
  DeviceFault fault(w.device());
  launch_magnitude_cuda(w, out, fault.ptr(), nullptr);
  fault.throw_if_any(w.size(1), "magnitude pruning");
}

void apply_mask_cuda(const Tensor& w_in, const Tensor& mask_in, const PruneOutputs& out) {
  const Tensor w = contiguous_cuda(w_in), mask = contiguous_cuda(mask_in);
  DeviceFault fault(w.device());
  launch_apply_mask_cuda(w, mask, out, fault.ptr(), nullptr);
  fault.throw_if_any(w.size(1), "apply_mask");
}

}  // namespace s24::detail
