// Internal: GPU timing for benchmarks (the `sparse24 bench` sweep, tuning runs).
//  * time_events: each call bracketed by its own CUDA event pair, median over calls; calls are
//    enqueued back to back, so the GPU never waits on the host between them.
//  * time_graph: `calls_per_graph` calls captured once into a CUDA graph, the graph replayed;
//    per-call time = replay time / calls_per_graph (launch gaps removed).
//  * host_us_per_call: host wall time of enqueueing, per call, without synchronizing.
// The launch callback receives the call index so that the caller can rotate among several input
// buffer sets (so that L2 does not hold the operands between calls). CPU-only builds throw
// kUnsupported.
#pragma once

#include <functional>

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
