// sparse24 — a BERT-family encoder runtime (post-LN, GELU, absolute positions, token types):
// embeddings, self-attention, feed-forward, pooler, mean pooling for sentence embeddings and a
// QA span head. Hugging Face checkpoints load from config.json + model.safetensors (f32, f16 or
// bf16 weights, converted to f32).
//
// Each of the six Linear layers of every encoder layer (query, key, value, attention output,
// fc1 = intermediate, fc2 = output) is dense or 2:4 compressed and runs through s24::linear_dense
// / s24::linear. The CPU path computes in f32. Layers are objects with explicit inputs and
// outputs, and a forward pass can keep every intermediate (LayerActivations) for a backward pass.
//
//   auto model = s24::model::BertModel::load(dir);
//   auto tok = s24::model::WordPieceTokenizer::from_directory(dir);
//   auto batch = s24::model::BertBatch::from_encodings({tok.encode("A sentence.")[0]});
//   s24::Tensor emb = model.sentence_embeddings(batch);   // [1, hidden], L2-normalised
//   model.prune({s24::PruneMethod::kMagnitude});           // every encoder Linear -> 2:4
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparse24/model/tokenizer.h"
#include "sparse24/ops.h"
#include "sparse24/prune.h"
#include "sparse24/sparse_weight.h"
#include "sparse24/tensor.h"

namespace s24::model {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  Activation hidden_act = Activation::kGeluErf;  // HF "gelu" is the erf form

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Throws kInvalidArgument on sizes that cannot make a model (hidden % heads != 0, ...).
  void validate() const;
  // HF config.json (model_type bert; position_embedding_type absolute). Throws kCorruptFile /
  // kUnsupported naming the key.
  static BertConfig from_json_text(const std::string& text, const std::string& what = "config.json");
  static BertConfig load(const std::string& config_json_path);
  static BertConfig bert_base();   // 12 x 768, 12 heads, 3072
  static BertConfig bert_large();  // 24 x 1024, 16 heads, 4096
  static BertConfig minilm_l6();   // 6 x 384, 12 heads, 1536 (all-MiniLM-L6-v2)
  int64_t encoder_parameters() const;  // weights + biases of the encoder Linear layers
};

// A batch of token sequences, padded to one length: I32 CPU tensors [batch, seq].
struct BertBatch {
  Tensor input_ids;
  Tensor token_type_ids;
  Tensor attention_mask;  // 1 = real token, 0 = padding
  int64_t batch() const { return input_ids.size(0); }
  int64_t seq() const { return input_ids.size(1); }

  // Pads every encoding to the longest (or to pad_to when larger) with id 0, type 0, mask 0.
  static BertBatch from_encodings(const std::vector<Encoding>& encodings, int64_t pad_to = 0);
  // Row-major [batch, seq] values (e.g. SQuAD features laid end to end).
  static BertBatch from_rows(int64_t batch, int64_t seq, const std::vector<int32_t>& input_ids,
                             const std::vector<int32_t>& token_type_ids,
                             const std::vector<int32_t>& attention_mask);
};

// y = x W^T + b with W [out, in] dense or 2:4 compressed.
class Linear {
 public:
  Linear() = default;
  // F32 weight [out, in] and bias [out] (bias may be undefined: no bias).
  Linear(Tensor weight, Tensor bias);

  int64_t in_features() const { return weight_.size(1); }
  int64_t out_features() const { return weight_.size(0); }
  // x [..., in] -> [..., out], through s24::linear (compressed) or s24::linear_dense.
  Tensor forward(const Tensor& x, Activation activation = Activation::kNone) const;

  // Prunes the weight to 2:4 (s24::prune_compress) and switches to the compressed path. weight()
  // becomes the pruned dense matrix (the master copy for training); the unpruned weight is
  // dropped. kSoftThreshold keeps the thresholded values without the S-STE scale beta.
  void prune(const PruneOptions& options);
  // Installs an already 2:4 dense weight (throws kNotTwoFour when it is not).
  void set_pruned_weight(const Tensor& pruned);
  // Whether forward uses the compressed weight (true after prune) or the dense GEMM on the same
  // (pruned) values: the two must agree, and timing both isolates the kernel.
  void use_compressed(bool on);
  bool is_pruned() const { return compressed_.defined(); }
  bool uses_compressed() const { return use_compressed_; }

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const SparseWeight& compressed() const { return compressed_; }

 private:
  Tensor weight_;
  Tensor bias_;
  SparseWeight compressed_;
  bool use_compressed_ = false;
};

// y = LayerNorm(x (+ residual)) over the last dimension, statistics in double.
class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(Tensor gamma, Tensor beta, double eps);
  // x, residual [rows, H] F32 CPU (residual may be nullptr). mean / rstd [rows] are written when
  // not null (kept for a backward pass).
  Tensor forward(const Tensor& x, const Tensor* residual = nullptr, Tensor* mean = nullptr,
                 Tensor* rstd = nullptr) const;
  const Tensor& gamma() const { return gamma_; }
  const Tensor& beta() const { return beta_; }

 private:
  Tensor gamma_, beta_;
  double eps_ = 1e-12;
};

class Embeddings {
 public:
  Tensor word;        // [vocab, H]
  Tensor position;    // [max_positions, H]
  Tensor token_type;  // [type_vocab, H]
  LayerNorm norm;
  // LayerNorm(word[id] + position[s] + token_type[type]) -> [batch * seq, H]. Throws
  // kInvalidArgument on ids outside the tables or seq > max_positions.
  Tensor forward(const BertBatch& batch) const;
};

// Everything one encoder layer computes, kept for a backward pass (ForwardOptions::activations).
// Token rows are [batch * seq, ...] in row-major batch order.
struct LayerActivations {
  Tensor input;                 // [T, H]
  Tensor query, key, value;     // [T, H] (heads side by side: head h is columns h*d .. h*d+d-1)
  Tensor probs;                 // [batch, heads, seq, seq] softmax(QK^T / sqrt(d) + mask)
  Tensor context;               // [T, H] probs V, heads merged
  Tensor attention_out;         // [T, H] the output projection
  Tensor attention_norm_mean, attention_norm_rstd;  // [T]
  Tensor hidden1;               // [T, H] LayerNorm(input + attention_out)
  Tensor intermediate_pre;      // [T, I] fc1 before the activation
  Tensor intermediate;          // [T, I] after the activation
  Tensor ffn_out;               // [T, H] fc2
  Tensor output_norm_mean, output_norm_rstd;  // [T]
  Tensor output;                // [T, H] LayerNorm(hidden1 + ffn_out)
};

// Scaled dot-product attention over heads: context[b, s, h] = softmax(q k^T / sqrt(d)) v with the
// keys whose mask is 0 excluded (HF adds the dtype's lowest value: the same zero weights). q, k,
// v: F32 [batch * seq, heads * head_dim]; mask I32 [batch, seq]. probs (optional) receives
// [batch, heads, seq, seq]. Parallel over (batch, head).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                 int64_t batch, int64_t seq, int64_t heads, Tensor* probs = nullptr);
// The activation alone, element-wise, in parallel (the fused epilogue of linear is used when no
// activations are kept).
Tensor activate(const Tensor& x, Activation activation);

class EncoderLayer {
 public:
  Linear query, key, value, attention_output, intermediate, output;
  LayerNorm attention_norm, output_norm;
  int64_t num_heads = 0;
  Activation activation = Activation::kGeluErf;

  // x [batch * seq, H] -> [batch * seq, H]. `save` (optional) receives every intermediate.
  Tensor forward(const Tensor& x, const Tensor& mask, int64_t batch, int64_t seq,
                 LayerActivations* save = nullptr) const;
  // The six Linear layers in the order query, key, value, attention output, fc1, fc2.
  std::vector<Linear*> linears();
  std::vector<const Linear*> linears() const;
  static const char* linear_name(int index);  // "query", ..., "fc2"
};

struct ForwardOptions {
  bool pooler = false;  // compute pooled_output (needs a pooler)
  std::vector<LayerActivations>* activations = nullptr;  // one entry per layer when set
};

struct BertOutput {
  Tensor last_hidden_state;  // F32 [batch, seq, H]
  Tensor pooled_output;      // F32 [batch, H] (when requested)
  Tensor embedding_output;   // F32 [batch * seq, H] (when activations are kept)
};

struct QaLogits {
  Tensor start;  // F32 [batch, seq]
  Tensor end;    // F32 [batch, seq]
};

class BertModel {
 public:
  BertModel() = default;
  // config.json + model.safetensors of a Hugging Face BERT checkpoint (BertModel,
  // BertForQuestionAnswering, ... : a "bert." prefix is accepted). The pooler and a QA head
  // (qa_outputs) are loaded when present. Throws kIo / kCorruptFile naming the missing or
  // misshapen tensor.
  static BertModel load(const std::string& dir);
  // Random weights of the real architecture (normal(0, 0.02) matrices, zero biases, unit norms),
  // with pooler and QA head, from a seeded generator: for speed measurements.
  static BertModel random(const BertConfig& config, uint64_t seed);

  const BertConfig& config() const { return config_; }
  bool has_pooler() const { return pooler_.weight().defined(); }
  bool has_qa_head() const { return qa_head_.weight().defined(); }

  BertOutput forward(const BertBatch& batch, const ForwardOptions& options = {}) const;
  // Mean of the last hidden state over the attention mask, then (normalize) divided by its L2
  // norm: sentence-transformers' all-MiniLM-L6-v2 embedding. [batch, H].
  Tensor sentence_embeddings(const BertBatch& batch, bool normalize = true) const;
  // The span head of BertForQuestionAnswering: hidden @ W^T + b, W [2, H]. Throws kUnsupported
  // when the checkpoint has no qa_outputs (set_qa_head installs one).
  QaLogits qa_logits(const BertBatch& batch) const;
  void set_qa_head(Tensor weight, Tensor bias);

  // Prunes the six Linear layers of every encoder layer (not embeddings, pooler or heads).
  void prune(const PruneOptions& options);
  // Switches every pruned encoder Linear between its compressed and its dense path.
  void use_compressed(bool on);

  std::vector<EncoderLayer>& layers() { return layers_; }
  const std::vector<EncoderLayer>& layers() const { return layers_; }
  const Embeddings& embeddings() const { return embeddings_; }
  // Mutable access, e.g. to install other tables (a copy of a model shares its tensors until
  // they are replaced).
  Embeddings& embeddings() { return embeddings_; }

 private:
  BertConfig config_;
  Embeddings embeddings_;
  std::vector<EncoderLayer> layers_;
  Linear pooler_;
  Linear qa_head_;
};

// Mean over the tokens with mask 1: hidden [batch, seq, H], mask I32 [batch, seq] -> [batch, H].
Tensor mean_pool(const Tensor& hidden, const Tensor& mask);
// Each row divided by max(||row||_2, 1e-12), in place (torch.nn.functional.normalize).
void l2_normalize_rows(Tensor& x);

}  // namespace s24::model
