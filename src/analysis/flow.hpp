// Attention flow (Abnar & Zuidema 2020; methods.md 4.2): the maximum flow from an output node
// to each input token through the layered attention graph, where a path's value is limited by
// its narrowest edge and paths sharing an edge share its capacity.
//
// Graph for an output node at block `layer` (0-based) and position q: nodes (m, p) for graph
// layers m = 0..layer+1 (m = 0 the input tokens, m = l+1 the output of block l); an edge
// (m, p) -> (m-1, k) of capacity Â_{m-1}[p, k], the residual-augmented head-averaged attention
// of rollout.hpp. F[q, t] = maxflow((layer+1, q) -> (0, t)), normalised so the row sums to 1.
//
// All input tokens of one output node on one network ("super-sink" form): the tokens (0, t)
// are never passed through, so the flow into (0, t) is the flow into a sink Z fed by edges
// (1, k) -> Z of capacity Â_0[k, t]. The network above layer 1 is built once per output node;
// only the T sink capacities change from token to token. After the maximum flow for token t is
// found, the sink capacities of token t+1 are set, flow above a lowered capacity is cancelled
// back to the source along flow-carrying edges (one pass, O(V + E)), and Dinic's algorithm
// augments that feasible flow to the maximum for t+1 instead of starting from zero.
//
// Size per output node, with ℓ = layer + 1 graph layers below it: V = (ℓ - 1) T + 2 nodes and
// E = T + (ℓ - 2) T^2 + T edges (only the source's row of the top layer is reachable).
// Worst case per token O(V^2 E) (Dinic), so O(T V^2 E) per output node; measured costs are in
// docs/analyses/gradients.md. The reference code solved one Edmonds-Karp problem per
// (output, token) pair on the whole graph, O(V E^2) each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/figure.hpp"

#include "analysis/attention_source.hpp"
#include "analysis/rollout.hpp"
#include "core/tensor.hpp"

namespace bertscope::analysis::flow {

struct Stats {
  std::int64_t nodes = 0, edges = 0;   // of one output node's network
  std::int64_t phases = 0;             // Dinic level graphs, summed over the tokens
  std::int64_t augmentations = 0;      // augmenting paths
  std::int64_t networks = 0;           // output nodes solved
  double seconds = 0;
  void add(const Stats& other);
};

// Raw maximum flows [T] from (layer+1, position) to every input token, from Â [layers, T, T].
// warm_start false solves each token from zero flow (for checks and timing).
std::vector<double> max_flows(const core::Tensor& augmented, std::int64_t layer, std::int64_t position,
                              bool warm_start = true, Stats* stats = nullptr);

struct Options {
  rollout::Options where;  // residual, layer, output positions
  bool warm_start = true;
};

struct Entry {
  std::size_t input = 0;
  std::int64_t position = 0;
  std::vector<double> flow;      // normalised: sums to 1
  std::vector<double> flow_raw;  // maximum flow values (each <= 1)
  std::vector<double> rollout;   // the same row of rollout, for comparison
  std::vector<double> attention;  // the layer's raw head-averaged attention row, for comparison
};

struct Result {
  std::int64_t layers = 0, heads = 0, layer = 0;
  double residual = 0.5;
  bool warm_start = true;
  std::vector<rollout::InputInfo> inputs;  // matrix: [T, T] normalised flow, with all positions
  std::vector<Entry> entries;
  Stats stats;
  std::size_t skipped_too_long = 0;
  std::int64_t max_tokens = 0;
};

// `runner`: spreads the inputs over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where = {},
           dist::Runner* runner = nullptr);

// The document's parameters: every option that changed the result (the layer as resolved for
// the model), and the definitions used.
nlohmann::json params_json(const Options& options, const Result& result);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::flow
