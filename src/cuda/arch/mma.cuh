// Internal: thin wrappers over the dense tensor-core instruction of sm_80+
//   mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
// D[16x8] = A[16x16] B[16x8] + C with f32 accumulation (HMMA.16816.F32 in SASS), and over the
// transposing ldmatrix that feeds B from a row-major [k][n] tile.
//
// Fragments (lane = 4*g + t, g = lane/4, t = lane%4), two 16-bit elements per 32-bit register,
// the lower index in the low half:
//   a[0] = A[g][2t, 2t+1]      a[1] = A[g+8][2t, 2t+1]
//   a[2] = A[g][2t+8, 2t+9]    a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]      b[1] = B[2t+8, 2t+9][g]      (B is k x n, "col": k contiguous)
//   d[0], d[1] = D[g][2t, 2t+1]    d[2], d[3] = D[g+8][2t, 2t+1]
// Consequences the attention kernel relies on:
//  * the accumulator of two neighbouring n-tiles (columns 0-7 and 8-15) is, element for element,
//    the A fragment of a 16x16 operand (d of tile 0 -> a[0], a[1]; d of tile 1 -> a[2], a[3]), so
//    softmax probabilities feed the next product straight from registers;
//  * ldmatrix_x4 (ldmatrix.cuh) of rows that are n (k contiguous in memory) yields b fragments;
//    ldmatrix_x4_trans below of rows that are k (n contiguous) yields them too.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"
#include "cuda/arch/cp_async.cuh"

namespace s24::arch {

// T = __half or __nv_bfloat16 (the element type of A and B).
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2]);

#if S24_ARCH_SM80_OR_NEWER
#define S24_MMA_16816(TYPE, PTX_TYPE)                                                          \
  template <>                                                                                  \
  __device__ __forceinline__ void mma_16816<TYPE>(float(&d)[4], const uint32_t(&a)[4],         \
                                                  const uint32_t(&b)[2]) {                     \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." PTX_TYPE "." PTX_TYPE                \
                 ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"      \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                              \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));          \
  }
#else
#define S24_MMA_16816(TYPE, PTX_TYPE)                                                          \
  template <>                                                                                  \
  __device__ __forceinline__ void mma_16816<TYPE>(float(&)[4], const uint32_t(&)[4],           \
                                                  const uint32_t(&)[2]) {                      \
    unsupported_arch("mma.sync m16n8k16");                                                     \
  }
#endif

S24_MMA_16816(__half, "f16")
S24_MMA_16816(__nv_bfloat16, "bf16")
#undef S24_MMA_16816

// ldmatrix with .trans: lanes 8i..8i+7 give the addresses of the 8 rows (16 bytes each) of matrix
// i; lane l receives in r[i] the elements (row 2*(l%4), column l/4) and (row 2*(l%4)+1, column
// l/4) of matrix i: the b fragment of a k x n tile stored with rows = k.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
#if S24_ARCH_SM80_OR_NEWER
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem_row)));
#else
  unsupported_arch("ldmatrix.trans");
#endif
}

}  // namespace s24::arch
