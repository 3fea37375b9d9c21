// Internal: thin wrapper over ldmatrix (sm_75+, used here on sm_80+): a warp loads four 8x8
// matrices of 16-bit elements from shared memory straight into the register layout of mma
// fragments. Lanes 8i..8i+7 supply the addresses of the 8 rows (16 bytes each) of matrix i; lane l
// receives, in register i, the two elements (2*(l%4), 2*(l%4)+1) of row l/4 of matrix i.
#pragma once

#include <cstdint>

#include "cuda/arch/arch_guard.cuh"
#include "cuda/arch/cp_async.cuh"

namespace s24::arch {

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
#if S24_ARCH_SM80_OR_NEWER
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem_row)));
#else
  unsupported_arch("ldmatrix");
#endif
}

}  // namespace s24::arch
