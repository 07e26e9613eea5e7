#include "analysis/patterns.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/heads.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/tsv.hpp"

namespace bertscope::analysis::patterns {

namespace {

constexpr std::array<std::string_view, kClassCount> kClassNames = {"vertical", "diagonal", "vertical+diagonal",
                                                                   "block", "heterogeneous"};
// MapFeatures fields in feature-vector order.
constexpr std::array<std::string_view, 11> kMapFeatureNames = {
    "special", "diagonal", "cls", "sep", "prev", "self", "next", "within_segment", "block", "entropy", "max_column"};

std::array<double, 11> as_array(const MapFeatures& f) {
  return {f.special, f.diagonal, f.cls, f.sep, f.prev, f.self, f.next, f.within_segment, f.block, f.entropy, f.max_column};
}

std::array<double, kClassCount> softmax(std::array<double, kClassCount> z) {
  const double m = *std::max_element(z.begin(), z.end());
  double s = 0;
  for (auto& v : z) s += (v = std::exp(v - m));
  for (auto& v : z) v /= s;
  return z;
}

std::int64_t parse_index(const io::TsvTable& table, std::size_t row, std::size_t col, const char* what) {
  const auto& field = table.rows[row][col];
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || end != field.data() + field.size() || v < 0)
    fail(ErrorKind::format, "{}:{}: {} {} is not a 0-based index", table.source, table.lines[row], what, io::quote(field));
  return v;
}

}  // namespace

std::string_view class_name(PatternClass c) { return kClassNames[static_cast<std::size_t>(c)]; }

std::optional<PatternClass> parse_class(std::string_view name) {
  for (std::size_t i = 0; i < kClassCount; ++i)
    if (kClassNames[i] == name) return static_cast<PatternClass>(i);
  return std::nullopt;
}

TokenRoles token_roles(const model::Encoding& e) {
  TokenRoles r;
  const auto t = e.size();
  r.special.resize(t);
  r.segment.resize(t);
  for (std::size_t i = 0; i < t; ++i) {
    r.special[i] = e.sequence_ids.empty() ? (e.word_ids.empty() || e.word_ids[i] < 0) : e.sequence_ids[i] < 0;
    r.segment[i] = e.type_ids.empty() ? 0 : static_cast<std::uint8_t>(e.type_ids[i] != 0);
    r.pair = r.pair || r.segment[i] != 0;
  }
  return r;
}

MapFeatures map_features(const float* a, std::int64_t t, const TokenRoles& roles) {
  if (roles.size() != t) fail(ErrorKind::internal, "map_features: {} token roles for a {} x {} map", roles.size(), t, t);
  MapFeatures f;
  std::int64_t nonspecial[2] = {0, 0};
  for (std::int64_t j = 0; j < t; ++j)
    if (!roles.special[j]) ++nonspecial[roles.segment[j]];
  double in_seg = 0, off_special = 0, uniform_in_seg = 0;
  std::vector<double> column(static_cast<std::size_t>(t), 0.0);
  for (std::int64_t i = 0; i < t; ++i) {
    const float* row = a + i * t;
    double row_nonspecial = 0, row_entropy = 0;
    for (std::int64_t j = 0; j < t; ++j) {
      const double v = row[j];
      const bool band = std::abs(i - j) <= 1, sp = roles.special[j] != 0;
      if (band && sp) {
        f.special += 0.5 * v;
        f.diagonal += 0.5 * v;
      } else if (band) {
        f.diagonal += v;
      } else if (sp) {
        f.special += v;
      }
      if (sp) (j == 0 ? f.cls : f.sep) += v;
      if (j == i - 1) f.prev += v;
      if (j == i) f.self += v;
      if (j == i + 1) f.next += v;
      if (!sp) {
        row_nonspecial += v;
        if (roles.segment[j] == roles.segment[i]) in_seg += v;
      }
      if (v > 0) row_entropy -= v * std::log(v);
      column[static_cast<std::size_t>(j)] += v;
    }
    f.entropy += row_entropy;
    off_special += row_nonspecial;
    const auto total_nonspecial = nonspecial[0] + nonspecial[1];
    if (total_nonspecial > 0)
      uniform_in_seg += row_nonspecial * static_cast<double>(nonspecial[roles.segment[i]]) / static_cast<double>(total_nonspecial);
  }
  const double n = static_cast<double>(t);
  for (double* v : {&f.special, &f.diagonal, &f.cls, &f.sep, &f.prev, &f.self, &f.next}) *v /= n;
  f.entropy = t > 1 ? f.entropy / n / std::log(n) : 1.0;
  f.max_column = *std::max_element(column.begin(), column.end()) / n;
  if (roles.pair && off_special > 0) {
    f.within_segment = in_seg / off_special;
    const double wu = uniform_in_seg / off_special;
    f.block = wu < 1.0 ? (f.within_segment - wu) / (1.0 - wu) : 0.0;
  }
  return f;
}

nlohmann::json RuleThresholds::to_json() const {
  return {{"vertical", vertical}, {"diagonal", diagonal},  {"mix", mix},
          {"mix_total", mix_total}, {"block", block}, {"block_entropy", block_entropy}};
}

void RuleThresholds::set(std::string_view assignment) {
  const auto eq = assignment.find('=');
  const auto name = assignment.substr(0, eq);
  double value = 0;
  bool ok = eq != std::string_view::npos;
  if (ok) {
    const auto text = assignment.substr(eq + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    ok = !text.empty() && ec == std::errc() && end == text.data() + text.size() && value >= 0 && value <= 1;
  }
  if (!ok)
    fail(ErrorKind::input, "threshold {}: expected NAME=VALUE with VALUE in [0, 1], NAME one of vertical, diagonal, mix, "
         "mix_total, block, block_entropy", io::quote(assignment));
  if (name == "vertical") vertical = value;
  else if (name == "diagonal") diagonal = value;
  else if (name == "mix") mix = value;
  else if (name == "mix_total") mix_total = value;
  else if (name == "block") block = value;
  else if (name == "block_entropy") block_entropy = value;
  else fail(ErrorKind::input, "threshold {}: unknown name; expected vertical, diagonal, mix, mix_total, block or block_entropy",
            io::quote(name));
}

PatternClass classify_rules(const MapFeatures& f, const RuleThresholds& th) {
  if (f.special >= th.vertical && f.diagonal < th.mix) return PatternClass::vertical;
  if (f.diagonal >= th.diagonal && f.special < th.mix) return PatternClass::diagonal;
  if (f.special >= th.mix && f.diagonal >= th.mix && f.special + f.diagonal >= th.mix_total)
    return PatternClass::vertical_diagonal;
  if (f.block >= th.block && f.entropy >= th.block_entropy && f.special < th.vertical) return PatternClass::block;
  return PatternClass::heterogeneous;
}

std::vector<double> downsample(const float* a, std::int64_t t, std::int64_t grid) {
  // overlap[i][r]: length of token i's interval [i/t, (i+1)/t) inside band [r/grid, (r+1)/grid).
  std::vector<double> overlap(static_cast<std::size_t>(t * grid), 0.0);
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t r = 0; r < grid; ++r) {
      const double lo = std::max(static_cast<double>(i) / t, static_cast<double>(r) / grid);
      const double hi = std::min(static_cast<double>(i + 1) / t, static_cast<double>(r + 1) / grid);
      if (hi > lo) overlap[static_cast<std::size_t>(i * grid + r)] = hi - lo;
    }
  std::vector<double> out(static_cast<std::size_t>(grid * grid), 0.0);
  // Row weights: the share of band r that token i covers (sums to 1 over i); column weights:
  // the share of token j inside band c (sums to 1 over c), so each output row sums to 1.
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t r = 0; r < grid; ++r) {
      const double wr = overlap[static_cast<std::size_t>(i * grid + r)] * static_cast<double>(grid);
      if (wr == 0) continue;
      for (std::int64_t j = 0; j < t; ++j) {
        const double v = a[i * t + j] * wr;
        if (v == 0) continue;
        for (std::int64_t c = 0; c < grid; ++c) {
          const double wc = overlap[static_cast<std::size_t>(j * grid + c)] * static_cast<double>(t);
          if (wc > 0) out[static_cast<std::size_t>(r * grid + c)] += v * wc;
        }
      }
    }
  return out;
}

std::vector<double> feature_vector(const float* a, std::int64_t t, const TokenRoles& roles) {
  const auto f = as_array(map_features(a, t, roles));
  std::vector<double> x(f.begin(), f.end());
  x.push_back(1.0 / static_cast<double>(t));
  x.push_back(roles.pair ? 1.0 : 0.0);
  const auto g = downsample(a, t, kGrid);
  x.insert(x.end(), g.begin(), g.end());
  return x;
}

std::vector<std::string> feature_names() {
  std::vector<std::string> names(kMapFeatureNames.begin(), kMapFeatureNames.end());
  names.push_back("inverse_length");
  names.push_back("pair");
  for (std::int64_t r = 0; r < kGrid; ++r)
    for (std::int64_t c = 0; c < kGrid; ++c) names.push_back(fmt::format("grid_{}_{}", r, c));
  return names;
}

LearnedClassifier LearnedClassifier::train(const std::vector<std::vector<double>>& x,
                                           const std::vector<PatternClass>& y, const TrainOptions& opt) {
  if (x.empty() || x.size() != y.size())
    fail(ErrorKind::input, "training the pattern classifier needs labelled maps ({} maps, {} labels)", x.size(), y.size());
  const std::size_t n = x.size(), d = x.front().size();
  LearnedClassifier m;
  m.mean_.assign(d, 0.0);
  m.scale_.assign(d, 1.0);
  for (const auto& row : x) {
    if (row.size() != d) fail(ErrorKind::internal, "training maps have {} and {} features", d, row.size());
    for (std::size_t k = 0; k < d; ++k) m.mean_[k] += row[k] / static_cast<double>(n);
  }
  std::vector<double> var(d, 0.0);
  for (const auto& row : x)
    for (std::size_t k = 0; k < d; ++k) var[k] += (row[k] - m.mean_[k]) * (row[k] - m.mean_[k]) / static_cast<double>(n);
  for (std::size_t k = 0; k < d; ++k) m.scale_[k] = var[k] > 1e-12 ? std::sqrt(var[k]) : 1.0;
  std::vector<std::vector<double>> z(n, std::vector<double>(d));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < d; ++k) z[i][k] = (x[i][k] - m.mean_[k]) / m.scale_[k];

  // Full-batch gradient descent with a backtracking step (the loss is convex; the step adapts
  // to the features' scale, and the result is deterministic).
  std::vector<std::array<double, kClassCount>> w(d), gw(d), w_try(d);
  std::array<double, kClassCount> b{}, gb{}, b_try{};
  auto loss_grad = [&](const std::vector<std::array<double, kClassCount>>& W, const std::array<double, kClassCount>& B,
                       bool grad) {
    double loss = 0;
    if (grad) {
      for (auto& g : gw) g.fill(0.0);
      gb.fill(0.0);
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::array<double, kClassCount> logits = B;
      for (std::size_t k = 0; k < d; ++k)
        for (std::size_t c = 0; c < kClassCount; ++c) logits[c] += z[i][k] * W[k][c];
      const auto p = softmax(logits);
      const auto yi = static_cast<std::size_t>(y[i]);
      loss -= std::log(std::max(p[yi], 1e-300));
      if (!grad) continue;
      for (std::size_t c = 0; c < kClassCount; ++c) {
        const double e = p[c] - (c == yi ? 1.0 : 0.0);
        gb[c] += e;
        for (std::size_t k = 0; k < d; ++k) gw[k][c] += e * z[i][k];
      }
    }
    loss /= static_cast<double>(n);
    double reg = 0;
    for (std::size_t k = 0; k < d; ++k)
      for (std::size_t c = 0; c < kClassCount; ++c) {
        reg += W[k][c] * W[k][c];
        if (grad) gw[k][c] = gw[k][c] / static_cast<double>(n) + opt.l2 * W[k][c];
      }
    if (grad)
      for (auto& g : gb) g /= static_cast<double>(n);
    return loss + 0.5 * opt.l2 * reg;
  };
  double step = opt.learning_rate;
  double loss = loss_grad(w, b, true);
  for (int it = 0; it < opt.iterations; ++it) {
    double gnorm = 0;
    for (std::size_t k = 0; k < d; ++k)
      for (std::size_t c = 0; c < kClassCount; ++c) gnorm += gw[k][c] * gw[k][c];
    for (auto g : gb) gnorm += g * g;
    if (gnorm < 1e-16) break;
    while (true) {
      for (std::size_t k = 0; k < d; ++k)
        for (std::size_t c = 0; c < kClassCount; ++c) w_try[k][c] = w[k][c] - step * gw[k][c];
      for (std::size_t c = 0; c < kClassCount; ++c) b_try[c] = b[c] - step * gb[c];
      const double next = loss_grad(w_try, b_try, false);
      if (next <= loss - 0.5 * step * gnorm || step < 1e-10) break;
      step *= 0.5;
    }
    w.swap(w_try);
    b = b_try;
    loss = loss_grad(w, b, true);
    step *= 1.25;
  }
  m.weights_ = std::move(w);
  m.bias_ = b;
  return m;
}

std::array<double, kClassCount> LearnedClassifier::probabilities(const std::vector<double>& x) const {
  if (x.size() != mean_.size())
    fail(ErrorKind::input, "the pattern classifier takes {} features, got {}", mean_.size(), x.size());
  std::array<double, kClassCount> logits = bias_;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double zk = (x[k] - mean_[k]) / scale_[k];
    for (std::size_t c = 0; c < kClassCount; ++c) logits[c] += zk * weights_[k][c];
  }
  return softmax(logits);
}

PatternClass LearnedClassifier::predict(const std::vector<double>& x) const {
  const auto p = probabilities(x);
  return static_cast<PatternClass>(std::max_element(p.begin(), p.end()) - p.begin());
}

nlohmann::json LearnedClassifier::to_json() const {
  nlohmann::json w = nlohmann::json::array();
  for (const auto& row : weights_) w.push_back(row);
  return {{"format", "bertscope-pattern-classifier"},
          {"version", 1},
          {"model", "multinomial logistic regression on standardised features"},
          {"classes", kClassNames},
          {"features", feature_names()},
          {"mean", mean_},
          {"scale", scale_},
          {"weights", w},
          {"bias", bias_}};
}

LearnedClassifier LearnedClassifier::from_json(const nlohmann::json& j, const std::string& source) {
  auto bad = [&](const std::string& what) -> LearnedClassifier {
    fail(ErrorKind::format, "{}: not a bertscope pattern classifier: {}", source, what);
  };
  if (!j.is_object() || j.value("format", "") != "bertscope-pattern-classifier") return bad("\"format\" is missing");
  if (j.value("version", 0) != 1) return bad("unsupported \"version\"");
  const auto names = feature_names();
  try {
    if (j.at("classes").get<std::vector<std::string>>() != std::vector<std::string>(kClassNames.begin(), kClassNames.end()))
      return bad("\"classes\" differ from this version's five classes");
    if (j.at("features").get<std::vector<std::string>>() != names)
      return bad("\"features\" differ from this version's features");
    LearnedClassifier m;
    m.mean_ = j.at("mean").get<std::vector<double>>();
    m.scale_ = j.at("scale").get<std::vector<double>>();
    m.weights_ = j.at("weights").get<std::vector<std::array<double, kClassCount>>>();
    m.bias_ = j.at("bias").get<std::array<double, kClassCount>>();
    if (m.mean_.size() != names.size() || m.scale_.size() != names.size() || m.weights_.size() != names.size())
      return bad(fmt::format("expected {} values in \"mean\", \"scale\" and \"weights\"", names.size()));
    for (double s : m.scale_)
      if (!(s > 0)) return bad("\"scale\" has a value that is not positive");
    return m;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

void LearnedClassifier::save(const std::filesystem::path& path) const {
  io::write_file_atomic(path, to_json().dump(1) + "\n");
}

LearnedClassifier LearnedClassifier::load(const std::filesystem::path& path) {
  return from_json(io::read_json(path), path.string());
}

std::vector<MapLabel> read_map_labels(const std::filesystem::path& path) {
  const auto table = io::read_tsv(path);
  const std::vector<std::string> expected = {"input", "layer", "head", "label"};
  if (table.header != expected)
    fail(ErrorKind::format, "{}:1: expected the header \"input<TAB>layer<TAB>head<TAB>label\"", path.string());
  std::vector<MapLabel> out;
  std::map<std::tuple<std::size_t, std::int64_t, std::int64_t>, std::size_t> seen;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    MapLabel m;
    m.input = static_cast<std::size_t>(parse_index(table, r, 0, "input"));
    m.layer = parse_index(table, r, 1, "layer");
    m.head = parse_index(table, r, 2, "head");
    m.line = table.lines[r];
    const auto cls = parse_class(table.rows[r][3]);
    if (!cls)
      fail(ErrorKind::format, "{}:{}: label {} is not a pattern class ({})", table.source, m.line,
           io::quote(table.rows[r][3]), fmt::join(kClassNames, ", "));
    m.label = *cls;
    const auto key = std::make_tuple(m.input, m.layer, m.head);
    if (seen.count(key))
      fail(ErrorKind::format, "{}:{}: map (input {}, layer {}, head {}) is already labelled on line {}", table.source,
           m.line, m.input, m.layer, m.head, seen[key]);
    seen[key] = m.line;
    out.push_back(m);
  }
  if (out.empty()) fail(ErrorKind::format, "{}: no labelled maps", path.string());
  return out;
}

nlohmann::json Agreement::to_json() const {
  nlohmann::json c = nlohmann::json::object();
  for (std::size_t i = 0; i < kClassCount; ++i) {
    nlohmann::json row = nlohmann::json::object();
    for (std::size_t k = 0; k < kClassCount; ++k) row[std::string(kClassNames[k])] = confusion[i][k];
    c[std::string(kClassNames[i])] = row;
  }
  return {{"accuracy", accuracy}, {"macro_f1", macro_f1}, {"confusion", c}};
}

Agreement agreement(const std::vector<PatternClass>& labels, const std::vector<PatternClass>& predicted) {
  if (labels.size() != predicted.size() || labels.empty())
    fail(ErrorKind::internal, "agreement: {} labels, {} predictions", labels.size(), predicted.size());
  Agreement a;
  std::size_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    ++a.confusion[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted[i])];
    right += labels[i] == predicted[i];
  }
  a.accuracy = static_cast<double>(right) / static_cast<double>(labels.size());
  double f1_sum = 0;
  int classes = 0;
  for (std::size_t c = 0; c < kClassCount; ++c) {
    double tp = static_cast<double>(a.confusion[c][c]), fp = 0, fn = 0;
    for (std::size_t k = 0; k < kClassCount; ++k)
      if (k != c) {
        fp += static_cast<double>(a.confusion[k][c]);
        fn += static_cast<double>(a.confusion[c][k]);
      }
    if (tp + fp + fn == 0) continue;
    f1_sum += 2 * tp / (2 * tp + fp + fn);
    ++classes;
  }
  a.macro_f1 = f1_sum / classes;
  return a;
}

Agreement cross_validate(const std::vector<std::vector<double>>& x, const std::vector<PatternClass>& y, int folds,
                         const TrainOptions& options) {
  if (folds < 2 || static_cast<std::size_t>(folds) > x.size())
    fail(ErrorKind::input, "cross-validation needs 2 to {} folds, got {}", x.size(), folds);
  // Stratified: the j-th map of each class goes to fold j mod k, so every fold sees every class
  // whatever the order of the labels file.
  std::vector<int> fold(x.size());
  std::array<int, kClassCount> seen{};
  for (std::size_t i = 0; i < x.size(); ++i) fold[i] = seen[static_cast<std::size_t>(y[i])]++ % folds;
  std::vector<PatternClass> predicted(x.size());
  for (int f = 0; f < folds; ++f) {
    std::vector<std::vector<double>> tx;
    std::vector<PatternClass> ty;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (fold[i] != f) {
        tx.push_back(x[i]);
        ty.push_back(y[i]);
      }
    if (tx.empty()) continue;
    const auto m = LearnedClassifier::train(tx, ty, options);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (fold[i] == f) predicted[i] = m.predict(x[i]);
  }
  return agreement(y, predicted);
}

PatternCounts::PatternCounts(std::int64_t layers, std::int64_t heads)
    : layers_(layers), heads_(heads), counts_(static_cast<std::size_t>(layers * heads) * kClassCount, 0),
      feature_sums_(static_cast<std::size_t>(layers * heads) * kMapFeatureNames.size(), 0.0) {}

void PatternCounts::add(const core::Tensor& att, const TokenRoles& roles, const RuleThresholds& thresholds,
                        const LearnedClassifier* learned, const std::vector<std::string>* tokens) {
  constexpr std::int64_t kExampleTokens = 40;
  const auto t = roles.size();
  if (att.shape != core::Shape{layers_, heads_, t, t})
    fail(ErrorKind::internal, "pattern counts: attentions {} for {} x {} heads and {} tokens",
         core::shape_string(att.shape), layers_, heads_, t);
  for (std::int64_t lh = 0; lh < layers_ * heads_; ++lh) {
    const float* a = att.ptr() + lh * t * t;
    const auto f = map_features(a, t, roles);
    const auto cls = learned ? learned->predict(feature_vector(a, t, roles)) : classify_rules(f, thresholds);
    ++counts_[static_cast<std::size_t>(lh) * kClassCount + static_cast<std::size_t>(cls)];
    auto& example = examples_[static_cast<std::size_t>(cls)];
    if (example.input < 0 && tokens && static_cast<std::int64_t>(tokens->size()) == t && t <= kExampleTokens) {
      example = {inputs_, lh / heads_, lh % heads_, *tokens, std::vector<float>(a, a + t * t)};
    }
    const auto values = as_array(f);
    for (std::size_t k = 0; k < values.size(); ++k) feature_sums_[static_cast<std::size_t>(lh) * values.size() + k] += values[k];
  }
  ++inputs_;
}

std::int64_t PatternCounts::count(std::int64_t layer, std::int64_t head, PatternClass c) const {
  return counts_[static_cast<std::size_t>(layer * heads_ + head) * kClassCount + static_cast<std::size_t>(c)];
}

std::string PatternCounts::save() const {
  dist::Packer p;
  p.put(inputs_);
  p.put(counts_);
  p.put(feature_sums_);
  for (const auto& e : examples_) {
    p.put(e.input);
    p.put(e.layer);
    p.put(e.head);
    p.put(e.tokens);
    p.put(e.map);
  }
  return p.take();
}

void PatternCounts::merge(std::string_view saved, const std::string& what) {
  dist::Unpacker u(saved, what);
  const auto inputs = u.get<std::int64_t>();
  const auto counts = u.get_vector<std::int64_t>();
  const auto sums = u.get_vector<double>();
  if (counts.size() != counts_.size() || sums.size() != feature_sums_.size())
    fail(ErrorKind::format, "{} hold counts of another model", what);
  for (std::size_t i = 0; i < counts.size(); ++i) counts_[i] += counts[i];
  for (std::size_t i = 0; i < sums.size(); ++i) feature_sums_[i] += sums[i];
  for (auto& mine : examples_) {
    Example e;
    e.input = u.get<std::int64_t>();
    e.layer = u.get<std::int64_t>();
    e.head = u.get<std::int64_t>();
    e.tokens = u.get_strings();
    e.map = u.get_vector<float>();
    if (mine.input < 0 && e.input >= 0) {
      e.input += inputs_;
      mine = std::move(e);
    }
  }
  inputs_ += inputs;
  u.done();
}

nlohmann::json PatternCounts::to_json() const {
  const double n = static_cast<double>(std::max<std::int64_t>(inputs_, 1));
  nlohmann::json share = nlohmann::json::object(), class_share = nlohmann::json::object(),
                 features = nlohmann::json::object(), heads = nlohmann::json::array();
  for (std::size_t c = 0; c < kClassCount; ++c) {
    std::int64_t total = 0;
    nlohmann::json matrix = nlohmann::json::array();
    for (std::int64_t l = 0; l < layers_; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (std::int64_t h = 0; h < heads_; ++h) {
        const auto k = count(l, h, static_cast<PatternClass>(c));
        total += k;
        row.push_back(static_cast<double>(k) / n);
      }
      matrix.push_back(row);
    }
    share[std::string(kClassNames[c])] = static_cast<double>(total) / (n * static_cast<double>(layers_ * heads_));
    class_share[std::string(kClassNames[c])] = matrix;
  }
  for (std::size_t k = 0; k < kMapFeatureNames.size(); ++k) {
    nlohmann::json matrix = nlohmann::json::array();
    for (std::int64_t l = 0; l < layers_; ++l) {
      nlohmann::json row = nlohmann::json::array();
      for (std::int64_t h = 0; h < heads_; ++h)
        row.push_back(feature_sums_[static_cast<std::size_t>(l * heads_ + h) * kMapFeatureNames.size() + k] / n);
      matrix.push_back(row);
    }
    features[std::string(kMapFeatureNames[k])] = matrix;
  }
  for (std::int64_t l = 0; l < layers_; ++l)
    for (std::int64_t h = 0; h < heads_; ++h) {
      auto j = head_json(l, h);
      nlohmann::json counts = nlohmann::json::object();
      std::size_t best = 0;
      for (std::size_t c = 0; c < kClassCount; ++c) {
        counts[std::string(kClassNames[c])] = count(l, h, static_cast<PatternClass>(c));
        if (count(l, h, static_cast<PatternClass>(c)) > count(l, h, static_cast<PatternClass>(best))) best = c;
      }
      j["counts"] = counts;
      j["majority"] = kClassNames[best];
      heads.push_back(j);
    }
  // Per layer, the share of its maps of each type (Kovaleva et al. report the types per task; per
  // layer shows where in the network each type lives).
  nlohmann::json by_layer = nlohmann::json::array();
  for (std::int64_t l = 0; l < layers_; ++l) {
    nlohmann::json row = {{"layer", l}};
    for (std::size_t c = 0; c < kClassCount; ++c) {
      std::int64_t k = 0;
      for (std::int64_t h = 0; h < heads_; ++h) k += count(l, h, static_cast<PatternClass>(c));
      row[std::string(kClassNames[c])] = static_cast<double>(k) / (n * static_cast<double>(heads_));
    }
    by_layer.push_back(std::move(row));
  }
  nlohmann::json examples = nlohmann::json::array();
  for (std::size_t c = 0; c < kClassCount; ++c) {
    const auto& e = examples_[c];
    if (e.input < 0) continue;
    const auto t = e.tokens.size();
    nlohmann::json map = nlohmann::json::array();
    for (std::size_t i = 0; i < t; ++i) {
      nlohmann::json row = nlohmann::json::array();
      // Four decimals: far below what a colour shows, and a 40-token map stays ~10 KB.
      for (std::size_t j = 0; j < t; ++j) row.push_back(std::round(1e4 * e.map[i * t + j]) / 1e4);
      map.push_back(std::move(row));
    }
    auto j = head_json(e.layer, e.head);
    j.update({{"type", kClassNames[c]}, {"input", e.input}, {"tokens", e.tokens}, {"map", std::move(map)}});
    examples.push_back(std::move(j));
  }
  nlohmann::json types = nlohmann::json::array();  // the paper's order, which JSON objects lose
  for (const auto& c : kClassNames) types.push_back(std::string(c));
  return {{"types", types},
          {"inputs", inputs_},         {"maps", inputs_ * layers_ * heads_}, {"share", share},
          {"heads", heads},            {"class_share", class_share},         {"mean_features", features},
          {"by_layer", by_layer},      {"examples", examples}};
}

}  // namespace bertscope::analysis::patterns

namespace bertscope::analysis::patterns {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Kovaleva et al. Fig. 2: the share of attention maps of each pattern type, and per head.
std::vector<Figure> figures(const nlohmann::json& results) {
  std::vector<Figure> out;
  out.push_back({.id = "patterns.share",
                 .kind = "bars",
                 .title = "Share of attention maps of each pattern type",
                 .caption = "The fraction of all attention maps (inputs x heads) classified as each of Kovaleva et al.'s five "
                            "types. Kovaleva et al. (2019), Fig. 2 (docs/methods.md 2.2): the heterogeneous share ranges from "
                            "32% (MRPC) to 61% (QQP) in fine-tuned BERT-base.",
                 .rows = "share",
                 .order = "types",
                 .x = FigureField{"@key", "pattern type", Unit::label},
                 .x_axis = "pattern type",
                 .values = {FigureField{"", "share of maps", Unit::fraction}},
                 .axis = "share of attention maps (fraction)",
                 .range = std::array<double, 2>{0, 1}});
  Figure heads{.id = "patterns.heads",
               .kind = "heatmap",
               .title = "Share of each head's maps of one pattern type",
               .caption = "For each head, the fraction of inputs whose attention map is of the chosen type, on a fixed 0..1 "
                          "scale.",
               .axis = "share of inputs (fraction)",
               .range = std::array<double, 2>{0, 1}};
  if (results.contains("class_share"))
    for (const auto& c : kClassNames)  // the paper's order
      if (results["class_share"].contains(std::string(c)))
        heads.values.push_back({"class_share." + std::string(c), std::string(c), Unit::fraction});
  if (!heads.values.empty()) out.push_back(std::move(heads));
  if (results.contains("by_layer") && !results["by_layer"].empty()) {
    Figure layers{.id = "patterns.by_layer",
                  .kind = "lines",
                  .title = "Pattern types per layer",
                  .caption = "For each layer, the share of its attention maps (inputs x its heads) of each type. Kovaleva et "
                             "al. (2019) give the shares per task (Fig. 2); per layer shows where each type lives: vertical "
                             "maps (attention to [CLS]/[SEP]) are expected to grow in the upper layers.",
                  .rows = "by_layer",
                  .x = FigureField{"layer", "layer", Unit::index},
                  .x_axis = "layer",
                  .axis = "share of the layer's maps (fraction)",
                  .range = std::array<double, 2>{0, 1}};
    for (const auto& c : kClassNames) layers.values.push_back({std::string(c), std::string(c), Unit::fraction});
    out.push_back(std::move(layers));
  }
  if (results.contains("examples") && !results["examples"].empty())
    out.push_back({.id = "patterns.examples",
                   .kind = "map",
                   .title = "One attention map of each pattern type",
                   .caption = "For each type, the first map of an input of at most 40 tokens that the classifier put in it "
                              "(rows: queries, columns: the keys they attend to; 0..1). Kovaleva et al. (2019), Fig. 1: "
                              "vertical, diagonal, vertical + diagonal, block, heterogeneous.",
                   .rows = "examples",
                   .values = {FigureField{"map", "attention", Unit::proportion}},
                   .axis = "attention weight (proportion)",
                   .range = std::array<double, 2>{0, 1},
                   .options = {{"tokens", "tokens"},
                               {"name", {{{"path", "type"}}, {{"prefix", ": head "}, {"path", "label"}}, {{"prefix", ", input "}, {"path", "input"}}}}}});
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::patterns
