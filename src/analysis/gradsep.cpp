#include "analysis/gradsep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"

namespace bertscope::analysis::gradsep {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

const std::array<std::string, kCategories>& category_names() {
  static const std::array<std::string, kCategories> names{"sep", "punct", "other"};
  return names;
}

namespace {

enum : int { kSep = 0, kPunct = 1, kOther = 2, kNone = -1 };

std::vector<InputGradients> batch_gradients(const model::Model& m, const std::vector<const importance::Example*>& examples,
                                            const std::vector<const std::vector<std::string>*>& tokens,
                                            const Options& o) {
  const auto L = m.layers(), H = m.heads();
  const auto sep_id = m.tokenizer().sep_id();
  std::vector<model::ModelInput> batch;
  model::TapeOptions topt;
  topt.mlm_logits = true;
  for (const auto* ex : examples) {
    batch.push_back(ex->input);
    topt.mlm_positions.push_back(ex->positions);
  }
  model::RunOptions run;
  model::ForwardTape tape;
  const auto res = model::forward_with_tape(m, batch, run, topt, tape);
  std::vector<InputGradients> out(examples.size());
  std::vector<model::OutputGrad> seeds(examples.size());
  for (std::size_t b = 0; b < examples.size(); ++b) {
    const auto& ex = *examples[b];
    const double scale = o.sum_loss ? static_cast<double>(ex.labels.size()) : 1.0;
    auto lg = model::mlm_cross_entropy(res[b].mlm_logits, ex.labels, scale);
    out[b].loss = lg.loss * scale;
    out[b].masked = static_cast<std::int64_t>(ex.labels.size());
    seeds[b].mlm_logits = std::move(lg.grad);
  }
  model::GradRequest req;
  req.sites = model::SiteSet(L);
  req.sites.add(model::Site::attn_probs);
  const auto back = model::backward(m, tape, seeds, req);
  for (std::size_t b = 0; b < examples.size(); ++b) {
    const auto& ex = *examples[b];
    const auto& toks = *tokens[b];
    const auto T = static_cast<std::int64_t>(ex.input.ids.size());
    if (static_cast<std::int64_t>(toks.size()) != T)
      fail(ErrorKind::internal, "gradsep: {} token strings for {} tokens", toks.size(), T);
    std::vector<int> cat(static_cast<std::size_t>(T), kOther);
    for (std::int64_t j = 0; j < T; ++j) {
      const auto& s = toks[static_cast<std::size_t>(j)];
      // The original id: a masked separator cannot happen (specials are never chosen).
      if (ex.input.ids[static_cast<std::size_t>(j)] == sep_id) cat[static_cast<std::size_t>(j)] = kSep;
      else if (std::find(o.punct_tokens.begin(), o.punct_tokens.end(), s) != o.punct_tokens.end()) cat[static_cast<std::size_t>(j)] = kPunct;
    }
    for (auto p : ex.positions) cat[static_cast<std::size_t>(p)] = kNone;
    auto& g = out[b];
    for (std::int64_t j = 0; j < T; ++j)
      if (cat[static_cast<std::size_t>(j)] != kNone) ++g.keys[static_cast<std::size_t>(cat[static_cast<std::size_t>(j)])];
    g.layer_mean.assign(static_cast<std::size_t>(L), {});
    g.head_mean.assign(static_cast<std::size_t>(L * H), {});
    for (std::int64_t l = 0; l < L; ++l) {
      const auto* grad = back.site_grads[b].find(model::Site::attn_probs, l);
      if (!grad) fail(ErrorKind::internal, "gradsep: no attention gradient for layer {}", l);
      for (std::int64_t h = 0; h < H; ++h) {
        std::array<double, kCategories> sum{};
        const float* gh = grad->ptr() + h * T * T;
        for (std::int64_t i = 0; i < T; ++i)
          for (std::int64_t j = 0; j < T; ++j) {
            const int c = cat[static_cast<std::size_t>(j)];
            if (c != kNone) sum[static_cast<std::size_t>(c)] += std::abs(static_cast<double>(gh[i * T + j]));
          }
        for (std::size_t c = 0; c < kCategories; ++c) {
          const auto n = static_cast<double>(T * g.keys[c]);
          const double mean = n > 0 ? sum[c] / n : 0.0;
          g.head_mean[static_cast<std::size_t>(l * H + h)][c] = mean;
          g.layer_mean[static_cast<std::size_t>(l)][c] += mean / static_cast<double>(H);
        }
      }
    }
  }
  return out;
}

}  // namespace

InputGradients input_gradients(const model::Model& m, const importance::Example& ex, const std::vector<std::string>& tokens,
                               const Options& o) {
  if (!m.params().has_mlm_head())
    fail(ErrorKind::model, "{}: the model has no MLM head (cls.predictions.*); gradsep needs the MLM loss", m.dir().string());
  return batch_gradients(m, {&ex}, {&tokens}, o).front();
}

Result run(const model::Model& m, const std::vector<AnalysisInput>& inputs, const Options& o, bool truncate,
           const std::function<std::string(std::size_t)>& where,
           const std::function<void(std::size_t, std::size_t)>& progress, dist::Runner* runner) {
  const auto start = std::chrono::steady_clock::now();
  const auto task = importance::mlm_task(m, inputs, o.masking, truncate, where);
  // The original token strings (before masking), for the key categories.
  std::vector<std::vector<std::string>> tokens(task.examples.size());
  const auto& tok = m.tokenizer();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].encoding) {
      tokens[i] = inputs[i].encoding->tokens;
    } else {
      const auto& ex = task.examples[i];
      std::vector<std::int32_t> ids = ex.input.ids;
      for (std::size_t k = 0; k < ex.positions.size(); ++k) ids[static_cast<std::size_t>(ex.positions[k])] = ex.labels[k];
      for (auto id : ids) tokens[i].push_back(tok.token(id));
    }
  }
  const auto L = m.layers(), H = m.heads();
  Result r;
  r.layers = L;
  r.heads = H;
  r.options = o;
  r.layer_mean.assign(static_cast<std::size_t>(L), {});
  r.head_mean.assign(static_cast<std::size_t>(L * H), {});
  std::vector<std::array<double, kCategories>> layer_sum(static_cast<std::size_t>(L)), head_sum(static_cast<std::size_t>(L * H));
  double loss = 0;
  const auto n = task.examples.size();
  const auto batch = std::max<std::size_t>(o.batch_size, 1);
  const auto batches = (n + batch - 1) / batch;
  // One item per batch, spread over the run's processes (dist::Runner): its inputs' gradients,
  // summed below in input order as in one process.
  dist::Runner one;
  auto& r_runner = runner ? *runner : one;
  std::size_t done = 0;
  const auto stored = r_runner.map(
      "batches", batches, {.max_chunk = 4, .costliest_last = false},
      [&](std::size_t b) {
        const auto first = b * batch, last = std::min(n, first + batch);
        std::vector<const importance::Example*> exs;
        std::vector<const std::vector<std::string>*> toks;
        for (auto i = first; i < last; ++i) {
          exs.push_back(&task.examples[i]);
          toks.push_back(&tokens[i]);
        }
        dist::Packer p;
        for (const auto& g : batch_gradients(m, exs, toks, o)) {
          p.put(g.layer_mean);
          p.put(g.head_mean);
          p.put(g.keys);
          p.put(g.loss);
          p.put(g.masked);
        }
        return p.take();
      },
      [&](std::size_t k) {
        done = std::min(n, done + k * batch);
        if (progress) progress(done, n);
      });
  for (std::size_t b = 0; b < batches; ++b) {
    const auto first = b * batch, last = std::min(n, first + batch);
    dist::Unpacker u(stored[b], fmt::format("gradsep: the stored gradients of batch {}", b));
    std::vector<InputGradients> grads(last - first);
    for (auto& g : grads) {
      g.layer_mean = u.get_vector<std::array<double, kCategories>>();
      g.head_mean = u.get_vector<std::array<double, kCategories>>();
      g.keys = u.get<std::array<std::int64_t, kCategories>>();
      g.loss = u.get<double>();
      g.masked = u.get<std::int64_t>();
      if (g.layer_mean.size() != static_cast<std::size_t>(L) || g.head_mean.size() != static_cast<std::size_t>(L * H))
        fail(ErrorKind::format, "gradsep: the stored gradients of batch {} are of another model", b);
    }
    u.done();
    for (const auto& g : grads) {
      loss += g.loss;
      r.masked_tokens += g.masked;
      for (std::size_t c = 0; c < kCategories; ++c) {
        if (g.keys[c] == 0) continue;
        ++r.inputs_with[c];
        for (std::int64_t l = 0; l < L; ++l) layer_sum[static_cast<std::size_t>(l)][c] += g.layer_mean[static_cast<std::size_t>(l)][c];
        for (std::int64_t k = 0; k < L * H; ++k) head_sum[static_cast<std::size_t>(k)][c] += g.head_mean[static_cast<std::size_t>(k)][c];
      }
    }
  }
  for (std::size_t c = 0; c < kCategories; ++c) {
    const auto d = static_cast<double>(r.inputs_with[c]);
    if (d == 0) continue;
    for (std::int64_t l = 0; l < L; ++l) r.layer_mean[static_cast<std::size_t>(l)][c] = layer_sum[static_cast<std::size_t>(l)][c] / d;
    for (std::int64_t k = 0; k < L * H; ++k) r.head_mean[static_cast<std::size_t>(k)][c] = head_sum[static_cast<std::size_t>(k)][c] / d;
  }
  r.inputs = n;
  r.mean_loss = loss / static_cast<double>(n);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json to_json(const Result& r) {
  const auto& names = category_names();
  const auto L = r.layers, H = r.heads;
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json per_layer = nlohmann::json::object(), per_head = nlohmann::json::object();
  for (std::size_t c = 0; c < kCategories; ++c) {
    std::vector<double> line;
    nlohmann::json matrix = nlohmann::json::array();
    for (std::int64_t l = 0; l < L; ++l) {
      line.push_back(r.layer_mean[static_cast<std::size_t>(l)][c]);
      std::vector<double> row;
      for (std::int64_t h = 0; h < H; ++h) row.push_back(r.head_mean[static_cast<std::size_t>(l * H + h)][c]);
      matrix.push_back(row);
    }
    per_layer[names[c]] = line;
    per_head[names[c]] = matrix;
  }
  for (std::int64_t l = 0; l < L; ++l) {
    nlohmann::json e = {{"layer", l}, {"label", l + 1}};
    for (std::size_t c = 0; c < kCategories; ++c) e[names[c]] = r.layer_mean[static_cast<std::size_t>(l)][c];
    layers.push_back(e);
  }
  nlohmann::json with = nlohmann::json::object();
  for (std::size_t c = 0; c < kCategories; ++c) with[names[c]] = r.inputs_with[c];
  return {{"layers", layers},
          {"per_layer", per_layer},
          {"per_head", per_head},
          {"inputs", r.inputs},
          {"inputs_with_keys", with},
          {"masked_tokens", r.masked_tokens},
          {"mean_loss", r.mean_loss},
          {"seconds", r.seconds}};
}

std::string table(const Result& r) {
  std::string out = fmt::format("{} inputs, {} masked tokens, mean MLM loss {:.4f} ({})\n", r.inputs, r.masked_tokens,
                                r.mean_loss, r.options.sum_loss ? "sum over masked tokens" : "mean over masked tokens");
  out += "mean |dL/dA| per layer, by key: [SEP], . or ,, other unmasked tokens\n";
  out += fmt::format("{:>5} {:>12} {:>12} {:>12}\n", "layer", "[SEP]", ". ,", "other");
  for (std::int64_t l = 0; l < r.layers; ++l) {
    const auto& v = r.layer_mean[static_cast<std::size_t>(l)];
    out += fmt::format("{:>5} {:>12.4e} {:>12.4e} {:>12.4e}\n", l + 1, v[0], v[1], v[2]);
  }
  out += fmt::format("inputs with such keys: [SEP] {}, . or , {}, other {}; {:.1f} s\n", r.inputs_with[0], r.inputs_with[1],
                     r.inputs_with[2], r.seconds);
  return out;
}

nlohmann::json params_json(const Options& options) {
  return {{"mask_prob", options.masking.mask_prob},
          {"mask_seed", options.masking.seed},
          {"loss", options.sum_loss ? "sum of the masked tokens' cross-entropies" : "mean of the masked tokens' cross-entropies"},
          {"punct_tokens", options.punct_tokens},
          {"definition",
           "per input: mean over heads, all queries and the keys of each category of |dL/dA[i, j]|; then the mean over "
           "inputs that have such keys. Keys chosen for masking belong to no category; other includes [CLS]"}};
}

}  // namespace bertscope::analysis::gradsep

namespace bertscope::analysis::gradsep {

// Clark et al. Fig. 3: the gradient of the MLM loss w.r.t. attention to [SEP], to . or , and to
// the other tokens, per layer; the per-head maps beside it.
std::vector<Figure> figures(const nlohmann::json& results) {
  const auto grad = [](std::string path, const char* label) { return FigureField{std::move(path), label, Unit::gradient}; };
  std::vector<Figure> out;
  out.push_back({.id = "gradsep.layers",
                 .kind = "lines",
                 .title = "Gradient of the loss w.r.t. attention, by the key attended to",
                 .caption = "Mean |dL/dA| of the masked-LM loss per layer, for attention to [SEP], to '.' or ',' and to the other "
                            "unmasked tokens. Clark et al. (2019), Fig. 3 (docs/methods.md 1.4): from layer 5 on, attention "
                            "to [SEP] has a much smaller gradient than attention to other tokens.",
                 .rows = "layers",
                 .x = FigureField{"layer", "layer", Unit::index},
                 .x_axis = "layer",
                 .values = {grad("sep", "[SEP]"), grad("punct", ". or ,"), grad("other", "all unmasked tokens")},
                 .axis = "mean |dL/d attention| (gradient)"});
  out.push_back({.id = "gradsep.heads",
                 .kind = "heatmap",
                 .title = "Gradient w.r.t. attention per head",
                 .caption = "Mean |dL/dA| per head, layers down, heads across, for each kind of key.",
                 .values = {grad("per_head.sep", "to [SEP]"), grad("per_head.punct", "to . or ,"),
                            grad("per_head.other", "to other tokens")},
                 .axis = "mean |dL/d attention| (gradient)"});
  (void)results;
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::gradsep
