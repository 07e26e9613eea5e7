#include "analysis/importance.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "analysis/ablate.hpp"
#include "analysis/heads.hpp"
#include "core/random.hpp"
#include "io/error.hpp"
#include "model/autodiff.hpp"

namespace bertscope::analysis::importance {

namespace {

std::size_t index(std::int64_t l, std::int64_t h, std::int64_t heads) { return static_cast<std::size_t>(l * heads + h); }

}  // namespace

std::string_view objective_name(Objective o) {
  switch (o) {
    case Objective::classification: return "classification";
    case Objective::regression: return "regression";
    case Objective::mlm: return "mlm";
  }
  return "?";
}

Task task_from_data(const model::Model& m, const TaskData& data, bool truncate) {
  ablate::check_classifier(m);
  if (!data.has_labels())
    fail(ErrorKind::input, "{}: the task file has no label column; importance needs gold labels", data.source.string());
  const auto& c = m.config();
  const auto labels = bind_labels(data, c.num_labels, c.id2label);
  const auto source = data.source.string();
  const auto& tok = m.tokenizer();
  const model::EncodeOptions enc_opt{m.max_length(), truncate};
  Task task;
  task.objective = labels.regression ? Objective::regression : Objective::classification;
  for (std::size_t i = 0; i < data.examples.size(); ++i) {
    const auto& e = data.examples[i];
    Example ex;
    try {
      const auto enc = tok.encode(e.text, e.pair ? std::optional<std::string_view>(*e.pair) : std::nullopt, enc_opt);
      ex.input = model::ModelInput::from_encoding(enc);
    } catch (const Error& err) {
      throw Error(err.kind(), fmt::format("{}:{}: {}", source, e.line, err.what()));
    }
    if (labels.regression) ex.target = static_cast<float>(labels.values[i]);
    else ex.label = static_cast<std::int32_t>(labels.classes[i]);
    task.examples.push_back(std::move(ex));
  }
  if (task.examples.empty()) fail(ErrorKind::input, "{}: no examples", source);
  task.metric_name = std::string(metric_name(data.spec.metric));
  const auto K = c.num_labels;
  task.metric = [spec = data.spec, labels, K](std::span<const core::Tensor> outputs) {
    std::vector<float> flat;
    flat.reserve(outputs.size() * static_cast<std::size_t>(K));
    for (const auto& o : outputs) flat.insert(flat.end(), o.data.begin(), o.data.end());
    return score_task(spec, labels, flat, K).primary;
  };
  return task;
}

Example mask_for_mlm(const model::Encoding& enc, const model::Tokenizer& tok, const MlmMasking& mk, std::uint64_t idx) {
  if (!(mk.mask_prob > 0.0 && mk.mask_prob <= 1.0)) fail(ErrorKind::input, "masking probability {} outside (0, 1]", mk.mask_prob);
  Example ex;
  ex.input = model::ModelInput::from_encoding(enc);
  auto& ids = ex.input.ids;
  std::vector<std::int32_t> candidates;
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != tok.cls_id() && ids[i] != tok.sep_id() && ids[i] != tok.pad_id()) candidates.push_back(static_cast<std::int32_t>(i));
  if (candidates.empty()) return ex;
  core::CounterRng rng{core::mix64(mk.seed ^ core::mix64(idx))};
  const auto count = std::max<std::int64_t>(1, std::llround(mk.mask_prob * static_cast<double>(candidates.size())));
  for (std::int64_t i = 0; i < count; ++i) {  // partial Fisher-Yates
    const auto j = i + rng.below(static_cast<std::int64_t>(candidates.size()) - i);
    std::swap(candidates[static_cast<std::size_t>(i)], candidates[static_cast<std::size_t>(j)]);
  }
  candidates.resize(static_cast<std::size_t>(count));
  std::sort(candidates.begin(), candidates.end());
  const auto vocab = static_cast<std::int64_t>(tok.vocab_size());
  for (auto pos : candidates) {
    ex.positions.push_back(pos);
    ex.labels.push_back(ids[static_cast<std::size_t>(pos)]);
    const double r = rng.uniform();
    if (r < 0.8) ids[static_cast<std::size_t>(pos)] = tok.mask_id();
    else if (r < 0.9) ids[static_cast<std::size_t>(pos)] = static_cast<std::int32_t>(rng.below(vocab));
  }
  return ex;
}

Task mlm_task(const model::Model& m, const std::vector<AnalysisInput>& inputs, const MlmMasking& mk, bool truncate,
              const std::function<std::string(std::size_t)>& where) {
  if (!m.params().has_mlm_head())
    fail(ErrorKind::model, "{}: the model has no MLM head (cls.predictions.*); the MLM objective needs BertForMaskedLM",
         m.dir().string());
  const auto& tok = m.tokenizer();
  const model::EncodeOptions enc_opt{m.max_length(), truncate};
  Task task;
  task.objective = Objective::mlm;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    model::Encoding enc;
    try {
      if (in.encoding) {
        enc = *in.encoding;
        if (enc.size() > m.max_length())
          fail(ErrorKind::input, "{} tokens, the model allows at most {}", enc.size(), m.max_length());
      } else if (!in.words.empty()) {
        fail(ErrorKind::input, "pre-split words are not supported here; give text");
      } else {
        enc = tok.encode(in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt, enc_opt);
      }
    } catch (const Error& err) {
      throw Error(err.kind(), fmt::format("{}: {}", where ? where(i) : fmt::format("input {}", i + 1), err.what()));
    }
    auto ex = mask_for_mlm(enc, tok, mk, i);
    if (ex.positions.empty())
      fail(ErrorKind::input, "{}: no token to mask (only special tokens)", where ? where(i) : fmt::format("input {}", i + 1));
    task.examples.push_back(std::move(ex));
  }
  if (task.examples.empty()) fail(ErrorKind::input, "no inputs");
  task.metric_name = "mlm_accuracy";
  std::vector<std::vector<std::int32_t>> gold;
  for (const auto& e : task.examples) gold.push_back(e.labels);
  task.metric = [gold](std::span<const core::Tensor> outputs) {
    std::int64_t right = 0, total = 0;
    for (std::size_t b = 0; b < outputs.size(); ++b)
      for (std::size_t p = 0; p < gold[b].size(); ++p) {
        right += static_cast<std::int32_t>(outputs[b].data.at(p)) == gold[b][p];
        ++total;
      }
    return total ? static_cast<double>(right) / static_cast<double>(total) : 0.0;
  };
  return task;
}

core::Tensor normalize(const core::Tensor& raw, const Options& o, std::int64_t tokens) {
  const auto L = raw.dim(0), H = raw.dim(1);
  std::vector<double> v(raw.data.begin(), raw.data.end());
  if (o.bertology && tokens > 0)
    for (auto& x : v) x /= static_cast<double>(tokens);
  if (o.normalize_layers)
    for (std::int64_t l = 0; l < L; ++l) {
      double sq = 0;
      for (std::int64_t h = 0; h < H; ++h) sq += v[index(l, h, H)] * v[index(l, h, H)];
      const double norm = std::sqrt(sq) + 1e-20;
      for (std::int64_t h = 0; h < H; ++h) v[index(l, h, H)] /= norm;
    }
  if (o.normalize_global) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const double min = *lo, range = *hi - *lo;
    // All scores equal: min-max is undefined (run_bertology would give NaN); report zeros.
    for (auto& x : v) x = range > 0 ? (x - min) / range : 0.0;
  }
  core::Tensor out({L, H});
  for (std::size_t i = 0; i < v.size(); ++i) out.data[i] = static_cast<float>(v[i]);
  return out;
}

Pass score(const model::Model& m, const Task& task, const core::Tensor& head_mask, const Options& o, bool entropy,
           std::size_t pass_number) {
  const auto L = m.layers(), H = m.heads();
  const auto n = task.examples.size();
  const bool mlm = task.objective == Objective::mlm;
  std::vector<std::vector<double>> grads(n);
  std::vector<core::Tensor> outputs(n);
  std::vector<double> losses(n, 0.0);
  std::vector<double> ent(static_cast<std::size_t>(L * H), 0.0);
  Pass pass;

  // Length-sorted batches: similar lengths share the encoder's batched products.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return task.examples[a].input.ids.size() < task.examples[b].input.ids.size();
  });
  const auto batch_size = std::max<std::size_t>(o.batch_size, 1);
  model::RunOptions run;
  run.head_mask = head_mask;
  if (entropy) {
    run.record = model::SiteSet(L);
    run.record.add(model::Site::attn_probs);
  }
  // One dist::Runner item per batch of the length-sorted order (the batches one process runs):
  // per example its index, loss, kept outputs, head-mask gradient and per-head entropy sums, folded
  // below in batch order, so every sum is the single-process sum.
  const auto batches = (n + batch_size - 1) / batch_size;
  const auto LH = static_cast<std::size_t>(L * H);
  dist::Runner one;
  auto& runner = o.runner ? *o.runner : one;
  std::size_t done = 0;
  const auto encoded = runner.map(
      fmt::format("pass-{}", pass_number), batches, {.max_chunk = 1, .costliest_last = true},
      [&](std::size_t batch_index) {
        const auto first = batch_index * batch_size, last = std::min(n, first + batch_size);
        std::vector<model::ModelInput> batch;
        model::TapeOptions topt;
        topt.mlm_logits = mlm;
        topt.classifier_logits = !mlm;
        for (auto i = first; i < last; ++i) {
          const auto& ex = task.examples[order[i]];
          batch.push_back(ex.input);
          if (mlm) topt.mlm_positions.push_back(ex.positions);
        }
        model::ForwardTape tape;
        auto results = model::forward_with_tape(m, batch, run, topt, tape);
        std::vector<model::OutputGrad> seeds(batch.size());
        std::vector<double> batch_losses(batch.size());
        std::vector<core::Tensor> batch_outputs(batch.size());
        std::vector<double> batch_entropy(entropy ? batch.size() * LH : 0, 0.0);
        for (std::size_t b = 0; b < batch.size(); ++b) {
          const auto& ex = task.examples[order[first + b]];
          auto& res = results[b];
          model::LossGrad lg;
          if (mlm) {
            lg = model::mlm_cross_entropy(res.mlm_logits, ex.labels);
            seeds[b].mlm_logits = std::move(lg.grad);
            // Only the predictions are kept: a pass over a corpus would not fit its MLM logits.
            const auto v = res.mlm_logits.dim(1), P = res.mlm_logits.dim(0);
            batch_outputs[b] = core::Tensor({P});
            for (std::int64_t q = 0; q < P; ++q) {
              const float* row = res.mlm_logits.ptr() + q * v;
              batch_outputs[b].data[static_cast<std::size_t>(q)] = static_cast<float>(std::max_element(row, row + v) - row);
            }
          } else {
            lg = task.objective == Objective::regression ? model::regression_mse(res.classifier_logits, ex.target)
                                                         : model::class_cross_entropy(res.classifier_logits, ex.label);
            seeds[b].classifier_logits = std::move(lg.grad);
            batch_outputs[b] = std::move(res.classifier_logits);
          }
          batch_losses[b] = lg.loss;
          if (entropy) {
            // run_bertology: -sum_k p ln p (0 ln 0 = 0) per query row, summed over rows and examples.
            const auto t = static_cast<std::int64_t>(ex.input.ids.size());
            for (std::int64_t l = 0; l < L; ++l) {
              const auto* probs = res.trace.find(model::Site::attn_probs, l);
              if (!probs) fail(ErrorKind::internal, "importance: the pass did not record layer {}'s attention", l);
              for (std::int64_t h = 0; h < H; ++h) {
                double e = 0;
                const float* p = probs->ptr() + h * t * t;
                for (std::int64_t i = 0; i < t * t; ++i)
                  if (p[i] > 0) e -= static_cast<double>(p[i]) * std::log(static_cast<double>(p[i]));
                batch_entropy[b * LH + index(l, h, H)] = e;
              }
            }
          }
        }
        model::GradRequest req;
        req.head_mask_per_input = true;
        const auto back = model::backward(m, tape, seeds, req);
        std::string bytes;
        auto put = [&](const void* data, std::size_t size) { bytes.append(static_cast<const char*>(data), size); };
        for (std::size_t b = 0; b < batch.size(); ++b) {
          const std::uint64_t outputs_size = batch_outputs[b].data.size();
          put(&batch_losses[b], sizeof(double));
          const std::uint64_t rank = batch_outputs[b].shape.size();
          put(&outputs_size, sizeof outputs_size);
          put(&rank, sizeof rank);
          for (auto d : batch_outputs[b].shape) put(&d, sizeof d);
          put(batch_outputs[b].data.data(), outputs_size * sizeof(float));
          put(back.head_mask_grads[b].data.data(), LH * sizeof(float));
          if (entropy) put(batch_entropy.data() + b * LH, LH * sizeof(double));
        }
        return bytes;
      },
      [&](std::size_t k) {
        done = std::min(n, done + k * batch_size);
        if (o.progress) o.progress(pass_number, done, n);
      });
  for (std::size_t batch_index = 0; batch_index < batches; ++batch_index) {
    const auto first = batch_index * batch_size, last = std::min(n, first + batch_size);
    const auto& bytes = encoded[batch_index];
    std::size_t at = 0;
    auto damaged = [&] { fail(ErrorKind::format, "importance: the stored results of batch {} are damaged", batch_index); };
    auto get = [&](void* data, std::size_t size) {
      if (bytes.size() - at < size) damaged();
      std::memcpy(data, bytes.data() + at, size);
      at += size;
    };
    for (auto i = first; i < last; ++i) {
      const auto k = order[i];
      std::uint64_t outputs_size = 0;
      get(&losses[k], sizeof(double));
      std::uint64_t rank = 0;
      get(&outputs_size, sizeof outputs_size);
      get(&rank, sizeof rank);
      if (rank > 4 || outputs_size > bytes.size()) damaged();
      core::Shape shape(static_cast<std::size_t>(rank));
      std::uint64_t elements = 1;
      for (auto& d : shape) {
        get(&d, sizeof d);
        if (d < 0 || static_cast<std::uint64_t>(d) > bytes.size()) damaged();
        elements *= static_cast<std::uint64_t>(d);
      }
      if (elements != outputs_size) damaged();
      outputs[k] = core::Tensor(shape);
      get(outputs[k].data.data(), outputs_size * sizeof(float));
      std::vector<float> g(LH);
      get(g.data(), LH * sizeof(float));
      grads[k].assign(g.begin(), g.end());
      if (entropy) {
        std::vector<double> e(LH);
        get(e.data(), LH * sizeof(double));
        for (std::size_t j = 0; j < LH; ++j) ent[j] += e[j];
      }
    }
    if (at != bytes.size()) damaged();
  }

  for (const auto& ex : task.examples) pass.tokens += static_cast<std::int64_t>(ex.input.ids.size());
  std::vector<double> raw(static_cast<std::size_t>(L * H), 0.0);
  if (!o.bertology) {
    for (const auto& g : grads)
      for (std::size_t i = 0; i < raw.size(); ++i) raw[i] += std::abs(g[i]);
  } else {
    // run_bertology: each batch's loss is its mean, head_mask.grad accumulates over the batches
    // (never zeroed), and every step adds |accumulated gradient|. Data order, not length order.
    const auto hb = std::max<std::size_t>(o.bertology_batch, 1);
    std::vector<double> cum(raw.size(), 0.0);
    for (std::size_t first = 0; first < n; first += hb) {
      const auto last = std::min(n, first + hb);
      const double w = 1.0 / static_cast<double>(last - first);
      for (auto k = first; k < last; ++k)
        for (std::size_t i = 0; i < raw.size(); ++i) cum[i] += w * grads[k][i];
      for (std::size_t i = 0; i < raw.size(); ++i) raw[i] += std::abs(cum[i]);
    }
  }
  pass.raw = core::Tensor({L, H});
  for (std::size_t i = 0; i < raw.size(); ++i) pass.raw.data[i] = static_cast<float>(raw[i]);
  pass.importance = normalize(pass.raw, o, pass.tokens);
  if (entropy) {
    pass.entropy = core::Tensor({L, H});
    for (std::size_t i = 0; i < ent.size(); ++i) pass.entropy.data[i] = static_cast<float>(ent[i] / static_cast<double>(pass.tokens));
  }
  pass.loss = std::accumulate(losses.begin(), losses.end(), 0.0) / static_cast<double>(n);
  pass.metric = task.metric(outputs);
  return pass;
}

Result run(const model::Model& m, const Task& task, const Options& o) {
  if (task.examples.empty()) fail(ErrorKind::input, "importance: no examples");
  if (!(o.masking_amount > 0.0 && o.masking_amount <= 1.0))
    fail(ErrorKind::input, "masking amount {} outside (0, 1]", o.masking_amount);
  const auto L = m.layers(), H = m.heads();
  const auto start = std::chrono::steady_clock::now();
  Result r;
  r.layers = L;
  r.heads = H;
  r.objective = task.objective;
  r.metric_name = task.metric_name;
  r.examples = task.examples.size();
  r.options = o;
  core::Tensor mask({L, H}, 1.0f);
  r.initial = score(m, task, mask, o, o.entropy, 0);
  r.passes = 1;
  r.final_mask = mask;
  r.threshold = r.initial.metric * o.masking_threshold;
  r.curve.push_back({0, {}, r.initial.metric, r.initial.loss, r.initial.metric >= r.threshold});
  if (o.curve) {
    const auto per_step = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(L * H) * o.masking_amount));
    core::Tensor importance = r.initial.importance;
    double current = r.initial.metric;
    std::int64_t masked = 0;
    while (current >= r.threshold) {
      r.final_mask = mask;
      std::vector<std::int64_t> active;
      for (std::int64_t i = 0; i < L * H; ++i)
        if (mask.data[static_cast<std::size_t>(i)] != 0.0f) active.push_back(i);
      if (active.empty()) break;
      std::stable_sort(active.begin(), active.end(), [&](std::int64_t a, std::int64_t b) {
        return importance.data[static_cast<std::size_t>(a)] < importance.data[static_cast<std::size_t>(b)];
      });
      Step step;
      const auto k = std::min<std::int64_t>(per_step, static_cast<std::int64_t>(active.size()));
      for (std::int64_t i = 0; i < k; ++i) {
        const auto h = active[static_cast<std::size_t>(i)];
        mask.data[static_cast<std::size_t>(h)] = 0.0f;
        step.newly_masked.push_back({h / H, h % H});
      }
      masked += k;
      const auto pass = score(m, task, mask, o, false, static_cast<std::size_t>(r.passes));
      ++r.passes;
      importance = pass.importance;
      current = pass.metric;
      step.masked = masked;
      step.metric = pass.metric;
      step.loss = pass.loss;
      step.above_threshold = current >= r.threshold;
      r.curve.push_back(std::move(step));
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

namespace {

nlohmann::json matrix_json(const core::Tensor& t) {
  nlohmann::json rows = nlohmann::json::array();
  const auto L = t.dim(0), H = t.dim(1);
  for (std::int64_t l = 0; l < L; ++l) {
    nlohmann::json row = nlohmann::json::array();
    for (std::int64_t h = 0; h < H; ++h) row.push_back(metric_json(t.data[index(l, h, H)]));
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::int64_t> ranks(const core::Tensor& importance) {
  // Descending, rank 0 = most important (run_bertology's head_ranks).
  std::vector<std::int64_t> order(importance.data.size()), rank(importance.data.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return importance.data[static_cast<std::size_t>(a)] > importance.data[static_cast<std::size_t>(b)];
  });
  for (std::size_t i = 0; i < order.size(); ++i) rank[static_cast<std::size_t>(order[i])] = static_cast<std::int64_t>(i);
  return rank;
}

std::string heads_text(const std::vector<Head>& heads) {
  std::string s;
  for (const auto& [l, h] : heads) s += (s.empty() ? "" : " ") + head_label(l, h);
  return s;
}

}  // namespace

nlohmann::json to_json(const Result& r) {
  const auto L = r.layers, H = r.heads;
  const auto rank = ranks(r.initial.importance);
  nlohmann::json heads = nlohmann::json::array();
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t h = 0; h < H; ++h) {
      auto j = head_json(l, h);
      j["importance"] = r.initial.importance.data[index(l, h, H)];
      j["raw"] = r.initial.raw.data[index(l, h, H)];
      j["rank"] = rank[index(l, h, H)];
      if (!r.initial.entropy.data.empty()) j["entropy"] = r.initial.entropy.data[index(l, h, H)];
      j["kept"] = r.final_mask.data[index(l, h, H)] != 0.0f;
      heads.push_back(j);
    }
  nlohmann::json curve = nlohmann::json::array();
  std::vector<double> metric_series, fraction_series;
  for (std::size_t s = 0; s < r.curve.size(); ++s) {
    const auto& st = r.curve[s];
    const double fraction = static_cast<double>(st.masked) / static_cast<double>(L * H);
    curve.push_back({{"step", s},
                     {"masked", st.masked},
                     {"remaining", L * H - st.masked},
                     {"fraction_masked", fraction},
                     {"metric", metric_json(st.metric)},
                     {"loss", st.loss},
                     {"above_threshold", st.above_threshold},
                     {"newly_masked", heads_text(st.newly_masked)}});
    metric_series.push_back(st.metric);
    fraction_series.push_back(fraction);
  }
  std::int64_t kept = 0;
  for (auto v : r.final_mask.data) kept += v != 0.0f;
  nlohmann::json j = {{"layers", L},
                      {"heads", H},
                      {"objective", objective_name(r.objective)},
                      {"metric", r.metric_name},
                      {"examples", r.examples},
                      {"tokens", r.initial.tokens},
                      {"baseline_metric", metric_json(r.initial.metric)},
                      {"baseline_loss", r.initial.loss},
                      {"importance", matrix_json(r.initial.importance)},
                      {"raw_importance", matrix_json(r.initial.raw)},
                      {"per_head", heads},
                      {"curve", curve},
                      {"curve_series", {{"metric", metric_series}, {"fraction_masked", fraction_series}}},
                      {"threshold_metric", metric_json(r.threshold)},
                      {"final_mask", matrix_json(r.final_mask)},
                      {"heads_kept", kept},
                      {"cost", {{"passes", r.passes}, {"backward_passes_per_pass", r.examples}, {"seconds", r.seconds}}}};
  if (!r.initial.entropy.data.empty()) j["entropy"] = matrix_json(r.initial.entropy);
  return j;
}

std::string table(const Result& r) {
  const auto L = r.layers, H = r.heads;
  std::string out = fmt::format("{} examples ({} tokens), {} loss, {} {:.4f}, mean loss {:.4f}\n", r.examples,
                                r.initial.tokens, objective_name(r.objective), r.metric_name, r.initial.metric,
                                r.initial.loss);
  out += fmt::format("head importance ({}{}{}), rows = layers, columns = heads\n",
                     r.options.bertology ? "run_bertology" : "Michel et al.: sum of |dL/dmask| per example",
                     r.options.normalize_layers ? ", per-layer L2" : "", r.options.normalize_global ? ", min-max" : "");
  out += "     ";
  for (std::int64_t h = 0; h < H; ++h) out += fmt::format("{:>10}", h + 1);
  out += "\n";
  for (std::int64_t l = 0; l < L; ++l) {
    out += fmt::format("{:>4} ", l + 1);
    for (std::int64_t h = 0; h < H; ++h) out += fmt::format("{:>10.3g}", r.initial.importance.data[index(l, h, H)]);
    out += "\n";
  }
  if (r.curve.size() > 1) {
    out += fmt::format("masking curve (threshold {:.4f}):\n", r.threshold);
    for (std::size_t s = 0; s < r.curve.size(); ++s) {
      const auto& st = r.curve[s];
      out += fmt::format("  step {:>3}: {:>4} heads masked ({:5.1f}%), {} {:.4f}{}\n", s, st.masked,
                         100.0 * static_cast<double>(st.masked) / static_cast<double>(L * H), r.metric_name, st.metric,
                         st.above_threshold ? "" : "  (below the threshold)");
    }
    std::int64_t kept = 0;
    for (auto v : r.final_mask.data) kept += v != 0.0f;
    out += fmt::format("final mask keeps {} of {} heads\n", kept, L * H);
  }
  out += fmt::format("{} passes, {:.1f} s\n", r.passes, r.seconds);
  return out;
}

nlohmann::json params_json(const Options& o, const Task& task, const MlmMasking& masking) {
  nlohmann::json p = {{"objective", std::string(objective_name(task.objective))},
                      {"metric", task.metric_name},
                      {"variant", o.bertology ? "run_bertology: sum over steps of |accumulated batch-mean gradient| / tokens"
                                              : "Michel et al.: sum over examples of |dL/dmask| (per-example gradients)"},
                      {"bertology", o.bertology},
                      {"normalize_layers", o.normalize_layers},
                      {"normalize_global", o.normalize_global},
                      {"curve", o.curve},
                      {"masking_amount", o.masking_amount},
                      {"masking_threshold", o.masking_threshold},
                      {"batch_size", o.batch_size}};
  if (o.bertology) p["bertology_batch_size"] = o.bertology_batch;
  if (task.objective == Objective::mlm) {
    p["mask_prob"] = masking.mask_prob;
    p["mask_seed"] = masking.seed;
    p["masking"] = "BERT: round(p * n) of the non-special tokens, 80% mask token, 10% random, 10% unchanged";
  }
  return p;
}

}  // namespace bertscope::analysis::importance

namespace bertscope::analysis::importance {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Michel et al.'s pruning curve (the metric against the share of heads pruned, with the unpruned
// model and the threshold) and the importance map.
std::vector<Figure> figures(const nlohmann::json& results) {
  const auto metric = results.value("metric", std::string("metric"));
  std::vector<Figure> out;
  if (results.contains("curve") && !results["curve"].empty()) {
    out.push_back({.id = "importance.pruning",
                   .kind = "lines",
                   .title = fmt::format("{} against the fraction of heads pruned", metric),
                   .caption = "Heads are pruned in order of importance, least important first; the dashed lines are the "
                              "unpruned model and the threshold where pruning stops. Michel et al. (2019), Fig. 3-4 "
                              "(docs/methods.md 4.3): a large share of heads can go before the metric drops.",
                   .rows = "curve",
                   .x = FigureField{"fraction_masked", "fraction of heads pruned", Unit::fraction},
                   .x_axis = "fraction of heads pruned",
                   .values = {FigureField{"metric", metric, Unit::metric}},
                   .axis = metric,
                   .references = {FigureField{"baseline_metric", "unpruned", Unit::metric},
                                  FigureField{"threshold_metric", "threshold", Unit::metric}},
                   .options = {{"numeric_x", true}}});
  }
  out.push_back({.id = "importance.heads",
                 .kind = "heatmap",
                 .title = "Head importance",
                 .caption = "Each head's importance (expected sensitivity of the loss to masking the head), layers down, heads "
                            "across; darker heads matter more.",
                 .values = {FigureField{"importance", "importance", Unit::importance}},
                 .axis = "importance score"});
  if (results.contains("entropy"))
    out.push_back({.id = "importance.entropy",
                   .kind = "heatmap",
                   .title = "Attention entropy per head",
                   .caption = "Each head's mean attention entropy on the same examples, to set beside its importance.",
                   .values = {FigureField{"entropy", "entropy", Unit::nats}},
                   .axis = "entropy (nats)"});
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::importance
