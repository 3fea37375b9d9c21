// MVUE24 on the CPU: the same draws (Philox4x32-10 keyed by the seed, counted by group and
// offset) and the same f32 operation sequence (prune_group.h) as mvue24_cuda.cu, so both produce
// identical bits.
#include "core/check.h"
#include "prune/group_loop_cpu.h"

namespace s24::detail {
namespace {

template <class T>
void mvue24_typed(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out,
                  FaultCollector& faults) {
  const int64_t rows = w.size(0), cols = w.size(1), groups = cols / 4;
  run_group_pruner<T>(
      w.data<T>(), rows, cols, out,
      [=](int64_t r, int64_t g, const T* in, T pruned[4], FaultCollector& f) {
        const int64_t base = r * cols + 4 * g;
        float x[4];
        bool finite = true;
        for (int i = 0; i < 4; ++i) {
          const uint32_t key = Elem<T>::key(in[i]);
          if (key >= Elem<T>::kInfKey) {
            f.report(pack_fault(base + i, 0, key >= Elem<T>::kNanKey ? kFaultNaN : kFaultInf));
            finite = false;
          }
          x[i] = Elem<T>::decode(in[i]);
        }
        if (!finite) {
          for (int i = 0; i < 4; ++i) pruned[i] = Elem<T>::zero();
          return 0x3u;
        }
        const Philox4x32Out draw = mvue24_draw(seed, static_cast<uint64_t>(r * groups + g), offset);
        float y[4];
        uint32_t keep =
            mvue24_group(x, uniform_from_bits(draw.v[0]), uniform_from_bits(draw.v[1]), y);
        if (keep == 0) {
          f.report(pack_fault(base, 0, kFaultSumOverflow));
          for (int i = 0; i < 4; ++i) y[i] = 0.0f;
          keep = 0x3u;
        }
        for (int i = 0; i < 4; ++i) pruned[i] = Elem<T>::encode(y[i]);
        return keep;
      },
      faults);
}

}  // namespace

void mvue24_cpu(const Tensor& w, uint64_t seed, uint64_t offset, const PruneOutputs& out) {
  FaultCollector faults;
  switch (w.dtype()) {
    case DType::kF32:
      mvue24_typed<float>(w, seed, offset, out, faults);
      break;
    case DType::kF16:
      mvue24_typed<float16>(w, seed, offset, out, faults);
      break;
    case DType::kBF16:
      mvue24_typed<bfloat16>(w, seed, offset, out, faults);
      break;
    default:
      S24_THROW(ErrorCode::kInternal, "MVUE24 reached the CPU loop with dtype ",
                dtype_name(w.dtype()));
  }
  faults.throw_if_any(w.size(1), "MVUE24");
}

}  // namespace s24::detail
