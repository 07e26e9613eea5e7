// The checks every figure declaration (analysis/figure.hpp) must pass, shared by the tests of the
// methods that declare figures: a chart never combines fields of different units, never draws a
// label, index, step, count of runs or timing as a value, and names only fields its results contain.
#pragma once

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace bertscope::test {

inline const nlohmann::json* figures_at(const nlohmann::json& v, const std::string& path) {
  const nlohmann::json* cur = &v;
  if (path.empty()) return cur;
  std::size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    const auto part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_object() && cur->contains(part)) cur = &(*cur)[part];
    else if (cur->is_array() && !part.empty() && part.find_first_not_of("0123456789") == std::string::npos &&
             std::stoul(part) < cur->size())
      cur = &(*cur)[std::stoul(part)];
    else return nullptr;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

inline const std::set<std::string>& figures_not_data() {
  static const std::set<std::string> units{"label", "index", "step", "runs", "seconds"};
  return units;
}

// Everything wrong with one declaration, as messages; empty when it is sound.
inline std::vector<std::string> figure_problems(const nlohmann::json& fig, const nlohmann::json& results) {
  std::vector<std::string> out;
  const auto id = fig.value("id", std::string("?"));
  auto bad = [&](const std::string& what) { out.push_back(fmt::format("{}: {}", id, what)); };
  const auto kind = fig.value("kind", std::string());
  if (!std::set<std::string>{"lines", "bars", "heatmap", "table", "scatter", "tokens", "pattern", "map"}.count(kind))
    bad(fmt::format("unknown kind '{}'", kind));
  for (const char* key : {"title", "caption", "axis"})
    if (fig.value(key, std::string()).empty()) bad(fmt::format("no {}", key));
  if (!fig.contains("values") || fig["values"].empty()) bad("draws no field");
  const bool chart = kind != "table";

  // The records the fields are read from.
  std::vector<std::pair<std::string, const nlohmann::json*>> rows;
  const auto rows_path = fig.value("rows", std::string());
  if (!rows_path.empty()) {
    const auto* r = figures_at(results, rows_path);
    if (!r || !(r->is_array() || r->is_object()) || r->empty()) {
      bad(fmt::format("results.{} is not a non-empty list or object", rows_path));
    } else if (r->is_array()) {
      for (std::size_t i = 0; i < r->size(); ++i) rows.push_back({std::to_string(i), &(*r)[i]});
    } else {
      for (const auto& [k, v] : r->items()) rows.push_back({k, &v});
      if (fig.contains("order")) {
        const auto* order = figures_at(results, fig["order"].get<std::string>());
        if (!order || !order->is_array()) bad("its order is not a list in the results");
        else
          for (const auto& k : *order)
            if (!r->contains(k.get<std::string>())) bad(fmt::format("order names '{}', not in results.{}", k.get<std::string>(), rows_path));
      }
    }
  }
  if (kind == "heatmap" && !rows.empty())
    for (const auto& [k, rec] : rows)
      if (!rec->contains("layer") || !rec->contains("head")) bad(fmt::format("record {} of a heatmap has no layer and head", k));

  // Each field: present in every record (or in the results), a number where it is drawn.
  // drawn: the field's numbers become marks (must be numeric); position: they only place the
  // records on a numeric x axis (a step or an index may do that, not be drawn as a value).
  auto check_field = [&](const nlohmann::json& f, bool drawn, bool in_results, bool position = false) {
    const auto path = f.value("path", std::string());
    const auto unit = f.value("unit", std::string());
    if (unit.empty()) bad(fmt::format("field '{}' has no unit", path));
    if (drawn && !position && figures_not_data().count(unit)) bad(fmt::format("draws '{}', a {}, as a value", path, unit));
    auto check_value = [&](const nlohmann::json* v, const std::string& where) {
      if (!v) return bad(fmt::format("names '{}', which {} does not contain", path, where));
      if (!drawn) return;
      // A value is a number (null where undefined), or numbers in a list or a [layers][heads] matrix.
      std::function<bool(const nlohmann::json&)> numeric = [&](const nlohmann::json& x) {
        if (x.is_array()) return std::all_of(x.begin(), x.end(), numeric);
        return x.is_number() || x.is_null();
      };
      if (!numeric(*v)) bad(fmt::format("draws '{}' of {}, which is not numeric", path, where));
    };
    if (in_results || rows.empty()) {
      if (path == "@key") return bad("'@key' outside records");
      check_value(figures_at(results, path), "the results");
    } else {
      for (const auto& [k, rec] : rows) {
        if (path == "@key" || path.empty()) continue;
        check_value(figures_at(*rec, path), fmt::format("record {} of results.{}", k, rows_path));
      }
    }
  };
  const auto options = fig.value("options", nlohmann::json::object());
  // Token figures draw one value per token: each record's token list and its values line up.
  if (kind == "tokens" || kind == "pattern" || kind == "map") {
    const auto tokens = options.value("tokens", std::string());
    if (tokens.empty()) bad("a token figure without options.tokens");
    for (const auto& [k, rec] : rows) {
      const auto* t = figures_at(*rec, tokens);
      if (!t || !t->is_array()) {
        bad(fmt::format("record {} has no token list '{}'", k, tokens));
        continue;
      }
      for (const auto& f : fig.value("values", nlohmann::json::array())) {
        const auto* v = figures_at(*rec, f.value("path", std::string()));
        if (kind == "tokens" && v && (!v->is_array() || v->size() != t->size()))
          bad(fmt::format("record {}: '{}' has not one value per token", k, f.value("path", std::string())));
        // A map is [tokens][tokens].
        if (kind == "map" && v && (!v->is_array() || v->size() != t->size() ||
                                   std::any_of(v->begin(), v->end(), [&](const nlohmann::json& r) { return !r.is_array() || r.size() != t->size(); })))
          bad(fmt::format("record {}: '{}' is not a [tokens][tokens] map", k, f.value("path", std::string())));
      }
    }
    for (const auto& part : options.value("name", nlohmann::json::array()))
      if (!part.contains("path")) bad("a name part without a path");
  }
  // A pattern figure's values are fields of each record's patterns.
  std::vector<std::pair<std::string, const nlohmann::json*>> pattern_rows;
  if (kind == "pattern") {
    const auto patterns = options.value("patterns", std::string());
    for (const auto& [k, rec] : rows) {
      const auto* ps = figures_at(*rec, patterns);
      if (!ps || !ps->is_array()) bad(fmt::format("record {} has no pattern list '{}'", k, patterns));
      else
        for (std::size_t i = 0; i < ps->size(); ++i) pattern_rows.push_back({fmt::format("{}.{}", k, i), &(*ps)[i]});
    }
    if (pattern_rows.empty()) bad("no record has patterns");
    rows = pattern_rows;
  }
  std::set<std::string> units;
  for (const auto& f : fig.value("values", nlohmann::json::array())) {
    check_field(f, chart, false);
    units.insert(f.value("unit", std::string()));
  }
  for (const auto& f : fig.value("references", nlohmann::json::array())) {
    check_field(f, true, true);
    units.insert(f.value("unit", std::string()));
  }
  if (chart && units.size() > 1) bad(fmt::format("combines units {}", nlohmann::json(units).dump()));
  if (fig.contains("x")) {
    const auto& x = fig["x"];
    const bool numeric_x = fig.contains("options") && fig["options"].value("numeric_x", false);
    if (!x.value("path", std::string()).empty()) check_field(x, numeric_x, false, true);
    if (fig.value("x_axis", std::string()).empty()) bad("an x field and no x-axis title");
  }
  if (fig.contains("range")) {
    const auto& r = fig["range"];
    if (!r.is_array() || r.size() != 2 || !(r[0].get<double>() < r[1].get<double>())) bad("its range is not [low, high]");
  }
  if (options.contains("points")) {
    const auto* p = figures_at(results, fig["options"]["points"].get<std::string>());
    if (!p || !p->is_array()) bad("its points are not a list in the results");
  }
  return out;
}

inline std::vector<std::string> document_problems(const nlohmann::json& doc) {
  std::vector<std::string> out;
  std::set<std::string> ids;
  for (const auto& fig : doc.value("figures", nlohmann::json::array())) {
    if (!ids.insert(fig.value("id", std::string())).second) out.push_back("two figures named " + fig.value("id", std::string()));
    for (auto& p : figure_problems(fig, doc["results"])) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace bertscope::test
