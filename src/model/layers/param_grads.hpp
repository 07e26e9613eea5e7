// Parameter gradients of a reverse pass, keyed by the parameter's storage (so a decoder tied to
// the word embeddings adds into them), allocated on first use; off when not requested.
#pragma once

#include <map>

#include "core/tensor.hpp"
#include "model/weights.hpp"

namespace bertscope::model::layers {

class ParamGrads {
 public:
  explicit ParamGrads(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  // The gradient buffer of `w` (zeroed on first use), or null when gradients are off.
  float* operator()(const Param& w) {
    if (!enabled_ || !w.present()) return nullptr;
    auto& g = grads_[w.data];
    if (g.empty()) g = core::FloatBuffer(static_cast<std::size_t>(w.size()), 0.0f);
    return g.data();
  }
  std::map<const float*, core::FloatBuffer>& buffers() { return grads_; }

 private:
  bool enabled_;
  std::map<const float*, core::FloatBuffer> grads_;
};

}  // namespace bertscope::model::layers
