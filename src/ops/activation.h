// Internal: the epilogue activations of the linear ops, as scalar f32 functions usable from host
// and device code. These are the reference definitions; the CPU kernels use vectorizable
// versions of the same formulas (linear_cpu.cc) that agree with these within a few ulp.
#pragma once

#include <math.h>

#include "sparse24/ops.h"

#if defined(__CUDACC__)
#include "cuda/arch/mufu.cuh"
#define S24_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define S24_HOST_DEVICE inline
#endif

namespace s24::detail {

// ReLU keeps NaN (x < 0 is false for NaN), as torch.relu does.
S24_HOST_DEVICE float relu(float x) { return x < 0.0f ? 0.0f : x; }

// 0.5 x (1 + erf(x / sqrt(2))): BERT's exact GELU.
S24_HOST_DEVICE float gelu_erf(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), written as x / (1 + exp(-2u)): the same
// function, but without the cancellation of 1 + tanh(u) for large negative u.
S24_HOST_DEVICE float gelu_tanh(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return x / (1.0f + expf(-2.0f * u));
}

S24_HOST_DEVICE float silu(float x) { return x / (1.0f + expf(-x)); }

// erfc(z) = t exp(-z^2 + P(t)) for z >= 0, t = 1 / (1 + z/2): P is the Chebyshev fit of
// Numerical Recipes' erfcc (relative error below 1.2e-7 for every z >= 0). Branchless, and
// relatively accurate where 1 + erf(x / sqrt 2) cancels (large negative x): the form of GELU
// (erf) that the CPU kernels evaluate (linear_cpu.cc; the GPU's is gelu_erf_gpu below).
S24_HOST_DEVICE float erfc_exponent_poly(float t) {
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return p;
}

S24_HOST_DEVICE float activate(Activation a, float x) {
  switch (a) {
    case Activation::kRelu:
      return relu(x);
    case Activation::kGeluErf:
      return gelu_erf(x);
    case Activation::kGeluTanh:
      return gelu_tanh(x);
    case Activation::kSilu:
      return silu(x);
    case Activation::kNone:
      break;
  }
  return x;
}

#if defined(__CUDACC__)
// GELU (erf) in the GPU epilogues, where it is issue-bound: its ~15 instructions a value run
// while the tensor cores wait (bench/NOTES.md, session 18). For either sign,
//   x Phi(x) = max(x, 0) - |x| Phi(-|x|),   |x| Phi(-|x|) = u 2^(P(u) - x^2 log2(e) / 2),
// with u = |x| / (C0 + C1 |x|) in [0, 1): u = |x| t / C0 for t = 1 / (1 + (C1 / C0) |x|), the
// variable of the erfc form above, so P(u) = log2((C0 + C1 |x|) Phi(-|x|)) + x^2 log2(e) / 2 is
// smooth and bounded on [0, 1]. Carrying |x| inside u lets one FMA finish both signs (no select
// of erfc or 2 - erfc, no 0.5), makes the reciprocal's error relative to |x| (harmless near 0),
// and lets the saturating multiply turn inf * 0 at |x| = inf into u = 0 (u < 1 for |x| < 1900,
// so nothing else changes). P: a degree-6 weighted minimax fit for the test's contract, within
// (1 + 0.2 x^2) 1e-6 relative of a double-precision x Phi(x) over [-14, 14] wherever
// |GELU(x)| > 1e-30 (tests/gpu/test_gpu_activation.cu; a float32 emulation with the MUFU errors
// at their worst put it at 0.62 of that bound, the previous form at 0.69); C0 = 3.96 puts
// 2^P(0) = C0 / 2 high in its binade, where EX2's error is smallest relative to the value. Below
// x = -13.17, 2^(...) flushes to zero and so does the result. 15 SASS instructions a value, 2 of
// them MUFU (RCP, EX2), against 20 for the erfc form with NR's ten-term polynomial. The fit and
// the emulation: bench/results/h100_2026-11-22_s18/c2_gelu_u_form/fit/.
// -inf gives NaN, as x (1 + erf(x / sqrt 2)) / 2 evaluates it in the reference, the CPU kernels
// and PyTorch: the positive part is 0 * x below zero.
__device__ __forceinline__ float gelu_erf_gpu(float x) {
  const float ax = fabsf(x);
  const float u = __saturatef(ax * arch::rcp_approx(fmaf(ax, 0.997919977f, 3.96000004f)));
  float p = 0.485372156f;
  p = fmaf(p, u, -1.04041433f);
  p = fmaf(p, u, 0.227229521f);
  p = fmaf(p, u, 0.859559596f);
  p = fmaf(p, u, 0.282075614f);
  p = fmaf(p, u, -3.11873531f);
  p = fmaf(p, u, 0.985500634f);
  const float e = fmaf(x, x * -0.721347520f, p);  // P(u) - x^2 log2(e) / 2
  const float positive_part = x > 0.0f ? x : 0.0f * x;
  return fmaf(-arch::exp2_approx(e), u, positive_part);
}

// The activations of the GPU kernels (sparse epilogues, the dense path's activation kernel):
// activate(), with gelu_erf_gpu for GELU (erf).
__device__ __forceinline__ float activate_gpu(Activation a, float x) {
  return a == Activation::kGeluErf ? gelu_erf_gpu(x) : activate(a, x);
}

// activate_gpu over N values behind one switch: one uniform dispatch per N values, and inside a
// case N independent chains for the scheduler to interleave (the sm_90a register epilogue).
template <int N>
__device__ __forceinline__ void activate_all_gpu(Activation a, float (&v)[N]) {
  switch (a) {
    case Activation::kRelu:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = relu(v[i]);
      break;
    case Activation::kGeluErf:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = gelu_erf_gpu(v[i]);
      break;
    case Activation::kGeluTanh:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = gelu_tanh(v[i]);
      break;
    case Activation::kSilu:
#pragma unroll
      for (int i = 0; i < N; ++i) v[i] = silu(v[i]);
      break;
    case Activation::kNone:
      break;
  }
}
#endif

}  // namespace s24::detail
