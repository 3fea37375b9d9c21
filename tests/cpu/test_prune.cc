// Pruning on the CPU: every algorithm against hand-made cases and an independent reference
// written from docs/FORMAT.md ("Pruning semantics"), MVUE24's unbiasedness within a derived
// statistical bound, the fused prune_compress against compress(prune(...)), and bad inputs.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "common/test_util.h"
#include "format/format_cpu.h"
#include "prune/philox.h"
#include "prune/prune_group.h"

namespace s24 {
namespace {

constexpr DType kAllDTypes[] = {DType::kF32,    DType::kF16,    DType::kBF16,
                                DType::kF8E4M3, DType::kF8E5M2, DType::kI8};
constexpr DType kFloatDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

Tensor from_floats(const std::vector<float>& v, int64_t rows, int64_t cols,
                   DType dtype = DType::kF32) {
  Tensor t = Tensor::empty({rows, cols}, DType::kF32);
  std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(float));
  return dtype == DType::kF32 ? t : t.cast_cpu(dtype);
}

std::vector<float> floats(const Tensor& t) {
  Tensor f = t.to_f32_cpu();
  return std::vector<float>(f.data<float>(), f.data<float>() + f.numel());
}

std::vector<int> mask_of(const Tensor& m) {
  const Tensor c = m.contiguous();
  return std::vector<int>(c.data<uint8_t>(), c.data<uint8_t>() + c.numel());
}

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// ---- building blocks ---------------------------------------------------------------------------

TEST(PruneRng, PhiloxKnownAnswers) {
  // Random123's kat_vectors for philox4x32 10: counter (4 words), key (2 words) -> output.
  struct Kat {
    uint32_t c[4], k[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    const detail::Philox4x32Out r =
        detail::philox4x32_10(k.c[0], k.c[1], k.c[2], k.c[3], k.k[0], k.k[1]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
  // The MVUE24 stream's word order: counter = (group lo, group hi, offset lo, offset hi),
  // key = (seed lo, seed hi).
  const detail::Philox4x32Out a =
      detail::mvue24_draw(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  EXPECT_EQ(a.v[0], 0xd16cfe09u);
  EXPECT_EQ(a.v[3], 0x24126ea1u);
}

TEST(PruneRng, UniformsAre24BitAndBelowOne) {
  EXPECT_EQ(detail::uniform_from_bits(0), 0.0f);
  EXPECT_EQ(detail::uniform_from_bits(0xFFu), 0.0f);  // the low 8 bits are dropped
  EXPECT_EQ(detail::uniform_from_bits(0x100u), std::ldexp(1.0f, -24));
  EXPECT_EQ(detail::uniform_from_bits(0xFFFFFFFFu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(detail::uniform_from_bits(0x80000000u), 0.5f);
}

// The host side of the shared arithmetic must not fuse a*b+c even though this test (like the
// library) is built with -march=native, where g++ contracts by default.
TEST(PruneArithmetic, ProductsAreNeverFused) {
  volatile float va = 1.0f + std::ldexp(1.0f, -12), vc = -(1.0f + std::ldexp(1.0f, -11));
  const float a = va, c = vc;
  // a*a = 1 + 2^-11 + 2^-24 rounds (tie to even) to 1 + 2^-11, so the unfused result is 0 while a
  // fused multiply-add keeps the 2^-24.
  EXPECT_EQ(detail::add_rn(detail::mul_rn(a, a), c), 0.0f);
  EXPECT_EQ(std::fma(a, a, c), std::ldexp(1.0f, -24));
}

TEST(PruneArithmetic, DecodeAndKeysMatchTheDTypeRules) {
  // 8-bit floats: every pattern (NaN excluded) decodes like dtype.h, and key order is |value|
  // order.
  for (int b = 0; b < 256; ++b) {
    const float8_e4m3 e4{static_cast<uint8_t>(b)};
    const float8_e5m2 e5{static_cast<uint8_t>(b)};
    if (!std::isnan(e4m3_to_float(e4.bits))) {
      EXPECT_EQ(detail::Elem<float8_e4m3>::decode(e4), e4m3_to_float(e4.bits)) << b;
      EXPECT_LT(detail::Elem<float8_e4m3>::key(e4), detail::Elem<float8_e4m3>::kNanKey) << b;
    } else {
      EXPECT_GE(detail::Elem<float8_e4m3>::key(e4), detail::Elem<float8_e4m3>::kNanKey) << b;
    }
    const float v5 = e5m2_to_float(e5.bits);
    if (!std::isnan(v5)) {
      if (std::isfinite(v5)) {
        EXPECT_EQ(detail::Elem<float8_e5m2>::decode(e5), v5) << b;
      }
      EXPECT_LT(detail::Elem<float8_e5m2>::key(e5), detail::Elem<float8_e5m2>::kNanKey) << b;
      EXPECT_EQ(detail::Elem<float8_e5m2>::key(e5) >= detail::Elem<float8_e5m2>::kInfKey,
                std::isinf(v5))
          << b;
    } else {
      EXPECT_GE(detail::Elem<float8_e5m2>::key(e5), detail::Elem<float8_e5m2>::kNanKey) << b;
    }
    for (int c = 0; c < 256; ++c) {
      const float8_e4m3 f4{static_cast<uint8_t>(c)};
      const float8_e5m2 f5{static_cast<uint8_t>(c)};
      if (!std::isnan(e4m3_to_float(e4.bits)) && !std::isnan(e4m3_to_float(f4.bits))) {
        ASSERT_EQ(detail::Elem<float8_e4m3>::key(e4) < detail::Elem<float8_e4m3>::key(f4),
                  std::fabs(e4m3_to_float(e4.bits)) < std::fabs(e4m3_to_float(f4.bits)))
            << b << " " << c;
      }
      if (!std::isnan(v5) && !std::isnan(e5m2_to_float(f5.bits))) {
        ASSERT_EQ(detail::Elem<float8_e5m2>::key(e5) < detail::Elem<float8_e5m2>::key(f5),
                  std::fabs(v5) < std::fabs(e5m2_to_float(f5.bits)))
            << b << " " << c;
      }
      const int8_t i = static_cast<int8_t>(b), j = static_cast<int8_t>(c);
      ASSERT_EQ(detail::Elem<int8_t>::key(i) < detail::Elem<int8_t>::key(j),
                std::abs(int(i)) < std::abs(int(j)));
    }
  }
  // 16-bit floats: decode is exact and the key is monotone in |value| over all patterns.
  float prev_f16 = -1, prev_bf16 = -1;
  for (uint32_t k = 0; k < 0x8000; ++k) {
    const float16 h{static_cast<uint16_t>(k | 0x8000)};
    const bfloat16 b{static_cast<uint16_t>(k)};
    const float fh = f16_to_float(h.bits), fb = bf16_to_float(b.bits);
    if (k >= detail::Elem<float16>::kNanKey) {
      ASSERT_TRUE(std::isnan(fh)) << k;
    } else {
      ASSERT_EQ(f32_bits(detail::Elem<float16>::decode(h)), f32_bits(fh)) << k;
      ASSERT_EQ(detail::Elem<float16>::key(h), k);
      ASSERT_GT(std::fabs(fh), prev_f16) << k;
      prev_f16 = std::fabs(fh);
    }
    if (k >= detail::Elem<bfloat16>::kNanKey) {
      ASSERT_TRUE(std::isnan(fb)) << k;
    } else {
      ASSERT_EQ(f32_bits(detail::Elem<bfloat16>::decode(b)), f32_bits(fb)) << k;
      ASSERT_GT(fb, prev_bf16) << k;
      prev_bf16 = fb;
    }
  }
}

TEST(PruneArithmetic, NibbleTableMatchesTheFormatRule) {
  for (uint32_t bits = 0; bits < 16; ++bits) {
    if (__builtin_popcount(bits) > 2) continue;
    EXPECT_EQ(detail::nibble_of_nonzeros(bits), detail::nibble_for_nonzeros(bits)) << bits;
  }
}

// ---- magnitude ---------------------------------------------------------------------------------

// Independent reference: rank by (|x| descending, index ascending) with a stable sort in double.
std::vector<int> reference_magnitude_mask(const std::vector<float>& x) {
  std::vector<int> mask(x.size(), 0);
  for (size_t g = 0; g < x.size() / 4; ++g) {
    int order[4] = {0, 1, 2, 3};
    std::stable_sort(order, order + 4, [&](int a, int b) {
      return std::fabs(double(x[4 * g + a])) > std::fabs(double(x[4 * g + b]));
    });
    mask[4 * g + order[0]] = mask[4 * g + order[1]] = 1;
  }
  return mask;
}

TEST(PruneMagnitude, HandMadeGroups) {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float x[4];
    int keep[4];
  };
  const Case cases[] = {
      {{1, -3, 2, 0}, {0, 1, 1, 0}},
      {{2, 2, 2, 2}, {1, 1, 0, 0}},  // all tied: the two lowest indices
      {{1, 3, 3, 3}, {0, 1, 1, 0}},  // three tied for first
      {{5, 1, 5, 1}, {1, 0, 1, 0}},
      {{1, 2, 1, 2}, {0, 1, 0, 1}},
      {{1, -2, 1, 2}, {0, 1, 0, 1}},     // the sign does not matter
      {{0, -0.0f, 0, 0}, {1, 1, 0, 0}},  // -0.0 == 0
      {{-0.0f, 0, 1, 0}, {1, 0, 1, 0}},  // tie among zeros: index 0 (which is -0.0)
      {{0, 0, -0.0f, 7}, {1, 0, 0, 1}},
      {{1, inf, -inf, 2}, {0, 1, 1, 0}},  // Inf is a large magnitude
      {{inf, 1e30f, 0, -inf}, {1, 0, 0, 1}},
      {{1e-45f, 0, 0, -1e-45f}, {1, 0, 0, 1}},  // subnormals beat zeros
  };
  std::vector<float> x;
  std::vector<int> want;
  for (const Case& c : cases)
    for (int i = 0; i < 4; ++i) {
      x.push_back(c.x[i]);
      want.push_back(c.keep[i]);
    }
  const int64_t n = static_cast<int64_t>(std::size(cases));
  EXPECT_EQ(mask_of(mask_magnitude(from_floats(x, n, 4))), want);
  // The same groups as one long row.
  EXPECT_EQ(mask_of(mask_magnitude(from_floats(x, 1, 4 * n))), want);
  // Every dtype on the cases it represents exactly (small integers, zeros): rows 0-8.
  std::vector<float> small(x.begin(), x.begin() + 36);
  std::vector<int> small_want(want.begin(), want.begin() + 36);
  for (DType d : kAllDTypes) {
    EXPECT_EQ(mask_of(mask_magnitude(from_floats(small, 9, 4, d))), small_want) << dtype_name(d);
  }
  // Inf in the dtypes that have it.
  for (DType d : {DType::kF16, DType::kBF16, DType::kF8E5M2}) {
    std::vector<float> xi(x.begin() + 36, x.begin() + 40);
    EXPECT_EQ(mask_of(mask_magnitude(from_floats(xi, 1, 4, d))), std::vector<int>({0, 1, 1, 0}))
        << dtype_name(d);
  }
}

TEST(PruneMagnitude, MatchesReferenceOnRandomInputsWithTies) {
  auto g = test::rng(1);
  for (DType d : kAllDTypes) {
    for (auto shape : {Shape{37, 52}, Shape{1, 4}, Shape{5, 8}, Shape{64, 4096}}) {
      // Integers in [-3, 3]: ties and zeros are everywhere.
      Tensor w = test::random_int(shape, d, g, -3, 3);
      const std::vector<float> x = floats(w);
      const Tensor mask = mask_magnitude(w);
      ASSERT_EQ(mask.dtype(), DType::kU8);
      ASSERT_EQ(mask_of(mask), reference_magnitude_mask(x)) << dtype_name(d) << shape_str(shape);
      // prune_magnitude keeps w's exact bits where the mask is 1 and writes +0 elsewhere.
      const Tensor pruned = prune_magnitude(w);
      Tensor want = Tensor::zeros(w.shape(), d);
      const std::vector<int> m = mask_of(mask);
      for (int64_t i = 0; i < w.numel(); ++i)
        if (m[i])
          std::memcpy(static_cast<char*>(want.raw_data()) + i * w.element_size(),
                      static_cast<const char*>(w.raw_data()) + i * w.element_size(),
                      w.element_size());
      ASSERT_TRUE(test::bit_equal(pruned, want)) << dtype_name(d);
      EXPECT_TRUE(is_24(pruned));
      EXPECT_TRUE(test::bit_equal(apply_mask(w, mask), pruned));
    }
  }
  // Normal values: no ties, the kept magnitude is the largest possible.
  Tensor w = test::random_normal({128, 256}, DType::kF32, g);
  EXPECT_EQ(mask_of(mask_magnitude(w)), reference_magnitude_mask(floats(w)));
}

TEST(PruneMagnitude, NaNIsAnErrorNamingItsPosition) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x(3 * 8, 1.0f);
  x[1 * 8 + 6] = nan;
  x[2 * 8 + 1] = nan;  // a later one: the first in row-major order is named
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2}) {
    const Tensor w = from_floats(x, 3, 8, d);
    S24_EXPECT_ERROR(mask_magnitude(w), kNonFinite, "row 1, column 6");
    S24_EXPECT_ERROR(prune_magnitude(w), kNonFinite, "NaN");
    S24_EXPECT_ERROR(prune_compress(w), kNonFinite, "row 1, column 6");
    S24_EXPECT_ERROR(
        mask_transposable(from_floats(std::vector<float>(x.begin(), x.begin() + 16), 4, 4, d)),
        kNonFinite, "NaN");
  }
  // A negative NaN (sign bit set) too.
  std::vector<float> y(4, 1.0f);
  y[3] = -nan;
  S24_EXPECT_ERROR(mask_magnitude(from_floats(y, 1, 4)), kNonFinite, "row 0, column 3");
}

// ---- explicit masks ----------------------------------------------------------------------------

TEST(PruneMask, AppliesValidMasksAndRejectsBadOnes) {
  auto g = test::rng(2);
  const Tensor w = test::random_int({6, 16}, DType::kF16, g, -5, 5);
  Tensor mask = Tensor::zeros({6, 16}, DType::kU8);
  uint8_t* m = mask.data<uint8_t>();
  // Groups with 0, 1 and 2 ones are all legal.
  for (int64_t i = 0; i < mask.numel(); i += 4) {
    const int kind = static_cast<int>((i / 4) % 3);
    if (kind >= 1) m[i + 1] = 1;
    if (kind == 2) m[i + 3] = 1;
  }
  const Tensor out = apply_mask(w, mask);
  const std::vector<float> wf = floats(w), of = floats(out);
  for (int64_t i = 0; i < w.numel(); ++i) EXPECT_EQ(of[i], m[i] ? wf[i] : 0.0f) << i;
  EXPECT_TRUE(is_24(out));

  Tensor three = mask.clone();
  three.data<uint8_t>()[2 * 16 + 8] = three.data<uint8_t>()[2 * 16 + 9] =
      three.data<uint8_t>()[2 * 16 + 10] = 1;
  S24_EXPECT_ERROR(apply_mask(w, three), kNotTwoFour, "row 2, columns 8..11");
  Tensor two = mask.clone();
  two.data<uint8_t>()[4 * 16 + 5] = 2;
  S24_EXPECT_ERROR(apply_mask(w, two), kInvalidArgument, "mask value 2 at row 4, column 5");
  S24_EXPECT_ERROR(apply_mask(w, Tensor::zeros({6, 16}, DType::kF32)), kDTypeMismatch, "U8");
  S24_EXPECT_ERROR(apply_mask(w, Tensor::zeros({6, 12}, DType::kU8)), kShapeMismatch, "mask");
  S24_EXPECT_ERROR(apply_mask(w, Tensor()), kInvalidArgument, "undefined");
}

// ---- MVUE24 ------------------------------------------------------------------------------------

// The test's own f32 evaluation of the documented MVUE24 group: the keep probabilities p_i and
// the two draws, every operation rounded as docs/FORMAT.md orders them.
struct MvueRef {
  float p[4];
  int first, second;
};
MvueRef reference_mvue_group(const float x[4], float u0, float u1) {
  using detail::add_rn;
  using detail::div_rn;
  using detail::mul_rn;
  MvueRef r{};
  float a[4], rest[4], t[4], k[4];
  for (int i = 0; i < 4; ++i) a[i] = add_rn(std::fabs(x[i]), 1.19209e-07f);
  const float s = add_rn(add_rn(add_rn(a[0], a[1]), a[2]), a[3]);
  // "The sum of the others, increasing index, left to right".
  auto others_sum = [](const float* v, int i) {
    float acc = 0;
    bool first = true;
    for (int j = 0; j < 4; ++j) {
      if (j == i) continue;
      acc = first ? v[j] : add_rn(acc, v[j]);
      first = false;
    }
    return acc;
  };
  for (int i = 0; i < 4; ++i) {
    rest[i] = others_sum(a, i);
    t[i] = div_rn(a[i], s);
    k[i] = div_rn(t[i], rest[i]);
  }
  for (int i = 0; i < 4; ++i) r.p[i] = add_rn(t[i], mul_rn(a[i], others_sum(k, i)));
  const float v0 = mul_rn(u0, s);
  r.first = 3;
  if (v0 < a[0])
    r.first = 0;
  else if (v0 < add_rn(a[0], a[1]))
    r.first = 1;
  else if (v0 < add_rn(add_rn(a[0], a[1]), a[2]))
    r.first = 2;
  std::vector<int> o;
  for (int i = 0; i < 4; ++i)
    if (i != r.first) o.push_back(i);
  const float v1 = mul_rn(u1, rest[r.first]);
  r.second = v1 < a[o[0]] ? o[0] : v1 < add_rn(a[o[0]], a[o[1]]) ? o[1] : o[2];
  return r;
}

TEST(PruneMvue24, FollowsTheDocumentedDrawsAndValuesExactly) {
  auto g = test::rng(3);
  // Wide dynamic range, zeros and -0.0, so small keep probabilities and exact-zero kept values
  // occur.
  Tensor w = test::random_normal({33, 48}, DType::kF32, g);
  float* p = w.data<float>();
  std::uniform_int_distribution<int> pick(0, 9), e(-20, 20);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int k = pick(g);
    if (k == 0) p[i] = 0.0f;
    if (k == 1) p[i] = -0.0f;
    if (k == 2) p[i] = std::ldexp(p[i], e(g));
  }
  const uint64_t seed = g(), offset = g();
  const Tensor out = prune_mvue24(w, seed, offset);
  ASSERT_EQ(out.dtype(), DType::kF32);
  EXPECT_TRUE(is_24(out));
  const float* o = out.data<float>();
  const int64_t groups = 48 / 4;
  for (int64_t r = 0; r < 33; ++r)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const float* x = p + r * 48 + 4 * gi;
      const detail::Philox4x32Out d = detail::mvue24_draw(seed, r * groups + gi, offset);
      const MvueRef ref = reference_mvue_group(x, detail::uniform_from_bits(d.v[0]),
                                               detail::uniform_from_bits(d.v[1]));
      ASSERT_NE(ref.first, ref.second);
      for (int i = 0; i < 4; ++i) {
        const float got = o[r * 48 + 4 * gi + i];
        if (i == ref.first || i == ref.second) {
          ASSERT_EQ(f32_bits(got), f32_bits(x[i] / ref.p[i])) << "row " << r << " group " << gi;
          ASSERT_LE(ref.p[i], 1.0f + 1e-6f) << "p_i is a probability up to rounding";
        } else {
          ASSERT_EQ(f32_bits(got), 0u) << "dropped elements are +0.0";
        }
      }
    }
}

TEST(PruneMvue24, DeterministicPerSeedAndOffsetAndIndependentOfTheShape) {
  auto g = test::rng(4);
  const Tensor w = test::random_normal({16, 64}, DType::kF32, g);
  const uint64_t seed = g();
  const Tensor a = prune_mvue24(w, seed, 7);
  EXPECT_TRUE(test::bit_equal(a, prune_mvue24(w, seed, 7)));
  EXPECT_FALSE(test::bit_equal(a, prune_mvue24(w, seed + 1, 7)));
  EXPECT_FALSE(test::bit_equal(a, prune_mvue24(w, seed, 8)));
  EXPECT_FALSE(test::bit_equal(a, prune_mvue24(w, seed ^ (uint64_t{1} << 40), 7)));  // high word
  EXPECT_FALSE(test::bit_equal(a, prune_mvue24(w, seed, 7 + (uint64_t{1} << 33))));
  // The counter is the row-major group index: the same data as one long row draws the same.
  EXPECT_TRUE(test::bit_equal(prune_mvue24(w.view({1, 16 * 64}), seed, 7).view({16, 64}), a));
  // A strided (transposed) view is pruned like its contiguous copy.
  const Tensor wt = w.t();
  EXPECT_TRUE(test::bit_equal(prune_mvue24(wt, seed, 7), prune_mvue24(wt.contiguous(), seed, 7)));
}

TEST(PruneMvue24, HalfPrecisionRoundsTheF32ResultOnce) {
  auto g = test::rng(5);
  for (DType d : {DType::kF16, DType::kBF16}) {
    const Tensor w = test::random_normal({24, 40}, d, g);
    const uint64_t seed = g();
    const Tensor got = prune_mvue24(w, seed, 3);
    // Draws depend only on the decoded values, so the f32 run on the decoded matrix keeps the
    // same positions; its values rounded once to the dtype must be the dtype run's bits.
    const Tensor want = prune_mvue24(w.to_f32_cpu(), seed, 3).cast_cpu(d);
    EXPECT_TRUE(test::bit_equal(got, want)) << dtype_name(d);
  }
}

// E[out_i] = x_i. Each draw's out_i is x_i / p_i with probability p_i and 0 otherwise, so
// Var(out_i) = x_i^2 (1/p_i - 1) and the mean of N independent draws (different seeds) has standard
// deviation sigma_i = |x_i| sqrt((1/p_i - 1) / N). Per element: |mean - x_i| <= 5 sigma_i +
// 1e-6 |x_i| (the second term covers the few-ulp f32 rounding of p_i and the 2^-24 resolution of
// the draws); with 256 elements a false alarm has probability below 256 * 5.8e-7.
// Pooled: z_i = (mean_i - x_i) / sigma_i has mean 0 and variance 1; the four z of a group may be
// correlated, but by Cauchy-Schwarz the mean of n = 4G of them has variance at most 1/G, so
// |mean z| <= 5 / sqrt(G). That catches a systematic bias of a fraction of sigma (a 1% error in
// p_i gives mean z near 1.4 here), which the per-element check alone would miss.
// The empirical keep frequency must also match p_i within 5 binomial standard deviations.
TEST(PruneMvue24, IsUnbiased) {
  auto g = test::rng(6);
  const int64_t groups = 64, cols = 4 * groups;
  Tensor w = test::random_normal({1, cols}, DType::kF32, g);
  float* x = w.data<float>();
  // Make some groups lopsided (tiny next to large) and one hold an exact zero.
  x[0] = 1e-3f;
  x[1] = 5.0f;
  x[5] = 0.0f;
  x[8] = x[9] = x[10] = x[11] = 0.7f;
  const int draws = 20000;
  std::vector<double> sum(cols, 0.0), kept(cols, 0.0);
  const uint64_t base = g();
  for (int n = 0; n < draws; ++n) {
    const Tensor out = prune_mvue24(w, base + static_cast<uint64_t>(n), 0);
    const float* o = out.data<float>();
    for (int64_t i = 0; i < cols; ++i) {
      sum[i] += o[i];
      kept[i] += o[i] != 0.0f;
    }
  }
  double z_sum = 0;
  int z_count = 0;
  for (int64_t gi = 0; gi < groups; ++gi) {
    // p_i in double from the definition.
    double a[4], s = 0;
    for (int i = 0; i < 4; ++i) s += a[i] = std::fabs(double(x[4 * gi + i])) + 1.19209e-07;
    double kk = 0, k[4];
    for (int i = 0; i < 4; ++i) kk += k[i] = a[i] / s / (s - a[i]);
    for (int i = 0; i < 4; ++i) {
      const int64_t e = 4 * gi + i;
      const double p = a[i] / s + a[i] * (kk - k[i]);
      const double xi = x[e];
      const double sigma = std::fabs(xi) * std::sqrt(std::max(0.0, 1.0 / p - 1.0) / draws);
      EXPECT_NEAR(sum[e] / draws, xi, 5 * sigma + 1e-6 * std::fabs(xi))
          << "element " << e << " p=" << p;
      if (sigma > 0) {
        z_sum += (sum[e] / draws - xi) / sigma;
        ++z_count;
      }
      if (xi != 0.0) {
        const double freq_sigma = std::sqrt(p * (1 - p) / draws);
        EXPECT_NEAR(kept[e] / draws, p, 5 * freq_sigma + 1e-6) << "element " << e;
      }
    }
  }
  ASSERT_GT(z_count, 3 * groups);
  EXPECT_LE(std::fabs(z_sum / z_count), 5.0 / std::sqrt(double(groups))) << "systematic bias";
}

TEST(PruneMvue24, RejectsNonFiniteInputsAndOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x(8, 1.0f);
  x[5] = inf;
  S24_EXPECT_ERROR(prune_mvue24(from_floats(x, 2, 4), 1), kNonFinite, "Inf at row 1, column 1");
  x[5] = std::nanf("");
  S24_EXPECT_ERROR(prune_mvue24(from_floats(x, 2, 4, DType::kBF16), 1), kNonFinite,
                   "NaN at row 1, column 1");
  std::vector<float> big = {3e38f, 3e38f, 1, 1};
  S24_EXPECT_ERROR(prune_mvue24(from_floats(big, 1, 4), 1), kNonFinite, "overflows");
  S24_EXPECT_ERROR(prune_mvue24(Tensor::zeros({4, 4}, DType::kI8), 1), kDTypeMismatch, "F32");
  S24_EXPECT_ERROR(prune_mvue24(Tensor::zeros({4, 4}, DType::kF8E4M3), 1), kDTypeMismatch, "F32");
}

// ---- transposable ------------------------------------------------------------------------------

// The documented order, generated independently: rows choose one of the pairs (0,1) (0,2) (0,3)
// (1,2) (1,3) (2,3); tuples in lexicographic order; kept when every column is used twice.
std::vector<std::array<int, 4>> reference_patterns() {
  const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  std::vector<std::array<int, 4>> out;
  for (int a = 0; a < 6; ++a)
    for (int b = 0; b < 6; ++b)
      for (int c = 0; c < 6; ++c)
        for (int d = 0; d < 6; ++d) {
          int col[4] = {0, 0, 0, 0};
          for (int p : {a, b, c, d}) {
            ++col[pairs[p][0]];
            ++col[pairs[p][1]];
          }
          if (col[0] == 2 && col[1] == 2 && col[2] == 2 && col[3] == 2) out.push_back({a, b, c, d});
        }
  return out;
}

TEST(PruneTransposable, PatternTableIsTheNinetyInOrder) {
  const auto ref = reference_patterns();
  ASSERT_EQ(ref.size(), 90u);
  // Brute force over all 2^16 0/1 matrices: exactly 90 have two ones in every row and column.
  int count = 0;
  std::set<uint32_t> all;
  for (uint32_t m = 0; m < (1u << 16); ++m) {
    bool ok = true;
    for (int r = 0; r < 4; ++r) ok = ok && __builtin_popcount((m >> (4 * r)) & 0xF) == 2;
    for (int c = 0; c < 4; ++c) {
      int n = 0;
      for (int r = 0; r < 4; ++r) n += (m >> (4 * r + c)) & 1;
      ok = ok && n == 2;
    }
    if (ok) {
      ++count;
      all.insert(m);
    }
  }
  EXPECT_EQ(count, 90);
  constexpr detail::TransposablePatterns table = detail::make_transposable_patterns();
  static_assert(table.count == 90);
  std::set<uint32_t> seen;
  const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  for (int n = 0; n < 90; ++n) {
    uint32_t m = 0;
    for (int r = 0; r < 4; ++r) {
      const int p = (table.packed[n] >> (3 * r)) & 7;
      EXPECT_EQ(p, ref[n][r]) << "pattern " << n << " row " << r;
      const uint32_t bits = detail::pattern_row_bits(table.packed[n], r);
      EXPECT_EQ(bits, (1u << pairs[p][0]) | (1u << pairs[p][1]));
      m |= bits << (4 * r);
    }
    EXPECT_TRUE(all.count(m)) << n;
    seen.insert(m);
  }
  EXPECT_EQ(seen.size(), 90u) << "patterns are distinct";
}

// Brute force: the first pattern (documented order) whose score, summed as documented, is the
// largest; also checks that score is the true maximum in double.
std::vector<int> reference_transposable_mask(const std::vector<float>& x, int64_t rows,
                                             int64_t cols) {
  const auto pats = reference_patterns();
  const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
  std::vector<int> mask(x.size(), 0);
  for (int64_t br = 0; br < rows / 4; ++br)
    for (int64_t bc = 0; bc < cols / 4; ++bc) {
      auto m = [&](int r, int c) { return std::fabs(x[(4 * br + r) * cols + 4 * bc + c]); };
      int best = -1;
      float best_score = -1;
      double best_double = -1;
      for (int n = 0; n < 90; ++n) {
        float s[4];
        double sd = 0;
        for (int r = 0; r < 4; ++r) {
          const int* p = pairs[pats[n][r]];
          s[r] = m(r, p[0]) + m(r, p[1]);
          sd += double(m(r, p[0])) + double(m(r, p[1]));
        }
        const float score = ((s[0] + s[1]) + s[2]) + s[3];
        if (score > best_score) {
          best_score = score;
          best = n;
        }
        best_double = std::max(best_double, sd);
      }
      // float rounding can only blur near-ties; the pick is within a few ulps of the optimum
      EXPECT_GE(double(best_score), best_double * (1 - 1e-6));
      for (int r = 0; r < 4; ++r) {
        const int* p = pairs[pats[best][r]];
        mask[(4 * br + r) * cols + 4 * bc + p[0]] = mask[(4 * br + r) * cols + 4 * bc + p[1]] = 1;
      }
    }
  return mask;
}

bool is_24_both_ways(const Tensor& dense) { return is_24(dense) && is_24(dense.t().contiguous()); }

TEST(PruneTransposable, MatchesBruteForceAndIsTwoFourBothWays) {
  auto g = test::rng(7);
  for (DType d : kAllDTypes) {
    for (auto shape : {Shape{4, 4}, Shape{12, 20}, Shape{64, 128}}) {
      for (int kind = 0; kind < 2; ++kind) {
        const Tensor w = kind == 0 ? test::random_int(shape, d, g, -3, 3)  // ties everywhere
                                   : test::random_normal(shape, d, g);
        const std::vector<float> x = floats(w);
        const Tensor mask = mask_transposable(w);
        ASSERT_EQ(mask_of(mask), reference_transposable_mask(x, shape[0], shape[1]))
            << dtype_name(d) << shape_str(shape) << " kind " << kind;
        const Tensor pruned = apply_mask(w, mask);
        EXPECT_TRUE(is_24_both_ways(pruned));
        // Every row and column of every block keeps exactly two.
        const std::vector<int> m = mask_of(mask);
        for (int64_t r = 0; r < shape[0]; ++r)
          for (int64_t c = 0; c < shape[1]; c += 4)
            ASSERT_EQ(m[r * shape[1] + c] + m[r * shape[1] + c + 1] + m[r * shape[1] + c + 2] +
                          m[r * shape[1] + c + 3],
                      2);
        for (int64_t c = 0; c < shape[1]; ++c)
          for (int64_t r = 0; r < shape[0]; r += 4)
            ASSERT_EQ(m[r * shape[1] + c] + m[(r + 1) * shape[1] + c] + m[(r + 2) * shape[1] + c] +
                          m[(r + 3) * shape[1] + c],
                      2);
        // The compressed transpose exists (format.h's transpose needs 2:4 along columns).
        EXPECT_NO_THROW(transpose(compress(pruned)));
      }
    }
  }
  // All equal: pattern 0 of the order, rows (0,1) (0,1) (2,3) (2,3).
  const Tensor ones = from_floats(std::vector<float>(16, 1.0f), 4, 4);
  EXPECT_EQ(mask_of(mask_transposable(ones)),
            std::vector<int>({1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1}));
  S24_EXPECT_ERROR(mask_transposable(Tensor::zeros({6, 8}, DType::kF32)), kAlignment,
                   "row count 6");
  S24_EXPECT_ERROR(prune_compress(Tensor::zeros({6, 8}, DType::kF32), {PruneMethod::kTransposable}),
                   kAlignment, "multiple of 4");
}

// ---- soft threshold ----------------------------------------------------------------------------

TEST(PruneSoftThreshold, HandExamplesAndScale) {
  const std::vector<float> x = {
      1,     -3, 2,    0.5f,   // t = 1: -3 -> -2, 2 -> 1
      4,     4,  4,    4,      // t = 4: kept (0,1) become +0
      -1,    0,  0,    5,      // t = 0: kept 5 and -1 unchanged
      2,     -2, 1,    -1,     // t = 1: (0,1) -> 1, -1
      -0.0f, 0,  0,    0,      // all zero
      0.25f, -8, 0.5f, 0.75f,  // t = 0.5: -8 -> -7.5, 0.75 -> 0.25
  };
  const std::vector<float> want = {0, -2, 1, 0, 0, 0, 0, 0, -1, 0,     0, 5,
                                   1, -1, 0, 0, 0, 0, 0, 0, 0,  -7.5f, 0, 0.25f};
  for (DType d : kFloatDTypes) {
    const Tensor w = from_floats(x, 6, 4, d);
    const Tensor s = soft_threshold24(w);
    EXPECT_EQ(floats(s), want) << dtype_name(d);
    EXPECT_TRUE(is_24(s));
    // beta = <w, S> / <S, S>
    double dot = 0, norm = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      dot += double(x[i]) * want[i];
      norm += double(want[i]) * want[i];
    }
    EXPECT_EQ(soft_threshold_scale(w, s), dot / norm) << dtype_name(d);
  }
  // Hand value: rows 0 and 3 only: w.S = (-3)(-2) + 2*1 + 2*1 + (-2)(-1) = 12,
  // S.S = 4 + 1 + 1 + 1 = 7.
  const std::vector<float> rows03 = {1, -3, 2, 0.5f, 2, -2, 1, -1};
  const Tensor w03 = from_floats(rows03, 2, 4);
  EXPECT_DOUBLE_EQ(soft_threshold_scale(w03, soft_threshold24(w03)), 12.0 / 7.0);
  // S(w) == 0: the scale is 1.
  const Tensor flat = from_floats({3, 3, 3, 3}, 1, 4);
  EXPECT_EQ(soft_threshold_scale(flat, soft_threshold24(flat)), 1.0);
}

TEST(PruneSoftThreshold, RandomMatchesDefinition) {
  auto g = test::rng(8);
  for (DType d : kFloatDTypes) {
    const Tensor w = test::random_normal({32, 64}, d, g);
    const std::vector<float> x = floats(w);
    const Tensor s = soft_threshold24(w);
    const std::vector<float> got = floats(s);
    const std::vector<int> keep = reference_magnitude_mask(x);
    double dot = 0, norm = 0;
    for (size_t gi = 0; gi < x.size() / 4; ++gi) {
      float mags[4];
      for (int i = 0; i < 4; ++i) mags[i] = std::fabs(x[4 * gi + i]);
      std::sort(mags, mags + 4);
      const float t = mags[1];
      for (int i = 0; i < 4; ++i) {
        const size_t e = 4 * gi + i;
        const float v = keep[e] ? std::copysign(std::fabs(x[e]) - t, x[e]) : 0.0f;
        const float rounded = floats(from_floats({v, 0, 0, 0}, 1, 4, d))[0];
        ASSERT_EQ(f32_bits(got[e]), f32_bits(rounded)) << dtype_name(d) << " element " << e;
        dot += double(x[e]) * got[e];
        norm += double(got[e]) * got[e];
      }
    }
    EXPECT_NEAR(soft_threshold_scale(w, s), dot / norm, 1e-12 * std::fabs(dot / norm));
  }
  S24_EXPECT_ERROR(
      soft_threshold24(from_floats({1, std::numeric_limits<float>::infinity(), 0, 0}, 1, 4)),
      kNonFinite, "Inf at row 0, column 1");
  S24_EXPECT_ERROR(soft_threshold24(Tensor::zeros({1, 4}, DType::kI8)), kDTypeMismatch, "F32");
  S24_EXPECT_ERROR(
      soft_threshold_scale(Tensor::zeros({4, 4}, DType::kF32), Tensor::zeros({4, 8}, DType::kF32)),
      kShapeMismatch, "thresholded");
}

// ---- masked decay ------------------------------------------------------------------------------

TEST(PruneMaskedDecay, ExactOnSmallIntegers) {
  auto g = test::rng(9);
  for (DType gd : kFloatDTypes)
    for (DType wd : kFloatDTypes) {
      Tensor grad = test::random_int({8, 12}, gd, g, -8, 8);
      const Tensor w = test::random_int({8, 12}, wd, g, -8, 8);
      Tensor mask = Tensor::empty({8, 12}, DType::kU8);
      std::uniform_int_distribution<int> bit(0, 1);
      for (int64_t i = 0; i < mask.numel(); ++i)
        mask.data<uint8_t>()[i] = static_cast<uint8_t>(bit(g));
      const std::vector<float> g0 = floats(grad), wf = floats(w);
      const Tensor before = grad.clone();
      masked_decay_(grad, w, mask, 0.25f);
      const std::vector<float> g1 = floats(grad);
      for (int64_t i = 0; i < grad.numel(); ++i) {
        const float want = mask.data<uint8_t>()[i] ? g0[i] : g0[i] + 0.25f * wf[i];  // exact
        ASSERT_EQ(g1[i], want) << dtype_name(gd) << "/" << dtype_name(wd) << " element " << i;
      }
      // Kept positions keep their exact bits.
      for (int64_t i = 0; i < grad.numel(); ++i) {
        if (!mask.data<uint8_t>()[i]) continue;
        ASSERT_EQ(std::memcmp(static_cast<char*>(grad.raw_data()) + i * grad.element_size(),
                              static_cast<const char*>(before.raw_data()) + i * grad.element_size(),
                              grad.element_size()),
                  0);
      }
    }
}

TEST(PruneMaskedDecay, RoundsOnceFromF32) {
  // f16 grad 1.0, w = 1, alpha = 2^-11 + 2^-13: the f32 sum 1 + 2^-11 + 2^-13 lies above the
  // halfway point between the f16 neighbours 1 and 1 + 2^-10, so it rounds up.
  const float alpha = std::ldexp(1.0f, -11) + std::ldexp(1.0f, -13);
  Tensor grad = from_floats({1, 1, 1, 1}, 1, 4, DType::kF16);
  const Tensor w = from_floats({1, 1, 1, 1}, 1, 4, DType::kF16);
  Tensor mask = Tensor::zeros({1, 4}, DType::kU8);
  masked_decay_(grad, w, mask, alpha);
  EXPECT_EQ(floats(grad)[0], 1.0f + std::ldexp(1.0f, -10));
  // An Inf weight under a kept mask does not touch grad (no 0 * Inf).
  Tensor g2 = from_floats({1, 2, 3, 4}, 1, 4);
  const Tensor w2 = from_floats({std::numeric_limits<float>::infinity(), 1, 1, 1}, 1, 4);
  Tensor m2 = Tensor::zeros({1, 4}, DType::kU8);
  m2.data<uint8_t>()[0] = 1;
  masked_decay_(g2, w2, m2, 0.5f);
  EXPECT_EQ(floats(g2), std::vector<float>({1, 2.5f, 3.5f, 4.5f}));
}

TEST(PruneMaskedDecay, BadInputsLeaveGradUntouched) {
  Tensor grad = Tensor::zeros({2, 8}, DType::kF32);
  const Tensor w = Tensor::zeros({2, 8}, DType::kF32);
  Tensor mask = Tensor::zeros({2, 8}, DType::kU8);
  mask.data<uint8_t>()[9] = 3;
  grad.data<float>()[0] = 5;
  S24_EXPECT_ERROR(masked_decay_(grad, w, mask, 1.0f), kInvalidArgument,
                   "mask value 3 at row 1, column 1");
  EXPECT_EQ(grad.data<float>()[0], 5.0f);
  Tensor ok_mask = Tensor::zeros({2, 8}, DType::kU8);
  S24_EXPECT_ERROR(masked_decay_(grad, Tensor::zeros({2, 4}, DType::kF32), ok_mask, 1.0f),
                   kShapeMismatch, "gradient");
  Tensor gi8 = Tensor::zeros({2, 8}, DType::kI8);
  S24_EXPECT_ERROR(masked_decay_(gi8, w, ok_mask, 1.0f), kDTypeMismatch, "F32");
  S24_EXPECT_ERROR(masked_decay_(grad, w, ok_mask, std::nanf("")), kInvalidArgument, "alpha");
  S24_EXPECT_ERROR(masked_decay_(grad, w, Tensor::zeros({2, 8}, DType::kF32), 1.0f), kDTypeMismatch,
                   "U8");
}

// ---- prune_compress ----------------------------------------------------------------------------

TEST(PruneCompress, EqualsCompressOfThePrunedMatrixBitForBit) {
  auto g = test::rng(10);
  const Shape shapes[] = {{1, 4}, {3, 12}, {8, 8}, {4, 20}, {17, 36}, {64, 256}, {0, 8}};
  for (const Shape& shape : shapes) {
    for (DType d : kAllDTypes) {
      const bool float_dtype = d == DType::kF32 || d == DType::kF16 || d == DType::kBF16;
      // Small integers: ties, zeros and groups with fewer than two nonzeros (completion rule).
      const Tensor w = test::random_int(shape, d, g, -2, 2);
      const std::string what = std::string(dtype_name(d)) + shape_str(shape);
      auto same = [&](const Compressed24& a, const Compressed24& b, const char* method) {
        EXPECT_TRUE(test::bit_equal(a.values, b.values)) << what << " " << method;
        EXPECT_TRUE(test::bit_equal(a.meta, b.meta)) << what << " " << method;
        EXPECT_EQ(a.rows, b.rows);
        EXPECT_EQ(a.cols, b.cols);
        EXPECT_NO_THROW(validate(a));
      };
      same(prune_compress(w), compress(prune_magnitude(w)), "magnitude");
      if (shape[0] % 4 == 0)
        same(prune_compress(w, {PruneMethod::kTransposable}),
             compress(apply_mask(w, mask_transposable(w))), "transposable");
      if (float_dtype) {
        const uint64_t seed = g();
        same(prune_compress(w, {PruneMethod::kMVUE24, seed, 5}), compress(prune_mvue24(w, seed, 5)),
             "mvue24");
        const Tensor wn = test::random_normal(shape, d, g);
        same(prune_compress(wn, {PruneMethod::kMVUE24, seed, 5}),
             compress(prune_mvue24(wn, seed, 5)), "mvue24 normal");
        same(prune_compress(w, {PruneMethod::kSoftThreshold}), compress(soft_threshold24(w)),
             "ste");
        same(prune_compress(wn, {PruneMethod::kSoftThreshold}), compress(soft_threshold24(wn)),
             "ste normal");
      } else {
        S24_EXPECT_ERROR(prune_compress(w, {PruneMethod::kMVUE24}), kDTypeMismatch, "F32");
      }
      // And back: decompress gives the pruned matrix (dropped zeros as +0).
      EXPECT_TRUE(test::bit_equal(decompress(prune_compress(w)), prune_magnitude(w))) << what;
    }
  }
}

// ---- bad inputs and names ----------------------------------------------------------------------

TEST(PruneBadInput, ClearErrors) {
  S24_EXPECT_ERROR(mask_magnitude(Tensor::zeros({16}, DType::kF32)), kShapeMismatch, "2-d");
  S24_EXPECT_ERROR(prune_magnitude(Tensor::zeros({2, 2, 4}, DType::kF32)), kShapeMismatch, "2-d");
  S24_EXPECT_ERROR(prune_magnitude(Tensor::zeros({4, 6}, DType::kF16)), kAlignment,
                   "multiple of 4");
  S24_EXPECT_ERROR(prune_compress(Tensor::zeros({4, 10}, DType::kF16)), kAlignment,
                   "column count 10");
  S24_EXPECT_ERROR(mask_magnitude(Tensor::zeros({4, 8}, DType::kU8)), kDTypeMismatch, "U8");
  S24_EXPECT_ERROR(prune_magnitude(Tensor::zeros({4, 8}, DType::kI32)), kDTypeMismatch, "I32");
  S24_EXPECT_ERROR(prune_mvue24(Tensor(), 0), kInvalidArgument, "undefined");
  S24_EXPECT_ERROR(parse_prune_method("wanda"), kInvalidArgument, "wanda");
  for (PruneMethod m : {PruneMethod::kMagnitude, PruneMethod::kMVUE24, PruneMethod::kTransposable,
                        PruneMethod::kSoftThreshold})
    EXPECT_EQ(parse_prune_method(prune_method_name(m)), m);
#if !S24_WITH_CUDA
  // A CUDA tensor in a CPU-only build: kUnsupported, not a crash (the pointer is never read).
  float dummy[16] = {};
  const Tensor on_gpu = Tensor::borrow(dummy, {4, 4}, DType::kF32, Device::cuda());
  S24_EXPECT_ERROR(prune_magnitude(on_gpu), kUnsupported, "CUDA");
  S24_EXPECT_ERROR(prune_compress(on_gpu, {PruneMethod::kMVUE24}), kUnsupported, "CUDA");
  S24_EXPECT_ERROR(mask_transposable(on_gpu), kUnsupported, "CUDA");
#endif
}

TEST(PruneBadInput, EmptyMatricesAreFine) {
  const Tensor w = Tensor::zeros({0, 16}, DType::kF16);
  EXPECT_EQ(prune_magnitude(w).shape(), Shape({0, 16}));
  EXPECT_EQ(mask_transposable(w).shape(), Shape({0, 16}));
  const Compressed24 c = prune_compress(w, {PruneMethod::kMVUE24, 1, 0});
  EXPECT_EQ(c.values.shape(), Shape({0, 8}));
  const Tensor w0 = Tensor::zeros({3, 0}, DType::kF32);
  EXPECT_EQ(prune_compress(w0).meta.shape(), Shape({3, 0}));
}

}  // namespace
}  // namespace s24
