// Internal: the guard every PTX wrapper in src/cuda/arch/ uses. The wrappers emit sm_80+
// instructions (mma.sp, ldmatrix, cp.async). The build targets sm_80, sm_90a and compute_80 PTX,
// so a device pass below sm_80 only happens when someone adds an older target: such a kernel must
// not silently compute garbage, so it prints what is missing and traps (the launch then fails with
// cudaErrorLaunchFailure, which S24_CUDA_CHECK turns into an s24::Error). Host launchers also check
// the device's compute capability before launching (detail::require_sm80).
#pragma once

#include <cstdio>

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ < 800)
#define S24_ARCH_SM80_OR_NEWER 0
#else
#define S24_ARCH_SM80_OR_NEWER 1
#endif

// The sm_90 instructions (mbarrier, TMA, stmatrix, clusters); the wgmma ones need sm_90a
// (S24_ARCH_SM90A, wgmma.cuh).
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ < 900)
#define S24_ARCH_SM90_OR_NEWER 0
#else
#define S24_ARCH_SM90_OR_NEWER 1
#endif

namespace s24::arch {

// Called from the #else branch of a wrapper compiled for an architecture that lacks it.
__device__ __forceinline__ void unsupported_arch(const char* what) {
  printf("sparse24: %s needs sm_80 or newer; this kernel was compiled for an older target\n", what);
  __trap();
}

}  // namespace s24::arch
