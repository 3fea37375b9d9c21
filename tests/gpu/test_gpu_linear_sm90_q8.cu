// GPU tests of the 8-bit sm_90a sparse GEMM (wgmma.mma_async.sp m64nNk64: e4m3 / e5m2 in every
// pairing, int8) against sparse24's CPU 8-bit product (linear_q8_cpu: exact int32 sums for int8,
// exact f32 products summed in f32 for fp8) through the same public epilogue contract.
//  * int8 on random full-range inputs: every sum is an exact integer below 2^24 here, so the f32
//    accumulator conversion is exact and the results are bit-equal;
//  * fp8 on small integers (|v| <= 4, sums far below 2^13): exact whatever the accumulation order
//    and the tensor cores' accumulator width, so bit-equal too;
//  * fp8 on normal inputs: within a tolerance (see kFp8Tolerance);
//  * scales are powers of two in the bit-exact cases, outputs poisoned before every run, tails in
//    M, N and K (K % 32 == 0 is the 8-bit rule), F16 / BF16 / F32 outputs, the in-place residual,
//    the dispatcher's own choice and the errors of what the kernel refuses.
#include <cuda_runtime.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "common/random_compressed.h"
#include "common/gpu_linear_case.h"
#include "common/gpu_test.h"
#include "common/test_util.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/tile_configs.h"
#include "format/hw_layout.h"
#include "ops/linear_cuda.h"
#include "sparse24/sparse24.h"
#include "sparse24/sparse_weight.h"

namespace s24 {
namespace {

using detail::gemm::GemmPlan;
using detail::gemm::kSm90ConfigCount;
using detail::gemm::kSm90Configs;
using test::options_for;
using test::rng;
using test::run_hw;

// Relative (norm) error allowed for fp8 on normal inputs. The inputs are the same on both sides
// (already rounded to fp8), so what differs is the accumulation: Hopper's fp8 wgmma keeps fewer
// accumulator bits than f32 (DeepSeek-V3 report, section 3.3.2: about 14), plus the output's
// rounding (F16 2^-11, BF16 2^-8). 1e-2 leaves a wide margin over both at K <= 4096; measured
// values are printed.
constexpr double kFp8Tolerance = 1e-2;

using Epilogue = test::EpilogueSpec;
using Case = test::LinearCase;

// integers: int8 over its full range, fp8 over [-4, 4]; else normal values (fp8 only).
Case make_case(int64_t m, int64_t n, int64_t k, DType w_dt, DType x_dt, DType y_dt, bool integers,
               const Epilogue& e, std::mt19937_64& g) {
  Case c;
  c.y_dtype = y_dt;
  const bool i8 = w_dt == DType::kI8;
  const int lo = i8 ? -128 : -4, hi = i8 ? 127 : 4;
  std::uniform_int_distribution<int> small(lo, hi);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto value = [&](std::mt19937_64& gg) { return integers ? float(small(gg)) : normal(gg); };
  c.w = test::random_compressed(n, k, w_dt, g, value);
  c.x = integers ? test::random_int({m, k}, x_dt, g, lo, hi) : test::random_normal({m, k}, x_dt, g);
  if (e.bias) c.bias = test::random_int({n}, y_dt, g, -8, 8);
  if (e.x_scale) c.x_scale = test::random_scales(m, integers, g);
  if (e.w_scale) c.w_scale = test::random_scales(n, integers, g);
  if (e.residual) c.residual = test::random_int({m, n}, y_dt, g, -8, 8);
  return c;
}

// The CPU product (the reference implementation of the 8-bit contract).
Tensor reference(const Case& c, const Epilogue& e) {
  Tensor xs, ws, rd;
  const LinearOptions opt = options_for(c, e, xs, ws, rd, Device::cpu());
  Tensor y = e.residual && e.in_place ? rd : Tensor::empty({c.x.size(0), c.w.rows}, c.y_dtype);
  linear_out(c.x, c.w, e.bias ? &c.bias : nullptr, y, opt);
  return y;
}

// ---- the 8-bit hardware layout (metadata in the k64 word order, values referenced) ----

Compressed24 random_q8_compressed(int64_t rows, int64_t cols, DType dt, std::mt19937_64& g) {
  std::uniform_int_distribution<int> v(-100, 100);
  return test::random_compressed(rows, cols, dt, g, [&](std::mt19937_64& gg) { return float(v(gg)); });
}

TEST(GpuHwLayoutQ8, IndexMapIsABijectionOntoTheWords) {
  // Every (row, group) of the padded matrix owns one distinct nibble of the metadata words, and
  // the word-order view agrees with the element-order one.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{32, 128}, {160, 384}}) {
    const int64_t nsteps8 = detail::hw::ksteps8(cols);
    std::vector<uint32_t> seen(detail::hw::meta_word_count(rows, cols), 0);
    for (int64_t r = 0; r < detail::hw::padded_rows(rows); ++r)
      for (int64_t grp = 0; grp < detail::hw::padded_cols(cols) / 4; ++grp) {
        int shift = 0;
        const int64_t w = detail::hw::meta8_word_index(r, grp, nsteps8, &shift);
        ASSERT_LT(w, static_cast<int64_t>(seen.size()));
        EXPECT_EQ(seen[w] & (0xFu << shift), 0u) << "row " << r << " group " << grp;
        seen[w] |= 0xFu << shift;
        EXPECT_EQ(detail::hw::meta8_word_row(w / 64 / nsteps8, static_cast<int>(w % 64)), r);
        EXPECT_EQ(detail::hw::meta8_word_group(w / 64 % nsteps8, static_cast<int>(w % 64), shift / 4),
                  grp);
      }
    for (uint32_t word : seen) EXPECT_EQ(word, 0xFFFFFFFFu);
  }
}

TEST(GpuHwLayoutQ8, CpuRoundTripIsExactWithLegalPadding) {
  auto g = rng(196);
  const int64_t shapes[][2] = {{1, 4}, {3, 12}, {17, 36}, {33, 260}, {130, 1024}, {256, 4096}};
  for (auto [rows, cols] : shapes)
    for (DType dt : {DType::kF8E4M3, DType::kF8E5M2, DType::kI8}) {
      const Compressed24 c = random_q8_compressed(rows, cols, dt, g);
      const detail::HwLayout h = detail::to_hw_layout_cpu(c);
      EXPECT_EQ(h.values.raw_data(), c.values.raw_data()) << "8-bit values are referenced";
      EXPECT_EQ(h.meta.numel(), detail::hw::meta_word_count(rows, cols));
      const uint32_t* m = static_cast<const uint32_t*>(h.meta.raw_data());
      for (int64_t i = 0; i < h.meta.numel(); ++i)
        for (int sh = 0; sh < 32; sh += 4) {
          const uint32_t nib = (m[i] >> sh) & 0xF;
          EXPECT_TRUE(nib == 0x4 || nib == 0x8 || nib == 0xC || nib == 0x9 || nib == 0xD ||
                      nib == 0xE)
              << "illegal nibble in word " << i;
        }
      const Compressed24 back = detail::from_hw_layout_cpu(h);
      EXPECT_TRUE(test::bit_equal(back.values, c.values)) << rows << "x" << cols;
      EXPECT_TRUE(test::bit_equal(back.meta, c.meta)) << rows << "x" << cols;
    }
}

TEST(GpuHwLayoutQ8, GpuConversionEqualsCpu) {
  S24_REQUIRE_SM90();
  auto g = rng(197);
  const int64_t shapes[][2] = {{1, 4}, {17, 36}, {130, 1024}, {256, 4096}};
  for (auto [rows, cols] : shapes)
    for (DType dt : {DType::kF8E4M3, DType::kF8E5M2, DType::kI8}) {
      const Compressed24 c = random_q8_compressed(rows, cols, dt, g);
      const detail::HwLayout h = detail::to_hw_layout_cpu(c);
      detail::HwLayout gpu = detail::empty_hw_layout(rows, cols, dt, Device::cuda(0));
      test::poison(gpu.meta);
      const Compressed24 cd = c.to(Device::cuda(0));
      detail::to_hw_layout_cuda(cd, gpu, nullptr);
      cuda_synchronize();
      EXPECT_TRUE(test::bit_equal(gpu.meta.to(Device::cpu()), h.meta)) << rows << "x" << cols;
      EXPECT_EQ(gpu.values.raw_data(), cd.values.raw_data());
    }
}

// ---- the GEMM ----

struct Shape3 {
  int64_t m, n, k;
};

std::vector<int> q8_configs() {
  std::vector<int> v;
  for (int cfg = 0; cfg < kSm90ConfigCount; ++cfg)
    if (kSm90Configs[cfg].stages_q8 > 0) v.push_back(cfg);
  return v;
}

// M tails, N tails (N % 128 != 0), K not a multiple of the 128-column k-block, one k-block, and
// several tiles per CTA (both ping-pong warpgroups with odd and even tile counts).
const Shape3 kShapes[] = {{1, 8, 32},      {129, 136, 96}, {300, 264, 1184}, {64, 128, 128},
                          {777, 520, 800}, {4100, 384, 256}, {3, 8, 64}};

TEST(GpuLinearSm90Q8, Int8BitExactEveryConfigWithTails) {
  S24_REQUIRE_SM90();
  auto g = rng(190);
  for (const Shape3& s : kShapes)
    for (int cfg : q8_configs())
      for (DType y_dt : {DType::kF16, DType::kBF16, DType::kF32}) {
        Epilogue e;
        e.bias = (cfg + s.m) % 2 == 0;
        e.alpha = y_dt == DType::kF32 ? 1.0f : 1.0f / 1024;  // keeps F16 outputs finite
        const Case c = make_case(s.m, s.n, s.k, DType::kI8, DType::kI8, y_dt, true, e, g);
        const GemmPlan plan{cfg, 1, true};
        EXPECT_TRUE(test::bit_equal(run_hw(c, e, &plan), reference(c, e)))
            << detail::gemm::plan_name(plan) << " M=" << s.m << " N=" << s.n << " K=" << s.k
            << " -> " << dtype_name(y_dt);
      }
}

TEST(GpuLinearSm90Q8, Fp8BitExactEveryPairingAndConfig) {
  S24_REQUIRE_SM90();
  auto g = rng(191);
  const DType fp8[] = {DType::kF8E4M3, DType::kF8E5M2};
  int i = 0;
  for (const Shape3& s : kShapes)
    for (int cfg : q8_configs())
      for (DType w_dt : fp8)
        for (DType x_dt : fp8) {
          const int variant = i++;
          const DType y_dt = variant % 3 == 0   ? DType::kF32
                             : variant % 3 == 1 ? DType::kF16
                                                : DType::kBF16;
          Epilogue e;
          e.bias = variant % 2 == 0;
          const Case c = make_case(s.m, s.n, s.k, w_dt, x_dt, y_dt, true, e, g);
          const GemmPlan plan{cfg, 1, true};
          EXPECT_TRUE(test::bit_equal(run_hw(c, e, &plan), reference(c, e)))
              << detail::gemm::plan_name(plan) << " M=" << s.m << " N=" << s.n << " K=" << s.k
              << " " << dtype_name(w_dt) << " x " << dtype_name(x_dt) << " -> " << dtype_name(y_dt);
        }
}

TEST(GpuLinearSm90Q8, BitExactEpilogueCombinations) {
  S24_REQUIRE_SM90();
  auto g = rng(192);
  for (int mask = 0; mask < 32; ++mask) {
    const Epilogue e = test::epilogue_from_mask(mask);
    for (int cfg : q8_configs()) {
      const bool i8 = (mask + cfg) % 2 == 0;
      const DType w_dt = i8 ? DType::kI8 : DType::kF8E4M3;
      const DType y_dt = mask % 3 == 1 ? DType::kF32 : (mask % 3 == 2 ? DType::kBF16 : DType::kF16);
      Epilogue ec = e;
      if (i8 && y_dt != DType::kF32) ec.alpha /= 1024;
      const Case c = make_case(203, 200, 352, w_dt, w_dt, y_dt, true, ec, g);
      const GemmPlan plan{cfg, 1, true};
      EXPECT_TRUE(test::bit_equal(run_hw(c, ec, &plan), reference(c, ec)))
          << detail::gemm::plan_name(plan) << " " << dtype_name(w_dt) << " -> "
          << dtype_name(y_dt) << " bias=" << ec.bias << " xs=" << ec.x_scale << " ws=" << ec.w_scale
          << " res=" << ec.residual << " inplace=" << ec.in_place << " alpha=" << ec.alpha;
    }
  }
}

TEST(GpuLinearSm90Q8, Fp8NormalWithinTolerance) {
  S24_REQUIRE_SM90();
  auto g = rng(193);
  const Shape3 shapes[] = {{512, 768, 768}, {1000, 768, 3072}, {256, 4096, 4096}};
  const Activation acts[] = {Activation::kGeluErf, Activation::kSilu, Activation::kNone};
  int i = 0;
  for (const Shape3& s : shapes)
    for (DType w_dt : {DType::kF8E4M3, DType::kF8E5M2}) {
      Epilogue e;
      e.bias = true;
      e.act = acts[i++ % 3];
      e.w_scale = i % 2;
      const DType y_dt = i % 2 ? DType::kF16 : DType::kF32;
      const Case c = make_case(s.m, s.n, s.k, w_dt, DType::kF8E4M3, y_dt, false, e, g);
      const Tensor want = reference(c, e);
      for (int cfg : q8_configs()) {
        const GemmPlan plan{cfg, 1, true};
        const double err = test::rel_error(run_hw(c, e, &plan), want);
        EXPECT_LT(err, kFp8Tolerance) << detail::gemm::plan_name(plan) << " M=" << s.m
                                      << " N=" << s.n << " K=" << s.k << " " << dtype_name(w_dt);
        std::printf("  fp8 %s x e4m3 -> %s %s M=%lld N=%lld K=%lld: rel error %.2e\n",
                    dtype_name(w_dt), dtype_name(y_dt), detail::gemm::plan_name(plan).c_str(),
                    static_cast<long long>(s.m), static_cast<long long>(s.n),
                    static_cast<long long>(s.k), err);
      }
    }
}

TEST(GpuLinearSm90Q8, PublicPathAndDispatcher) {
  S24_REQUIRE_SM90();
  auto g = rng(194);
  const Device dev = Device::cuda(0);
  for (DType w_dt : {DType::kI8, DType::kF8E4M3, DType::kF8E5M2}) {
    const DType x_dt = w_dt == DType::kF8E5M2 ? DType::kF8E4M3 : w_dt;
    // Decode-sized, BERT-sized and wide shapes all take the wgmma kernel (8-bit has no other).
    for (const Shape3& s : {Shape3{8, 768, 768}, Shape3{2048, 768, 3072}, Shape3{130, 4096, 512}}) {
      const GemmPlan plan = detail::gemm::choose_plan_for(s.m, s.n, s.k, w_dt, Activation::kNone, dev);
      EXPECT_TRUE(plan.wgmma) << detail::gemm::plan_name(plan);
      Epilogue e;
      e.bias = true;
      e.act = Activation::kGeluTanh;
      e.alpha = w_dt == DType::kI8 ? 1.0f / 1024 : 1.0f;
      const Case c = make_case(s.m, s.n, s.k, w_dt, x_dt, DType::kF16, true, e, g);
      const Tensor want = reference(c, e);
      // A prepared weight through s24::linear (returns F16) and an unprepared one through
      // linear_out (the per-call conversion).
      const SparseWeight w(c.w.to(dev));
      const Tensor xd = c.x.to(dev), bd = c.bias.to(dev);
      LinearOptions opt;
      opt.activation = e.act;
      opt.alpha = e.alpha;
      const Tensor y1 = linear(xd, w, &bd, opt);
      EXPECT_EQ(y1.dtype(), DType::kF16);
      EXPECT_TRUE(test::bit_equal(y1.to(Device::cpu()), want)) << dtype_name(w_dt) << " M=" << s.m;
      Tensor y2 = Tensor::empty({s.m, s.n}, DType::kF16, dev);
      test::poison(y2);
      linear_out(xd, c.w.to(dev), &bd, y2, opt);
      EXPECT_TRUE(test::bit_equal(y2.to(Device::cpu()), want)) << dtype_name(w_dt) << " M=" << s.m;
    }
  }
}

TEST(GpuLinearSm90Q8, RefusesWhatItCannotRun) {
  S24_REQUIRE_SM90();
  auto g = rng(195);
  const Device dev = Device::cuda(0);
  const Case c = make_case(64, 128, 128, DType::kI8, DType::kI8, DType::kF16, true, {}, g);
  // A configuration without an 8-bit depth, and an mma.sp plan.
  for (int cfg = 0; cfg < kSm90ConfigCount; ++cfg) {
    if (kSm90Configs[cfg].stages_q8 > 0) continue;
    const GemmPlan plan{cfg, 1, true};
    S24_EXPECT_ERROR(run_hw(c, {}, &plan), kUnsupported, "no 8-bit instantiation");
  }
  const GemmPlan mma_sp{0, 1, false};
  S24_EXPECT_ERROR(run_hw(c, {}, &mma_sp), kUnsupported, "wgmma kernel only");
  // K % 32 != 0, int8 x fp8, an 8-bit output.
  const Case odd_k = make_case(64, 128, 48, DType::kI8, DType::kI8, DType::kF16, true, {}, g);
  S24_EXPECT_ERROR(linear(odd_k.x.to(dev), odd_k.w.to(dev)), kAlignment, "K % 32 == 0");
  const Tensor x_fp8 = test::random_int({64, 128}, DType::kF8E4M3, g);
  S24_EXPECT_ERROR(linear(x_fp8.to(dev), c.w.to(dev)), kDTypeMismatch, "8-bit");
  Tensor y_i8 = Tensor::empty({64, 128}, DType::kI8, dev);
  S24_EXPECT_ERROR(linear_out(c.x.to(dev), c.w.to(dev), nullptr, y_i8), kDTypeMismatch,
                   "F16, BF16 or F32");
}

}  // namespace
}  // namespace s24
