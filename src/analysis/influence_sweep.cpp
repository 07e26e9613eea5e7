// Guided Pattern Refinement in one forward-mode sweep per stage (methods.md 3.8).
//
// A node's value c_n = mean_k (dF/dz_n)(alpha_k) . (dz_n/dalpha)(alpha_k) has a reverse factor that
// depends only on the pattern above the node and a forward factor that depends only on the
// pattern below it. In stage 1 nothing above the layer being decided is restricted yet, so the
// reverse factors are the plain gradients, shared by every source token; in stage 2 they depend
// only on the stage-1 positions, fixed before it starts. The forward factors at layer l need only
// the choices below l. So each stage is one tangent pass that, at each layer, reads its tangent
// (every alpha point of the tape at once), decides, and restricts what flows on, in place, before
// the next layer computes: the same decisions as refine(), with about L times fewer passes.
#include <cmath>
#include <cstring>

#include "analysis/influence.hpp"
#include "analysis/influence_nodes.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::influence {

namespace {

using model::Pass;
using model::Site;

// The rows of input k (alpha point k) of a row site: [tokens, width].
float* sweep_rows(const model::SiteValues& v, std::int64_t k) { return v.of(k).data(); }

// Stage 1: at h_l (l = 1..L-1, the tangent leaving block l-1) the value of every position under
// the positions chosen below; the sign at l = 1; keep the best position, zero the others.
class Stage1Sweep final : public model::SiteHook {
 public:
  Stage1Sweep(const PathIntegral& integral, TokenPattern& out) : in_(integral), out_(out) {}

  bool wants(Site site, std::int64_t layer, Pass pass) const override {
    // layer.{b}.out is h_{b+1}; h_1 always (the token's total), then h_2..h_{L-1}.
    return pass == Pass::tangent && site == Site::layer_out && (layer == 0 || layer + 1 < in_.layers());
  }

  void at(const model::SiteValues& v) override {
    const auto l = v.layer + 1;
    const auto T = in_.tokens(), hidden = v.width;
    const auto& reverse = in_.unrestricted_reverse().traces;
    std::vector<double> c(static_cast<std::size_t>(T), 0.0);
    for (std::int64_t k = 0; k < v.inputs(); ++k) {
      const auto& R = nodes::hidden_site(reverse[static_cast<std::size_t>(k)], l);
      const float* F = sweep_rows(v, k);
      for (std::int64_t p = 0; p < T; ++p) c[static_cast<std::size_t>(p)] += nodes::dot(R.ptr() + p * hidden, F + p * hidden, hidden);
    }
    for (auto& x : c) x /= static_cast<double>(in_.points());
    if (l == 1) {
      double total = 0;
      for (double x : c) total += x;
      out_.total = total;
      out_.sign = total < 0 ? -1 : 1;
      out_.stage1[0] = total;
    }
    if (l >= in_.layers()) return;  // h_L is the target: not a choice
    const auto p = nodes::argmax_signed(c.data(), T, out_.sign);
    out_.positions[static_cast<std::size_t>(l)] = p;
    out_.stage1[static_cast<std::size_t>(l)] = c[static_cast<std::size_t>(p)];
    for (std::int64_t k = 0; k < v.inputs(); ++k) {
      float* F = sweep_rows(v, k);
      for (std::int64_t q = 0; q < T; ++q)
        if (q != p) std::memset(F + q * hidden, 0, static_cast<std::size_t>(hidden) * sizeof(float));
    }
  }

 private:
  const PathIntegral& in_;
  TokenPattern& out_;
};

// Stage 2, under the stage-1 positions: at block b's head contexts, the value of every head at
// query q = p_{b+1} and of the skip (the block input's tangent at q, seen when it left the block
// below, with dF/d(LN1 input)); keep the best head (the skip blocked at the residual) or the skip
// (every head's context at q zeroed).
class Stage2Sweep final : public model::SiteHook {
 public:
  Stage2Sweep(const PathIntegral& integral, const Factors& reverse, TokenPattern& out)
      : in_(integral), reverse_(reverse), out_(out), input_at_q_(static_cast<std::size_t>(integral.layers()), 0.0) {}

  bool wants(Site site, std::int64_t layer, Pass pass) const override {
    if (pass != Pass::tangent) return false;
    return site == Site::embed_out || (site == Site::layer_out && layer + 1 < in_.layers()) || site == Site::attn_context ||
           site == Site::attn_residual;
  }

  void at(const model::SiteValues& v) override {
    const auto T = in_.tokens(), H = in_.heads();
    const auto n = static_cast<double>(in_.points());
    const auto& pos = out_.positions;
    if (v.site == Site::embed_out || v.site == Site::layer_out) {
      // h_b entering block b: the skip node's forward factor at q = p_{b+1}, when the skip can
      // carry the path there (p_b = q; elsewhere the pattern's mask at h_b zeroes it).
      const auto b = v.site == Site::embed_out ? 0 : v.layer + 1;
      const auto q = pos[static_cast<std::size_t>(b + 1)];
      double skip = 0, at_source = 0;
      for (std::int64_t k = 0; k < v.inputs(); ++k) {
        const auto& trace = reverse_.traces[static_cast<std::size_t>(k)];
        const float* F = sweep_rows(v, k);
        if (pos[static_cast<std::size_t>(b)] == q) {
          const auto& RS = nodes::site(trace, Site::attn_out, b);
          skip += nodes::dot(RS.ptr() + q * v.width, F + q * v.width, v.width);
        }
        if (b == 0) {
          // The stage-1 pattern's influence, at the cut h_0 (the source row alone): the same sum
          // as at h_L's target, by the chain rule, before any block is restricted.
          const auto& R0 = nodes::hidden_site(trace, 0);
          at_source += nodes::dot(R0.ptr() + out_.source * v.width, F + out_.source * v.width, v.width);
        }
      }
      input_at_q_[static_cast<std::size_t>(b)] = skip / n;
      if (b == 0) {
        out_.stage1_influence = at_source / n;
        out_.stage1[static_cast<std::size_t>(in_.layers())] = out_.stage1_influence;
      }
      return;
    }
    const auto b = v.layer;
    const auto q = pos[static_cast<std::size_t>(b + 1)];
    if (v.site == Site::attn_residual) {
      if (out_.choices[static_cast<std::size_t>(b)] >= 0)
        for (std::int64_t k = 0; k < v.inputs(); ++k)
          std::memset(sweep_rows(v, k) + q * v.width, 0, static_cast<std::size_t>(v.width) * sizeof(float));
      return;
    }
    // attn.context: [tokens, heads * head_dim] per input in the pass; [head, q, head_dim] in the trace.
    const auto d = v.width / H;
    std::vector<double> heads(static_cast<std::size_t>(H), 0.0);
    for (std::int64_t k = 0; k < v.inputs(); ++k) {
      const auto& R = nodes::site(reverse_.traces[static_cast<std::size_t>(k)], Site::attn_context, b);
      const float* F = sweep_rows(v, k) + q * v.width;
      for (std::int64_t h = 0; h < H; ++h)
        heads[static_cast<std::size_t>(h)] += nodes::dot(R.ptr() + (h * T + q) * d, F + h * d, d);
    }
    for (auto& x : heads) x /= n;
    const auto best = nodes::argmax_signed(heads.data(), H, out_.sign);
    const double skip_value = input_at_q_[static_cast<std::size_t>(b)];
    const bool skip_possible = pos[static_cast<std::size_t>(b)] == q;
    const bool take_head = !skip_possible || out_.sign * heads[static_cast<std::size_t>(best)] > out_.sign * skip_value;
    const std::int32_t choice = take_head ? best : -1;
    out_.choices[static_cast<std::size_t>(b)] = choice;
    out_.stage2[static_cast<std::size_t>(b)] = take_head ? heads[static_cast<std::size_t>(best)] : skip_value;
    for (std::int64_t k = 0; k < v.inputs(); ++k) {
      float* F = sweep_rows(v, k) + q * v.width;
      for (std::int64_t h = 0; h < H; ++h)
        if (h != choice) std::memset(F + h * d, 0, static_cast<std::size_t>(d) * sizeof(float));
    }
  }

 private:
  const PathIntegral& in_;
  const Factors& reverse_;
  TokenPattern& out_;
  std::vector<double> input_at_q_;  // per block: the skip node's value at q
};

}  // namespace

TokenPattern refine_sweep(const PathIntegral& integral, std::int32_t source) {
  const auto L = integral.layers(), T = integral.tokens(), H = integral.heads();
  auto out = unrefined(integral, source);

  Stage1Sweep stage1(integral, out);
  integral.tangent_sweep(Pattern::from_source(source, L, T, H), stage1);

  const auto S2 = partial_pattern(integral, out.positions, {});
  const auto reverse = integral.reverse_factors(S2, true);
  out.choices.assign(static_cast<std::size_t>(L), -1);
  out.stage2.assign(static_cast<std::size_t>(L), 0.0);
  Stage2Sweep stage2(integral, reverse, out);
  integral.tangent_sweep(S2, stage2);
  out.pattern_influence = out.stage2.back();
  return out;
}

}  // namespace bertscope::analysis::influence
