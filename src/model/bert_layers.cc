// The layer objects of the BERT runtime: Linear (dense or 2:4), LayerNorm, Embeddings, the
// attention core and one encoder layer, on the CPU in f32. The GPU runs the same model through
// BertGpuModel (bert_gpu.cc), which is built from these layers.
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "model/bert_cpu.h"
#include "sparse24/format.h"
#include "sparse24/model/bert.h"

namespace s24::model {
namespace {

void check_f32_cpu(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.defined(), ErrorCode::kInvalidArgument, op, ": ", what, " is undefined");
  S24_CHECK(t.device().is_cpu(), ErrorCode::kUnsupported, op, ": ", what, " is on ",
            t.device().str(), "; the BERT runtime runs on the CPU only so far");
  S24_CHECK(t.dtype() == DType::kF32, ErrorCode::kDTypeMismatch, op, ": ", what,
            " must be F32, got ", t.describe());
  S24_CHECK(t.is_contiguous(), ErrorCode::kInvalidArgument, op, ": ", what,
            " must be contiguous, got ", t.describe());
}

void check_i32_cpu(const Tensor& t, const char* op, const char* what) {
  S24_CHECK(t.defined() && t.device().is_cpu() && t.dtype() == DType::kI32 && t.dim() == 2 &&
                t.is_contiguous(),
            ErrorCode::kInvalidArgument, op, ": ", what,
            " must be a contiguous I32 CPU tensor [batch, seq], got ",
            t.defined() ? t.describe() : std::string("an undefined tensor"));
}

}  // namespace

// ---- Linear ---------------------------------------------------------------------------------

Linear::Linear(Tensor weight, Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {
  check_f32_cpu(weight_, "Linear", "weight");
  S24_CHECK(weight_.dim() == 2, ErrorCode::kShapeMismatch, "Linear: weight must be 2-D, got ",
            weight_.describe());
  if (bias_.defined()) {
    check_f32_cpu(bias_, "Linear", "bias");
    S24_CHECK(bias_.dim() == 1 && bias_.size(0) == weight_.size(0), ErrorCode::kShapeMismatch,
              "Linear: bias ", bias_.describe(), " does not match weight ", weight_.describe());
  }
}

Tensor Linear::forward(const Tensor& x, Activation activation) const {
  S24_CHECK(weight_.defined(), ErrorCode::kInvalidArgument, "Linear: no weight");
  LinearOptions options;
  options.activation = activation;
  const Tensor* bias = bias_.defined() ? &bias_ : nullptr;
  if (use_compressed_) return linear(x, compressed_, bias, options);
  return linear_dense(x, weight_, bias, options);
}

void Linear::prune(const PruneOptions& options) {
  S24_CHECK(weight_.defined(), ErrorCode::kInvalidArgument, "Linear: no weight to prune");
  const Compressed24 c = prune_compress(weight_, options);
  weight_ = decompress(c);
  compressed_ = SparseWeight(c);
  use_compressed_ = true;
}

void Linear::set_pruned_weight(const Tensor& pruned) {
  check_f32_cpu(pruned, "Linear::set_pruned_weight", "weight");
  S24_CHECK(pruned.shape() == weight_.shape(), ErrorCode::kShapeMismatch,
            "Linear::set_pruned_weight: ", pruned.describe(), " does not match ",
            weight_.describe());
  compressed_ = SparseWeight(compress(pruned));  // throws kNotTwoFour when it is not 2:4
  weight_ = pruned;
  use_compressed_ = true;
}

void Linear::use_compressed(bool on) {
  S24_CHECK(!on || compressed_.defined(), ErrorCode::kInvalidArgument,
            "Linear: no compressed weight (prune first)");
  use_compressed_ = on;
}

// ---- LayerNorm ------------------------------------------------------------------------------

LayerNorm::LayerNorm(Tensor gamma, Tensor beta, double eps)
    : gamma_(std::move(gamma)), beta_(std::move(beta)), eps_(eps) {
  check_f32_cpu(gamma_, "LayerNorm", "weight");
  check_f32_cpu(beta_, "LayerNorm", "bias");
  S24_CHECK(gamma_.dim() == 1 && beta_.shape() == gamma_.shape(), ErrorCode::kShapeMismatch,
            "LayerNorm: weight ", gamma_.describe(), " and bias ", beta_.describe(),
            " must be two equal 1-D tensors");
  S24_CHECK(eps > 0.0, ErrorCode::kInvalidArgument, "LayerNorm: eps must be positive, got ", eps);
}

Tensor LayerNorm::forward(const Tensor& x, const Tensor* residual, Tensor* mean,
                          Tensor* rstd) const {
  check_f32_cpu(x, "LayerNorm", "input");
  const int64_t h = gamma_.size(0);
  S24_CHECK(x.dim() >= 1 && x.size(-1) == h, ErrorCode::kShapeMismatch, "LayerNorm: input ",
            x.describe(), " does not end in ", h);
  if (residual != nullptr) {
    check_f32_cpu(*residual, "LayerNorm", "residual");
    S24_CHECK(residual->shape() == x.shape(), ErrorCode::kShapeMismatch, "LayerNorm: residual ",
              residual->describe(), " differs from input ", x.describe());
  }
  const int64_t rows = x.numel() / h;
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  if (mean) *mean = Tensor::empty({rows}, DType::kF32);
  if (rstd) *rstd = Tensor::empty({rows}, DType::kF32);
  cpu::layer_norm(x.data<float>(), residual ? residual->data<float>() : nullptr,
                  gamma_.data<float>(), beta_.data<float>(), y.data<float>(), rows, h, eps_,
                  mean ? mean->data<float>() : nullptr, rstd ? rstd->data<float>() : nullptr);
  return y;
}

// ---- Embeddings -----------------------------------------------------------------------------

Tensor Embeddings::forward(const BertBatch& batch) const {
  check_i32_cpu(batch.input_ids, "Embeddings", "input_ids");
  check_i32_cpu(batch.token_type_ids, "Embeddings", "token_type_ids");
  const int64_t b = batch.batch(), s = batch.seq(), h = word.size(1);
  S24_CHECK(batch.token_type_ids.shape() == batch.input_ids.shape(), ErrorCode::kShapeMismatch,
            "Embeddings: token_type_ids ", batch.token_type_ids.describe(), " vs input_ids ",
            batch.input_ids.describe());
  S24_CHECK(s <= position.size(0), ErrorCode::kInvalidArgument, "Embeddings: sequence length ",
            s, " exceeds max_position_embeddings ", position.size(0));
  const int32_t* ids = batch.input_ids.data<int32_t>();
  const int32_t* types = batch.token_type_ids.data<int32_t>();
  for (int64_t i = 0; i < b * s; ++i) {
    S24_CHECK(ids[i] >= 0 && ids[i] < word.size(0), ErrorCode::kInvalidArgument,
              "Embeddings: token id ", ids[i], " at [", i / s, ", ", i % s,
              "] is outside the vocabulary of ", word.size(0));
    S24_CHECK(types[i] >= 0 && types[i] < token_type.size(0), ErrorCode::kInvalidArgument,
              "Embeddings: token type ", types[i], " at [", i / s, ", ", i % s,
              "] is outside the ", token_type.size(0), " types");
  }
  Tensor sum = Tensor::empty({b * s, h}, DType::kF32);
  float* out = sum.data<float>();
  const float* wt = word.data<float>();
  const float* pt = position.data<float>();
  const float* tt = token_type.data<float>();
  s24::detail::parallel_for(0, b * s, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* w = wt + static_cast<int64_t>(ids[t]) * h;
      const float* p = pt + (t % s) * h;  // absolute positions 0 .. seq-1 in every row
      const float* ty = tt + static_cast<int64_t>(types[t]) * h;
      float* o = out + t * h;
      // HF's order: (word + token_type) + position.
      for (int64_t c = 0; c < h; ++c) o[c] = (w[c] + ty[c]) + p[c];
    }
  });
  return norm.forward(sum);
}

// ---- attention and activations --------------------------------------------------------------

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                 int64_t batch, int64_t seq, int64_t heads, Tensor* probs) {
  for (const auto& [t, name] : {std::pair{&q, "query"}, {&k, "key"}, {&v, "value"}}) {
    check_f32_cpu(*t, "attention", name);
    S24_CHECK(t->dim() == 2 && t->size(0) == batch * seq, ErrorCode::kShapeMismatch,
              "attention: ", name, " ", t->describe(), " is not [batch * seq = ", batch * seq,
              ", hidden]");
  }
  S24_CHECK(k.shape() == q.shape() && v.shape() == q.shape(), ErrorCode::kShapeMismatch,
            "attention: query ", q.describe(), ", key ", k.describe(), " and value ",
            v.describe(), " differ");
  check_i32_cpu(mask, "attention", "mask");
  S24_CHECK(mask.size(0) == batch && mask.size(1) == seq, ErrorCode::kShapeMismatch,
            "attention: mask ", mask.describe(), " is not [", batch, ", ", seq, "]");
  const int64_t hidden = q.size(1);
  S24_CHECK(heads > 0 && hidden % heads == 0, ErrorCode::kInvalidArgument, "attention: ", heads,
            " heads do not divide hidden size ", hidden);
  Tensor ctx = Tensor::empty(q.shape(), DType::kF32);
  if (probs) *probs = Tensor::empty({batch, heads, seq, seq}, DType::kF32);
  cpu::attention(q.data<float>(), k.data<float>(), v.data<float>(), mask.data<int32_t>(),
                 ctx.data<float>(), probs ? probs->data<float>() : nullptr, batch, seq, heads,
                 hidden / heads, hidden);
  return ctx;
}

Tensor activate(const Tensor& x, Activation activation) {
  check_f32_cpu(x, "activate", "input");
  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  cpu::activate(x.data<float>(), y.data<float>(), x.numel(), activation);
  return y;
}

// ---- EncoderLayer ---------------------------------------------------------------------------

Tensor EncoderLayer::forward(const Tensor& x, const Tensor& mask, int64_t batch, int64_t seq,
                             LayerActivations* save) const {
  Tensor q = query.forward(x);
  Tensor k = key.forward(x);
  Tensor v = value.forward(x);
  Tensor ctx = attention(q, k, v, mask, batch, seq, num_heads, save ? &save->probs : nullptr);
  Tensor attn = attention_output.forward(ctx);
  Tensor h1 = attention_norm.forward(attn, &x, save ? &save->attention_norm_mean : nullptr,
                                     save ? &save->attention_norm_rstd : nullptr);
  Tensor inter, pre;
  if (save) {
    pre = intermediate.forward(h1);
    inter = model::activate(pre, activation);
  } else {
    inter = intermediate.forward(h1, activation);  // the activation fused into the GEMM epilogue
  }
  Tensor ffn = output.forward(inter);
  Tensor out = output_norm.forward(ffn, &h1, save ? &save->output_norm_mean : nullptr,
                                   save ? &save->output_norm_rstd : nullptr);
  if (save) {
    save->input = x;
    save->query = q;
    save->key = k;
    save->value = v;
    save->context = ctx;
    save->attention_out = attn;
    save->hidden1 = h1;
    save->intermediate_pre = pre;
    save->intermediate = inter;
    save->ffn_out = ffn;
    save->output = out;
  }
  return out;
}

std::vector<Linear*> EncoderLayer::linears() {
  return {&query, &key, &value, &attention_output, &intermediate, &output};
}

std::vector<const Linear*> EncoderLayer::linears() const {
  return {&query, &key, &value, &attention_output, &intermediate, &output};
}

const char* EncoderLayer::linear_name(int index) {
  static const char* const kNames[] = {"query", "key", "value", "attn_out", "fc1", "fc2"};
  S24_CHECK(index >= 0 && index < 6, ErrorCode::kInvalidArgument, "linear index ", index);
  return kNames[index];
}

}  // namespace s24::model
