#include "model/layers/embeddings.hpp"

namespace bertscope::model::layers {

void embeddings_sum(const EncoderParams& p, const EmbeddingInput& in, std::int64_t t, std::int64_t hidden, float* rows) {
  for (std::int64_t i = 0; i < t; ++i) {
    const auto at = static_cast<std::size_t>(i);
    const float* we = in.word_embeddings ? in.word_embeddings + i * hidden
                                         : p.word_emb.data + static_cast<std::int64_t>(in.ids[at]) * hidden;
    float* row = rows + i * hidden;
    if (!p.pos_emb.present()) {  // DeBERTa without position_biased_input: word (+ type)
      const float* te = p.type_emb.present()
                            ? p.type_emb.data + (in.type_ids.empty() ? 0 : static_cast<std::int64_t>(in.type_ids[at])) * hidden
                            : nullptr;
      for (std::int64_t j = 0; j < hidden; ++j) row[j] = te ? we[j] + te[j] : we[j];
      continue;
    }
    const float* pe = p.pos_emb.data + static_cast<std::int64_t>(in.position_ids[at]) * hidden;
    if (!p.type_emb.present()) {  // DistilBERT: word + position
      for (std::int64_t j = 0; j < hidden; ++j) row[j] = we[j] + pe[j];
      continue;
    }
    const float* te = p.type_emb.data + (in.type_ids.empty() ? 0 : static_cast<std::int64_t>(in.type_ids[at])) * hidden;
    for (std::int64_t j = 0; j < hidden; ++j) row[j] = (we[j] + te[j]) + pe[j];
  }
}

void embeddings_forward(const EncoderParams& p, std::span<const EmbeddingInput> inputs, const Batch& batch,
                        std::int64_t hidden, float eps, const std::vector<bool>& embed, float* x, NormTape* tape) {
  bool all = true;
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    if (!embed[static_cast<std::size_t>(b)]) {
      all = false;
      continue;
    }
    embeddings_sum(p, inputs[static_cast<std::size_t>(b)], batch.length(b), hidden, x + batch.row(b) * hidden);
  }
  if (all) {
    norm_forward(x, nullptr, batch.rows(), hidden, p.emb_norm_g.data, p.emb_norm_b.data, eps, x, tape);
    return;
  }
  for (std::int64_t b = 0; b < batch.size(); ++b)
    if (embed[static_cast<std::size_t>(b)])
      norm_forward(x + batch.row(b) * hidden, nullptr, batch.length(b), hidden, p.emb_norm_g.data, p.emb_norm_b.data,
                   eps, x + batch.row(b) * hidden);
}

void embeddings_vjp(const EncoderParams& p, std::span<const EmbeddingInput> inputs, const Batch& batch, std::int64_t hidden,
                    const float* dy, const NormTape& tape, float* dsum, float* d_word, float* d_position, float* d_type,
                    float* d_norm_g, float* d_norm_b) {
  norm_vjp(dy, tape, p.emb_norm_g.data, batch.rows(), hidden, dsum, d_norm_g, d_norm_b);
  if (!p.type_emb.present()) d_type = nullptr;
  if (!p.pos_emb.present()) d_position = nullptr;
  if (!d_word && !d_position && !d_type) return;
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    const auto& in = inputs[static_cast<std::size_t>(b)];
    for (std::int64_t i = 0; i < batch.length(b); ++i) {
      const auto at = static_cast<std::size_t>(i);
      const float* row = dsum + (batch.row(b) + i) * hidden;
      float* w = d_word && !in.words_given ? d_word + static_cast<std::int64_t>(in.ids[at]) * hidden : nullptr;
      float* pp = d_position ? d_position + static_cast<std::int64_t>(in.position_ids[at]) * hidden : nullptr;
      float* tt = d_type ? d_type + (in.type_ids.empty() ? 0 : static_cast<std::int64_t>(in.type_ids[at])) * hidden
                         : nullptr;
      for (std::int64_t j = 0; j < hidden; ++j) {
        if (w) w[j] += row[j];
        if (pp) pp[j] += row[j];
        if (tt) tt[j] += row[j];
      }
    }
  }
}

void embeddings_jvp(const EncoderParams& p, std::int64_t rows, std::int64_t hidden, const NormTape& tape, float* t) {
  norm_jvp(t, tape, p.emb_norm_g.data, rows, hidden, t);
}

}  // namespace bertscope::model::layers
