#include "sparse24/format.h"

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "format/format_cpu.h"
#if S24_WITH_CUDA
#include "format/format_cuda.h"
#endif

namespace s24 {
namespace {

// Zero test on the bit pattern's value: -0.0 is zero; NaN is not (it is kept and reported by
// the callers that forbid it).
template <class T>
bool is_nonzero(T v) {
  return to_float(v) != 0.0f || std::isnan(to_float(v));
}

void check_matrix(const Tensor& m, const char* what) {
  S24_CHECK(m.defined(), ErrorCode::kInvalidArgument, what, ": undefined tensor");
  S24_CHECK(m.dim() == 2, ErrorCode::kShapeMismatch, what, " needs a 2-d matrix, got ",
            m.describe());
  S24_CHECK(m.size(1) % 4 == 0, ErrorCode::kAlignment, what, ": the column count ", m.size(1),
            " of ", m.describe(), " is not a multiple of 4 (2:4 groups run along rows)");
}

template <class T>
void compress_rows(const T* d, int64_t rows, int64_t cols, T* values, uint8_t* meta) {
  const int64_t groups = cols / 4, mcols = meta_cols(cols);
  detail::parallel_for(0, rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = d + r * cols;
      uint8_t* mrow = meta + r * mcols;
      std::memset(mrow, 0, static_cast<size_t>(mcols));
      T* vrow = values + r * (cols / 2);
      for (int64_t g = 0; g < groups; ++g) {
        unsigned nz = 0;
        for (int i = 0; i < 4; ++i)
          if (is_nonzero(row[4 * g + i])) nz |= 1u << i;
        if (__builtin_popcount(nz) > 2)
          S24_THROW(ErrorCode::kNotTwoFour, "row ", r, ", columns ", 4 * g, "..", 4 * g + 3,
                    " hold ", __builtin_popcount(nz), " nonzeros (2:4 allows at most 2)");
        const uint8_t nib = detail::nibble_for_nonzeros(nz);
        detail::set_nibble(mrow, g, nib);
        vrow[2 * g] = row[4 * g + detail::nibble_first(nib)];
        vrow[2 * g + 1] = row[4 * g + detail::nibble_second(nib)];
      }
    }
  });
}

Compressed24 compress_cpu(const Tensor& dense_in) {
  const Tensor dense = dense_in.contiguous();
  const int64_t rows = dense.size(0), cols = dense.size(1);
  Compressed24 c;
  c.rows = rows;
  c.cols = cols;
  c.values = Tensor::empty({rows, cols / 2}, dense.dtype());
  c.meta = Tensor::empty({rows, meta_cols(cols)}, DType::kU8);
  dispatch_value_dtype(dense.dtype(), [&](auto tag) {
    using T = decltype(tag);
    compress_rows(dense.data<T>(), rows, cols, c.values.data<T>(), c.meta.data<uint8_t>());
  });
  return c;
}

Tensor decompress_cpu(const Compressed24& c) {
  Tensor out = Tensor::zeros({c.rows, c.cols}, c.dtype());
  const Tensor values = c.values.contiguous(), meta = c.meta.contiguous();
  const int64_t groups = c.cols / 4, mcols = meta_cols(c.cols);
  dispatch_value_dtype(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = values.data<T>();
    const uint8_t* m = meta.data<uint8_t>();
    T* o = out.data<T>();
    detail::parallel_for(0, c.rows, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t g = 0; g < groups; ++g) {
          const uint8_t nib = detail::get_nibble(m + r * mcols, g);
          o[r * c.cols + 4 * g + detail::nibble_first(nib)] = v[r * (c.cols / 2) + 2 * g];
          o[r * c.cols + 4 * g + detail::nibble_second(nib)] = v[r * (c.cols / 2) + 2 * g + 1];
        }
    });
  });
  return out;
}

}  // namespace

int64_t meta_cols(int64_t cols) { return (cols + 7) / 8; }

Compressed24 Compressed24::to(Device device, Stream stream) const {
  Compressed24 c = *this;
  c.values = values.to(device, stream);
  c.meta = meta.to(device, stream);
  return c;
}

bool is_24(const Tensor& dense_in) {
  check_matrix(dense_in, "is_24");
  const Tensor dense = dense_in.device().is_cpu() ? dense_in.contiguous() : dense_in.to(Device::cpu());
  const int64_t rows = dense.size(0), cols = dense.size(1);
  return dispatch_value_dtype(dense.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* d = dense.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < cols / 4; ++g) {
        int nz = 0;
        for (int i = 0; i < 4; ++i) nz += is_nonzero(d[r * cols + 4 * g + i]);
        if (nz > 2) return false;
      }
    return true;
  });
}

Compressed24 compress(const Tensor& dense) {
  check_matrix(dense, "compress");
  (void)dispatch_value_dtype(dense.dtype(), [](auto) { return 0; });  // value dtypes only
  if (dense.device().is_cuda()) {
#if S24_WITH_CUDA
    return detail::compress_cuda(dense);
#else
    S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
  }
  return compress_cpu(dense);
}

void validate(const Compressed24& c) {
  S24_CHECK(c.values.defined() && c.meta.defined(), ErrorCode::kInvalidArgument,
            "compressed matrix has undefined values or metadata");
  S24_CHECK(c.rows >= 0 && c.cols >= 0 && c.cols % 4 == 0, ErrorCode::kInvalidArgument,
            "compressed matrix logical shape [", c.rows, ", ", c.cols,
            "] is invalid (cols must be a multiple of 4)");
  (void)dispatch_value_dtype(c.values.dtype(), [](auto) { return 0; });
  S24_CHECK(c.values.shape() == Shape({c.rows, c.cols / 2}), ErrorCode::kShapeMismatch,
            "values are ", shape_str(c.values.shape()), ", expected ",
            shape_str({c.rows, c.cols / 2}), " for a [", c.rows, ", ", c.cols, "] matrix");
  S24_CHECK(c.meta.dtype() == DType::kU8, ErrorCode::kDTypeMismatch, "metadata is ",
            dtype_name(c.meta.dtype()), ", expected U8");
  S24_CHECK(c.meta.shape() == Shape({c.rows, meta_cols(c.cols)}), ErrorCode::kShapeMismatch,
            "metadata is ", shape_str(c.meta.shape()), ", expected ",
            shape_str({c.rows, meta_cols(c.cols)}));
  S24_CHECK(c.values.device() == c.meta.device(), ErrorCode::kInvalidArgument,
            "values on ", c.values.device().str(), " but metadata on ", c.meta.device().str());
  const Tensor meta = c.meta.device().is_cpu() ? c.meta.contiguous() : c.meta.to(Device::cpu());
  const uint8_t* m = meta.data<uint8_t>();
  const int64_t groups = c.cols / 4, mcols = meta_cols(c.cols);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t nib = detail::get_nibble(m + r * mcols, g);
      S24_CHECK(is_legal_nibble(nib), ErrorCode::kInvalidArgument, "illegal metadata nibble 0x",
                std::hex, int(nib), std::dec, " at row ", r, ", group ", g,
                " (legal: 0x4 0x8 0xC 0x9 0xD 0xE)");
    }
    if (groups % 2 == 1)
      S24_CHECK((m[r * mcols + mcols - 1] >> 4) == 0, ErrorCode::kInvalidArgument,
                "unused metadata nibble at the end of row ", r, " is not zero");
  }
}

Tensor decompress(const Compressed24& c) {
  validate(c);
  if (c.device().is_cuda()) {
#if S24_WITH_CUDA
    return detail::decompress_cuda(c);
#else
    S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
#endif
  }
  return decompress_cpu(c);
}

double kept_magnitude_fraction(const Tensor& dense, const Tensor& pruned) {
  S24_CHECK(dense.shape() == pruned.shape(), ErrorCode::kShapeMismatch, "dense ",
            shape_str(dense.shape()), " vs pruned ", shape_str(pruned.shape()));
  const Tensor a = dense.to_f32_cpu(), b = pruned.to_f32_cpu();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double total = 0, kept = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    total += std::fabs(double(pa[i]));
    kept += std::fabs(double(pb[i]));
  }
  return total == 0 ? 1.0 : kept / total;
}

Compressed24 transpose(const Compressed24& c) {
  Tensor dense = decompress(c.device().is_cpu() ? c : c.to(Device::cpu()));
  S24_CHECK(c.rows % 4 == 0, ErrorCode::kAlignment, "transpose: the row count ", c.rows,
            " is not a multiple of 4, so the transpose cannot be 2:4");
  Tensor t = dense.t().contiguous();
  dispatch_value_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* d = t.data<T>();
    const int64_t rows = t.size(0), cols = t.size(1);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < cols / 4; ++g) {
        int nz = 0;
        for (int i = 0; i < 4; ++i) nz += is_nonzero(d[r * cols + 4 * g + i]);
        S24_CHECK(nz <= 2, ErrorCode::kNotTwoFour, "transpose: the matrix is not 2:4 along columns",
                  " (column ", r, ", rows ", 4 * g, "..", 4 * g + 3, " hold ", nz,
                  " nonzeros); use a transposable mask");
      }
  });
  Compressed24 out = compress_cpu(t);
  return c.device().is_cpu() ? out : out.to(c.device());
}

}  // namespace s24
