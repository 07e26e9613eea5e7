// The public hooks (bertscope/hooks.hpp) as engine site hooks (model/hooks.hpp).
#pragma once

#include <deque>
#include <string_view>
#include <vector>

#include "bertscope/hooks.hpp"
#include "model/hooks.hpp"

namespace bertscope {

namespace detail {

struct SiteViewImpl {
  const model::SiteValues& v;
  std::string_view name;
  std::int64_t head_dim;  // per-head token sites; 0 otherwise
  std::int64_t heads_of(std::int64_t b) const;
};

}  // namespace detail

namespace api {

class HookAdapter final : public model::SiteHook {
 public:
  HookAdapter(Hook& hook, std::int64_t head_dim) : hook_(&hook), head_dim_(head_dim) {}
  bool wants(model::Site site, std::int64_t layer, model::Pass pass) const override;
  void at(const model::SiteValues& values) override;
  bool replaces() const override { return hook_->replaces(); }
  bool differentiable() const override { return hook_->differentiable(); }
  bool bypasses(std::int64_t layer) const override { return hook_->bypasses(layer); }
  // The public name of a site: the trace's suffix ("attn.probs", "out" for layer.{l}.out).
  static std::string_view name(model::Site site);

 private:
  Hook* hook_;
  std::int64_t head_dim_;
};

// Adapters for a list of public hooks, kept alive (and in place) for the passes that use them.
class HookAdapters {
 public:
  HookAdapters(const std::vector<Hook*>& hooks, std::int64_t head_dim);
  const model::SiteHooks& hooks() const { return pointers_; }

 private:
  std::deque<HookAdapter> adapters_;
  model::SiteHooks pointers_;
};

}  // namespace api
}  // namespace bertscope
