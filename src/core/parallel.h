// Internal: a process-wide CPU thread pool. Threads: S24_NUM_THREADS, else hardware_concurrency().
#pragma once

#include <cstdint>
#include <functional>

namespace s24::detail {

int num_threads();
// Runs fn(begin, end) over disjoint chunks covering [begin, end), each at least `grain` long
// (except the last), on the pool; returns when all are done. The first exception thrown by a
// chunk is rethrown here. Nested calls run serially in the calling thread.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace s24::detail
