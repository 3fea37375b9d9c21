// The BERT runtime on the CPU: kernels against double-precision references (softmax/exp, layer
// norm, masked attention), a whole small random BERT against a naive double implementation, dense
// against 2:4 compressed paths, saved activations, checkpoint loading (f32/f16/bf16, "bert."
// prefix, bad files), and all-MiniLM-L6-v2 against the Hugging Face fixture
// (scripts/make_hf_fixtures.py).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/json.h"
#include "model/bert_cpu.h"
#include "model/text_file.h"
#include "sparse24/io.h"
#include "sparse24/model/bert.h"
#include "sparse24/model/squad.h"

namespace s24::model {
namespace {

namespace fs = std::filesystem;

using test::model_dir;
using test::source_dir;

std::vector<float> to_vec(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

double max_abs(const std::vector<double>& b) {
  double m = 0.0;
  for (double v : b) m = std::max(m, std::abs(v));
  return m;
}

// ---- kernels --------------------------------------------------------------------------------

TEST(BertKernels, FastExpMatchesStdExp) {
  double worst = 0.0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cpu::fast_exp(x) - want) / want);
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_GT(cpu::fast_exp(-1000.0f), 0.0f);  // clamped, never NaN
  EXPECT_LT(cpu::fast_exp(-1000.0f), 1e-37f);
}

TEST(BertKernels, SoftmaxAgainstDouble) {
  auto g = test::rng(1);
  std::normal_distribution<float> d(0.f, 4.f);
  for (int64_t n : {1, 5, 16, 17, 63, 384}) {
    std::vector<float> x(n);
    for (auto& v : x) v = d(g);
    std::vector<double> want(n);
    double mx = *std::max_element(x.begin(), x.end()), sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += want[i] = std::exp(x[i] - mx);
    for (auto& w : want) w /= sum;
    cpu::softmax_inplace(x.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[i], want[i], 1e-6 * want[i] + 1e-9) << n;
  }
}

TEST(BertKernels, LayerNormAgainstDouble) {
  auto g = test::rng(2);
  const int64_t rows = 13, h = 48;
  const Tensor x = test::random_normal({rows, h}, DType::kF32, g, 3.0f);
  const Tensor res = test::random_normal({rows, h}, DType::kF32, g, 1.0f);
  const Tensor gamma = test::random_normal({h}, DType::kF32, g, 1.0f);
  const Tensor beta = test::random_normal({h}, DType::kF32, g, 1.0f);
  const LayerNorm ln(gamma, beta, 1e-5);
  Tensor mean, rstd;
  const Tensor y = ln.forward(x, &res, &mean, &rstd);
  const float* xp = x.data<float>();
  const float* rp = res.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> s(h);
    double m = 0, v = 0;
    for (int64_t c = 0; c < h; ++c) m += s[c] = static_cast<double>(xp[r * h + c] + rp[r * h + c]);
    m /= h;
    for (int64_t c = 0; c < h; ++c) v += (s[c] - m) * (s[c] - m);
    const double rs = 1.0 / std::sqrt(v / h + 1e-5);
    EXPECT_NEAR(mean.data<float>()[r], m, 1e-5);
    EXPECT_NEAR(rstd.data<float>()[r], rs, 1e-6 * rs);
    for (int64_t c = 0; c < h; ++c) {
      const double want = (s[c] - m) * rs * gamma.data<float>()[c] + beta.data<float>()[c];
      EXPECT_NEAR(y.data<float>()[r * h + c], want, 2e-6 * (1 + std::abs(want)));
    }
  }
  S24_EXPECT_ERROR(ln.forward(Tensor::zeros({2, 5}, DType::kF32)), kShapeMismatch, "48");
}

// Naive masked attention in double: scores, softmax over unmasked keys (uniform when none).
std::vector<double> attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const std::vector<int32_t>& mask, int64_t b, int64_t s,
                                        int64_t heads, std::vector<double>* probs) {
  const int64_t hid = q.size(1), d = hid / heads;
  std::vector<double> ctx(b * s * hid, 0.0);
  if (probs) probs->assign(b * heads * s * s, 0.0);
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>();
  for (int64_t bi = 0; bi < b; ++bi) {
    bool any = false;
    for (int64_t j = 0; j < s; ++j) any |= mask[bi * s + j] != 0;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < s; ++i) {
        std::vector<double> sc(s, -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < s; ++j) {
          if (any && mask[bi * s + j] == 0) continue;
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) {
            dot += static_cast<double>(qp[(bi * s + i) * hid + h * d + c]) *
                   kp[(bi * s + j) * hid + h * d + c];
          }
          sc[j] = any ? dot / std::sqrt(static_cast<double>(d)) : 0.0;
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < s; ++j) sum += sc[j] = std::isinf(sc[j]) ? 0.0 : std::exp(sc[j] - mx);
        for (int64_t j = 0; j < s; ++j) {
          const double p = sc[j] / sum;
          if (probs) (*probs)[((bi * heads + h) * s + i) * s + j] = p;
          for (int64_t c = 0; c < d; ++c) {
            ctx[(bi * s + i) * hid + h * d + c] += p * vp[(bi * s + j) * hid + h * d + c];
          }
        }
      }
    }
  }
  return ctx;
}

// Head sizes that take the scalar context loop (8) and the vector tiles of 1..4 vectors
// (16 .. 64 and beyond); sequence lengths off the 16-key tiles.
TEST(BertKernels, AttentionAgainstNaiveReference) {
  struct Shape4 {
    int64_t heads, d, s;
  };
  for (const Shape4 sh : {Shape4{4, 8, 11}, Shape4{2, 32, 37}, Shape4{3, 48, 20},
                          Shape4{1, 64, 5}, Shape4{2, 80, 33}}) {
    SCOPED_TRACE("heads " + std::to_string(sh.heads) + " d " + std::to_string(sh.d) + " seq " +
                 std::to_string(sh.s));
    auto g = test::rng(3 + sh.d);
    const int64_t b = 3, s = sh.s, heads = sh.heads, d = sh.d;
    const Tensor q = test::random_normal({b * s, heads * d}, DType::kF32, g, 1.0f);
    const Tensor k = test::random_normal({b * s, heads * d}, DType::kF32, g, 1.0f);
    const Tensor v = test::random_normal({b * s, heads * d}, DType::kF32, g, 1.0f);
    // Row 0 full, row 1 padded after 3/5 of the tokens with a hole at 2, row 2 fully masked
    // (HF: uniform weights).
    std::vector<int32_t> m(b * s, 1);
    for (int64_t j = 3 * s / 5; j < s; ++j) m[s + j] = 0;
    m[s + 2] = 0;
    for (int64_t j = 0; j < s; ++j) m[2 * s + j] = 0;
    Tensor mask = Tensor::empty({b, s}, DType::kI32);
    std::copy(m.begin(), m.end(), mask.data<int32_t>());
    Tensor probs;
    Tensor ctx = Tensor::empty({b * s, heads * d}, DType::kF32);
    ctx = attention(q, k, v, mask, b, s, heads, &probs);
    std::vector<double> want_probs;
    const auto want = attention_reference(q, k, v, m, b, s, heads, &want_probs);
    EXPECT_LT(max_abs_diff(to_vec(ctx), want), 2e-6 * std::sqrt(static_cast<double>(d)));
    EXPECT_LT(max_abs_diff(to_vec(probs), want_probs), 1e-6);
    EXPECT_EQ(probs.data<float>()[((1 * heads + 0) * s + 0) * s + 2], 0.0f);  // masked: exactly 0
    // Without probs the same context comes out.
    EXPECT_EQ(to_vec(attention(q, k, v, mask, b, s, heads)), to_vec(ctx));
  }
  auto g = test::rng(30);
  const Tensor q = test::random_normal({22, 32}, DType::kF32, g, 1.0f);
  Tensor mask = Tensor::zeros({2, 11}, DType::kI32);
  S24_EXPECT_ERROR(attention(q, q, q, mask, 2, 11, 5, nullptr), kInvalidArgument, "heads");
  S24_EXPECT_ERROR(attention(q, q, q, mask, 2, 12, 4, nullptr), kShapeMismatch, "batch * seq");
}

// ---- a whole small BERT against a double reference -------------------------------------------

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 16;
  c.type_vocab_size = 2;
  return c;
}

std::vector<double> layer_norm_ref(const std::vector<double>& x, const Tensor& gamma,
                                   const Tensor& beta, int64_t h, double eps) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < x.size() / h; ++r) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < h; ++c) m += x[r * h + c];
    m /= h;
    for (int64_t c = 0; c < h; ++c) v += (x[r * h + c] - m) * (x[r * h + c] - m);
    const double rs = 1.0 / std::sqrt(v / h + eps);
    for (int64_t c = 0; c < h; ++c) {
      y[r * h + c] = (x[r * h + c] - m) * rs * gamma.data<float>()[c] + beta.data<float>()[c];
    }
  }
  return y;
}

std::vector<double> linear_ref(const std::vector<double>& x, const Linear& lin) {
  const int64_t in = lin.in_features(), out = lin.out_features();
  const int64_t rows = static_cast<int64_t>(x.size()) / in;
  const float* w = lin.weight().data<float>();
  const float* b = lin.bias().data<float>();
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

Tensor from_double(const std::vector<double>& x, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (size_t i = 0; i < x.size(); ++i) t.data<float>()[i] = static_cast<float>(x[i]);
  return t;
}

// The whole encoder in double from the model's own weights. The attention reference takes f32
// inputs, so q/k/v are rounded there (a 1e-7 relative effect).
std::vector<double> bert_reference(const BertModel& model, const BertBatch& batch) {
  const BertConfig& c = model.config();
  const int64_t b = batch.batch(), s = batch.seq(), h = c.hidden_size;
  const Embeddings& e = model.embeddings();
  std::vector<double> x(b * s * h);
  for (int64_t t = 0; t < b * s; ++t) {
    const int32_t id = batch.input_ids.data<int32_t>()[t];
    const int32_t ty = batch.token_type_ids.data<int32_t>()[t];
    for (int64_t k = 0; k < h; ++k) {
      x[t * h + k] = static_cast<double>(e.word.data<float>()[id * h + k]) +
                     e.token_type.data<float>()[ty * h + k] +
                     e.position.data<float>()[(t % s) * h + k];
    }
  }
  x = layer_norm_ref(x, e.norm.gamma(), e.norm.beta(), h, c.layer_norm_eps);
  std::vector<int32_t> mask(batch.attention_mask.data<int32_t>(),
                            batch.attention_mask.data<int32_t>() + b * s);
  for (const EncoderLayer& L : model.layers()) {
    const auto q = linear_ref(x, L.query), k = linear_ref(x, L.key), v = linear_ref(x, L.value);
    const auto ctx = attention_reference(from_double(q, {b * s, h}), from_double(k, {b * s, h}),
                                         from_double(v, {b * s, h}), mask, b, s, c.num_heads,
                                         nullptr);
    auto a = linear_ref(ctx, L.attention_output);
    for (size_t i = 0; i < a.size(); ++i) a[i] += x[i];
    const auto h1 = layer_norm_ref(a, L.attention_norm.gamma(), L.attention_norm.beta(), h,
                                   c.layer_norm_eps);
    auto f = linear_ref(h1, L.intermediate);
    for (double& v : f) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    auto o = linear_ref(f, L.output);
    for (size_t i = 0; i < o.size(); ++i) o[i] += h1[i];
    x = layer_norm_ref(o, L.output_norm.gamma(), L.output_norm.beta(), h, c.layer_norm_eps);
  }
  return x;
}

BertBatch tiny_batch(std::mt19937_64& g, const BertConfig& c) {
  const int64_t b = 3, s = 9;
  std::vector<int32_t> ids(b * s), types(b * s), mask(b * s, 1);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(c.vocab_size - 1));
  for (int64_t i = 0; i < b * s; ++i) {
    ids[i] = id(g);
    types[i] = (i % s) > 4 ? 1 : 0;
  }
  for (int64_t j = 5; j < s; ++j) mask[1 * s + j] = 0;  // row 1 padded after 5 tokens
  for (int64_t j = 2; j < s; ++j) mask[2 * s + j] = 0;  // row 2 after 2
  return BertBatch::from_rows(b, s, ids, types, mask);
}

TEST(Bert, SmallRandomModelMatchesDoubleReference) {
  auto g = test::rng(4);
  const BertConfig c = tiny_config();
  const BertModel model = BertModel::random(c, g());
  const BertBatch batch = tiny_batch(g, c);
  const BertOutput out = model.forward(batch, {/*pooler=*/true});
  const auto want = bert_reference(model, batch);
  const double err = max_abs_diff(to_vec(out.last_hidden_state), want);
  EXPECT_LT(err, 2e-5 * std::max(1.0, max_abs(want))) << "max abs error " << err;
  EXPECT_EQ(out.last_hidden_state.shape(), (Shape{3, 9, 32}));
  ASSERT_TRUE(out.pooled_output.defined());
  EXPECT_EQ(out.pooled_output.shape(), (Shape{3, 32}));
}

TEST(Bert, PrunedModelCompressedAndDensePathsAgreeAndMatchReference) {
  auto g = test::rng(5);
  const BertConfig c = tiny_config();
  BertModel model = BertModel::random(c, g());
  const BertBatch batch = tiny_batch(g, c);
  const auto dense_hidden = to_vec(model.forward(batch).last_hidden_state);
  for (PruneMethod method : {PruneMethod::kMagnitude, PruneMethod::kTransposable}) {
    SCOPED_TRACE(prune_method_name(method));
    BertModel pruned = model;  // copies share tensors; prune replaces them, never writes in place
    pruned.prune({method});
    for (const EncoderLayer& L : pruned.layers()) {
      for (const Linear* lin : L.linears()) {
        EXPECT_TRUE(lin->is_pruned());
        EXPECT_TRUE(is_24(lin->weight()));
        if (method == PruneMethod::kTransposable) {
          EXPECT_TRUE(is_24(lin->weight().t().contiguous()));
        }
      }
    }
    const auto sparse = to_vec(pruned.forward(batch).last_hidden_state);
    pruned.use_compressed(false);
    const auto dense_on_pruned = to_vec(pruned.forward(batch).last_hidden_state);
    pruned.use_compressed(true);
    const auto want = bert_reference(pruned, batch);  // reads the pruned dense masters
    EXPECT_LT(max_abs_diff(sparse, want), 2e-5 * std::max(1.0, max_abs(want)));
    std::vector<double> d(dense_on_pruned.begin(), dense_on_pruned.end());
    EXPECT_LT(max_abs_diff(sparse, d), 2e-5 * std::max(1.0, max_abs(want)));
    // Pruning changed the function: the output moved away from the dense model's.
    std::vector<double> orig(dense_hidden.begin(), dense_hidden.end());
    EXPECT_GT(max_abs_diff(sparse, orig), 1e-3);
  }
  // The unpruned original is untouched by pruning its copy.
  const auto again = to_vec(model.forward(batch).last_hidden_state);
  EXPECT_EQ(again, dense_hidden);
}

TEST(Bert, SavedActivationsAreConsistent) {
  auto g = test::rng(6);
  const BertConfig c = tiny_config();
  const BertModel model = BertModel::random(c, g());
  const BertBatch batch = tiny_batch(g, c);
  std::vector<LayerActivations> acts;
  ForwardOptions opt;
  opt.activations = &acts;
  const BertOutput out = model.forward(batch, opt);
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(to_vec(acts[1].output), to_vec(out.last_hidden_state));
  EXPECT_EQ(to_vec(acts[0].input), to_vec(out.embedding_output));
  EXPECT_EQ(to_vec(acts[1].input), to_vec(acts[0].output));
  EXPECT_EQ(acts[0].probs.shape(), (Shape{3, 4, 9, 9}));
  const float* p = acts[0].probs.data<float>();
  for (int64_t row = 0; row < 3 * 4 * 9; ++row) {
    double sum = 0;
    for (int64_t j = 0; j < 9; ++j) sum += p[row * 9 + j];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  const float* pre = acts[0].intermediate_pre.data<float>();
  const float* post = acts[0].intermediate.data<float>();
  for (int64_t i = 0; i < acts[0].intermediate.numel(); ++i) {
    const double want = 0.5 * pre[i] * (1.0 + std::erf(pre[i] / std::sqrt(2.0)));
    ASSERT_NEAR(post[i], want, 1e-6);
  }
  // Keeping activations computes the same output as the fused inference path.
  const auto fused = to_vec(model.forward(batch).last_hidden_state);
  std::vector<double> f(fused.begin(), fused.end());
  EXPECT_LT(max_abs_diff(to_vec(out.last_hidden_state), f), 1e-5);
}

TEST(Bert, PoolingAndBadInputs) {
  Tensor hidden = Tensor::empty({2, 3, 2}, DType::kF32);
  const float hv[] = {1, 2, 3, 4, 100, 100, 5, 6, 7, 8, 9, 10};
  std::copy(hv, hv + 12, hidden.data<float>());
  Tensor mask = Tensor::empty({2, 3}, DType::kI32);
  const int32_t mv[] = {1, 1, 0, 0, 0, 0};
  std::copy(mv, mv + 6, mask.data<int32_t>());
  Tensor pooled = mean_pool(hidden, mask);
  EXPECT_EQ(to_vec(pooled), (std::vector<float>{2, 3, 0, 0}));  // the padded 100s are ignored
  l2_normalize_rows(pooled);
  EXPECT_NEAR(pooled.data<float>()[0], 2 / std::sqrt(13.0), 1e-7);
  EXPECT_EQ(pooled.data<float>()[2], 0.0f);  // a zero row stays zero (eps 1e-12)

  auto g = test::rng(7);
  const BertModel model = BertModel::random(tiny_config(), g());
  BertBatch bad = tiny_batch(g, tiny_config());
  bad.input_ids.data<int32_t>()[4] = 50;
  S24_EXPECT_ERROR(model.forward(bad), kInvalidArgument, "outside the vocabulary");
  bad = tiny_batch(g, tiny_config());
  bad.attention_mask.data<int32_t>()[3] = 2;
  S24_EXPECT_ERROR(model.forward(bad), kInvalidArgument, "attention_mask");
  std::vector<int32_t> z(17, 0);
  const BertBatch too_long = BertBatch::from_rows(1, 17, z, z, z);
  S24_EXPECT_ERROR(model.forward(too_long), kInvalidArgument, "max_position_embeddings");
}

TEST(BertConfigTest, ParsesAndRejects) {
  const BertConfig c = BertConfig::from_json_text(
      R"({"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6,
          "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
          "layer_norm_eps": 1e-12, "vocab_size": 30522})");
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.num_layers, 6);
  EXPECT_EQ(c.head_dim(), 32);
  EXPECT_EQ(c.hidden_act, Activation::kGeluErf);
  EXPECT_EQ(BertConfig::bert_base().encoder_parameters(), 12 * (4 * (768 * 768 + 768) +
                                                                2 * 768 * 3072 + 3072 + 768));
  S24_EXPECT_ERROR(BertConfig::from_json_text(R"({"model_type": "gpt2"})"), kUnsupported, "gpt2");
  S24_EXPECT_ERROR(BertConfig::from_json_text(R"({"hidden_size": 100, "num_attention_heads": 12})"),
                   kCorruptFile, "heads");
  S24_EXPECT_ERROR(BertConfig::from_json_text(R"({"hidden_act": "mish"})"), kUnsupported, "mish");
  S24_EXPECT_ERROR(BertConfig::from_json_text(R"({"position_embedding_type": "relative_key"})"),
                   kUnsupported, "relative_key");
  S24_EXPECT_ERROR(BertConfig::from_json_text(R"({"num_hidden_layers": -1})"), kCorruptFile,
                   "num_hidden_layers");
}

// ---- checkpoints ----------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "s24_bert_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_config(const std::string& dir, const BertConfig& c) {
  std::ofstream f(dir + "/config.json");
  f << "{\"model_type\": \"bert\", \"vocab_size\": " << c.vocab_size
    << ", \"hidden_size\": " << c.hidden_size << ", \"num_hidden_layers\": " << c.num_layers
    << ", \"num_attention_heads\": " << c.num_heads
    << ", \"intermediate_size\": " << c.intermediate_size
    << ", \"max_position_embeddings\": " << c.max_position_embeddings
    << ", \"type_vocab_size\": " << c.type_vocab_size << ", \"hidden_act\": \"gelu\"}";
}

// The model's weights under HF names, cast to `dtype`.
TensorFile checkpoint_of(const BertModel& m, DType dtype, const std::string& prefix) {
  TensorFile f;
  auto put = [&](const std::string& name, const Tensor& t) { f.tensors[name] = t.cast_cpu(dtype); };
  put(prefix + "embeddings.word_embeddings.weight", m.embeddings().word);
  put(prefix + "embeddings.position_embeddings.weight", m.embeddings().position);
  put(prefix + "embeddings.token_type_embeddings.weight", m.embeddings().token_type);
  put(prefix + "embeddings.LayerNorm.weight", m.embeddings().norm.gamma());
  put(prefix + "embeddings.LayerNorm.bias", m.embeddings().norm.beta());
  const char* names[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense", "intermediate.dense", "output.dense"};
  for (size_t l = 0; l < m.layers().size(); ++l) {
    const EncoderLayer& L = m.layers()[l];
    const std::string p = prefix + "encoder.layer." + std::to_string(l) + ".";
    const auto lins = L.linears();
    for (int i = 0; i < 6; ++i) {
      put(p + names[i] + ".weight", lins[i]->weight());
      put(p + names[i] + ".bias", lins[i]->bias());
    }
    put(p + "attention.output.LayerNorm.weight", L.attention_norm.gamma());
    put(p + "attention.output.LayerNorm.bias", L.attention_norm.beta());
    put(p + "output.LayerNorm.weight", L.output_norm.gamma());
    put(p + "output.LayerNorm.bias", L.output_norm.beta());
  }
  return f;
}

TEST(Bert, LoadsCheckpointsInEveryWeightDtype) {
  auto g = test::rng(8);
  const BertConfig c = tiny_config();
  const BertModel model = BertModel::random(c, g());
  const BertBatch batch = tiny_batch(g, c);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    TempDir dir;
    write_config(dir.path(), c);
    const std::string prefix = dtype == DType::kF16 ? "bert." : "";
    TensorFile file = checkpoint_of(model, dtype, prefix);
    Tensor qa_w = test::random_normal({2, c.hidden_size}, DType::kF32, g, 0.1f);
    Tensor qa_b = test::random_normal({2}, DType::kF32, g, 0.1f);
    file.tensors["qa_outputs.weight"] = qa_w.cast_cpu(dtype);
    file.tensors["qa_outputs.bias"] = qa_b.cast_cpu(dtype);
    save_safetensors(dir.path() + "/model.safetensors", file);
    const BertModel loaded = BertModel::load(dir.path());
    EXPECT_FALSE(loaded.has_pooler());
    ASSERT_TRUE(loaded.has_qa_head());
    // The loaded f32 weights are exactly the file's values widened.
    EXPECT_TRUE(test::bit_equal(loaded.layers()[1].intermediate.weight(),
                                model.layers()[1].intermediate.weight().cast_cpu(dtype).to_f32_cpu()));
    const auto got = to_vec(loaded.forward(batch).last_hidden_state);
    const auto want = to_vec(model.forward(batch).last_hidden_state);
    double err = 0;
    for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(double(got[i]) - want[i]));
    EXPECT_LT(err, dtype == DType::kF32 ? 1e-6 : (dtype == DType::kF16 ? 2e-2 : 1e-1));
    if (dtype == DType::kF32) {
      EXPECT_EQ(err, 0.0);
    }
    const QaLogits qa = loaded.qa_logits(batch);
    EXPECT_EQ(qa.start.shape(), (Shape{3, 9}));
  }
}

TEST(Bert, RejectsBadCheckpoints) {
  auto g = test::rng(9);
  const BertConfig c = tiny_config();
  const BertModel model = BertModel::random(c, g());
  TempDir dir;
  write_config(dir.path(), c);
  TensorFile file = checkpoint_of(model, DType::kF32, "");
  save_safetensors(dir.path() + "/model.safetensors", file);
  const BertModel plain = BertModel::load(dir.path());  // no pooler, no QA head in this file
  S24_EXPECT_ERROR(plain.qa_logits(tiny_batch(g, c)), kUnsupported, "QA head");
  S24_EXPECT_ERROR(plain.forward(tiny_batch(g, c), {/*pooler=*/true}), kUnsupported, "pooler");
  file.tensors.erase("encoder.layer.1.intermediate.dense.bias");
  save_safetensors(dir.path() + "/model.safetensors", file);
  S24_EXPECT_ERROR(BertModel::load(dir.path()), kCorruptFile,
                   "encoder.layer.1.intermediate.dense.bias' is missing");
  file = checkpoint_of(model, DType::kF32, "");
  file.tensors["encoder.layer.0.output.dense.weight"] = Tensor::zeros({32, 60}, DType::kF32);
  save_safetensors(dir.path() + "/model.safetensors", file);
  S24_EXPECT_ERROR(BertModel::load(dir.path()), kCorruptFile, "has shape [32, 60]");
  file = checkpoint_of(model, DType::kF32, "");
  Tensor nan = model.layers()[0].key.weight().clone();
  nan.data<float>()[7] = std::nanf("");
  file.tensors["encoder.layer.0.attention.self.key.weight"] = nan;
  save_safetensors(dir.path() + "/model.safetensors", file);
  S24_EXPECT_ERROR(BertModel::load(dir.path()), kNonFinite, "attention.self.key.weight");
  S24_EXPECT_ERROR(BertModel::load(dir.path() + "/nope"), kIo, "config.json");
}

// ---- all-MiniLM-L6-v2 against Hugging Face ---------------------------------------------------

class MiniLM : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!file_exists(model_dir() + "/model.safetensors")) return;
    model_ = new BertModel(BertModel::load(model_dir()));
    tokenizer_ = new WordPieceTokenizer(WordPieceTokenizer::from_directory(model_dir()));
    fixture_ = new Json(Json::parse(
        read_text_file(source_dir() + "/tests/data/hf_minilm_fixture.json"), "fixture"));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
    delete fixture_;
    model_ = nullptr;
    tokenizer_ = nullptr;
    fixture_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) {
      GTEST_SKIP() << "the MiniLM model " << model_dir()
                   << "/model.safetensors is missing (scripts/install_deps.sh installs it; or set "
                      "S24_MODEL_DIR)";
    }
  }
  static BertModel* model_;
  static WordPieceTokenizer* tokenizer_;
  static Json* fixture_;
};
BertModel* MiniLM::model_ = nullptr;
WordPieceTokenizer* MiniLM::tokenizer_ = nullptr;
Json* MiniLM::fixture_ = nullptr;

std::vector<double> doubles(const Json& a) {
  std::vector<double> v;
  for (const Json& x : a.as_array()) v.push_back(x.as_number());
  return v;
}

// Tolerance (docs/MODEL.md): f32 end to end, HF on PyTorch's CPU kernels vs ours; observed max
// abs error on the embedding ~1e-6 to 1e-5.
TEST_F(MiniLM, SentenceEmbeddingsMatchHuggingFace) {
  const Json::Array& sentences = fixture_->at("sentences").as_array();
  ASSERT_EQ(sentences.size(), 8u);
  std::vector<Encoding> encs;
  for (const Json& s : sentences) encs.push_back(tokenizer_->encode(s.at("text").as_string())[0]);
  const BertBatch batch = BertBatch::from_encodings(encs);  // padded: exercises the mask
  const BertOutput out = model_->forward(batch, {/*pooler=*/true});
  Tensor emb = mean_pool(out.last_hidden_state, batch.attention_mask);
  l2_normalize_rows(emb);
  const int64_t h = 384, s = batch.seq();
  double worst_cos = 1.0, worst_abs = 0.0, worst_hidden = 0.0, worst_pool = 0.0;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const Json& ref = sentences[i];
    std::vector<int32_t> ids;
    for (const Json& x : ref.at("input_ids").as_array()) ids.push_back(static_cast<int32_t>(x.as_int64()));
    EXPECT_EQ(std::vector<int32_t>(encs[i].ids.begin(), encs[i].ids.end()), ids);
    const auto want = doubles(ref.at("embedding"));
    ASSERT_EQ(want.size(), static_cast<size_t>(h));
    double dot = 0, na = 0, nb = 0;
    for (int64_t c = 0; c < h; ++c) {
      const double a = emb.data<float>()[i * h + c];
      dot += a * want[c];
      na += a * a;
      nb += want[c] * want[c];
      worst_abs = std::max(worst_abs, std::abs(a - want[c]));
    }
    worst_cos = std::min(worst_cos, dot / std::sqrt(na * nb));
    const auto cls = doubles(ref.at("cls_hidden_head"));
    for (size_t c = 0; c < cls.size(); ++c) {
      worst_hidden = std::max(worst_hidden,
                              std::abs(out.last_hidden_state.data<float>()[i * s * h + c] - cls[c]));
    }
    const auto pool = doubles(ref.at("pooler_output_head"));
    for (size_t c = 0; c < pool.size(); ++c) {
      worst_pool = std::max(worst_pool, std::abs(out.pooled_output.data<float>()[i * h + c] - pool[c]));
    }
    // Statistics of the real tokens' hidden states.
    const int64_t n = static_cast<int64_t>(ids.size());
    double sum = 0, asum = 0, sq = 0;
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < h; ++c) {
        const double v = out.last_hidden_state.data<float>()[(i * s + t) * h + c];
        sum += v;
        asum += std::abs(v);
      }
    }
    const double mean = sum / (n * h);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < h; ++c) {
        const double v = out.last_hidden_state.data<float>()[(i * s + t) * h + c] - mean;
        sq += v * v;
      }
    }
    EXPECT_NEAR(mean, ref.at("hidden_mean").as_number(), 1e-5);
    EXPECT_NEAR(asum / (n * h), ref.at("hidden_abs_mean").as_number(), 1e-5);
    EXPECT_NEAR(std::sqrt(sq / (n * h - 1)), ref.at("hidden_std").as_number(), 1e-5);
  }
  std::printf("MiniLM vs HF: min cosine %.9f, max |emb diff| %.3g, max |hidden diff| %.3g, "
              "max |pooler diff| %.3g\n", worst_cos, worst_abs, worst_hidden, worst_pool);
  EXPECT_GT(worst_cos, 0.99999);
  EXPECT_LT(worst_abs, 1e-4);
  EXPECT_LT(worst_hidden, 1e-4);
  EXPECT_LT(worst_pool, 1e-4);
  // The convenience call is the same computation, one sentence at a time (no padding).
  const Tensor one = model_->sentence_embeddings(BertBatch::from_encodings({encs[3]}));
  for (int64_t c = 0; c < h; ++c) EXPECT_NEAR(one.data<float>()[c], emb.data<float>()[3 * h + c], 2e-6);
}

TEST_F(MiniLM, QaHeadLogitsMatchHuggingFace) {
  const Json& qa = fixture_->at("qa");
  Tensor w = Tensor::empty({2, 384}, DType::kF32);
  Tensor b = Tensor::empty({2}, DType::kF32);
  const Json::Array& rows = qa.at("weight").as_array();
  for (int r = 0; r < 2; ++r) {
    const auto v = doubles(rows[r]);
    for (int c = 0; c < 384; ++c) w.data<float>()[r * 384 + c] = static_cast<float>(v[c]);
  }
  const auto bv = doubles(qa.at("bias"));
  b.data<float>()[0] = static_cast<float>(bv[0]);
  b.data<float>()[1] = static_cast<float>(bv[1]);
  BertModel with_head = *model_;
  with_head.set_qa_head(w, b);

  SquadExample ex;
  ex.id = "fixture";
  ex.question = qa.at("question").as_string();
  ex.context = qa.at("context").as_string();
  SquadFeatureOptions fo;
  fo.max_length = qa.at("max_length").as_int64();
  fo.stride = qa.at("stride").as_int64();
  const auto features = prepare_validation_features(*tokenizer_, {ex}, fo);
  ASSERT_EQ(static_cast<int64_t>(features.size()), qa.at("num_features").as_int64());
  std::vector<int32_t> want_ids;
  for (const Json& x : qa.at("input_ids_0").as_array()) want_ids.push_back(static_cast<int32_t>(x.as_int64()));
  EXPECT_EQ(features[0].input_ids, want_ids);
  const BertBatch batch = BertBatch::from_rows(1, features[0].size(), features[0].input_ids,
                                               features[0].token_type_ids,
                                               features[0].attention_mask);
  const QaLogits logits = with_head.qa_logits(batch);
  const auto ws = doubles(qa.at("start_logits_0")), we = doubles(qa.at("end_logits_0"));
  double worst = 0;
  for (int64_t t = 0; t < features[0].size(); ++t) {
    worst = std::max(worst, std::abs(logits.start.data<float>()[t] - ws[t]));
    worst = std::max(worst, std::abs(logits.end.data<float>()[t] - we[t]));
  }
  std::printf("QA logits vs HF: max abs diff %.3g\n", worst);
  EXPECT_LT(worst, 1e-4);
}

}  // namespace
}  // namespace s24::model
