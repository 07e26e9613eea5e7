#include "analysis/features.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/heads.hpp"
#include "io/conllu.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/text_inputs.hpp"
#include "io/tsv.hpp"

namespace bertscope::analysis::features {

const std::array<std::string_view, 18> kNegationWords = {
    "neither", "nor",   "not",   "never",  "none",      "don't",    "won't",   "didn't",  "hadn't",
    "haven't", "can't", "isn't", "wasn't", "shouldn't", "couldn't", "nothing", "nowhere", "n't"};

namespace {

// Code points of valid UTF-8 (the readers have checked it).
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len && i + static_cast<std::size_t>(k) < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
    out.push_back(cp);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_space(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == 0x3000; }
bool is_ascii_punct(char32_t c) { return c < 0x80 && std::ispunct(static_cast<int>(c)); }

// Whitespace-separated chunks of a text, as [begin, end) code point ranges.
std::vector<std::pair<std::int64_t, std::int64_t>> chunks(const std::u32string& s) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  std::int64_t i = 0;
  const auto n = static_cast<std::int64_t>(s.size());
  while (i < n) {
    while (i < n && is_space(s[static_cast<std::size_t>(i)])) ++i;
    const auto b = i;
    while (i < n && !is_space(s[static_cast<std::size_t>(i)])) ++i;
    if (i > b) out.emplace_back(b, i);
  }
  return out;
}

// Words for the FrameNet filter: whitespace chunks split further at ASCII punctuation, each
// punctuation character a word of its own (close to NLTK's word tokenizer on these sentences).
std::vector<std::pair<std::int64_t, std::int64_t>> filter_words(const std::u32string& s) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& [b, e] : chunks(s)) {
    std::int64_t start = b;
    for (std::int64_t i = b; i < e; ++i)
      if (is_ascii_punct(s[static_cast<std::size_t>(i)])) {
        if (i > start) out.emplace_back(start, i);
        out.emplace_back(i, i + 1);
        start = i + 1;
      }
    if (e > start) out.emplace_back(start, e);
  }
  return out;
}

bool strippable(char32_t c) { return is_ascii_punct(c) && c != '\''; }

// The part of a chunk that is the word: without leading and trailing punctuation other than
// apostrophes, [begin, end) within the chunk.
std::pair<std::size_t, std::size_t> word_core(std::u32string_view w) {
  std::size_t b = 0, e = w.size();
  while (b < e && strippable(w[b])) ++b;
  while (e > b && strippable(w[e - 1])) --e;
  return {b, e};
}

// A word as the word lists spell it: lower-cased (ASCII), typographic apostrophes made
// straight, leading and trailing punctuation other than apostrophes removed.
std::string normalize_word(std::u32string_view w) {
  const auto [b, e] = word_core(w);
  std::string out;
  for (std::size_t i = b; i < e; ++i) {
    char32_t c = w[i] == U'\u2019' ? U'\'' : w[i];
    if (c < 0x80) c = static_cast<char32_t>(std::tolower(static_cast<int>(c)));
    append_utf8(out, c);
  }
  return out;
}

std::string normalize_word(std::string_view w) { return normalize_word(std::u32string_view(decode_utf8(w))); }

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

bool is_special(const model::Encoding& e, std::size_t i) {
  return e.sequence_ids.empty() ? (e.word_ids.empty() || e.word_ids[i] < 0) : e.sequence_ids[i] < 0;
}
int segment_of(const model::Encoding& e, std::size_t i) {
  return e.sequence_ids.empty() ? (e.type_ids.empty() ? 0 : e.type_ids[i]) : e.sequence_ids[i];
}

// The normalised word each token belongs to ("" for special tokens).
std::vector<std::string> token_words(const Example& ex, const model::Encoding& e) {
  std::vector<std::string> out(e.size());
  if (!ex.input.words.empty()) {
    for (std::size_t i = 0; i < e.size(); ++i) {
      const auto w = e.word_ids.empty() ? -1 : e.word_ids[i];
      if (!is_special(e, i) && w >= 0 && static_cast<std::size_t>(w) < ex.input.words.size())
        out[i] = normalize_word(ex.input.words[static_cast<std::size_t>(w)]);
    }
    return out;
  }
  const std::u32string texts[2] = {decode_utf8(ex.input.text), decode_utf8(ex.input.pair.value_or(""))};
  const std::vector<std::pair<std::int64_t, std::int64_t>> words[2] = {chunks(texts[0]), chunks(texts[1])};
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (is_special(e, i) || e.char_offsets.size() <= i) continue;
    const int s = segment_of(e, i) == 1 ? 1 : 0;
    const auto begin = e.char_offsets[i].first;
    for (const auto& [b, en] : words[s])
      if (begin >= b && begin < en) {
        // Punctuation glued to the word ("mat." -> "mat" and ".") is not part of it.
        const auto chunk = std::u32string_view(texts[s]).substr(static_cast<std::size_t>(b), static_cast<std::size_t>(en - b));
        const auto [cb, ce] = word_core(chunk);
        if (begin >= b + static_cast<std::int64_t>(cb) && begin < b + static_cast<std::int64_t>(ce))
          out[i] = normalize_word(chunk);
        break;
      }
  }
  return out;
}

// The tokens of word k (0-based) of the first segment.
std::vector<std::int64_t> word_tokens(const model::Encoding& e, std::int64_t k) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < e.size(); ++i)
    if (!is_special(e, i) && !e.word_ids.empty() && e.word_ids[i] == k && segment_of(e, i) == 0)
      out.push_back(static_cast<std::int64_t>(i));
  return out;
}

bool relation_matches(const std::set<std::string>& wanted, const std::string& deprel) {
  if (wanted.count(deprel)) return true;
  return wanted.count(std::string(io::universal_relation(deprel))) > 0;
}

bool is_core(const std::string& type) { return type.rfind("Core", 0) == 0; }

std::vector<std::pair<std::int64_t, std::int64_t>> make_pairs(const std::vector<std::int64_t>& from,
                                                              const std::vector<std::int64_t>& to, Pairing pairing) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (pairing == Pairing::zip) {
    for (std::size_t k = 0; k < std::min(from.size(), to.size()); ++k) out.emplace_back(from[k], to[k]);
  } else {
    for (auto i : from)
      for (auto j : to) out.emplace_back(i, j);
  }
  return out;
}

std::pair<std::int64_t, std::int64_t> parse_span(std::string_view text, const std::string& where) {
  const auto colon = text.find(':');
  std::int64_t b = -1, e = -1;
  bool ok = colon != std::string_view::npos;
  if (ok) {
    auto r1 = std::from_chars(text.data(), text.data() + colon, b);
    auto r2 = std::from_chars(text.data() + colon + 1, text.data() + text.size(), e);
    ok = r1.ec == std::errc() && r1.ptr == text.data() + colon && r2.ec == std::errc() &&
         r2.ptr == text.data() + text.size() && b >= 0 && e > b;
  }
  if (!ok) fail(ErrorKind::format, "{}: span {} is not START:END with 0 <= START < END", where, io::quote(text));
  return {b, e};
}

nlohmann::json head_ranking(const std::vector<double>& scores, std::int64_t heads) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  const double p99 = percentile(scores, 99.0);
  nlohmann::json top = nlohmann::json::array(), above = nlohmann::json::array();
  for (std::size_t k = 0; k < order.size(); ++k) {
    auto e = head_json(static_cast<std::int64_t>(order[k]) / heads, static_cast<std::int64_t>(order[k]) % heads);
    e["score"] = scores[order[k]];
    if (k < 5) top.push_back(e);
    if (scores[order[k]] > p99) above.push_back(e);
  }
  return {{"top", top}, {"percentile99", p99}, {"above_percentile99", above}};
}

nlohmann::json matrix(const std::vector<double>& v, std::int64_t layers, std::int64_t heads) {
  nlohmann::json m = nlohmann::json::array();
  for (std::int64_t l = 0; l < layers; ++l) {
    nlohmann::json row = nlohmann::json::array();
    for (std::int64_t h = 0; h < heads; ++h) row.push_back(v[static_cast<std::size_t>(l * heads + h)]);
    m.push_back(row);
  }
  return m;
}

}  // namespace

std::string_view format_name(DataFormat f) {
  switch (f) {
    case DataFormat::text: return "text";
    case DataFormat::task: return "task";
    case DataFormat::conllu: return "conllu";
    case DataFormat::spans: return "spans";
  }
  return "text";
}

std::vector<AnalysisInput> Dataset::inputs() const {
  std::vector<AnalysisInput> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.push_back(e.input);
  return out;
}

Dataset from_task(const TaskData& data) {
  Dataset d;
  d.source = data.source;
  d.format = DataFormat::task;
  for (const auto& e : data.examples) d.examples.push_back(Example{AnalysisInput{e.text, e.pair, {}}, {}, {}, e.line});
  return d;
}

Dataset read_text_data(const std::filesystem::path& path) {
  Dataset d;
  d.source = path;
  d.format = DataFormat::text;
  for (const auto& t : io::read_text_inputs(path)) d.examples.push_back(Example{AnalysisInput{t.text, t.pair, {}}, {}, {}, t.line});
  return d;
}

Dataset read_conllu_data(const std::filesystem::path& path) {
  Dataset d;
  d.source = path;
  d.format = DataFormat::conllu;
  for (const auto& s : io::read_conllu(path)) {
    Example ex;
    ex.line = s.line;
    for (const auto& w : s.words) {
      ex.input.words.push_back(w.form);
      ex.words.push_back(WordInfo{w.form, w.upos, w.xpos, w.deprel, w.head});
    }
    d.examples.push_back(std::move(ex));
  }
  return d;
}

Dataset read_span_data(const std::filesystem::path& path) {
  const auto table = io::read_tsv(path);
  const auto sentence = table.column_index("sentence"), targets = table.column_index("target_spans"),
             fes = table.column_index("fe_spans");
  Dataset d;
  d.source = path;
  d.format = DataFormat::spans;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    Example ex;
    ex.line = table.lines[r];
    ex.input.text = row[sentence];
    const auto length = static_cast<std::int64_t>(decode_utf8(ex.input.text).size());
    const auto where = [&](const char* column) { return fmt::format("{}:{}: {}", table.source, ex.line, column); };
    auto check = [&](std::pair<std::int64_t, std::int64_t> s, const char* column) {
      if (s.second > length)
        fail(ErrorKind::format, "{}: span {}:{} runs past the sentence's {} characters", where(column), s.first,
             s.second, length);
      return s;
    };
    if (!row[targets].empty())
      for (const auto& part : split(row[targets], ';')) {
        const auto [b, e] = check(parse_span(part, where("target_spans")), "target_spans");
        ex.spans.push_back(Span{"target", "target", b, e});
      }
    if (!row[fes].empty())
      for (const auto& part : split(row[fes], ';')) {
        const auto fields = split(part, '|');
        if (fields.size() != 3 || fields[0].empty())
          fail(ErrorKind::format, "{}: {} is not NAME|CORE_TYPE|START:END", where("fe_spans"), io::quote(part));
        const auto [b, e] = check(parse_span(fields[2], where("fe_spans")), "fe_spans");
        ex.spans.push_back(Span{fields[0], fields[1], b, e});
      }
    d.examples.push_back(std::move(ex));
  }
  return d;
}

Dataset read_dataset(const std::filesystem::path& path, const std::optional<TaskSpec>& task) {
  if (task) return from_task(read_task(path, task));
  const auto ext = path.extension().string();
  if (ext == ".conllu") return read_conllu_data(path);
  if (ext == ".tsv") {
    const auto lines = io::read_text_lines(path);
    const auto header = lines.empty() ? std::vector<std::string>{} : split(lines.front(), '\t');
    auto has = [&](const char* c) { return std::find(header.begin(), header.end(), c) != header.end(); };
    if (has("sentence") && has("target_spans") && has("fe_spans")) return read_span_data(path);
    return from_task(read_task(path));
  }
  return read_text_data(path);
}

nlohmann::json filter_spans(Dataset& data, const SpanFilter& f) {
  std::map<std::string, std::size_t> rejected;
  std::vector<Example> kept;
  for (auto& ex : data.examples) {
    const auto text = decode_utf8(ex.input.text);
    const auto words = filter_words(text);
    auto covered = [&](const Span& s) {
      std::vector<std::int64_t> w;
      for (std::size_t k = 0; k < words.size(); ++k)
        if (words[k].first < s.end && s.begin < words[k].second) w.push_back(static_cast<std::int64_t>(k));
      return w;
    };
    const char* reason = nullptr;
    std::vector<const Span*> target_spans, fe_spans;
    for (const auto& s : ex.spans) (s.type == "target" ? target_spans : fe_spans).push_back(&s);
    if (words.size() > f.max_words) reason = "more_words";
    else if (target_spans.size() != 1) reason = "not_one_target";
    else if (covered(*target_spans[0]).size() != 1) reason = "target_not_one_word";
    else {
      const auto target = covered(*target_spans[0])[0];
      bool core = false;
      for (const auto* s : fe_spans) {
        const auto w = covered(*s);
        if (w.size() > f.max_fe_words) {
          reason = "long_frame_element";
          break;
        }
        for (auto k : w)
          if (std::abs(k - target) <= static_cast<std::int64_t>(f.window)) reason = "frame_element_near_target";
        if (reason) break;
        core = core || is_core(s->type);
      }
      if (!reason && !core) reason = "no_core_frame_element";
    }
    if (reason) ++rejected[reason];
    else kept.push_back(std::move(ex));
  }
  nlohmann::json report = {{"read", data.examples.size()}, {"kept", kept.size()}, {"rejected", rejected},
                           {"max_words", f.max_words},     {"max_fe_words", f.max_fe_words}, {"window", f.window}};
  data.examples = std::move(kept);
  data.report["span_filter"] = report;
  return report;
}

Selector Selector::parse(std::string_view spec) {
  Selector s;
  s.spec_ = std::string(spec);
  auto values = [&](std::string_view list) {
    std::set<std::string> out;
    for (const auto& v : split(list, ','))
      if (!v.empty()) out.insert(v);
    if (out.empty()) fail(ErrorKind::input, "feature {}: no values after the ':'", io::quote(spec));
    return out;
  };
  const auto colon = spec.find(':');
  const auto head = spec.substr(0, colon);
  const auto rest = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (spec == "cls") s.kind_ = Kind::cls;
  else if (spec == "sep") s.kind_ = Kind::sep;
  else if (spec == "neg") {
    s.kind_ = Kind::words;
    s.values_ = std::set<std::string>(kNegationWords.begin(), kNegationWords.end());
  } else if (spec == "pron") {
    s.kind_ = Kind::xpos;
    s.values_ = {"PRP", "PRP$"};
  } else if (spec == "noun") {
    s.kind_ = Kind::xpos;
    s.values_ = {"NN", "NNS", "NNP", "NNPS"};
  } else if (spec == "verb") {
    s.kind_ = Kind::xpos;
    s.values_ = {"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"};
  } else if (spec == "subj") {
    s.kind_ = Kind::deprel;
    s.values_ = {"nsubj", "csubj", "expl", "obl:agent"};
  } else if (spec == "obj") {
    s.kind_ = Kind::deprel;
    s.values_ = {"obj", "iobj"};
  } else if (spec.rfind("words@", 0) == 0) {
    s.kind_ = Kind::words;
    const std::filesystem::path file(spec.substr(6));
    for (const auto& line : io::read_text_lines(file)) {
      const auto w = normalize_word(line);
      if (!w.empty()) s.values_.insert(w);
    }
    if (s.values_.empty()) fail(ErrorKind::input, "{}: the word list is empty", file.string());
  } else if (head == "words" && colon != std::string_view::npos) {
    s.kind_ = Kind::words;
    for (const auto& w : values(rest)) s.values_.insert(normalize_word(w));
  } else if (head == "upos" && colon != std::string_view::npos) {
    s.kind_ = Kind::upos;
    s.values_ = values(rest);
  } else if (head == "xpos" && colon != std::string_view::npos) {
    s.kind_ = Kind::xpos;
    s.values_ = values(rest);
  } else if (head == "deprel" && colon != std::string_view::npos) {
    s.kind_ = Kind::deprel;
    s.values_ = values(rest);
  } else if (head == "span" && !rest.empty()) {
    s.kind_ = Kind::span;
    s.values_ = {std::string(rest)};
  } else {
    fail(ErrorKind::input,
         "feature {}: unknown selector; expected cls, sep, neg, pron, noun, verb, subj, obj, words:a,b, words@FILE, "
         "upos:X, xpos:X, deprel:x or span:NAME",
         io::quote(spec));
  }
  return s;
}

void Selector::check_format(DataFormat format) const {
  const bool conllu = kind_ == Kind::upos || kind_ == Kind::xpos || kind_ == Kind::deprel;
  if (conllu && format != DataFormat::conllu)
    fail(ErrorKind::input, "feature {} needs CoNLL-U data (part-of-speech tags and relations); the data is {}",
         io::quote(spec_), format_name(format));
  if (kind_ == Kind::span && format != DataFormat::spans)
    fail(ErrorKind::input, "feature {} needs a span file (sentence, target_spans, fe_spans); the data is {}",
         io::quote(spec_), format_name(format));
}

std::vector<std::int64_t> Selector::positions(const Example& ex, const model::Encoding& e) const {
  std::vector<std::int64_t> out;
  const auto t = e.size();
  switch (kind_) {
    case Kind::cls:
      if (t > 0 && is_special(e, 0)) out.push_back(0);
      break;
    case Kind::sep:
      for (std::size_t i = 1; i < t; ++i)
        if (is_special(e, i)) out.push_back(static_cast<std::int64_t>(i));
      break;
    case Kind::words: {
      const auto words = token_words(ex, e);
      for (std::size_t i = 0; i < t; ++i)
        if (!words[i].empty() && values_.count(words[i])) out.push_back(static_cast<std::int64_t>(i));
      break;
    }
    case Kind::upos:
    case Kind::xpos:
    case Kind::deprel:
      for (std::size_t i = 0; i < t; ++i) {
        if (is_special(e, i) || e.word_ids.empty() || e.word_ids[i] < 0) continue;
        const auto w = static_cast<std::size_t>(e.word_ids[i]);
        if (w >= ex.words.size()) continue;
        const auto& info = ex.words[w];
        const bool hit = kind_ == Kind::upos ? values_.count(info.upos) > 0
                         : kind_ == Kind::xpos ? values_.count(info.xpos) > 0
                                               : relation_matches(values_, info.deprel);
        if (hit) out.push_back(static_cast<std::int64_t>(i));
      }
      break;
    case Kind::span: {
      const auto& name = *values_.begin();
      for (std::size_t i = 0; i < t; ++i) {
        if (is_special(e, i) || segment_of(e, i) != 0 || e.char_offsets.size() <= i) continue;
        const auto [b, en] = e.char_offsets[i];
        if (en <= b) continue;
        for (const auto& s : ex.spans) {
          const bool wanted = name == "target" ? s.type == "target"
                              : name == "fe"   ? s.type != "target" && is_core(s.type)
                              : name == "fe-all" ? s.type != "target"
                                                 : s.type != "target" && s.name == name;
          if (wanted && b < s.end && s.begin < en) {
            out.push_back(static_cast<std::int64_t>(i));
            break;
          }
        }
      }
      break;
    }
  }
  return out;
}

Feature parse_feature(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) return Feature{std::string(text), Selector::parse(text)};
  if (eq == 0) fail(ErrorKind::input, "feature {}: empty name before '='", io::quote(text));
  return Feature{std::string(text.substr(0, eq)), Selector::parse(text.substr(eq + 1))};
}

Link Link::parse(std::string_view text) {
  Link k;
  const auto eq = text.find('=');
  const auto spec = eq == std::string_view::npos ? text : text.substr(eq + 1);
  k.name_ = std::string(eq == std::string_view::npos ? text : text.substr(0, eq));
  k.spec_ = std::string(spec);
  if (k.name_.empty()) fail(ErrorKind::input, "link {}: empty name before '='", io::quote(text));
  if (spec.rfind("arc:", 0) == 0 || spec.rfind("rarc:", 0) == 0) {
    k.reverse_ = spec[0] == 'r';
    auto rel = spec.substr(spec.find(':') + 1);
    const auto slash = rel.find('/');
    if (slash != std::string_view::npos) {
      k.head_upos_ = std::string(rel.substr(slash + 1));
      rel = rel.substr(0, slash);
    }
    k.relation_ = std::string(rel);
    if (k.relation_.empty()) fail(ErrorKind::input, "link {}: no relation after \"arc:\"", io::quote(text));
    return k;
  }
  const auto gt = spec.find('>');
  if (gt == std::string_view::npos)
    fail(ErrorKind::input, "link {}: expected FROM>TO (two selectors) or arc:RELATION[/UPOS]", io::quote(text));
  k.from_ = Selector::parse(spec.substr(0, gt));
  k.to_ = Selector::parse(spec.substr(gt + 1));
  return k;
}

void Link::check_format(DataFormat format) const {
  if (from_) {
    from_->check_format(format);
    to_->check_format(format);
  } else if (format != DataFormat::conllu) {
    fail(ErrorKind::input, "link {} needs CoNLL-U data (dependency arcs); the data is {}", io::quote(spec_),
         format_name(format));
  }
}

std::vector<std::pair<std::int64_t, std::int64_t>> Link::pairs(const Example& ex, const model::Encoding& e,
                                                               Pairing pairing) const {
  if (from_) return make_pairs(from_->positions(ex, e), to_->positions(ex, e), pairing);
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const std::set<std::string> wanted{relation_};
  for (std::size_t w = 0; w < ex.words.size(); ++w) {
    const auto& info = ex.words[w];
    if (info.head <= 0 || !relation_matches(wanted, info.deprel)) continue;
    if (!head_upos_.empty() && ex.words[static_cast<std::size_t>(info.head - 1)].upos != head_upos_) continue;
    auto dep = word_tokens(e, static_cast<std::int64_t>(w)), head = word_tokens(e, info.head - 1);
    const auto p = reverse_ ? make_pairs(head, dep, pairing) : make_pairs(dep, head, pairing);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Accumulator::Accumulator(std::int64_t layers, std::int64_t heads, Options options)
    : layers_(layers), heads_(heads), options_(std::move(options)) {
  const auto n = static_cast<std::size_t>(layers * heads);
  features_.assign(options_.features.size(), Sums{std::vector<double>(n, 0.0), std::vector<double>(n, 0.0), 0});
  links_.assign(options_.links.size(), Sums{std::vector<double>(n, 0.0), {}, 0});
}

void Accumulator::add(const Example& ex, const model::Encoding& e, const core::Tensor& att) {
  const auto t = static_cast<std::int64_t>(e.size());
  if (att.shape != core::Shape{layers_, heads_, t, t})
    fail(ErrorKind::internal, "features: maps {} for {} tokens", core::shape_string(att.shape), t);
  ++total_;
  std::vector<std::vector<std::int64_t>> positions;
  for (const auto& f : options_.features) positions.push_back(f.selector.positions(ex, e));
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> pairs;
  for (const auto& k : options_.links) pairs.push_back(k.pairs(ex, e, options_.pairing));
  for (std::size_t f = 0; f < positions.size(); ++f)
    if (!positions[f].empty() || options_.missing == Missing::zero) ++features_[f].inputs;
  for (std::size_t k = 0; k < pairs.size(); ++k)
    if (!pairs[k].empty() || options_.missing == Missing::zero) ++links_[k].inputs;

  std::vector<double> column(static_cast<std::size_t>(t));
  for (std::int64_t lh = 0; lh < layers_ * heads_; ++lh) {
    const float* a = att.ptr() + lh * t * t;
    std::fill(column.begin(), column.end(), 0.0);
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = 0; j < t; ++j) column[static_cast<std::size_t>(j)] += a[i * t + j];
    for (std::size_t f = 0; f < positions.size(); ++f) {
      if (positions[f].empty()) continue;
      double received = 0, from_cls = 0;
      for (auto p : positions[f]) {
        received = std::max(received, column[static_cast<std::size_t>(p)] / static_cast<double>(t));
        from_cls = std::max(from_cls, static_cast<double>(a[p]));
      }
      features_[f].a[static_cast<std::size_t>(lh)] += received;
      features_[f].b[static_cast<std::size_t>(lh)] += from_cls;
    }
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      if (pairs[k].empty()) continue;
      double best = 0;
      for (const auto& [i, j] : pairs[k]) best = std::max(best, static_cast<double>(a[i * t + j]));
      links_[k].a[static_cast<std::size_t>(lh)] += best;
    }
  }
}

std::string Accumulator::save() const {
  dist::Packer p;
  p.put<std::uint64_t>(total_);
  for (const auto* group : {&features_, &links_})
    for (const auto& sums : *group) {
      p.put(sums.a);
      p.put(sums.b);
      p.put<std::uint64_t>(sums.inputs);
    }
  return p.take();
}

void Accumulator::merge(std::string_view saved, const std::string& what) {
  dist::Unpacker u(saved, what);
  total_ += u.get<std::uint64_t>();
  for (auto* group : {&features_, &links_})
    for (auto& sums : *group) {
      const auto a = u.get_vector<double>();
      const auto b = u.get_vector<double>();
      if (a.size() != sums.a.size() || b.size() != sums.b.size()) fail(ErrorKind::format, "{} hold sums of another model", what);
      for (std::size_t i = 0; i < a.size(); ++i) sums.a[i] += a[i];
      for (std::size_t i = 0; i < b.size(); ++i) sums.b[i] += b[i];
      sums.inputs += u.get<std::uint64_t>();
    }
  u.done();
}

nlohmann::json Accumulator::to_json() const {
  auto mean = [](const std::vector<double>& sums, std::size_t n) {
    std::vector<double> m(sums.size(), 0.0);
    if (n > 0)
      for (std::size_t i = 0; i < sums.size(); ++i) m[i] = sums[i] / static_cast<double>(n);
    return m;
  };
  nlohmann::json features = nlohmann::json::object(), links = nlohmann::json::object();
  for (std::size_t f = 0; f < features_.size(); ++f) {
    const auto received = mean(features_[f].a, features_[f].inputs), from_cls = mean(features_[f].b, features_[f].inputs);
    nlohmann::json j = {{"selector", options_.features[f].selector.spec()},
                        {"inputs", features_[f].inputs},
                        {"received", matrix(received, layers_, heads_)},
                        {"from_cls", matrix(from_cls, layers_, heads_)}};
    if (features_[f].inputs > 0) j.update(head_ranking(received, heads_));
    features[options_.features[f].name] = j;
  }
  for (std::size_t k = 0; k < links_.size(); ++k) {
    const auto score = mean(links_[k].a, links_[k].inputs);
    nlohmann::json j = {{"link", options_.links[k].spec()},
                        {"inputs", links_[k].inputs},
                        {"attention", matrix(score, layers_, heads_)}};
    if (links_[k].inputs > 0) j.update(head_ranking(score, heads_));
    links[options_.links[k].name()] = j;
  }
  return {{"inputs", total_}, {"features", features}, {"links", links}};
}

std::vector<Figure> figures(const nlohmann::json& results) {
  std::vector<Figure> out;
  Figure received{.id = "features.received",
                  .kind = "heatmap",
                  .title = "Attention each head gives to a feature's tokens",
                  .caption = "Per head, the largest share of all queries' attention that one token of the feature receives "
                             "(max over the feature's tokens t of (1/T) sum_i A[i,t]), averaged over the inputs that have the "
                             "feature, on a fixed 0..1 scale. Kovaleva et al. (2019), Fig. 6 (docs/methods.md 2.5): run it on "
                             "the pre-trained and the fine-tuned model and compare the maps head by head.",
                  .axis = "share of attention received (fraction of all queries' attention)",
                  .range = std::array<double, 2>{0, 1}};
  Figure from_cls{.id = "features.from_cls",
                  .kind = "heatmap",
                  .title = "Attention from [CLS] to a feature's tokens",
                  .caption = "Per head, the largest attention weight from the first token ([CLS], <s>) to one token of the "
                             "feature (max over t of A[0,t]), averaged over the inputs that have it, on a fixed 0..1 scale: "
                             "Kovaleva et al.'s view of what the classifier's token reads.",
                  .axis = "attention weight from [CLS] (probability)",
                  .range = std::array<double, 2>{0, 1}};
  if (results.contains("features") && results["features"].is_object())
    for (const auto& [name, f] : results["features"].items()) {
      if (!f.is_object() || !f.contains("received")) continue;
      received.values.push_back({"features." + name + ".received", name, Unit::proportion});
      from_cls.values.push_back({"features." + name + ".from_cls", name, Unit::proportion});
    }
  Figure links{.id = "features.links",
               .kind = "heatmap",
               .title = "Attention along a linguistic link",
               .caption = "Per head, the largest attention weight from a token to the token it is linked with (max over the "
                          "link's (query, key) pairs of A[i,j]), averaged over the inputs that have the link, on a fixed "
                          "0..1 scale: Kovaleva et al.'s relation-specific heads (Fig. 3, docs/methods.md 2.3).",
               .axis = "attention weight along the link (probability)",
               .range = std::array<double, 2>{0, 1}};
  if (results.contains("links") && results["links"].is_object())
    for (const auto& [name, k] : results["links"].items())
      if (k.is_object() && k.contains("attention")) links.values.push_back({"links." + name + ".attention", name, Unit::proportion});
  for (auto* f : {&received, &from_cls, &links})
    if (!f->values.empty()) out.push_back(std::move(*f));
  return out;
}

nlohmann::json params_json(const Options& options) {
  nlohmann::json features = nlohmann::json::object(), links = nlohmann::json::object();
  for (const auto& f : options.features) features[f.name] = f.selector.spec();
  for (const auto& k : options.links) links[k.name()] = k.spec();
  return {{"features", std::move(features)},
          {"links", std::move(links)},
          {"pairing", options.pairing == Pairing::zip ? "zip" : "all"},
          {"missing", options.missing == Missing::zero ? "zero" : "skip"},
          {"received", "max over feature tokens t of (1/T) sum_i A[i,t], maps cropped to the T real tokens"},
          {"from_cls", "max over feature tokens t of A[0,t]"},
          {"link", "max over (query i, key j) pairs of A[i,j]"}};
}

}  // namespace bertscope::analysis::features
