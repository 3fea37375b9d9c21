// Internal: the device side of programmatic dependent launch (griddepcontrol, sm_90). A kernel
// launched with cudaLaunchAttributeProgrammaticStreamSerialization (detail::launch_kernel,
// cuda/launch.cuh) may start before the memory operations of the previous kernel of its stream
// are visible: it must call grid_dependency_wait before its first global memory access (a read of
// what that kernel writes, or a write of what it reads). Without the launch attribute it is a
// no-op.
//
// sparse24's kernels never execute griddepcontrol.launch_dependents, so a dependent kernel is
// scheduled when the previous one's CTAs have exited (the implicit trigger), and what PDL saves
// is the launch latency between the two. Releasing them early, at a kernel's start, lets the next
// kernel's CTAs become resident while this one still runs, and wait there; measured on BERT-base
// (H100, bench/NOTES.md, session 13) that made the 2:4 forward 2-6% slower at batch 64-256 and up
// to 20% slower at batch 4, while the implicit trigger made it 11% / 5% / 2% faster than no PDL
// at batch 4 / 16 / 64.
#pragma once

#include "cuda/arch/arch_guard.cuh"

namespace s24::arch {

// Blocks until every prerequisite grid has completed and its memory operations are visible.
__device__ __forceinline__ void grid_dependency_wait() {
#if S24_ARCH_SM90_OR_NEWER
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

}  // namespace s24::arch
