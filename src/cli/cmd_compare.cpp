#include <fmt/format.h>

#include "analysis/compare.hpp"
#include "analysis/features.hpp"
#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/task_options.hpp"
#include "io/error.hpp"
#include "report/results.hpp"

namespace bertscope::cli {

namespace {

std::string compare_table(const analysis::compare::Result& r, const nlohmann::json& special) {
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

void add_compare_command(CLI::App& app) {
  struct Args {
    std::string model, model_b, data, out;
    TaskArgs task;
    std::int64_t pad_to = 0;
    std::size_t batch = 16;
    int threads = 0;
    bool truncate = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "compare",
      "Compare the attention of two models with the same encoder shape and vocabulary on identical inputs (e.g. "
      "pre-trained BERT and its fine-tuned version, Kovaleva et al. 2019): per head, the cosine similarity of their "
      "maps averaged over inputs (results.cosine [layers x heads]), and the attention to [CLS], [SEP] and punctuation "
      "per layer for both (results.special).");
  cmd->add_option("--model", args->model, "Model A (e.g. pre-trained)")->required();
  cmd->add_option("--model-b", args->model_b, "Model B (e.g. fine-tuned)")->required();
  cmd->add_option("--data", args->data, "Inputs: task TSV, CoNLL-U, span TSV or text lines (a tab separates a pair)")
      ->required();
  cmd->add_option("--out", args->out, "Write the result JSON document here");
  cmd->add_option("--pad-to", args->pad_to,
                  "Compare maps padded with [PAD] to this many tokens, as the paper's code did (200); default 0: maps "
                  "cropped to the real tokens")
      ->check(CLI::NonNegativeNumber);
  add_task_options(*cmd, args->task);
  cmd->add_option("--batch-size", args->batch, "Inputs per forward pass")->check(CLI::PositiveNumber);
  cmd->add_flag("--truncate", args->truncate, "Truncate over-long inputs instead of failing");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    const auto a = model::Model::load(args->model);
    const auto b = model::Model::load(args->model_b);
    analysis::compare::check_compatible(a, b);
    const auto data = analysis::features::read_dataset(args->data, task_spec(args->task));
    const auto inputs = data.inputs();
    analysis::compare::Options opt;
    opt.pad_to = args->pad_to;
    opt.batch_size = args->batch;
    opt.truncate = args->truncate;
    opt.describe = [&](std::size_t i) { return fmt::format("{}:{}", args->data, data.examples[i].line); };
    Progress progress("compare", static_cast<std::int64_t>(inputs.size()));
    std::int64_t last = 0;
    opt.progress = [&](std::size_t done, std::size_t) {
      progress.advance(static_cast<std::int64_t>(done) - last);
      last = static_cast<std::int64_t>(done);
    };
    const auto r = analysis::compare::run(a, b, inputs, opt);
    progress.finish();

    report::ResultDocument doc;
    doc.method = "compare";
    doc.model = {{"a", {{"path", args->model}, {"architectures", a.config().architectures}}},
                 {"b", {{"path", args->model_b}, {"architectures", b.config().architectures}}},
                 {"layers", a.layers()},
                 {"heads", a.heads()}};
    doc.data = {{"path", args->data}, {"format", analysis::features::format_name(data.format)}, {"inputs", r.inputs}};
    doc.params = analysis::compare::params_json(opt, r);
    doc.results = r.to_json();
    if (!args->out.empty()) report::write_results(args->out, doc);
    fmt::print("{}", compare_table(r, doc.results["special"]));
    if (!args->out.empty()) fmt::print("wrote {}\n", args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 55, add_compare_command);

}  // namespace bertscope::cli
