// Internal: what a SparseWeight holds.
#pragma once

#include <memory>

#include "format/hw_layout.h"
#include "sparse24/sparse_weight.h"

namespace s24::detail::cslt {
struct PreparedWeight;  // src/backends/cusparselt.h
}

namespace s24 {

struct SparseWeight::Impl {
  Compressed24 logical;                                      // references the caller's tensors
  detail::HwLayout hw;                                       // CUDA weights only
  std::shared_ptr<detail::cslt::PreparedWeight> cusparselt;  // optional
};

}  // namespace s24
