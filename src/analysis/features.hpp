// Attention to linguistic features (Kovaleva et al. 2019, methods.md 2.3, 2.5 and 2.6).
//
// A feature selects tokens of each input (a token predicate or an annotated span). Per head
// and input, with A the map cropped to the T real tokens (rows = queries):
//   received  = max over feature tokens t of (1/T) sum_i A[i, t]   (Fig. 6: attention the
//               feature receives, normalised by length; [CLS] and [SEP] are features too)
//   from_cls  = max over feature tokens t of A[0, t]               (Fig. 7: read in the last layer)
// A link joins two token sets of the same input (FrameNet frame element -> target, subject ->
// verb):
//   link      = max over pairs (i, j) of A[i, j], i in the first set (query), j in the second
//               (key); all pairs as the paper states, or zip(first, second) as its code did.
// Scores are averaged over the inputs that have the feature (the paper) or over all inputs
// with 0 for the others (the code's behaviour for all features but negation).
//
// Selectors (text of --feature / --link):
//   cls, sep                       the [CLS] token; the [SEP] tokens
//   neg                            the paper's negation words and "n't" (see kNegationWords)
//   words:a,b,c  words@FILE        whitespace-separated words of the text, lower-cased, with
//                                  leading/trailing punctuation (not apostrophes) removed
//   upos:X,Y  xpos:X,Y  deprel:x,y CoNLL-U columns of the word a token belongs to (deprel
//                                  without ':' matches every subtype)
//   pron noun verb subj obj        the paper's spaCy features mapped to UD (see docs)
//   span:NAME                      annotated spans: target, fe (core frame elements), fe-all,
//                                  or a frame element's name
// Links: "FROM>TO" with two selectors, or "arc:REL" / "rarc:REL" (CoNLL-U: from each word with
// relation REL to its head, or back), optionally "arc:REL/UPOS" requiring the head's UPOS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "analysis/figure.hpp"
#include "analysis/task_data.hpp"

namespace bertscope::analysis::features {

// Kovaleva et al.'s NEG list, plus "n't": tokenized text (SST-2, UD, spaCy) splits the list's
// contractions into "do n't", "could n't", ..., which would otherwise never match.
extern const std::array<std::string_view, 18> kNegationWords;

struct WordInfo {  // a CoNLL-U word
  std::string form, upos, xpos, deprel;
  int head = 0;  // 1-based, 0 = root
};

struct Span {  // [begin, end) in code points of the input text (the first segment)
  std::string name;  // "target" or the frame element's name
  std::string type;  // "target", or the frame element's core type ("Core", "Peripheral", ...)
  std::int64_t begin = 0, end = 0;
};

struct Example {
  AnalysisInput input;
  std::vector<WordInfo> words;  // CoNLL-U data: word_ids index these
  std::vector<Span> spans;      // span data
  std::size_t line = 0;         // first line in the data file
};

enum class DataFormat { text, task, conllu, spans };
std::string_view format_name(DataFormat f);

struct Dataset {
  std::filesystem::path source;
  DataFormat format = DataFormat::text;
  std::vector<Example> examples;
  nlohmann::json report = nlohmann::json::object();  // e.g. the span filter's counts

  std::vector<AnalysisInput> inputs() const;
};

Dataset from_task(const TaskData& data);
Dataset read_text_data(const std::filesystem::path& path);    // one input per line, a tab separates a pair
Dataset read_conllu_data(const std::filesystem::path& path);  // words, UPOS, XPOS, relations
// A FrameNet-style span TSV with the columns `sentence`, `target_spans` ("start:end;...") and
// `fe_spans` ("NAME|CORE_TYPE|start:end;..."), offsets in code points, end exclusive (the
// format of shared/data/framenet17_sample). Errors name FILE:LINE and the field.
Dataset read_span_data(const std::filesystem::path& path);
// Chooses by extension and header: .conllu; a TSV with target_spans/fe_spans; another TSV
// (a task, see task_data.hpp); else plain text.
Dataset read_dataset(const std::filesystem::path& path, const std::optional<TaskSpec>& task = {});

// Kovaleva et al.'s sentence filter for FrameNet (methods.md 2.3), with words = whitespace-
// and-punctuation-separated tokens standing in for NLTK's: at most max_words words, exactly one
// target span covering one word, every frame element at most max_fe_words words and none within
// window words of the target, at least one core frame element. Returns the counts per reason.
struct SpanFilter {
  std::size_t max_words = 12;
  std::size_t max_fe_words = 3;
  std::size_t window = 2;
};
nlohmann::json filter_spans(Dataset& data, const SpanFilter& filter);

class Selector {
 public:
  static Selector parse(std::string_view spec);  // Error(input) naming the spec
  // Token positions of one input, ascending.
  std::vector<std::int64_t> positions(const Example& example, const model::Encoding& encoding) const;
  const std::string& spec() const { return spec_; }
  // Error(input) when the selector needs annotations the data format lacks.
  void check_format(DataFormat format) const;

 private:
  enum class Kind { cls, sep, words, upos, xpos, deprel, span };
  std::string spec_;
  Kind kind_ = Kind::cls;
  std::set<std::string> values_;
};

struct Feature {
  std::string name;
  Selector selector;
};
// "NAME=SELECTOR", or a bare SELECTOR named by itself.
Feature parse_feature(std::string_view text);

enum class Pairing { all, zip };

class Link {
 public:
  static Link parse(std::string_view text);  // "NAME=FROM>TO" or "NAME=arc:REL[/UPOS]", NAME optional
  // (query, key) token pairs of one input.
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs(const Example& example, const model::Encoding& encoding,
                                                           Pairing pairing) const;
  const std::string& name() const { return name_; }
  const std::string& spec() const { return spec_; }
  void check_format(DataFormat format) const;

 private:
  std::string name_, spec_;
  std::optional<Selector> from_, to_;  // selector links
  std::string relation_, head_upos_;   // arc links
  bool reverse_ = false;
};

enum class Missing { skip, zero };

struct Options {
  std::vector<Feature> features;
  std::vector<Link> links;
  Pairing pairing = Pairing::all;
  Missing missing = Missing::skip;
};

// The document's parameters: the features and links as selector specs, the pairing and missing
// rules, and the definitions of the three statistics.
nlohmann::json params_json(const Options& options);

// Streams inputs: add() one example's maps at a time.
class Accumulator {
 public:
  Accumulator(std::int64_t layers, std::int64_t heads, Options options);
  void add(const Example& example, const model::Encoding& encoding, const core::Tensor& attentions);
  // {"features": {NAME: {...}}, "links": {NAME: {...}}}; each with "inputs" (that had it),
  // score matrices [layers][heads], the 5 top heads, the 99th percentile over heads (numpy's
  // linear interpolation) and the heads above it.
  nlohmann::json to_json() const;
  // The sums so far as bytes, and adding another accumulator's (of the same shape and options)
  // to these: one block of a run spread over processes (analysis/blocks.hpp).
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  struct Sums {
    std::vector<double> a, b;  // [layer * heads + head]
    std::size_t inputs = 0;
  };
  std::int64_t layers_, heads_;
  Options options_;
  std::size_t total_ = 0;
  std::vector<Sums> features_, links_;
};

// numpy.percentile(values, p) with linear interpolation.
double percentile(std::vector<double> values, double p);

// The figures these results make (Kovaleva et al.'s Fig. 6 per head); written into the document
// (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::features
