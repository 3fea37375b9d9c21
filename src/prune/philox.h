// Internal: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// the counter-based generator behind MVUE24. A draw is a pure function of (key, counter), so a CPU
// loop and a CUDA kernel that visit the groups in any order produce the same numbers. The same
// source compiles as host code (g++) and as __host__ __device__ code (nvcc).
#pragma once

#include <cstdint>

#ifndef S24_HD  // also defined, identically, by src/format/hw_layout.h
#if defined(__CUDACC__)
#define S24_HD __host__ __device__ __forceinline__
#else
#define S24_HD inline
#endif
#endif

namespace s24::detail {

struct Philox4x32Out {
  uint32_t v[4];
};

// The high 32 bits of a 32x32 -> 64-bit product.
S24_HD uint32_t philox_mulhi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Ten rounds; the key is bumped by the Weyl constants between rounds (Random123's
// philox4x32_10, checked against its known-answer vectors in tests/cpu/test_prune.cc).
S24_HD Philox4x32Out philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                   uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const uint32_t hi0 = philox_mulhi(kMul0, c0), lo0 = kMul0 * c0;
    const uint32_t hi1 = philox_mulhi(kMul1, c2), lo1 = kMul1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Philox4x32Out{{c0, c1, c2, c3}};
}

// The MVUE24 stream: key = seed, counter = (group index, offset), each split into (low, high)
// 32-bit words.
S24_HD Philox4x32Out mvue24_draw(uint64_t seed, uint64_t group, uint64_t offset) {
  return philox4x32_10(static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32),
                       static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A uniform in [0, 1) with 24 random bits: every value is exact in f32, so the conversion cannot
// round differently on two devices.
S24_HD float uniform_from_bits(uint32_t bits) { return static_cast<float>(bits >> 8) * 0x1p-24f; }

}  // namespace s24::detail
