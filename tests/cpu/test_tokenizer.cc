// The WordPiece tokenizer: token-for-token equality with Hugging Face BertTokenizerFast on the
// checked-in fixture of real sentences (scripts/make_hf_fixtures.py), and hand-made vocabularies
// for the rules one at a time (greedy longest match, [UNK], punctuation, CJK, accents, offsets,
// truncation with stride and overflow, errors).
#include <cstdlib>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/json.h"
#include "model/text_file.h"
#include "model/unicode.h"
#include "sparse24/model/tokenizer.h"

namespace s24::model {
namespace {

using test::model_dir;
using test::source_dir;

WordPieceTokenizer small_tokenizer(TokenizerConfig config = {}) {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",  "##aff",
                                    "##able", "unaff", "a",     "##b",   "##c",    "abc", ",",
                                    "!",     "中",    "国",     "cafe",  "café",   "hello",
                                    "world", "##s",   "the",   "dog"};
  return WordPieceTokenizer(vocab, config);
}

std::vector<std::string> tokens_of(const WordPieceTokenizer& tok, const std::string& text) {
  std::vector<std::string> out;
  for (const auto& p : tok.tokenize(text)) out.push_back(tok.id_to_token(p.id));
  return out;
}

using Tokens = std::vector<std::string>;

TEST(Unicode, TablesAgreeWithKnownFacts) {
  char32_t buf[unicode::kMaxDecomposition];
  ASSERT_EQ(unicode::decompose(U'\u00E9', buf), 2);  // é -> e + combining acute
  EXPECT_EQ(buf[0], U'e');
  EXPECT_EQ(buf[1], U'\u0301');
  ASSERT_EQ(unicode::decompose(U'\uD55C', buf), 3);  // 한 -> three jamo
  EXPECT_EQ(buf[0], U'\u1112');
  EXPECT_EQ(buf[1], U'\u1161');
  EXPECT_EQ(buf[2], U'\u11AB');
  ASSERT_EQ(unicode::decompose(U'\u1E69', buf), 3);  // ṩ: s + dot below + dot above
  EXPECT_EQ(buf[1], U'\u0323');
  EXPECT_EQ(buf[2], U'\u0307');
  EXPECT_EQ(unicode::decompose(U'x', buf), 1);
  char32_t low[3];
  EXPECT_EQ(unicode::to_lower(U'\u0130', low), 2);  // İ -> i + combining dot above
  EXPECT_EQ(unicode::to_lower(U'\u0100', low), 1);  // Ā -> ā (a step-2 range)
  EXPECT_EQ(low[0], U'\u0101');
  EXPECT_EQ(unicode::to_lower(U'\u0101', low), 1);
  EXPECT_EQ(low[0], U'\u0101');
  EXPECT_EQ(unicode::to_lower(U'\u0416', low), 1);  // Ж -> ж
  EXPECT_EQ(low[0], U'\u0436');
  EXPECT_TRUE(unicode::is_bert_punct(U'$'));        // ASCII symbol counted as punctuation
  EXPECT_TRUE(unicode::is_bert_punct(U'\u2014'));   // em dash (Pd)
  EXPECT_FALSE(unicode::is_bert_punct(U'\u20AC'));  // euro sign (Sc) is not
  EXPECT_TRUE(unicode::is_other(U'\u00AD'));        // soft hyphen (Cf)
  EXPECT_TRUE(unicode::is_white_space(U'\u3000'));
  EXPECT_FALSE(unicode::is_white_space(U'\u200B'));  // zero width space is a format char
  EXPECT_TRUE(unicode::is_py_space(U'\x1c'));       // Python's isspace, not White_Space
  EXPECT_FALSE(unicode::is_white_space(U'\x1c'));
  EXPECT_TRUE(unicode::is_py_word(U'\u00E9'));
  EXPECT_TRUE(unicode::is_py_word(U'_'));
  EXPECT_FALSE(unicode::is_py_word(U'\u0301'));  // Mn is not \w in Python's re
  EXPECT_EQ(unicode::combining_class(U'\u0301'), 230);
  EXPECT_EQ(unicode::combining_class(U'\u0323'), 220);
}

TEST(Unicode, RejectsMalformedUtf8) {
  S24_EXPECT_ERROR(unicode::decode_utf8("ab\xC3"), kInvalidArgument, "truncated");
  S24_EXPECT_ERROR(unicode::decode_utf8("\xC0\x80"), kInvalidArgument, "lead byte");
  S24_EXPECT_ERROR(unicode::decode_utf8("\xE0\x80\x80"), kInvalidArgument, "overlong");
  S24_EXPECT_ERROR(unicode::decode_utf8("\xED\xA0\x80"), kInvalidArgument, "surrogate");
  S24_EXPECT_ERROR(unicode::decode_utf8("\xF4\x90\x80\x80"), kInvalidArgument, "range");
  S24_EXPECT_ERROR(unicode::decode_utf8("a\xE2\x82z"), kInvalidArgument, "continuation");
  const auto chars = unicode::decode_utf8("a\xC3\xA9\xF0\x9F\x99\x82");
  ASSERT_EQ(chars.size(), 3u);
  EXPECT_EQ(chars[1].cp, U'\u00E9');
  EXPECT_EQ(chars[2].cp, U'\U0001F642');
  EXPECT_EQ(chars[2].begin, 3u);
  EXPECT_EQ(chars[2].end, 7u);
}

TEST(Tokenizer, GreedyLongestMatchFirst) {
  const auto tok = small_tokenizer();
  // "unaffable": the longest prefix in the vocabulary is "unaff", then "##able".
  EXPECT_EQ(tokens_of(tok, "unaffable"), (Tokens{"unaff", "##able"}));
  EXPECT_EQ(tokens_of(tok, "abc abcc ab"), (Tokens{"abc", "abc", "##c", "a", "##b"}));
  // "abd" cannot be covered: the whole word becomes [UNK], not "a" + [UNK].
  EXPECT_EQ(tokens_of(tok, "abd dogs"), (Tokens{"[UNK]", "dog", "##s"}));
}

TEST(Tokenizer, UnknownForOverlongWords) {
  TokenizerConfig cfg;
  cfg.max_input_chars_per_word = 4;
  const auto tok = small_tokenizer(cfg);
  EXPECT_EQ(tokens_of(tok, "abcc abc"), (Tokens{"abc", "##c", "abc"}));
  const auto pieces = tok.tokenize("a abccc");  // five characters > 4
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1].id, tok.unk_id());
  EXPECT_EQ(pieces[1].offset, (Offset{2, 7}));
}

TEST(Tokenizer, PunctuationWhitespaceCjkAndOffsets) {
  const auto tok = small_tokenizer();
  const std::string text = "Hello,\tworld!中国 CAFÉ";
  const auto pieces = tok.tokenize(text);
  EXPECT_EQ(tokens_of(tok, text),
            (Tokens{"hello", ",", "world", "!", "中", "国", "cafe"}));
  ASSERT_EQ(pieces.size(), 7u);
  EXPECT_EQ(pieces[0].offset, (Offset{0, 5}));
  EXPECT_EQ(pieces[1].offset, (Offset{5, 6}));
  EXPECT_EQ(pieces[2].offset, (Offset{7, 12}));
  EXPECT_EQ(pieces[4].offset, (Offset{13, 16}));  // 中 is three UTF-8 bytes
  EXPECT_EQ(pieces[5].offset, (Offset{16, 19}));
  EXPECT_EQ(pieces[6].offset, (Offset{20, 25}));  // É is two bytes; accent stripped
  EXPECT_EQ(text.substr(20, 5), "CAF\xC3\x89");
}

TEST(Tokenizer, AccentsFollowConfig) {
  TokenizerConfig keep;
  keep.strip_accents = 0;
  EXPECT_EQ(tokens_of(small_tokenizer(keep), "Café"), (Tokens{"café"}));
  EXPECT_EQ(tokens_of(small_tokenizer(), "Café"), (Tokens{"cafe"}));
  TokenizerConfig cased;
  cased.lowercase = false;
  EXPECT_EQ(tokens_of(small_tokenizer(cased), "dog Dog"), (Tokens{"dog", "[UNK]"}));
  EXPECT_EQ(small_tokenizer().normalize("A\xC2\xAD" "b\tC\xE4\xB8\xAD"), "ab c 中 ");
}

TEST(Tokenizer, CleanTextDropsControlAndFormatCharacters) {
  const auto tok = small_tokenizer();
  // Soft hyphen (format) and BEL (control) vanish; the word stays whole and its offsets cover them.
  const std::string text = "ab\xC2\xAD" "c d\x07og";
  const auto pieces = tok.tokenize(text);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(tok.id_to_token(pieces[0].id), "abc");
  EXPECT_EQ(pieces[0].offset, (Offset{0, 5}));
  EXPECT_EQ(tok.id_to_token(pieces[1].id), "dog");
  EXPECT_EQ(pieces[1].offset, (Offset{6, 10}));
}

TEST(Tokenizer, LiteralSpecialTokensAreMatchedBeforeNormalization) {
  const auto tok = small_tokenizer();
  EXPECT_EQ(tokens_of(tok, "the[MASK]dog [mask]"),
            (Tokens{"the", "[MASK]", "dog", "[UNK]", "[UNK]", "[UNK]"}));
}

TEST(Tokenizer, PairTruncationStrideAndOverflow) {
  const auto tok = small_tokenizer();
  EncodeOptions opt;
  opt.max_length = 9;  // [CLS] q q [SEP] + 4 context tokens + [SEP]
  opt.truncation = Truncation::kOnlySecond;
  opt.stride = 1;
  opt.return_overflowing = true;
  opt.pad_to_max_length = true;
  const auto encs = tok.encode_pair("the dog", "a abc hello world cafe , !", opt);
  // Context has 7 tokens; windows of 4 starting every 3: [0,4) [3,7).
  ASSERT_EQ(encs.size(), 2u);
  EXPECT_EQ(encs[0].tokens, (Tokens{"[CLS]", "the", "dog", "[SEP]", "a", "abc", "hello", "world",
                                    "[SEP]"}));
  EXPECT_EQ(encs[1].tokens, (Tokens{"[CLS]", "the", "dog", "[SEP]", "world", "cafe", ",", "!",
                                    "[SEP]"}));
  EXPECT_EQ(encs[1].type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(encs[1].sequence_ids, (std::vector<int32_t>{-1, 0, 0, -1, 1, 1, 1, 1, -1}));
  EXPECT_EQ(encs[1].offsets[4], (Offset{12, 17}));  // "world" in the second text
  EXPECT_EQ(encs[1].attention_mask, (std::vector<int32_t>(9, 1)));

  opt.max_length = 12;
  const auto padded = tok.encode_pair("the dog", "a abc", opt);
  ASSERT_EQ(padded.size(), 1u);
  EXPECT_EQ(padded[0].size(), 12);
  EXPECT_EQ(padded[0].ids.back(), tok.pad_id());
  EXPECT_EQ(padded[0].attention_mask[6], 1);
  EXPECT_EQ(padded[0].attention_mask[7], 0);
  EXPECT_EQ(padded[0].sequence_ids[7], -1);
}

TEST(Tokenizer, TruncationErrors) {
  const auto tok = small_tokenizer();
  EncodeOptions opt;
  opt.max_length = 6;
  opt.truncation = Truncation::kOnlySecond;
  opt.stride = 2;
  opt.return_overflowing = true;
  // Room for the context: 6 - 3 special - 2 question = 1 token, stride 2 is too large.
  S24_EXPECT_ERROR(tok.encode_pair("the dog", "a abc hello world", opt), kInvalidArgument,
                   "stride");
  opt.stride = 0;
  opt.max_length = 5;  // the context would have to lose everything
  S24_EXPECT_ERROR(tok.encode_pair("the dog", "a", opt), kInvalidArgument, "too short");
  S24_EXPECT_ERROR(tok.encode("the dog the dog", opt), kInvalidArgument, "second sequence");
  opt.max_length = 1;
  opt.truncation = Truncation::kLongestFirst;
  S24_EXPECT_ERROR(tok.encode("the dog", opt), kInvalidArgument, "special tokens");
  S24_EXPECT_ERROR(tok.encode("bad \xFF byte"), kInvalidArgument, "UTF-8");
  S24_EXPECT_ERROR(WordPieceTokenizer({"a", "b"}), kInvalidArgument, "[UNK]");
}

// ---- the Hugging Face fixture -------------------------------------------------------------

std::vector<int32_t> ints(const Json& a) {
  std::vector<int32_t> v;
  for (const Json& x : a.as_array()) v.push_back(static_cast<int32_t>(x.as_int64()));
  return v;
}

EncodeOptions options_from(const Json& o) {
  EncodeOptions opt;
  opt.max_length = o.get_int64("max_length", 0);
  opt.stride = o.get_int64("stride", 0);
  opt.return_overflowing = o.get_bool("return_overflowing_tokens", false);
  opt.pad_to_max_length = o.get_string("padding", "") == "max_length";
  if (const Json* t = o.find("truncation")) {
    if (t->is_bool()) {
      opt.truncation = t->as_bool() ? Truncation::kLongestFirst : Truncation::kNone;
    } else {
      const std::string& s = t->as_string();
      opt.truncation = s == "only_second"  ? Truncation::kOnlySecond
                       : s == "only_first" ? Truncation::kOnlyFirst
                                           : Truncation::kLongestFirst;
    }
  }
  return opt;
}

TEST(Tokenizer, MatchesHuggingFaceOnRealSentences) {
  const std::string dir = model_dir();
  if (!file_exists(dir + "/vocab.txt")) {
    GTEST_SKIP() << "the MiniLM model folder " << dir
                 << " is missing (scripts/install_deps.sh installs it; or set S24_MODEL_DIR)";
  }
  const auto tok = WordPieceTokenizer::from_directory(dir);
  const Json fixture = Json::parse(
      read_text_file(source_dir() + "/tests/data/hf_tokenizer_fixture.json"), "fixture");
  const Json::Array& cases = fixture.at("cases").as_array();
  ASSERT_GE(cases.size(), 40u);
  int64_t tokens_checked = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    const Json& cs = cases[c];
    const std::string& text = cs.at("text").as_string();
    const EncodeOptions opt = options_from(cs.at("options"));
    const std::vector<Encoding> got = cs.contains("text_pair")
                                          ? tok.encode_pair(text, cs.at("text_pair").as_string(), opt)
                                          : tok.encode(text, opt);
    const Json::Array& want = cs.at("encodings").as_array();
    SCOPED_TRACE("case " + std::to_string(c) + ": " + text);
    ASSERT_EQ(got.size(), want.size());
    for (size_t e = 0; e < want.size(); ++e) {
      SCOPED_TRACE("encoding " + std::to_string(e));
      EXPECT_EQ(got[e].ids, ints(want[e].at("input_ids")));
      EXPECT_EQ(got[e].type_ids, ints(want[e].at("token_type_ids")));
      EXPECT_EQ(got[e].attention_mask, ints(want[e].at("attention_mask")));
      EXPECT_EQ(got[e].sequence_ids, ints(want[e].at("sequence_ids")));
      const Json::Array& offs = want[e].at("offsets").as_array();
      ASSERT_EQ(got[e].char_offsets.size(), offs.size());
      for (size_t i = 0; i < offs.size(); ++i) {
        const Offset w{offs[i].as_array()[0].as_int64(), offs[i].as_array()[1].as_int64()};
        EXPECT_EQ(got[e].char_offsets[i], w) << "token " << i << " " << got[e].tokens[i];
        // Byte offsets and code point offsets describe the same span.
        if (got[e].sequence_ids[i] >= 0) {
          const std::string& src =
              got[e].sequence_ids[i] == 1 ? cs.at("text_pair").as_string() : text;
          EXPECT_EQ(utf8_char_offset(src, got[e].offsets[i].begin), w.begin);
          EXPECT_EQ(utf8_char_offset(src, got[e].offsets[i].end), w.end);
        }
      }
      tokens_checked += got[e].size();
    }
  }
  std::printf("compared %lld tokens of %zu cases with HF\n", static_cast<long long>(tokens_checked),
              cases.size());
}

}  // namespace
}  // namespace s24::model
