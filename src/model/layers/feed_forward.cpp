#include "model/layers/feed_forward.hpp"

namespace bertscope::model::layers {

void feed_forward_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows,
                          const FeedForwardShape& s, const float* x, float* mid, float* y, SiteRecorder& rec,
                          std::vector<core::bf16>* x16, std::vector<core::bf16>* mid16, FeedForwardTape* tape) {
  if (tape) {
    tape->pre = core::FloatBuffer(static_cast<std::size_t>(rows * s.intermediate));
    linear_forward(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, s.intermediate, tape->pre.data(), nullptr, x16);
    tape->act = tape->pre;
    mid = tape->act.data();
    core::activate(s.act, mid, rows * s.intermediate);
  } else {
    linear_forward(lc, x, rows, s.hidden, lp.ffn_in_w, lp.ffn_in_b, s.intermediate, mid, &s.act, x16);
  }
  rec.rows(Site::ffn_act, layer, mid, s.intermediate);
  linear_forward(lc, mid, rows, s.intermediate, lp.ffn_out_w, lp.ffn_out_b, s.hidden, y, nullptr, mid16);
  rec.rows(Site::ffn_out, layer, y, s.hidden);
}

void feed_forward_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* x, float* dy, float* d_mid, float* dx,
                      bool accumulate, SiteRecorder& rec, ParamGrads& grads) {
  rec.rows(Site::ffn_out, layer, dy, s.hidden);
  linear_vjp(lc, dy, rows, s.hidden, lp.ffn_out_w, s.intermediate, tape.act.data(), d_mid, false, grads(lp.ffn_out_w),
             grads(lp.ffn_out_b));
  rec.rows(Site::ffn_act, layer, d_mid, s.intermediate);
  core::activation_grad(s.act, tape.pre.data(), d_mid, d_mid, rows * s.intermediate);
  linear_vjp(lc, d_mid, rows, s.intermediate, lp.ffn_in_w, s.hidden, x, dx, accumulate, grads(lp.ffn_in_w),
             grads(lp.ffn_in_b));
}

void feed_forward_jvp(const LayerParams& lp, std::int64_t layer, std::int64_t rows, const FeedForwardShape& s,
                      const FeedForwardTape& tape, const float* tx, float* t_mid, float* ty, SiteRecorder& rec) {
  linear_jvp(tx, rows, s.hidden, lp.ffn_in_w, s.intermediate, t_mid);
  core::activation_grad(s.act, tape.pre.data(), t_mid, t_mid, rows * s.intermediate);
  rec.rows(Site::ffn_act, layer, t_mid, s.intermediate);
  linear_jvp(t_mid, rows, s.intermediate, lp.ffn_out_w, s.hidden, ty);
  rec.rows(Site::ffn_out, layer, ty, s.hidden);
}

}  // namespace bertscope::model::layers
