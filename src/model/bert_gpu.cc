// BertGpuModel: the BERT encoder on a CUDA device (bert_gpu.h). Weights are converted from the
// CPU model's f32 tensors once; the forward pass is a fixed sequence of launches on the model's
// own stream over preallocated buffers (capturable into a CUDA graph).
#include "sparse24/model/bert_gpu.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/check.h"
#include "sparse24/format.h"
#include "sparse24/sparse_weight.h"

#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "model/bert_cuda.h"
#include "ops/linear_dense_cuda.h"
#endif

namespace s24::model {

#if S24_WITH_CUDA
namespace {

// One encoder Linear on the device: dense (cuBLASLt) or 2:4 (sparse24's GEMM).
struct GpuLinear {
  Tensor weight;        // dense [N, K] (dense mode)
  SparseWeight sparse;  // 2:4 mode
  Tensor bias;          // [N] or undefined
  Backend backend = Backend::kAuto;

  void forward(const Tensor& x, Tensor& y, Activation activation, Stream stream) const {
    LinearOptions o;
    o.activation = activation;
    o.stream = stream;
    const Tensor* b = bias.defined() ? &bias : nullptr;
    if (sparse.defined()) {
      o.backend = backend;
      linear_out(x, sparse, b, y, o);
    } else {
      detail::linear_dense_cuda(x, weight, b, y, o);
    }
  }

  size_t bytes() const {
    size_t n = bias.defined() ? bias.nbytes() : 0;
    if (weight.defined()) n += weight.nbytes();
    if (sparse.defined()) {
      n += sparse.logical().values.nbytes() + sparse.logical().meta.nbytes() +
           sparse.prepared_bytes();
    }
    return n;
  }
};

// Rows of several f32 CPU matrices (same column count) stacked into one.
Tensor stack_rows(const std::vector<const Tensor*>& parts) {
  int64_t rows = 0;
  const int64_t cols = parts[0]->size(1);
  for (const Tensor* p : parts) rows += p->size(0);
  Tensor out = Tensor::empty({rows, cols}, DType::kF32);
  float* o = out.data<float>();
  for (const Tensor* p : parts) {
    const Tensor c = p->contiguous();
    std::memcpy(o, c.data<float>(), c.nbytes());
    o += c.numel();
  }
  return out;
}

// Biases of stacked layers; a missing bias counts as zeros, all missing gives no bias.
Tensor stack_biases(const std::vector<const Linear*>& parts) {
  bool any = false;
  for (const Linear* l : parts) any |= l->bias().defined();
  if (!any) return Tensor();
  int64_t n = 0;
  for (const Linear* l : parts) n += l->out_features();
  Tensor out = Tensor::zeros({n}, DType::kF32);
  float* o = out.data<float>();
  for (const Linear* l : parts) {
    if (l->bias().defined()) {
      const Tensor c = l->bias().contiguous();
      std::memcpy(o, c.data<float>(), c.nbytes());
    }
    o += l->out_features();
  }
  return out;
}

bool runs_compressed(const Linear& l) { return l.is_pruned() && l.uses_compressed(); }

}  // namespace

struct BertGpuModel::Impl {
  struct Layer {
    bool fused_qkv = false;
    GpuLinear qkv;      // [3H, H] when fused
    GpuLinear q, k, v;  // otherwise
    GpuLinear attn_out, fc1, fc2;
    Tensor ln1_gamma, ln1_beta, ln2_gamma, ln2_beta;  // F32
  };

  BertConfig config;
  BertGpuOptions options;
  Device device;
  cudaStream_t stream = nullptr;
  Activation activation = Activation::kGeluErf;
  int sparse_count = 0;

  Tensor word, position, token_type, emb_gamma, emb_beta;
  std::vector<Layer> layers;

  // Buffers, flat, sized for cap_tokens tokens / cap_batch sequences.
  int64_t cap_tokens = 0, cap_batch = 0;
  Tensor ids_buf, types_buf, mask_buf;                             // I32 [tokens]
  Tensor hidden_buf, qkv_buf, ctx_buf, proj_buf, inter_buf;        // dtype
  Tensor pooled_buf;                                               // F32 [batch * H]
  int64_t batch = 0, seq = 0;  // shape of the current inputs (0: none yet)

  ~Impl() {
    if (stream != nullptr) {
      (void)cudaStreamSynchronize(stream);
      (void)cudaStreamDestroy(stream);
    }
  }

  Stream s() const { return static_cast<Stream>(stream); }

  Tensor upload(const Tensor& cpu, DType dtype) const {
    return cpu.cast_cpu(dtype).to(device, s());
  }

  GpuLinear make_linear(const Tensor& w_f32, const Tensor& b_f32, bool compressed) {
    GpuLinear l;
    l.backend = options.sparse_backend;
    const Tensor w = w_f32.cast_cpu(options.dtype);
    if (compressed) {
      // Rounding to f16/bf16 can only turn kept values into zeros: still 2:4.
      const Compressed24 c = compress(w).to(device, s());
      l.sparse = SparseWeight(c, options.sparse_backend, s());
    } else {
      l.weight = w.to(device, s());
    }
    if (b_f32.defined()) l.bias = upload(b_f32, options.dtype);
    return l;
  }

  GpuLinear make_linear(const Linear& cpu) {
    const bool compressed = runs_compressed(cpu);
    sparse_count += compressed;
    return make_linear(cpu.weight(), cpu.bias(), compressed);
  }

  Tensor act_view(const Tensor& buf, const Shape& shape, int64_t offset_elems = 0) const {
    return Tensor::borrow(static_cast<char*>(const_cast<void*>(buf.raw_data())) +
                              offset_elems * static_cast<int64_t>(dtype_size(options.dtype)),
                          shape, options.dtype, device);
  }
  Tensor i32_view(const Tensor& buf, const Shape& shape) const {
    return Tensor::borrow(const_cast<void*>(buf.raw_data()), shape, DType::kI32, device);
  }

  void reserve(int64_t b, int64_t sq) {
    S24_CHECK(b > 0 && sq > 0, ErrorCode::kInvalidArgument,
              "BertGpuModel::reserve: batch and seq must be positive, got ", b, " x ", sq);
    const int64_t tokens = b * sq;
    if (tokens <= cap_tokens && b <= cap_batch) return;
    // Kernels still queued may read the old buffers.
    S24_CUDA_CHECK(cudaStreamSynchronize(stream));
    const int64_t t = std::max(tokens, cap_tokens), nb = std::max(b, cap_batch);
    const int64_t h = config.hidden_size, inter = config.intermediate_size;
    const DType dt = options.dtype;
    ids_buf = types_buf = mask_buf = Tensor();
    hidden_buf = qkv_buf = ctx_buf = proj_buf = inter_buf = pooled_buf = Tensor();
    ids_buf = Tensor::empty({t}, DType::kI32, device);
    types_buf = Tensor::empty({t}, DType::kI32, device);
    mask_buf = Tensor::empty({t}, DType::kI32, device);
    hidden_buf = Tensor::empty({t * h}, dt, device);
    qkv_buf = Tensor::empty({t * 3 * h}, dt, device);
    ctx_buf = Tensor::empty({t * h}, dt, device);
    proj_buf = Tensor::empty({t * h}, dt, device);
    inter_buf = Tensor::empty({t * inter}, dt, device);
    pooled_buf = Tensor::empty({nb * h}, DType::kF32, device);
    cap_tokens = t;
    cap_batch = nb;
  }

  void set_inputs(const BertBatch& in) {
    const char* op = "BertGpuModel::set_inputs";
    for (const auto& [t, name] : {std::pair{&in.input_ids, "input_ids"},
                                  {&in.token_type_ids, "token_type_ids"},
                                  {&in.attention_mask, "attention_mask"}}) {
      S24_CHECK(t->defined() && t->device().is_cpu() && t->dtype() == DType::kI32 &&
                    t->dim() == 2 && t->is_contiguous(),
                ErrorCode::kInvalidArgument, op, ": ", name,
                " must be a contiguous I32 CPU tensor [batch, seq], got ",
                t->defined() ? t->describe() : std::string("an undefined tensor"));
      S24_CHECK(t->shape() == in.input_ids.shape(), ErrorCode::kShapeMismatch, op, ": ", name,
                " is ", t->describe(), " but input_ids is ", in.input_ids.describe());
    }
    const int64_t b = in.batch(), sq = in.seq();
    S24_CHECK(b > 0 && sq > 0, ErrorCode::kInvalidArgument, op, ": empty batch");
    S24_CHECK(sq <= config.max_position_embeddings, ErrorCode::kInvalidArgument, op,
              ": sequence length ", sq, " exceeds max_position_embeddings ",
              config.max_position_embeddings);
    const int32_t* ids = in.input_ids.data<int32_t>();
    const int32_t* types = in.token_type_ids.data<int32_t>();
    const int32_t* mask = in.attention_mask.data<int32_t>();
    // The kernels index tables with these values unchecked: every one is checked here.
    for (int64_t i = 0; i < b * sq; ++i) {
      S24_CHECK(ids[i] >= 0 && ids[i] < config.vocab_size, ErrorCode::kInvalidArgument, op,
                ": token id ", ids[i], " at [", i / sq, ", ", i % sq,
                "] is outside the vocabulary of ", config.vocab_size);
      S24_CHECK(types[i] >= 0 && types[i] < config.type_vocab_size, ErrorCode::kInvalidArgument,
                op, ": token type ", types[i], " at [", i / sq, ", ", i % sq,
                "] is outside the ", config.type_vocab_size, " types");
      S24_CHECK(mask[i] == 0 || mask[i] == 1, ErrorCode::kInvalidArgument, op,
                ": attention_mask holds ", mask[i], " at [", i / sq, ", ", i % sq,
                "]; only 0 and 1 are allowed");
    }
    reserve(b, sq);
    i32_view(ids_buf, {b, sq}).copy_from(in.input_ids, s());
    i32_view(types_buf, {b, sq}).copy_from(in.token_type_ids, s());
    i32_view(mask_buf, {b, sq}).copy_from(in.attention_mask, s());
    batch = b;
    seq = sq;
  }

  void run() {
    S24_CHECK(batch > 0, ErrorCode::kInvalidArgument,
              "BertGpuModel::run: no inputs (call set_inputs first)");
    const int64_t t = batch * seq, h = config.hidden_size, inter = config.intermediate_size;
    const float eps = static_cast<float>(config.layer_norm_eps);
    const Tensor ids = i32_view(ids_buf, {batch, seq});
    const Tensor types = i32_view(types_buf, {batch, seq});
    const Tensor mask = i32_view(mask_buf, {batch, seq});
    Tensor x = act_view(hidden_buf, {t, h});
    Tensor ctx = act_view(ctx_buf, {t, h});
    Tensor proj = act_view(proj_buf, {t, h});
    Tensor mid = act_view(inter_buf, {t, inter});
    Tensor qkv = act_view(qkv_buf, {t, 3 * h});
    char* qkv_ptr = static_cast<char*>(qkv_buf.raw_data());
    const int64_t es = static_cast<int64_t>(dtype_size(options.dtype));
    // Fused layout: one [t, 3h] product, Q | K | V side by side (row stride 3h). Separate layout:
    // three [t, h] blocks one after the other.
    const Tensor q_fused = Tensor::borrow(qkv_ptr, {t, h}, options.dtype, device, {3 * h, 1});
    const Tensor k_fused =
        Tensor::borrow(qkv_ptr + h * es, {t, h}, options.dtype, device, {3 * h, 1});
    const Tensor v_fused =
        Tensor::borrow(qkv_ptr + 2 * h * es, {t, h}, options.dtype, device, {3 * h, 1});
    Tensor q_sep = act_view(qkv_buf, {t, h}, 0);
    Tensor k_sep = act_view(qkv_buf, {t, h}, t * h);
    Tensor v_sep = act_view(qkv_buf, {t, h}, 2 * t * h);

    gpu::embeddings_layer_norm(ids, types, word, position, token_type, emb_gamma, emb_beta, eps, x,
                               s());
    for (const Layer& layer : layers) {
      if (layer.fused_qkv) {
        layer.qkv.forward(x, qkv, Activation::kNone, s());
        gpu::fused_attention(q_fused, k_fused, v_fused, mask, batch, seq, config.num_heads, ctx,
                             s());
      } else {
        layer.q.forward(x, q_sep, Activation::kNone, s());
        layer.k.forward(x, k_sep, Activation::kNone, s());
        layer.v.forward(x, v_sep, Activation::kNone, s());
        gpu::fused_attention(q_sep, k_sep, v_sep, mask, batch, seq, config.num_heads, ctx, s());
      }
      layer.attn_out.forward(ctx, proj, Activation::kNone, s());
      gpu::residual_layer_norm(proj, &x, layer.ln1_gamma, layer.ln1_beta, eps, x, s());
      layer.fc1.forward(x, mid, activation, s());
      layer.fc2.forward(mid, proj, Activation::kNone, s());
      gpu::residual_layer_norm(proj, &x, layer.ln2_gamma, layer.ln2_beta, eps, x, s());
    }
  }

  Tensor hidden_state() const {
    S24_CHECK(batch > 0, ErrorCode::kInvalidArgument,
              "BertGpuModel::hidden_state: nothing has run yet");
    return act_view(hidden_buf, {batch, seq, config.hidden_size});
  }

  Tensor pool(bool normalize) {
    const Tensor hidden = hidden_state();
    const Tensor mask = i32_view(mask_buf, {batch, seq});
    Tensor out = Tensor::borrow(pooled_buf.raw_data(), {batch, config.hidden_size}, DType::kF32,
                                device);
    gpu::mean_pool(hidden, mask, normalize, out, s());
    return out;
  }
};

BertGpuModel::BertGpuModel(const BertModel& model, const BertGpuOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const char* op = "BertGpuModel";
  S24_CHECK(options.dtype == DType::kF16 || options.dtype == DType::kBF16,
            ErrorCode::kDTypeMismatch, op, ": dtype must be F16 or BF16, got ",
            dtype_name(options.dtype));
  S24_CHECK(!model.layers().empty(), ErrorCode::kInvalidArgument, op, ": the model has no layers");
  S24_CHECK(cuda_available(), ErrorCode::kUnsupported, op, ": no usable CUDA device");
  const BertConfig& c = model.config();
  S24_CHECK(gpu::fused_attention_supports(c.head_dim()), ErrorCode::kUnsupported, op,
            ": head size ", c.head_dim(), " has no fused attention kernel (32 and 64 are built)");
  S24_CHECK(c.hidden_size % 8 == 0 && c.intermediate_size % 8 == 0 &&
                c.hidden_size <= gpu::kMaxHidden,
            ErrorCode::kUnsupported, op, ": hidden size ", c.hidden_size, " and FFN size ",
            c.intermediate_size, " must be multiples of 8 and the hidden size at most ",
            gpu::kMaxHidden);
  m.config = c;
  m.options = options;
  m.device = Device::cuda(options.device);
  detail::require_sm80(m.device);
  detail::ensure_current_device(m.device);
  S24_CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  m.activation = c.hidden_act;

  const Embeddings& e = model.embeddings();
  m.word = m.upload(e.word, options.dtype);
  m.position = m.upload(e.position, options.dtype);
  m.token_type = m.upload(e.token_type, options.dtype);
  m.emb_gamma = e.norm.gamma().to(m.device, m.s());
  m.emb_beta = e.norm.beta().to(m.device, m.s());
  for (const EncoderLayer& cpu : model.layers()) {
    Impl::Layer l;
    const bool cq = runs_compressed(cpu.query), ck = runs_compressed(cpu.key),
               cv = runs_compressed(cpu.value);
    l.fused_qkv = cq == ck && ck == cv;
    if (l.fused_qkv) {
      const Tensor w = stack_rows({&cpu.query.weight(), &cpu.key.weight(), &cpu.value.weight()});
      l.qkv = m.make_linear(w, stack_biases({&cpu.query, &cpu.key, &cpu.value}), cq);
      m.sparse_count += cq ? 3 : 0;
    } else {
      l.q = m.make_linear(cpu.query);
      l.k = m.make_linear(cpu.key);
      l.v = m.make_linear(cpu.value);
    }
    l.attn_out = m.make_linear(cpu.attention_output);
    l.fc1 = m.make_linear(cpu.intermediate);
    l.fc2 = m.make_linear(cpu.output);
    l.ln1_gamma = cpu.attention_norm.gamma().to(m.device, m.s());
    l.ln1_beta = cpu.attention_norm.beta().to(m.device, m.s());
    l.ln2_gamma = cpu.output_norm.gamma().to(m.device, m.s());
    l.ln2_beta = cpu.output_norm.beta().to(m.device, m.s());
    m.layers.push_back(std::move(l));
  }
  if (options.reserve_batch > 0 && options.reserve_seq > 0) {
    m.reserve(options.reserve_batch, options.reserve_seq);
  }
  S24_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

BertGpuModel::~BertGpuModel() = default;
BertGpuModel::BertGpuModel(BertGpuModel&&) noexcept = default;
BertGpuModel& BertGpuModel::operator=(BertGpuModel&&) noexcept = default;

const BertConfig& BertGpuModel::config() const { return impl_->config; }
DType BertGpuModel::dtype() const { return impl_->options.dtype; }
Device BertGpuModel::device() const { return impl_->device; }
Stream BertGpuModel::stream() const { return impl_->s(); }
int BertGpuModel::sparse_linears() const { return impl_->sparse_count; }

bool BertGpuModel::fused_qkv() const {
  for (const Impl::Layer& l : impl_->layers) {
    if (!l.fused_qkv) return false;
  }
  return true;
}

size_t BertGpuModel::weight_bytes() const {
  const Impl& m = *impl_;
  size_t n = m.word.nbytes() + m.position.nbytes() + m.token_type.nbytes() +
             m.emb_gamma.nbytes() + m.emb_beta.nbytes();
  for (const Impl::Layer& l : m.layers) {
    for (const GpuLinear* g : {&l.qkv, &l.q, &l.k, &l.v, &l.attn_out, &l.fc1, &l.fc2}) {
      n += g->bytes();
    }
    n += l.ln1_gamma.nbytes() + l.ln1_beta.nbytes() + l.ln2_gamma.nbytes() + l.ln2_beta.nbytes();
  }
  return n;
}

void BertGpuModel::reserve(int64_t batch, int64_t seq) { impl_->reserve(batch, seq); }
void BertGpuModel::set_inputs(const BertBatch& batch) { impl_->set_inputs(batch); }
void BertGpuModel::run() { impl_->run(); }
Tensor BertGpuModel::pool(bool normalize) { return impl_->pool(normalize); }
Tensor BertGpuModel::hidden_state() const { return impl_->hidden_state(); }

void BertGpuModel::synchronize() const {
  S24_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

Tensor BertGpuModel::last_hidden_state(const BertBatch& batch) {
  set_inputs(batch);
  run();
  // The copy runs on the model's stream (it is non-blocking: the legacy default stream would not
  // wait for it) and synchronizes it.
  return hidden_state().to(Device::cpu(), stream()).to_f32_cpu();
}

Tensor BertGpuModel::sentence_embeddings(const BertBatch& batch, bool normalize) {
  set_inputs(batch);
  run();
  return pool(normalize).to(Device::cpu(), stream());
}

#else  // !S24_WITH_CUDA

struct BertGpuModel::Impl {};

namespace {
[[noreturn]] void no_cuda() {
  S24_THROW(ErrorCode::kUnsupported, "BertGpuModel: this build of sparse24 has no CUDA support");
}
}  // namespace

BertGpuModel::BertGpuModel(const BertModel&, const BertGpuOptions&) { no_cuda(); }
BertGpuModel::~BertGpuModel() = default;
BertGpuModel::BertGpuModel(BertGpuModel&&) noexcept = default;
BertGpuModel& BertGpuModel::operator=(BertGpuModel&&) noexcept = default;
const BertConfig& BertGpuModel::config() const { no_cuda(); }
DType BertGpuModel::dtype() const { no_cuda(); }
Device BertGpuModel::device() const { no_cuda(); }
Stream BertGpuModel::stream() const { no_cuda(); }
int BertGpuModel::sparse_linears() const { no_cuda(); }
bool BertGpuModel::fused_qkv() const { no_cuda(); }
size_t BertGpuModel::weight_bytes() const { no_cuda(); }
void BertGpuModel::reserve(int64_t, int64_t) { no_cuda(); }
void BertGpuModel::set_inputs(const BertBatch&) { no_cuda(); }
void BertGpuModel::run() { no_cuda(); }
Tensor BertGpuModel::pool(bool) { no_cuda(); }
Tensor BertGpuModel::hidden_state() const { no_cuda(); }
void BertGpuModel::synchronize() const { no_cuda(); }
Tensor BertGpuModel::last_hidden_state(const BertBatch&) { no_cuda(); }
Tensor BertGpuModel::sentence_embeddings(const BertBatch&, bool) { no_cuda(); }

#endif

}  // namespace s24::model
