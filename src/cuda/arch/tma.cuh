// Internal: thin wrappers over Hopper's asynchronous copy engine and the mbarriers it completes
// on (sm_90): bulk copies (1-D, contiguous bytes) and bulk tensor copies (2-D and 3-D tiles described
// by a CUtensorMap), mbarrier init / arrive / expect_tx / parity wait, setmaxnreg and named barriers.
//
// Protocol (the GEMM's pipeline): a producer thread announces the bytes a stage will receive with
// arrive_expect_tx on the stage's "full" barrier, then issues the copies, which count those bytes
// down as they land; consumers wait for the phase to flip, read, and arrive on the stage's "empty"
// barrier, which the producer waits on before it overwrites the stage.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"
#include "cuda/arch/cp_async.cuh"

namespace s24::arch {

#if S24_ARCH_SM90_OR_NEWER

__device__ __forceinline__ void mbarrier_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count)
               : "memory");
}
// Makes initialized barriers visible to the copy engine (the async proxy) and the other threads.
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
// Returns once the barrier's phase with the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_loop:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_loop;\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

// `bytes` contiguous bytes global -> shared (both 16-byte aligned, bytes % 16 == 0).
__device__ __forceinline__ void bulk_copy_g2s(void* smem_dst, const void* gmem_src, uint32_t bytes,
                                              uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::
          "r"(smem_addr(smem_dst)),
      "l"(gmem_src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

// One box of a 2-D tensor map at element coordinates (c0 innermost, c1); out-of-range elements
// are zero-filled and still counted in the transaction bytes.
__device__ __forceinline__ void tma_load_2d(void* smem_dst, const CUtensorMap* map, int c0, int c1,
                                            uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(smem_addr(smem_dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_addr(bar))
      : "memory");
}

// One box of a 3-D tensor map at element coordinates (c0 innermost, c1, c2); as tma_load_2d.
__device__ __forceinline__ void tma_load_3d(void* smem_dst, const CUtensorMap* map, int c0, int c1,
                                            int c2, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(smem_addr(smem_dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(bar))
      : "memory");
}

// The same box written to the same shared-memory offset of every CTA in `cta_mask` (bit r: the
// CTA of rank r in the cluster), each of them signalled on its own mbarrier at `bar`'s offset.
__device__ __forceinline__ void tma_load_2d_multicast(void* smem_dst, const CUtensorMap* map, int c0,
                                                      int c1, uint64_t* bar, uint16_t cta_mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(smem_addr(smem_dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(smem_addr(bar)), "h"(cta_mask)
      : "memory");
}

// Arrival on the mbarrier at `bar`'s offset in the shared memory of cluster CTA `cta`, with the
// default (release, CTA-scope) semantics. The arrivals that use it release a stage whose reads
// have already completed (a retired wgmma batch), so no cluster-scope release is needed, and that
// one is expensive: ptxas precedes it with ERRBAR / CGAERRBAR, which ncu showed holding 62% of the
// clustered kernel's warp samples (bench/NOTES.md, sm90 v6).
__device__ __forceinline__ void mbarrier_arrive_cluster(uint64_t* bar, uint32_t cta) {
  asm volatile(
      "{\n.reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(smem_addr(bar)),
      "r"(cta)
      : "memory");
}

__device__ __forceinline__ uint32_t cluster_cta_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}

// Every thread of every CTA in the cluster; orders the barrier initialisations before any remote
// arrival or multicast.
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

__device__ __forceinline__ void prefetch_tensor_map(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// Synchronizes `threads` threads (a multiple of 32) on hardware barrier `id` (1..15; 0 is
// __syncthreads), so one warpgroup can synchronize without stalling the others.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

#else

__device__ __forceinline__ void mbarrier_init(uint64_t*, uint32_t) { unsupported_arch("mbarrier"); }
__device__ __forceinline__ void mbarrier_init_fence() { unsupported_arch("mbarrier"); }
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t*, uint32_t) {
  unsupported_arch("mbarrier");
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t*) { unsupported_arch("mbarrier"); }
__device__ __forceinline__ void mbarrier_wait(uint64_t*, uint32_t) { unsupported_arch("mbarrier"); }
__device__ __forceinline__ void bulk_copy_g2s(void*, const void*, uint32_t, uint64_t*) {
  unsupported_arch("cp.async.bulk (sm_90)");
}
__device__ __forceinline__ void tma_load_2d(void*, const CUtensorMap*, int, int, uint64_t*) {
  unsupported_arch("cp.async.bulk.tensor (sm_90)");
}
__device__ __forceinline__ void tma_load_3d(void*, const CUtensorMap*, int, int, int, uint64_t*) {
  unsupported_arch("cp.async.bulk.tensor (sm_90)");
}
__device__ __forceinline__ void tma_load_2d_multicast(void*, const CUtensorMap*, int, int, uint64_t*,
                                                      uint16_t) {
  unsupported_arch("cp.async.bulk.tensor multicast (sm_90)");
}
__device__ __forceinline__ void mbarrier_arrive_cluster(uint64_t*, uint32_t) {
  unsupported_arch("mbarrier (cluster)");
}
__device__ __forceinline__ uint32_t cluster_cta_rank() { return 0; }
__device__ __forceinline__ void cluster_sync() { unsupported_arch("barrier.cluster (sm_90)"); }
__device__ __forceinline__ void prefetch_tensor_map(const CUtensorMap*) {}
__device__ __forceinline__ void named_barrier_sync(int, int) { unsupported_arch("bar.sync"); }

#endif

// setmaxnreg (sm_90a): the producer warpgroup gives registers back so that the consumer
// warpgroups, which hold the accumulators, can grow. Only effective with a register cap at kernel
// entry (__launch_bounds__(threads, 1)); each warpgroup's role must be one branch.
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
#endif
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
#endif
}

}  // namespace s24::arch
