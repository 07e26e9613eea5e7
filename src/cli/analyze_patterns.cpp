#include <map>
#include <tuple>

#include <fmt/format.h>

#include "analysis/features.hpp"
#include "analysis/patterns.hpp"
#include "cli/analyze.hpp"
#include "cli/task_options.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace pt = analysis::patterns;

std::string patterns_table(const nlohmann::json& counts, std::int64_t layers, std::int64_t heads) {
  std::string out = fmt::format("{} inputs, {} maps; share of maps per class:\n", counts["inputs"].get<std::int64_t>(),
                                counts["maps"].get<std::int64_t>());
  for (std::size_t c = 0; c < pt::kClassCount; ++c) {
    const auto name = std::string(pt::class_name(static_cast<pt::PatternClass>(c)));
    out += fmt::format("  {:<18} {:6.1f}%\n", name, 100.0 * counts["share"][name].get<double>());
  }
  out += "majority class per head (V vertical, D diagonal, M vertical+diagonal, B block, H heterogeneous):\n";
  const char letters[] = {'V', 'D', 'M', 'B', 'H'};
  for (std::int64_t l = 0; l < layers; ++l) {
    out += fmt::format("{:>4} ", l + 1);
    for (std::int64_t h = 0; h < heads; ++h) {
      const auto majority = counts["heads"][static_cast<std::size_t>(l * heads + h)]["majority"].get<std::string>();
      out += letters[static_cast<std::size_t>(*pt::parse_class(majority))];
    }
    out += "\n";
  }
  return out;
}

void add_patterns(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    TaskArgs task;
    std::vector<std::string> thresholds;
    std::string labels, save_classifier, classifier;
    int folds = 5;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "patterns",
      "Kovaleva et al.'s self-attention pattern types per head and input: vertical, diagonal, vertical+diagonal, "
      "block, heterogeneous. Transparent rules on measurable map features by default; --labels trains a classifier "
      "on maps you labelled yourself (--save-classifier keeps it, --classifier applies a saved one).");
  add_analyze_options(*cmd, args->common);
  add_task_options(*cmd, args->task);
  cmd->add_option("--threshold", args->thresholds,
                  "Rule threshold NAME=VALUE (vertical 0.5, diagonal 0.5, mix 0.15, mix_total 0.6, block 0.6, block_entropy 0.3); "
                  "repeatable");
  auto* labels = cmd->add_option("--labels", args->labels,
                                 "TSV of hand-labelled maps, header input<TAB>layer<TAB>head<TAB>label (input = 0-based "
                                 "position in --data; label = vertical, diagonal, vertical+diagonal, block or "
                                 "heterogeneous): train the learned classifier and apply it");
  auto* save = cmd->add_option("--save-classifier", args->save_classifier, "Save the trained classifier (JSON) here");
  save->needs(labels);
  cmd->add_option("--classifier", args->classifier, "Apply a classifier saved with --save-classifier")->excludes(labels);
  cmd->add_option("--folds", args->folds, "Cross-validation folds for --labels (default 5)")->check(CLI::Range(2, 100));
  cmd->callback([args] {
    const auto& a = args->common;
    pt::RuleThresholds thresholds;
    for (const auto& t : args->thresholds) thresholds.set(t);
    const auto data = analysis::features::read_dataset(a.data, task_spec(args->task));
    const auto inputs = data.inputs();
    auto ctx = open_analyze(a, "patterns", inputs.size());
    const auto L = ctx.source->layers(), H = ctx.source->heads();

    std::optional<pt::LearnedClassifier> learned;
    nlohmann::json training = nullptr;
    if (!args->classifier.empty()) learned = pt::LearnedClassifier::load(args->classifier);
    if (!args->labels.empty()) {
      const auto labelled = pt::read_map_labels(args->labels);
      std::map<std::size_t, std::vector<const pt::MapLabel*>> by_input;
      for (const auto& m : labelled) {
        if (m.input >= inputs.size() || m.layer >= L || m.head >= H)
          fail(ErrorKind::input, "{}:{}: map (input {}, layer {}, head {}) is outside the data ({} inputs) or the model "
               "({} layers x {} heads)", args->labels, m.line, m.input, m.layer, m.head, inputs.size(), L, H);
        by_input[m.input].push_back(&m);
      }
      // First pass: the features of the labelled maps (and what the rules say about them).
      std::vector<std::vector<double>> x;
      std::vector<pt::PatternClass> y, rules;
      auto opt = source_options(a, ctx);
      opt.progress = nullptr;
      ctx.source->run(inputs, opt, [&](analysis::AttentionExample& ex) {
        const auto it = by_input.find(ex.index);
        if (it == by_input.end()) return;
        const auto roles = pt::token_roles(ex.encoding);
        const auto t = roles.size();
        for (const auto* m : it->second) {
          const float* map = ex.attentions.ptr() + (m->layer * H + m->head) * t * t;
          x.push_back(pt::feature_vector(map, t, roles));
          y.push_back(m->label);
          rules.push_back(pt::classify_rules(pt::map_features(map, t, roles), thresholds));
        }
      });
      if (x.size() != labelled.size())
        fail(ErrorKind::input, "{}: {} of the {} labelled maps were not seen (inputs skipped?)", args->labels,
             labelled.size() - x.size(), labelled.size());
      learned = pt::LearnedClassifier::train(x, y);
      training = {{"labels", args->labels}, {"maps", x.size()}, {"rules_vs_labels", pt::agreement(y, rules).to_json()}};
      if (static_cast<int>(x.size()) >= args->folds)
        training["cross_validation"] = pt::cross_validate(x, y, args->folds).to_json();
      training["folds"] = args->folds;
      if (!args->save_classifier.empty()) {
        learned->save(args->save_classifier);
        training["saved"] = args->save_classifier;
      }
    }

    pt::PatternCounts counts(L, H);
    const pt::LearnedClassifier* classifier = learned ? &*learned : nullptr;
    ctx.source->run(inputs, source_options(a, ctx), [&](analysis::AttentionExample& ex) {
      counts.add(ex.attentions, pt::token_roles(ex.encoding), thresholds, classifier);
    });
    ctx.progress->finish();

    report::ResultDocument doc;
    doc.method = "patterns";
    doc.model = ctx.model_json;
    doc.data = {{"path", a.data}, {"format", analysis::features::format_name(data.format)}, {"inputs", counts.inputs()}};
    doc.params = {{"classifier", classifier ? "learned" : "rules"},
                  {"maps", "cropped to the input's real tokens"},
                  {"thresholds", thresholds.to_json()},
                  {"truncate", a.truncate}};
    if (!args->classifier.empty()) doc.params["classifier_file"] = args->classifier;
    doc.results = counts.to_json();
    if (!training.is_null()) doc.results["training"] = training;
    std::string table = patterns_table(doc.results, L, H);
    if (!training.is_null()) {
      table += fmt::format("learned classifier on {} labelled maps; rules agree with the labels on {:.1f}%",
                           training["maps"].get<std::size_t>(),
                           100.0 * training["rules_vs_labels"]["accuracy"].get<double>());
      if (training.contains("cross_validation"))
        table += fmt::format("; {}-fold cross-validated accuracy {:.1f}%, macro F1 {:.3f}", args->folds,
                             100.0 * training["cross_validation"]["accuracy"].get<double>(),
                             training["cross_validation"]["macro_f1"].get<double>());
      table += "\n";
    }
    finish_analyze(a, doc, table);
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 30, add_patterns);

}  // namespace bertscope::cli
