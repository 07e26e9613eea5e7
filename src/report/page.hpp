// The viewer's HTML page. The bundle reads what it is (the served app, a report, a headless
// figure) from a JSON config embedded in the page (web/src/main.ts).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/documents.hpp"

namespace bertscope::report {

enum class AssetMode {
  inlined,  // JS and CSS inside the page: works from file:// with no network (report, figure)
  linked,   // /assets/app.js and /assets/app.css (the server)
};

// The Content-Security-Policy of each kind of page: inlined pages may load nothing at all;
// the served page only its own origin.
std::string_view content_security_policy(AssetMode mode);

// `config` as JSON safe inside <script type="application/json">: every '<' is written as the
// JSON escape \u003c, so no string in the data can close the script element.
std::string script_json(const nlohmann::json& config);

// Escapes &, <, > and " (attributes are always double-quoted).
std::string html_escape(std::string_view text);

// A whole page around `config` ({"mode": ..., ...}).
std::string viewer_page(const nlohmann::json& config, std::string_view title, AssetMode mode);

// The "documents" array of a report or figure page (the documents are moved into it: an
// attention document can hold 100 MB of packed maps).
nlohmann::json documents_json(std::vector<ViewerDocument> docs);

}  // namespace bertscope::report
