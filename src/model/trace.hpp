// The trace: one canonical, layer-indexed name per internal of the encoder, which a run can
// record. What is not asked for is never copied or kept.
//
//   embed.out                 [tok, hidden]          embeddings after their LayerNorm
//   layer.{l}.attn.query      [head, tok, head_dim]  per-head queries (bias added, unscaled)
//   layer.{l}.attn.key        [head, tok, head_dim]
//   layer.{l}.attn.value      [head, tok, head_dim]
//   layer.{l}.attn.scores     [head, q, k]           pre-softmax, scaled by 1/sqrt(head_dim)
//   layer.{l}.attn.probs      [head, q, k]           the attention actually applied: post-softmax,
//                                                    after interventions; rows sum to the head mask
//   layer.{l}.attn.context    [head, q, head_dim]    per-head context (probs x values), before W_O
//   layer.{l}.attn.out        [tok, hidden]          after W_O and its bias, before the residual
//   layer.{l}.resid_mid       [tok, hidden]          LayerNorm(input + attn.out)
//   layer.{l}.ffn.act         [tok, intermediate]    feed-forward activations after GELU
//   layer.{l}.ffn.out         [tok, hidden]          feed-forward output, before the residual
//   layer.{l}.out             [tok, hidden]          the layer's output (the next hidden state)
//   pooler.out                [hidden]               tanh(W h[CLS] + b), when the model has a pooler
//   layer.{l}.attn.residual   [tok, hidden]          the residual term of LayerNorm(input + attn.out): the
//                                                    layer's input as that sum reads it (Lu et al.'s skip node)
//   layer.{l}.attn.scores.c2c [head, q, k]           DeBERTa's terms of attn.scores: content->content,
//   layer.{l}.attn.scores.c2p [head, q, k]           content->position and position->content, each
//   layer.{l}.attn.scores.p2c [head, q, k]           scaled; they sum to attn.scores (other models: none)
//   embed.norm                [tok, embedding]       the embeddings' LayerNorm output (ALBERT, ELECTRA:
//                                                    before the mapping to hidden; else embed.out)
//   final_norm.in             [tok, hidden]          pre-norm encoders (ModernBERT): the last layer's
//                                                    residual sum before the final norm; its layer.{L-1}.out
//                                                    is after it, as transformers 5's hidden_states[-1]
// Pre-norm layers (ModernBERT): resid_mid is input + attn.out (no norm), out is resid_mid + ffn.out,
// attn.query / attn.key are after the rotary position embedding, ffn.act is act(a) * g.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace bertscope::model {

enum class Site {
  embed_out,
  attn_query,
  attn_key,
  attn_value,
  attn_scores,
  attn_probs,
  attn_context,
  attn_out,
  resid_mid,
  ffn_act,
  ffn_out,
  layer_out,
  pooler_out,
  attn_residual,
  attn_scores_c2c,
  attn_scores_c2p,
  attn_scores_p2c,
  embed_norm,  // the embeddings' LayerNorm output, before ALBERT's / ELECTRA's mapping to hidden
  final_norm_in,  // pre-norm encoders (ModernBERT): the last layer's sum before the final norm
};
inline constexpr std::size_t kSiteCount = 19;

struct SiteInfo {
  Site site;
  std::string_view suffix;  // "attn.probs"; the full name adds "layer.{l}." for per-layer sites
  bool per_layer;
  std::string_view shape;   // documentation of the per-input shape
};

const std::array<SiteInfo, kSiteCount>& site_table();
const SiteInfo& site_info(Site site);
std::string site_name(Site site, std::int64_t layer);  // layer ignored for global sites

// A set of (site, layer) pairs to record, parsed from a comma-separated list of patterns:
//   "layer.3.attn.probs"  one layer;   "attn.probs" or "layer.*.attn.probs"  every layer;
//   "hidden"  embed.out and every layer.{l}.out;   "all"  everything.
class SiteSet {
 public:
  SiteSet() = default;
  SiteSet(std::int64_t layers) : layers_(layers) {}
  static SiteSet parse(std::string_view patterns, std::int64_t layers);  // throws Error(input)

  void add(Site site, std::optional<std::int64_t> layer = {});  // no layer: every layer
  void add(const SiteSet& other);
  bool contains(Site site, std::int64_t layer = 0) const;
  bool any(Site site) const;
  bool empty() const { return bits_.empty(); }
  std::int64_t layers() const { return layers_; }

 private:
  std::int64_t layers_ = 0;
  std::vector<bool> bits_;  // [site * (layers + 1) + layer]
};

// The recorded internals of one input, unpadded.
class Trace {
 public:
  Trace() = default;
  explicit Trace(std::int64_t layers) : layers_(layers), slots_(kSiteCount * static_cast<std::size_t>(layers + 1)) {}

  // The tensor for a site, created with `shape` on first use: zero-filled, or left
  // uninitialised when the caller overwrites it entirely (`zero` false).
  core::Tensor& emplace(Site site, std::int64_t layer, core::Shape shape, bool zero = true);
  // Where the recorder writes a site's value of `shape`: emplace's memory, or the site's place in
  // its stack (below).
  float* write(Site site, std::int64_t layer, const core::Shape& shape, bool zero = true);
  // The value of a site; nullptr when it was not recorded. A stacked site has no tensor of its
  // own: find() throws for it until take_stacks() hands the stacks out.
  const core::Tensor* find(Site site, std::int64_t layer = 0) const;
  core::Tensor* find(Site site, std::int64_t layer = 0);

  // Several sites of one shape kept back to back in one tensor [n, ...] (site i at index i), so an
  // API can hand out the stack and each site as views of it without a copy: "attentions" (every
  // layer's attn.probs) and "hidden_states" (embed.out, then every layer.{l}.out), the
  // arrays transformers calls so, for each group `record` holds in full. Call before recording.
  struct Stack {
    std::string name;
    std::vector<std::pair<Site, std::int64_t>> sites;
    std::optional<core::Tensor> values;  // [sites, ...] once a site was written
  };
  void stack_complete_groups(const SiteSet& record);
  // The stacks, moved out; their sites become ordinary absent sites.
  std::vector<Stack> take_stacks();
  const core::Tensor& at(std::string_view name) const;  // by canonical name; throws if absent
  std::vector<std::string> names() const;              // recorded sites, in table order
  std::int64_t layers() const { return layers_; }

 private:
  std::size_t index(Site site, std::int64_t layer) const;
  std::int64_t layers_ = 0;
  std::vector<std::optional<core::Tensor>> slots_;
  std::vector<Stack> stacks_;
  std::vector<std::pair<int, int>> stacked_at_;  // per slot: (stack, position), or (-1, -1)
};

}  // namespace bertscope::model
