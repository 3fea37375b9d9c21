#include "model/bert_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "ops/activation.h"

namespace s24::model::cpu {
namespace {

// One register's worth of floats for the -march of the build (GCC/Clang generic vectors).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline VecF load(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }
inline VecF splat(float x) { return VecF{} + x; }

// exp(x) = 2^n e^r with n = round(x / ln 2), |r| <= ln2 / 2; e^r by its Taylor polynomial of
// degree 7 (truncation error < 6e-9 relative). x is clamped to [-87.3, 88.7] so 2^n stays a
// normal float: below that e^x < 1.2e-38, which a softmax row cannot notice.
constexpr float kExpLo = -87.3f, kExpHi = 88.7f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;    // ln 2 split so n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860682030941723e-6f;
constexpr float kRoundMagic = 12582912.0f;       // 1.5 * 2^23: adding it rounds to an integer

template <class T>
inline T exp_poly(T r) {
  T p = r * (1.0f / 5040) + (1.0f / 720);
  p = p * r + (1.0f / 120);
  p = p * r + (1.0f / 24);
  p = p * r + (1.0f / 6);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

inline VecF exp_vec(VecF x) {
  x = x < kExpLo ? splat(kExpLo) : x;
  x = x > kExpHi ? splat(kExpHi) : x;
  const VecF n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const VecF r = (x - n * kLn2Hi) - n * kLn2Lo;
  const VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23;
  VecF scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return exp_poly(r) * scale;
}

}  // namespace

float fast_exp(float x) {
  x = std::min(std::max(x, kExpLo), kExpHi);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return exp_poly(r) * scale;
}

void softmax_inplace(float* x, int64_t n) {
  if (n <= 0) return;
  const int64_t full = n / kLanes * kLanes;
  float mx = x[0];
  if (full > 0) {
    VecF m = load(x);
    for (int64_t j = kLanes; j < full; j += kLanes) {
      const VecF v = load(x + j);
      m = v > m ? v : m;
    }
    for (int l = 0; l < kLanes; ++l) mx = std::max(mx, m[l]);
  }
  for (int64_t j = full; j < n; ++j) mx = std::max(mx, x[j]);

  VecF acc{};
  for (int64_t j = 0; j < full; j += kLanes) {
    const VecF e = exp_vec(load(x + j) - mx);
    store(x + j, e);
    acc += e;
  }
  double sum = 0.0;
  for (int l = 0; l < kLanes; ++l) sum += acc[l];
  for (int64_t j = full; j < n; ++j) {
    x[j] = fast_exp(x[j] - mx);
    sum += x[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

namespace {

constexpr int kRows = 4;  // query rows per tile

// scores[r][j] = sum_c qs[r][c] kt[c][j] for j in [0, n_pad), a register tile of kRows rows x
// 2 vectors of keys: per c, two key loads feed eight multiply-adds.
void score_tile(const float* qs, const float* kt, float* scores, int64_t head_dim, int64_t n_pad,
                int64_t score_ld) {
  int64_t j0 = 0;
  for (; j0 + 2 * kLanes <= n_pad; j0 += 2 * kLanes) {
    VecF acc[kRows][2] = {};
    for (int64_t c = 0; c < head_dim; ++c) {
      const VecF k0 = load(kt + c * n_pad + j0);
      const VecF k1 = load(kt + c * n_pad + j0 + kLanes);
      for (int r = 0; r < kRows; ++r) {
        const VecF a = splat(qs[r * head_dim + c]);
        acc[r][0] += a * k0;
        acc[r][1] += a * k1;
      }
    }
    for (int r = 0; r < kRows; ++r) {
      store(scores + r * score_ld + j0, acc[r][0]);
      store(scores + r * score_ld + j0 + kLanes, acc[r][1]);
    }
  }
  for (; j0 < n_pad; j0 += kLanes) {
    VecF acc[kRows] = {};
    for (int64_t c = 0; c < head_dim; ++c) {
      const VecF k0 = load(kt + c * n_pad + j0);
      for (int r = 0; r < kRows; ++r) acc[r] += splat(qs[r * head_dim + c]) * k0;
    }
    for (int r = 0; r < kRows; ++r) store(scores + r * score_ld + j0, acc[r]);
  }
}

// out[r][c0 .. c0 + kNv * kLanes) = sum_j p[r][j] v[j][...] for `rows` rows: kNv vectors of
// columns per row stay in registers while the keys stream.
template <int kNv>
void context_tile(const float* p, int64_t p_ld, const float* vc, int64_t head_dim, int64_t n,
                  int64_t c0, float* const* out, int rows) {
  VecF acc[kRows][kNv] = {};
  for (int64_t j = 0; j < n; ++j) {
    VecF vv[kNv];
    for (int t = 0; t < kNv; ++t) vv[t] = load(vc + j * head_dim + c0 + t * kLanes);
    for (int r = 0; r < kRows; ++r) {
      const VecF pj = splat(p[r * p_ld + j]);
      for (int t = 0; t < kNv; ++t) acc[r][t] += pj * vv[t];
    }
  }
  for (int r = 0; r < rows; ++r) {
    for (int t = 0; t < kNv; ++t) store(out[r] + c0 + t * kLanes, acc[r][t]);
  }
}

}  // namespace

void attention(const float* q, const float* k, const float* v, const int32_t* mask, float* ctx,
               float* probs, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
               int64_t ld) {
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  const int64_t seq_pad = (seq + kLanes - 1) / kLanes * kLanes;
  const bool vector_context = head_dim % kLanes == 0;
  s24::detail::parallel_for(0, batch * heads, 1, [&](int64_t t0, int64_t t1) {
    std::vector<int64_t> keys(seq);
    std::vector<float> kt(static_cast<size_t>(head_dim * seq_pad));  // keys transposed [d, n_pad]
    std::vector<float> vc(static_cast<size_t>(seq * head_dim));      // values gathered [n, d]
    std::vector<float> qs(static_cast<size_t>(kRows * head_dim));    // scaled query rows
    std::vector<float> scores(static_cast<size_t>(kRows * seq_pad));
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / heads, h = task % heads;
      const int64_t col = h * head_dim;
      // Masked keys get weight exactly zero in HF (exp of the lowest float); leaving them out is
      // the same. With every key masked HF's scores are all equal: a uniform average of all keys.
      int64_t n = 0;
      for (int64_t j = 0; j < seq; ++j) {
        if (mask[b * seq + j] != 0) keys[n++] = j;
      }
      const bool uniform = n == 0;
      if (uniform) {
        for (int64_t j = 0; j < seq; ++j) keys[j] = j;
        n = seq;
      }
      const int64_t n_pad = (n + kLanes - 1) / kLanes * kLanes;
      for (int64_t j = 0; j < n; ++j) {
        const float* krow = k + (b * seq + keys[j]) * ld + col;
        const float* vrow = v + (b * seq + keys[j]) * ld + col;
        for (int64_t c = 0; c < head_dim; ++c) kt[c * n_pad + j] = krow[c];
        std::memcpy(vc.data() + j * head_dim, vrow, sizeof(float) * head_dim);
      }
      for (int64_t c = 0; c < head_dim; ++c) {
        std::fill(kt.begin() + c * n_pad + n, kt.begin() + (c + 1) * n_pad, 0.0f);
      }
      for (int64_t i0 = 0; i0 < seq; i0 += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, seq - i0));
        if (uniform) {
          std::fill(scores.begin(), scores.end(), 0.0f);
        } else {
          for (int r = 0; r < kRows; ++r) {
            // A short last tile repeats its last row; those scores are never read.
            const float* qr = q + (b * seq + i0 + std::min(r, rows - 1)) * ld + col;
            for (int64_t c = 0; c < head_dim; ++c) qs[r * head_dim + c] = qr[c] * scale;
          }
          score_tile(qs.data(), kt.data(), scores.data(), head_dim, n_pad, seq_pad);
        }
        float* out[kRows];
        for (int r = 0; r < kRows; ++r) {
          out[r] = ctx + (b * seq + i0 + std::min(r, rows - 1)) * ld + col;
          softmax_inplace(scores.data() + r * seq_pad, n);  // uniform: all 0 -> 1/n each
        }
        if (vector_context) {
          for (int64_t c0 = 0; c0 < head_dim;) {
            const int64_t left = (head_dim - c0) / kLanes;
            if (left >= 4) {
              context_tile<4>(scores.data(), seq_pad, vc.data(), head_dim, n, c0, out, rows);
              c0 += 4 * kLanes;
            } else if (left == 3) {
              context_tile<3>(scores.data(), seq_pad, vc.data(), head_dim, n, c0, out, rows);
              c0 += 3 * kLanes;
            } else if (left == 2) {
              context_tile<2>(scores.data(), seq_pad, vc.data(), head_dim, n, c0, out, rows);
              c0 += 2 * kLanes;
            } else {
              context_tile<1>(scores.data(), seq_pad, vc.data(), head_dim, n, c0, out, rows);
              c0 += kLanes;
            }
          }
        } else {
          for (int r = 0; r < rows; ++r) {
            const float* p = scores.data() + r * seq_pad;
            float* __restrict o = out[r];
            std::fill(o, o + head_dim, 0.0f);
            for (int64_t j = 0; j < n; ++j) {
              const float pj = p[j];
              const float* __restrict vr = vc.data() + j * head_dim;
              for (int64_t c = 0; c < head_dim; ++c) o[c] += pj * vr[c];
            }
          }
        }
        if (probs != nullptr) {
          for (int r = 0; r < rows; ++r) {
            const float* p = scores.data() + r * seq_pad;
            float* prow = probs + ((b * heads + h) * seq + i0 + r) * seq;
            std::fill(prow, prow + seq, 0.0f);
            for (int64_t j = 0; j < n; ++j) prow[keys[j]] = p[j];
          }
        }
      }
    }
  });
}

void layer_norm(const float* x, const float* residual, const float* gamma, const float* beta,
                float* y, int64_t rows, int64_t h, double eps, float* mean_out, float* rstd_out) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(h, 1));
  s24::detail::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> sum(static_cast<size_t>(h));
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * h;
      const float* in = xr;
      if (residual != nullptr) {
        // The residual sum rounded to f32 first, as HF adds the two tensors before the norm.
        const float* rr = residual + r * h;
        for (int64_t c = 0; c < h; ++c) sum[c] = xr[c] + rr[c];
        in = sum.data();
      }
      double s = 0.0;
      for (int64_t c = 0; c < h; ++c) s += in[c];
      const double mean = s / static_cast<double>(h);
      double ss = 0.0;
      for (int64_t c = 0; c < h; ++c) {
        const double d = in[c] - mean;
        ss += d * d;
      }
      const double rstd = 1.0 / std::sqrt(ss / static_cast<double>(h) + eps);
      float* yr = y + r * h;
      const float m = static_cast<float>(mean), rs = static_cast<float>(rstd);
      for (int64_t c = 0; c < h; ++c) yr[c] = (in[c] - m) * rs * gamma[c] + beta[c];
      if (mean_out) mean_out[r] = m;
      if (rstd_out) rstd_out[r] = rs;
    }
  });
}

void activate(const float* x, float* y, int64_t n, Activation activation) {
  s24::detail::parallel_for(0, n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = s24::detail::activate(activation, x[i]);
  });
}

}  // namespace s24::model::cpu
