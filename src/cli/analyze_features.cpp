#include <fmt/format.h>

#include "analysis/features.hpp"
#include "cli/analyze.hpp"
#include "cli/task_options.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

namespace {

namespace ft = analysis::features;

std::string features_table(const nlohmann::json& r) {
  std::string out;
  auto describe = [&](const std::string& kind, const std::string& name, const nlohmann::json& j) {
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
  for (const auto& [name, j] : r["features"].items()) describe("feature", name, j);
  for (const auto& [name, j] : r["links"].items()) describe("link", name, j);
  return out;
}

void add_features(CLI::App& analyze) {
  struct Args {
    AnalyzeArgs common;
    TaskArgs task;
    std::vector<std::string> features, links;
    std::string pairing = "all", missing = "skip", span_filter = "kovaleva";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = analyze.add_subcommand(
      "features",
      "Attention to linguistic features per head (Kovaleva et al. 2019): for each feature, the largest attention any "
      "of its tokens receives (mean over queries, i.e. normalised by length) and the attention from [CLS]; for each "
      "link, the largest attention from one token set to another (e.g. FrameNet frame element -> target, subject -> "
      "verb). Without --feature/--link the paper's features for the data format are used.");
  add_analyze_options(*cmd, args->common);
  add_task_options(*cmd, args->task);
  cmd->add_option("--feature", args->features,
                  "NAME=SELECTOR (cls, sep, neg, pron, noun, verb, subj, obj, words:a,b, words@FILE, upos:X, xpos:X, "
                  "deprel:x, span:target|fe|fe-all|NAME); repeatable");
  cmd->add_option("--link", args->links, "NAME=FROM>TO with two selectors, or NAME=arc:REL[/UPOS] / rarc:REL (CoNLL-U); repeatable");
  cmd->add_option("--pairing", args->pairing, "Link token pairs: all (the paper's text) or zip (the paper's code)")
      ->check(CLI::IsMember({"all", "zip"}));
  cmd->add_option("--missing", args->missing,
                  "Inputs without the feature: skip (the paper's text) or count as 0 (its code, except for negation)")
      ->check(CLI::IsMember({"skip", "zero"}));
  cmd->add_option("--span-filter", args->span_filter,
                  "Span data: kovaleva (the paper's FrameNet sentence filter, default) or none")
      ->check(CLI::IsMember({"kovaleva", "none"}));
  cmd->callback([args] {
    const auto& a = args->common;
    auto data = ft::read_dataset(a.data, task_spec(args->task));
    if (data.format == ft::DataFormat::spans && args->span_filter == "kovaleva") ft::filter_spans(data, ft::SpanFilter{});
    if (data.examples.empty()) fail(ErrorKind::input, "{}: no inputs left to analyse", a.data);

    ft::Options opt;
    opt.pairing = args->pairing == "zip" ? ft::Pairing::zip : ft::Pairing::all;
    opt.missing = args->missing == "zero" ? ft::Missing::zero : ft::Missing::skip;
    std::vector<std::string> features = args->features, links = args->links;
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
    auto ctx = open_analyze(a, "features", inputs.size());
    ft::Accumulator acc(ctx.source->layers(), ctx.source->heads(), opt);
    ctx.source->run(inputs, source_options(a, ctx), [&](analysis::AttentionExample& ex) {
      acc.add(data.examples[ex.index], ex.encoding, ex.attentions);
    });
    ctx.progress->finish();

    report::ResultDocument doc;
    doc.method = "features";
    doc.model = ctx.model_json;
    doc.data = {{"path", a.data}, {"format", ft::format_name(data.format)}, {"inputs", inputs.size()}};
    doc.data.update(data.report);
    doc.params = ft::params_json(opt);
    doc.params["span_filter"] = data.format == ft::DataFormat::spans ? args->span_filter : "not applicable";
    doc.params["truncate"] = a.truncate;
    doc.results = acc.to_json();
    finish_analyze(a, doc, features_table(doc.results));
  });
}

}  // namespace

BERTSCOPE_COMMAND("analyze", 40, add_features);

}  // namespace bertscope::cli
