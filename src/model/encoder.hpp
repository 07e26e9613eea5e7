// The encoder's drivers over the layer components (model/layers/): one forward for inference
// (Model::forward) and for tape recording (forward_with_tape); backward and jvp in
// model/autodiff.cpp run the same components' reverse and forward-mode halves from the tape.
// Internal to the model layer.
#pragma once

#include <map>
#include <memory>
#include <mutex>
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
  layers::Batch batch;
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

// Edits at Lu et al.'s nodes given per input as a list of (site, layer, ...) entries: a flow
// mask or a node replacement. `edit` gets the entry, the index of a row (or of a (row, head)
// pair for context) in the entry's mask, the values, and their offset in the entry's value
// layout ([t, hidden], or [heads, t, head_dim] for context).
template <class Node>
class PerInputNodeEdits : public layers::NodeEdits {
 public:
  PerInputNodeEdits(const std::vector<std::vector<Node>>& nodes, const layers::Batch& batch, std::int64_t hidden,
                    std::int64_t head_dim)
      : nodes_(nodes), batch_(batch), hidden_(hidden), d_(head_dim) {}
  bool edits_skip(std::int64_t layer) const override {
    for (std::size_t b = 0; b < nodes_.size(); ++b)
      if (find(b, FlowSite::skip, layer)) return true;
    return false;
  }
  void hidden(std::int64_t layer, float* rows) const override { edit_rows(FlowSite::hidden, layer, rows); }
  void skip(std::int64_t layer, float* rows) const override { edit_rows(FlowSite::skip, layer, rows); }
  void context(std::int64_t layer, float* packed) const override {
    const auto heads = batch_.heads;
    for (std::int64_t b = 0; b < batch_.size(); ++b) {
      const auto* node = find(static_cast<std::size_t>(b), FlowSite::context, layer);
      const auto t = batch_.length(b);
      for (std::int64_t i = 0; node && i < t; ++i)
        for (std::int64_t h = 0; h < heads; ++h)
          edit(*node, static_cast<std::size_t>(i * heads + h), packed + (batch_.row(b) + i) * heads * d_ + h * d_, d_,
               (h * t + i) * d_);
    }
  }

 protected:
  virtual void edit(const Node& node, std::size_t at, float* values, std::int64_t width,
                    std::int64_t value_offset) const = 0;

 private:
  const Node* find(std::size_t input, FlowSite site, std::int64_t layer) const {
    if (input >= nodes_.size()) return nullptr;
    for (const auto& n : nodes_[input])
      if (n.site == site && n.layer == layer) return &n;
    return nullptr;
  }
  void edit_rows(FlowSite site, std::int64_t layer, float* packed) const {
    for (std::int64_t b = 0; b < batch_.size(); ++b) {
      const auto* node = find(static_cast<std::size_t>(b), site, layer);
      for (std::int64_t i = 0; node && i < batch_.length(b); ++i)
        edit(*node, static_cast<std::size_t>(i), packed + (batch_.row(b) + i) * hidden_, hidden_, i * hidden_);
    }
  }
  const std::vector<std::vector<Node>>& nodes_;
  const layers::Batch& batch_;
  std::int64_t hidden_, d_;
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
