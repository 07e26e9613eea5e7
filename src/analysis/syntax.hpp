// Dependency syntax in single heads (Clark et al. 2019, section 4.2, Table 1; methods.md 1.5),
// on CoNLL-U treebanks.
//
// On each head's word-level map B (units [CLS], w1 .. wm, [SEP]):
//   dep_to_head: zero the diagonal, drop the [CLS]/[SEP] rows and columns, and predict for word i
//                the word it attends to most, argmax_j B[i, j] (ties: the first word; ROOT is
//                never predicted);
//   head_to_dep: the same on B transposed: the word that attends most to i.
// Accuracy of relation r = words with relation r whose predicted head is the gold head / words
// with relation r. `all` pools every word (punct and root too, as Clark's code does). A word
// with relation poss (UD: nmod:poss) followed by "'s" or "s'" is scored with the prediction of
// the "'s" word (the paper's rule: 's counts as correct).
// The fixed-offset baseline predicts clip(i + 1 + k, 0, m) (1-based, 0 = ROOT) for offsets k.
//
// The words are the CoNLL-U syntactic words (the parts of a multi-word token such as "do" +
// "n't", not the token "don't"); empty nodes are not part of the tree and are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"
#include "analysis/figure.hpp"
#include "analysis/word_attention.hpp"
#include "io/conllu.hpp"

namespace bertscope::analysis::syntax {

struct Options {
  FromWord from = FromWord::mean;
  bool base_relations = false;  // "nmod:poss" -> "nmod" (the relation before ':')
  bool poss_rule = true;
  std::vector<int> offsets{-3, -2, -1, 0, 1, 2};  // Clark's code: range(-3, 3)
};

// The words of a CoNLL-U sentence as an analysis input (the words bertscope run --input FILE.conllu
// writes traces for, so word_ids index them).
AnalysisInput conllu_input(const io::ConlluSentence& sentence);

// A sentence as scored: words, 1-based gold heads (0 = ROOT), relations as reported, and whether
// the poss rule applies to each word.
struct Sentence {
  std::vector<std::string> words;
  std::vector<int> heads;
  std::vector<std::string> relations;
  std::vector<char> possessive;  // the word's relation is poss / nmod:poss (before any base-relation cut)
};
Sentence make_sentence(const io::ConlluSentence& sentence, const Options& options);

// Predicted 1-based heads (never 0) of the words of one word-level map [U, U], U = words + 2.
std::vector<int> predict_heads(const float* word_map, std::int64_t units, bool transpose);

enum Direction { dep_to_head = 0, head_to_dep = 1 };

struct Relation {
  std::string name;
  std::size_t count = 0;
  std::vector<std::size_t> correct[2];      // [direction][layer * heads + head]
  std::vector<std::size_t> offset_correct;  // per Options::offsets
};

struct Result {
  std::int64_t layers = 0, heads = 0;
  Options options;
  std::vector<Relation> relations;  // "all" first, then by count (descending), then name
  std::size_t sentences = 0;        // scored
  std::size_t words = 0;            // scored
  std::size_t skipped_too_long = 0;
  std::size_t skipped_words_without_tokens = 0;
  std::size_t truncated_sentences = 0;
  std::size_t words_not_scored = 0;  // cut off by truncation
};

class Accumulator {
 public:
  Accumulator(std::int64_t layers, std::int64_t heads, Options options);
  // word_maps: [layers, heads, U, U] for the sentence's first `covered` words (U = covered + 2).
  void add(const Sentence& sentence, const core::Tensor& word_maps, std::size_t covered);
  // A sentence with a word that has no token: not scored, counted.
  void count_without_tokens() { ++without_tokens_; }
  std::size_t without_tokens() const { return without_tokens_; }
  Result result() const;
  // The sums so far as bytes, and adding another accumulator's (of the same shape and options)
  // to these: one block of a run spread over processes (analysis/blocks.hpp).
  std::string save() const;
  void merge(std::string_view saved, const std::string& what);

 private:
  Relation& relation(const std::string& name);
  std::int64_t layers_, heads_;
  Options options_;
  std::vector<Relation> relations_;
  std::size_t sentences_ = 0, words_ = 0, truncated_ = 0, not_scored_ = 0;
  std::size_t without_tokens_ = 0;
};

// Runs the analysis over a treebank. `data_file` names the CoNLL-U file in errors about traces.
// Over-long sentences are skipped and counted when source_options.skip_too_long, else truncated
// when source_options.truncate (words past the cut are not scored), else an error.
// `runner`: spreads the sentences over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<io::ConlluSentence>& sentences, const std::string& data_file,
           const SourceOptions& source_options, const Options& options, dist::Runner* runner = nullptr);

double accuracy(const Relation& relation, Direction direction, std::size_t head_index);

// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result, std::size_t max_rows = 20);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::syntax
