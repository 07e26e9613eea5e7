#include "analysis/track.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/config.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::track {

namespace {

using nlohmann::json;

// The step a folder's name ends with ("step-000500", "checkpoint-500"), if any.
std::optional<std::int64_t> step_from_name(const std::string& name) {
  std::size_t start = name.size();
  while (start > 0 && std::isdigit(static_cast<unsigned char>(name[start - 1]))) --start;
  if (start == name.size() || name.size() - start > 15) return std::nullopt;
  return std::stoll(name.substr(start));
}

// Errors from a checkpoint's own files, prefixed with the folder they came from, so a run over
// many folders says which one failed.
template <typename F>
auto in_checkpoint(const std::filesystem::path& folder, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(folder.string()) != std::string::npos) throw;
    throw Error(e.kind(), fmt::format("{}: checkpoint does not load: {}", folder.string(), e.what()));
  }
}

// One checkpoint's numbers, before they become the document's step-major arrays.
struct StepStats {
  std::vector<double> prev, next;  // [layer * heads]
  std::vector<double> sep;         // [layer]
  std::map<std::string, json> relations;  // name -> syntax's {count, best, baseline, ...}
  std::vector<std::string> tasks;  // agreement tasks (the files' names, as analyze influence gives them)
  json agreement = json::array();  // per task; null when the selection kept no example
  std::vector<std::size_t> agreement_n;
  json surface_data, syntax_data;
};

StepStats checkpoint_stats(const Checkpoint& c, const Options& o) {
  const auto folder = c.folder.string();
  const auto model = in_checkpoint(c.folder, [&] { return model::Model::load(c.folder); });
  runs::Subject subject;
  subject.model = &model;
  subject.model_path = folder;
  runs::Common common;
  common.batch_size = o.batch_size;
  StepStats s;

  common.data = o.text;
  const auto surf = runs::surface(subject, common, o.text_inputs, o.surface).document;
  for (const auto& h : surf.results.at("heads")) {
    s.prev.push_back(h.at("prev").get<double>());
    s.next.push_back(h.at("next").get<double>());
  }
  for (const auto& l : surf.results.at("layers")) s.sep.push_back(l.at("sep").get<double>());
  s.surface_data = surf.data;

  common.data = o.ud;
  const auto syn = runs::syntax(subject, common, o.syntax).document;
  for (const auto& [name, rel] : syn.results.at("relations").items()) s.relations[name] = rel;
  s.syntax_data = syn.data;

  const auto tasks = influence::load_tasks(model, o.agreement, o.agreement_data, o.selection);
  for (const auto& task : tasks) {
    s.tasks.push_back(task.task);
    const auto qoi = influence::evaluate_qoi(model, task.instances, o.batch_size);
    const auto acc = influence::accuracy_by_form(qoi, task.forms);
    const auto all = acc.find("");
    s.agreement.push_back(all == acc.end() || all->second.n == 0 ? json(nullptr) : json(all->second.accuracy));
    s.agreement_n.push_back(all == acc.end() ? 0 : all->second.n);
  }
  return s;
}

// An agreement task's field in the by_step records ("simple_agrmt.sample" -> agreement_simple_agrmt_sample):
// dots would split a figure's field path.
std::string agreement_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return "agreement_" + name;
}

}  // namespace

std::vector<Checkpoint> list_checkpoints(const std::filesystem::path& given) {
  if (!std::filesystem::is_directory(given)) fail(ErrorKind::io, "{}: no such folder", given.string());
  // A training folder (OUT of `train mlm --keep-every`) holds its kept steps in steps/.
  const auto dir = std::filesystem::is_directory(given / "steps") ? given / "steps" : given;
  std::vector<Checkpoint> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (!entry.is_directory() || name.starts_with(".")) continue;
    Checkpoint c;
    c.folder = entry.path();
    if (!std::filesystem::is_regular_file(c.folder / "config.json"))
      fail(ErrorKind::input, "{}: not a checkpoint (no config.json)", c.folder.string());
    std::optional<std::int64_t> step;
    if (std::filesystem::exists(c.folder / "step.json")) {
      const auto j = in_checkpoint(c.folder, [&] { return io::read_json(c.folder / "step.json"); });
      if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
        fail(ErrorKind::format, "{}: step.json has no integer \"step\"", c.folder.string());
      step = j["step"].get<std::int64_t>();
      if (j.contains("tokens_seen") && j["tokens_seen"].is_number_integer()) c.tokens_seen = j["tokens_seen"].get<std::int64_t>();
      if (j.contains("loss") && j["loss"].is_number()) c.loss = j["loss"].get<double>();
    } else {
      step = step_from_name(name);
    }
    if (!step) fail(ErrorKind::input, "{}: no step.json and no step number at the end of the folder's name", c.folder.string());
    c.step = *step;
    out.push_back(std::move(c));
  }
  if (out.empty()) fail(ErrorKind::input, "{}: no checkpoint folders (expected subfolders such as step-000500)", dir.string());
  std::sort(out.begin(), out.end(), [](const Checkpoint& a, const Checkpoint& b) {
    return a.step != b.step ? a.step < b.step : a.folder < b.folder;
  });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].step == out[i - 1].step)
      fail(ErrorKind::input, "{} and {}: both are step {}", out[i - 1].folder.string(), out[i].folder.string(), out[i].step);
  // The arrays are [step, layer, head]: every checkpoint must have the first one's shape.
  const auto first = in_checkpoint(out[0].folder, [&] { return model::load_config(out[0].folder / "config.json"); });
  for (const auto& c : out) {
    const auto cfg = in_checkpoint(c.folder, [&] { return model::load_config(c.folder / "config.json"); });
    if (cfg.num_hidden_layers != first.num_hidden_layers || cfg.num_attention_heads != first.num_attention_heads)
      fail(ErrorKind::input, "{}: {} layers x {} heads, but {} has {} x {}", c.folder.string(), cfg.num_hidden_layers,
           cfg.num_attention_heads, out[0].folder.string(), first.num_hidden_layers, first.num_attention_heads);
  }
  return out;
}

ResultDocument run(const std::filesystem::path& dir, const Options& o, const Progress& progress) {
  if (o.agreement.empty()) fail(ErrorKind::input, "track: no agreement data given");
  if (!(o.positional_threshold > 0 && o.positional_threshold <= 1))
    fail(ErrorKind::input, "track: the positional threshold must be in (0, 1], not {}", o.positional_threshold);
  const auto checkpoints = list_checkpoints(dir);
  const auto cfg = model::load_config(checkpoints[0].folder / "config.json");
  const std::int64_t layers = cfg.num_hidden_layers, heads = cfg.num_attention_heads;

  std::vector<StepStats> stats;
  if (progress) progress(0, checkpoints.size());
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    stats.push_back(checkpoint_stats(checkpoints[i], o));
    if (stats.back().tasks != stats[0].tasks)
      fail(ErrorKind::input, "{}: other agreement tasks than {}", checkpoints[i].folder.string(), checkpoints[0].folder.string());
    if (progress) progress(i + 1, checkpoints.size());
  }

  const auto& task_names = stats[0].tasks;
  // Relations counted alike in every checkpoint (the data decides the counts; a tokenizer that
  // changed between checkpoints could skip other sentences, so take the first's counts).
  std::vector<std::string> relations;
  std::vector<std::size_t> counts;
  for (const auto& [name, rel] : stats[0].relations) {
    const auto n = rel.at("count").get<std::size_t>();
    if (name == "all" || name == "root" || n < o.min_relation_count) continue;
    if (!std::all_of(stats.begin(), stats.end(), [&](const StepStats& s) { return s.relations.contains(name); })) continue;
    relations.push_back(name);
    counts.push_back(n);
  }
  // Most frequent first, as syntax orders them.
  std::vector<std::size_t> order(relations.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return counts[a] > counts[b]; });

  json steps = json::array(), checkpoint_rows = json::array();
  json prev = json::array(), next = json::array(), over = json::array(), best_pos = json::array(), best_pos_head = json::array();
  json sep_layers = json::array(), sep_max = json::array();
  json syn_best = json::array(), syn_base = json::array(), syn_head = json::array(), beats = json::array(), mean_margin = json::array();
  json agr = json::array();
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    const auto& c = checkpoints[i];
    const auto& s = stats[i];
    steps.push_back(c.step);
    // The folder's name only: shipped documents carry no path of the machine that made them.
    checkpoint_rows.push_back({{"step", c.step},
                               {"folder", c.folder.filename().string()},
                               {"tokens_seen", c.tokens_seen ? json(*c.tokens_seen) : json(nullptr)},
                               {"loss", c.loss ? json(*c.loss) : json(nullptr)}});

    json p = json::array(), n = json::array();
    std::size_t count = 0, best_k = 0;
    double best = -1;
    std::string best_kind = "prev";
    for (std::int64_t l = 0; l < layers; ++l) {
      json pr = json::array(), nr = json::array();
      for (std::int64_t h = 0; h < heads; ++h) {
        const auto k = static_cast<std::size_t>(l * heads + h);
        pr.push_back(s.prev[k]);
        nr.push_back(s.next[k]);
        count += std::max(s.prev[k], s.next[k]) >= o.positional_threshold;
        for (const auto& [v, kind] : {std::pair{s.prev[k], "prev"}, std::pair{s.next[k], "next"}})
          if (v > best) {
            best = v;
            best_k = k;
            best_kind = kind;
          }
      }
      p.push_back(std::move(pr));
      n.push_back(std::move(nr));
    }
    prev.push_back(std::move(p));
    next.push_back(std::move(n));
    over.push_back(count);
    best_pos.push_back(best);
    auto bh = head_json(static_cast<std::int64_t>(best_k) / heads, static_cast<std::int64_t>(best_k) % heads);
    bh["kind"] = best_kind;
    best_pos_head.push_back(std::move(bh));

    sep_layers.push_back(s.sep);
    sep_max.push_back(*std::max_element(s.sep.begin(), s.sep.end()));

    json b = json::array(), base = json::array(), hd = json::array();
    std::size_t beaten = 0;
    double margin_sum = 0;
    for (const auto r : order) {
      const auto& rel = s.relations.at(relations[r]);
      const double acc = rel.at("best").at("accuracy").get<double>(), baseline = rel.at("baseline").at("accuracy").get<double>();
      b.push_back(acc);
      base.push_back(baseline);
      hd.push_back(rel.at("best").at("label"));
      // 1e-12: a margin of exactly 5 points counts despite rounding in the two accuracies.
      beaten += acc - baseline >= o.margin - 1e-12;
      margin_sum += acc - baseline;
    }
    syn_best.push_back(std::move(b));
    syn_base.push_back(std::move(base));
    syn_head.push_back(std::move(hd));
    beats.push_back(beaten);
    mean_margin.push_back(order.empty() ? json(nullptr) : json(margin_sum / static_cast<double>(order.size())));
    agr.push_back(s.agreement);
  }
  json rel_names = json::array(), rel_counts = json::array();
  for (const auto r : order) {
    rel_names.push_back(relations[r]);
    rel_counts.push_back(counts[r]);
  }

  // One record per checkpoint with every statistic the figures draw (figures() below).
  json by_step = json::array();
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    json row = {{"step", checkpoints[i].step},
                {"loss", checkpoint_rows[i]["loss"]},
                {"positional_best", best_pos[i]},
                {"positional_heads", over[i]},
                {"sep_max", sep_max[i]},
                {"syntax_beats", beats[i]},
                {"syntax_mean_margin", mean_margin[i]}};
    for (std::int64_t l = 0; l < layers; ++l) row[fmt::format("sep_layer_{}", l)] = stats[i].sep[static_cast<std::size_t>(l)];
    for (std::size_t t = 0; t < task_names.size(); ++t) row[agreement_key(task_names[t])] = stats[i].agreement[t];
    by_step.push_back(std::move(row));
  }

  ResultDocument doc;
  doc.method = "track";
  doc.model = {{"checkpoints", dir.string()}, {"layers", layers}, {"heads", heads}, {"steps", checkpoints.size()}};
  json agreement_data = json::array();
  for (std::size_t t = 0; t < task_names.size(); ++t)
    agreement_data.push_back({{"path", o.agreement[t]}, {"task", task_names[t]}, {"examples", stats[0].agreement_n[t]}});
  doc.data = {{"text", stats[0].surface_data}, {"ud", stats[0].syntax_data}, {"agreement", agreement_data}};
  doc.params = {{"text_inputs", runs::text_input_params(o.text_inputs)},
                {"surface", surface::params_json(o.surface)},
                {"syntax", syntax::params_json(o.syntax)},
                {"selection",
                 {{"length", o.selection.length},
                  {"single_pieces", o.selection.single_pieces},
                  {"per_form", o.selection.per_form},
                  {"limit", o.selection.limit},
                  {"seed", o.selection.seed},
                  {"shuffle", o.selection.shuffle}}},
                {"positional_threshold", o.positional_threshold},
                {"min_relation_count", o.min_relation_count},
                {"margin", o.margin},
                {"targets", {{"positional", o.positional_threshold}, {"sep", o.sep_target}, {"syntax_margin", o.margin}, {"agreement", o.agreement_target}}},
                {"definitions",
                 {{"positional", "per head Clark's prev and next (analyze surface); heads: max(prev, next) >= threshold"},
                  {"sep", "per layer the mean over heads of the share of attention to [SEP] tokens (token roles)"},
                  {"syntax", "relations with >= min_relation_count words, not all or root: best head over heads x "
                             "directions and best fixed offset (analyze syntax); beats: best - baseline >= margin"},
                  {"agreement", "share of examples with logit(good) > logit(bad) at [MASK] (analyze influence's accuracy)"}}}};
  doc.results = {
      {"steps", steps},
      {"checkpoints", checkpoint_rows},
      {"by_step", by_step},
      {"targets",
       {{"positional", o.positional_threshold},
        {"sep", o.sep_target},
        {"syntax_margin", o.margin},
        {"syntax_relations", 3},
        {"agreement", o.agreement_target},
        {"chance", 0.5}}},
      {"positional",
       {{"prev", prev}, {"next", next}, {"heads_over_threshold", over}, {"best", best_pos}, {"best_head", best_pos_head}}},
      {"sep", {{"per_layer", sep_layers}, {"max", sep_max}}},
      {"syntax",
       {{"relations", rel_names},
        {"counts", rel_counts},
        {"best", syn_best},
        {"baseline", syn_base},
        {"best_head", syn_head},
        {"beats_baseline", beats},
        {"mean_margin", mean_margin}}},
      {"agreement", {{"tasks", task_names}, {"accuracy", agr}}}};
  return doc;
}

std::string table(const ResultDocument& doc) {
  const auto& r = doc.results;
  const auto& tasks = r.at("agreement").at("tasks");
  std::string out = fmt::format("{:>8} {:>9} {:>6} {:>8} {:>8}", "step", "loss", "pos", "best pos", "max sep");
  out += fmt::format(" {:>9} {:>7}", "beat/rels", "margin");
  for (const auto& t : tasks) out += fmt::format(" {:>14}", t.get<std::string>().substr(0, 14));
  out += "\n";
  const auto relations = r.at("syntax").at("relations").size();
  for (std::size_t i = 0; i < r.at("steps").size(); ++i) {
    const auto& loss = r.at("checkpoints")[i].at("loss");
    const auto& margin = r.at("syntax").at("mean_margin")[i];
    out += fmt::format("{:>8} {:>9} {:>6} {:>8.3f} {:>8.3f} {:>9} {:>7}", r.at("steps")[i].get<std::int64_t>(),
                       loss.is_null() ? std::string("-") : fmt::format("{:.4f}", loss.get<double>()),
                       r.at("positional").at("heads_over_threshold")[i].get<std::size_t>(),
                       r.at("positional").at("best")[i].get<double>(), r.at("sep").at("max")[i].get<double>(),
                       fmt::format("{}/{}", r.at("syntax").at("beats_baseline")[i].get<std::size_t>(), relations),
                       margin.is_null() ? std::string("-") : fmt::format("{:+.3f}", margin.get<double>()));
    for (const auto& a : r.at("agreement").at("accuracy")[i])
      out += a.is_null() ? fmt::format(" {:>14}", "-") : fmt::format(" {:>14.3f}", a.get<double>());
    out += "\n";
  }
  return out;
}

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<Figure> figures(const nlohmann::json& results) {
  if (!results.contains("by_step") || results["by_step"].empty()) return {};
  const auto& first = results["by_step"][0];
  const FigureField step{"step", "step", Unit::step};
  auto over_steps = [&](std::string id, std::string title, std::string caption, std::string axis) {
    Figure f{.id = "track." + std::move(id),
             .kind = "lines",
             .title = std::move(title),
             .caption = std::move(caption),
             .rows = "by_step",
             .x = step,
             .x_axis = "training step",
             .axis = std::move(axis)};
    f.options = {{"numeric_x", true}};
    return f;
  };
  std::vector<Figure> out;
  if (!first["loss"].is_null()) {
    auto f = over_steps("loss", "Training loss at each kept checkpoint",
                        "The masked-language-model loss the trainer logged at the checkpoint's step (mean cross-entropy over "
                        "the masked positions of recent batches).",
                        "training loss (nats per masked token)");
    f.values = {{"loss", "training loss", Unit::loss}};
    out.push_back(std::move(f));
  }
  auto positional = over_steps(
      "positional", "Positional heads forming: the best head's attention to the previous or next token",
      "At each checkpoint, the largest average attention any head pays to the previous or the next token (Clark et al. "
      "2019, section 3: BERT-base has heads above 0.5); dashed: the threshold that counts a head as positional.",
      "average attention (proportion)");
  positional.values = {{"positional_best", "best head", Unit::proportion}};
  positional.references = {{"targets.positional", "positional threshold", Unit::proportion}};
  positional.range = std::array<double, 2>{0, 1};
  out.push_back(std::move(positional));
  auto heads = over_steps("positional_heads", "Number of positional heads",
                          "Heads whose average attention to the previous or the next token reaches the threshold.",
                          "heads (count)");
  heads.values = {{"positional_heads", "positional heads", Unit::count}};
  out.push_back(std::move(heads));
  auto sep = over_steps(
      "sep", "Attention to [SEP] per layer",
      "Per layer, the share of all attention that goes to [SEP] tokens (mean over heads and queries), the statistic of "
      "Clark et al. (2019) Fig. 2 whose middle layers reach about half in BERT-base; dashed: the target.",
      "share of attention to [SEP] (proportion)");
  for (std::int64_t l = 0; first.contains(fmt::format("sep_layer_{}", l)); ++l)
    sep.values.push_back({fmt::format("sep_layer_{}", l), fmt::format("layer {}", l + 1), Unit::proportion});
  sep.references = {{"targets.sep", "target", Unit::proportion}};
  sep.range = std::array<double, 2>{0, 1};
  out.push_back(std::move(sep));
  if (!first["syntax_mean_margin"].is_null()) {
    auto margin = over_steps(
        "syntax_margin", "Syntax: the best head against the best fixed-offset baseline",
        "Mean over the dependency relations with enough words of (best single head's accuracy - best fixed offset's "
        "accuracy), as in Clark et al. (2019) Table 1; dashed: the margin a relation must reach to count as beaten.",
        "accuracy difference (head - baseline)");
    margin.values = {{"syntax_mean_margin", "mean over relations", Unit::metric_delta}};
    margin.references = {{"targets.syntax_margin", "margin", Unit::metric_delta}};
    margin.centred = true;
    out.push_back(std::move(margin));
    auto beats = over_steps("syntax_beats", "Relations whose best head beats the baseline by the margin",
                            "Number of dependency relations (with enough words) whose best single head beats the best "
                            "fixed-offset baseline by at least the margin; dashed: 3, issue 16's target.",
                            "relations (count)");
    beats.values = {{"syntax_beats", "relations beaten", Unit::count}};
    beats.references = {{"targets.syntax_relations", "target", Unit::count}};
    out.push_back(std::move(beats));
  }
  auto agreement = over_steps(
      "agreement", "Subject-verb agreement accuracy of the masked LM",
      "Share of Marvin & Linzen minimal pairs whose grammatical verb gets the higher logit at [MASK] (Goldberg 2019's "
      "protocol; docs/methods.md 3.4); dashed: the target and chance.",
      "accuracy (fraction of pairs)");
  for (const auto& task : results.value("agreement", json::object()).value("tasks", json::array()))
    agreement.values.push_back({agreement_key(task.get<std::string>()), task.get<std::string>(), Unit::accuracy});
  agreement.references = {{"targets.agreement", "target", Unit::accuracy}, {"targets.chance", "chance", Unit::accuracy}};
  agreement.range = std::array<double, 2>{0, 1};
  if (!agreement.values.empty()) out.push_back(std::move(agreement));
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::track
