#include "analysis/agreement_data.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/tsv.hpp"

namespace bertscope::analysis::agreement {

namespace {

const std::vector<std::string> kLuExclusions = {"taxi driver", "admire", "swim"};

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) out += ' ';
    out += words[i];
  }
  return out;
}

std::vector<std::string> split_spaces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

bool is_punct(char c) {
  return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':' || c == '"' || c == '(' || c == ')';
}

// Keeps examples that pass the exclusion list and are not duplicates; counts the rest.
class Collector {
 public:
  Collector(AgreementData& data, const ReadOptions& options, Format format) : data_(data), options_(options) {
    exclude_ = options.exclude ? *options.exclude
                               : (format == Format::marvin_linzen ? kLuExclusions : std::vector<std::string>{});
  }
  // `grammatical` is the text the exclusion list is matched against.
  void add(std::optional<AgreementExample> ex, std::string_view grammatical) {
    ++data_.report.pairs;
    for (const auto& x : exclude_)
      if (grammatical.find(x) != std::string_view::npos) {
        ++data_.report.excluded;
        return;
      }
    if (!ex) {
      ++data_.report.not_one_word;
      return;
    }
    if (options_.who)
      for (auto& w : ex->words)
        if (w == "that") w = "who";
    if (options_.dedupe && !seen_.insert(ex->text() + '\t' + ex->good + '\t' + ex->bad).second) {
      ++data_.report.duplicates;
      return;
    }
    data_.examples.push_back(std::move(*ex));
  }

 private:
  AgreementData& data_;
  const ReadOptions& options_;
  std::vector<std::string> exclude_;
  std::set<std::string> seen_;
};

void finish(AgreementData& data) {
  data.report.kept = data.examples.size();
  for (const auto& e : data.examples) data.report.with_roles += e.subject_word >= 0;
}

std::string strip_plural_s(const std::string& w) {
  if (w.size() > 1 && w.back() == 's') return w.substr(0, w.size() - 1);
  return w;
}

char flip(char c) { return c == 'S' ? 'P' : 'S'; }

}  // namespace

std::string AgreementExample::text() const { return join(words); }

std::string_view format_name(Format format) {
  switch (format) {
    case Format::marvin_linzen: return "marvin-linzen";
    case Format::blimp: return "blimp";
    case Format::template_json: return "template";
  }
  return "?";
}

Format parse_format(std::string_view name) {
  if (name == "marvin-linzen") return Format::marvin_linzen;
  if (name == "blimp") return Format::blimp;
  if (name == "template") return Format::template_json;
  fail(ErrorKind::input, "unknown agreement data format \"{}\" (marvin-linzen, blimp, template)", name);
}

Format detect_format(const std::filesystem::path& path) {
  const auto ext = path.extension().string();
  if (ext == ".tsv") return Format::marvin_linzen;
  if (ext == ".jsonl") return Format::blimp;
  if (ext == ".json") return Format::template_json;
  fail(ErrorKind::input,
       "{}: cannot tell the agreement data format from the extension (.tsv Marvin & Linzen, .jsonl BLiMP, .json "
       "template); give it explicitly",
       path.string());
}

nlohmann::json ReadReport::to_json() const {
  return {{"rows", rows},         {"pairs", pairs},           {"kept", kept},
          {"not_one_word", not_one_word}, {"excluded", excluded}, {"duplicates", duplicates},
          {"with_roles", with_roles}};
}

std::vector<std::string> split_words(std::string_view sentence) {
  std::vector<std::string> out;
  for (const auto& raw : split_spaces(sentence)) {
    std::size_t b = 0, e = raw.size();
    std::vector<std::string> tail;
    while (b < e && is_punct(raw[b])) out.emplace_back(1, raw[b++]);
    while (e > b && is_punct(raw[e - 1])) tail.emplace_back(1, raw[--e]);
    if (e > b) out.push_back(raw.substr(b, e - b));
    out.insert(out.end(), tail.rbegin(), tail.rend());
  }
  return out;
}

std::optional<AgreementExample> mask_pair(const std::vector<std::string>& good, const std::vector<std::string>& bad) {
  if (good.size() != bad.size()) return std::nullopt;
  std::optional<std::size_t> at;
  for (std::size_t i = 0; i < good.size(); ++i)
    if (good[i] != bad[i]) {
      if (at) return std::nullopt;
      at = i;
    }
  if (!at) return std::nullopt;
  AgreementExample ex;
  ex.words = good;
  ex.words[*at] = "[MASK]";
  ex.mask_word = *at;
  ex.good = good[*at];
  ex.bad = bad[*at];
  return ex;
}

std::string form_of_condition(std::string_view condition) {
  std::vector<std::string> parts;
  std::size_t b = 0;
  while (b <= condition.size()) {
    const auto e = std::min(condition.find('_', b), condition.size());
    parts.emplace_back(condition.substr(b, e - b));
    b = e + 1;
  }
  std::vector<std::pair<char, std::string>> numbered;  // (S|P, role)
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i] == "sing" || parts[i] == "plur") numbered.emplace_back(parts[i] == "sing" ? 'S' : 'P', parts[i + 1]);
  if (numbered.empty()) return "";
  std::size_t subject = 0;
  for (std::size_t i = 0; i < numbered.size(); ++i)
    if (numbered[i].second == "BS") subject = i;
  std::string form(1, numbered[subject].first);
  for (std::size_t i = 0; i < numbered.size(); ++i)
    if (i != subject) {
      form += numbered[i].first;
      break;
    }
  return form;
}

void find_roles(std::vector<AgreementExample>& examples) {
  // Examples with the same number-free skeleton and the same candidate set differ only in the
  // numbers of their nouns (and of the words agreeing with them).
  std::unordered_map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    if (e.form.empty()) continue;
    std::string key = std::min(e.good, e.bad) + '\t' + std::max(e.good, e.bad) + '\t' + std::to_string(e.words.size());
    for (const auto& w : e.words) key += '\t' + strip_plural_s(w);
    groups[key].push_back(i);
  }
  auto first_difference = [&](const AgreementExample& a, const AgreementExample& b) -> std::int64_t {
    for (std::size_t j = 0; j < a.words.size(); ++j)
      if (j != a.mask_word && a.words[j] != b.words[j]) return static_cast<std::int64_t>(j);
    return -1;
  };
  for (const auto& [key, members] : groups) {
    std::map<std::string, std::size_t> by_form;
    for (auto i : members) by_form.emplace(examples[i].form, i);
    for (auto i : members) {
      auto& e = examples[i];
      std::string subject_flipped = e.form, attractor_flipped = e.form;
      subject_flipped[0] = flip(subject_flipped[0]);
      if (auto it = by_form.find(subject_flipped); it != by_form.end())
        e.subject_word = first_difference(e, examples[it->second]);
      if (e.form.size() > 1) {
        attractor_flipped[1] = flip(attractor_flipped[1]);
        if (auto it = by_form.find(attractor_flipped); it != by_form.end())
          e.attractor_word = first_difference(e, examples[it->second]);
      }
    }
  }
}

AgreementData read_marvin_linzen(const std::filesystem::path& path, const ReadOptions& options) {
  AgreementData data;
  data.source = path;
  data.format = Format::marvin_linzen;
  data.task = path.stem().string();
  const auto table = io::read_tsv(path);
  const auto cond = table.column_index("condition");
  const auto good_col = table.column_index("grammatical");
  std::vector<std::size_t> bad_cols;
  for (std::size_t c = 0; c < table.header.size(); ++c)
    if (table.header[c].starts_with("ungrammatical")) bad_cols.push_back(c);
  if (bad_cols.empty())
    fail(ErrorKind::format, "{}: no \"ungrammatical\" column (Marvin & Linzen files have condition, grammatical, "
                            "ungrammatical[, ungrammatical_2 ...])", path.string());
  Collector collect(data, options, Format::marvin_linzen);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    ++data.report.rows;
    auto good = split_spaces(row[good_col]);
    if (good.empty()) fail(ErrorKind::format, "{}:{}: empty grammatical sentence", path.string(), table.lines[r]);
    if (options.append_period) good.push_back(".");
    for (auto c : bad_cols) {
      if (row[c].empty()) continue;
      auto bad = split_spaces(row[c]);
      if (options.append_period) bad.push_back(".");
      auto ex = mask_pair(good, bad);
      if (ex) {
        ex->task = data.task;
        ex->condition = row[cond];
        ex->form = form_of_condition(row[cond]);
        ex->line = table.lines[r];
      }
      collect.add(std::move(ex), row[good_col]);
    }
  }
  find_roles(data.examples);
  finish(data);
  return data;
}

AgreementData read_blimp(const std::filesystem::path& path, const ReadOptions& options) {
  AgreementData data;
  data.source = path;
  data.format = Format::blimp;
  data.task = path.stem().string();
  const auto lines = io::read_text_lines(path);
  Collector collect(data, options, Format::blimp);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
    ++data.report.rows;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range.406 for "1e999"
      fail(ErrorKind::format, "{}:{}: invalid JSON: {}", path.string(), i + 1, e.what());
    }
    if (!j.is_object() || !j.contains("sentence_good") || !j.contains("sentence_bad") || !j["sentence_good"].is_string() ||
        !j["sentence_bad"].is_string())
      fail(ErrorKind::format, "{}:{}: expected an object with string fields sentence_good and sentence_bad",
           path.string(), i + 1);
    const auto good_text = j["sentence_good"].get<std::string>();
    auto ex = mask_pair(split_words(good_text), split_words(j["sentence_bad"].get<std::string>()));
    if (ex) {
      ex->task = data.task;
      ex->condition = j.contains("UID") && j["UID"].is_string() ? j["UID"].get<std::string>() : data.task;
      ex->line = i + 1;
    }
    collect.add(std::move(ex), good_text);
  }
  finish(data);
  return data;
}

AgreementTemplate parse_template(const nlohmann::json& spec, std::string_view source) {
  auto bad = [&](const std::string& what) -> void { fail(ErrorKind::format, "{}: {}", source, what); };
  if (!spec.is_object()) bad("a template is a JSON object with name, text, slots, agrees_with and target");
  for (const char* key : {"name", "text", "agrees_with"})
    if (!spec.contains(key) || !spec[key].is_string()) bad(fmt::format("\"{}\" must be a string", key));
  AgreementTemplate t;
  t.name = spec["name"].get<std::string>();
  t.text = split_spaces(spec["text"].get<std::string>());
  t.agrees_with = spec["agrees_with"].get<std::string>();
  auto pairs = [&](const nlohmann::json& j, const std::string& where) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!j.is_array() || j.empty()) bad(fmt::format("{} must be a non-empty list of [singular, plural] pairs", where));
    for (const auto& p : j) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string())
        bad(fmt::format("{}: {} is not a [singular, plural] pair of strings", where, p.dump()));
      out.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
    }
    return out;
  };
  if (!spec.contains("slots") || !spec["slots"].is_object()) bad("\"slots\" must be an object");
  for (const auto& [name, value] : spec["slots"].items()) {
    TemplateSlot s;
    s.name = name;
    if (value.is_object()) {
      if (!value.contains("agrees_with") || !value["agrees_with"].is_string() || !value.contains("words"))
        bad(fmt::format("slot \"{}\" must be a list of pairs or {{\"agrees_with\": NOUN, \"words\": [...]}}", name));
      s.agrees_with = value["agrees_with"].get<std::string>();
      s.words = pairs(value["words"], fmt::format("slot \"{}\"", name));
    } else {
      s.words = pairs(value, fmt::format("slot \"{}\"", name));
    }
    t.slots.push_back(std::move(s));
  }
  if (!spec.contains("target")) bad("\"target\" (the [singular, plural] pairs that fill [MASK]) is missing");
  t.target = pairs(spec["target"], "\"target\"");
  auto find_slot = [&](const std::string& name) -> const TemplateSlot* {
    for (const auto& s : t.slots)
      if (s.name == name) return &s;
    return nullptr;
  };
  const auto* agreeing = find_slot(t.agrees_with);
  if (!agreeing || !agreeing->agrees_with.empty())
    bad(fmt::format("\"agrees_with\" names \"{}\", which is not a noun slot", t.agrees_with));
  for (const auto& s : t.slots)
    if (!s.agrees_with.empty()) {
      const auto* n = find_slot(s.agrees_with);
      if (!n || !n->agrees_with.empty())
        bad(fmt::format("slot \"{}\" agrees with \"{}\", which is not a noun slot", s.name, s.agrees_with));
    }
  std::size_t masks = 0;
  std::set<std::string> used;
  for (const auto& w : t.text) {
    if (w == "[MASK]") ++masks;
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      const auto name = w.substr(1, w.size() - 2);
      if (!find_slot(name)) bad(fmt::format("the text names a slot {{{}}} that \"slots\" does not define", name));
      if (!used.insert(name).second) bad(fmt::format("slot {{{}}} appears twice in the text", name));
    }
  }
  if (masks != 1) bad(fmt::format("the text must contain [MASK] exactly once as a word, found {}", masks));
  for (const auto& s : t.slots)
    if (!used.count(s.name)) bad(fmt::format("slot \"{}\" does not appear in the text", s.name));
  return t;
}

std::vector<AgreementExample> generate(const AgreementTemplate& t) {
  // Slots in text order; nouns take both numbers, the others follow their noun.
  std::vector<const TemplateSlot*> order;
  for (const auto& w : t.text)
    if (w.size() > 2 && w.front() == '{' && w.back() == '}')
      for (const auto& s : t.slots)
        if ("{" + s.name + "}" == w) order.push_back(&s);
  std::vector<std::size_t> nouns;  // indices into `order`
  for (std::size_t i = 0; i < order.size(); ++i)
    if (order[i]->agrees_with.empty()) nouns.push_back(i);
  std::size_t subject = 0;
  for (std::size_t k = 0; k < nouns.size(); ++k)
    if (order[nouns[k]]->name == t.agrees_with) subject = k;
  if (nouns.empty() || order[nouns[subject]]->name != t.agrees_with)
    fail(ErrorKind::input, "template \"{}\": [MASK] agrees with \"{}\", which is not a noun slot of the text", t.name,
         t.agrees_with);
  const std::size_t attractor = nouns.size() > 1 ? (subject == 0 ? 1 : 0) : nouns.size();

  std::vector<AgreementExample> out;
  std::vector<std::size_t> choice(order.size(), 0);
  const std::size_t combos = std::size_t{1} << nouns.size();
  for (;;) {
    for (std::size_t numbers = 0; numbers < combos; ++numbers) {
      auto plural_of_noun = [&](std::size_t k) { return ((numbers >> k) & 1) != 0; };
      std::map<std::string, bool> plural;
      for (std::size_t k = 0; k < nouns.size(); ++k) plural[order[nouns[k]]->name] = plural_of_noun(k);
      for (const auto& [sing, plur] : t.target) {
        AgreementExample ex;
        ex.task = t.name;
        std::size_t slot = 0;
        std::map<std::string, std::int64_t> head_word;
        for (const auto& w : t.text) {
          if (w == "[MASK]") {
            ex.mask_word = ex.words.size();
            ex.words.push_back(w);
          } else if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
            const auto* s = order[slot];
            const auto& pair = s->words[choice[slot]];
            const bool pl = plural.at(s->agrees_with.empty() ? s->name : s->agrees_with);
            for (const auto& piece : split_spaces(pl ? pair.second : pair.first)) ex.words.push_back(piece);
            head_word[s->name] = static_cast<std::int64_t>(ex.words.size()) - 1;
            ++slot;
          } else {
            ex.words.push_back(w);
          }
        }
        const bool subject_plural = plural.at(t.agrees_with);
        ex.good = subject_plural ? plur : sing;
        ex.bad = subject_plural ? sing : plur;
        ex.form = std::string(1, subject_plural ? 'P' : 'S');  // (a char: GCC 12 warns falsely on the literal)
        ex.subject_word = head_word.at(t.agrees_with);
        if (attractor < nouns.size()) {
          ex.form += plural_of_noun(attractor) ? 'P' : 'S';
          ex.attractor_word = head_word.at(order[nouns[attractor]]->name);
        }
        for (std::size_t k = 0; k < nouns.size(); ++k)
          ex.condition += fmt::format("{}{}={}", k ? "," : "", order[nouns[k]]->name, plural_of_noun(k) ? "plur" : "sing");
        out.push_back(std::move(ex));
      }
    }
    // Next combination of fillers (odometer over the slots in text order).
    std::size_t i = order.size();
    while (i > 0) {
      --i;
      if (++choice[i] < order[i]->words.size()) break;
      choice[i] = 0;
      if (i == 0) return out;
    }
  }
}

AgreementData read_template(const std::filesystem::path& path, const ReadOptions& options) {
  const auto tmpl = parse_template(io::read_json(path), path.string());
  AgreementData data;
  data.source = path;
  data.format = Format::template_json;
  data.task = tmpl.name;
  Collector collect(data, options, Format::template_json);
  for (auto& ex : generate(tmpl)) {
    ++data.report.rows;
    auto good = ex.words;
    good[ex.mask_word] = ex.good;
    const auto text = join(good);
    collect.add(std::move(ex), text);
  }
  finish(data);
  return data;
}

AgreementData read_agreement(const std::filesystem::path& path, const ReadOptions& options, std::optional<Format> format) {
  switch (format ? *format : detect_format(path)) {
    case Format::marvin_linzen: return read_marvin_linzen(path, options);
    case Format::blimp: return read_blimp(path, options);
    case Format::template_json: return read_template(path, options);
  }
  fail(ErrorKind::internal, "unhandled agreement format");
}

nlohmann::json EncodeReport::to_json() const {
  return {{"kept", kept}, {"candidate_not_one_token", candidate_not_one_token}, {"too_long", too_long}};
}

std::vector<EncodedExample> encode_examples(const model::Tokenizer& tokenizer, const std::vector<AgreementExample>& examples,
                                            std::size_t max_length, EncodeReport* report) {
  EncodeReport local;
  auto& rep = report ? *report : local;
  std::vector<EncodedExample> out;
  // A candidate's id as it reads at the masked word: sentence-initial or after a space, which is
  // what byte-level BPE ("Ġis") and Metaspace ("▁is") pieces depend on; nullopt unless one piece.
  std::map<std::pair<std::string, bool>, std::optional<std::int32_t>> single;
  auto one_token = [&](const std::string& word, bool first) -> std::optional<std::int32_t> {
    const auto key = std::make_pair(word, first);
    if (auto it = single.find(key); it != single.end()) return it->second;
    const auto enc = first ? tokenizer.encode_words({word}) : tokenizer.encode_words({"x", word});
    const std::int32_t at = first ? 0 : 1;
    std::optional<std::int32_t> id;
    std::size_t pieces = 0;
    for (std::size_t t = 0; t < enc.size(); ++t)
      if (enc.word_ids[t] == at) {
        ++pieces;
        id = enc.ids[t];
      }
    if (pieces != 1) id.reset();
    return single.emplace(key, id).first->second;
  };
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& ex = examples[i];
    const bool first = ex.mask_word == 0;
    const auto good = one_token(ex.good, first), bad = one_token(ex.bad, first);
    if (!good || !bad) {
      ++rep.candidate_not_one_token;
      continue;
    }
    EncodedExample e;
    e.example = i;
    model::EncodeOptions eo;
    eo.max_length = max_length;
    try {
      // The template's "[MASK]" placeholder becomes the tokenizer's own mask token ("<mask>" ...).
      auto words = ex.words;
      words[ex.mask_word] = tokenizer.token(tokenizer.mask_id());
      e.encoding = tokenizer.encode_words(words, eo);
    } catch (const Error&) {
      ++rep.too_long;
      continue;
    }
    e.good_id = *good;
    e.bad_id = *bad;
    std::vector<int> pieces(ex.words.size(), 0);
    e.mask_position = -1;
    for (std::size_t t = 0; t < e.encoding.size(); ++t) {
      const auto w = e.encoding.word_ids[t];
      if (w < 0) continue;
      ++pieces[static_cast<std::size_t>(w)];
      if (static_cast<std::size_t>(w) == ex.mask_word) e.mask_position = static_cast<std::int32_t>(t);
      if (w == ex.subject_word) e.subject_position = static_cast<std::int32_t>(t);
      if (w == ex.attractor_word) e.attractor_position = static_cast<std::int32_t>(t);
    }
    if (e.mask_position < 0 || e.encoding.ids[static_cast<std::size_t>(e.mask_position)] != tokenizer.mask_id() ||
        pieces[ex.mask_word] != 1)
      fail(ErrorKind::internal, "the masked word of \"{}\" did not become the mask token", ex.text());
    e.single_pieces = std::all_of(pieces.begin(), pieces.end(), [](int n) { return n == 1; });
    out.push_back(std::move(e));
  }
  rep.kept = out.size();
  return out;
}

nlohmann::json SelectReport::to_json() const {
  return {{"length", length},
          {"wrong_length", wrong_length},
          {"split_words", split_words},
          {"over_quota", over_quota},
          {"selected", selected}};
}

std::vector<std::size_t> select_indices(std::span<const std::string> forms, std::span<const std::size_t> lengths,
                                        std::span<const std::uint8_t> single_pieces, const SelectOptions& options,
                                        SelectReport* report) {
  SelectReport local;
  auto& rep = report ? *report : local;
  rep = SelectReport{};
  const auto n = forms.size();
  if (lengths.size() != n || single_pieces.size() != n)
    fail(ErrorKind::internal, "select_indices: {} forms, {} lengths, {} piece flags", n, lengths.size(), single_pieces.size());
  std::vector<bool> candidate(n, true);
  if (options.single_pieces)
    for (std::size_t i = 0; i < n; ++i)
      if (!single_pieces[i]) {
        candidate[i] = false;
        ++rep.split_words;
      }
  rep.length = options.length;
  if (options.length == 0) {
    std::map<std::size_t, std::size_t> counts;
    for (std::size_t i = 0; i < n; ++i)
      if (candidate[i]) ++counts[lengths[i]];
    std::size_t best = 0, best_count = 0;
    for (const auto& [len, c] : counts)
      if (c > best_count) {
        best = len;
        best_count = c;
      }
    rep.length = best_count ? static_cast<std::int64_t>(best) : -1;
  }
  if (rep.length > 0)
    for (std::size_t i = 0; i < n; ++i)
      if (candidate[i] && static_cast<std::int64_t>(lengths[i]) != rep.length) {
        candidate[i] = false;
        ++rep.wrong_length;
      }
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i)
    if (candidate[i]) order.push_back(i);
  if (options.shuffle) {
    // Fisher-Yates with an explicit bounded draw, so the sample is the same on every platform
    // (std::shuffle's algorithm is implementation-defined).
    std::mt19937_64 rng(options.seed);
    for (std::size_t i = order.size(); i > 1; --i) {
      const std::uint64_t bound = i, limit = UINT64_MAX - UINT64_MAX % bound;
      std::uint64_t r;
      do r = rng();
      while (r >= limit);
      std::swap(order[i - 1], order[static_cast<std::size_t>(r % bound)]);
    }
  }
  std::map<std::string, std::size_t> per_form;
  std::vector<std::size_t> kept;
  for (auto i : order) {
    if (options.limit && kept.size() >= options.limit) break;
    if (options.per_form && !forms[i].empty() && per_form[forms[i]] >= options.per_form) continue;
    ++per_form[forms[i]];
    kept.push_back(i);
  }
  std::sort(kept.begin(), kept.end());
  rep.over_quota = order.size() - kept.size();
  rep.selected = kept.size();
  return kept;
}

std::vector<EncodedExample> select_examples(std::vector<EncodedExample> encoded, const std::vector<AgreementExample>& examples,
                                            const SelectOptions& options, SelectReport* report) {
  std::vector<std::string> forms;
  std::vector<std::size_t> lengths;
  std::vector<std::uint8_t> single;
  for (const auto& e : encoded) {
    forms.push_back(examples.at(e.example).form);
    lengths.push_back(e.encoding.size());
    single.push_back(e.single_pieces);
  }
  const auto kept = select_indices(forms, lengths, single, options, report);
  std::vector<EncodedExample> out;
  for (auto i : kept) out.push_back(std::move(encoded[i]));
  return out;
}

}  // namespace bertscope::analysis::agreement
