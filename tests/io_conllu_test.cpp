#include <gtest/gtest.h>

#include <string>

#include "io/conllu.hpp"
#include "io_test_support.hpp"

namespace bertscope::io {
namespace {

using testing::Contains;
using testing::error_of;
using testing::StartsWith;
using testing::TempDir;
using testing::write_raw;

const std::filesystem::path kExcerpt = std::filesystem::path(BERTSCOPE_TEST_DATA) / "io" / "en_ewt-ud-dev.excerpt.conllu";

// The sentence's surface text rebuilt from its tokens: multiword tokens stand for their
// words, and SpaceAfter=No joins a token to the next.
std::string surface_text(const ConlluSentence& s) {
  std::string text;
  std::size_t next_mwt = 0;
  for (std::size_t i = 0; i < s.words.size(); ++i) {
    const ConlluWord& w = s.words[i];
    bool space = w.space_after();
    if (next_mwt < s.multiword_tokens.size() && s.multiword_tokens[next_mwt].first == w.id) {
      const ConlluMultiwordToken& t = s.multiword_tokens[next_mwt++];
      text += t.form;
      space = t.space_after();
      i = static_cast<std::size_t>(t.last) - 1;
    } else {
      text += w.form;
    }
    if (space && i + 1 < s.words.size()) text += ' ';
  }
  return text;
}

// One word line with the given ID and HEAD (and everything else plausible).
std::string word(const std::string& id, const std::string& head, const std::string& feats = "_") {
  return id + "\tw" + id + "\tw\tNOUN\tNN\t" + feats + "\t" + head + "\t" + (head == "0" ? "root" : "dep") + "\t_\t_\n";
}

// Parses `text` as "x.conllu" and returns the format error's message.
std::string parse_error(const std::string& text) {
  std::string message = error_of(ErrorKind::format, [&] { parse_conllu(text, "x.conllu"); });
  EXPECT_TRUE(StartsWith(message, "x.conllu:")) << message;
  return message;
}

TEST(ConlluEwt, ReadsTheDevExcerpt) {
  std::vector<ConlluSentence> sentences = read_conllu(kExcerpt);
  ASSERT_EQ(sentences.size(), 6u);

  const ConlluSentence& first = sentences[0];
  EXPECT_EQ(first.line, 1u);
  EXPECT_EQ(first.sent_id, "weblog-blogspot.com_nominations_20041117172713_ENG_20041117_172713-0001");
  EXPECT_EQ(first.text, "From the AP comes this story :");
  ASSERT_EQ(first.comments.size(), 4u);
  EXPECT_EQ(first.comments[0], "newdoc id = weblog-blogspot.com_nominations_20041117172713_ENG_20041117_172713");
  ASSERT_EQ(first.words.size(), 7u);
  const ConlluWord& comes = first.words[3];
  EXPECT_EQ(comes.id, 4);
  EXPECT_EQ(comes.form, "comes");
  EXPECT_EQ(comes.lemma, "come");
  EXPECT_EQ(comes.upos, "VERB");
  EXPECT_EQ(comes.xpos, "VBZ");
  EXPECT_EQ(comes.head, 0);
  EXPECT_EQ(comes.deprel, "root");
  EXPECT_EQ(comes.line, 8u);
  EXPECT_EQ(comes.feats, (std::map<std::string, std::string>{
                             {"Mood", "Ind"}, {"Number", "Sing"}, {"Person", "3"}, {"Tense", "Pres"}, {"VerbForm", "Fin"}}));
  EXPECT_TRUE(first.words[0].feats.empty());
  EXPECT_EQ(first.words[2].head, 4);
  EXPECT_EQ(first.words[2].deprel, "obl");
  EXPECT_EQ(first.words[2].deps, "4:obl:from");
  EXPECT_EQ(first.words[2].misc, "_");

  EXPECT_EQ(sentences[1].line, 13u);
  EXPECT_EQ(sentences[1].words[0].deprel, "nmod:desc");
  EXPECT_EQ(universal_relation(sentences[1].words[0].deprel), "nmod");
  EXPECT_FALSE(sentences[1].words[17].space_after());  // "area" before "."

  // "didn't" = did + n't, and the multiword token carries SpaceAfter=No before ".".
  const ConlluSentence& didnt = sentences[3];
  ASSERT_EQ(didnt.multiword_tokens.size(), 1u);
  const ConlluMultiwordToken& t = didnt.multiword_tokens[0];
  EXPECT_EQ(t.first, 29);
  EXPECT_EQ(t.last, 30);
  EXPECT_EQ(t.form, "didn't");
  EXPECT_FALSE(t.space_after());
  EXPECT_EQ(didnt.words[28].form, "did");
  EXPECT_EQ(didnt.words[29].form, "n't");
  EXPECT_EQ(didnt.words[29].head, 29);

  const ConlluSentence& today = sentences[4];
  ASSERT_EQ(today.multiword_tokens.size(), 1u);
  EXPECT_EQ(today.multiword_tokens[0].first, 1);
  EXPECT_EQ(today.multiword_tokens[0].form, "Today's");
  EXPECT_EQ(today.words[0].form, "Today");
  EXPECT_EQ(today.words[0].deprel, "nmod:poss");

  // The empty node 8.1 belongs to the enhanced graph only; word IDs continue 8, 9, ...
  const ConlluSentence& elided = sentences[5];
  ASSERT_EQ(elided.empty_nodes.size(), 1u);
  const ConlluEmptyNode& node = elided.empty_nodes[0];
  EXPECT_EQ(node.after, 8);
  EXPECT_EQ(node.index, 1);
  EXPECT_EQ(node.form, "write");
  EXPECT_EQ(node.upos, "VERB");
  EXPECT_EQ(node.feats, (std::map<std::string, std::string>{{"VerbForm", "Inf"}}));
  EXPECT_EQ(node.deps, "8:xcomp");
  EXPECT_EQ(node.misc, "CopyOf=5");
  EXPECT_EQ(elided.words[8].id, 9);
  EXPECT_EQ(elided.words[8].form, "about");

  for (const ConlluSentence& s : sentences) {
    EXPECT_EQ(surface_text(s), s.text) << s.sent_id;
    for (std::size_t i = 0; i < s.words.size(); ++i) EXPECT_EQ(s.words[i].id, static_cast<int>(i) + 1);
  }
}

TEST(ConlluParse, AcceptsCrlfBomCommentsAndAMissingFinalBlankLine) {
  const std::string text = "\xEF\xBB\xBF# sent_id = s1\r\n#text=Hello world\r\n# text_en = not the text\r\n" + word("1", "2") +
                           word("2", "0") + "\r\n\r\n\r\n" + word("1", "0");
  std::vector<ConlluSentence> s = parse_conllu(text, "x.conllu");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].sent_id, "s1");
  EXPECT_EQ(s[0].text, "Hello world");
  EXPECT_EQ(s[0].comments.size(), 3u);
  EXPECT_EQ(s[0].words.size(), 2u);
  EXPECT_EQ(s[0].words[1].misc, "_");
  EXPECT_EQ(s[1].line, 9u);
  EXPECT_TRUE(s[1].sent_id.empty());
  EXPECT_TRUE(parse_conllu("", "x.conllu").empty());
  EXPECT_TRUE(parse_conllu("\n\n", "x.conllu").empty());
  // An empty node before the first word, and several after one word.
  std::string nodes = "0.1\te\te\tX\t_\t_\t_\t_\t_\t_\n" + word("1", "0") + "1.1\te\te\tX\t_\t_\t_\t_\t_\t_\n" +
                      "1.2\te\te\tX\t_\t_\t_\t_\t_\t_\n";
  EXPECT_EQ(parse_conllu(nodes, "x.conllu")[0].empty_nodes.size(), 3u);
}

TEST(ConlluParse, ColumnCount) {
  EXPECT_EQ(parse_error(word("1", "0") + "2\tw\tw\tNOUN\tNN\t_\t1\tdep\t_\n"),
            "x.conllu:2: expected 10 tab-separated columns, found 9");
  EXPECT_EQ(parse_error("1\tw\tw\tNOUN\tNN\t_\t0\troot\t_\t_\textra\n"),
            "x.conllu:1: expected 10 tab-separated columns, found 11");
  EXPECT_EQ(parse_error("1 w w NOUN NN _ 0 root _ _\n"), "x.conllu:1: expected 10 tab-separated columns, found 1");
  EXPECT_EQ(parse_error(word("1", "0") + " \n"), "x.conllu:2: expected 10 tab-separated columns, found 1");
  EXPECT_EQ(parse_error("1\tw\t\tNOUN\tNN\t_\t0\troot\t_\t_\n"), "x.conllu:1: column 3 (LEMMA) is empty; use '_' for no value");
}

TEST(ConlluParse, WordIds) {
  for (const char* id : {"a", "0", "01", "1-", "-1", "1.0", "1.", "1-2-3", "1.1.1", "99999999999"}) {
    std::string message = parse_error(std::string(id) + "\tw\tw\tNOUN\tNN\t_\t0\troot\t_\t_\n");
    EXPECT_TRUE(StartsWith(message, "x.conllu:1: ID \"")) << id << ": " << message;
  }
  EXPECT_EQ(parse_error(word("1", "0") + word("3", "1")), "x.conllu:2: expected word ID 2, found 3");
  EXPECT_EQ(parse_error(word("2", "0")), "x.conllu:1: expected word ID 1, found 2");
  EXPECT_EQ(parse_error(word("1", "0") + word("1", "1")), "x.conllu:2: expected word ID 2, found 1");
}

TEST(ConlluParse, Heads) {
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "_")), "x.conllu:2: HEAD \"_\" of word 2 is not a word ID or 0");
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "-1")), "x.conllu:2: HEAD \"-1\" of word 2 is not a word ID or 0");
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "2")), "x.conllu:2: word 2 is its own HEAD");
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "5") + word("3", "1")),
            "x.conllu:2: HEAD 5 of word 2 is not 0 or a word of this sentence (1..3)");
  EXPECT_EQ(parse_error("# text = a b\n" + word("1", "2") + word("2", "1")),
            "x.conllu:1: sentence has no root (no word with HEAD 0)");
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "0")), "x.conllu:2: word 2 is a second root (HEAD 0) after word 1");
  EXPECT_EQ(parse_error(word("1", "0") + word("2", "3") + word("3", "4") + word("4", "2")),
            "x.conllu:2: word 2 is on a cycle of HEADs that never reaches the root");
}

TEST(ConlluParse, Feats) {
  for (const char* feats : {"Number", "=Sing", "Number=", "A=1||B=2", "A=1|", "|A=1"}) {
    std::string message = parse_error(word("1", "0", feats));
    EXPECT_TRUE(Contains(message, "x.conllu:1: FEATS \"")) << feats;
    EXPECT_TRUE(Contains(message, "is not '_' or Name=Value pairs")) << feats;
  }
  EXPECT_EQ(parse_error(word("1", "0", "A=1|A=2")), "x.conllu:1: FEATS \"A=1|A=2\" gives feature \"A\" twice");
  EXPECT_EQ(parse_conllu(word("1", "0", "PronType=Int,Rel"), "x")[0].words[0].feats.at("PronType"), "Int,Rel");
}

TEST(ConlluParse, MultiwordTokens) {
  const std::string mwt_fields = "\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n";
  EXPECT_EQ(parse_error("1-1" + mwt_fields + word("1", "0")), "x.conllu:1: multiword token 1-1 must span at least two words");
  EXPECT_EQ(parse_error("2-1" + mwt_fields + word("1", "0")), "x.conllu:1: multiword token 2-1 must span at least two words");
  EXPECT_EQ(parse_error("2-3" + mwt_fields + word("1", "0") + word("2", "1") + word("3", "1")),
            "x.conllu:1: multiword token 2-3 must come right before word 2, found before word 1");
  EXPECT_EQ(parse_error("1-2" + mwt_fields + word("1", "0") + "2-3" + mwt_fields + word("2", "1") + word("3", "1")),
            "x.conllu:3: multiword token 2-3 overlaps multiword token 1-2");
  EXPECT_EQ(parse_error(word("1", "0") + "2-3" + mwt_fields + word("2", "1")),
            "x.conllu:2: multiword token 2-3 ends after the last word, 2");
  EXPECT_EQ(parse_error("1-2\tdon't\t_\t_\t_\t_\t0\t_\t_\t_\n" + word("1", "0") + word("2", "1")),
            "x.conllu:1: multiword token 1-2 must have '_' in HEAD, found \"0\"");
  std::vector<ConlluSentence> s = parse_conllu("1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n" + word("1", "0") + word("2", "1"), "x");
  ASSERT_EQ(s[0].multiword_tokens.size(), 1u);
  EXPECT_FALSE(s[0].multiword_tokens[0].space_after());
  EXPECT_TRUE(s[0].words[1].space_after());
}

TEST(ConlluParse, EmptyNodes) {
  const std::string node_fields = "\te\te\tX\t_\t_\t_\t_\t_\t_\n";
  EXPECT_EQ(parse_error(word("1", "0") + "2.1" + node_fields),
            "x.conllu:2: empty node 2.1 must come right after word 2, found after word 1");
  EXPECT_EQ(parse_error(word("1", "0") + "1.2" + node_fields), "x.conllu:2: expected empty node 1.1, found 1.2");
  EXPECT_EQ(parse_error(word("1", "0") + "1.1" + node_fields + "1.1" + node_fields),
            "x.conllu:3: expected empty node 1.2, found 1.1");
  EXPECT_EQ(parse_error(word("1", "0") + "1.1\te\te\tX\t_\t_\t1\tdep\t_\t_\n"),
            "x.conllu:2: empty node 1.1 must have '_' in HEAD, found \"1\"");
  EXPECT_EQ(parse_error("0.1" + node_fields + "\n"), "x.conllu:1: sentence has no words (only comments or empty nodes)");
}

TEST(ConlluParse, CommentsAndSentenceStructure) {
  EXPECT_EQ(parse_error(word("1", "0") + "# late comment\n" + word("2", "1")),
            "x.conllu:2: comment line after the words of a sentence began (missing blank line?)");
  EXPECT_EQ(parse_error("# text = a\n# text = b\n" + word("1", "0")), "x.conllu:2: a second '# text' comment in the same sentence");
  EXPECT_EQ(parse_error("# sent_id = 1\n# sent_id = 2\n" + word("1", "0")),
            "x.conllu:2: a second '# sent_id' comment in the same sentence");
  EXPECT_EQ(parse_error(word("1", "0") + "\n# newdoc id = trailing\n"), "x.conllu:3: sentence has no words (only comments or empty nodes)");
}

TEST(ConlluParse, FileErrors) {
  TempDir dir;
  const auto file = dir / "bad.conllu";
  write_raw(file, word("1", "0") + "2\tbad \xff form\tw\tX\t_\t_\t1\tdep\t_\t_\n");
  EXPECT_EQ(error_of(ErrorKind::input, [&] { read_conllu(file); }), file.string() + ":2: invalid UTF-8 at byte 34");
  write_raw(file, word("1", "0") + word("3", "1"));
  EXPECT_EQ(error_of(ErrorKind::format, [&] { read_conllu(file); }), file.string() + ":2: expected word ID 2, found 3");
  EXPECT_TRUE(Contains(error_of(ErrorKind::io, [&] { read_conllu(dir / "missing.conllu"); }), (dir / "missing.conllu").string()));
}

}  // namespace
}  // namespace bertscope::io
