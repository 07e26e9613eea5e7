#include "io/conllu.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <set>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::io {
namespace {

constexpr std::array<const char*, 10> kColumns = {"ID", "FORM", "LEMMA", "UPOS", "XPOS",
                                                  "FEATS", "HEAD", "DEPREL", "DEPS", "MISC"};
enum Column { ID, FORM, LEMMA, UPOS, XPOS, FEATS, HEAD, DEPREL, DEPS, MISC };

// A positive decimal integer without sign or leading zeros, as CoNLL-U IDs are written.
std::optional<int> parse_id_number(std::string_view text, bool allow_zero = false) {
  if (text.empty() || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  if (value == 0 && !allow_zero) return std::nullopt;
  return value;
}

bool misc_has_no_space_after(std::string_view misc) {
  while (!misc.empty()) {
    std::size_t bar = misc.find('|');
    if (misc.substr(0, bar) == "SpaceAfter=No") return true;
    if (bar == std::string_view::npos) break;
    misc.remove_prefix(bar + 1);
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  std::vector<ConlluSentence> parse(const std::vector<std::string>& lines) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      line_ = i + 1;
      const std::string& line = lines[i];
      if (line.empty()) {
        finish_sentence();
      } else if (line.front() == '#') {
        comment(line);
      } else {
        token_line(line);
      }
    }
    finish_sentence();
    return std::move(sentences_);
  }

 private:
  template <typename... Args>
  [[noreturn]] void error_at(std::size_t line, fmt::format_string<Args...> format, Args&&... args) const {
    fail(ErrorKind::format, "{}:{}: {}", source_, line, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    error_at(line_, format, std::forward<Args>(args)...);
  }

  void start_sentence_if_needed() {
    if (!open_) {
      open_ = true;
      current_ = ConlluSentence{};
      current_.line = line_;
    }
  }

  void comment(const std::string& line) {
    if (open_ && (!current_.words.empty() || !current_.multiword_tokens.empty() || !current_.empty_nodes.empty())) {
      error("comment line after the words of a sentence began (missing blank line?)");
    }
    start_sentence_if_needed();
    std::string_view body = std::string_view(line).substr(1);
    if (body.starts_with(' ')) body.remove_prefix(1);
    current_.comments.emplace_back(body);
    if (auto value = comment_value(body, "sent_id")) set_once(current_.sent_id, *value, "sent_id");
    if (auto value = comment_value(body, "text")) set_once(current_.text, *value, "text");
  }

  // "key = value" -> value; nullopt for other comments ("text_en = ..." is not "text").
  static std::optional<std::string_view> comment_value(std::string_view body, std::string_view key) {
    if (!body.starts_with(key)) return std::nullopt;
    std::string_view rest = body.substr(key.size());
    std::size_t equals = rest.find_first_not_of(' ');
    if (equals == std::string_view::npos || rest[equals] != '=') return std::nullopt;
    rest.remove_prefix(equals + 1);
    if (rest.starts_with(' ')) rest.remove_prefix(1);
    return rest;
  }

  void set_once(std::string& field, std::string_view value, const char* key) {
    if (!seen_keys_.insert(key).second) error("a second '# {}' comment in the same sentence", key);
    field = std::string(value);
  }

  std::map<std::string, std::string> parse_feats(std::string_view text, const char* column) const {
    std::map<std::string, std::string> feats;
    if (text == "_") return feats;
    std::string_view rest = text;
    while (true) {
      std::size_t bar = rest.find('|');
      std::string_view item = rest.substr(0, bar);
      std::size_t equals = item.find('=');
      if (equals == std::string_view::npos || equals == 0 || equals + 1 == item.size()) {
        error("{} {} is not '_' or Name=Value pairs separated by '|'", column, quote(text));
      }
      if (!feats.emplace(std::string(item.substr(0, equals)), std::string(item.substr(equals + 1))).second) {
        error("{} {} gives feature {} twice", column, quote(text), quote(item.substr(0, equals)));
      }
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    return feats;
  }

  void token_line(const std::string& line) {
    std::array<std::string_view, 10> field;
    std::size_t count = 0;
    std::string_view rest = line;
    while (true) {
      std::size_t tab = rest.find('\t');
      if (count < field.size()) field[count] = rest.substr(0, tab);
      ++count;
      if (tab == std::string_view::npos) break;
      rest.remove_prefix(tab + 1);
    }
    if (count != 10) error("expected 10 tab-separated columns, found {}", count);
    for (std::size_t c = 0; c < field.size(); ++c) {
      if (field[c].empty()) error("column {} ({}) is empty; use '_' for no value", c + 1, kColumns[c]);
    }
    start_sentence_if_needed();

    const std::string_view id = field[ID];
    if (std::size_t dash = id.find('-'); dash != std::string_view::npos) {
      multiword_token(field, id.substr(0, dash), id.substr(dash + 1));
    } else if (std::size_t dot = id.find('.'); dot != std::string_view::npos) {
      empty_node(field, id.substr(0, dot), id.substr(dot + 1));
    } else {
      word(field);
    }
  }

  [[noreturn]] void bad_id(std::string_view id) const {
    error("ID {} is not a word ID (N), a multiword range (N-M) or an empty node (N.K)", quote(id));
  }

  void word(const std::array<std::string_view, 10>& field) {
    std::optional<int> id = parse_id_number(field[ID]);
    if (!id) bad_id(field[ID]);
    const int expected = static_cast<int>(current_.words.size()) + 1;
    if (*id != expected) error("expected word ID {}, found {}", expected, *id);
    std::optional<int> head = parse_id_number(field[HEAD], true);
    if (!head) error("HEAD {} of word {} is not a word ID or 0", quote(field[HEAD]), *id);
    if (*head == *id) error("word {} is its own HEAD", *id);
    ConlluWord w;
    w.id = *id;
    w.form = field[FORM];
    w.lemma = field[LEMMA];
    w.upos = field[UPOS];
    w.xpos = field[XPOS];
    w.feats = parse_feats(field[FEATS], "FEATS");
    w.head = *head;
    w.deprel = field[DEPREL];
    w.deps = field[DEPS];
    w.misc = field[MISC];
    w.line = line_;
    current_.words.push_back(std::move(w));
  }

  void multiword_token(const std::array<std::string_view, 10>& field, std::string_view first_text,
                       std::string_view last_text) {
    std::optional<int> first = parse_id_number(first_text);
    std::optional<int> last = parse_id_number(last_text);
    if (!first || !last) bad_id(field[ID]);
    if (*last <= *first) error("multiword token {}-{} must span at least two words", *first, *last);
    const int next = static_cast<int>(current_.words.size()) + 1;
    if (!current_.multiword_tokens.empty() && *first <= current_.multiword_tokens.back().last) {
      const ConlluMultiwordToken& previous = current_.multiword_tokens.back();
      error("multiword token {}-{} overlaps multiword token {}-{}", *first, *last, previous.first, previous.last);
    }
    if (*first != next) error("multiword token {}-{} must come right before word {}, found before word {}", *first, *last, *first, next);
    for (Column c : {LEMMA, UPOS, XPOS, HEAD, DEPREL, DEPS}) {
      if (field[c] != "_") error("multiword token {}-{} must have '_' in {}, found {}", *first, *last, kColumns[c], quote(field[c]));
    }
    current_.multiword_tokens.push_back({*first, *last, std::string(field[FORM]), std::string(field[MISC]), line_});
  }

  void empty_node(const std::array<std::string_view, 10>& field, std::string_view after_text,
                  std::string_view index_text) {
    std::optional<int> after = parse_id_number(after_text, true);
    std::optional<int> index = parse_id_number(index_text);
    if (!after || !index) bad_id(field[ID]);
    const int previous_word = static_cast<int>(current_.words.size());
    if (*after != previous_word) error("empty node {}.{} must come right after word {}, found after word {}", *after, *index, *after, previous_word);
    int expected = 1;
    if (!current_.empty_nodes.empty() && current_.empty_nodes.back().after == *after) {
      expected = current_.empty_nodes.back().index + 1;
    }
    if (*index != expected) error("expected empty node {}.{}, found {}.{}", *after, expected, *after, *index);
    for (Column c : {HEAD, DEPREL}) {
      if (field[c] != "_") error("empty node {}.{} must have '_' in {}, found {}", *after, *index, kColumns[c], quote(field[c]));
    }
    ConlluEmptyNode node;
    node.after = *after;
    node.index = *index;
    node.form = field[FORM];
    node.lemma = field[LEMMA];
    node.upos = field[UPOS];
    node.xpos = field[XPOS];
    node.feats = parse_feats(field[FEATS], "FEATS");
    node.deps = field[DEPS];
    node.misc = field[MISC];
    node.line = line_;
    current_.empty_nodes.push_back(std::move(node));
  }

  // Checks what only the whole sentence can show: HEADs in range, one root, no cycles, and
  // multiword tokens that end at a word that exists.
  void check_tree() const {
    const int n = static_cast<int>(current_.words.size());
    if (n == 0) error_at(current_.line, "sentence has no words (only comments or empty nodes)");
    for (const ConlluMultiwordToken& t : current_.multiword_tokens) {
      if (t.last > n) error_at(t.line, "multiword token {}-{} ends after the last word, {}", t.first, t.last, n);
    }
    const ConlluWord* root = nullptr;
    for (const ConlluWord& w : current_.words) {
      if (w.head > n) error_at(w.line, "HEAD {} of word {} is not 0 or a word of this sentence (1..{})", w.head, w.id, n);
      if (w.head == 0) {
        if (root != nullptr) error_at(w.line, "word {} is a second root (HEAD 0) after word {}", w.id, root->id);
        root = &w;
      }
    }
    if (root == nullptr) error_at(current_.line, "sentence has no root (no word with HEAD 0)");
    // 0: not visited, 1: on the current path, 2: known to reach the root.
    std::vector<char> state(static_cast<std::size_t>(n) + 1, 0);
    state[0] = 2;
    std::vector<int> path;
    for (int start = 1; start <= n; ++start) {
      int node = start;
      path.clear();
      while (state[node] == 0) {
        state[node] = 1;
        path.push_back(node);
        node = current_.words[node - 1].head;
      }
      if (state[node] == 1) {
        const ConlluWord& w = current_.words[node - 1];
        error_at(w.line, "word {} is on a cycle of HEADs that never reaches the root", w.id);
      }
      for (int visited : path) state[visited] = 2;
    }
  }

  void finish_sentence() {
    if (!open_) return;
    check_tree();
    sentences_.push_back(std::move(current_));
    open_ = false;
    seen_keys_.clear();
  }

  std::string_view source_;
  std::size_t line_ = 0;
  bool open_ = false;
  ConlluSentence current_;
  std::set<std::string> seen_keys_;
  std::vector<ConlluSentence> sentences_;
};

}  // namespace

bool ConlluWord::space_after() const { return !misc_has_no_space_after(misc); }

bool ConlluMultiwordToken::space_after() const { return !misc_has_no_space_after(misc); }

std::vector<ConlluSentence> parse_conllu(std::string_view text, std::string_view source_name) {
  return Parser(source_name).parse(split_text_lines(text, source_name));
}

std::vector<ConlluSentence> read_conllu(const std::filesystem::path& path) {
  const std::string source = path.string();
  return parse_conllu(read_file(path), source);
}

std::string_view universal_relation(std::string_view deprel) { return deprel.substr(0, deprel.find(':')); }

}  // namespace bertscope::io
