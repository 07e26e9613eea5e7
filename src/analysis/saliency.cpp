#include "analysis/saliency.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dist/pack.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"

namespace bertscope::analysis::saliency {

std::string_view baseline_name(Baseline b) {
  switch (b) {
    case Baseline::zero: return "zero";
    case Baseline::pad: return "pad";
    case Baseline::mask: return "mask";
  }
  return "?";
}

Baseline parse_baseline(std::string_view name) {
  if (name == "zero") return Baseline::zero;
  if (name == "pad") return Baseline::pad;
  if (name == "mask") return Baseline::mask;
  fail(ErrorKind::input, "unknown baseline \"{}\"; expected zero, pad or mask", name);
}

std::string_view rule_name(Rule r) {
  switch (r) {
    case Rule::trapezoid: return "trapezoid";
    case Rule::midpoint: return "midpoint";
    case Rule::uniform: return "uniform";
  }
  return "?";
}

Rule parse_rule(std::string_view name) {
  if (name == "trapezoid") return Rule::trapezoid;
  if (name == "midpoint") return Rule::midpoint;
  if (name == "uniform") return Rule::uniform;
  fail(ErrorKind::input, "unknown quadrature rule \"{}\"; expected trapezoid, midpoint or uniform", name);
}

namespace {

bool is_mlm(const Target& t) { return t.kind == Target::Kind::mlm_logit; }

// Runs the forward pass options for the target: the MLM head only at the target position.
model::TapeOptions tape_options(const Target& t, std::size_t batch) {
  model::TapeOptions o;
  if (is_mlm(t)) {
    o.mlm_logits = true;
    o.mlm_positions.assign(batch, {static_cast<std::int32_t>(t.position)});
  } else {
    o.classifier_logits = true;
  }
  return o;
}

const core::Tensor& logits_of(const model::ForwardResult& r, const Target& t) {
  return is_mlm(t) ? r.mlm_logits : r.classifier_logits;
}

double value_of(const core::Tensor& logits, const Target& t) {
  double f = logits.data.at(static_cast<std::size_t>(t.index));
  if (t.minus) f -= logits.data.at(static_cast<std::size_t>(*t.minus));
  return f;
}

core::Tensor seed_of(const core::Tensor& logits, const Target& t) {
  core::Tensor g(logits.shape);
  g.data[static_cast<std::size_t>(t.index)] += 1.0f;
  if (t.minus) g.data[static_cast<std::size_t>(*t.minus)] -= 1.0f;
  return g;
}

void check_model(const model::Model& m, const Target& t) {
  const auto& p = m.params();
  if (is_mlm(t) && !p.has_mlm_head())
    fail(ErrorKind::model, "{}: the model has no MLM head (cls.predictions.*) for an MLM target", m.dir().string());
  if (!is_mlm(t) && (!p.has_classifier() || m.config().head_kind() != model::HeadKind::sequence_classification))
    fail(ErrorKind::model, "{}: the model is not a sequence classifier; give an MLM target (--position/--token) instead",
         m.dir().string());
}

// The target with its -1 fields resolved on the input.
Target resolve(const model::Model& m, const model::ModelInput& in, const Target& t) {
  Target r = t;
  const auto T = static_cast<std::int64_t>(in.ids.size());
  if (is_mlm(r)) {
    if (r.position < 0) {
      const auto mask = m.tokenizer().mask_id();
      const auto it = std::find(in.ids.begin(), in.ids.end(), mask);
      if (it == in.ids.end()) fail(ErrorKind::input, "no mask token ({}) to explain; give a position", m.tokenizer().token(mask));
      r.position = it - in.ids.begin();
    }
    if (r.position >= T) fail(ErrorKind::input, "position {} is outside the input's {} tokens", r.position, T);
  }
  const auto width = is_mlm(r) ? m.config().vocab_size : m.config().num_labels;
  auto check = [&](std::int32_t v, const char* what) {
    if (v < 0 || v >= width) fail(ErrorKind::input, "{} {} is outside the model's {} outputs", what, v, width);
  };
  if (r.minus) check(*r.minus, "the subtracted output");
  if (r.index < 0) {
    model::RunOptions run;
    model::TapeOptions topt = tape_options(r, 1);
    model::ForwardTape tape;
    const auto res = model::forward_with_tape(m, std::span(&in, 1), run, topt, tape);
    const auto& lg = logits_of(res[0], r);
    r.index = static_cast<std::int32_t>(std::max_element(lg.data.begin(), lg.data.end()) - lg.data.begin());
  }
  check(r.index, is_mlm(r) ? "token id" : "class");
  return r;
}

// The prediction at the input from its logits (a class, or the token at the MLM position).
void predict(const model::Model& m, const core::Tensor& logits, const Target& t, Attribution& a) {
  const auto& v = logits.data;
  const auto best = std::max_element(v.begin(), v.end());
  a.predicted = static_cast<std::int32_t>(best - v.begin());
  double sum = 0;
  for (const auto x : v) sum += std::exp(static_cast<double>(x) - *best);
  a.predicted_probability = 1.0 / sum;
  if (is_mlm(t)) a.predicted_name = m.has_tokenizer() ? m.tokenizer().token(a.predicted) : std::to_string(a.predicted);
  else a.predicted_name = m.config().label(a.predicted);
}

std::string describe(const model::Model& m, const Target& t) {
  auto name = [&](std::int32_t v) {
    if (is_mlm(t)) return m.has_tokenizer() ? m.tokenizer().token(v) : std::to_string(v);
    return m.config().label(v);
  };
  std::string s = is_mlm(t) ? fmt::format("mlm[{}] {}", t.position, name(t.index)) : fmt::format("class {}", name(t.index));
  if (t.minus) s += fmt::format(" - {}", name(*t.minus));
  return s;
}

}  // namespace

core::Tensor input_embeddings(const model::Model& m, const model::ModelInput& in) {
  const auto hidden = m.config().embedding_dim();
  const auto T = static_cast<std::int64_t>(in.ids.size());
  core::Tensor x = core::Tensor::uninitialized({T, hidden});
  const auto& emb = m.params().word_emb;
  for (std::int64_t i = 0; i < T; ++i) {
    const auto id = in.ids[static_cast<std::size_t>(i)];
    if (id < 0 || id >= m.config().vocab_size) fail(ErrorKind::input, "token id {} outside the vocabulary", id);
    std::memcpy(x.ptr() + i * hidden, emb.data + static_cast<std::int64_t>(id) * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
  }
  return x;
}

core::Tensor baseline_embeddings(const model::Model& m, const model::ModelInput& in, Baseline b, bool keep_special) {
  const auto hidden = m.config().embedding_dim();
  const auto T = static_cast<std::int64_t>(in.ids.size());
  core::Tensor base({T, hidden});
  const auto& emb = m.params().word_emb;
  std::int32_t fill = -1;
  if (b != Baseline::zero) fill = b == Baseline::pad ? m.tokenizer().pad_id() : m.tokenizer().mask_id();
  const std::int32_t cls = keep_special ? m.tokenizer().cls_id() : -1, sep = keep_special ? m.tokenizer().sep_id() : -1;
  for (std::int64_t i = 0; i < T; ++i) {
    const auto id = in.ids[static_cast<std::size_t>(i)];
    const auto use = keep_special && (id == cls || id == sep) ? id : fill;
    if (use >= 0)
      std::memcpy(base.ptr() + i * hidden, emb.data + static_cast<std::int64_t>(use) * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
  }
  return base;
}

double output_at(const model::Model& m, const model::ModelInput& in, const core::Tensor& emb, const Target& t) {
  model::ModelInput x = in;
  x.word_embeddings = emb;
  model::RunOptions run;
  model::ForwardTape tape;
  const auto res = model::forward_with_tape(m, std::span(&x, 1), run, tape_options(t, 1), tape);
  return value_of(logits_of(res[0], t), t);
}

Attribution attribute(const model::Model& m, const model::ModelInput& in, const Options& o, const model::Encoding* enc) {
  check_model(m, o.target);
  if (o.integrated && o.steps < 1) fail(ErrorKind::input, "integrated gradients need at least 1 step, got {}", o.steps);
  const auto t = resolve(m, in, o.target);
  const auto T = static_cast<std::int64_t>(in.ids.size()), hidden = m.config().embedding_dim();
  Attribution a;
  a.position = is_mlm(t) ? t.position : -1;
  a.index = t.index;
  a.minus = t.minus;
  a.target = describe(m, t);
  if (enc) a.tokens = enc->tokens;
  else
    for (auto id : in.ids) a.tokens.push_back(m.has_tokenizer() ? m.tokenizer().token(id) : std::to_string(id));

  const auto x = input_embeddings(m, in);
  const auto b = baseline_embeddings(m, in, o.baseline, o.keep_special);
  // Path points (alpha, quadrature weight); alpha = 1 also gives gradient x input and F(x),
  // alpha = 0 gives F(b).
  std::vector<std::pair<double, double>> points;
  const auto m_steps = o.steps;
  if (o.integrated) {
    const double step = 1.0 / static_cast<double>(m_steps);
    switch (o.rule) {
      case Rule::trapezoid:
        for (std::int64_t k = 0; k <= m_steps; ++k)
          points.push_back({static_cast<double>(k) * step, (k == 0 || k == m_steps) ? 0.5 * step : step});
        break;
      case Rule::midpoint:
        for (std::int64_t k = 0; k < m_steps; ++k) points.push_back({(static_cast<double>(k) + 0.5) * step, step});
        points.push_back({0.0, 0.0});
        points.push_back({1.0, 0.0});
        break;
      case Rule::uniform:
        for (std::int64_t k = 0; k <= m_steps; ++k)
          points.push_back({static_cast<double>(k) * step, 1.0 / static_cast<double>(m_steps + 1)});
        break;
    }
  } else {
    points.push_back({1.0, 0.0});
    points.push_back({0.0, 0.0});
  }
  std::vector<double> avg(static_cast<std::size_t>(T * hidden), 0.0);
  std::vector<float> grad_at_x;
  const auto batch = std::max<std::size_t>(o.batch_size, 1);
  for (std::size_t first = 0; first < points.size(); first += batch) {
    const auto last = std::min(points.size(), first + batch);
    std::vector<model::ModelInput> inputs(last - first, in);
    for (auto k = first; k < last; ++k) {
      const auto alpha = static_cast<float>(points[k].first);
      auto& e = inputs[k - first].word_embeddings;
      e = core::Tensor::uninitialized({T, hidden});
      for (std::int64_t i = 0; i < T * hidden; ++i) {
        const auto bi = b.data[static_cast<std::size_t>(i)];
        e.data[static_cast<std::size_t>(i)] = points[k].first == 1.0 ? x.data[static_cast<std::size_t>(i)]
                                                                     : bi + alpha * (x.data[static_cast<std::size_t>(i)] - bi);
      }
    }
    model::ForwardTape tape;
    model::RunOptions run;
    const auto res = model::forward_with_tape(m, inputs, run, tape_options(t, inputs.size()), tape);
    std::vector<model::OutputGrad> seeds(inputs.size());
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto& lg = logits_of(res[k], t);
      const double f = value_of(lg, t);
      const double alpha = points[first + k].first;
      if (alpha == 1.0) {
        a.f_input = f;
        predict(m, lg, t, a);
      }
      if (alpha == 0.0) a.f_baseline = f;
      (is_mlm(t) ? seeds[k].mlm_logits : seeds[k].classifier_logits) = seed_of(lg, t);
    }
    model::GradRequest req;
    req.word_embeddings = true;
    const auto back = model::backward(m, tape, seeds, req);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto& g = back.word_embedding_grads[k];
      const double w = points[first + k].second;
      if (w != 0.0)
        for (std::size_t i = 0; i < avg.size(); ++i) avg[i] += w * g.data[i];
      if (points[first + k].first == 1.0 && grad_at_x.empty()) grad_at_x.assign(g.data.begin(), g.data.end());
    }
  }
  a.path_points = static_cast<std::int64_t>(points.size());
  a.grad_x_input.assign(static_cast<std::size_t>(T), 0.0);
  a.grad_norm.assign(static_cast<std::size_t>(T), 0.0);
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t d = 0; d < hidden; ++d) {
      const auto k = static_cast<std::size_t>(i * hidden + d);
      a.grad_x_input[static_cast<std::size_t>(i)] += static_cast<double>(x.data[k]) * grad_at_x[k];
      a.grad_norm[static_cast<std::size_t>(i)] += static_cast<double>(grad_at_x[k]) * grad_at_x[k];
    }
  for (auto& v : a.grad_norm) v = std::sqrt(v);
  if (o.integrated) {
    a.integrated.assign(static_cast<std::size_t>(T), 0.0);
    for (std::int64_t i = 0; i < T; ++i)
      for (std::int64_t d = 0; d < hidden; ++d) {
        const auto k = static_cast<std::size_t>(i * hidden + d);
        a.integrated[static_cast<std::size_t>(i)] += (static_cast<double>(x.data[k]) - b.data[k]) * avg[k];
      }
    for (auto v : a.integrated) a.integrated_sum += v;
    const double delta = a.f_input - a.f_baseline;
    a.completeness_abs_error = std::abs(a.integrated_sum - delta);
    a.completeness_error = a.completeness_abs_error / std::max(std::abs(delta), 1e-12);
  }
  return a;
}

namespace {

// An attribution as bytes and back: how an example's result travels between processes.
std::string pack(const Attribution& a) {
  dist::Packer p;
  p.put<std::uint64_t>(a.input);
  p.put(a.tokens);
  p.put(std::string_view(a.text));
  p.put(a.position);
  p.put(a.index);
  p.put<std::int8_t>(a.minus.has_value());
  p.put(a.minus.value_or(0));
  p.put(std::string_view(a.target));
  p.put(a.predicted);
  p.put(std::string_view(a.predicted_name));
  p.put(a.predicted_probability);
  p.put<std::int8_t>(a.gold.has_value());
  p.put(std::string_view(a.gold.value_or("")));
  p.put(a.gold_class);
  p.put(a.f_input);
  p.put(a.f_baseline);
  p.put(a.grad_x_input);
  p.put(a.grad_norm);
  p.put(a.integrated);
  p.put(a.integrated_sum);
  p.put(a.completeness_error);
  p.put(a.completeness_abs_error);
  p.put(a.path_points);
  return p.take();
}

Attribution unpack(std::string_view bytes, std::size_t i) {
  dist::Unpacker u(bytes, fmt::format("saliency: the stored result of input {}", i + 1));
  Attribution a;
  a.input = u.get<std::uint64_t>();
  a.tokens = u.get_strings();
  a.text = u.get_string();
  a.position = u.get<std::int64_t>();
  a.index = u.get<std::int32_t>();
  const bool minus = u.get<std::int8_t>() != 0;
  const auto minus_index = u.get<std::int32_t>();
  if (minus) a.minus = minus_index;
  a.target = u.get_string();
  a.predicted = u.get<std::int32_t>();
  a.predicted_name = u.get_string();
  a.predicted_probability = u.get<double>();
  const bool gold = u.get<std::int8_t>() != 0;
  auto gold_name = u.get_string();
  if (gold) a.gold = std::move(gold_name);
  a.gold_class = u.get<std::int64_t>();
  a.f_input = u.get<double>();
  a.f_baseline = u.get<double>();
  a.grad_x_input = u.get_vector<double>();
  a.grad_norm = u.get_vector<double>();
  a.integrated = u.get_vector<double>();
  a.integrated_sum = u.get<double>();
  a.completeness_error = u.get<double>();
  a.completeness_abs_error = u.get<double>();
  a.path_points = u.get<std::int64_t>();
  u.done();
  return a;
}

}  // namespace

Result run(const model::Model& m, const std::vector<AnalysisInput>& inputs, const Options& o, bool truncate,
           const std::function<std::string(std::size_t)>& where,
           const std::function<void(std::size_t, std::size_t)>& progress, dist::Runner* runner) {
  check_model(m, o.target);
  const auto start = std::chrono::steady_clock::now();
  Result r;
  r.options = o;
  const auto& tok = m.tokenizer();
  const model::EncodeOptions enc_opt{m.max_length(), truncate};
  // One item per input, spread over the run's processes (dist::Runner).
  dist::Runner one;
  auto& items = runner ? *runner : one;
  std::size_t done = 0;
  const auto stored = items.map(
      "inputs", inputs.size(), {.max_chunk = 4, .costliest_last = false},
      [&](std::size_t i) {
        const auto& in = inputs[i];
        const auto here = [&] { return where ? where(i) : fmt::format("input {}", i + 1); };
        try {
          model::Encoding enc;
          if (in.encoding) enc = *in.encoding;
          else if (!in.words.empty()) enc = tok.encode_words(in.words, enc_opt);
          else enc = tok.encode(in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt, enc_opt);
          auto a = attribute(m, model::ModelInput::from_encoding(enc), o, &enc);
          a.input = i;
          a.text = in.encoding ? fmt::format("{}", fmt::join(enc.tokens, " ")) : (in.pair ? in.text + "\t" + *in.pair : in.text);
          return pack(a);
        } catch (const Error& err) {
          throw Error(err.kind(), fmt::format("{}: {}", here(), err.what()));
        }
      },
      [&](std::size_t k) {
        done += k;
        if (progress) progress(done, inputs.size());
      });
  for (std::size_t i = 0; i < stored.size(); ++i) r.examples.push_back(unpack(stored[i], i));
  if (o.integrated && !r.examples.empty()) {
    for (const auto& a : r.examples) {
      r.mean_completeness_error += a.completeness_error / static_cast<double>(r.examples.size());
      r.max_completeness_error = std::max(r.max_completeness_error, a.completeness_error);
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json to_json(const Result& r) {
  nlohmann::json examples = nlohmann::json::array();
  for (const auto& a : r.examples) {
    nlohmann::json e = {{"input", a.input},
                        {"text", a.text},
                        {"name", a.target},
                        {"tokens", a.tokens},
                        {"target_index", a.index},
                        {"f_input", a.f_input},
                        {"f_baseline", a.f_baseline},
                        {"grad_x_input", a.grad_x_input},
                        {"grad_norm", a.grad_norm}};
    e["predicted"] = a.predicted;
    e["predicted_name"] = a.predicted_name;
    e["predicted_probability"] = a.predicted_probability;
    if (a.gold) e["gold"] = *a.gold;
    if (a.gold_class >= 0) e["gold_class"] = a.gold_class;
    if (a.position >= 0) e["position"] = a.position;
    if (a.minus) e["minus_index"] = *a.minus;
    if (!a.integrated.empty()) {
      e["integrated_gradients"] = a.integrated;
      e["integrated_sum"] = a.integrated_sum;
      e["completeness_error"] = a.completeness_error;
      e["completeness_abs_error"] = a.completeness_abs_error;
      e["path_points"] = a.path_points;
    }
    examples.push_back(e);
  }
  nlohmann::json j = {{"examples", examples}, {"seconds", r.seconds}};
  if (r.options.integrated)
    j["completeness"] = {{"mean_relative_error", r.mean_completeness_error},
                         {"max_relative_error", r.max_completeness_error},
                         {"steps", r.options.steps},
                         {"rule", rule_name(r.options.rule)}};
  return j;
}

std::string table(const Result& r) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(r.examples.size(), 5);
  for (std::size_t k = 0; k < shown; ++k) {
    const auto& a = r.examples[k];
    out += fmt::format("input {}: {} = {:.4f} (baseline {:.4f})\n", a.input + 1, a.target, a.f_input, a.f_baseline);
    const auto& scores = a.integrated.empty() ? a.grad_x_input : a.integrated;
    out += a.integrated.empty() ? "  gradient x input:" : "  integrated gradients:";
    for (std::size_t i = 0; i < a.tokens.size(); ++i) out += fmt::format(" {} {:+.3f}", a.tokens[i], scores[i]);
    out += "\n";
    if (!a.integrated.empty())
      out += fmt::format("  sum {:.4f} vs F(x) - F(b) = {:.4f}: completeness error {:.2f}%\n", a.integrated_sum,
                         a.f_input - a.f_baseline, 100.0 * a.completeness_error);
  }
  if (r.examples.size() > shown) out += fmt::format("... {} more in the result document\n", r.examples.size() - shown);
  if (r.options.integrated)
    out += fmt::format("completeness error over {} inputs: mean {:.3f}%, max {:.3f}% ({} steps, {} rule, {} baseline)\n",
                       r.examples.size(), 100.0 * r.mean_completeness_error, 100.0 * r.max_completeness_error,
                       r.options.steps, rule_name(r.options.rule), baseline_name(r.options.baseline));
  out += fmt::format("{:.1f} s\n", r.seconds);
  return out;
}

namespace {

// A class given as its number or its name in the config's id2label ("pred": the prediction).
std::int32_t parse_class(const model::Model& m, const std::string& s) {
  if (s.empty() || s == "pred") return -1;
  const auto K = m.config().num_labels;
  for (std::int64_t k = 0; k < K; ++k)
    if (m.config().label(k) == s) return static_cast<std::int32_t>(k);
  try {
    std::size_t used = 0;
    const auto v = std::stol(s, &used);
    if (used == s.size() && v >= 0 && v < K) return static_cast<std::int32_t>(v);
  } catch (const std::exception&) {
  }
  std::string names;
  for (std::int64_t k = 0; k < K; ++k) names += (k ? ", " : "") + m.config().label(k);
  fail(ErrorKind::input, "class \"{}\" is neither a class number below {} nor one of the model's labels ({})", s, K, names);
}

// A vocabulary token ("pred": the prediction).
std::int32_t parse_token(const model::Model& m, const std::string& s) {
  if (s.empty() || s == "pred") return -1;
  if (const auto id = m.tokenizer().find(s)) return *id;
  fail(ErrorKind::input, "token \"{}\" is not in the model's vocabulary (give a word piece, e.g. \"is\" or \"##ing\")", s);
}

}  // namespace

Target resolve_target(const model::Model& m, const TargetSpec& spec) {
  Target t;
  const bool mlm = !spec.position.empty() || !spec.token.empty() || !spec.minus_token.empty() ||
                   m.config().head_kind() != model::HeadKind::sequence_classification;
  if (mlm && (!spec.cls.empty() || !spec.minus_cls.empty()))
    fail(ErrorKind::input, "class/minus class explain a classifier; position/token an MLM logit: give one kind");
  if (mlm) {
    t.kind = Target::Kind::mlm_logit;
    if (!spec.position.empty() && spec.position != "mask") {
      try {
        std::size_t used = 0;
        t.position = std::stol(spec.position, &used);
        if (used != spec.position.size() || t.position < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        fail(ErrorKind::input, "position \"{}\": give a 0-based token position or mask", spec.position);
      }
    }
    t.index = parse_token(m, spec.token);
    if (!spec.minus_token.empty()) t.minus = parse_token(m, spec.minus_token);
  } else {
    t.index = parse_class(m, spec.cls);
    if (!spec.minus_cls.empty()) t.minus = parse_class(m, spec.minus_cls);
  }
  if (t.minus && *t.minus < 0) fail(ErrorKind::input, "the subtracted output cannot be pred");
  return t;
}

nlohmann::json params_json(const Options& o, const TargetSpec& spec) {
  const bool mlm = o.target.kind == Target::Kind::mlm_logit;
  nlohmann::json p;
  p["target"] = mlm ? "mlm_logit" : "class_logit";
  if (mlm) {
    p["position"] = spec.position.empty() ? "mask" : spec.position;
    p["token"] = spec.token.empty() ? "pred" : spec.token;
    if (!spec.minus_token.empty()) p["minus_token"] = spec.minus_token;
  } else {
    p["class"] = spec.cls.empty() ? "pred" : spec.cls;
    if (!spec.minus_cls.empty()) p["minus_class"] = spec.minus_cls;
  }
  p["embeddings"] = "word embeddings only (position and token-type embeddings fixed)";
  p["integrated_gradients"] = o.integrated;
  p["baseline"] = baseline_name(o.baseline);
  p["keep_special"] = o.keep_special;
  p["steps"] = o.steps;
  p["rule"] = rule_name(o.rule);
  return p;
}

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<Figure> figures(const nlohmann::json& results) {
  if (!results.contains("examples") || results["examples"].empty()) return {};
  const auto& first = results["examples"][0];
  Figure f{.id = "saliency.tokens",
           .kind = "tokens",
           .title = "Token attributions to the explained output",
           .caption = "Each token shaded by its attribution to the output F named in the picker (a class logit, or a "
                      "vocabulary logit at an MLM position, minus another when asked), on a signed scale centred on 0: "
                      "red raises F, blue lowers it. Integrated gradients (Sundararajan et al. 2017) sum to F(input) - "
                      "F(baseline) up to the quadrature error reported in results.completeness; gradient x input is the "
                      "first-order attribution at the input alone. The picker gives the model's prediction and, for a task "
                      "file, the gold label.",
           .rows = "examples",
           .axis = "attribution (logit units)",
           .centred = true};
  if (first.contains("integrated_gradients"))
    f.values.push_back({"integrated_gradients", "integrated gradients", Unit::attribution});
  f.values.push_back({"grad_x_input", "gradient x input", Unit::attribution});
  f.options = {{"tokens", "tokens"},
               {"highlight", "position"},
               {"name",
                {{{"path", "text"}},
                 {{"prefix", " | F = "}, {"path", "name"}},
                 {{"prefix", " | predicted "}, {"path", "predicted_name"}},
                 {{"prefix", " ("}, {"path", "predicted_probability"}, {"format", "percent"}, {"suffix", ")"}},
                 {{"prefix", " | gold "}, {"path", "gold"}}}}};
  return {std::move(f)};
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::saliency
