// Internal: thin wrapper over stmatrix (sm_90), the store counterpart of ldmatrix: a warp writes
// four 8x8 matrices of 16-bit elements from the register layout of mma / wgmma accumulator
// fragments (lane l holds, in register i, the elements (l/4, 2*(l%4)) and (l/4, 2*(l%4)+1) of
// matrix i) to shared memory. Lanes 8i..8i+7 supply the addresses of the 8 rows (16 bytes each) of
// matrix i. With .trans, row r in memory holds column r of the fragment: the 8 elements
// (0..7, r), so a fragment whose rows are features and whose columns are tokens lands as token
// rows of 8 consecutive features, the row-major order of Y.
#pragma once

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"

namespace s24::arch {

__device__ __forceinline__ void stmatrix_x4_trans(uint32_t smem_row_addr,
                                                  const uint32_t (&r)[4]) {
#if S24_ARCH_SM90_OR_NEWER
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(
                   smem_row_addr),
               "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
               : "memory");
#else
  unsupported_arch("stmatrix (sm_90)");
#endif
}

}  // namespace s24::arch
