// The packed batch every layer component works on: the real tokens of all inputs back to back
// ([rows, width] matrices for the linear layers) and each input's attention block [heads, t, t]
// back to back; and the recorder through which components report the value at a trace site.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/profile.hpp"
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

// Copies what a pass asks for at each site into one trace per input. The forward pass records
// values, the backward pass gradients and the JVP tangents, all through the same layouts.
class SiteRecorder {
 public:
  SiteRecorder(const SiteSet& sites, std::vector<Trace*> traces, const Batch& batch, core::OpProfile* profile = nullptr)
      : sites_(sites), traces_(std::move(traces)), batch_(batch), profile_(profile) {}

  bool wants(Site site, std::int64_t layer = 0) const { return sites_.contains(site, layer); }
  // Packed rows [rows, width] -> [t, width] per input.
  void rows(Site site, std::int64_t layer, const float* packed, std::int64_t width);
  // Packed rows [rows, heads * d] -> [heads, t, d] per input.
  void per_head(Site site, std::int64_t layer, const float* packed, std::int64_t d);
  // Attention blocks [heads, t, t] per input, back to back.
  void blocks(Site site, std::int64_t layer, const float* blocks);
  // Each input's block, allocated for the caller to fill (zero-filled).
  float* block(Site site, std::int64_t layer, std::int64_t b);
  Trace& trace(std::int64_t b) { return *traces_[static_cast<std::size_t>(b)]; }

 private:
  const SiteSet& sites_;
  std::vector<Trace*> traces_;
  const Batch& batch_;
  core::OpProfile* profile_;
};

// What a pass does at the nodes Lu et al.'s information-flow patterns restrict: the forward
// may replace values, the reverse and forward-mode passes scale derivatives (flow masks).
//   hidden   layer 0..L: the residual stream entering block l [rows, hidden]
//   skip     layer 0..L-1: the residual term x of LN1(x + attention) [rows, hidden]
//   context  layer 0..L-1: per-head context before W_O [rows, heads * head_dim]
class NodeEdits {
 public:
  virtual ~NodeEdits() = default;
  virtual bool edits_skip(std::int64_t /*layer*/) const { return false; }
  virtual void hidden(std::int64_t /*layer*/, float* /*rows*/) const {}
  virtual void skip(std::int64_t /*layer*/, float* /*rows*/) const {}
  virtual void context(std::int64_t /*layer*/, float* /*rows*/) const {}
};

}  // namespace bertscope::model::layers
