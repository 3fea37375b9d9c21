// Internal: the Unicode facts the BERT tokenizer and the SQuAD metric need — UTF-8 decoding,
// general-category flags, per-code-point lower-casing, canonical decomposition (NFD). The tables
// come from scripts/gen_unicode_tables.py (Python's unicodedata), so this file and the Python
// tools that produced the reference data agree on the Unicode version.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace s24::model::unicode {

// The Unicode version of the generated tables ("14.0.0").
const char* version();

struct DecodedChar {
  char32_t cp;
  uint32_t begin;  // byte range in the UTF-8 text
  uint32_t end;
};
// Decodes strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). Throws
// s24::Error(kInvalidArgument) naming `what` and the byte offset of the first malformed sequence.
std::vector<DecodedChar> decode_utf8(std::string_view text, const char* what = "text");
void append_utf8(std::string& out, char32_t cp);
// Number of code points in text[0, byte_offset); the text must be valid UTF-8 there.
int64_t count_code_points(std::string_view text, size_t byte_offset);

bool is_other(char32_t cp);        // general category C* (control, format, unassigned, ...)
bool is_mark_nonspacing(char32_t cp);  // Mn
bool is_bert_punct(char32_t cp);   // P* or ASCII punctuation (BERT splits these off)
bool is_white_space(char32_t cp);  // the White_Space property (Rust char::is_whitespace)
bool is_py_space(char32_t cp);     // Python str.isspace
bool is_py_word(char32_t cp);      // Python re's \w: str.isalnum() or '_'
// The CJK ideograph blocks that BERT surrounds with spaces (the list of HF tokenizers'
// BertNormalizer; it differs from the original BERT code in one range start).
bool is_cjk_ideograph(char32_t cp);

// Full lower-case mapping of one code point without context (Python chr(c).lower(), Rust
// char::to_lowercase). Writes 1..3 code points to out and returns how many.
int to_lower(char32_t cp, char32_t out[3]);
// Python's str.lower on UTF-8 text: to_lower per code point plus the one context rule CPython
// applies, capital sigma -> final sigma at the end of a word.
std::string py_lower(std::string_view text);
uint8_t combining_class(char32_t cp);
// Canonical decomposition of one code point (recursively applied; Hangul syllables to jamo).
// Writes 1..kMaxDecomposition code points (the code point itself when it has none).
constexpr int kMaxDecomposition = 16;
int decompose(char32_t cp, char32_t out[kMaxDecomposition]);

}  // namespace s24::model::unicode
