// GPU tests of the sm_90a wgmma.mma_async.sp GEMM (sparse_gemm_sm90.cu) against a CPU reference
// in double precision over the logical compressed weight, with the whole epilogue of ops.h
// (alpha, x_scale, w_scale, bias, activation, residual), rounded once.
//  * small integers (and power-of-two scales): exact in f32, so bit-equal for every tile config;
//  * normal inputs: relative error within tolerance(dtype);
//  * outputs poisoned before every run; tails in M, N and K; in-place residual; the dispatcher's
//    own choice; SASS of the shipped kernel checked separately (scripts/gpu_check.sh).
// On a GPU other than sm_90 the suite fails rather than pass silently: the dispatcher would never
// pick this kernel there, and a forced plan must throw kUnsupported (checked in that case).
#include <cuda_runtime.h>

#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/random_compressed.h"
#include "common/gpu_linear_case.h"
#include "common/gpu_test.h"
#include "common/test_util.h"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/tile_configs.h"
#include "format/format_cpu.h"
#include "format/hw_layout.h"
#include "ops/activation.h"
#include "ops/linear_cuda.h"
#include "sparse24/sparse24.h"
#include "sparse24/sparse_weight.h"

namespace s24 {
namespace {

using detail::gemm::GemmPlan;
using test::rng;

using test::kLegalNibbles;
using test::random_compressed;
using test::run_hw;

using Epilogue = test::EpilogueSpec;
using Case = test::LinearCase;

// Scales are powers of two in the small-integer cases, so every product stays exact.
Case make_case(int64_t m, int64_t n, int64_t k, DType dt, bool integers, const Epilogue& e,
               std::mt19937_64& g) {
  Case c;
  c.y_dtype = dt;
  std::uniform_int_distribution<int> small(-4, 4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto value = [&](std::mt19937_64& gg) { return integers ? float(small(gg)) : normal(gg); };
  auto values = [&](std::vector<int64_t> shape) {
    return integers ? test::random_int(shape, dt, g) : test::random_normal(shape, dt, g);
  };
  c.w = random_compressed(n, k, dt, g, value);
  c.x = values({m, k});
  if (e.bias) c.bias = values({n});
  if (e.x_scale) c.x_scale = test::random_scales(m, integers, g);
  if (e.w_scale) c.w_scale = test::random_scales(n, integers, g);
  if (e.residual) c.residual = values({m, n});
  return c;
}

Tensor reference(const Case& c, const Epilogue& e, DType dt) {
  const Tensor xf = c.x.to_f32_cpu(), vf = c.w.values.to_f32_cpu();
  const int64_t k = c.w.cols, n = c.w.rows, m = c.x.size(0);
  const float* xp = xf.data<float>();
  const float* vp = vf.data<float>();
  const uint8_t* mp = c.w.meta.data<uint8_t>();
  Tensor bf, rf;
  if (e.bias) bf = c.bias.to_f32_cpu();
  if (e.residual) rf = c.residual.to_f32_cpu();
  Tensor out = Tensor::empty({m, n}, DType::kF32);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double s = test::sparse_row_dot(vp, mp, r, k, xp + i * k);
      double scale = e.alpha;
      if (e.x_scale) scale *= c.x_scale.data<float>()[i];
      if (e.w_scale) scale *= c.w_scale.data<float>()[r];
      double v = s * scale;
      if (e.bias) v += bf.data<float>()[r];
      float f = detail::activate(e.act, static_cast<float>(v));
      if (e.residual) f += rf.data<float>()[i * n + r];
      out.data<float>()[i * n + r] = f;
    }
  return out.cast_cpu(dt);
}

struct Shape3 {
  int64_t m, n, k;
};

TEST(GpuLinearSm90, BitExactEveryTileConfigWithTails) {
  S24_REQUIRE_SM90();
  auto g = rng(90);
  // Tails in every dimension: M not a multiple of any token tile, N not of 128, K not of 64
  // (K % 16 == 0 is required: K % 16 == 8 must be refused, the public path then takes the mma.sp
  // kernel), a single k-block, and several tiles per CTA of the grid (both ping-pong warpgroups
  // with odd and even tile counts).
  const Shape3 shapes[] = {{1, 8, 8},       {129, 136, 72},  {300, 264, 1160}, {64, 128, 64},
                           {777, 520, 776}, {4100, 384, 256}, {129, 136, 80},  {777, 520, 784},
                           {3, 8, 16}};
  for (const Shape3& s : shapes)
    for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg)
      for (DType dt : {DType::kF16, DType::kBF16}) {
        Epilogue e;
        e.bias = (cfg + s.m) % 2 == 0;
        // The unscaled register epilogue (unrolled for no activation and ReLU), with and
        // without a bias.
        e.act = (cfg + s.n + (dt == DType::kBF16)) % 3 == 0 ? Activation::kRelu : Activation::kNone;
        const Case c = make_case(s.m, s.n, s.k, dt, true, e, g);
        const GemmPlan plan{cfg, 1, true};
        if (s.k % 16 != 0) {
          S24_EXPECT_ERROR(run_hw(c, e, &plan), kUnsupported, "K must be a multiple of 16");
          continue;
        }
        const Tensor y = run_hw(c, e, &plan);
        EXPECT_TRUE(test::bit_equal(y, reference(c, e, dt)))
            << detail::gemm::plan_name(plan) << " M=" << s.m << " N=" << s.n << " K=" << s.k
            << " " << dtype_name(dt) << " bias=" << e.bias
            << " relu=" << (e.act == Activation::kRelu);
      }
}

TEST(GpuLinearSm90, BitExactEpilogueCombinations) {
  S24_REQUIRE_SM90();
  auto g = rng(91);
  std::vector<Epilogue> cases;
  for (int mask = 0; mask < 32; ++mask) cases.push_back(test::epilogue_from_mask(mask));
  for (const Epilogue& e : cases)
    for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
      const DType dt = cfg % 2 ? DType::kBF16 : DType::kF16;
      const Case c = make_case(203, 200, 336, dt, true, e, g);
      const GemmPlan plan{cfg, 1, true};
      EXPECT_TRUE(test::bit_equal(run_hw(c, e, &plan), reference(c, e, dt)))
          << detail::gemm::plan_name(plan) << " bias=" << e.bias << " xs=" << e.x_scale
          << " ws=" << e.w_scale << " res=" << e.residual << " inplace=" << e.in_place
          << " alpha=" << e.alpha;
    }
}

// 16-bit outputs without a residual take the register epilogue (stmatrix staging); a residual
// selects the f32-staged one. With a zero residual both must give the same values: the same
// f32 arithmetic and activation code, rounded once (as values, since + 0 turns -0 into +0).
// Every activation, scale and alpha combination in turn, every tile configuration, tails in M
// and N, normal inputs (GELU and SiLU then see every range of arguments).
TEST(GpuLinearSm90, RegisterEpilogueEqualsStagedEpilogue) {
  S24_REQUIRE_SM90();
  auto g = rng(93);
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf,
                             Activation::kGeluTanh, Activation::kSilu};
  int i = 0;
  for (Activation act : acts)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      Epilogue e;
      e.act = act;
      e.bias = i % 4 != 3;
      e.w_scale = i % 2 == 1;
      e.x_scale = i % 3 == 0;
      e.alpha = i % 5 == 2 ? 0.5f : 1.0f;
      ++i;
      const int64_t m = 333, n = 264;
      const Case c = make_case(m, n, 320, dt, false, e, g);
      Epilogue staged = e;
      staged.residual = true;
      Case zero_residual = c;
      zero_residual.residual = Tensor::zeros({m, n}, dt);
      for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
        const GemmPlan plan{cfg, 1, true};
        const Tensor a = run_hw(c, e, &plan).to_f32_cpu();
        const Tensor b = run_hw(zero_residual, staged, &plan).to_f32_cpu();
        int64_t differ = 0, first = -1;
        for (int64_t j = 0; j < m * n; ++j)
          if (!(a.data<float>()[j] == b.data<float>()[j]) && differ++ == 0) first = j;
        EXPECT_EQ(differ, 0) << detail::gemm::plan_name(plan) << " " << dtype_name(dt)
                             << " activation " << static_cast<int>(act) << ", first at "
                             << first;
      }
    }
}

// GELU (erf) has two epilogue forms, chosen by the number of tiles (the unrolled one only on
// large products): forced each way on every tile configuration, with tails, they must give the
// same bits (the same arithmetic per value; only the loop structure differs).
TEST(GpuLinearSm90, UnrolledGeluEqualsRolledGelu) {
  S24_REQUIRE_SM90();
  auto g = rng(94);
  int i = 0;
  for (DType dt : {DType::kF16, DType::kBF16})
    for (int variant = 0; variant < 2; ++variant) {
      Epilogue e;
      e.act = Activation::kGeluErf;
      e.bias = variant == 0;
      e.w_scale = variant == 1;
      e.alpha = variant == 1 ? 0.5f : 1.0f;
      const int64_t m = 333 + 64 * i++, n = 264;
      const Case c = make_case(m, n, 320, dt, false, e, g);
      for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
        GemmPlan rolled{cfg, 1, true}, unrolled{cfg, 1, true};
        rolled.gelu_unroll = 0;
        unrolled.gelu_unroll = 1;
        const Tensor a = run_hw(c, e, &rolled), b = run_hw(c, e, &unrolled);
        EXPECT_TRUE(test::bit_equal(a, b))
            << detail::gemm::plan_name(rolled) << " " << dtype_name(dt) << " variant " << variant;
        EXPECT_LT(test::rel_error(b, reference(c, e, dt)), test::tolerance(dt))
            << detail::gemm::plan_name(unrolled) << " " << dtype_name(dt);
      }
    }
}

// Programmatic dependent launch (detail::programmatic_launch): a GEMM may start before the
// previous kernel's memory operations are visible, and must wait for them before its first global
// access.
// Each product of this chain reads the buffer that the previous one wrote (read after write)
// and overwrites the one that the previous one read (write after read), launched back to back
// with no synchronization, every tile configuration in turn (clustered and ping-pong ones
// included). The GEMM is deterministic, so the chain must give the bits of the same launches with
// a device synchronization after each; its first product must also match the CPU reference.
TEST(GpuLinearSm90, ChainedProductsWithoutSynchronization) {
  S24_REQUIRE_SM90();
  auto g = rng(95);
  const int64_t m = 3000, d = 1024;
  const DType dt = DType::kF16;
  const Device dev = Device::cuda(0);
  Epilogue e;
  e.bias = true;
  e.alpha = 0.04f;  // about 1 / sqrt(512 kept products): values stay O(1) along the chain
  std::vector<Case> steps;
  std::vector<detail::HwLayout> weights;
  std::vector<Tensor> biases;
  for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
    steps.push_back(make_case(m, d, d, dt, false, e, g));
    weights.push_back(detail::to_hw_layout(steps.back().w.to(dev)));
    biases.push_back(steps.back().bias.to(dev));
  }
  auto run_chain = [&](bool synchronize_each) {
    Tensor a = steps[0].x.to(dev);
    Tensor b = Tensor::empty({m, d}, dt, dev);
    test::poison(b);
    cuda_synchronize();
    Tensor first;
    for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
      LinearOptions opt;
      opt.alpha = e.alpha;
      const GemmPlan plan{cfg, 1, true};
      detail::linear_cuda_hw(a, weights[cfg], &biases[cfg], b, opt, &plan);
      if (synchronize_each) cuda_synchronize();
      if (cfg == 0 && synchronize_each) first = b.to(Device::cpu());
      std::swap(a, b);
    }
    cuda_synchronize();
    return std::make_pair(a.to(Device::cpu()), first);
  };
  const auto [serial, first] = run_chain(true);
  EXPECT_LT(test::rel_error(first, reference(steps[0], e, dt)), test::tolerance(dt));
  for (int round = 0; round < 3; ++round)
    EXPECT_TRUE(test::bit_equal(run_chain(false).first, serial)) << "round " << round;
}

TEST(GpuLinearSm90, RandomNormalWithinTolerance) {
  S24_REQUIRE_SM90();
  auto g = rng(92);
  const Shape3 shapes[] = {{512, 768, 768}, {1536, 3072, 768}, {1000, 768, 3072}, {256, 4096, 4096}};
  const Activation acts[] = {Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu,
                             Activation::kNone};
  int i = 0;
  for (const Shape3& s : shapes)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      Epilogue e;
      e.bias = true;
      e.act = acts[i++ % 4];
      e.w_scale = i % 2;
      e.residual = i % 3 == 0;
      const Case c = make_case(s.m, s.n, s.k, dt, false, e, g);
      const Tensor ref = reference(c, e, dt);
      for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
        const GemmPlan plan{cfg, 1, true};
        const double err = test::rel_error(run_hw(c, e, &plan), ref);
        EXPECT_LT(err, test::tolerance(dt)) << detail::gemm::plan_name(plan) << " M=" << s.m
                                            << " N=" << s.n << " K=" << s.k << " "
                                            << dtype_name(dt);
      }
    }
}

// S24_SM90_TILES: the values that force plans, and the malformed ones that must be refused with
// a message (host code only; choose_sm90_plan reads the variable once per process).
TEST(GpuLinearSm90, TileOverrideParsing) {
  namespace gm = detail::gemm;
  const gm::Sm90TileOverride none = gm::parse_sm90_tile_override(nullptr);
  EXPECT_TRUE(none.error.empty());
  EXPECT_EQ(none.activated.config, -1);
  EXPECT_EQ(none.plain.config, -1);
  EXPECT_EQ(gm::parse_sm90_tile_override("").plain.config, -1);

  const gm::Sm90TileOverride both =
      gm::parse_sm90_tile_override("activated:wge_n128m192,plain:wg_n128m256:unrolled");
  EXPECT_TRUE(both.error.empty()) << both.error;
  EXPECT_EQ(both.activated.config, gm::kSm90EpilogueN128M192);
  EXPECT_EQ(both.activated.gelu_unroll, -1);
  EXPECT_TRUE(both.activated.wgmma);
  EXPECT_EQ(both.plain.config, gm::kSm90N128M256);
  EXPECT_EQ(both.plain.gelu_unroll, 1);

  const gm::Sm90TileOverride plain = gm::parse_sm90_tile_override("plain:wgc_n128m128:rolled");
  EXPECT_TRUE(plain.error.empty()) << plain.error;
  EXPECT_EQ(plain.activated.config, -1);
  EXPECT_EQ(plain.plain.config, gm::kSm90ClusterN128M128);
  EXPECT_EQ(plain.plain.gelu_unroll, 0);

  for (const char* bad : {"plain", "plain:", "plain:wg_n128m999", "gelu:wg_n128m128",
                          "plain:wg_n128m128:fast", "plain:wg_n128m128:unrolled:x",
                          ",plain:wg_n128m128", "activated:wg_n128m128;plain:wg_n128m128"}) {
    const gm::Sm90TileOverride o = gm::parse_sm90_tile_override(bad);
    EXPECT_NE(o.error.find("S24_SM90_TILES"), std::string::npos) << "'" << bad << "'";
  }
}

TEST(GpuLinearSm90, DispatcherPicksWgmmaForLargeM) {
  S24_REQUIRE_SM90();
  const GemmPlan large = detail::gemm::choose_plan_for(4096, 3072, 768, DType::kF16,
                                                       Activation::kNone, Device::cuda(0));
  EXPECT_TRUE(large.wgmma) << detail::gemm::plan_name(large);
  const GemmPlan decode = detail::gemm::choose_plan_for(8, 3072, 768, DType::kF16,
                                                        Activation::kNone, Device::cuda(0));
  EXPECT_FALSE(decode.wgmma) << detail::gemm::plan_name(decode);
  // 128 tokens over too few output tiles to fill the GPU: the split-K mma.sp kernel.
  const GemmPlan narrow =
      detail::gemm::choose_plan_for(128, 4096, 14336, DType::kF16, Activation::kNone,
                                    Device::cuda(0));
  EXPECT_FALSE(narrow.wgmma) << detail::gemm::plan_name(narrow);
  // And the public path with no forced plan agrees with the reference.
  auto g = rng(93);
  Epilogue e;
  e.bias = true;
  e.act = Activation::kGeluErf;
  const Case c = make_case(2048, 768, 768, DType::kBF16, false, e, g);
  const SparseWeight w(c.w.to(Device::cuda(0)));
  const Tensor xd = c.x.to(Device::cuda(0)), bd = c.bias.to(Device::cuda(0));
  LinearOptions opt;
  opt.activation = e.act;
  const Tensor y = linear(xd, w, &bd, opt).to(Device::cpu());
  EXPECT_LT(test::rel_error(y, reference(c, e, DType::kBF16)), test::tolerance(DType::kBF16));
}

TEST(GpuLinearSm90, LayoutWithoutRowValues) {
  S24_REQUIRE_SM90();
  auto g = rng(95);
  const Case c = make_case(1500, 256, 512, DType::kF16, true, {}, g);
  const Tensor want = reference(c, {}, DType::kF16);
  // A forced wgmma plan is refused with the reason; the dispatcher falls back to mma.sp.
  for (int cfg = 0; cfg < detail::gemm::kSm90ConfigCount; ++cfg) {
    const GemmPlan plan{cfg, 1, true};
    S24_EXPECT_ERROR(run_hw(c, {}, &plan, false), kUnsupported, "no row-major values");
  }
  EXPECT_TRUE(test::bit_equal(run_hw(c, {}, nullptr, false), want));
  EXPECT_TRUE(test::bit_equal(run_hw(c, {}, nullptr, true), want));
  const Case odd_k = make_case(1500, 256, 520, DType::kF16, true, {}, g);  // K % 16 == 8
  EXPECT_TRUE(test::bit_equal(run_hw(odd_k, {}, nullptr, true), reference(odd_k, {}, DType::kF16)));
}

TEST(GpuLinearSm90, UnknownConfigIsAnError) {
  S24_REQUIRE_SM90();
  auto g = rng(94);
  const Case c = make_case(128, 128, 128, DType::kF16, true, {}, g);
  const GemmPlan bad{detail::gemm::kSm90ConfigCount, 1, true};
  S24_EXPECT_ERROR(run_hw(c, {}, &bad), kInvalidArgument, "sm_90a GEMM tile configuration");
}

}  // namespace
}  // namespace s24
