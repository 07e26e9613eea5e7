#include <fmt/format.h>

#include "analysis/saliency.hpp"
#include "cli/analyze.hpp"
#include "cli/analyze_text_inputs.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace sl = analysis::saliency;

// A class given as its number or its name in the config's id2label ("pred": the prediction).
std::int32_t parse_class(const model::Model& m, const std::string& s) {
  if (s.empty() || s == "pred") return -1;
  const auto K = m.config().num_labels;
  for (std::int64_t k = 0; k < K; ++k)
    if (m.config().label(k) == s) return static_cast<std::int32_t>(k);
  try {
    std::size_t used = 0;
    const auto v = std::stol(s, &used);
    if (used == s.size() && v >= 0 && v < K) return static_cast<std::int32_t>(v);
  } catch (const std::exception&) {
  }
  std::string names;
  for (std::int64_t k = 0; k < K; ++k) names += (k ? ", " : "") + m.config().label(k);
  fail(ErrorKind::input, "class \"{}\" is neither a class number below {} nor one of the model's labels ({})", s, K, names);
}

// A vocabulary token ("pred": the prediction).
std::int32_t parse_token(const model::Model& m, const std::string& s) {
  if (s.empty() || s == "pred") return -1;
  if (const auto id = m.tokenizer().find(s)) return *id;
  fail(ErrorKind::input, "token \"{}\" is not in the model's vocabulary (give a word piece, e.g. \"is\" or \"##ing\")", s);
}

void add_saliency(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    SegmentArgs seg;
    std::string cls, minus_cls, position, token, minus_token, baseline = "zero", rule = "trapezoid";
    sl::Options options;
    bool no_ig = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "saliency",
      "Token attributions on the input word embeddings: gradient x input and integrated gradients (zero, [PAD] or "
      "[MASK] baseline; the completeness error sum - (F(x) - F(baseline)) is reported per input) for one output F: a "
      "class logit (--class, sequence classifiers), an MLM token logit at a position (--position, --token), or the "
      "difference of two (--minus-class, --minus-token). --data: one text per line, a tab separating a pair.");
  add_analyze_options(*cmd, args->common, false);
  add_segment_options(*cmd, args->seg);
  cmd->add_option("--class", args->cls, "Class logit to explain: a number or label name, or pred (default: the prediction)");
  cmd->add_option("--minus-class", args->minus_cls, "Explain the class logit minus this class's logit");
  cmd->add_option("--position", args->position, "MLM target: token position (0-based), or mask for the first [MASK] (default)");
  cmd->add_option("--token", args->token, "MLM target: the vocabulary token whose logit to explain, or pred (default)");
  cmd->add_option("--minus-token", args->minus_token, "MLM target: subtract this token's logit (e.g. --token is --minus-token are)");
  cmd->add_option("--baseline", args->baseline, "Integrated-gradients baseline: zero, pad or mask embeddings")
      ->check(CLI::IsMember({"zero", "pad", "mask"}));
  cmd->add_flag("--keep-special", args->options.keep_special, "[CLS] and [SEP] keep their own embeddings in the baseline");
  cmd->add_option("--steps", args->options.steps, "Integration intervals (50)")->check(CLI::Range(1, 100000));
  cmd->add_option("--rule", args->rule,
                  "Quadrature: trapezoid (steps + 1 points, default), midpoint (steps points) or uniform (steps + 1 equal "
                  "weights, as Lu et al.'s code)")
      ->check(CLI::IsMember({"trapezoid", "midpoint", "uniform"}));
  cmd->add_flag("--no-ig", args->no_ig, "Gradient x input only");
  cmd->callback([args] {
    auto& a = args->common;
    auto ctx = open_analyze(a, "saliency", 0);
    const auto& m = *ctx.model;
    const auto inputs = load_text_inputs(a, args->seg, ctx);
    auto& o = args->options;
    const bool mlm = !args->position.empty() || !args->token.empty() || !args->minus_token.empty() ||
                     m.config().head_kind() != model::HeadKind::sequence_classification;
    if (mlm && (!args->cls.empty() || !args->minus_cls.empty()))
      fail(ErrorKind::input, "--class/--minus-class explain a classifier; --position/--token an MLM logit: give one kind");
    if (mlm) {
      o.target.kind = sl::Target::Kind::mlm_logit;
      if (!args->position.empty() && args->position != "mask") {
        try {
          std::size_t used = 0;
          o.target.position = std::stol(args->position, &used);
          if (used != args->position.size() || o.target.position < 0) throw std::invalid_argument("");
        } catch (const std::exception&) {
          fail(ErrorKind::input, "--position \"{}\": give a 0-based token position or mask", args->position);
        }
      }
      o.target.index = parse_token(m, args->token);
      if (!args->minus_token.empty()) o.target.minus = parse_token(m, args->minus_token);
    } else {
      o.target.index = parse_class(m, args->cls);
      if (!args->minus_cls.empty()) o.target.minus = parse_class(m, args->minus_cls);
    }
    if (o.target.minus && *o.target.minus < 0) fail(ErrorKind::input, "the subtracted output cannot be pred");
    o.baseline = sl::parse_baseline(args->baseline);
    o.rule = sl::parse_rule(args->rule);
    o.integrated = !args->no_ig;
    o.batch_size = a.batch;
    ctx.progress = std::make_unique<Progress>("saliency", static_cast<std::int64_t>(inputs.inputs.size()));
    std::size_t last = 0;
    const auto r = sl::run(m, inputs.inputs, o, a.truncate, [&](std::size_t i) { return inputs.where(i); },
                           [&](std::size_t done, std::size_t) {
                             ctx.progress->advance(static_cast<std::int64_t>(done - last));
                             last = done;
                           });
    ctx.progress->finish();
    report::ResultDocument doc;
    doc.method = "saliency";
    doc.model = ctx.model_json;
    doc.data = {{"path", a.data}, {"inputs", inputs.inputs.size()}};
    doc.params = segment_params(args->seg);
    doc.params["target"] = mlm ? "mlm_logit" : "class_logit";
    doc.params["class"] = args->cls.empty() ? "pred" : args->cls;
    if (mlm) {
      doc.params["position"] = args->position.empty() ? "mask" : args->position;
      doc.params["token"] = args->token.empty() ? "pred" : args->token;
      if (!args->minus_token.empty()) doc.params["minus_token"] = args->minus_token;
      doc.params.erase("class");
    } else if (!args->minus_cls.empty()) {
      doc.params["minus_class"] = args->minus_cls;
    }
    doc.params["embeddings"] = "word embeddings only (position and token-type embeddings fixed)";
    doc.params["integrated_gradients"] = o.integrated;
    doc.params["baseline"] = args->baseline;
    doc.params["keep_special"] = o.keep_special;
    doc.params["steps"] = o.steps;
    doc.params["rule"] = args->rule;
    doc.params["truncate"] = a.truncate;
    doc.results = sl::to_json(r);
    finish_analyze(a, doc, sl::table(r));
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 71, add_saliency);

}  // namespace bertscope::cli
