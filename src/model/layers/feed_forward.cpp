#include "model/layers/feed_forward.hpp"

#include <algorithm>

namespace bertscope::model::layers {

namespace {

// GeGLU: out[r, j] = act(pre[r, j]) * pre[r, I + j] for [rows, 2I] -> [rows, I].
void gate(const FeedForwardShape& s, const float* pre, std::int64_t rows, float* out) {
  const auto inter = s.intermediate;
#pragma omp parallel for schedule(static) if (rows * inter > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * inter;
    std::copy_n(pre + r * 2 * inter, inter, o);
    core::activate(s.act, o, inter);
    for (std::int64_t j = 0; j < inter; ++j) o[j] *= pre[r * 2 * inter + inter + j];
  }
}

// The gate's derivative: from d(out) [rows, I] to d(pre) [rows, 2I] (reverse and forward mode
// alike: d_a = d * g * act'(a), d_g = d * act(a); forward mode then sums the two halves' terms).
void gate_grad(const FeedForwardShape& s, const float* pre, std::int64_t rows, const float* d, float* d_pre) {
  const auto inter = s.intermediate;
#pragma omp parallel for schedule(static) if (rows * inter > 16384)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* a = pre + r * 2 * inter;
    const float* g = a + inter;
    float* da = d_pre + r * 2 * inter;
    float* dg = da + inter;
    std::copy_n(a, inter, dg);
    core::activate(s.act, dg, inter);  // act(a)
    for (std::int64_t j = 0; j < inter; ++j) {
      dg[j] *= d[r * inter + j];
      da[j] = d[r * inter + j] * g[j];
    }
    core::activation_grad(s.act, a, da, da, inter);
  }
}

}  // namespace

void feed_forward_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows,
                          const FeedForwardShape& s, const float* x, float* mid, float* y, SiteRecorder& rec,
                          std::vector<core::bf16>* x16, std::vector<core::bf16>* mid16, FeedForwardTape* tape,
                          bool x_converted) {
  const auto width = s.in_width();
  // bf16 path without a tape, activations nothing records or hooks: the first product writes
  // them in bf16 alone, for W_out's product (no float32 copy written and read again).
  const bool mid_in16 = lc.bf16 && !tape && !s.gated && !rec.active(Site::ffn_act, layer);
  if (s.gated) {
    core::FloatBuffer scratch;
    float* pre = nullptr;
    if (tape) {
      tape->pre = core::FloatBuffer(static_cast<std::size_t>(rows * width));
      pre = tape->pre.data();
    } else {
      scratch = core::FloatBuffer(static_cast<std::size_t>(rows * width));
      pre = scratch.data();
    }
    linear_forward(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, width, pre, nullptr, x16, x_converted);
    gate(s, pre, rows, mid);
  } else if (tape) {
    tape->pre = core::FloatBuffer(static_cast<std::size_t>(rows * s.intermediate));
    linear_forward(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, s.intermediate, tape->pre.data(), nullptr, x16,
                   x_converted);
    std::copy(tape->pre.begin(), tape->pre.end(), mid);
    core::activate(s.act, mid, rows * s.intermediate);
  } else if (mid_in16) {
    linear_forward_bf16(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, s.intermediate, mid16->data(), &s.act, x16,
                        x_converted);
  } else {
    linear_forward(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, s.intermediate, mid, &s.act, x16, x_converted);
  }
  if (!mid_in16) rec.rows(Site::ffn_act, layer, mid, s.intermediate);
  // The tape keeps the activations only where a hook may have changed them: else the reverse
  // pass computes them again from `pre`, the same function on the same values (a fifth of a
  // taped layer's memory saved for one activation pass).
  if (tape) {
    if (rec.hooked(Site::ffn_act, layer))
      tape->act.assign(mid, mid + rows * s.intermediate);
    else
      core::FloatBuffer().swap(tape->act);
  }
  linear_forward(lc, mid, rows, s.intermediate, lp.ffn_out_w, lp.ffn_out_b, s.hidden, y, nullptr, mid16, mid_in16);
  rec.rows(Site::ffn_out, layer, y, s.hidden);
}

void feed_forward_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* x, float* dy, float* d_mid, float* dx,
                      bool accumulate, SiteRecorder& rec, ParamGrads& grads) {
  rec.rows(Site::ffn_out, layer, dy, s.hidden);
  const float* act = tape.act.data();
  if (tape.act.empty()) {  // not kept: computed again as the forward did
    thread_local core::FloatBuffer again;
    if (again.size() < static_cast<std::size_t>(rows * s.intermediate)) again.resize(static_cast<std::size_t>(rows * s.intermediate));
    if (s.gated) {
      gate(s, tape.pre.data(), rows, again.data());
    } else {
      std::copy(tape.pre.begin(), tape.pre.begin() + rows * s.intermediate, again.begin());
      core::activate(s.act, again.data(), rows * s.intermediate);
    }
    act = again.data();
  }
  linear_vjp(lc, dy, rows, s.hidden, lp.ffn_out_w, s.intermediate, act, d_mid, false, grads(lp.ffn_out_w),
             grads(lp.ffn_out_b));
  rec.rows(Site::ffn_act, layer, d_mid, s.intermediate);
  const float* d_in = d_mid;
  core::FloatBuffer d_pre;
  if (s.gated) {
    d_pre = core::FloatBuffer(static_cast<std::size_t>(rows * s.in_width()));
    gate_grad(s, tape.pre.data(), rows, d_mid, d_pre.data());
    d_in = d_pre.data();
  } else {
    core::activation_grad(s.act, tape.pre.data(), d_mid, d_mid, rows * s.intermediate);
  }
  linear_vjp(lc, d_in, rows, s.in_width(), lp.ffn_in_w, s.hidden, x, dx, accumulate, grads(lp.ffn_in_w),
             grads(lp.ffn_in_b));
}

void feed_forward_jvp(const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* tx, float* t_mid, float* ty, SiteRecorder& rec) {
  if (s.gated) {
    // t(act(a) g) = act'(a) t_a g + act(a) t_g: the gate's derivative map, its halves summed.
    const auto inter = s.intermediate;
    core::FloatBuffer t_pre(static_cast<std::size_t>(rows * 2 * inter)), parts(static_cast<std::size_t>(rows * 2 * inter));
    linear_jvp(tx, rows, s.hidden, lp.ffn_in_w, 2 * inter, t_pre.data());
    const float* pre = tape.pre.data();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < inter; ++j) {
        const float ta = t_pre[static_cast<std::size_t>(r * 2 * inter + j)];
        const float tg = t_pre[static_cast<std::size_t>(r * 2 * inter + inter + j)];
        // parts = [t_a * g, t_g]: then act' on the first half, act(a) on the second.
        parts[static_cast<std::size_t>(r * 2 * inter + j)] = ta * pre[r * 2 * inter + inter + j];
        parts[static_cast<std::size_t>(r * 2 * inter + inter + j)] = tg;
      }
    for (std::int64_t r = 0; r < rows; ++r) {
      float* first = parts.data() + r * 2 * inter;
      float* second = first + inter;
      const float* a = pre + r * 2 * inter;
      core::activation_grad(s.act, a, first, first, inter);
      std::vector<float> act_a(a, a + inter);
      core::activate(s.act, act_a.data(), inter);
      for (std::int64_t j = 0; j < inter; ++j) t_mid[r * inter + j] = first[j] + act_a[static_cast<std::size_t>(j)] * second[j];
    }
  } else {
    linear_jvp(tx, rows, s.hidden, lp.ffn_in_w, s.intermediate, t_mid);
    core::activation_grad(s.act, tape.pre.data(), t_mid, t_mid, rows * s.intermediate);
  }
  rec.rows(Site::ffn_act, layer, t_mid, s.intermediate);
  linear_jvp(t_mid, rows, s.intermediate, lp.ffn_out_w, s.hidden, ty);
  rec.rows(Site::ffn_out, layer, ty, s.hidden);
}

}  // namespace bertscope::model::layers
