// Host cost pieces of an sm90 launch: cuTensorMapEncodeTiled, and <<<>>> / cudaLaunchKernelEx
// (cluster 2) of an empty kernel with the real kernel's parameter footprint.
#include <cuda.h>
#include <cuda_runtime.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
struct P { const void* a[6]; float alpha; int m, n, k; long long s; int r[7]; };
__global__ void __launch_bounds__(384, 1) k_full(const __grid_constant__ CUtensorMap x, const __grid_constant__ CUtensorMap w, const P p) {
  if (p.m < 0) printf("%p\n", &x);
}
__global__ void k_empty() {}
using Enc = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
template <class F> double per_call_us(F f, int n) {
  std::vector<double> v;
  for (int rep = 0; rep < 7; ++rep) {
    cudaDeviceSynchronize();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f(i);
    auto t1 = std::chrono::steady_clock::now();
    cudaDeviceSynchronize();
    v.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / n);
  }
  std::sort(v.begin(), v.end());
  return v[3];
}
int main() {
  void* p = nullptr; cudaDriverEntryPointQueryResult st{};
  cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &st);
  Enc enc = reinterpret_cast<Enc>(p);
  void* buf; cudaMalloc(&buf, 64 << 20);
  CUtensorMap mx, mw;
  auto encx = [&](int i) {
    cuuint64_t dims[2] = {768, 6144 + (cuuint64_t)(i & 1)}; cuuint64_t str[1] = {768 * 2};
    cuuint32_t box[2] = {64, 128}; cuuint32_t es[2] = {1, 1};
    CUresult r = enc(&mx, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, buf, dims, str, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r) printf("enc fail %d\n", (int)r);
  };
  auto encw = [&](int i) {
    cuuint64_t dims[2] = {384, 768}; cuuint64_t str[1] = {384 * 2};
    cuuint32_t box[2] = {32, 128}; cuuint32_t es[2] = {1, 1};
    enc(&mw, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, buf, dims, str, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  };
  encx(0); encw(0);
  P prm{}; prm.m = 1;
  cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  cudaFuncSetAttribute(k_full, cudaFuncAttributeMaxDynamicSharedMemorySize, 200000);
  printf("encode x map:        %.3f us\n", per_call_us(encx, 20000));
  printf("encode w map:        %.3f us\n", per_call_us(encw, 20000));
  printf("launch empty <<<>>>: %.3f us\n", per_call_us([&](int) { k_empty<<<132, 384, 0, s>>>(); }, 200));
  printf("launch full <<<>>>:  %.3f us\n", per_call_us([&](int) { k_full<<<132, 384, 200000, s>>>(mx, mw, prm); }, 200));
  printf("launch full +geterr: %.3f us\n", per_call_us([&](int) { k_full<<<132, 384, 200000, s>>>(mx, mw, prm); (void)cudaGetLastError(); }, 200));
  cudaLaunchConfig_t cfg{}; cudaLaunchAttribute at[1]; at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = 2; at[0].val.clusterDim.y = 1; at[0].val.clusterDim.z = 1;
  cfg.blockDim = dim3(384); cfg.gridDim = dim3(132); cfg.dynamicSmemBytes = 200000; cfg.stream = s; cfg.attrs = at; cfg.numAttrs = 1;
  printf("launchEx cluster 2:  %.3f us\n", per_call_us([&](int) { cudaLaunchKernelEx(&cfg, k_full, mx, mw, prm); }, 200));
  cfg.numAttrs = 0;
  printf("launchEx no attr:    %.3f us\n", per_call_us([&](int) { cudaLaunchKernelEx(&cfg, k_full, mx, mw, prm); }, 200));
  int dev; printf("cudaGetDevice:       %.3f us\n", per_call_us([&](int) { cudaGetDevice(&dev); }, 20000));
  cudaStreamCaptureStatus cs;
  printf("cudaStreamIsCapturing: %.3f us\n", per_call_us([&](int) { cudaStreamIsCapturing(s, &cs); }, 20000));
  printf("all: encode x+w, launch: %.3f us\n", per_call_us([&](int i) { encx(i); encw(i); k_full<<<132, 384, 200000, s>>>(mx, mw, prm); }, 200));
  return 0;
}
