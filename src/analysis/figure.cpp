#include "analysis/figure.hpp"

#include <functional>
#include <map>

#include "analysis/ablate.hpp"
#include "analysis/cluster.hpp"
#include "analysis/compare.hpp"
#include "analysis/coref.hpp"
#include "analysis/features.hpp"
#include "analysis/flow.hpp"
#include "analysis/gradsep.hpp"
#include "analysis/importance.hpp"
#include "analysis/influence_run.hpp"
#include "analysis/patterns.hpp"
#include "analysis/probe.hpp"
#include "analysis/rollout.hpp"
#include "analysis/saliency.hpp"
#include "analysis/surface.hpp"
#include "analysis/syntax.hpp"
#include "analysis/track.hpp"

namespace bertscope::analysis {

const char* unit_name(Unit unit) {
  switch (unit) {
    case Unit::proportion: return "proportion";
    case Unit::nats: return "nats";
    case Unit::gradient: return "gradient";
    case Unit::accuracy: return "accuracy";
    case Unit::metric: return "metric";
    case Unit::metric_delta: return "metric_delta";
    case Unit::importance: return "importance";
    case Unit::similarity: return "similarity";
    case Unit::divergence: return "divergence";
    case Unit::coordinate: return "coordinate";
    case Unit::attribution: return "attribution";
    case Unit::influence: return "influence";
    case Unit::loss: return "loss";
    case Unit::fraction: return "fraction";
    case Unit::count: return "count";
    case Unit::label: return "label";
    case Unit::index: return "index";
    case Unit::step: return "step";
    case Unit::runs: return "runs";
    case Unit::seconds: return "seconds";
  }
  return "?";
}

bool is_data_unit(Unit unit) {
  return unit != Unit::label && unit != Unit::index && unit != Unit::step && unit != Unit::runs && unit != Unit::seconds;
}

nlohmann::json FigureField::to_json() const {
  nlohmann::json j = {{"path", path}, {"label", label}, {"unit", unit_name(unit)}};
  if (!format.empty()) j["format"] = format;
  return j;
}

nlohmann::json Figure::to_json() const {
  nlohmann::json j = {{"id", id}, {"kind", kind}, {"title", title}, {"caption", caption}, {"axis", axis}};
  if (!rows.empty()) j["rows"] = rows;
  if (!order.empty()) j["order"] = order;
  if (x) j["x"] = x->to_json();
  if (!x_axis.empty()) j["x_axis"] = x_axis;
  j["values"] = nlohmann::json::array();
  for (const auto& v : values) j["values"].push_back(v.to_json());
  if (range) j["range"] = {(*range)[0], (*range)[1]};
  if (centred) j["centred"] = true;
  if (!references.empty()) {
    j["references"] = nlohmann::json::array();
    for (const auto& r : references) j["references"].push_back(r.to_json());
  }
  if (!options.empty()) j["options"] = options;
  return j;
}

nlohmann::json figures_json(const std::vector<Figure>& figures) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : figures) out.push_back(f.to_json());
  return out;
}

std::vector<Figure> declared_figures(const std::string& method, const nlohmann::json& results,
                                     const nlohmann::json& model) {
  using Declare = std::function<std::vector<Figure>(const nlohmann::json&)>;
  // One entry per method that declares figures (documents of older versions are drawn by shape).
  static const std::map<std::string, Declare> by_method{
      {"ablate", ablate::figures},         {"cluster", cluster::figures},   {"coref", coref::figures},
      {"features", features::figures},     {"flow", flow::figures},
      {"gradsep", gradsep::figures},       {"importance", importance::figures},
      {"influence", influence::figures},   {"patterns", patterns::figures}, {"probe", probe::figures},
      {"rollout", rollout::figures},       {"saliency", saliency::figures}, {"surface", surface::figures},
      {"syntax", syntax::figures},         {"track", track::figures},
  };
  if (!results.is_object()) return {};
  // compare names its two models in titles and legends, from the document's model.
  if (method == "compare") return compare::figures(results, model);
  const auto it = by_method.find(method);
  if (it == by_method.end()) return {};
  return it->second(results);
}

}  // namespace bertscope::analysis
