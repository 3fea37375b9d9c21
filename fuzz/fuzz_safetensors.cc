// libFuzzer target for the safetensors reader (scripts/fuzz.sh runs it). Any input must either
// load or throw s24::Error; a crash, a sanitizer report, a leak or any other exception is a bug.
#include <cstddef>
#include <cstdint>

#include "sparse24/sparse24.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  s24::TensorFile file;
  try {
    file = s24::parse_safetensors(data, size);
  } catch (const s24::Error&) {
    return 0;
  }
  // A loaded file keeps its promises: every compressed tensor passed validation, so expanding
  // it must succeed (an exception escaping here is a finding).
  for (const auto& [name, c] : file.sparse) {
    const s24::Tensor dense = s24::decompress(c);
    if (dense.shape() != c.logical_shape()) __builtin_trap();
  }
  for (const auto& [name, t] : file.tensors)
    if (!t.defined() || static_cast<size_t>(t.nbytes()) > size) __builtin_trap();
  return 0;
}
