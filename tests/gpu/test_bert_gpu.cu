// GPU tests of the BERT runtime (src/model/bert_cuda.cu, bert_gpu.cc) against the CPU f32
// references (src/model/bert_cpu.cc, bert_layers.cc, bert_model.cc):
//  * every kernel alone (residual LayerNorm, embeddings + LayerNorm, fused attention, mean
//    pooling) on fresh random inputs rounded to f16 / bf16, the CPU reference fed the same
//    rounded values, so only the kernel's own arithmetic (f32 accumulation, rounding of
//    probabilities and outputs) separates them; outputs poisoned (NaN) first, and memory beside
//    the outputs checked untouched;
//  * attention with padding masks (suffix padding, holes, a row with every key masked), odd
//    sequence lengths (1, 7, 65, 130, 384), head sizes 32 and 64, fused-QKV and separate layouts;
//  * whole models: small random BERTs (weights rounded to the dtype on both sides) dense and 2:4,
//    a layer whose Q/K/V modes differ (unfused QKV), CUDA-graph replay against eager runs, no
//    device allocation per run; all-MiniLM-L6-v2 (when present) f16 / bf16 against CPU f32:
//    sentence-embedding cosine > 0.999 (f16), and the pruned model dense vs 2:4 on the GPU
//    against the CPU pruned model;
//  * bad arguments: clear errors.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "model/bert_cpu.h"
#include "model/bert_cuda.h"
#include "ops/linear_dense_cuda.h"
#include "sparse24/model/bert.h"
#include "sparse24/model/bert_gpu.h"
#include "sparse24/model/tokenizer.h"
#include "sparse24/sparse24.h"

namespace s24::model {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

bool have_gpu() {
  if (!cuda_available()) return false;
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess) {
    return false;
  }
  return major >= 8;
}

// A GPU test on a machine without a usable GPU must not pass silently.
#define REQUIRE_GPU()                                                                         \
  do {                                                                                        \
    if (!have_gpu()) GTEST_FAIL() << "no sm_80+ CUDA device: the gpu suite must run on one"; \
  } while (0)

const Device kGpu = Device::cuda(0);
const DType kDTypes[] = {DType::kF16, DType::kBF16};

// Relative / absolute bounds of one rounding to the dtype, with room for f32 reordering.
double round_rtol(DType dt) { return dt == DType::kF16 ? 1.0 / 1024 : 1.0 / 128; }

// Values the GPU sees: rounded to `dt`, widened back.
Tensor rounded(const Tensor& f32, DType dt) { return f32.cast_cpu(dt).to_f32_cpu(); }

// |got - want| <= atol + rtol |want| everywhere (NaN fails); reports the worst element.
::testing::AssertionResult all_close(const Tensor& got_any, const Tensor& want_any, double rtol,
                                     double atol) {
  const Tensor got = got_any.to_f32_cpu(), want = want_any.to_f32_cpu();
  if (got.numel() != want.numel()) {
    return ::testing::AssertionFailure() << "sizes differ: " << got.numel() << " vs "
                                         << want.numel();
  }
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.data<float>()[i], w = want.data<float>()[i];
    const double d = std::abs(g - w), bound = atol + rtol * std::abs(w);
    if (!(d <= bound)) {
      ++bad;
      const double excess = std::isnan(d) ? INFINITY : d - bound;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.numel() << " elements off; worst at " << worst << ": got "
         << got.data<float>()[worst] << ", want " << want.data<float>()[worst];
}

// A poisoned CUDA buffer of `rows` x `ld` elements and its [rows, cols] view (cols <= ld).
struct PoisonedOut {
  Tensor buffer;
  Tensor view;
  PoisonedOut(int64_t rows, int64_t cols, int64_t ld, DType dt) {
    buffer = Tensor::empty({rows + 1, ld}, dt, kGpu);  // one extra row past the view
    test::poison(buffer);
    view = Tensor::borrow(buffer.raw_data(), {rows, cols}, dt, kGpu, {ld, 1});
  }
  // Every element outside the view still holds the poison bits.
  ::testing::AssertionResult untouched_outside() const {
    const Tensor host = buffer.to(Device::cpu());
    const auto* p = static_cast<const uint16_t*>(host.raw_data());
    const int64_t rows = view.size(0), cols = view.size(1), ld = buffer.size(1);
    for (int64_t r = 0; r <= rows; ++r) {
      for (int64_t c = 0; c < ld; ++c) {
        if (r < rows && c < cols) continue;
        if (p[r * ld + c] != 0xFFFF) {
          return ::testing::AssertionFailure() << "element [" << r << ", " << c
                                               << "] outside the output was written";
        }
      }
    }
    return ::testing::AssertionSuccess();
  }
  Tensor result() const { return view.to(Device::cpu()).to_f32_cpu(); }
};

// ---- LayerNorm ------------------------------------------------------------------------------

TEST(BertGpuKernels, ResidualLayerNormMatchesCpu) {
  REQUIRE_GPU();
  auto g = test::rng(101);
  const double eps = 1e-12;
  for (DType dt : kDTypes) {
    for (int64_t h : {8, 136, 384, 768, 1024, 2048}) {
      for (int64_t rows : {1, 7, 65}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " h=" + std::to_string(h) +
                     " rows=" + std::to_string(rows));
        const Tensor x = rounded(test::random_normal({rows, h}, DType::kF32, g, 2.0f), dt);
        const Tensor res = rounded(test::random_normal({rows, h}, DType::kF32, g, 1.0f), dt);
        // A row with a large common offset: the two-pass variance must not cancel.
        Tensor xs = x.clone();
        for (int64_t c = 0; c < h; ++c) xs.data<float>()[c] += 300.0f;
        const Tensor xr = rounded(xs, dt);
        const Tensor gamma = test::random_normal({h}, DType::kF32, g, 1.0f);
        const Tensor beta = test::random_normal({h}, DType::kF32, g, 0.5f);
        Tensor want = Tensor::empty({rows, h}, DType::kF32);
        cpu::layer_norm(xr.data<float>(), res.data<float>(), gamma.data<float>(),
                        beta.data<float>(), want.data<float>(), rows, h, eps, nullptr, nullptr);
        Tensor want_plain = Tensor::empty({rows, h}, DType::kF32);
        cpu::layer_norm(xr.data<float>(), nullptr, gamma.data<float>(), beta.data<float>(),
                        want_plain.data<float>(), rows, h, eps, nullptr, nullptr);

        const Tensor xg = xr.cast_cpu(dt).to(kGpu), rg = res.cast_cpu(dt).to(kGpu);
        const Tensor gg = gamma.to(kGpu), bg = beta.to(kGpu);
        PoisonedOut out(rows, h, h, dt);
        gpu::residual_layer_norm(xg, &rg, gg, bg, static_cast<float>(eps), out.view, nullptr);
        cuda_synchronize();
        EXPECT_TRUE(all_close(out.result(), want, round_rtol(dt), round_rtol(dt)));
        EXPECT_TRUE(out.untouched_outside());

        PoisonedOut plain(rows, h, h, dt);
        gpu::residual_layer_norm(xg, nullptr, gg, bg, static_cast<float>(eps), plain.view,
                                 nullptr);
        cuda_synchronize();
        EXPECT_TRUE(all_close(plain.result(), want_plain, round_rtol(dt), round_rtol(dt)));

        // In place into the residual (the model's use): the same bits as out of place.
        Tensor in_place = rg.clone();
        gpu::residual_layer_norm(xg, &in_place, gg, bg, static_cast<float>(eps), in_place,
                                 nullptr);
        cuda_synchronize();
        EXPECT_TRUE(test::bit_equal(in_place, out.view.contiguous()));
      }
    }
  }
}

TEST(BertGpuKernels, LayerNormRejectsBadArguments) {
  REQUIRE_GPU();
  const Tensor gamma = Tensor::zeros({12}, DType::kF32, kGpu);
  const Tensor x = Tensor::zeros({2, 12}, DType::kF16, kGpu);
  Tensor out = Tensor::zeros({2, 12}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::residual_layer_norm(x, nullptr, gamma, gamma, 1e-5f, out, nullptr),
                   kAlignment, "multiple of 8");
  const Tensor x32 = Tensor::zeros({2, 16}, DType::kF32, kGpu);
  const Tensor g16 = Tensor::zeros({16}, DType::kF32, kGpu);
  Tensor o32 = Tensor::zeros({2, 16}, DType::kF32, kGpu);
  S24_EXPECT_ERROR(gpu::residual_layer_norm(x32, nullptr, g16, g16, 1e-5f, o32, nullptr),
                   kDTypeMismatch, "F16 or BF16");
  const Tensor xh = Tensor::zeros({2, 16}, DType::kF16, kGpu);
  const Tensor rb = Tensor::zeros({2, 16}, DType::kBF16, kGpu);
  Tensor oh = Tensor::zeros({2, 16}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::residual_layer_norm(xh, &rb, g16, g16, 1e-5f, oh, nullptr),
                   kDTypeMismatch, "residual");
  const Tensor wide = Tensor::zeros({2, 4096}, DType::kF16, kGpu);
  const Tensor gw = Tensor::zeros({4096}, DType::kF32, kGpu);
  Tensor ow = Tensor::zeros({2, 4096}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::residual_layer_norm(wide, nullptr, gw, gw, 1e-5f, ow, nullptr),
                   kUnsupported, "exceeds");
}

// ---- embeddings -----------------------------------------------------------------------------

TEST(BertGpuKernels, EmbeddingsLayerNormMatchesCpu) {
  REQUIRE_GPU();
  auto g = test::rng(102);
  const int64_t vocab = 50, max_pos = 70, ntypes = 2;
  for (DType dt : kDTypes) {
    for (int64_t h : {64, 384}) {
      for (auto [b, s] : {std::pair<int64_t, int64_t>{1, 1}, {2, 7}, {3, 65}, {1, 70}}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " h=" + std::to_string(h) + " b=" +
                     std::to_string(b) + " s=" + std::to_string(s));
        Embeddings e;
        e.word = rounded(test::random_normal({vocab, h}, DType::kF32, g, 1.0f), dt);
        e.position = rounded(test::random_normal({max_pos, h}, DType::kF32, g, 1.0f), dt);
        e.token_type = rounded(test::random_normal({ntypes, h}, DType::kF32, g, 1.0f), dt);
        e.norm = LayerNorm(test::random_normal({h}, DType::kF32, g, 1.0f),
                           test::random_normal({h}, DType::kF32, g, 0.5f), 1e-12);
        std::vector<int32_t> ids(b * s), types(b * s), mask(b * s, 1);
        std::uniform_int_distribution<int32_t> id(0, vocab - 1), ty(0, ntypes - 1);
        for (auto& v : ids) v = id(g);
        for (auto& v : types) v = ty(g);
        const BertBatch batch = BertBatch::from_rows(b, s, ids, types, mask);
        const Tensor want = e.forward(batch);

        PoisonedOut out(b * s, h, h, dt);
        gpu::embeddings_layer_norm(batch.input_ids.to(kGpu), batch.token_type_ids.to(kGpu),
                                   e.word.cast_cpu(dt).to(kGpu), e.position.cast_cpu(dt).to(kGpu),
                                   e.token_type.cast_cpu(dt).to(kGpu), e.norm.gamma().to(kGpu),
                                   e.norm.beta().to(kGpu), 1e-12f, out.view, nullptr);
        cuda_synchronize();
        EXPECT_TRUE(all_close(out.result(), want, round_rtol(dt), round_rtol(dt)));
        EXPECT_TRUE(out.untouched_outside());
      }
    }
  }
}

TEST(BertGpuKernels, EmbeddingsRejectBadArguments) {
  REQUIRE_GPU();
  const Tensor table = Tensor::zeros({10, 16}, DType::kF16, kGpu);
  const Tensor pos = Tensor::zeros({4, 16}, DType::kF16, kGpu);
  const Tensor gamma = Tensor::zeros({16}, DType::kF32, kGpu);
  const Tensor ids = Tensor::zeros({1, 5}, DType::kI32, kGpu);
  Tensor out = Tensor::zeros({5, 16}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::embeddings_layer_norm(ids, ids, table, pos, table, gamma, gamma, 1e-5f,
                                              out, nullptr),
                   kInvalidArgument, "exceeds the 4 positions");
  const Tensor ids_cpu = Tensor::zeros({1, 3}, DType::kI32);
  Tensor out3 = Tensor::zeros({3, 16}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::embeddings_layer_norm(ids_cpu, ids_cpu, table, pos, table, gamma, gamma,
                                              1e-5f, out3, nullptr),
                   kInvalidArgument, "ids");
  const Tensor table_bf = Tensor::zeros({10, 16}, DType::kBF16, kGpu);
  const Tensor ids3 = Tensor::zeros({1, 3}, DType::kI32, kGpu);
  S24_EXPECT_ERROR(gpu::embeddings_layer_norm(ids3, ids3, table, pos, table_bf, gamma, gamma,
                                              1e-5f, out3, nullptr),
                   kDTypeMismatch, "token type table");
}

// ---- attention ------------------------------------------------------------------------------

enum class MaskKind { kAll, kSuffix, kHoles };

std::vector<int32_t> make_mask(MaskKind kind, int64_t b, int64_t s, std::mt19937_64& g) {
  std::vector<int32_t> m(b * s, 1);
  if (kind == MaskKind::kSuffix) {
    for (int64_t r = 0; r < b; ++r) {
      // Row 0 keeps one token, the others a random length in [1, s].
      const int64_t keep = r == 0 ? 1 : 1 + static_cast<int64_t>(g() % s);
      for (int64_t j = keep; j < s; ++j) m[r * s + j] = 0;
    }
  } else if (kind == MaskKind::kHoles) {
    for (auto& v : m) v = (g() % 10) < 7 ? 1 : 0;
    // Row 0 masked entirely (uniform average over all keys), when there is another row.
    if (b > 1) {
      for (int64_t j = 0; j < s; ++j) m[j] = 0;
    }
  }
  return m;
}

const char* mask_name(MaskKind k) {
  return k == MaskKind::kAll ? "all" : (k == MaskKind::kSuffix ? "suffix" : "holes");
}

// Runs the fused kernel on q | k | v laid side by side in one [b*s, 3H] buffer (the model's
// fused QKV output) or in three separate [b*s, H] tensors, against cpu::attention.
void check_attention(DType dt, int64_t d, int64_t heads, int64_t b, int64_t s, MaskKind kind,
                     bool fused_layout, float stddev, std::mt19937_64& g) {
  SCOPED_TRACE(std::string(dtype_name(dt)) + " d=" + std::to_string(d) + " heads=" +
               std::to_string(heads) + " b=" + std::to_string(b) + " s=" + std::to_string(s) +
               " mask=" + mask_name(kind) + (fused_layout ? " fused" : " separate"));
  const int64_t h = heads * d, t = b * s;
  const Tensor qkv = rounded(test::random_normal({t, 3 * h}, DType::kF32, g, stddev), dt);
  const std::vector<int32_t> mvec = make_mask(kind, b, s, g);
  Tensor mask = Tensor::empty({b, s}, DType::kI32);
  std::memcpy(mask.data<int32_t>(), mvec.data(), mvec.size() * 4);

  Tensor want_full = Tensor::empty({t, 3 * h}, DType::kF32);
  const float* base = qkv.data<float>();
  cpu::attention(base, base + h, base + 2 * h, mask.data<int32_t>(), want_full.data<float>(),
                 nullptr, b, s, heads, d, 3 * h);
  Tensor want = Tensor::empty({t, h}, DType::kF32);
  for (int64_t r = 0; r < t; ++r) {
    std::memcpy(want.data<float>() + r * h, want_full.data<float>() + r * 3 * h, h * 4);
  }

  const Tensor qkv_g = qkv.cast_cpu(dt).to(kGpu);
  const Tensor mask_g = mask.to(kGpu);
  char* p = static_cast<char*>(const_cast<void*>(qkv_g.raw_data()));
  Tensor q, k, v, qs, ks, vs;
  if (fused_layout) {
    q = Tensor::borrow(p, {t, h}, dt, kGpu, {3 * h, 1});
    k = Tensor::borrow(p + h * 2, {t, h}, dt, kGpu, {3 * h, 1});
    v = Tensor::borrow(p + 2 * h * 2, {t, h}, dt, kGpu, {3 * h, 1});
  } else {
    qs = Tensor::empty({t, h}, dt, kGpu);
    ks = Tensor::empty({t, h}, dt, kGpu);
    vs = Tensor::empty({t, h}, dt, kGpu);
    qs.copy_from(Tensor::borrow(p, {t, h}, dt, kGpu, {3 * h, 1}));
    ks.copy_from(Tensor::borrow(p + h * 2, {t, h}, dt, kGpu, {3 * h, 1}));
    vs.copy_from(Tensor::borrow(p + 2 * h * 2, {t, h}, dt, kGpu, {3 * h, 1}));
    q = qs;
    k = ks;
    v = vs;
  }
  // Probabilities rounded to the dtype feed the P V product (an error of up to one rounding of
  // sum_j p_j |v_j| <= max |v|), outputs rounded once: bounds of 4 unit roundoffs.
  double vmax = 0;
  for (int64_t i = 0; i < qkv.numel(); ++i) vmax = std::max(vmax, double(std::abs(base[i])));
  const double u = dt == DType::kF16 ? 1.0 / 2048 : 1.0 / 256;
  // Every kernel that this GPU runs for the head size, forced, then the launcher's own choice.
  std::vector<gpu::AttentionKernel> kernels = {gpu::AttentionKernel::kMmaSync};
  if (gpu::attention_wgmma_supported(kGpu, d, s)) kernels.push_back(gpu::AttentionKernel::kWgmma);
  kernels.push_back(gpu::AttentionKernel::kAuto);
  for (gpu::AttentionKernel kernel : kernels) {
    SCOPED_TRACE(kernel == gpu::AttentionKernel::kMmaSync ? "mma.sync kernel"
                 : kernel == gpu::AttentionKernel::kWgmma ? "wgmma kernel"
                                                          : "automatic choice");
    // Output rows strided wider than the heads: the gap must stay untouched.
    PoisonedOut out(t, h, h + 8, dt);
    gpu::fused_attention(q, k, v, mask_g, b, s, heads, out.view, nullptr, kernel);
    cuda_synchronize();
    const Tensor got = out.result();
    EXPECT_TRUE(all_close(got, want, 4 * u, 4 * u * vmax));
    EXPECT_LT(test::rel_error(got, want), test::tolerance(dt));
    EXPECT_TRUE(out.untouched_outside());
  }
}

TEST(BertGpuKernels, FusedAttentionMatchesCpu) {
  REQUIRE_GPU();
  auto g = test::rng(103);
  for (DType dt : kDTypes) {
    for (int64_t d : {32, 64}) {
      for (auto [b, s] : {std::pair<int64_t, int64_t>{1, 1}, {2, 7}, {1, 64}, {2, 65}, {3, 130},
                          {2, 384}}) {
        for (MaskKind kind : {MaskKind::kAll, MaskKind::kSuffix, MaskKind::kHoles}) {
          check_attention(dt, d, /*heads=*/3, b, s, kind, /*fused_layout=*/true, 1.0f, g);
        }
      }
    }
  }
}

TEST(BertGpuKernels, FusedAttentionSeparateLayoutAndPeakedScores) {
  REQUIRE_GPU();
  auto g = test::rng(104);
  for (DType dt : kDTypes) {
    for (int64_t d : {32, 64}) {
      check_attention(dt, d, 2, 2, 97, MaskKind::kSuffix, /*fused_layout=*/false, 1.0f, g);
      // Large scores: softmax rows dominated by a few keys, the running max moves across tiles.
      check_attention(dt, d, 1, 2, 200, MaskKind::kHoles, /*fused_layout=*/true, 3.0f, g);
      // BERT-base / MiniLM head counts at a real length.
      check_attention(dt, d, 12, 1, 384, MaskKind::kSuffix, true, 1.0f, g);
    }
  }
}

// The launcher takes 128-query CTAs (4 warps) when they fill the GPU at least once, else 64-query
// CTAs (2 warps): the shapes above are small enough for the 64-query kernel, these take the
// 128-query one on any GPU with at most 192 SMs (BERT-base heads at batch 6 and 8).
TEST(BertGpuKernels, FusedAttentionLargeGridTakesTheWideCtas) {
  REQUIRE_GPU();
  auto g = test::rng(105);
  for (DType dt : kDTypes) {
    for (int64_t d : {32, 64}) {
      check_attention(dt, d, 12, 6, 384, MaskKind::kSuffix, /*fused_layout=*/true, 1.0f, g);
      check_attention(dt, d, 12, 8, 200, MaskKind::kHoles, /*fused_layout=*/false, 3.0f, g);
    }
  }
}

// Sequences of many key tiles: the wgmma kernel's four-stage ring wraps several times (its
// barriers' phases flip), and the running max moves across many tiles.
TEST(BertGpuKernels, FusedAttentionLongSequences) {
  REQUIRE_GPU();
  auto g = test::rng(106);
  for (DType dt : kDTypes) {
    for (int64_t d : {32, 64}) {
      check_attention(dt, d, 2, 2, 1000, MaskKind::kSuffix, /*fused_layout=*/true, 1.0f, g);
      check_attention(dt, d, 1, 1, 577, MaskKind::kHoles, /*fused_layout=*/false, 3.0f, g);
    }
  }
}

TEST(BertGpuKernels, FusedAttentionRejectsBadArguments) {
  REQUIRE_GPU();
  const Tensor mask = Tensor::zeros({1, 4}, DType::kI32, kGpu);
  const Tensor x48 = Tensor::zeros({4, 48}, DType::kF16, kGpu);
  Tensor o48 = Tensor::zeros({4, 48}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::fused_attention(x48, x48, x48, mask, 1, 4, 1, o48, nullptr),
                   kUnsupported, "head size 48");
  Tensor buf = Tensor::zeros({4, 68}, DType::kF16, kGpu);
  const Tensor odd = Tensor::borrow(buf.raw_data(), {4, 64}, DType::kF16, kGpu, {68, 1});
  Tensor o64 = Tensor::zeros({4, 64}, DType::kF16, kGpu);
  S24_EXPECT_ERROR(gpu::fused_attention(odd, odd, odd, mask, 1, 4, 2, o64, nullptr), kAlignment,
                   "multiple of 8");
  const Tensor x64 = Tensor::zeros({4, 64}, DType::kF16, kGpu);
  const Tensor mask_wrong = Tensor::zeros({1, 5}, DType::kI32, kGpu);
  S24_EXPECT_ERROR(gpu::fused_attention(x64, x64, x64, mask_wrong, 1, 4, 2, o64, nullptr),
                   kShapeMismatch, "mask");
  const Tensor xb = Tensor::zeros({4, 64}, DType::kBF16, kGpu);
  S24_EXPECT_ERROR(gpu::fused_attention(x64, xb, x64, mask, 1, 4, 2, o64, nullptr),
                   kDTypeMismatch, "k");
  // The wgmma kernel forced where it cannot run: head size 32 (x64 as two heads), or any head
  // size off sm_90.
  S24_EXPECT_ERROR(gpu::fused_attention(x64, x64, x64, mask, 1, 4, 2, o64, nullptr,
                                        gpu::AttentionKernel::kWgmma),
                   kUnsupported, "wgmma attention");
  if (!gpu::attention_wgmma_supported(kGpu, 64, 4)) {
    S24_EXPECT_ERROR(gpu::fused_attention(x64, x64, x64, mask, 1, 4, 1, o64, nullptr,
                                          gpu::AttentionKernel::kWgmma),
                     kUnsupported, "wgmma attention");
  }
}

// ---- mean pooling ---------------------------------------------------------------------------

TEST(BertGpuKernels, MeanPoolMatchesCpu) {
  REQUIRE_GPU();
  auto g = test::rng(105);
  for (DType dt : kDTypes) {
    for (bool normalize : {false, true}) {
      const int64_t b = 4, s = 37, h = 384;
      const Tensor hidden = rounded(test::random_normal({b, s, h}, DType::kF32, g, 1.0f), dt);
      std::vector<int32_t> m = make_mask(MaskKind::kSuffix, b, s, g);
      for (int64_t j = 0; j < s; ++j) m[3 * s + j] = 0;  // row 3: no tokens -> zeros
      Tensor mask = Tensor::empty({b, s}, DType::kI32);
      std::memcpy(mask.data<int32_t>(), m.data(), m.size() * 4);
      Tensor want = mean_pool(hidden, mask);
      if (normalize) l2_normalize_rows(want);
      Tensor out = Tensor::empty({b, h}, DType::kF32, kGpu);
      test::poison(out);
      gpu::mean_pool(hidden.cast_cpu(dt).to(kGpu), mask.to(kGpu), normalize, out, nullptr);
      cuda_synchronize();
      EXPECT_TRUE(all_close(out.to(Device::cpu()), want, 1e-5, 1e-6))
          << dtype_name(dt) << (normalize ? " normalized" : "");
    }
  }
}

// ---- programmatic dependent launch ----------------------------------------------------------

// On sm_90 every kernel of the forward is launched with programmatic stream serialization
// (detail::programmatic_launch): it may start before the previous kernel's memory operations are
// visible, and waits for them before its first global access. This chain runs the forward's
// kernels with the sm_90a GEMM between them (products large enough to take it), each reading what
// the previous one wrote: qkv product -> attention -> projection -> residual LayerNorm in place
// over its residual -> cuBLASLt product + the GELU pass -> residual LayerNorm -> the next qkv,
// three rounds, back to back with no synchronization. It must give the bits of the same chain
// synchronized after every launch. (A kernel that let its dependents start early, at its own
// start, without their waiting, would fail this: a LayerNorm takes ~10 us, a product ~30.)
TEST(BertGpuKernels, ChainedKernelsWithoutSynchronization) {
  REQUIRE_GPU();
  auto g = test::rng(111);
  const int64_t batch = 8, seq = 384, hidden = 256, heads = 4, tokens = batch * seq;
  const DType dt = DType::kF16;
  const int kRounds = 3;
  struct Round {
    SparseWeight qkv, proj;
    Tensor qkv_bias, proj_bias, ffn_weight, ffn_bias;
  };
  auto weight = [&](int64_t n, int64_t k) {
    return test::random_normal({n, k}, dt, g, 1.0f / std::sqrt(float(k))).to(kGpu);
  };
  auto bias = [&](int64_t n) { return test::random_normal({n}, dt, g, 0.1f).to(kGpu); };
  std::vector<Round> rounds(kRounds);
  for (Round& r : rounds) {
    r.qkv = SparseWeight(prune_compress(weight(3 * hidden, hidden)));
    r.proj = SparseWeight(prune_compress(weight(hidden, hidden)));
    r.qkv_bias = bias(3 * hidden);
    r.proj_bias = bias(hidden);
    r.ffn_weight = weight(hidden, hidden);
    r.ffn_bias = bias(hidden);
  }
  Tensor gamma = Tensor::empty({hidden}, DType::kF32);
  Tensor beta = Tensor::empty({hidden}, DType::kF32);
  for (int64_t i = 0; i < hidden; ++i) {
    gamma.data<float>()[i] = 1.0f + 0.01f * float(i % 7);
    beta.data<float>()[i] = 0.02f * float(i % 5) - 0.04f;
  }
  gamma = gamma.to(kGpu);
  beta = beta.to(kGpu);
  std::vector<int32_t> m = make_mask(MaskKind::kSuffix, batch, seq, g);
  Tensor mask_cpu = Tensor::empty({batch, seq}, DType::kI32);
  std::memcpy(mask_cpu.data<int32_t>(), m.data(), m.size() * 4);
  const Tensor mask = mask_cpu.to(kGpu);
  const Tensor input = test::random_normal({tokens, hidden}, dt, g, 1.0f).to(kGpu);

  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Tensor x = Tensor::empty({tokens, hidden}, dt, kGpu);
  Tensor qkv = Tensor::empty({tokens, 3 * hidden}, dt, kGpu);
  Tensor ctx = Tensor::empty({tokens, hidden}, dt, kGpu);
  Tensor y = Tensor::empty({tokens, hidden}, dt, kGpu);
  auto view = [&](int part) {
    return Tensor::borrow(static_cast<char*>(qkv.raw_data()) + part * hidden * 2,
                          {tokens, hidden}, dt, kGpu, {3 * hidden, 1});
  };
  const Tensor q = view(0), k = view(1), v = view(2);
  auto run_chain = [&](bool synchronize_each) {
    for (Tensor* t : {&x, &qkv, &ctx, &y}) test::poison(*t);
    cuda_synchronize();
    // (EXPECT: ASSERT would return from this lambda without its result)
    EXPECT_EQ(cudaMemcpyAsync(x.raw_data(), input.raw_data(), x.nbytes(),
                              cudaMemcpyDeviceToDevice, stream),
              cudaSuccess);
    auto step = [&] {
      if (synchronize_each) EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    };
    LinearOptions o;
    o.stream = stream;
    LinearOptions gelu = o;
    gelu.activation = Activation::kGeluErf;
    for (const Round& r : rounds) {
      linear_out(x, r.qkv, &r.qkv_bias, qkv, o);
      step();
      gpu::fused_attention(q, k, v, mask, batch, seq, heads, ctx, stream);
      step();
      linear_out(ctx, r.proj, &r.proj_bias, y, o);
      step();
      gpu::residual_layer_norm(y, &x, gamma, beta, 1e-12f, x, stream);
      step();
      detail::linear_dense_cuda(x, r.ffn_weight, &r.ffn_bias, y, gelu);
      step();
      gpu::residual_layer_norm(y, &x, gamma, beta, 1e-12f, x, stream);
      step();
    }
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    return x.to(Device::cpu()).to_f32_cpu();
  };
  const Tensor serial = run_chain(true);
  // Not a degenerate chain: finite, and not the input.
  double moved = 0;
  const Tensor in = input.to(Device::cpu()).to_f32_cpu();
  for (int64_t i = 0; i < serial.numel(); ++i) {
    ASSERT_TRUE(std::isfinite(serial.data<float>()[i])) << "element " << i;
    moved += std::abs(serial.data<float>()[i] - in.data<float>()[i]);
  }
  EXPECT_GT(moved / double(serial.numel()), 0.1);
  for (int round = 0; round < 3; ++round)
    EXPECT_TRUE(test::bit_equal(run_chain(false), serial)) << "round " << round;
  CUDA_OK(cudaStreamDestroy(stream));
}

// ---- whole models ---------------------------------------------------------------------------

BertConfig small_config(int64_t heads) {
  BertConfig c;
  c.vocab_size = 300;
  c.hidden_size = 128;
  c.num_layers = 2;
  c.num_heads = heads;  // 4 -> head size 32, 2 -> 64
  c.intermediate_size = 512;
  c.max_position_embeddings = 80;
  c.type_vocab_size = 2;
  return c;
}

// The model with every weight rounded to `dt` (LayerNorm parameters stay f32, as on the GPU), so
// that the CPU f32 forward and the GPU forward start from the same values.
BertModel rounded_model(const BertModel& m, DType dt) {
  BertModel r = m;  // shares tensors until they are replaced
  Embeddings& e = r.embeddings();
  e.word = rounded(e.word, dt);
  e.position = rounded(e.position, dt);
  e.token_type = rounded(e.token_type, dt);
  for (EncoderLayer& layer : r.layers()) {
    for (Linear* l : layer.linears()) {
      *l = Linear(rounded(l->weight(), dt),
                  l->bias().defined() ? rounded(l->bias(), dt) : Tensor());
    }
  }
  return r;
}

BertBatch random_batch(const BertConfig& c, int64_t b, int64_t s, std::mt19937_64& g,
                       bool pad) {
  std::vector<int32_t> ids(b * s), types(b * s), mask(b * s, 1);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(c.vocab_size - 1));
  for (int64_t i = 0; i < b * s; ++i) {
    ids[i] = id(g);
    types[i] = (i % s) > s / 2 ? 1 : 0;
  }
  if (pad) mask = make_mask(MaskKind::kSuffix, b, s, g);
  return BertBatch::from_rows(b, s, ids, types, mask);
}

// Cosine of two rows.
double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(std::max(aa * bb, 1e-300));
}

double min_row_cosine(const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0), n = a.size(1);
  double worst = 1.0;
  for (int64_t r = 0; r < rows; ++r) {
    worst = std::min(worst, cosine(a.data<float>() + r * n, b.data<float>() + r * n, n));
  }
  return worst;
}

// Hidden states of the real (mask 1) tokens only: padded rows are never used downstream.
Tensor real_tokens(const Tensor& hidden, const BertBatch& batch) {
  const int64_t b = hidden.size(0), s = hidden.size(1), h = hidden.size(2);
  const Tensor f = hidden.to_f32_cpu();
  std::vector<float> rows;
  for (int64_t r = 0; r < b; ++r) {
    for (int64_t j = 0; j < s; ++j) {
      if (batch.attention_mask.data<int32_t>()[r * s + j] == 0) continue;
      rows.insert(rows.end(), f.data<float>() + (r * s + j) * h,
                  f.data<float>() + (r * s + j + 1) * h);
    }
  }
  Tensor out = Tensor::empty({static_cast<int64_t>(rows.size()) / h, h}, DType::kF32);
  std::memcpy(out.data<float>(), rows.data(), rows.size() * 4);
  return out;
}

TEST(BertGpuModelTest, SmallRandomModelsDenseAndSparseMatchCpu) {
  REQUIRE_GPU();
  auto g = test::rng(106);
  for (int64_t heads : {4, 2}) {
    for (DType dt : kDTypes) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " heads=" + std::to_string(heads));
      const BertConfig c = small_config(heads);
      const BertModel cpu_dense = rounded_model(BertModel::random(c, g()), dt);
      BertModel cpu_sparse = cpu_dense;
      cpu_sparse.prune({PruneMethod::kMagnitude});
      BertModel cpu_pruned_dense = cpu_sparse;
      cpu_pruned_dense.use_compressed(false);

      BertGpuOptions o;
      o.dtype = dt;
      BertGpuModel gpu_dense(cpu_dense, o);
      BertGpuModel gpu_sparse(cpu_sparse, o);
      BertGpuModel gpu_pruned_dense(cpu_pruned_dense, o);
      EXPECT_EQ(gpu_dense.sparse_linears(), 0);
      EXPECT_EQ(gpu_sparse.sparse_linears(), 6 * c.num_layers);
      EXPECT_EQ(gpu_pruned_dense.sparse_linears(), 0);
      EXPECT_TRUE(gpu_sparse.fused_qkv());

      for (auto [b, s] : {std::pair<int64_t, int64_t>{1, 1}, {3, 37}, {2, 80}}) {
        SCOPED_TRACE("b=" + std::to_string(b) + " s=" + std::to_string(s));
        const BertBatch batch = random_batch(c, b, s, g, /*pad=*/b > 1);
        const Tensor want_dense = real_tokens(cpu_dense.forward(batch).last_hidden_state, batch);
        const Tensor want_sparse =
            real_tokens(cpu_sparse.forward(batch).last_hidden_state, batch);
        const Tensor got_dense = real_tokens(gpu_dense.last_hidden_state(batch), batch);
        const Tensor got_sparse = real_tokens(gpu_sparse.last_hidden_state(batch), batch);
        const Tensor got_pd = real_tokens(gpu_pruned_dense.last_hidden_state(batch), batch);
        // Activations rounded to the dtype after every op, through two layers.
        const double tol = dt == DType::kF16 ? 5e-3 : 4e-2;
        EXPECT_LT(test::rel_error(got_dense, want_dense), tol);
        EXPECT_LT(test::rel_error(got_sparse, want_sparse), tol);
        // The 2:4 GEMM and cuBLASLt on the same pruned values: only summation order and the
        // epilogue differ.
        EXPECT_LT(test::rel_error(got_sparse, got_pd), dt == DType::kF16 ? 2e-3 : 2e-2);
        EXPECT_GT(min_row_cosine(got_sparse, want_sparse), dt == DType::kF16 ? 0.9999 : 0.999);

        // Sentence embeddings (pooling on the GPU) against the CPU pooling of the CPU model.
        Tensor want_emb = mean_pool(cpu_sparse.forward(batch).last_hidden_state,
                                    batch.attention_mask);
        l2_normalize_rows(want_emb);
        const Tensor got_emb = gpu_sparse.sentence_embeddings(batch);
        EXPECT_GT(min_row_cosine(got_emb, want_emb), dt == DType::kF16 ? 0.9999 : 0.999);
      }
    }
  }
}

TEST(BertGpuModelTest, UnfusedQkvWhenModesDiffer) {
  REQUIRE_GPU();
  auto g = test::rng(107);
  const BertConfig c = small_config(4);
  BertModel cpu = rounded_model(BertModel::random(c, g()), DType::kF16);
  cpu.prune({PruneMethod::kMagnitude});
  cpu.layers()[0].key.use_compressed(false);  // layer 0: Q and V 2:4, K dense
  BertGpuModel gpu(cpu, {DType::kF16});
  EXPECT_FALSE(gpu.fused_qkv());
  EXPECT_EQ(gpu.sparse_linears(), 6 * c.num_layers - 1);
  const BertBatch batch = random_batch(c, 2, 45, g, true);
  const Tensor want = real_tokens(cpu.forward(batch).last_hidden_state, batch);
  const Tensor got = real_tokens(gpu.last_hidden_state(batch), batch);
  EXPECT_LT(test::rel_error(got, want), 5e-3);
}

TEST(BertGpuModelTest, GraphReplayMatchesEagerAndRunsDoNotAllocate) {
  REQUIRE_GPU();
  auto g = test::rng(108);
  const BertConfig c = small_config(2);
  const BertModel dense = rounded_model(BertModel::random(c, g()), DType::kF16);
  BertModel sparse = dense;
  sparse.prune({PruneMethod::kMagnitude});
  const std::vector<const BertModel*> models = {&dense, &sparse};
  for (const BertModel* cpu : models) {
    const bool is_sparse = cpu == &sparse;
    SCOPED_TRACE(is_sparse ? "2:4" : "dense");
    BertGpuModel m(*cpu, {DType::kF16});
    const BertBatch first = random_batch(c, 3, 50, g, true);
    const BertBatch second = random_batch(c, 3, 50, g, true);
    m.set_inputs(first);
    m.run();  // first call: libraries build plans and workspaces
    m.synchronize();

    size_t free_before = 0, free_after = 0, total = 0;
    CUDA_OK(cudaMemGetInfo(&free_before, &total));
    for (int i = 0; i < 3; ++i) m.run();
    m.synchronize();
    CUDA_OK(cudaMemGetInfo(&free_after, &total));
    EXPECT_EQ(free_before, free_after) << "run() allocated device memory";

    auto s = static_cast<cudaStream_t>(m.stream());
    cudaGraph_t graph = nullptr;
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      m.run();
    } catch (const Error& e) {
      cudaGraph_t broken = nullptr;
      (void)cudaStreamEndCapture(s, &broken);
      if (broken) (void)cudaGraphDestroy(broken);
      FAIL() << "run() failed during capture: " << e.what();
    }
    CUDA_OK(cudaStreamEndCapture(s, &graph));
    cudaGraphExec_t exec = nullptr;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));

    // Replay on the second batch (same shape, new contents) against an eager run of it.
    m.set_inputs(second);
    CUDA_OK(cudaGraphLaunch(exec, s));
    m.synchronize();
    const Tensor replayed = m.hidden_state().to(Device::cpu(), m.stream());
    Tensor hidden = m.hidden_state();
    test::poison(hidden);  // the eager run below must rewrite all of it
    m.run();
    const Tensor eager = m.hidden_state().to(Device::cpu(), m.stream());
    (void)cudaGraphExecDestroy(exec);
    (void)cudaGraphDestroy(graph);
    if (is_sparse) {
      EXPECT_TRUE(test::bit_equal(replayed, eager));  // sparse24's kernels are deterministic
    } else {
      EXPECT_LT(test::rel_error(replayed, eager), 1e-3);
    }
    const Tensor want = real_tokens(cpu->forward(second).last_hidden_state, second);
    EXPECT_LT(test::rel_error(real_tokens(replayed, second), want), 5e-3);
  }
}

TEST(BertGpuModelTest, RejectsBadInputsAndConfigs) {
  REQUIRE_GPU();
  auto g = test::rng(109);
  const BertConfig c = small_config(4);
  const BertModel cpu = BertModel::random(c, g());
  S24_EXPECT_ERROR(BertGpuModel(cpu, {DType::kF32}), kDTypeMismatch, "F16 or BF16");
  BertConfig odd = c;
  odd.num_heads = 8;  // head size 16
  S24_EXPECT_ERROR(BertGpuModel(BertModel::random(odd, 1), {DType::kF16}), kUnsupported,
                   "head size 16");
  BertGpuModel m(cpu, {DType::kF16});
  S24_EXPECT_ERROR(m.run(), kInvalidArgument, "set_inputs");
  BertBatch bad = random_batch(c, 1, 5, g, false);
  bad.input_ids.data<int32_t>()[2] = static_cast<int32_t>(c.vocab_size);
  S24_EXPECT_ERROR(m.set_inputs(bad), kInvalidArgument, "outside the vocabulary");
  bad = random_batch(c, 1, 5, g, false);
  bad.attention_mask.data<int32_t>()[1] = 2;
  S24_EXPECT_ERROR(m.set_inputs(bad), kInvalidArgument, "only 0 and 1");
  bad = random_batch(c, 1, 5, g, false);
  bad.token_type_ids.data<int32_t>()[0] = 2;
  S24_EXPECT_ERROR(m.set_inputs(bad), kInvalidArgument, "types");
  S24_EXPECT_ERROR(m.set_inputs(random_batch(c, 1, c.max_position_embeddings + 1, g, false)),
                   kInvalidArgument, "max_position_embeddings");
}

// ---- all-MiniLM-L6-v2 -------------------------------------------------------------------------

using test::model_dir;
using test::source_dir;

std::vector<std::string> real_sentences() {
  return {
      "The quick brown fox jumps over the lazy dog.",
      "A man is playing a guitar on the stage.",
      "Photosynthesis converts light energy into chemical energy in plants.",
      "The stock market fell sharply after the central bank raised interest rates.",
      "She baked a chocolate cake for her grandmother's birthday.",
      "Marie Curie was the first woman to win a Nobel Prize.",
      "The train to Paris leaves at seven o'clock.",
      "Neural networks learn representations from large amounts of data.",
      "It rained all afternoon, so the football match was postponed.",
      "Mount Everest is the highest mountain above sea level.",
      "Please remember to water the plants while I am away.",
      "The committee approved the new budget after a long debate.",
  };
}

TEST(BertGpuMiniLM, MatchesCpuF32DenseAndPruned) {
  REQUIRE_GPU();
  namespace fs = std::filesystem;
  const std::string dir = model_dir();
  if (!fs::exists(fs::path(dir) / "model.safetensors")) {
    GTEST_SKIP() << "all-MiniLM-L6-v2 not found in " << dir
                 << " (set S24_MODEL_DIR or run scripts/install_deps.sh)";
  }
  const BertModel cpu = BertModel::load(dir);
  const WordPieceTokenizer tok = WordPieceTokenizer::from_directory(dir);
  std::vector<Encoding> encs;
  for (const std::string& s : real_sentences()) encs.push_back(tok.encode(s)[0]);
  const BertBatch batch = BertBatch::from_encodings(encs);
  const Tensor want = cpu.sentence_embeddings(batch);

  BertModel pruned = cpu;
  pruned.prune({PruneMethod::kMagnitude});
  const Tensor want_pruned = pruned.sentence_embeddings(batch);
  BertModel pruned_dense = pruned;
  pruned_dense.use_compressed(false);

  for (DType dt : kDTypes) {
    SCOPED_TRACE(dtype_name(dt));
    BertGpuOptions o;
    o.dtype = dt;
    BertGpuModel gpu(cpu, o);
    const Tensor got = gpu.sentence_embeddings(batch);
    const double cos = min_row_cosine(got, want);
    std::printf("[minilm] %s dense: min cosine GPU vs CPU f32 = %.7f\n", dtype_name(dt), cos);
    EXPECT_GT(cos, dt == DType::kF16 ? 0.999 : 0.995);

    BertGpuModel gpu_sparse(pruned, o);
    BertGpuModel gpu_pd(pruned_dense, o);
    ASSERT_EQ(gpu_sparse.sparse_linears(), 6 * cpu.config().num_layers);
    const Tensor got_sparse = gpu_sparse.sentence_embeddings(batch);
    const Tensor got_pd = gpu_pd.sentence_embeddings(batch);
    const double cos_sparse = min_row_cosine(got_sparse, want_pruned);
    const double cos_pd = min_row_cosine(got_pd, want_pruned);
    const double cos_same = min_row_cosine(got_sparse, got_pd);
    std::printf("[minilm] %s 2:4: min cosine GPU 2:4 vs CPU pruned f32 = %.7f, GPU dense on the "
                "pruned weights vs CPU = %.7f, GPU 2:4 vs GPU dense = %.7f\n",
                dtype_name(dt), cos_sparse, cos_pd, cos_same);
    EXPECT_GT(cos_sparse, dt == DType::kF16 ? 0.999 : 0.995);
    EXPECT_GT(cos_pd, dt == DType::kF16 ? 0.999 : 0.995);
    EXPECT_GT(cos_same, dt == DType::kF16 ? 0.9999 : 0.999);
  }
}

}  // namespace
}  // namespace s24::model
