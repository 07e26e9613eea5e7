// Rotary position embeddings in GPT-NeoX's rotate_half layout (ModernBERT): in each head, dims i
// and i + d/2 turn by the angle p * inv_freq[i] at position p (counted from 0 in every input),
// inv_freq[i] = 1 / theta^(2i / d), all in float32 as transformers computes them. The rotation
// is linear: tangents turn the same way, gradients the opposite way (its transpose).
#pragma once

#include <cstdint>
#include <vector>

#include "model/layers/batch.hpp"

namespace bertscope::model::layers {

struct RotaryTable {
  std::int64_t half = 0;        // head_dim / 2
  std::vector<float> cos, sin;  // [positions, half]
};

RotaryTable rotary_table(double theta, std::int64_t head_dim, std::int64_t positions);

// x [rows, heads * head_dim], every input of the batch from position 0, turned in place by the
// angles (inverse: by their negatives).
void rotate(const RotaryTable& table, const Batch& batch, std::int64_t heads, float* x, bool inverse = false);

}  // namespace bertscope::model::layers
