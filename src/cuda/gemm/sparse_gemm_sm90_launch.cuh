// Internal: the launch of one sm_90a GEMM instantiation (operand tag x output type x tile
// configuration) and the switch over configurations, shared by the translation units that
// instantiate them: sparse_gemm_sm90.cu (f16, bf16), sparse_gemm_sm90_fp8.cu and
// sparse_gemm_sm90_s8.cu (8-bit; separate files so that a parallel build compiles them at once).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

#include "core/check.h"
#include "cuda/check_cuda.h"
#include "cuda/device_info.h"
#include "cuda/launch.cuh"
#include "cuda/gemm/sparse_gemm_sm90_kernel.cuh"
#include "cuda/gemm/tile_configs.h"
#include "sparse24/dtype.h"

namespace s24::detail::gemm {

// Everything one launch needs besides the instantiation.
struct Sm90Launch {
  CUtensorMap x_map;
  CUtensorMap w_map;
  Sm90Params p;
  int device = 0;
  int sm_count = 0;
  cudaStream_t stream = nullptr;
};

template <class Op, class TOut, int kCfg, bool kUnrollGelu = false>
void launch(const Sm90Launch& l) {
  constexpr Sm90TileConfig C = kSm90Configs[kCfg];
  constexpr bool kQ8 = Op::kElemBytes == 1;
  if constexpr (kUnrollGelu && C.epilogue_warpgroup) {
    // The epilogue warpgroup has one GELU form (store_outputs): no second instantiation.
    launch<Op, TOut, kCfg, false>(l);
  } else if constexpr (kQ8 && C.stages_q8 == 0) {
    S24_THROW(ErrorCode::kUnsupported, "tile configuration ", C.name,
              " has no 8-bit instantiation (8-bit products run on the configurations with an "
              "8-bit depth in tile_configs.h)");
  } else {
    constexpr int kSmem = C.smem_bytes(kQ8);
    static std::atomic<uint64_t> attribute_done{0};
    auto kernel = sparse_gemm_sm90_kernel<Op, TOut, kCfg, kUnrollGelu>;
    opt_in_dynamic_smem(kernel, kSmem, l.device, attribute_done);
    const int units = l.p.tiles_n * l.p.tiles_m;
    cudaLaunchConfig_t config{};
    cudaLaunchAttribute attributes[2];
    int attribute_count = 0;
    if constexpr (C.cluster > 1) {
      cudaLaunchAttribute& cluster = attributes[attribute_count++];
      cluster.id = cudaLaunchAttributeClusterDimension;
      cluster.val.clusterDim.x = C.cluster;
      cluster.val.clusterDim.y = 1;
      cluster.val.clusterDim.z = 1;
    }
    config.blockDim = dim3(C.threads());
    config.dynamicSmemBytes = kSmem;
    config.stream = l.stream;
    config.attrs = attributes;
    config.numAttrs = attribute_count;
    unsigned grid = 0;
    if constexpr (C.cluster == 1) {
      grid = static_cast<unsigned>(std::min(units, l.sm_count));
    } else {
      // Clusters that fit at once (GPCs hold whole clusters, so fewer than sm_count / cluster
      // when a GPC has an odd number of free SMs); measured once per device.
      static std::atomic<int> resident[64] = {};
      int clusters = resident[l.device & 63].load(std::memory_order_acquire);
      if (clusters == 0) {
        config.gridDim = dim3(static_cast<unsigned>(l.sm_count / C.cluster * C.cluster));
        S24_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config));
        S24_CHECK(clusters > 0, ErrorCode::kUnsupported, "tile configuration ", C.name,
                  " fits no cluster of ", C.cluster, " CTAs on this device");
        resident[l.device & 63].store(clusters, std::memory_order_release);
      }
      grid = static_cast<unsigned>(std::min(units, clusters) * C.cluster);
    }
    config.gridDim = dim3(grid);
    // The kernel waits for the previous kernel of the stream before touching global memory
    // (grid_dependency_wait), so the GPU may set it up while that kernel finishes.
    if (programmatic_launch(l.device)) {
      cudaLaunchAttribute& pdl = attributes[attribute_count++];
      pdl.id = cudaLaunchAttributeProgrammaticStreamSerialization;
      pdl.val.programmaticStreamSerializationAllowed = 1;
      config.numAttrs = attribute_count;
    }
    S24_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, l.x_map, l.w_map, l.p));
    S24_CUDA_CHECK_LAUNCH();
  }
}

template <class Op, class TOut, bool kUnrollGelu = false>
void launch_config(int config, const Sm90Launch& l) {
  switch (config) {
    case kSm90N128M128: return launch<Op, TOut, kSm90N128M128, kUnrollGelu>(l);
    case kSm90N128M256: return launch<Op, TOut, kSm90N128M256, kUnrollGelu>(l);
    case kSm90N256M64: return launch<Op, TOut, kSm90N256M64, kUnrollGelu>(l);
    case kSm90N256M128: return launch<Op, TOut, kSm90N256M128, kUnrollGelu>(l);
    case kSm90N128M96: return launch<Op, TOut, kSm90N128M96, kUnrollGelu>(l);
    case kSm90N128M192: return launch<Op, TOut, kSm90N128M192, kUnrollGelu>(l);
    case kSm90PingN128M128: return launch<Op, TOut, kSm90PingN128M128, kUnrollGelu>(l);
    case kSm90PingN128M64: return launch<Op, TOut, kSm90PingN128M64, kUnrollGelu>(l);
    case kSm90ClusterN128M128: return launch<Op, TOut, kSm90ClusterN128M128, kUnrollGelu>(l);
    case kSm90ClusterN128M256: return launch<Op, TOut, kSm90ClusterN128M256, kUnrollGelu>(l);
    case kSm90ClusterN128M192: return launch<Op, TOut, kSm90ClusterN128M192, kUnrollGelu>(l);
    case kSm90ClusterPingN128M128:
      return launch<Op, TOut, kSm90ClusterPingN128M128, kUnrollGelu>(l);
    case kSm90EpilogueN128M128: return launch<Op, TOut, kSm90EpilogueN128M128, kUnrollGelu>(l);
    case kSm90EpilogueN128M192: return launch<Op, TOut, kSm90EpilogueN128M192, kUnrollGelu>(l);
    case kSm90N128M160: return launch<Op, TOut, kSm90N128M160, kUnrollGelu>(l);
    case kSm90N128M224: return launch<Op, TOut, kSm90N128M224, kUnrollGelu>(l);
  }
  S24_THROW(ErrorCode::kInvalidArgument, "unknown sm_90a GEMM tile configuration ", config);
}

// The 8-bit instantiations (Y's type at run time, Sm90Params::out_dtype). w / x: F8_E4M3 or
// F8_E5M2 each (fp8), both I8 (s8).
void launch_sm90_fp8(DType w, DType x, int config, const Sm90Launch& l);
void launch_sm90_fp8_w_e4m3(bool x_e4m3, int config, const Sm90Launch& l);
void launch_sm90_fp8_w_e5m2(bool x_e4m3, int config, const Sm90Launch& l);
void launch_sm90_s8(int config, const Sm90Launch& l);

}  // namespace s24::detail::gemm
