// sparse24 — the SQuAD v1.1 question-answering pipeline of the seed tutorial, in C++:
// reading the JSON, validation features (question + context windows of max_length 384 with a
// stride of 128, offsets of context tokens only), span decoding (the n_best = 20 best starts and
// ends of every window, answers of at most 30 tokens, best start + end logit sum), and the
// official exact-match / F1 metric with the official answer normalisation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sparse24/model/tokenizer.h"
#include "sparse24/tensor.h"

namespace s24::model {

struct SquadAnswer {
  std::string text;
  int64_t answer_start = 0;  // in code points of the context, as the file stores it
};

struct SquadExample {
  std::string id;
  std::string title;
  std::string context;
  std::string question;
  std::vector<SquadAnswer> answers;
};

// Reads SQuAD v1.1 JSON: {"data": [{"title", "paragraphs": [{"context", "qas": [{"id",
// "question", "answers": [{"text", "answer_start"}]}]}]}]}. Throws kIo / kCorruptFile naming the
// file and the JSON path of the first problem (missing member, wrong type, invalid UTF-8,
// duplicate id).
std::vector<SquadExample> load_squad(const std::string& path);
std::vector<SquadExample> parse_squad(std::string_view json, const std::string& what = "SQuAD JSON");

struct SquadFeatureOptions {
  int64_t max_length = 384;
  int64_t stride = 128;
  bool pad_to_max_length = true;
};

// One window of one example: [CLS] question [SEP] context window [SEP] (padding).
struct SquadFeature {
  int64_t example_index = 0;
  std::vector<int32_t> input_ids;
  std::vector<int32_t> token_type_ids;
  std::vector<int32_t> attention_mask;
  // Byte ranges into the example's context for context tokens; {-1, -1} for question, special
  // and padding tokens (HF's None): only context tokens can start or end an answer.
  std::vector<Offset> context_offsets;
  int64_t size() const { return static_cast<int64_t>(input_ids.size()); }
};
constexpr Offset kNoOffset{-1, -1};

// HF prepare_validation_features: the question is stripped of surrounding whitespace, the
// context truncated "only_second" with overflowing windows.
std::vector<SquadFeature> prepare_validation_features(const WordPieceTokenizer& tokenizer,
                                                      const std::vector<SquadExample>& examples,
                                                      const SquadFeatureOptions& options = {});

struct SpanDecodeOptions {
  int n_best = 20;
  int max_answer_length = 30;  // tokens
};

struct SquadPrediction {
  std::string id;
  std::string text;      // "" when no window allowed any span
  double score = 0.0;    // start + end logit of the chosen span
  bool found = false;
};

// start_logits / end_logits: F32 CPU [num_features, seq] (seq >= every feature's length), one row
// per feature in the order prepare_validation_features returned them. For each example, every
// window's n_best highest start and end positions are paired; spans outside the context, with
// end < start or longer than max_answer_length are skipped; the highest start + end sum wins
// (the first found on ties; equal logits rank the higher position first, as a reversed
// ascending argsort does). Throws kNonFinite on NaN/Inf logits.
std::vector<SquadPrediction> decode_squad_spans(const std::vector<SquadExample>& examples,
                                                const std::vector<SquadFeature>& features,
                                                const Tensor& start_logits,
                                                const Tensor& end_logits,
                                                const SpanDecodeOptions& options = {});

// The official evaluate-v1.1 normalisation: Python lower(), ASCII punctuation removed, the words
// a/an/the (as whole \w runs) replaced by a space, whitespace runs collapsed to one space.
std::string normalize_squad_answer(std::string_view text);
bool squad_exact_match(std::string_view prediction, std::string_view ground_truth);
// Token-bag F1 in [0, 1]; 0 when no token is shared (also when both are empty, as officially).
double squad_f1(std::string_view prediction, std::string_view ground_truth);

struct SquadScore {
  double exact_match = 0.0;  // percent, over all examples (unanswered ones count as 0)
  double f1 = 0.0;           // percent
  int64_t total = 0;
  int64_t answered = 0;
};
// Each example scores the best over its ground-truth answers. Throws kInvalidArgument for an
// example without answers (SQuAD v2 unanswerable questions are not part of v1.1).
SquadScore evaluate_squad(const std::vector<SquadExample>& examples,
                          const std::map<std::string, std::string>& predictions);
SquadScore evaluate_squad(const std::vector<SquadExample>& examples,
                          const std::vector<SquadPrediction>& predictions);

}  // namespace s24::model
