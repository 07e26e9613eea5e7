// Token attributions from gradients with respect to the input word embeddings: gradient x input
// and integrated gradients (Sundararajan et al. 2017), for one scalar output F of the model:
// a class logit, an MLM token logit at a position, or the difference of two such logits.
//
// Only the word embeddings x_i move (position and token-type embeddings stay), so F(x) is the
// model's output and the attributions of a token sum its embedding dimensions:
//   gradient x input     a_i = sum_d x_{i,d} dF/dx_{i,d}(x)
//   integrated gradients a_i = sum_d (x - b)_{i,d} * integral_0^1 dF/dx_{i,d}(b + t (x - b)) dt
// with the baseline b: zero vectors, the [PAD] embedding or the [MASK] embedding at every
// position ([CLS] and [SEP] may keep their own embedding, so their attribution is 0). The
// integral is a quadrature over `steps` intervals: trapezoid (steps + 1 points, default),
// midpoint (steps points), or uniform (steps + 1 points, equal weights: Lu et al.'s
// influence-patterns code). Completeness: sum_i a_i = F(x) - F(b) for the exact integral; the
// quadrature's error is reported per example.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/figure.hpp"

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::saliency {

// The scalar output F.
struct Target {
  enum class Kind { class_logit, mlm_logit };
  Kind kind = Kind::class_logit;
  std::int64_t position = -1;         // mlm: token position; -1 = the first [MASK] of the input
  std::int32_t index = -1;            // class number or vocabulary id; -1 = the model's prediction at x
  std::optional<std::int32_t> minus;  // F = logit[index] - logit[minus]
};

// The output to explain as a user names it: a class by number or label name, a vocabulary token,
// a 0-based position or "mask"; empty strings (or "pred") take the defaults (the prediction; the
// first mask token).
struct TargetSpec {
  std::string cls, minus_cls, position, token, minus_token;
};
// The target for this model: an MLM logit when a position or token is given or the model is not a
// sequence classifier, else a class logit. Throws Error(input) naming the field at fault.
Target resolve_target(const model::Model& model, const TargetSpec& spec);

enum class Baseline { zero, pad, mask };
std::string_view baseline_name(Baseline b);
Baseline parse_baseline(std::string_view name);  // zero | pad | mask; Error(input) otherwise

enum class Rule { trapezoid, midpoint, uniform };
std::string_view rule_name(Rule r);
Rule parse_rule(std::string_view name);

struct Options {
  Target target;
  Baseline baseline = Baseline::zero;
  bool keep_special = false;   // [CLS]/[SEP] keep their embeddings in the baseline
  bool integrated = true;      // integrated gradients besides gradient x input
  std::int64_t steps = 50;
  Rule rule = Rule::trapezoid;
  std::size_t batch_size = 16;  // path points per forward/backward pass
};

struct Attribution {
  std::size_t input = 0;
  std::vector<std::string> tokens;
  std::string text;
  std::int64_t position = -1;  // mlm targets
  std::int32_t index = 0;
  std::optional<std::int32_t> minus;
  std::string target;          // readable: "class positive", "mlm[7] is - are"
  // What the model predicts at the input: the class (its label and softmax probability), or the
  // vocabulary token at an MLM target's position.
  std::int32_t predicted = -1;
  std::string predicted_name;
  double predicted_probability = 0;
  std::optional<std::string> gold;  // a task file's gold label (its class name when bound to the model)
  std::int64_t gold_class = -1;     // and its class, when the model is a classifier
  double f_input = 0, f_baseline = 0;
  std::vector<double> grad_x_input, grad_norm;  // [T]
  std::vector<double> integrated;               // [T] when integrated
  double integrated_sum = 0;
  double completeness_error = 0;      // |sum - (F(x) - F(b))| / |F(x) - F(b)|
  double completeness_abs_error = 0;  // |sum - (F(x) - F(b))|
  std::int64_t path_points = 0;       // forward + backward passes spent on the path
};

// F at the given word embeddings [T, hidden] of one input (position/type from `input`).
double output_at(const model::Model& model, const model::ModelInput& input, const core::Tensor& word_embeddings,
                 const Target& target);

// The word embeddings of an input as the model looks them up [T, hidden], and its baseline.
core::Tensor input_embeddings(const model::Model& model, const model::ModelInput& input);
core::Tensor baseline_embeddings(const model::Model& model, const model::ModelInput& input, Baseline baseline,
                                 bool keep_special);

// Attributions for one input (the target's -1 fields resolved on it). `encoding` gives the
// tokens for the result (may be null: tokens are then the vocabulary strings of the ids).
Attribution attribute(const model::Model& model, const model::ModelInput& input, const Options& options,
                      const model::Encoding* encoding = nullptr);

struct Result {
  std::vector<Attribution> examples;
  Options options;
  double mean_completeness_error = 0, max_completeness_error = 0;
  double seconds = 0;
};

// `runner`: spreads the inputs over the run's processes (dist::Runner); null: one process.
Result run(const model::Model& model, const std::vector<AnalysisInput>& inputs, const Options& options, bool truncate,
           const std::function<std::string(std::size_t)>& where = {},
           const std::function<void(std::size_t done, std::size_t total)>& progress = {},
           dist::Runner* runner = nullptr);

// The document's parameters: the target as the user named it, every option that changed the
// result, and the definitions used.
nlohmann::json params_json(const Options& options, const TargetSpec& target);

nlohmann::json to_json(const Result& result);
std::string table(const Result& result);

// The figures these results make (analysis/figure.hpp).
std::vector<Figure> figures(const nlohmann::json& results);

}  // namespace bertscope::analysis::saliency
