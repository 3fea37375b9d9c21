// sparse24 — the BERT encoder on a CUDA GPU in fp16 / bf16: the GPU twin of BertModel.
//
// Built from a BertModel (its f32 CPU weights are converted and uploaded once). Each encoder
// Linear runs as the CPU layer does: 2:4 compressed (s24::SparseWeight, sparse24's mma.sp GEMM)
// when the CPU layer is pruned and uses its compressed weight, else dense (cuBLASLt) on the same
// values. Q, K and V run as one GEMM on the concatenated weight when the three share a mode. The
// rest is sparse24's own kernels: embeddings + LayerNorm, a fused flash-style attention (head
// sizes 32 and 64), residual + LayerNorm, mean pooling. f32 accumulation everywhere, LayerNorm
// statistics in f32.
//
// Buffers for batch x seq tokens are allocated by reserve() (or by the first larger call) and
// reused: run() allocates nothing, never synchronizes, and can be captured into a CUDA graph.
//
//   s24::model::BertModel cpu = s24::model::BertModel::load(dir);
//   cpu.prune({s24::PruneMethod::kMagnitude});              // optional: 2:4 encoder Linears
//   s24::model::BertGpuModel gpu(cpu, {s24::DType::kF16});
//   s24::Tensor emb = gpu.sentence_embeddings(batch);        // F32 CPU [batch, hidden]
//
//   gpu.set_inputs(batch);  gpu.run();                        // the hot path (e.g. in a graph)
#pragma once

#include <cstdint>
#include <memory>

#include "sparse24/model/bert.h"
#include "sparse24/ops.h"
#include "sparse24/tensor.h"

namespace s24::model {

struct BertGpuOptions {
  DType dtype = DType::kF16;  // F16 or BF16 activations and weights
  int device = 0;             // CUDA device index
  // Backend of the 2:4 layers: kAuto / kNative = sparse24's kernel; kCuSparseLt needs a build
  // with that backend.
  Backend sparse_backend = Backend::kAuto;
  // Buffers allocated up front for this many tokens (batch x seq); 0: on first use.
  int64_t reserve_batch = 0;
  int64_t reserve_seq = 0;
};

class BertGpuModel {
 public:
  // Uploads `model`'s weights. Throws kUnsupported in builds without CUDA, when no device is
  // usable, or when the head size has no fused attention kernel (32 and 64 are built);
  // kDTypeMismatch for a dtype other than F16 / BF16.
  BertGpuModel(const BertModel& model, const BertGpuOptions& options = {});
  ~BertGpuModel();
  BertGpuModel(BertGpuModel&&) noexcept;
  BertGpuModel& operator=(BertGpuModel&&) noexcept;
  BertGpuModel(const BertGpuModel&) = delete;
  BertGpuModel& operator=(const BertGpuModel&) = delete;

  const BertConfig& config() const;
  DType dtype() const;
  Device device() const;
  // The model's own non-blocking CUDA stream: every kernel of run() is enqueued on it.
  Stream stream() const;
  // How many of the encoder Linear layers run 2:4 compressed (of 6 per layer).
  int sparse_linears() const;
  bool fused_qkv() const;  // Q, K, V as one GEMM in every layer
  // Device bytes of the weights (dense tensors, 2:4 values, metadata and prepared copies).
  size_t weight_bytes() const;

  // Makes the buffers hold batch x seq tokens (allocating only when they must grow; a grow
  // synchronizes the stream first, and invalidates earlier hidden_state() views and CUDA graphs
  // that captured run()).
  void reserve(int64_t batch, int64_t seq);
  // Validates the batch on the host (ids in the vocabulary, types in range, mask 0/1, seq within
  // the positions) and copies it to the device (stream-ordered). Grows buffers when needed.
  void set_inputs(const BertBatch& batch);
  // The encoder on the inputs of the last set_inputs: embeddings, every layer. Asynchronous,
  // no allocation, no synchronization: capturable into a CUDA graph once it has run one time
  // for the shape (libraries build their plans on a first call).
  void run();
  // Mean pooling (then L2 normalisation when `normalize`) of the last run's output into a device
  // buffer (F32 [batch, hidden]), enqueued on the stream; returned as a view of that buffer.
  Tensor pool(bool normalize = true);
  // The last run's hidden state: a device view [batch, seq, hidden] in the model dtype, valid
  // until the next reserve that grows.
  Tensor hidden_state() const;
  void synchronize() const;

  // Convenience (synchronizing): set_inputs + run + copy.
  Tensor last_hidden_state(const BertBatch& batch);                       // F32 CPU [b, s, H]
  Tensor sentence_embeddings(const BertBatch& batch, bool normalize = true);  // F32 CPU [b, H]

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace s24::model
