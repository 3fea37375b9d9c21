// The sm_90a GEMM's fp8 instantiations with an e4m3 weight (activations e4m3 or e5m2).
#include "cuda/gemm/sparse_gemm_sm90_launch.cuh"

namespace s24::detail::gemm {

void launch_sm90_fp8_w_e4m3(bool x_e4m3, int config, const Sm90Launch& l) {
  if (x_e4m3) return launch_config<arch::WgmmaE4M3E4M3, void>(config, l);
  launch_config<arch::WgmmaE4M3E5M2, void>(config, l);
}

}  // namespace s24::detail::gemm
