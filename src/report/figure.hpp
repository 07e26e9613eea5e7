// `bertscope figure`: one view of one document rendered headless, for scripts and papers.
// The viewer's own code draws it, in Chromium (chromium.hpp), so a figure is the same picture
// as the chart's PNG/SVG export buttons give.
#pragma once

#include <map>
#include <string>

#include "report/chromium.hpp"
#include "report/documents.hpp"

namespace bertscope::report {

enum class FigureFormat { svg, png, list };

struct FigureRequest {
  // A view id as `--list` prints it ("grid", "heatmap:results.heads"), or just its kind
  // ("heatmap") when the document has one view of that kind; "*" for every figure (tables excepted).
  std::string view;
  std::map<std::string, std::string> settings;  // view settings by name ("layer" -> "3")
  FigureFormat format = FigureFormat::svg;
  double scale = 2.0;  // PNG pixels per figure unit (CSS pixel)
};

// The figure's bytes: SVG text, PNG data, or for FigureFormat::list a JSON array of the
// document's views and their settings. A bad view name or setting is an Error(input) with the
// viewer's message (which lists what is allowed).
std::string render_figure(ViewerDocument doc, const FigureRequest& request, const ChromiumRun& run = {});

// Every figure of the document (view "*"), in one headless run: view id -> the file's bytes.
std::map<std::string, std::string> render_all_figures(ViewerDocument doc, FigureRequest request, const ChromiumRun& run = {});

}  // namespace bertscope::report
