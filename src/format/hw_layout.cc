#include "format/hw_layout.h"

#include <cstring>

#include "core/check.h"
#include "format/format_cpu.h"

namespace s24::detail {

void check_hw_convertible(const Compressed24& c) {
  S24_CHECK(c.values.defined() && c.meta.defined(), ErrorCode::kInvalidArgument,
            "the compressed matrix is undefined");
  S24_CHECK(c.dtype() == DType::kF16 || c.dtype() == DType::kBF16 || is_8bit_layout_dtype(c.dtype()),
            ErrorCode::kDTypeMismatch,
            "the hardware layout holds F16, BF16, F8_E4M3, F8_E5M2 or I8 values, got ",
            dtype_name(c.dtype()));
  S24_CHECK(c.meta.dtype() == DType::kU8, ErrorCode::kDTypeMismatch, "metadata must be U8, got ",
            dtype_name(c.meta.dtype()));
  S24_CHECK(c.rows >= 0 && c.cols >= 0, ErrorCode::kInvalidArgument, "negative shape [", c.rows,
            ", ", c.cols, "]");
  S24_CHECK(c.cols % 4 == 0, ErrorCode::kAlignment, "2:4 matrices need cols % 4 == 0, got ",
            c.cols);
  const Shape want_values{c.rows, c.cols / 2}, want_meta{c.rows, meta_cols(c.cols)};
  S24_CHECK(c.values.shape() == want_values, ErrorCode::kShapeMismatch, "values are ",
            shape_str(c.values.shape()), ", expected ", shape_str(want_values), " for a [", c.rows,
            ", ", c.cols, "] matrix");
  S24_CHECK(c.meta.shape() == want_meta, ErrorCode::kShapeMismatch, "meta is ",
            shape_str(c.meta.shape()), ", expected ", shape_str(want_meta));
  S24_CHECK(c.values.device() == c.meta.device(), ErrorCode::kInvalidArgument, "values on ",
            c.values.device().str(), " but meta on ", c.meta.device().str());
}

HwLayout empty_hw_layout(int64_t rows, int64_t cols, DType dtype, Device device) {
  HwLayout h;
  h.rows = rows;
  h.cols = cols;
  if (!is_8bit_layout_dtype(dtype)) h.values = Tensor::empty({hw::value_count(rows, cols)}, dtype, device);
  h.meta = Tensor::empty({hw::meta_word_count(rows, cols)}, DType::kI32, device);
  return h;
}

namespace {

// The 8-bit metadata words (hw_layout.h) from logical metadata; padding keeps the pad nibble.
void write_meta8_cpu(const Tensor& meta, int64_t rows, int64_t cols, Tensor& out) {
  const int64_t nsteps8 = hw::ksteps8(cols), mcols = meta_cols(cols);
  const auto* msrc = static_cast<const uint8_t*>(meta.raw_data());
  auto* mdst = static_cast<uint32_t*>(out.raw_data());
  for (int64_t i = 0; i < out.numel(); ++i) mdst[i] = hw::kPadMetaWord;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < cols / 4; ++g) {
      int shift = 0;
      const int64_t w = hw::meta8_word_index(r, g, nsteps8, &shift);
      mdst[w] = (mdst[w] & ~(0xFu << shift)) |
                (uint32_t{get_nibble(msrc + r * mcols, g)} << shift);
    }
}

}  // namespace

HwLayout to_hw_layout_cpu(const Compressed24& c) {
  check_hw_convertible(c);
  S24_CHECK(c.device().is_cpu(), ErrorCode::kInvalidArgument, "to_hw_layout_cpu needs CPU tensors");
  const Tensor values = c.values.contiguous();
  const Tensor meta = c.meta.contiguous();
  HwLayout h = empty_hw_layout(c.rows, c.cols, c.dtype(), Device::cpu());
  if (is_8bit_layout_dtype(c.dtype())) {
    write_meta8_cpu(meta, c.rows, c.cols, h.meta);
    h.values = values;
    h.row_values = values;
    return h;
  }
  const int64_t nsteps = hw::ksteps(c.cols);
  const int64_t groups = c.cols / 4, half = c.cols / 2, mcols = meta_cols(c.cols);
  const auto* src = static_cast<const uint16_t*>(values.raw_data());
  const auto* msrc = static_cast<const uint8_t*>(meta.raw_data());
  auto* dst = static_cast<uint16_t*>(h.values.raw_data());
  auto* mdst = static_cast<uint32_t*>(h.meta.raw_data());
  // Padding first (+0.0 values, legal pad nibbles), then every real element lands on its slot.
  std::memset(dst, 0, h.values.nbytes());
  for (int64_t i = 0; i < h.meta.numel(); ++i) mdst[i] = hw::kPadMetaWord;
  for (int64_t r = 0; r < c.rows; ++r) {
    const uint16_t* vrow = src + r * half;
    const uint8_t* mrow = msrc + r * mcols;
    for (int64_t g = 0; g < groups; ++g) {
      dst[hw::value_index(r, g, 0, nsteps)] = vrow[2 * g];
      dst[hw::value_index(r, g, 1, nsteps)] = vrow[2 * g + 1];
      int shift = 0;
      const int64_t w = hw::meta_word_index(r, g, nsteps, &shift);
      mdst[w] = (mdst[w] & ~(0xFu << shift)) | (uint32_t{get_nibble(mrow, g)} << shift);
    }
  }
  h.row_values = values;
  return h;
}

Compressed24 from_hw_layout_cpu(const HwLayout& h) {
  S24_CHECK(h.values.device().is_cpu() && h.meta.device().is_cpu(), ErrorCode::kInvalidArgument,
            "from_hw_layout_cpu needs CPU tensors");
  const bool q8 = is_8bit_layout_dtype(h.dtype());
  S24_CHECK(h.dtype() == DType::kF16 || h.dtype() == DType::kBF16 || q8, ErrorCode::kDTypeMismatch,
            "hardware layout values must be F16, BF16, F8_E4M3, F8_E5M2 or I8, got ",
            dtype_name(h.dtype()));
  S24_CHECK(h.rows >= 0 && h.cols >= 0 && h.cols % 4 == 0, ErrorCode::kAlignment,
            "bad hardware layout shape [", h.rows, ", ", h.cols, "]");
  S24_CHECK(h.values.numel() == (q8 ? h.rows * (h.cols / 2) : hw::value_count(h.rows, h.cols)) &&
                h.meta.numel() == hw::meta_word_count(h.rows, h.cols) &&
                h.meta.dtype() == DType::kI32,
            ErrorCode::kShapeMismatch, "hardware layout tensors do not match [", h.rows, ", ",
            h.cols, "]");
  Compressed24 c;
  c.rows = h.rows;
  c.cols = h.cols;
  c.values = Tensor::empty({h.rows, h.cols / 2}, h.dtype());
  c.meta = Tensor::zeros({h.rows, meta_cols(h.cols)}, DType::kU8);
  const Tensor values = h.values.contiguous();
  const Tensor meta = h.meta.contiguous();
  if (q8) {
    std::memcpy(c.values.raw_data(), values.raw_data(), values.nbytes());
    const int64_t nsteps8 = hw::ksteps8(h.cols), mcols = meta_cols(h.cols);
    const auto* msrc = static_cast<const uint32_t*>(meta.raw_data());
    auto* mdst = static_cast<uint8_t*>(c.meta.raw_data());
    for (int64_t r = 0; r < h.rows; ++r)
      for (int64_t g = 0; g < h.cols / 4; ++g) {
        int shift = 0;
        const int64_t w = hw::meta8_word_index(r, g, nsteps8, &shift);
        set_nibble(mdst + r * mcols, g, static_cast<uint8_t>((msrc[w] >> shift) & 0xF));
      }
    return c;
  }
  const int64_t nsteps = hw::ksteps(h.cols);
  const int64_t groups = h.cols / 4, half = h.cols / 2, mcols = meta_cols(h.cols);
  const auto* src = static_cast<const uint16_t*>(values.raw_data());
  const auto* msrc = static_cast<const uint32_t*>(meta.raw_data());
  auto* dst = static_cast<uint16_t*>(c.values.raw_data());
  auto* mdst = static_cast<uint8_t*>(c.meta.raw_data());
  for (int64_t r = 0; r < h.rows; ++r) {
    uint16_t* vrow = dst + r * half;
    uint8_t* mrow = mdst + r * mcols;
    for (int64_t g = 0; g < groups; ++g) {
      vrow[2 * g] = src[hw::value_index(r, g, 0, nsteps)];
      vrow[2 * g + 1] = src[hw::value_index(r, g, 1, nsteps)];
      int shift = 0;
      const int64_t w = hw::meta_word_index(r, g, nsteps, &shift);
      set_nibble(mrow, g, static_cast<uint8_t>((msrc[w] >> shift) & 0xF));
    }
  }
  return c;
}

HwLayout to_hw_layout(const Compressed24& c, Stream stream) {
  check_hw_convertible(c);
  if (c.device().is_cpu()) return to_hw_layout_cpu(c);
  HwLayout h = empty_hw_layout(c.rows, c.cols, c.dtype(), c.device());
  to_hw_layout_cuda(c, h, stream);  // also sets h.row_values (and 8-bit h.values)
  return h;
}

#if !S24_WITH_CUDA
void to_hw_layout_cuda(const Compressed24&, HwLayout&, Stream) {
  S24_THROW(ErrorCode::kUnsupported, "this build of sparse24 has no CUDA support");
}
#endif

}  // namespace s24::detail
