// The encoder's drivers over the layer components (model/layers/): one forward for inference
// (Model::forward) and for tape recording (forward_with_tape); backward and jvp in
// model/autodiff.cpp run the same components' reverse and forward-mode halves from the tape.
// Internal to the model layer.
#pragma once

#include <map>
#include <memory>
#include <mutex>
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
  std::mutex derived_mutex;  // guards the derived weights below: bf16 copies and packed weights
  std::uint64_t bf16_version = ~std::uint64_t{0};  // the Model's weights_version_ they were made from
  std::map<const float*, std::vector<core::bf16>> bf16_weights;
  // The linear weights packed for the matmul kernels (float32, and the bf16 copies), by float32
  // storage, for untaped forward passes. Made while the model's weights have never changed (a
  // loaded model): training changes them every step, where packing again would cost more than it
  // saves. Packing itself is lazy (core::PackedWeight), so a mapped model that runs a few layers
  // packs only those, and a mapped source's pages are dropped once packed.
  std::map<const float*, std::unique_ptr<core::PackedWeight>> packed, packed_bf16;

  std::unique_ptr<EncoderWorkspace> take();
  void give_back(std::unique_ptr<EncoderWorkspace> ws);
};

struct ForwardTape::Impl {
  layers::Batch batch{0};
  std::vector<std::vector<std::int32_t>> ids, types, positions;
  std::vector<bool> own_word_embeddings;  // the input gave word embeddings (no table gradient)
  std::vector<float> head_mask;           // [layers * heads], ones when none was given
  std::vector<core::FloatBuffer> head_mask_kept;  // HeadMask's inputs per layer (interventions.hpp)
  SiteHooks differentiable;               // the caller's differentiable hooks, run again by the gradient passes
  layers::NormTape embed;
  core::FloatBuffer embed_drop;
  core::FloatBuffer mapping_in;  // ALBERT, ELECTRA: the mapping's input [rows, embedding_dim], after dropout
  std::vector<layers::BlockTape> layers;
  core::FloatBuffer out;  // h_L [rows, hidden] (pre-norm encoders: after the final norm)
  layers::NormTape final_norm;  // pre-norm encoders: the final norm of the last layer's sum
  bool mlm = false, classifier = false, train = false;
  layers::MlmTape mlm_tape;
  core::FloatBuffer pooled, pooled_drop;  // [batch, hidden] the pooler's output; classifier-input dropout
  core::FloatBuffer token_drop;           // token classifier input dropout [rows, hidden]
  core::FloatBuffer rtd_pre;              // discriminator dense output before hidden_act [rows, hidden]
  bool replaced_nodes = false;            // recorded with node replacements: no gradient pass
  bool bf16 = false;                      // recorded with bf16 products: the backward pass uses them too

  // The embeddings' view of the recorded inputs (word embeddings given: no table gradient).
  std::vector<layers::EmbeddingInput> embedding_inputs() const;
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
  // Layer `layer`'s block: its rotary theta and attention window differ per layer (ModernBERT).
  static layers::BlockShape block_shape(const ModelConfig& c, std::int64_t layer);
  static layers::PoolerShape pooler_shape(const ModelConfig& c);
  static layers::MlmHeadShape mlm_shape(const ModelConfig& c);
  // How the linear layers of a pass multiply: float32, or bf16 with the model's current weights
  // in bf16 (made again after Model::weights_changed).
  // `packed`: the forward products may read packed weights (model.set_prepack, Caches::packed).
  static layers::LinearContext linear_context(const Model& model, bool bf16, core::OpProfile* profile = nullptr,
                                              bool packed = false);
};

}  // namespace bertscope::model
