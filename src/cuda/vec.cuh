// Internal: the unsigned type of a given width, for moving k bytes with one load or store
// (16 bytes = one LDG.128 / STG.128, the widest access a thread can make).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

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

}  // namespace s24::detail
