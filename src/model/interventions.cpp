#include "model/interventions.hpp"

#include <algorithm>
#include <cstring>

namespace bertscope::model {

void Replacements::edit(const NodeReplacement& r, std::size_t at, float* values, std::int64_t width,
                        std::int64_t value_offset) const {
  if (r.keep.data[at] != 0.0f) return;
  if (r.value.data.empty())
    std::fill(values, values + width, 0.0f);
  else
    std::memcpy(values, r.value.ptr() + value_offset, static_cast<std::size_t>(width) * sizeof(float));
}

void FlowMasks::edit(const FlowMask& m, std::size_t at, float* values, std::int64_t width, std::int64_t) const {
  const float f = m.mask.data[at];
  for (std::int64_t e = 0; e < width; ++e) values[e] *= f;
}

bool UniformHeads::wants(Site site, std::int64_t layer, Pass pass) const {
  if (site != Site::attn_probs || pass != Pass::forward) return false;
  auto it = heads_.lower_bound({layer, 0});
  return it != heads_.end() && it->first == layer;
}

void UniformHeads::at(const SiteValues& v) {
  for (std::int64_t b = 0; b < v.inputs(); ++b) {
    const auto t = v.tokens(b);
    const auto& mask = inputs_[static_cast<std::size_t>(b)].attention_mask;
    const auto real = mask.empty() ? t : std::count_if(mask.begin(), mask.end(), [](std::uint8_t m) { return m != 0; });
    for (auto it = heads_.lower_bound({v.layer, 0}); it != heads_.end() && it->first == v.layer; ++it) {
      float* block = v.of(b).data() + it->second * t * t;
      if (v.constant) v.constant[b * v.heads() + it->second] = 1;
      for (std::int64_t i = 0; i < t; ++i)
        for (std::int64_t j = 0; j < t; ++j)
          block[i * t + j] = mask.empty() || mask[static_cast<std::size_t>(j)] ? 1.0f / static_cast<float>(real) : 0.0f;
    }
  }
}

bool AttentionOverrides::wants(Site site, std::int64_t layer, Pass pass) const {
  if (site != Site::attn_probs || pass != Pass::forward) return false;
  for (const auto& in : inputs_)
    for (const auto& o : in.attention_overrides)
      if (o.layer == layer) return true;
  return false;
}

void AttentionOverrides::at(const SiteValues& v) {
  for (std::int64_t b = 0; b < v.inputs(); ++b) {
    const auto t = v.tokens(b);
    for (const auto& o : inputs_[static_cast<std::size_t>(b)].attention_overrides)
      if (o.layer == v.layer) {
        std::memcpy(v.of(b).data() + o.head * t * t, o.probs.ptr(), static_cast<std::size_t>(t * t) * sizeof(float));
        if (v.constant) v.constant[b * v.heads() + o.head] = 1;
      }
  }
}

HeadMask::HeadMask(std::span<const float> mask, std::int64_t heads, Pass pass, std::vector<core::FloatBuffer>* keep)
    : mask_(mask), heads_(heads), pass_(pass), keep_(keep) {}

void HeadMask::compute_gradients(const std::vector<core::FloatBuffer>& kept, std::int64_t inputs) {
  kept_ = &kept;
  gradients_ = true;
  grads_.assign(static_cast<std::size_t>(inputs), std::vector<double>(mask_.size(), 0.0));
}

bool HeadMask::scales(std::int64_t layer) const {
  const auto row = mask_.subspan(static_cast<std::size_t>(layer * heads_), static_cast<std::size_t>(heads_));
  return std::any_of(row.begin(), row.end(), [](float m) { return m != 1.0f; });
}

bool HeadMask::wants(Site site, std::int64_t layer, Pass pass) const {
  return site == Site::attn_probs && pass == pass_ && (scales(layer) || (pass == Pass::backward && gradients_));
}

void HeadMask::at(const SiteValues& v) {
  const auto l = static_cast<std::size_t>(v.layer);
  const float* m = mask_.data() + v.layer * heads_;
  // The taped forward keeps the inputs that the gradient's P_in cannot be read back from.
  if (v.pass == Pass::forward && v.taped && keep_) {
    if (keep_->size() <= l) keep_->resize(l + 1);
    (*keep_)[l].assign(v.data, v.data + v.block_offsets.back());
  }
  for (std::int64_t b = 0; b < v.inputs(); ++b) {
    const auto t = v.tokens(b);
    const auto offset = v.block_offsets[static_cast<std::size_t>(b)];
    for (std::int64_t h = 0; h < heads_; ++h) {
      float* block = v.of(b).data() + h * t * t;
      if (v.pass == Pass::backward && gradients_) {
        // P_in is the applied block where m = 1 and the kept one elsewhere.
        const float* in = (m[h] == 1.0f ? v.forward : (*kept_)[l].data()) + offset + h * t * t;
        double g = 0;
        for (std::int64_t i = 0; i < t * t; ++i) g += static_cast<double>(block[i]) * in[i];
        grads_[static_cast<std::size_t>(b)][l * static_cast<std::size_t>(heads_) + static_cast<std::size_t>(h)] = g;
      }
      if (m[h] != 1.0f)
        for (std::int64_t i = 0; i < t * t; ++i) block[i] *= m[h];
    }
  }
}

}  // namespace bertscope::model
