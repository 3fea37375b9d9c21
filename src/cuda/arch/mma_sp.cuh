// Internal: thin wrapper over the sparse tensor-core instruction of sm_80+
//   mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.{f16,bf16}.{f16,bf16}.f32
// D[16x8] = A[16x32] B[32x8] + C, A 2:4 sparse along k, given as its kept half (16x16) plus
// metadata. In SASS this is HMMA.SP.16832.F32(.BF16).
//
// Fragments (lane = 4*g + t, g = lane/4, t = lane%4; see docs/FORMAT.md "Hardware layout"):
//   a[0..3]  kept values of A: a[0] = row g, kept cols 2t,2t+1 (the two kept values of 4-group t),
//            a[1] = row g+8, same cols; a[2] = row g, cols 2t+8,2t+9 (group t+4); a[3] = row g+8.
//   b[0..3]  B column g (n), rows (k) 2t,2t+1 / +8 / +16 / +24: what ldmatrix.x4 of four 8x8
//            matrices (n-rows, 8 consecutive k each) returns.
//   c/d[0..3] D rows g (c0,c1) and g+8 (c2,c3), columns 2t, 2t+1.
//   e        32 bits of metadata; with sparsity selector S (0 or 1) the lanes with t = 2S and
//            t = 2S+1 of each quad supply it: lane t=2S holds groups 0-3 (k 0..15), lane t=2S+1
//            groups 4-7 (k 16..31); bits 4j..4j+3 are row g's nibble of its j-th group, bits
//            16+4j.. row g+8's. A nibble is (first index) | (second index) << 2 with first < second
//            (the ordered_metadata rule), the same nibble as sparse24's logical format.
// The selector is an immediate, hence the template parameter.
#pragma once

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"

namespace s24::arch {

struct MmaF16 {};
struct MmaBF16 {};

template <class Type, int kSelector>
__device__ __forceinline__ void mma_sp_16832(float (&d)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[4], uint32_t e);

#if S24_ARCH_SM80_OR_NEWER
#define S24_MMA_SP_16832(TYPE_TAG, PTX_TYPE, SEL)                                                \
  template <>                                                                                    \
  __device__ __forceinline__ void mma_sp_16832<TYPE_TAG, SEL>(                                   \
      float(&d)[4], const uint32_t(&a)[4], const uint32_t(&b)[4], uint32_t e) {                  \
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32." PTX_TYPE          \
                 "." PTX_TYPE ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, "    \
                 "{%0, %1, %2, %3}, %12, " #SEL ";\n"                                            \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]),  \
                   "r"(b[3]), "r"(e));                                                           \
  }
#else
#define S24_MMA_SP_16832(TYPE_TAG, PTX_TYPE, SEL)                                                \
  template <>                                                                                    \
  __device__ __forceinline__ void mma_sp_16832<TYPE_TAG, SEL>(                                   \
      float(&)[4], const uint32_t(&)[4], const uint32_t(&)[4], uint32_t) {                       \
    unsupported_arch("mma.sp");                                                                  \
  }
#endif

S24_MMA_SP_16832(MmaF16, "f16", 0)
S24_MMA_SP_16832(MmaF16, "f16", 1)
S24_MMA_SP_16832(MmaBF16, "bf16", 0)
S24_MMA_SP_16832(MmaBF16, "bf16", 1)
#undef S24_MMA_SP_16832

}  // namespace s24::arch
