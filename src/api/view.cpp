#include "bertscope/view.hpp"

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "io/error.hpp"
#include "report/attention_json.hpp"
#include "report/documents.hpp"
#include "report/figure.hpp"
#include "report/page.hpp"

namespace bertscope {

namespace {

nlohmann::json parse_document(const std::string& text, const std::string& name) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(ErrorKind::format, "{}: not valid JSON", name);
  report::check_viewer_document(j, name);
  return j;
}

}  // namespace

namespace api {

model::Encoding engine_encoding(const Encoding& e) {
  const auto t = e.ids.size();
  for (std::size_t n : {e.tokens.size(), e.word_ids.size(), e.sequence_ids.size(), e.offsets.size()})
    if (n != t) fail(ErrorKind::input, "encoding: its fields disagree on its length ({} ids)", t);
  if (!e.type_ids.empty() && e.type_ids.size() != t)
    fail(ErrorKind::input, "encoding: {} type ids for {} ids", e.type_ids.size(), t);
  model::Encoding enc;
  enc.ids = e.ids;
  enc.type_ids = e.type_ids.empty() ? std::vector<std::int32_t>(t, 0) : e.type_ids;
  enc.tokens = e.tokens;
  enc.word_ids = e.word_ids;
  enc.sequence_ids = e.sequence_ids;
  enc.char_offsets = e.offsets;
  for (const auto& r : e.roles) enc.roles.push_back(tokenizer::parse_role(r));
  if (enc.roles.empty()) enc.roles.assign(t, tokenizer::TokenRole::ordinary);
  if (enc.roles.size() != t) fail(ErrorKind::input, "encoding: {} roles for {} ids", enc.roles.size(), t);
  return enc;
}

core::Tensor stacked_attention(const AttentionView& view) {
  const auto t = static_cast<std::int64_t>(view.encoding.ids.size());
  if (view.attention.empty()) fail(ErrorKind::input, "attention: no maps");
  // Shapes are checked here so that a wrong array is the caller's error, not an internal one.
  if (view.attention.size() == 1 && view.attention[0].ndim() == 4) {
    const auto& a = view.attention[0];
    if (a.dim(2) != t || a.dim(3) != t)
      fail(ErrorKind::input, "attention: maps of shape {} for {} tokens (expected [layers, heads, {}, {}])", a.shape_string(),
           t, t, t);
    return api::copy_tensor(a);
  }
  const auto layers = static_cast<std::int64_t>(view.attention.size());
  const auto heads = view.attention[0].ndim() == 3 ? view.attention[0].dim(0) : 0;
  core::Tensor out({layers, heads, t, t});
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto& a = view.attention[static_cast<std::size_t>(l)];
    if (a.ndim() != 3 || a.dim(0) != heads || a.dim(1) != t || a.dim(2) != t)
      fail(ErrorKind::input, "attention: layer {}'s maps have shape {} (expected [{}, {}, {}]: heads, tokens, tokens)", l,
           a.shape_string(), heads, t, t);
    std::copy(a.data(), a.data() + a.size(), out.ptr() + l * heads * t * t);
  }
  return out;
}

}  // namespace api

std::string attention_document(const AttentionView& view) {
  const auto enc = api::engine_encoding(view.encoding);
  const auto maps = api::stacked_attention(view);
  report::AttentionInput in;
  in.encoding = &enc;
  in.text.push_back(view.text);
  if (view.pair) in.text.push_back(*view.pair);
  in.stacked = &maps;
  in.model = {{"name", view.model_name}, {"layers", maps.shape[0]}, {"heads", maps.shape[1]}};
  return report::attention_document(in, view.float32 ? report::Precision::float32 : report::Precision::float16).dump();
}

std::string viewer_html(const std::vector<std::pair<std::string, std::string>>& documents, const std::string& title) {
  if (documents.empty()) fail(ErrorKind::input, "viewer page: no documents to show");
  std::vector<report::ViewerDocument> docs;
  for (const auto& [name, text] : documents) docs.push_back({name, parse_document(text, name)});
  nlohmann::json config = {{"mode", "report"}, {"title", title}};
  config["documents"] = report::documents_json(std::move(docs));
  return report::viewer_page(config, title, report::AssetMode::inlined);
}

std::string render_figure(const std::string& document_json, const FigureOptions& options, const std::string& name) {
  report::FigureRequest req;
  req.view = options.view;
  req.settings = options.settings;
  if (options.format == "svg") req.format = report::FigureFormat::svg;
  else if (options.format == "png") req.format = report::FigureFormat::png;
  else if (options.format == "list") req.format = report::FigureFormat::list;
  else fail(ErrorKind::input, "figure format \"{}\": expected svg, png or list", options.format);
  if (!(options.scale >= 0.25 && options.scale <= 8)) fail(ErrorKind::input, "figure scale {}: expected 0.25 to 8", options.scale);
  if (req.view.empty() && req.format != report::FigureFormat::list) fail(ErrorKind::input, "figure: name a view (format \"list\" lists them)");
  return report::render_figure({name, parse_document(document_json, name)}, req);
}

}  // namespace bertscope
