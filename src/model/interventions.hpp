// The interventions a run or a gradient request names, each written as a site hook (hooks.hpp):
// Lu et al.'s node replacements and flow masks, Kovaleva et al.'s uniform heads, given
// attention matrices, transformers' head mask (differentiable: it scales the derivatives too and
// yields the mask's own gradient) and skipped layers. Internal to the model layer; the drivers
// (encoder.cpp, autodiff.cpp) put them in front of the caller's hooks.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "model/autodiff.hpp"
#include "model/hooks.hpp"
#include "model/model.hpp"

namespace bertscope::model {

// Lu et al.'s nodes given per input as lists of (FlowSite, layer, ...) entries: hidden l is
// embed.out (l = 0) or layer.{l-1}.out, context l is layer.{l}.attn.context, skip l is
// layer.{l}.attn.residual. `edit` gets the entry, the index of a row (or of a (row, head) pair
// for context) in the entry's mask, the values, and their offset in the entry's value layout
// ([t, hidden], or [heads, t, head_dim] for context).
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

// Forward-only node replacement (Lu et al.'s ablation check): where keep is 0 the node's value
// becomes the given one (zero when none), before anything reads it.
class Replacements final : public PerInputNodeHook<NodeReplacement> {
 public:
  using PerInputNodeHook::PerInputNodeHook;
  bool replaces() const override { return true; }

 protected:
  void edit(const NodeReplacement& r, std::size_t at, float* values, std::int64_t width,
            std::int64_t value_offset) const override;
};

// Restricted flow (Lu et al.): a mask value multiplies every derivative passing through its node.
class FlowMasks final : public PerInputNodeHook<FlowMask> {
 public:
  using PerInputNodeHook::PerInputNodeHook;

 protected:
  void edit(const FlowMask& m, std::size_t at, float* values, std::int64_t width, std::int64_t) const override;
};

// Kovaleva et al.'s head disabling: the named heads attend uniformly to the input's real tokens.
class UniformHeads final : public SiteHook {
 public:
  UniformHeads(const std::set<std::pair<std::int64_t, std::int64_t>>& heads, std::span<const ModelInput> inputs)
      : heads_(heads), inputs_(inputs) {}
  bool wants(Site site, std::int64_t layer, Pass pass) const override;
  void at(const SiteValues& v) override;

 private:
  const std::set<std::pair<std::int64_t, std::int64_t>>& heads_;
  std::span<const ModelInput> inputs_;
};

// Each input's attention overrides: a given row-stochastic matrix replaces a head's attention.
class AttentionOverrides final : public SiteHook {
 public:
  explicit AttentionOverrides(std::span<const ModelInput> inputs) : inputs_(inputs) {}
  bool wants(Site site, std::int64_t layer, Pass pass) const override;
  void at(const SiteValues& v) override;

 private:
  std::span<const ModelInput> inputs_;
};

// transformers' head_mask: head (l, h)'s probabilities times m[l, h], as a differentiable hook
// at attn.probs. Forward: P <- m P (a taped pass keeps the input blocks of the heads with
// m != 1 in `kept`, one buffer of the batch's blocks per layer, empty where every m is 1).
// Backward: dL/dm[l, h] = <dL/dP_out, P_in> per input, then dL/dP_in = m dL/dP_out. Tangent:
// t(P_out) = m t(P_in).
class HeadMask final : public SiteHook {
 public:
  // mask [layers * heads]; a taped forward keeps its inputs into `keep`.
  HeadMask(std::span<const float> mask, std::int64_t heads, Pass pass, std::vector<core::FloatBuffer>* keep = nullptr);
  // Backward: every layer is visited for dL/dm of `inputs` inputs, reading what the forward kept.
  void compute_gradients(const std::vector<core::FloatBuffer>& kept, std::int64_t inputs);
  bool wants(Site site, std::int64_t layer, Pass pass) const override;
  void at(const SiteValues& v) override;
  bool differentiable() const override { return true; }
  // dL_b/dm [layers * heads] of each input b, after a backward pass with `gradients`.
  const std::vector<std::vector<double>>& gradients() const { return grads_; }

 private:
  bool scales(std::int64_t layer) const;
  std::span<const float> mask_;
  std::int64_t heads_;
  Pass pass_;
  std::vector<core::FloatBuffer>* keep_;
  const std::vector<core::FloatBuffer>* kept_ = nullptr;
  bool gradients_ = false;
  std::vector<std::vector<double>> grads_;
};

// RunOptions::skip_layers: the named layers are replaced by the identity.
class SkipLayers final : public SiteHook {
 public:
  explicit SkipLayers(const std::set<std::int64_t>& layers) : layers_(layers) {}
  bool wants(Site, std::int64_t, Pass) const override { return false; }
  void at(const SiteValues&) override {}
  bool bypasses(std::int64_t layer) const override { return layers_.count(layer) != 0; }

 private:
  const std::set<std::int64_t>& layers_;
};

}  // namespace bertscope::model
