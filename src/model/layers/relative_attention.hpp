// DeBERTa-v2/v3's disentangled attention terms, added to the content scores Q K^T / s:
//   c2p[i, j] = Q_i . PK[idx(i - j)] / s      (content -> position)
//   p2c[i, j] = K_j . PQ[idx(i - j)] / s      (position -> content)
// with PK, PQ the layer's key / query projections (or its pos_key_proj / pos_query_proj) of the
// relative embeddings, LayerNorm'd once per forward and shared by every layer, idx the
// log-bucketed distance shifted into 0..2*span-1, and s = sqrt(head_dim * (1 + |pos_att_type|)).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "model/config.hpp"
#include "model/layers/norm.hpp"
#include "model/weights.hpp"

namespace bertscope::model::layers {

// transformers' make_log_bucket_position for one distance r, in float32 as torch computes it.
std::int64_t log_bucket_position(std::int64_t r, std::int64_t buckets, std::int64_t max_position);

// What every layer of one forward shares.
struct RelativePositions {
  std::int64_t span = 0;     // the relative embeddings hold 2 * span rows
  std::int64_t max_t = 0;    // distances -(max_t - 1)..(max_t - 1) are indexed
  bool c2p = false, p2c = false, share_att_key = false;
  core::FloatBuffer embeddings;   // [2 * span, hidden], after the encoder's LayerNorm when it has one
  NormTape norm;                  // of the encoder's LayerNorm (empty without one)
  std::vector<std::int32_t> index;  // idx(r) at index[r + max_t - 1]
  std::int32_t at(std::int64_t i, std::int64_t j) const { return index[static_cast<std::size_t>(i - j + max_t - 1)]; }
  // The embedding rows some distance of this forward indexes, first .. first + used - 1: only
  // those are projected and multiplied (at 128 tokens, half of DeBERTa-v3's 512).
  std::int64_t first = 0, used = 0;
  std::int32_t used_at(std::int64_t i, std::int64_t j) const { return at(i, j) - static_cast<std::int32_t>(first); }
};

RelativePositions relative_positions(const ModelConfig& c, const EncoderParams& p, std::int64_t max_t);

// Reverse of the encoder's LayerNorm of the relative embeddings: from d(normalised embeddings),
// which every layer's positional projections added into, to the table's and the norm's gradients.
void relative_embeddings_vjp(const EncoderParams& p, const RelativePositions& rp, std::int64_t hidden,
                             const float* d_embeddings, float* d_table, float* d_norm_g, float* d_norm_b);

}  // namespace bertscope::model::layers
