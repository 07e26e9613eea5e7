#include "model/trace_file.hpp"

#include <cstring>

#include "io/error.hpp"
#include "io/npz.hpp"

namespace bertscope::model {

namespace {

std::vector<std::int64_t> widen(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

// Stacks one per-layer site over all layers into [layers, ...]; null if any layer is missing.
std::optional<core::Tensor> stack_layers(const Trace& trace, Site site, std::int64_t layers) {
  const core::Tensor* first = trace.find(site, 0);
  if (!first) return std::nullopt;
  core::Shape shape{layers};
  shape.insert(shape.end(), first->shape.begin(), first->shape.end());
  core::Tensor out(shape);
  for (std::int64_t l = 0; l < layers; ++l) {
    const core::Tensor* t = trace.find(site, l);
    if (!t || t->shape != first->shape) return std::nullopt;
    std::memcpy(out.ptr() + l * first->size(), t->ptr(), static_cast<std::size_t>(first->size()) * sizeof(float));
  }
  return out;
}

void add_tensor(io::NpzWriter& npz, const std::string& name, const core::Tensor& t) {
  npz.add_f32(name, t.shape, t.span());
}

}  // namespace

void write_trace_file(const std::filesystem::path& path, const TraceFileContent& c, std::int64_t layers) {
  if (!c.input || !c.result) fail(ErrorKind::internal, "write_trace_file: no input or result");
  const auto& trace = c.result->trace;
  const auto t = static_cast<std::int64_t>(c.input->ids.size());
  const std::vector<std::int64_t> tok_shape{t};
  io::NpzWriter npz(path);
  npz.add_i64("input_ids", tok_shape, widen(c.input->ids));
  auto types = c.input->type_ids.empty() ? std::vector<std::int64_t>(static_cast<std::size_t>(t), 0) : widen(c.input->type_ids);
  npz.add_i64("token_type_ids", tok_shape, types);
  if (c.encoding) {
    npz.add_strings("tokens", tok_shape, c.encoding->tokens);
    npz.add_i64("word_ids", tok_shape, widen(c.encoding->word_ids));
    std::vector<std::int64_t> offsets;
    for (const auto& [b, e] : c.encoding->char_offsets) {
      offsets.push_back(b);
      offsets.push_back(e);
    }
    const std::vector<std::int64_t> off_shape{t, 2};
    npz.add_i64("offsets", off_shape, offsets);
  }
  if (!c.text.empty()) {
    const std::vector<std::int64_t> text_shape{static_cast<std::int64_t>(c.text.size())};
    npz.add_strings("text", text_shape, c.text);
  }

  std::vector<bool> written(kSiteCount, false);
  if (auto att = stack_layers(trace, Site::attn_probs, layers)) {
    add_tensor(npz, "attentions", *att);
    written[static_cast<std::size_t>(Site::attn_probs)] = true;
  }
  if (const auto* emb = trace.find(Site::embed_out)) {
    if (auto outs = stack_layers(trace, Site::layer_out, layers)) {
      core::Tensor hs({layers + 1, emb->dim(0), emb->dim(1)});
      std::memcpy(hs.ptr(), emb->ptr(), static_cast<std::size_t>(emb->size()) * sizeof(float));
      std::memcpy(hs.ptr() + emb->size(), outs->ptr(), static_cast<std::size_t>(outs->size()) * sizeof(float));
      add_tensor(npz, "hidden_states", hs);
      written[static_cast<std::size_t>(Site::embed_out)] = written[static_cast<std::size_t>(Site::layer_out)] = true;
    }
  }
  for (const auto& info : site_table()) {
    if (written[static_cast<std::size_t>(info.site)]) continue;
    if (!info.per_layer) {
      if (const auto* s = trace.find(info.site)) add_tensor(npz, std::string(info.suffix), *s);
      continue;
    }
    if (auto stacked = stack_layers(trace, info.site, layers)) {
      add_tensor(npz, std::string(info.suffix), *stacked);
      continue;
    }
    for (std::int64_t l = 0; l < layers; ++l)
      if (const auto* s = trace.find(info.site, l)) add_tensor(npz, site_name(info.site, l), *s);
  }
  if (c.logits_kind == HeadKind::masked_lm && !c.result->mlm_logits.data.empty())
    add_tensor(npz, "logits", c.result->mlm_logits);
  else if (c.logits_kind != HeadKind::none && c.logits_kind != HeadKind::masked_lm &&
           !c.result->classifier_logits.data.empty())
    add_tensor(npz, "logits", c.result->classifier_logits);
  npz.commit();
}

}  // namespace bertscope::model
