// Internal: thin wrappers over the dense Hopper warpgroup multiply-accumulate at the one shape the
// sm_90a attention uses, wgmma.mma_async m64n64k16 with f32 accumulators (f16 or bf16 operands):
//   WgmmaDense64SS: A and B from shared memory, both K-major (Q K^T: the queries' and the keys'
//                   head dimensions are contiguous);
//   WgmmaDense64RS: A from registers, B from shared memory MN-major (P V: the probabilities come
//                   from the score accumulators, V's rows are keys with the head dimension
//                   contiguous, i.e. B's N is the contiguous index: the instruction's transpose).
// In SASS: HGMMA.64x64x16.F32 (.BF16). Fences, commit and wait are wgmma.cuh's.
//
// Register A fragment (PTX ISA, "Matrix fragments for wgmma.mma_async .m64nNk16"): warp w of the
// warpgroup holds rows 16w..16w+15, lane 4g + t four 32-bit words of two values each: (row g,
// columns 2t, 2t+1), (g + 8, 2t..), (g, 2t + 8..), (g + 8, 2t + 8..), the mma.sync m16n8k16 A
// layout. The D fragment (wgmma.cuh) holds, per 8 columns j, (g, 8j + 2t..) then (g + 8, 8j +
// 2t..): two adjacent 8-column blocks of D are one A fragment of a k16 step, which is how a score
// tile becomes the next product's A operand without passing through shared memory.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/arch/wgmma.cuh"

namespace s24::arch {

// Descriptor of an MN-major operand stored as 128-byte rows along K with the 128-byte swizzle
// (CUTLASS's canonical MN-major SW128 layout ((64 values, m), (8, k)) : ((1, LBO), (64 values,
// SBO)) for 16-bit values): K groups of 8 rows 1024 bytes apart (stride byte offset); an operand
// 64 values wide along N is one swizzle atom, so the leading byte offset (the next 64 values of
// N) is never used. These are the bits of smem_desc_k_major_sw128 for the same bytes: the
// major-ness is the instruction's transpose immediate, not a descriptor field.
__device__ __forceinline__ uint64_t smem_desc_mn_major_sw128(uint32_t smem_byte_addr) {
  return smem_desc_k_major_sw128(smem_byte_addr);
}

template <class T>
struct WgmmaDense64SS;  // static void mma(float (&d)[32], desc_a, desc_b, scale_d)
template <class T>
struct WgmmaDense64RS;  // static void mma(float (&d)[32], const uint32_t (&a)[4], desc_b)

#define S24_WGMMA_D32                                                                            \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
  "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define S24_WGMMA_D32_OUTS(d)                                                                   \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),          \
      "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),   \
      "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
      "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
      "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])

#if S24_ARCH_SM90A

// scale_d = 0: D = A B (the accumulators' old values are ignored); else D += A B.
#define S24_WGMMA_DENSE_SS(TYPE, PTX_TYPES)                                                     \
  template <>                                                                                  \
  struct WgmmaDense64SS<TYPE> {                                                                \
    __device__ __forceinline__ static void mma(float (&d)[32], uint64_t desc_a, uint64_t desc_b, \
                                               int scale_d) {                                  \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                \
                   "wgmma.mma_async.sync.aligned.m64n64k16." PTX_TYPES " " S24_WGMMA_D32       \
                   ", %32, %33, p, 1, 1, 0, 0;\n}\n"                                           \
                   : S24_WGMMA_D32_OUTS(d)                                                     \
                   : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                  \
    }                                                                                          \
  };
// D += A B (scale-d is a predicate operand: set here, always true); the last immediate
// transposes B (MN-major).
#define S24_WGMMA_DENSE_RS(TYPE, PTX_TYPES)                                                     \
  template <>                                                                                  \
  struct WgmmaDense64RS<TYPE> {                                                                \
    __device__ __forceinline__ static void mma(float (&d)[32], const uint32_t (&a)[4],         \
                                               uint64_t desc_b) {                              \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                  \
                   "wgmma.mma_async.sync.aligned.m64n64k16." PTX_TYPES " " S24_WGMMA_D32       \
                   ", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                              \
                   : S24_WGMMA_D32_OUTS(d)                                                     \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));                 \
    }                                                                                          \
  };

S24_WGMMA_DENSE_SS(__half, "f32.f16.f16")
S24_WGMMA_DENSE_SS(__nv_bfloat16, "f32.bf16.bf16")
S24_WGMMA_DENSE_RS(__half, "f32.f16.f16")
S24_WGMMA_DENSE_RS(__nv_bfloat16, "f32.bf16.bf16")

#undef S24_WGMMA_DENSE_SS
#undef S24_WGMMA_DENSE_RS

#else  // not sm_90a: never launched there (the host checks for an sm_90 device)

template <class T>
struct WgmmaDense64SS {
  __device__ __forceinline__ static void mma(float (&)[32], uint64_t, uint64_t, int) {
    unsupported_arch("wgmma.mma_async (sm_90a)");
  }
};
template <class T>
struct WgmmaDense64RS {
  __device__ __forceinline__ static void mma(float (&)[32], const uint32_t (&)[4], uint64_t) {
    unsupported_arch("wgmma.mma_async (sm_90a)");
  }
};

#endif

#undef S24_WGMMA_D32
#undef S24_WGMMA_D32_OUTS

}  // namespace s24::arch
