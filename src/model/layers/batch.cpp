#include "model/layers/batch.hpp"

#include <cstring>

namespace bertscope::model::layers {

core::Tensor Batch::rows_of(std::int64_t b, const float* packed, std::int64_t width) const {
  const auto t = length(b);
  auto out = core::Tensor::uninitialized({t, width});
  std::memcpy(out.ptr(), packed + row(b) * width, static_cast<std::size_t>(t * width) * sizeof(float));
  return out;
}

bool SiteRecorder::hooked(Site site, std::int64_t layer, Hooks which) const {
  for (const auto* h : hooks_)
    if (in_group(*h, which) && h->wants(site, layer, pass_)) return true;
  return false;
}

bool SiteRecorder::bypassed(std::int64_t layer) const {
  for (const auto* h : hooks_)
    if (h->bypasses(layer)) return true;
  return false;
}

bool SiteRecorder::active(Site site, std::int64_t layer) const { return wants(site, layer) || hooked(site, layer); }

void SiteRecorder::run_hooks(Site site, std::int64_t layer, float* data, std::int64_t width, Hooks which,
                             const float* forward, std::uint8_t* constant) {
  for (auto* h : hooks_)
    if (in_group(*h, which) && h->wants(site, layer, pass_))
      h->at({site, layer, pass_, data, width, batch_.offsets, batch_.prob_offsets, forward, taped_, constant});
}

template <class Record>
void SiteRecorder::visit(Site site, std::int64_t layer, float* data, std::int64_t width, Record&& record,
                         const float* forward) {
  if (pass_ != Pass::backward) run_hooks(site, layer, data, width, Hooks::all, forward);
  if (wants(site, layer)) {
    core::ScopedOp op(profile_, core::OpClass::record);
    for (std::int64_t b = 0; b < batch_.size(); ++b) record(b);
  }
  if (pass_ == Pass::backward) run_hooks(site, layer, data, width, Hooks::all, forward);
}

void SiteRecorder::rows(Site site, std::int64_t layer, float* packed, std::int64_t width) {
  visit(site, layer, packed, width, [&](std::int64_t b) {
    const auto t = batch_.length(b);
    float* dst = trace(b).write(site, layer, {t, width}, false);
    std::memcpy(dst, packed + batch_.row(b) * width, static_cast<std::size_t>(t * width) * sizeof(float));
  });
}

void SiteRecorder::per_head(Site site, std::int64_t layer, float* packed, std::int64_t d) {
  const auto heads = batch_.heads, width = heads * d;
  visit(site, layer, packed, width, [&](std::int64_t b) {
    const auto t = batch_.length(b), off = batch_.row(b);
    float* dst = trace(b).write(site, layer, {heads, t, d}, false);
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < t; ++i)
        std::memcpy(dst + (h * t + i) * d, packed + (off + i) * width + h * d,
                    static_cast<std::size_t>(d) * sizeof(float));
  });
}

void SiteRecorder::blocks(Site site, std::int64_t layer, float* blocks, const float* forward) {
  visit(site, layer, blocks, 0, [&](std::int64_t b) { record_block(site, layer, blocks, b); }, forward);
}

void SiteRecorder::record_blocks(Site site, std::int64_t layer, const float* blocks) {
  if (!wants(site, layer)) return;
  core::ScopedOp op(profile_, core::OpClass::record);
  for (std::int64_t b = 0; b < batch_.size(); ++b) record_block(site, layer, blocks, b);
}

void SiteRecorder::record_block(Site site, std::int64_t layer, const float* blocks, std::int64_t b) {
  const auto t = batch_.length(b);
  float* dst = trace(b).write(site, layer, {batch_.heads, t, t}, false);
  std::memcpy(dst, blocks + batch_.probs(b), static_cast<std::size_t>(batch_.heads * t * t) * sizeof(float));
}

float* SiteRecorder::block(Site site, std::int64_t layer, std::int64_t b, bool zero) {
  const auto t = batch_.length(b);
  return trace(b).write(site, layer, {batch_.heads, t, t}, zero);
}

}  // namespace bertscope::model::layers
