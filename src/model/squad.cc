#include "sparse24/model/squad.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/check.h"
#include "core/json.h"
#include "model/text_file.h"
#include "model/unicode.h"

namespace s24::model {
namespace {

// The key and the path are taken by value (a literal, a view): bound to temporaries as const
// std::string&, they made GCC 13's -Wdangling-reference suspect that the returned reference
// pointed into them (a false positive: it points into obj).
const Json& member(const Json& obj, const char* key, std::string_view path,
                   const std::string& what) {
  S24_CHECK(obj.is_object(), ErrorCode::kCorruptFile, what, ": ", path, " is not an object");
  const Json* v = obj.find(key);
  S24_CHECK(v != nullptr, ErrorCode::kCorruptFile, what, ": ", path, " has no \"", key, "\"");
  return *v;
}

const std::string& string_member(const Json& obj, const char* key, std::string_view path,
                                 const std::string& what) {
  const Json& v = member(obj, key, path, what);
  S24_CHECK(v.is_string(), ErrorCode::kCorruptFile, what, ": ", path, ".", key,
            " is not a string");
  unicode::decode_utf8(v.as_string(), (what + ": " + std::string(path) + "." + key).c_str());
  return v.as_string();
}

const Json::Array& array_member(const Json& obj, const char* key, std::string_view path,
                                const std::string& what) {
  const Json& v = member(obj, key, path, what);
  S24_CHECK(v.is_array(), ErrorCode::kCorruptFile, what, ": ", path, ".", key,
            " is not an array");
  return v.as_array();
}

// Python's str.strip(): removes leading and trailing str.isspace() characters.
std::string_view py_strip(std::string_view s) {
  const auto chars = unicode::decode_utf8(s, "question");
  size_t b = 0, e = chars.size();
  while (b < e && unicode::is_py_space(chars[b].cp)) ++b;
  while (e > b && unicode::is_py_space(chars[e - 1].cp)) --e;
  if (b == e) return s.substr(0, 0);
  return s.substr(chars[b].begin, chars[e - 1].end - chars[b].begin);
}

// The n_best positions of the highest logits, highest first; equal logits: higher index first
// (numpy's argsort(x)[-1:-n-1:-1] on a stable ascending sort).
std::vector<int64_t> top_positions(const float* logits, int64_t n, int n_best) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const int64_t k = std::min<int64_t>(n_best, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
    if (logits[a] != logits[b]) return logits[a] > logits[b];
    return a > b;
  });
  idx.resize(k);
  return idx;
}

std::vector<std::string> split_py_whitespace(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (const auto& c : unicode::decode_utf8(s, "answer")) {
    if (unicode::is_py_space(c.cp)) {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur.append(s.substr(c.begin, c.end - c.begin));
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

}  // namespace

std::vector<SquadExample> parse_squad(std::string_view json, const std::string& what) {
  const Json doc = Json::parse(json, what);
  const Json::Array& data = array_member(doc, "data", "$", what);
  std::vector<SquadExample> out;
  std::set<std::string> ids;
  for (size_t a = 0; a < data.size(); ++a) {
    const std::string apath = "data[" + std::to_string(a) + "]";
    std::string title;
    if (data[a].is_object() && data[a].contains("title")) {
      title = string_member(data[a], "title", apath, what);
    }
    const Json::Array& paragraphs = array_member(data[a], "paragraphs", apath, what);
    for (size_t p = 0; p < paragraphs.size(); ++p) {
      const std::string ppath = apath + ".paragraphs[" + std::to_string(p) + "]";
      const std::string& context = string_member(paragraphs[p], "context", ppath, what);
      const int64_t context_chars = unicode::count_code_points(context, context.size());
      const Json::Array& qas = array_member(paragraphs[p], "qas", ppath, what);
      for (size_t q = 0; q < qas.size(); ++q) {
        const std::string qpath = ppath + ".qas[" + std::to_string(q) + "]";
        SquadExample ex;
        ex.id = string_member(qas[q], "id", qpath, what);
        S24_CHECK(ids.insert(ex.id).second, ErrorCode::kCorruptFile, what, ": ", qpath,
                  ": duplicate question id '", ex.id, "'");
        ex.title = title;
        ex.context = context;
        ex.question = string_member(qas[q], "question", qpath, what);
        const Json::Array& answers = array_member(qas[q], "answers", qpath, what);
        for (size_t k = 0; k < answers.size(); ++k) {
          const std::string kpath = qpath + ".answers[" + std::to_string(k) + "]";
          SquadAnswer ans;
          ans.text = string_member(answers[k], "text", kpath, what);
          const Json& start = member(answers[k], "answer_start", kpath, what);
          S24_CHECK(start.is_number(), ErrorCode::kCorruptFile, what, ": ", kpath,
                    ".answer_start is not a number");
          ans.answer_start = start.as_int64();
          S24_CHECK(ans.answer_start >= 0 && ans.answer_start <= context_chars,
                    ErrorCode::kCorruptFile, what, ": ", kpath, ".answer_start ",
                    ans.answer_start, " is outside the context of ", context_chars,
                    " characters");
          ex.answers.push_back(std::move(ans));
        }
        out.push_back(std::move(ex));
      }
    }
  }
  return out;
}

std::vector<SquadExample> load_squad(const std::string& path) {
  return parse_squad(read_text_file(path), path);
}

std::vector<SquadFeature> prepare_validation_features(const WordPieceTokenizer& tokenizer,
                                                      const std::vector<SquadExample>& examples,
                                                      const SquadFeatureOptions& options) {
  EncodeOptions enc;
  enc.max_length = options.max_length;
  enc.stride = options.stride;
  enc.truncation = Truncation::kOnlySecond;
  enc.return_overflowing = true;
  enc.pad_to_max_length = options.pad_to_max_length;
  std::vector<SquadFeature> features;
  for (size_t i = 0; i < examples.size(); ++i) {
    const SquadExample& ex = examples[i];
    std::vector<Encoding> windows;
    try {
      windows = tokenizer.encode_pair(py_strip(ex.question), ex.context, enc);
    } catch (const Error& e) {
      S24_THROW(e.code(), "SQuAD example '", ex.id, "': ", e.what());
    }
    for (Encoding& w : windows) {
      SquadFeature f;
      f.example_index = static_cast<int64_t>(i);
      f.input_ids = std::move(w.ids);
      f.token_type_ids = std::move(w.type_ids);
      f.attention_mask = std::move(w.attention_mask);
      f.context_offsets.resize(w.offsets.size(), kNoOffset);
      for (size_t t = 0; t < w.offsets.size(); ++t) {
        if (w.sequence_ids[t] == 1) f.context_offsets[t] = w.offsets[t];
      }
      features.push_back(std::move(f));
    }
  }
  return features;
}

std::vector<SquadPrediction> decode_squad_spans(const std::vector<SquadExample>& examples,
                                                const std::vector<SquadFeature>& features,
                                                const Tensor& start_logits,
                                                const Tensor& end_logits,
                                                const SpanDecodeOptions& options) {
  S24_CHECK(options.n_best > 0 && options.max_answer_length > 0, ErrorCode::kInvalidArgument,
            "decode_squad_spans: n_best and max_answer_length must be positive");
  for (const Tensor* t : {&start_logits, &end_logits}) {
    S24_CHECK(t->defined() && t->device().is_cpu() && t->dtype() == DType::kF32 &&
                  t->dim() == 2 && t->is_contiguous(),
              ErrorCode::kInvalidArgument,
              "decode_squad_spans: logits must be contiguous F32 CPU [features, seq], got ",
              t->defined() ? t->describe() : std::string("an undefined tensor"));
  }
  S24_CHECK(start_logits.shape() == end_logits.shape(), ErrorCode::kShapeMismatch,
            "decode_squad_spans: start logits ", shape_str(start_logits.shape()),
            " and end logits ", shape_str(end_logits.shape()), " differ");
  const int64_t num_features = static_cast<int64_t>(features.size());
  S24_CHECK(start_logits.size(0) == num_features, ErrorCode::kShapeMismatch,
            "decode_squad_spans: ", start_logits.size(0), " logit rows for ", num_features,
            " features");
  const int64_t seq = start_logits.size(1);
  const float* all_start = start_logits.data<float>();
  const float* all_end = end_logits.data<float>();
  for (int64_t i = 0; i < num_features * seq; ++i) {
    S24_CHECK(std::isfinite(all_start[i]) && std::isfinite(all_end[i]), ErrorCode::kNonFinite,
              "decode_squad_spans: non-finite logit in feature ", i / seq, " position ", i % seq);
  }
  std::vector<std::vector<int64_t>> features_of(examples.size());
  for (int64_t f = 0; f < num_features; ++f) {
    const int64_t e = features[f].example_index;
    S24_CHECK(e >= 0 && e < static_cast<int64_t>(examples.size()), ErrorCode::kInvalidArgument,
              "decode_squad_spans: feature ", f, " names example ", e, " of ", examples.size());
    S24_CHECK(features[f].size() <= seq && features[f].context_offsets.size() ==
                                               static_cast<size_t>(features[f].size()),
              ErrorCode::kShapeMismatch, "decode_squad_spans: feature ", f, " has ",
              features[f].size(), " tokens but the logits only ", seq);
    features_of[e].push_back(f);
  }

  std::vector<SquadPrediction> out(examples.size());
  for (size_t e = 0; e < examples.size(); ++e) {
    SquadPrediction& pred = out[e];
    pred.id = examples[e].id;
    const std::string& context = examples[e].context;
    for (int64_t f : features_of[e]) {
      const SquadFeature& feat = features[f];
      const int64_t n = feat.size();
      const float* start = all_start + f * seq;
      const float* end = all_end + f * seq;
      const std::vector<int64_t> starts = top_positions(start, n, options.n_best);
      const std::vector<int64_t> ends = top_positions(end, n, options.n_best);
      for (int64_t s : starts) {
        for (int64_t t : ends) {
          const Offset& so = feat.context_offsets[s];
          const Offset& eo = feat.context_offsets[t];
          if (so.begin < 0 || eo.begin < 0) continue;
          if (t < s || t - s + 1 > options.max_answer_length) continue;
          // The logit sum in f32, as numpy adds two float32 values.
          const float score = start[s] + end[t];
          if (!pred.found || score > pred.score) {
            S24_CHECK(so.begin <= eo.end && eo.end <= static_cast<int64_t>(context.size()),
                      ErrorCode::kInvalidArgument, "decode_squad_spans: feature ", f,
                      " offsets [", so.begin, ", ", eo.end, ") do not fit example '", pred.id,
                      "'");
            pred.found = true;
            pred.score = score;
            pred.text = context.substr(so.begin, eo.end - so.begin);
          }
        }
      }
    }
  }
  return out;
}

std::string normalize_squad_answer(std::string_view text) {
  const std::string lower = unicode::py_lower(text);
  // string.punctuation: ASCII only.
  static const std::string kPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  std::string no_punct;
  no_punct.reserve(lower.size());
  for (char c : lower) {
    if (kPunct.find(c) == std::string::npos) no_punct.push_back(c);
  }
  // re.sub(r'\b(a|an|the)\b', ' ', s): a match is a whole maximal run of \w characters.
  const auto chars = unicode::decode_utf8(no_punct, "answer");
  std::string no_articles;
  no_articles.reserve(no_punct.size());
  size_t i = 0;
  while (i < chars.size()) {
    if (!unicode::is_py_word(chars[i].cp)) {
      no_articles.append(no_punct, chars[i].begin, chars[i].end - chars[i].begin);
      ++i;
      continue;
    }
    size_t j = i;
    while (j < chars.size() && unicode::is_py_word(chars[j].cp)) ++j;
    const std::string_view word(no_punct.data() + chars[i].begin,
                                chars[j - 1].end - chars[i].begin);
    if (word == "a" || word == "an" || word == "the") {
      no_articles.push_back(' ');
    } else {
      no_articles.append(word);
    }
    i = j;
  }
  std::string out;
  for (const std::string& w : split_py_whitespace(no_articles)) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

bool squad_exact_match(std::string_view prediction, std::string_view ground_truth) {
  return normalize_squad_answer(prediction) == normalize_squad_answer(ground_truth);
}

double squad_f1(std::string_view prediction, std::string_view ground_truth) {
  const auto pred = split_py_whitespace(normalize_squad_answer(prediction));
  const auto truth = split_py_whitespace(normalize_squad_answer(ground_truth));
  std::unordered_map<std::string, int64_t> counts;
  for (const std::string& t : truth) ++counts[t];
  int64_t same = 0;
  for (const std::string& p : pred) {
    auto it = counts.find(p);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(pred.size());
  const double recall = static_cast<double>(same) / static_cast<double>(truth.size());
  return 2.0 * precision * recall / (precision + recall);
}

SquadScore evaluate_squad(const std::vector<SquadExample>& examples,
                          const std::map<std::string, std::string>& predictions) {
  SquadScore score;
  double em = 0.0, f1 = 0.0;
  for (const SquadExample& ex : examples) {
    ++score.total;
    S24_CHECK(!ex.answers.empty(), ErrorCode::kInvalidArgument, "evaluate_squad: question '",
              ex.id, "' has no answers (SQuAD v1.1 needs at least one)");
    auto it = predictions.find(ex.id);
    if (it == predictions.end()) continue;  // unanswered: scores 0, as officially
    ++score.answered;
    double best_em = 0.0, best_f1 = 0.0;
    for (const SquadAnswer& a : ex.answers) {
      best_em = std::max(best_em, squad_exact_match(it->second, a.text) ? 1.0 : 0.0);
      best_f1 = std::max(best_f1, squad_f1(it->second, a.text));
    }
    em += best_em;
    f1 += best_f1;
  }
  if (score.total > 0) {
    score.exact_match = 100.0 * em / static_cast<double>(score.total);
    score.f1 = 100.0 * f1 / static_cast<double>(score.total);
  }
  return score;
}

SquadScore evaluate_squad(const std::vector<SquadExample>& examples,
                          const std::vector<SquadPrediction>& predictions) {
  std::map<std::string, std::string> by_id;
  for (const SquadPrediction& p : predictions) by_id[p.id] = p.text;
  return evaluate_squad(examples, by_id);
}

}  // namespace s24::model
