#include "bench_util/gpu_timer.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/check.h"
#if S24_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda/check_cuda.h"
#endif

namespace s24::bench {

#if S24_WITH_CUDA
namespace {

Stats summarize(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.samples = static_cast<int>(ms.size());
  s.min_ms = ms.front();
  s.max_ms = ms.back();
  const size_t n = ms.size();
  s.median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  return s;
}

// Events are created once per measurement and destroyed on every exit path.
struct Events {
  std::vector<cudaEvent_t> ev;
  explicit Events(size_t n) : ev(n, nullptr) {
    for (auto& e : ev) S24_CUDA_CHECK(cudaEventCreate(&e));
  }
  ~Events() {
    for (auto e : ev)
      if (e) (void)cudaEventDestroy(e);
  }
};

}  // namespace

void synchronize(Stream stream) {
  S24_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

ScopedStream::ScopedStream() {
  cudaStream_t s = nullptr;
  S24_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = s;
}
ScopedStream::~ScopedStream() {
  if (stream_) (void)cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

Stats time_events(const Launch& launch, Stream stream, int warmup, int iters) {
  auto s = static_cast<cudaStream_t>(stream);
  int call = 0;
  for (int i = 0; i < warmup; ++i) launch(call++);
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  Events e(2 * static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    S24_CUDA_CHECK(cudaEventRecord(e.ev[2 * i], s));
    launch(call++);
    S24_CUDA_CHECK(cudaEventRecord(e.ev[2 * i + 1], s));
  }
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<double> ms(iters);
  for (int i = 0; i < iters; ++i) {
    float t = 0;
    S24_CUDA_CHECK(cudaEventElapsedTime(&t, e.ev[2 * i], e.ev[2 * i + 1]));
    ms[i] = t;
  }
  return summarize(std::move(ms));
}

CapturedGraph::CapturedGraph(const Launch& launch, Stream stream, int calls) : stream_(stream) {
  auto s = static_cast<cudaStream_t>(stream);
  for (int i = 0; i < calls; ++i) launch(i);
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  cudaGraph_t graph = nullptr;
  S24_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    for (int i = 0; i < calls; ++i) launch(i);
  } catch (...) {
    cudaGraph_t broken = nullptr;
    (void)cudaStreamEndCapture(s, &broken);
    if (broken) (void)cudaGraphDestroy(broken);
    throw;
  }
  S24_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t st = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  S24_CUDA_CHECK(st);
  exec_ = exec;
}

CapturedGraph::~CapturedGraph() {
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

void CapturedGraph::replay() const {
  S24_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_),
                                 static_cast<cudaStream_t>(stream_)));
}

Stats time_graph(const Launch& launch, Stream stream, int calls_per_graph, int warmup, int iters) {
  const CapturedGraph graph(launch, stream, calls_per_graph);
  Stats st = time_events([&](int) { graph.replay(); }, stream, warmup, iters);
  st.median_ms /= calls_per_graph;
  st.min_ms /= calls_per_graph;
  st.max_ms /= calls_per_graph;
  return st;
}

std::vector<Stats> time_events_alternating(const std::vector<Launch>& launches,
                                           const std::vector<Stream>& streams, int warmup,
                                           int blocks, int per_block) {
  S24_CHECK(launches.size() == streams.size() && !launches.empty() && blocks >= 1 &&
                per_block >= 1 && warmup >= 0,
            ErrorCode::kInvalidArgument, "time_events_alternating: ", launches.size(),
            " workloads on ", streams.size(), " streams, ", blocks, " blocks of ", per_block);
  const size_t n = launches.size();
  std::vector<int> calls(n, 0);
  for (size_t w = 0; w < n; ++w) {
    for (int i = 0; i < warmup; ++i) launches[w](calls[w]++);
    S24_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(streams[w])));
  }
  std::vector<std::vector<double>> ms(n);
  Events e(2 * static_cast<size_t>(per_block));
  for (int r = 0; r < blocks; ++r)
    for (size_t j = 0; j < n; ++j) {
      const size_t w = r % 2 == 0 ? j : n - 1 - j;
      auto s = static_cast<cudaStream_t>(streams[w]);
      launches[w](calls[w]++);  // untimed: the switch from the other workload
      for (int i = 0; i < per_block; ++i) {
        S24_CUDA_CHECK(cudaEventRecord(e.ev[2 * i], s));
        launches[w](calls[w]++);
        S24_CUDA_CHECK(cudaEventRecord(e.ev[2 * i + 1], s));
      }
      S24_CUDA_CHECK(cudaStreamSynchronize(s));
      for (int i = 0; i < per_block; ++i) {
        float t = 0;
        S24_CUDA_CHECK(cudaEventElapsedTime(&t, e.ev[2 * i], e.ev[2 * i + 1]));
        ms[w].push_back(t);
      }
    }
  std::vector<Stats> out;
  for (auto& v : ms) out.push_back(summarize(std::move(v)));
  return out;
}

double host_us_per_call(const Launch& launch, Stream stream, int calls) {
  auto s = static_cast<cudaStream_t>(stream);
  for (int i = 0; i < 8; ++i) launch(i);
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) launch(i);
  const auto t1 = std::chrono::steady_clock::now();
  S24_CUDA_CHECK(cudaStreamSynchronize(s));
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / calls;
}

#else

void synchronize(Stream) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
ScopedStream::ScopedStream() {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
ScopedStream::~ScopedStream() = default;
Stats time_events(const Launch&, Stream, int, int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
Stats time_graph(const Launch&, Stream, int, int, int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
std::vector<Stats> time_events_alternating(const std::vector<Launch>&, const std::vector<Stream>&,
                                           int, int, int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
CapturedGraph::CapturedGraph(const Launch&, Stream, int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
CapturedGraph::~CapturedGraph() = default;
void CapturedGraph::replay() const {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
double host_us_per_call(const Launch&, Stream, int) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}

#endif

}  // namespace s24::bench
