// Internal: thin wrappers over the Hopper warpgroup matrix instructions (sm_90a only):
//   wgmma.mma_async.sp m64nNk32 (f16, bf16) and m64nNk64 (e4m3 / e5m2, int8) with A (the 2:4
//   operand) and B from shared memory (WgmmaSpSS), plus the fence / commit / wait that order
//   them. In SASS these are HGMMA.64xNx32.F32(.BF16).SP, QGMMA.64xNx64 and IGMMA.64xNx64 (.SP).
//
// A: the compressed 64 x (K/2) tile (the kept values, 32 bytes per row, in their logical order)
// in shared memory, in the same canonical K-major layouts as a dense operand (64-byte swizzle
// here). Metadata from registers: per warp w of the warpgroup (rows 16w..16w+15 of the A tile)
// 16-bit: the m16n8k32 layout (cuda/arch/mma_sp.cuh), read from the lanes that the sparsity
// selector names; the selector is an immediate that must be the same for the whole warpgroup,
// so every warp uses selector 0 (lanes t = 0, 1 of each quad) and the GEMM loads the word it
// needs into those lanes. 8-bit: selector 0 and every lane holds a word: lane 4g + t row
// g + 8 (t % 2), groups 8 (t / 2) .. + 7 of the k64 (format/hw_layout.h). PTX ISA "Matrix
// fragments for warpgroup-level multiply-accumulate operation with sparse matrix A".
// D fragment: d[4j + c] holds D[16w + g + 8 (c / 2)][8j + 2t + (c % 2)] (lane = 4g + t).
//
// The instruction reads its register operands asynchronously: the accumulators must not be
// written between the wgmma and the wait_group that retires it, and wgmma_fence() must sit
// between any ordinary write of them and the next wgmma. The same holds for the metadata
// register, measured (bench/NOTES.md, session 15): a load into it while its wgmma was in flight
// gave wrong products. ptxas protects the accumulators but not that register, so a caller that
// keeps a batch in flight while it loads the next metadata must load into other registers (the
// GEMM's k-loop: unrolled by two); scripts/check_wgmma_sp_sass.py checks this on the SASS.
#pragma once

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define S24_ARCH_SM90A 1
#else
#define S24_ARCH_SM90A 0
#endif

namespace s24::arch {

// Operand tags: A (the 2:4 weight) type first, then B (the activations). kElemBytes sets the
// instruction's K (m64nNk32 for 2-byte, m64nNk64 for 1-byte elements: 64 bytes of a B row
// either way); Acc is the accumulator register type.
struct WgmmaF16 {
  static constexpr int kElemBytes = 2;
  using Acc = float;
};
struct WgmmaBF16 {
  static constexpr int kElemBytes = 2;
  using Acc = float;
};
template <int kA, int kB>  // 4 = e4m3, 5 = e5m2
struct WgmmaFp8 {
  static constexpr int kElemBytes = 1;
  using Acc = float;
};
using WgmmaE4M3E4M3 = WgmmaFp8<4, 4>;
using WgmmaE4M3E5M2 = WgmmaFp8<4, 5>;
using WgmmaE5M2E4M3 = WgmmaFp8<5, 4>;
using WgmmaE5M2E5M2 = WgmmaFp8<5, 5>;
struct WgmmaS8 {
  static constexpr int kElemBytes = 1;
  using Acc = int32_t;  // exact; the host bounds K so that no sum wraps
};

// Shared-memory matrix descriptor of a K-major operand whose rows are 128 bytes long and stored
// with the 128-byte swizzle (what a TMA box of 128-byte rows with CU_TENSOR_MAP_SWIZZLE_128B
// writes): 8-row core groups 1024 bytes apart (stride byte offset), leading byte offset unused for
// this layout, base 1024-byte aligned. Advancing along K inside the 128-byte row is done by adding
// the byte offset to the start address, as the swizzle is a function of the address bits.
__device__ __forceinline__ uint64_t smem_desc_k_major_sw128(uint32_t smem_byte_addr) {
  uint64_t desc = 0;
  desc |= static_cast<uint64_t>((smem_byte_addr & 0x3FFFF) >> 4);
  desc |= static_cast<uint64_t>(1) << 16;            // leading byte offset (unused), 16 B
  desc |= static_cast<uint64_t>(1024 >> 4) << 32;    // stride byte offset
  desc |= static_cast<uint64_t>(1) << 62;            // layout: 128-byte swizzle
  return desc;
}

// The same for a K-major operand with 64-byte rows and the 64-byte swizzle (a TMA box of 64-byte
// rows with CU_TENSOR_MAP_SWIZZLE_64B): 8-row core groups 512 bytes apart, base 512-byte aligned.
__device__ __forceinline__ uint64_t smem_desc_k_major_sw64(uint32_t smem_byte_addr) {
  uint64_t desc = 0;
  desc |= static_cast<uint64_t>((smem_byte_addr & 0x3FFFF) >> 4);
  desc |= static_cast<uint64_t>(1) << 16;            // leading byte offset (unused), 16 B
  desc |= static_cast<uint64_t>(512 >> 4) << 32;     // stride byte offset
  desc |= static_cast<uint64_t>(2) << 62;            // layout: 64-byte swizzle
  return desc;
}

template <class Type, int N>
struct WgmmaSpSS;  // static void mma(Type::Acc (&d)[N / 2], desc_a, desc_b, meta, scale_d)

#if S24_ARCH_SM90A

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

#include "cuda/arch/wgmma_sp_ops.inc"

#else  // not sm_90a: the kernels that use these are never launched there (host checks cc 9.0)

__device__ __forceinline__ void wgmma_fence() { unsupported_arch("wgmma (sm_90a)"); }
__device__ __forceinline__ void wgmma_commit() { unsupported_arch("wgmma (sm_90a)"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  unsupported_arch("wgmma (sm_90a)");
}
template <class Type, int N>
struct WgmmaSpSS {
  __device__ __forceinline__ static void mma(typename Type::Acc (&)[N / 2], uint64_t, uint64_t,
                                             uint32_t, int) {
    unsupported_arch("wgmma.mma_async.sp (sm_90a)");
  }
};

#endif

// Keeps the compiler from moving reads or writes of an accumulator register across a wgmma
// fence / wait (the asm statements above do not name the accumulators they touch).
__device__ __forceinline__ void pin_register(float& r) { asm volatile("" : "+f"(r)::"memory"); }
__device__ __forceinline__ void pin_register(uint32_t& r) {
  asm volatile("" : "+r"(r)::"memory");
}
__device__ __forceinline__ void pin_register(int32_t& r) { asm volatile("" : "+r"(r)::"memory"); }

}  // namespace s24::arch
