#include "model/layers/block.hpp"

#include <cstring>

namespace bertscope::model::layers {

void BlockBuffers::reserve(std::int64_t rows, std::int64_t hidden, std::int64_t intermediate, std::int64_t probs_size,
                           bool bf16) {
  auto grow = [](auto& b, std::int64_t size) {
    if (static_cast<std::int64_t>(b.size()) < size) b.resize(static_cast<std::size_t>(size));
  };
  for (auto* b : {&q, &k, &v, &ctx, &attn, &mid, &out, &extra}) grow(*b, rows * hidden);
  grow(inter, rows * intermediate);
  grow(probs, probs_size);
  if (bf16) {
    grow(x16, rows * hidden);
    grow(inter16, rows * intermediate);
  }
}

namespace {

core::FloatBuffer copy_of(const float* x, std::int64_t n) { return core::FloatBuffer(x, x + n); }

void add_into(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// What both placements share up to the first residual sum: attention on `a_in`, W_O and its
// dropout, and the residual term (x itself unless a hook or a record asks for the site, then a
// copy in `extra`). With a tape, the attention's tape and `mid` are set up.
struct AttentionBranch {
  float* attn;        // the branch, W_O ctx after dropout: buf.attn
  const float* skip;  // the residual term
  float* mid;         // where the caller writes resid_mid (the tape's when taped)
};

AttentionBranch attention_branch(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                                 const BlockShape& s, const float* a_in, const float* x, BlockBuffers& buf,
                                 const AttentionEdits& edits, const Dropout& dropout, SiteRecorder& rec, BlockTape* tape,
                                 bool a_in16 = false) {
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const std::uint64_t stream = 100 + 10 * static_cast<std::uint64_t>(layer);
  AttentionBuffers ab{buf.q.data(), buf.k.data(), buf.v.data(), buf.probs.data(), buf.ctx.data()};
  AttentionEdits layer_edits = edits;
  float* mid = buf.mid.data();
  if (tape) {
    auto& at = tape->attention;
    at.x_in = copy_of(a_in, n * hidden);
    for (auto* b : {&at.q, &at.k, &at.v, &at.ctx}) *b = core::FloatBuffer(static_cast<std::size_t>(n * hidden));
    ab = {at.q.data(), at.k.data(), at.v.data(), buf.probs.data(), at.ctx.data()};
    at.dropout = dropout.mask(batch.probs_size(), dropout.attention_p, stream + 1, dropout.probs_before);
    if (!at.dropout.empty()) layer_edits.dropout = &at.dropout;
    tape->mid = core::FloatBuffer(static_cast<std::size_t>(n * hidden));
    mid = tape->mid.data();
  }
  auto* x16 = lc.bf16 ? &buf.x16 : nullptr;
  attention_forward(lc, lp, layer, batch, s.attention, a_in, ab, layer_edits, rec, x16, tape ? &tape->attention : nullptr,
                    a_in16);
  rec.per_head(Site::attn_context, layer, ab.ctx, s.attention.head_dim);
  float* attn = buf.attn.data();
  linear_forward(lc, ab.ctx, n, hidden, lp.attn_out_w, lp.attn_out_b, hidden, attn, nullptr, x16);
  rec.rows(Site::attn_out, layer, attn, hidden);
  if (tape) {
    tape->attn_drop = dropout.mask(n * hidden, dropout.hidden_p, stream + 2, dropout.rows_before * hidden);
    apply_dropout(attn, tape->attn_drop);
  }
  const float* skip = x;
  if (rec.active(Site::attn_residual, layer)) {
    std::memcpy(buf.extra.data(), x, static_cast<std::size_t>(n * hidden) * sizeof(float));
    rec.rows(Site::attn_residual, layer, buf.extra.data(), hidden);
    skip = buf.extra.data();
  }
  return {attn, skip, mid};
}

// The feed-forward branch of both placements: FFN(f_in) into buf.out, then its dropout.
float* ffn_branch(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                  const BlockShape& s, const float* f_in, BlockBuffers& buf, const Dropout& dropout, SiteRecorder& rec,
                  BlockTape* tape, bool f_in16 = false) {
  const auto n = batch.rows();
  const std::uint64_t stream = 100 + 10 * static_cast<std::uint64_t>(layer);
  float* out = buf.out.data();
  feed_forward_forward(lc, lp, layer, n, s.ffn, f_in, buf.inter.data(), out, rec, lc.bf16 ? &buf.x16 : nullptr,
                       lc.bf16 ? &buf.inter16 : nullptr, tape ? &tape->ffn : nullptr, f_in16);
  if (tape) {
    tape->ffn_drop =
        dropout.mask(n * s.attention.hidden, dropout.hidden_p, stream + 3, dropout.rows_before * s.attention.hidden);
    apply_dropout(out, tape->ffn_drop);
  }
  return out;
}

// Back through W_O and its dropout from d(the first residual sum), for both placements: records
// attn.out and attn.context; returns d(ctx), in buf.ctx (buf.attn holds d(attn.out)).
const float* attention_out_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                               const BlockShape& s, const BlockTape& tape, const float* d_sum, BlockBuffers& buf,
                               SiteRecorder& rec, ParamGrads& grads) {
  const auto n = batch.rows(), hidden = s.attention.hidden;
  float* d_branch = buf.attn.data();
  std::memcpy(d_branch, d_sum, static_cast<std::size_t>(n * hidden) * sizeof(float));
  apply_dropout(d_branch, tape.attn_drop);
  rec.rows(Site::attn_out, layer, d_branch, hidden);
  float* d_ctx = buf.ctx.data();
  linear_vjp(lc, d_branch, n, hidden, lp.attn_out_w, hidden, tape.attention.ctx.data(), d_ctx, false,
             grads(lp.attn_out_w), grads(lp.attn_out_b));
  rec.per_head(Site::attn_context, layer, d_ctx, s.attention.head_dim);
  return d_ctx;
}

// The pre-norm block (ModernBERT). Buffers: `out` holds LN1(x), `extra` the residual's copy
// and then LN2(mid).
void pre_norm_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                      const BlockShape& s, float* x, BlockBuffers& buf, const AttentionEdits& edits,
                      const Dropout& dropout, SiteRecorder& rec, BlockTape* tape) {
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const float* a_in = x;
  if (lp.attn_norm_g.present()) {  // layer 0 has none: the identity
    core::ScopedOp op(lc.profile, core::OpClass::norm);
    norm_forward(x, nullptr, n, hidden, lp.attn_norm_g.data, lp.attn_norm_b.data, s.eps, buf.out.data(),
                 tape ? &tape->norm1 : nullptr);
    a_in = buf.out.data();
  }
  const auto branch = attention_branch(lc, lp, layer, batch, s, a_in, x, buf, edits, dropout, rec, tape);
  float* mid = branch.mid;
  for (std::int64_t i = 0; i < n * hidden; ++i) mid[i] = branch.skip[i] + branch.attn[i];
  rec.rows(Site::resid_mid, layer, mid, hidden);
  if (tape) tape->ffn_in = core::FloatBuffer(static_cast<std::size_t>(n * hidden));
  float* f_in = tape ? tape->ffn_in.data() : buf.extra.data();
  {
    core::ScopedOp op(lc.profile, core::OpClass::norm);
    norm_forward(mid, nullptr, n, hidden, lp.out_norm_g.data, lp.out_norm_b.data, s.eps, f_in, tape ? &tape->norm2 : nullptr);
  }
  const float* out = ffn_branch(lc, lp, layer, batch, s, f_in, buf, dropout, rec, tape);
  for (std::int64_t i = 0; i < n * hidden; ++i) x[i] = mid[i] + out[i];
}

void pre_norm_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                  const BlockShape& s, const BlockTape& tape, float* dx, BlockBuffers& buf, SiteRecorder& rec,
                  ParamGrads& grads) {
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const auto bytes = static_cast<std::size_t>(n * hidden) * sizeof(float);
  float* d_mid = buf.mid.data();
  float* d_branch = buf.attn.data();
  float* d_fin = buf.extra.data();
  float* d_tmp = buf.out.data();
  // out = mid + FFN(LN2(mid)).
  std::memcpy(d_mid, dx, bytes);
  std::memcpy(d_branch, dx, bytes);
  apply_dropout(d_branch, tape.ffn_drop);
  feed_forward_vjp(lc, lp, layer, n, s.ffn, tape.ffn, tape.ffn_in.data(), d_branch, buf.inter.data(), d_fin, false, rec,
                   grads);
  norm_vjp(d_fin, tape.norm2, lp.out_norm_g.data, n, hidden, d_tmp, grads(lp.out_norm_g), grads(lp.out_norm_b));
  add_into(d_mid, d_tmp, n * hidden);
  rec.rows(Site::resid_mid, layer, d_mid, hidden);
  // mid = x + W_O ctx.
  const float* d_ctx = attention_out_vjp(lc, lp, layer, batch, s, tape, d_mid, buf, rec, grads);
  std::memcpy(dx, d_mid, bytes);
  rec.rows(Site::attn_residual, layer, dx, hidden);
  if (!lp.attn_norm_g.present()) {
    attention_vjp(lc, lp, layer, batch, s.attention, tape.attention, d_ctx, rec, buf.q.data(), buf.k.data(),
                  buf.v.data(), buf.probs.data(), dx, grads);
    return;
  }
  float* d_ain = d_branch;  // free again
  std::memset(d_ain, 0, bytes);
  attention_vjp(lc, lp, layer, batch, s.attention, tape.attention, d_ctx, rec, buf.q.data(), buf.k.data(), buf.v.data(),
                buf.probs.data(), d_ain, grads);
  norm_vjp(d_ain, tape.norm1, lp.attn_norm_g.data, n, hidden, d_tmp, grads(lp.attn_norm_g), grads(lp.attn_norm_b));
  add_into(dx, d_tmp, n * hidden);
}

void pre_norm_jvp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const BlockShape& s,
                  const BlockTape& tape, float* tx, BlockBuffers& buf, SiteRecorder& rec) {
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const float* t_ain = tx;
  if (lp.attn_norm_g.present()) {
    norm_jvp(tx, tape.norm1, lp.attn_norm_g.data, n, hidden, buf.out.data());
    t_ain = buf.out.data();
  }
  float* t_ctx = buf.ctx.data();
  attention_jvp(lp, layer, batch, s.attention, tape.attention, t_ain, rec, buf.q.data(), buf.k.data(), buf.v.data(),
                buf.probs.data(), t_ctx);
  rec.per_head(Site::attn_context, layer, t_ctx, s.attention.head_dim);
  float* t_attn = buf.attn.data();
  linear_jvp(t_ctx, n, hidden, lp.attn_out_w, hidden, t_attn);
  apply_dropout(t_attn, tape.attn_drop);
  rec.rows(Site::attn_out, layer, t_attn, hidden);
  rec.rows(Site::attn_residual, layer, tx, hidden);
  float* t_mid = buf.mid.data();
  for (std::int64_t i = 0; i < n * hidden; ++i) t_mid[i] = tx[i] + t_attn[i];
  rec.rows(Site::resid_mid, layer, t_mid, hidden);
  float* t_fin = buf.extra.data();
  norm_jvp(t_mid, tape.norm2, lp.out_norm_g.data, n, hidden, t_fin);
  float* t_out = buf.out.data();
  feed_forward_jvp(lp, layer, n, s.ffn, tape.ffn, t_fin, buf.inter.data(), t_out, rec);
  apply_dropout(t_out, tape.ffn_drop);
  for (std::int64_t i = 0; i < n * hidden; ++i) tx[i] = t_mid[i] + t_out[i];
}

}  // namespace

void block_forward(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch,
                   const BlockShape& s, float* x, BlockBuffers& buf, const AttentionEdits& edits,
                   const Dropout& dropout, SiteRecorder& rec, BlockTape* tape) {
  const bool in16 = buf.x16_is_input;  // set only by an untaped bf16 block before this one
  buf.x16_is_input = false;
  if (s.pre_norm) return pre_norm_forward(lc, lp, layer, batch, s, x, buf, edits, dropout, rec, tape);
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const auto branch = attention_branch(lc, lp, layer, batch, s, x, x, buf, edits, dropout, rec, tape, in16);
  float* mid = branch.mid;
  // bf16 path: each norm also writes its output in bf16 for the product that reads it next,
  // where no hook may change the output in between (saves a conversion pass over it).
  const bool mid16 = lc.bf16 && !tape && !rec.hooked(Site::resid_mid, layer);
  {
    core::ScopedOp op(lc.profile, core::OpClass::norm);
    norm_forward(branch.attn, branch.skip, n, hidden, lp.attn_norm_g.data, lp.attn_norm_b.data, s.eps, mid,
                 tape ? &tape->norm1 : nullptr, mid16 ? buf.x16.data() : nullptr);
  }
  rec.rows(Site::resid_mid, layer, mid, hidden);
  const float* out = ffn_branch(lc, lp, layer, batch, s, mid, buf, dropout, rec, tape, mid16);
  const bool out16 = buf.out16;  // the encoder's: untaped bf16, and the next block reads the output first
  core::ScopedOp op(lc.profile, core::OpClass::norm);
  norm_forward(out, mid, n, hidden, lp.out_norm_g.data, lp.out_norm_b.data, s.eps, x, tape ? &tape->norm2 : nullptr,
               out16 ? buf.x16.data() : nullptr);
  buf.x16_is_input = out16;
}

void block_vjp(const LinearContext& lc, const LayerParams& lp, std::int64_t layer, const Batch& batch, const BlockShape& s,
               const BlockTape& tape, float* dx, BlockBuffers& buf, SiteRecorder& rec, ParamGrads& grads) {
  if (s.pre_norm) return pre_norm_vjp(lc, lp, layer, batch, s, tape, dx, buf, rec, grads);
  const auto n = batch.rows(), hidden = s.attention.hidden;
  const auto bytes = static_cast<std::size_t>(n * hidden) * sizeof(float);
  float* d_sum = buf.extra.data();  // d(input of a norm)
  float* d_branch = buf.attn.data();
  float* d_mid = buf.mid.data();
  norm_vjp(dx, tape.norm2, lp.out_norm_g.data, n, hidden, d_sum, grads(lp.out_norm_g), grads(lp.out_norm_b));
  std::memcpy(d_branch, d_sum, bytes);
  apply_dropout(d_branch, tape.ffn_drop);
  std::memcpy(d_mid, d_sum, bytes);
  feed_forward_vjp(lc, lp, layer, n, s.ffn, tape.ffn, tape.mid.data(), d_branch, buf.inter.data(), d_mid, true, rec, grads);
  rec.rows(Site::resid_mid, layer, d_mid, hidden);

  norm_vjp(d_mid, tape.norm1, lp.attn_norm_g.data, n, hidden, d_sum, grads(lp.attn_norm_g), grads(lp.attn_norm_b));
  const float* d_ctx = attention_out_vjp(lc, lp, layer, batch, s, tape, d_sum, buf, rec, grads);
  // The residual term of LN1's input passes d_sum to the block input.
  std::memcpy(dx, d_sum, bytes);
  rec.rows(Site::attn_residual, layer, dx, hidden);
  attention_vjp(lc, lp, layer, batch, s.attention, tape.attention, d_ctx, rec, buf.q.data(), buf.k.data(), buf.v.data(),
                buf.probs.data(), dx, grads);
}

void block_jvp(const LayerParams& lp, std::int64_t layer, const Batch& batch, const BlockShape& s,
               const BlockTape& tape, float* tx, BlockBuffers& buf, SiteRecorder& rec) {
  if (s.pre_norm) return pre_norm_jvp(lp, layer, batch, s, tape, tx, buf, rec);
  const auto n = batch.rows(), hidden = s.attention.hidden;
  float* t_ctx = buf.ctx.data();
  attention_jvp(lp, layer, batch, s.attention, tape.attention, tx, rec, buf.q.data(), buf.k.data(), buf.v.data(),
                buf.probs.data(), t_ctx);
  rec.per_head(Site::attn_context, layer, t_ctx, s.attention.head_dim);
  float* t_attn = buf.attn.data();
  linear_jvp(t_ctx, n, hidden, lp.attn_out_w, hidden, t_attn);
  apply_dropout(t_attn, tape.attn_drop);
  rec.rows(Site::attn_out, layer, t_attn, hidden);
  // LN1's input: the attention branch plus the skip branch.
  rec.rows(Site::attn_residual, layer, tx, hidden);
  for (std::int64_t i = 0; i < n * hidden; ++i) t_attn[i] += tx[i];
  float* t_mid = buf.mid.data();
  norm_jvp(t_attn, tape.norm1, lp.attn_norm_g.data, n, hidden, t_mid);
  rec.rows(Site::resid_mid, layer, t_mid, hidden);
  float* t_out = buf.out.data();
  feed_forward_jvp(lp, layer, n, s.ffn, tape.ffn, t_mid, buf.inter.data(), t_out, rec);
  apply_dropout(t_out, tape.ffn_drop);
  for (std::int64_t i = 0; i < n * hidden; ++i) t_out[i] += t_mid[i];
  norm_jvp(t_out, tape.norm2, lp.out_norm_g.data, n, hidden, tx);
}

}  // namespace bertscope::model::layers
