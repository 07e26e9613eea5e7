#include "analysis/rollout.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/blocks.hpp"
#include "analysis/surface.hpp"
#include "core/gemm.hpp"
#include "io/error.hpp"

namespace bertscope::analysis::rollout {

core::Tensor augmented_attention(const core::Tensor& att, double residual) {
  if (att.shape.size() != 4 || att.dim(2) != att.dim(3))
    fail(ErrorKind::input, "rollout: attentions have shape {}, expected [layers, heads, T, T]", core::shape_string(att.shape));
  if (!(residual >= 0.0 && residual <= 1.0)) fail(ErrorKind::input, "rollout: residual weight {} outside [0, 1]", residual);
  const auto L = att.dim(0), H = att.dim(1), T = att.dim(2);
  core::Tensor out({L, T, T});
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t i = 0; i < T; ++i) {
      std::vector<double> row(static_cast<std::size_t>(T), 0.0);
      for (std::int64_t h = 0; h < H; ++h) {
        const float* a = att.ptr() + ((l * H + h) * T + i) * T;
        for (std::int64_t j = 0; j < T; ++j) row[static_cast<std::size_t>(j)] += a[j];
      }
      double sum = 0;
      for (std::int64_t j = 0; j < T; ++j) {
        auto& v = row[static_cast<std::size_t>(j)];
        v = (1.0 - residual) * v / static_cast<double>(H) + (i == j ? residual : 0.0);
        sum += v;
      }
      if (!(sum > 0))
        fail(ErrorKind::input, "rollout: layer {} row {} has no attention mass (sum {}) and no residual", l, i, sum);
      float* o = out.ptr() + (l * T + i) * T;
      for (std::int64_t j = 0; j < T; ++j) o[j] = static_cast<float>(row[static_cast<std::size_t>(j)] / sum);
    }
  return out;
}

core::Tensor rollout(const core::Tensor& aug) {
  const auto L = aug.dim(0), T = aug.dim(1);
  core::Tensor out({L, T, T});
  if (L == 0) return out;
  std::copy(aug.ptr(), aug.ptr() + T * T, out.ptr());
  for (std::int64_t l = 1; l < L; ++l)
    core::gemm(false, false, T, T, T, 1.0f, aug.ptr() + l * T * T, T, out.ptr() + (l - 1) * T * T, T, 0.0f,
               out.ptr() + l * T * T, T);
  return out;
}

std::string input_text(const AnalysisInput& in, const model::Encoding& enc) {
  if (in.encoding || !in.words.empty()) return fmt::format("{}", fmt::join(enc.tokens, " "));
  return in.pair ? in.text + "\t" + *in.pair : in.text;
}

std::int64_t resolve_layer(std::int64_t layer, std::int64_t layers) {
  if (layer < 0) layer += layers;
  if (layer < 0 || layer >= layers) fail(ErrorKind::input, "layer {} is outside the model's 0..{}", layer, layers - 1);
  return layer;
}

std::vector<std::int64_t> resolve_positions(const Options& o, std::int64_t tokens, std::size_t input) {
  std::vector<std::int64_t> out;
  if (o.all_positions) {
    for (std::int64_t p = 0; p < tokens; ++p) out.push_back(p);
    return out;
  }
  for (auto p : o.positions) {
    const auto q = p < 0 ? p + tokens : p;
    if (q < 0 || q >= tokens)
      fail(ErrorKind::input, "input {}: output position {} is outside its {} tokens", input + 1, p, tokens);
    out.push_back(q);
  }
  return out;
}

// "0", "0,5,-1" or "all".
void parse_positions(const std::string& text, Options& o) {
  if (text == "all") {
    o.all_positions = true;
    return;
  }
  o.positions.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      std::size_t used = 0;
      o.positions.push_back(std::stol(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      fail(ErrorKind::input, "--positions \"{}\": expected all or comma-separated token positions (0 = [CLS], -1 = last)", text);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

std::vector<double> head_mean_row(const core::Tensor& attentions, std::int64_t layer, std::int64_t position) {
  const auto H = attentions.dim(1), T = attentions.dim(2);
  std::vector<double> row(static_cast<std::size_t>(T), 0.0);
  for (std::int64_t h = 0; h < H; ++h) {
    const float* a = attentions.ptr() + ((layer * H + h) * T + position) * T;
    for (std::int64_t j = 0; j < T; ++j) row[static_cast<std::size_t>(j)] += a[j] / static_cast<double>(H);
  }
  return row;
}

namespace {

// Row q of R_layer without forming the matrices: e_q^T Â_layer Â_{layer-1} ... Â_0, O(layer T^2).
std::vector<double> rollout_row(const core::Tensor& aug, std::int64_t layer, std::int64_t q) {
  const auto T = aug.dim(1);
  std::vector<double> v(static_cast<std::size_t>(T), 0.0), next(static_cast<std::size_t>(T));
  v[static_cast<std::size_t>(q)] = 1.0;
  for (std::int64_t l = layer; l >= 0; --l) {
    std::fill(next.begin(), next.end(), 0.0);
    for (std::int64_t i = 0; i < T; ++i) {
      const double w = v[static_cast<std::size_t>(i)];
      if (w == 0.0) continue;
      const float* row = aug.ptr() + (l * T + i) * T;
      for (std::int64_t j = 0; j < T; ++j) next[static_cast<std::size_t>(j)] += w * row[j];
    }
    std::swap(v, next);
  }
  return v;
}

}  // namespace

void pack(dist::Packer& p, const InputInfo& info) {
  p.put<std::uint64_t>(info.index);
  p.put(info.tokens);
  p.put(std::string_view(info.text));
  p.put(info.matrix.shape);
  p.put(info.matrix.data);
}

InputInfo unpack_input(dist::Unpacker& u) {
  InputInfo info;
  info.index = u.get<std::uint64_t>();
  info.tokens = u.get_strings();
  info.text = u.get_string();
  info.matrix.shape = u.get_vector<std::int64_t>();
  info.matrix.data = u.get_vector<float, core::FloatBuffer::allocator_type>();
  return info;
}

Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& so, const Options& o,
           const std::function<std::string(std::size_t)>& data_where, dist::Runner* runner) {
  Result r;
  r.layers = source.layers();
  r.heads = source.heads();
  r.layer = resolve_layer(o.layer, r.layers);
  r.residual = o.residual;
  // A block's part: its inputs and entries, and its largest row-sum error.
  const auto block = [&](const ExampleVisitor& visit) {
    Result part;
    visit([&](AttentionExample& ex) {
      surface::check_trace_text(source, ex, inputs[ex.index], data_where);
      const auto T = ex.attentions.dim(2);
      const auto aug = augmented_attention(ex.attentions, o.residual);
      InputInfo info;
      info.index = ex.index;
      info.tokens = ex.encoding.tokens;
      info.text = input_text(inputs[ex.index], ex.encoding);
      const auto positions = resolve_positions(o, T, ex.index);
      if (o.matrices || o.all_positions) {
        const auto all = rollout(aug);
        info.matrix = core::Tensor({T, T});
        std::copy(all.ptr() + r.layer * T * T, all.ptr() + (r.layer + 1) * T * T, info.matrix.ptr());
      }
      for (auto q : positions) {
        Entry e;
        e.input = ex.index;
        e.position = q;
        e.rollout = rollout_row(aug, r.layer, q);
        double sum = 0;
        for (auto v : e.rollout) sum += v;
        part.max_row_sum_error = std::max(part.max_row_sum_error, std::abs(sum - 1.0));
        e.attention = head_mean_row(ex.attentions, r.layer, q);
        part.entries.push_back(std::move(e));
      }
      if (!info.matrix.data.empty())
        for (std::int64_t i = 0; i < T; ++i) {
          double sum = 0;
          for (std::int64_t j = 0; j < T; ++j) sum += info.matrix.data[static_cast<std::size_t>(i * T + j)];
          part.max_row_sum_error = std::max(part.max_row_sum_error, std::abs(sum - 1.0));
        }
      part.inputs.push_back(std::move(info));
    });
    dist::Packer p;
    p.put<std::uint64_t>(part.inputs.size());
    for (const auto& info : part.inputs) pack(p, info);
    p.put<std::uint64_t>(part.entries.size());
    for (const auto& e : part.entries) {
      p.put<std::uint64_t>(e.input);
      p.put(e.position);
      p.put(e.rollout);
      p.put(e.attention);
    }
    p.put(part.max_row_sum_error);
    return p.take();
  };
  r.skipped_too_long = run_blocks(source, inputs, so, runner, "rollout", block, [&](std::size_t b, std::string_view bytes) {
    dist::Unpacker u(bytes, fmt::format("rollout: the stored results of block {}", b));
    for (auto n = u.get<std::uint64_t>(); n > 0; --n) r.inputs.push_back(unpack_input(u));
    for (auto n = u.get<std::uint64_t>(); n > 0; --n) {
      Entry e;
      e.input = u.get<std::uint64_t>();
      e.position = u.get<std::int64_t>();
      e.rollout = u.get_vector<double>();
      e.attention = u.get_vector<double>();
      r.entries.push_back(std::move(e));
    }
    r.max_row_sum_error = std::max(r.max_row_sum_error, u.get<double>());
    u.done();
  });
  return r;
}

namespace {

nlohmann::json matrix_json(const core::Tensor& m) {
  const auto T = m.dim(0);
  nlohmann::json rows = nlohmann::json::array();
  for (std::int64_t i = 0; i < T; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (std::int64_t j = 0; j < T; ++j) row.push_back(m.data[static_cast<std::size_t>(i * T + j)]);
    rows.push_back(std::move(row));
  }
  return rows;
}

const InputInfo& info_of(const Result& r, std::size_t input) {
  for (const auto& in : r.inputs)
    if (in.index == input) return in;
  fail(ErrorKind::internal, "rollout: no input {}", input);
}

}  // namespace

nlohmann::json to_json(const Result& r) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : r.entries) {
    const auto& info = info_of(r, e.input);
    entries.push_back({{"input", e.input},
                       {"text", info.text},
                       {"position", e.position},
                       {"position_token", info.tokens.at(static_cast<std::size_t>(e.position))},
                       {"tokens", info.tokens},
                       {"rollout", e.rollout},
                       {"attention", e.attention}});
  }
  nlohmann::json j = {{"layers", r.layers},
                      {"heads", r.heads},
                      {"layer", r.layer},
                      {"residual", r.residual},
                      {"examples", entries},
                      {"inputs", r.inputs.size()},
                      {"skipped_too_long", r.skipped_too_long},
                      {"max_row_sum_error", r.max_row_sum_error}};
  nlohmann::json matrices = nlohmann::json::array();
  for (const auto& in : r.inputs)
    if (!in.matrix.data.empty()) matrices.push_back({{"input", in.index}, {"tokens", in.tokens}, {"rollout", matrix_json(in.matrix)}});
  if (!matrices.empty()) j["matrices"] = matrices;
  return j;
}

std::string table(const Result& r) {
  std::string out = fmt::format("attention rollout after layer {} (residual {}), {} inputs, {} output positions\n",
                                r.layer + 1, r.residual, r.inputs.size(), r.entries.size());
  const std::size_t shown = std::min<std::size_t>(r.entries.size(), 5);
  for (std::size_t k = 0; k < shown; ++k) {
    const auto& e = r.entries[k];
    const auto& info = info_of(r, e.input);
    std::vector<std::size_t> order(e.rollout.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return e.rollout[a] > e.rollout[b]; });
    out += fmt::format("input {} position {} ({}):", e.input + 1, e.position, info.tokens.at(static_cast<std::size_t>(e.position)));
    for (std::size_t i = 0; i < std::min<std::size_t>(order.size(), 6); ++i)
      out += fmt::format(" {} {:.3f}", info.tokens[order[i]], e.rollout[order[i]]);
    out += "\n";
  }
  if (r.entries.size() > shown) out += fmt::format("... {} more in the result document\n", r.entries.size() - shown);
  out += fmt::format("max |row sum - 1| = {:.2e}\n", r.max_row_sum_error);
  if (r.skipped_too_long) out += fmt::format("{} inputs skipped as too long\n", r.skipped_too_long);
  return out;
}

std::string positions_text(const Options& options) {
  if (options.all_positions) return "all";
  std::string out;
  for (auto p : options.positions) {
    if (!out.empty()) out += ',';
    out += std::to_string(p);
  }
  return out;
}

nlohmann::json params_json(const Options& options, const Result& result) {
  return {{"layer", result.layer},
          {"positions", positions_text(options)},
          {"residual", options.residual},
          {"definition", "A_l = rownorm((1 - r) mean_h A^{l,h} + r I); R_0 = A_0, R_l = A_l R_{l-1}"}};
}

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// The picker's name of an output position: its input's text, the position and its token.
nlohmann::json position_name() {
  return {{{"path", "text"}}, {{"prefix", " | output position "}, {"path", "position"}}, {{"prefix", " "}, {"path", "position_token"}}};
}

std::vector<Figure> figures(const nlohmann::json& results) {
  if (!results.contains("examples") || results["examples"].empty()) return {};
  const auto layer = results.value("layer", std::int64_t{0}) + 1;
  return {Figure{
      .id = "rollout.tokens",
      .kind = "tokens",
      .title = fmt::format("Rollout beside raw attention, one output position after layer {}", layer),
      .caption = fmt::format(
          "For the output position named in the picker (outlined), each input token shaded by its share: rollout "
          "(Abnar & Zuidema 2020: the head-averaged attention with the residual, rownorm(0.5 W + 0.5 I), multiplied "
          "from layer 1 up to layer {}) and the raw head-averaged attention of layer {} alone. Both rows sum to 1 and "
          "share one scale from 0. docs/methods.md 4.1: rollout follows blank-out importance better than raw "
          "attention above the first layer.",
          layer, layer),
      .rows = "examples",
      .values = {{"rollout", "rollout", Unit::proportion}, {"attention", "raw attention (head mean)", Unit::proportion}},
      .axis = "share of the input token (proportion)",
      .options = {{"tokens", "tokens"}, {"highlight", "position"}, {"stack", true}, {"name", position_name()}}}};
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::rollout
