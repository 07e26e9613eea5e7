// Agreement tasks as masked-word minimal pairs (Lu et al. 2021, methods.md 3.4): subject-verb
// agreement and reflexive anaphora from Marvin & Linzen (2018) TSVs, BLiMP JSONL files, or a
// template of one's own. A grammatical/ungrammatical pair is kept when the two sentences differ
// in exactly one word; that word becomes [MASK] and the two words are the candidates (the
// grammatical one is `good`). The quantity of interest is then logit(good) - logit(bad) at
// [MASK] (see influence.hpp).
//
// Sentence forms: the number of the noun the masked word agrees with (the "subject": the
// subject for agreement, the antecedent for reflexives) and of the other noun (the
// "attractor"): SS, SP, PS, PP; "S" or "P" when there is one noun; "" when unknown (BLiMP).
//
// Formats:
//   Marvin & Linzen TSV   header "condition grammatical ungrammatical [ungrammatical_2 ...]";
//                         each ungrammatical column gives one pair. The condition names the
//                         numbers, e.g. "sing_MS_EV_MV_plur_ES": a number precedes each noun
//                         role (MS/IS main subject, ES embedded subject, BS subject of the
//                         embedded clause). The agreeing noun is the BS role when there is one
//                         (sent_comp, reflexive_sent_comp), else the first numbered role.
//   BLiMP JSONL           one object per line with sentence_good and sentence_bad; words are
//                         split at spaces and leading/trailing punctuation (not apostrophes)
//                         becomes a word of its own.
//   template JSON         see AgreementTemplate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer.hpp"

namespace bertscope::analysis::agreement {

struct AgreementExample {
  std::string task;                // the file's stem ("subj_rel") or the template's name
  std::string condition;           // the M&L condition, the BLiMP UID or the template numbers
  std::string form;                // "SS", "SP", "PS", "PP", "S", "P" or ""
  std::vector<std::string> words;  // the sentence, with "[MASK]" at mask_word
  std::size_t mask_word = 0;
  std::string good, bad;           // the grammatical and the ungrammatical word
  // Word indices of the agreeing noun and of the attractor (the head word of the noun phrase);
  // -1 when unknown.
  std::int64_t subject_word = -1, attractor_word = -1;
  std::size_t line = 0;  // 1-based line in the file (0 for generated examples)

  std::string text() const;  // the words joined by spaces
};

enum class Format { marvin_linzen, blimp, template_json };
std::string_view format_name(Format format);
// From the extension: .tsv M&L, .jsonl BLiMP, .json template; Error(input) otherwise.
Format detect_format(const std::filesystem::path& path);
Format parse_format(std::string_view name);  // "marvin-linzen", "blimp", "template"

struct ReadOptions {
  // Drop sentences whose grammatical text contains one of these strings. Unset: Lu et al.'s
  // list for Marvin & Linzen ("taxi driver", "admire", "swim"), none for other formats.
  std::optional<std::vector<std::string>> exclude;
  // Append "." to Marvin & Linzen sentences (they have no punctuation), as Lu et al. did.
  bool append_period = true;
  bool who = false;     // Lu et al.'s `_who` variants: the word "that" becomes "who"
  bool dedupe = true;   // keep one of identical examples (same words and candidates)
};

// What a reader kept and dropped, for the result document.
struct ReadReport {
  std::size_t rows = 0;            // lines (M&L, BLiMP) or generated sentences (template)
  std::size_t pairs = 0;           // grammatical/ungrammatical pairs seen
  std::size_t kept = 0;
  std::size_t not_one_word = 0;    // pairs that differ in zero or several words
  std::size_t excluded = 0;        // by ReadOptions::exclude
  std::size_t duplicates = 0;
  std::size_t with_roles = 0;      // examples whose subject word is known

  nlohmann::json to_json() const;
};

struct AgreementData {
  std::filesystem::path source;
  Format format = Format::marvin_linzen;
  std::string task;
  std::vector<AgreementExample> examples;
  ReadReport report;
};

AgreementData read_marvin_linzen(const std::filesystem::path& path, const ReadOptions& options = {});
AgreementData read_blimp(const std::filesystem::path& path, const ReadOptions& options = {});
// Any of the three formats (from the extension unless `format` is given).
AgreementData read_agreement(const std::filesystem::path& path, const ReadOptions& options = {},
                             std::optional<Format> format = {});

// Splits a sentence into words at spaces; leading and trailing punctuation other than
// apostrophes becomes words of its own ("help herself." -> "help", "herself", ".").
std::vector<std::string> split_words(std::string_view sentence);

// The masked example of a minimal pair given as words; nullopt unless they differ in exactly
// one word.
std::optional<AgreementExample> mask_pair(const std::vector<std::string>& good, const std::vector<std::string>& bad);

// The form of a Marvin & Linzen condition ("sing_MS_EV_MV_plur_ES" -> "SP"); "" when the
// condition names no numbers (the NPI files).
std::string form_of_condition(std::string_view condition);

// Finds the subject and attractor words of examples that have a form: an example's partner
// with only the subject's number flipped has the same words up to number inflection (a final
// "s" removed) and the same candidates; the first word where the two differ is the subject's
// head noun (the noun precedes the words that agree with it). Likewise for the attractor.
// Sets subject_word/attractor_word where a partner exists.
void find_roles(std::vector<AgreementExample>& examples);

// A generator of new minimal pairs. JSON:
//   {"name": "obj_rel_across_new",
//    "text": "the {subject} that the {attractor} {verb} [MASK] young .",
//    "slots": {"subject":   [["author", "authors"], ["pilot", "pilots"]],
//              "attractor": [["guard", "guards"]],
//              "verb": {"agrees_with": "attractor", "words": [["likes", "like"]]}},
//    "agrees_with": "subject",
//    "target": [["is", "are"], ["was", "were"]]}
// A slot given as a list of [singular, plural] pairs is a noun that takes both numbers; a slot
// given as {"agrees_with", "words"} is inflected for that noun's number. [MASK] agrees with the
// noun named by "agrees_with" and is filled from "target" pairs ([singular, plural]). Every
// combination of fillers and numbers is one example; the form is the agreeing noun's number,
// then the first other noun's (in text order). Slots and [MASK] are whole words of "text"; a
// filler may be several words (its last word is the head noun).
struct TemplateSlot {
  std::string name;
  std::vector<std::pair<std::string, std::string>> words;  // [singular, plural]
  std::string agrees_with;                                  // empty: a noun
};
struct AgreementTemplate {
  std::string name;
  std::vector<std::string> text;  // words
  std::vector<TemplateSlot> slots;
  std::string agrees_with;
  std::vector<std::pair<std::string, std::string>> target;
};
// Errors name `source` and what is wrong (unknown slot, no [MASK], a pair that is not two strings).
AgreementTemplate parse_template(const nlohmann::json& spec, std::string_view source);
std::vector<AgreementExample> generate(const AgreementTemplate& tmpl);
AgreementData read_template(const std::filesystem::path& path, const ReadOptions& options = {});

// An example tokenized for a model.
struct EncodedExample {
  std::size_t example = 0;  // index into the examples
  model::Encoding encoding;
  std::int32_t mask_position = 0;
  std::int32_t good_id = 0, bad_id = 0;
  std::int32_t subject_position = -1, attractor_position = -1;  // last piece of the head noun
  bool single_pieces = false;  // every word is one word piece
};

struct EncodeReport {
  std::size_t kept = 0;
  std::size_t candidate_not_one_token = 0;  // good or bad is not a single vocabulary token
  std::size_t too_long = 0;                 // longer than the model takes
  nlohmann::json to_json() const;
};

// Tokenizes each example (words as given, [MASK] as the mask token); drops examples whose
// candidates are not single tokens of the vocabulary.
std::vector<EncodedExample> encode_examples(const model::Tokenizer& tokenizer, const std::vector<AgreementExample>& examples,
                                            std::size_t max_length, EncodeReport* report = nullptr);

// Which encoded examples to analyse (methods.md 3.4: one token length per task so patterns align
// position-wise, every word a single piece, a quota per form after a seeded shuffle).
struct SelectOptions {
  // Token length to keep (with [CLS]/[SEP]): 0 = the most common length among the candidates
  // (ties to the shorter), -1 = any.
  std::int64_t length = -1;
  bool single_pieces = false;  // keep only examples whose words are single pieces
  std::size_t per_form = 0;    // at most this many per form (0 = no quota; none for examples without a form)
  std::size_t limit = 0;       // at most this many in all (0 = no limit)
  std::uint64_t seed = 1111;   // shuffle before the quotas; the kept examples stay in file order
  bool shuffle = true;         // false: take the first ones in file order
};
struct SelectReport {
  std::int64_t length = -1;  // the length kept (-1 = any)
  std::size_t wrong_length = 0, split_words = 0, over_quota = 0, selected = 0;
  nlohmann::json to_json() const;
};
// The selection itself over any data: per item its form, token length and whether its words are
// single pieces; returns the kept indices in increasing order.
std::vector<std::size_t> select_indices(std::span<const std::string> forms, std::span<const std::size_t> lengths,
                                        std::span<const std::uint8_t> single_pieces, const SelectOptions& options,
                                        SelectReport* report = nullptr);
std::vector<EncodedExample> select_examples(std::vector<EncodedExample> encoded, const std::vector<AgreementExample>& examples,
                                            const SelectOptions& options, SelectReport* report = nullptr);

}  // namespace bertscope::analysis::agreement
