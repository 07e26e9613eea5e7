// The embeddings: LayerNorm((word + token type) + position), in transformers' order of sums
// (word + position where the model has no token type table, as DistilBERT),
// over packed rows; its reverse (into the three tables and the input word embeddings) and
// forward-mode derivative (along word-embedding tangents).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/layers/batch.hpp"
#include "model/layers/norm.hpp"
#include "model/weights.hpp"

namespace bertscope::model::layers {

// One input as the embeddings see it.
struct EmbeddingInput {
  std::span<const std::int32_t> ids;
  std::span<const std::int32_t> type_ids;       // empty: all zero; ignored without a type table
  std::span<const std::int32_t> position_ids;   // one per token
  const float* word_embeddings = nullptr;       // [t, hidden] used instead of looking up ids
  bool words_given = false;  // the input gave its word embeddings (the reverse pass reads only this)
};

// Writes the sum of the three embeddings for every row of input b.
void embeddings_sum(const EncoderParams& p, const EmbeddingInput& in, std::int64_t t, std::int64_t hidden, float* rows);

// Sums and normalises every input that `embed` selects (the others keep their rows).
void embeddings_forward(const EncoderParams& p, std::span<const EmbeddingInput> inputs, const Batch& batch,
                        std::int64_t hidden, float eps, const std::vector<bool>& embed, float* x, NormTape* tape);

// dsum = d(sum of the three embeddings) from d(embed.out); adds into the tables' gradients
// (each may be null) — the word table only for inputs that looked their words up.
void embeddings_vjp(const EncoderParams& p, std::span<const EmbeddingInput> inputs, const Batch& batch, std::int64_t hidden,
                    const float* dy, const NormTape& tape, float* dsum, float* d_word, float* d_position, float* d_type,
                    float* d_norm_g, float* d_norm_b);

// Tangent of embed.out along word-embedding tangents t [rows, hidden] (in place).
void embeddings_jvp(const EncoderParams& p, std::int64_t rows, std::int64_t hidden, const NormTape& tape, float* t);

}  // namespace bertscope::model::layers
