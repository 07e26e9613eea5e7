// Attention rollout (Abnar & Zuidema 2020; methods.md 4.1): how much of each input token's
// identity reaches each position after layer l, by multiplying head-averaged attention matrices
// that include the residual connection.
//
// Per layer l (0-based block index), with A^{l,h} the [T, T] attention (row = query):
//   W_l = 1/H sum_h A^{l,h}
//   Â_l = rownorm((1 - r) W_l + r I)        r = 0.5 (the paper); rownorm divides each row by its
//                                           sum, as their code does: a no-op when W's rows sum to 1
//   R_0 = Â_0,  R_l = Â_l R_{l-1}           rows = positions after block l, columns = input tokens
// Every R_l is row-stochastic. Cost per input: O(L T^3) for all layers (one T x T x T product each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/figure.hpp"

#include "analysis/attention_source.hpp"
#include "dist/pack.hpp"
#include "dist/runner.hpp"
#include "core/tensor.hpp"

namespace bertscope::analysis::rollout {

// Â for every layer: attentions [layers, heads, T, T] -> [layers, T, T], rows summing to 1.
// Error(input) when r is outside [0, 1] or a row has no mass at all (r = 0 and a zero row).
core::Tensor augmented_attention(const core::Tensor& attentions, double residual = 0.5);

// R_l for every layer from Â [layers, T, T] -> [layers, T, T] (double accumulation).
core::Tensor rollout(const core::Tensor& augmented);

// W_layer[position, :]: what one query position attends to in one layer, averaged over heads
// (raw attention, shown beside rollout and flow).
std::vector<double> head_mean_row(const core::Tensor& attentions, std::int64_t layer, std::int64_t position);

// Which output positions and which layer an analysis reports.
struct Options {
  double residual = 0.5;
  std::int64_t layer = -1;                 // 0-based block whose output is explained; -1 = the last
  std::vector<std::int64_t> positions{0};  // output positions (0 = [CLS]); negative counts from the end
  bool all_positions = false;              // every position (then each input also gets its [T, T] matrix)
  bool matrices = false;                   // keep each input's [T, T] matrix at `layer`
};

// Sets the positions from "0", "0,5,-1" or "all" (Error(input) otherwise).
void parse_positions(const std::string& text, Options& options);
// The output positions of an input of T tokens (Error(input) for a position outside it).
std::vector<std::int64_t> resolve_positions(const Options& options, std::int64_t tokens, std::size_t input);
// The positions as parse_positions reads them: "0,5,-1" or "all".
std::string positions_text(const Options& options);
// The 0-based layer for a model of `layers` layers (Error(input) when outside it).
std::int64_t resolve_layer(std::int64_t layer, std::int64_t layers);
// The text of an input as the result documents show it: its word pieces when bertscope built
// it from words or an encoding, else the text (a tab before the pair).
std::string input_text(const AnalysisInput& in, const model::Encoding& enc);

// One output position of one input: token scores over the input tokens.
struct Entry {
  std::size_t input = 0;
  std::int64_t position = 0;
  std::vector<double> rollout;    // R_layer[position, :]
  std::vector<double> attention;  // W_layer[position, :], raw head-averaged attention, for comparison
};

struct InputInfo {
  std::size_t index = 0;
  std::vector<std::string> tokens;
  std::string text;
  core::Tensor matrix;  // [T, T] R at the layer, when asked
};

struct Result {
  std::int64_t layers = 0, heads = 0, layer = 0;
  double residual = 0.5;
  std::vector<InputInfo> inputs;
  std::vector<Entry> entries;
  std::size_t skipped_too_long = 0;
  double max_row_sum_error = 0;  // max |row sum - 1| over every R computed (a self-check)
};

// `runner`: spreads the inputs over the run's processes (analysis/blocks.hpp); null: one process.
Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where = {},
           dist::Runner* runner = nullptr);

// An input's record as bytes and back: how a block's results travel between processes (flow too).
void pack(dist::Packer& p, const InputInfo& info);
InputInfo unpack_input(dist::Unpacker& u);

// The document's parameters: every option that changed the result (the layer as resolved for
// the model), and the definitions used.
nlohmann::json params_json(const Options& options, const Result& result);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The picker name of a result's output position (its text, position and token), for figures.
nlohmann::json position_name();
// The figures these results make (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::rollout
