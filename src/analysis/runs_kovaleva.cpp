// Kovaleva et al.'s analyses as whole runs (see runs.hpp): patterns, features, compare.
#include <map>

#include <fmt/format.h>

#include "analysis/blocks.hpp"
#include "analysis/runs.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::runs {

namespace {

namespace pt = patterns;
namespace ft = features;

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

std::string features_table(const nlohmann::json& r) {
  std::string out;
  auto describe_entry = [&](const std::string& kind, const std::string& name, const nlohmann::json& j) {
    out += fmt::format("{} {} ({}): {} inputs", kind, name,
                       (j.contains("selector") ? j["selector"] : j["link"]).get<std::string>(),
                       j["inputs"].get<std::size_t>());
    if (j.contains("top")) {
      out += "; top heads";
      for (const auto& e : j["top"]) out += fmt::format(" {} {:.3f}", e["label"].get<std::string>(), e["score"].get<double>());
      out += fmt::format("; 99th percentile {:.3f}", j["percentile99"].get<double>());
    }
    out += "\n";
  };
  for (const auto& [name, j] : r["features"].items()) describe_entry("feature", name, j);
  for (const auto& [name, j] : r["links"].items()) describe_entry("link", name, j);
  return out;
}

std::string compare_table(const compare::Result& r, const nlohmann::json& special) {
  std::string out = fmt::format("{} inputs, {} maps: mean cosine similarity per head (rows = layers)\n", r.inputs,
                                r.pad_to > 0 ? fmt::format("padded to {} tokens", r.pad_to) : std::string("cropped"));
  out += "     ";
  for (std::int64_t h = 0; h < r.heads; ++h) out += fmt::format("{:>7}", h + 1);
  out += fmt::format("{:>8}   [CLS] a/b    [SEP] a/b    punct a/b\n", "mean");
  for (std::int64_t l = 0; l < r.layers; ++l) {
    out += fmt::format("{:>4} ", l + 1);
    double mean = 0;
    for (std::int64_t h = 0; h < r.heads; ++h) {
      const double v = r.cosine[static_cast<std::size_t>(l * r.heads + h)];
      mean += v / static_cast<double>(r.heads);
      out += fmt::format("{:>7.3f}", v);
    }
    out += fmt::format("{:>8.3f}", mean);
    for (const char* k : {"cls", "sep", "punct"})
      out += fmt::format("  {:.3f}/{:.3f}", special["a"][k]["layers"][l].get<double>(),
                         special["b"][k]["layers"][l].get<double>());
    out += "\n";
  }
  return out;
}

SourceOptions plain_source_options(const Common& common, bool with_progress = true) {
  SourceOptions o;
  o.batch_size = common.batch_size;
  o.truncate = common.truncate;
  if (with_progress) o.progress = common.progress;
  return o;
}

}  // namespace

Output patterns(const Subject& subject, const Common& common, const std::optional<TaskSpec>& task, const PatternChoice& choice) {
  if (choice.folds < 2 || choice.folds > 100) fail(ErrorKind::input, "patterns: folds must be in 2..100, not {}", choice.folds);
  if (!choice.save_classifier.empty() && choice.labels.empty())
    fail(ErrorKind::input, "patterns: saving the classifier needs labelled maps to train it on");
  if (!choice.classifier.empty() && !choice.labels.empty())
    fail(ErrorKind::input, "patterns: apply a saved classifier or train one on labelled maps, not both");
  pt::RuleThresholds thresholds;
  for (const auto& t : choice.thresholds) thresholds.set(t);
  const auto data = ft::read_dataset(common.data, task);
  const auto inputs = data.inputs();
  auto source = open_source(subject);
  const auto L = source.layers(), H = source.heads();

  std::optional<pt::LearnedClassifier> learned;
  nlohmann::json training = nullptr;
  if (!choice.classifier.empty()) learned = pt::LearnedClassifier::load(choice.classifier);
  if (!choice.labels.empty()) {
    const auto labelled = pt::read_map_labels(choice.labels);
    std::map<std::size_t, std::vector<const pt::MapLabel*>> by_input;
    for (const auto& m : labelled) {
      if (m.input >= inputs.size() || m.layer >= L || m.head >= H)
        fail(ErrorKind::input, "{}:{}: map (input {}, layer {}, head {}) is outside the data ({} inputs) or the model "
             "({} layers x {} heads)", choice.labels, m.line, m.input, m.layer, m.head, inputs.size(), L, H);
      by_input[m.input].push_back(&m);
    }
    // First pass: the features of the labelled maps (and what the rules say about them).
    std::vector<std::vector<double>> x;
    std::vector<pt::PatternClass> y, rules;
    source.run(inputs, plain_source_options(common, false), [&](AttentionExample& ex) {
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
      fail(ErrorKind::input, "{}: {} of the {} labelled maps were not seen (inputs skipped?)", choice.labels,
           labelled.size() - x.size(), labelled.size());
    learned = pt::LearnedClassifier::train(x, y);
    training = {{"labels", choice.labels}, {"maps", x.size()}, {"rules_vs_labels", pt::agreement(y, rules).to_json()}};
    if (static_cast<int>(x.size()) >= choice.folds) training["cross_validation"] = pt::cross_validate(x, y, choice.folds).to_json();
    training["folds"] = choice.folds;
    if (!choice.save_classifier.empty()) {
      learned->save(choice.save_classifier);
      training["saved"] = choice.save_classifier;
    }
  }

  pt::PatternCounts counts(L, H);
  const pt::LearnedClassifier* classifier = learned ? &*learned : nullptr;
  run_blocks(
      source, inputs, plain_source_options(common), common.runner, "patterns",
      [&](const ExampleVisitor& visit) {
        pt::PatternCounts block(L, H);
        visit([&](AttentionExample& ex) {
          block.add(ex.attentions, pt::token_roles(ex.encoding), thresholds, classifier, &ex.encoding.tokens);
        });
        return block.save();
      },
      [&](std::size_t b, std::string_view saved) { counts.merge(saved, fmt::format("patterns: the stored counts of block {}", b)); });

  Output out;
  auto& doc = out.document;
  doc.method = "patterns";
  doc.model = describe(subject, source);
  doc.data = {{"path", common.data}, {"format", ft::format_name(data.format)}, {"inputs", counts.inputs()}};
  doc.params = {{"classifier", classifier ? "learned" : "rules"},
                {"maps", "cropped to the input's real tokens"},
                {"thresholds", thresholds.to_json()},
                {"truncate", common.truncate}};
  if (!choice.classifier.empty()) doc.params["classifier_file"] = choice.classifier;
  doc.results = counts.to_json();
  if (!training.is_null()) doc.results["training"] = training;
  out.table = patterns_table(doc.results, L, H);
  if (!training.is_null()) {
    out.table += fmt::format("learned classifier on {} labelled maps; rules agree with the labels on {:.1f}%",
                             training["maps"].get<std::size_t>(), 100.0 * training["rules_vs_labels"]["accuracy"].get<double>());
    if (training.contains("cross_validation"))
      out.table += fmt::format("; {}-fold cross-validated accuracy {:.1f}%, macro F1 {:.3f}", choice.folds,
                               100.0 * training["cross_validation"]["accuracy"].get<double>(),
                               training["cross_validation"]["macro_f1"].get<double>());
    out.table += "\n";
  }
  return out;
}

Output features(const Subject& subject, const Common& common, const std::optional<TaskSpec>& task, const FeatureChoice& choice) {
  if (choice.pairing != "all" && choice.pairing != "zip") fail(ErrorKind::input, "features: pairing '{}' is not all or zip", choice.pairing);
  if (choice.missing != "skip" && choice.missing != "zero") fail(ErrorKind::input, "features: missing '{}' is not skip or zero", choice.missing);
  if (choice.span_filter != "kovaleva" && choice.span_filter != "none")
    fail(ErrorKind::input, "features: span filter '{}' is not kovaleva or none", choice.span_filter);
  auto data = ft::read_dataset(common.data, task);
  if (data.format == ft::DataFormat::spans && choice.span_filter == "kovaleva") ft::filter_spans(data, ft::SpanFilter{});
  if (data.examples.empty()) fail(ErrorKind::input, "{}: no inputs left to analyse", common.data);

  ft::Options opt;
  opt.pairing = choice.pairing == "zip" ? ft::Pairing::zip : ft::Pairing::all;
  opt.missing = choice.missing == "zero" ? ft::Missing::zero : ft::Missing::skip;
  std::vector<std::string> features = choice.features, links = choice.links;
  if (features.empty() && links.empty()) {
    // The paper's analyses for each kind of data.
    features = {"cls", "sep"};
    if (data.format == ft::DataFormat::conllu) {
      for (const char* f : {"pron", "noun", "verb", "subj", "obj", "neg"}) features.push_back(f);
      links = {"subj-verb=arc:nsubj/VERB", "verb-subj=rarc:nsubj/VERB"};
    } else if (data.format == ft::DataFormat::spans) {
      links = {"fe-target=span:fe>span:target"};
    } else {
      features.push_back("neg");
    }
  }
  for (const auto& f : features) {
    opt.features.push_back(ft::parse_feature(f));
    opt.features.back().selector.check_format(data.format);
  }
  for (const auto& k : links) {
    opt.links.push_back(ft::Link::parse(k));
    opt.links.back().check_format(data.format);
  }

  const auto inputs = data.inputs();
  auto source = open_source(subject);
  ft::Accumulator acc(source.layers(), source.heads(), opt);
  run_blocks(
      source, inputs, plain_source_options(common), common.runner, "features",
      [&](const ExampleVisitor& visit) {
        ft::Accumulator block(source.layers(), source.heads(), opt);
        visit([&](AttentionExample& ex) { block.add(data.examples[ex.index], ex.encoding, ex.attentions); });
        return block.save();
      },
      [&](std::size_t b, std::string_view saved) { acc.merge(saved, fmt::format("features: the stored sums of block {}", b)); });

  Output out;
  auto& doc = out.document;
  doc.method = "features";
  doc.model = describe(subject, source);
  doc.data = {{"path", common.data}, {"format", ft::format_name(data.format)}, {"inputs", inputs.size()}};
  doc.data.update(data.report);
  doc.params = ft::params_json(opt);
  doc.params["span_filter"] = data.format == ft::DataFormat::spans ? choice.span_filter : "not applicable";
  doc.params["truncate"] = common.truncate;
  doc.results = acc.to_json();
  out.table = features_table(doc.results);
  return out;
}

Output compare(const model::Model& a, const std::string& a_path, const model::Model& b, const std::string& b_path,
               const Common& common, const std::optional<TaskSpec>& task, std::int64_t pad_to) {
  if (pad_to < 0) fail(ErrorKind::input, "compare: pad_to must be >= 0, not {}", pad_to);
  compare::check_compatible(a, b);
  const auto data = ft::read_dataset(common.data, task);
  const auto inputs = data.inputs();
  compare::Options opt;
  opt.pad_to = pad_to;
  opt.batch_size = common.batch_size;
  opt.truncate = common.truncate;
  opt.describe = [&](std::size_t i) { return fmt::format("{}:{}", common.data, data.examples[i].line); };
  opt.progress = common.progress;
  const auto r = compare::run(a, b, inputs, opt, common.runner);

  Output out;
  auto& doc = out.document;
  doc.method = "compare";
  doc.model = {{"a", {{"path", a_path}, {"architectures", a.config().architectures}}},
               {"b", {{"path", b_path}, {"architectures", b.config().architectures}}},
               {"layers", a.layers()},
               {"heads", a.heads()}};
  doc.data = {{"path", common.data}, {"format", ft::format_name(data.format)}, {"inputs", r.inputs}};
  doc.params = compare::params_json(opt, r);
  doc.results = r.to_json();
  out.table = compare_table(r, doc.results["special"]);
  return out;
}

}  // namespace bertscope::analysis::runs
