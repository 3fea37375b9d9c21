// Internal: thin wrappers over programmatic dependent launch (griddepcontrol, sm_90). A kernel
// launched with cudaLaunchAttributeProgrammaticStreamSerialization may start while the previous
// kernel of its stream is still finishing; its set-up (barrier initialization, tensor-map
// prefetch) then overlaps that kernel's tail and the launch latency. Before its first global
// memory access (read, or write of a buffer the previous kernel may still read) it must call
// grid_dependency_wait. Without the launch attribute both are no-ops.
#pragma once

#include "cuda/arch/arch_guard.cuh"

namespace s24::arch {

// Blocks until every prerequisite grid has completed and its memory operations are visible.
__device__ __forceinline__ void grid_dependency_wait() {
#if S24_ARCH_SM90_OR_NEWER
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the dependent grid be scheduled once every CTA of this grid has called this or exited
// (the dependent still waits for this grid's completion in its grid_dependency_wait).
__device__ __forceinline__ void grid_dependency_launch_dependents() {
#if S24_ARCH_SM90_OR_NEWER
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

}  // namespace s24::arch
