// Internal: GPU timing for benchmarks (the `sparse24 bench` sweep, tuning runs).
//  * time_events: each call bracketed by its own CUDA event pair, median over calls; calls are
//    enqueued back to back, so the GPU never waits on the host between them.
//  * time_graph: `calls_per_graph` calls captured once into a CUDA graph, the graph replayed;
//    per-call time = replay time / calls_per_graph (launch gaps removed).
//  * time_events_alternating: several workloads in alternating blocks (a b b a a b ...), so that
//    a drift of the GPU's state during the measurement weighs on all of them alike.
//  * host_us_per_call: host wall time of enqueueing, per call, without synchronizing.
// The launch callback receives the call index so that the caller can rotate among several input
// buffer sets (so that L2 does not hold the operands between calls). CPU-only builds throw
// kUnsupported.
#pragma once

#include <functional>
#include <vector>

#include "sparse24/tensor.h"

namespace s24::bench {

struct Stats {
  double median_ms = 0;
  double min_ms = 0;
  double max_ms = 0;
  int samples = 0;
};

using Launch = std::function<void(int call)>;

Stats time_events(const Launch& launch, Stream stream, int warmup, int iters);
Stats time_graph(const Launch& launch, Stream stream, int calls_per_graph, int warmup, int iters);

// Workload w runs on streams[w]. After `warmup` untimed calls of each, `blocks` blocks: block r
// runs every workload once, in the given order for even r and in reverse for odd r (two
// workloads: a b, b a, a b, ...); a workload's turn is one untimed call, then `per_block` calls
// timed as time_events does, then a synchronization, so that turns never overlap. Returns one
// Stats per workload over its blocks * per_block calls. Why: a GPU's clocks and temperature drift
// over a process, and the workload measured first ran fastest (bench/NOTES.md, session 16), so
// timing one workload wholly before the other biases their ratio.
std::vector<Stats> time_events_alternating(const std::vector<Launch>& launches,
                                           const std::vector<Stream>& streams, int warmup,
                                           int blocks, int per_block);

// `calls` calls of `launch` captured once into an instantiated CUDA graph (after the same calls
// once outside the capture: libraries build plans and workspaces on a first call); replay()
// enqueues it on the stream. Throws what the capture throws.
class CapturedGraph {
 public:
  CapturedGraph(const Launch& launch, Stream stream, int calls);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  void replay() const;

 private:
  Stream stream_ = nullptr;
  void* exec_ = nullptr;  // cudaGraphExec_t
};
double host_us_per_call(const Launch& launch, Stream stream, int calls);

// A non-blocking stream owned by the caller's scope.
class ScopedStream {
 public:
  ScopedStream();
  ~ScopedStream();
  ScopedStream(const ScopedStream&) = delete;
  ScopedStream& operator=(const ScopedStream&) = delete;
  Stream get() const { return stream_; }

 private:
  Stream stream_ = nullptr;
};

void synchronize(Stream stream);

}  // namespace s24::bench
