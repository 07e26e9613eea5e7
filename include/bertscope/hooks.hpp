// Hooks: your code at a site of a pass, on the pass's own values (nothing is copied for it),
// before anything downstream reads them. Give hooks to RunOptions::hooks (the forward pass of
// run and of gradient) and GradientRequest::hooks (the backward pass of gradient). Sites are
// named as in the trace without the layer ("attn.probs", "layer.out" is "out"; see model.hpp).
//
// A hook can observe; replace values in the forward pass (say so with replaces(): a gradient
// taken over such a pass is refused, except at attn.probs, where a head whose attention a hook
// changes, or marks with mark_constant, is a constant to the gradient); or stop or scale the
// gradient that flows on in the backward pass, where it is called after the gradient is
// recorded. A differentiable() hook carries its own derivative: it is called again in the
// backward pass at the same site with dL/d(its output) to turn into dL/d(its input). A hook
// can also replace a layer by the identity (bypasses), decided as the pass reaches it. Hooks
// run in pass order, so a hook may decide at layer l + 1 from what it saw at layer l.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace bertscope {

enum class Pass { forward, backward };

namespace detail {
struct SiteViewImpl;
}

// One site's values of every input in the batch, writable.
class SiteView {
 public:
  std::string_view site() const;  // "attn.probs", "out", "embed.out", ...
  std::int64_t layer() const;     // 0 for embed.out and pooler.out
  Pass pass() const;
  std::int64_t inputs() const;
  std::int64_t tokens(std::int64_t input) const;
  // Input b's values and their layout in memory: [tok, hidden] (or [tok, intermediate]) for
  // token sites, [tok, head, head_dim] for attn.query/key/value/context (heads side by side,
  // unlike the recorded [head, tok, head_dim]), [head, tok, tok] for attn.scores/probs.
  float* data(std::int64_t input) const;
  std::vector<std::int64_t> shape(std::int64_t input) const;
  // Backward pass at attn.probs: input b's probabilities as the forward applied them; else null.
  const float* forward(std::int64_t input) const;
  // Forward pass at attn.probs of a gradient: makes head h of input b a constant to the
  // gradient (no gradient reaches its scores) even where the hook left its values unchanged.
  void mark_constant(std::int64_t input, std::int64_t head) const;

  explicit SiteView(const detail::SiteViewImpl& impl) : impl_(&impl) {}

 private:
  const detail::SiteViewImpl* impl_;
};

class Hook {
 public:
  virtual ~Hook() = default;
  // Asked before the pass prepares anything for the hook.
  virtual bool wants(std::string_view site, std::int64_t layer, Pass pass) const = 0;
  virtual void at(const SiteView& values) = 0;
  virtual bool replaces() const { return false; }
  virtual bool differentiable() const { return false; }
  virtual bool bypasses(std::int64_t /*layer*/) const { return false; }
};

}  // namespace bertscope
