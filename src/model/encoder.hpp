// The encoder's drivers over the layer components (model/layers/): one forward for inference
// (Model::forward) and for tape recording (forward_with_tape); backward and jvp in
// model/autodiff.cpp run the same components' reverse and forward-mode halves from the tape.
// Internal to the model layer.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <span>
#include <vector>

#include "model/autodiff.hpp"
#include "model/layers/block.hpp"
#include "model/layers/embeddings.hpp"
#include "model/layers/heads.hpp"
#include "model/model.hpp"

namespace bertscope::model {

// Activation buffers of one pass. Kept between calls (no allocation on the hot path once sizes
// settle); each concurrent pass takes its own.
struct EncoderWorkspace {
  core::FloatBuffer x;  // the residual stream [rows, hidden]
  layers::BlockBuffers block;
};

struct Model::Caches {
  std::mutex mutex;
  std::vector<std::unique_ptr<EncoderWorkspace>> free;
  std::once_flag bf16_once;
  std::map<const float*, std::vector<core::bf16>> bf16_weights;

  std::unique_ptr<EncoderWorkspace> take();
  void give_back(std::unique_ptr<EncoderWorkspace> ws);
};

struct ForwardTape::Impl {
  layers::Batch batch{0};
  std::vector<std::vector<std::int32_t>> ids, types, positions;
  std::vector<bool> own_word_embeddings;  // the input gave word embeddings (no table gradient)
  std::vector<float> head_mask;           // [layers * heads], ones when none was given
  layers::NormTape embed;
  core::FloatBuffer embed_drop;
  std::vector<layers::BlockTape> layers;
  core::FloatBuffer out;  // h_L [rows, hidden]
  bool mlm = false, classifier = false, train = false;
  layers::MlmTape mlm_tape;
  core::FloatBuffer pooled, pooled_drop;  // [batch, hidden] tanh output; classifier-input dropout
  core::FloatBuffer token_drop;           // token classifier input dropout [rows, hidden]
  bool replaced_nodes = false;            // recorded with node replacements: no gradient pass

  // The embeddings' view of the recorded inputs (word embeddings given: no table gradient).
  std::vector<layers::EmbeddingInput> embedding_inputs() const;
};

// Lu et al.'s nodes given per input as lists of (FlowSite, layer, ...) entries, as site hooks:
// hidden l is embed.out (l = 0) or layer.{l-1}.out, context l is layer.{l}.attn.context, skip l
// is layer.{l}.attn.residual. `edit` gets the entry, the index of a row (or of a (row, head)
// pair for context) in the entry's mask, the values, and their offset in the entry's value
// layout ([t, hidden], or [heads, t, head_dim] for context).
template <class Node>
class PerInputNodeHook : public SiteHook {
 public:
  PerInputNodeHook(const std::vector<std::vector<Node>>& nodes, Pass pass, std::int64_t heads, std::int64_t head_dim)
      : nodes_(nodes), pass_(pass), heads_(heads), d_(head_dim) {}
  bool wants(Site site, std::int64_t layer, Pass pass) const override {
    if (pass != pass_) return false;
    const auto node = flow_node(site, layer);
    for (const auto& list : nodes_)
      for (const auto& n : list)
        if (node && n.site == node->first && n.layer == node->second) return true;
    return false;
  }
  void at(const SiteValues& v) override {
    const auto node = flow_node(v.site, v.layer);
    for (std::int64_t b = 0; b < v.inputs(); ++b) {
      const auto* entry = find(static_cast<std::size_t>(b), node->first, node->second);
      if (!entry) continue;
      float* values = v.of(b).data();
      const auto t = v.tokens(b);
      if (node->first != FlowSite::context) {
        for (std::int64_t i = 0; i < t; ++i)
          edit(*entry, static_cast<std::size_t>(i), values + i * v.width, v.width, i * v.width);
        continue;
      }
      for (std::int64_t i = 0; i < t; ++i)
        for (std::int64_t h = 0; h < heads_; ++h)
          edit(*entry, static_cast<std::size_t>(i * heads_ + h), values + i * v.width + h * d_, d_, (h * t + i) * d_);
    }
  }

 protected:
  virtual void edit(const Node& node, std::size_t at, float* values, std::int64_t width,
                    std::int64_t value_offset) const = 0;

 private:
  static std::optional<std::pair<FlowSite, std::int64_t>> flow_node(Site site, std::int64_t layer) {
    switch (site) {
      case Site::embed_out: return std::pair{FlowSite::hidden, std::int64_t{0}};
      case Site::layer_out: return std::pair{FlowSite::hidden, layer + 1};
      case Site::attn_context: return std::pair{FlowSite::context, layer};
      case Site::attn_residual: return std::pair{FlowSite::skip, layer};
      default: return std::nullopt;
    }
  }
  const Node* find(std::size_t input, FlowSite site, std::int64_t layer) const {
    if (input >= nodes_.size()) return nullptr;
    for (const auto& n : nodes_[input])
      if (n.site == site && n.layer == layer) return &n;
    return nullptr;
  }
  const std::vector<std::vector<Node>>& nodes_;
  Pass pass_;
  std::int64_t heads_, d_;
};

// What backward and jvp share: the tape checked against the number of per-input arguments
// given (seeds, tangents) and the flow masks.
const ForwardTape::Impl& checked_tape(const Model& model, const ForwardTape& tape, std::size_t given,
                                      const std::vector<std::vector<FlowMask>>& masks, const char* pass);
// Pointers to each trace of a pass's results, for a SiteRecorder.
std::vector<Trace*> trace_pointers(std::vector<Trace>& traces);

class Encoder {
 public:
  // The forward pass of Model::forward (taped == nullptr) and of forward_with_tape.
  static std::vector<ForwardResult> run(const Model& model, std::span<const ModelInput> inputs, const RunOptions& run,
                                        const TapeOptions* taped, ForwardTape::Impl* tape);
  static layers::BlockShape block_shape(const ModelConfig& c);
  static layers::MlmHeadShape mlm_shape(const ModelConfig& c);
};

}  // namespace bertscope::model
