# Removes the k-loop's `#pragma unroll 2` (the session-16 change) to rebuild the baseline.
p = 'src/cuda/gemm/sparse_gemm_sm90_kernel.cuh'
s = open(p).read()
old = ("#pragma unroll 2\n    for (int kb = 0; kb < p.kblocks; ++kb, ++it) {\n"
       "      const int s = static_cast<int>(it % kStages);\n      const uint32_t phase")
assert s.count(old) == 1, "pattern"
open(p, 'w').write(s.replace(old, old[len("#pragma unroll 2\n"):]))
print("base patch applied")
