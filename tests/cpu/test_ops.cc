// The CPU linear / linear_dense / spmm ops against an independent reference: a naive
// double-precision loop over the decompressed matrix, written here. Small-integer inputs make
// every f32 sum exact, so those comparisons are bit for bit (also in f16/bf16, where the kernel
// must round its exact f32 sum once, as the reference does); random normal inputs are compared
// with the per-dtype tolerances of test_util.h.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/test_util.h"

namespace s24 {
namespace {

using test::bit_equal;
using test::rel_error;

constexpr DType kCpuDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

// ---- inputs ------------------------------------------------------------------------------------

// A 2:4 matrix whose groups hold 0, 1 or 2 nonzeros (integers in [-4, 4]) at random positions, so
// every nibble, the completion rule and explicit zeros all occur.
Tensor random_24_int(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  Tensor f = Tensor::zeros({rows, cols}, DType::kF32);
  float* p = f.data<float>();
  std::uniform_int_distribution<int> count(0, 2), pos(0, 3), val(-4, 4);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < cols / 4; ++gi) {
      const int n = count(g);
      for (int k = 0; k < n; ++k) p[r * cols + 4 * gi + pos(g)] = static_cast<float>(val(g));
    }
  return f.cast_cpu(dtype);
}

// Keeps the two largest |x| of every group of 4 along rows (ties: lower index), in place on f32.
void prune_rows_24(Tensor& f32) {
  float* p = f32.data<float>();
  const int64_t rows = f32.size(0), cols = f32.size(1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < cols / 4; ++gi) {
      float* q = p + r * cols + 4 * gi;
      int a = 0;
      for (int i = 1; i < 4; ++i)
        if (std::fabs(q[i]) > std::fabs(q[a])) a = i;
      int b = a == 0 ? 1 : 0;
      for (int i = 0; i < 4; ++i)
        if (i != a && std::fabs(q[i]) > std::fabs(q[b])) b = i;
      for (int i = 0; i < 4; ++i)
        if (i != a && i != b) q[i] = 0.0f;
    }
}

Tensor random_24_normal(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g) {
  Tensor f = test::random_normal({rows, cols}, DType::kF32, g);
  prune_rows_24(f);
  return f.cast_cpu(dtype);
}

// 2:4 along rows and along columns: every 4x4 block is the sum of two permutation matrices that
// never pick the same column in a row (so each row and each column of the block keeps two).
Tensor random_transposable_int(int64_t rows, int64_t cols, std::mt19937_64& g) {
  Tensor f = Tensor::zeros({rows, cols}, DType::kF32);
  float* p = f.data<float>();
  std::uniform_int_distribution<int> val(-4, 4);
  int perm[4] = {0, 1, 2, 3};
  for (int64_t br = 0; br < rows / 4; ++br)
    for (int64_t bc = 0; bc < cols / 4; ++bc) {
      int a[4], b[4];
      std::shuffle(perm, perm + 4, g);
      std::copy(perm, perm + 4, a);
      bool ok = false;
      while (!ok) {
        std::shuffle(perm, perm + 4, g);
        std::copy(perm, perm + 4, b);
        ok = true;
        for (int i = 0; i < 4; ++i) ok = ok && a[i] != b[i];
      }
      for (int i = 0; i < 4; ++i) {
        p[(4 * br + i) * cols + 4 * bc + a[i]] = static_cast<float>(val(g));
        p[(4 * br + i) * cols + 4 * bc + b[i]] = static_cast<float>(val(g));
      }
    }
  return f;
}

// ---- the independent reference -----------------------------------------------------------------

double ref_activation(Activation a, double v) {
  switch (a) {
    case Activation::kNone:
      return v;
    case Activation::kRelu:
      return v < 0 ? 0.0 : v;
    case Activation::kGeluErf:
      return 0.5 * v * std::erfc(-v / std::sqrt(2.0));
    case Activation::kGeluTanh: {
      // 0.5 v (1 + tanh u) == v / (1 + exp(-2u)); the second form keeps its relative accuracy
      // where 1 + tanh(u) cancels (u << 0), even in double.
      const double u = std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v);
      return v / (1.0 + std::exp(-2.0 * u));
    }
    case Activation::kSilu:
      return v / (1.0 + std::exp(-v));
  }
  return v;
}

std::vector<double> as_doubles(const Tensor& t) {
  Tensor f = t.to_f32_cpu();
  const float* p = f.data<float>();
  return std::vector<double>(p, p + f.numel());
}

// Y[M, N] = act(X[M, K] W[N, K]^T + bias) in double, returned as f32 [M, N].
Tensor ref_linear(const Tensor& x, const Tensor& w, const Tensor* bias = nullptr,
                  Activation act = Activation::kNone) {
  const int64_t m_rows = x.size(0), k = x.size(1), n_cols = w.size(0);
  const std::vector<double> xd = as_doubles(x), wd = as_doubles(w);
  const std::vector<double> bd = bias ? as_doubles(*bias) : std::vector<double>();
  Tensor y = Tensor::empty({m_rows, n_cols}, DType::kF32);
  float* py = y.data<float>();
  for (int64_t m = 0; m < m_rows; ++m)
    for (int64_t n = 0; n < n_cols; ++n) {
      double s = bias ? bd[n] : 0.0;
      for (int64_t kk = 0; kk < k; ++kk) s += xd[m * k + kk] * wd[n * k + kk];
      py[m * n_cols + n] = static_cast<float>(ref_activation(act, s));
    }
  return y;
}

// C[R, Cc] = A[R, K] B[K, Cc] in double, as f32.
Tensor ref_matmul(const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0), k = a.size(1), cols = b.size(1);
  const std::vector<double> ad = as_doubles(a), bd = as_doubles(b);
  Tensor c = Tensor::empty({rows, cols}, DType::kF32);
  float* pc = c.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) s += ad[r * k + kk] * bd[kk * cols + j];
      pc[r * cols + j] = static_cast<float>(s);
    }
  return c;
}

std::string case_name(DType dt, int64_t m, int64_t n, int64_t k) {
  return std::string(dtype_name(dt)) + " M=" + std::to_string(m) + " N=" + std::to_string(n) +
         " K=" + std::to_string(k);
}

// M values cover the small-M kernel (M < 24 with AVX-512, M < 2 otherwise) and the column block
// widths of the sparse core (24, 25: two vectors, 33, 64: four, 129: several blocks; one vector is
// spmm's narrow C); K values cover K < 32, tails past the 32-column chunks of the small-M kernel
// and past the 64-column chunks of the core, and several K slabs (260, and 1100 below).
const int64_t kMs[] = {1, 2, 3, 7, 15, 16, 17, 23, 24, 25, 33, 64, 129};
const int64_t kNs[] = {1, 4, 7, 33, 97};
const int64_t kKs[] = {4, 12, 36, 260};

// ---- linear ------------------------------------------------------------------------------------

TEST(Linear, BitExactOnSmallIntegersEveryDType) {
  auto g = test::rng(1);
  for (DType dt : kCpuDTypes)
    for (int64_t m : kMs)
      for (int64_t n : kNs)
        for (int64_t k : kKs) {
          const Tensor wd = random_24_int(n, k, dt, g);
          const Compressed24 w = compress(wd);
          const Tensor x = test::random_int({m, k}, dt, g);
          const Tensor y = linear(x, w);
          ASSERT_EQ(y.shape(), Shape({m, n}));
          ASSERT_EQ(y.dtype(), dt);
          ASSERT_TRUE(bit_equal(y, ref_linear(x, decompress(w)).cast_cpu(dt)))
              << case_name(dt, m, n, k);
        }
}

TEST(Linear, BitExactWithLongK) {
  // Several K slabs in every column block width of the core, and the small-M kernels' long loop.
  auto g = test::rng(2);
  for (int64_t m : {1, 5, 23, 30, 64, 100})
    for (int64_t k : {1100, 2052}) {
      const Tensor wd = random_24_int(13, k, DType::kF32, g);
      const Tensor x = test::random_int({m, k}, DType::kF32, g);
      ASSERT_TRUE(bit_equal(linear(x, compress(wd)), ref_linear(x, wd)))
          << case_name(DType::kF32, m, 13, k);
    }
}

TEST(Linear, MatchesDenseOpOnDecompressedWeight) {
  auto g = test::rng(3);
  for (int64_t m : {1, 9, 48, 130}) {
    const Tensor wd = random_24_int(70, 132, DType::kF32, g);
    const Tensor x = test::random_int({m, 132}, DType::kF32, g);
    EXPECT_TRUE(bit_equal(linear(x, compress(wd)), linear_dense(x, wd))) << m;
  }
}

TEST(Linear, ToleranceOnRandomNormalInputs) {
  auto g = test::rng(4);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 6, 31, 128})
      for (auto [n, k] : {std::pair<int64_t, int64_t>{64, 768}, {96, 132}, {5, 3072}}) {
        const Tensor wd = random_24_normal(n, k, dt, g);
        const Tensor x = test::random_normal({m, k}, dt, g);
        const Tensor y = linear(x, compress(wd));
        // The reference sees the same dtype-rounded inputs; the error left is f32 accumulation
        // and the one rounding of the output.
        EXPECT_LE(rel_error(y, ref_linear(x, wd)), test::tolerance(dt)) << case_name(dt, m, n, k);
      }
}

TEST(Linear, HalfOutputsAreTheF32SumRoundedOnce) {
  // The f16/bf16 kernels convert on the fly and accumulate in f32 in the same order as the f32
  // kernel, so their output must be exactly the f32 result (on the same rounded inputs) rounded
  // once with dtype.h's rules: no intermediate rounding, no different rounding mode.
  auto g = test::rng(5);
  for (DType dt : {DType::kF16, DType::kBF16})
    for (int64_t m : {1, 7, 16, 64, 77}) {
      const Tensor wd = random_24_normal(40, 264, dt, g);
      // Large values as well: outputs past the f16 range must become Inf like float_to_f16.
      const Tensor x = test::random_normal({m, 264}, dt, g, m == 77 ? 300.0f : 1.0f);
      const Tensor y = linear(x, compress(wd));
      const Tensor y32 = linear(x.to_f32_cpu(), compress(wd.to_f32_cpu()));
      EXPECT_TRUE(bit_equal(y, y32.cast_cpu(dt))) << dtype_name(dt) << " M=" << m;
    }
}

TEST(Linear, HalfRoundingFollowsTheDTypeRulesAcrossTheRange) {
  // y = x0 w0 + x1 w1 with f16/bf16 inputs rounds once to f32 (the kernels' FMAs add an exact
  // product to an exact product); the output must then be dtype.h's rounding of that f32 value,
  // bit for bit. Row n of W scales by about 2^e_n, e_n spread over the dtype's exponent range,
  // so the sums land on normal values, in the subnormal range and past the largest finite value;
  // X's exponents stay within [-2, 1], so that every sum is exact in the double reference.
  // 64 outputs per row: the vectorized stores are the ones checked.
  auto g = test::rng(12);
  std::uniform_int_distribution<int> mant(0, 127), sign(0, 1), pos(0, 5), near(-3, 3);
  for (DType dt : {DType::kF16, DType::kBF16})
    for (int64_t m : {5, 40}) {
      const int64_t n = 64;
      const int lo = dt == DType::kF16 ? -14 : -125, hi = dt == DType::kF16 ? 15 : 125;
      std::uniform_int_distribution<int> row_exp(lo + 3, hi - 3), x_exp(-2, 1);
      auto value = [&](int e) {
        const float v = std::ldexp(1.0f + mant(g) / 128.0f, e);
        return sign(g) ? -v : v;
      };
      Tensor wf = Tensor::zeros({n, 4}, DType::kF32), xf = Tensor::zeros({m, 4}, DType::kF32);
      const int pairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};
      for (int64_t r = 0; r < n; ++r) {
        const int* p = pairs[pos(g)];
        const int e = row_exp(g);
        wf.data<float>()[r * 4 + p[0]] = value(e);
        wf.data<float>()[r * 4 + p[1]] = value(e + near(g));
      }
      for (int64_t i = 0; i < m * 4; ++i) xf.data<float>()[i] = value(x_exp(g));
      const Tensor w = wf.cast_cpu(dt), x = xf.cast_cpu(dt);
      ASSERT_TRUE(bit_equal(w.to_f32_cpu(), wf));  // 8 significant bits: exact in both dtypes
      const Tensor y = linear(x, compress(w));
      EXPECT_TRUE(bit_equal(y, ref_linear(x, w).cast_cpu(dt))) << dtype_name(dt) << " M=" << m;
    }
}

TEST(Linear, LeadingDimsFlattenIntoRows) {
  auto g = test::rng(6);
  const Tensor wd = random_24_int(24, 40, DType::kF32, g);
  const Compressed24 w = compress(wd);
  for (Shape lead : {Shape{2, 3}, Shape{4, 1, 5}, Shape{1}, Shape{}}) {
    Shape xs = lead;
    xs.push_back(40);
    const Tensor x = test::random_int(xs, DType::kF32, g);
    const Tensor y = linear(x, w);
    Shape ys = lead;
    ys.push_back(24);
    ASSERT_EQ(y.shape(), ys);
    const int64_t m = x.numel() / 40;
    EXPECT_TRUE(bit_equal(y.view({m, 24}), ref_linear(x.view({m, 40}), wd))) << shape_str(xs);
  }
}

TEST(Linear, StridedRowsOfXAndY) {
  // X rows every 52 elements (a column slice of a wider matrix) and Y rows every 30: the kernels
  // take row strides; the gaps of Y must stay untouched.
  auto g = test::rng(7);
  const Tensor wd = random_24_int(20, 40, DType::kF32, g);
  const Compressed24 w = compress(wd);
  for (int64_t m : {3, 40}) {
    Tensor wide = test::random_int({m, 52}, DType::kF32, g);
    Tensor x = Tensor::borrow(wide.raw_data(), {m, 40}, DType::kF32, Device::cpu(), {52, 1});
    Tensor ybuf = Tensor::empty({m, 30}, DType::kF32);
    test::poison(ybuf);
    Tensor y = Tensor::borrow(ybuf.raw_data(), {m, 20}, DType::kF32, Device::cpu(), {30, 1});
    linear_out(x, w, nullptr, y);
    EXPECT_TRUE(bit_equal(y.contiguous(), ref_linear(x.contiguous(), wd))) << m;
    const uint32_t* raw = static_cast<const uint32_t*>(ybuf.raw_data());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 20; c < 30; ++c) ASSERT_EQ(raw[r * 30 + c], 0xFFFFFFFFu) << r << "," << c;
  }
}

TEST(Linear, BiasAndReluBitExact) {
  auto g = test::rng(8);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 5, 16, 70}) {
      const Tensor wd = random_24_int(37, 68, dt, g);
      const Tensor x = test::random_int({m, 68}, dt, g);
      const Tensor bias = test::random_int({37}, dt, g, -8, 8);
      for (Activation act : {Activation::kNone, Activation::kRelu}) {
        LinearOptions o;
        o.activation = act;
        const Tensor y = linear(x, compress(wd), &bias, o);
        EXPECT_TRUE(bit_equal(y, ref_linear(x, wd, &bias, act).cast_cpu(dt)))
            << case_name(dt, m, 37, 68) << " act " << int(act);
      }
    }
}

TEST(Linear, SmoothActivationsWithinTolerance) {
  auto g = test::rng(9);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {2, 40})
      for (Activation act : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu}) {
        const Tensor wd = random_24_normal(50, 128, dt, g);
        const Tensor x = test::random_normal({m, 128}, dt, g);
        const Tensor bias = test::random_normal({50}, dt, g);
        LinearOptions o;
        o.activation = act;
        const Tensor y = linear(x, compress(wd), &bias, o);
        EXPECT_LE(rel_error(y, ref_linear(x, wd, &bias, act)), test::tolerance(dt))
            << case_name(dt, m, 50, 128) << " act " << int(act);
      }
}

TEST(Linear, ActivationsElementwiseOverAWideRange) {
  // y = x[:, 0] through a one-hot weight row, so each output is the activation of a chosen value:
  // the vectorized epilogue against double-precision libm, element by element. The allowed
  // relative error is 2e-6 plus what the f32 rounding of the exponent's argument (about x^2 for
  // GELU, whose tails are exp(-x^2/2)) costs in any f32 implementation; absolute 1e-30 where the
  // functions underflow.
  std::vector<float> vals;
  for (float v = -30.0f; v <= 30.0f; v += 0.0625f) vals.push_back(v);
  for (float v : {-1e-30f, 1e-30f, -1e-6f, 1e-6f, -100.0f, 100.0f, -1e4f, 1e4f, -1e30f, 1e30f})
    vals.push_back(v);
  const int64_t m = static_cast<int64_t>(vals.size());
  Tensor x = Tensor::zeros({m, 4}, DType::kF32);
  for (int64_t i = 0; i < m; ++i) x.data<float>()[i * 4] = vals[i];
  Tensor wd = Tensor::zeros({1, 4}, DType::kF32);
  wd.data<float>()[0] = 1.0f;
  const Compressed24 w = compress(wd);
  for (Activation act :
       {Activation::kRelu, Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu}) {
    LinearOptions o;
    o.activation = act;
    const Tensor y = linear(x, w, nullptr, o);
    for (int64_t i = 0; i < m; ++i) {
      const double want = ref_activation(act, vals[i]);
      const double got = y.data<float>()[i];
      const double v = vals[i];
      ASSERT_LE(std::fabs(got - want), (2e-6 + 4e-7 * v * v) * std::fabs(want) + 1e-30)
          << "activation " << int(act) << " at x = " << vals[i];
    }
    // NaN propagates through every activation.
    Tensor xn = Tensor::zeros({1, 4}, DType::kF32);
    xn.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(linear(xn, w, nullptr, o).data<float>()[0])) << int(act);
  }
}

TEST(Linear, OutWritesEveryElementOfAPoisonedOutput) {
  auto g = test::rng(10);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 4, 15, 33, 129}) {
      const Tensor wd = random_24_int(45, 100, dt, g);
      const Tensor x = test::random_int({m, 100}, dt, g);
      const Tensor bias = test::random_int({45}, dt, g);
      Tensor y = Tensor::empty({m, 45}, dt);
      test::poison(y);
      linear_out(x, compress(wd), &bias, y);
      EXPECT_TRUE(bit_equal(y, ref_linear(x, wd, &bias).cast_cpu(dt))) << case_name(dt, m, 45, 100);
    }
}

TEST(Linear, EmptyShapes) {
  auto g = test::rng(11);
  // M = 0: an empty result of the right shape.
  const Compressed24 w = compress(random_24_int(6, 8, DType::kF32, g));
  const Tensor y0 = linear(Tensor::empty({0, 8}, DType::kF32), w);
  EXPECT_EQ(y0.shape(), Shape({0, 6}));
  // N = 0.
  const Compressed24 w0 = compress(Tensor::empty({0, 8}, DType::kF32));
  EXPECT_EQ(linear(test::random_int({3, 8}, DType::kF32, g), w0).shape(), Shape({3, 0}));
  // K = 0: Y = act(bias).
  const Compressed24 wk = compress(Tensor::empty({5, 0}, DType::kF32));
  const Tensor bias = test::random_int({5}, DType::kF32, g);
  LinearOptions relu;
  relu.activation = Activation::kRelu;
  const Tensor yk = linear(Tensor::empty({2, 0}, DType::kF32), wk, &bias, relu);
  ASSERT_EQ(yk.shape(), Shape({2, 5}));
  for (int64_t i = 0; i < 10; ++i)
    EXPECT_EQ(yk.data<float>()[i], std::max(0.0f, bias.data<float>()[i % 5]));
}

// ---- linear_dense ----------------------------------------------------------------------------

TEST(LinearDense, BitExactOnSmallIntegersEveryDType) {
  auto g = test::rng(20);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 3, 7, 8, 13, 39, 40, 64, 129})
      for (int64_t n : {1, 5, 32, 33, 130})
        for (int64_t k : {1, 3, 17, 260}) {
          const Tensor w = test::random_int({n, k}, dt, g);
          const Tensor x = test::random_int({m, k}, dt, g);
          const Tensor bias = test::random_int({n}, dt, g);
          ASSERT_TRUE(bit_equal(linear_dense(x, w, &bias), ref_linear(x, w, &bias).cast_cpu(dt)))
              << case_name(dt, m, n, k);
        }
}

TEST(LinearDense, ToleranceAndActivations) {
  auto g = test::rng(21);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {2, 100}) {
      const Tensor w = test::random_normal({96, 300}, dt, g);
      const Tensor x = test::random_normal({m, 300}, dt, g);
      const Tensor bias = test::random_normal({96}, dt, g);
      for (Activation act : {Activation::kNone, Activation::kGeluErf, Activation::kSilu}) {
        LinearOptions o;
        o.activation = act;
        EXPECT_LE(rel_error(linear_dense(x, w, &bias, o), ref_linear(x, w, &bias, act)),
                  test::tolerance(dt))
            << case_name(dt, m, 96, 300) << " act " << int(act);
      }
    }
}

// ---- the extended epilogue (LinearOptions: alpha, x_scale, w_scale, residual) -----------------

// act(alpha x_scale[m] w_scale[n] (X W^T)[m, n] + bias[n]) + residual[m, n] in double, as f32.
Tensor ref_linear_epilogue(const Tensor& x, const Tensor& w, const Tensor* bias,
                           const LinearOptions& o) {
  const int64_t m_rows = x.size(0), k = x.size(1), n_cols = w.size(0);
  const std::vector<double> xd = as_doubles(x), wd = as_doubles(w);
  const std::vector<double> bd = bias ? as_doubles(*bias) : std::vector<double>();
  const std::vector<double> xs = o.x_scale ? as_doubles(*o.x_scale) : std::vector<double>();
  const std::vector<double> ws = o.w_scale ? as_doubles(*o.w_scale) : std::vector<double>();
  const std::vector<double> rd =
      o.residual ? as_doubles(o.residual->contiguous()) : std::vector<double>();
  Tensor y = Tensor::empty({m_rows, n_cols}, DType::kF32);
  float* py = y.data<float>();
  for (int64_t m = 0; m < m_rows; ++m)
    for (int64_t n = 0; n < n_cols; ++n) {
      double s = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) s += xd[m * k + kk] * wd[n * k + kk];
      s *= double(o.alpha) * (o.x_scale ? xs[m] : 1.0) * (o.w_scale ? ws[n] : 1.0);
      if (bias) s += bd[n];
      s = ref_activation(o.activation, s);
      if (o.residual) s += rd[m * n_cols + n];
      py[m * n_cols + n] = static_cast<float>(s);
    }
  return y;
}

// F32 scales drawn from small powers of two (and 3): products with small-integer sums stay exact.
Tensor random_scales(int64_t count, std::mt19937_64& g) {
  const float choices[] = {-2.0f, -1.0f, -0.5f, 0.25f, 0.5f, 1.0f, 2.0f, 3.0f, 4.0f};
  std::uniform_int_distribution<int> pick(0, 8);
  Tensor t = Tensor::empty({count}, DType::kF32);
  for (int64_t i = 0; i < count; ++i) t.data<float>()[i] = choices[pick(g)];
  return t;
}

// Which epilogue operands a case uses (bits of `mask`: alpha, x_scale, w_scale, residual).
struct EpilogueCase {
  LinearOptions options;
  Tensor x_scale, w_scale, residual;
  std::string name;
};
EpilogueCase make_case(int mask, Activation act, int64_t m, int64_t n, DType dt,
                       std::mt19937_64& g) {
  EpilogueCase c;
  c.options.activation = act;
  c.name = "act " + std::to_string(int(act)) + " mask " + std::to_string(mask);
  if (mask & 1) c.options.alpha = std::uniform_int_distribution<int>(0, 1)(g) ? 0.5f : -3.0f;
  if (mask & 2) c.x_scale = random_scales(m, g);
  if (mask & 4) c.w_scale = random_scales(n, g);
  if (mask & 8) c.residual = test::random_int({m, n}, dt, g);
  return c;
}
// The options pointing at the case's own tensors (taken after the case has its final address).
LinearOptions options_of(const EpilogueCase& c) {
  LinearOptions o = c.options;
  if (c.x_scale.defined()) o.x_scale = &c.x_scale;
  if (c.w_scale.defined()) o.w_scale = &c.w_scale;
  if (c.residual.defined()) o.residual = &c.residual;
  return o;
}

const Activation kExactActivations[] = {Activation::kNone, Activation::kRelu};
const Activation kAllActivations[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf,
                                      Activation::kGeluTanh, Activation::kSilu};

TEST(LinearEpilogue, BitExactOnSmallIntegersEveryOptionCombination) {
  // Every subset of {alpha, x_scale, w_scale, residual}, with and without bias, for the exact
  // activations; M covers the small-M kernels (sparse < 24 with AVX-512, dense < 40) and the
  // blocked ones; N = 37 leaves a partial vector and a partial block. Sparse through linear_out
  // into a poisoned Y, dense through linear_dense.
  auto g = test::rng(60);
  const int64_t n = 37, k = 68;
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 3, 24, 45}) {
      const Tensor wd = random_24_int(n, k, dt, g);
      const Compressed24 w = compress(wd);
      const Tensor x = test::random_int({m, k}, dt, g);
      const Tensor bias = test::random_int({n}, dt, g, -8, 8);
      for (int mask = 0; mask < 16; ++mask)
        for (Activation act : kExactActivations)
          for (bool with_bias : {false, true}) {
            const EpilogueCase c = make_case(mask, act, m, n, dt, g);
            const LinearOptions o = options_of(c);
            const Tensor* b = with_bias ? &bias : nullptr;
            const Tensor want = ref_linear_epilogue(x, wd, b, o).cast_cpu(dt);
            Tensor y = Tensor::empty({m, n}, dt);
            test::poison(y);
            linear_out(x, w, b, y, o);
            ASSERT_TRUE(bit_equal(y, want))
                << "sparse " << case_name(dt, m, n, k) << " " << c.name << " bias " << with_bias;
            ASSERT_TRUE(bit_equal(linear_dense(x, wd, b, o), want))
                << "dense " << case_name(dt, m, n, k) << " " << c.name << " bias " << with_bias;
          }
    }
}

TEST(LinearEpilogue, InPlaceResidualIsYItself) {
  // residual == y: Y += act(...) in place, for the sparse kernels of every M class.
  auto g = test::rng(61);
  const int64_t n = 40, k = 36;
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 7, 30, 64})
      for (Activation act : kExactActivations) {
        const Tensor wd = random_24_int(n, k, dt, g);
        const Tensor x = test::random_int({m, k}, dt, g);
        const Tensor bias = test::random_int({n}, dt, g);
        EpilogueCase c = make_case(7, act, m, n, dt, g);
        const Tensor start = test::random_int({m, n}, dt, g);
        Tensor y = start.clone();
        LinearOptions o = options_of(c);
        o.residual = &start;
        const Tensor want = ref_linear_epilogue(x, wd, &bias, o).cast_cpu(dt);
        o.residual = &y;
        linear_out(x, compress(wd), &bias, y, o);
        EXPECT_TRUE(bit_equal(y, want)) << case_name(dt, m, n, k) << " act " << int(act);
        // A second Tensor object over the same memory, shape and strides is y too.
        Tensor y2 = start.clone();
        Tensor same = Tensor::borrow(y2.raw_data(), {m, n}, dt);
        o.residual = &same;
        linear_out(x, compress(wd), &bias, y2, o);
        EXPECT_TRUE(bit_equal(y2, want)) << case_name(dt, m, n, k) << " act " << int(act);
      }
}

TEST(LinearEpilogue, EveryActivationBitExactAgainstFoldedScales) {
  // The smooth activations are not exact, but the epilogue must compute the same f32 value as a
  // plain linear on operands with the scales folded in (X rows times alpha x_scale[m], W rows
  // times w_scale[n]: exact with power-of-two scales), plus the residual added in f32, rounded
  // once to the dtype. This pins the order: scales, bias, activation, residual, one rounding.
  auto g = test::rng(62);
  const int64_t n = 33, k = 40;
  for (DType dt : kCpuDTypes)
    for (int64_t m : {2, 29, 41})
      for (Activation act : kAllActivations) {
        const Tensor wd = random_24_int(n, k, dt, g);
        const Tensor x = test::random_int({m, k}, dt, g);
        const Tensor bias = test::random_int({n}, dt, g);
        const Tensor residual = test::random_normal({m, n}, dt, g);
        LinearOptions o;
        o.activation = act;
        o.alpha = 0.5f;
        const float xs_choices[] = {0.25f, 0.5f, 1.0f, 2.0f, -1.0f};
        const float ws_choices[] = {0.125f, 0.5f, 1.0f, -2.0f};
        Tensor xs = Tensor::empty({m}, DType::kF32), ws = Tensor::empty({n}, DType::kF32);
        for (int64_t i = 0; i < m; ++i) xs.data<float>()[i] = xs_choices[i % 5];
        for (int64_t i = 0; i < n; ++i) ws.data<float>()[i] = ws_choices[i % 4];
        o.x_scale = &xs;
        o.w_scale = &ws;
        o.residual = &residual;
        Tensor xf = x.to_f32_cpu().clone(), wf = wd.to_f32_cpu().clone();
        for (int64_t i = 0; i < m; ++i)
          for (int64_t kk = 0; kk < k; ++kk)
            xf.data<float>()[i * k + kk] *= 0.5f * xs.data<float>()[i];
        for (int64_t i = 0; i < n; ++i)
          for (int64_t kk = 0; kk < k; ++kk) wf.data<float>()[i * k + kk] *= ws.data<float>()[i];
        const Tensor bf = bias.to_f32_cpu();
        LinearOptions plain;
        plain.activation = act;
        Tensor folded = linear(xf, compress(wf), &bf, plain).contiguous();
        const Tensor rf = residual.to_f32_cpu();
        for (int64_t i = 0; i < m * n; ++i) folded.data<float>()[i] += rf.data<float>()[i];
        const Tensor want = folded.cast_cpu(dt);
        EXPECT_TRUE(bit_equal(linear(x, compress(wd), &bias, o), want))
            << "sparse " << case_name(dt, m, n, k) << " act " << int(act);
        EXPECT_TRUE(bit_equal(linear_dense(x, wd, &bias, o), want))
            << "dense " << case_name(dt, m, n, k) << " act " << int(act);
      }
}

TEST(LinearEpilogue, RandomInputsWithinTolerance) {
  auto g = test::rng(63);
  std::uniform_real_distribution<float> scale(0.25f, 2.0f);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 6, 31, 100})
      for (Activation act : kAllActivations) {
        const int64_t n = 72, k = 264;
        const Tensor wd = random_24_normal(n, k, dt, g);
        const Tensor x = test::random_normal({m, k}, dt, g);
        const Tensor bias = test::random_normal({n}, dt, g);
        const Tensor residual = test::random_normal({m, n}, dt, g);
        Tensor xs = Tensor::empty({m}, DType::kF32), ws = Tensor::empty({n}, DType::kF32);
        for (int64_t i = 0; i < m; ++i) xs.data<float>()[i] = scale(g);
        for (int64_t i = 0; i < n; ++i) ws.data<float>()[i] = scale(g);
        LinearOptions o;
        o.activation = act;
        o.alpha = 0.3f;
        o.x_scale = &xs;
        o.w_scale = &ws;
        o.residual = &residual;
        const Tensor want = ref_linear_epilogue(x, wd, &bias, o);
        EXPECT_LE(rel_error(linear(x, compress(wd), &bias, o), want), test::tolerance(dt))
            << "sparse " << case_name(dt, m, n, k) << " act " << int(act);
        EXPECT_LE(rel_error(linear_dense(x, wd, &bias, o), want), test::tolerance(dt))
            << "dense " << case_name(dt, m, n, k) << " act " << int(act);
      }
}

TEST(LinearEpilogue, StridedYAndResidualAndLeadingDims) {
  auto g = test::rng(64);
  const Tensor wd = random_24_int(20, 40, DType::kF32, g);
  const Compressed24 w = compress(wd);
  for (int64_t m : {3, 40}) {
    const Tensor x = test::random_int({m, 40}, DType::kF32, g);
    const Tensor xs = random_scales(m, g), ws = random_scales(20, g);
    // Y rows every 30 elements, the residual's every 26: the gaps of Y stay untouched.
    Tensor rbuf = test::random_int({m, 26}, DType::kF32, g);
    Tensor residual =
        Tensor::borrow(rbuf.raw_data(), {m, 20}, DType::kF32, Device::cpu(), {26, 1});
    Tensor ybuf = Tensor::empty({m, 30}, DType::kF32);
    test::poison(ybuf);
    Tensor y = Tensor::borrow(ybuf.raw_data(), {m, 20}, DType::kF32, Device::cpu(), {30, 1});
    LinearOptions o;
    o.x_scale = &xs;
    o.w_scale = &ws;
    o.residual = &residual;
    const Tensor want = ref_linear_epilogue(x, wd, nullptr, o);
    linear_out(x, w, nullptr, y, o);
    EXPECT_TRUE(bit_equal(y.contiguous(), want)) << m;
    const uint32_t* raw = static_cast<const uint32_t*>(ybuf.raw_data());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 20; c < 30; ++c) ASSERT_EQ(raw[r * 30 + c], 0xFFFFFFFFu) << r << "," << c;
    // In place on the strided Y: the residual is Y's own rows.
    Tensor ybuf2 = Tensor::empty({m, 30}, DType::kF32);
    test::poison(ybuf2);
    Tensor y2 = Tensor::borrow(ybuf2.raw_data(), {m, 20}, DType::kF32, Device::cpu(), {30, 1});
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < 20; ++c)
        static_cast<float*>(ybuf2.raw_data())[r * 30 + c] = residual.data<float>()[r * 26 + c];
    o.residual = &y2;
    linear_out(x, w, nullptr, y2, o);
    EXPECT_TRUE(bit_equal(y2.contiguous(), want)) << m;
    const uint32_t* raw2 = static_cast<const uint32_t*>(ybuf2.raw_data());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 20; c < 30; ++c) ASSERT_EQ(raw2[r * 30 + c], 0xFFFFFFFFu) << r << "," << c;
  }
  // Leading dims: x [2, 3, K] has M = 6 rows, so x_scale is [6]; the residual is y's [2, 3, N].
  const Tensor x3 = test::random_int({2, 3, 40}, DType::kF32, g);
  const Tensor xs6 = random_scales(6, g);
  const Tensor r3 = test::random_int({2, 3, 20}, DType::kF32, g);
  LinearOptions o;
  o.x_scale = &xs6;
  o.residual = &r3;
  o.alpha = 2.0f;
  const Tensor y3 = linear(x3, w, nullptr, o);
  ASSERT_EQ(y3.shape(), Shape({2, 3, 20}));
  const Tensor r6 = r3.view({6, 20});
  LinearOptions o6 = o;
  o6.residual = &r6;
  EXPECT_TRUE(bit_equal(y3.view({6, 20}), ref_linear_epilogue(x3.view({6, 40}), wd, nullptr, o6)));
  EXPECT_TRUE(bit_equal(linear_dense(x3, wd, nullptr, o).view({6, 20}),
                        ref_linear_epilogue(x3.view({6, 40}), wd, nullptr, o6)));
}

TEST(LinearEpilogue, EmptyKStillAppliesTheEpilogue) {
  // K = 0: every sum is +0, so Y = act(bias) + residual whatever the scales.
  auto g = test::rng(65);
  const Compressed24 wk = compress(Tensor::empty({5, 0}, DType::kF32));
  const Tensor bias = test::random_int({5}, DType::kF32, g);
  const Tensor xs = random_scales(2, g), ws = random_scales(5, g);
  const Tensor residual = test::random_int({2, 5}, DType::kF32, g);
  LinearOptions o;
  o.activation = Activation::kRelu;
  o.alpha = 3.0f;
  o.x_scale = &xs;
  o.w_scale = &ws;
  o.residual = &residual;
  const Tensor x0 = Tensor::empty({2, 0}, DType::kF32);
  const Tensor y = linear(x0, wk, &bias, o);
  const Tensor yd = linear_dense(x0, Tensor::empty({5, 0}, DType::kF32), &bias, o);
  for (int64_t i = 0; i < 10; ++i) {
    const float want = std::max(0.0f, bias.data<float>()[i % 5]) + residual.data<float>()[i];
    EXPECT_EQ(y.data<float>()[i], want) << i;
    EXPECT_EQ(yd.data<float>()[i], want) << i;
  }
  // M = 0: x_scale is [0], the residual [0, N].
  const Tensor xs0 = Tensor::empty({0}, DType::kF32);
  const Tensor r0 = Tensor::empty({0, 6}, DType::kF32);
  LinearOptions o0;
  o0.x_scale = &xs0;
  o0.residual = &r0;
  const Compressed24 w = compress(random_24_int(6, 8, DType::kF32, g));
  EXPECT_EQ(linear(Tensor::empty({0, 8}, DType::kF32), w, nullptr, o0).shape(), Shape({0, 6}));
}

// ---- spmm ------------------------------------------------------------------------------------

TEST(Spmm, BitExactOnSmallIntegers) {
  auto g = test::rng(30);
  for (DType dt : kCpuDTypes)
    for (int64_t r : {1, 5, 24, 97})
      for (int64_t k : {4, 12, 36, 260})
        for (int64_t c : {1, 3, 16, 17, 33, 100, 130}) {
          const Tensor ad = random_24_int(r, k, dt, g);
          const Tensor b = test::random_int({k, c}, dt, g);
          const Tensor out = spmm(compress(ad), b);
          ASSERT_EQ(out.shape(), Shape({r, c}));
          ASSERT_TRUE(bit_equal(out, ref_matmul(ad, b).cast_cpu(dt)))
              << dtype_name(dt) << " R=" << r << " K=" << k << " C=" << c;
        }
}

TEST(Spmm, StridedBAndTolerance) {
  auto g = test::rng(31);
  // B rows every 70 elements.
  Tensor wide = test::random_int({36, 70}, DType::kF32, g);
  Tensor b = Tensor::borrow(wide.raw_data(), {36, 50}, DType::kF32, Device::cpu(), {70, 1});
  const Tensor ad = random_24_int(9, 36, DType::kF32, g);
  EXPECT_TRUE(bit_equal(spmm(compress(ad), b), ref_matmul(ad, b.contiguous())));
  for (DType dt : kCpuDTypes) {
    const Tensor an = random_24_normal(64, 384, dt, g);
    const Tensor bn = test::random_normal({384, 200}, dt, g);
    EXPECT_LE(rel_error(spmm(compress(an), bn), ref_matmul(an, bn)), test::tolerance(dt))
        << dtype_name(dt);
  }
}

// ---- the products of 2:4 training (BRIEF section 1, item 6) ----------------------------------

TEST(Training, GradXThroughTheCompressedTranspose) {
  // Forward Z = X W^T; backward grad_X = grad_Z W = linear(grad_Z, transpose(W)), which needs W
  // 2:4 along columns too (a transposable mask).
  auto g = test::rng(40);
  for (DType dt : kCpuDTypes)
    for (int64_t m : {1, 6, 64, 100})
      for (auto [n, k] : {std::pair<int64_t, int64_t>{8, 12}, {36, 44}, {96, 64}}) {
        const Tensor wd = random_transposable_int(n, k, g).cast_cpu(dt);
        const Compressed24 w = compress(wd);
        const Compressed24 wt = transpose(w);
        ASSERT_EQ(wt.rows, k);
        ASSERT_EQ(wt.cols, n);
        const Tensor grad_z = test::random_int({m, n}, dt, g);
        const Tensor grad_x = linear(grad_z, wt);
        ASSERT_EQ(grad_x.shape(), Shape({m, k}));
        // grad_Z W as grad_Z (W^T)^T: the reference takes the dense W^T.
        EXPECT_TRUE(
            bit_equal(grad_x, ref_linear(grad_z, wd.to_f32_cpu().t().contiguous()).cast_cpu(dt)))
            << case_name(dt, m, n, k);
      }
}

TEST(Training, GradWThroughTheSparseLeftOperand) {
  // grad_W = S(grad_Z^T) X: grad_Z^T [N, M] pruned 2:4 along M (the token dimension), times
  // X [M, K], with the sparse operand on the left.
  auto g = test::rng(41);
  for (DType dt : kCpuDTypes)
    for (auto [m, n, k] :
         {std::tuple<int64_t, int64_t, int64_t>{4, 3, 5}, {64, 24, 40}, {132, 50, 96}}) {
      const Tensor grad_z = test::random_int({m, n}, DType::kF32, g);
      Tensor gt = grad_z.t().contiguous();
      prune_rows_24(gt);
      const Tensor sparse_gt = gt.cast_cpu(dt);
      const Tensor x = test::random_int({m, k}, dt, g);
      const Tensor grad_w = spmm(compress(sparse_gt), x);
      ASSERT_EQ(grad_w.shape(), Shape({n, k}));
      EXPECT_TRUE(bit_equal(grad_w, ref_matmul(sparse_gt, x).cast_cpu(dt)))
          << dtype_name(dt) << " M=" << m << " N=" << n << " K=" << k;
    }
}

// ---- bad input ---------------------------------------------------------------------------------

class LinearErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto g = test::rng(50);
    wd = random_24_int(6, 16, DType::kF32, g);
    w = compress(wd);
    x = test::random_int({3, 16}, DType::kF32, g);
    bias = test::random_int({6}, DType::kF32, g);
  }
  Tensor wd, x, bias;
  Compressed24 w;
};

TEST_F(LinearErrors, ShapeMismatches) {
  Tensor x20 = Tensor::zeros({3, 20}, DType::kF32);
  S24_EXPECT_ERROR(linear(x20, w), kShapeMismatch, "K = 20");
  S24_EXPECT_ERROR(linear_dense(x20, wd), kShapeMismatch, "K = 20");
  Tensor b7 = Tensor::zeros({7}, DType::kF32);
  S24_EXPECT_ERROR(linear(x, w, &b7), kShapeMismatch, "bias");
  S24_EXPECT_ERROR(linear_dense(x, wd, &b7), kShapeMismatch, "bias");
  Tensor b2d = Tensor::zeros({1, 6}, DType::kF32);
  S24_EXPECT_ERROR(linear(x, w, &b2d), kShapeMismatch, "bias");
  S24_EXPECT_ERROR(linear(Tensor::zeros({}, DType::kF32), w), kShapeMismatch, "dimension");
  S24_EXPECT_ERROR(linear_dense(x, Tensor::zeros({6, 16, 1}, DType::kF32)), kShapeMismatch, "2-d");
  // A compressed matrix whose parts disagree with its logical shape.
  Compressed24 bad = w;
  bad.cols = 20;
  S24_EXPECT_ERROR(linear(x, bad), kShapeMismatch, "values");
  bad = w;
  bad.meta = Tensor::zeros({6, 3}, DType::kU8);
  S24_EXPECT_ERROR(linear(x, bad), kShapeMismatch, "metadata");
  bad = w;
  bad.meta = Tensor::zeros({6, 2}, DType::kI8);
  S24_EXPECT_ERROR(linear(x, bad), kDTypeMismatch, "metadata");
  bad = w;
  bad.cols = 18;
  S24_EXPECT_ERROR(linear(x, bad), kAlignment, "multiple of 4");
}

TEST_F(LinearErrors, DTypes) {
  const Tensor x16 = x.cast_cpu(DType::kF16);
  S24_EXPECT_ERROR(linear(x16, w), kDTypeMismatch, "x is F16 but w is F32");
  S24_EXPECT_ERROR(linear_dense(x16, wd), kDTypeMismatch, "x is F16 but w is F32");
  const Tensor b16 = bias.cast_cpu(DType::kBF16);
  S24_EXPECT_ERROR(linear(x, w, &b16), kDTypeMismatch, "bias");
  // 8-bit products have their own rules (tests/cpu/test_q8.cc); 8-bit with 32-bit is a mix.
  const Compressed24 w8 = compress(wd.cast_cpu(DType::kF8E4M3));
  S24_EXPECT_ERROR(linear(x, w8), kDTypeMismatch, "x is F32 but w is F8_E4M3");
  const Compressed24 wi8 = compress(wd.cast_cpu(DType::kI8));
  S24_EXPECT_ERROR(linear(x.cast_cpu(DType::kF8E4M3), wi8), kDTypeMismatch, "int8 x int8");
  S24_EXPECT_ERROR(spmm(w, Tensor::zeros({16, 4}, DType::kBF16)), kDTypeMismatch, "b is BF16");
  Tensor y16 = Tensor::empty({3, 6}, DType::kF16);
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y16), kDTypeMismatch, "y is F16");
}

TEST_F(LinearErrors, UndefinedTensors) {
  S24_EXPECT_ERROR(linear(Tensor(), w), kInvalidArgument, "x is an undefined tensor");
  Compressed24 empty_w;
  S24_EXPECT_ERROR(linear(x, empty_w), kInvalidArgument, "undefined values or metadata");
  const Tensor undefined;
  S24_EXPECT_ERROR(linear(x, w, &undefined), kInvalidArgument, "bias is an undefined tensor");
  Tensor y;
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y), kInvalidArgument, "y is an undefined tensor");
  S24_EXPECT_ERROR(linear_dense(x, Tensor()), kInvalidArgument, "w is an undefined tensor");
  S24_EXPECT_ERROR(spmm(w, Tensor()), kInvalidArgument, "b is an undefined tensor");
  S24_EXPECT_ERROR(spmm(empty_w, x), kInvalidArgument, "undefined values or metadata");
}

TEST_F(LinearErrors, NonContiguousOperands) {
  // X^T as a view: its last dim has stride 3.
  auto g = test::rng(51);
  const Tensor xt_view = test::random_int({16, 3}, DType::kF32, g).t();
  S24_EXPECT_ERROR(linear(xt_view, w), kInvalidArgument, "stride");
  // Leading dims that do not collapse into one row stride: [2, 2, 16] cut out of [2, 3, 16].
  Tensor big = Tensor::zeros({2, 3, 16}, DType::kF32);
  Tensor x3 = Tensor::borrow(big.raw_data(), {2, 2, 16}, DType::kF32, Device::cpu(), {48, 16, 1});
  S24_EXPECT_ERROR(linear(x3, w), kInvalidArgument, "collapse");
  // Non-contiguous compressed values.
  Tensor vbuf = Tensor::zeros({6, 10}, DType::kF32);
  Compressed24 bad = w;
  bad.values = Tensor::borrow(vbuf.raw_data(), {6, 8}, DType::kF32, Device::cpu(), {10, 1});
  S24_EXPECT_ERROR(linear(x, bad), kInvalidArgument, "contiguous");
  S24_EXPECT_ERROR(linear_dense(x, wd.t().contiguous().t()), kInvalidArgument, "stride");
  S24_EXPECT_ERROR(spmm(w, Tensor::zeros({4, 16}, DType::kF32).t()), kInvalidArgument, "stride");
  Tensor bias_buf = Tensor::zeros({12}, DType::kF32);
  Tensor strided_bias = Tensor::borrow(bias_buf.raw_data(), {6}, DType::kF32, Device::cpu(), {2});
  S24_EXPECT_ERROR(linear(x, w, &strided_bias), kInvalidArgument, "contiguous");
}

TEST_F(LinearErrors, OutputChecks) {
  Tensor y_bad_shape = Tensor::empty({3, 7}, DType::kF32);
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_bad_shape), kShapeMismatch, "expected [3, 6]");
  // Y on top of X.
  Tensor y_alias = Tensor::borrow(x.raw_data(), {3, 6}, DType::kF32);
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_alias), kInvalidArgument, "overlaps x");
  // Y on top of the weight's values or the bias.
  Tensor y_on_values = Tensor::borrow(w.values.raw_data(), {3, 6}, DType::kF32);
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_on_values), kInvalidArgument, "w's values");
  Tensor bias18 = Tensor::zeros({18}, DType::kF32);
  Tensor bias6 = Tensor::borrow(bias18.raw_data(), {6}, DType::kF32);
  Tensor y_on_bias = Tensor::borrow(bias18.raw_data(), {3, 6}, DType::kF32);
  S24_EXPECT_ERROR(linear_out(x, w, &bias6, y_on_bias), kInvalidArgument, "the bias");
  // Y rows that overlap each other.
  Tensor ybuf = Tensor::empty({20}, DType::kF32);
  Tensor y_rows = Tensor::borrow(ybuf.raw_data(), {3, 6}, DType::kF32, Device::cpu(), {2, 1});
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_rows), kInvalidArgument, "overlap each other");
}

TEST_F(LinearErrors, DevicesAndBackends) {
  // A tensor that claims to live on a CUDA device: the dispatcher must refuse the mix before
  // touching any memory (the pointer is never dereferenced).
  float dummy[64] = {};
  Tensor x_cuda = Tensor::borrow(dummy, {3, 16}, DType::kF32, Device::cuda(0));
  S24_EXPECT_ERROR(linear(x_cuda, w), kInvalidArgument, "device");
  Tensor b_cuda = Tensor::borrow(dummy, {6}, DType::kF32, Device::cuda(0));
  S24_EXPECT_ERROR(linear(x, w, &b_cuda), kInvalidArgument, "device");
  S24_EXPECT_ERROR(linear_dense(x_cuda, wd), kInvalidArgument, "device");
  S24_EXPECT_ERROR(spmm(w, Tensor::borrow(dummy, {16, 2}, DType::kF32, Device::cuda(0))),
                   kInvalidArgument, "device");
  Tensor y_cuda = Tensor::borrow(dummy, {3, 6}, DType::kF32, Device::cuda(0));
  S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_cuda), kInvalidArgument, "device");
  Compressed24 split = w;
  split.meta = Tensor::borrow(dummy, {6, 2}, DType::kU8, Device::cuda(0));
  S24_EXPECT_ERROR(linear(x, split), kInvalidArgument, "metadata on cuda:0");
  // F32 is a CPU-only compute dtype.
  Compressed24 w_cuda = w;
  w_cuda.values = Tensor::borrow(dummy, {6, 8}, DType::kF32, Device::cuda(0));
  w_cuda.meta = Tensor::borrow(dummy, {6, 2}, DType::kU8, Device::cuda(0));
  S24_EXPECT_ERROR(linear(x_cuda, w_cuda), kDTypeMismatch, "not supported on CUDA");
  LinearOptions lt;
  lt.backend = Backend::kCuSparseLt;
  S24_EXPECT_ERROR(linear(x, w, nullptr, lt), kUnsupported, "cuSPARSELt");
#if !S24_WITH_CUDA
  // All on "CUDA" in a CPU-only build: a clear kUnsupported, not a crash.
  uint16_t hdummy[64] = {};
  Tensor xh = Tensor::borrow(hdummy, {3, 16}, DType::kF16, Device::cuda(0));
  Compressed24 wh = w_cuda;
  wh.values = Tensor::borrow(hdummy, {6, 8}, DType::kF16, Device::cuda(0));
  S24_EXPECT_ERROR(linear(xh, wh), kUnsupported, "CUDA");
#endif
}

Tensor ones_f32(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 1.0f;
  return t.cast_cpu(dtype);
}

// S24_EXPECT_ERROR with the code as a value (for tables of cases).
template <class Fn>
void expect_error(Fn&& fn, ErrorCode code, const std::string& needle, const std::string& what) {
  try {
    fn();
    ADD_FAILURE() << "expected an s24::Error from " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << what << ": message '" << e.what() << "' does not mention '" << needle << "'";
  }
}

TEST_F(LinearErrors, EpilogueOperands) {
  // x [3, 16], w [6, 16]: x_scale [3], w_scale [6], residual [3, 6].
  const Tensor xs = ones_f32({3}, DType::kF32), ws = ones_f32({6}, DType::kF32);
  Tensor y = Tensor::empty({3, 6}, DType::kF32);
  auto all_three = [&](const LinearOptions& o, ErrorCode code, const char* needle) {
    expect_error([&] { linear(x, w, &bias, o); }, code, needle, std::string("linear: ") + needle);
    expect_error([&] { linear_out(x, w, &bias, y, o); }, code, needle,
                 std::string("linear_out: ") + needle);
    expect_error([&] { linear_dense(x, wd, &bias, o); }, code, needle,
                 std::string("linear_dense: ") + needle);
  };
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    LinearOptions o;
    o.alpha = bad;
    all_three(o, ErrorCode::kInvalidArgument, "alpha");
  }
  // Scales: dtype, shape, undefined, device, contiguity.
  const Tensor xs16 = xs.cast_cpu(DType::kF16), xs4 = ones_f32({4}, DType::kF32);
  const Tensor xs2d = ones_f32({3, 1}, DType::kF32), ws7 = ones_f32({7}, DType::kF32);
  const Tensor ws_bf16 = ws.cast_cpu(DType::kBF16), undefined;
  Tensor sbuf = ones_f32({6}, DType::kF32);
  const Tensor xs_strided = Tensor::borrow(sbuf.raw_data(), {3}, DType::kF32, Device::cpu(), {2});
  float dummy[64] = {};
  const Tensor xs_cuda = Tensor::borrow(dummy, {3}, DType::kF32, Device::cuda(0));
  struct ScaleCase {
    const Tensor* x_scale;
    const Tensor* w_scale;
    ErrorCode code;
    const char* needle;
  } scale_cases[] = {
      {&xs16, nullptr, ErrorCode::kDTypeMismatch, "x_scale is F16"},
      {&xs4, nullptr, ErrorCode::kShapeMismatch, "x_scale"},
      {&xs2d, nullptr, ErrorCode::kShapeMismatch, "x_scale"},
      {&undefined, nullptr, ErrorCode::kInvalidArgument, "x_scale is an undefined tensor"},
      {&xs_cuda, nullptr, ErrorCode::kInvalidArgument, "x_scale is on cuda:0"},
      {&xs_strided, nullptr, ErrorCode::kInvalidArgument, "contiguous"},
      {nullptr, &ws7, ErrorCode::kShapeMismatch, "w_scale"},
      {nullptr, &ws_bf16, ErrorCode::kDTypeMismatch, "w_scale is BF16"},
      {nullptr, &undefined, ErrorCode::kInvalidArgument, "w_scale is an undefined tensor"},
  };
  for (const ScaleCase& c : scale_cases) {
    LinearOptions o;
    o.x_scale = c.x_scale;
    o.w_scale = c.w_scale;
    all_three(o, c.code, c.needle);
  }
  // Residual: shape, dtype, undefined, device, last-dim stride.
  const Tensor r37 = Tensor::zeros({3, 7}, DType::kF32), r18 = Tensor::zeros({18}, DType::kF32);
  const Tensor r16 = Tensor::zeros({3, 6}, DType::kF16);
  const Tensor r_cuda = Tensor::borrow(dummy, {3, 6}, DType::kF32, Device::cuda(0));
  Tensor rbuf = Tensor::zeros({6, 6}, DType::kF32);
  const Tensor r_t = Tensor::borrow(rbuf.raw_data(), {3, 6}, DType::kF32, Device::cpu(), {1, 6});
  struct ResidualCase {
    const Tensor* residual;
    ErrorCode code;
    const char* needle;
  } residual_cases[] = {
      {&r37, ErrorCode::kShapeMismatch, "residual is"},
      {&r18, ErrorCode::kShapeMismatch, "residual is"},
      {&r16, ErrorCode::kDTypeMismatch, "residual is F16"},
      {&undefined, ErrorCode::kInvalidArgument, "residual is an undefined tensor"},
      {&r_cuda, ErrorCode::kInvalidArgument, "residual is on cuda:0"},
      {&r_t, ErrorCode::kInvalidArgument, "stride"},
  };
  for (const ResidualCase& c : residual_cases) {
    LinearOptions o;
    o.residual = c.residual;
    all_three(o, c.code, c.needle);
  }
  // The residual may be y itself, but it may not overlap an input or cover part of y.
  {
    LinearOptions o;
    const Tensor r_on_x = Tensor::borrow(x.raw_data(), {3, 6}, DType::kF32);
    o.residual = &r_on_x;
    all_three(o, ErrorCode::kInvalidArgument, "residual overlaps an input");
    Tensor bias18 = Tensor::zeros({18}, DType::kF32);
    const Tensor bias6 = Tensor::borrow(bias18.raw_data(), {6}, DType::kF32);
    const Tensor r_on_bias = Tensor::borrow(bias18.raw_data(), {3, 6}, DType::kF32);
    o.residual = &r_on_bias;
    S24_EXPECT_ERROR(linear(x, w, &bias6, o), kInvalidArgument, "residual overlaps an input");
    S24_EXPECT_ERROR(linear_dense(x, wd, &bias6, o), kInvalidArgument,
                     "residual overlaps an input");
    const Tensor r_on_values = Tensor::borrow(w.values.raw_data(), {3, 6}, DType::kF32);
    o.residual = &r_on_values;
    S24_EXPECT_ERROR(linear(x, w, nullptr, o), kInvalidArgument, "residual overlaps an input");
    const Tensor r_on_w = Tensor::borrow(wd.raw_data(), {3, 6}, DType::kF32);
    o.residual = &r_on_w;
    S24_EXPECT_ERROR(linear_dense(x, wd, nullptr, o), kInvalidArgument,
                     "residual overlaps an input");
    // Shifted by one row, or the same memory with other strides: not y, yet over y.
    Tensor ybuf = Tensor::zeros({30}, DType::kF32);
    Tensor y_in = Tensor::borrow(ybuf.raw_data(), {3, 6}, DType::kF32);
    const Tensor r_shifted =
        Tensor::borrow(static_cast<float*>(ybuf.raw_data()) + 6, {3, 6}, DType::kF32);
    o.residual = &r_shifted;
    S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_in, o), kInvalidArgument, "without being y");
    const Tensor r_restrided =
        Tensor::borrow(ybuf.raw_data(), {3, 6}, DType::kF32, Device::cpu(), {8, 1});
    o.residual = &r_restrided;
    S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_in, o), kInvalidArgument, "without being y");
  }
  // Y may not be written over a scale.
  {
    Tensor sbuf18 = ones_f32({18}, DType::kF32);
    const Tensor xs_under_y = Tensor::borrow(sbuf18.raw_data(), {3}, DType::kF32);
    const Tensor ws_under_y =
        Tensor::borrow(static_cast<float*>(sbuf18.raw_data()) + 10, {6}, DType::kF32);
    Tensor y_on_scales = Tensor::borrow(sbuf18.raw_data(), {3, 6}, DType::kF32);
    LinearOptions o;
    o.x_scale = &xs_under_y;
    S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_on_scales, o), kInvalidArgument,
                     "y overlaps x_scale");
    o.x_scale = nullptr;
    o.w_scale = &ws_under_y;
    S24_EXPECT_ERROR(linear_out(x, w, nullptr, y_on_scales, o), kInvalidArgument,
                     "y overlaps w_scale");
  }
}

TEST_F(LinearErrors, SpmmShapes) {
  S24_EXPECT_ERROR(spmm(w, Tensor::zeros({12, 4}, DType::kF32)), kShapeMismatch, "row count");
  S24_EXPECT_ERROR(spmm(w, Tensor::zeros({16}, DType::kF32)), kShapeMismatch, "2-d");
}

}  // namespace
}  // namespace s24
