#include "io/coref.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/tsv.hpp"

namespace bertscope::io {

namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> options) {
  return std::find(options.begin(), options.end(), v) != options.end();
}

}  // namespace

std::optional<PronounFeatures> english_pronoun(std::string_view word) {
  static const std::map<std::string, PronounFeatures, std::less<>> table = [] {
    std::map<std::string, PronounFeatures, std::less<>> t;
    auto add = [&](std::initializer_list<const char*> words, const char* number, const char* gender, int person) {
      for (const char* w : words) t[w] = PronounFeatures{number, gender, person};
    };
    add({"i", "me", "my", "mine", "myself"}, "singular", "", 1);
    add({"we", "us", "our", "ours", "ourselves"}, "plural", "", 1);
    add({"you", "your", "yours"}, "", "", 2);
    add({"yourself"}, "singular", "", 2);
    add({"yourselves"}, "plural", "", 2);
    add({"he", "him", "his", "himself"}, "singular", "masculine", 3);
    add({"she", "her", "hers", "herself"}, "singular", "feminine", 3);
    add({"it", "its", "itself"}, "singular", "neuter", 3);
    add({"they", "them", "their", "theirs", "themselves"}, "plural", "", 3);
    return t;
  }();
  const auto it = table.find(ascii_lower(word));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// The simple format.

namespace {

class DocReader {
 public:
  DocReader(std::string_view source, std::size_t line) : source_(source), line_(line) {}

  [[noreturn]] void error(const std::string& what) const { fail(ErrorKind::format, "{}:{}: {}", source_, line_, what); }

  std::size_t index(const nlohmann::json& j, const std::string& what) const {
    if (!j.is_number_integer() || j.get<std::int64_t>() < 0) error(fmt::format("{} must be a non-negative integer, found {}", what, j.dump()));
    return j.get<std::size_t>();
  }

  std::string text(const nlohmann::json& obj, const char* key, const std::string& what,
                   std::initializer_list<std::string_view> allowed) const {
    if (!obj.contains(key)) return {};
    const auto& v = obj[key];
    if (!v.is_string() || !one_of(v.get<std::string>(), allowed))
      error(fmt::format("{} \"{}\" is {}; expected one of {}", what, key, v.dump(), fmt::join(allowed, ", ")));
    return v.get<std::string>();
  }

  CorefDocument read(const std::string& line_text) const {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line_text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range.406 for "1e999"
      error(fmt::format("invalid JSON: {}", e.what()));
    }
    if (!j.is_object()) error("expected one JSON object per line (a document)");
    CorefDocument d;
    d.line = line_;
    if (j.contains("id")) d.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
    else d.id = fmt::format("line {}", line_);
    if (!j.contains("words") || !j["words"].is_array() || j["words"].empty()) error("\"words\" must be a non-empty array of strings");
    for (const auto& w : j["words"]) {
      if (!w.is_string() || w.get<std::string>().empty()) error(fmt::format("word {} is {}; words must be non-empty strings", d.words.size(), w.dump()));
      d.words.push_back(w.get<std::string>());
    }
    if (!j.contains("mentions") || !j["mentions"].is_array()) error("\"mentions\" must be an array");
    for (const auto& mj : j["mentions"]) {
      const auto what = fmt::format("mention {}", d.mentions.size());
      if (!mj.is_object()) error(what + " must be an object");
      for (const char* key : {"start", "end", "cluster"})
        if (!mj.contains(key)) error(fmt::format("{} has no \"{}\"", what, key));
      CorefMention m;
      m.start = index(mj["start"], what + " start");
      m.end = index(mj["end"], what + " end");
      if (m.start >= m.end || m.end > d.words.size())
        error(fmt::format("{} spans words [{}, {}), expected start < end <= {} (the document's words)", what, m.start, m.end, d.words.size()));
      if (!mj["cluster"].is_number_integer()) error(fmt::format("{} cluster must be an integer, found {}", what, mj["cluster"].dump()));
      m.cluster = mj["cluster"].get<std::int64_t>();
      if (mj.contains("head")) {
        m.head = index(mj["head"], what + " head");
        if (*m.head < m.start || *m.head >= m.end) error(fmt::format("{} head {} is outside its span [{}, {})", what, *m.head, m.start, m.end));
      }
      m.type = text(mj, "type", what, {"pronoun", "proper", "nominal"});
      m.number = text(mj, "number", what, {"singular", "plural"});
      m.gender = text(mj, "gender", what, {"masculine", "feminine", "neuter"});
      if (mj.contains("person")) {
        if (!mj["person"].is_number_integer() || mj["person"].get<int>() < 1 || mj["person"].get<int>() > 3)
          error(fmt::format("{} person must be 1, 2 or 3, found {}", what, mj["person"].dump()));
        m.person = mj["person"].get<int>();
      }
      d.mentions.push_back(std::move(m));
    }
    if (j.contains("anaphors")) {
      if (!j["anaphors"].is_array()) error("\"anaphors\" must be an array");
      for (const auto& aj : j["anaphors"]) {
        const auto what = fmt::format("anaphor {}", d.anaphors.size());
        if (!aj.is_object() || !aj.contains("mention") || !aj.contains("candidates") || !aj["candidates"].is_array() ||
            aj["candidates"].empty())
          error(what + " must be an object with \"mention\" and a non-empty \"candidates\" array");
        CorefAnaphor a;
        a.mention = index(aj["mention"], what + " mention");
        if (a.mention >= d.mentions.size()) error(fmt::format("{} refers to mention {}, the document has {}", what, a.mention, d.mentions.size()));
        for (const auto& c : aj["candidates"]) {
          const auto k = index(c, what + " candidate");
          if (k >= d.mentions.size()) error(fmt::format("{} candidate {} does not exist ({} mentions)", what, k, d.mentions.size()));
          if (k == a.mention) error(fmt::format("{} lists its own mention as a candidate", what));
          a.candidates.push_back(k);
        }
        d.anaphors.push_back(std::move(a));
      }
    }
    return d;
  }

 private:
  std::string_view source_;
  std::size_t line_;
};

}  // namespace

std::vector<CorefDocument> parse_coref(std::string_view text, std::string_view source) {
  std::vector<CorefDocument> docs;
  const auto lines = split_text_lines(text, source);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
    docs.push_back(DocReader(source, i + 1).read(lines[i]));
  }
  return docs;
}

std::vector<CorefDocument> read_coref(const std::filesystem::path& path) {
  return parse_coref(read_file(path), path.string());
}

nlohmann::json coref_to_json(const CorefDocument& d) {
  nlohmann::json mentions = nlohmann::json::array();
  for (const auto& m : d.mentions) {
    nlohmann::json j = {{"start", m.start}, {"end", m.end}, {"cluster", m.cluster}};
    if (m.head) j["head"] = *m.head;
    if (!m.type.empty()) j["type"] = m.type;
    if (!m.number.empty()) j["number"] = m.number;
    if (!m.gender.empty()) j["gender"] = m.gender;
    if (m.person) j["person"] = m.person;
    mentions.push_back(j);
  }
  nlohmann::json j = {{"id", d.id}, {"words", d.words}, {"mentions", mentions}};
  if (!d.anaphors.empty()) {
    nlohmann::json anaphors = nlohmann::json::array();
    for (const auto& a : d.anaphors) anaphors.push_back({{"mention", a.mention}, {"candidates", a.candidates}});
    j["anaphors"] = anaphors;
  }
  return j;
}

void write_coref(const std::filesystem::path& path, const std::vector<CorefDocument>& docs) {
  std::string out;
  for (const auto& d : docs) out += coref_to_json(d).dump() + "\n";
  write_file_atomic(path, out);
}

// ---------------------------------------------------------------------------------------------
// GAP.

namespace {

// Byte offset of every code point of a UTF-8 string, plus the end.
std::vector<std::size_t> code_point_offsets(std::string_view s) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) out.push_back(i);
  out.push_back(s.size());
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::vector<CorefDocument> read_gap(const std::filesystem::path& path) {
  const auto table = read_tsv(path);
  const auto source = path.string();
  const auto c_id = table.column_index("ID"), c_text = table.column_index("Text"), c_p = table.column_index("Pronoun"),
             c_po = table.column_index("Pronoun-offset"), c_a = table.column_index("A"), c_ao = table.column_index("A-offset"),
             c_ac = table.column_index("A-coref"), c_b = table.column_index("B"), c_bo = table.column_index("B-offset"),
             c_bc = table.column_index("B-coref");
  std::vector<CorefDocument> docs;
  for (std::size_t r = 0; r < table.num_rows(); ++r) {
    const auto& row = table.rows[r];
    const auto line = table.lines[r];
    auto error = [&](const std::string& what) { fail(ErrorKind::format, "{}:{}: {}", source, line, what); };
    const std::string& text = row[c_text];
    const auto cps = code_point_offsets(text);
    struct Span {
      std::string name;
      std::size_t begin, end;  // bytes
    };
    auto span = [&](std::size_t c_name, std::size_t c_offset, const char* column) {
      const std::string& name = row[c_name];
      std::size_t offset = 0;
      const auto& f = row[c_offset];
      const auto res = std::from_chars(f.data(), f.data() + f.size(), offset);
      if (res.ec != std::errc() || res.ptr != f.data() + f.size())
        error(fmt::format("{}-offset {} is not a non-negative integer", column, quote(f)));
      if (name.empty()) error(fmt::format("{} is empty", column));
      if (offset >= cps.size() - 1 || text.compare(cps[offset], name.size(), name) != 0)
        error(fmt::format("{} {} is not at code point {} of the text", column, quote(name), offset));
      return Span{name, cps[offset], cps[offset] + name.size()};
    };
    auto flag = [&](std::size_t c, const char* column) {
      const auto v = ascii_lower(row[c]);
      if (v != "true" && v != "false") error(fmt::format("{} is {}; expected TRUE or FALSE", column, quote(row[c])));
      return v == "true";
    };
    const Span spans[3] = {span(c_a, c_ao, "A"), span(c_b, c_bo, "B"), span(c_p, c_po, "Pronoun")};
    const bool a_coref = flag(c_ac, "A-coref"), b_coref = flag(c_bc, "B-coref");
    // Words: white-space separated, also cut at every mention boundary.
    std::set<std::size_t> cuts;
    for (const auto& s : spans) {
      cuts.insert(s.begin);
      cuts.insert(s.end);
    }
    CorefDocument d;
    d.id = row[c_id];
    d.line = line;
    std::vector<std::pair<std::size_t, std::size_t>> word_bytes;
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && is_space(text[i])) ++i;
      if (i >= text.size()) break;
      std::size_t j = i + 1;
      while (j < text.size() && !is_space(text[j]) && !cuts.count(j)) ++j;
      word_bytes.emplace_back(i, j);
      d.words.push_back(text.substr(i, j - i));
      i = j;
    }
    std::size_t mention_index[3];
    for (int k = 0; k < 3; ++k) {
      const auto& s = spans[k];
      CorefMention m;
      m.start = d.words.size();
      m.end = 0;
      for (std::size_t w = 0; w < word_bytes.size(); ++w) {
        if (word_bytes[w].first >= s.begin && word_bytes[w].second <= s.end) {
          m.start = std::min(m.start, w);
          m.end = w + 1;
        }
      }
      if (m.end <= m.start) error(fmt::format("{} does not cover a whole word", quote(s.name)));
      if (k < 2) {
        m.type = "proper";
        m.head = m.end - 1;
        m.cluster = (k == 0 ? a_coref : b_coref) ? 0 : k + 1;
        m.person = 3;
      } else {
        m.type = "pronoun";
        m.head = m.end - 1;
        m.cluster = 0;
        if (const auto f = english_pronoun(s.name)) {
          m.number = f->number;
          m.gender = f->gender;
          m.person = f->person;
        }
      }
      mention_index[k] = d.mentions.size();
      d.mentions.push_back(std::move(m));
    }
    d.anaphors.push_back({mention_index[2], {mention_index[0], mention_index[1]}});
    docs.push_back(std::move(d));
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// CoNLL-2012.

namespace {

std::string unescape_ptb(const std::string& w) {
  static const std::map<std::string, std::string> brackets = {{"-LRB-", "("}, {"-RRB-", ")"}, {"-LSB-", "["},
                                                              {"-RSB-", "]"}, {"-LCB-", "{"}, {"-RCB-", "}"}};
  if (const auto it = brackets.find(w); it != brackets.end()) return it->second;
  // OntoNotes escapes sentence-final punctuation in some genres as "/." and "/?".
  if (w.size() == 2 && w[0] == '/') return w.substr(1);
  return w;
}

void finish_mention_features(CorefMention& m, const std::vector<std::string>& words, const std::vector<std::string>& pos) {
  static const std::set<std::string> stops = {"IN", "TO", "WDT", "WP", "WP$", ",", ":", "-LRB-"};
  static const std::set<std::string> heads = {"NN", "NNS", "NNP", "NNPS", "PRP", "PRP$", "CD", "WP", "WP$"};
  std::size_t prefix_end = m.end;
  for (std::size_t i = m.start + 1; i < m.end; ++i)
    if (stops.count(pos[i])) {
      prefix_end = i;
      break;
    }
  std::size_t head = prefix_end - 1;
  for (std::size_t i = prefix_end; i-- > m.start;)
    if (heads.count(pos[i])) {
      head = i;
      break;
    }
  m.head = head;
  const auto& tag = pos[head];
  if (tag == "PRP" || tag == "PRP$" || tag == "WP" || tag == "WP$") m.type = "pronoun";
  else if (tag == "NNP" || tag == "NNPS") m.type = "proper";
  else m.type = "nominal";
  if (const auto f = english_pronoun(words[head])) {
    m.number = f->number;
    m.gender = f->gender;
    m.person = f->person;
  } else {
    if (tag == "NNS" || tag == "NNPS") m.number = "plural";
    else if (tag == "NN" || tag == "NNP") m.number = "singular";
    m.person = 3;
  }
}

}  // namespace

std::vector<CorefDocument> read_conll2012(const std::filesystem::path& path) {
  const auto source = path.string();
  const auto lines = read_text_lines(path);
  std::vector<CorefDocument> docs;
  bool in_doc = false;
  CorefDocument doc;
  std::vector<std::string> pos;
  std::map<std::int64_t, std::vector<std::pair<std::size_t, std::size_t>>> open;  // cluster -> (start word, line)
  std::set<std::tuple<std::size_t, std::size_t, std::int64_t>> seen;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto line = n + 1;
    auto error = [&](const std::string& what) { fail(ErrorKind::format, "{}:{}: {}", source, line, what); };
    const std::string& text = lines[n];
    if (text.starts_with("#begin document")) {
      if (in_doc) error("#begin document inside a document (missing #end document)");
      in_doc = true;
      doc = CorefDocument{};
      pos.clear();
      open.clear();
      seen.clear();
      doc.line = line;
      auto rest = text.substr(std::string("#begin document").size());
      const auto b = rest.find_first_not_of(" \t");
      doc.id = b == std::string::npos ? fmt::format("line {}", line) : rest.substr(b);
      continue;
    }
    if (text.starts_with("#end document")) {
      if (!in_doc) error("#end document without #begin document");
      for (const auto& [cluster, starts] : open)
        if (!starts.empty())
          fail(ErrorKind::format, "{}:{}: mention of cluster {} opened here is never closed before #end document", source,
               starts.back().second, cluster);
      if (doc.words.empty()) error("document has no words");
      std::sort(doc.mentions.begin(), doc.mentions.end(),
                [](const CorefMention& a, const CorefMention& b) { return std::tie(a.start, a.end) < std::tie(b.start, b.end); });
      for (auto& m : doc.mentions) finish_mention_features(m, doc.words, pos);
      docs.push_back(std::move(doc));
      in_doc = false;
      continue;
    }
    if (text.find_first_not_of(" \t") == std::string::npos || text.starts_with("#")) continue;
    if (!in_doc) error("token line outside #begin document / #end document");
    std::vector<std::string> cols;
    for (std::size_t i = 0; i < text.size();) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      if (i >= text.size()) break;
      std::size_t j = i;
      while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
      cols.push_back(text.substr(i, j - i));
      i = j;
    }
    if (cols.size() < 6)
      error(fmt::format("expected at least 6 white-space separated columns (document, part, number, word, POS, ..., "
                        "coreference), found {}", cols.size()));
    const auto w = doc.words.size();
    doc.words.push_back(unescape_ptb(cols[3]));
    pos.push_back(cols[4]);
    const auto& coref = cols.back();
    if (coref == "-") continue;
    for (std::size_t i = 0; i <= coref.size();) {
      const auto bar = std::min(coref.find('|', i), coref.size());
      std::string_view part(coref.data() + i, bar - i);
      const bool opens = part.starts_with("("), closes = part.ends_with(")");
      auto digits = part.substr(opens ? 1 : 0);
      if (closes) digits.remove_suffix(1);
      std::int64_t cluster = 0;
      const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), cluster);
      if (part.empty() || (!opens && !closes) || digits.empty() || res.ec != std::errc() ||
          res.ptr != digits.data() + digits.size())
        error(fmt::format("coreference field {}: expected \"-\" or parts like (12, 12) and (12) joined by |", quote(coref)));
      std::optional<std::size_t> start;
      if (opens && closes) start = w;
      else if (opens) open[cluster].emplace_back(w, line);
      else {
        auto& stack = open[cluster];
        if (stack.empty()) error(fmt::format("coreference field {} closes cluster {}, which is not open", quote(coref), cluster));
        start = stack.back().first;
        stack.pop_back();
      }
      if (start && seen.insert({*start, w + 1, cluster}).second) {
        CorefMention m;
        m.start = *start;
        m.end = w + 1;
        m.cluster = cluster;
        doc.mentions.push_back(m);
      }
      i = bar + 1;
    }
  }
  if (in_doc) fail(ErrorKind::format, "{}:{}: document begun here has no #end document", source, doc.line);
  return docs;
}

}  // namespace bertscope::io
