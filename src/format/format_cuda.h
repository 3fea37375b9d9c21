// Internal: CUDA implementations behind the format API (src/format/format_cuda.cu). Declared
// here without CUDA headers; defined only in CUDA builds.
#pragma once

#include "sparse24/format.h"

namespace s24::detail {

Compressed24 compress_cuda(const Tensor& dense);
Tensor decompress_cuda(const Compressed24& c);

}  // namespace s24::detail
