#include "report/page.hpp"

#include <cctype>

#include <fmt/format.h>

#include "report/assets.hpp"

namespace bertscope::report {

namespace {

// Inlined code must not contain the end tag of its element; "<\/" means the same in JS
// strings and regular expressions, and CSS never needs "</".
std::string guard_end_tag(std::string_view code, std::string_view tag) {
  std::string out;
  out.reserve(code.size());
  const std::string needle = fmt::format("</{}", tag);
  std::size_t i = 0;
  while (i < code.size()) {
    if (code[i] == '<' && i + needle.size() <= code.size()) {
      bool match = true;
      for (std::size_t k = 1; k < needle.size() && match; ++k)
        match = std::tolower(static_cast<unsigned char>(code[i + k])) == needle[k];
      if (match) {
        out += "<\\/";
        i += 2;
        continue;
      }
    }
    out.push_back(code[i++]);
  }
  return out;
}

}  // namespace

std::string_view content_security_policy(AssetMode mode) {
  if (mode == AssetMode::inlined)
    return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
           "base-uri 'none'; form-action 'none'";
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
         "base-uri 'none'; form-action 'none'";
}

std::string script_json(const nlohmann::json& config) {
  // error_handler replace: a document with invalid UTF-8 in a string still makes a page.
  const auto text = config.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 64);
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else out.push_back(c);
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string viewer_page(const nlohmann::json& config, std::string_view title, AssetMode mode) {
  const bool inl = mode == AssetMode::inlined;
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += fmt::format("<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n",
                      html_escape(content_security_policy(mode)));
  page += fmt::format("<title>{}</title>\n", html_escape(title));
  // An empty icon: otherwise the browser asks the server (or the disk) for /favicon.ico.
  page += "<link rel=\"icon\" href=\"data:,\">\n";
  if (inl) page += fmt::format("<style>\n{}\n</style>\n", guard_end_tag(asset("app.css").data, "style"));
  else page += "<link rel=\"stylesheet\" href=\"/assets/app.css\">\n";
  page += "</head>\n<body>\n<div id=\"app\"></div>\n";
  page += "<script type=\"application/json\" id=\"bertscope-config\">";
  page += script_json(config);
  page += "</script>\n";
  if (inl) page += fmt::format("<script>\n{}\n</script>\n", guard_end_tag(asset("app.js").data, "script"));
  else page += "<script src=\"/assets/app.js\"></script>\n";
  page += "</body>\n</html>\n";
  return page;
}

nlohmann::json documents_json(std::vector<ViewerDocument> docs) {
  auto arr = nlohmann::json::array();
  for (auto& d : docs) arr.push_back({{"name", std::move(d.name)}, {"json", std::move(d.json)}});
  return arr;
}

}  // namespace bertscope::report
