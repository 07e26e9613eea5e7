// Site hooks: code that runs at a trace site (trace.hpp names) inside a pass, on the values the
// pass holds there, before anything downstream reads them. A hook can observe (read), replace
// (write, in the forward pass), or stop or scale a derivative (write, in the reverse and
// forward-mode passes: what it writes is what flows on). Nothing is copied for a hook: it sees
// the pass's own buffers. Hooks run in pass order, so a caller can decide between layers (e.g.
// restrict the tangent leaving layer l after seeing it).
//
// Where each pass calls hooks (the taped forward is a forward pass):
//   forward   every site; attn.probs after softmax and dropout and before the head mask (the
//             recorded attn.probs is after it), attn.residual only when a hook or a record
//             asks for it. RunOptions::uniform_heads and ModelInput::attention_overrides are
//             hooks at attn.probs; on a taped pass a head whose probabilities a hook changes is
//             a constant to the gradient passes (no gradient reaches its scores)
//   backward  every site but attn.scores and attn.probs (they exist per head inside the
//             attention's reverse pass); a gradient is recorded before the hooks change it
//   tangent   embed.out, attn.context, attn.residual, attn.out, resid_mid, ffn.act, ffn.out,
//             layer.out
// A forward hook that writes elsewhere than attn.probs says so (replaces()); a tape recorded
// with one serves no gradient pass, since the tape could not say how the written values depend
// on the model.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/trace.hpp"

namespace bertscope::model {

enum class Pass { forward, backward, tangent };

// One site's values for every input of the batch, packed as the pass holds them.
struct SiteValues {
  Site site;
  std::int64_t layer;
  Pass pass;
  float* data;
  std::int64_t width;                           // values per token row; 0 for attention blocks
  std::span<const std::int64_t> row_offsets;    // first row of each input, then the total
  std::span<const std::int64_t> block_offsets;  // first value of each input's [heads, t, t] block

  std::int64_t inputs() const { return static_cast<std::int64_t>(row_offsets.size()) - 1; }
  std::int64_t tokens(std::int64_t b) const {
    return row_offsets[static_cast<std::size_t>(b) + 1] - row_offsets[static_cast<std::size_t>(b)];
  }
  // Input b's values: [t, width] rows (per-head sites hold the heads side by side in a row,
  // [t, heads * head_dim]), or [heads, t, t] for attn.scores and attn.probs.
  std::span<float> of(std::int64_t b) const {
    const auto i = static_cast<std::size_t>(b);
    if (width == 0) return {data + block_offsets[i], static_cast<std::size_t>(block_offsets[i + 1] - block_offsets[i])};
    return {data + row_offsets[i] * width, static_cast<std::size_t>(tokens(b) * width)};
  }
};

class SiteHook {
 public:
  virtual ~SiteHook() = default;
  // Asked before a pass prepares anything for the hook.
  virtual bool wants(Site site, std::int64_t layer, Pass pass) const = 0;
  virtual void at(const SiteValues& values) = 0;
  // Whether the hook writes forward values (observing hooks and derivative hooks do not).
  virtual bool replaces() const { return false; }
};

// Hooks of a pass, called in this order; not owned.
using SiteHooks = std::vector<SiteHook*>;

}  // namespace bertscope::model
