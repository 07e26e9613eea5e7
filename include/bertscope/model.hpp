// Loading a model, encoding text, running the encoder with recorded sites and interventions, and
// gradients of one output. Sites are named as in the trace (docs: README "Trace sites"):
//
//   embed.out                 [tok, hidden]          embeddings after their LayerNorm
//   layer.{l}.attn.query/key/value  [head, tok, head_dim]
//   layer.{l}.attn.scores     [head, q, k]           pre-softmax, scaled by 1/sqrt(head_dim)
//   layer.{l}.attn.probs      [head, q, k]           the attention applied (after interventions)
//   layer.{l}.attn.context    [head, q, head_dim]    per-head context before W_O
//   layer.{l}.attn.out        [tok, hidden]          after W_O, before the residual
//   layer.{l}.resid_mid       [tok, hidden]          after the first residual + LayerNorm
//   layer.{l}.ffn.act         [tok, intermediate]    after the activation
//   layer.{l}.ffn.out         [tok, hidden]          before the residual
//   layer.{l}.out             [tok, hidden]          the layer's output
//   pooler.out                [hidden]               when the model has a pooler
//
// Record requests are comma-separated patterns: "layer.3.attn.probs" (one layer), "attn.probs"
// or "layer.*.attn.probs" (every layer), "hidden" (embed.out and every layer.{l}.out), "all".
// Layers and heads are 0-based. Every failure is a bertscope::Error (bertscope/error.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bertscope/array.hpp"
#include "bertscope/hooks.hpp"

namespace bertscope {

// What a model folder holds.
struct ModelInfo {
  std::string folder;
  std::string family;  // config.json model_type: "bert", "roberta", "xlm-roberta", "distilbert"
  std::int64_t layers = 0, heads = 0, hidden = 0, intermediate = 0, head_dim = 0;
  std::int64_t vocab = 0, max_tokens = 0;
  std::int64_t labels = 0;  // classifier outputs, when it has a classifier
  bool has_tokenizer = false, has_mlm_head = false, has_pooler = false, has_classifier = false;
};

// One tokenized input: per token its id, segment, string, role ("ordinary", "cls_or_bos",
// "sep_or_eos", "pad", "mask", "unk"), word index within its segment (-1 for added specials),
// sequence (0 = text, 1 = pair, -1 = special) and code-point span in its segment's text.
struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::string> roles;
  std::vector<std::int32_t> word_ids;
  std::vector<std::int32_t> sequence_ids;
  std::vector<std::pair<std::int64_t, std::int64_t>> offsets;
  std::size_t size() const { return ids.size(); }
};

// Replaces one head's attention for one input by a row-stochastic matrix [tok, tok].
struct ReplacedAttention {
  std::int64_t layer = 0, head = 0;
  Array probs{};
};

// One input of a run: its encoding (only ids and type_ids are read) and per-input interventions.
struct Input {
  Encoding encoding{};
  std::vector<ReplacedAttention> replaced_attention{};
};

struct HeadRef {
  std::int64_t layer = 0, head = 0;
};

// What a run records and which interventions it applies (to every input). Every member has a
// default, so designated initializers may name any subset: run(e, {.record = "attn.probs"}).
struct RunOptions {
  std::string record{};            // site patterns, see above; "" records nothing
  bool mlm_logits = false;         // [tok, vocab] (needs the MLM head)
  bool classifier_logits = false;  // [labels] or [tok, labels] (needs the classifier)
  bool pooled = false;             // [hidden] (needs the pooler)
  // Scales head (l, h)'s attention probabilities after the softmax; [layers, heads]; empty =
  // all ones; 0 removes the head.
  Array head_mask{};
  std::vector<HeadRef> uniform_heads{};   // attention replaced by 1/T over the input's tokens
  std::vector<std::int64_t> skip_layers{};  // layers whose output is their input
  std::size_t batch_size = 16;          // inputs per forward pass
  // Called in the forward pass (bertscope/hooks.hpp), after the interventions above that
  // replace attention and before the head mask; not owned.
  std::vector<Hook*> hooks{};
};

// The outputs of one input. Arrays share the engine's memory (no copy).
struct Output {
  std::map<std::string, Array> sites;  // by canonical name ("layer.0.attn.probs")
  // Layers stacked as transformers returns them, when every member was recorded; the members'
  // entries in `sites` are views of these (one buffer, no copy):
  //   "attentions"     [layers, head, tok, tok]  every layer.{l}.attn.probs
  //   "hidden_states"  [layers + 1, tok, hidden] embed.out, then every layer.{l}.out
  std::map<std::string, Array> stacks;
  Array last_hidden;                   // [tok, hidden]
  Array mlm_logits, classifier_logits, pooled;  // when asked
  // The recorded site `name`; throws Error(input) naming it (and what was recorded) when absent.
  const Array& site(const std::string& name) const;
};

// The scalar whose gradient is taken.
struct Target {
  enum class Kind { class_logit, mlm_logit, class_loss, mlm_loss };
  Kind kind = Kind::class_logit;
  std::int64_t label = 0;     // class_logit, class_loss: the class
  std::int64_t position = 0;  // mlm_logit: the token position
  std::int32_t token = 0;     // mlm_logit: the vocabulary id
  std::vector<std::int32_t> labels;  // mlm_loss: per position a token id, or -100 to ignore

  static Target class_logit(std::int64_t label);
  static Target mlm_logit(std::int64_t position, std::int32_t token);
  static Target class_loss(std::int64_t label);                  // cross-entropy of the class
  static Target mlm_loss(std::vector<std::int32_t> labels);      // mean cross-entropy
};

struct GradientRequest {
  bool head_mask = false;  // d target / d head-mask coefficient [layers, heads]
  std::string sites{};     // d target / d site, patterns as for record
  std::vector<Hook*> hooks{};  // called in the backward pass (bertscope/hooks.hpp); not owned
};

struct Gradients {
  double value = 0;        // the target's value
  Array head_mask;         // [layers, heads], when asked
  std::map<std::string, Array> sites;  // same shapes as the sites
  Output output;           // the forward pass's outputs (logits, recorded sites)
};

class Model {
 public:
  // Loads config.json, the weights and the tokenizer of a Hugging Face folder of any supported
  // family; throws Error naming the folder's file on any problem.
  static Model load(const std::string& folder);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  ModelInfo info() const;
  // Tokenizes a text (and an optional pair) as transformers does; over-long input throws
  // Error(input) unless `truncate`.
  Encoding encode(const std::string& text, const std::optional<std::string>& pair = {}, bool truncate = false) const;

  // Runs the encoder; one Output per input, in order.
  std::vector<Output> run(const std::vector<Input>& inputs, const RunOptions& options = {}) const;
  Output run(const Encoding& encoding, const RunOptions& options = {}) const;

  // Gradient of `target` for one input (interventions from `options` apply; its record sites are
  // returned in Gradients::output).
  Gradients gradient(const Input& input, const Target& target, const GradientRequest& request,
                     const RunOptions& options = {}) const;

  struct Impl;
  // For the library's own layers (analyses); opaque to users.
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bertscope
