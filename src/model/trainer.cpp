#include "model/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/random.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/arch/family.hpp"
#include "model/autodiff.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"

namespace bertscope::model {

namespace {

using Clock = std::chrono::steady_clock;

// Holds a Model over in-memory parameters that training updates in place.
struct TrainableModel {
  Model model;
  TrainableModel(const ModelConfig& config, std::map<std::string, core::Tensor> params)
      : model(config, Weights::from_tensors(config, std::move(params)), std::nullopt) {}
  std::map<std::string, core::Tensor>& params() { return model.mutable_weights().owned_tensors(); }
};

const char* kState = "trainer_state.json";

// Runs `write` to fill the staging folder `staging`; when it fails (a full disk), the half-written
// folder is removed before the error goes on: nothing could resume from it.
template <typename F>
void write_staging(const std::filesystem::path& staging, F&& write) {
  try {
    write();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(staging, ec);
    throw;
  }
}

// The training folder. When this run created it and fails before anything was kept in it (a
// full disk at the first checkpoint), it is removed again, so a failed run leaves nothing behind;
// a folder with a checkpoint stays, to be resumed.
class RunFolder {
 public:
  explicit RunFolder(const std::filesystem::path& dir)
      : dir_(dir), created_(!std::filesystem::exists(dir)), uncaught_(std::uncaught_exceptions()) {
    std::filesystem::create_directories(dir);
  }
  ~RunFolder() {
    if (!created_ || std::uncaught_exceptions() <= uncaught_) return;
    std::error_code ec;
    if (std::filesystem::is_empty(dir_, ec) && !ec) std::filesystem::remove(dir_, ec);
  }
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

 private:
  std::filesystem::path dir_;
  bool created_;
  int uncaught_;
};

// A checkpoint is written to a staging folder and swapped in with renames, so an interrupted
// write leaves the previous checkpoint intact.
void write_checkpoint(const std::filesystem::path& dir, const ModelConfig& config,
                      const std::map<std::string, core::Tensor>& params, const Tokenizer& tokenizer, const AdamW& adam,
                      const nlohmann::json& state) {
  if (!dist::writer()) return;  // one copy, by process 0 of a data-parallel run
  const auto final_dir = dir / "checkpoint", staging = dir / "checkpoint.staging", old = dir / "checkpoint.old";
  std::filesystem::remove_all(staging);
  write_staging(staging, [&] {
    save_hf_folder(config, params, tokenizer, staging);
    adam.save(staging / "optimizer.safetensors");
    io::write_file_atomic(staging / kState, state.dump(1) + "\n");
  });
  std::filesystem::remove_all(old);
  if (std::filesystem::exists(final_dir)) std::filesystem::rename(final_dir, old);
  std::filesystem::rename(staging, final_dir);
  std::filesystem::remove_all(old);
}

// A kept step is built in a hidden staging folder and renamed into place, so a crash never
// leaves a half folder among the steps. Training is exact, so a step written again after a
// resume from an earlier checkpoint replaces an identical folder.
void keep_step(const std::filesystem::path& dir, const ModelConfig& config,
               const std::map<std::string, core::Tensor>& params, const Tokenizer& tokenizer, io::DType dtype,
               const nlohmann::json& step_info) {
  if (!dist::writer()) return;  // one copy, by process 0 of a data-parallel run
  const auto final_dir = kept_step_folder(dir, step_info.at("step").get<std::int64_t>());
  const auto staging = final_dir.parent_path() / ("." + final_dir.filename().string() + ".staging");
  std::filesystem::remove_all(staging);
  write_staging(staging, [&] {
    save_hf_folder(config, params, tokenizer, staging, dtype);
    io::write_file_atomic(staging / "step.json", step_info.dump(1) + "\n");
  });
  std::filesystem::remove_all(final_dir);
  std::filesystem::rename(staging, final_dir);
}

// The checkpoint to resume from, if any: dir/checkpoint, or dir/checkpoint.old when a swap was
// interrupted between its two renames.
std::optional<std::filesystem::path> find_checkpoint(const std::filesystem::path& dir) {
  for (const char* name : {"checkpoint", "checkpoint.old"})
    if (std::filesystem::exists(dir / name / kState)) return dir / name;
  return std::nullopt;
}

std::map<std::string, core::Tensor> load_params(const std::filesystem::path& ckpt, const ModelConfig& config) {
  const auto m = Model::load(ckpt);
  if (m.config().hidden_size != config.hidden_size || m.config().num_hidden_layers != config.num_hidden_layers)
    fail(ErrorKind::model, "{}: the checkpoint's architecture differs from this run's", ckpt.string());
  return m.weights().to_tensors(config);
}

void check_resume(const nlohmann::json& saved, const nlohmann::json& now, const std::filesystem::path& ckpt) {
  if (saved.value("options", nlohmann::json()) != now)
    fail(ErrorKind::input,
         "{}: this checkpoint was made with other training options ({}); resume with the same options or train into "
         "a new folder",
         ckpt.string(), saved.value("options", nlohmann::json()).dump());
}

class ProgressClock {
 public:
  ProgressClock(std::int64_t start, std::int64_t total) : start_step_(start), total_(total), start_(Clock::now()) {}
  TrainProgress at(std::int64_t step, double loss, const StepInfo& info, std::int64_t tokens) {
    tokens_ += tokens;
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    TrainProgress p;
    p.step = step + 1;
    p.total = total_;
    p.loss = loss;
    p.lr = info.lr;
    p.grad_norm = info.grad_norm;
    p.tokens_per_s = secs > 0 ? static_cast<double>(tokens_) / secs : 0;
    const double per_step = secs / static_cast<double>(step + 1 - start_step_);
    p.seconds_left = per_step * static_cast<double>(total_ - step - 1);
    return p;
  }

 private:
  std::int64_t start_step_, total_, tokens_ = 0;
  Clock::time_point start_;
};

nlohmann::json adam_json(const AdamWOptions& a) {
  return {{"lr", a.lr},           {"beta1", a.beta1},   {"beta2", a.beta2},
          {"eps", a.eps},         {"weight_decay", a.weight_decay}, {"warmup_steps", a.warmup_steps},
          {"total_steps", a.total_steps}, {"clip_norm", a.clip_norm}};
}

}  // namespace

std::filesystem::path kept_step_folder(const std::filesystem::path& dir, std::int64_t step) {
  return dir / "steps" / fmt::format("step-{:06d}", step);
}

void save_hf_folder(const ModelConfig& config, const std::map<std::string, core::Tensor>& params,
                    const Tokenizer& tokenizer, const std::filesystem::path& dir, io::DType dtype) {
  save_model_files(config, params, dir, dtype);
  // A tokenizer read from files other than a WordPiece vocab.txt (byte-level BPE, SentencePiece)
  // travels as those files, unchanged.
  const auto& files = tokenizer.files();
  const bool wordpiece_vocab = std::any_of(files.begin(), files.end(), [](const auto& f) { return f.filename() == "vocab.txt"; });
  if (!files.empty() && !wordpiece_vocab) {
    for (const auto& f : files) io::write_file_atomic(dir / f.filename(), io::read_file(f));
    return;
  }
  std::string vocab;
  for (std::size_t i = 0; i < tokenizer.vocab_size(); ++i) vocab += tokenizer.token(static_cast<std::int32_t>(i)) + "\n";
  io::write_file_atomic(dir / "vocab.txt", vocab);
  const auto& s = tokenizer.settings();
  nlohmann::json tok{{"do_lower_case", s.lowercase},
                     {"tokenize_chinese_chars", s.tokenize_chinese_chars},
                     {"model_max_length", config.max_position_embeddings},
                     {"tokenizer_class", arch::wordpiece_tokenizer_class(config)},
                     {"unk_token", s.unk_token},
                     {"sep_token", s.sep_token},
                     {"pad_token", s.pad_token},
                     {"cls_token", s.cls_token},
                     {"mask_token", s.mask_token}};
  if (s.strip_accents) tok["strip_accents"] = *s.strip_accents;
  io::write_file_atomic(dir / "tokenizer_config.json", tok.dump(2) + "\n");
}

namespace {

// transformers does not train a sinusoidal position table (DistilBERT's sinusoidal_pos_embds sets
// requires_grad = False on it).
void drop_frozen_grads(const ModelConfig& config, std::map<std::string, core::Tensor>& grads) {
  if (!config.sinusoidal_positions) return;
  std::erase_if(grads, [](const auto& g) { return g.first.ends_with("embeddings.position_embeddings.weight"); });
}

}  // namespace

namespace {

// Data-parallel training (mpirun): every process builds the whole global batch's inputs (cheap,
// from the seed) and runs its share [first, last) of them; their gradients are summed over the
// processes, so each step is the single-process step up to summation order.
struct Share {
  std::size_t first = 0, last = 0;
};
Share my_share(std::size_t n) {
  const auto p = static_cast<std::size_t>(dist::size()), r = static_cast<std::size_t>(dist::rank());
  return {n * r / p, n * (r + 1) / p};
}

void check_shareable(std::int64_t batch) {
  if (dist::size() > batch)
    fail(ErrorKind::input, "a global batch of {} inputs cannot be shared by {} processes (give --batch {} or more)", batch,
         dist::size(), dist::size());
}

// The dropout offsets of the share: what the global batch holds before it (layers/dropout.hpp).
void set_dropout_before(TapeOptions& topt, const std::vector<ModelInput>& global, Share share, std::int64_t heads) {
  for (std::size_t i = 0; i < share.first; ++i) {
    const auto t = static_cast<std::int64_t>(global[i].ids.size());
    topt.dropout_before.rows += t;
    topt.dropout_before.probs += heads * t * t;
  }
  topt.dropout_before.inputs = static_cast<std::int64_t>(share.first);
}

// The parameter gradients of a share's backward pass from `seeds` (frozen parameters dropped); the
// tape, used once, is freed layer by layer as the pass goes down.
std::map<std::string, core::Tensor> parameter_gradients(const ModelConfig& config, const Model& model,
                                                        ForwardTape&& tape, const std::vector<OutputGrad>& seeds) {
  GradRequest req;
  req.params = true;
  auto grads = backward(model, std::move(tape), seeds, req);
  drop_frozen_grads(config, grads.param_grads);
  return std::move(grads.param_grads);
}

// Runs this process's share of a step. With several processes a failure is returned rather than
// thrown: sum_over_shares then fails the step on every process, so none waits for it.
std::string run_share(const std::function<void()>& share) {
  try {
    share();
    return {};
  } catch (const std::exception& e) {
    if (dist::size() == 1) throw;
    return e.what();
  }
}

// The shares' gradients and losses summed over the processes into every process's (nothing to do
// with one process). `error`: this process's failure in the step, which fails the step everywhere.
void sum_over_shares(std::map<std::string, core::Tensor>& grads, double& loss, const std::string& error) {
  if (dist::size() == 1) return;
  std::size_t total = 0;
  for (const auto& g : grads) total += g.second.data.size();
  std::vector<float> flat;
  flat.reserve(total);
  for (const auto& g : grads) flat.insert(flat.end(), g.second.data.begin(), g.second.data.end());
  dist::sum_over_processes(flat, error);
  std::size_t at = 0;
  for (auto& g : grads) {
    std::copy_n(flat.begin() + static_cast<std::ptrdiff_t>(at), g.second.data.size(), g.second.data.begin());
    at += g.second.data.size();
  }
  std::vector<double> losses{loss};
  dist::sum_over_processes(losses);
  loss = losses[0];
}

}  // namespace

void add_classifier_head(const ModelConfig& config, std::map<std::string, core::Tensor>& params, std::uint64_t seed) {
  std::uint64_t state = core::mix64(seed ^ 0xc1a551f1e7ull);
  auto normal = [&] {
    double u1 = 0;
    while (u1 <= 0) u1 = core::unit_interval(core::mix64(state++));
    const double u2 = core::unit_interval(core::mix64(state++));
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  };
  for (const auto& spec : param_table(config)) {
    if (spec.group != ParamGroup::classifier && spec.group != ParamGroup::pooler) continue;
    // A head of the right shape is kept (a pooler, or a classifier fine-tuned before); one made
    // for another number of labels is drawn anew.
    if (auto it = params.find(spec.name); it != params.end() && it->second.shape == spec.shape) continue;
    core::Tensor t(spec.shape);
    if (!spec.name.ends_with(".bias"))
      for (auto& v : t.data) v = static_cast<float>(config.initializer_range * normal());
    params.insert_or_assign(spec.name, std::move(t));
  }
  // An MLM head (BERT's cls.*, RoBERTa's lm_head.*) is not part of a sequence classifier.
  for (const auto& spec : param_table(config))
    if (spec.group == ParamGroup::mlm_head) params.erase(spec.name);
}

MlmEvalOptions mlm_eval_options(const MlmTrainOptions& o) {
  MlmEvalOptions e;
  e.sequences = o.eval_instances;
  e.seq_len = o.data.seq_len;
  e.mask_prob = o.data.mask_prob;
  e.single_segment_prob = o.data.single_segment_prob;
  e.bert_masking = true;
  return e;
}

MlmTrainResult train_mlm(const ModelConfig& config, std::map<std::string, core::Tensor> init, const Tokenizer& tokenizer,
                         const MlmCorpus& train, const MlmCorpus* held_out, const MlmTrainOptions& o,
                         const std::filesystem::path& dir, const ProgressFn& progress) {
  if (!config.raw.is_null() && config.head_kind() != HeadKind::masked_lm)
    fail(ErrorKind::input, "MLM training needs a masked-LM model (a ...ForMaskedLM config)");
  // Models with one token type (RoBERTa) train on single segments, as RoBERTa's full sentences.
  auto data = o.data;
  data.segment_pairs = config.type_vocab_size >= 2;
  nlohmann::json options{{"task", "mlm"},
                         {"seq_len", o.data.seq_len},
                         {"mask_prob", o.data.mask_prob},
                         {"single_segment_prob", o.data.single_segment_prob},
                         {"seed", o.data.seed},
                         {"batch", o.batch},
                         {"steps", o.steps},
                         {"adam", adam_json(o.adam)}};
  if (!data.segment_pairs) options["segment_pairs"] = false;
  if (o.precision == Precision::bf16) options["precision"] = "bf16";  // f32 runs keep their old options
  const RunFolder run_folder(dir);
  MlmTrainResult result;
  nlohmann::json history = nlohmann::json::array();
  std::int64_t tokens_seen = 0;
  if (auto ckpt = find_checkpoint(dir)) {
    const auto state = io::read_json(*ckpt / kState);
    check_resume(state, options, *ckpt);
    init = load_params(*ckpt, config);
    result.start_step = state.at("step").get<std::int64_t>();
    tokens_seen = state.value("tokens_seen", std::int64_t{0});
    history = state.value("history", nlohmann::json::array());
    result.last_loss = state.value("last_loss", history.empty() ? 0.0 : history.back()[1].get<double>());
  }
  // Rerun after --stop-after was reached (a recipe run twice): nothing to do, not one step more.
  if (o.stop_after > 0 && result.start_step >= o.stop_after && result.start_step < o.steps) {
    result.steps = result.start_step;
    result.tokens_seen = tokens_seen;
    return result;
  }
  TrainableModel tm(config, std::move(init));
  AdamW adam(o.adam, tm.params());
  if (result.start_step > 0) adam.load(*find_checkpoint(dir) / "optimizer.safetensors");
  ProgressClock clock(result.start_step, o.steps);
  auto save = [&](std::int64_t step) {
    nlohmann::json state{{"step", step},       {"options", options},          {"tokens_seen", tokens_seen},
                         {"history", history}, {"last_loss", result.last_loss}};
    write_checkpoint(dir, config, tm.params(), tokenizer, adam, state);
  };
  check_shareable(o.batch);
  for (std::int64_t step = result.start_step; step < o.steps; ++step) {
    std::vector<ModelInput> all;
    std::vector<MlmInstance> insts;
    std::int64_t masked = 0, tokens = 0;
    for (std::int64_t i = 0; i < o.batch; ++i) {
      auto in = make_mlm_instance(train, tokenizer, data, step, i);
      masked += static_cast<std::int64_t>(in.labels.size());
      tokens += static_cast<std::int64_t>(in.ids.size());
      ModelInput mi;
      mi.ids = in.ids;
      mi.type_ids = in.type_ids;
      all.push_back(std::move(mi));
      insts.push_back(std::move(in));
    }
    const auto share = my_share(all.size());
    TapeOptions topt;
    topt.train = true;
    topt.dropout_seed = core::mix64(o.data.seed ^ core::mix64(static_cast<std::uint64_t>(step) + 17));
    topt.mlm_logits = true;
    set_dropout_before(topt, all, share, config.num_attention_heads);
    std::vector<ModelInput> inputs(all.begin() + static_cast<std::ptrdiff_t>(share.first),
                                   all.begin() + static_cast<std::ptrdiff_t>(share.last));
    for (auto i = share.first; i < share.last; ++i) topt.mlm_positions.push_back(insts[i].positions);
    double loss = 0;
    std::map<std::string, core::Tensor> param_grads;
    const auto error = run_share([&] {
      ForwardTape tape;
      RunOptions run;
      run.precision = o.precision;
      const auto out = forward_with_tape(tm.model, inputs, run, topt, tape);
      std::vector<OutputGrad> seeds(inputs.size());
      for (std::size_t b = 0; b < inputs.size(); ++b) {
        // The batch loss is the mean over all masked tokens of the batch, as transformers computes it.
        const auto& inst = insts[share.first + b];
        const auto k = static_cast<double>(inst.labels.size());
        auto lg = mlm_cross_entropy(out[b].mlm_logits, inst.labels, k / static_cast<double>(masked));
        loss += lg.loss * k / static_cast<double>(masked);
        seeds[b].mlm_logits = std::move(lg.grad);
      }
      param_grads = parameter_gradients(config, tm.model, std::move(tape), seeds);
    });
    sum_over_shares(param_grads, loss, error);
    const auto info = adam.step(tm.params(), param_grads);
    tm.model.weights_changed();
    tokens_seen += tokens;
    result.last_loss = loss;
    if (step % 10 == 0 || step + 1 == o.steps) history.push_back({step + 1, loss});
    if (progress && dist::writer()) progress(clock.at(step, loss, info, tokens));
    const bool stop = o.stop_after > 0 && step + 1 >= o.stop_after;
    // Kept before the checkpoint: a crash between the two redoes the step and writes it again.
    if (o.keep_every > 0 && (step + 1) % o.keep_every == 0)
      keep_step(dir, config, tm.params(), tokenizer, o.keep_dtype,
                {{"step", step + 1}, {"tokens_seen", tokens_seen}, {"loss", loss}});
    if ((o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) || step + 1 == o.steps || stop) save(step + 1);
    if (stop) {
      result.steps = step + 1;
      result.tokens_seen = tokens_seen;
      return result;
    }
  }
  if (o.steps == result.start_step) save(o.steps);
  result.steps = o.steps;
  result.tokens_seen = tokens_seen;
  if (held_out && dist::writer())  // reported by process 0 alone
    result.eval = evaluate_mlm(tm.model, tokenizer, *held_out, &train, mlm_eval_options(o));
  return result;
}

std::vector<std::vector<float>> classifier_logits(const ModelConfig& config,
                                                  const std::map<std::string, core::Tensor>& params,
                                                  const std::vector<ClassifyExample>& examples, std::int64_t batch) {
  Model m(config, Weights::from_tensors(config, params), std::nullopt);
  std::vector<std::vector<float>> out;
  RunOptions run;
  run.classifier_logits = true;
  for (std::size_t start = 0; start < examples.size(); start += static_cast<std::size_t>(batch)) {
    std::vector<ModelInput> inputs;
    for (auto i = start; i < std::min(examples.size(), start + static_cast<std::size_t>(batch)); ++i) {
      ModelInput mi;
      mi.ids = examples[i].ids;
      mi.type_ids = examples[i].type_ids;
      inputs.push_back(std::move(mi));
    }
    for (const auto& r : m.forward(inputs, run)) out.emplace_back(r.classifier_logits.data.begin(), r.classifier_logits.data.end());
  }
  return out;
}

ClassifyTrainResult train_classifier(const ModelConfig& config, std::map<std::string, core::Tensor> init,
                                     const Tokenizer& tokenizer, const std::vector<ClassifyExample>& train,
                                     const std::vector<ClassifyExample>& dev, const ClassifyTrainOptions& o,
                                     const std::filesystem::path& dir, const ProgressFn& progress) {
  if (train.empty()) fail(ErrorKind::input, "no training examples");
  const auto steps_per_epoch = (static_cast<std::int64_t>(train.size()) + o.batch - 1) / o.batch;
  const auto total = steps_per_epoch * o.epochs;
  auto adam_opt = o.adam;
  adam_opt.total_steps = total;
  nlohmann::json options{{"task", "classify"},    {"batch", o.batch},          {"epochs", o.epochs},
                               {"seed", o.seed},         {"examples", train.size()},  {"regression", o.regression},
                               {"adam", adam_json(adam_opt)}};
  if (o.precision == Precision::bf16) options["precision"] = "bf16";
  const RunFolder run_folder(dir);
  ClassifyTrainResult result;
  if (auto ckpt = find_checkpoint(dir)) {
    const auto state = io::read_json(*ckpt / kState);
    check_resume(state, options, *ckpt);
    init = load_params(*ckpt, config);
    result.start_step = state.at("step").get<std::int64_t>();
    result.last_loss = state.value("last_loss", 0.0);
  }
  if (o.stop_after > 0 && result.start_step >= o.stop_after && result.start_step < total) {
    result.steps = result.start_step;
    return result;
  }
  TrainableModel tm(config, std::move(init));
  AdamW adam(adam_opt, tm.params());
  if (result.start_step > 0) adam.load(*find_checkpoint(dir) / "optimizer.safetensors");
  ProgressClock clock(result.start_step, total);
  std::vector<std::int64_t> order;
  std::int64_t order_epoch = -1;
  for (std::int64_t step = result.start_step; step < total; ++step) {
    const auto epoch = step / steps_per_epoch;
    if (epoch != order_epoch) {  // a fresh shuffle per epoch, from the seed alone
      order.resize(train.size());
      std::iota(order.begin(), order.end(), 0);
      std::uint64_t s = core::mix64(o.seed ^ core::mix64(static_cast<std::uint64_t>(epoch) + 99));
      for (std::size_t i = order.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(core::mix64(s++) % i);
        std::swap(order[i - 1], order[j]);
      }
      order_epoch = epoch;
    }
    const auto first = (step % steps_per_epoch) * o.batch;
    const auto last = std::min<std::int64_t>(static_cast<std::int64_t>(train.size()), first + o.batch);
    std::vector<ModelInput> all;
    std::int64_t tokens = 0;
    for (auto i = first; i < last; ++i) {
      const auto& ex = train[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
      ModelInput mi;
      mi.ids = ex.ids;
      mi.type_ids = ex.type_ids;
      tokens += static_cast<std::int64_t>(ex.ids.size());
      all.push_back(std::move(mi));
    }
    auto share = my_share(all.size());
    // An epoch's last batch may be smaller than the processes. A process whose share is empty
    // runs the batch's first input with weight 0: zero gradients, of the same parameters.
    const bool idle = share.first == share.last;
    if (idle) share = {0, 1};
    TapeOptions topt;
    topt.train = true;
    topt.dropout_seed = core::mix64(o.seed ^ core::mix64(static_cast<std::uint64_t>(step) + 5));
    topt.classifier_logits = true;
    set_dropout_before(topt, all, share, config.num_attention_heads);
    std::vector<ModelInput> inputs(all.begin() + static_cast<std::ptrdiff_t>(share.first),
                                   all.begin() + static_cast<std::ptrdiff_t>(share.last));
    double loss = 0;
    std::map<std::string, core::Tensor> param_grads;
    const auto error = run_share([&] {
      ForwardTape tape;
      RunOptions run;
      run.precision = o.precision;
      const auto out = forward_with_tape(tm.model, inputs, run, topt, tape);
      std::vector<OutputGrad> seeds(inputs.size());
      const double scale = idle ? 0.0 : 1.0 / static_cast<double>(all.size());
      for (std::size_t b = 0; b < inputs.size(); ++b) {
        const auto& ex = train[static_cast<std::size_t>(order[static_cast<std::size_t>(first) + share.first + b])];
        auto lg = o.regression ? regression_mse(out[b].classifier_logits, static_cast<float>(ex.value), scale)
                               : class_cross_entropy(out[b].classifier_logits, static_cast<std::int32_t>(ex.label), scale);
        loss += lg.loss * scale;
        seeds[b].classifier_logits = std::move(lg.grad);
      }
      param_grads = parameter_gradients(config, tm.model, std::move(tape), seeds);
    });
    sum_over_shares(param_grads, loss, error);
    const auto info = adam.step(tm.params(), param_grads);
    tm.model.weights_changed();
    result.last_loss = loss;
    if (progress && dist::writer()) progress(clock.at(step, loss, info, tokens));
    const bool stop = o.stop_after > 0 && step + 1 >= o.stop_after;
    if ((o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) || step + 1 == total || stop) {
      nlohmann::json state{{"step", step + 1}, {"options", options}, {"last_loss", loss}};
      write_checkpoint(dir, config, tm.params(), tokenizer, adam, state);
    }
    if (stop) {
      result.steps = step + 1;
      return result;
    }
  }
  result.steps = total;
  if (!dev.empty()) {
    for (const auto& lg : classifier_logits(config, tm.params(), dev, o.batch)) {
      if (o.regression) {
        result.dev_values.push_back(lg[0]);
      } else {
        result.dev_predictions.push_back(static_cast<std::int64_t>(std::max_element(lg.begin(), lg.end()) - lg.begin()));
      }
    }
  }
  return result;
}

}  // namespace bertscope::model
