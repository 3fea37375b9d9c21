// Internal: thin wrappers over cp.async (sm_80+): asynchronous global -> shared copies that bypass
// the register file, so a warp can keep several pipeline stages of loads in flight.
#pragma once

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"

namespace s24::arch {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Copies 16 bytes global -> shared, caching in L2 only (.cg): the streamed weight is read once per
// CTA and would only evict useful lines from L1. When `valid` is false nothing is read and the 16
// destination bytes are zero-filled (src-size 0), which is how tiles hanging over M or K are
// padded. Both addresses must be 16-byte aligned.
// There is deliberately no .L2::cache_hint variant: with an evict_first policy on the weight
// stream the GEMM trapped (cudaErrorIllegalInstruction) on the lent H200s (bench/NOTES.md, v0).
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src, bool valid) {
#if S24_ARCH_SM80_OR_NEWER
  const uint32_t dst = smem_addr(smem_dst);
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem_src),
               "r"(src_bytes)
               : "memory");
#else
  unsupported_arch("cp.async");
#endif
}

// Closes the group of cp.async issued by this thread since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if S24_ARCH_SM80_OR_NEWER
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
  unsupported_arch("cp.async");
#endif
}

// Waits until at most `kPending` committed groups of this thread are still in flight. Other
// threads' copies are only visible after a barrier that follows this wait.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#if S24_ARCH_SM80_OR_NEWER
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#else
  unsupported_arch("cp.async");
#endif
}

}  // namespace s24::arch
