#include "analysis/attention_source.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "io/error.hpp"
#include "model/trace_file.hpp"

namespace bertscope::analysis {

std::filesystem::path trace_path(const std::filesystem::path& dir, std::size_t index) {
  return dir / fmt::format("{:06d}.npz", index);
}

AttentionSource AttentionSource::from_model(const model::Model& m) {
  AttentionSource s;
  s.model_ = &m;
  s.layers_ = m.layers();
  s.heads_ = m.heads();
  return s;
}

AttentionSource AttentionSource::from_traces(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) fail(ErrorKind::io, "{}: no such traces folder", dir.string());
  AttentionSource s;
  s.traces_ = dir;
  const auto first = trace_path(dir, 0);
  if (!std::filesystem::exists(first)) fail(ErrorKind::io, "{}: no trace file 000000.npz", dir.string());
  const auto d = model::read_trace_file(first);
  s.layers_ = d.attentions.dim(0);
  s.heads_ = d.attentions.dim(1);
  return s;
}

AttentionSource AttentionSource::from_memory(const std::vector<AttentionInMemory>& maps) {
  if (maps.empty()) fail(ErrorKind::input, "attention in memory: no inputs");
  AttentionSource s;
  s.memory_ = &maps;
  for (std::size_t i = 0; i < maps.size(); ++i) {
    const auto& a = maps[i].attentions;
    const auto t = static_cast<std::int64_t>(maps[i].encoding.size());
    if (a.shape.size() != 4 || a.shape[2] != t || a.shape[3] != t)
      fail(ErrorKind::input, "attention in memory, input {}: maps of shape {} for {} tokens (expected [layers, heads, {}, {}])",
           i, core::shape_string(a.shape), t, t, t);
    if (i == 0) {
      s.layers_ = a.shape[0];
      s.heads_ = a.shape[1];
    } else if (a.shape[0] != s.layers_ || a.shape[1] != s.heads_) {
      fail(ErrorKind::input, "attention in memory, input {}: {} layers x {} heads, input 0 has {} x {}", i, a.shape[0],
           a.shape[1], s.layers_, s.heads_);
    }
  }
  return s;
}

std::string AttentionSource::description() const {
  if (memory_) return "attention in memory";
  return model_ ? model_->dir().string() : traces_.string();
}

std::string AttentionSource::example_name(std::size_t index) const {
  if (memory_) return fmt::format("attention input {}", index);
  return model_ ? std::string() : trace_path(traces_, index).string();
}

void AttentionSource::run(const std::vector<AnalysisInput>& inputs, const SourceOptions& opt,
                          const std::function<void(AttentionExample&)>& fn) {
  run_range(inputs, 0, inputs.size(), opt, fn);
}

void AttentionSource::run_range(const std::vector<AnalysisInput>& inputs, std::size_t first, std::size_t last,
                                const SourceOptions& opt, const std::function<void(AttentionExample&)>& fn) {
  skipped_ = 0;
  last = std::min(last, inputs.size());
  first = std::min(first, last);
  if (memory_) {
    if (memory_->size() != inputs.size())
      fail(ErrorKind::input, "attention in memory: {} inputs for {} data inputs (one per data input, in order)",
           memory_->size(), inputs.size());
    for (std::size_t i = first; i < last; ++i) {
      const auto& m = (*memory_)[i];
      AttentionExample ex;
      ex.index = i;
      ex.encoding = m.encoding;
      ex.attentions = m.attentions;  // a copy: analyses may work in place
      ex.text = m.text;
      fn(ex);
      if (opt.progress) opt.progress(i + 1, inputs.size());
    }
    return;
  }
  if (!traces_.empty()) {
    for (std::size_t i = first; i < last; ++i) {
      const auto path = trace_path(traces_, i);
      if (!std::filesystem::exists(path))
        fail(ErrorKind::io, "{}: missing; the traces folder must hold one file per data input ({} inputs)",
             path.string(), inputs.size());
      auto d = model::read_trace_file(path);
      if (d.attentions.dim(0) != layers_ || d.attentions.dim(1) != heads_)
        fail(ErrorKind::format, "{}: attentions are {} x {} heads, 000000.npz has {} x {}", path.string(),
             d.attentions.dim(0), d.attentions.dim(1), layers_, heads_);
      AttentionExample ex;
      ex.index = i;
      ex.encoding = std::move(d.encoding);
      ex.attentions = std::move(d.attentions);
      ex.text = std::move(d.text);
      fn(ex);
      if (opt.progress) opt.progress(i + 1, inputs.size());
    }
    return;
  }

  const auto& m = *model_;
  const auto& tok = m.tokenizer();
  const model::EncodeOptions enc_opt{m.max_length(), opt.truncate};
  model::RunOptions run = opt.interventions;
  run.record = model::SiteSet(m.layers());
  run.record.add(model::Site::attn_probs);
  run.record.add(opt.extra_sites);
  run.mlm_logits = opt.mlm_logits;
  run.classifier_logits = opt.classifier_logits;

  std::vector<std::size_t> batch_index;
  std::vector<model::Encoding> batch_enc;
  auto flush = [&](std::size_t done) {
    if (batch_enc.empty()) return;
    std::vector<model::ModelInput> batch;
    for (const auto& e : batch_enc) {
      batch.push_back(model::ModelInput::from_encoding(e));
      if (opt.zero_type_ids) batch.back().type_ids.assign(e.size(), 0);
    }
    auto results = m.forward(batch, run);
    for (std::size_t b = 0; b < batch.size(); ++b) {
      AttentionExample ex;
      ex.index = batch_index[b];
      ex.encoding = std::move(batch_enc[b]);
      const auto t = static_cast<std::int64_t>(ex.encoding.size());
      ex.attentions = core::Tensor({m.layers(), m.heads(), t, t});
      for (std::int64_t l = 0; l < m.layers(); ++l) {
        const auto* probs = results[b].trace.find(model::Site::attn_probs, l);
        std::memcpy(ex.attentions.ptr() + l * probs->size(), probs->ptr(), static_cast<std::size_t>(probs->size()) * sizeof(float));
      }
      ex.trace = std::move(results[b].trace);
      ex.mlm_logits = std::move(results[b].mlm_logits);
      ex.classifier_logits = std::move(results[b].classifier_logits);
      fn(ex);
    }
    batch_index.clear();
    batch_enc.clear();
    if (opt.progress) opt.progress(done, inputs.size());
  };
  for (std::size_t i = first; i < last; ++i) {
    const auto& in = inputs[i];
    model::Encoding enc;
    const bool too_long = [&] {
      if (!opt.skip_too_long) return false;
      const auto n = in.encoding          ? in.encoding->size()
                     : in.words.empty() ? tok.encode(in.text, in.pair, {}).size()
                                        : tok.encode_words(in.words, {}).size();
      return n > m.max_length();
    }();
    if (too_long) {
      ++skipped_;
      continue;
    }
    if (in.encoding && in.encoding->size() > m.max_length())
      fail(ErrorKind::input, "input {}: {} tokens, the model allows at most {}", i + 1, in.encoding->size(),
           m.max_length());
    try {
      enc = in.encoding       ? *in.encoding
            : in.words.empty() ? tok.encode(in.text, in.pair, enc_opt)
                               : tok.encode_words(in.words, enc_opt);
    } catch (const Error& e) {
      throw Error(e.kind(), fmt::format("input {}: {}", i + 1, e.what()));
    }
    batch_index.push_back(i);
    batch_enc.push_back(std::move(enc));
    if (batch_enc.size() >= opt.batch_size) flush(i + 1);
  }
  flush(last);
}

}  // namespace bertscope::analysis
