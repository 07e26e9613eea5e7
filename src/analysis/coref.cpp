#include "analysis/coref.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <type_traits>

#include <fmt/format.h>

#include "analysis/blocks.hpp"
#include "analysis/heads.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::coref {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_punctuation_word(const std::string& w) {
  return std::all_of(w.begin(), w.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x80 && std::ispunct(u);
  });
}

bool agrees(const std::string& a, const std::string& b) { return a.empty() || b.empty() || a == b; }

}  // namespace

Mention resolve_mention(const io::CorefMention& m, const std::vector<std::string>& words) {
  static const std::set<std::string> stops = {",",    "(",  "of",    "in",  "on",  "at",    "for",   "with", "from",
                                              "by",   "to", "about", "who", "whom", "whose", "which", "that"};
  Mention r;
  r.start = m.start;
  r.end = m.end;
  r.cluster = m.cluster;
  if (m.head) {
    r.head = *m.head;
  } else {
    std::size_t prefix_end = m.end;
    for (std::size_t i = m.start + 1; i < m.end; ++i)
      if (stops.count(lower(words[i]))) {
        prefix_end = i;
        break;
      }
    r.head = prefix_end - 1;
    while (r.head > m.start && is_punctuation_word(words[r.head])) --r.head;
  }
  const auto pron = io::english_pronoun(words[r.head]);
  if (m.type == "pronoun") r.type = pronoun;
  else if (m.type == "proper") r.type = proper;
  else if (m.type == "nominal") r.type = nominal;
  else if (pron) r.type = pronoun;
  else if (const char c = words[r.head][0]; c >= 'A' && c <= 'Z') r.type = proper;
  else r.type = nominal;
  r.number = m.number;
  r.gender = m.gender;
  r.person = m.person;
  if (pron) {
    if (r.number.empty()) r.number = pron->number;
    if (r.gender.empty()) r.gender = pron->gender;
    if (!r.person) r.person = pron->person;
  } else if (!r.person) {
    r.person = 3;
  }
  return r;
}

Queries make_queries(const io::CorefDocument& d, std::size_t covered) {
  Queries q;
  for (const auto& m : d.mentions) q.mentions.push_back(resolve_mention(m, d.words));
  auto valid = [&](std::size_t i) { return q.mentions[i].end <= covered; };
  if (!d.anaphors.empty()) {
    for (const auto& a : d.anaphors) {
      if (!valid(a.mention)) {
        ++q.cut;
        continue;
      }
      Query query;
      query.anaphor = a.mention;
      query.candidate_mode = true;
      bool gold_anywhere = false, gold_kept = false;
      for (auto c : a.candidates) {
        const bool same = q.mentions[c].cluster == q.mentions[a.mention].cluster;
        gold_anywhere |= same;
        if (!valid(c)) continue;
        gold_kept |= same;
        query.candidates.push_back(c);
      }
      if (!gold_kept) {
        ++(gold_anywhere ? q.cut : q.no_gold_candidate);
        continue;
      }
      q.queries.push_back(std::move(query));
    }
    return q;
  }
  for (std::size_t i = 0; i < q.mentions.size(); ++i) {
    const auto& mi = q.mentions[i];
    Query query;
    query.anaphor = i;
    bool has_antecedent = false;
    for (std::size_t j = 0; j < q.mentions.size(); ++j) {
      const auto& mj = q.mentions[j];
      if (j == i || mj.end > mi.start) continue;
      if (mj.cluster == mi.cluster) has_antecedent = true;
      if (!valid(i) || !valid(j)) continue;
      query.candidates.push_back(j);
      if (mj.cluster == mi.cluster) query.gold_words.push_back(mj.head);
    }
    if (!has_antecedent) continue;
    if (!valid(i)) {
      ++q.cut;
      continue;
    }
    // Most recent first: later end, then later start.
    std::stable_sort(query.candidates.begin(), query.candidates.end(), [&](std::size_t a, std::size_t b) {
      return std::tie(q.mentions[a].end, q.mentions[a].start) > std::tie(q.mentions[b].end, q.mentions[b].start);
    });
    q.queries.push_back(std::move(query));
  }
  return q;
}

namespace {

std::int64_t nearest_of(const Queries& q, const Query& query, const std::vector<std::size_t>& candidates) {
  std::int64_t best = -1;
  long best_distance = 0;
  const auto a = static_cast<long>(q.mentions[query.anaphor].head);
  for (auto c : candidates) {
    const long dist = std::labs(a - static_cast<long>(q.mentions[c].head));
    if (best < 0 || dist < best_distance) {
      best = static_cast<std::int64_t>(c);
      best_distance = dist;
    }
  }
  return best;
}

std::vector<std::size_t> same_head(const Queries& q, const Query& query, const std::vector<std::string>& words) {
  const auto head = lower(words[q.mentions[query.anaphor].head]);
  std::vector<std::size_t> out;
  for (auto c : query.candidates)
    if (lower(words[q.mentions[c].head]) == head) out.push_back(c);
  return out;
}

}  // namespace

std::int64_t baseline_nearest(const Queries& q, const Query& query) { return nearest_of(q, query, query.candidates); }

std::int64_t baseline_head_match(const Queries& q, const Query& query, const std::vector<std::string>& words) {
  return nearest_of(q, query, same_head(q, query, words));
}

std::int64_t baseline_sieve(const Queries& q, const Query& query, const std::vector<std::string>& words) {
  const auto& a = q.mentions[query.anaphor];
  auto span_text = [&](const Mention& m) {
    std::string s;
    for (std::size_t i = m.start; i < m.end; ++i) s += lower(words[i]) + " ";
    return s;
  };
  const auto text = span_text(a);
  std::vector<std::size_t> exact, agreeing;
  for (auto c : query.candidates) {
    const auto& m = q.mentions[c];
    if (span_text(m) == text) exact.push_back(c);
    if (agrees(a.number, m.number) && agrees(a.gender, m.gender) && (!a.person || !m.person || a.person == m.person))
      agreeing.push_back(c);
  }
  for (const auto& tier : {exact, same_head(q, query, words), agreeing, query.candidates})
    if (!tier.empty()) return nearest_of(q, query, tier);
  return -1;
}

bool head_correct(const float* b, std::int64_t u, const Queries& q, const Query& query) {
  const auto& a = q.mentions[query.anaphor];
  const auto row = static_cast<std::int64_t>(a.head) + 1;
  if (query.candidate_mode) {
    std::size_t best = query.candidates.front();
    float best_value = b[row * u + static_cast<std::int64_t>(q.mentions[best].head) + 1];
    for (auto c : query.candidates) {
      const float v = b[row * u + static_cast<std::int64_t>(q.mentions[c].head) + 1];
      if (v > best_value) {
        best_value = v;
        best = c;
      }
    }
    return q.mentions[best].cluster == a.cluster;
  }
  std::int64_t best = -1;
  float best_value = 0;
  for (std::int64_t j = 1; j + 1 < u; ++j) {
    if (j == row) continue;
    if (best < 0 || b[row * u + j] > best_value) {
      best = j;
      best_value = b[row * u + j];
    }
  }
  if (best < 0) return false;
  return std::find(query.gold_words.begin(), query.gold_words.end(), static_cast<std::size_t>(best - 1)) != query.gold_words.end();
}

std::size_t words_within_budget(const std::vector<std::string>& words, const model::Tokenizer& tokenizer, std::size_t budget) {
  std::size_t used = 2;  // [CLS] and [SEP]
  for (std::size_t i = 0; i < words.size(); ++i) {
    used += tokenizer.tokenize(words[i]).size();
    if (used > budget) return i;
  }
  return words.size();
}

Result run(AttentionSource& source, const std::vector<io::CorefDocument>& docs, const std::string& data_file,
           const SourceOptions& source_options, const Options& options, dist::Runner* runner) {
  Result r;
  r.layers = source.layers();
  r.heads = source.heads();
  r.options = options;
  const auto k_count = static_cast<std::size_t>(r.layers * r.heads);
  r.correct.assign(k_count, {});
  for (const auto& name : baseline_names()) r.baselines[name] = {};

  std::vector<AnalysisInput> inputs(docs.size());
  const model::Model* m = source.model();
  for (std::size_t i = 0; i < docs.size(); ++i) {
    auto& words = inputs[i].words;
    words = docs[i].words;
    if (m) {
      const auto limit = options.max_tokens ? std::min(options.max_tokens, m->max_length()) : m->max_length();
      const auto keep = words_within_budget(words, m->tokenizer(), limit);
      if (keep == 0)
        fail(ErrorKind::input, "{}:{}: the first word alone needs more than {} word pieces", data_file, docs[i].line, limit);
      if (keep < words.size()) {
        words.resize(keep);
        ++r.truncated_documents;
      }
    }
  }
  SourceOptions so = source_options;
  so.truncate = false;  // documents are cut above, at word boundaries
  so.skip_too_long = false;
  // A block's counts (its documents' queries), added to the run's in input order.
  const auto counts = [](dist::Packer* p, dist::Unpacker* u, Result& c) {
    auto field = [&](auto& value) {
      if (p) p->put(value);
      else value += u->get<std::remove_reference_t<decltype(value)>>();
    };
    auto array = [&](std::array<std::size_t, 3>& a) {
      for (auto& v : a) field(v);
    };
    array(c.total);
    for (auto& k : c.correct) array(k);
    for (const auto& name : baseline_names()) array(c.baselines[name]);
    for (auto* v : {&c.documents, &c.antecedent_queries, &c.candidate_queries, &c.truncated_documents, &c.anaphors_cut,
                    &c.no_gold_candidate, &c.skipped_words_without_tokens})
      field(*v);
  };
  run_blocks(
      source, inputs, so, runner, "coref",
      [&](const ExampleVisitor& visit) {
        Result part;
        part.correct.assign(k_count, {});
        for (const auto& name : baseline_names()) part.baselines[name] = {};
        visit([&](AttentionExample& ex) {
          const auto& doc = docs[ex.index];
          const auto a = align_sentence(ex.encoding, inputs[ex.index].words.size(), !m, example_source(source, ex.index),
                                        fmt::format("{}:{}", data_file, doc.line));
          if (a.words_without_tokens > 0) {
            ++part.skipped_words_without_tokens;
            return;
          }
          if (!m && a.words < doc.words.size()) ++part.truncated_documents;
          ++part.documents;
          const auto q = make_queries(doc, a.words);
          part.anaphors_cut += q.cut;
          part.no_gold_candidate += q.no_gold_candidate;
          if (q.queries.empty()) return;
          const auto maps = word_level_attention(ex.attentions, a.units, options.from);
          const auto u = static_cast<std::int64_t>(a.units.size());
          for (const auto& query : q.queries) {
            const auto type = q.mentions[query.anaphor].type;
            ++part.total[type];
            ++(query.candidate_mode ? part.candidate_queries : part.antecedent_queries);
            for (std::size_t k = 0; k < k_count; ++k)
              if (head_correct(maps.ptr() + static_cast<std::int64_t>(k) * u * u, u, q, query)) ++part.correct[k][type];
            const auto cluster = q.mentions[query.anaphor].cluster;
            const std::int64_t picks[3] = {baseline_nearest(q, query), baseline_head_match(q, query, doc.words),
                                           baseline_sieve(q, query, doc.words)};
            for (std::size_t b = 0; b < 3; ++b)
              if (picks[b] >= 0 && q.mentions[static_cast<std::size_t>(picks[b])].cluster == cluster)
                ++part.baselines[baseline_names()[b]][type];
          }
        });
        dist::Packer p;
        counts(&p, nullptr, part);
        return p.take();
      },
      [&](std::size_t b, std::string_view saved) {
        dist::Unpacker u(saved, fmt::format("coref: the stored counts of block {}", b));
        counts(nullptr, &u, r);
        u.done();
      });
  return r;
}

namespace {

nlohmann::json ratio(std::size_t correct, std::size_t total) {
  if (total == 0) return nullptr;
  return static_cast<double>(correct) / static_cast<double>(total);
}

std::size_t sum3(const std::array<std::size_t, 3>& a) { return a[0] + a[1] + a[2]; }

nlohmann::json by_type(const std::array<std::size_t, 3>& correct, const std::array<std::size_t, 3>& total) {
  nlohmann::json j = {{"all", ratio(sum3(correct), sum3(total))}};
  for (std::size_t t = 0; t < 3; ++t) j[kTypeNames[t]] = ratio(correct[t], total[t]);
  return j;
}

}  // namespace

nlohmann::json to_json(const Result& r) {
  const auto k_count = r.correct.size();
  const auto total_all = sum3(r.total);
  // Best head per column (overall and per type); ties go to the lower layer and head.
  nlohmann::json best = nlohmann::json::object();
  for (int col = -1; col < 3; ++col) {
    const auto total = col < 0 ? total_all : r.total[static_cast<std::size_t>(col)];
    std::size_t best_k = 0;
    for (std::size_t k = 1; k < k_count; ++k) {
      const auto c = col < 0 ? sum3(r.correct[k]) : r.correct[k][static_cast<std::size_t>(col)];
      const auto cb = col < 0 ? sum3(r.correct[best_k]) : r.correct[best_k][static_cast<std::size_t>(col)];
      if (c > cb) best_k = k;
    }
    auto j = head_json(static_cast<std::int64_t>(best_k) / r.heads, static_cast<std::int64_t>(best_k) % r.heads);
    j["anaphors"] = total;
    if (k_count) {
      j["accuracy"] = ratio(col < 0 ? sum3(r.correct[best_k]) : r.correct[best_k][static_cast<std::size_t>(col)], total);
      j["by_type"] = by_type(r.correct[best_k], r.total);
    }
    best[col < 0 ? "all" : kTypeNames[static_cast<std::size_t>(col)]] = j;
  }
  nlohmann::json per_head = nlohmann::json::object();
  for (int col = -1; col < 3; ++col) {
    nlohmann::json matrix = nlohmann::json::array();
    for (std::int64_t l = 0; l < r.layers; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (std::int64_t h = 0; h < r.heads; ++h) {
        const auto& c = r.correct[static_cast<std::size_t>(l * r.heads + h)];
        row.push_back(col < 0 ? ratio(sum3(c), total_all) : ratio(c[static_cast<std::size_t>(col)], r.total[static_cast<std::size_t>(col)]));
      }
      matrix.push_back(row);
    }
    per_head[col < 0 ? "all" : kTypeNames[static_cast<std::size_t>(col)]] = matrix;
  }
  nlohmann::json baselines = nlohmann::json::object();
  for (const auto& [name, correct] : r.baselines) baselines[name] = by_type(correct, r.total);
  nlohmann::json counts = {{"all", total_all}};
  for (std::size_t t = 0; t < 3; ++t) counts[kTypeNames[t]] = r.total[t];
  return {{"best", best},
          {"per_head", per_head},
          {"baselines", baselines},
          {"anaphors", counts},
          {"antecedent_anaphors", r.antecedent_queries},
          {"candidate_anaphors", r.candidate_queries},
          {"documents", r.documents},
          {"truncated_documents", r.truncated_documents},
          {"skipped",
           {{"anaphors_cut", r.anaphors_cut},
            {"no_gold_candidate", r.no_gold_candidate},
            {"documents_with_words_without_tokens", r.skipped_words_without_tokens}}}};
}

std::string table(const Result& r) {
  const auto j = to_json(r);
  auto pct = [](const nlohmann::json& v) { return v.is_null() ? std::string("    -") : fmt::format("{:5.1f}", 100 * v.get<double>()); };
  std::string out = fmt::format("{} documents ({} truncated), {} anaphors: {} pronoun, {} proper, {} nominal\n", r.documents,
                                r.truncated_documents, sum3(r.total), r.total[0], r.total[1], r.total[2]);
  if (r.anaphors_cut || r.no_gold_candidate)
    out += fmt::format("not scored: {} cut off by truncation, {} without a correct candidate\n", r.anaphors_cut,
                       r.no_gold_candidate);
  out += fmt::format("\n{:<22} {:>5} {:>8} {:>7} {:>8}\n", "", "all", "pronoun", "proper", "nominal");
  const auto& b = j["best"]["all"];
  if (b.contains("by_type")) {
    const auto& t = b["by_type"];
    out += fmt::format("{:<22} {} {:>8} {:>7} {:>8}\n", "best head " + b["label"].get<std::string>(), pct(t["all"]),
                       pct(t["pronoun"]), pct(t["proper"]), pct(t["nominal"]));
  }
  for (const auto& name : baseline_names()) {
    const auto& t = j["baselines"][name];
    out += fmt::format("{:<22} {} {:>8} {:>7} {:>8}\n", name, pct(t["all"]), pct(t["pronoun"]), pct(t["proper"]),
                       pct(t["nominal"]));
  }
  out += "\nbest head per anaphor type:";
  for (const char* type : kTypeNames) {
    const auto& h = j["best"][type];
    out += fmt::format("  {} {} ({})", type, h["label"].get<std::string>(), pct(h.value("accuracy", nlohmann::json())));
  }
  return out + "\n";
}

nlohmann::json params_json(const Options& options) {
  return {{"from_word", from_word_name(options.from)},
          {"to_word", "sum"},
          {"max_tokens", options.max_tokens},
          {"antecedent_rule", "argmax over the document's words (the special tokens and the anaphor excluded) is the head "
                              "word of an earlier mention of the anaphor's cluster"},
          {"candidate_rule", "the listed candidate whose head word gets the most attention is in the anaphor's cluster"}};
}

}  // namespace bertscope::analysis::coref

namespace bertscope::analysis::coref {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Clark et al. Table 2: the best head per anaphor type, the baselines, and every head's accuracy.
std::vector<Figure> figures(const nlohmann::json& results) {
  const auto percent = [](const std::string& path, const std::string& label) {
    return FigureField{path, label, Unit::accuracy, "percent"};
  };
  // Only the anaphor types the data has (GAP has pronouns alone): no empty rows or columns.
  std::vector<std::string> types;
  for (const char* type : {"pronoun", "proper", "nominal"})
    if (results.value("anaphors", nlohmann::json::object()).value(type, std::int64_t{1}) > 0) types.emplace_back(type);
  std::vector<Figure> out;
  out.push_back({.id = "coref.best",
                 .kind = "table",
                 .title = "Best single head for coreference, per anaphor type",
                 .caption = "How often the head's most-attended candidate is the anaphor's gold antecedent. Clark et al. (2019), "
                            "Table 2 (docs/methods.md 1.6, 1.10): head 5-4 of BERT-base reaches 65% overall (pronoun 64, proper "
                            "73, nominal 58). Types with no anaphors in the data have no accuracy.",
                 .rows = "best",
                 .values = {FigureField{"@key", "anaphor type", Unit::label}, FigureField{"", "head", Unit::label, "head"},
                            percent("accuracy", "accuracy %")},
                 .axis = "accuracy (%)",
                 .options = {{"min", {{"path", "anaphors"}, {"value", 1}}}}});
  for (const auto& t : types) out.back().values.push_back(percent("by_type." + t, t + " %"));
  out.push_back({.id = "coref.baselines",
                 .kind = "table",
                 .title = "Coreference baselines",
                 .caption = "The baselines of Clark et al.'s Table 2 on the same anaphors (nearest candidate, head word match, "
                            "...), in percent, to set beside the best head.",
                 .rows = "baselines",
                 .values = {FigureField{"@key", "baseline", Unit::label}, percent("all", "all %")},
                 .axis = "accuracy (%)"});
  for (const auto& t : types) out.back().values.push_back(percent(t, t + " %"));
  Figure heads{.id = "coref.heads",
               .kind = "heatmap",
               .title = "Coreference accuracy per head",
               .caption = "Each head's accuracy at attending from an anaphor to its antecedent, layers down, heads across, on a "
                          "fixed 0..1 scale.",
               .axis = "accuracy (proportion correct)",
               .range = std::array<double, 2>{0, 1}};
  for (const auto& type : std::vector<std::string>{"all", "pronoun", "proper", "nominal"})
    if (results.contains("per_head") && results["per_head"].contains(type) &&
        (type == "all" || std::find(types.begin(), types.end(), type) != types.end()))
      heads.values.push_back({fmt::format("per_head.{}", type), type, Unit::accuracy});
  if (!heads.values.empty()) out.push_back(std::move(heads));
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::coref
