#include "report/figure.hpp"

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/base64.hpp"
#include "report/codec.hpp"
#include "report/page.hpp"

namespace bertscope::report {

namespace {

std::string unescape_html(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    const auto semi = s.find(';', i);
    const auto entity = semi == std::string_view::npos ? std::string_view() : s.substr(i + 1, semi - i - 1);
    const char* rep = entity == "lt" ? "<" : entity == "gt" ? ">" : entity == "amp" ? "&" : entity == "quot" ? "\"" : entity == "#39" || entity == "apos" ? "'" : nullptr;
    if (!rep) {
      out.push_back('&');
      continue;
    }
    out += rep;
    i = semi;
  }
  return out;
}

std::string attribute(std::string_view tag, std::string_view name) {
  const auto key = fmt::format("{}=\"", name);
  const auto at = tag.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = tag.find('"', start);
  return end == std::string_view::npos ? std::string() : std::string(tag.substr(start, end - start));
}

const char* format_name(FigureFormat f) {
  return f == FigureFormat::svg ? "svg" : f == FigureFormat::png ? "png" : "list";
}

}  // namespace

std::string render_figure(ViewerDocument doc, const FigureRequest& request, const ChromiumRun& run) {
  const std::string name = doc.name;
  std::vector<ViewerDocument> docs;
  docs.push_back(std::move(doc));
  nlohmann::json config = {
      {"mode", "figure"},
      {"figure",
       {{"view", request.view}, {"settings", request.settings}, {"format", format_name(request.format)},
        {"scale", request.scale}}},
  };
  config["documents"] = documents_json(std::move(docs));
  const auto dom = dump_dom(viewer_page(config, "bertscope figure", AssetMode::inlined), run);

  // The page appends the element after its scripts, so the last match is it (the inlined
  // bundle itself contains the id as a string).
  const auto at = dom.rfind("<pre id=\"bertscope-output\"");
  if (at == std::string::npos)
    fail(ErrorKind::io, "{}: the headless page produced no figure (did its script run? Chromium gave {} bytes of DOM)", name,
         dom.size());
  const auto close = dom.find('>', at);
  const auto end = dom.find("</pre>", close);
  if (close == std::string::npos || end == std::string::npos)
    fail(ErrorKind::internal, "{}: malformed output element in the rendered page", name);
  const auto tag = std::string_view(dom).substr(at, close - at);
  const auto body = std::string_view(dom).substr(close + 1, end - close - 1);
  if (attribute(tag, "data-status") != "ok") fail(ErrorKind::input, "{}: {}", name, unescape_html(body));
  return io::base64_decode(body, fmt::format("{}: rendered figure", name));
}

std::map<std::string, std::string> render_all_figures(ViewerDocument doc, FigureRequest request, const ChromiumRun& run) {
  const std::string name = doc.name;
  request.view = "*";
  const auto json = render_figure(std::move(doc), request, run);
  std::map<std::string, std::string> out;
  const auto parsed = nlohmann::json::parse(json);  // named: items() of a temporary would dangle
  for (const auto& [id, data] : parsed.items())
    out[id] = io::base64_decode(data.get<std::string>(), fmt::format("{}: figure {}", name, id));
  return out;
}

}  // namespace bertscope::report
