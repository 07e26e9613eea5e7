// Dropout as in BERT pre-training and fine-tuning: multipliers 0 or 1/(1-p) drawn from a
// counter-based generator, so a (seed, stream) pair always gives the same mask.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace bertscope::model::layers {

struct Dropout {
  double hidden_p = 0, attention_p = 0;  // 0: no dropout
  std::uint64_t seed = 0;
  // When this batch is a slice of a larger one (data-parallel training: each process runs its
  // share of the global batch), the token rows, attention-probability elements and inputs of the
  // larger batch before the slice: the slice's masks are then that part of the larger batch's.
  std::int64_t rows_before = 0, probs_before = 0, inputs_before = 0;

  // Multipliers for n values (empty when p is 0): values first .. first + n - 1 of the stream.
  core::FloatBuffer mask(std::int64_t n, double p, std::uint64_t stream, std::int64_t first = 0) const;
};

// x *= m element-wise; nothing when m is empty.
void apply_dropout(float* x, const core::FloatBuffer& m);

}  // namespace bertscope::model::layers
