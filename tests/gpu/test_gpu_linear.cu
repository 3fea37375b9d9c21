// GPU tests of the native 2:4 linear (mma.sp GEMM), its hardware layout, and the dense cuBLASLt
// and optional cuSPARSELt baselines. Reference: a double-precision product over the logical
// compressed weight, computed here on the CPU, rounded once to the output dtype.
//  * small-integer inputs: f32 accumulation is exact, so the GPU result must equal the reference
//    bit for bit (every tile configuration and split-K factor);
//  * normal inputs: relative error within tolerance(dtype);
//  * outputs poisoned (NaN) before every run, so an unwritten element fails;
//  * odd and edge shapes, bias / no bias, f16 / bf16, activations, bad arguments, graph capture.
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cusparselt.h"
#include "common/random_compressed.h"
#include "common/test_util.h"
#include "cuda/arch/mma_sp.cuh"
#include "cuda/gemm/sparse_gemm.h"
#include "cuda/gemm/tile_configs.h"
#include "format/format_cpu.h"
#include "format/hw_layout.h"
#include "ops/activation.h"
#include "ops/linear_cuda.h"
#include "ops/linear_dense_cuda.h"
#include "sparse24/sparse24.h"
#include "sparse24/sparse_weight.h"

namespace s24 {
namespace {

using test::exact_scales;
using test::rng;

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

bool have_gpu() {
  if (!cuda_available()) return false;
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  return major >= 8;
}

// A GPU test on a machine without a usable GPU must not pass silently.
#define REQUIRE_GPU()                                                                        \
  do {                                                                                       \
    if (!have_gpu()) GTEST_FAIL() << "no sm_80+ CUDA device: the gpu suite must run on one"; \
  } while (0)

using test::kLegalNibbles;
using test::random_compressed;

Compressed24 random_int_compressed(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  std::uniform_int_distribution<int> d(-4, 4);
  return random_compressed(rows, cols, dtype, g, [&](std::mt19937_64& gg) { return float(d(gg)); });
}
Compressed24 random_normal_compressed(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  return random_compressed(rows, cols, dtype, g, [&](std::mt19937_64& gg) { return d(gg); });
}

// Y = act(X W^T + b) in double from the logical layout, rounded to `dtype` once.
Tensor reference_linear(const Tensor& x, const Compressed24& w, const Tensor* bias, Activation act,
                        DType dtype) {
  const Tensor xf = x.to_f32_cpu(), vf = w.values.to_f32_cpu();
  const int64_t k = w.cols, n = w.rows, m = x.numel() / k;
  const float* xp = xf.data<float>();
  const float* vp = vf.data<float>();
  const uint8_t* mp = w.meta.data<uint8_t>();
  Tensor bf;
  if (bias) bf = bias->to_f32_cpu();
  Tensor out = Tensor::empty({m, n}, DType::kF32);
  float* o = out.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double s = test::sparse_row_dot(vp, mp, r, k, xp + i * k);
      if (bias) s += bf.data<float>()[r];
      o[i * n + r] = detail::activate(act, static_cast<float>(s));
    }
  Shape shape = x.shape();
  shape.back() = n;
  return out.cast_cpu(dtype).view(shape);
}

Compressed24 to_cuda(const Compressed24& c) { return c.to(Device::cuda(0)); }

Tensor poisoned_output(const Shape& shape, DType dtype) {
  Tensor y = Tensor::empty(shape, dtype, Device::cuda(0));
  test::poison(y);
  return y;
}

Tensor run_native(const Tensor& x, const Compressed24& w_cpu, const Tensor* bias,
                  const LinearOptions& opt, const detail::gemm::GemmPlan* plan) {
  const Compressed24 wd = to_cuda(w_cpu);
  const detail::HwLayout hw = detail::to_hw_layout(wd);
  Tensor xd = x.to(Device::cuda(0));
  Tensor bd;
  if (bias) bd = bias->to(Device::cuda(0));
  Shape shape = x.shape();
  shape.back() = w_cpu.rows;
  Tensor y = poisoned_output(shape, x.dtype());
  detail::linear_cuda_hw(xd, hw, bias ? &bd : nullptr, y, opt, plan);
  cuda_synchronize();
  return y.to(Device::cpu());
}

// ---------------------------------------------------------------------------------------------
// The metadata convention of mma.sp m16n8k32 (the one fact the layout rests on), checked in
// isolation: one warp, one instruction, fragments built from the hardware layout, and if that
// fails, the alternative convention tried too so that the failure message says which holds.

__global__ void mma_probe_kernel(const uint32_t* a, const uint32_t* b, const uint32_t* e, float* d,
                                 int selector) {
  const int lane = threadIdx.x;
  uint32_t af[4], bf[4];
  float acc[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    af[i] = a[lane * 4 + i];
    bf[i] = b[lane * 4 + i];
  }
  if (selector == 0)
    arch::mma_sp_16832<arch::MmaF16, 0>(acc, af, bf, e[lane]);
  else
    arch::mma_sp_16832<arch::MmaF16, 1>(acc, af, bf, e[lane]);
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = acc[i];
}

TEST(GpuMmaSp, MetadataConventionMatchesTheLayout) {
  REQUIRE_GPU();
  auto g = rng(1);
  // A 32-row pair x 32 columns; tile 0 runs with selector 0, tile 1 with selector 1.
  const Compressed24 w = random_int_compressed(32, 32, DType::kF16, g);
  const Tensor x = test::random_int({8, 32}, DType::kF16, g);  // B^T: 8 tokens x 32
  const detail::HwLayout hw = detail::to_hw_layout_cpu(w);
  const uint16_t* hv = static_cast<const uint16_t*>(hw.values.raw_data());
  const uint32_t* hm = static_cast<const uint32_t*>(hw.meta.raw_data());
  const uint16_t* xp = static_cast<const uint16_t*>(x.raw_data());
  // B fragment: lane (g, t) register r = tokens g, k = 2t + 8r, +1.
  std::vector<uint32_t> b(128);
  for (int lane = 0; lane < 32; ++lane)
    for (int r = 0; r < 4; ++r) {
      const int kk = 2 * (lane % 4) + 8 * r;
      b[lane * 4 + r] =
          uint32_t(xp[(lane / 4) * 32 + kk]) | (uint32_t(xp[(lane / 4) * 32 + kk + 1]) << 16);
    }
  const Tensor ref = reference_linear(x, w, nullptr, Activation::kNone, DType::kF32);  // [8, 32]
  uint32_t *da, *db, *de;
  float* dd;
  CUDA_OK(cudaMalloc(&da, 512));
  CUDA_OK(cudaMalloc(&db, 512));
  CUDA_OK(cudaMalloc(&de, 128));
  CUDA_OK(cudaMalloc(&dd, 512));
  CUDA_OK(cudaMemcpy(db, b.data(), 512, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(de, hm, 128, cudaMemcpyHostToDevice));  // pair 0, k-step 0
  for (int tile = 0; tile < 2; ++tile) {
    // Block (row tile = tile, k-step 0); blocks are ordered row tile major.
    const int64_t block = tile * detail::hw::ksteps(32);
    CUDA_OK(cudaMemcpy(da, hv + block * 256, 512, cudaMemcpyHostToDevice));
    mma_probe_kernel<<<1, 32>>>(da, db, de, dd, tile);
    CUDA_OK(cudaGetLastError());
    std::vector<float> d(128);
    CUDA_OK(cudaMemcpy(d.data(), dd, 512, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int lane = 0; lane < 32; ++lane)
      for (int c = 0; c < 4; ++c) {
        const int row = tile * 16 + lane / 4 + 8 * (c / 2), tok = 2 * (lane % 4) + (c % 2);
        if (d[lane * 4 + c] != ref.data<float>()[tok * 32 + row]) ++bad;
      }
    EXPECT_EQ(bad, 0) << "mma.sp m16n8k32 disagrees with the documented metadata convention "
                         "(tile "
                      << tile << "); see src/format/hw_layout.h";
  }
  cudaFree(da);
  cudaFree(db);
  cudaFree(de);
  cudaFree(dd);
}

// ---------------------------------------------------------------------------------------------
// Hardware layout

TEST(GpuHwLayout, CpuRoundTripIsExact) {
  auto g = rng(2);
  const int64_t shapes[][2] = {{1, 4}, {3, 12}, {16, 32}, {17, 36}, {33, 260}, {130, 1024}};
  for (auto [rows, cols] : shapes)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const Compressed24 c = random_normal_compressed(rows, cols, dt, g);
      const detail::HwLayout h = detail::to_hw_layout_cpu(c);
      EXPECT_EQ(h.values.numel(), detail::hw::value_count(rows, cols));
      const Compressed24 back = detail::from_hw_layout_cpu(h);
      EXPECT_TRUE(test::bit_equal(back.values, c.values)) << rows << "x" << cols;
      EXPECT_TRUE(test::bit_equal(back.meta, c.meta)) << rows << "x" << cols;
    }
}

TEST(GpuHwLayout, PaddingIsZeroWithLegalMetadata) {
  auto g = rng(3);
  const Compressed24 c = random_normal_compressed(20, 40, DType::kF16, g);
  const detail::HwLayout h = detail::to_hw_layout_cpu(c);
  const uint32_t* m = static_cast<const uint32_t*>(h.meta.raw_data());
  for (int64_t i = 0; i < h.meta.numel(); ++i)
    for (int s = 0; s < 32; s += 4) EXPECT_TRUE(is_legal_nibble((m[i] >> s) & 0xF)) << i;
  // Every value outside the real [20, 40] is +0: count the nonzero bits against the source.
  int64_t nonzero_src = 0, nonzero_hw = 0;
  const uint16_t* sv = static_cast<const uint16_t*>(c.values.raw_data());
  const uint16_t* hv = static_cast<const uint16_t*>(h.values.raw_data());
  for (int64_t i = 0; i < c.values.numel(); ++i) nonzero_src += sv[i] != 0;
  for (int64_t i = 0; i < h.values.numel(); ++i) nonzero_hw += hv[i] != 0;
  EXPECT_EQ(nonzero_src, nonzero_hw);
}

TEST(GpuHwLayout, GpuConversionEqualsCpu) {
  REQUIRE_GPU();
  auto g = rng(4);
  const int64_t shapes[][2] = {{8, 8}, {17, 36}, {64, 128}, {130, 1000}, {256, 4096}};
  for (auto [rows, cols] : shapes)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const Compressed24 c = random_normal_compressed(rows, cols, dt, g);
      const detail::HwLayout cpu = detail::to_hw_layout_cpu(c);
      detail::HwLayout gpu = detail::empty_hw_layout(rows, cols, dt, Device::cuda(0));
      test::poison(gpu.values);
      test::poison(gpu.meta);
      detail::to_hw_layout_cuda(to_cuda(c), gpu, nullptr);
      cuda_synchronize();
      EXPECT_TRUE(test::bit_equal(gpu.values.to(Device::cpu()), cpu.values)) << rows << "x" << cols;
      EXPECT_TRUE(test::bit_equal(gpu.meta.to(Device::cpu()), cpu.meta)) << rows << "x" << cols;
      // And back to the logical layout from the GPU's bytes.
      detail::HwLayout back;
      back.rows = rows;
      back.cols = cols;
      back.values = gpu.values.to(Device::cpu());
      back.meta = gpu.meta.to(Device::cpu());
      const Compressed24 logical = detail::from_hw_layout_cpu(back);
      EXPECT_TRUE(test::bit_equal(logical.values, c.values));
      EXPECT_TRUE(test::bit_equal(logical.meta, c.meta));
    }
}

// ---------------------------------------------------------------------------------------------
// The GEMM

struct Shape3 {
  int64_t m, n, k;
};

TEST(GpuLinear, BitExactOnSmallIntegersHeuristicPlan) {
  REQUIRE_GPU();
  auto g = rng(10);
  // M: 1, 3, 17, 127, 129 (around tile edges); N, K at their minimum (8) and off the tiles;
  // K = 200 is not a multiple of 32 or 128.
  const Shape3 shapes[] = {{1, 8, 8},       {3, 16, 200},    {17, 24, 136},   {127, 72, 264},
                           {129, 136, 520}, {1, 1024, 4096}, {16, 256, 1536}, {64, 200, 1024},
                           {300, 520, 776}, {5, 4096, 8192}};
  for (const Shape3& s : shapes)
    for (DType dt : {DType::kF16, DType::kBF16})
      for (bool with_bias : {false, true}) {
        const Compressed24 w = random_int_compressed(s.n, s.k, dt, g);
        const Tensor x = test::random_int({s.m, s.k}, dt, g);
        const Tensor bias = test::random_int({s.n}, dt, g);
        const Tensor* b = with_bias ? &bias : nullptr;
        const Tensor y = run_native(x, w, b, {}, nullptr);
        const Tensor ref = reference_linear(x, w, b, Activation::kNone, dt);
        EXPECT_TRUE(test::bit_equal(y, ref)) << "M=" << s.m << " N=" << s.n << " K=" << s.k << " "
                                             << dtype_name(dt) << (with_bias ? " bias" : "");
      }
}

TEST(GpuLinear, BitExactForEveryTileConfigAndSplit) {
  REQUIRE_GPU();
  auto g = rng(11);
  using detail::gemm::GemmPlan;
  const Shape3 shapes[] = {{1, 200, 1160}, {29, 136, 2048}, {130, 264, 904}};
  for (const Shape3& s : shapes)
    for (int cfg = 0; cfg < detail::gemm::kConfigCount; ++cfg)
      for (int splits : {1, 2, 3, 7, 32}) {
        const DType dt = (cfg + splits) % 2 ? DType::kF16 : DType::kBF16;
        const Compressed24 w = random_int_compressed(s.n, s.k, dt, g);
        const Tensor x = test::random_int({s.m, s.k}, dt, g);
        const Tensor bias = test::random_int({s.n}, dt, g);
        const GemmPlan plan{cfg, splits};
        const Tensor y = run_native(x, w, &bias, {}, &plan);
        const Tensor ref = reference_linear(x, w, &bias, Activation::kNone, dt);
        EXPECT_TRUE(test::bit_equal(y, ref)) << "plan " << detail::gemm::plan_name(plan)
                                             << " M=" << s.m << " N=" << s.n << " K=" << s.k;
      }
}

TEST(GpuLinear, RandomNormalWithinTolerance) {
  REQUIRE_GPU();
  auto g = rng(12);
  const Shape3 shapes[] = {{1, 4096, 4096}, {16, 1024, 14336}, {64, 768, 3072}, {384, 2304, 768}};
  for (const Shape3& s : shapes)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const Compressed24 w = random_normal_compressed(s.n, s.k, dt, g);
      const Tensor x = test::random_normal({s.m, s.k}, dt, g);
      const Tensor bias = test::random_normal({s.n}, dt, g);
      const Tensor y = run_native(x, w, &bias, {}, nullptr);
      const Tensor ref = reference_linear(x, w, &bias, Activation::kNone, DType::kF32);
      EXPECT_LE(test::rel_error(y, ref), test::tolerance(dt))
          << "M=" << s.m << " N=" << s.n << " K=" << s.k << " " << dtype_name(dt);
    }
}

TEST(GpuLinear, ActivationsMatchTheReference) {
  REQUIRE_GPU();
  auto g = rng(13);
  for (Activation act :
       {Activation::kRelu, Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu})
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const Compressed24 w = random_normal_compressed(136, 520, dt, g);
      const Tensor x = test::random_normal({19, 520}, dt, g, 0.25f);
      const Tensor bias = test::random_normal({136}, dt, g);
      LinearOptions opt;
      opt.activation = act;
      const Tensor y = run_native(x, w, &bias, opt, nullptr);
      const Tensor ref = reference_linear(x, w, &bias, act, DType::kF32);
      EXPECT_LE(test::rel_error(y, ref), test::tolerance(dt)) << static_cast<int>(act);
    }
}

TEST(GpuLinear, PublicPathsAgreeBitForBit) {
  REQUIRE_GPU();
  auto g = rng(14);
  const DType dt = DType::kF16;
  const Compressed24 w = random_int_compressed(264, 1032, dt, g);
  const Tensor x = test::random_int({2, 3, 1032}, dt, g);  // leading dims collapse into M = 6
  const Tensor bias = test::random_int({264}, dt, g);
  const Tensor ref = reference_linear(x, w, &bias, Activation::kNone, dt);
  const Compressed24 wd = to_cuda(w);
  const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
  // 1. s24::linear on the logical Compressed24 (per-call conversion into scratch).
  Tensor y1 = poisoned_output({2, 3, 264}, dt);
  linear_out(xd, wd, &bd, y1);
  // 2. The prepared SparseWeight.
  const SparseWeight sw(wd);
  Tensor y2 = poisoned_output({2, 3, 264}, dt);
  linear_out(xd, sw, &bd, y2);
  const Tensor y3 = linear(xd, sw, &bd);
  cuda_synchronize();
  EXPECT_TRUE(test::bit_equal(y1.to(Device::cpu()), ref));
  EXPECT_TRUE(test::bit_equal(y2.to(Device::cpu()), ref));
  EXPECT_TRUE(test::bit_equal(y3.to(Device::cpu()), ref));
  EXPECT_EQ(sw.rows(), 264);
  EXPECT_EQ(sw.cols(), 1032);
  EXPECT_GT(sw.prepared_bytes(), size_t{0});
}

TEST(GpuLinear, CudaGraphCaptureReplaysTheSameResult) {
  REQUIRE_GPU();
  auto g = rng(15);
  const DType dt = DType::kBF16;
  const Compressed24 w = random_int_compressed(4096, 4096, dt, g);
  const Tensor x = test::random_int({4, 4096}, dt, g);
  const Tensor bias = test::random_int({4096}, dt, g);
  const Tensor ref = reference_linear(x, w, &bias, Activation::kNone, dt);
  const SparseWeight sw(to_cuda(w));
  const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  LinearOptions opt;
  opt.stream = stream;
  Tensor y = poisoned_output({4, 4096}, dt);
  linear_out(xd, sw, &bd, y, opt);  // sizes the split-K workspace outside the capture
  CUDA_OK(cudaStreamSynchronize(stream));
  test::poison(y);
  cudaGraph_t graph;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  linear_out(xd, sw, &bd, y, opt);
  linear_out(xd, sw, &bd, y, opt);  // twice: the split-K counters must re-arm
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 3; ++i) CUDA_OK(cudaGraphLaunch(exec, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  EXPECT_TRUE(test::bit_equal(y.to(Device::cpu()), ref));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(GpuLinear, BadArgumentsAreClearErrors) {
  REQUIRE_GPU();
  auto g = rng(16);
  const Compressed24 w = to_cuda(random_int_compressed(64, 64, DType::kF16, g));
  const SparseWeight sw(w);
  const Tensor x = test::random_int({4, 64}, DType::kF16, g).to(Device::cuda(0));
  Tensor y = Tensor::empty({4, 64}, DType::kF16, Device::cuda(0));
  // K % 8: a legal 2:4 matrix with K = 12.
  {
    const Compressed24 w12 = to_cuda(random_int_compressed(64, 12, DType::kF16, g));
    const Tensor x12 = Tensor::zeros({4, 12}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(detail::linear_cuda(x12, w12, nullptr, y, {}), kAlignment, "K % 8");
  }
  // N % 8.
  {
    const Compressed24 w12 = to_cuda(random_int_compressed(12, 64, DType::kF16, g));
    Tensor y12 = Tensor::empty({4, 12}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(detail::linear_cuda(x, w12, nullptr, y12, {}), kAlignment, "N % 8");
  }
  // dtype mismatch.
  {
    const Tensor xb = Tensor::zeros({4, 64}, DType::kBF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(xb, sw, nullptr, y), kDTypeMismatch, "BF16");
  }
  // F32 weights have no hardware layout.
  {
    const Compressed24 wf = to_cuda(random_int_compressed(64, 64, DType::kF32, g));
    S24_EXPECT_ERROR(SparseWeight{wf}, kDTypeMismatch, "F16, BF16, F8_E4M3, F8_E5M2 or I8");
  }
  // x on the CPU, weight on the GPU.
  {
    const Tensor xc = Tensor::zeros({4, 64}, DType::kF16);
    S24_EXPECT_ERROR(linear_out(xc, sw, nullptr, y), kInvalidArgument, "one device");
  }
  // wrong K, wrong y, wrong bias.
  {
    const Tensor x2 = Tensor::zeros({4, 72}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(x2, sw, nullptr, y), kShapeMismatch, "K = 64");
    Tensor y2 = Tensor::empty({4, 72}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(x, sw, nullptr, y2), kShapeMismatch, "N = 64");
    const Tensor b2 = Tensor::zeros({72}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(x, sw, &b2, y), kShapeMismatch, "bias");
  }
  // y aliasing x.
  {
    Tensor alias =
        Tensor::borrow(const_cast<void*>(x.raw_data()), {4, 64}, DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(x, sw, nullptr, alias), kInvalidArgument, "overlaps");
  }
  // a misaligned x (offset by one element).
  {
    Tensor big = Tensor::zeros({4 * 64 + 8}, DType::kF16, Device::cuda(0));
    const Tensor xm = Tensor::borrow(static_cast<uint16_t*>(big.raw_data()) + 1, {4, 64},
                                     DType::kF16, Device::cuda(0));
    S24_EXPECT_ERROR(linear_out(xm, sw, nullptr, y), kAlignment, "16-byte");
  }
  // Backend::kCuSparseLt on a SparseWeight that was not prepared for it.
  {
    LinearOptions opt;
    opt.backend = Backend::kCuSparseLt;
    S24_EXPECT_ERROR(linear_out(x, sw, nullptr, y, opt), kUnsupported, "kCuSparseLt");
  }
  // An unknown forced plan.
  {
    const detail::gemm::GemmPlan bad{99, 1};
    const detail::HwLayout hw = detail::to_hw_layout(w);
    S24_EXPECT_ERROR(detail::linear_cuda_hw(x, hw, nullptr, y, {}, &bad), kInvalidArgument,
                     "configuration");
  }
}

TEST(GpuLinear, EmptyBatchWritesNothingAndSucceeds) {
  REQUIRE_GPU();
  auto g = rng(17);
  const SparseWeight sw(to_cuda(random_int_compressed(64, 64, DType::kF16, g)));
  const Tensor x = Tensor::empty({0, 64}, DType::kF16, Device::cuda(0));
  Tensor y = Tensor::empty({0, 64}, DType::kF16, Device::cuda(0));
  linear_out(x, sw, nullptr, y);
  cuda_synchronize();
}

// ---------------------------------------------------------------------------------------------
// The extended epilogue of LinearOptions:
//   Y = act(alpha * x_scale[m] * w_scale[n] * acc + bias[n]) + residual[m, n], rounded once.

// The exact products X W^T [m][n] in double, from the logical layout (one per shape; the
// epilogue cases below reuse it).
std::vector<double> reference_products(const Tensor& x, const Compressed24& w) {
  const Tensor xf = x.to_f32_cpu(), vf = w.values.to_f32_cpu();
  const int64_t k = w.cols, n = w.rows, m = x.numel() / k;
  const float* xp = xf.data<float>();
  const float* vp = vf.data<float>();
  const uint8_t* mp = w.meta.data<uint8_t>();
  std::vector<double> acc(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double s = test::sparse_row_dot(vp, mp, r, k, xp + i * k);
      acc[i * n + r] = s;
    }
  return acc;
}

// The host side of one epilogue case: CPU tensors, and the same on the GPU.
struct EpilogueOperands {
  float alpha = 1.0f;
  Activation act = Activation::kNone;
  Tensor x_scale, w_scale, residual;     // CPU (undefined when unused)
  Tensor x_scale_d, w_scale_d, residual_d;  // CUDA copies
  std::string name;
  LinearOptions device_options() const {
    LinearOptions o;
    o.activation = act;
    o.alpha = alpha;
    if (x_scale_d.defined()) o.x_scale = &x_scale_d;
    if (w_scale_d.defined()) o.w_scale = &w_scale_d;
    if (residual_d.defined()) o.residual = &residual_d;
    return o;
  }
};

// mask bits: alpha, x_scale, w_scale, residual. Residual of `residual_shape` (y's shape).
EpilogueOperands make_operands(int mask, Activation act, int64_t m, int64_t n,
                               const Shape& residual_shape, DType dt, std::mt19937_64& g) {
  EpilogueOperands e;
  e.act = act;
  e.name = "mask " + std::to_string(mask) + " act " + std::to_string(static_cast<int>(act));
  if (mask & 1) e.alpha = (mask & 2) ? 0.5f : -3.0f;
  if (mask & 2) e.x_scale = exact_scales(m, g);
  if (mask & 4) e.w_scale = exact_scales(n, g);
  if (mask & 8) e.residual = test::random_int(residual_shape, dt, g);
  if (e.x_scale.defined()) e.x_scale_d = e.x_scale.to(Device::cuda(0));
  if (e.w_scale.defined()) e.w_scale_d = e.w_scale.to(Device::cuda(0));
  if (e.residual.defined()) e.residual_d = e.residual.to(Device::cuda(0));
  return e;
}

// The reference epilogue on exact products, in f32 as the kernels run it (activation.h's
// functions), rounded once to `dtype`, in `shape` (y's).
Tensor reference_epilogue(const std::vector<double>& acc, int64_t m, int64_t n, const Tensor* bias,
                          const EpilogueOperands& e, DType dtype, const Shape& shape) {
  Tensor bf, rf;
  if (bias) bf = bias->to_f32_cpu();
  if (e.residual.defined()) rf = e.residual.to_f32_cpu();
  Tensor out = Tensor::empty({m, n}, DType::kF32);
  float* o = out.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double s = acc[i * n + r] * e.alpha;
      if (e.x_scale.defined()) s *= e.x_scale.data<float>()[i];
      if (e.w_scale.defined()) s *= e.w_scale.data<float>()[r];
      if (bias) s += bf.data<float>()[r];
      float v = detail::activate(e.act, static_cast<float>(s));
      if (e.residual.defined()) v += rf.data<float>()[i * n + r];
      o[i * n + r] = v;
    }
  return out.cast_cpu(dtype).view(shape);
}

TEST(GpuLinearEpilogue, BitExactEveryOptionTileConfigAndSplit) {
  // Every subset of {alpha, x_scale, w_scale, residual}, bias on and off, none / ReLU, through
  // every tile configuration with and without split-K (the split-K fix-up runs the same
  // epilogue); odd M at and around the tile edges. Y is poisoned before every run.
  REQUIRE_GPU();
  auto g = rng(30);
  using detail::gemm::GemmPlan;
  const Shape3 shapes[] = {{1, 136, 1160}, {29, 72, 2048}, {129, 264, 904}};
  for (const Shape3& s : shapes)
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const Compressed24 w = random_int_compressed(s.n, s.k, dt, g);
      const Tensor x = test::random_int({s.m, s.k}, dt, g);
      const Tensor bias = test::random_int({s.n}, dt, g);
      const std::vector<double> acc = reference_products(x, w);
      const detail::HwLayout hw = detail::to_hw_layout(to_cuda(w));
      const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
      for (int cfg = 0; cfg < detail::gemm::kConfigCount; ++cfg)
        for (int splits : {1, 3})
          for (int mask = 0; mask < 16; ++mask) {
            const bool with_bias = (mask + cfg) % 2 == 0;
            const Activation act = (mask / 2 + splits) % 2 ? Activation::kRelu : Activation::kNone;
            const EpilogueOperands e = make_operands(mask, act, s.m, s.n, {s.m, s.n}, dt, g);
            const GemmPlan plan{cfg, splits};
            Tensor y = poisoned_output({s.m, s.n}, dt);
            detail::linear_cuda_hw(xd, hw, with_bias ? &bd : nullptr, y, e.device_options(),
                                   &plan);
            cuda_synchronize();
            const Tensor ref = reference_epilogue(acc, s.m, s.n, with_bias ? &bias : nullptr, e,
                                                  dt, {s.m, s.n});
            ASSERT_TRUE(test::bit_equal(y.to(Device::cpu()), ref))
                << "plan " << detail::gemm::plan_name(plan) << " M=" << s.m << " N=" << s.n
                << " K=" << s.k << " " << dtype_name(dt) << " " << e.name
                << (with_bias ? " bias" : "");
          }
    }
}

TEST(GpuLinearEpilogue, InPlaceResidualEveryPlan) {
  // residual == y: Y += act(alpha x_scale w_scale acc + bias), with and without split-K.
  REQUIRE_GPU();
  auto g = rng(31);
  using detail::gemm::GemmPlan;
  const Shape3 s{77, 136, 1032};
  for (DType dt : {DType::kF16, DType::kBF16}) {
    const Compressed24 w = random_int_compressed(s.n, s.k, dt, g);
    const Tensor x = test::random_int({s.m, s.k}, dt, g);
    const Tensor bias = test::random_int({s.n}, dt, g);
    const std::vector<double> acc = reference_products(x, w);
    const detail::HwLayout hw = detail::to_hw_layout(to_cuda(w));
    const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
    for (int cfg = 0; cfg < detail::gemm::kConfigCount; ++cfg)
      for (int splits : {1, 4}) {
        const EpilogueOperands e =
            make_operands(15, Activation::kRelu, s.m, s.n, {s.m, s.n}, dt, g);
        Tensor y = e.residual_d.clone();
        LinearOptions o = e.device_options();
        o.residual = &y;
        const GemmPlan plan{cfg, splits};
        detail::linear_cuda_hw(xd, hw, &bd, y, o, &plan);
        cuda_synchronize();
        const Tensor ref = reference_epilogue(acc, s.m, s.n, &bias, e, dt, {s.m, s.n});
        EXPECT_TRUE(test::bit_equal(y.to(Device::cpu()), ref))
            << "plan " << detail::gemm::plan_name(plan) << " " << dtype_name(dt);
      }
  }
}

TEST(GpuLinearEpilogue, PublicPathsAndHeuristicPlans) {
  // linear_out on a Compressed24 and on a SparseWeight, leading dims [2, 3] (M = 6) and M = 130
  // (whichever kernel the dispatcher picks for it on this device), in place and not.
  REQUIRE_GPU();
  auto g = rng(32);
  const DType dt = DType::kBF16;
  const Compressed24 w = random_int_compressed(264, 1032, dt, g);
  const Compressed24 wd = to_cuda(w);
  const SparseWeight sw(wd);
  const Tensor bias = test::random_int({264}, dt, g);
  const Tensor bd = bias.to(Device::cuda(0));
  for (Shape lead : {Shape{2, 3}, Shape{130}, Shape{1}}) {
    Shape xs = lead, ys = lead;
    xs.push_back(1032);
    ys.push_back(264);
    const Tensor x = test::random_int(xs, dt, g);
    const int64_t m = x.numel() / 1032;
    const std::vector<double> acc = reference_products(x, w);
    const Tensor xd = x.to(Device::cuda(0));
    const EpilogueOperands e = make_operands(15, Activation::kRelu, m, 264, ys, dt, g);
    const Tensor ref = reference_epilogue(acc, m, 264, &bias, e, dt, ys);
    Tensor y1 = poisoned_output(ys, dt);
    linear_out(xd, wd, &bd, y1, e.device_options());
    Tensor y2 = poisoned_output(ys, dt);
    linear_out(xd, sw, &bd, y2, e.device_options());
    const Tensor y3 = linear(xd, sw, &bd, e.device_options());
    Tensor y4 = e.residual_d.clone();
    LinearOptions in_place = e.device_options();
    in_place.residual = &y4;
    linear_out(xd, sw, &bd, y4, in_place);
    Tensor y5 = e.residual_d.clone();
    in_place.residual = &y5;
    linear_out(xd, wd, &bd, y5, in_place);
    cuda_synchronize();
    EXPECT_TRUE(test::bit_equal(y1.to(Device::cpu()), ref)) << shape_str(xs);
    EXPECT_TRUE(test::bit_equal(y2.to(Device::cpu()), ref)) << shape_str(xs);
    EXPECT_TRUE(test::bit_equal(y3.to(Device::cpu()), ref)) << shape_str(xs);
    EXPECT_TRUE(test::bit_equal(y4.to(Device::cpu()), ref)) << shape_str(xs);
    EXPECT_TRUE(test::bit_equal(y5.to(Device::cpu()), ref)) << shape_str(xs);
  }
}

TEST(GpuLinearEpilogue, EveryActivationWithinTolerance) {
  REQUIRE_GPU();
  auto g = rng(33);
  using detail::gemm::GemmPlan;
  std::uniform_real_distribution<float> scale(0.25f, 2.0f);
  for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kGeluErf,
                         Activation::kGeluTanh, Activation::kSilu})
    for (DType dt : {DType::kF16, DType::kBF16}) {
      const int64_t m = 19, n = 136, k = 520;
      const Compressed24 w = random_normal_compressed(n, k, dt, g);
      const Tensor x = test::random_normal({m, k}, dt, g, 0.25f);
      const Tensor bias = test::random_normal({n}, dt, g);
      EpilogueOperands e;
      e.act = act;
      e.alpha = 0.7f;
      e.x_scale = Tensor::empty({m}, DType::kF32);
      e.w_scale = Tensor::empty({n}, DType::kF32);
      for (int64_t i = 0; i < m; ++i) e.x_scale.data<float>()[i] = scale(g);
      for (int64_t i = 0; i < n; ++i) e.w_scale.data<float>()[i] = scale(g);
      e.residual = test::random_normal({m, n}, dt, g);
      e.x_scale_d = e.x_scale.to(Device::cuda(0));
      e.w_scale_d = e.w_scale.to(Device::cuda(0));
      e.residual_d = e.residual.to(Device::cuda(0));
      const Tensor ref =
          reference_epilogue(reference_products(x, w), m, n, &bias, e, DType::kF32, {m, n});
      const detail::HwLayout hw = detail::to_hw_layout(to_cuda(w));
      const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
      for (int splits : {1, 4}) {
        const GemmPlan plan{detail::gemm::kN64M32, splits};
        Tensor y = poisoned_output({m, n}, dt);
        detail::linear_cuda_hw(xd, hw, &bd, y, e.device_options(), &plan);
        cuda_synchronize();
        EXPECT_LE(test::rel_error(y.to(Device::cpu()), ref), test::tolerance(dt))
            << "act " << static_cast<int>(act) << " " << dtype_name(dt) << " splits " << splits;
      }
    }
}

TEST(GpuLinearEpilogue, BadOperandsAreClearErrors) {
  REQUIRE_GPU();
  auto g = rng(34);
  const SparseWeight sw(to_cuda(random_int_compressed(64, 64, DType::kF16, g)));
  const Tensor x = test::random_int({4, 64}, DType::kF16, g).to(Device::cuda(0));
  Tensor y = Tensor::empty({4, 64}, DType::kF16, Device::cuda(0));
  const Device cuda = Device::cuda(0);
  auto expect = [&](const LinearOptions& o, ErrorCode code, const char* needle) {
    try {
      linear_out(x, sw, nullptr, y, o);
      ADD_FAILURE() << "expected an s24::Error mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  {
    LinearOptions o;
    o.alpha = std::numeric_limits<float>::infinity();
    expect(o, ErrorCode::kInvalidArgument, "alpha");
  }
  const Tensor xs16 = Tensor::zeros({4}, DType::kF16, cuda);
  const Tensor xs5 = Tensor::zeros({5}, DType::kF32, cuda);
  const Tensor ws8 = Tensor::zeros({8}, DType::kF32, cuda);
  const Tensor xs_cpu = Tensor::zeros({4}, DType::kF32);
  {
    LinearOptions o;
    o.x_scale = &xs16;
    expect(o, ErrorCode::kDTypeMismatch, "x_scale");
    o.x_scale = &xs5;
    expect(o, ErrorCode::kShapeMismatch, "x_scale");
    o.x_scale = &xs_cpu;
    expect(o, ErrorCode::kInvalidArgument, "x_scale");
    o.x_scale = nullptr;
    o.w_scale = &ws8;
    expect(o, ErrorCode::kShapeMismatch, "w_scale");
  }
  Tensor rbuf = Tensor::zeros({4 * 64 + 8}, DType::kF16, cuda);
  const Tensor r_misaligned = Tensor::borrow(static_cast<uint16_t*>(rbuf.raw_data()) + 1, {4, 64},
                                             DType::kF16, cuda);
  const Tensor r_bf16 = Tensor::zeros({4, 64}, DType::kBF16, cuda);
  const Tensor r_shape = Tensor::zeros({4, 72}, DType::kF16, cuda);
  Tensor rwide = Tensor::zeros({4, 72}, DType::kF16, cuda);
  const Tensor r_strided =
      Tensor::borrow(rwide.raw_data(), {4, 64}, DType::kF16, cuda, {72, 1});
  {
    LinearOptions o;
    o.residual = &r_misaligned;
    expect(o, ErrorCode::kAlignment, "16-byte");
    o.residual = &r_bf16;
    expect(o, ErrorCode::kDTypeMismatch, "residual");
    o.residual = &r_shape;
    expect(o, ErrorCode::kShapeMismatch, "residual");
    o.residual = &r_strided;
    expect(o, ErrorCode::kInvalidArgument, "contiguous");
  }
  // A residual over part of y (one row further) is not y; one over x is an input.
  {
    Tensor ybuf = Tensor::zeros({5 * 64}, DType::kF16, cuda);
    Tensor y_in = Tensor::borrow(ybuf.raw_data(), {4, 64}, DType::kF16, cuda);
    const Tensor r_shifted =
        Tensor::borrow(static_cast<uint16_t*>(ybuf.raw_data()) + 64, {4, 64}, DType::kF16, cuda);
    LinearOptions o;
    o.residual = &r_shifted;
    try {
      linear_out(x, sw, nullptr, y_in, o);
      ADD_FAILURE() << "a residual overlapping y was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("without being y"), std::string::npos) << e.what();
    }
    const Tensor r_on_x =
        Tensor::borrow(const_cast<void*>(x.raw_data()), {4, 64}, DType::kF16, cuda);
    o.residual = &r_on_x;
    expect(o, ErrorCode::kInvalidArgument, "overlaps x");
  }
  // cuSPARSELt: alpha maps to its alpha; scales and a residual are refused.
  if (detail::cslt::available()) {
    const SparseWeight cs(to_cuda(random_int_compressed(64, 64, DType::kF16, g)),
                          Backend::kCuSparseLt);
    const Tensor ws = Tensor::zeros({64}, DType::kF32, cuda);
    LinearOptions o;
    o.backend = Backend::kCuSparseLt;
    o.w_scale = &ws;
    S24_EXPECT_ERROR(linear_out(x, cs, nullptr, y, o), kUnsupported, "w_scale");
  }
}

TEST(GpuLinearEpilogue, DenseCublasLtPathsMatchTheReference) {
  // linear_dense on CUDA: alpha alone through cuBLASLt's alpha (fused activations and the
  // separate pass), the scales and residual through the f32 product and one elementwise pass.
  // Small integers keep every f32 step exact whatever cuBLASLt's summation order, so the result
  // must be bit-exact; in place (residual == y) through the internal entry point.
  REQUIRE_GPU();
  auto g = rng(35);
  const int64_t m = 37, n = 264, k = 1032;
  for (DType dt : {DType::kF16, DType::kBF16}) {
    const Compressed24 w = random_int_compressed(n, k, dt, g);
    const Tensor dense = decompress(w);
    const Tensor x = test::random_int({m, k}, dt, g);
    const Tensor bias = test::random_int({n}, dt, g);
    const std::vector<double> acc = reference_products(x, w);
    const Tensor xd = x.to(Device::cuda(0)), wd = dense.to(Device::cuda(0));
    const Tensor bd = bias.to(Device::cuda(0));
    for (int mask = 0; mask < 16; ++mask)
      for (Activation act : {Activation::kNone, Activation::kRelu}) {
        const EpilogueOperands e = make_operands(mask, act, m, n, {m, n}, dt, g);
        const Tensor ref = reference_epilogue(acc, m, n, &bias, e, dt, {m, n});
        const Tensor y = linear_dense(xd, wd, &bd, e.device_options());
        cuda_synchronize();
        EXPECT_TRUE(test::bit_equal(y.to(Device::cpu()), ref))
            << dtype_name(dt) << " " << e.name;
        if (e.residual_d.defined()) {
          Tensor yi = e.residual_d.clone();
          LinearOptions o = e.device_options();
          o.residual = &yi;
          detail::linear_dense_cuda(xd, wd, &bd, yi, o);
          cuda_synchronize();
          EXPECT_TRUE(test::bit_equal(yi.to(Device::cpu()), ref))
              << "in place " << dtype_name(dt) << " " << e.name;
        }
      }
    // The smooth activations: within tolerance (the separate activation pass after an alpha-only
    // cuBLASLt call rounds twice).
    for (Activation act : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu})
      for (int mask : {1, 15}) {
        const EpilogueOperands e = make_operands(mask, act, m, n, {m, n}, dt, g);
        const Tensor ref = reference_epilogue(acc, m, n, &bias, e, DType::kF32, {m, n});
        const Tensor y = linear_dense(xd, wd, &bd, e.device_options());
        cuda_synchronize();
        EXPECT_LE(test::rel_error(y.to(Device::cpu()), ref), test::tolerance(dt))
            << dtype_name(dt) << " " << e.name;
      }
  }
}

// ---------------------------------------------------------------------------------------------
// Baselines

TEST(GpuBaselines, DenseCublasLtMatchesTheReference) {
  REQUIRE_GPU();
  auto g = rng(20);
  for (DType dt : {DType::kF16, DType::kBF16})
    for (Activation act : {Activation::kNone, Activation::kRelu, Activation::kGeluErf}) {
      const Compressed24 w = random_normal_compressed(264, 1032, dt, g);
      const Tensor dense = decompress(w);
      const Tensor x = test::random_normal({37, 1032}, dt, g);
      const Tensor bias = test::random_normal({264}, dt, g);
      const Tensor ref = reference_linear(x, w, &bias, act, DType::kF32);
      Tensor y = poisoned_output({37, 264}, dt);
      LinearOptions opt;
      opt.activation = act;
      const Tensor xd = x.to(Device::cuda(0)), wd = dense.to(Device::cuda(0));
      const Tensor bd = bias.to(Device::cuda(0));
      detail::linear_dense_cuda(xd, wd, &bd, y, opt);
      cuda_synchronize();
      EXPECT_LE(test::rel_error(y.to(Device::cpu()), ref), test::tolerance(dt))
          << dtype_name(dt) << " act " << static_cast<int>(act);
    }
}

TEST(GpuBaselines, CuSparseLtMatchesTheReferenceWhenBuilt) {
  REQUIRE_GPU();
  auto g = rng(21);
  const Compressed24 w = random_normal_compressed(1024, 2048, DType::kF16, g);
  if (!detail::cslt::available()) {
    // Without the backend the request must be refused clearly (not skipped as a pass).
    S24_EXPECT_ERROR(SparseWeight(to_cuda(w), Backend::kCuSparseLt), kUnsupported, "cuSPARSELt");
    return;
  }
  for (DType dt : {DType::kF16, DType::kBF16})
    for (int64_t m : {int64_t{1}, int64_t{16}, int64_t{256}}) {
      const Compressed24 wt = random_normal_compressed(1024, 2048, dt, g);
      const SparseWeight sw(to_cuda(wt), Backend::kCuSparseLt);
      const Tensor x = test::random_normal({m, 2048}, dt, g);
      const Tensor bias = test::random_normal({1024}, dt, g);
      const Tensor xd = x.to(Device::cuda(0)), bd = bias.to(Device::cuda(0));
      LinearOptions opt;
      opt.backend = Backend::kCuSparseLt;
      for (int rep = 0; rep < 2; ++rep) {  // first call plans and tunes, second reuses the plan
        Tensor y = poisoned_output({m, 1024}, dt);
        linear_out(xd, sw, &bd, y, opt);
        cuda_synchronize();
        const Tensor ref = reference_linear(x, wt, &bias, Activation::kNone, DType::kF32);
        EXPECT_LE(test::rel_error(y.to(Device::cpu()), ref), test::tolerance(dt))
            << dtype_name(dt) << " M=" << m << " rep " << rep;
      }
    }
}

}  // namespace
}  // namespace s24
