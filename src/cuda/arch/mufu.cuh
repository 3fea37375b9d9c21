// Internal: thin wrappers over the special-function unit's approximate reciprocal and power of
// two (one MUFU instruction each, every architecture). The library forms (1.0f / y, exp2f) add
// Newton steps or a range fix-up for subnormal results; where a result that small does not
// matter (softmax weights, GELU's erfc tail), these save the extra dependent instructions.
#pragma once

namespace s24::arch {

// 1 / y within 1 ulp; subnormal inputs and results flush to zero.
__device__ __forceinline__ float rcp_approx(float y) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
  return r;
}

// 2^y within 2 ulp; results below 2^-126 flush to zero, 2^-inf = +0.
__device__ __forceinline__ float exp2_approx(float y) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
  return r;
}

}  // namespace s24::arch
