// The ablation check of influence patterns (Lu et al. 2021, methods.md 3.5): keep only the nodes
// on a few paths through the graph of influence.hpp, replace every other node by a fixed value,
// run the model at the real input, and see how much of the quantity of interest and of the task
// accuracy remains. The paths come from Guided Pattern Refinement or, as baselines with the same
// node budget (L + 1 block-output nodes and L edges per path), from attention:
//
//   greedy        from p_0 = source, for b = 0..L-2: (p_{b+1}, h) = argmax over (q, h) of
//                 A^{b,h}[q, p_b], the strongest single-head edge leaving the current position;
//                 the last block goes to the target through its strongest head. Every edge is a
//                 head (raw attention knows no skip connection).
//   max_product   the path p_0 = source .. p_L = target maximising prod_b Â_b[p_{b+1}, p_b]
//                 (dynamic programming), Â = rollout's residual-augmented head-averaged attention.
//   rollout       p_{b+1} = argmax_q R_b[q, source] for b = 0..L-2 (the position holding most of
//                 the source's identity after block b), p_L = the target.
//   beam          greedy's score (per block the strongest single head's attention along the edge,
//                 summed over blocks) maximised by beam search of width 10 (Lu et al.'s
//                 attention_path.py), staying in place allowed; every edge a head, as greedy.
//   flow          attention flow (Abnar & Zuidema): the maximum flow from h_0[source] to
//                 h_L[target] on the layered graph with capacities Â_b[q, k] from (b, k) to
//                 (b + 1, q); per layer the node carrying the most of that flow.
//   layer IG      a stand-in for the paper's "layer-based" baselines: per layer the positions
//                 with the largest layer integrated-gradients attribution
//                 (layer_attribution_paths below).
// Information flows from key to query, so the edge from position k at h_b to position q at
// h_{b+1} has weight A^{b,h}[q, k] (row = query); Lu et al.'s attention_path.py walks the other
// way (query -> key). For max_product and rollout a block whose position stays goes through the
// skip connection (in Â the residual's share 1/2 is at least any head's 1/(2H) A^{b,h}[q, q]), and a
// block that moves goes through the head with the largest A^{b,h}[p_{b+1}, p_b].
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "analysis/influence.hpp"
#include "core/tensor.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::influence {

// The path a refined pattern found.
Path path_of(const TokenPattern& pattern);

// A kept set of nodes is a Pattern read as a set (any number of positions per layer).
// Every node blocked:
Pattern empty_node_set(std::int64_t layers, std::int64_t tokens, std::int64_t heads);
// Adds a path's nodes: h_l[p_l] for l = 0..L and per block the head node a_b[p_{b+1}, h] or the
// skip node skip_b[p_{b+1}]. Error(input) for a path of the wrong length, outside the input, or
// with a skip where the position changes.
void add_path(Pattern& kept, const Path& path);
std::size_t node_count(const Pattern& kept);

enum class AttentionPath { greedy, max_product, rollout, beam, flow };
std::string_view attention_path_name(AttentionPath kind);
inline constexpr std::size_t kBeamWidth = 10;  // Lu et al.'s attention_path.py

// Which way an attention path walks. Information flows from key to query (the edge from k at h_b
// to q at h_{b+1} weighs A[b][q, k]); Lu et al.'s code walks query -> key (A[b][k, q]).
enum class AttentionDirection { key_to_query, query_to_key };
std::string_view attention_direction_name(AttentionDirection direction);  // "key-to-query", "query-to-key"
AttentionDirection parse_attention_direction(std::string_view name);      // Error(input) naming the choices
// The attentions a walk in `direction` reads as key -> query: transposed per head for query_to_key.
core::Tensor oriented_attentions(const core::Tensor& attentions, AttentionDirection direction);

// An attention path from `source` to `target` over attentions [L, H, T, T] (post-softmax, row =
// query); `residual` is Â's identity weight (0.5 as in rollout).
Path attention_path(AttentionPath kind, const core::Tensor& attentions, std::int32_t source, std::int32_t target,
                    double residual = 0.5);

// The layer-based stand-in of methods.md 3.8 (the paper's "layer-based methods" are not in the
// authors' code; this is a stand-in, not their baseline): k paths, one per source token given
// (sources in the order given, e.g. by |attribution|), with the node budget of the k refined
// patterns. Per layer l = 1..L-1 the k positions whose block output h_l has the largest
// sign * layer integrated-gradients attribution (ties: the lower position); layer 0 holds the
// sources, layer L the target. The k positions of a layer go to the paths so that a path stays
// where it can (its position is among the layer's k) and the others take the remaining positions
// best first, path by path; a block whose position stays goes through the skip connection, one
// that moves through the head with the largest attentions[b, h, p_{b+1}, p_b]. `sign` (+1 or -1)
// is the direction of F(x) - F(b), the change the attributions explain (as GPR's sign rule).
// layer_attributions: [L+1][T] (PathIntegral::layer_attributions); attentions [L, H, T, T].
std::vector<Path> layer_attribution_paths(std::span<const std::vector<double>> layer_attributions, int sign,
                                          std::span<const std::int32_t> sources, std::int32_t target,
                                          const core::Tensor& attentions);

// What replaces the nodes that are not kept: zero, the node's value when the model runs on the
// baseline input (every word embedding replaced as on the integrated-gradients path), or the
// node's mean value over the instances given (per position, at their real inputs).
enum class Replacement { zero, baseline, mean };
std::string_view replacement_name(Replacement replacement);
Replacement parse_replacement(std::string_view name);  // "zero", "baseline", "mean"; Error(input) otherwise

struct AblationOptions {
  Replacement replacement = Replacement::zero;
  Baseline baseline = Baseline::mask;  // the baseline input of Replacement::baseline
  std::size_t batch_size = 16;
};

// F at each instance's real input with only kept[i]'s nodes of instance i computed as usual and
// every other node (block outputs h_l, head contexts, skip inputs) replaced.
std::vector<double> ablated_qoi(const model::Model& model, std::span<const Instance> instances,
                                std::span<const Pattern> kept, const AblationOptions& options = {});

// Post-softmax attentions [L, H, T, T] of each instance at its real input.
std::vector<core::Tensor> attentions_of(const model::Model& model, std::span<const Instance> instances,
                                        std::size_t batch_size = 16);

}  // namespace bertscope::analysis::influence
