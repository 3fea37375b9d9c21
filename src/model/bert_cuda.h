// Internal: the CUDA kernels of the BERT runtime that are not GEMMs (those are s24::linear_out and
// the cuBLASLt dense path): embeddings + LayerNorm, residual + LayerNorm, a fused (flash-style)
// attention, and mean pooling. Activations are F16 or BF16, accumulation and LayerNorm statistics
// are f32, LayerNorm parameters are F32. Declarations only (no CUDA headers); defined in
// bert_cuda.cu, which CUDA builds alone compile: callers guard with S24_WITH_CUDA.
//
// Every launcher checks its arguments (kShapeMismatch / kDTypeMismatch / kAlignment /
// kInvalidArgument / kUnsupported), enqueues on `stream` and returns: no allocation, no
// synchronization, so a sequence of them can be captured into a CUDA graph.
#pragma once

#include <cstdint>

#include "sparse24/tensor.h"

namespace s24::model::gpu {

// Largest hidden size the row kernels (embeddings, LayerNorm) take: one warp holds a row in
// registers, 8 elements per lane per chunk, at most 8 chunks.
constexpr int64_t kMaxHidden = 2048;

// out[t] = LayerNorm((word[ids[t]] + token_type[types[t]]) + position[t % seq]) for the
// batch * seq tokens. ids, types: I32 [batch, seq] (values already validated by the caller: the
// kernel trusts them); word [vocab, H], position [max_pos, H], token_type [types, H] in the
// activation dtype; gamma, beta F32 [H]; out [batch * seq, H] contiguous. H % 8 == 0.
void embeddings_layer_norm(const Tensor& ids, const Tensor& types, const Tensor& word,
                           const Tensor& position, const Tensor& token_type, const Tensor& gamma,
                           const Tensor& beta, float eps, Tensor& out, Stream stream);

// out = LayerNorm(x + residual) per row (residual may be null: LayerNorm(x)). x, residual, out
// [rows, H] contiguous in one dtype; out may be the residual tensor itself (in place: each row
// is read completely before it is written). The sum is formed in f32.
void residual_layer_norm(const Tensor& x, const Tensor* residual, const Tensor& gamma,
                         const Tensor& beta, float eps, Tensor& out, Stream stream);

// True when the fused attention kernel is built for this head size (32 and 64).
bool fused_attention_supports(int64_t head_dim);

// Scaled dot-product attention over heads, one fused kernel (QK^T, masked online softmax, PV):
// ctx[b*seq + i, h*d .. h*d+d) = softmax_j(q_i . k_j / sqrt(d), keys with mask 0 left out) v_j.
// q, k, v, ctx: [batch * seq, heads * d] 2-D views with unit column stride and any row stride
// (q, k, v may be column blocks of one fused QKV projection [tokens, 3H]); the row stride times
// the element size and every base address must be 16-byte aligned. mask: I32 [batch, seq],
// nonzero = attend. A batch row whose keys are all masked averages all its keys uniformly (what
// HF's equal scores give, and what the CPU reference does).
//
// Two kernels compute it: a mma.sync one (sm_80+, head sizes 32 and 64) and, on sm_90 GPUs, a
// wgmma one (head size 64). kAuto takes the wgmma kernel where it runs and its 128-query CTAs
// fill the GPU at least once, else the mma.sync kernel; the environment variable S24_ATTENTION=mma
// keeps kAuto on the mma.sync kernel (read once; for A/B measurements). The other values force a
// kernel (tests); kWgmma throws kUnsupported where it cannot run.
enum class AttentionKernel { kAuto, kMmaSync, kWgmma };
void fused_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                     int64_t batch, int64_t seq, int64_t heads, Tensor& ctx, Stream stream,
                     AttentionKernel kernel = AttentionKernel::kAuto);

// True when fused_attention's wgmma kernel can run on `device` for this head size and sequence
// length (it keeps a bias per key in shared memory: up to ~36 k keys on an H100).
bool attention_wgmma_supported(const Device& device, int64_t head_dim, int64_t seq);

// out[b] = mean of hidden[b, s, :] over the tokens with mask 1, then (normalize) divided by
// max(||.||_2, 1e-12). hidden [batch, seq, H] (activation dtype), mask I32 [batch, seq], out F32
// [batch, H]. A row without tokens gives zeros (sentence-transformers' clamp of the count).
void mean_pool(const Tensor& hidden, const Tensor& mask, bool normalize, Tensor& out,
               Stream stream);

}  // namespace s24::model::gpu
