#include <cmath>
#include <cstring>

#include "common/test_util.h"
#include "format/format_cpu.h"

namespace s24 {
namespace {

// A random 2:4 matrix: each group gets 0, 1 or 2 nonzeros at random positions (integers in
// [-4, 4] \ {0}), so every nibble case (including the completion rule) occurs.
Tensor random_24(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  Tensor f = Tensor::zeros({rows, cols}, DType::kF32);
  float* p = f.data<float>();
  std::uniform_int_distribution<int> count(0, 2), pos(0, 3), val(1, 4), sign(0, 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < cols / 4; ++gi) {
      const int n = count(g);
      for (int k = 0; k < n; ++k) {
        int i;
        do i = pos(g);
        while (p[r * cols + 4 * gi + i] != 0.0f);
        p[r * cols + 4 * gi + i] = static_cast<float>(val(g) * (sign(g) ? -1 : 1));
      }
    }
  return f.cast_cpu(dtype);
}

TEST(Format, NibbleRules) {
  // All six legal nibbles and only those.
  int legal = 0;
  for (int n = 0; n < 16; ++n) legal += is_legal_nibble(static_cast<uint8_t>(n));
  EXPECT_EQ(legal, 6);
  EXPECT_EQ(detail::nibble_for_nonzeros(0b0000), 0x4);  // no nonzeros: indices 0,1
  EXPECT_EQ(detail::nibble_for_nonzeros(0b0001), 0x4);  // {0} + lowest zero 1
  EXPECT_EQ(detail::nibble_for_nonzeros(0b0010), 0x4);  // {1} + lowest zero 0 -> (0,1)
  EXPECT_EQ(detail::nibble_for_nonzeros(0b1000), 0xC);  // {3} + 0 -> (0,3)
  EXPECT_EQ(detail::nibble_for_nonzeros(0b0100), 0x8);  // {2} + 0 -> (0,2)
  EXPECT_EQ(detail::nibble_for_nonzeros(0b1010), 0xD);  // (1,3)
  EXPECT_EQ(detail::nibble_for_nonzeros(0b0110), 0x9);  // (1,2)
  EXPECT_EQ(detail::nibble_for_nonzeros(0b1100), 0xE);  // (2,3)
  for (unsigned bits = 0; bits < 16; ++bits) {
    if (__builtin_popcount(bits) > 2) continue;
    const uint8_t nib = detail::nibble_for_nonzeros(bits);
    ASSERT_TRUE(is_legal_nibble(nib)) << bits;
    const unsigned kept = (1u << detail::nibble_first(nib)) | (1u << detail::nibble_second(nib));
    ASSERT_EQ(kept & bits, bits) << "every nonzero must be kept";
  }
}

TEST(Format, KnownMatrixBytes) {
  // Row 0: groups [1 0 0 2] [0 0 0 0]; row 1: [0 -3 4 0] [0 0 0 5].
  const float d[16] = {1, 0, 0, 2, 0, 0, 0, 0, 0, -3, 4, 0, 0, 0, 0, 5};
  Tensor dense = Tensor::empty({2, 8}, DType::kF32);
  std::memcpy(dense.raw_data(), d, sizeof d);
  Compressed24 c = compress(dense);
  ASSERT_EQ(c.values.shape(), Shape({2, 4}));
  ASSERT_EQ(c.meta.shape(), Shape({2, 1}));
  const float want_v[8] = {1, 2, 0, 0, -3, 4, 0, 5};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(c.values.data<float>()[i], want_v[i]) << i;
  EXPECT_EQ(c.meta.data<uint8_t>()[0], 0x4C);  // group0 (0,3)=0xC low, group1 (0,1)=0x4 high
  EXPECT_EQ(c.meta.data<uint8_t>()[1], 0xC9);  // group0 (1,2)=0x9 low, group1 (0,3)=0xC high
  EXPECT_TRUE(test::bit_equal(decompress(c), dense));
}

TEST(Format, RoundTripEveryDTypeAndOddShapes) {
  auto g = test::rng(11);
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2,
                   DType::kI8}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 4}, {3, 12}, {7, 20}, {64, 256},
                              {5, 4}, {0, 8}, {2, 0}}) {
      Tensor dense = random_24(rows, cols, dt, g);
      ASSERT_TRUE(is_24(dense));
      Compressed24 c = compress(dense);
      EXPECT_EQ(c.meta.shape(), Shape({rows, meta_cols(cols)}));
      validate(c);
      EXPECT_TRUE(test::bit_equal(decompress(c), dense)) << dtype_name(dt) << " " << rows << "x" << cols;
      // cols % 8 == 4: the unused high nibble of the last byte stays zero.
      if (cols % 8 == 4) {
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_EQ(c.meta.data<uint8_t>()[r * meta_cols(cols) + meta_cols(cols) - 1] >> 4, 0);
      }
    }
  }
}

TEST(Format, NegativeZeroCountsAsZero) {
  Tensor dense = Tensor::zeros({1, 4}, DType::kF32);
  float* p = dense.data<float>();
  p[0] = -0.0f;
  p[1] = 3;
  p[2] = -0.0f;
  p[3] = 2;
  EXPECT_TRUE(is_24(dense));
  Compressed24 c = compress(dense);
  EXPECT_EQ(c.meta.data<uint8_t>()[0], 0xD);  // (1,3)
  EXPECT_EQ(c.values.data<float>()[0], 3.0f);
  EXPECT_EQ(c.values.data<float>()[1], 2.0f);
  // The round trip loses the dropped -0s' sign and nothing else; the comparison that tests use
  // for such round trips still sees a changed value.
  Tensor back = decompress(c);
  EXPECT_FALSE(test::bit_equal(back, dense));
  EXPECT_TRUE(test::bit_equal_up_to_zero_sign(back, dense));
  back.data<float>()[0] = 1e-30f;
  EXPECT_FALSE(test::bit_equal_up_to_zero_sign(back, dense));
}

TEST(Format, RejectsNonTwoFourAndBadShapes) {
  Tensor dense = Tensor::zeros({2, 8}, DType::kF16);
  auto* p = dense.data<float16>();
  for (int i = 4; i < 7; ++i) p[8 + i] = from_float<float16>(1.0f);  // row 1, group 1: 3 nonzeros
  EXPECT_FALSE(is_24(dense));
  S24_EXPECT_ERROR(compress(dense), kNotTwoFour, "row 1, columns 4..7");
  S24_EXPECT_ERROR(compress(Tensor::zeros({2, 6}, DType::kF32)), kAlignment, "multiple of 4");
  S24_EXPECT_ERROR(compress(Tensor::zeros({2, 2, 4}, DType::kF32)), kShapeMismatch, "2-d");
  S24_EXPECT_ERROR(compress(Tensor::zeros({2, 4}, DType::kI32)), kDTypeMismatch, "I32");
  S24_EXPECT_ERROR(compress(Tensor()), kInvalidArgument, "undefined");
  // NaN counts as a nonzero (kept and visible), never silently dropped.
  Tensor nan = Tensor::zeros({1, 4}, DType::kF32);
  nan.data<float>()[0] = NAN;
  nan.data<float>()[1] = 1;
  nan.data<float>()[2] = 1;
  EXPECT_FALSE(is_24(nan));
}

TEST(Format, ValidateCatchesCorruption) {
  auto g = test::rng(12);
  Compressed24 c = compress(random_24(3, 16, DType::kF16, g));
  Compressed24 bad = c;
  bad.meta = c.meta.clone();
  bad.meta.data<uint8_t>()[3] = 0x37;  // 0x7 is illegal (indices 3,1: not increasing)
  S24_EXPECT_ERROR(validate(bad), kInvalidArgument, "illegal metadata nibble 0x7");
  S24_EXPECT_ERROR(decompress(bad), kInvalidArgument, "row 1");
  bad.meta.data<uint8_t>()[3] = 0x55;  // 0x5: (1,1) repeated index
  S24_EXPECT_ERROR(validate(bad), kInvalidArgument, "0x5");
  Compressed24 wrong = c;
  wrong.cols = 20;
  S24_EXPECT_ERROR(validate(wrong), kShapeMismatch, "values");
  wrong = c;
  wrong.meta = Tensor::zeros({3, 2}, DType::kI8);
  S24_EXPECT_ERROR(validate(wrong), kDTypeMismatch, "U8");
  Compressed24 odd = compress(random_24(2, 12, DType::kF32, g));
  odd.meta.data<uint8_t>()[1] |= 0x40;  // the unused high nibble must be zero
  S24_EXPECT_ERROR(validate(odd), kInvalidArgument, "unused");
}

TEST(Format, KeptMagnitudeFraction) {
  Tensor dense = Tensor::zeros({1, 4}, DType::kF32);
  Tensor pruned = Tensor::zeros({1, 4}, DType::kF32);
  const float d[4] = {1, -2, 3, -4};
  std::memcpy(dense.raw_data(), d, sizeof d);
  pruned.data<float>()[2] = 3;
  pruned.data<float>()[3] = -4;
  EXPECT_DOUBLE_EQ(kept_magnitude_fraction(dense, pruned), 0.7);
  EXPECT_DOUBLE_EQ(kept_magnitude_fraction(Tensor::zeros({1, 4}, DType::kF32),
                                           Tensor::zeros({1, 4}, DType::kF32)),
                   1.0);
}

TEST(Format, TransposeOfTransposableMatrix) {
  auto g = test::rng(13);
  // Build a matrix that is 2:4 along rows and columns: in every 4x4 block use a shifted pattern.
  const int64_t rows = 8, cols = 12;
  Tensor dense = Tensor::zeros({rows, cols}, DType::kBF16);
  std::uniform_int_distribution<int> val(-4, 4), shift(0, 3);
  for (int64_t br = 0; br < rows / 4; ++br)
    for (int64_t bc = 0; bc < cols / 4; ++bc) {
      const int s = shift(g);
      for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 2; ++k) {
          const int j = (i + s + k) % 4;  // rows i get columns (i+s), (i+s+1): two per column too
          dense.data<bfloat16>()[(br * 4 + i) * cols + bc * 4 + j] =
              from_float<bfloat16>(static_cast<float>(val(g)));
        }
    }
  Compressed24 c = compress(dense);
  Compressed24 ct = transpose(c);
  EXPECT_EQ(ct.rows, cols);
  EXPECT_EQ(ct.cols, rows);
  EXPECT_TRUE(test::bit_equal(decompress(ct), dense.t().contiguous()));
  // A row-only 2:4 matrix is refused.
  Tensor rowonly = Tensor::zeros({4, 4}, DType::kF32);
  for (int i = 0; i < 4; ++i) rowonly.data<float>()[i * 4] = 1;  // column 0 has 4 nonzeros
  S24_EXPECT_ERROR(transpose(compress(rowonly)), kNotTwoFour, "along columns");
}

}  // namespace
}  // namespace s24
