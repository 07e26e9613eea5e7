// CoNLL-U treebanks (Universal Dependencies, https://universaldependencies.org/format.html):
// sentences of syntactic words with their heads and relations, as the syntax analyses need.
//
// Validation follows the format's rules: 10 tab-separated columns; word IDs 1, 2, ... in
// order; multiword token ranges ("1-2") that start at the next word and do not overlap; empty
// nodes ("8.1") after the word they follow, numbered from 1; every word's HEAD is 0 or a word
// of the same sentence, with exactly one root and no cycles; FEATS is "_" or Name=Value pairs.
// Errors are Error(format) "FILE:LINE: what was expected, what was found"; invalid UTF-8 is
// Error(input) as in read_text_lines. CRLF line ends and a leading BOM are accepted, and so is
// a last sentence without its closing blank line.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace bertscope::io {

// A syntactic word: a line whose ID is an integer. These form the dependency tree.
struct ConlluWord {
  int id = 0;      // 1-based position among the sentence's words
  std::string form;
  std::string lemma;
  std::string upos;                          // universal part of speech, e.g. "NOUN"
  std::string xpos;                          // language-specific tag, e.g. "NN", or "_"
  std::map<std::string, std::string> feats;  // "Number=Sing|Person=3"; empty for "_"
  int head = 0;                              // 0 for the root, else the ID of the governing word
  std::string deprel;                        // with any subtype, e.g. "nmod:poss"
  std::string deps;                          // enhanced graph, verbatim ("_" when absent)
  std::string misc;                          // verbatim, e.g. "SpaceAfter=No"
  std::size_t line = 0;                      // its line in the file

  // False when MISC says SpaceAfter=No, i.e. the next token follows without a space.
  bool space_after() const;
};

// An orthographic token made of several words, e.g. "don't" = words 3-4 "do" + "n't".
struct ConlluMultiwordToken {
  int first = 0;  // first word ID covered
  int last = 0;   // last word ID covered (> first)
  std::string form;
  std::string misc;
  std::size_t line = 0;

  bool space_after() const;
};

// A node of the enhanced graph only ("8.1"); it is not part of the basic tree.
struct ConlluEmptyNode {
  int after = 0;  // the word it follows (0: before the first word)
  int index = 0;  // 1, 2, ... among the empty nodes after that word
  std::string form;
  std::string lemma;
  std::string upos;
  std::string xpos;
  std::map<std::string, std::string> feats;
  std::string deps;
  std::string misc;
  std::size_t line = 0;
};

struct ConlluSentence {
  std::string sent_id;                // from "# sent_id = ...", empty when absent
  std::string text;                   // from "# text = ...", empty when absent
  std::vector<std::string> comments;  // every comment line, without the leading "# "
  std::vector<ConlluWord> words;      // words[i].id == i + 1
  std::vector<ConlluMultiwordToken> multiword_tokens;
  std::vector<ConlluEmptyNode> empty_nodes;
  std::size_t line = 0;  // its first line in the file
};

// Reads every sentence of a CoNLL-U file.
std::vector<ConlluSentence> read_conllu(const std::filesystem::path& path);

// The same for text in memory; `source_name` stands for FILE in errors.
std::vector<ConlluSentence> parse_conllu(std::string_view text, std::string_view source_name);

// The universal relation without its language-specific subtype: "nmod:poss" -> "nmod".
std::string_view universal_relation(std::string_view deprel);

}  // namespace bertscope::io
