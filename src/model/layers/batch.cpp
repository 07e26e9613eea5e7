#include "model/layers/batch.hpp"

#include <cstring>

namespace bertscope::model::layers {

core::Tensor Batch::rows_of(std::int64_t b, const float* packed, std::int64_t width) const {
  const auto t = length(b);
  auto out = core::Tensor::uninitialized({t, width});
  std::memcpy(out.ptr(), packed + row(b) * width, static_cast<std::size_t>(t * width) * sizeof(float));
  return out;
}

void SiteRecorder::rows(Site site, std::int64_t layer, const float* packed, std::int64_t width) {
  if (!wants(site, layer)) return;
  core::ScopedOp op(profile_, core::OpClass::record);
  for (std::int64_t b = 0; b < batch_.size(); ++b) {
    const auto t = batch_.length(b);
    auto& dst = trace(b).emplace(site, layer, {t, width}, false);
    std::memcpy(dst.ptr(), packed + batch_.row(b) * width, static_cast<std::size_t>(t * width) * sizeof(float));
  }
}

void SiteRecorder::per_head(Site site, std::int64_t layer, const float* packed, std::int64_t d) {
  if (!wants(site, layer)) return;
  core::ScopedOp op(profile_, core::OpClass::record);
  const auto heads = batch_.heads, width = heads * d;
  for (std::int64_t b = 0; b < batch_.size(); ++b) {
    const auto t = batch_.length(b), off = batch_.row(b);
    auto& dst = trace(b).emplace(site, layer, {heads, t, d}, false);
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < t; ++i)
        std::memcpy(dst.ptr() + (h * t + i) * d, packed + (off + i) * width + h * d,
                    static_cast<std::size_t>(d) * sizeof(float));
  }
}

void SiteRecorder::blocks(Site site, std::int64_t layer, const float* blocks) {
  if (!wants(site, layer)) return;
  core::ScopedOp op(profile_, core::OpClass::record);
  for (std::int64_t b = 0; b < batch_.size(); ++b) {
    const auto t = batch_.length(b);
    auto& dst = trace(b).emplace(site, layer, {batch_.heads, t, t}, false);
    std::memcpy(dst.ptr(), blocks + batch_.probs(b), static_cast<std::size_t>(batch_.heads * t * t) * sizeof(float));
  }
}

float* SiteRecorder::block(Site site, std::int64_t layer, std::int64_t b) {
  const auto t = batch_.length(b);
  return trace(b).emplace(site, layer, {batch_.heads, t, t}).ptr();
}

}  // namespace bertscope::model::layers
