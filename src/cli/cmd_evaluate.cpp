#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/model_card.hpp"
#include "cli/progress.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/mlm_eval.hpp"
#include "model/model.hpp"

namespace bertscope::cli {

namespace {

namespace fs = std::filesystem;

fs::path folder_name(const fs::path& dir) {
  auto p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename();
}

// The held-out figures go into the folder's own report and card; a figure from before the
// masked-only protocol is kept under a name that says what it counted.
void update_model_card(const fs::path& dir, const model::Model& m, const nlohmann::json& held_out) {
  const auto path = dir / "train_report.json";
  auto report = io::read_json(path);
  if (report.contains("held_out") && !report["held_out"].contains("protocol")) {
    auto old = report["held_out"];
    old["counts"] = "BERT's 80/10/10 corruption; every selected position counted as a prediction, also the 10% left "
                    "unchanged and the 10% replaced at random; superseded by held_out";
    report["held_out_80_10_10_at_training"] = old;
  }
  report["held_out"] = held_out;
  report = portable_report(std::move(report));
  std::string what = pretrained_description(m.config());
  const auto dtype = m.config().raw.value("torch_dtype", std::string());
  if (!dtype.empty()) what += fmt::format(" Weights stored in {}.", dtype);
  io::write_file_atomic(path, report.dump(1) + "\n");
  write_model_card(dir, folder_name(dir).string(), what, report);
}

void add_evaluate_mlm(CLI::App& group) {
  struct Args {
    std::string model, out, dump;
    std::vector<std::string> corpus, unigram_corpus;
    model::MlmEvalOptions opt;
    bool update_card = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = group.add_subcommand(
      "mlm",
      "Held-out masked-LM loss and accuracy of a model folder: text cut into sequences as `train mlm` cuts it, 15% of "
      "the non-special tokens of each selected with a fixed seed and every one replaced by the mask token; accuracy is "
      "top-1 over those positions, loss the mean cross-entropy. With --unigram-corpus (the training text) also the "
      "unigram baseline on the same positions.");
  cmd->add_option("--model", args->model, "Hugging Face folder with a masked-LM head")->required();
  cmd->add_option("--corpus", args->corpus, "Held-out text files (Project Gutenberg headers are removed)")->required();
  cmd->add_option("--unigram-corpus", args->unigram_corpus, "Training text files, for the unigram baseline");
  cmd->add_option("--out", args->out, "Report (JSON)")->required();
  cmd->add_option("--instances", args->opt.sequences, "Held-out sequences")->check(CLI::PositiveNumber);
  cmd->add_option("--seq-len", args->opt.seq_len, "Tokens per sequence (as in training)")->check(CLI::Range(8, 4096));
  cmd->add_option("--mask-prob", args->opt.mask_prob, "Share of non-special tokens selected");
  cmd->add_option("--seed", args->opt.seed, "Seed of the sequences and the selection");
  cmd->add_flag("--bert-masking", args->opt.bert_masking,
                "Also score the same positions with BERT's 80/10/10 inputs (reported separately)");
  cmd->add_option("--dump-instances", args->dump,
                  "Also write the evaluated sequences (.npz: input_ids, token_type_ids, lengths, sequence, position, label)");
  cmd->add_flag("--update-model-card", args->update_card,
                "Record the result as held_out in MODEL/train_report.json and rewrite MODEL/README.md from it");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    const auto m = model::Model::load(args->model);
    model::require_mlm_head(m);
    if (args->update_card && !fs::is_regular_file(fs::path(args->model) / "train_report.json"))
      fail(ErrorKind::input, "{}: no train_report.json, so there is no model card to update", args->model);
    const auto& tok = m.tokenizer();
    const auto held_out = model::MlmCorpus::from_files({args->corpus.begin(), args->corpus.end()}, tok);
    std::optional<model::MlmCorpus> unigram;
    if (!args->unigram_corpus.empty())
      unigram = model::MlmCorpus::from_files({args->unigram_corpus.begin(), args->unigram_corpus.end()}, tok);
    model::MlmEvalResult r;
    {
      Progress bar("evaluating", args->opt.sequences);
      r = model::evaluate_mlm(m, tok, held_out, unigram ? &*unigram : nullptr, args->opt,
                              [&](std::int64_t) { bar.advance(); });
    }
    auto held = model::mlm_eval_json(r, args->opt, tok);
    held["files"] = report_file_names(args->corpus);
    if (unigram) held["unigram"]["files"] = report_file_names(args->unigram_corpus);
    if (!args->dump.empty()) model::write_mlm_eval_instances(args->dump, held_out, tok, m.config(), args->opt);
    const nlohmann::json doc{{"method", "mlm_eval"},
                             {"model", {{"name", folder_name(args->model).string()}}},
                             {"results", held}};
    io::write_file_atomic(args->out, doc.dump(1) + "\n");
    if (args->update_card) update_model_card(args->model, m, held);
    fmt::print("held-out MLM, every selected position masked ({} positions in {} sequences): loss {:.4f}, accuracy {:.2f}%",
               r.model.count, r.sequences, r.model.loss(), 100 * r.model.accuracy());
    if (r.unigram) fmt::print(" (unigram baseline: loss {:.4f}, accuracy {:.2f}%)", r.unigram->loss(), 100 * r.unigram->accuracy());
    fmt::print("\n");
    if (r.bert_masking)
      fmt::print("with BERT's 80/10/10 inputs on the same positions: loss {:.4f}, accuracy {:.2f}%\n", r.bert_masking->loss(),
                 100 * r.bert_masking->accuracy());
  });
}

void add_evaluate_group(CLI::App& app) {
  auto* cmd = app.add_subcommand("evaluate", "Evaluate a model folder on held-out data (masked-LM loss and accuracy).");
  cmd->require_subcommand(1);
  add_evaluate_mlm(*cmd);
}

}  // namespace

BERTSCOPE_COMMAND("", 84, add_evaluate_group);

}  // namespace bertscope::cli
