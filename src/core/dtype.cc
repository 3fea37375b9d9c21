#include "sparse24/dtype.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/check.h"

namespace s24 {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A small binary float format: 1 sign bit, kExp exponent bits, kMant mantissa bits.
struct MiniFloat {
  int exp_bits;
  int mant_bits;
  int bias;
  float max_finite;
  uint8_t nan_code;  // without sign
};
constexpr MiniFloat kE4M3{4, 3, 7, 448.0f, 0x7F};
constexpr MiniFloat kE5M2{5, 2, 15, 57344.0f, 0x7F};

float mini_to_float(const MiniFloat& fmt, uint8_t bits, bool has_inf) {
  const bool neg = bits & 0x80;
  const int exp_field = (bits >> fmt.mant_bits) & ((1 << fmt.exp_bits) - 1);
  const int mant = bits & ((1 << fmt.mant_bits) - 1);
  const int exp_max = (1 << fmt.exp_bits) - 1;
  float v;
  if (has_inf && exp_field == exp_max) {  // e5m2: IEEE-like specials
    v = mant == 0 ? INFINITY : NAN;
  } else if (!has_inf && exp_field == exp_max && mant == (1 << fmt.mant_bits) - 1) {  // e4m3fn NaN
    v = NAN;
  } else if (exp_field == 0) {
    v = std::ldexp(static_cast<float>(mant), 1 - fmt.bias - fmt.mant_bits);
  } else {
    v = std::ldexp(1.0f + std::ldexp(static_cast<float>(mant), -fmt.mant_bits),
                   exp_field - fmt.bias);
  }
  return neg ? -v : v;
}

// Round to nearest even, then saturate to +-max_finite (Inf too); NaN -> NaN (PTX satfinite).
uint8_t float_to_mini(const MiniFloat& fmt, float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  if (std::isnan(f)) return sign | fmt.nan_code;
  float a = std::fabs(f);
  const int emin = 1 - fmt.bias;  // exponent of the smallest normal
  if (a >= fmt.max_finite) a = fmt.max_finite;
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1): unbiased exponent is e - 1
  int exponent = a == 0.0f ? emin : e - 1;
  if (exponent < emin) exponent = emin;
  // a / quantum is exact (power-of-two scaling); nearbyint rounds to nearest even.
  const float q = std::nearbyint(std::ldexp(a, fmt.mant_bits - exponent));
  float v = std::ldexp(q, exponent - fmt.mant_bits);
  if (v > fmt.max_finite) v = fmt.max_finite;
  if (v == 0.0f) return sign;
  std::frexp(v, &e);
  int ve = e - 1;
  uint32_t exp_field, mant;
  if (ve < emin) {  // subnormal
    exp_field = 0;
    mant = static_cast<uint32_t>(std::ldexp(v, fmt.mant_bits - emin));
  } else {
    exp_field = static_cast<uint32_t>(ve + fmt.bias);
    mant = static_cast<uint32_t>(std::ldexp(v, fmt.mant_bits - ve)) - (1u << fmt.mant_bits);
  }
  return sign | static_cast<uint8_t>((exp_field << fmt.mant_bits) | mant);
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kF8E4M3: return 1;
    case DType::kF8E5M2: return 1;
    case DType::kI8: return 1;
    case DType::kU8: return 1;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
  }
  S24_THROW(ErrorCode::kInternal, "unknown dtype ", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
    case DType::kF8E5M2: return "F8_E5M2";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
  }
  return "?";
}

DType parse_dtype(std::string_view name) {
  struct Entry {
    const char* a;
    const char* b;
    DType d;
  };
  static const Entry kTable[] = {
      {"F32", "f32", DType::kF32},         {"F16", "f16", DType::kF16},
      {"BF16", "bf16", DType::kBF16},      {"F8_E4M3", "e4m3", DType::kF8E4M3},
      {"F8_E5M2", "e5m2", DType::kF8E5M2}, {"I8", "i8", DType::kI8},
      {"U8", "u8", DType::kU8},            {"I32", "i32", DType::kI32},
      {"I64", "i64", DType::kI64},
  };
  for (const auto& e : kTable)
    if (name == e.a || name == e.b) return e.d;
  S24_THROW(ErrorCode::kDTypeMismatch, "unknown dtype '", std::string(name),
            "' (expected F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, I32 or I64)");
}

bool dtype_is_floating(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF8E4M3 ||
         d == DType::kF8E5M2;
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_float(sign | 0x7F800000 | (mant << 13));  // Inf / NaN
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal, exact
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t float_to_f16(float f) {
  uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7FFFFFFF;
  if (x > 0x7F800000) return sign | 0x7E00;  // NaN -> quiet NaN
  if (x >= 0x477FF000) return sign | 0x7C00;  // >= 65520 rounds to Inf
  if (x < 0x38800000) {                        // below 2^-14: f16 subnormal or zero
    // |f| * 2^24 is exact; nearbyint rounds to nearest even. 1024 lands on the smallest normal.
    const float q = std::nearbyint(bits_float(x) * 16777216.0f);
    return sign | static_cast<uint16_t>(q);
  }
  uint32_t h = (((x >> 23) - 112) << 10) | ((x >> 13) & 0x3FF);
  const uint32_t rem = x & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry rolls into the exponent
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x0040);
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

float e4m3_to_float(uint8_t b) { return mini_to_float(kE4M3, b, /*has_inf=*/false); }
uint8_t float_to_e4m3(float f) { return float_to_mini(kE4M3, f); }
float e5m2_to_float(uint8_t b) { return mini_to_float(kE5M2, b, /*has_inf=*/true); }
uint8_t float_to_e5m2(float f) { return float_to_mini(kE5M2, f); }

int8_t float_to_i8(float f) {
  if (std::isnan(f)) return 0;
  float r = std::nearbyint(f);
  if (r > 127.0f) r = 127.0f;
  if (r < -128.0f) r = -128.0f;
  return static_cast<int8_t>(r);
}

}  // namespace s24
