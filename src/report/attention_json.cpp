#include "report/attention_json.hpp"

#include "io/error.hpp"
#include "model/trace_file.hpp"
#include "report/codec.hpp"

namespace bertscope::report {

Precision parse_precision(const std::string& name) {
  if (name == "float16") return Precision::float16;
  if (name == "float32") return Precision::float32;
  fail(ErrorKind::input, "precision \"{}\": expected float16 or float32", name);
}

nlohmann::json attention_document(const AttentionInput& input, Precision precision) {
  const auto& enc = *input.encoding;
  const auto t = static_cast<std::int64_t>(enc.size());
  std::int64_t layers = 0, heads = 0;
  std::vector<float> values;
  if (input.stacked) {
    const auto& s = input.stacked->shape;
    if (s.size() != 4 || s[2] != t || s[3] != t)
      fail(ErrorKind::internal, "attention of shape {} for {} tokens", core::shape_string(s), t);
    layers = s[0];
    heads = s[1];
  } else {
    layers = static_cast<std::int64_t>(input.layers.size());
    for (const auto* m : input.layers) {
      if (!m || m->shape.size() != 3 || m->shape[1] != t || m->shape[2] != t || (heads && m->shape[0] != heads))
        fail(ErrorKind::internal, "attention map of shape {} for {} tokens", m ? core::shape_string(m->shape) : "null", t);
      heads = m->shape[0];
    }
  }
  std::string packed;
  if (input.stacked) {
    packed = precision == Precision::float16 ? pack_f16_base64(input.stacked->span()) : pack_f32_base64(input.stacked->span());
  } else {
    values.reserve(static_cast<std::size_t>(layers * heads * t * t));
    for (const auto* m : input.layers) values.insert(values.end(), m->data.begin(), m->data.end());
    packed = precision == Precision::float16 ? pack_f16_base64(values) : pack_f32_base64(values);
  }

  nlohmann::json offsets = nlohmann::json::array();
  for (const auto& [b, e] : enc.char_offsets) offsets.push_back({b, e});
  nlohmann::json doc = {
      {"kind", "attention"},
      {"model", input.model},
      {"text", input.text.empty() ? std::string() : input.text[0]},
      {"text_pair", input.text.size() > 1 ? nlohmann::json(input.text[1]) : nlohmann::json(nullptr)},
      {"tokens", enc.tokens},
      {"ids", enc.ids},
      {"word_ids", enc.word_ids},
      {"sequence_ids", enc.sequence_ids},
      {"type_ids", enc.type_ids},
      {"offsets", std::move(offsets)},
      {"layers", layers},
      {"heads", heads},
      {"length", t},
      {"attention",
       {{"dtype", precision == Precision::float16 ? "float16" : "float32"},
        {"shape", {layers, heads, t, t}},
        {"encoding", "base64"},
        {"data", std::move(packed)}}},
  };
  return doc;
}

nlohmann::json attention_document_from_trace(const std::filesystem::path& npz, Precision precision) {
  const auto data = model::read_trace_file(npz);
  AttentionInput in;
  in.encoding = &data.encoding;
  in.text = data.text;
  in.stacked = &data.attentions;
  in.model = {{"trace", npz.filename().string()},
              {"layers", data.attentions.shape.at(0)},
              {"heads", data.attentions.shape.at(1)}};
  return attention_document(in, precision);
}

}  // namespace bertscope::report
