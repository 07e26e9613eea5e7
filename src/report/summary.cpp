#include "report/summary.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "io/files.hpp"

namespace bertscope::report {

namespace {

using nlohmann::json;

// Reads `j[key]` of a document without nlohmann's undefined behaviour for a missing key of a
// const object: a missing key, or a key of something that is not an object, reads as null (which
// iterates as empty and whose numbers are the fallbacks below).
const json& at(const json& j, std::string_view key) {
  static const json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

// A number of the document as an int: anything beyond int's range (1e300, NaN) is 0, not the
// undefined behaviour of a float-to-int conversion that overflows.
int to_int(double v) { return std::isfinite(v) && std::fabs(v) < 1e9 ? static_cast<int>(v) : 0; }

// An exception's message without nlohmann's "[json.exception.type_error.302] " prefix.
std::string reason(const std::exception& e) {
  std::string_view m = e.what();
  if (m.starts_with("[json.exception.")) {
    if (const auto close = m.find("] "); close != std::string_view::npos) m.remove_prefix(close + 2);
  }
  return std::string(m);
}

double num(const json& j, const char* key, double fallback = std::nan("")) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return fallback;
  return j[key].get<double>();
}

// `j[key]` as a count (an integer number; `fallback` when absent, not a number or out of range).
long long count(const json& j, const char* key, long long fallback) {
  const double v = num(j, key);
  return std::isfinite(v) && std::fabs(v) < 1e15 ? static_cast<long long>(v) : fallback;
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// "2-3": layer and head 1-based, as Clark et al. and the documents' `label` fields write them.
std::string head_label(const json& h) {
  const auto l = str(h, "label");
  if (!l.empty()) return l;
  return fmt::format("{}-{}", to_int(num(h, "layer", 0)) + 1, to_int(num(h, "head", 0)) + 1);
}

std::string pct(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.1f}%", 100 * v); }

std::string data_name(const json& doc) {
  const auto& d = doc.value("data", json::object());
  auto path = str(d, "path");
  if (path.empty() && d.contains("paths") && at(d, "paths").is_array() && !at(d, "paths").empty()) path = at(d, "paths")[0].get<std::string>();
  return path.empty() ? std::string("the data") : std::filesystem::path(path).filename().string();
}

// Heads of `heads` (objects with a numeric `key`), best first.
std::vector<const json*> top_heads(const json& heads, const std::function<bool(const json&)>& keep, const char* key, std::size_t n) {
  std::vector<const json*> out;
  for (const auto& h : heads)
    if (keep(h)) out.push_back(&h);
  std::stable_sort(out.begin(), out.end(), [&](const json* a, const json* b) { return num(*a, key, 0) > num(*b, key, 0); });
  if (out.size() > n) out.resize(n);
  return out;
}

std::string list_heads(const std::vector<const json*>& heads, const char* key) {
  std::string s;
  for (const auto* h : heads) s += fmt::format("{}{} ({:.2f})", s.empty() ? "" : ", ", head_label(*h), num(*h, key, 0));
  return s;
}

Finding surface(const json& doc) {
  Finding f{"surface", fmt::format("Surface statistics (Clark et al. 2019) on {} inputs of {}", count(at(doc, "results"), "inputs", 0), data_name(doc)), {}, json::object()};
  const auto& r = at(doc, "results");
  const auto& heads = at(r, "heads");
  std::map<std::string, int> counts;
  for (const auto& h : heads) counts[str(h, "behaviour")]++;
  std::string c;
  for (const auto& [k, n] : counts) c += fmt::format("{}{} {}", c.empty() ? "" : ", ", n, k);
  f.lines.push_back(fmt::format("{} heads by behaviour: {}", heads.size(), c));
  f.numbers["behaviour_counts"] = counts;
  struct Kind {
    const char* behaviour;
    const char* field;
    const char* what;
  };
  for (const Kind k : {Kind{"prev", "prev", "positional heads (attend to the previous token)"},
                       Kind{"next", "next", "positional heads (attend to the next token)"},
                       Kind{"cls", "cls", "[CLS] heads"}, Kind{"sep", "sep", "[SEP] heads"},
                       Kind{"punct", "punct", "punctuation heads"}}) {
    const auto found = top_heads(heads, [&](const json& h) { return str(h, "behaviour") == k.behaviour; }, k.field, 6);
    if (!found.empty()) {
      f.lines.push_back(fmt::format("{}: {}{}", k.what, list_heads(found, k.field),
                                    counts[k.behaviour] > static_cast<int>(found.size()) ? ", ..." : ""));
      for (const auto* h : found) f.numbers[k.behaviour].push_back({{"head", head_label(*h)}, {k.field, num(*h, k.field)}});
    }
  }
  // Where attention to [SEP] peaks (Clark et al.: the middle layers of BERT-base).
  const json* peak = nullptr;
  for (const auto& l : at(r, "layers"))
    if (!peak || num(l, "sep", 0) > num(*peak, "sep", 0)) peak = &l;
  if (peak) {
    const double uniform = std::exp(-num(r, "uniform_entropy", 0));
    f.lines.push_back(fmt::format("attention to [SEP] peaks in layer {} at {} of all attention (about {} with uniform attention)",
                                  to_int(num(*peak, "layer", 0)) + 1, pct(num(*peak, "sep")), pct(2 * uniform)));
    f.numbers["sep_peak_layer"] = to_int(num(*peak, "layer", 0)) + 1;
    f.numbers["sep_peak"] = num(*peak, "sep");
  }
  const auto broad = top_heads(heads, [](const json&) { return true; }, "entropy", 1);
  if (!broad.empty())
    f.lines.push_back(fmt::format("broadest head {} (entropy {:.2f} nats; uniform {:.2f})", head_label(*broad[0]),
                                  num(*broad[0], "entropy"), num(r, "uniform_entropy")));
  return f;
}

Finding gradsep(const json& doc) {
  Finding f{"gradsep", fmt::format("Gradient of the MLM loss w.r.t. attention (Clark et al. Figure 3) on {}", data_name(doc)), {}, json::object()};
  int below = 0, layers = 0;
  std::string s;
  for (const auto& l : at(at(doc, "results"), "layers")) {
    const double sep = num(l, "sep"), other = num(l, "other");
    ++layers;
    below += sep < other;
    s += fmt::format("{}{}: {:.2g}/{:.2g}", s.empty() ? "" : ", ", to_int(num(l, "layer", 0)) + 1, sep, other);
  }
  f.lines.push_back(fmt::format("mean |dL/dA| to [SEP] / to other tokens per layer: {}", s));
  f.lines.push_back(fmt::format("attention to [SEP] matters less than attention to other tokens in {} of {} layers", below, layers));
  f.numbers["layers_sep_below_other"] = below;
  return f;
}

Finding syntax(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"syntax", fmt::format("Syntactic heads (Clark et al.) on {} sentences of {}", count(r, "sentences", 0), data_name(doc)), {}, json::object()};
  const std::vector<std::string> wanted = {"all", "nsubj", "obj", "det", "amod", "case", "advmod", "aux", "mark", "nmod",
                                           "nmod:poss", "compound", "conj", "cc", "obl", "nummod", "cop", "xcomp"};
  int above = 0, shown = 0;
  for (const auto& rel : wanted) {
    if (!at(r, "relations").contains(rel)) continue;
    const auto& x = at(at(r, "relations"), rel);
    if (count(x, "count", 0) < 50 && rel != "all") continue;
    const auto& best = at(x, "best");
    const double acc = num(best, "accuracy"), base = num(at(x, "baseline"), "accuracy");
    const int off = to_int(num(at(x, "baseline"), "offset", 0));
    ++shown;
    above += acc > base;
    f.lines.push_back(fmt::format("{:<10} best head {:>5} {:<12} {:>6}   offset {:+d} baseline {:>6}{}", rel, head_label(best),
                                  str(best, "direction"), pct(acc), off, pct(base), acc > base ? "   (head beats the baseline)" : ""));
    f.numbers["relations"][rel] = {{"head", head_label(best)}, {"direction", str(best, "direction")}, {"accuracy", acc}, {"baseline", base}};
  }
  f.lines.push_back(fmt::format("the best single head beats the fixed-offset baseline for {} of {} relations shown", above, shown));
  // Issue 16's criterion over every relation with enough words (not `all` or root): a margin of 5 points.
  std::vector<std::string> clear;
  int frequent = 0;
  for (const auto& [rel, x] : at(r, "relations").items()) {
    if (rel == "all" || rel == "root" || count(x, "count", 0) < 100) continue;
    ++frequent;
    if (num(at(x, "best"), "accuracy") - num(at(x, "baseline"), "accuracy") >= 0.05) clear.push_back(rel);
  }
  std::string names;
  for (const auto& c : clear) names += (names.empty() ? "" : ", ") + c;
  f.lines.push_back(fmt::format("by 5 points or more for {} of {} relations with at least 100 words{}{}", clear.size(), frequent,
                                clear.empty() ? "" : ": ", names));
  f.numbers["beats_by_5_points"] = clear;
  return f;
}

Finding probe(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"probe", "Attention-based parsing probes (Clark et al.), UAS on the dev file", {}, json::object()};
  std::string s;
  for (const auto& [name, p] : at(r, "probes").items()) {
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", name, pct(num(p, "uas")));
    f.numbers[name] = num(p, "uas");
  }
  for (const auto& [name, b] : at(r, "baselines").items()) {
    s += fmt::format(", baseline {} {}", name, pct(num(b, "uas")));
    f.numbers[name] = num(b, "uas");
  }
  f.lines.push_back(s);
  return f;
}

Finding coref(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"coref", fmt::format("Coreference heads (Clark et al.) on {} documents of {}", count(r, "documents", 0), data_name(doc)), {}, json::object()};
  const auto& best = at(at(r, "best"), "all");
  const double acc = num(best, "accuracy");
  std::string b;
  for (const auto& [name, x] : at(r, "baselines").items()) {
    b += fmt::format("{}{} {}", b.empty() ? "" : ", ", name, pct(num(x, "all")));
    f.numbers["baselines"][name] = num(x, "all");
  }
  f.lines.push_back(fmt::format("best head {} selects the antecedent for {} of {} anaphors; baselines: {}", head_label(best), pct(acc),
                                count(at(r, "anaphors"), "all", 0), b));
  f.numbers["best"] = {{"head", head_label(best)}, {"accuracy", acc}};
  return f;
}

Finding patterns(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"patterns", fmt::format("Attention pattern types (Kovaleva et al. 2019) on {} inputs of {}", count(r, "inputs", 0), data_name(doc)), {}, json::object()};
  std::string s;
  // The paper's order of the types (results.types) where the document gives it, else the keys'.
  std::vector<std::string> order;
  for (const auto& t : r.value("types", json::array()))
    if (t.is_string() && at(r, "class_share").contains(t.get<std::string>())) order.push_back(t.get<std::string>());
  if (order.empty())
    for (const auto& [type, grid] : at(r, "class_share").items()) order.push_back(type);
  for (const auto& type : order) {
    const auto& grid = at(r, "class_share")[type];
    double sum = 0;
    int n = 0;
    for (const auto& row : grid)
      for (const auto& v : row) sum += v.get<double>(), ++n;
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", type, pct(n ? sum / n : 0));
    f.numbers["share"][type] = n ? sum / n : 0;
  }
  f.lines.push_back("share of maps by type: " + s);
  std::map<std::string, int> majority;
  for (const auto& h : at(r, "heads")) majority[str(h, "majority")]++;
  std::string m;
  for (const auto& [k, n] : majority) m += fmt::format("{}{} {}", m.empty() ? "" : ", ", n, k);
  f.lines.push_back("heads by majority type: " + m);
  return f;
}

Finding compare(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"compare", "Attention before and after fine-tuning (Kovaleva et al.): cosine similarity of the maps", {}, json::object()};
  std::string s;
  int l = 0;
  for (const auto& v : at(r, "cosine_layer_mean")) s += fmt::format("{}{}: {:.3f}", s.empty() ? "" : ", ", ++l, v.get<double>());
  f.lines.push_back("mean cosine per layer: " + s);
  if (!at(r, "lowest").empty()) {
    std::string low;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, at(r, "lowest").size()); ++i)
      low += fmt::format("{}{} ({:.3f})", low.empty() ? "" : ", ", head_label(at(r, "lowest")[i]), num(at(r, "lowest")[i], "cosine"));
    f.lines.push_back("heads changed most: " + low);
  }
  f.numbers["cosine_layer_mean"] = at(r, "cosine_layer_mean");
  return f;
}

Finding ablate(const json& doc) {
  const auto& r = at(doc, "results");
  const auto metric = str(r, "metric");
  Finding f{"ablate", fmt::format("Disabling heads of the classifier (Kovaleva et al.) on {}", data_name(doc)), {}, json::object()};
  const double base = num(r, "baseline");
  f.lines.push_back(fmt::format("{} with every head: {}", metric, pct(base)));
  auto improving = r.value("improving_heads", json::array());
  std::stable_sort(improving.begin(), improving.end(), [](const json& a, const json& b) { return num(a, "delta") > num(b, "delta"); });
  std::size_t heads = 0;
  for (const auto& row : at(r, "head_delta")) heads += row.size();
  std::string top;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, improving.size()); ++i)
    top += fmt::format("{}{} (+{:.1f} points)", top.empty() ? "" : ", ", head_label(improving[i]), 100 * num(improving[i], "delta"));
  f.lines.push_back(fmt::format("removing one head improves {} for {} of {} heads{}{}", metric, improving.size(), heads,
                                improving.empty() ? "" : "; most: ", top));
  if (r.contains("layer_delta")) {
    int best = -1;
    double bd = -1e300;
    int l = 0;
    for (const auto& v : at(r, "layer_delta")) {
      if (v.get<double>() > bd) bd = v.get<double>(), best = l;
      ++l;
    }
    if (best >= 0) f.lines.push_back(fmt::format("disabling a whole layer: best layer {} ({:+.1f} points)", best + 1, 100 * bd));
  }
  if (r.contains("random_head"))
    f.lines.push_back(fmt::format("a random head's removal changes {} by {:+.2f} points on average", metric, 100 * num(at(r, "random_head"), "mean_delta")));
  f.numbers = {{"baseline", base}, {"improving_heads", improving.size()}, {"heads", heads}};
  return f;
}

Finding importance(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"importance", fmt::format("Head importance (Michel et al. 2019) on {} examples of {}", count(r, "examples", 0), data_name(doc)), {}, json::object()};
  const auto top = top_heads(at(r, "per_head"), [](const json&) { return true; }, "importance", 5);
  f.lines.push_back("most important heads: " + list_heads(top, "importance"));
  double kept_fraction = 0;
  for (const auto& step : at(r, "curve"))
    if (step.value("above_threshold", false)) kept_fraction = num(step, "fraction_masked", 0);
  f.lines.push_back(fmt::format("{} of the heads can be masked (least important first) before {} falls under {:.3f} ({} with all heads)",
                                pct(kept_fraction), str(r, "metric"), num(r, "threshold_metric"), pct(num(r, "baseline_metric"))));
  f.numbers = {{"maskable_fraction", kept_fraction}, {"baseline_metric", num(r, "baseline_metric")}};
  return f;
}

Finding saliency(const json& doc) {
  const auto& c = at(at(doc, "results"), "completeness");
  Finding f{"saliency", "Integrated gradients on the input embeddings", {}, json::object()};
  f.lines.push_back(fmt::format("{} inputs; completeness error (sum of attributions vs F(x) - F(baseline)) at {} steps: mean {}, max {}",
                                at(at(doc, "results"), "examples").size(), count(c, "steps", 0), pct(num(c, "mean_relative_error")),
                                pct(num(c, "max_relative_error"))));
  f.numbers = c;
  return f;
}

Finding flow(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"flow", "Attention flow (Abnar & Zuidema 2020)", {}, json::object()};
  const auto& cost = at(r, "cost");
  f.lines.push_back(fmt::format("{} inputs; max flow for all tokens of an output position: {:.4f} s per output node ({} Dinic phases in all)",
                                count(r, "inputs", 0), num(cost, "seconds_per_output_node", num(cost, "seconds", 0) / std::max(1LL, count(r, "inputs", 1))),
                                count(cost, "dinic_phases", 0)));
  return f;
}

// Influence patterns (Lu et al. 2021): per task, accuracy, the share of pattern layers through
// the skip connection, the subject's modal pattern, and the ablation check.
Finding influence(const json& doc) {
  const auto& r = at(doc, "results");
  Finding f{"influence", "Influence patterns (Lu et al. 2021)", {}, json::object()};
  double skip_sum = 0;
  std::size_t skip_n = 0;
  for (const auto& t : r.value("tasks", json::array())) {
    const auto name = str(t, "task");
    const auto& acc = t.value("accuracy", json::object());
    const auto& all = acc.value("all", json::object());
    std::string line = fmt::format("{}: {} examples, model accuracy {}", name, count(all, "n", 0), pct(num(all, "accuracy")));
    const auto& skip = t.value("skip_share", json::object());
    if (skip.contains("all")) {
      const auto& a = at(skip, "all");
      std::string per;
      for (const auto& v : a.value("per_layer", json::array())) per += fmt::format("{}{:.0f}%", per.empty() ? "" : " ", 100 * v.get<double>());
      line += fmt::format("; {} of pattern layers go through the skip connection (per layer {})", pct(num(a, "overall")), per);
      skip_sum += num(a, "overall", 0) * count(a, "patterns", 0);
      skip_n += count(a, "patterns", 0);
      f.numbers[name]["skip_share"] = num(a, "overall");
    }
    f.numbers[name]["accuracy"] = num(all, "accuracy");
    f.lines.push_back(line);
    if (t.contains("consistency") && at(t, "consistency").contains("subject")) {
      const auto& c = at(at(t, "consistency"), "subject");
      f.lines.push_back(fmt::format("  the subject's patterns: {} of {} instances follow the modal one", pct(num(c, "modal_share")), count(c, "instances", 0)));
    }
    if (t.contains("ablation") && at(t, "ablation").contains("methods")) {
      std::string abl;
      for (const auto& [method, m] : at(at(t, "ablation"), "methods").items())
        abl += fmt::format("{}{} {}", abl.empty() ? "" : ", ", method, pct(num(m, "sign_agreement")));
      f.lines.push_back("  keeping only the found paths, the QoI keeps its sign for: " + abl);
    }
  }
  if (skip_n) {
    f.lines.push_back(fmt::format("over all tasks, {} of pattern layers go through the skip connection", pct(skip_sum / skip_n)));
    f.numbers["skip_share"] = skip_sum / skip_n;
  }
  if (f.lines.empty()) f.lines.push_back("(no per-task aggregates in the document)");
  return f;
}

// Held-out masked-LM accuracy (`evaluate mlm`): over positions replaced by the mask token only.
Finding mlm_eval(const json& doc) {
  const auto& r = at(doc, "results");
  std::string files;
  for (const auto& f : r.value("files", json::array()))
    if (f.is_string()) files += (files.empty() ? "" : ", ") + f.get<std::string>();
  Finding f{"mlm_eval", fmt::format("Masked-LM on held-out text ({})", files.empty() ? "the data" : files), {}, json::object()};
  f.lines.push_back(fmt::format("top-1 accuracy {} over {} positions replaced by the mask token ({} sequences); loss {:.3f} nats",
                                pct(num(r, "mlm_accuracy")), count(r, "positions", 0), count(r, "sequences", 0), num(r, "mlm_loss")));
  if (r.contains("unigram_accuracy"))
    f.lines.push_back(fmt::format("unigram baseline on the same positions: accuracy {}, loss {:.3f} nats", pct(num(r, "unigram_accuracy")),
                                  num(r, "unigram_loss")));
  f.numbers = {{"accuracy", num(r, "mlm_accuracy")}, {"loss", num(r, "mlm_loss")}, {"positions", count(r, "positions", 0)}};
  return f;
}

// Training dynamics (`track`): the last checkpoint's statistics against the targets they are drawn with.
Finding track(const json& doc) {
  const auto& r = at(doc, "results");
  const auto& steps = r.at("by_step");
  if (!steps.is_array() || steps.empty()) throw std::runtime_error("no steps");
  const auto& last = steps.back();
  const auto& t = r.value("targets", json::object());
  const auto& p = doc.value("params", json::object());
  Finding f{"track", fmt::format("Training dynamics over {} checkpoints (steps {} to {}); the last one:", steps.size(),
                                 count(steps.front(), "step", 0), count(last, "step", 0)), {}, json::object()};
  const auto mark = [](bool ok) { return ok ? "reached" : "not reached"; };
  const double pos_t = num(t, "positional", 0.5);
  const int pos_n = to_int(num(last, "positional_heads", 0));
  f.lines.push_back(fmt::format("{} heads attend to the previous or next token with weight >= {:.2f} (best {:.3f}; target: 2 such heads, {})",
                                pos_n, pos_t, num(last, "positional_best"), mark(pos_n >= 2)));
  const double sep = num(last, "sep_max"), sep_t = num(t, "sep", 0.2);
  f.lines.push_back(fmt::format("most attention to [SEP] in a layer: {} (target {}, {})", pct(sep), pct(sep_t), mark(sep >= sep_t)));
  const int beats = to_int(num(last, "syntax_beats", 0)), beats_t = to_int(num(t, "syntax_relations", 3));
  f.lines.push_back(fmt::format("the best head beats the best fixed offset by >= {:.0f} points for {} relations with >= {} words (target {}, {})",
                                100 * num(t, "syntax_margin", 0.05), beats, count(p, "min_relation_count", 100), beats_t,
                                mark(beats >= beats_t)));
  const double agr_t = num(t, "agreement", 0.8), chance = num(t, "chance", 0.5);
  std::map<std::string, std::int64_t> examples;
  for (const auto& a : doc.value("data", json::object()).value("agreement", json::array()))
    if (a.is_object()) examples[str(a, "task")] = a.value("examples", std::int64_t{0});
  for (const auto& task : r.value("agreement", json::object()).value("tasks", json::array())) {
    const auto name = task.get<std::string>();
    std::string key = "agreement_" + name;  // track's by_step field for the task
    std::replace(key.begin(), key.end(), '.', '_');
    const double acc = num(last, key.c_str());
    const bool simple = name.rfind("simple", 0) == 0;
    f.lines.push_back(fmt::format("agreement {}: {} of {} examples (target {} {}, {})", name, pct(acc), examples[name],
                                  simple ? ">=" : "above chance", pct(simple ? agr_t : chance),
                                  mark(simple ? acc >= agr_t : acc > chance)));
    f.numbers["agreement"][name] = {{"accuracy", acc}, {"examples", examples[name]}};
  }
  f.numbers["step"] = count(last, "step", 0);
  f.numbers["positional_heads"] = pos_n;
  f.numbers["positional_best"] = num(last, "positional_best");
  f.numbers["sep_max"] = sep;
  f.numbers["syntax_beats"] = beats;
  return f;
}

}  // namespace

const std::vector<Section>& sections() {
  static const std::vector<Section> all = {
      {"Clark et al. (2019), What Does BERT Look At?",
       "Where does attention go: neighbours, [CLS], [SEP], punctuation, broad or focused?",
       {"surface", "gradsep", "cluster"}},
      {"Clark et al. (2019), What Does BERT Look At?", "Do single heads track syntax and coreference?",
       {"syntax", "coref", "probe"}},
      {"Kovaleva et al. (2019), Revealing the Dark Secrets of BERT", "Which self-attention patterns recur?", {"patterns"}},
      {"Kovaleva et al. (2019), Revealing the Dark Secrets of BERT", "Do heads attend to linguistic features?", {"features"}},
      {"Kovaleva et al. (2019), Revealing the Dark Secrets of BERT",
       "What does fine-tuning change, and which heads can be disabled?",
       {"compare", "ablate"}},
      {"Lu et al. (2021), Influence Patterns for Explaining Information Flow in BERT",
       "How does information flow from an input token to the prediction?",
       {"influence"}},
      {"Methods beside the papers", "Which heads matter for the task?", {"importance"}},
      {"Methods beside the papers", "Which input tokens matter for an output?", {"saliency", "rollout", "flow"}},
      {"The model", "How well does it predict masked words, and when did its heads form?", {"mlm_eval", "track"}},
  };
  return all;
}

const Section* section_of(const std::string& method) {
  for (const auto& s : sections())
    if (std::find(s.methods.begin(), s.methods.end(), method) != s.methods.end()) return &s;
  return nullptr;
}

Summary summarize(const std::filesystem::path& results) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(results))
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, json>> documents;
  std::vector<std::string> unreadable;
  for (const auto& path : files) {
    try {
      documents.emplace_back(path.filename().string(), io::read_json(path));
    } catch (const std::exception& e) {
      unreadable.push_back(fmt::format("{}: {}", path.filename().string(), e.what()));
    }
  }
  return summarize(documents, std::move(unreadable));
}

Summary summarize(const std::vector<std::pair<std::string, json>>& documents, std::vector<std::string> unreadable) {
  Summary s;
  s.skipped = std::move(unreadable);
  // The order of the paper sections, whatever the file names.
  const std::vector<std::pair<std::string, Finding (*)(const json&)>> known = {
      {"surface", surface}, {"gradsep", gradsep},   {"syntax", syntax},         {"probe", probe},
      {"coref", coref},     {"patterns", patterns}, {"compare", compare},       {"ablate", ablate},
      {"importance", importance}, {"saliency", saliency}, {"flow", flow},    {"influence", influence},
      {"mlm_eval", mlm_eval}, {"track", track}};
  std::map<std::string, std::vector<std::pair<std::string, json>>> docs;  // method -> (file name, document)
  std::set<std::string> models;
  for (const auto& [name, doc] : documents) {
    const auto method = str(doc, "method");
    if (method.empty() || !doc.contains("results")) {
      s.skipped.push_back(fmt::format("{}: not a result document", name));
      continue;
    }
    if (doc.contains("model") && at(doc, "model").is_object()) {
      const auto p = str(at(doc, "model"), "path");
      if (!p.empty()) models.insert(p);
    }
    docs[method].emplace_back(name, doc);
  }
  // Sections' order first (the papers' order), then any method the table lacks.
  std::vector<std::pair<std::string, Finding (*)(const json&)>> ordered;
  for (const auto& sec : sections())
    for (const auto& m : sec.methods)
      for (const auto& k : known)
        if (k.first == m) ordered.push_back(k);
  for (const auto& k : known)
    if (!section_of(k.first)) ordered.push_back(k);
  for (const auto& [method, fn] : ordered) {
    auto it = docs.find(method);
    if (it == docs.end()) continue;
    for (const auto& [file, doc] : it->second) {
      try {
        auto f = fn(doc);
        f.document = file;
        // The document's declared figures are what its numbers are drawn in.
        for (const auto& fig : doc.value("figures", json::array()))
          if (fig.is_object() && fig.contains("id") && fig["id"].is_string()) f.figures.push_back(fig["id"].get<std::string>());
        s.findings.push_back(std::move(f));
      } catch (const std::exception& e) {
        // A document of a known method in a shape the summary cannot read (a field of another type).
        s.skipped.push_back(fmt::format("{}: a {} document the summary cannot read: {}", file, method, reason(e)));
      }
    }
    docs.erase(it);
  }
  std::string rest;
  for (const auto& [method, list] : docs) rest += (rest.empty() ? "" : ", ") + method;
  if (!rest.empty()) s.skipped.push_back(fmt::format("{}: no summary of their own (see the report)", rest));
  s.models.assign(models.begin(), models.end());
  return s;
}

std::string format_summary(const Summary& summary) {
  std::string out = "Summary of findings";
  if (!summary.models.empty()) {
    out += " for ";
    for (std::size_t i = 0; i < summary.models.size(); ++i) out += (i ? ", " : "") + summary.models[i];
  }
  out += "\n";
  std::string paper, question;
  for (const auto& f : summary.findings) {
    if (const auto* sec = section_of(f.method); sec && sec->paper != paper) {
      paper = sec->paper;
      out += "\n== " + paper + " ==\n";
    }
    if (const auto* sec = section_of(f.method); sec && sec->question != question) {
      question = sec->question;
      out += "\n" + question + "\n";
    }
    out += "\n" + f.title + "\n";
    for (const auto& l : f.lines) out += "  " + l + "\n";
  }
  if (!summary.skipped.empty()) {
    out += "\nnot in the summary:\n";
    for (const auto& s : summary.skipped) out += "  " + s + "\n";
  }
  return out;
}

nlohmann::json summary_json(const Summary& summary) {
  json j = {{"models", summary.models}, {"findings", json::array()}, {"skipped", summary.skipped}};
  for (const auto& f : summary.findings) {
    json item = {{"method", f.method}, {"title", f.title},       {"lines", f.lines},
                 {"numbers", f.numbers}, {"document", f.document}, {"figures", f.figures}};
    if (const auto* sec = section_of(f.method)) {
      item["paper"] = sec->paper;
      item["question"] = sec->question;
    }
    j["findings"].push_back(std::move(item));
  }
  j["sections"] = json::array();
  for (const auto& sec : sections())
    j["sections"].push_back({{"paper", sec.paper}, {"question", sec.question}, {"methods", sec.methods}});
  return j;
}

}  // namespace bertscope::report
