// Coreference data for the attention analyses: bertscope's simple format, and converters from
// GAP (Webster et al. 2018) and CoNLL-2012 (OntoNotes) files.
//
// The simple format is JSON Lines, one document per line:
//
//   {"id": "doc-1",
//    "words": ["John", "said", "he", "would", "come", "."],
//    "mentions": [{"start": 0, "end": 1, "cluster": 0, "type": "proper"},
//                 {"start": 2, "end": 3, "cluster": 0, "head": 2}],
//    "anaphors": [{"mention": 1, "candidates": [0]}]}
//
// Word indices are 0-based and "end" is exclusive. Per mention, "start", "end" and "cluster" (an
// integer; mentions with the same id corefer) are required; optional are "head" (the index of
// its head word, inside the span), "type" ("pronoun", "proper" or "nominal"), "number"
// ("singular" / "plural"), "gender" ("masculine" / "feminine" / "neuter") and "person" (1, 2, 3).
// Missing heads and types are filled in by the analysis with documented rules.
// "anaphors" is optional: without it every mention that has an earlier mention of its cluster is
// an anaphor to resolve against the whole document (Clark et al.'s setting); with it only the
// listed mentions are resolved, each by choosing among its "candidates" (GAP's setting).
// Errors are Error(format) "FILE:LINE: ..." naming the document's line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bertscope::io {

struct CorefMention {
  std::size_t start = 0, end = 0;  // words [start, end)
  std::int64_t cluster = 0;
  std::optional<std::size_t> head;
  std::string type;    // "", "pronoun", "proper", "nominal"
  std::string number;  // "", "singular", "plural"
  std::string gender;  // "", "masculine", "feminine", "neuter"
  int person = 0;      // 0 = unknown
};

struct CorefAnaphor {
  std::size_t mention = 0;
  std::vector<std::size_t> candidates;
};

struct CorefDocument {
  std::string id;
  std::vector<std::string> words;
  std::vector<CorefMention> mentions;
  std::vector<CorefAnaphor> anaphors;  // empty: every mention with an earlier mention of its cluster
  std::size_t line = 0;                // its line in the source file (1-based)
};

std::vector<CorefDocument> read_coref(const std::filesystem::path& path);
std::vector<CorefDocument> parse_coref(std::string_view text, std::string_view source_name);
nlohmann::json coref_to_json(const CorefDocument& document);
void write_coref(const std::filesystem::path& path, const std::vector<CorefDocument>& documents);  // atomic

// GAP TSV (ID, Text, Pronoun, Pronoun-offset, A, A-offset, A-coref, B, B-offset, B-coref, URL):
// one document per row. Words are the text split at white space and at the mention boundaries;
// the pronoun is the one anaphor, its candidates A and B (type proper, head = last word); the
// pronoun shares a cluster with A and/or B when A-coref / B-coref is TRUE. Offsets count
// Unicode code points, as in the data's Python tooling; a name not found at its offset is an error.
std::vector<CorefDocument> read_gap(const std::filesystem::path& path);

// CoNLL-2012 *_conll files (one document part per "#begin document ... #end document" block;
// columns: document, part, word number, word, POS, parse, ..., coreference last). Mentions come
// from the coreference column ("(12", "12)", "(12)", several joined by "|"). Each mention gets a
// head by a part-of-speech rule (the last noun, pronoun or number before the first word tagged
// IN, TO, WDT, WP, WP$, ",", ":" or -LRB- after the first word; else the last word of that
// prefix), a type (pronoun: PRP/PRP$/WP/WP$ head; proper: NNP/NNPS; else nominal) and a number
// (NNS/NNPS plural, NN/NNP singular, pronouns from their form).
std::vector<CorefDocument> read_conll2012(const std::filesystem::path& path);

// English personal, possessive and reflexive pronouns with their features ("he" -> masculine,
// singular, 3rd person); lower-case lookup.
struct PronounFeatures {
  std::string number, gender;
  int person = 0;
};
std::optional<PronounFeatures> english_pronoun(std::string_view word);

}  // namespace bertscope::io
