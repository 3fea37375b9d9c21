// Internal: helpers of the safetensors reader that tests and the fuzzer reach directly.
#pragma once

#include <cstddef>
#include <string_view>

namespace s24::detail {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. On failure
// *bad_offset (when given) is the offset of the first byte of the offending sequence.
bool is_valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

}  // namespace s24::detail
