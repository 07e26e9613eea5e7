#include "cli/model_card.hpp"

#include <fmt/format.h>

#include "io/files.hpp"

namespace bertscope::cli {

namespace {

std::string card_file_list(const nlohmann::json& files, const char* indent) {
  std::string out;
  for (const auto& f : files) out += fmt::format("{}- {}\n", indent, report_file_name(f.get<std::string>()));
  return out;
}

std::string joined_names(const nlohmann::json& files) {
  std::string out;
  for (const auto& f : files) out += (out.empty() ? "" : " ") + report_file_name(f.get<std::string>());
  return out;
}

// The held-out MLM section: the masked-only protocol (model/mlm_eval.hpp), with what it counts.
std::string held_out_section(const nlohmann::json& report) {
  const auto& h = report["held_out"];
  std::string s;
  if (!h.contains("protocol")) {  // a report written before the protocol: every selected position counted
    s += "Masked-language modelling on held-out books with BERT's 80/10/10 corruption, counting every selected "
         "position (also the 10% left unchanged and the 10% replaced at random), so it overstates the model:\n\n";
    s += fmt::format("- loss {:.3f}, accuracy {:.1f}% (unigram baseline: loss {:.3f}, accuracy {:.1f}%)\n",
                     h["mlm_loss"].get<double>(), 100 * h["mlm_accuracy"].get<double>(),
                     h.value("unigram_loss", 0.0), 100 * h.value("unigram_accuracy", 0.0));
    return s + "\nRe-measure it with `bertscope evaluate mlm`.\n";
  }
  const auto& set = h["settings"];
  s += fmt::format(
      "Masked-language modelling on held-out books (never seen in training): {} sequences of up to {} tokens cut from "
      "them as training cuts its data; in each, {:.0f}% of the non-special tokens are selected ({} of {} positions) "
      "and **every selected position is replaced by [MASK]**. Accuracy is the share of those positions whose top-1 "
      "prediction is the original token; loss is the mean cross-entropy over them.\n\n",
      h["sequences"].get<std::int64_t>(), set["seq_len"].get<std::int64_t>(), 100 * set["mask_prob"].get<double>(),
      h["positions"].get<std::int64_t>(), h["candidate_positions"].get<std::int64_t>());
  s += "| | loss (nats) | accuracy |\n|---|---|---|\n";
  s += fmt::format("| this model | {:.3f} | {:.1f}% |\n", h["mlm_loss"].get<double>(), 100 * h["mlm_accuracy"].get<double>());
  if (h.contains("unigram"))
    s += fmt::format("| unigram baseline (training-corpus frequencies, add-one smoothed; always guessing \"{}\") | {:.3f} | {:.1f}% |\n",
                     h["unigram"]["guess"].get<std::string>(), h["unigram_loss"].get<double>(),
                     100 * h["unigram_accuracy"].get<double>());
  if (h.contains("bert_masking_80_10_10")) {
    const auto& b = h["bert_masking_80_10_10"];
    s += fmt::format(
        "\nWith BERT's training corruption of the same positions instead ({} [MASK], {} random, {} unchanged; the "
        "unchanged ones count as predictions) it scores {:.1f}% (loss {:.3f}); that figure is not the held-out "
        "accuracy.\n",
        b["masked"].get<std::int64_t>(), b["random"].get<std::int64_t>(), b["kept"].get<std::int64_t>(),
        100 * b["mlm_accuracy"].get<double>(), b["mlm_loss"].get<double>());
  }
  s += "\nHeld-out books:\n" + card_file_list(h["files"], "");
  s += fmt::format("\nReproduce: `bertscope evaluate mlm --model <this folder> --corpus {} --instances {} --seq-len {} "
                   "--seed {}{}{}`.\n",
                   joined_names(h["files"]), h["sequences"].get<std::int64_t>(), set["seq_len"].get<std::int64_t>(),
                   set["seed"].get<std::uint64_t>(), h.contains("unigram") ? " --unigram-corpus <the training books>" : "",
                   h.contains("bert_masking_80_10_10") ? " --bert-masking" : "");
  return s;
}

}  // namespace

std::string report_file_name(const std::string& path) {
  const std::filesystem::path p(path);
  bool up = false;
  for (const auto& part : p) up = up || part == "..";
  return p.is_relative() && !up ? p.generic_string() : p.filename().string();
}

nlohmann::json report_file_names(const std::vector<std::string>& paths) {
  auto out = nlohmann::json::array();
  for (const auto& p : paths) out.push_back(report_file_name(p));
  return out;
}

nlohmann::json portable_report(nlohmann::json report) {
  for (auto& [key, value] : report.items()) {
    if (!value.is_object()) continue;
    if (value.contains("files") && value["files"].is_array())
      value["files"] = report_file_names(value["files"].get<std::vector<std::string>>());
    if (value.contains("file") && value["file"].is_string()) value["file"] = report_file_name(value["file"].get<std::string>());
  }
  return report;
}

std::string pretrained_description(const model::ModelConfig& cfg) {
  return fmt::format("A BERT ({} layers, hidden {}, {} heads, feed-forward {}, {} positions) pre-trained from scratch "
                     "with masked-language modelling.",
                     cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size,
                     cfg.max_position_embeddings);
}

void write_model_card(const std::filesystem::path& dir, const std::string& title, const std::string& what,
                      const nlohmann::json& report) {
  std::string card = fmt::format("---\nlibrary_name: transformers\ntags:\n- bert\n- bertscope\n---\n\n# {}\n\n{}\n\n", title, what);
  card += "Made by `bertscope train`; loadable by Hugging Face `transformers` (`AutoModelForMaskedLM` / "
          "`AutoModelForSequenceClassification.from_pretrained`) and by bertscope.\n\n";
  card += "## Training\n\n";
  card += fmt::format("- steps: {}\n", report.value("steps", 0));
  // A run stopped early (train --stop-after) says so: its learning rate never decayed to 0.
  const auto planned = report.value("hyperparameters", nlohmann::json::object()).value("steps", std::int64_t{0});
  if (planned > report.value("steps", std::int64_t{0}))
    card += fmt::format("- stopped at step {} of a {}-step schedule (warm-up, then linear decay to 0 at step {}); the same "
                        "command with --stop-after {} continues it exactly\n",
                        report.value("steps", 0), planned, planned, planned);
  if (report.contains("tokens_seen")) card += fmt::format("- tokens seen: {}\n", report["tokens_seen"].get<std::int64_t>());
  if (report.contains("sequences_seen")) card += fmt::format("- sequences seen: {}\n", report["sequences_seen"].get<std::int64_t>());
  if (report.contains("final_train_loss")) card += fmt::format("- final training loss: {:.4f}\n", report["final_train_loss"].get<double>());
  if (report.contains("train_corpus")) {
    const auto& c = report["train_corpus"];
    card += fmt::format("- training data: {} documents, {} tokens:\n", c["documents"].get<std::int64_t>(), c["tokens"].get<std::int64_t>());
    card += card_file_list(c["files"], "  ");
  }
  if (report.contains("train"))
    card += fmt::format("- training data: {} ({} examples)\n", report_file_name(report["train"]["file"].get<std::string>()),
                        report["train"]["examples"].get<std::size_t>());
  card += fmt::format("- hyper-parameters: `{}`\n", report["hyperparameters"].dump());
  card += "\n## Evaluation\n\n";
  if (report.contains("held_out")) card += held_out_section(report);
  if (report.contains("dev")) {
    const auto& d = report["dev"];
    card += fmt::format("Development set {} ({} examples):\n\n", report_file_name(d["file"].get<std::string>()),
                        d["examples"].get<std::size_t>());
    for (const auto& [k, v] : d["metrics"].items())
      card += fmt::format("- {}: {}\n", k, v.is_null() ? std::string("n/a") : fmt::format("{:.4f}", v.get<double>()));
    card += fmt::format("- majority-class accuracy: {:.4f}\n", d["majority_class_accuracy"].get<double>());
  }
  card += "\nThe numbers above are computed by bertscope (train_report.json), not written by hand.\n";
  io::write_file_atomic(dir / "README.md", card);
}

}  // namespace bertscope::cli
