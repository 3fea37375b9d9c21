// The sm_90a GEMM's int8 instantiations (int8 weight x int8 activations, int32 accumulators).
#include "cuda/gemm/sparse_gemm_sm90_launch.cuh"

namespace s24::detail::gemm {

void launch_sm90_s8(int config, const Sm90Launch& l) {
  launch_config<arch::WgmmaS8, void>(config, l);
}

}  // namespace s24::detail::gemm
