// GPU tests of the epilogue activations as the GPU kernels evaluate them (activate_gpu,
// ops/activation.h), against the reference definitions (activate, evaluated on the host) and,
// for GELU (erf), against a double-precision x Phi(x):
//  * GELU (erf), gelu_erf_gpu: within (1 + 0.2 x^2) 1e-6 relative of the double-precision value
//    for every |GELU(x)| above 1e-30 (f32 rounding of x^2 / 2 alone costs ~0.1 x^2 1e-6 in the
//    far negative tail), on a dense grid over [-14, 14] plus fresh random points each run (the
//    seed is printed); 0, tiny, huge, +-Inf and NaN as the reference;
//  * None, ReLU, GELU (tanh), SiLU: as the host reference within (1 + |e|) 1e-6 relative, e the
//    argument of their exp (device and host expf differ by an ulp or two, and the device
//    contracts multiply-adds), NaN and Inf as the reference;
//  * the 8-wide epilogue path itself is covered by the GEMM suites (test_gpu_linear*.cu).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/gpu_test.h"
#include "common/test_util.h"
#include "ops/activation.h"

namespace s24 {
namespace {

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

__global__ void activate_kernel(const float* x, float* y, int n, Activation a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = detail::activate_gpu(a, x[i]);
}

// activate_gpu(a, x) for every x, on the device; y starts poisoned.
void run_on_gpu(const std::vector<float>& x, Activation a, std::vector<float>& y) {
  const int n = static_cast<int>(x.size());
  float *dx = nullptr, *dy = nullptr;
  CUDA_OK(cudaMalloc(&dx, n * sizeof(float)));
  CUDA_OK(cudaMalloc(&dy, n * sizeof(float)));
  CUDA_OK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(dy, 0xFF, n * sizeof(float)));  // NaN
  activate_kernel<<<(n + 255) / 256, 256>>>(dx, dy, n, a);
  CUDA_OK(cudaGetLastError());
  y.assign(n, 0.0f);
  CUDA_OK(cudaMemcpy(y.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_OK(cudaFree(dx));
  CUDA_OK(cudaFree(dy));
}

// A dense grid over [-limit, limit] and `random` fresh uniform points in it.
std::vector<float> inputs(float limit, int grid, int random) {
  std::vector<float> x;
  for (int i = 0; i <= grid; ++i) x.push_back(-limit + 2.0f * limit * i / grid);
  std::uniform_real_distribution<float> u(-limit, limit);
  std::mt19937_64 gen = test::rng();
  for (int i = 0; i < random; ++i) x.push_back(u(gen));
  return x;
}

TEST(GpuActivation, GeluErfMatchesDoublePrecision) {
  S24_REQUIRE_GPU();
  const std::vector<float> x = inputs(14.0f, 200000, 200000);
  std::vector<float> y;
  ASSERT_NO_FATAL_FAILURE(run_on_gpu(x, Activation::kGeluErf, y));
  double worst = 0.0;  // relative error over its bound
  float worst_x = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const double xd = x[i];
    const double exact = 0.5 * xd * std::erfc(-xd / std::sqrt(2.0));
    if (std::fabs(exact) < 1e-30) {  // far tail: near zero, no relative bound
      ASSERT_LE(std::fabs(y[i] - exact), 1e-30) << "x = " << x[i];
      continue;
    }
    const double rel = std::fabs(y[i] - exact) / std::fabs(exact) / ((1.0 + 0.2 * xd * xd) * 1e-6);
    if (rel > worst) {
      worst = rel;
      worst_x = x[i];
    }
  }
  EXPECT_LT(worst, 1.0) << "worst at x = " << worst_x;
  RecordProperty("error_over_bound", std::to_string(worst));
}

TEST(GpuActivation, SpecialValuesAsTheReference) {
  S24_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e-30f, -1e-30f, 88.0f,
                                -88.0f};
  for (Activation a : {Activation::kRelu, Activation::kGeluErf, Activation::kGeluTanh,
                       Activation::kSilu}) {
    std::vector<float> y;
    ASSERT_NO_FATAL_FAILURE(run_on_gpu(x, a, y));
    for (size_t i = 0; i < x.size(); ++i) {
      const float ref = detail::activate(a, x[i]);
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(y[i])) << "activation " << static_cast<int>(a) << " x = " << x[i];
      } else if (std::isinf(ref)) {
        EXPECT_EQ(y[i], ref) << "activation " << static_cast<int>(a) << " x = " << x[i];
      } else {
        EXPECT_NEAR(y[i], ref, 1e-6f * std::fabs(ref) + 1e-37f)
            << "activation " << static_cast<int>(a) << " x = " << x[i];
      }
    }
  }
}

TEST(GpuActivation, OthersMatchTheHostReference) {
  S24_REQUIRE_GPU();
  const std::vector<float> x = inputs(30.0f, 100000, 100000);
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kGeluTanh,
                       Activation::kSilu}) {
    std::vector<float> y;
    ASSERT_NO_FATAL_FAILURE(run_on_gpu(x, a, y));
    for (size_t i = 0; i < x.size(); ++i) {
      const float v = x[i];
      const float ref = detail::activate(a, v);
      float exp_arg = 0.0f;  // the magnitude of the argument of the activation's exp
      if (a == Activation::kSilu) exp_arg = std::fabs(v);
      if (a == Activation::kGeluTanh) exp_arg = 1.6f * std::fabs(v + 0.044715f * v * v * v);
      ASSERT_NEAR(y[i], ref, (1.0f + exp_arg) * 1e-6f * std::fabs(ref) + 1e-37f)
          << "activation " << static_cast<int>(a) << " x = " << v;
    }
  }
}

}  // namespace
}  // namespace s24
