// Test helper: a random logical 2:4 matrix on the CPU with random legal nibbles and values drawn
// by `draw` (shared by the GPU linear suites).
#pragma once

#include <cstdint>
#include <random>

#include "format/format_cpu.h"
#include "sparse24/format.h"
#include "sparse24/tensor.h"

namespace s24::test {

inline constexpr uint8_t kLegalNibbles[6] = {0x4, 0x8, 0xC, 0x9, 0xD, 0xE};

template <class Draw>
Compressed24 random_compressed(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g,
                               Draw draw) {
  Compressed24 c;
  c.rows = rows;
  c.cols = cols;
  Tensor vf = Tensor::empty({rows, cols / 2}, DType::kF32);
  float* v = vf.data<float>();
  for (int64_t i = 0; i < vf.numel(); ++i) v[i] = draw(g);
  c.values = vf.cast_cpu(dtype);
  c.meta = Tensor::zeros({rows, meta_cols(cols)}, DType::kU8);
  std::uniform_int_distribution<int> pick(0, 5);
  uint8_t* m = c.meta.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t grp = 0; grp < cols / 4; ++grp)
      detail::set_nibble(m + r * meta_cols(cols), grp, kLegalNibbles[pick(g)]);
  return c;
}

// sum_k x[k] W[row, k] in double over the logical layout: values `vp` [rows, k/2] and metadata
// `mp` [rows, meta_cols(k)] of a CPU Compressed24 (values as f32), x one row of k floats.
inline double sparse_row_dot(const float* vp, const uint8_t* mp, int64_t row, int64_t k,
                             const float* x) {
  double s = 0;
  for (int64_t grp = 0; grp < k / 4; ++grp) {
    const uint8_t nib = detail::get_nibble(mp + row * meta_cols(k), grp);
    s += double(vp[row * (k / 2) + 2 * grp]) * x[4 * grp + detail::nibble_first(nib)];
    s += double(vp[row * (k / 2) + 2 * grp + 1]) * x[4 * grp + detail::nibble_second(nib)];
  }
  return s;
}

}  // namespace s24::test
