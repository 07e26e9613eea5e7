// The packed batch every layer component works on: the real tokens of all inputs back to back
// ([rows, width] matrices for the linear layers) and each input's attention block [heads, t, t]
// back to back; and the recorder through which components report the value at a trace site.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/profile.hpp"
#include "model/hooks.hpp"
#include "model/trace.hpp"

namespace bertscope::model::layers {

struct Batch {
  // Runs of consecutive inputs with equal length share one batched attention product.
  struct Group {
    std::int64_t first, count, t, probs_offset;
  };
  std::int64_t heads = 0;
  std::vector<std::int64_t> offsets{0};       // first packed row of each input, then the total
  std::vector<std::int64_t> prob_offsets{0};  // first value of each input's [heads, t, t] block, then the total
  std::vector<Group> groups;

  explicit Batch(std::int64_t heads_ = 0) : heads(heads_) {}
  void add(std::int64_t t) {
    const auto b = size();
    if (!groups.empty() && groups.back().t == t)
      ++groups.back().count;
    else
      groups.push_back({b, 1, t, prob_offsets.back()});
    offsets.push_back(offsets.back() + t);
    prob_offsets.push_back(prob_offsets.back() + heads * t * t);
  }
  std::int64_t size() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  std::int64_t rows() const { return offsets.back(); }
  std::int64_t row(std::int64_t b) const { return offsets[static_cast<std::size_t>(b)]; }
  std::int64_t length(std::int64_t b) const { return offsets[static_cast<std::size_t>(b) + 1] - row(b); }
  std::int64_t probs(std::int64_t b) const { return prob_offsets[static_cast<std::size_t>(b)]; }
  std::int64_t probs_size() const { return prob_offsets.back(); }
  // Input b's rows of a packed [rows, width] matrix, as a [t, width] tensor.
  core::Tensor rows_of(std::int64_t b, const float* packed, std::int64_t width) const;
};

// What a pass does at each site: runs the hooks that ask for it and copies what the pass's
// record request asks for into one trace per input. The forward pass records values, the
// backward pass gradients and the JVP tangents, all through the same layouts. Forward and
// tangent passes run hooks first (a trace shows what flowed on); the backward pass records
// first (the gradient that arrived) and then lets hooks change what flows on.
class SiteRecorder {
 public:
  // Which of the hooks at a site run_hooks calls (attn.probs runs them in two groups).
  enum class Hooks { all, plain, differentiable };

  SiteRecorder(const SiteSet& sites, std::vector<Trace*> traces, const Batch& batch, Pass pass, SiteHooks hooks,
               core::OpProfile* profile = nullptr, bool taped = false)
      : sites_(sites), traces_(std::move(traces)), batch_(batch), pass_(pass), hooks_(std::move(hooks)),
        profile_(profile), taped_(taped) {}

  bool wants(Site site, std::int64_t layer = 0) const { return sites_.contains(site, layer); }
  // Whether a hook or the record request asks for the site.
  bool active(Site site, std::int64_t layer) const;
  // Packed rows [rows, width] -> [t, width] per input.
  void rows(Site site, std::int64_t layer, float* packed, std::int64_t width);
  // Packed rows [rows, heads * d] -> [heads, t, d] per input.
  void per_head(Site site, std::int64_t layer, float* packed, std::int64_t d);
  // Attention blocks [heads, t, t] per input, back to back; `forward` as SiteValues::forward.
  void blocks(Site site, std::int64_t layer, float* blocks, const float* forward = nullptr);
  // Records attention blocks without running hooks (attn.probs runs its hooks itself).
  void record_blocks(Site site, std::int64_t layer, const float* blocks);
  // Whether a hook (of the given group) asks for the site, and running them alone.
  bool hooked(Site site, std::int64_t layer, Hooks which = Hooks::all) const;
  void run_hooks(Site site, std::int64_t layer, float* data, std::int64_t width, Hooks which = Hooks::all,
                 const float* forward = nullptr, std::uint8_t* constant = nullptr);
  // Whether a hook asks the forward pass to replace the layer by the identity.
  bool bypassed(std::int64_t layer) const;
  // Each input's block, allocated for the caller to fill (zero-filled unless `zero` is false).
  float* block(Site site, std::int64_t layer, std::int64_t b, bool zero = true);
  Trace& trace(std::int64_t b) { return *traces_[static_cast<std::size_t>(b)]; }

 private:
  template <class Record>
  void visit(Site site, std::int64_t layer, float* data, std::int64_t width, Record&& record,
             const float* forward = nullptr);
  void record_block(Site site, std::int64_t layer, const float* blocks, std::int64_t b);
  static bool in_group(const SiteHook& h, Hooks which) {
    return which == Hooks::all || h.differentiable() == (which == Hooks::differentiable);
  }
  const SiteSet& sites_;
  std::vector<Trace*> traces_;
  const Batch& batch_;
  Pass pass_;
  SiteHooks hooks_;
  core::OpProfile* profile_;
  bool taped_;
};

}  // namespace bertscope::model::layers
