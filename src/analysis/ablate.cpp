#include "analysis/ablate.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::ablate {

namespace {

core::Tensor logits_of(const std::vector<model::ForwardResult>& results, std::int64_t labels) {
  core::Tensor out({static_cast<std::int64_t>(results.size()), labels});
  for (std::size_t b = 0; b < results.size(); ++b)
    std::memcpy(out.ptr() + static_cast<std::int64_t>(b) * labels, results[b].classifier_logits.ptr(),
                static_cast<std::size_t>(labels) * sizeof(float));
  return out;
}

// The hidden states entering layer l, as the intact pass recorded them.
const core::Tensor& layer_input(const model::Trace& trace, std::int64_t l) {
  const auto* t = l == 0 ? trace.find(model::Site::embed_out) : trace.find(model::Site::layer_out, l - 1);
  if (!t) fail(ErrorKind::internal, "ablate: the intact pass did not record the input of layer {}", l);
  return *t;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::string_view mode_name(Mode mode) { return mode == Mode::uniform ? "uniform" : "zero"; }

Mode parse_mode(std::string_view name) {
  if (name == "uniform") return Mode::uniform;
  if (name == "zero") return Mode::zero;
  fail(ErrorKind::input, "unknown disabling mode \"{}\"; expected uniform or zero", name);
}

void disable_heads(model::RunOptions& opt, std::span<const Head> heads, Mode mode, const model::ModelConfig& c) {
  for (const auto& [l, h] : heads) {
    if (l < 0 || l >= c.num_hidden_layers || h < 0 || h >= c.num_attention_heads)
      fail(ErrorKind::input, "head ({}, {}) is outside the model's {} layers x {} heads", l, h, c.num_hidden_layers,
           c.num_attention_heads);
    if (mode == Mode::uniform) {
      opt.uniform_heads.insert({l, h});
    } else {
      if (opt.head_mask.data.empty()) opt.head_mask = core::Tensor({c.num_hidden_layers, c.num_attention_heads}, 1.0f);
      opt.head_mask.data[static_cast<std::size_t>(l * c.num_attention_heads + h)] = 0.0f;
    }
  }
}

void check_classifier(const model::Model& m) {
  const auto& c = m.config();
  if (c.head_kind() != model::HeadKind::sequence_classification || !m.params().has_classifier() ||
      !m.params().has_pooler())
    fail(ErrorKind::model,
         "{}: not a sequence classifier (architectures {}, classifier head {}, pooler {}); ablate evaluates a "
         "fine-tuned BertForSequenceClassification",
         m.dir().string(), c.architectures.empty() ? std::string("none") : c.architectures.front(),
         m.params().has_classifier() ? "present" : "missing", m.params().has_pooler() ? "present" : "missing");
}

SweepOutputs sweep(const model::Model& m, std::span<const model::ModelInput> batch, const SweepOptions& opt, Cost* cost) {
  check_classifier(m);
  const auto& c = m.config();
  const auto L = c.num_hidden_layers, H = c.num_attention_heads, K = c.num_labels;
  const auto n = static_cast<std::int64_t>(batch.size());
  SweepOutputs out;
  std::int64_t evaluations = 0, configurations = 0;

  model::RunOptions base;
  base.classifier_logits = true;
  base.record = model::SiteSet(L);
  if (opt.reuse) {
    base.record.add(model::Site::embed_out);
    for (std::int64_t l = 0; l + 1 < L; ++l) base.record.add(model::Site::layer_out, l);
  }
  const auto intact = m.forward(batch, base);
  out.baseline = logits_of(intact, K);
  evaluations += L;
  ++configurations;

  // Inputs that start at layer l from the intact pass's hidden states, built once per layer
  // and shared by every configuration of that layer.
  std::vector<model::ModelInput> from_layer;
  std::int64_t prepared = -1;
  auto run_from = [&](std::int64_t start, std::span<const Head> heads) {
    model::RunOptions run;
    run.classifier_logits = true;
    disable_heads(run, heads, opt.mode, c);
    ++configurations;
    if (!opt.reuse) {
      evaluations += L;
      return logits_of(m.forward(batch, run), K);
    }
    if (prepared != start) {
      from_layer.assign(batch.begin(), batch.end());
      for (std::int64_t b = 0; b < n; ++b) from_layer[static_cast<std::size_t>(b)].start_hidden = layer_input(intact[static_cast<std::size_t>(b)].trace, start);
      prepared = start;
    }
    run.start_layer = start;
    evaluations += L - start;
    return logits_of(m.forward(from_layer, run), K);
  };

  for (std::int64_t l = 0; l < L; ++l) {
    if (opt.heads)
      for (std::int64_t h = 0; h < H; ++h) {
        const Head head{l, h};
        out.heads.push_back(run_from(l, std::span(&head, 1)));
      }
    if (opt.layers) {
      std::vector<Head> all;
      for (std::int64_t h = 0; h < H; ++h) all.emplace_back(l, h);
      out.layers.push_back(run_from(l, all));
    }
  }
  for (const auto& set : opt.head_sets) {
    if (set.empty()) fail(ErrorKind::input, "ablate: an empty set of heads to disable");
    std::int64_t first = L;
    for (const auto& hd : set) first = std::min(first, hd.first);
    out.sets.push_back(run_from(std::clamp<std::int64_t>(first, 0, L - 1), set));
  }
  if (cost) {
    cost->layer_evaluations += evaluations * n;
    cost->full_pass_evaluations += configurations * L * n;
  }
  return out;
}

Result run(const model::Model& m, const TaskData& data, const Options& opt) {
  check_classifier(m);
  const auto& c = m.config();
  const auto L = c.num_hidden_layers, H = c.num_attention_heads, K = c.num_labels;
  const auto labels = bind_labels(data, K, c.id2label);
  const auto source = data.source.string();

  // Tokenize everything first: a bad line stops the job before any compute.
  const auto& tok = m.tokenizer();
  const model::EncodeOptions enc_opt{m.max_length(), opt.truncate};
  std::vector<model::ModelInput> inputs;
  inputs.reserve(data.examples.size());
  for (const auto& e : data.examples) {
    try {
      const auto enc = tok.encode(e.text, e.pair ? std::optional<std::string_view>(*e.pair) : std::nullopt, enc_opt);
      inputs.push_back(model::ModelInput::from_encoding(enc));
    } catch (const Error& err) {
      throw Error(err.kind(), fmt::format("{}:{}: {}", source, e.line, err.what()));
    }
  }

  Result r;
  r.layers = L;
  r.heads = H;
  r.examples = inputs.size();
  r.mode = opt.mode;
  r.primary = std::string(metric_name(data.spec.metric));
  SweepOptions so;
  so.mode = opt.mode;
  so.layers = opt.layers;
  so.reuse = opt.reuse;
  if (opt.random_draws > 0) {
    if (opt.random_size < 1 || opt.random_size > L * H)
      fail(ErrorKind::input, "random head sets of {} heads: the model has {} heads", opt.random_size, L * H);
    // A fixed generator and a portable draw (no std distributions), so a seed means the same
    // sets everywhere.
    std::mt19937_64 rng(opt.seed);
    for (std::size_t d = 0; d < opt.random_draws; ++d) {
      std::vector<std::int64_t> pool(static_cast<std::size_t>(L * H));
      std::iota(pool.begin(), pool.end(), 0);
      std::vector<Head> set;
      for (std::int64_t k = 0; k < opt.random_size; ++k) {
        const auto remaining = static_cast<std::uint64_t>(pool.size()) - static_cast<std::uint64_t>(k);
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % remaining;
        std::uint64_t x;
        do x = rng();
        while (x >= limit);
        std::swap(pool[static_cast<std::size_t>(k)], pool[static_cast<std::size_t>(k + static_cast<std::int64_t>(x % remaining))]);
        set.emplace_back(pool[static_cast<std::size_t>(k)] / H, pool[static_cast<std::size_t>(k)] % H);
      }
      std::sort(set.begin(), set.end());
      so.head_sets.push_back(set);
    }
    r.random_sets = so.head_sets;
  }

  const auto configs = 1 + static_cast<std::size_t>(L * H) + (opt.layers ? static_cast<std::size_t>(L) : 0) + so.head_sets.size();
  std::vector<std::vector<float>> outputs(configs, std::vector<float>(inputs.size() * static_cast<std::size_t>(K)));
  // Length-sorted batches: similar lengths share batched attention products in the encoder.
  std::vector<std::size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return inputs[a].ids.size() < inputs[b].ids.size(); });
  const auto start = std::chrono::steady_clock::now();
  const auto batch_size = std::max<std::size_t>(opt.batch_size, 1);
  const auto batches = (order.size() + batch_size - 1) / batch_size;
  // One item per batch of the length-sorted order, so every process runs exactly the batches a
  // single process runs (dist::Runner): each batch's logits under every configuration, as floats,
  // then its two cost counters.
  const auto row_bytes = static_cast<std::size_t>(K) * sizeof(float);
  dist::Runner one;
  auto& runner = opt.runner ? *opt.runner : one;
  std::size_t done = 0;
  const auto encoded = runner.map(
      "batches", batches, {.max_chunk = 1, .costliest_last = true},
      [&](std::size_t b) {
        const auto first = b * batch_size, last = std::min(order.size(), first + batch_size);
        std::vector<model::ModelInput> batch;
        for (auto i = first; i < last; ++i) batch.push_back(inputs[order[i]]);
        Cost cost;
        const auto o = sweep(m, batch, so, &cost);
        std::string bytes;
        auto put = [&](const core::Tensor& logits) {
          bytes.append(reinterpret_cast<const char*>(logits.ptr()), (last - first) * row_bytes);
        };
        put(o.baseline);
        for (const auto& t : o.heads) put(t);
        for (const auto& t : o.layers) put(t);
        for (const auto& t : o.sets) put(t);
        bytes.append(reinterpret_cast<const char*>(&cost.layer_evaluations), sizeof(std::int64_t));
        bytes.append(reinterpret_cast<const char*>(&cost.full_pass_evaluations), sizeof(std::int64_t));
        return bytes;
      },
      [&](std::size_t k) {
        done = std::min(order.size(), done + k * batch_size);
        if (opt.progress) opt.progress(done, order.size());
      });
  for (std::size_t b = 0; b < batches; ++b) {
    const auto first = b * batch_size, last = std::min(order.size(), first + batch_size);
    const auto& bytes = encoded[b];
    if (bytes.size() != configs * (last - first) * row_bytes + 2 * sizeof(std::int64_t))
      fail(ErrorKind::format, "ablate: the stored results of batch {} have {} bytes, not the {} expected", b, bytes.size(),
           configs * (last - first) * row_bytes + 2 * sizeof(std::int64_t));
    const char* at = bytes.data();
    for (std::size_t config = 0; config < configs; ++config)
      for (auto i = first; i < last; ++i, at += row_bytes)
        std::memcpy(outputs[config].data() + order[i] * static_cast<std::size_t>(K), at, row_bytes);
    std::int64_t counters[2];
    std::memcpy(counters, at, sizeof counters);
    r.cost.layer_evaluations += counters[0];
    r.cost.full_pass_evaluations += counters[1];
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::size_t config = 0;
  r.baseline = score_task(data.spec, labels, outputs[config++], K);
  for (std::int64_t i = 0; i < L * H; ++i) r.head_scores.push_back(score_task(data.spec, labels, outputs[config++], K));
  if (opt.layers)
    for (std::int64_t l = 0; l < L; ++l) r.layer_scores.push_back(score_task(data.spec, labels, outputs[config++], K));
  for (std::size_t s = 0; s < so.head_sets.size(); ++s)
    r.random_scores.push_back(score_task(data.spec, labels, outputs[config++], K));
  return r;
}

nlohmann::json Result::to_json() const {
  auto delta = [&](const TaskScores& s, const std::string& metric) {
    return s.values.at(metric) - baseline.values.at(metric);
  };
  nlohmann::json j;
  nlohmann::json base = nlohmann::json::object();
  for (const auto& [name, v] : baseline.values) base[name] = metric_json(v);
  j["metric"] = primary;
  j["baseline"] = metric_json(baseline.primary);
  j["baseline_metrics"] = base;

  nlohmann::json head_delta = nlohmann::json::array(), head_metric = nlohmann::json::array();
  std::vector<std::pair<double, Head>> improving;
  std::vector<double> deltas;
  for (std::int64_t l = 0; l < layers; ++l) {
    nlohmann::json drow = nlohmann::json::array(), mrow = nlohmann::json::array();
    for (std::int64_t h = 0; h < heads; ++h) {
      const auto& s = head_scores[static_cast<std::size_t>(l * heads + h)];
      const double d = s.primary - baseline.primary;
      drow.push_back(metric_json(d));
      mrow.push_back(metric_json(s.primary));
      deltas.push_back(d);
      if (d > 0) improving.push_back({d, {l, h}});
    }
    head_delta.push_back(drow);
    head_metric.push_back(mrow);
  }
  std::stable_sort(improving.begin(), improving.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  nlohmann::json improving_json = nlohmann::json::array();
  for (const auto& [d, hd] : improving) {
    auto e = head_json(hd.first, hd.second);
    e["delta"] = d;
    improving_json.push_back(e);
  }
  j["head_delta"] = head_delta;
  j["head_metric"] = head_metric;
  j["improving_heads"] = improving_json;

  // Disabling one head drawn uniformly at random: the expectation is the mean over all heads,
  // computed exactly rather than sampled.
  const double n = static_cast<double>(deltas.size());
  const double mean = std::accumulate(deltas.begin(), deltas.end(), 0.0) / n;
  j["random_head"] = {{"mean_delta", mean},
                      {"median_delta", median(deltas)},
                      {"share_improving", static_cast<double>(std::count_if(deltas.begin(), deltas.end(), [](double d) { return d > 0; })) / n},
                      {"share_worsening", static_cast<double>(std::count_if(deltas.begin(), deltas.end(), [](double d) { return d < 0; })) / n},
                      {"min_delta", *std::min_element(deltas.begin(), deltas.end())},
                      {"max_delta", *std::max_element(deltas.begin(), deltas.end())}};

  if (!layer_scores.empty()) {
    nlohmann::json layer_delta = nlohmann::json::array(), layer_metric = nlohmann::json::array(),
                   improving_layers = nlohmann::json::array();
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto& s = layer_scores[static_cast<std::size_t>(l)];
      const double d = s.primary - baseline.primary;
      layer_delta.push_back(metric_json(d));
      layer_metric.push_back(metric_json(s.primary));
      if (d > 0) improving_layers.push_back({{"layer", l}, {"label", l + 1}, {"delta", d}});
    }
    j["layer_delta"] = layer_delta;
    j["layer_metric"] = layer_metric;
    j["improving_layers"] = improving_layers;
  }

  if (!random_sets.empty()) {
    nlohmann::json draws = nlohmann::json::array();
    std::vector<double> set_deltas;
    for (std::size_t s = 0; s < random_sets.size(); ++s) {
      nlohmann::json hs = nlohmann::json::array();
      for (const auto& [l, h] : random_sets[s]) hs.push_back(head_label(l, h));
      const double d = random_scores[s].primary - baseline.primary;
      set_deltas.push_back(d);
      draws.push_back({{"heads", hs}, {"delta", metric_json(d)}});
    }
    const double k = static_cast<double>(set_deltas.size());
    j["random_sets"] = {
        {"size", random_sets.front().size()},
        {"draws", draws},
        {"mean_delta", std::accumulate(set_deltas.begin(), set_deltas.end(), 0.0) / k},
        {"share_improving", static_cast<double>(std::count_if(set_deltas.begin(), set_deltas.end(), [](double d) { return d > 0; })) / k}};
  }

  // Every metric of the task (e.g. MRPC's accuracy beside F1), as deltas.
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, v] : baseline.values) {
    nlohmann::json hd = nlohmann::json::array(), ld = nlohmann::json::array();
    for (std::int64_t l = 0; l < layers; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (std::int64_t h = 0; h < heads; ++h) row.push_back(metric_json(delta(head_scores[static_cast<std::size_t>(l * heads + h)], name)));
      hd.push_back(row);
      if (!layer_scores.empty()) ld.push_back(metric_json(delta(layer_scores[static_cast<std::size_t>(l)], name)));
    }
    metrics[name] = {{"baseline", metric_json(v)}, {"head_delta", hd}};
    if (!layer_scores.empty()) metrics[name]["layer_delta"] = ld;
  }
  j["metrics"] = metrics;
  j["cost"] = {{"layer_evaluations", cost.layer_evaluations},
               {"full_pass_layer_evaluations", cost.full_pass_evaluations},
               {"ratio", cost.ratio()},
               {"seconds", seconds}};
  return j;
}

nlohmann::json params_json(const Options& options, const Result& result) {
  return {{"mode", mode_name(options.mode)},
          {"disabling", options.mode == Mode::uniform ? "uniform attention 1/T over the input's real tokens (Kovaleva et al.)"
                                                      : "head mask 0 on the attention probabilities (Michel et al.)"},
          {"metric", result.primary},
          {"layers", options.layers},
          {"random_draws", options.random_draws},
          {"random_size", options.random_size},
          {"seed", options.seed},
          {"reuse_lower_layers", options.reuse},
          {"truncate", options.truncate},
          {"batch_size", options.batch_size}};
}

}  // namespace bertscope::analysis::ablate

namespace bertscope::analysis::ablate {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Kovaleva et al. Fig. 8-9: the change of the metric when one head, or one layer, is disabled.
std::vector<Figure> figures(const nlohmann::json& results) {
  const auto metric = results.value("metric", std::string("metric"));
  const auto axis = fmt::format("change of {} (disabled - baseline)", metric);
  std::vector<Figure> out;
  out.push_back({.id = "ablate.heads",
                 .kind = "heatmap",
                 .title = "Disabling one head at a time",
                 .caption = "The change of the task metric when one head is disabled, layers down, heads across: red improves, "
                            "blue hurts, white is no change. Kovaleva et al. (2019), Fig. 8 (docs/methods.md 2.7): most heads "
                            "change the metric by less than a point, and disabling some improves it.",
                 .values = {FigureField{"head_delta", metric, Unit::metric_delta}},
                 .axis = axis,
                 .centred = true});
  if (results.contains("layer_delta"))
    out.push_back({.id = "ablate.layers",
                   .kind = "bars",
                   .title = "Disabling one layer at a time",
                   .caption = "The change of the task metric when all heads of one layer are disabled. Kovaleva et al. (2019), "
                              "Fig. 9 (docs/methods.md 2.7): disabling a whole layer can improve the fine-tuned model.",
                   .x = FigureField{"", "layer", Unit::index},
                   .x_axis = "layer disabled",
                   .values = {FigureField{"layer_delta", metric, Unit::metric_delta}},
                   .axis = axis,
                   .centred = true});
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::ablate
