// Internal: group-level helpers of the logical 2:4 format, shared by compress, the pruners and
// the CPU kernels.
#pragma once

#include <cstdint>

namespace s24::detail {

// Bits 0-1 = first kept index, bits 2-3 = second (first < second).
constexpr uint8_t make_nibble(int first, int second) {
  return static_cast<uint8_t>(first | (second << 2));
}
constexpr int nibble_first(uint8_t n) { return n & 3; }
constexpr int nibble_second(uint8_t n) { return (n >> 2) & 3; }

// The nibble for a group whose nonzero positions are the set bits of `nonzero_bits` (4 bits, at
// most two set): its nonzero positions, completed with its lowest-index zero positions.
constexpr uint8_t nibble_for_nonzeros(unsigned nonzero_bits) {
  int idx[2] = {0, 0};
  int n = 0;
  for (int i = 0; i < 4 && n < 2; ++i)
    if (nonzero_bits & (1u << i)) idx[n++] = i;
  for (int i = 0; i < 4 && n < 2; ++i) {
    if (nonzero_bits & (1u << i)) continue;
    if (n == 1 && i == idx[0]) continue;
    idx[n++] = i;
  }
  if (idx[0] > idx[1]) {
    const int t = idx[0];
    idx[0] = idx[1];
    idx[1] = t;
  }
  return make_nibble(idx[0], idx[1]);
}

inline uint8_t get_nibble(const uint8_t* meta_row, int64_t group) {
  const uint8_t byte = meta_row[group >> 1];
  return (group & 1) ? static_cast<uint8_t>(byte >> 4) : static_cast<uint8_t>(byte & 0xF);
}
inline void set_nibble(uint8_t* meta_row, int64_t group, uint8_t nibble) {
  uint8_t& byte = meta_row[group >> 1];
  byte = (group & 1) ? static_cast<uint8_t>((byte & 0x0F) | (nibble << 4))
                     : static_cast<uint8_t>((byte & 0xF0) | nibble);
}

}  // namespace s24::detail
