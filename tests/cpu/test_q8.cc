// 8-bit 2:4 products on the CPU (int8 x int8, fp8 x fp8) and the 8-bit side of the format, the
// pruners and the files. The references are written here from the contract of ops.h and
// src/ops/linear_q8_cpu.h: int8 sums exactly (int64 here), fp8 sums its exact f32 products
// left to right in f32; the epilogue is evaluated in double. Small integers keep every step
// exact, so those comparisons are bit for bit; random inputs are compared against a per-element
// error bound derived below (RandomAgainstDoubleReference).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/test_util.h"
#include "format/format_cpu.h"
#include "ops/activation.h"

namespace s24 {
namespace {

using test::bit_equal;

struct Pair {
  DType x, w;
};
constexpr Pair kPairs[] = {{DType::kI8, DType::kI8},
                           {DType::kF8E4M3, DType::kF8E4M3},
                           {DType::kF8E5M2, DType::kF8E5M2},
                           {DType::kF8E4M3, DType::kF8E5M2},
                           {DType::kF8E5M2, DType::kF8E4M3}};
constexpr DType kOutDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};
constexpr DType k8Bit[] = {DType::kI8, DType::kF8E4M3, DType::kF8E5M2};

std::string pair_name(const Pair& p, DType y) {
  return std::string(dtype_name(p.x)) + " x " + dtype_name(p.w) + " -> " + dtype_name(y);
}

// ---- inputs ------------------------------------------------------------------------------------

// Integers in [lo, hi] of a 2:4 pattern with 0, 1 or 2 nonzeros per group at random places.
Tensor random_24_int(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g, int lo, int hi) {
  Tensor f = Tensor::zeros({rows, cols}, DType::kF32);
  float* p = f.data<float>();
  std::uniform_int_distribution<int> count(0, 2), pos(0, 3), val(lo, hi);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t gi = 0; gi < cols / 4; ++gi) {
      const int n = count(g);
      for (int k = 0; k < n; ++k) p[r * cols + 4 * gi + pos(g)] = static_cast<float>(val(g));
    }
  return f.cast_cpu(dtype);
}

// The widest integer range each 8-bit dtype holds exactly and that keeps f32 sums exact.
int int_range(DType d) { return d == DType::kI8 ? 127 : d == DType::kF8E4M3 ? 16 : 8; }

// Normal values rounded to an 8-bit dtype (int8: rounded, saturated), magnitude-pruned to 2:4.
Tensor random_24_normal(int64_t rows, int64_t cols, DType dtype, std::mt19937_64& g, float sd) {
  Tensor w = test::random_normal({rows, cols}, DType::kF32, g, sd).cast_cpu(dtype);
  return prune_magnitude(w);
}

// ---- references --------------------------------------------------------------------------------

// acc[m][n] per the contract: int8 exact (int64, then to f32 once), fp8 the left-to-right f32
// sum of the products over the columns where w is nonzero (the kept zeros add exactly nothing
// to a finite sum, so this equals the sum over the stored values).
std::vector<float> reference_acc(const Tensor& x2, const Tensor& w_dense) {
  const int64_t m_rows = x2.size(0), k = x2.size(1), n_cols = w_dense.size(0);
  const Tensor xf = x2.to_f32_cpu(), wf = w_dense.to_f32_cpu();
  const float* xp = xf.data<float>();
  const float* wp = wf.data<float>();
  std::vector<float> acc(static_cast<size_t>(m_rows * n_cols));
  const bool integer = x2.dtype() == DType::kI8;
  for (int64_t m = 0; m < m_rows; ++m)
    for (int64_t n = 0; n < n_cols; ++n) {
      if (integer) {
        int64_t s = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          s += static_cast<int64_t>(xp[m * k + kk]) * static_cast<int64_t>(wp[n * k + kk]);
        acc[m * n_cols + n] = static_cast<float>(s);
      } else {
        float s = 0.0f;
        for (int64_t kk = 0; kk < k; ++kk)
          if (wp[n * k + kk] != 0.0f) s += xp[m * k + kk] * wp[n * k + kk];  // exact product
        acc[m * n_cols + n] = s;
      }
    }
  return acc;
}

struct Epi {
  float alpha = 1.0f;
  Tensor x_scale, w_scale, bias, residual;  // undefined = absent
  Activation activation = Activation::kNone;

  LinearOptions options() const {
    LinearOptions o;
    o.alpha = alpha;
    o.activation = activation;
    o.x_scale = x_scale.defined() ? &x_scale : nullptr;
    o.w_scale = w_scale.defined() ? &w_scale : nullptr;
    o.residual = residual.defined() ? &residual : nullptr;
    return o;
  }
  const Tensor* bias_ptr() const { return bias.defined() ? &bias : nullptr; }
};

double activate_ref(Activation a, double z) {
  switch (a) {
    case Activation::kRelu:
      return z < 0 ? 0.0 : z;
    case Activation::kGeluErf:
      return 0.5 * z * std::erfc(-z / std::sqrt(2.0));
    case Activation::kGeluTanh:
      return 0.5 * z * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z)));
    case Activation::kSilu:
      return z / (1.0 + std::exp(-z));
    case Activation::kNone:
      break;
  }
  return z;
}

// Y in double from the given accumulators; also the pieces the error bound needs.
struct RefOut {
  std::vector<double> y, z, a, scale;
};
RefOut reference_epilogue(const std::vector<double>& acc, int64_t m_rows, int64_t n_cols,
                          const Epi& e) {
  RefOut r;
  const Tensor xs = e.x_scale.defined() ? e.x_scale.to_f32_cpu() : Tensor();
  const Tensor ws = e.w_scale.defined() ? e.w_scale.to_f32_cpu() : Tensor();
  const Tensor b = e.bias.defined() ? e.bias.to_f32_cpu() : Tensor();
  const Tensor res = e.residual.defined() ? e.residual.to_f32_cpu() : Tensor();
  for (int64_t m = 0; m < m_rows; ++m)
    for (int64_t n = 0; n < n_cols; ++n) {
      double s = e.alpha;
      if (xs.defined()) s *= xs.data<float>()[m];
      if (ws.defined()) s *= ws.data<float>()[n];
      double z = s * acc[m * n_cols + n];
      if (b.defined()) z += b.data<float>()[n];
      const double a = activate_ref(e.activation, z);
      double y = a;
      if (res.defined()) y += res.data<float>()[m * n_cols + n];
      r.y.push_back(y);
      r.z.push_back(z);
      r.a.push_back(a);
      r.scale.push_back(s);
    }
  return r;
}

// The exact result rounded once to y's dtype (for the bit-exact tests).
Tensor rounded(const std::vector<double>& y, const Shape& shape, DType dtype) {
  Tensor f = Tensor::empty(shape, DType::kF32);
  for (size_t i = 0; i < y.size(); ++i) f.data<float>()[i] = static_cast<float>(y[i]);
  return f.cast_cpu(dtype);
}

// Powers of two (exact scaling) in [2^-2, 2^1].
Tensor pow2_scales(int64_t n, std::mt19937_64& g) {
  Tensor t = Tensor::empty({n}, DType::kF32);
  std::uniform_int_distribution<int> e(-2, 1);
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = std::ldexp(1.0f, e(g));
  return t;
}

// ---- linear: bit-exact on small integers -------------------------------------------------------

TEST(Q8Linear, IntegerInputsAreBitExact) {
  auto g = test::rng(801);
  const Activation acts[] = {Activation::kNone, Activation::kRelu};
  struct Shape3 {
    int64_t m, n, k;
  };
  // M across 1, 2 and 4 vectors and several panel groups; N across row blocks; K across steps.
  const Shape3 shapes[] = {{1, 1, 4},   {3, 5, 12},   {17, 33, 260}, {40, 16, 8},
                           {70, 7, 520}, {300, 18, 36}, {2, 40, 1028}};
  int checked = 0;
  for (const Pair& p : kPairs)
    for (DType yd : kOutDTypes)
      for (const Shape3& s : shapes) {
        const int range_x = int_range(p.x), range_w = int_range(p.w);
        Tensor x = test::random_int({s.m, s.k}, p.x, g, -range_x, range_x);
        Tensor wd = random_24_int(s.n, s.k, p.w, g, -range_w, range_w);
        const Compressed24 w = compress(wd);
        Epi e;
        e.activation = acts[checked % 2];
        if (checked % 3 != 0) {
          e.alpha = checked % 3 == 1 ? 0.5f : 2.0f;
          e.x_scale = pow2_scales(s.m, g);
          e.w_scale = pow2_scales(s.n, g);
          e.bias = test::random_int({s.n}, yd, g, -8, 8);
          e.residual = test::random_int({s.m, s.n}, yd, g, -8, 8);
        }
        const std::vector<float> acc = reference_acc(x, wd);
        const RefOut ref = reference_epilogue({acc.begin(), acc.end()}, s.m, s.n, e);
        const Tensor want = rounded(ref.y, {s.m, s.n}, yd);
        Tensor y = Tensor::empty({s.m, s.n}, yd);
        test::poison(y);
        linear_out(x, w, e.bias_ptr(), y, e.options());
        ASSERT_TRUE(bit_equal(y, want)) << pair_name(p, yd) << " " << s.m << "x" << s.n << "x"
                                        << s.k;
        // linear and linear_dense return F16 (bias and residual then F16 too).
        if (yd == DType::kF16) {
          ASSERT_TRUE(bit_equal(linear(x, w, e.bias_ptr(), e.options()), want));
          ASSERT_TRUE(bit_equal(linear_dense(x, wd, e.bias_ptr(), e.options()), want))
              << "dense " << pair_name(p, yd);
        }
        ++checked;
      }
  EXPECT_EQ(checked, 5 * 3 * 7);
}

// The largest int8 sums: every product -128 * -128 and +-127 * -128, far above 2^24, so the
// int32 sum is exact but its conversion to f32 rounds (once, to nearest even).
TEST(Q8Linear, Int8ExtremeSumsAreExactInt32) {
  const int64_t k = 4096;
  Tensor x = Tensor::empty({2, k}, DType::kI8);
  Tensor wd = Tensor::zeros({3, k}, DType::kI8);
  for (int64_t i = 0; i < k; ++i) {
    x.data<int8_t>()[i] = -128;
    x.data<int8_t>()[k + i] = static_cast<int8_t>(i % 2 ? 127 : -128);
    if (i % 4 < 2) {
      wd.data<int8_t>()[i] = -128;
      wd.data<int8_t>()[k + i] = 127;
      wd.data<int8_t>()[2 * k + i] = static_cast<int8_t>(i % 3 == 0 ? -128 : 1);
    }
  }
  const std::vector<float> acc = reference_acc(x, wd);
  EXPECT_EQ(acc[0], 2048.0f * 16384.0f);  // 2^25: above f32's exact integers
  Tensor y = Tensor::empty({2, 3}, DType::kF32);
  linear_out(x, compress(wd), nullptr, y);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], acc[i]) << i;
  // A sum whose f32 conversion must round: 16777217 = 2^24 + 1 -> 2^24 (ties to even).
  Tensor x1 = Tensor::zeros({1, 2052}, DType::kI8), w1 = Tensor::zeros({1, 2052}, DType::kI8);
  for (int64_t i = 0; i < 1024; ++i) {
    x1.data<int8_t>()[4 * (i / 2) + i % 2] = -128;
    w1.data<int8_t>()[4 * (i / 2) + i % 2] = -128;
  }
  x1.data<int8_t>()[2048] = 1;
  w1.data<int8_t>()[2048] = 1;
  Tensor y1 = Tensor::empty({1, 1}, DType::kF32);
  linear_out(x1, compress(w1), nullptr, y1);
  EXPECT_EQ(y1.data<float>()[0], 16777216.0f);
}

// fp8: the kernel's sum is the plain left-to-right f32 sum of exact products, so random inputs
// of any magnitude match the naive loop bit for bit, whatever M (and so the panel width) is.
TEST(Q8Linear, Fp8SumIsTheLeftToRightF32Sum) {
  auto g = test::rng(802);
  for (const Pair& p : kPairs) {
    if (p.x == DType::kI8) continue;
    for (int64_t m : {1, 5, 20, 33, 130}) {
      const int64_t n = 23, k = 1000;
      Tensor x = test::random_normal({m, k}, DType::kF32, g, 30.0f).cast_cpu(p.x);
      Tensor wd = random_24_normal(n, k, p.w, g, 0.05f);
      Tensor y = Tensor::empty({m, n}, DType::kF32);
      test::poison(y);
      linear_out(x, compress(wd), nullptr, y);
      const std::vector<float> acc = reference_acc(x, wd);
      Tensor want = Tensor::empty({m, n}, DType::kF32);
      std::memcpy(want.raw_data(), acc.data(), acc.size() * sizeof(float));
      ASSERT_TRUE(bit_equal(y, want)) << pair_name(p, DType::kF32) << " M=" << m;
      // One row alone gives the same bits as inside the batch.
      Tensor row = linear(x.slice_rows(m - 1, m), compress(wd), nullptr).to_f32_cpu();
      Tensor batch_row = y.slice_rows(m - 1, m).cast_cpu(DType::kF16).to_f32_cpu();
      ASSERT_TRUE(bit_equal(row, batch_row)) << pair_name(p, DType::kF32) << " M=" << m;
      // The dense product adds the same nonzero terms in the same order.
      ASSERT_TRUE(bit_equal(linear_dense(x, wd, nullptr).to_f32_cpu(),
                            want.cast_cpu(DType::kF16).to_f32_cpu()));
    }
  }
}

// ---- linear: random inputs against double ------------------------------------------------------

// Per-element bound of |y - y_ref| (y_ref exact in double from the same inputs), from the
// kernel's rounding steps, with u = 2^-24 (f32) and u_y the output's unit roundoff:
//  * the f32 sum of n products p_k (fp8; int8 is exact): |error| <= (n - 1) u sum |p_k|, plus
//    the int32 -> f32 conversion (int8) u |acc|;
//  * three scale products and the bias add: 4 u of the magnitudes involved;
//  * the activation: a slope of at most 1.13 (GELU; SiLU 1.1, ReLU 1) carries the error above,
//    and the vectorized formulas add at most 16 u |act| + 2^-22 absolute (linear_cpu.cc);
//  * the residual add: u |y|; the final rounding: u_y |y| (+ half the smallest subnormal).
double error_bound(double scale, double abs_products, int64_t n_terms, double acc, double z,
                   double a, double y, DType yd) {
  const double u = std::ldexp(1.0, -24);
  const double uy = yd == DType::kF32 ? u : yd == DType::kF16 ? std::ldexp(1.0, -11)
                                                             : std::ldexp(1.0, -8);
  const double tiny = yd == DType::kF16 ? std::ldexp(1.0, -25) : std::ldexp(1.0, -149);
  // (The scaled sum is at most |z| + |bias| <= 2 |scale acc| + |z| in magnitude.)
  const double pre =
      std::fabs(scale) * (double(n_terms) * u * abs_products + 9 * u * std::fabs(acc)) +
      4 * u * std::fabs(z);
  return 1.13 * pre + 16 * u * std::fabs(a) + std::ldexp(1.0, -22) + u * std::fabs(y) +
         uy * std::fabs(y) + tiny;
}

TEST(Q8Linear, RandomAgainstDoubleReference) {
  auto g = test::rng(803);
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf,
                             Activation::kGeluTanh, Activation::kSilu};
  int cases = 0;
  for (const Pair& p : kPairs)
    for (DType yd : kOutDTypes)
      for (Activation act : acts) {
        const int64_t m = 1 + static_cast<int64_t>(g() % 80), n = 1 + static_cast<int64_t>(g() % 40);
        const int64_t k = 4 * (1 + static_cast<int64_t>(g() % 150));
        const float sx = p.x == DType::kI8 ? 40.0f : 2.0f, sw = p.w == DType::kI8 ? 40.0f : 0.1f;
        Tensor x = test::random_normal({m, k}, DType::kF32, g, sx).cast_cpu(p.x);
        Tensor wd = random_24_normal(n, k, p.w, g, sw);
        Epi e;
        e.activation = act;
        e.alpha = p.x == DType::kI8 ? 1e-4f : 0.7f;
        Tensor xs = Tensor::empty({m}, DType::kF32), ws = Tensor::empty({n}, DType::kF32);
        std::uniform_real_distribution<float> unit(0.5f, 2.0f);
        for (int64_t i = 0; i < m; ++i) xs.data<float>()[i] = unit(g);
        for (int64_t i = 0; i < n; ++i) ws.data<float>()[i] = unit(g);
        if (cases % 4 != 1) e.x_scale = xs;
        if (cases % 4 != 2) e.w_scale = ws;
        if (cases % 3 != 0) e.bias = test::random_normal({n}, yd, g, 0.5f);
        if (cases % 2 == 0) e.residual = test::random_normal({m, n}, yd, g, 1.0f);
        ++cases;

        // Reference: exact products, summed in double (exact for these sizes up to 2^-53).
        const Tensor xf = x.to_f32_cpu(), wf = wd.to_f32_cpu();
        std::vector<double> acc(static_cast<size_t>(m * n)), abs_sum(static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = 0, a = 0;
            for (int64_t kk = 0; kk < k; ++kk) {
              const double prod =
                  double(xf.data<float>()[i * k + kk]) * wf.data<float>()[j * k + kk];
              sum += prod;
              a += std::fabs(prod);
            }
            acc[i * n + j] = sum;
            abs_sum[i * n + j] = a;
          }
        const RefOut ref = reference_epilogue(acc, m, n, e);
        const Compressed24 w = compress(wd);
        Tensor y = Tensor::empty({m, n}, yd);
        test::poison(y);
        linear_out(x, w, e.bias_ptr(), y, e.options());
        const Tensor got = y.to_f32_cpu();
        // linear / linear_dense return F16: checked in the F16 cases (bias, residual are F16).
        const Tensor got_dense =
            yd == DType::kF16 ? linear_dense(x, wd, e.bias_ptr(), e.options()).to_f32_cpu() : got;
        if (yd == DType::kF16) {
          ASSERT_TRUE(bit_equal(linear(x, w, e.bias_ptr(), e.options()), y));
        }
        double worst = 0;
        for (int64_t i = 0; i < m * n; ++i) {
          const double bound = error_bound(ref.scale[i], abs_sum[i], k / 2, acc[i], ref.z[i],
                                           ref.a[i], ref.y[i], yd);
          const double err = std::fabs(double(got.data<float>()[i]) - ref.y[i]);
          worst = std::max(worst, err / bound);
          ASSERT_LE(err, bound) << pair_name(p, yd) << " act " << int(act) << " element " << i
                                << " got " << got.data<float>()[i] << " want " << ref.y[i];
          // The dense sum adds K terms (the zeros change nothing but the count in the bound).
          const double bound_dense = error_bound(ref.scale[i], abs_sum[i], k, acc[i], ref.z[i],
                                                 ref.a[i], ref.y[i], yd);
          ASSERT_LE(std::fabs(double(got_dense.data<float>()[i]) - ref.y[i]), bound_dense)
              << "dense " << pair_name(p, yd);
        }
        EXPECT_LT(worst, 1.0);
      }
  EXPECT_EQ(cases, 5 * 3 * 5);
}

// ---- linear: layouts ---------------------------------------------------------------------------

TEST(Q8Linear, LinearReturnsF16AndLeadingDimsCollapse) {
  auto g = test::rng(804);
  for (const Pair& p : kPairs) {
    Tensor x = test::random_int({2, 3, 16}, p.x, g, -4, 4);
    Tensor wd = random_24_int(5, 16, p.w, g, -4, 4);
    Tensor bias = test::random_int({5}, DType::kF16, g);
    const Tensor y = linear(x, compress(wd), &bias);
    ASSERT_EQ(y.dtype(), DType::kF16);
    ASSERT_EQ(y.shape(), Shape({2, 3, 5}));
    Tensor y2 = Tensor::empty({6, 5}, DType::kF16);
    linear_out(x.view({6, 16}), compress(wd), &bias, y2);
    EXPECT_TRUE(bit_equal(y.view({6, 5}), y2)) << dtype_name(p.x);
    const Tensor yd = linear_dense(x, wd, &bias);
    EXPECT_EQ(yd.dtype(), DType::kF16);
    EXPECT_TRUE(bit_equal(yd, y)) << dtype_name(p.x);
  }
}

TEST(Q8Linear, StridedRowsAndInPlaceResidual) {
  auto g = test::rng(805);
  for (const Pair& p : kPairs) {
    const int64_t m = 9, n = 20, k = 24;
    // x: rows of a wider matrix; y: rows of a wider output with untouched columns.
    Tensor wide = test::random_int({m, k + 8}, p.x, g, -4, 4);
    Tensor x = Tensor::borrow(wide.raw_data(), {m, k}, p.x, Device::cpu(), {k + 8, 1});
    Tensor wd = random_24_int(n, k, p.w, g, -4, 4);
    const Compressed24 w = compress(wd);
    Tensor ybuf = test::random_int({m, n + 3}, DType::kBF16, g);
    Tensor y = Tensor::borrow(ybuf.raw_data(), {m, n}, DType::kBF16, Device::cpu(), {n + 3, 1});
    const Tensor before = ybuf.clone();
    const Tensor residual = y.contiguous();  // a copy of y's current values

    LinearOptions o;
    o.residual = &y;  // in place: y += product
    o.activation = Activation::kRelu;
    linear_out(x, w, nullptr, y, o);
    LinearOptions o2;
    o2.residual = &residual;
    o2.activation = Activation::kRelu;
    Tensor want = Tensor::empty({m, n}, DType::kBF16);
    linear_out(x.contiguous(), w, nullptr, want, o2);
    EXPECT_TRUE(bit_equal(y.contiguous(), want)) << dtype_name(p.x);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = n; c < n + 3; ++c)
        ASSERT_EQ(ybuf.data<bfloat16>()[r * (n + 3) + c].bits,
                  before.data<bfloat16>()[r * (n + 3) + c].bits)
            << "wrote outside y";
  }
}

TEST(Q8Linear, EmptyShapes) {
  auto g = test::rng(806);
  for (const Pair& p : kPairs) {
    // K = 0: every sum is empty; the epilogue still applies (bias, residual).
    Tensor x = Tensor::empty({3, 0}, p.x);
    Compressed24 w = compress(Tensor::empty({4, 0}, p.w));
    Tensor bias = test::random_int({4}, DType::kF32, g);
    Tensor res = test::random_int({3, 4}, DType::kF32, g);
    LinearOptions o;
    o.residual = &res;
    o.alpha = 3.0f;
    Tensor y = Tensor::empty({3, 4}, DType::kF32);
    test::poison(y);
    linear_out(x, w, &bias, y, o);
    for (int64_t i = 0; i < 12; ++i)
      EXPECT_EQ(y.data<float>()[i], bias.data<float>()[i % 4] + res.data<float>()[i]);
    EXPECT_EQ(linear(Tensor::empty({0, 8}, p.x), compress(Tensor::zeros({4, 8}, p.w))).shape(),
              Shape({0, 4}));
    EXPECT_EQ(linear(Tensor::empty({2, 8}, p.x), compress(Tensor::zeros({0, 8}, p.w))).shape(),
              Shape({2, 0}));
  }
}

// ---- linear: every bad input -------------------------------------------------------------------

TEST(Q8Linear, BadInputs) {
  auto g = test::rng(807);
  Tensor xi = test::random_int({3, 8}, DType::kI8, g);
  Tensor x4 = test::random_int({3, 8}, DType::kF8E4M3, g);
  Tensor xh = test::random_int({3, 8}, DType::kF16, g);
  const Compressed24 wi = compress(random_24_int(2, 8, DType::kI8, g, -3, 3));
  const Compressed24 w5 = compress(random_24_int(2, 8, DType::kF8E5M2, g, -3, 3));
  const Compressed24 wh = compress(random_24_int(2, 8, DType::kF16, g, -3, 3));
  Tensor y = Tensor::empty({3, 2}, DType::kF16);

  // Mixed int8 / fp8, 8-bit with 16-bit.
  S24_EXPECT_ERROR(linear(xi, w5), kDTypeMismatch, "int8 x int8");
  S24_EXPECT_ERROR(linear(x4, wi), kDTypeMismatch, "F8_E4M3");
  S24_EXPECT_ERROR(linear(xh, wi), kDTypeMismatch, "I8");
  S24_EXPECT_ERROR(linear(x4, wh), kDTypeMismatch, "F16");
  S24_EXPECT_ERROR(linear_dense(xi, decompress(w5)), kDTypeMismatch, "int8 x int8");
  S24_EXPECT_ERROR(linear_dense(xh, decompress(wi)), kDTypeMismatch, "I8");
  // The output: F16, BF16 or F32 only.
  for (DType bad : {DType::kI8, DType::kF8E4M3, DType::kI32, DType::kU8}) {
    Tensor yb = Tensor::empty({3, 2}, bad);
    S24_EXPECT_ERROR(linear_out(xi, wi, nullptr, yb), kDTypeMismatch, "F16, BF16 or F32");
  }
  // Bias and residual have y's dtype.
  Tensor bias_i8 = Tensor::zeros({2}, DType::kI8), bias_f32 = Tensor::zeros({2}, DType::kF32);
  S24_EXPECT_ERROR(linear(xi, wi, &bias_i8), kDTypeMismatch, "bias");
  S24_EXPECT_ERROR(linear(xi, wi, &bias_f32), kDTypeMismatch, "bias");  // linear() gives F16
  S24_EXPECT_ERROR(linear_out(x4, w5, &bias_f32, y), kDTypeMismatch, "bias");
  Tensor bias_short = Tensor::zeros({3}, DType::kF16);
  S24_EXPECT_ERROR(linear(xi, wi, &bias_short), kShapeMismatch, "bias");
  Tensor res_f32 = Tensor::zeros({3, 2}, DType::kF32), res_shape = Tensor::zeros({2, 3}, DType::kF16);
  LinearOptions o;
  o.residual = &res_f32;
  S24_EXPECT_ERROR(linear_out(xi, wi, nullptr, y, o), kDTypeMismatch, "residual");
  o.residual = &res_shape;
  S24_EXPECT_ERROR(linear_out(xi, wi, nullptr, y, o), kShapeMismatch, "residual");
  // Scales: F32, [M] / [N], contiguous; alpha finite.
  Tensor xs_long = Tensor::zeros({4}, DType::kF32), xs_f16 = Tensor::zeros({3}, DType::kF16);
  Tensor ws_wrong = Tensor::zeros({3}, DType::kF32), ws_2d = Tensor::zeros({1, 2}, DType::kF32);
  Tensor strided_buf = Tensor::zeros({6}, DType::kF32);
  Tensor xs_strided = Tensor::borrow(strided_buf.raw_data(), {3}, DType::kF32, Device::cpu(), {2});
  LinearOptions s;
  s.x_scale = &xs_long;
  S24_EXPECT_ERROR(linear(xi, wi, nullptr, s), kShapeMismatch, "x_scale");
  s.x_scale = &xs_f16;
  S24_EXPECT_ERROR(linear(x4, w5, nullptr, s), kDTypeMismatch, "x_scale");
  s.x_scale = &xs_strided;
  S24_EXPECT_ERROR(linear(xi, wi, nullptr, s), kInvalidArgument, "contiguous");
  s.x_scale = nullptr;
  s.w_scale = &ws_wrong;
  S24_EXPECT_ERROR(linear_dense(xi, decompress(wi), nullptr, s), kShapeMismatch, "w_scale");
  s.w_scale = &ws_2d;
  S24_EXPECT_ERROR(linear(xi, wi, nullptr, s), kShapeMismatch, "w_scale");
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    LinearOptions a;
    a.alpha = bad;
    S24_EXPECT_ERROR(linear(xi, wi, nullptr, a), kInvalidArgument, "alpha");
  }
  // int8 sums must fit int32: at most 131071 products per output.
  {
    const int64_t k = 262144;  // 131072 kept products
    Tensor xk = Tensor::zeros({1, k}, DType::kI8);
    S24_EXPECT_ERROR(linear(xk, compress(Tensor::zeros({1, k}, DType::kI8))), kInvalidArgument,
                     "131071");
    EXPECT_NO_THROW(linear(Tensor::zeros({1, k - 4}, DType::kI8),
                           compress(Tensor::zeros({1, k - 4}, DType::kI8))));
    S24_EXPECT_ERROR(linear_dense(Tensor::zeros({1, 131072}, DType::kI8),
                                  Tensor::zeros({1, 131072}, DType::kI8)),
                     kInvalidArgument, "131071");
    // fp8 sums are f32: no such limit.
    EXPECT_NO_THROW(linear(Tensor::zeros({1, k}, DType::kF8E4M3),
                           compress(Tensor::zeros({1, k}, DType::kF8E4M3))));
  }
  // CUDA tensors on a machine without a CUDA device (CI): a clear kUnsupported before any device
  // memory is touched (borrowed CPU memory labelled cuda:0, K = 32 so that the 8-bit CUDA path's
  // alignment rule holds). With a device the 8-bit CUDA products run; their GPU suites
  // (tests/gpu/test_gpu_linear_sm90_q8.cu, test_gpu_linear_dense_q8.cu) test them and their
  // refusals, and this fake memory must not reach a kernel, so the block needs no device.
  if (!cuda_available()) {
    std::vector<uint8_t> xm(3 * 32), vm(8 * 16), mm(8 * 4), ym(3 * 8 * 2), wdm(8 * 32);
    const Device cuda = Device::cuda(0);
    Tensor xc = Tensor::borrow(xm.data(), {3, 32}, DType::kI8, cuda);
    Compressed24 wc;
    wc.rows = 8;
    wc.cols = 32;
    wc.values = Tensor::borrow(vm.data(), {8, 16}, DType::kI8, cuda);
    wc.meta = Tensor::borrow(mm.data(), {8, 4}, DType::kU8, cuda);
    S24_EXPECT_ERROR(linear(xc, wc), kUnsupported, "CUDA");
    Tensor yc = Tensor::borrow(ym.data(), {3, 8}, DType::kF16, cuda);
    S24_EXPECT_ERROR(linear_out(xc, wc, nullptr, yc), kUnsupported, "CUDA");
    Tensor wdc = Tensor::borrow(wdm.data(), {8, 32}, DType::kI8, cuda);
    S24_EXPECT_ERROR(linear_dense(xc, wdc), kUnsupported, "CUDA");
    // ... and mixed devices stay an argument error.
    S24_EXPECT_ERROR(linear(Tensor::zeros({3, 32}, DType::kI8), wc), kInvalidArgument,
                     "one device");
  }
}

// ---- the format on 8-bit values ----------------------------------------------------------------

Tensor bytes_2d(const std::vector<uint8_t>& b, int64_t rows, int64_t cols, DType dtype) {
  Tensor t = Tensor::empty({rows, cols}, dtype);
  std::memcpy(t.raw_data(), b.data(), b.size());
  return t;
}

TEST(Q8Format, NegativeZeroIsZeroAndNaNIsNonzero) {
  for (DType d : {DType::kF8E4M3, DType::kF8E5M2}) {
    // -0 (0x80) twice beside two nonzeros: 2:4; the nonzeros are kept.
    const uint8_t one = d == DType::kF8E4M3 ? 0x38 : 0x3C;  // 1.0
    Tensor t = bytes_2d({0x80, one, 0x80, one}, 1, 4, d);
    EXPECT_TRUE(is_24(t));
    Compressed24 c = compress(t);
    EXPECT_EQ(c.meta.data<uint8_t>()[0], 0xD);
    // A lone nonzero is completed with the lowest zero position, -0 bits kept.
    Tensor lone = bytes_2d({0x80, 0, one, 0}, 1, 4, d);
    c = compress(lone);
    EXPECT_EQ(c.meta.data<uint8_t>()[0], 0x8);
    EXPECT_EQ(static_cast<const uint8_t*>(c.values.raw_data())[0], 0x80);
    EXPECT_TRUE(bit_equal(decompress(c), lone));
    // NaN counts as nonzero: three "nonzeros" are refused.
    const uint8_t nan = 0x7F;  // NaN in both (e4m3 S.1111.111; e5m2 exponent 31, mantissa 3)
    Tensor with_nan = bytes_2d({nan, one, one, 0}, 1, 4, d);
    EXPECT_FALSE(is_24(with_nan));
    S24_EXPECT_ERROR(compress(with_nan), kNotTwoFour, "3 nonzeros");
    // Pruning refuses NaN (kNonFinite, naming it) ...
    S24_EXPECT_ERROR(prune_magnitude(with_nan), kNonFinite, "column 0");
    S24_EXPECT_ERROR(prune_compress(with_nan, PruneOptions{}), kNonFinite, "NaN");
  }
  // ... while e5m2's Inf is a large magnitude (e4m3 has no Inf: 0x7E is 448).
  Tensor inf = bytes_2d({0x7C, 0x3C, 0xFC, 0x40}, 1, 4, DType::kF8E5M2);  // Inf 1 -Inf 2
  const Tensor pruned = prune_magnitude(inf);
  EXPECT_TRUE(bit_equal(pruned, bytes_2d({0x7C, 0, 0xFC, 0}, 1, 4, DType::kF8E5M2)));
  EXPECT_EQ(e4m3_to_float(0x7E), 448.0f);
}

// Magnitude pruning on 8-bit values compares |decoded value| (int8: |-128| = 128 is the
// largest), ties to the lower index: checked against that reading on random bytes.
TEST(Q8Format, MagnitudePruneComparesDecodedMagnitudes) {
  auto g = test::rng(808);
  for (DType d : k8Bit) {
    const int64_t rows = 37, cols = 64;
    std::vector<uint8_t> b(static_cast<size_t>(rows * cols));
    for (auto& v : b) {
      do v = static_cast<uint8_t>(g());
      while (d != DType::kI8 && std::isnan(d == DType::kF8E4M3 ? e4m3_to_float(v) : e5m2_to_float(v)));
      if (g() % 4 == 0) v = b[g() % b.size()];  // plenty of ties
    }
    const Tensor w = bytes_2d(b, rows, cols, d);
    const Tensor wf = w.to_f32_cpu();
    std::vector<uint8_t> want(b.size(), 0);
    for (int64_t gi = 0; gi < rows * cols / 4; ++gi) {
      const float* q = wf.data<float>() + 4 * gi;
      for (int i = 0; i < 4; ++i) {
        int beaten_by = 0;
        for (int j = 0; j < 4; ++j)
          beaten_by += std::fabs(q[j]) > std::fabs(q[i]) ||
                       (std::fabs(q[j]) == std::fabs(q[i]) && j < i);
        if (beaten_by < 2) want[4 * gi + i] = b[4 * gi + i];
      }
    }
    const Tensor pruned = prune_magnitude(w);
    ASSERT_TRUE(bit_equal(pruned, bytes_2d(want, rows, cols, d))) << dtype_name(d);
    // prune_compress is compress(prune) byte for byte.
    PruneOptions po;
    const Compressed24 c = prune_compress(w, po);
    const Compressed24 c2 = compress(pruned);
    EXPECT_TRUE(bit_equal(c.values, c2.values) && bit_equal(c.meta, c2.meta)) << dtype_name(d);
  }
}

TEST(Q8Format, TransposeValidateAndTransposableMasks) {
  auto g = test::rng(809);
  for (DType d : k8Bit) {
    Tensor w = test::random_normal({16, 24}, DType::kF32, g, 4.0f).cast_cpu(d);
    const Tensor pruned = apply_mask(w, mask_transposable(w));
    const Compressed24 c = compress(pruned);
    validate(c);
    const Compressed24 ct = transpose(c);
    EXPECT_EQ(ct.dtype(), d);
    // Small normal draws round to -0 in fp8, and a kept -0 outside the completion positions
    // comes back as +0 (docs/FORMAT.md, zero).
    EXPECT_TRUE(test::bit_equal_up_to_zero_sign(decompress(ct), pruned.t().contiguous()))
        << dtype_name(d);
    EXPECT_TRUE(test::bit_equal_up_to_zero_sign(decompress(transpose(ct)), pruned))
        << dtype_name(d);
    Compressed24 bad = c;
    bad.meta = c.meta.clone();
    bad.meta.data<uint8_t>()[5] = 0x3F;  // 0xF / 0x3: illegal
    S24_EXPECT_ERROR(validate(bad), kInvalidArgument, "illegal metadata nibble");
  }
}

// ---- files ---------------------------------------------------------------------------------------

namespace fs = std::filesystem;

std::string temp_file(const char* name) {
  return (fs::temp_directory_path() / (std::string("s24_q8_") + std::to_string(::getpid()) + "_" + name)).string();
}
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
TensorFile parse(const std::string& bytes) { return parse_safetensors(bytes.data(), bytes.size()); }

TEST(Q8Files, CompressedRoundTripAndDTypeNames) {
  auto g = test::rng(810);
  TensorFile in;
  for (DType d : k8Bit) in.sparse[std::string("w.") + dtype_name(d)] = compress(random_24_int(6, 20, d, g, -4, 4));
  in.tensors["scale"] = test::random_normal({6}, DType::kF32, g);
  const std::string path = temp_file("rt.safetensors");
  save_safetensors(path, in);
  const std::string bytes = read_all(path);
  std::remove(path.c_str());
  for (const char* name : {"\"dtype\":\"F8_E4M3\"", "\"dtype\":\"F8_E5M2\"", "\"dtype\":\"I8\"",
                           "\\\"dtype\\\":\\\"F8_E4M3\\\"", "\\\"dtype\\\":\\\"I8\\\""})
    EXPECT_NE(bytes.find(name), std::string::npos) << name;
  const TensorFile out = parse(bytes);
  ASSERT_EQ(out.sparse.size(), 3u);
  for (const auto& [name, c] : in.sparse) {
    const Compressed24& back = out.sparse.at(name);
    EXPECT_EQ(back.dtype(), c.dtype());
    EXPECT_TRUE(bit_equal(back.values, c.values) && bit_equal(back.meta, c.meta)) << name;
  }
}

// One 8-bit compressed tensor's file with one edit: every edit must be refused (kCorruptFile).
TEST(Q8Files, CorruptCompressedFilesAreRefused) {
  auto g = test::rng(811);
  for (DType d : k8Bit) {
    TensorFile in;
    in.sparse["W"] = compress(random_24_int(4, 16, d, g, -4, 4));
    const std::string path = temp_file("bad.safetensors");
    save_safetensors(path, in);
    const std::string good = read_all(path);
    std::remove(path.c_str());
    ASSERT_NO_THROW(parse(good));
    const std::string name = dtype_name(d);
    const std::string other = d == DType::kI8 ? "U8" : d == DType::kF8E4M3 ? "F8_E5M2" : "F8_E4M3";
    auto replace = [&](const std::string& from, const std::string& to) {
      std::string b = good;
      const size_t at = b.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) b.replace(at, from.size(), to);
      return b;
    };
    uint64_t header = 0;
    std::memcpy(&header, good.data(), 8);
    // Same-length edits keep the header's byte count.
    if (other.size() == name.size()) {
      // The values companion's dtype disagrees with the listing.
      S24_EXPECT_ERROR(parse(replace("\"dtype\":\"" + name + "\"", "\"dtype\":\"" + other + "\"")),
                       kCorruptFile, "W");
      // The listing names another dtype than the values have.
      S24_EXPECT_ERROR(
          parse(replace("\\\"dtype\\\":\\\"" + name + "\\\"", "\\\"dtype\\\":\\\"" + other + "\\\"")),
          kCorruptFile, "W");
    }
    // The listing names a dtype that cannot hold 2:4 values.
    if (d == DType::kI8)
      S24_EXPECT_ERROR(parse(replace("\\\"dtype\\\":\\\"I8\\\"", "\\\"dtype\\\":\\\"U8\\\"")),
                       kCorruptFile, "W");
    // An illegal nibble (0x3) in the metadata (U8, after the 32 value bytes: largest element
    // size first, then by name puts W.s24_meta after W.s24_values... both 1-byte, so by name:
    // "W.s24_meta" < "W.s24_values" and the metadata comes first).
    std::string b = good;
    b[8 + header + 1] = static_cast<char>(0x33);
    S24_EXPECT_ERROR(parse(b), kCorruptFile, "illegal metadata nibble 0x3");
    // A nonzero unused high nibble cannot occur here (16 columns = 4 groups, 2 bytes a row);
    // a truncated file can.
    S24_EXPECT_ERROR(parse(good.substr(0, good.size() - 1)), kCorruptFile, "");
  }
}

}  // namespace
}  // namespace s24
