// BertConfig, BertBatch and BertModel: loading Hugging Face checkpoints, random models of the
// real shapes, the forward pass, pooling, the QA head and pruning.
#include <cmath>
#include <cstring>
#include <map>

#include "core/check.h"
#include "core/json.h"
#include "core/parallel.h"
#include "model/text_file.h"
#include "sparse24/io.h"
#include "sparse24/model/bert.h"

namespace s24::model {
namespace {

int64_t positive_int(const Json& cfg, const char* key, int64_t fallback, const std::string& what) {
  const Json* v = cfg.find(key);
  if (v == nullptr) return fallback;
  S24_CHECK(v->is_number(), ErrorCode::kCorruptFile, what, ": \"", key, "\" is not a number");
  const int64_t n = v->as_int64();
  S24_CHECK(n > 0, ErrorCode::kCorruptFile, what, ": \"", key, "\" must be positive, got ", n);
  return n;
}

Activation parse_activation(const std::string& name, const std::string& what) {
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return Activation::kGeluTanh;
  }
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  S24_THROW(ErrorCode::kUnsupported, what, ": hidden_act '", name, "' is not supported");
}

// Counter-based uniform values (splitmix64 of seed and index), so that large random models fill
// in parallel and the same seed gives the same weights on any thread count.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float stddev) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  float* p = t.data<float>();
  // Uniform on [-a, a] has standard deviation a / sqrt(3).
  const float a = stddev * std::sqrt(3.0f);
  const uint64_t key = splitmix64(seed);
  s24::detail::parallel_for(0, t.numel(), 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const uint64_t r = splitmix64(key ^ static_cast<uint64_t>(i));
      const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);  // [0, 1)
      p[i] = (2.0f * u - 1.0f) * a;
    }
  });
  return t;
}

Tensor filled(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

// Tensors of a checkpoint, found with or without the "bert." prefix of the task models.
class WeightSource {
 public:
  WeightSource(TensorFile file, std::string path) : file_(std::move(file)), path_(std::move(path)) {
    if (file_.tensors.count("bert.embeddings.word_embeddings.weight")) prefix_ = "bert.";
  }

  bool has(const std::string& name, bool prefixed = true) const {
    return find(name, prefixed) != nullptr;
  }

  // F32 contiguous copy (or the tensor itself when it already is), with its shape checked.
  Tensor get(const std::string& name, const Shape& shape, bool prefixed = true) const {
    const Tensor* t = find(name, prefixed);
    const std::string full = (prefixed ? prefix_ : std::string()) + name;
    S24_CHECK(t != nullptr, ErrorCode::kCorruptFile, path_, ": tensor '", full, "' is missing");
    S24_CHECK(t->shape() == shape, ErrorCode::kCorruptFile, path_, ": tensor '", full,
              "' has shape ", shape_str(t->shape()), ", the config implies ", shape_str(shape));
    S24_CHECK(t->dtype() == DType::kF32 || t->dtype() == DType::kF16 || t->dtype() == DType::kBF16,
              ErrorCode::kDTypeMismatch, path_, ": tensor '", full, "' is ", dtype_name(t->dtype()),
              "; BERT weights must be F32, F16 or BF16");
    Tensor f = t->dtype() == DType::kF32 ? t->contiguous() : t->to_f32_cpu();
    const float* v = f.data<float>();
    for (int64_t i = 0; i < f.numel(); ++i) {
      S24_CHECK(std::isfinite(v[i]), ErrorCode::kNonFinite, path_, ": tensor '",
                full, "' holds a non-finite value at flat index ", i);
    }
    return f;
  }

  // HF renames the LayerNorm "gamma"/"beta" of old TF checkpoints to "weight"/"bias".
  LayerNorm layer_norm(const std::string& base, int64_t h, double eps) const {
    const bool old = !has(base + ".weight") && has(base + ".gamma");
    return LayerNorm(get(base + (old ? ".gamma" : ".weight"), {h}),
                     get(base + (old ? ".beta" : ".bias"), {h}), eps);
  }

  Linear linear(const std::string& base, int64_t out, int64_t in, bool prefixed = true) const {
    return Linear(get(base + ".weight", {out, in}, prefixed), get(base + ".bias", {out}, prefixed));
  }

 private:
  const Tensor* find(const std::string& name, bool prefixed) const {
    auto it = file_.tensors.find((prefixed ? prefix_ : std::string()) + name);
    return it == file_.tensors.end() ? nullptr : &it->second;
  }
  TensorFile file_;
  std::string path_;
  std::string prefix_;
};

}  // namespace

// ---- BertConfig -----------------------------------------------------------------------------

void BertConfig::validate() const {
  S24_CHECK(vocab_size > 0 && hidden_size > 0 && num_layers > 0 && num_heads > 0 &&
                intermediate_size > 0 && max_position_embeddings > 0 && type_vocab_size > 0,
            ErrorCode::kInvalidArgument, "BertConfig: every size must be positive");
  S24_CHECK(hidden_size % num_heads == 0, ErrorCode::kInvalidArgument, "BertConfig: ", num_heads,
            " heads do not divide hidden_size ", hidden_size);
  S24_CHECK(layer_norm_eps > 0.0, ErrorCode::kInvalidArgument,
            "BertConfig: layer_norm_eps must be positive");
}

BertConfig BertConfig::from_json_text(const std::string& text, const std::string& what) {
  const Json cfg = Json::parse(text, what);
  S24_CHECK(cfg.is_object(), ErrorCode::kCorruptFile, what, ": not a JSON object");
  const std::string model_type = cfg.get_string("model_type", "bert");
  S24_CHECK(model_type == "bert", ErrorCode::kUnsupported, what, ": model_type '", model_type,
            "' is not bert");
  const std::string pos = cfg.get_string("position_embedding_type", "absolute");
  S24_CHECK(pos == "absolute", ErrorCode::kUnsupported, what, ": position_embedding_type '", pos,
            "' is not supported (absolute only)");
  BertConfig c;
  c.vocab_size = positive_int(cfg, "vocab_size", c.vocab_size, what);
  c.hidden_size = positive_int(cfg, "hidden_size", c.hidden_size, what);
  c.num_layers = positive_int(cfg, "num_hidden_layers", c.num_layers, what);
  c.num_heads = positive_int(cfg, "num_attention_heads", c.num_heads, what);
  c.intermediate_size = positive_int(cfg, "intermediate_size", c.intermediate_size, what);
  c.max_position_embeddings =
      positive_int(cfg, "max_position_embeddings", c.max_position_embeddings, what);
  c.type_vocab_size = positive_int(cfg, "type_vocab_size", c.type_vocab_size, what);
  c.layer_norm_eps = cfg.get_number("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = parse_activation(cfg.get_string("hidden_act", "gelu"), what);
  try {
    c.validate();
  } catch (const Error& e) {
    S24_THROW(ErrorCode::kCorruptFile, what, ": ", e.what());
  }
  return c;
}

BertConfig BertConfig::load(const std::string& path) {
  return from_json_text(read_text_file(path), path);
}

BertConfig BertConfig::bert_base() { return BertConfig{}; }

BertConfig BertConfig::bert_large() {
  BertConfig c;
  c.hidden_size = 1024;
  c.num_layers = 24;
  c.num_heads = 16;
  c.intermediate_size = 4096;
  return c;
}

BertConfig BertConfig::minilm_l6() {
  BertConfig c;
  c.hidden_size = 384;
  c.num_layers = 6;
  c.num_heads = 12;
  c.intermediate_size = 1536;
  return c;
}

int64_t BertConfig::encoder_parameters() const {
  const int64_t h = hidden_size, i = intermediate_size;
  return num_layers * (4 * (h * h + h) + (i * h + i) + (h * i + h));
}

// ---- BertBatch ------------------------------------------------------------------------------

BertBatch BertBatch::from_encodings(const std::vector<Encoding>& encodings, int64_t pad_to) {
  S24_CHECK(!encodings.empty(), ErrorCode::kInvalidArgument, "BertBatch: no encodings");
  int64_t seq = pad_to;
  for (const Encoding& e : encodings) seq = std::max(seq, e.size());
  S24_CHECK(seq > 0, ErrorCode::kInvalidArgument, "BertBatch: every encoding is empty");
  const int64_t b = static_cast<int64_t>(encodings.size());
  BertBatch out;
  out.input_ids = Tensor::zeros({b, seq}, DType::kI32);
  out.token_type_ids = Tensor::zeros({b, seq}, DType::kI32);
  out.attention_mask = Tensor::zeros({b, seq}, DType::kI32);
  for (int64_t r = 0; r < b; ++r) {
    const Encoding& e = encodings[r];
    std::memcpy(out.input_ids.data<int32_t>() + r * seq, e.ids.data(), e.ids.size() * 4);
    std::memcpy(out.token_type_ids.data<int32_t>() + r * seq, e.type_ids.data(),
                e.type_ids.size() * 4);
    std::memcpy(out.attention_mask.data<int32_t>() + r * seq, e.attention_mask.data(),
                e.attention_mask.size() * 4);
  }
  return out;
}

BertBatch BertBatch::from_rows(int64_t batch, int64_t seq, const std::vector<int32_t>& input_ids,
                               const std::vector<int32_t>& token_type_ids,
                               const std::vector<int32_t>& attention_mask) {
  S24_CHECK(batch > 0 && seq > 0, ErrorCode::kInvalidArgument, "BertBatch: empty batch");
  const size_t n = static_cast<size_t>(batch * seq);
  S24_CHECK(input_ids.size() == n && token_type_ids.size() == n && attention_mask.size() == n,
            ErrorCode::kShapeMismatch, "BertBatch: ", input_ids.size(), "/",
            token_type_ids.size(), "/", attention_mask.size(), " values for [", batch, ", ", seq,
            "]");
  BertBatch out;
  out.input_ids = Tensor::empty({batch, seq}, DType::kI32);
  out.token_type_ids = Tensor::empty({batch, seq}, DType::kI32);
  out.attention_mask = Tensor::empty({batch, seq}, DType::kI32);
  std::memcpy(out.input_ids.data<int32_t>(), input_ids.data(), n * 4);
  std::memcpy(out.token_type_ids.data<int32_t>(), token_type_ids.data(), n * 4);
  std::memcpy(out.attention_mask.data<int32_t>(), attention_mask.data(), n * 4);
  return out;
}

// ---- BertModel ------------------------------------------------------------------------------

BertModel BertModel::load(const std::string& dir) {
  BertModel m;
  m.config_ = BertConfig::load(join_path(dir, "config.json"));
  const BertConfig& c = m.config_;
  const std::string st_path = join_path(dir, "model.safetensors");
  WeightSource w(load_safetensors(st_path), st_path);
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  m.embeddings_.word = w.get("embeddings.word_embeddings.weight", {c.vocab_size, h});
  m.embeddings_.position =
      w.get("embeddings.position_embeddings.weight", {c.max_position_embeddings, h});
  m.embeddings_.token_type =
      w.get("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h});
  m.embeddings_.norm = w.layer_norm("embeddings.LayerNorm", h, c.layer_norm_eps);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    EncoderLayer layer;
    layer.num_heads = c.num_heads;
    layer.activation = c.hidden_act;
    layer.query = w.linear(p + "attention.self.query", h, h);
    layer.key = w.linear(p + "attention.self.key", h, h);
    layer.value = w.linear(p + "attention.self.value", h, h);
    layer.attention_output = w.linear(p + "attention.output.dense", h, h);
    layer.attention_norm = w.layer_norm(p + "attention.output.LayerNorm", h, c.layer_norm_eps);
    layer.intermediate = w.linear(p + "intermediate.dense", inter, h);
    layer.output = w.linear(p + "output.dense", h, inter);
    layer.output_norm = w.layer_norm(p + "output.LayerNorm", h, c.layer_norm_eps);
    m.layers_.push_back(std::move(layer));
  }
  if (w.has("pooler.dense.weight")) m.pooler_ = w.linear("pooler.dense", h, h);
  if (w.has("qa_outputs.weight", false)) m.qa_head_ = w.linear("qa_outputs", 2, h, false);
  return m;
}

BertModel BertModel::random(const BertConfig& config, uint64_t seed) {
  config.validate();
  BertModel m;
  m.config_ = config;
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
  uint64_t stream = seed * 1000003u;
  auto matrix = [&](const Shape& shape) { return random_tensor(shape, ++stream, 0.02f); };
  auto linear = [&](int64_t out, int64_t in) {
    return Linear(matrix({out, in}), Tensor::zeros({out}, DType::kF32));
  };
  auto norm = [&] {
    return LayerNorm(filled({h}, 1.0f), Tensor::zeros({h}, DType::kF32), config.layer_norm_eps);
  };
  m.embeddings_.word = matrix({config.vocab_size, h});
  m.embeddings_.position = matrix({config.max_position_embeddings, h});
  m.embeddings_.token_type = matrix({config.type_vocab_size, h});
  m.embeddings_.norm = norm();
  for (int64_t l = 0; l < config.num_layers; ++l) {
    EncoderLayer layer;
    layer.num_heads = config.num_heads;
    layer.activation = config.hidden_act;
    layer.query = linear(h, h);
    layer.key = linear(h, h);
    layer.value = linear(h, h);
    layer.attention_output = linear(h, h);
    layer.attention_norm = norm();
    layer.intermediate = linear(inter, h);
    layer.output = linear(h, inter);
    layer.output_norm = norm();
    m.layers_.push_back(std::move(layer));
  }
  m.pooler_ = linear(h, h);
  m.qa_head_ = linear(2, h);
  return m;
}

BertOutput BertModel::forward(const BertBatch& batch, const ForwardOptions& options) const {
  S24_CHECK(!layers_.empty(), ErrorCode::kInvalidArgument, "BertModel: no model loaded");
  S24_CHECK(batch.attention_mask.defined() && batch.attention_mask.shape() == batch.input_ids.shape(),
            ErrorCode::kShapeMismatch, "BertModel: attention_mask must match input_ids ",
            batch.input_ids.describe());
  const int64_t b = batch.batch(), s = batch.seq(), h = config_.hidden_size;
  const int32_t* mask = batch.attention_mask.data<int32_t>();
  for (int64_t i = 0; i < b * s; ++i) {
    S24_CHECK(mask[i] == 0 || mask[i] == 1, ErrorCode::kInvalidArgument,
              "BertModel: attention_mask holds ", mask[i], " at [", i / s, ", ", i % s,
              "]; only 0 and 1 are allowed");
  }
  BertOutput out;
  Tensor x = embeddings_.forward(batch);
  if (options.activations) {
    options.activations->assign(layers_.size(), LayerActivations{});
    out.embedding_output = x;
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    x = layers_[l].forward(x, batch.attention_mask, b, s,
                           options.activations ? &(*options.activations)[l] : nullptr);
  }
  out.last_hidden_state = x.view({b, s, h});
  if (options.pooler) {
    S24_CHECK(has_pooler(), ErrorCode::kUnsupported, "BertModel: the checkpoint has no pooler");
    // tanh(W h[CLS] + b) on the first token of every row.
    Tensor cls = Tensor::empty({b, h}, DType::kF32);
    for (int64_t r = 0; r < b; ++r) {
      std::memcpy(cls.data<float>() + r * h, x.data<float>() + r * s * h, sizeof(float) * h);
    }
    Tensor pooled = pooler_.forward(cls);
    float* p = pooled.data<float>();
    for (int64_t i = 0; i < pooled.numel(); ++i) p[i] = std::tanh(p[i]);
    out.pooled_output = pooled;
  }
  return out;
}

Tensor BertModel::sentence_embeddings(const BertBatch& batch, bool normalize) const {
  Tensor pooled = mean_pool(forward(batch).last_hidden_state, batch.attention_mask);
  if (normalize) l2_normalize_rows(pooled);
  return pooled;
}

QaLogits BertModel::qa_logits(const BertBatch& batch) const {
  S24_CHECK(has_qa_head(), ErrorCode::kUnsupported,
            "BertModel: the checkpoint has no QA head (qa_outputs.weight); a question-answering "
            "checkpoint (BertForQuestionAnswering) or set_qa_head() is needed");
  const Tensor hidden = forward(batch).last_hidden_state;
  const int64_t b = batch.batch(), s = batch.seq();
  const Tensor logits = qa_head_.forward(hidden.view({b * s, config_.hidden_size}));  // [b*s, 2]
  QaLogits out;
  out.start = Tensor::empty({b, s}, DType::kF32);
  out.end = Tensor::empty({b, s}, DType::kF32);
  const float* l = logits.data<float>();
  for (int64_t i = 0; i < b * s; ++i) {
    out.start.data<float>()[i] = l[2 * i];
    out.end.data<float>()[i] = l[2 * i + 1];
  }
  return out;
}

void BertModel::set_qa_head(Tensor weight, Tensor bias) {
  Linear head(std::move(weight), std::move(bias));
  S24_CHECK(head.out_features() == 2 && head.in_features() == config_.hidden_size &&
                head.bias().defined(),
            ErrorCode::kShapeMismatch, "set_qa_head: weight must be [2, ", config_.hidden_size,
            "] with a bias [2], got ", head.weight().describe());
  qa_head_ = std::move(head);
}

void BertModel::prune(const PruneOptions& options) {
  uint64_t offset = options.offset;
  for (EncoderLayer& layer : layers_) {
    for (Linear* lin : layer.linears()) {
      PruneOptions o = options;
      // MVUE24 draws: every tensor its own counter range.
      o.offset = offset;
      offset += static_cast<uint64_t>(lin->weight().numel());
      lin->prune(o);
    }
  }
}

void BertModel::use_compressed(bool on) {
  for (EncoderLayer& layer : layers_) {
    for (Linear* lin : layer.linears()) {
      if (lin->is_pruned()) lin->use_compressed(on);
    }
  }
}

// ---- pooling --------------------------------------------------------------------------------

Tensor mean_pool(const Tensor& hidden, const Tensor& mask) {
  S24_CHECK(hidden.defined() && hidden.dtype() == DType::kF32 && hidden.device().is_cpu() &&
                hidden.dim() == 3 && hidden.is_contiguous(),
            ErrorCode::kInvalidArgument, "mean_pool: hidden must be contiguous F32 CPU [batch, "
            "seq, hidden], got ", hidden.defined() ? hidden.describe() : std::string("undefined"));
  S24_CHECK(mask.defined() && mask.dtype() == DType::kI32 && mask.dim() == 2 &&
                mask.size(0) == hidden.size(0) && mask.size(1) == hidden.size(1),
            ErrorCode::kShapeMismatch, "mean_pool: mask must be I32 [", hidden.size(0), ", ",
            hidden.size(1), "]");
  const int64_t b = hidden.size(0), s = hidden.size(1), h = hidden.size(2);
  Tensor out = Tensor::zeros({b, h}, DType::kF32);
  const float* x = hidden.data<float>();
  const int32_t* m = mask.contiguous().data<int32_t>();
  for (int64_t r = 0; r < b; ++r) {
    std::vector<double> sum(static_cast<size_t>(h), 0.0);
    double count = 0.0;
    for (int64_t t = 0; t < s; ++t) {
      if (m[r * s + t] == 0) continue;
      count += 1.0;
      for (int64_t c = 0; c < h; ++c) sum[c] += x[(r * s + t) * h + c];
    }
    // sentence-transformers clamps the token count at 1e-9: an all-padding row gives zeros.
    count = std::max(count, 1e-9);
    for (int64_t c = 0; c < h; ++c) out.data<float>()[r * h + c] = static_cast<float>(sum[c] / count);
  }
  return out;
}

void l2_normalize_rows(Tensor& x) {
  S24_CHECK(x.defined() && x.dtype() == DType::kF32 && x.device().is_cpu() && x.dim() == 2 &&
                x.is_contiguous(),
            ErrorCode::kInvalidArgument, "l2_normalize_rows: needs contiguous F32 CPU [rows, n]");
  const int64_t rows = x.size(0), n = x.size(1);
  float* p = x.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0.0;
    for (int64_t c = 0; c < n; ++c) ss += static_cast<double>(p[r * n + c]) * p[r * n + c];
    const double norm = std::max(std::sqrt(ss), 1e-12);
    for (int64_t c = 0; c < n; ++c) p[r * n + c] = static_cast<float>(p[r * n + c] / norm);
  }
}

}  // namespace s24::model
