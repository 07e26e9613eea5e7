#include "model/layers/relative_attention.hpp"

#include <algorithm>
#include <cmath>

#include "model/layers/norm.hpp"

namespace bertscope::model::layers {

std::int64_t log_bucket_position(std::int64_t r, std::int64_t buckets, std::int64_t max_position) {
  const std::int64_t mid = buckets / 2;
  const std::int64_t abs_pos = (r < mid && r > -mid) ? mid - 1 : std::abs(r);
  if (abs_pos <= mid) return r;
  // torch: log(abs_pos / mid) / log(tensor((max_position - 1) / mid)) * (mid - 1), all float32;
  // the denominator's quotient is a Python float rounded to float32.
  const float ratio = static_cast<float>(abs_pos) / static_cast<float>(mid);
  const float base = static_cast<float>(static_cast<double>(max_position - 1) / static_cast<double>(mid));
  const float scaled = std::log(ratio) / std::log(base) * static_cast<float>(mid - 1);
  const auto log_pos = static_cast<std::int64_t>(std::ceil(scaled)) + mid;
  return r < 0 ? -log_pos : log_pos;
}

RelativePositions relative_positions(const ModelConfig& c, const EncoderParams& p, std::int64_t max_t) {
  const auto& cfg = c.relative;
  RelativePositions rp;
  rp.span = cfg.span();
  rp.max_t = max_t;
  rp.c2p = cfg.c2p;
  rp.p2c = cfg.p2c;
  rp.share_att_key = cfg.share_att_key;
  const auto rows = 2 * rp.span, hidden = c.hidden_size;
  rp.embeddings.assign(p.rel_emb.data, p.rel_emb.data + rows * hidden);
  if (p.rel_norm_g.present())
    norm_forward(rp.embeddings.data(), nullptr, rows, hidden, p.rel_norm_g.data, p.rel_norm_b.data,
                 static_cast<float>(c.layer_norm_eps), rp.embeddings.data(), &rp.norm);
  rp.index.resize(static_cast<std::size_t>(2 * max_t - 1));
  const bool buckets = cfg.position_buckets > 0 && cfg.max_relative_positions > 0;
  for (std::int64_t r = -(max_t - 1); r < max_t; ++r) {
    const auto bucket = buckets ? log_bucket_position(r, cfg.position_buckets, cfg.max_relative_positions) : r;
    rp.index[static_cast<std::size_t>(r + max_t - 1)] =
        static_cast<std::int32_t>(std::clamp<std::int64_t>(bucket + rp.span, 0, 2 * rp.span - 1));
  }
  const auto [lo, hi] = std::minmax_element(rp.index.begin(), rp.index.end());
  rp.first = *lo;
  rp.used = *hi - *lo + 1;
  return rp;
}

void relative_embeddings_vjp(const EncoderParams& p, const RelativePositions& rp, std::int64_t hidden,
                             const float* d_embeddings, float* d_table, float* d_norm_g, float* d_norm_b) {
  const auto rows = 2 * rp.span;
  if (!p.rel_norm_g.present()) {
    if (d_table)
      for (std::int64_t i = 0; i < rows * hidden; ++i) d_table[i] += d_embeddings[i];
    return;
  }
  core::FloatBuffer d_in(static_cast<std::size_t>(rows * hidden));
  norm_vjp(d_embeddings, rp.norm, p.rel_norm_g.data, rows, hidden, d_in.data(), d_norm_g, d_norm_b);
  if (d_table)
    for (std::int64_t i = 0; i < rows * hidden; ++i) d_table[i] += d_in[static_cast<std::size_t>(i)];
}

}  // namespace bertscope::model::layers
