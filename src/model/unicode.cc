#include "model/unicode.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>

#include "core/check.h"

namespace s24::model::unicode {
namespace {

struct FlagRange {
  uint32_t lo, hi;
  uint8_t flags;
};
struct LowerRange {
  uint32_t lo, hi;
  int32_t delta;
  uint8_t step;
};
struct LowerSpecial {
  uint32_t cp;
  uint32_t seq[3];
  uint8_t count;
};
struct CccRange {
  uint32_t lo, hi;
  uint8_t ccc;
};

#include "model/unicode_tables.inc"

// Finds the range holding cp in a table sorted by lo with disjoint [lo, hi]; nullptr if none.
template <class Range, size_t N>
const Range* find_range(const Range (&table)[N], char32_t cp) {
  const Range* it = std::upper_bound(std::begin(table), std::end(table), static_cast<uint32_t>(cp),
                                     [](uint32_t v, const Range& r) { return v < r.lo; });
  if (it == std::begin(table)) return nullptr;
  --it;
  return cp <= it->hi ? it : nullptr;
}

uint8_t flags(char32_t cp) {
  if (cp < 0x80) {
    // ASCII is most of real text; a 128-entry cache avoids the binary search.
    static const auto ascii = [] {
      std::array<uint8_t, 128> t{};
      for (uint32_t c = 0; c < 128; ++c) {
        const FlagRange* r = find_range(kFlagRanges, c);
        t[c] = r ? r->flags : 0;
      }
      return t;
    }();
    return ascii[cp];
  }
  const FlagRange* r = find_range(kFlagRanges, cp);
  return r ? r->flags : 0;
}

// Start of each decomposition in kDecompData, from the lengths packed in kDecompKeys.
const std::vector<uint32_t>& decomposition_starts() {
  static const std::vector<uint32_t> starts = [] {
    std::vector<uint32_t> s;
    s.reserve(std::size(kDecompKeys));
    uint32_t pos = 0;
    for (uint32_t key : kDecompKeys) {
      s.push_back(pos);
      pos += key & 0xF;
    }
    return s;
  }();
  return starts;
}

constexpr char32_t kHangulSBase = 0xAC00, kHangulLBase = 0x1100, kHangulVBase = 0x1161,
                   kHangulTBase = 0x11A7;
constexpr int kHangulVCount = 21, kHangulTCount = 28;
constexpr int kHangulNCount = kHangulVCount * kHangulTCount, kHangulSCount = 19 * kHangulNCount;

}  // namespace

const char* version() { return kUnicodeVersion; }

std::vector<DecodedChar> decode_utf8(std::string_view text, const char* what) {
  std::vector<DecodedChar> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b0 = s[i];
    char32_t cp;
    size_t len;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      cp = b0 & 0x1F;
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      cp = b0 & 0x0F;
      len = 3;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      cp = b0 & 0x07;
      len = 4;
    } else {
      S24_THROW(ErrorCode::kInvalidArgument, what, ": invalid UTF-8 lead byte 0x", std::hex,
                static_cast<int>(b0), std::dec, " at byte ", i);
    }
    S24_CHECK(i + len <= n, ErrorCode::kInvalidArgument, what,
              ": truncated UTF-8 sequence at byte ", i);
    for (size_t k = 1; k < len; ++k) {
      S24_CHECK((s[i + k] & 0xC0) == 0x80, ErrorCode::kInvalidArgument, what,
                ": invalid UTF-8 continuation byte at byte ", i + k);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    S24_CHECK(!overlong && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF),
              ErrorCode::kInvalidArgument, what,
              ": invalid UTF-8 (overlong, surrogate or out of range) at byte ", i);
    out.push_back({cp, static_cast<uint32_t>(i), static_cast<uint32_t>(i + len)});
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int64_t count_code_points(std::string_view text, size_t byte_offset) {
  int64_t count = 0;
  const size_t end = std::min(byte_offset, text.size());
  for (size_t i = 0; i < end; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++count;
  }
  return count;
}

bool is_other(char32_t cp) { return flags(cp) & kFlagOther; }
bool is_mark_nonspacing(char32_t cp) { return flags(cp) & kFlagMn; }
bool is_bert_punct(char32_t cp) { return flags(cp) & kFlagPunct; }
bool is_white_space(char32_t cp) { return flags(cp) & kFlagWhiteSpace; }
bool is_py_space(char32_t cp) { return flags(cp) & kFlagPySpace; }
bool is_py_word(char32_t cp) { return flags(cp) & kFlagPyWord; }

bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int to_lower(char32_t cp, char32_t out[3]) {
  if (cp < 0x80) {
    out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return 1;
  }
  for (const LowerSpecial& s : kLowerSpecial) {
    if (s.cp == cp) {
      for (int k = 0; k < s.count; ++k) out[k] = s.seq[k];
      return s.count;
    }
  }
  const LowerRange* r = find_range(kLowerRanges, cp);
  out[0] = (r && (cp - r->lo) % r->step == 0) ? static_cast<char32_t>(cp + r->delta) : cp;
  return 1;
}

std::string py_lower(std::string_view text) {
  const std::vector<DecodedChar> chars = decode_utf8(text, "text to lower-case");
  std::string out;
  out.reserve(text.size());
  // The context of a capital sigma, skipping case-ignorable characters as CPython does.
  auto cased_neighbour = [&](size_t i, int dir) {
    for (int64_t j = static_cast<int64_t>(i) + dir; j >= 0 && j < static_cast<int64_t>(chars.size());
         j += dir) {
      const uint8_t f = flags(chars[j].cp);
      if (f & kFlagPyCaseIgnorable) continue;
      return (f & kFlagPyCased) != 0;
    }
    return false;
  };
  char32_t buf[3];
  for (size_t i = 0; i < chars.size(); ++i) {
    const char32_t cp = chars[i].cp;
    if (cp == 0x03A3 && cased_neighbour(i, -1) && !cased_neighbour(i, +1)) {
      append_utf8(out, 0x03C2);
      continue;
    }
    const int n = to_lower(cp, buf);
    for (int k = 0; k < n; ++k) append_utf8(out, buf[k]);
  }
  return out;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const CccRange* r = find_range(kCccRanges, cp);
  return r ? r->ccc : 0;
}

int decompose(char32_t cp, char32_t out[kMaxDecomposition]) {
  if (cp >= kHangulSBase && cp < kHangulSBase + kHangulSCount) {
    const int s = static_cast<int>(cp - kHangulSBase);
    out[0] = kHangulLBase + s / kHangulNCount;
    out[1] = kHangulVBase + (s % kHangulNCount) / kHangulTCount;
    const int t = s % kHangulTCount;
    if (t == 0) return 2;
    out[2] = kHangulTBase + t;
    return 3;
  }
  if (cp >= 0xC0) {
    const uint32_t key = static_cast<uint32_t>(cp) << 4;
    const uint32_t* it = std::lower_bound(std::begin(kDecompKeys), std::end(kDecompKeys), key);
    if (it != std::end(kDecompKeys) && (*it >> 4) == cp) {
      const size_t index = static_cast<size_t>(it - std::begin(kDecompKeys));
      const int len = static_cast<int>(*it & 0xF);
      const uint32_t start = decomposition_starts()[index];
      for (int k = 0; k < len; ++k) out[k] = kDecompData[start + k];
      return len;
    }
  }
  out[0] = cp;
  return 1;
}

}  // namespace s24::model::unicode
