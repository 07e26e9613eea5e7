#include <map>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "analysis/task_data.hpp"
#include "cli/commands.hpp"
#include "cli/model_card.hpp"
#include "cli/progress.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"
#include "model/arch/family.hpp"
#include "io/files.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"
#include "model/trainer.hpp"
#include "tokenizer/wordpiece_trainer.hpp"

namespace bertscope::cli {

namespace {

// "step 120/3000  loss 6.214  lr 1.0e-04  1850 tok/s  1h20m left" on stderr, terminals only.
model::ProgressFn training_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](const model::TrainProgress& p) {
    const auto left = static_cast<long>(p.seconds_left);
    fmt::print(stderr, "\rstep {}/{}  loss {:.4f}  lr {:.1e}  |g| {:.2f}  {:.0f} tok/s  {}h{:02d}m{:02d}s left   ", p.step,
               p.total, p.loss, p.lr, p.grad_norm, p.tokens_per_s, left / 3600, (left / 60) % 60, left % 60);
    if (p.step == p.total) fmt::print(stderr, "\n");
    std::fflush(stderr);
  };
}

io::DType parse_dtype(const std::string& s) {
  return s == "f16" ? io::DType::f16 : s == "bf16" ? io::DType::bf16 : io::DType::f32;
}

void add_adam_options(CLI::App& cmd, model::AdamWOptions& a) {
  cmd.add_option("--lr", a.lr, "Peak learning rate");
  cmd.add_option("--warmup", a.warmup_steps, "Warm-up steps (linear), then linear decay to 0");
  cmd.add_option("--weight-decay", a.weight_decay, "AdamW weight decay (not on biases and LayerNorm)");
  cmd.add_option("--clip-norm", a.clip_norm, "Clip the global gradient norm (0: off)");
}

// --precision: the encoder's matrix products in float32 or bfloat16 (float32 master weights).
void add_precision_option(CLI::App& cmd, model::Precision& precision) {
  const std::map<std::string, model::Precision> names{{"f32", model::Precision::f32}, {"bf16", model::Precision::bf16}};
  cmd.add_option("--precision", precision,
                 "f32, or bf16: the encoder's matrix products (forward and backward) take bfloat16 inputs; weights, "
                 "optimizer state, norms, softmax, losses and reductions stay float32 (needs the oneDNN backend)")
      ->transform(CLI::CheckedTransformer(names));
}

void add_train_mlm(CLI::App& train) {
  struct Args {
    std::string config, model, vocab, out, save_dtype = "f32", keep_dtype = "f32";
    std::vector<std::string> corpus, eval_corpus;
    model::MlmTrainOptions opt;
    bool cased = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  args->opt.adam.lr = 5e-4;
  args->opt.adam.warmup_steps = 100;
  auto* cmd = train.add_subcommand(
      "mlm",
      "Pre-train (or continue training) a masked-LM encoder with BERT's masked-language modelling: [CLS] A [SEP] B [SEP] "
      "segments with token types (one segment, <s> A </s>, for models with one token type such as RoBERTa), 15% of tokens masked (80% [MASK], 10% random, 10% kept), AdamW with warm-up and "
      "linear decay, dropout. Checkpoints in OUT/checkpoint (a Hugging Face folder plus optimizer state); running the "
      "same command again resumes where it stopped.");
  auto* config = cmd->add_option("--config", args->config, "config.json of the model to train from scratch");
  auto* model = cmd->add_option("--model", args->model, "Hugging Face folder to continue training from");
  config->excludes(model);
  cmd->add_option("--vocab", args->vocab, "vocab.txt (with --config; default: the model's)");
  cmd->add_flag("--cased", args->cased, "Do not lower-case (with --vocab)");
  cmd->add_option("--corpus", args->corpus, "Training text files (Project Gutenberg headers are removed)")->required();
  cmd->add_option("--eval-corpus", args->eval_corpus,
                  "Held-out text files for the final MLM loss and accuracy (as `evaluate mlm`: every selected position masked)");
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--steps", args->opt.steps, "Optimizer steps")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->opt.batch, "Sequences per step")->check(CLI::PositiveNumber);
  cmd->add_option("--seq-len", args->opt.data.seq_len, "Tokens per sequence")->check(CLI::Range(8, 4096));
  cmd->add_option("--mask-prob", args->opt.data.mask_prob, "Share of tokens masked");
  cmd->add_option("--seed", args->opt.data.seed, "Seed of weights, data order, masking and dropout");
  cmd->add_option("--checkpoint-every", args->opt.checkpoint_every, "Steps between checkpoints");
  cmd->add_option("--eval-instances", args->opt.eval_instances, "Held-out sequences evaluated at the end");
  cmd->add_option("--stop-after", args->opt.stop_after, "Stop after this step (checkpointed), to continue later");
  cmd->add_option("--save-dtype", args->save_dtype, "dtype of the final model in OUT: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--keep-every", args->opt.keep_every,
                  "Also keep the model every N steps as a loadable folder OUT/steps/step-NNNNNN (with step.json), "
                  "for `bertscope track`")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--keep-dtype", args->keep_dtype, "dtype of the kept step folders: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  add_adam_options(*cmd, args->opt.adam);
  add_precision_option(*cmd, args->opt.precision);
  add_threads_option(*cmd, args->threads);
  cmd->callback([args, config, model] {
    apply_threads(args->threads);
    args->opt.keep_dtype = parse_dtype(args->keep_dtype);
    if (!config->count() && !model->count()) throw CLI::RequiredError("--config or --model");
    args->opt.adam.total_steps = args->opt.steps;
    model::ModelConfig cfg;
    std::map<std::string, core::Tensor> init;
    std::optional<model::Tokenizer> tokenizer;
    if (!args->model.empty()) {
      const auto m = model::Model::load(args->model);
      cfg = m.config();
      init = m.weights().to_tensors(cfg);
      tokenizer = m.tokenizer();
    } else {
      cfg = model::load_config(args->config);
      if (args->vocab.empty()) fail(ErrorKind::input, "--config needs --vocab");
      model::TokenizerSettings s;
      s.lowercase = !args->cased;
      tokenizer = model::Tokenizer::from_vocab(args->vocab, s);
      if (static_cast<std::int64_t>(tokenizer->vocab_size()) != cfg.vocab_size)
        fail(ErrorKind::input, "{}: vocab_size {} but {} has {} tokens", args->config, cfg.vocab_size, args->vocab,
             tokenizer->vocab_size());
      model::GeneratorOptions g;
      g.seed = args->opt.data.seed;
      g.init_std = cfg.initializer_range;
      init = model::random_parameters(cfg, g);
    }
    if (cfg.head_kind() != model::HeadKind::masked_lm) fail(ErrorKind::input, "train mlm needs a masked-LM model (a ...ForMaskedLM config)");
    if (args->opt.data.seq_len > cfg.max_position_embeddings)
      fail(ErrorKind::input, "--seq-len {} exceeds max_position_embeddings {}", args->opt.data.seq_len, cfg.max_position_embeddings);
    std::vector<std::filesystem::path> train_files(args->corpus.begin(), args->corpus.end()),
        eval_files(args->eval_corpus.begin(), args->eval_corpus.end());
    const auto corpus = model::MlmCorpus::from_files(train_files, *tokenizer);
    std::optional<model::MlmCorpus> held_out;
    if (!eval_files.empty()) held_out = model::MlmCorpus::from_files(eval_files, *tokenizer);
    if (dist::writer())
      fmt::print(stderr, "corpus: {} documents, {} tokens{}\n", corpus.documents(), corpus.tokens(),
                 held_out ? fmt::format("; held out: {} documents, {} tokens", held_out->documents(), held_out->tokens()) : "");
    const auto r = model::train_mlm(cfg, std::move(init), *tokenizer, corpus, held_out ? &*held_out : nullptr, args->opt,
                                    args->out, training_progress());
    if (!dist::writer()) return;  // the model, report and card: one copy, by process 0
    // The final model: the checkpoint's weights in the requested dtype, at OUT's top level.
    const auto final_model = model::Model::load(std::filesystem::path(args->out) / "checkpoint");
    model::save_hf_folder(cfg, final_model.weights().to_tensors(cfg), *tokenizer, args->out, parse_dtype(args->save_dtype));
    nlohmann::json report{{"steps", r.steps},
                          {"resumed_from_step", r.start_step},
                          {"tokens_seen", r.tokens_seen},
                          {"sequences_seen", r.steps * args->opt.batch},
                          {"final_train_loss", r.last_loss},
                          {"train_corpus", {{"files", report_file_names(args->corpus)}, {"documents", corpus.documents()}, {"tokens", corpus.tokens()}}},
                          {"hyperparameters", io::read_json(std::filesystem::path(args->out) / "checkpoint" / "trainer_state.json")["options"]},
                          {"execution", {{"processes", dist::size()}}}};
    if (r.eval) {
      report["held_out"] = model::mlm_eval_json(*r.eval, model::mlm_eval_options(args->opt), *tokenizer);
      report["held_out"]["files"] = report_file_names(args->eval_corpus);
      fmt::print("held-out MLM, every selected position masked ({} positions in {} sequences): loss {:.3f}, accuracy "
                 "{:.1f}% (unigram baseline: loss {:.3f}, accuracy {:.1f}%)\n",
                 r.eval->model.count, r.eval->sequences, r.eval->model.loss(), 100 * r.eval->model.accuracy(),
                 r.eval->unigram->loss(), 100 * r.eval->unigram->accuracy());
    }
    io::write_file_atomic(std::filesystem::path(args->out) / "train_report.json", report.dump(1) + "\n");
    write_model_card(args->out, std::filesystem::path(args->out).filename().string(), pretrained_description(cfg), report);
    fmt::print("trained {} steps ({} tokens); final loss {:.4f}; model in {}\n", r.steps, r.tokens_seen, r.last_loss, args->out);
  });
}

std::vector<model::ClassifyExample> encode_task(const analysis::TaskData& data, const analysis::TaskLabels& labels,
                                                const model::Tokenizer& tok, std::size_t max_length) {
  std::vector<model::ClassifyExample> out;
  for (std::size_t i = 0; i < data.examples.size(); ++i) {
    const auto& ex = data.examples[i];
    model::Encoding e;
    try {
      e = tok.encode(ex.text, ex.pair ? std::optional<std::string_view>(*ex.pair) : std::nullopt, {max_length, true});
    } catch (const Error& err) {
      throw Error(err.kind(), fmt::format("{}:{}: {}", data.source.string(), ex.line, err.what()));
    }
    model::ClassifyExample c;
    c.ids = e.ids;
    c.type_ids = e.type_ids;
    if (labels.regression) c.value = labels.values[i];
    else c.label = labels.classes[i];
    out.push_back(std::move(c));
  }
  return out;
}

void add_train_classify(CLI::App& train) {
  struct Args {
    std::string model, data, dev, task, out, save_dtype = "f32";
    model::ClassifyTrainOptions opt;
    std::size_t max_length = 128;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  args->opt.adam.lr = 2e-5;
  args->opt.adam.weight_decay = 0.01;
  auto* cmd = train.add_subcommand(
      "classify",
      "Fine-tune a sequence classifier (...ForSequenceClassification of the model's family) on a GLUE-style TSV task: a new pooler and "
      "classifier head when the model has none, AdamW with warm-up and linear decay, dropout; reports the task "
      "metric on --dev. Running the same command again resumes from OUT/checkpoint.");
  cmd->add_option("--model", args->model, "Pre-trained Hugging Face folder")->required();
  cmd->add_option("--data", args->data, "Training TSV")->required();
  cmd->add_option("--dev", args->dev, "Development TSV to evaluate on");
  cmd->add_option("--task", args->task, "Task name (sst2, rte, mrpc, ...; default: detected from the header)");
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--epochs", args->opt.epochs, "Epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->opt.batch, "Examples per step")->check(CLI::PositiveNumber);
  cmd->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens")->check(CLI::Range(4, 4096));
  cmd->add_option("--seed", args->opt.seed, "Seed of the head, data order and dropout");
  cmd->add_option("--checkpoint-every", args->opt.checkpoint_every, "Steps between checkpoints");
  cmd->add_option("--save-dtype", args->save_dtype, "dtype of the final model in OUT: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  add_adam_options(*cmd, args->opt.adam);
  add_precision_option(*cmd, args->opt.precision);
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    const auto m = model::Model::load(args->model);
    std::optional<analysis::TaskSpec> spec;
    if (!args->task.empty()) spec = analysis::builtin_task(args->task);
    const auto train_data = analysis::read_task(args->data, spec);
    if (!train_data.has_labels()) fail(ErrorKind::input, "{}: the training file has no label column", args->data);
    auto cfg = m.config();
    std::int64_t num_labels = train_data.spec.regression ? 1 : static_cast<std::int64_t>(train_data.spec.label_names.size());
    if (num_labels == 0) {  // labels written as class numbers: as many classes as the largest + 1
      for (const auto& ex : train_data.examples)
        if (ex.label) num_labels = std::max<std::int64_t>(num_labels, std::stoll(*ex.label) + 1);
    }
    const bool already = cfg.head_kind() == model::HeadKind::sequence_classification && cfg.num_labels == num_labels;
    if (!already) {
      cfg.architectures = {std::string(model::arch::family(cfg).class_prefix) + "ForSequenceClassification"};
      cfg.num_labels = num_labels;
      cfg.id2label.clear();
      for (std::int64_t k = 0; k < num_labels; ++k)
        cfg.id2label[k] = k < static_cast<std::int64_t>(train_data.spec.label_names.size()) ? train_data.spec.label_names[static_cast<std::size_t>(k)]
                                                                                             : fmt::format("LABEL_{}", k);
      cfg.problem_type = train_data.spec.regression ? "regression" : "single_label_classification";
      cfg.raw.erase("id2label");
      cfg.raw.erase("label2id");
      cfg.raw.erase("num_labels");
    }
    auto params = m.weights().to_tensors(m.config());
    if (!already) model::add_classifier_head(cfg, params, args->opt.seed);
    const auto train_labels = analysis::bind_labels(train_data, num_labels, cfg.id2label);
    const auto& tok = m.tokenizer();
    const auto train_set = encode_task(train_data, train_labels, tok, args->max_length);
    std::vector<model::ClassifyExample> dev_set;
    std::optional<analysis::TaskData> dev_data;
    std::optional<analysis::TaskLabels> dev_labels;
    if (!args->dev.empty()) {
      dev_data = analysis::read_task(args->dev, train_data.spec);
      dev_labels = analysis::bind_labels(*dev_data, num_labels, cfg.id2label);
      dev_set = encode_task(*dev_data, *dev_labels, tok, args->max_length);
    }
    args->opt.regression = train_data.spec.regression;
    const auto r = model::train_classifier(cfg, std::move(params), tok, train_set, dev_set, args->opt, args->out,
                                           training_progress());
    if (!dist::writer()) return;  // the model, report and card: one copy, by process 0
    const auto final_model = model::Model::load(std::filesystem::path(args->out) / "checkpoint");
    model::save_hf_folder(cfg, final_model.weights().to_tensors(cfg), tok, args->out, parse_dtype(args->save_dtype));
    nlohmann::json report{{"task", train_data.spec.to_json()},
                          {"train", {{"file", report_file_name(args->data)}, {"examples", train_set.size()}}},
                          {"steps", r.steps},
                          {"final_train_loss", r.last_loss},
                          {"hyperparameters", io::read_json(std::filesystem::path(args->out) / "checkpoint" / "trainer_state.json")["options"]},
                          {"execution", {{"processes", dist::size()}}}};
    if (dev_data) {
      const auto logits = model::classifier_logits(cfg, final_model.weights().to_tensors(cfg), dev_set, args->opt.batch);
      std::vector<float> flat;
      for (const auto& row : logits) flat.insert(flat.end(), row.begin(), row.end());
      const auto scores = analysis::score_task(train_data.spec, *dev_labels, flat, num_labels);
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [k, v] : scores.values) metrics[k] = analysis::metric_json(v);
      // The majority-class baseline, to read the metric against.
      std::map<std::int64_t, std::int64_t> freq;
      for (auto c : dev_labels->classes) ++freq[c];
      std::int64_t majority = 0;
      for (const auto& [c, n] : freq) majority = std::max(majority, n);
      const double majority_acc = dev_labels->classes.empty() ? 0.0 : static_cast<double>(majority) / static_cast<double>(dev_labels->classes.size());
      report["dev"] = {{"file", report_file_name(args->dev)}, {"examples", dev_set.size()}, {"metrics", metrics}, {"majority_class_accuracy", majority_acc}};
      fmt::print("dev {}: {:.4f}", analysis::metric_name(train_data.spec.metric), scores.primary);
      if (!train_data.spec.regression) fmt::print(" (majority class: {:.4f})", majority_acc);
      fmt::print("\n");
    }
    io::write_file_atomic(std::filesystem::path(args->out) / "train_report.json", report.dump(1) + "\n");
    write_model_card(args->out, std::filesystem::path(args->out).filename().string(),
                     fmt::format("{} fine-tuned as a sequence classifier ({} labels) on task {}.", report_file_name(args->model), num_labels,
                                 train_data.spec.name),
                     report);
    fmt::print("fine-tuned {} steps; final loss {:.4f}; model in {}\n", r.steps, r.last_loss, args->out);
  });
}

void add_train_vocab(CLI::App& train) {
  struct Args {
    std::vector<std::string> corpus;
    std::string out;
    tokenizer::WordPieceTrainerOptions opt;
    std::size_t limit_alphabet = 1000;
    bool cased = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = train.add_subcommand(
      "vocab",
      "Learn a WordPiece vocabulary from text as Hugging Face's WordPieceTrainer does (BERT normalisation, uncased unless "
      "--cased); writes OUT/vocab.txt and OUT/tokenizer.json.");
  cmd->add_option("--corpus", args->corpus, "Training text files (Project Gutenberg headers are removed)")->required();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--vocab-size", args->opt.vocab_size, "Tokens in the vocabulary")->check(CLI::PositiveNumber);
  cmd->add_option("--min-frequency", args->opt.min_frequency, "Fewest occurrences of a pair that is merged");
  cmd->add_option("--limit-alphabet", args->limit_alphabet, "Most characters kept (the most frequent)");
  cmd->add_flag("--cased", args->cased, "Keep case and accents");
  // No extra-args mode: CLI11 would read "[PAD]" as a one-element list and drop the brackets.
  cmd->add_option("--special-tokens", args->opt.special_tokens, "Special tokens, first ids (need [UNK] [CLS] [SEP])")
      ->allow_extra_args(false)
      ->expected(1, 1000);
  cmd->callback([args] {
    args->opt.limit_alphabet = args->limit_alphabet;
    std::unique_ptr<Progress> bar;
    std::string stage;
    std::size_t shown = 0, stage_total = 0;
    auto progress = [&](std::string_view what, std::size_t done, std::size_t total) {
      if (!bar || what != stage || total != stage_total) {
        bar = std::make_unique<Progress>(std::string(what), static_cast<std::int64_t>(total));
        stage = what;
        stage_total = total;
        shown = 0;
      }
      if (done > shown) bar->advance(static_cast<std::int64_t>(done - shown));
      shown = done;
    };
    tokenizer::check_bert_special_tokens(args->opt.special_tokens);
    tokenizer::WordCounter counter(!args->cased);
    counter.add_files({args->corpus.begin(), args->corpus.end()}, progress);
    const auto vocab = tokenizer::train_wordpiece(counter.counts(), args->opt, progress);
    bar.reset();
    tokenizer::write_wordpiece_vocabulary(args->out, vocab, !args->cased, args->opt.special_tokens);
    fmt::print("wrote {}/vocab.txt and tokenizer.json: {} tokens from {} distinct words\n", args->out, vocab.size(),
               counter.counts().size());
  });
}

void add_train_group(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train models: masked-language-model pre-training, classifier fine-tuning, a WordPiece vocabulary.");
  cmd->require_subcommand(1);
  add_train_mlm(*cmd);
  add_train_classify(*cmd);
  add_train_vocab(*cmd);
}

void add_export_command(CLI::App& app) {
  struct Args {
    std::string model, out, dtype = "f16";
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "export", "Write a model folder as a clean Hugging Face folder (no optimizer state), e.g. in float16 to ship.");
  cmd->add_option("--model", args->model, "Model folder (e.g. a training checkpoint)")->required();
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--dtype", args->dtype, "f32, f16 or bf16")->check(CLI::IsMember({"f32", "f16", "bf16"}));
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    const auto m = model::Model::load(args->model);
    model::save_hf_folder(m.config(), m.weights().to_tensors(m.config()), m.tokenizer(), args->out, parse_dtype(args->dtype));
    // A folder that `train` wrote keeps its training report and gets its model card again.
    const auto report_path = std::filesystem::path(args->model) / "train_report.json";
    if (std::filesystem::is_regular_file(report_path)) {
      const auto report = portable_report(io::read_json(report_path));
      io::write_file_atomic(std::filesystem::path(args->out) / "train_report.json", report.dump(1) + "\n");
      const auto& hp = report.value("hyperparameters", nlohmann::json::object());
      const auto what = hp.value("task", "") == "mlm"
                            ? pretrained_description(m.config())
                            : fmt::format("A BERT fine-tuned as a sequence classifier ({} labels) on {}.", m.config().num_labels,
                                          report.contains("train") ? std::filesystem::path(report["train"].value("file", "a task")).filename().string() : "a task");
      write_model_card(args->out, std::filesystem::path(args->out).filename().string(),
                       what + fmt::format(" Weights stored in {}.", args->dtype == "f32" ? "float32" : args->dtype == "f16" ? "float16" : "bfloat16"),
                       report);
    }
    fmt::print("wrote {} ({})\n", args->out, args->dtype);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 85, add_train_group);
BERTSCOPE_COMMAND("", 86, add_export_command);

}  // namespace bertscope::cli
