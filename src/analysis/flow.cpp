#include "analysis/flow.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/maxflow.hpp"
#include "analysis/blocks.hpp"
#include "analysis/surface.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::flow {

void Stats::add(const Stats& o) {
  nodes = std::max(nodes, o.nodes);
  edges = std::max(edges, o.edges);
  phases += o.phases;
  augmentations += o.augmentations;
  networks += o.networks;
  seconds += o.seconds;
}

std::vector<double> max_flows(const core::Tensor& aug, std::int64_t layer, std::int64_t q, bool warm, Stats* stats) {
  if (aug.shape.size() != 3 || aug.dim(1) != aug.dim(2))
    fail(ErrorKind::input, "attention flow: matrices have shape {}, expected [layers, T, T]", core::shape_string(aug.shape));
  const auto L = aug.dim(0), T = aug.dim(1);
  if (layer < 0 || layer >= L) fail(ErrorKind::input, "attention flow: layer {} outside 0..{}", layer, L - 1);
  if (q < 0 || q >= T) fail(ErrorKind::input, "attention flow: position {} outside 0..{}", q, T - 1);
  const auto start = std::chrono::steady_clock::now();
  auto A = [&](std::int64_t block, std::int64_t i, std::int64_t j) {
    return static_cast<double>(aug.data[static_cast<std::size_t>((block * T + i) * T + j)]);
  };
  std::vector<double> out(static_cast<std::size_t>(T));
  Stats s;
  s.networks = 1;
  if (layer == 0) {
    // One edge from the source to each token: the flow is the edge's capacity.
    for (std::int64_t t = 0; t < T; ++t) out[static_cast<std::size_t>(t)] = A(0, q, t);
    s.nodes = T + 1;
    s.edges = T;
  } else {
    // Graph layers m = layer .. 1 below the source, T nodes each, numbered from the top.
    const auto below = layer;  // graph layers strictly between the source and the tokens
    const auto sink = static_cast<std::int32_t>(1 + below * T);
    auto node = [&](std::int64_t m, std::int64_t p) { return static_cast<std::int32_t>(1 + (layer - m) * T + p); };
    maxflow::Network net(sink + 1);
    for (std::int64_t k = 0; k < T; ++k)
      if (const double c = A(layer, q, k); c > 0) net.add_edge(0, node(layer, k), c);
    for (std::int64_t m = layer; m >= 2; --m)
      for (std::int64_t p = 0; p < T; ++p)
        for (std::int64_t k = 0; k < T; ++k)
          if (const double c = A(m - 1, p, k); c > 0) net.add_edge(node(m, p), node(m - 1, k), c);
    std::vector<std::int32_t> sink_edges(static_cast<std::size_t>(T));
    for (std::int64_t k = 0; k < T; ++k) sink_edges[static_cast<std::size_t>(k)] = net.add_edge(node(1, k), sink, 0.0);
    s.nodes = sink + 1;
    for (std::int64_t t = 0; t < T; ++t) {
      if (!warm) net.clear_flow();
      for (std::int64_t k = 0; k < T; ++k) net.set_capacity(sink_edges[static_cast<std::size_t>(k)], A(0, k, t));
      net.repair(0);
      out[static_cast<std::size_t>(t)] = std::max(0.0, net.augment(0, sink));
    }
    s.edges = static_cast<std::int64_t>(T) + [&] {
      std::int64_t e = 0;
      for (std::int64_t k = 0; k < T; ++k) e += A(layer, q, k) > 0;
      for (std::int64_t m = layer; m >= 2; --m)
        for (std::int64_t p = 0; p < T; ++p)
          for (std::int64_t k = 0; k < T; ++k) e += A(m - 1, p, k) > 0;
      return e;
    }();
    s.phases = net.stats().phases;
    s.augmentations = net.stats().augmentations;
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stats) stats->add(s);
  return out;
}

namespace {

std::vector<double> normalised(const std::vector<double>& raw) {
  const double sum = std::accumulate(raw.begin(), raw.end(), 0.0);
  std::vector<double> out(raw.size(), 0.0);
  if (sum > 0)
    for (std::size_t i = 0; i < raw.size(); ++i) out[i] = raw[i] / sum;
  return out;
}

}  // namespace

Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& so, const Options& o,
           const std::function<std::string(std::size_t)>& data_where, dist::Runner* runner) {
  Result r;
  r.layers = source.layers();
  r.heads = source.heads();
  r.layer = rollout::resolve_layer(o.where.layer, r.layers);
  r.residual = o.where.residual;
  r.warm_start = o.warm_start;
  // A block's part: its inputs, entries, solver statistics and longest input.
  const auto block = [&](const ExampleVisitor& visit) {
    Result part;
    visit([&](AttentionExample& ex) {
      surface::check_trace_text(source, ex, inputs[ex.index], data_where);
      const auto T = ex.attentions.dim(2);
      part.max_tokens = std::max(part.max_tokens, T);
      const auto aug = rollout::augmented_attention(ex.attentions, o.where.residual);
      const auto roll = rollout::rollout(aug);
      const auto positions = rollout::resolve_positions(o.where, T, ex.index);
      std::vector<Entry> entries(positions.size());
      std::vector<Stats> stats(positions.size());
      const auto start = std::chrono::steady_clock::now();
      // Output nodes are independent networks: one per thread.
  #pragma omp parallel for schedule(dynamic)
      for (std::size_t k = 0; k < positions.size(); ++k) {
        auto& e = entries[k];
        e.input = ex.index;
        e.position = positions[k];
        e.flow_raw = max_flows(aug, r.layer, e.position, o.warm_start, &stats[k]);
        e.flow = normalised(e.flow_raw);
        const float* row = roll.ptr() + (r.layer * T + e.position) * T;
        e.rollout.assign(row, row + T);
        e.attention = rollout::head_mean_row(ex.attentions, r.layer, e.position);
      }
      Stats sum;
      for (const auto& s : stats) sum.add(s);
      // Wall time, not the per-thread sum.
      sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      part.stats.add(sum);
      rollout::InputInfo info;
      info.index = ex.index;
      info.tokens = ex.encoding.tokens;
      info.text = rollout::input_text(inputs[ex.index], ex.encoding);
      if (o.where.all_positions || o.where.matrices) {
        info.matrix = core::Tensor({static_cast<std::int64_t>(positions.size()), T});
        for (std::size_t k = 0; k < positions.size(); ++k)
          for (std::int64_t t = 0; t < T; ++t)
            info.matrix.data[k * static_cast<std::size_t>(T) + static_cast<std::size_t>(t)] = static_cast<float>(entries[k].flow[static_cast<std::size_t>(t)]);
      }
      part.inputs.push_back(std::move(info));
      for (auto& e : entries) part.entries.push_back(std::move(e));
    });
    dist::Packer p;
    p.put<std::uint64_t>(part.inputs.size());
    for (const auto& info : part.inputs) rollout::pack(p, info);
    p.put<std::uint64_t>(part.entries.size());
    for (const auto& e : part.entries) {
      p.put<std::uint64_t>(e.input);
      p.put(e.position);
      p.put(e.flow);
      p.put(e.flow_raw);
      p.put(e.rollout);
      p.put(e.attention);
    }
    p.put(part.stats);
    p.put(part.max_tokens);
    return p.take();
  };
  r.skipped_too_long = run_blocks(source, inputs, so, runner, "flow", block, [&](std::size_t b, std::string_view bytes) {
    dist::Unpacker u(bytes, fmt::format("flow: the stored results of block {}", b));
    for (auto n = u.get<std::uint64_t>(); n > 0; --n) r.inputs.push_back(rollout::unpack_input(u));
    for (auto n = u.get<std::uint64_t>(); n > 0; --n) {
      Entry e;
      e.input = u.get<std::uint64_t>();
      e.position = u.get<std::int64_t>();
      e.flow = u.get_vector<double>();
      e.flow_raw = u.get_vector<double>();
      e.rollout = u.get_vector<double>();
      e.attention = u.get_vector<double>();
      r.entries.push_back(std::move(e));
    }
    r.stats.add(u.get<Stats>());
    r.max_tokens = std::max(r.max_tokens, u.get<std::int64_t>());
    u.done();
  });
  return r;
}

nlohmann::json to_json(const Result& r) {
  auto info_of = [&](std::size_t input) -> const rollout::InputInfo& {
    for (const auto& in : r.inputs)
      if (in.index == input) return in;
    fail(ErrorKind::internal, "flow: no input {}", input);
  };
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : r.entries) {
    const auto& info = info_of(e.input);
    entries.push_back({{"input", e.input},
                       {"text", info.text},
                       {"position", e.position},
                       {"position_token", info.tokens.at(static_cast<std::size_t>(e.position))},
                       {"tokens", info.tokens},
                       {"flow", e.flow},
                       {"flow_raw", e.flow_raw},
                       {"rollout", e.rollout},
                       {"attention", e.attention}});
  }
  nlohmann::json j = {{"layers", r.layers},
                      {"heads", r.heads},
                      {"layer", r.layer},
                      {"residual", r.residual},
                      {"examples", entries},
                      {"inputs", r.inputs.size()},
                      {"skipped_too_long", r.skipped_too_long}};
  nlohmann::json matrices = nlohmann::json::array();
  for (const auto& in : r.inputs) {
    if (in.matrix.data.empty()) continue;
    nlohmann::json rows = nlohmann::json::array();
    const auto Q = in.matrix.dim(0), T = in.matrix.dim(1);
    for (std::int64_t i = 0; i < Q; ++i)
      rows.push_back(std::vector<double>(in.matrix.ptr() + i * T, in.matrix.ptr() + (i + 1) * T));
    matrices.push_back({{"input", in.index}, {"tokens", in.tokens}, {"flow", rows}});
  }
  if (!matrices.empty()) j["matrices"] = matrices;
  j["cost"] = {{"algorithm", r.warm_start ? "Dinic, warm-started from the previous token's flow on one network per output node"
                                          : "Dinic, from zero flow for every (output node, token) pair"},
               {"networks", r.stats.networks},
               {"nodes_per_network", r.stats.nodes},
               {"edges_per_network", r.stats.edges},
               {"dinic_phases", r.stats.phases},
               {"augmenting_paths", r.stats.augmentations},
               {"seconds", r.stats.seconds},
               {"seconds_per_output_node", r.stats.networks ? r.stats.seconds / static_cast<double>(r.stats.networks) : 0.0},
               {"max_tokens", r.max_tokens}};
  return j;
}

std::string table(const Result& r) {
  std::string out = fmt::format("attention flow into layer {} outputs (residual {}), {} inputs, {} output positions\n",
                                r.layer + 1, r.residual, r.inputs.size(), r.entries.size());
  const std::size_t shown = std::min<std::size_t>(r.entries.size(), 5);
  for (std::size_t k = 0; k < shown; ++k) {
    const auto& e = r.entries[k];
    const rollout::InputInfo* info = nullptr;
    for (const auto& in : r.inputs)
      if (in.index == e.input) info = &in;
    std::vector<std::size_t> order(e.flow.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return e.flow[a] > e.flow[b]; });
    out += fmt::format("input {} position {} ({}):", e.input + 1, e.position, info->tokens.at(static_cast<std::size_t>(e.position)));
    for (std::size_t i = 0; i < std::min<std::size_t>(order.size(), 6); ++i)
      out += fmt::format(" {} {:.3f}", info->tokens[order[i]], e.flow[order[i]]);
    out += "\n";
  }
  if (r.entries.size() > shown) out += fmt::format("... {} more in the result document\n", r.entries.size() - shown);
  out += fmt::format("{} networks of up to {} nodes and {} edges, {} Dinic phases, {:.3f} s ({:.4f} s per output node, wall)\n",
                     r.stats.networks, r.stats.nodes, r.stats.edges, r.stats.phases, r.stats.seconds,
                     r.stats.networks ? r.stats.seconds / static_cast<double>(r.stats.networks) : 0.0);
  if (r.skipped_too_long) out += fmt::format("{} inputs skipped as too long\n", r.skipped_too_long);
  return out;
}

nlohmann::json params_json(const Options& options, const Result& result) {
  return {{"layer", result.layer},
          {"positions", rollout::positions_text(options.where)},
          {"residual", options.where.residual},
          {"warm_start", options.warm_start},
          {"definition",
           "capacity of (l+1, q) -> (l, k) = rownorm((1 - r) mean_h A^{l,h} + r I)[q, k]; flow[t] = maxflow(output -> "
           "token t) / sum over tokens"}};
}

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<Figure> figures(const nlohmann::json& results) {
  if (!results.contains("examples") || results["examples"].empty()) return {};
  const auto layer = results.value("layer", std::int64_t{0}) + 1;
  return {Figure{
      .id = "flow.tokens",
      .kind = "tokens",
      .title = fmt::format("Attention flow beside rollout and raw attention, one output position after layer {}", layer),
      .caption = fmt::format(
          "For the output position named in the picker (outlined), each input token shaded by its share of the maximum "
          "flow from that position down to the token (Abnar & Zuidema 2020: capacities are rollout's residual-augmented "
          "head-averaged attention; flows normalised to sum 1), rollout's share, and the raw head-averaged attention of "
          "layer {}; one scale from 0. docs/methods.md 4.2: flow spreads credit more evenly than rollout and follows "
          "blank-out importance best in the middle layers.",
          layer),
      .rows = "examples",
      .values = {{"flow", "attention flow", Unit::proportion},
                 {"rollout", "rollout", Unit::proportion},
                 {"attention", "raw attention (head mean)", Unit::proportion}},
      .axis = "share of the input token (proportion)",
      .options = {{"tokens", "tokens"}, {"highlight", "position"}, {"stack", true}, {"name", rollout::position_name()}}}};
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::flow
