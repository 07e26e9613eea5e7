// Site hooks: code that runs at a trace site (trace.hpp names) inside a pass, on the values the
// pass holds there, before anything downstream reads them. A hook can observe (read), replace
// (write, in the forward pass), or stop or scale a derivative (write, in the reverse and
// forward-mode passes: what it writes is what flows on). Nothing is copied for a hook: it sees
// the pass's own buffers. Hooks run in pass order, so a caller can decide between layers (e.g.
// restrict the tangent leaving layer l after seeing it, or skip layer l + 1).
//
// Every pass calls hooks at every site it computes (the taped forward is a forward pass):
//   forward   attn.residual only when a hook or a record asks for it. At attn.probs the hooks
//             that are not differentiable() run first (RunOptions::uniform_heads and
//             ModelInput::attention_overrides are such hooks), then the differentiable ones
//             (RunOptions::head_mask is one); the recorded attn.probs is after all of them. On
//             a taped pass a head whose probabilities a non-differentiable hook changes is a
//             constant to the gradient passes (no gradient reaches its scores).
//   backward  a gradient is recorded first, then hooks change what flows on: the request's
//             hooks, then the taped forward's differentiable hooks in reverse order.
//   tangent   the taped forward's differentiable hooks first, then the request's; then the
//             tangent is recorded.
// A forward hook that writes elsewhere than attn.probs and is not differentiable says so
// (replaces()); a tape recorded with one serves no gradient pass, since the tape could not say
// how the written values depend on the model.
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
  // Backward and tangent passes at attn.probs: the probabilities the forward applied (after
  // every hook), in the same layout, e.g. for attention-times-gradient attributions; else null.
  const float* forward = nullptr;
  // Forward pass: whether it records a tape for gradient passes (a differentiable hook keeps
  // what its own derivative needs).
  bool taped = false;
  // Taped forward pass at attn.probs, for the hooks that are not differentiable: one flag per
  // (input, head), b * heads + h. A hook that sets it makes the head a constant to the gradient
  // passes even where it wrote the values the head had (a head whose values change is one anyway).
  std::uint8_t* constant = nullptr;

  std::int64_t inputs() const { return static_cast<std::int64_t>(row_offsets.size()) - 1; }
  std::int64_t tokens(std::int64_t b) const {
    return row_offsets[static_cast<std::size_t>(b) + 1] - row_offsets[static_cast<std::size_t>(b)];
  }
  // Heads of an attention-block site (attn.scores, attn.probs).
  std::int64_t heads() const { return (block_offsets[1] - block_offsets[0]) / (tokens(0) * tokens(0)); }
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
  // Whether the hook writes forward values that the gradient passes must treat as constants
  // (observing hooks, derivative hooks and differentiable hooks do not).
  virtual bool replaces() const { return false; }
  // Whether the hook's forward change is part of the function that gradients differentiate.
  // Such a hook carries its own derivative: given to a taped forward, it must outlive the tape,
  // whose backward passes call it at the same site with dL/d(its output) to be turned into
  // dL/d(its input), and whose tangent passes call it with t(its input) to be turned into
  // t(its output). It must want those passes there.
  virtual bool differentiable() const { return false; }
  // Whether the forward pass replaces layer `layer` by the identity (its output is its input).
  // Asked as the pass reaches the layer, after the hooks of the layers below have run; a
  // taped pass remembers the answer for its gradient passes.
  virtual bool bypasses(std::int64_t /*layer*/) const { return false; }
};

// Hooks of a pass, called in this order; not owned.
using SiteHooks = std::vector<SiteHook*>;

}  // namespace bertscope::model
