// sparse24 — element types and their exact conversions to and from float.
//
// Rounding and saturation rules (also in docs/FORMAT.md):
//  * float -> f16 / bf16: round to nearest, ties to even. Overflow gives +-Inf, NaN stays NaN
//    (a quiet NaN with the sign kept).
//  * float -> fp8 e4m3 (the "fn" variant: no Inf, max 448, NaN = S.1111.111) and e5m2 (IEEE-like,
//    max 57344, has Inf): round to nearest even, then SATURATE to the largest finite value
//    (+-Inf and overflow -> +-max), NaN -> NaN. These are the rules of PTX cvt.rn.satfinite, so a
//    GPU kernel and the CPU produce the same bits.
//  * float -> int8: round to nearest even, saturate to [-128, 127], NaN -> 0 (PTX cvt.rni.sat.s8.f32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace s24 {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,
  kF8E5M2,
  kI8,
  kU8,
  kI32,
  kI64,
};

size_t dtype_size(DType dtype);
// Names as safetensors writes them: F32, F16, BF16, F8_E4M3, F8_E5M2, I8, U8, I32, I64.
const char* dtype_name(DType dtype);
// Parses a safetensors dtype name (also accepts lower-case short forms: f32, f16, bf16, e4m3,
// e5m2, i8, u8, i32, i64). Throws s24::Error(kDTypeMismatch) on anything else.
DType parse_dtype(std::string_view name);
bool dtype_is_floating(DType dtype);  // f32, f16, bf16, fp8 e4m3/e5m2

// Storage types: plain bit containers; arithmetic happens in float.
struct float16 {
  uint16_t bits;
};
struct bfloat16 {
  uint16_t bits;
};
struct float8_e4m3 {
  uint8_t bits;
};
struct float8_e5m2 {
  uint8_t bits;
};

float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);
float e4m3_to_float(uint8_t bits);
uint8_t float_to_e4m3(float value);
float e5m2_to_float(uint8_t bits);
uint8_t float_to_e5m2(float value);
int8_t float_to_i8(float value);

inline float to_float(float v) { return v; }
inline float to_float(float16 v) { return f16_to_float(v.bits); }
inline float to_float(bfloat16 v) { return bf16_to_float(v.bits); }
inline float to_float(float8_e4m3 v) { return e4m3_to_float(v.bits); }
inline float to_float(float8_e5m2 v) { return e5m2_to_float(v.bits); }
inline float to_float(int8_t v) { return static_cast<float>(v); }

// from_float<T>(x): the conversion rules above.
template <class T>
T from_float(float value);
template <>
inline float from_float<float>(float v) { return v; }
template <>
inline float16 from_float<float16>(float v) { return float16{float_to_f16(v)}; }
template <>
inline bfloat16 from_float<bfloat16>(float v) { return bfloat16{float_to_bf16(v)}; }
template <>
inline float8_e4m3 from_float<float8_e4m3>(float v) { return float8_e4m3{float_to_e4m3(v)}; }
template <>
inline float8_e5m2 from_float<float8_e5m2>(float v) { return float8_e5m2{float_to_e5m2(v)}; }
template <>
inline int8_t from_float<int8_t>(float v) { return float_to_i8(v); }

// The DType of a C++ storage type.
template <class T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::kF32; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::kF16; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::kBF16; };
template <> struct dtype_of<float8_e4m3> { static constexpr DType value = DType::kF8E4M3; };
template <> struct dtype_of<float8_e5m2> { static constexpr DType value = DType::kF8E5M2; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::kI8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::kI32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::kI64; };

// Calls fn(T{}) with T the storage type of one of the value dtypes a 2:4 matrix may hold
// (f32, f16, bf16, e4m3, e5m2, i8); throws kDTypeMismatch for the others.
template <class Fn>
decltype(auto) dispatch_value_dtype(DType dtype, Fn&& fn);

}  // namespace s24

#include "sparse24/detail/dtype_dispatch.h"
