#include "model/mlm_eval.hpp"

#include <algorithm>
#include <cmath>

#include "io/error.hpp"
#include "io/npz.hpp"
#include "model/autodiff.hpp"

namespace bertscope::model {

namespace {

MlmInstanceOptions eval_instance_options(const ModelConfig& config, const MlmEvalOptions& o, MaskScheme scheme) {
  MlmInstanceOptions d;
  d.seq_len = o.seq_len;
  d.mask_prob = o.mask_prob;
  d.single_segment_prob = o.single_segment_prob;
  d.segment_pairs = config.type_vocab_size >= 2;
  d.seed = o.seed;
  d.scheme = scheme;
  return d;
}

void check_eval_options(const ModelConfig& config, const MlmEvalOptions& o) {
  if (o.sequences < 1) fail(ErrorKind::input, "MLM evaluation needs at least one sequence (got {})", o.sequences);
  if (o.seq_len < 8 || o.seq_len > config.max_position_embeddings)
    fail(ErrorKind::input, "sequence length {} is outside 8..{} (the model's max_position_embeddings)", o.seq_len,
         config.max_position_embeddings);
  if (!(o.mask_prob > 0 && o.mask_prob <= 1)) fail(ErrorKind::input, "mask probability {} is not in (0, 1]", o.mask_prob);
}

// Logits at the instances' selected positions, one batch at a time, handed to `score`.
template <typename Score>
void score_batches(const Model& model, const std::vector<MlmInstance>& insts, std::int64_t batch, Score&& score) {
  for (std::size_t start = 0; start < insts.size(); start += static_cast<std::size_t>(batch)) {
    const auto end = std::min(insts.size(), start + static_cast<std::size_t>(batch));
    std::vector<ModelInput> inputs;
    TapeOptions topt;
    topt.mlm_logits = true;  // the head runs only at mlm_positions
    for (auto i = start; i < end; ++i) {
      ModelInput mi;
      mi.ids = insts[i].ids;
      mi.type_ids = insts[i].type_ids;
      inputs.push_back(std::move(mi));
      topt.mlm_positions.push_back(insts[i].positions);
    }
    ForwardTape tape;
    const auto out = forward_with_tape(model, inputs, {}, topt, tape);
    for (auto i = start; i < end; ++i) score(i, out[i - start].mlm_logits);
  }
}

}  // namespace

void tally_mlm_logits(MlmTally& tally, const core::Tensor& logits, std::span<const std::int32_t> labels) {
  const auto vocab = logits.shape.back();
  for (std::size_t k = 0; k < labels.size(); ++k) {
    const float* row = logits.ptr() + static_cast<std::int64_t>(k) * vocab;
    const auto label = labels[k];
    const auto best = static_cast<std::int32_t>(std::max_element(row, row + vocab) - row);
    const double mx = row[best];
    double z = 0;
    for (std::int64_t j = 0; j < vocab; ++j) z += std::exp(static_cast<double>(row[j]) - mx);
    tally.loss_sum += mx + std::log(z) - row[label];
    tally.correct += best == label;
    ++tally.count;
  }
}

UnigramBaseline::UnigramBaseline(const MlmCorpus& corpus, const Tokenizer& tokenizer, std::int64_t vocab_size)
    : counts_(corpus.counts(vocab_size)), total_(corpus.tokens()) {
  std::int64_t most = -1;
  for (std::size_t id = 0; id < counts_.size(); ++id)
    if (tokenizer.role(static_cast<std::int32_t>(id)) == TokenRole::ordinary && counts_[id] > most) {
      most = counts_[id];
      guess_ = static_cast<std::int32_t>(id);
    }
}

double UnigramBaseline::neg_log_prob(std::int32_t id) const {
  return -std::log((static_cast<double>(counts_.at(static_cast<std::size_t>(id))) + 1.0) /
                   (static_cast<double>(total_) + static_cast<double>(counts_.size())));
}

std::vector<MlmInstance> mlm_eval_instances(const MlmCorpus& held_out, const Tokenizer& tokenizer,
                                            const ModelConfig& config, const MlmEvalOptions& options, MaskScheme scheme) {
  check_eval_options(config, options);
  const auto d = eval_instance_options(config, options, scheme);
  std::vector<MlmInstance> out;
  out.reserve(static_cast<std::size_t>(options.sequences));
  for (std::int64_t i = 0; i < options.sequences; ++i) out.push_back(make_mlm_instance(held_out, tokenizer, d, 0, i));
  return out;
}

void require_mlm_head(const Model& model) {
  if (!model.weights().params().has_mlm_head())
    fail(ErrorKind::input, "MLM evaluation needs a model with a masked-LM head; this one ({}) has none",
         model.config().architectures.empty() ? std::string("no architectures given") : model.config().architectures.front());
}

MlmEvalResult evaluate_mlm(const Model& model, const Tokenizer& tokenizer, const MlmCorpus& held_out,
                           const MlmCorpus* unigram_corpus, const MlmEvalOptions& options,
                           const std::function<void(std::int64_t)>& progress) {
  const auto& config = model.config();
  require_mlm_head(model);
  const auto insts = mlm_eval_instances(held_out, tokenizer, config, options, MaskScheme::all_mask);
  MlmEvalResult r;
  r.sequences = options.sequences;
  r.segment_pairs = config.type_vocab_size >= 2;
  std::optional<UnigramBaseline> unigram;
  if (unigram_corpus) {
    unigram.emplace(*unigram_corpus, tokenizer, config.vocab_size);
    r.unigram.emplace();
    r.unigram_guess = unigram->guess();
    r.unigram_corpus_tokens = unigram->corpus_tokens();
  }
  for (const auto& in : insts) {
    r.tokens += static_cast<std::int64_t>(in.ids.size());
    // Selected positions now hold the mask token; they were candidates too.
    for (auto id : in.ids) r.candidate_positions += id != tokenizer.cls_id() && id != tokenizer.sep_id();
    if (unigram)
      for (auto label : in.labels) {
        r.unigram->loss_sum += unigram->neg_log_prob(label);
        r.unigram->correct += label == unigram->guess();
        ++r.unigram->count;
      }
  }
  std::int64_t done = 0;
  score_batches(model, insts, options.batch, [&](std::size_t i, const core::Tensor& logits) {
    tally_mlm_logits(r.model, logits, insts[i].labels);
    if (progress) progress(++done);
  });
  if (options.bert_masking) {
    const auto corrupted = mlm_eval_instances(held_out, tokenizer, config, options, MaskScheme::bert_80_10_10);
    r.bert_masking.emplace();
    for (std::size_t i = 0; i < corrupted.size(); ++i)
      for (std::size_t k = 0; k < corrupted[i].positions.size(); ++k) {
        const auto id = corrupted[i].ids[static_cast<std::size_t>(corrupted[i].positions[k])];
        if (id == tokenizer.mask_id()) ++r.bert_masked;
        else if (id == corrupted[i].labels[k]) ++r.bert_kept;
        else ++r.bert_random;
      }
    score_batches(model, corrupted, options.batch,
                  [&](std::size_t i, const core::Tensor& logits) { tally_mlm_logits(*r.bert_masking, logits, corrupted[i].labels); });
  }
  return r;
}

nlohmann::json mlm_eval_json(const MlmEvalResult& r, const MlmEvalOptions& o, const Tokenizer& tokenizer) {
  nlohmann::json j{
      {"protocol", "every selected position replaced by the mask token"},
      {"sequences", r.sequences},
      {"tokens", r.tokens},
      {"candidate_positions", r.candidate_positions},
      {"positions", r.model.count},
      {"mlm_loss", r.model.loss()},
      {"mlm_accuracy", r.model.accuracy()},
      {"mlm_correct", r.model.correct},
      {"settings",
       {{"seq_len", o.seq_len},
        {"mask_prob", o.mask_prob},
        {"single_segment_prob", o.single_segment_prob},
        {"segment_pairs", r.segment_pairs},
        {"seed", o.seed}}},
      {"counts",
       "sequences: held-out sequences cut as in training; tokens: all their tokens; candidate_positions: their "
       "non-special tokens; positions: the selected ones (round(mask_prob * candidates) per sequence), each replaced "
       "by the mask token; mlm_loss: mean cross-entropy (nats) and mlm_accuracy: top-1 share over those positions"}};
  if (r.unigram) {
    j["unigram_loss"] = r.unigram->loss();
    j["unigram_accuracy"] = r.unigram->accuracy();
    j["unigram"] = {{"guess", tokenizer.token(r.unigram_guess)},
                    {"corpus_tokens", r.unigram_corpus_tokens},
                    {"counts", "the same positions; loss from add-one smoothed training-corpus frequencies, accuracy of "
                               "always guessing the most frequent ordinary token"}};
  }
  if (r.bert_masking)
    j["bert_masking_80_10_10"] = {
        {"mlm_loss", r.bert_masking->loss()},
        {"mlm_accuracy", r.bert_masking->accuracy()},
        {"masked", r.bert_masked},
        {"random", r.bert_random},
        {"kept", r.bert_kept},
        {"counts", "the same positions with BERT's training corruption: masked ones replaced by the mask token, random "
                   "ones by a random token, kept ones unchanged (they, and random draws of the label, count as "
                   "predictions); not the held-out accuracy"}};
  return j;
}

void write_mlm_eval_instances(const std::filesystem::path& path, const MlmCorpus& held_out, const Tokenizer& tokenizer,
                              const ModelConfig& config, const MlmEvalOptions& options) {
  const auto insts = mlm_eval_instances(held_out, tokenizer, config, options, MaskScheme::all_mask);
  std::size_t longest = 0;
  for (const auto& in : insts) longest = std::max(longest, in.ids.size());
  const auto n = static_cast<std::int64_t>(insts.size()), t = static_cast<std::int64_t>(longest);
  auto padded = [&](const std::vector<MlmInstance>& src, bool types) {
    std::vector<std::int32_t> out(static_cast<std::size_t>(n * t), types ? 0 : tokenizer.pad_id());
    for (std::size_t i = 0; i < src.size(); ++i) {
      const auto& v = types ? src[i].type_ids : src[i].ids;
      std::copy(v.begin(), v.end(), out.begin() + static_cast<std::ptrdiff_t>(i * longest));
    }
    return out;
  };
  std::vector<std::int32_t> lengths, seq, pos, labels;
  for (std::size_t i = 0; i < insts.size(); ++i) {
    lengths.push_back(static_cast<std::int32_t>(insts[i].ids.size()));
    for (std::size_t k = 0; k < insts[i].positions.size(); ++k) {
      seq.push_back(static_cast<std::int32_t>(i));
      pos.push_back(insts[i].positions[k]);
      labels.push_back(insts[i].labels[k]);
    }
  }
  io::NpzWriter w(path);
  const std::int64_t grid[] = {n, t}, seqs[] = {n}, count[] = {static_cast<std::int64_t>(pos.size())};
  w.add_i32("input_ids", grid, padded(insts, false));
  w.add_i32("token_type_ids", grid, padded(insts, true));
  w.add_i32("lengths", seqs, lengths);
  w.add_i32("sequence", count, seq);
  w.add_i32("position", count, pos);
  w.add_i32("label", count, labels);
  if (options.bert_masking)
    w.add_i32("bert_input_ids", grid,
              padded(mlm_eval_instances(held_out, tokenizer, config, options, MaskScheme::bert_80_10_10), false));
  w.commit();
}

}  // namespace bertscope::model
