// Influence patterns (Lu, Wang, Mardziel, Datta, NeurIPS 2021; methods.md section 3): how the
// influence of one input token on a quantity of interest flows through BERT's skip connections
// and attention heads.
//
// Graph (methods.md 3.1), for L blocks, T tokens and H heads:
//   h_l[p]      l = 0..L: the residual stream entering block l+1 (h_0 = embed.out, h_l = the
//               output of block l, i.e. trace site layer.{l-1}.out)
//   a_b[q, h]   block b = 0..L-1 (0-based, as trace sites and heads are named): head h's context
//               vector at query q, before W_O
//   skip_b[p]   the residual term x of LN1(x + attention) of block b at position p
// Every path from h_b to h_{b+1} passes through exactly one head node or the skip node of
// block b; FFN, LayerNorms and W_O are folded into the edges.
//
// Quantity of interest: F(e) = z_good - z_bad, MLM logits at the [MASK] position or class logits
// of a classifier (read from [CLS] through the pooler). Integrated-gradients path over the input
// word embeddings e(alpha) = b + alpha (x - b), every position at once; the baseline b replaces
// every word embedding by [MASK]'s (default), zero, or [PAD]'s; position and type embeddings are
// added as usual.
//
// A pattern S is a set of allowed nodes with the source token i the only node allowed at layer 0.
// Its influence I(i, S) = mean over alpha_k = k/m, k = 0..m (m+1 points, both ends, equal
// weights) of the restricted derivative D_S F(e(alpha_k)) along x - b: the sum over all paths
// inside S of the products of Jacobians. Unrestricted, it is token i's integrated-gradients
// attribution. Node decomposition at a cut (methods.md 3.2):
//   c_n = mean_k sum_dims (dF/dz_n)_S (alpha_k) * (dz_n/dalpha)_S (alpha_k)
// with the reverse factor from model::backward and the forward factor from model::jvp (tangent
// x - b on the source row), both under S's flow masks; the c_n of the nodes of one layer sum to
// I(i, S), and so do the head and skip nodes of one block.
//
// Guided Pattern Refinement (methods.md 3.3): stage 1 picks one position per layer (sign rule at
// layer 1), stage 2 one head or the skip connection per block. See refine().
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"
#include "model/autodiff.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::influence {

enum class Baseline { mask, zero, pad };
std::string_view baseline_name(Baseline baseline);
Baseline parse_baseline(std::string_view name);  // "mask", "zero", "pad"; Error(input) otherwise

// The baseline word embeddings of an input [T, hidden]: every row [MASK]'s or [PAD]'s embedding,
// or zero.
core::Tensor baseline_word_embeddings(const model::Model& model, std::span<const std::int32_t> ids, Baseline baseline);

enum class Readout { mlm, classifier };

// F = logit[good] - logit[bad]. MLM: logits at `target` ([MASK]); classifier: class logits,
// read from [CLS] (`target` 0).
struct Qoi {
  Readout readout = Readout::mlm;
  std::int32_t target = 0;
  std::int32_t good = 0, bad = 0;  // vocabulary ids (MLM) or classes (classifier)
};

struct Instance {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;  // empty: all zero
  Qoi qoi;
};

// Instances for a fine-tuned sequence classifier: QoI = logit[gold] - logit[other], `other` the
// other class of a binary task or, with more classes, the highest-scoring wrong class at the
// input (fixed along the path, so the QoI stays a difference of two logits).
std::vector<Instance> classifier_instances(const model::Model& model, std::span<const model::Encoding> encodings,
                                           std::span<const std::int64_t> gold, std::size_t batch_size = 32);

// F at the real input of each instance, in batched forward passes.
std::vector<double> evaluate_qoi(const model::Model& model, std::span<const Instance> instances, std::size_t batch_size = 32);

// A set of allowed nodes. Masks are 0/1 per node; block indices are 0-based.
struct Pattern {
  std::int64_t layers = 0, tokens = 0, heads = 0;
  std::vector<std::vector<std::uint8_t>> hidden;   // [L+1][T]: h_l[p]
  std::vector<std::vector<std::uint8_t>> context;  // [L][T*H]: a_b[q, h] at q*H + h
  std::vector<std::vector<std::uint8_t>> skip;     // [L][T]: skip_b[p]

  // The source alone at layer 0, every other node allowed.
  static Pattern from_source(std::int32_t source, std::int64_t layers, std::int64_t tokens, std::int64_t heads);
  std::int32_t source() const;  // the allowed position at layer 0 (Error(internal) unless exactly one)
  // Restricts h_l to the one position p.
  void keep_position(std::int64_t layer, std::int32_t position);
  // Restricts block b to one edge at query q: head h (h >= 0, the skip blocked) or the skip (h = -1,
  // every head blocked).
  void keep_edge(std::int64_t block, std::int32_t query, std::int32_t head);
  std::vector<model::FlowMask> flow_masks() const;  // masks that are all ones are left out
};

// Node values of a decomposition, averaged over the alpha points.
struct Decomposition {
  std::vector<std::vector<double>> hidden;  // [L+1][T]
  std::vector<std::vector<double>> heads;   // [L][T*H]
  std::vector<std::vector<double>> skip;    // [L][T]
  double hidden_total(std::int64_t layer) const;
  double block_total(std::int64_t block) const;  // heads and skip of one block
};

// Per-alpha derivatives at the node sites under one pattern: reverse (dF/dz) or forward (dz/dalpha).
struct Factors {
  bool reverse = false;
  bool with_blocks = false;              // head-context and skip sites present (else hidden states only)
  std::vector<model::Trace> traces;      // one per alpha point
};

struct IntegralOptions {
  std::int64_t steps = 50;  // m
  Baseline baseline = Baseline::mask;
  // At most this many token rows (alpha points x tokens) per recorded forward pass; more alpha
  // points are split into several tapes (memory).
  std::int64_t max_rows = 8192;
};

// One instance on the integrated-gradients path: the forward passes at all alpha points (batched,
// with tapes) and everything that derives from them.
class PathIntegral {
 public:
  PathIntegral(const model::Model& model, const Instance& instance, const IntegralOptions& options = {});
  ~PathIntegral();
  PathIntegral(PathIntegral&&) noexcept;

  std::int64_t layers() const { return layers_; }
  std::int64_t tokens() const { return tokens_; }
  std::int64_t heads() const { return heads_; }
  std::int64_t points() const { return static_cast<std::int64_t>(alphas_.size()); }  // m + 1
  const Instance& instance() const { return instance_; }
  double qoi() const { return values_.back(); }             // F(x), alpha = 1
  double qoi_baseline() const { return values_.front(); }   // F(b), alpha = 0
  const std::vector<double>& values() const { return values_; }  // F(e(alpha_k))
  // Integrated-gradients attribution of every token: mean_k dF/de_t (alpha_k) . (x_t - b_t).
  const std::vector<double>& attributions() const { return attributions_; }
  // Layer integrated-gradients attribution of every block output h_l[p] (Captum's
  // LayerIntegratedGradients on h_l, same baseline and alpha grid): sum over hidden dims of
  // (h_l(x) - h_l(b))[p] * mean_k dF/dh_l[p] (alpha_k), the gradients those of the path's own
  // backward pass. [L+1][T]. h_l is not linear in alpha, so a layer's sum is not F(x) - F(b).
  const std::vector<std::vector<double>>& layer_attributions() const { return layer_attributions_; }

  // I(source, S) in reverse mode only: the restricted word-embedding gradient of the source row
  // times (x - b), averaged over alpha. Independent of the decomposition's forward factors.
  double influence(const Pattern& pattern) const;
  // Both factors under S and their product at every node.
  Decomposition decompose(const Pattern& pattern) const;

  // The factors separately: the reverse factor at a node depends only on S's nodes above it and
  // the forward factor only on those below, so a search can reuse one side.
  Factors reverse_factors(const Pattern& pattern, bool with_blocks) const;
  Factors forward_factors(const Pattern& pattern, bool with_blocks) const;
  const Factors& unrestricted_reverse() const { return unrestricted_; }  // hidden states only
  // c_n for every node both factors have. `forward_pattern` is the pattern of the forward factors
  // (its skip masks enter the skip nodes' forward factor).
  Decomposition combine(const Factors& reverse, const Factors& forward, const Pattern& forward_pattern) const;
  // How many tapes the alpha points take (see IntegralOptions::max_rows).
  std::size_t tapes() const { return chunks_.size(); }
  // One forward-mode pass along the source row's x - b under the pattern's flow masks, with
  // `hook` called at every site of the tangent pass before the masks (it sees every alpha point
  // of the site at once, input k = alpha point k, and may restrict what flows on). One tape only.
  void tangent_sweep(const Pattern& pattern, model::SiteHook& hook) const;
  const std::vector<double>& alphas() const { return alphas_; }

 private:
  struct Chunk;
  const model::Model& model_;
  Instance instance_;
  IntegralOptions options_;
  std::int64_t layers_ = 0, tokens_ = 0, heads_ = 0, hidden_ = 0, embed_width_ = 0;
  std::vector<double> alphas_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  core::Tensor delta_;  // x - b [T, hidden]
  std::vector<double> values_, attributions_;
  std::vector<std::vector<double>> layer_attributions_;
  Factors unrestricted_;

  std::vector<model::OutputGrad> seeds(std::size_t n) const;
};

// One path through the graph: positions p_0 (the source) .. p_L (the target) and per block b the
// edge from p_b to p_{b+1}: a head index, or -1 for the skip connection (only where p_b = p_{b+1}).
struct Path {
  std::vector<std::int32_t> positions;
  std::vector<std::int32_t> edges;
};

// How GPR computes its node values (methods.md 3.8): `sweep` runs each stage as ONE forward-mode
// pass per source token that restricts its tangent layer by layer as it decides (site hooks),
// plus one backward pass per stage (stage 1's shared by every source token); `per_layer` runs a
// forward-mode pass per layer and stage, the reference the sweep is tested against. The sweep
// needs all alpha points in one tape (IntegralOptions::max_rows); with more, per_layer runs.
enum class Algorithm { sweep, per_layer };
std::string_view algorithm_name(Algorithm algorithm);  // "sweep", "per-layer"
Algorithm parse_algorithm(std::string_view name);      // Error(input) naming the choices

// One source token's refined pattern.
struct TokenPattern {
  std::int32_t source = 0;
  int sign = 1;               // s_i: -1 when the token's total influence is negative
  double attribution = 0;     // integrated gradients (reverse mode)
  double total = 0;           // sum of the layer-1 decomposition without restriction (= attribution)
  std::vector<std::int32_t> positions;  // p_0 = source, p_1..p_{L-1}, p_L = target
  // Stage 1: c at h_l[p_l] when p_l was chosen (l = 1..L-1); [0] = total; [L] = influence of the
  // stage-1 pattern (all positions fixed, every head and skip allowed).
  std::vector<double> stage1;
  // Stage 2 per block b = 0..L-1: the head chosen (0-based) or -1 for the skip connection, and
  // the chosen node's influence (the pattern so far, later blocks unrestricted; raw sign).
  std::vector<std::int32_t> choices;
  std::vector<double> stage2;
  double pattern_influence = 0;  // I(source, final pattern) = stage2.back()
  double stage1_influence = 0;   // = stage1[L]
};

// Guided Pattern Refinement for one source token:
// Stage 1. S = {source at layer 0} and everything else. For l = 1..L-1: c_{l,p} for every
// position under S; at l = 1 the sign s = -1 if sum_p c_{1,p} < 0 (else +1); p_l = argmax_p
// s c_{l,p} (ties: the lowest position); S keeps only p_l at layer l. p_L is the target.
// Stage 2. Positions fixed; block b allows the heads at query p_{b+1} and the skip at p_{b+1}.
// For b = 0..L-1: c of every head a_b[p_{b+1}, h] and of skip_b[p_{b+1}]; keep the best head if
// s c_head > s c_skip, else the skip, and block the rest of block b. The skip connects equal
// positions only, so where p_b != p_{b+1} it is not a choice and a head carries the path.
TokenPattern refine(const PathIntegral& integral, std::int32_t source);
// A source token's pattern before refinement: its attribution, p_0 = source, p_L = the target.
TokenPattern unrefined(const PathIntegral& integral, std::int32_t source);
// The same patterns and node values (up to float32 summation order) from two forward-mode sweeps
// and one backward pass of its own (influence_sweep.cpp). Needs integral.tapes() == 1.
TokenPattern refine_sweep(const PathIntegral& integral, std::int32_t source);

// The pattern of a refined token (positions; and the per-block choices when `with_choices`).
Pattern pattern_of(const PathIntegral& integral, const TokenPattern& pattern, bool with_choices = true);
// Positions fixed, blocks [0, choices.size()) restricted to their choices, later blocks allowing
// every head at p_{b+1} and the skip.
Pattern partial_pattern(const PathIntegral& integral, std::span<const std::int32_t> positions,
                        std::span<const std::int32_t> choices);

// The random-pattern optimality test (Lu et al.'s get_reverse_influence_optimality_test,
// methods.md 3.8): a refined pattern's influence against that of random path patterns from the
// same source, each by the restricted derivative averaged over the alpha grid (influence()).
//
// `count` random paths from `source` to `target`: p_1..p_{L-1} uniform over the T positions,
// p_L = target; per block uniform over the H heads, and over the heads and the skip connection
// where the position stays (a position change needs a head). Deterministic given the seed (its
// own generator, the same on every platform).
std::vector<Path> random_paths(std::int32_t source, std::int32_t target, std::int64_t layers, std::int64_t tokens,
                               std::int64_t heads, std::size_t count, std::uint64_t seed);
// A seed derived from two values (splitmix64 of their mix): per example, per source token.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t value);

struct Optimality {
  std::size_t samples = 0;
  double influence = 0;           // the refined pattern's, by influence() as the random ones
  std::vector<double> random;     // each random pattern's influence (raw sign)
  double random_mean = 0;
  double random_best = 0;         // the random influence with the largest s * I (raw sign)
  double random_max_abs = 0;      // the largest |I| of a random pattern
  // Share of random patterns that do not exceed the refined one: by s * I (what GPR maximises
  // and Lu et al.'s code compares, each influence multiplied by the token's sign) and by |I|. A
  // random draw equal to the refined pattern ties it, so it counts as not exceeding.
  double percentile = 0, percentile_abs = 0;
  bool beats_all = false, beats_all_abs = false;  // no random pattern exceeds it
};
// The test for one refined pattern (patterns from random_paths(pattern.source, target, ..., seed)).
Optimality optimality_test(const PathIntegral& integral, const TokenPattern& pattern, std::size_t samples,
                           std::uint64_t seed);
// The summary fields of an Optimality from its influence, the random influences and the sign.
void summarise_optimality(Optimality& o, int sign);

struct Options {
  IntegralOptions integral;
  bool patterns = true;                 // run GPR (else only the QoI and attributions)
  std::vector<std::int32_t> sources;    // empty: every position except the target
  bool verify = false;                  // recompute each pattern's influence in reverse mode only
  Algorithm algorithm = Algorithm::sweep;
  // Random patterns per refined pattern for the optimality test (0 = no test); one backward pass
  // over the alpha points each. Source token t of this example draws from mix_seed(seed, t).
  std::size_t optimality_samples = 0;
  std::uint64_t optimality_seed = 1;
};

struct ExampleResult {
  double qoi = 0, qoi_baseline = 0;
  std::vector<double> attributions;
  std::vector<std::vector<double>> layer_attributions;  // [L+1][T], PathIntegral::layer_attributions
  std::vector<TokenPattern> patterns;
  std::vector<double> verified;  // with Options::verify: I(source, pattern) from influence(), per pattern
  std::vector<Optimality> optimality;  // with Options::optimality_samples: per pattern
  double seconds_integral = 0;   // forward passes, attributions
  double seconds_patterns = 0;   // GPR of all source tokens
  double seconds_optimality = 0; // the optimality tests of all source tokens
  Algorithm algorithm = Algorithm::sweep;  // what ran (per_layer when the sweep was asked but the alpha points took several tapes)
};

// The path integral of one instance, then GPR for each source token (source tokens in parallel,
// one per OpenMP thread).
ExampleResult analyse(const model::Model& model, const Instance& instance, const Options& options);

// Aggregates over patterns of one group (task and source role).
struct SkipShare {
  std::size_t patterns = 0;
  std::vector<double> per_layer;  // per block: fraction of patterns whose block goes through the skip
  double overall = 0;             // fraction of all (pattern, block) choices that are the skip
};
SkipShare skip_share(std::span<const TokenPattern* const> patterns, std::int64_t layers);

// Share of instances that follow the modal pattern (the same positions and the same choice per
// block); ties go to the pattern seen first.
struct Consistency {
  std::size_t instances = 0, distinct = 0;
  double modal_share = 0;
  std::vector<std::int32_t> positions, choices;  // the modal pattern
};
Consistency consistency(std::span<const TokenPattern* const> patterns);

// Lu et al.'s own aggregate (the plotting code of their repository, methods.md 3.8): per block,
// every edge the patterns use, from p_b to p_{b+1} through a head or the skip connection, with
// how many patterns use it, that count signed by each pattern's sign, and for head edges the
// modal head and its share (the code draws it when the share exceeds a quarter).
struct EdgeCount {
  std::int32_t from = 0, to = 0;
  bool skip = false;
  std::size_t count = 0;
  double signed_count = 0;
  std::int32_t modal_head = -1;  // head edges: the most frequent head (ties: the lower)
  double modal_head_share = 0;   // of this edge's count
};
// Per block, the edges by descending count (ties: from, to, skip first).
std::vector<std::vector<EdgeCount>> edge_counts(std::span<const TokenPattern* const> patterns, std::int64_t layers);

// Pearson's r of paired values with its 95% confidence interval (Fisher's z, +-1.96/sqrt(n-3));
// r is NaN when either side is constant, the interval NaN when n < 4.
struct Correlation {
  std::size_t n = 0;
  double r = 0, low = 0, high = 0;
};
Correlation pearson(std::span<const double> x, std::span<const double> y);

// Model accuracy (QoI > 0) per form; the key "" holds all examples.
struct Accuracy {
  std::size_t n = 0, correct = 0;
  double accuracy = 0, mean_qoi = 0;
};
std::map<std::string, Accuracy> accuracy_by_form(std::span<const double> qoi, std::span<const std::string> forms);

}  // namespace bertscope::analysis::influence
