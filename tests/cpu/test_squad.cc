// The SQuAD v1.1 pipeline: reading (and rejecting bad) files, validation features with stride and
// offsets, span decoding on hand-made logits, the official EM/F1 on values computed with the
// official evaluate-v1.1 semantics, and an oracle run over tests/data/squad_sample.json (real
// public-domain text) that must score 100.
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "model/text_file.h"
#include "sparse24/model/squad.h"

namespace s24::model {
namespace {

using test::model_dir;
using test::source_dir;

std::string sample_path() { return source_dir() + "/tests/data/squad_sample.json"; }

TEST(Squad, ReadsTheSampleFile) {
  const auto examples = load_squad(sample_path());
  ASSERT_EQ(examples.size(), 18u);
  EXPECT_EQ(examples[0].id, "s24-0001");
  EXPECT_EQ(examples[0].title, "Gettysburg_Address");
  EXPECT_EQ(examples[0].answers.size(), 2u);
  for (const auto& ex : examples) {
    ASSERT_FALSE(ex.answers.empty());
    for (const auto& a : ex.answers) {
      // answer_start counts code points: the text must sit there.
      size_t byte = 0;
      for (int64_t chars = 0; chars < a.answer_start; ++chars) {
        ++byte;
        while (byte < ex.context.size() &&
               (static_cast<unsigned char>(ex.context[byte]) & 0xC0) == 0x80) {
          ++byte;
        }
      }
      EXPECT_EQ(ex.context.substr(byte, a.text.size()), a.text) << ex.id;
    }
  }
  // The Curie paragraph holds a non-ASCII letter before its answers: check one char offset.
  const SquadExample& curie = examples[13];
  EXPECT_EQ(curie.answers[0].text, "Warsaw");
  EXPECT_EQ(utf8_char_offset(curie.context, static_cast<int64_t>(curie.context.find("Warsaw"))),
            curie.answers[0].answer_start);
}

TEST(Squad, RejectsBadFiles) {
  S24_EXPECT_ERROR(parse_squad("{\"data\": 3}"), kCorruptFile, "data is not an array");
  S24_EXPECT_ERROR(parse_squad("{\"data\": [{\"paragraphs\": [{\"qas\": []}]}]}"), kCorruptFile,
                   "has no \"context\"");
  const std::string qa = R"({"id": "x", "question": "q?", "answers": [{"text": "c", "answer_start": 9}]})";
  S24_EXPECT_ERROR(parse_squad(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [)" + qa +
                               "]}]}]}"),
                   kCorruptFile, "outside the context");
  const std::string ok = R"({"id": "x", "question": "q?", "answers": [{"text": "c", "answer_start": 2}]})";
  S24_EXPECT_ERROR(parse_squad(R"({"data": [{"paragraphs": [{"context": "abc", "qas": [)" + ok +
                               "," + ok + "]}]}]}"),
                   kCorruptFile, "duplicate question id");
  S24_EXPECT_ERROR(parse_squad(R"({"data": [{"paragraphs": [{"context": 5, "qas": []}]}]})"),
                   kCorruptFile, "context is not a string");
  S24_EXPECT_ERROR(parse_squad("{\"data\": [}"), kCorruptFile, "");
  S24_EXPECT_ERROR(load_squad("/nonexistent/squad.json"), kIo, "/nonexistent/squad.json");
}

// Official evaluate-v1.1 values (computed with its normalize_answer / f1_score / exact_match).
TEST(Squad, OfficialMetricValues) {
  struct Case {
    const char* pred;
    const char* truth;
    const char* norm_pred;
    bool em;
    double f1;
  };
  const Case cases[] = {
      {"The Cat sat on the mat.", "cat sat on mat", "cat sat on mat", true, 1.0},
      {"Four score and seven years ago", "Four score and seven years",
       "four score and seven years ago", false, 0.9090909090909091},
      {"a great civil war", "civil war", "great civil war", false, 0.8},
      {"the the the", "the", "", true, 0.0},  // both normalise to "": EM 1 but F1 0
      {"Th\xC3\xA9\xC3\xA2tre\xE2\x80\x94l'\xC3\xA9t\xC3\xA9",
       "th\xC3\xA9\xC3\xA2tre\xE2\x80\x94l\xC3\xA9t\xC3\xA9",
       "th\xC3\xA9\xC3\xA2tre\xE2\x80\x94l\xC3\xA9t\xC3\xA9", true, 1.0},
      {"an apple a day", "An Apple, a Day!", "apple day", true, 1.0},
      {"theory of an atom", "theory atom", "theory of atom", false, 0.8},
      {"\xC3\x9C" "ber\xE3\x80\x80Stra\xC3\x9F" "e", "\xC3\xBC" "ber stra\xC3\x9F" "e",
       "\xC3\xBC" "ber stra\xC3\x9F" "e", true, 1.0},  // ideographic space splits words
      {"1911", "in 1911", "1911", false, 2.0 / 3.0},
      {"red red blue", "red blue blue", "red red blue", false, 2.0 / 3.0},
      {"x_the the_x", "x_the the_x", "xthe thex", true, 1.0},  // '_' is punctuation
      {"\xC3\x89" "COLE", "\xC3\xA9" "cole", "\xC3\xA9" "cole", true, 1.0},
      {"\xCE\xA3\xCE\x91\xCE\xA3", "\xCF\x83\xCE\xB1\xCF\x82", "\xCF\x83\xCE\xB1\xCF\x82", true,
       1.0},  // Python's final sigma
      {"a\xC2\xA0" "b", "a b", "b", true, 1.0},
      {"A.B.C.", "abc", "abc", true, 1.0},
      // "the" followed by a combining mark (not \w) is still a whole word.
      {"the\xCC\x81 cat", "cat", "\xCC\x81 cat", false, 2.0 / 3.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.pred) + " | " + c.truth);
    EXPECT_EQ(normalize_squad_answer(c.pred), c.norm_pred);
    EXPECT_EQ(squad_exact_match(c.pred, c.truth), c.em);
    EXPECT_NEAR(squad_f1(c.pred, c.truth), c.f1, 1e-12);
  }
}

TEST(Squad, EvaluateTakesTheBestAnswerAndCountsMissingAsZero) {
  std::vector<SquadExample> ex(3);
  ex[0].id = "a";
  ex[0].answers = {{"the red fox", 0}, {"fox", 0}};
  ex[1].id = "b";
  ex[1].answers = {{"seven years", 0}};
  ex[2].id = "c";
  ex[2].answers = {{"x", 0}};
  const std::map<std::string, std::string> preds = {{"a", "fox"}, {"b", "seven long years"}};
  const SquadScore s = evaluate_squad(ex, preds);
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.answered, 2);
  EXPECT_NEAR(s.exact_match, 100.0 / 3.0, 1e-9);
  // b: precision 2/3, recall 1 -> F1 0.8.
  EXPECT_NEAR(s.f1, 100.0 * (1.0 + 0.8 + 0.0) / 3.0, 1e-9);
  ex[2].answers.clear();
  S24_EXPECT_ERROR(evaluate_squad(ex, preds), kInvalidArgument, "no answers");
}

// Two hand-made features of one example; context offsets on positions 3..9.
struct HandMade {
  std::vector<SquadExample> examples;
  std::vector<SquadFeature> features;
  Tensor start, end;
};

HandMade hand_made(int64_t seq) {
  HandMade h;
  h.examples.resize(1);
  h.examples[0].id = "q1";
  h.examples[0].context = "zero one two three four five six";
  // word w covers bytes [begin, end) of the context
  const std::vector<Offset> words = {{0, 4}, {5, 8}, {9, 12}, {13, 18}, {19, 23}, {24, 28},
                                     {29, 32}};
  for (int f = 0; f < 2; ++f) {
    SquadFeature feat;
    feat.example_index = 0;
    feat.input_ids.assign(seq, 1);
    feat.token_type_ids.assign(seq, 0);
    feat.attention_mask.assign(seq, 1);
    feat.context_offsets.assign(seq, kNoOffset);
    // feature 0 holds words 0..4 at positions 3..7, feature 1 words 2..6 at positions 3..7
    for (int k = 0; k < 5; ++k) feat.context_offsets[3 + k] = words[f * 2 + k];
    h.features.push_back(feat);
  }
  h.start = Tensor::zeros({2, seq}, DType::kF32);
  h.end = Tensor::zeros({2, seq}, DType::kF32);
  return h;
}

TEST(Squad, DecodesTheBestValidSpan) {
  HandMade h = hand_made(10);
  float* s = h.start.data<float>();
  float* e = h.end.data<float>();
  // The highest logits sit on the question ([CLS] at 0, question at 1): never an answer.
  s[0] = 9.f;
  e[0] = 9.f;
  s[1] = 8.f;
  // end before start: start at 6, end at 4.
  s[6] = 4.f;
  e[4] = 5.f;
  // The best valid span: feature 1, start pos 4 (word 3 "three"), end pos 5 (word 4 "four").
  s[10 + 4] = 3.f;
  e[10 + 5] = 2.5f;
  // In feature 0, start 3 pairs with the end at 4: "zero one", 1 + 5 = 6 beats 5.5.
  s[3] = 1.f;
  auto preds = decode_squad_spans(h.examples, h.features, h.start, h.end);
  ASSERT_EQ(preds.size(), 1u);
  EXPECT_TRUE(preds[0].found);
  EXPECT_EQ(preds[0].text, "zero one");
  EXPECT_FLOAT_EQ(preds[0].score, 6.f);

  // Limit the length to one token: "zero one" (2 tokens) is out; the best single-token span is
  // position 4 of feature 0 ("one": 0 + 5), ahead of position 6 ("three": 4 + 0) and feature 1
  // position 4 ("three": 3 + 0).
  SpanDecodeOptions one;
  one.max_answer_length = 1;
  preds = decode_squad_spans(h.examples, h.features, h.start, h.end, one);
  EXPECT_EQ(preds[0].text, "one");
  EXPECT_FLOAT_EQ(preds[0].score, 5.f);

  // n_best = 2 keeps only the starts at 0 and 1 in feature 0 (both in the question), and in
  // feature 1 the starts 4 and the highest-index zero (9, no offset): the answer comes from
  // feature 1, start 4.
  SpanDecodeOptions best2;
  best2.n_best = 2;
  preds = decode_squad_spans(h.examples, h.features, h.start, h.end, best2);
  EXPECT_EQ(preds[0].text, "three four");
  EXPECT_FLOAT_EQ(preds[0].score, 5.5f);
}

TEST(Squad, NoValidSpanGivesEmptyAnswerAndBadLogitsThrow) {
  HandMade h = hand_made(10);
  // Every position outside the context has the top logits and n_best = 1.
  h.start.data<float>()[0] = 1.f;
  h.end.data<float>()[0] = 1.f;
  h.start.data<float>()[10] = 1.f;
  h.end.data<float>()[10] = 1.f;
  SpanDecodeOptions best1;
  best1.n_best = 1;
  auto preds = decode_squad_spans(h.examples, h.features, h.start, h.end, best1);
  EXPECT_FALSE(preds[0].found);
  EXPECT_EQ(preds[0].text, "");
  h.end.data<float>()[13] = std::nanf("");
  S24_EXPECT_ERROR(decode_squad_spans(h.examples, h.features, h.start, h.end), kNonFinite,
                   "feature 1");
  Tensor short_logits = Tensor::zeros({2, 5}, DType::kF32);
  S24_EXPECT_ERROR(decode_squad_spans(h.examples, h.features, short_logits, short_logits),
                   kShapeMismatch, "tokens");
  Tensor one_row = Tensor::zeros({1, 10}, DType::kF32);
  S24_EXPECT_ERROR(decode_squad_spans(h.examples, h.features, one_row, one_row), kShapeMismatch,
                   "features");
}

// ---- with the real vocabulary ---------------------------------------------------------------

class SquadWithVocab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!file_exists(model_dir() + "/vocab.txt")) {
      GTEST_SKIP() << "the MiniLM model folder " << model_dir()
                   << " is missing (scripts/install_deps.sh installs it; or set S24_MODEL_DIR)";
    }
    tokenizer_ = std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::from_directory(model_dir()));
    examples_ = load_squad(sample_path());
  }
  std::unique_ptr<WordPieceTokenizer> tokenizer_;
  std::vector<SquadExample> examples_;
};

TEST_F(SquadWithVocab, FeaturesHaveWindowsStrideAndContextOffsets) {
  const auto features = prepare_validation_features(*tokenizer_, examples_);
  std::vector<int> per_example(examples_.size(), 0);
  for (const auto& f : features) ++per_example[f.example_index];
  // The Declaration paragraph (examples 9..13) is longer than 384 tokens: two windows each.
  for (size_t e = 0; e < examples_.size(); ++e) {
    const bool long_context = examples_[e].title == "United_States_Declaration_of_Independence";
    EXPECT_EQ(per_example[e], long_context ? 2 : 1) << examples_[e].id;
  }
  for (size_t i = 0; i < features.size(); ++i) {
    const auto& f = features[i];
    ASSERT_EQ(f.size(), 384);
    const std::string& ctx = examples_[f.example_index].context;
    int64_t context_tokens = 0;
    for (int64_t t = 0; t < f.size(); ++t) {
      if (f.context_offsets[t].begin < 0) continue;
      ++context_tokens;
      EXPECT_EQ(f.token_type_ids[t], 1);
      EXPECT_LE(f.context_offsets[t].end, static_cast<int64_t>(ctx.size()));
    }
    EXPECT_GT(context_tokens, 0);
    if (i + 1 < features.size() && features[i + 1].example_index == f.example_index) {
      // Consecutive windows share `stride` = 128 context tokens.
      std::vector<Offset> a, b;
      for (int64_t t = 0; t < f.size(); ++t)
        if (f.context_offsets[t].begin >= 0) a.push_back(f.context_offsets[t]);
      const auto& g = features[i + 1];
      for (int64_t t = 0; t < g.size(); ++t)
        if (g.context_offsets[t].begin >= 0) b.push_back(g.context_offsets[t]);
      ASSERT_GE(a.size(), 128u);
      ASSERT_GE(b.size(), 128u);
      for (size_t k = 0; k < 128; ++k) EXPECT_EQ(a[a.size() - 128 + k], b[k]);
    }
  }
}

// Logits that point at the gold answer's tokens (found from the offsets as HF's
// prepare_train_features does) must decode to the gold text: EM = F1 = 100.
TEST_F(SquadWithVocab, OracleLogitsScorePerfectly) {
  const auto features = prepare_validation_features(*tokenizer_, examples_);
  const int64_t seq = 384;
  Tensor start = Tensor::empty({static_cast<int64_t>(features.size()), seq}, DType::kF32);
  Tensor end = Tensor::empty(start.shape(), DType::kF32);
  auto g = test::rng(11);
  std::normal_distribution<float> noise(0.f, 1.f);
  float* s = start.data<float>();
  float* e = end.data<float>();
  for (int64_t i = 0; i < start.numel(); ++i) {
    s[i] = noise(g);
    e[i] = noise(g);
  }
  int64_t placed = 0;
  for (size_t f = 0; f < features.size(); ++f) {
    const SquadExample& ex = examples_[features[f].example_index];
    const SquadAnswer& gold = ex.answers[0];
    const int64_t begin = static_cast<int64_t>(ex.context.find(gold.text));
    const int64_t stop = begin + static_cast<int64_t>(gold.text.size());
    int64_t ts = -1, te = -1;
    for (int64_t t = 0; t < seq; ++t) {
      const Offset& o = features[f].context_offsets[t];
      if (o.begin < 0) continue;
      if (ts < 0 && o.begin == begin) ts = t;
      if (o.end == stop) te = t;
    }
    if (ts < 0 || te < 0) continue;  // the answer is not (whole) in this window
    s[f * seq + ts] = 50.f;
    e[f * seq + te] = 50.f;
    ++placed;
  }
  EXPECT_GE(placed, static_cast<int64_t>(examples_.size()));
  const auto preds = decode_squad_spans(examples_, features, start, end);
  for (size_t i = 0; i < preds.size(); ++i) {
    EXPECT_EQ(preds[i].text, examples_[i].answers[0].text) << examples_[i].id;
  }
  const SquadScore score = evaluate_squad(examples_, preds);
  EXPECT_DOUBLE_EQ(score.exact_match, 100.0);
  EXPECT_DOUBLE_EQ(score.f1, 100.0);
}

}  // namespace
}  // namespace s24::model
