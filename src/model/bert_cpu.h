// Internal: the CPU f32 kernels of the BERT runtime that are not GEMMs — attention core,
// softmax, layer norm, element-wise activation, embedding gather. Raw pointers, contiguous rows;
// the callers in bert_layers.cc check shapes. Every kernel splits its work with
// s24::detail::parallel_for.
#pragma once

#include <cstdint>

#include "sparse24/ops.h"

namespace s24::model::cpu {

// e^x for a row, then normalised to sum 1: softmax(x) in place. Uses a polynomial exp accurate to
// ~2 ulp that the compiler vectorizes (libm's expf is scalar and dominated attention time).
void softmax_inplace(float* x, int64_t n);
float fast_exp(float x);  // the same exp, one value (tests compare it with std::exp)

// q, k, v: [batch * seq, ld] with head h in columns h*head_dim .. h*head_dim + head_dim - 1;
// mask [batch, seq] (nonzero = attend); ctx [batch * seq, ld] (heads merged the same way);
// probs (nullable) [batch, heads, seq, seq]. Scale 1 / sqrt(head_dim).
void attention(const float* q, const float* k, const float* v, const int32_t* mask, float* ctx,
               float* probs, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
               int64_t ld);

// y = (x + residual - mean) * rstd * gamma + beta per row of h; statistics in double.
// residual, mean_out and rstd_out may be null.
void layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                float* y, int64_t rows, int64_t h, double eps, float* mean_out, float* rstd_out);

void activate(const float* x, float* y, int64_t n, Activation activation);

}  // namespace s24::model::cpu
