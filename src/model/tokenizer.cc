#include "sparse24/model/tokenizer.h"

#include <algorithm>
#include <utility>

#include "core/check.h"
#include "core/json.h"
#include "model/text_file.h"
#include "model/unicode.h"

namespace s24::model {
namespace {

// An encoding before padding, with HF's nested overflowing windows.
struct RawEncoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<int32_t> special;
  std::vector<int32_t> attention;
  std::vector<int32_t> sequence_ids;
  std::vector<Offset> offsets;
  std::vector<RawEncoding> overflowing;

  size_t size() const { return ids.size(); }

  RawEncoding range(size_t begin, size_t end) const {
    RawEncoding r;
    r.ids.assign(ids.begin() + begin, ids.begin() + end);
    r.type_ids.assign(type_ids.begin() + begin, type_ids.begin() + end);
    r.special.assign(special.begin() + begin, special.begin() + end);
    r.attention.assign(attention.begin() + begin, attention.begin() + end);
    r.sequence_ids.assign(sequence_ids.begin() + begin, sequence_ids.begin() + end);
    r.offsets.assign(offsets.begin() + begin, offsets.begin() + end);
    return r;
  }

  void append(const RawEncoding& o) {
    ids.insert(ids.end(), o.ids.begin(), o.ids.end());
    type_ids.insert(type_ids.end(), o.type_ids.begin(), o.type_ids.end());
    special.insert(special.end(), o.special.begin(), o.special.end());
    attention.insert(attention.end(), o.attention.begin(), o.attention.end());
    sequence_ids.insert(sequence_ids.end(), o.sequence_ids.begin(), o.sequence_ids.end());
    offsets.insert(offsets.end(), o.offsets.begin(), o.offsets.end());
  }

  void set_type_and_sequence(int32_t type_id, int32_t sequence_id) {
    std::fill(type_ids.begin(), type_ids.end(), type_id);
    std::fill(sequence_ids.begin(), sequence_ids.end(), sequence_id);
    for (RawEncoding& o : overflowing) o.set_type_and_sequence(type_id, sequence_id);
  }
};

RawEncoding special_token(int32_t id, int32_t type_id) {
  RawEncoding e;
  e.ids = {id};
  e.type_ids = {type_id};
  e.special = {1};
  e.attention = {1};
  e.sequence_ids = {-1};
  e.offsets = {Offset{}};
  return e;
}

// HF Encoding::truncate (direction right): keeps the first max_len tokens and moves the rest into
// windows of max_len tokens that start every max_len - stride tokens.
void truncate(RawEncoding& e, size_t max_len, size_t stride) {
  const size_t len = e.size();
  if (max_len >= len) return;
  if (max_len == 0) {
    RawEncoding all = std::move(e);
    e = RawEncoding{};
    all.overflowing.clear();
    e.overflowing.push_back(std::move(all));
    return;
  }
  S24_CHECK(stride < max_len, ErrorCode::kInvalidArgument, "tokenizer: stride ", stride,
            " must be smaller than the ", max_len,
            " tokens left for the truncated sequence (max_length minus the other sequence and "
            "the special tokens)");
  const size_t step = max_len - stride;
  std::vector<std::pair<size_t, size_t>> parts;
  for (size_t start = 0; start < len; start += step) {
    const size_t stop = std::min(start + max_len, len);
    parts.emplace_back(start, stop);
    if (stop == len) break;
  }
  RawEncoding head = e.range(parts[0].first, parts[0].second);
  for (size_t i = 1; i < parts.size(); ++i) {
    head.overflowing.push_back(e.range(parts[i].first, parts[i].second));
  }
  e = std::move(head);
}

// HF truncate_encodings; max_length already excludes the special tokens.
void truncate_encodings(RawEncoding& first, RawEncoding* second, size_t max_length,
                        Truncation strategy, size_t stride) {
  const size_t total = first.size() + (second ? second->size() : 0);
  if (total <= max_length) return;
  const size_t to_remove = total - max_length;
  switch (strategy) {
    case Truncation::kNone:
      return;
    case Truncation::kLongestFirst: {
      if (second == nullptr) {
        truncate(first, max_length, stride);
        return;
      }
      size_t n1 = first.size(), n2 = second->size();
      const bool swapped = n1 > n2;
      if (swapped) std::swap(n1, n2);
      if (n1 > max_length) {
        n2 = n1;
      } else {
        n2 = std::max(n1, max_length - n1);
      }
      if (n1 + n2 > max_length) {
        n1 = max_length / 2;
        n2 = n1 + max_length % 2;
      }
      if (swapped) std::swap(n1, n2);
      truncate(first, n1, stride);
      truncate(*second, n2, stride);
      return;
    }
    case Truncation::kOnlyFirst:
    case Truncation::kOnlySecond: {
      RawEncoding* target = &first;
      if (strategy == Truncation::kOnlySecond) {
        S24_CHECK(second != nullptr, ErrorCode::kInvalidArgument,
                  "tokenizer: truncation only_second needs a second sequence");
        target = second;
      }
      const size_t target_len = target->size();
      S24_CHECK(target_len > to_remove, ErrorCode::kInvalidArgument,
                "tokenizer: the sequence to truncate (", target_len,
                " tokens) is too short to respect max_length (", to_remove,
                " tokens must go)");
      truncate(*target, target_len - to_remove, stride);
      return;
    }
  }
}

// HF Encoding::merge_with: appends `pair`, combining the overflowing windows of both sides.
void merge_with(RawEncoding& self, const RawEncoding& pair) {
  std::vector<RawEncoding> overflowing;
  for (const RawEncoding& self_o : self.overflowing) {
    RawEncoding n = self_o;
    merge_with(n, pair);
    overflowing.push_back(std::move(n));
    for (const RawEncoding& other_o : pair.overflowing) {
      RawEncoding m = self_o;
      merge_with(m, other_o);
      overflowing.push_back(std::move(m));
    }
  }
  for (const RawEncoding& other_o : pair.overflowing) {
    RawEncoding n = self;
    // Windows of windows are dropped by every consumer (HF returns one level), so the copy does
    // not carry them.
    n.overflowing.clear();
    merge_with(n, other_o);
    overflowing.push_back(std::move(n));
  }
  for (RawEncoding& o : overflowing) o.overflowing.clear();
  self.append(pair);
  self.overflowing = std::move(overflowing);
}

void pad_to(RawEncoding& e, size_t length, int32_t pad_id) {
  while (e.size() < length) {
    e.ids.push_back(pad_id);
    e.type_ids.push_back(0);
    e.special.push_back(1);
    e.attention.push_back(0);
    e.sequence_ids.push_back(-1);
    e.offsets.push_back(Offset{});
  }
  for (RawEncoding& o : e.overflowing) pad_to(o, length, pad_id);
}

// byte offset -> code point index, for one text.
std::vector<int64_t> char_index_of_bytes(std::string_view text) {
  std::vector<int64_t> index(text.size() + 1, 0);
  int64_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    index[i] = chars;  // offsets only fall on character boundaries
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++chars;
  }
  index[text.size()] = chars;
  return index;
}

bool json_bool_or(const Json& obj, const std::string& key, bool fallback) {
  const Json* v = obj.find(key);
  return (v && v->is_bool()) ? v->as_bool() : fallback;
}

}  // namespace

int64_t utf8_char_offset(std::string_view text, int64_t byte_offset) {
  S24_CHECK(byte_offset >= 0 && static_cast<size_t>(byte_offset) <= text.size(),
            ErrorCode::kInvalidArgument, "utf8_char_offset: byte offset ", byte_offset,
            " outside a text of ", text.size(), " bytes");
  return unicode::count_code_points(text, static_cast<size_t>(byte_offset));
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, TokenizerConfig config)
    : vocab_(std::move(vocab)), config_(std::move(config)) {
  S24_CHECK(!vocab_.empty(), ErrorCode::kInvalidArgument, "tokenizer: empty vocabulary");
  S24_CHECK(vocab_.size() < (size_t{1} << 31), ErrorCode::kInvalidArgument,
            "tokenizer: vocabulary too large");
  S24_CHECK(config_.max_input_chars_per_word > 0, ErrorCode::kInvalidArgument,
            "tokenizer: max_input_chars_per_word must be positive");
  ids_.reserve(vocab_.size() * 2);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    // A repeated token maps to its last line, as Python's dict in HF's load_vocab does.
    ids_[vocab_[i]] = static_cast<int32_t>(i);
    max_token_chars_ = std::max<int>(
        max_token_chars_, static_cast<int>(unicode::count_code_points(vocab_[i], vocab_[i].size())));
  }
  auto required = [&](const std::string& token, const char* role) {
    const int32_t id = token_to_id(token);
    S24_CHECK(id >= 0, ErrorCode::kInvalidArgument, "tokenizer: the ", role, " token '", token,
              "' is not in the vocabulary");
    return id;
  };
  unk_id_ = required(config_.unk_token, "unknown");
  cls_id_ = required(config_.cls_token, "classifier");
  sep_id_ = required(config_.sep_token, "separator");
  pad_id_ = required(config_.pad_token, "padding");
  for (const std::string* s : {&config_.pad_token, &config_.unk_token, &config_.cls_token,
                               &config_.sep_token, &config_.mask_token}) {
    const int32_t id = token_to_id(*s);
    if (id >= 0 && !s->empty()) special_.emplace_back(*s, id);
  }
  // Leftmost-longest matching: try longer literals first at each position.
  std::sort(special_.begin(), special_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

WordPieceTokenizer WordPieceTokenizer::from_directory(const std::string& dir) {
  TokenizerConfig config;
  std::vector<std::string> vocab;
  const std::string vocab_path = join_path(dir, "vocab.txt");
  const std::string tok_json_path = join_path(dir, "tokenizer.json");
  const std::string tok_config_path = join_path(dir, "tokenizer_config.json");

  Json tok_json;
  const bool have_tok_json = file_exists(tok_json_path);
  if (have_tok_json) {
    tok_json = Json::parse(read_text_file(tok_json_path), tok_json_path);
    if (const Json* norm = tok_json.find("normalizer"); norm && norm->is_object()) {
      const std::string type = norm->get_string("type", "");
      S24_CHECK(type == "BertNormalizer", ErrorCode::kUnsupported, tok_json_path,
                ": normalizer '", type, "' is not BertNormalizer");
      config.lowercase = json_bool_or(*norm, "lowercase", config.lowercase);
      config.clean_text = json_bool_or(*norm, "clean_text", config.clean_text);
      config.tokenize_chinese_chars =
          json_bool_or(*norm, "handle_chinese_chars", config.tokenize_chinese_chars);
      if (const Json* sa = norm->find("strip_accents"); sa && sa->is_bool()) {
        config.strip_accents = sa->as_bool() ? 1 : 0;
      }
    }
    if (const Json* m = tok_json.find("model"); m && m->is_object()) {
      const std::string type = m->get_string("type", "WordPiece");
      S24_CHECK(type == "WordPiece", ErrorCode::kUnsupported, tok_json_path, ": model '", type,
                "' is not WordPiece");
      config.unk_token = m->get_string("unk_token", config.unk_token);
      config.continuing_subword_prefix =
          m->get_string("continuing_subword_prefix", config.continuing_subword_prefix);
      config.max_input_chars_per_word = static_cast<int>(
          m->get_int64("max_input_chars_per_word", config.max_input_chars_per_word));
    }
  }
  // transformers rebuilds the fast normaliser from tokenizer_config.json when they disagree, so
  // the config file's explicit values win.
  if (file_exists(tok_config_path)) {
    const Json cfg = Json::parse(read_text_file(tok_config_path), tok_config_path);
    config.lowercase = json_bool_or(cfg, "do_lower_case", config.lowercase);
    config.tokenize_chinese_chars =
        json_bool_or(cfg, "tokenize_chinese_chars", config.tokenize_chinese_chars);
    if (const Json* sa = cfg.find("strip_accents"); sa && sa->is_bool()) {
      config.strip_accents = sa->as_bool() ? 1 : 0;
    }
    for (auto [key, field] : {std::pair{"unk_token", &config.unk_token},
                              std::pair{"cls_token", &config.cls_token},
                              std::pair{"sep_token", &config.sep_token},
                              std::pair{"pad_token", &config.pad_token},
                              std::pair{"mask_token", &config.mask_token}}) {
      if (const Json* v = cfg.find(key); v && v->is_string()) *field = v->as_string();
    }
  }

  if (file_exists(vocab_path)) {
    const std::string text = read_text_file(vocab_path);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      vocab.emplace_back(text, pos, nl - pos);
      pos = nl + 1;
    }
  } else {
    S24_CHECK(have_tok_json, ErrorCode::kIo, "tokenizer: ", dir,
              " has neither vocab.txt nor tokenizer.json");
    const Json::Object& v = tok_json.at("model").at("vocab").as_object();
    vocab.resize(v.size());
    std::vector<bool> seen(v.size(), false);
    for (const auto& [token, id_json] : v) {
      const int64_t id = id_json.as_int64();
      S24_CHECK(id >= 0 && static_cast<size_t>(id) < v.size() && !seen[id],
                ErrorCode::kCorruptFile, tok_json_path, ": vocabulary ids are not 0..",
                v.size() - 1, " (token '", token, "' has id ", id, ")");
      seen[id] = true;
      vocab[id] = token;
    }
  }
  WordPieceTokenizer tok(std::move(vocab), config);
  if (have_tok_json) {
    if (const Json* added = tok_json.find("added_tokens"); added && added->is_array()) {
      for (const Json& a : added->as_array()) {
        const std::string& content = a.at("content").as_string();
        const int64_t id = a.at("id").as_int64();
        S24_CHECK(id >= 0 && id < tok.vocab_size(), ErrorCode::kCorruptFile, tok_json_path,
                  ": added token '", content, "' has id ", id, " outside the vocabulary");
        S24_CHECK(!json_bool_or(a, "normalized", false) && !json_bool_or(a, "lstrip", false) &&
                      !json_bool_or(a, "rstrip", false) && !json_bool_or(a, "single_word", false),
                  ErrorCode::kUnsupported, tok_json_path, ": added token '", content,
                  "' uses normalized/lstrip/rstrip/single_word, which this tokenizer lacks");
        const bool known = std::any_of(tok.special_.begin(), tok.special_.end(),
                                       [&](const auto& s) { return s.first == content; });
        if (!known && !content.empty()) {
          tok.special_.emplace_back(content, static_cast<int32_t>(id));
        }
      }
      std::sort(tok.special_.begin(), tok.special_.end(),
                [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    }
  }
  return tok;
}

int32_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int32_t id) const {
  S24_CHECK(id >= 0 && static_cast<size_t>(id) < vocab_.size(), ErrorCode::kInvalidArgument,
            "tokenizer: id ", id, " outside the vocabulary of ", vocab_.size());
  return vocab_[id];
}

std::vector<WordPieceTokenizer::NormChar> WordPieceTokenizer::normalize_chars(
    std::string_view text, int64_t base) const {
  const std::vector<unicode::DecodedChar> chars = unicode::decode_utf8(text, "tokenizer input");
  std::vector<NormChar> out;
  out.reserve(chars.size() + 8);
  for (const auto& d : chars) {
    const int64_t begin = base + d.begin, end = base + d.end;
    char32_t cp = d.cp;
    if (config_.clean_text) {
      const bool tab_or_newline = cp == '\t' || cp == '\n' || cp == '\r';
      if (cp == 0 || cp == 0xFFFD || (!tab_or_newline && unicode::is_other(cp))) continue;
      if (unicode::is_white_space(cp)) cp = ' ';
    }
    if (config_.tokenize_chinese_chars && unicode::is_cjk_ideograph(cp)) {
      out.push_back({' ', begin, end});
      out.push_back({cp, begin, end});
      out.push_back({' ', begin, end});
    } else {
      out.push_back({cp, begin, end});
    }
  }
  const bool strip = config_.strip_accents < 0 ? config_.lowercase : config_.strip_accents > 0;
  if (strip) {
    std::vector<NormChar> nfd;
    nfd.reserve(out.size() + 8);
    char32_t buf[unicode::kMaxDecomposition];
    for (const NormChar& c : out) {
      const int n = unicode::decompose(c.cp, buf);
      for (int k = 0; k < n; ++k) nfd.push_back({buf[k], c.begin, c.end});
    }
    // Canonical ordering: runs of non-starters sorted by combining class (stable).
    size_t i = 0;
    while (i < nfd.size()) {
      if (unicode::combining_class(nfd[i].cp) == 0) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < nfd.size() && unicode::combining_class(nfd[j].cp) != 0) ++j;
      std::stable_sort(nfd.begin() + i, nfd.begin() + j, [](const NormChar& a, const NormChar& b) {
        return unicode::combining_class(a.cp) < unicode::combining_class(b.cp);
      });
      i = j;
    }
    out.clear();
    for (const NormChar& c : nfd) {
      if (!unicode::is_mark_nonspacing(c.cp)) out.push_back(c);
    }
  }
  if (config_.lowercase) {
    std::vector<NormChar> lower;
    lower.reserve(out.size());
    char32_t buf[3];
    for (const NormChar& c : out) {
      const int n = unicode::to_lower(c.cp, buf);
      for (int k = 0; k < n; ++k) lower.push_back({buf[k], c.begin, c.end});
    }
    out = std::move(lower);
  }
  return out;
}

std::string WordPieceTokenizer::normalize(std::string_view text) const {
  std::string s;
  for (const NormChar& c : normalize_chars(text, 0)) unicode::append_utf8(s, c.cp);
  return s;
}

void WordPieceTokenizer::wordpiece(const std::vector<NormChar>& word,
                                   std::vector<Piece>& out) const {
  const Offset whole{word.front().begin, word.back().end};
  const int n = static_cast<int>(word.size());
  if (n > config_.max_input_chars_per_word) {
    out.push_back({unk_id_, whole});
    return;
  }
  std::string utf8;
  std::vector<size_t> byte_at(word.size() + 1);
  for (size_t i = 0; i < word.size(); ++i) {
    byte_at[i] = utf8.size();
    unicode::append_utf8(utf8, word[i].cp);
  }
  byte_at[word.size()] = utf8.size();

  const size_t first_new = out.size();
  std::string candidate;
  int start = 0;
  while (start < n) {
    // No vocabulary entry is longer than max_token_chars_, so shorter ends are the first that
    // can match; the result equals HF's search from the end of the word.
    int end = std::min(n, start + max_token_chars_);
    int32_t found = -1;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate = config_.continuing_subword_prefix;
      candidate.append(utf8, byte_at[start], byte_at[end] - byte_at[start]);
      auto it = ids_.find(candidate);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      out.resize(first_new);
      out.push_back({unk_id_, whole});
      return;
    }
    out.push_back({found, Offset{word[start].begin, word[end - 1].end}});
    start = end;
  }
}

std::vector<WordPieceTokenizer::Piece> WordPieceTokenizer::tokenize(std::string_view text) const {
  // Validate once up front so every error names the whole input.
  unicode::decode_utf8(text, "tokenizer input");
  std::vector<Piece> pieces;
  auto process_segment = [&](size_t seg_begin, size_t seg_end) {
    if (seg_begin >= seg_end) return;
    const std::vector<NormChar> chars =
        normalize_chars(text.substr(seg_begin, seg_end - seg_begin), static_cast<int64_t>(seg_begin));
    std::vector<NormChar> word;
    auto flush = [&] {
      if (!word.empty()) wordpiece(word, pieces);
      word.clear();
    };
    for (const NormChar& c : chars) {
      if (unicode::is_white_space(c.cp)) {
        flush();
      } else if (unicode::is_bert_punct(c.cp)) {
        flush();
        word.push_back(c);
        flush();
      } else {
        word.push_back(c);
      }
    }
    flush();
  };
  size_t seg_begin = 0;
  size_t i = 0;
  while (i < text.size()) {
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& s : special_) {
      if (text.compare(i, s.first.size(), s.first) == 0) {
        hit = &s;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    process_segment(seg_begin, i);
    pieces.push_back({hit->second, Offset{static_cast<int64_t>(i),
                                          static_cast<int64_t>(i + hit->first.size())}});
    i += hit->first.size();
    seg_begin = i;
  }
  process_segment(seg_begin, text.size());
  return pieces;
}

std::vector<Encoding> WordPieceTokenizer::encode(std::string_view text,
                                                 const EncodeOptions& options) const {
  return encode_impl(text, nullptr, options);
}

std::vector<Encoding> WordPieceTokenizer::encode_pair(std::string_view first,
                                                      std::string_view second,
                                                      const EncodeOptions& options) const {
  return encode_impl(first, &second, options);
}

std::vector<Encoding> WordPieceTokenizer::encode_impl(std::string_view first,
                                                      const std::string_view* second_or_null,
                                                      const EncodeOptions& options) const {
  const bool is_pair = second_or_null != nullptr;
  const std::string_view second = is_pair ? *second_or_null : std::string_view();
  S24_CHECK(options.max_length >= 0 && options.stride >= 0, ErrorCode::kInvalidArgument,
            "tokenizer: max_length and stride must be >= 0");
  auto to_raw = [&](std::string_view text, int32_t sequence_id) {
    RawEncoding e;
    for (const Piece& p : tokenize(text)) {
      e.ids.push_back(p.id);
      e.type_ids.push_back(0);
      e.special.push_back(0);
      e.attention.push_back(1);
      e.sequence_ids.push_back(sequence_id);
      e.offsets.push_back(p.offset);
    }
    return e;
  };
  RawEncoding a = to_raw(first, 0);
  RawEncoding b;
  if (is_pair) b = to_raw(second, 1);

  if (options.truncation != Truncation::kNone && options.max_length > 0) {
    const int64_t added = options.add_special_tokens ? (is_pair ? 3 : 2) : 0;
    S24_CHECK(options.max_length >= added, ErrorCode::kInvalidArgument, "tokenizer: max_length ",
              options.max_length, " leaves no room after the ", added, " special tokens");
    truncate_encodings(a, is_pair ? &b : nullptr, static_cast<size_t>(options.max_length - added),
                       options.truncation, static_cast<size_t>(options.stride));
  }

  // The BERT template: [CLS] A [SEP] (B [SEP]), B and its [SEP] with token type 1.
  a.set_type_and_sequence(0, 0);
  if (is_pair) b.set_type_and_sequence(1, 1);
  RawEncoding merged;
  if (options.add_special_tokens) merged = special_token(cls_id_, 0);
  merge_with(merged, a);
  if (options.add_special_tokens) merge_with(merged, special_token(sep_id_, 0));
  if (is_pair) {
    merge_with(merged, b);
    if (options.add_special_tokens) merge_with(merged, special_token(sep_id_, 1));
  }
  if (options.pad_to_max_length) {
    S24_CHECK(options.max_length > 0, ErrorCode::kInvalidArgument,
              "tokenizer: padding to max_length needs max_length > 0");
    pad_to(merged, static_cast<size_t>(options.max_length), pad_id_);
  }

  const std::vector<int64_t> chars_first = char_index_of_bytes(first);
  const std::vector<int64_t> chars_second =
      is_pair ? char_index_of_bytes(second) : std::vector<int64_t>{0};
  auto finish = [&](const RawEncoding& r) {
    Encoding e;
    e.ids = r.ids;
    e.type_ids = r.type_ids;
    e.special_tokens_mask = r.special;
    e.sequence_ids = r.sequence_ids;
    e.attention_mask = r.attention;
    e.offsets = r.offsets;
    e.tokens.reserve(r.size());
    e.char_offsets.reserve(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      e.tokens.push_back(vocab_[r.ids[i]]);
      const std::vector<int64_t>& idx = r.sequence_ids[i] == 1 ? chars_second : chars_first;
      if (r.sequence_ids[i] < 0) {
        e.char_offsets.push_back(Offset{});
      } else {
        e.char_offsets.push_back(Offset{idx[r.offsets[i].begin], idx[r.offsets[i].end]});
      }
    }
    return e;
  };
  std::vector<Encoding> out;
  out.reserve(1 + merged.overflowing.size());
  out.push_back(finish(merged));
  if (options.return_overflowing) {
    for (const RawEncoding& o : merged.overflowing) out.push_back(finish(o));
  }
  return out;
}

}  // namespace s24::model
