// GPU tests of the dense 8-bit linear on CUDA (cuBLASLt: int8 x int8, fp8 x fp8), the baseline of
// the 8-bit 2:4 kernels. Reference: the CPU implementation of the same contract
// (detail::linear_dense_q8_cpu, i.e. linear_dense on CPU tensors; ops.h, linear_q8_cpu.h).
//  * int8, random inputs over the whole int8 range: the int32 sum is exact on both sides and the
//    epilogue runs the same rounded f32 steps in the same order, so Y must equal the CPU's bit
//    for bit (no activation or ReLU; random non-power-of-two scales included);
//  * fp8, small integers in {-2..2} with K <= 1040: every partial sum is an integer below 2^13,
//    exact even in Hopper's reduced-precision fp8 accumulators, so bit for bit too;
//  * fp8, random values (normal, and uniformly drawn finite codes): within the per-element bound
//    derived at fp8_bound() below, and a relative L2 error <= 2^-6;
//  * Y F16 / BF16 / F32; bias, activations, alpha, x_scale, w_scale, residual (also in place);
//    M = 1, 7, 129, N and K multiples of 16 that are not multiples of 64; Y poisoned (NaN)
//    before every call; fresh random inputs each run (the seed is printed; failures repeat it,
//    S24_TEST_SEED replays); the refused cases (E5M2 x E5M2, int8 x fp8, misaligned K / N /
//    pointers) and CUDA-graph capture.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/gpu_test.h"
#include "common/test_util.h"
#include "ops/linear_dense_cuda.h"
#include "ops/linear_q8_cpu.h"
#include "sparse24/sparse24.h"

namespace s24 {
namespace {

using test::exact_scales;
using test::rng;

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

bool have_fp8() { return test::compute_capability() >= 89; }

std::string seed_note() {
  return " (replay with S24_TEST_SEED=" + std::to_string(test::base_seed()) + ")";
}

const Device kCuda = Device::cuda(0);

struct Pair {
  DType x, w;
};
constexpr Pair kFp8Pairs[] = {{DType::kF8E4M3, DType::kF8E4M3},
                              {DType::kF8E4M3, DType::kF8E5M2},
                              {DType::kF8E5M2, DType::kF8E4M3}};
constexpr DType kOutDTypes[] = {DType::kF16, DType::kBF16, DType::kF32};

struct Shape3 {
  int64_t m, n, k;
};
// M = 1, 7, 129; N = 80, 144, 208 and K = 48, 1040, 2064: multiples of 16, none of 64.
constexpr Shape3 kShapes[] = {{1, 80, 48}, {7, 144, 1040}, {129, 208, 2064}};

std::string name_of(const Pair& p, DType y, const Shape3& s) {
  return std::string(dtype_name(p.x)) + " x " + dtype_name(p.w) + " -> " + dtype_name(y) + " " +
         std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

// ---- epilogue operands --------------------------------------------------------------------------

struct Epi {
  float alpha = 1.0f;
  Activation act = Activation::kNone;
  Tensor bias, x_scale, w_scale, residual;          // CPU (undefined when absent)
  Tensor bias_d, x_scale_d, w_scale_d, residual_d;  // CUDA copies
  std::string name;

  LinearOptions options(bool cuda) const {
    LinearOptions o;
    o.alpha = alpha;
    o.activation = act;
    const Tensor& xs = cuda ? x_scale_d : x_scale;
    const Tensor& ws = cuda ? w_scale_d : w_scale;
    const Tensor& r = cuda ? residual_d : residual;
    if (xs.defined()) o.x_scale = &xs;
    if (ws.defined()) o.w_scale = &ws;
    if (r.defined()) o.residual = &r;
    return o;
  }
  const Tensor* bias_ptr(bool cuda) const {
    const Tensor& b = cuda ? bias_d : bias;
    return b.defined() ? &b : nullptr;
  }
};

// Arbitrary f32 scales in [lo, hi) (dequantization factors).
Tensor random_scales(int64_t count, float lo, float hi, std::mt19937_64& g) {
  std::uniform_real_distribution<float> d(lo, hi);
  Tensor t = Tensor::empty({count}, DType::kF32);
  for (int64_t i = 0; i < count; ++i) t.data<float>()[i] = d(g);
  return t;
}

// mask bits: 1 alpha, 2 x_scale, 4 w_scale, 8 residual, 16 bias. `exact`: small-integer bias /
// residual and power-of-two (and 3) scales; else normal bias / residual and arbitrary scales of
// magnitude `scale` (alpha too).
Epi make_epi(int mask, Activation act, int64_t m, int64_t n, DType yd, bool exact, float scale,
             std::mt19937_64& g) {
  Epi e;
  e.act = act;
  e.name = "mask " + std::to_string(mask) + " act " + std::to_string(static_cast<int>(act));
  if (mask & 1) {
    e.alpha = exact ? ((mask & 2) ? 0.5f : -3.0f)
                    : std::uniform_real_distribution<float>(0.5f, 2.0f)(g) * scale;
  }
  if (mask & 2) e.x_scale = exact ? exact_scales(m, g) : random_scales(m, 0.25f, 2.0f, g);
  if (mask & 4) e.w_scale = exact ? exact_scales(n, g) : random_scales(n, 0.25f, 2.0f, g);
  if (mask & 8)
    e.residual =
        exact ? test::random_int({m, n}, yd, g, -8, 8) : test::random_normal({m, n}, yd, g);
  if (mask & 16)
    e.bias = exact ? test::random_int({n}, yd, g, -8, 8) : test::random_normal({n}, yd, g);
  if (e.x_scale.defined()) e.x_scale_d = e.x_scale.to(kCuda);
  if (e.w_scale.defined()) e.w_scale_d = e.w_scale.to(kCuda);
  if (e.residual.defined()) e.residual_d = e.residual.to(kCuda);
  if (e.bias.defined()) e.bias_d = e.bias.to(kCuda);
  return e;
}

// ---- the two sides ------------------------------------------------------------------------------

// The CPU reference into a poisoned Y of `yd`.
Tensor cpu_reference(const Tensor& x, const Tensor& w, const Epi& e, DType yd) {
  Tensor y = Tensor::empty({x.size(0), w.size(0)}, yd);
  test::poison(y);
  detail::linear_dense_q8_cpu(x, w, e.bias_ptr(false), y, e.options(false));
  return y;
}

// The CUDA path (the entry point linear_dense dispatches to) into a poisoned Y of `yd`.
Tensor gpu_result(const Tensor& xd, const Tensor& wd, const Epi& e, DType yd) {
  Tensor y = Tensor::empty({xd.size(0), wd.size(0)}, yd, kCuda);
  test::poison(y);
  detail::linear_dense_cuda(xd, wd, e.bias_ptr(true), y, e.options(true));
  cuda_synchronize();
  return y.to(Device::cpu());
}

// Bit for bit, except that +0 and -0 count as equal: for the products that cuBLASLt itself scales
// and rounds (the plain fp8 product), whose epilogue may compute alpha * acc + 0 (+0 for a zero
// sum times a negative alpha, where ops.h's order gives -0).
::testing::AssertionResult bit_equal_up_to_zero_sign(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << got.describe() << " vs " << want.describe();
  const Tensor a = got.to_f32_cpu(), b = want.to_f32_cpu();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float x = a.data<float>()[i], y = b.data<float>()[i];
    if (x == 0.0f && y == 0.0f) continue;
    if (std::memcmp(&x, &y, sizeof x) != 0)
      return ::testing::AssertionFailure()
             << "first difference at flat index " << i << ": " << x << " vs " << y;
  }
  return ::testing::AssertionSuccess();
}

// True when linear_dense_cuda hands the whole product to one cuBLASLt call (fp8, alpha only).
bool direct_fp8(DType w, const Epi& e) {
  return w != DType::kI8 && !e.bias.defined() && !e.x_scale.defined() && !e.w_scale.defined() &&
         !e.residual.defined() && e.act == Activation::kNone;
}

// ---- tolerances ---------------------------------------------------------------------------------

double unit_roundoff(DType yd) {  // half an ulp, relative
  return yd == DType::kF32   ? std::ldexp(1.0, -24)
         : yd == DType::kF16 ? std::ldexp(1.0, -11)
                             : std::ldexp(1.0, -8);
}
double tiny_of(DType yd) {  // the smallest subnormal step of the output
  return yd == DType::kF16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -149);
}

// Elementwise |a - b| <= tol[i] (both F32 copies); reports the worst element.
::testing::AssertionResult within(const Tensor& got, const Tensor& want,
                                  const std::vector<double>& tol) {
  const Tensor a = got.to_f32_cpu(), b = want.to_f32_cpu();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(double(pa[i]) - double(pb[i]));
    const bool ok = pa[i] == pb[i] || d <= tol[static_cast<size_t>(i)];  // (== admits equal infs)
    const double ratio = ok ? d / std::max(tol[static_cast<size_t>(i)], 1e-300) : INFINITY;
    if (!ok) ++bad;
    if (worst < 0 || ratio > worst_ratio || std::isnan(d)) {
      worst = i;
      worst_ratio = ratio;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << a.numel() << " elements out of tolerance; e.g. flat index " << worst
         << ": " << pa[worst] << " vs " << pb[worst] << " (tolerance "
         << tol[static_cast<size_t>(worst)] << ")";
}

// The smooth activations: the GPU evaluates activation.h's formulas, the CPU their vectorized
// versions, which agree within 16 u |a| + 2^-22 (linear_cpu.cc; u = 2^-24, |a| <= |y| +
// |residual|). With equal accumulators the two f32 results then round to Y at most that plus
// one output ulp (2 u_Y |y|) apart.
std::vector<double> activation_tolerance(const Tensor& ref, const Epi& e, DType yd) {
  const Tensor r = ref.to_f32_cpu();
  const Tensor res = e.residual.defined() ? e.residual.to_f32_cpu() : Tensor();
  std::vector<double> tol(static_cast<size_t>(r.numel()));
  const double u = std::ldexp(1.0, -24);
  for (int64_t i = 0; i < r.numel(); ++i) {
    const double y = std::fabs(r.data<float>()[i]);
    const double a = y + (res.defined() ? std::fabs(res.data<float>()[i]) : 0.0);
    const double d = 16 * u * a + std::ldexp(1.0, -22);
    tol[static_cast<size_t>(i)] = d + 2 * unit_roundoff(yd) * (y + d) + tiny_of(yd);
  }
  return tol;
}

// The per-element bound for random fp8 products. The products x_k w_k of two fp8 values are
// exact in f32; let S = sum_k |x_k w_k| (per output) and E the exact sum.
//  * CPU (the reference): an f32 sum in increasing k: |acc_cpu - E| <= (K - 1) u S, u = 2^-24.
//  * GPU, the model: Hopper's fp8 tensor cores add the products of each MMA step into an
//    accumulator that keeps about 14 significant bits (the accumulation precision reported for
//    H800 fp8 GEMMs in the DeepSeek-V3 technical report, section 3.3.2: "around 14 bits"),
//    aligning the terms of a step to the largest and dropping the bits below 2^-13 of it. So
//    each product, and the running sum once per step (k = 32 for fp8 wgmma), loses at most
//    2^-13 of a magnitude <= S: |acc_gpu - E| <= (K + ceil(K / 32)) 2^-13 S + K u S (the f32
//    promotions). cuBLASLt's default (not fast) fp8 accumulation promotes partial sums to f32
//    at intervals, which only lowers the error; the bound does not count on it (a worst case:
//    loose for large K, tight for K = 48).
//  * So |acc_gpu - acc_cpu| <= e_acc = ((K + ceil(K / 32)) 2^-13 + 2 K u) S.
//  * The epilogue: the scale c = alpha x_scale w_scale multiplies it (|c| e_acc); the activation
//    has slope <= 1.13 (GELU; SiLU 1.1, ReLU 1); the f32 steps (3 products, bias, residual) add
//    <= 8 u (|c| S + |bias| + |residual|), the two smooth-activation implementations 16 u |a| +
//    2^-22; each side rounds to Y once: <= 2 u_Y (|y| + the difference) + the subnormal step.
// Because the worst case is loose for large K, the tests also bound the aggregate: the relative
// L2 error ||y_gpu - y_cpu|| / ||y_cpu|| <= 2^-6. DeepSeek-V3 reports a maximum relative error
// of nearly 2% for K = 4096 with no promotion at all (their motivation to promote every 128
// products, as cuBLASLt's default mode does); a correct cuBLASLt product sits far below 2^-6
// (a simulation of the truncating model above without any promotion gives 1.7e-3 at K = 4112),
// a wrong layout, decoding or scale near 1.
constexpr double kFp8AggregateBound = 1.0 / 64;

// `scale` [m][n] = c, `abs_sum` [m][n] = S; `ref` is the CPU's Y.
std::vector<double> fp8_bound(const std::vector<double>& scale, const std::vector<double>& abs_sum,
                              int64_t k, const Epi& e, const Tensor& ref, DType yd) {
  const double u = std::ldexp(1.0, -24);
  const double e_rel = double(k + (k + 31) / 32) * std::ldexp(1.0, -13) + 2.0 * double(k) * u;
  const Tensor r = ref.to_f32_cpu();
  const Tensor bias = e.bias.defined() ? e.bias.to_f32_cpu() : Tensor();
  const Tensor res = e.residual.defined() ? e.residual.to_f32_cpu() : Tensor();
  const int64_t n = ref.size(1);
  std::vector<double> tol(static_cast<size_t>(r.numel()));
  for (int64_t i = 0; i < r.numel(); ++i) {
    const double c = std::fabs(scale[static_cast<size_t>(i)]);
    const double s = abs_sum[static_cast<size_t>(i)];
    const double b = bias.defined() ? std::fabs(bias.data<float>()[i % n]) : 0.0;
    const double rr = res.defined() ? std::fabs(res.data<float>()[i]) : 0.0;
    const double y = std::fabs(r.data<float>()[i]);
    const double prop =
        1.13 * c * e_rel * s + 8 * u * (c * s + b + rr) + 16 * u * (y + rr) + std::ldexp(1.0, -22);
    tol[static_cast<size_t>(i)] = prop + 2 * unit_roundoff(yd) * (y + prop) + tiny_of(yd);
  }
  return tol;
}

// S = sum_k |x_k w_k| per output (exact products, summed in double).
std::vector<double> abs_sums(const Tensor& x, const Tensor& w) {
  const Tensor xf = x.to_f32_cpu(), wf = w.to_f32_cpu();
  const float* xp = xf.data<float>();
  const float* wp = wf.data<float>();
  const int64_t m = x.size(0), n = w.size(0), k = x.size(1);
  std::vector<double> s(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double a = 0;
      for (int64_t kk = 0; kk < k; ++kk) a += std::fabs(double(xp[i * k + kk]) * wp[j * k + kk]);
      s[static_cast<size_t>(i * n + j)] = a;
    }
  return s;
}

std::vector<double> scales_of(const Epi& e, int64_t m, int64_t n) {
  std::vector<double> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double v = e.alpha;
      if (e.x_scale.defined()) v *= e.x_scale.data<float>()[i];
      if (e.w_scale.defined()) v *= e.w_scale.data<float>()[j];
      c[static_cast<size_t>(i * n + j)] = v;
    }
  return c;
}

// Every finite code of an fp8 dtype drawn uniformly (NaN excluded; e5m2's infinities too).
Tensor random_codes(const Shape& shape, DType dtype, std::mt19937_64& g) {
  Tensor t = Tensor::empty(shape, dtype);
  auto* p = static_cast<uint8_t*>(t.raw_data());
  std::uniform_int_distribution<int> d(0, 255);
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint8_t b;
    do {
      b = static_cast<uint8_t>(d(g));
    } while (dtype == DType::kF8E4M3 ? (b & 0x7F) == 0x7F : (b & 0x7C) == 0x7C);
    p[i] = b;
  }
  return t;
}

// ---- int8: bit-exact on random inputs -----------------------------------------------------------

TEST(GpuDenseQ8, Int8RandomInputsAreBitExact) {
  // Every subset of {alpha, x_scale, w_scale, residual, bias}, none / ReLU, every Y dtype, the
  // edge shapes; operands over the whole int8 range; arbitrary (not power-of-two) scales.
  S24_REQUIRE_GPU();
  auto g = rng(4001);
  int checked = 0;
  for (const Shape3& s : kShapes) {
    const Tensor x = test::random_int({s.m, s.k}, DType::kI8, g, -128, 127);
    const Tensor w = test::random_int({s.n, s.k}, DType::kI8, g, -128, 127);
    const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
    for (DType yd : kOutDTypes)
      for (int mask = 0; mask < 32; ++mask) {
        // None and ReLU alternate over the masks and, for each mask, over the blocks.
        const Activation act =
            (mask / 2 + checked / 32) % 2 ? Activation::kRelu : Activation::kNone;
        // Dequantization-sized alpha keeps F16 outputs mostly finite (infinities must agree too).
        const Epi e = make_epi(mask, act, s.m, s.n, yd, false, 1.0f / 4096, g);
        const Tensor ref = cpu_reference(x, w, e, yd);
        const Tensor got = gpu_result(xd, wd, e, yd);
        ASSERT_TRUE(test::bit_equal(got, ref))
            << name_of({DType::kI8, DType::kI8}, yd, s) << " " << e.name << seed_note();
        ++checked;
      }
  }
  EXPECT_EQ(checked, 3 * 3 * 32);
}

TEST(GpuDenseQ8, Int8ExtremeSumsAndSmoothActivations) {
  // All products -128 * -128 (sums far above 2^24: the int32 -> f32 conversion rounds once, to
  // nearest even, on both sides), then GELU / SiLU within the activation tolerance.
  S24_REQUIRE_GPU();
  auto g = rng(4002);
  const int64_t m = 7, n = 16, k = 4096;
  Tensor x = Tensor::empty({m, k}, DType::kI8), w = Tensor::empty({n, k}, DType::kI8);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data<int8_t>()[i] = static_cast<int8_t>(i % 5 ? -128 : 127);
  for (int64_t i = 0; i < w.numel(); ++i)
    w.data<int8_t>()[i] = static_cast<int8_t>(i % 3 ? -128 : 1);
  const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
  for (DType yd : {DType::kF32, DType::kBF16}) {
    const Epi e = make_epi(0, Activation::kNone, m, n, yd, false, 1.0f, g);
    ASSERT_TRUE(test::bit_equal(gpu_result(xd, wd, e, yd), cpu_reference(x, w, e, yd)))
        << dtype_name(yd) << seed_note();
  }
  const Tensor xr = test::random_int({129, 1040}, DType::kI8, g, -128, 127);
  const Tensor wr = test::random_int({144, 1040}, DType::kI8, g, -128, 127);
  for (Activation act : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu})
    for (DType yd : kOutDTypes) {
      const Epi e = make_epi(31, act, 129, 144, yd, false, 1.0f / 65536, g);
      const Tensor ref = cpu_reference(xr, wr, e, yd);
      EXPECT_TRUE(within(gpu_result(xr.to(kCuda), wr.to(kCuda), e, yd), ref,
                         activation_tolerance(ref, e, yd)))
          << "act " << static_cast<int>(act) << " " << dtype_name(yd) << seed_note();
    }
}

// ---- fp8: bit-exact on small integers -----------------------------------------------------------

TEST(GpuDenseQ8, Fp8SmallIntegersAreBitExact) {
  // Values in {-2..2}: every product and partial sum (|sum| <= 4 * 1040 < 2^13) is an exact
  // integer whatever the accumulation order and precision, so Y equals the CPU's bit for bit.
  // Every fp8 pair cuBLASLt supports, every Y dtype, every epilogue subset (mask 0 and 1: the
  // single cuBLASLt call writing Y; the rest: the f32 product and the elementwise pass).
  S24_REQUIRE_GPU();
  if (!have_fp8()) GTEST_SKIP() << "fp8 needs sm_89+ (the refusal is tested in BadArguments)";
  auto g = rng(4003);
  const Shape3 shapes[] = {{1, 80, 48}, {7, 144, 1040}, {129, 208, 1040}};
  int checked = 0;
  for (const Pair& p : kFp8Pairs)
    for (const Shape3& s : shapes) {
      const Tensor x = test::random_int({s.m, s.k}, p.x, g, -2, 2);
      const Tensor w = test::random_int({s.n, s.k}, p.w, g, -2, 2);
      const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
      for (DType yd : kOutDTypes)
        for (int mask = 0; mask < 32; ++mask) {
          const Activation act =
              (mask / 2 + checked / 32) % 2 ? Activation::kRelu : Activation::kNone;
          const Epi e = make_epi(mask, act, s.m, s.n, yd, true, 1.0f, g);
          const Tensor got = gpu_result(xd, wd, e, yd), want = cpu_reference(x, w, e, yd);
          ASSERT_TRUE(direct_fp8(p.w, e) ? bit_equal_up_to_zero_sign(got, want)
                                         : test::bit_equal(got, want))
              << name_of(p, yd, s) << " " << e.name << seed_note();
          ++checked;
        }
    }
  EXPECT_EQ(checked, 3 * 3 * 3 * 32);
}

// ---- fp8: random values within the derived bound ------------------------------------------------

TEST(GpuDenseQ8, Fp8RandomWithinDerivedBound) {
  S24_REQUIRE_GPU();
  if (!have_fp8()) GTEST_SKIP() << "fp8 needs sm_89+ (the refusal is tested in BadArguments)";
  auto g = rng(4004);
  const Shape3 shapes[] = {{1, 80, 48}, {7, 144, 1040}, {129, 208, 2064}, {33, 48, 4112}};
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf,
                             Activation::kSilu};
  int cases = 0;
  for (const Pair& p : kFp8Pairs)
    for (const Shape3& s : shapes)
      for (int source = 0; source < 2; ++source) {
        // Normal values, or every finite code uniformly (subnormals to 448 / 57344).
        const Tensor x = source == 0 ? test::random_normal({s.m, s.k}, p.x, g, 1.0f)
                                     : random_codes({s.m, s.k}, p.x, g);
        const Tensor w = source == 0 ? test::random_normal({s.n, s.k}, p.w, g, 0.5f)
                                     : random_codes({s.n, s.k}, p.w, g);
        const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
        const std::vector<double> sums = abs_sums(x, w);
        double max_sum = 0;
        for (double v : sums) max_sum = std::max(max_sum, v);
        // Keep |Y| well inside F16's range: alpha ~ 1000 / max S.
        const float alpha_scale =
            static_cast<float>(std::min(1.0, 1000.0 / std::max(max_sum, 1.0)));
        for (DType yd : kOutDTypes) {
          // Alternately the plain product (alpha only: the single cuBLASLt call writing Y) and
          // the whole epilogue (the f32 product and the elementwise pass).
          const int mask = cases % 2 == 0 ? 1 : 31;
          const Activation act = mask == 1 ? Activation::kNone : acts[(cases / 2) % 4];
          const Epi e = make_epi(mask, act, s.m, s.n, yd, false, alpha_scale, g);
          const Tensor ref = cpu_reference(x, w, e, yd);
          const Tensor got = gpu_result(xd, wd, e, yd);
          const std::string what = name_of(p, yd, s) + (source ? " codes " : " normal ") + e.name;
          EXPECT_TRUE(within(got, ref, fp8_bound(scales_of(e, s.m, s.n), sums, s.k, e, ref, yd)))
              << what << seed_note();
          EXPECT_LE(test::rel_error(got, ref), kFp8AggregateBound) << what << seed_note();
          ++cases;
        }
      }
}

// ---- the public entry point, leading dims, in place ---------------------------------------------

TEST(GpuDenseQ8, PublicLinearDenseMatchesCpuAndInPlaceResidual) {
  // s24::linear_dense on CUDA tensors (x [2, 3, K], Y F16) against s24::linear_dense on the same
  // CPU tensors; and residual == y through the internal entry point (Y += epilogue).
  S24_REQUIRE_GPU();
  auto g = rng(4005);
  const int64_t n = 144, k = 1040;
  for (DType dt : {DType::kI8, DType::kF8E4M3}) {
    if (dt != DType::kI8 && !have_fp8()) continue;
    const bool integer = dt == DType::kI8;
    const Tensor x = integer ? test::random_int({2, 3, k}, dt, g, -128, 127)
                             : test::random_int({2, 3, k}, dt, g, -2, 2);
    const Tensor w = integer ? test::random_int({n, k}, dt, g, -128, 127)
                             : test::random_int({n, k}, dt, g, -2, 2);
    const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
    for (int mask : {0, 16, 31}) {  // the plain product, bias + ReLU, everything
      const Activation act = mask == 0 ? Activation::kNone : Activation::kRelu;
      Epi e = make_epi(mask, act, 6, n, DType::kF16, !integer, 1.0f / 4096, g);
      if (e.residual.defined()) {  // the public residual has y's shape [2, 3, N]
        e.residual = e.residual.view({2, 3, n});
        e.residual_d = e.residual.to(kCuda);
      }
      const Tensor want = linear_dense(x, w, e.bias_ptr(false), e.options(false));
      const Tensor got = linear_dense(xd, wd, e.bias_ptr(true), e.options(true));
      cuda_synchronize();
      ASSERT_EQ(got.shape(), Shape({2, 3, n}));
      EXPECT_TRUE(direct_fp8(dt, e) ? bit_equal_up_to_zero_sign(got.to(Device::cpu()), want)
                                    : test::bit_equal(got.to(Device::cpu()), want))
          << dtype_name(dt) << " " << e.name << seed_note();
    }
    // In place: y starts as the residual.
    Epi e = make_epi(31, Activation::kRelu, 6, n, DType::kBF16, !integer, 1.0f / 4096, g);
    const Tensor x2 = x.view({6, k}), x2d = xd.view({6, k});
    const Tensor want = cpu_reference(x2, w, e, DType::kBF16);
    Tensor y = e.residual_d.clone();
    LinearOptions o = e.options(true);
    o.residual = &y;
    detail::linear_dense_cuda(x2d, wd, e.bias_ptr(true), y, o);
    cuda_synchronize();
    EXPECT_TRUE(test::bit_equal(y.to(Device::cpu()), want))
        << "in place " << dtype_name(dt) << seed_note();
  }
}

TEST(GpuDenseQ8, EmptyBatchSucceeds) {
  S24_REQUIRE_GPU();
  auto g = rng(4006);
  const Tensor w = test::random_int({80, 48}, DType::kI8, g).to(kCuda);
  const Tensor x = Tensor::empty({0, 48}, DType::kI8, kCuda);
  const Tensor y = linear_dense(x, w);
  cuda_synchronize();
  EXPECT_EQ(y.shape(), Shape({0, 80}));
  EXPECT_EQ(y.dtype(), DType::kF16);
}

// ---- CUDA graphs --------------------------------------------------------------------------------

TEST(GpuDenseQ8, CudaGraphCaptureReplaysTheSameResult) {
  // After one call per shape (plans built, workspaces grown), the call is capturable: the plain
  // fp8 product (one cuBLASLt call) and the int8 product with its epilogue pass.
  S24_REQUIRE_GPU();
  auto g = rng(4007);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (DType dt : {DType::kI8, DType::kF8E4M3}) {
    if (dt != DType::kI8 && !have_fp8()) continue;
    const Tensor x = test::random_int({129, 1040}, dt, g, -2, 2);
    const Tensor w = test::random_int({208, 1040}, dt, g, -2, 2);
    const Tensor xd = x.to(kCuda), wd = w.to(kCuda);
    Epi e = make_epi(dt == DType::kI8 ? 31 : 1, Activation::kRelu, 129, 208, DType::kF16, true,
                     1.0f, g);
    if (dt != DType::kI8) e.act = Activation::kNone;
    LinearOptions o = e.options(true);
    o.stream = stream;
    const Tensor want = cpu_reference(x, w, e, DType::kF16);
    Tensor y = Tensor::empty({129, 208}, DType::kF16, kCuda);
    detail::linear_dense_cuda(xd, wd, e.bias_ptr(true), y, o);  // warm-up: plans, workspace
    CUDA_OK(cudaStreamSynchronize(stream));
    test::poison(y);
    cudaGraph_t graph;
    CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    detail::linear_dense_cuda(xd, wd, e.bias_ptr(true), y, o);
    CUDA_OK(cudaStreamEndCapture(stream, &graph));
    cudaGraphExec_t exec;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
    for (int rep = 0; rep < 2; ++rep) {
      test::poison(y);
      CUDA_OK(cudaGraphLaunch(exec, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      EXPECT_TRUE(direct_fp8(dt, e) ? bit_equal_up_to_zero_sign(y.to(Device::cpu()), want)
                                    : test::bit_equal(y.to(Device::cpu()), want))
          << dtype_name(dt) << " replay " << rep << seed_note();
    }
    CUDA_OK(cudaGraphExecDestroy(exec));
    CUDA_OK(cudaGraphDestroy(graph));
  }
  CUDA_OK(cudaStreamDestroy(stream));
}

// ---- refusals -----------------------------------------------------------------------------------

TEST(GpuDenseQ8, BadArgumentsAreClearErrors) {
  S24_REQUIRE_GPU();
  auto g = rng(4008);
  auto cuda_int = [&](const Shape& shape, DType dt) {
    return test::random_int(shape, dt, g, -2, 2).to(kCuda);
  };
  // int8 x fp8 (both directions) and 8-bit x 16-bit: kDTypeMismatch, public and internal.
  {
    const Tensor xi = cuda_int({7, 48}, DType::kI8), we = cuda_int({80, 48}, DType::kF8E4M3);
    const Tensor xe = cuda_int({7, 48}, DType::kF8E4M3), wi = cuda_int({80, 48}, DType::kI8);
    const Tensor xh = cuda_int({7, 48}, DType::kF16);
    S24_EXPECT_ERROR(linear_dense(xi, we), kDTypeMismatch, "8-bit products");
    S24_EXPECT_ERROR(linear_dense(xe, wi), kDTypeMismatch, "8-bit products");
    S24_EXPECT_ERROR(linear_dense(xh, wi), kDTypeMismatch, "8-bit products");
    Tensor y = Tensor::empty({7, 80}, DType::kF16, kCuda);
    S24_EXPECT_ERROR(detail::linear_dense_cuda(xi, we, nullptr, y, {}), kDTypeMismatch,
                     "8-bit products");
    // An 8-bit product does not write I32 / I8 / fp8.
    const Tensor wi2 = cuda_int({80, 48}, DType::kI8);
    Tensor y32 = Tensor::empty({7, 80}, DType::kI32, kCuda);
    S24_EXPECT_ERROR(detail::linear_dense_cuda(xi, wi2, nullptr, y32, {}), kDTypeMismatch,
                     "F16, BF16 or F32");
  }
  // E5M2 x E5M2: cuBLASLt has no such kernel (on sm_89+; below, fp8 itself is refused).
  {
    const Tensor x = cuda_int({7, 48}, DType::kF8E5M2), w = cuda_int({80, 48}, DType::kF8E5M2);
    S24_EXPECT_ERROR(linear_dense(x, w), kUnsupported, "F8_E5M2");
  }
  if (!have_fp8()) {
    const Tensor x = cuda_int({7, 48}, DType::kF8E4M3), w = cuda_int({80, 48}, DType::kF8E4M3);
    S24_EXPECT_ERROR(linear_dense(x, w), kUnsupported, "sm_89");
  }
  for (DType dt : {DType::kI8, DType::kF8E4M3}) {
    if (dt != DType::kI8 && !have_fp8()) continue;
    // K a multiple of 8 but not of 16; N not a multiple of 8.
    S24_EXPECT_ERROR(linear_dense(cuda_int({7, 40}, dt), cuda_int({80, 40}, dt)), kAlignment,
                     "K % 16");
    S24_EXPECT_ERROR(linear_dense(cuda_int({7, 48}, dt), cuda_int({20, 48}, dt)), kAlignment,
                     "N % 8");
    // x 8 bytes past a 16-byte boundary.
    Tensor buf = Tensor::zeros({8 * 48 + 16}, dt, kCuda);
    const Tensor x_off =
        Tensor::borrow(static_cast<uint8_t*>(buf.raw_data()) + 8, {7, 48}, dt, kCuda);
    S24_EXPECT_ERROR(linear_dense(x_off, cuda_int({80, 48}, dt)), kAlignment, "16-byte");
  }
}

}  // namespace
}  // namespace s24
