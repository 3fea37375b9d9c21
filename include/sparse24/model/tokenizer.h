// sparse24 — BERT's WordPiece tokenizer, matching Hugging Face `BertTokenizerFast` (the
// `tokenizers` library's BertNormalizer + BertPreTokenizer + WordPiece + the BERT template)
// token for token, offsets included. docs/MODEL.md lists the rules and the fixture that checks them.
//
// Pipeline for one text:
//   1. special tokens written literally in the text ("[MASK]") are matched first, as HF does for
//      its added tokens that are not normalised;
//   2. normalisation: clean text (drop NUL, U+FFFD and control/format characters, map whitespace
//      to ' '), spaces around CJK ideographs, accent stripping (NFD, drop Mn), lower-casing;
//   3. pre-tokenisation: split on whitespace, every punctuation character on its own;
//   4. WordPiece: greedy longest-match-first with the "##" prefix; a word longer than
//      max_input_chars_per_word code points, or one that cannot be covered, becomes [UNK];
//   5. truncation (with stride and overflowing windows), [CLS]/[SEP], token types, padding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace s24::model {

struct TokenizerConfig {
  bool lowercase = true;
  // -1: follow `lowercase` (HF's strip_accents=None); 0: keep accents; 1: strip them.
  int strip_accents = -1;
  bool tokenize_chinese_chars = true;
  bool clean_text = true;
  int max_input_chars_per_word = 100;
  std::string continuing_subword_prefix = "##";
  std::string unk_token = "[UNK]";
  std::string cls_token = "[CLS]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string mask_token = "[MASK]";
};

enum class Truncation {
  kNone,
  kLongestFirst,  // HF truncation=True / "longest_first"
  kOnlyFirst,
  kOnlySecond,  // what SQuAD features use: only the context is cut
};

struct EncodeOptions {
  bool add_special_tokens = true;
  int64_t max_length = 0;  // total length including special tokens; 0 = none
  Truncation truncation = Truncation::kNone;
  int64_t stride = 0;      // overlap between consecutive overflowing windows, in tokens
  bool return_overflowing = false;
  bool pad_to_max_length = false;  // HF padding="max_length"
};

// A byte range [begin, end) into the UTF-8 text its token came from ((0, 0) for special and
// padding tokens, as in HF).
struct Offset {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const Offset& o) const { return begin == o.begin && end == o.end; }
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> attention_mask;       // 1 for real tokens, 0 for padding
  std::vector<int32_t> special_tokens_mask;  // 1 for [CLS]/[SEP]/[PAD]
  std::vector<int32_t> sequence_ids;         // 0 / 1 = first / second text, -1 special or pad
  std::vector<Offset> offsets;               // UTF-8 bytes into the text of sequence_ids[i]
  std::vector<Offset> char_offsets;          // the same in code points (what HF Python returns)
  int64_t size() const { return static_cast<int64_t>(ids.size()); }
};

class WordPieceTokenizer {
 public:
  // vocab[i] is the token of id i (a repeated token keeps its last id, as HF's load_vocab).
  // Throws kInvalidArgument when the [UNK]/[CLS]/[SEP]/[PAD] tokens of `config` are missing.
  WordPieceTokenizer(std::vector<std::string> vocab, TokenizerConfig config = {});
  // A model folder: vocab.txt (else the WordPiece vocabulary inside tokenizer.json); the
  // normaliser settings from tokenizer.json, else tokenizer_config.json, else the defaults.
  static WordPieceTokenizer from_directory(const std::string& dir);

  // The main encoding first, then its overflowing windows (when options.return_overflowing).
  // Throws kInvalidArgument on invalid UTF-8, on a stride >= the room for the truncated
  // sequence, and when the sequence to cut is too short for max_length (HF's errors).
  std::vector<Encoding> encode(std::string_view text, const EncodeOptions& options = {}) const;
  std::vector<Encoding> encode_pair(std::string_view first, std::string_view second,
                                    const EncodeOptions& options = {}) const;

  // Steps 1-4 only: the WordPiece tokens of one text with their byte offsets.
  struct Piece {
    int32_t id;
    Offset offset;
  };
  std::vector<Piece> tokenize(std::string_view text) const;
  // Step 2 only, as UTF-8 (HF's normalizer.normalize_str).
  std::string normalize(std::string_view text) const;

  int32_t token_to_id(const std::string& token) const;  // -1 when absent
  const std::string& id_to_token(int32_t id) const;     // throws kInvalidArgument out of range
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  const TokenizerConfig& config() const { return config_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }

 private:
  struct NormChar {
    char32_t cp;
    int64_t begin, end;  // the source character's bytes in the original text
  };
  std::vector<NormChar> normalize_chars(std::string_view text, int64_t base) const;
  void wordpiece(const std::vector<NormChar>& word, std::vector<Piece>& out) const;
  std::vector<Encoding> encode_impl(std::string_view first, const std::string_view* second,
                                    const EncodeOptions& options) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::pair<std::string, int32_t>> special_;  // matched literally in raw text
  TokenizerConfig config_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
  int max_token_chars_ = 0;  // longest vocabulary entry in code points, without the prefix
};

// Number of code points before `byte_offset` in valid UTF-8 text.
int64_t utf8_char_offset(std::string_view text, int64_t byte_offset);

}  // namespace s24::model
