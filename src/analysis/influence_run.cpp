#include "analysis/influence_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>
#include <map>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "analysis/influence_ablation.hpp"
#include "dist/runner.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::influence {

using nlohmann::json;

SourceSpec parse_sources(const std::string& text) {
  SourceSpec s;
  if (text == "all") return s;
  s.all = false;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) fail(ErrorKind::input, "sources \"{}\": an empty item", text);
    if (std::isdigit(static_cast<unsigned char>(item[0]))) {
      std::size_t used = 0;
      long v = -1;
      try {
        v = std::stol(item, &used);
      } catch (const std::exception&) {
      }
      if (used != item.size() || v < 0 || v > 1'000'000)
        fail(ErrorKind::input, "sources: \"{}\" is neither a 0-based position nor a role", item);
      s.positions.push_back(static_cast<std::int32_t>(v));
    } else if (item == "subject" || item == "attractor") {
      s.roles.push_back(item);
    } else {
      fail(ErrorKind::input, "sources: unknown role \"{}\" (all, subject, attractor, or 0-based positions)", item);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return s;
}

namespace {

// The source positions of one example, in increasing order; the target is never a source.
std::vector<std::int32_t> resolve_sources(const SourceSpec& spec, const Task& task, std::size_t example,
                                          std::size_t* missing) {
  const auto& roles = task.roles[example];
  const auto T = static_cast<std::int32_t>(roles.size());
  const auto target = task.instances[example].qoi.target;
  std::vector<std::int32_t> out;
  if (spec.all) {
    for (std::int32_t t = 0; t < T; ++t)
      if (t != target) out.push_back(t);
    return out;
  }
  for (const auto& role : spec.roles) {
    bool found = false;
    for (std::int32_t t = 0; t < T; ++t)
      if (roles[static_cast<std::size_t>(t)] == role) {
        out.push_back(t);
        found = true;
      }
    if (!found) ++*missing;
  }
  for (auto p : spec.positions) {
    if (p >= T)
      fail(ErrorKind::input, "{}: example {} has {} tokens, so source position {} does not exist", task.path, example + 1, T, p);
    if (p == target) fail(ErrorKind::input, "{}: example {}: source position {} is the target", task.path, example + 1, p);
    out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

json pattern_json(const TokenPattern& p, const Task& task, std::size_t example) {
  json layers = json::array(), edges = json::array();
  for (std::size_t b = 0; b < p.choices.size(); ++b) {
    const auto c = p.choices[b];
    json layer = {{"block", b}, {"from", p.positions[b]}, {"to", p.positions[b + 1]}, {"influence", p.stage2[b]}};
    if (c < 0) {
      layer["edge"] = "skip";
      edges.push_back("skip");
    } else {
      layer["edge"] = "head";
      layer["head"] = c;
      layer["label"] = head_label(static_cast<std::int64_t>(b), c);
      edges.push_back(c);
    }
    layers.push_back(std::move(layer));
  }
  return {{"source", p.source},
          {"token", task.tokens[example][static_cast<std::size_t>(p.source)]},
          {"role", role_or_position(task, example, p.source)},
          {"sign", p.sign},
          {"attribution", p.attribution},
          {"total", p.total},
          {"positions", p.positions},
          {"edges", std::move(edges)},
          {"layers", std::move(layers)},
          {"stage1", p.stage1},
          {"stage1_influence", p.stage1_influence},
          {"influence", p.pattern_influence}};
}

json optimality_json(const Optimality& o) {
  return {{"samples", o.samples},
          {"influence", o.influence},
          {"random_mean", o.random_mean},
          {"random_best", o.random_best},
          {"random_max_abs", o.random_max_abs},
          {"percentile", o.percentile},
          {"percentile_abs", o.percentile_abs},
          {"beats_all", o.beats_all},
          {"beats_all_abs", o.beats_all_abs}};
}

json accuracy_json(const Accuracy& a) {
  return {{"n", a.n}, {"correct", a.correct}, {"accuracy", a.accuracy}, {"mean_qoi", a.mean_qoi}};
}

double elapsed_seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One example's result as bytes (CBOR; doubles and floats round-trip exactly), to travel between
// the processes of a run and to sit in its checkpoint folder.
json token_pattern_json(const TokenPattern& p) {
  return {{"source", p.source},       {"sign", p.sign},        {"attribution", p.attribution},
          {"total", p.total},         {"positions", p.positions}, {"stage1", p.stage1},
          {"choices", p.choices},     {"stage2", p.stage2},    {"pattern_influence", p.pattern_influence},
          {"stage1_influence", p.stage1_influence}};
}

std::string encode_result(const ExampleResult& r) {
  json patterns = json::array(), optimality = json::array();
  for (const auto& p : r.patterns) patterns.push_back(token_pattern_json(p));
  for (const auto& o : r.optimality) {
    auto oj = optimality_json(o);  // the document's fields, and the random draws it leaves out
    oj["random"] = o.random;
    optimality.push_back(std::move(oj));
  }
  const json j = {{"qoi", r.qoi},
                  {"qoi_baseline", r.qoi_baseline},
                  {"attributions", r.attributions},
                  {"layer_attributions", r.layer_attributions},
                  {"patterns", std::move(patterns)},
                  {"verified", r.verified},
                  {"optimality", std::move(optimality)},
                  {"seconds", {r.seconds_integral, r.seconds_patterns, r.seconds_optimality}},
                  {"algorithm", algorithm_name(r.algorithm)}};
  const auto bytes = json::to_cbor(j);
  return {bytes.begin(), bytes.end()};
}

ExampleResult decode_result(const std::string& bytes) {
  try {
    const auto j = json::from_cbor(bytes);
    ExampleResult r;
    r.qoi = j.at("qoi").get<double>();
    r.qoi_baseline = j.at("qoi_baseline").get<double>();
    r.attributions = j.at("attributions").get<std::vector<double>>();
    r.layer_attributions = j.at("layer_attributions").get<std::vector<std::vector<double>>>();
    for (const auto& pj : j.at("patterns")) {
      TokenPattern p;
      p.source = pj.at("source").get<std::int32_t>();
      p.sign = pj.at("sign").get<int>();
      p.attribution = pj.at("attribution").get<double>();
      p.total = pj.at("total").get<double>();
      p.positions = pj.at("positions").get<std::vector<std::int32_t>>();
      p.stage1 = pj.at("stage1").get<std::vector<double>>();
      p.choices = pj.at("choices").get<std::vector<std::int32_t>>();
      p.stage2 = pj.at("stage2").get<std::vector<double>>();
      p.pattern_influence = pj.at("pattern_influence").get<double>();
      p.stage1_influence = pj.at("stage1_influence").get<double>();
      r.patterns.push_back(std::move(p));
    }
    r.verified = j.at("verified").get<std::vector<double>>();
    for (const auto& oj : j.at("optimality")) {
      Optimality o;
      o.samples = oj.at("samples").get<std::size_t>();
      o.influence = oj.at("influence").get<double>();
      o.random = oj.at("random").get<std::vector<double>>();
      o.random_mean = oj.at("random_mean").get<double>();
      o.random_best = oj.at("random_best").get<double>();
      o.random_max_abs = oj.at("random_max_abs").get<double>();
      o.percentile = oj.at("percentile").get<double>();
      o.percentile_abs = oj.at("percentile_abs").get<double>();
      o.beats_all = oj.at("beats_all").get<bool>();
      o.beats_all_abs = oj.at("beats_all_abs").get<bool>();
      r.optimality.push_back(std::move(o));
    }
    const auto& s = j.at("seconds");
    r.seconds_integral = s.at(0).get<double>();
    r.seconds_patterns = s.at(1).get<double>();
    r.seconds_optimality = s.at(2).get<double>();
    r.algorithm = parse_algorithm(j.at("algorithm").get<std::string>());
    return r;
  } catch (const json::exception& e) {
    fail(ErrorKind::format, "a stored influence result is damaged ({}); remove the run's checkpoint folder", e.what());
  }
}

// Ablation of one task: per method, the QoI of every example that has patterns.
struct AblationRun {
  std::vector<std::size_t> examples;            // indices into the task's instances
  std::map<std::string, std::vector<double>> qoi;  // method -> per example (in `examples` order)
  std::map<std::string, double> nodes;           // method -> mean kept nodes per example
};

const std::vector<std::string> kMethods = {"influence",      "greedy_attention", "beam_attention", "max_product_attention",
                                           "attention_flow", "rollout",          "layer_integrated_gradients"};

AblationRun run_ablation(const model::Model& model, const Task& task, const std::vector<ExampleResult>& results,
                         const RunOptions& args) {
  AblationRun run;
  std::vector<Instance> instances;
  std::vector<std::vector<const TokenPattern*>> chosen;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].patterns.empty()) continue;
    std::vector<const TokenPattern*> ps;
    for (const auto& p : results[i].patterns) ps.push_back(&p);
    // The source tokens with the largest |attribution| (ties: the earlier token).
    std::stable_sort(ps.begin(), ps.end(), [](const auto* a, const auto* b) { return std::abs(a->attribution) > std::abs(b->attribution); });
    ps.resize(std::min(ps.size(), args.ablation_tokens));
    run.examples.push_back(i);
    instances.push_back(task.instances[i]);
    chosen.push_back(std::move(ps));
  }
  if (instances.empty()) return run;
  const auto direction = parse_attention_direction(args.attention_direction);
  auto atts = attentions_of(model, instances, args.batch_size);
  for (auto& a : atts) a = oriented_attentions(a, direction);
  AblationOptions ao;
  ao.replacement = parse_replacement(args.replacement);
  ao.baseline = parse_baseline(args.baseline);
  ao.batch_size = args.batch_size;
  const auto L = model.layers(), H = model.heads();
  for (const auto& method : kMethods) {
    std::vector<Pattern> kept;
    double nodes = 0;
    for (std::size_t k = 0; k < instances.size(); ++k) {
      const auto T = static_cast<std::int64_t>(instances[k].ids.size());
      auto set = empty_node_set(L, T, H);
      if (method == "layer_integrated_gradients") {
        // The stand-in: one path per chosen source token, its positions by layer attribution.
        const auto& r = results[run.examples[k]];
        double delta = 0;  // F(x) - F(b) up to the quadrature error
        for (double a : r.attributions) delta += a;
        std::vector<std::int32_t> sources;
        for (const auto* p : chosen[k]) sources.push_back(p->source);
        for (const auto& path : layer_attribution_paths(r.layer_attributions, delta < 0 ? -1 : 1, sources,
                                                        instances[k].qoi.target, atts[k]))
          add_path(set, path);
      } else {
        for (const auto* p : chosen[k]) {
          if (method == "influence") {
            add_path(set, path_of(*p));
          } else {
            const auto kind = method == "greedy_attention"        ? AttentionPath::greedy
                              : method == "beam_attention"        ? AttentionPath::beam
                              : method == "max_product_attention" ? AttentionPath::max_product
                              : method == "attention_flow"        ? AttentionPath::flow
                                                                  : AttentionPath::rollout;
            add_path(set, attention_path(kind, atts[k], p->source, instances[k].qoi.target, args.residual));
          }
        }
      }
      nodes += static_cast<double>(node_count(set));
      kept.push_back(std::move(set));
    }
    run.nodes[method] = nodes / static_cast<double>(instances.size());
    run.qoi[method] = ablated_qoi(model, instances, kept, ao);
  }
  return run;
}

json ablation_json(const AblationRun& run, const std::vector<ExampleResult>& results, const RunOptions& args, std::string& table) {
  json out = {{"examples", run.examples.size()},
              {"tokens_per_example", args.ablation_tokens},
              {"replacement", args.replacement},
              {"methods", json::object()}};
  if (run.examples.empty()) return out;
  const double n = static_cast<double>(run.examples.size());
  std::size_t full_correct = 0;
  double full_qoi = 0;
  for (auto i : run.examples) {
    full_correct += results[i].qoi > 0;
    full_qoi += results[i].qoi;
  }
  const double full_acc = static_cast<double>(full_correct) / n;
  full_qoi /= n;
  out["full"] = {{"accuracy", full_acc}, {"mean_qoi", full_qoi}};
  table += fmt::format("  ablation ({} examples, top {} source tokens each, others replaced by {}):\n", run.examples.size(),
                       args.ablation_tokens, args.replacement);
  table += fmt::format("    {:<26} {:>7} {:>9} {:>10} {:>10} {:>9}\n", "kept paths", "nodes", "accuracy", "mean QoI",
                       "QoI kept", "same sign");
  table += fmt::format("    {:<26} {:>7} {:>9.3f} {:>10.4f} {:>10} {:>9}\n", "(full model)", "all", full_acc, full_qoi, "1", "1");
  for (const auto& method : kMethods) {
    const auto& q = run.qoi.at(method);
    std::size_t correct = 0, same = 0;
    double mean = 0;
    for (std::size_t k = 0; k < q.size(); ++k) {
      correct += q[k] > 0;
      same += (q[k] > 0) == (results[run.examples[k]].qoi > 0);
      mean += q[k];
    }
    mean /= n;
    const double acc = static_cast<double>(correct) / n;
    json m = {{"nodes_per_example", run.nodes.at(method)},
              {"accuracy", acc},
              {"mean_qoi", mean},
              {"sign_agreement", static_cast<double>(same) / n},
              {"accuracy_retained", full_acc > 0 ? json(acc / full_acc) : json(nullptr)},
              {"qoi_retained", full_qoi != 0 ? json(mean / full_qoi) : json(nullptr)}};
    table += fmt::format("    {:<26} {:>7.1f} {:>9.3f} {:>10.4f} {:>10} {:>9.3f}\n", method, run.nodes.at(method), acc, mean,
                         full_qoi != 0 ? fmt::format("{:.3f}", mean / full_qoi) : std::string("-"),
                         static_cast<double>(same) / n);
    out["methods"][method] = std::move(m);
  }
  return out;
}

json skip_share_json(const SkipShare& s) { return {{"patterns", s.patterns}, {"per_layer", s.per_layer}, {"overall", s.overall}}; }

json edge_counts_json(const std::vector<std::vector<EdgeCount>>& blocks) {
  json out = json::array();
  for (const auto& block : blocks) {
    json edges = json::array();
    for (const auto& e : block) {
      json j = {{"from", e.from}, {"to", e.to}, {"edge", e.skip ? "skip" : "head"}, {"count", e.count}, {"signed_count", e.signed_count}};
      if (!e.skip) {
        j["modal_head"] = e.modal_head;
        j["modal_head_share"] = e.modal_head_share;
      }
      edges.push_back(std::move(j));
    }
    out.push_back(std::move(edges));
  }
  return out;
}

json nan_as_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json consistency_json(const Consistency& c) {
  json edges = json::array();
  for (auto e : c.choices) edges.push_back(e < 0 ? json("skip") : json(e));
  return {{"instances", c.instances}, {"distinct", c.distinct}, {"modal_share", c.modal_share},
          {"modal_positions", c.positions}, {"modal_edges", std::move(edges)}};
}

// A task's name as a key of the figures' records: dots would split a field path.
std::string task_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// What the figures read (results.summary): per task with examples its accuracy and skip share;
// per block the skip share of each task's patterns; per ablation method the share of the QoI
// each task keeps when only that method's nodes stay.
// Per task, each source role's modal pattern (the path most instances follow) as a pattern record
// the viewer draws: over the tokens of the task's first example (the selection keeps one length,
// so positions line up across its examples), nodes sized by the share of instances that follow it.
json modal_patterns(const json& tasks, const json& examples) {
  json out = json::array();
  for (const auto& t : tasks) {
    if (!t.contains("consistency") || !t["consistency"].is_object() || t["consistency"].empty()) continue;
    const auto name = t["task"].get<std::string>();
    const auto first = std::find_if(examples.begin(), examples.end(), [&](const json& e) { return e.value("task", "") == name; });
    if (first == examples.end()) continue;
    json patterns = json::array();
    for (const auto& [role, c] : t["consistency"].items()) {
      const auto& pos = c.value("modal_positions", json::array());
      const auto& edges = c.value("modal_edges", json::array());
      if (pos.size() != edges.size() + 1 || pos.empty()) continue;
      const double share = c.value("modal_share", 0.0);
      json layers = json::array();
      for (std::size_t b = 0; b < edges.size(); ++b) {
        json layer = {{"block", b}, {"from", pos[b]}, {"to", pos[b + 1]}, {"influence", share}};
        if (edges[b].is_number()) {
          layer["edge"] = "head";
          layer["head"] = edges[b];
          layer["label"] = head_label(static_cast<std::int64_t>(b), edges[b].get<std::int64_t>());
        } else {
          layer["edge"] = "skip";
        }
        layers.push_back(std::move(layer));
      }
      const auto source = pos[0].get<std::size_t>();
      const auto& tokens = (*first)["tokens"];
      patterns.push_back({{"source", source},
                          {"token", fmt::format("{} ({})", role, source < tokens.size() ? tokens[source].get<std::string>() : "?")},
                          {"attribution", share},
                          {"influence", share},
                          {"instances", c.value("instances", 0)},
                          {"layers", std::move(layers)}});
    }
    if (patterns.empty()) continue;
    out.push_back({{"task", name},
                   {"tokens", (*first)["tokens"]},
                   {"target", (*first)["target"]},
                   {"instances", t.value("examples", 0)},
                   {"patterns", std::move(patterns)}});
  }
  return out;
}

json figure_summary(const json& tasks, std::int64_t layers) {
  json by_task = json::array(), by_block = json::array(), by_method = json::object();
  for (std::int64_t b = 0; b < layers; ++b) by_block.push_back({{"block", b}});
  for (const auto& t : tasks) {
    if (t.value("examples", 0) == 0) continue;
    const auto key = task_key(t["task"].get<std::string>());
    const auto& all = t["skip_share"].value("all", json::object());
    by_task.push_back({{"task", t["task"]},
                       {"examples", t["examples"]},
                       {"accuracy", t["accuracy"]["all"]["accuracy"]},
                       {"skip_share", all.value("overall", json(nullptr))},
                       {"patterns", t["patterns"]}});
    const auto per_layer = all.value("per_layer", json::array());
    for (std::int64_t b = 0; b < layers; ++b)
      by_block[static_cast<std::size_t>(b)][key] = b < static_cast<std::int64_t>(per_layer.size()) ? per_layer[static_cast<std::size_t>(b)] : json(nullptr);
    if (t.contains("ablation") && t["ablation"].is_object() && t["ablation"].contains("methods"))
      for (const auto& [method, m] : t["ablation"]["methods"].items()) {
        auto& row = by_method[method];
        if (row.is_null()) row = {{"method", method}};
        row[key] = m.value("qoi_retained", json(nullptr));
        row["nodes_" + key] = m.value("nodes_per_example", json(nullptr));
      }
  }
  json ablation = json::array();
  for (auto& [method, row] : by_method.items()) {
    // Every task in every row, null where a method did not run on it.
    for (const auto& t : by_task) {
      const auto key = task_key(t["task"].get<std::string>());
      if (!row.contains(key)) row[key] = nullptr;
    }
    ablation.push_back(row);
  }
  return {{"tasks", std::move(by_task)}, {"blocks", std::move(by_block)}, {"ablation", std::move(ablation)}};
}

}  // namespace

RunOutput run_tasks(const model::Model& model, const std::vector<Task>& tasks, const RunOptions& args,
                    const std::function<void()>& advance, dist::Runner* distributed) {
  dist::Runner one;
  auto& runner = distributed ? *distributed : one;
  const auto spec = parse_sources(args.sources);
  const auto& select = args.selection;
  Options options;
  options.integral.steps = args.steps;
  options.integral.baseline = parse_baseline(args.baseline);
  options.integral.max_rows = args.max_rows;
  options.verify = args.verify;
  options.algorithm = parse_algorithm(args.algorithm);
  options.optimality_samples = args.patterns ? args.optimality_samples : 0;
  const bool ablate = args.patterns && args.ablation_tokens > 0;
  if (ablate) parse_replacement(args.replacement);  // fail before the long part

  std::size_t total = 0;
  for (const auto& t : tasks) total += t.instances.size();

  const auto L = model.layers();
  json examples = json::array(), task_docs = json::array(), files = json::array();
  std::string table = fmt::format("influence patterns: {} layers, {} heads; {} steps, {} baseline, sources {}\n", L,
                                  model.heads(), args.steps, args.baseline, args.sources);
  double all_seconds = 0;
  std::size_t all_patterns = 0;
  // Per source role: (task, modal-pattern share, accuracy) of every task that has the role.
  std::map<std::string, std::vector<std::tuple<std::string, double, double>>> consistency_accuracy;
  for (const auto& task : tasks) {
    files.push_back({{"path", task.path}, {"task", task.task}, {"format", task.format}, {"report", task.report}});
    std::vector<ExampleResult> results;
    std::size_t missing = 0;
    const auto task_start = std::chrono::steady_clock::now();
    double seconds_integral = 0, seconds_patterns = 0, seconds_optimality = 0;
    const auto task_seed = mix_seed(args.optimality_seed, static_cast<std::uint64_t>(&task - tasks.data()));
    std::vector<Options> per_example(task.instances.size(), options);
    for (std::size_t i = 0; i < task.instances.size(); ++i) {
      auto& o = per_example[i];
      o.optimality_seed = mix_seed(task_seed, i);
      o.sources = resolve_sources(spec, task, i, &missing);
      o.patterns = args.patterns && (spec.all || !o.sources.empty());
    }
    // Each example depends on itself alone, so the processes of a run (dist::Runner) can take any
    // of them; every process gets every result back and computes the aggregates below itself.
    const auto encoded = runner.map(
        fmt::format("task-{}", &task - tasks.data()), task.instances.size(), {.max_chunk = 1},
        [&](std::size_t i) { return encode_result(analyse(model, task.instances[i], per_example[i])); },
        [&](std::size_t k) {
          for (std::size_t j = 0; j < k && advance; ++j) advance();
        });
    for (const auto& bytes : encoded) {
      results.push_back(decode_result(bytes));
      seconds_integral += results.back().seconds_integral;
      seconds_patterns += results.back().seconds_patterns;
      seconds_optimality += results.back().seconds_optimality;
    }

    // Aggregates: accuracy per form, completeness, skip share and consistency per source role.
    std::vector<double> qoi;
    double max_completeness = 0, sum_completeness = 0;
    std::map<std::string, std::vector<const TokenPattern*>> groups;
    std::size_t patterns = 0;
    std::vector<const Optimality*> optimality;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      qoi.push_back(r.qoi);
      double sum = 0;
      for (double a : r.attributions) sum += a;
      const double delta = r.qoi - r.qoi_baseline;
      const double err = std::abs(sum - delta) / std::max(std::abs(delta), 1e-12);
      max_completeness = std::max(max_completeness, err);
      sum_completeness += err;
      json ex = {{"task", task.task},
                 {"index", i},
                 {"text", task.texts[i]},
                 {"form", task.forms[i]},
                 {"good", task.good[i]},
                 {"bad", task.bad[i]},
                 {"tokens", task.tokens[i]},
                 {"roles", task.roles[i]},
                 {"target", task.instances[i].qoi.target},
                 {"qoi", r.qoi},
                 {"qoi_baseline", r.qoi_baseline},
                 {"attributions", r.attributions},
                 {"attribution_sum", sum},
                 {"completeness_error", err},
                 {"layer_attributions", r.layer_attributions},
                 {"algorithm", algorithm_name(r.algorithm)},
                 {"seconds", {{"integral", r.seconds_integral}, {"patterns", r.seconds_patterns}}}};
      if (!r.optimality.empty()) ex["seconds"]["optimality"] = r.seconds_optimality;
      json ps = json::array();
      for (std::size_t k = 0; k < r.patterns.size(); ++k) {
        auto pj = pattern_json(r.patterns[k], task, i);
        if (!r.verified.empty()) pj["verified_influence"] = r.verified[k];
        if (!r.optimality.empty()) {
          pj["optimality"] = optimality_json(r.optimality[k]);
          optimality.push_back(&r.optimality[k]);
        }
        ps.push_back(std::move(pj));
        groups["all"].push_back(&r.patterns[k]);
        groups[role_or_position(task, i, r.patterns[k].source)].push_back(&r.patterns[k]);
        ++patterns;
      }
      ex["patterns"] = std::move(ps);
      examples.push_back(std::move(ex));
    }
    const auto acc = accuracy_by_form(qoi, task.forms);
    json accuracy = json::object();
    for (const auto& [form, a] : acc) accuracy[form.empty() ? "all" : form] = accuracy_json(a);
    const double n = static_cast<double>(std::max<std::size_t>(results.size(), 1));
    table += fmt::format("\n{} ({}): {} examples", task.task, task.path, results.size());
    if (!results.empty()) {
      const auto& all = acc.at("");
      table += fmt::format(", accuracy {:.3f}, mean QoI {:.4f}, completeness error mean {:.4f} max {:.4f}\n", all.accuracy,
                           all.mean_qoi, sum_completeness / n, max_completeness);
      for (const auto& [form, a] : acc)
        if (!form.empty()) table += fmt::format("  form {:<3} {:>5} examples, accuracy {:.3f}, mean QoI {:.4f}\n", form, a.n, a.accuracy, a.mean_qoi);
    } else {
      table += "\n";
    }
    json skip = json::object(), consist = json::object();
    for (const auto& [group, ps] : groups) {
      const auto s = skip_share(ps, L);
      skip[group] = skip_share_json(s);
      std::string per_layer;
      for (double v : s.per_layer) per_layer += fmt::format(" {:.2f}", v);
      // Consistency compares instances of one source role; across roles it means nothing.
      std::string modal;
      if (group != "all") {
        const auto c = consistency(ps);
        consist[group] = consistency_json(c);
        consist[group]["edges"] = edge_counts_json(edge_counts(ps, L));
        if (!results.empty()) consistency_accuracy[group].emplace_back(task.task, c.modal_share, acc.at("").accuracy);
        modal = fmt::format(", modal pattern share {:.3f} ({} distinct)", c.modal_share, c.distinct);
      }
      if (group == "all" || group == "subject" || group == "attractor" || groups.size() <= 4)
        table += fmt::format("  {:<10} {:>5} patterns: skip share {:.3f} (per block{}){}\n", group, s.patterns, s.overall,
                             per_layer, modal);
    }
    json ablation;
    if (ablate) {
      const auto run = run_ablation(model, task, results, args);
      ablation = ablation_json(run, results, args, table);
      for (std::size_t k = 0; k < run.examples.size(); ++k) {
        json per = json::object();
        for (const auto& [method, q] : run.qoi) per[method] = q[k];
        examples[examples.size() - results.size() + run.examples[k]]["ablation"] = std::move(per);
      }
    }
    json optimality_summary;
    if (!optimality.empty()) {
      const double count = static_cast<double>(optimality.size());
      double percentile = 0, percentile_abs = 0, influence = 0, random = 0;
      std::size_t beats = 0, beats_abs = 0;
      for (const auto* o : optimality) {
        percentile += o->percentile;
        percentile_abs += o->percentile_abs;
        influence += o->influence;
        random += o->random_mean;
        beats += o->beats_all;
        beats_abs += o->beats_all_abs;
      }
      percentile /= count;
      percentile_abs /= count;
      influence /= count;
      random /= count;
      optimality_summary = {{"samples", args.optimality_samples},
                            {"patterns", optimality.size()},
                            {"mean_percentile", percentile},
                            {"mean_percentile_abs", percentile_abs},
                            {"beats_all", static_cast<double>(beats) / count},
                            {"beats_all_abs", static_cast<double>(beats_abs) / count},
                            {"mean_influence", influence},
                            {"mean_random_influence", random}};
      table += fmt::format("  optimality ({} random patterns per pattern): mean percentile {:.3f} by s*I, {:.3f} by |I|; "
                           "no random pattern beats {} of {} patterns ({:.3f}; by |I| {:.3f})\n",
                           args.optimality_samples, percentile, percentile_abs, beats, optimality.size(),
                           static_cast<double>(beats) / count, static_cast<double>(beats_abs) / count);
    }
    const double seconds = elapsed_seconds(task_start);
    all_seconds += seconds_integral + seconds_patterns;
    all_patterns += patterns;
    task_docs.push_back({{"task", task.task},
                         {"path", task.path},
                         {"examples", results.size()},
                         {"accuracy", std::move(accuracy)},
                         {"completeness_error", {{"mean", sum_completeness / n}, {"max", max_completeness}}},
                         {"sources_missing", missing},
                         {"patterns", patterns},
                         {"skip_share", std::move(skip)},
                         {"consistency", std::move(consist)},
                         {"ablation", std::move(ablation)},
                         {"seconds",
                          {{"total", seconds},
                           {"integral", seconds_integral},
                           {"patterns", seconds_patterns},
                           {"optimality", seconds_optimality},
                           {"per_example", results.empty() ? 0.0 : (seconds_integral + seconds_patterns) / n},
                           {"per_source_token", patterns ? seconds_patterns / static_cast<double>(patterns) : 0.0}}}});
    if (!optimality_summary.is_null()) task_docs.back()["optimality"] = std::move(optimality_summary);
    if (missing) table += fmt::format("  {} requested source roles were not found in an example (no pattern)\n", missing);
  }
  ResultDocument doc;
  doc.method = "influence";
  doc.model = {{"path", model.dir().string()}, {"layers", L}, {"heads", model.heads()}};
  doc.data = {{"files", std::move(files)}, {"examples", total}};
  doc.params = {
      {"steps", args.steps},
      {"alpha_points", "k/steps for k = 0..steps, equal weights (both ends included, as Lu et al.'s code)"},
      {"baseline", args.baseline},
      {"baseline_definition", "every position's word embedding replaced (position and token-type embeddings kept)"},
      {"qoi", "logit(good) - logit(bad): MLM logits at [MASK], or class logits of a sequence classifier"},
      {"sources", args.sources},
      {"patterns", args.patterns},
      {"stage1", "one position per layer, sign of the token's total influence, ties to the lower position"},
      {"stage2", "per block the best head at the chosen query or the skip connection (signed comparison)"},
      {"selection",
       {{"length", select.length}, {"single_pieces", select.single_pieces}, {"per_form", select.per_form},
        {"max_examples", select.limit}, {"seed", select.seed}, {"shuffle", select.shuffle}}},
      {"max_rows", args.max_rows},
      {"verify", args.verify},
      {"algorithm", args.algorithm},
      {"algorithm_definition",
       "sweep: one forward-mode pass per stage and source token that restricts its tangent as it decides, plus one "
       "backward pass per stage (stage 1's shared); per-layer: a forward-mode pass per layer and stage (the "
       "reference). Each example records what ran: per-layer when its alpha points needed several tapes (max_rows)"},
      {"consistency", "share of a group's patterns equal to its modal pattern (positions and the edge of every block)"},
      {"consistency_edges",
       "Lu et al.'s aggregate: per block every edge (from, to, head or skip) with its count, its count signed by each "
       "pattern's sign, and for head edges the modal head and its share"},
      {"consistency_vs_accuracy",
       "per source role present in at least 2 tasks: Pearson r of the tasks' modal shares and accuracies, 95% CI by "
       "Fisher's z (null below 4 tasks)"},
      {"head_indexing", "heads and blocks 0-based; labels 1-based layer-head"}};
  if (ablate)
    doc.params["ablation"] = {
        {"tokens_per_example", args.ablation_tokens},
        {"token_choice", "the analysed source tokens with the largest |attribution|"},
        {"replacement", args.replacement},
        {"kept", "the union of the paths' nodes: block outputs h_l[p_l], the chosen head context or skip input per block"},
        {"attention_residual", args.residual},
        {"attention_direction", args.attention_direction},
        {"attention_direction_definition",
         "key-to-query (information flow): edge k at h_b -> q at h_b+1 weighs A[b][q, k]; query-to-key (Lu et al.'s "
         "attention_path.py): it weighs A[b][k, q]"},
        {"methods",
         {{"influence", "Guided Pattern Refinement patterns"},
          {"greedy_attention", "from the source, the strongest single-head edge per block; last block to the target"},
          {"beam_attention", "greedy's score (strongest single-head edge per block, summed) by beam search of width 10"},
          {"attention_flow", "per layer the node carrying the most of the max flow h_0[source] -> h_L[target] on Â"},
          {"max_product_attention", "max over paths source -> target of prod_b Â_b[p_b+1, p_b], Â residual-augmented head-averaged"},
          {"rollout", "p_b+1 = argmax_q rollout R_b[q, source]; last block to the target"},
          {"layer_integrated_gradients",
           "a stand-in for the paper's layer-based baselines (not in Lu et al.'s code, methods.md 3.8): per layer "
           "1..L-1 the k positions with the largest s * layer integrated-gradients attribution of h_l (Captum's "
           "LayerIntegratedGradients, same baseline and alpha grid; s the sign of F(x) - F(b)), k = the example's "
           "chosen source tokens; layer 0 those tokens, layer L the target; k paths that stay where they can"},
          {"edges", "attention paths and the layer stand-in: skip where the position stays (not greedy, not beam), else "
                    "the head with the largest weight"}}}};
  if (options.optimality_samples > 0)
    doc.params["optimality"] = {
        {"samples", args.optimality_samples},
        {"seed", args.optimality_seed},
        {"definition",
         "Lu et al.'s get_reverse_influence_optimality_test: per refined pattern, random path patterns from its source "
         "(p_1..p_L-1 uniform over the positions, p_L the target, per block a uniform head, or head or skip where the "
         "position stays), each pattern's influence by the restricted reverse-mode derivative averaged over the alpha "
         "grid (the refined one's too); percentile = share of random patterns not exceeding it by s * I (s the token's "
         "sign) and by |I|"},
        {"seeds", "splitmix64; example i of task t draws from mix(mix(seed, t), i), source token p from mix(that, p)"}};
  // Lu et al.'s claim that consistency tracks performance: across the tasks of this run, per
  // source role, the correlation of the modal-pattern share with the task's accuracy.
  json cva = json::object();
  for (const auto& [role, rows] : consistency_accuracy) {
    if (rows.size() < 2) continue;
    std::vector<double> x, y;
    json tasks_j = json::array();
    for (const auto& [name, share, accuracy] : rows) {
      x.push_back(share);
      y.push_back(accuracy);
      tasks_j.push_back({{"task", name}, {"modal_share", share}, {"accuracy", accuracy}});
    }
    const auto c = pearson(x, y);
    cva[role] = {{"tasks", std::move(tasks_j)}, {"n", c.n}, {"pearson_r", nan_as_null(c.r)},
                 {"ci95", {nan_as_null(c.low), nan_as_null(c.high)}}};
    table += fmt::format("consistency vs accuracy ({}): r = {:.3f} over {} tasks\n", role, c.r, c.n);
  }
  auto summary = figure_summary(task_docs, model.layers());
  summary["modal"] = modal_patterns(task_docs, examples);
  doc.results = {{"tasks", std::move(task_docs)},
                 {"summary", std::move(summary)},
                 {"consistency_vs_accuracy", std::move(cva)},
                 {"examples", std::move(examples)},
                 {"seconds", {{"analysis", all_seconds},
                              {"per_example", total ? all_seconds / static_cast<double>(total) : 0.0},
                              {"patterns", all_patterns}}}};
  return {std::move(doc), std::move(table)};
}


// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<Figure> figures(const nlohmann::json& results) {
  std::vector<Figure> out;
  // Each example's patterns, when any example has them (not with --no-patterns).
  const auto& examples = results.value("examples", json::array());
  if (std::any_of(examples.begin(), examples.end(), [](const json& e) { return !e.value("patterns", json::array()).empty(); }))
    out.push_back(
        {.id = "influence.patterns",
         .kind = "pattern",
         .title = "Influence patterns of one example",
         .caption = "Lu et al. (2021), Fig. 1 and 3: for each source token the path of Guided Pattern Refinement from its "
                    "embedding (layer 0) to the target at the top, one position per layer; per block the edge goes through "
                    "the skip connection (dashed) or through one attention head (solid, labelled layer-head, 1-based). "
                    "Node size: |influence| of the pattern refined up to that layer; colour: its sign (red raises the "
                    "quantity of interest, logit(good) - logit(bad) at the target, blue lowers it). The picker names the "
                    "sentence, the target's good and bad words (or classes) and the QoI; choose one source token or all.",
         .rows = "examples",
         .values = {{"influence", "pattern influence", Unit::influence}},
         .axis = "influence (logit units)",
         .centred = true,
         .options = {{"tokens", "tokens"},
                     {"patterns", "patterns"},
                     {"target", "target"},
                     {"name",
                      {{{"path", "text"}},
                       {{"prefix", " | good "}, {"path", "good"}},
                       {{"prefix", ", bad "}, {"path", "bad"}},
                       {{"prefix", " | QoI "}, {"path", "qoi"}, {"format", "number"}}}}}});
  if (!results.contains("summary") || results["summary"]["tasks"].empty()) return out;
  const auto& summary = results["summary"];
  if (!summary.value("modal", json::array()).empty())
    out.push_back({.id = "influence.modal",
                   .kind = "pattern",
                   .title = "The modal pattern of each source role, per task",
                   .caption = "For each task and each source role (the subject, the attractor, ...), the pattern most of the "
                              "task's instances follow, drawn over the tokens of the task's first example; node area: the share "
                              "of instances that follow it exactly (Lu et al. (2021), Fig. 4 and section 5's consistency; "
                              "docs/methods.md 3.5 and 3.8). A share near 1 means the model routes that role alike everywhere.",
                   .rows = "summary.modal",
                   .values = {{"influence", "share of instances", Unit::fraction}},
                   .axis = "share of instances following the modal pattern (fraction)",
                   .options = {{"tokens", "tokens"},
                               {"patterns", "patterns"},
                               {"target", "target"},
                               {"key", "dashed: skip; solid: a head (layer-head); node area: share of instances following the pattern"},
                               {"name", {{{"path", "task"}}, {{"prefix", ": "}, {"path", "instances"}, {"suffix", " instances"}}}}}});
  auto percent = [](const char* path, const char* label, Unit unit) { return FigureField{path, label, unit, "percent"}; };
  out.push_back({.id = "influence.tasks",
                 .kind = "table",
                 .title = "Influence patterns per task: accuracy and skip share",
                 .caption = "For each task with examples: the model's accuracy (the QoI's sign), and the share of the patterns' "
                            "block edges that take the skip connection rather than a head. Lu et al. (2021), Tables 1-2 and Fig. "
                            "4 (docs/methods.md 3): in BERT-base most blocks of the subject-verb agreement patterns skip.",
                 .rows = "summary.tasks",
                 .values = {FigureField{"task", "task", Unit::label}, FigureField{"examples", "examples", Unit::count},
                            percent("accuracy", "accuracy %", Unit::accuracy), percent("skip_share", "skip share %", Unit::fraction),
                            FigureField{"patterns", "patterns", Unit::count}},
                 .axis = "percent"});
  Figure blocks{.id = "influence.skip_by_block",
                .kind = "lines",
                .title = "Share of patterns that take the skip connection, per block",
                .caption = "At each block, the fraction of the task's influence patterns whose edge is the skip connection (the "
                           "rest go through one head). Lu et al. (2021), Fig. 4: compare the layers where the patterns leave "
                           "the residual stream.",
                .rows = "summary.blocks",
                .x = FigureField{"block", "block", Unit::index},
                .x_axis = "block (layer)",
                .axis = "share of patterns (fraction)",
                .range = std::array<double, 2>{0, 1}};
  Figure ablation{.id = "influence.ablation",
                  .kind = "bars",
                  .title = "QoI retained when only a method's nodes are kept",
                  .caption = "Per method, the mean quantity of interest (the good minus the bad word's logit) with every node "
                             "off the method's paths ablated, as a fraction of the full model's; beside each method its node "
                             "budget, the mean number of nodes kept per example (ablation.methods.*.nodes_per_example). Lu et "
                             "al. (2021), Table 3: influence patterns keep more of the QoI than attention-based paths of the "
                             "same size.",
                  .rows = "summary.ablation",
                  .x = FigureField{"method", "method", Unit::label},
                  .x_axis = "method",
                  .axis = "QoI retained (fraction of the full model's)",
                  .centred = true,
                  // Each bar's label names its node budget: the row's "nodes_<task key>".
                  .options = {{"note", {{"path", "nodes_{value}"}, {"suffix", " nodes"}}}}};
  for (const auto& t : summary["tasks"]) {
    const auto name = t["task"].get<std::string>();
    blocks.values.push_back({task_key(name), name, Unit::fraction});
    ablation.values.push_back({task_key(name), name, Unit::fraction});
  }
  out.push_back(std::move(blocks));
  if (!summary["ablation"].empty()) out.push_back(std::move(ablation));
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::influence
