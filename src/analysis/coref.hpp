// Coreference in single heads (Clark et al. 2019, section 4.3, Table 2; methods.md 1.6): how
// often the word a head attends to most from a mention's head word is an antecedent's head word.
//
// Two settings, chosen per document by the data (see io/coref.hpp):
//  * antecedents (Clark's; CoNLL-2012): every mention with an earlier mention of its cluster is
//    an anaphor. On the word-level map, the anaphor's head word attends most to some word
//    (argmax over the document's words, itself, [CLS] and [SEP] excluded, ties to the first);
//    correct when that word is the head word of an earlier mention of the same cluster.
//    "Earlier" means the mention ends before the anaphor starts.
//  * candidates (GAP): the anaphor chooses among its listed candidate mentions the one whose head
//    word it attends to most (ties to the first listed); correct when that candidate is in its
//    cluster. Anaphors without a correct candidate (GAP's "neither") are not scored, and counted.
// Accuracy is reported overall and by anaphor type (pronoun, proper, nominal), for every head and
// for three baselines that choose among the same candidates:
//  * nearest: the candidate whose head word is closest to the anaphor's head word (ties: the
//    later one for antecedents, the first listed for candidates);
//  * head_match: the nearest candidate with the same head word (case-insensitive), else no answer;
//  * rule_sieve: in the spirit of Lee et al. 2011, the nearest candidate passing the first sieve
//    that any candidate passes: (1) the same words (case-insensitive), (2) the same head word,
//    (3) agreement in number, gender and person (unknown agrees with anything), (4) any.
//
// Documents are cut to `max_tokens` word pieces ([CLS]/[SEP] included; Clark: 128) when a model
// runs them; mentions past the cut are dropped. With trace files the traces decide how much of
// each document is covered. A mention without a given head gets the last word before the first
// word (after its first) among , ( of in on at for with from by to about who whom whose which
// that, skipping trailing punctuation; without a given type it is a pronoun when its head word is
// an English pronoun, proper when the head word starts with an upper-case letter, else nominal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"
#include "analysis/figure.hpp"
#include "analysis/word_attention.hpp"
#include "io/coref.hpp"

namespace bertscope::analysis::coref {

struct Options {
  FromWord from = FromWord::mean;
  std::size_t max_tokens = 128;  // 0: the model's limit
};

enum MentionType { pronoun = 0, proper = 1, nominal = 2 };
inline constexpr std::array<const char*, 3> kTypeNames = {"pronoun", "proper", "nominal"};

// A mention with its head, type and agreement features resolved.
struct Mention {
  std::size_t start = 0, end = 0, head = 0;
  std::int64_t cluster = 0;
  MentionType type = nominal;
  std::string number, gender;
  int person = 0;
};
Mention resolve_mention(const io::CorefMention& mention, const std::vector<std::string>& words);

// One anaphor to resolve and the candidates it chooses among.
struct Query {
  std::size_t anaphor = 0;               // index into the mentions
  std::vector<std::size_t> candidates;   // candidate mentions (antecedents: every earlier mention, most recent first)
  bool candidate_mode = false;
  std::vector<std::size_t> gold_words;   // antecedents: head words of earlier mentions of its cluster
};

// The anaphors of a document whose first `covered` words are available, with counts of what
// could not be scored.
struct Queries {
  std::vector<Mention> mentions;  // every mention, resolved (those past `covered` are never used)
  std::vector<Query> queries;
  std::size_t cut = 0;            // anaphors (or all their correct candidates) past the cut
  std::size_t no_gold_candidate = 0;
};
Queries make_queries(const io::CorefDocument& document, std::size_t covered);

// The baselines' choice for a query (index into mentions), or -1 for no answer.
std::int64_t baseline_nearest(const Queries& q, const Query& query);
std::int64_t baseline_head_match(const Queries& q, const Query& query, const std::vector<std::string>& words);
std::int64_t baseline_sieve(const Queries& q, const Query& query, const std::vector<std::string>& words);
inline const std::vector<std::string>& baseline_names() {
  static const std::vector<std::string> names{"nearest", "head_match", "rule_sieve"};
  return names;
}

// Whether the head's choice for `query` on the word-level map [U, U] (units: [CLS], words, [SEP])
// is correct.
bool head_correct(const float* word_map, std::int64_t units, const Queries& q, const Query& query);

struct Result {
  std::int64_t layers = 0, heads = 0;
  Options options;
  std::array<std::size_t, 3> total{};                      // anaphors scored, by type
  std::vector<std::array<std::size_t, 3>> correct;         // [layer * heads + head][type]
  std::map<std::string, std::array<std::size_t, 3>> baselines;
  std::size_t documents = 0, antecedent_queries = 0, candidate_queries = 0;
  std::size_t truncated_documents = 0, anaphors_cut = 0, no_gold_candidate = 0;
  std::size_t skipped_words_without_tokens = 0;
};

// Truncates a document's words to the token budget with the model's tokenizer: how many words fit.
std::size_t words_within_budget(const std::vector<std::string>& words, const model::Tokenizer& tokenizer, std::size_t budget);

// `runner`: spreads the documents over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<io::CorefDocument>& documents, const std::string& data_file,
           const SourceOptions& source_options, const Options& options, dist::Runner* runner = nullptr);

// The document's parameters: every option that changed the result, and the definitions used.
nlohmann::json params_json(const Options& options);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (the paper's first); written into the document (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::coref
