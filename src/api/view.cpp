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

std::string attention_document(const AttentionView& view) {
  const auto t = static_cast<std::int64_t>(view.encoding.ids.size());
  const auto& e = view.encoding;
  for (std::size_t n : {e.tokens.size(), e.word_ids.size(), e.sequence_ids.size(), e.offsets.size()})
    if (static_cast<std::int64_t>(n) != t)
      fail(ErrorKind::input, "attention view: the encoding's fields disagree on its length ({} ids)", t);
  tokenizer::Encoding enc;
  enc.ids = e.ids;
  enc.type_ids = e.type_ids.empty() ? std::vector<std::int32_t>(e.ids.size(), 0) : e.type_ids;
  enc.tokens = e.tokens;
  enc.word_ids = e.word_ids;
  enc.sequence_ids = e.sequence_ids;
  enc.char_offsets = e.offsets;

  // Shapes are checked here so that a wrong array is the caller's error, not an internal one.
  std::vector<core::Tensor> maps;
  if (view.attention.empty()) fail(ErrorKind::input, "attention view: no attention maps");
  const bool stacked = view.attention.size() == 1 && view.attention[0].ndim() == 4;
  std::int64_t heads = -1;
  for (const auto& a : view.attention) {
    const auto& s = a.shape();
    const std::size_t want = stacked ? 4 : 3;
    if (a.ndim() != want || s[want - 1] != t || s[want - 2] != t || (!stacked && heads >= 0 && s[0] != heads))
      fail(ErrorKind::input, "attention view: maps of shape {} for {} tokens (expected {})", a.shape_string(), t,
           stacked ? "[layers, heads, T, T]" : "[heads, T, T] per layer, all with the same heads");
    if (!stacked) heads = s[0];
    maps.push_back(api::copy_tensor(a));
  }
  report::AttentionInput in;
  in.encoding = &enc;
  in.text.push_back(view.text);
  if (view.pair) in.text.push_back(*view.pair);
  if (stacked) {
    in.stacked = &maps[0];
  } else {
    for (const auto& m : maps) in.layers.push_back(&m);
  }
  in.model = {{"name", view.model_name},
              {"layers", stacked ? maps[0].shape[0] : static_cast<std::int64_t>(maps.size())},
              {"heads", stacked ? maps[0].shape[1] : heads}};
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
