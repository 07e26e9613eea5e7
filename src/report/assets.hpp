// The web viewer's bundle (web/, built by npm and esbuild at build time), embedded in the binary
// so that `serve`, `report` and `figure` never fetch or read anything at view time.
#pragma once

#include <span>
#include <string_view>

namespace bertscope::report {

struct Asset {
  std::string_view name;          // "app.js", "app.css"
  std::string_view content_type;  // as served over HTTP
  std::string_view data;
};

// Every embedded asset (generated from the bundle by web/build.mjs).
std::span<const Asset> embedded_assets();

// The asset with this exact name, or nullptr.
const Asset* find_asset(std::string_view name);

// find_asset() that throws Error(internal) when the bundle lacks the asset.
const Asset& asset(std::string_view name);

}  // namespace bertscope::report
