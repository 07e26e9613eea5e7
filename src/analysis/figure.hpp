// Figures declared by the methods. Each analysis says, next to its code, which figures its results
// make (the papers' figures first): the kind of chart, the fields drawn, title, caption, axis labels
// with units and fixed value ranges. ResultDocument::to_json writes them into the document's
// "figures" array, so the report, `bertscope figure` and `serve` draw those figures and never
// guess from the JSON's shape (docs/viewer.md has the format, docs/DESIGN.md the reasons).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bertscope::analysis {

// What a number means. A chart draws values of one unit only; label, index, runs and seconds
// are never drawn as values (they name or position things, or time the run).
enum class Unit {
  proportion,    // share of attention, 0..1
  nats,          // entropy
  gradient,      // mean |dL/dA|
  accuracy,      // fraction correct, 0..1 (tables show percent)
  metric,        // the task's metric (accuracy, F1, correlation, ...)
  metric_delta,  // change of the metric against the unpruned / undisabled model
  importance,    // head importance score
  similarity,    // cosine similarity
  divergence,    // Jensen-Shannon divergence or a distance
  coordinate,    // a 2-d embedding coordinate
  attribution,   // a token's share of an output, in the output's units (logits)
  influence,     // Lu et al.'s path influence, in the quantity of interest's units (logits)
  loss,          // training loss (cross-entropy, nats per predicted token)
  fraction,      // share of heads or of inputs, 0..1
  count,         // number of heads, tokens, relations, ...
  label,         // a name
  index,         // a layer, head or token position (0-based; shown 1-based for layers and heads)
  step,          // a training step
  runs,          // number of runs, passes or draws
  seconds,       // timing
};

const char* unit_name(Unit unit);
// Whether values of this unit may be drawn as data (bar heights, line points, colours).
bool is_data_unit(Unit unit);

struct FigureField {
  std::string path;   // dotted path: into each record when the figure has rows, else into results
  std::string label;  // legend entry, column header, map name
  Unit unit = Unit::proportion;
  std::string format;  // tables: "percent" (0..1 shown as %), "head" ({layer, head} as 1-based "L-H")

  nlohmann::json to_json() const;
};

struct Figure {
  std::string id;     // "<method>.<name>", unique in the document; the view id of `bertscope figure`
  // lines | bars | heatmap (layer x head) | table | scatter | tokens (an input's tokens shaded by
  // per-token values) | pattern (Lu et al.'s paths over tokens x layers) | map (each record's
  // [tokens][tokens] matrix, one record at a time)
  std::string kind;
  std::string title;
  std::string caption;  // what it shows and how to compare it with the paper's figure
  std::string rows;     // results path of the records drawn; empty: values are results paths
  std::string order;    // results path of the keys' order when rows is an object
  std::optional<FigureField> x;  // lines/bars: each record's position or name; scatter: x value
  std::string x_axis;            // x-axis title with its unit
  std::vector<FigureField> values;  // lines: series; bars, heatmap: one chart each (picked); table: columns
  std::string axis;                 // value axis or colour bar title, with its unit
  std::optional<std::array<double, 2>> range;  // fixed value range (proportions 0..1), else the data's
  bool centred = false;                        // diverging colours centred on 0
  std::vector<FigureField> references;         // results scalars drawn as dashed horizontal lines
  // kind-specific: table "min", "mark"; scatter "colour"; tokens "tokens", "name", "highlight",
  // "stack"; pattern "tokens", "patterns", "name", "target" (docs/viewer.md)
  nlohmann::json options = nlohmann::json::object();

  nlohmann::json to_json() const;
};

// The figures a method declares for these results (empty for methods that declare none yet);
// `model` is the document's model (compare names its two models in titles and legends).
std::vector<Figure> declared_figures(const std::string& method, const nlohmann::json& results,
                                     const nlohmann::json& model = nlohmann::json::object());
nlohmann::json figures_json(const std::vector<Figure>& figures);

}  // namespace bertscope::analysis
