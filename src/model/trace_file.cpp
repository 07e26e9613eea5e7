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
    if (c.encoding->roles.size() == static_cast<std::size_t>(t)) {
      std::vector<std::int64_t> roles;
      for (auto r : c.encoding->roles) roles.push_back(static_cast<std::int64_t>(r));
      npz.add_i64("roles", tok_shape, roles);
    }
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
  else if (c.logits_kind == HeadKind::replaced_token_detection && !c.result->classifier_logits.data.empty())
    add_tensor(npz, "replaced_token_logits", c.result->classifier_logits);  // ELECTRA's discriminator, [T]
  else if (c.logits_kind != HeadKind::none && c.logits_kind != HeadKind::masked_lm &&
           !c.result->classifier_logits.data.empty())
    add_tensor(npz, "logits", c.result->classifier_logits);
  npz.commit();
}

}  // namespace bertscope::model

namespace bertscope::model {

TraceFileData read_trace_file(const std::filesystem::path& path) {
  io::NpzReader npz(path);
  const auto file = path.string();
  for (const char* required : {"input_ids", "attentions"})
    if (!npz.contains(required)) fail(ErrorKind::format, "{}: no \"{}\" array in the trace file", file, required);
  TraceFileData d;
  const auto ids = npz.read("input_ids");
  if (ids.shape.size() != 1) fail(ErrorKind::format, "{}: input_ids must be one-dimensional [T]", file);
  const auto t = ids.shape[0];
  for (auto v : ids.to_i64()) d.encoding.ids.push_back(static_cast<std::int32_t>(v));
  auto read_ints = [&](const char* name, std::vector<std::int32_t>& out, std::int32_t fallback) {
    if (!npz.contains(name)) {
      out.assign(static_cast<std::size_t>(t), fallback);
      return;
    }
    const auto a = npz.read(name);
    if (a.shape != core::Shape{t}) fail(ErrorKind::format, "{}: {} has shape {}, expected [{}]", file, name, core::shape_string(a.shape), t);
    for (auto v : a.to_i64()) out.push_back(static_cast<std::int32_t>(v));
  };
  read_ints("token_type_ids", d.encoding.type_ids, 0);
  read_ints("word_ids", d.encoding.word_ids, -1);
  if (npz.contains("tokens")) {
    const auto a = npz.read("tokens");
    if (a.shape != core::Shape{t}) fail(ErrorKind::format, "{}: tokens has shape {}, expected [{}]", file, core::shape_string(a.shape), t);
    d.encoding.tokens = a.to_strings();
  } else {
    d.encoding.tokens.assign(static_cast<std::size_t>(t), "");
  }
  // Token roles (TokenRole values) when the writer stored them; older files have none.
  if (npz.contains("roles")) {
    std::vector<std::int32_t> roles;
    read_ints("roles", roles, 0);
    for (auto r : roles) {
      if (r < 0 || r > static_cast<std::int32_t>(TokenRole::unk)) fail(ErrorKind::format, "{}: roles holds {}, not a token role", file, r);
      d.encoding.roles.push_back(static_cast<TokenRole>(r));
    }
  }
  // Sequence ids follow from the type ids and the specials ([CLS]/[SEP] carry word id -1).
  for (std::int64_t i = 0; i < t; ++i)
    d.encoding.sequence_ids.push_back(d.encoding.word_ids[i] < 0 ? -1 : d.encoding.type_ids[i]);
  if (npz.contains("offsets")) {
    const auto a = npz.read("offsets");
    if (a.shape != core::Shape{t, 2}) fail(ErrorKind::format, "{}: offsets has shape {}, expected [{}, 2]", file, core::shape_string(a.shape), t);
    const auto v = a.to_i64();
    for (std::int64_t i = 0; i < t; ++i) d.encoding.char_offsets.emplace_back(v[2 * i], v[2 * i + 1]);
  } else {
    d.encoding.char_offsets.assign(static_cast<std::size_t>(t), {0, 0});
  }
  d.encoding.byte_offsets.assign(static_cast<std::size_t>(t), {0, 0});
  if (npz.contains("text")) d.text = npz.read("text").to_strings();
  const auto att = npz.read("attentions");
  if (att.shape.size() != 4 || att.shape[2] != t || att.shape[3] != t)
    fail(ErrorKind::format, "{}: attentions has shape {}, expected [layers, heads, {}, {}]", file,
         core::shape_string(att.shape), t, t);
  d.attentions = core::Tensor(att.shape);
  const auto values = att.to_f32();
  std::copy(values.begin(), values.end(), d.attentions.data.begin());
  // Each row must be a distribution (up to a head mask): catch maps saved transposed or as scores.
  const auto rows = d.attentions.size() / t;
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (std::int64_t j = 0; j < t; ++j) {
      const float v = d.attentions.data[r * t + j];
      if (!(v >= 0.0f)) fail(ErrorKind::format, "{}: attentions has a negative or NaN entry (row {}); expected probabilities", file, r);
      sum += v;
    }
    if (sum > 1.0 + 1e-3) fail(ErrorKind::format, "{}: attentions row {} sums to {:.4f}; expected probabilities (rows = queries)", file, r, sum);
  }
  return d;
}

}  // namespace bertscope::model
