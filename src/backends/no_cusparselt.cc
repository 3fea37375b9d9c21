// Builds without cuSPARSELt: the backend's entry points exist and say why they cannot serve.
#include "backends/cusparselt.h"
#include "core/check.h"

#if !defined(S24_WITH_CUSPARSELT)
namespace s24::detail::cslt {

struct PreparedWeight {};

bool available() { return false; }
int version() { return 0; }
std::shared_ptr<PreparedWeight> prepare(const Compressed24&, Stream) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no cuSPARSELt backend ",
            "(configure with -DS24_CUSPARSELT_ROOT=<folder with include/cusparseLt.h>)");
}
size_t prepared_bytes(const PreparedWeight&) { return 0; }
void linear(const Tensor&, const PreparedWeight&, const Tensor*, Tensor&, const LinearOptions&) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no cuSPARSELt backend");
}

}  // namespace s24::detail::cslt
#endif
