#include "api/hooks_impl.hpp"

namespace bertscope {

namespace detail {

std::int64_t SiteViewImpl::heads_of(std::int64_t b) const {
  const auto t = v.tokens(b);
  return (v.block_offsets[static_cast<std::size_t>(b) + 1] - v.block_offsets[static_cast<std::size_t>(b)]) / (t * t);
}

}  // namespace detail

std::string_view SiteView::site() const { return impl_->name; }
std::int64_t SiteView::layer() const { return impl_->v.layer; }
Pass SiteView::pass() const { return impl_->v.pass == model::Pass::forward ? Pass::forward : Pass::backward; }
std::int64_t SiteView::inputs() const { return impl_->v.inputs(); }
std::int64_t SiteView::tokens(std::int64_t input) const { return impl_->v.tokens(input); }
float* SiteView::data(std::int64_t input) const { return impl_->v.of(input).data(); }

std::vector<std::int64_t> SiteView::shape(std::int64_t input) const {
  const auto& v = impl_->v;
  const auto t = v.tokens(input);
  if (v.width == 0) return {impl_->heads_of(input), t, t};
  if (impl_->head_dim > 0) return {t, v.width / impl_->head_dim, impl_->head_dim};
  return {t, v.width};
}

const float* SiteView::forward(std::int64_t input) const {
  const auto& v = impl_->v;
  return v.forward ? v.forward + v.block_offsets[static_cast<std::size_t>(input)] : nullptr;
}

void SiteView::mark_constant(std::int64_t input, std::int64_t head) const {
  const auto& v = impl_->v;
  if (v.constant) v.constant[input * impl_->heads_of(0) + head] = 1;
}

namespace api {

bool HookAdapter::wants(model::Site site, std::int64_t layer, model::Pass pass) const {
  if (pass == model::Pass::tangent) return false;  // the public API has no forward-mode pass
  return hook_->wants(name(site), layer, pass == model::Pass::forward ? Pass::forward : Pass::backward);
}

void HookAdapter::at(const model::SiteValues& values) {
  const bool per_head = values.site == model::Site::attn_query || values.site == model::Site::attn_key ||
                        values.site == model::Site::attn_value || values.site == model::Site::attn_context;
  const detail::SiteViewImpl impl{values, name(values.site), per_head ? head_dim_ : 0};
  hook_->at(SiteView(impl));
}

std::string_view HookAdapter::name(model::Site site) { return model::site_info(site).suffix; }

HookAdapters::HookAdapters(const std::vector<Hook*>& hooks, std::int64_t head_dim) {
  for (auto* h : hooks) adapters_.emplace_back(*h, head_dim);
  for (auto& a : adapters_) pointers_.push_back(&a);
}

}  // namespace api
}  // namespace bertscope
