// Internal: argument checks that throw s24::Error with a message built from the arguments.
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include "sparse24/status.h"

namespace s24::detail {

template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

}  // namespace s24::detail

// S24_CHECK(condition, ErrorCode::kX, "message parts", value, ...)
#define S24_CHECK(cond, code, ...)                                                   \
  do {                                                                               \
    if (!(cond)) throw ::s24::Error((code), ::s24::detail::concat(__VA_ARGS__));     \
  } while (0)

#define S24_THROW(code, ...) throw ::s24::Error((code), ::s24::detail::concat(__VA_ARGS__))
