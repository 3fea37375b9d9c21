#include <cmath>
#include <cstring>
#include <limits>

#include "common/test_util.h"
#include "core/json.h"
#include "core/parallel.h"

namespace s24 {
namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(DType, F16KnownPatterns) {
  EXPECT_EQ(float_to_f16(0.0f), 0x0000);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);  // below the halfway point to 65536
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);  // halfway: ties to even = Inf
  EXPECT_EQ(float_to_f16(INFINITY), 0x7C00);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -24)), 0x0001);       // smallest subnormal
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);       // half of it: tie to even 0
  EXPECT_EQ(float_to_f16(std::ldexp(1.5f, -25)), 0x0001);       // above the tie
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);       // 1.5 ulp: tie to even 2
  EXPECT_EQ(float_to_f16(std::ldexp(1023.5f, -24)), 0x0400);    // rounds up into the normals
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie: even stays
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie: odd rounds up
  EXPECT_EQ(float_to_f16(2047.5f), 0x6800);                       // carry into the exponent
  uint16_t nan = float_to_f16(NAN);
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_EQ(f16_to_float(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_float(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_float(0xFC00)) && f16_to_float(0xFC00) < 0);
  EXPECT_TRUE(std::isnan(f16_to_float(0x7E00)));
}

TEST(DType, F16RoundTripAllPatterns) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_f16(f), h) << std::hex << h;
  }
}

TEST(DType, BF16KnownPatterns) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3F808000)), 0x3F80);  // tie, even kept
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(bits_to_float(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(float_to_bf16(bits_to_float(0x7F7FFFFF)), 0x7F80);  // overflow to Inf
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16(f), b);
  }
}

TEST(DType, E4M3KnownPatterns) {
  EXPECT_EQ(float_to_e4m3(1.0f), 0x38);
  EXPECT_EQ(float_to_e4m3(448.0f), 0x7E);
  EXPECT_EQ(float_to_e4m3(1000.0f), 0x7E);    // saturates
  EXPECT_EQ(float_to_e4m3(INFINITY), 0x7E);   // satfinite
  EXPECT_EQ(float_to_e4m3(-INFINITY), 0xFE);
  EXPECT_EQ(float_to_e4m3(NAN) & 0x7F, 0x7F);
  EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -9)), 0x01);  // smallest subnormal
  EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -10)), 0x00);  // tie to even 0
  EXPECT_EQ(float_to_e4m3(1.0625f), 0x38);  // tie between 1 and 1.125: even (1.0)
  EXPECT_EQ(float_to_e4m3(1.1875f), 0x3A);  // tie between 1.125 and 1.25: even (1.25)
  EXPECT_EQ(e4m3_to_float(0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xFF)));
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  for (int b = 0; b < 256; ++b) {
    const float f = e4m3_to_float(static_cast<uint8_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_e4m3(f), b) << b;
  }
}

TEST(DType, E5M2KnownPatterns) {
  EXPECT_EQ(float_to_e5m2(1.0f), 0x3C);
  EXPECT_EQ(float_to_e5m2(57344.0f), 0x7B);
  EXPECT_EQ(float_to_e5m2(1e6f), 0x7B);
  EXPECT_EQ(float_to_e5m2(INFINITY), 0x7B);  // satfinite
  EXPECT_TRUE(std::isinf(e5m2_to_float(0x7C)));
  EXPECT_TRUE(std::isnan(e5m2_to_float(0x7F)));
  EXPECT_EQ(e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  for (int b = 0; b < 256; ++b) {
    const float f = e5m2_to_float(static_cast<uint8_t>(b));
    if (std::isnan(f) || std::isinf(f)) continue;
    ASSERT_EQ(float_to_e5m2(f), b) << b;
  }
}

TEST(DType, Int8) {
  EXPECT_EQ(float_to_i8(2.5f), 2);
  EXPECT_EQ(float_to_i8(3.5f), 4);
  EXPECT_EQ(float_to_i8(-2.5f), -2);
  EXPECT_EQ(float_to_i8(300.0f), 127);
  EXPECT_EQ(float_to_i8(-300.0f), -128);
  EXPECT_EQ(float_to_i8(NAN), 0);
}

TEST(DType, Names) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2,
                  DType::kI8, DType::kU8, DType::kI32, DType::kI64})
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  S24_EXPECT_ERROR(parse_dtype("F64"), kDTypeMismatch, "F64");
}

TEST(Tensor, BasicsAndCopies) {
  auto g = test::rng(1);
  Tensor a = test::random_int({3, 5}, DType::kF32, g);
  EXPECT_TRUE(a.is_contiguous());
  EXPECT_EQ(a.numel(), 15);
  Tensor t = a.t();
  EXPECT_FALSE(t.is_contiguous());
  Tensor tc = t.contiguous();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(tc.data<float>()[i * 3 + j], a.data<float>()[j * 5 + i]);
  Tensor h = a.cast_cpu(DType::kF16);
  EXPECT_TRUE(test::bit_equal(h.to_f32_cpu(), a));
  S24_EXPECT_ERROR(a.data<float16>(), kDTypeMismatch, "F32");
  S24_EXPECT_ERROR(a.view({4, 4}), kShapeMismatch, "[4, 4]");
  S24_EXPECT_ERROR(Tensor::empty({-1, 2}, DType::kF32), kInvalidArgument, "negative");
  EXPECT_TRUE(Tensor::empty({5, 0}, DType::kF32).is_contiguous());
  EXPECT_TRUE(Tensor::empty({0, 3}, DType::kF32).t().is_contiguous());
  Tensor rows = a.slice_rows(1, 3);
  EXPECT_EQ(rows.data<float>()[0], a.data<float>()[5]);
}

TEST(Tensor, CudaRequestFailsCleanlyWithoutCuda) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; covered by the gpu suite";
  S24_EXPECT_ERROR(Tensor::empty({4}, DType::kF32, Device::cuda()), kUnsupported, "");
}

TEST(Parallel, CoversRangeOnceAndPropagatesErrors) {
  std::vector<int> hits(10007, 0);
  detail::parallel_for(0, 10007, 13, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) ASSERT_EQ(h, 1);
  EXPECT_THROW(detail::parallel_for(0, 1000, 1,
                                    [](int64_t b, int64_t) {
                                      if (b > 500) throw std::runtime_error("boom");
                                    }),
               std::runtime_error);
}

TEST(Json, ParsesAndRejects) {
  Json j = Json::parse(R"({"a": [1, 2.5, "x\u00e9\ud83d\ude00"], "b": {"c": null, "d": true},
                          "big": 9007199254740993})");
  EXPECT_EQ(j.at("a").as_array()[0].as_int64(), 1);
  EXPECT_EQ(j.at("a").as_array()[1].as_number(), 2.5);
  EXPECT_EQ(j.at("a").as_array()[2].as_string(), "x\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(j.at("b").at("c").is_null());
  EXPECT_EQ(j.at("big").as_int64(), 9007199254740993LL);  // exact beyond 2^53
  EXPECT_EQ(Json::parse(j.dump()).dump(), j.dump());
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "01", "1 2",
                          "{\"a\" 1}", "nul", "\"\x01\"", "[1e999]"})
    S24_EXPECT_ERROR(Json::parse(bad), kCorruptFile, "");
  std::string deep(100, '[');
  S24_EXPECT_ERROR(Json::parse(deep), kCorruptFile, "nesting");
  S24_EXPECT_ERROR(j.at("zz"), kCorruptFile, "zz");
  S24_EXPECT_ERROR(j.at("a").as_string(), kCorruptFile, "array");
}

}  // namespace
}  // namespace s24
