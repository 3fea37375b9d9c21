// Standalone GPU check of gelu_erf_gpu (old) and the new candidates, as tests/gpu/test_gpu_activation.cu
// measures: worst |y - exact| / |exact| / ((1 + 0.2 x^2) 1e-6) over the test's grid, random points and every
// float near a few points; |y - exact| <= 1e-30 where |exact| < 1e-30; special values.
// Build: nvcc -arch=sm_90a -O3 -std=c++17 -I<repo>/src -I<repo>/include -I/tmp/gelu gpu_check.cu -o gpu_check
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>
#include "ops/activation.h"
#include "gelu_new.cuh"
using namespace s24::detail;
template <int V> __global__ void kern(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = V == 0 ? gelu_erf_gpu(x[i]) : V == 6 ? gelu_erf_gpu_new6(x[i]) : gelu_erf_gpu_new7(x[i]);
}
template <int V> std::vector<float> run(const std::vector<float>& x) {
  int n = (int)x.size(); float *dx, *dy; cudaMalloc(&dx, n * 4); cudaMalloc(&dy, n * 4);
  cudaMemcpy(dx, x.data(), n * 4, cudaMemcpyHostToDevice);
  kern<V><<<(n + 255) / 256, 256>>>(dx, dy, n);
  std::vector<float> y(n); cudaMemcpy(y.data(), dy, n * 4, cudaMemcpyDeviceToHost);
  cudaFree(dx); cudaFree(dy); return y;
}
template <int V> void check(const char* name, const std::vector<float>& x) {
  std::vector<float> y = run<V>(x);
  double worst = 0; float wx = 0; long absfail = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double xd = x[i], ex = 0.5 * xd * std::erfc(-xd / std::sqrt(2.0));
    if (std::fabs(ex) < 1e-30) { if (!(std::fabs(y[i] - ex) <= 1e-30)) ++absfail; continue; }
    double r = std::fabs(y[i] - ex) / std::fabs(ex) / ((1 + 0.2 * xd * xd) * 1e-6);
    if (!(r <= worst)) { worst = r; wx = x[i]; }
  }
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> s = {0.0f, -0.0f, 1e-38f, -1e-38f, 1e-40f, -1e-40f, 1e-30f, -1e-30f, 88.0f, -88.0f,
                          1e30f, -1e30f, 3.4e38f, -3.4e38f, inf, -inf, std::nanf("")};
  std::vector<float> ys = run<V>(s);
  printf("%s: worst %.4f of bound at x = %.9g, abs failures %ld\n  specials:", name, worst, wx, absfail);
  for (size_t i = 0; i < s.size(); ++i) printf(" f(%g)=%g", s[i], ys[i]);
  printf("\n");
}
int main() {
  std::vector<float> x;
  for (int i = 0; i <= 200000; ++i) x.push_back(-14.0f + 2.0f * 14.0f * i / 200000);
  std::mt19937_64 g(12345); std::uniform_real_distribution<float> u(-14.0f, 14.0f);
  for (int i = 0; i < 4000000; ++i) x.push_back(u(g));
  for (float c : {0.0f, -0.1f, -0.35f, -0.6744898f, -0.85f, -1.0f, -2.0f, -6.0f, -9.43f, -11.6f, 1.0f}) {
    int32_t b; std::memcpy(&b, &c, 4); if (c == 0.0f) b = 0;
    for (int k = (c == 0.0f ? 0 : -(1 << 20)); k < (1 << 20); ++k) {
      int32_t bb = (c == 0.0f ? k : b + k); float f; std::memcpy(&f, &bb, 4);
      x.push_back(f); if (c == 0.0f) x.push_back(-f);
    }
  }
  check<0>("old ", x); check<6>("new6", x); check<7>("new7", x);
}
