// The viewer from the library: attention documents for inputs held in memory, the self-contained
// page `bertscope report` writes (for notebooks and files) and `bertscope figure`'s one-view
// renderings. Documents are JSON texts as the CLI writes them (docs/viewer.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bertscope/array.hpp"
#include "bertscope/model.hpp"

namespace bertscope {

struct AttentionView {
  Encoding encoding{};                 // tokens, ids, word and sequence ids, offsets
  std::string text{};                  // the input text (shown above the maps)
  std::optional<std::string> pair{};   // its pair, when there is one
  // Either one [layers, heads, T, T] array or one [heads, T, T] array per layer, T = the tokens.
  std::vector<Array> attention{};
  std::string model_name{};            // what produced it (shown, not read)
  bool float32 = false;                // float16 maps by default: half the size, invisible in a colour map
};

// The attention document of one input; Error(input) when the maps disagree with the encoding.
std::string attention_document(const AttentionView& view);

// One self-contained HTML page (the viewer's code and styles inlined, no network, opens from
// file://) showing `documents`, each {file name, JSON text}: what `bertscope report` writes.
// Error(format) naming a document that is neither a result nor an attention document.
std::string viewer_html(const std::vector<std::pair<std::string, std::string>>& documents, const std::string& title);

struct FigureOptions {
  std::string view{};                           // a view id or kind, as `bertscope figure --view`
  std::map<std::string, std::string> settings{};  // view settings by name ("layer" -> "3")
  std::string format = "svg";                   // "svg", "png" or "list" (the views, as JSON)
  double scale = 2.0;                           // PNG pixels per figure unit
};

// One view of a document drawn by the viewer in headless Chromium (`bertscope figure`): SVG text,
// PNG bytes or the list of views. Error(input) with the viewer's message for a bad view or setting.
std::string render_figure(const std::string& document_json, const FigureOptions& options, const std::string& name = "document");

}  // namespace bertscope
