#include "report/summary.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "io/files.hpp"

namespace bertscope::report {

namespace {

using nlohmann::json;

double num(const json& j, const char* key, double fallback = std::nan("")) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return fallback;
  return j[key].get<double>();
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// "2-3": layer and head 1-based, as Clark et al. and the documents' `label` fields write them.
std::string head_label(const json& h) {
  const auto l = str(h, "label");
  if (!l.empty()) return l;
  return fmt::format("{}-{}", static_cast<int>(num(h, "layer", 0)) + 1, static_cast<int>(num(h, "head", 0)) + 1);
}

std::string pct(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.1f}%", 100 * v); }

std::string data_name(const json& doc) {
  const auto& d = doc.value("data", json::object());
  auto path = str(d, "path");
  if (path.empty() && d.contains("paths") && d["paths"].is_array() && !d["paths"].empty()) path = d["paths"][0].get<std::string>();
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
  Finding f{"surface", fmt::format("Surface statistics (Clark et al. 2019) on {} inputs of {}", doc["results"].value("inputs", 0), data_name(doc)), {}, json::object()};
  const auto& r = doc["results"];
  const auto& heads = r["heads"];
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
  for (const auto& l : r["layers"])
    if (!peak || num(l, "sep", 0) > num(*peak, "sep", 0)) peak = &l;
  if (peak) {
    const double uniform = std::exp(-num(r, "uniform_entropy", 0));
    f.lines.push_back(fmt::format("attention to [SEP] peaks in layer {} at {} of all attention (about {} with uniform attention)",
                                  static_cast<int>(num(*peak, "layer", 0)) + 1, pct(num(*peak, "sep")), pct(2 * uniform)));
    f.numbers["sep_peak_layer"] = static_cast<int>(num(*peak, "layer", 0)) + 1;
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
  for (const auto& l : doc["results"]["layers"]) {
    const double sep = num(l, "sep"), other = num(l, "other");
    ++layers;
    below += sep < other;
    s += fmt::format("{}{}: {:.2g}/{:.2g}", s.empty() ? "" : ", ", static_cast<int>(num(l, "layer", 0)) + 1, sep, other);
  }
  f.lines.push_back(fmt::format("mean |dL/dA| to [SEP] / to other tokens per layer: {}", s));
  f.lines.push_back(fmt::format("attention to [SEP] matters less than attention to other tokens in {} of {} layers", below, layers));
  f.numbers["layers_sep_below_other"] = below;
  return f;
}

Finding syntax(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"syntax", fmt::format("Syntactic heads (Clark et al.) on {} sentences of {}", r.value("sentences", 0), data_name(doc)), {}, json::object()};
  const std::vector<std::string> wanted = {"all", "nsubj", "obj", "det", "amod", "case", "advmod", "aux", "mark", "nmod",
                                           "nmod:poss", "compound", "conj", "cc", "obl", "nummod", "cop", "xcomp"};
  int above = 0, shown = 0;
  for (const auto& rel : wanted) {
    if (!r["relations"].contains(rel)) continue;
    const auto& x = r["relations"][rel];
    if (x.value("count", 0) < 50 && rel != "all") continue;
    const auto& best = x["best"];
    const double acc = num(best, "accuracy"), base = num(x["baseline"], "accuracy");
    const int off = static_cast<int>(num(x["baseline"], "offset", 0));
    ++shown;
    above += acc > base;
    f.lines.push_back(fmt::format("{:<10} best head {:>5} {:<12} {:>6}   offset {:+d} baseline {:>6}{}", rel, head_label(best),
                                  str(best, "direction"), pct(acc), off, pct(base), acc > base ? "   (head beats the baseline)" : ""));
    f.numbers["relations"][rel] = {{"head", head_label(best)}, {"direction", str(best, "direction")}, {"accuracy", acc}, {"baseline", base}};
  }
  f.lines.push_back(fmt::format("the best single head beats the fixed-offset baseline for {} of {} relations shown", above, shown));
  return f;
}

Finding probe(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"probe", "Attention-based parsing probes (Clark et al.), UAS on the dev file", {}, json::object()};
  std::string s;
  for (const auto& [name, p] : r["probes"].items()) {
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", name, pct(num(p, "uas")));
    f.numbers[name] = num(p, "uas");
  }
  for (const auto& [name, b] : r["baselines"].items()) {
    s += fmt::format(", baseline {} {}", name, pct(num(b, "uas")));
    f.numbers[name] = num(b, "uas");
  }
  f.lines.push_back(s);
  return f;
}

Finding coref(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"coref", fmt::format("Coreference heads (Clark et al.) on {} documents of {}", r.value("documents", 0), data_name(doc)), {}, json::object()};
  const auto& best = r["best"]["all"];
  const double acc = num(best, "accuracy");
  std::string b;
  for (const auto& [name, x] : r["baselines"].items()) {
    b += fmt::format("{}{} {}", b.empty() ? "" : ", ", name, pct(num(x, "all")));
    f.numbers["baselines"][name] = num(x, "all");
  }
  f.lines.push_back(fmt::format("best head {} selects the antecedent for {} of {} anaphors; baselines: {}", head_label(best), pct(acc),
                                r["anaphors"].value("all", 0), b));
  f.numbers["best"] = {{"head", head_label(best)}, {"accuracy", acc}};
  return f;
}

Finding patterns(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"patterns", fmt::format("Attention pattern types (Kovaleva et al. 2019) on {} inputs of {}", r.value("inputs", 0), data_name(doc)), {}, json::object()};
  std::string s;
  for (const auto& [type, grid] : r["class_share"].items()) {
    double sum = 0;
    int n = 0;
    for (const auto& row : grid)
      for (const auto& v : row) sum += v.get<double>(), ++n;
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", type, pct(n ? sum / n : 0));
    f.numbers["share"][type] = n ? sum / n : 0;
  }
  f.lines.push_back("share of maps by type: " + s);
  std::map<std::string, int> majority;
  for (const auto& h : r["heads"]) majority[str(h, "majority")]++;
  std::string m;
  for (const auto& [k, n] : majority) m += fmt::format("{}{} {}", m.empty() ? "" : ", ", n, k);
  f.lines.push_back("heads by majority type: " + m);
  return f;
}

Finding compare(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"compare", "Attention before and after fine-tuning (Kovaleva et al.): cosine similarity of the maps", {}, json::object()};
  std::string s;
  int l = 0;
  for (const auto& v : r["cosine_layer_mean"]) s += fmt::format("{}{}: {:.3f}", s.empty() ? "" : ", ", ++l, v.get<double>());
  f.lines.push_back("mean cosine per layer: " + s);
  if (!r["lowest"].empty()) {
    std::string low;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, r["lowest"].size()); ++i)
      low += fmt::format("{}{} ({:.3f})", low.empty() ? "" : ", ", head_label(r["lowest"][i]), num(r["lowest"][i], "cosine"));
    f.lines.push_back("heads changed most: " + low);
  }
  f.numbers["cosine_layer_mean"] = r["cosine_layer_mean"];
  return f;
}

Finding ablate(const json& doc) {
  const auto& r = doc["results"];
  const auto metric = str(r, "metric");
  Finding f{"ablate", fmt::format("Disabling heads of the classifier (Kovaleva et al.) on {}", data_name(doc)), {}, json::object()};
  const double base = num(r, "baseline");
  f.lines.push_back(fmt::format("{} with every head: {}", metric, pct(base)));
  auto improving = r.value("improving_heads", json::array());
  std::stable_sort(improving.begin(), improving.end(), [](const json& a, const json& b) { return num(a, "delta") > num(b, "delta"); });
  std::size_t heads = 0;
  for (const auto& row : r["head_delta"]) heads += row.size();
  std::string top;
  for (std::size_t i = 0; i < std::min<std::size_t>(5, improving.size()); ++i)
    top += fmt::format("{}{} (+{:.1f} points)", top.empty() ? "" : ", ", head_label(improving[i]), 100 * num(improving[i], "delta"));
  f.lines.push_back(fmt::format("removing one head improves {} for {} of {} heads{}{}", metric, improving.size(), heads,
                                improving.empty() ? "" : "; most: ", top));
  if (r.contains("layer_delta")) {
    int best = -1;
    double bd = -1e300;
    int l = 0;
    for (const auto& v : r["layer_delta"]) {
      if (v.get<double>() > bd) bd = v.get<double>(), best = l;
      ++l;
    }
    if (best >= 0) f.lines.push_back(fmt::format("disabling a whole layer: best layer {} ({:+.1f} points)", best + 1, 100 * bd));
  }
  if (r.contains("random_head"))
    f.lines.push_back(fmt::format("a random head's removal changes {} by {:+.2f} points on average", metric, 100 * num(r["random_head"], "mean_delta")));
  f.numbers = {{"baseline", base}, {"improving_heads", improving.size()}, {"heads", heads}};
  return f;
}

Finding importance(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"importance", fmt::format("Head importance (Michel et al. 2019) on {} examples of {}", r.value("examples", 0), data_name(doc)), {}, json::object()};
  const auto top = top_heads(r["per_head"], [](const json&) { return true; }, "importance", 5);
  f.lines.push_back("most important heads: " + list_heads(top, "importance"));
  double kept_fraction = 0;
  for (const auto& step : r["curve"])
    if (step.value("above_threshold", false)) kept_fraction = num(step, "fraction_masked", 0);
  f.lines.push_back(fmt::format("{} of the heads can be masked (least important first) before {} falls under {:.3f} ({} with all heads)",
                                pct(kept_fraction), str(r, "metric"), num(r, "threshold_metric"), pct(num(r, "baseline_metric"))));
  f.numbers = {{"maskable_fraction", kept_fraction}, {"baseline_metric", num(r, "baseline_metric")}};
  return f;
}

Finding saliency(const json& doc) {
  const auto& c = doc["results"]["completeness"];
  Finding f{"saliency", "Integrated gradients on the input embeddings", {}, json::object()};
  f.lines.push_back(fmt::format("{} inputs; completeness error (sum of attributions vs F(x) - F(baseline)) at {} steps: mean {}, max {}",
                                doc["results"]["examples"].size(), c.value("steps", 0), pct(num(c, "mean_relative_error")),
                                pct(num(c, "max_relative_error"))));
  f.numbers = c;
  return f;
}

Finding flow(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"flow", "Attention flow (Abnar & Zuidema 2020)", {}, json::object()};
  const auto& cost = r["cost"];
  f.lines.push_back(fmt::format("{} inputs; max flow for all tokens of an output position: {:.4f} s per output node ({} Dinic phases in all)",
                                r.value("inputs", 0), num(cost, "seconds_per_output_node", num(cost, "seconds", 0) / std::max(1, r.value("inputs", 1))),
                                cost.value("dinic_phases", 0)));
  return f;
}

// Influence patterns (Lu et al. 2021): per task, accuracy, the share of pattern layers through
// the skip connection, the subject's modal pattern, and the ablation check.
Finding influence(const json& doc) {
  const auto& r = doc["results"];
  Finding f{"influence", "Influence patterns (Lu et al. 2021)", {}, json::object()};
  double skip_sum = 0;
  std::size_t skip_n = 0;
  for (const auto& t : r.value("tasks", json::array())) {
    const auto name = str(t, "task");
    const auto& acc = t.value("accuracy", json::object());
    const auto& all = acc.value("all", json::object());
    std::string line = fmt::format("{}: {} examples, model accuracy {}", name, all.value("n", 0), pct(num(all, "accuracy")));
    const auto& skip = t.value("skip_share", json::object());
    if (skip.contains("all")) {
      const auto& a = skip["all"];
      std::string per;
      for (const auto& v : a.value("per_layer", json::array())) per += fmt::format("{}{:.0f}%", per.empty() ? "" : " ", 100 * v.get<double>());
      line += fmt::format("; {} of pattern layers go through the skip connection (per layer {})", pct(num(a, "overall")), per);
      skip_sum += num(a, "overall", 0) * a.value("patterns", 0);
      skip_n += a.value("patterns", 0);
      f.numbers[name]["skip_share"] = num(a, "overall");
    }
    f.numbers[name]["accuracy"] = num(all, "accuracy");
    f.lines.push_back(line);
    if (t.contains("consistency") && t["consistency"].contains("subject")) {
      const auto& c = t["consistency"]["subject"];
      f.lines.push_back(fmt::format("  the subject's patterns: {} of {} instances follow the modal one", pct(num(c, "modal_share")), c.value("instances", 0)));
    }
    if (t.contains("ablation") && t["ablation"].contains("methods")) {
      std::string abl;
      for (const auto& [method, m] : t["ablation"]["methods"].items())
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
      {"Training dynamics", "When do the heads form during training?", {"track"}},
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
      {"importance", importance}, {"saliency", saliency}, {"flow", flow},    {"influence", influence}};
  std::map<std::string, std::vector<std::pair<std::string, json>>> docs;  // method -> (file name, document)
  std::set<std::string> models;
  for (const auto& [name, doc] : documents) {
    const auto method = str(doc, "method");
    if (method.empty() || !doc.contains("results")) {
      s.skipped.push_back(fmt::format("{}: not a result document", name));
      continue;
    }
    if (doc.contains("model") && doc["model"].is_object()) {
      const auto p = str(doc["model"], "path");
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
        s.skipped.push_back(fmt::format("{}: {}", method, e.what()));
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
