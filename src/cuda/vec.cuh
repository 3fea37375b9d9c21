// Internal: the unsigned type of a given width, for moving k bytes with one load or store
// (16 bytes = one LDG.128 / STG.128, the widest access a thread can make), and the conversion
// of two packed 16-bit values to and from float2 (round to nearest even).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace s24::detail {

template <int kBytes>
struct VecOf;
template <>
struct VecOf<1> {
  using type = uint8_t;
};
template <>
struct VecOf<2> {
  using type = uint16_t;
};
template <>
struct VecOf<4> {
  using type = uint32_t;
};
template <>
struct VecOf<8> {
  using type = uint2;
};
template <>
struct VecOf<16> {
  using type = uint4;
};

// Two packed 16-bit values (one 32-bit word) <-> float2.
template <class T>
struct Pack2;
template <>
struct Pack2<__half> {
  __device__ static float2 to_float2(uint32_t v) {
    return __half22float2(*reinterpret_cast<const __half2*>(&v));
  }
  __device__ static uint32_t from_float2(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
};
template <>
struct Pack2<__nv_bfloat16> {
  __device__ static float2 to_float2(uint32_t v) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
  }
  __device__ static uint32_t from_float2(float a, float b) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
};

}  // namespace s24::detail
