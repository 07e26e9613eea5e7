#include "analysis/surface.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "analysis/blocks.hpp"
#include "analysis/heads.hpp"
#include "analysis/word_attention.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::analysis::surface {

const std::vector<std::string>& stat_names() {
  static const std::vector<std::string> names{"self", "prev",         "next",         "cls",     "sep",
                                              "punct", "sep_to_sep", "other_to_sep", "entropy", "cls_entropy"};
  return names;
}

Accumulator::Accumulator(std::int64_t layers, std::int64_t heads, Options options)
    : layers_(layers),
      heads_(heads),
      options_(std::move(options)),
      sums_(static_cast<std::size_t>(layers * heads) * kStatCount, 0.0),
      sep_sums_(static_cast<std::size_t>(layers * heads), 0.0) {}

void Accumulator::add(const model::Encoding& enc, const core::Tensor& att) {
  const auto n = att.dim(2);
  if (att.dim(0) != layers_ || att.dim(1) != heads_)
    fail(ErrorKind::internal, "surface: attentions have {} x {} heads, expected {} x {}", att.dim(0), att.dim(1),
         layers_, heads_);
  std::vector<char> is_sep(static_cast<std::size_t>(n), 0), is_cls(static_cast<std::size_t>(n), 0),
      is_punct(static_cast<std::size_t>(n), 0);
  const bool have_tokens =
      enc.tokens.size() == static_cast<std::size_t>(n) &&
      std::any_of(enc.tokens.begin(), enc.tokens.end(), [](const std::string& t) { return !t.empty(); });
  const bool have_roles = enc.roles.size() == static_cast<std::size_t>(n);
  if (have_tokens) {
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& t = enc.tokens[static_cast<std::size_t>(i)];
      is_punct[i] = std::find(options_.punct_tokens.begin(), options_.punct_tokens.end(), t) != options_.punct_tokens.end();
    }
  }
  if (have_roles) {
    for (std::int64_t i = 0; i < n; ++i) {
      is_cls[i] = enc.roles[static_cast<std::size_t>(i)] == model::TokenRole::cls_or_bos;
      is_sep[i] = enc.roles[static_cast<std::size_t>(i)] == model::TokenRole::sep_or_eos;
    }
  }
  if (!have_roles) {
    // Without roles (an encoding read from an old trace file), the specials are the tokens
    // outside every word: the first opens the input, the others close segments.
    bool first = true;
    for (std::int64_t i = 0; i < n; ++i) {
      if (enc.word_ids.size() != static_cast<std::size_t>(n) || enc.word_ids[static_cast<std::size_t>(i)] >= 0) continue;
      (first ? is_cls : is_sep)[i] = 1;
      first = false;
    }
  }
  if (!have_tokens) ++without_tokens_;
  std::vector<std::int64_t> seps, clss, puncts;
  for (std::int64_t i = 0; i < n; ++i) {
    if (is_sep[i]) seps.push_back(i);
    if (is_cls[i]) clss.push_back(i);
    if (is_punct[i]) puncts.push_back(i);
  }
  const auto maps = layers_ * heads_;
  const double s = options_.smoothing, uniform = s / static_cast<double>(n);
  const double inv_n = 1.0 / static_cast<double>(n);
  std::vector<double> per(static_cast<std::size_t>(maps) * kStatCount);
#pragma omp parallel for schedule(dynamic) if (maps * n * n > kParallelWork)
  for (std::int64_t k = 0; k < maps; ++k) {
    const float* a = att.ptr() + k * n * n;
    double self = 0, prev = 0, next = 0, cls = 0, sep = 0, punct = 0, sep_sep = 0, other_sep = 0, ent = 0, cls_ent = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float* row = a + i * n;
      self += row[i];
      if (i > 0) prev += row[i - 1];
      if (i + 1 < n) next += row[i + 1];
      for (auto j : clss) cls += row[j];
      double to_sep = 0;
      for (auto j : seps) to_sep += row[j];
      sep += to_sep;
      (is_sep[i] ? sep_sep : other_sep) += to_sep;
      for (auto j : puncts) punct += row[j];
      double h = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double p = (1.0 - s) * row[j] + uniform;
        if (p > 0) h -= p * std::log(p);
      }
      ent += h;
      if (i == 0) cls_ent = h;
    }
    double* out = per.data() + k * static_cast<std::int64_t>(kStatCount);
    out[0] = self * inv_n;
    out[1] = prev * inv_n;
    out[2] = next * inv_n;
    out[3] = cls * inv_n;
    out[4] = sep * inv_n;
    out[5] = punct * inv_n;
    out[6] = seps.empty() ? 0.0 : sep_sep / static_cast<double>(seps.size());
    out[7] = n > static_cast<std::int64_t>(seps.size()) ? other_sep / static_cast<double>(n - static_cast<std::int64_t>(seps.size())) : 0.0;
    out[8] = ent * inv_n;
    out[9] = cls_ent;
  }
  for (std::int64_t k = 0; k < maps; ++k) {
    for (std::size_t f = 0; f < kStatCount; ++f) {
      const double v = per[static_cast<std::size_t>(k) * kStatCount + f];
      if (f == 6) sep_sums_[static_cast<std::size_t>(k)] += v;
      else sums_[static_cast<std::size_t>(k) * kStatCount + f] += v;
    }
  }
  ++inputs_;
  if (!seps.empty()) ++with_sep_;
  log_n_ += std::log(static_cast<double>(n));
  tokens_ += static_cast<double>(n);
}

std::string head_label_of(const HeadStats& s, const Options& o) {
  std::string label = "none";
  if (s.next() > o.position_threshold) label = "next";
  if (s.prev() > o.position_threshold) label = "prev";
  if (s.entropy() > o.broad_entropy) label = "broad";
  if (s.cls() > o.special_threshold) label = "cls";
  if (s.sep() > o.special_threshold) label = "sep";
  if (s.punct() > o.special_threshold) label = "punct";
  return label;
}

Result Accumulator::result() const {
  Result r;
  r.layers = layers_;
  r.heads = heads_;
  r.inputs = inputs_;
  r.inputs_with_sep = with_sep_;
  r.inputs_without_punct_tokens = without_tokens_;
  const double docs = inputs_ ? static_cast<double>(inputs_) : 1.0;
  r.uniform_entropy = log_n_ / docs;
  r.mean_tokens = tokens_ / docs;
  const auto maps = static_cast<std::size_t>(layers_ * heads_);
  r.stats.resize(maps);
  for (std::size_t k = 0; k < maps; ++k) {
    for (std::size_t f = 0; f < kStatCount; ++f) r.stats[k].values[f] = sums_[k * kStatCount + f] / docs;
    r.stats[k].values[6] = with_sep_ ? sep_sums_[k] / static_cast<double>(with_sep_) : 0.0;
    r.labels.push_back(head_label_of(r.stats[k], options_));
  }
  r.layer_means.resize(static_cast<std::size_t>(layers_));
  for (std::int64_t l = 0; l < layers_; ++l)
    for (std::int64_t h = 0; h < heads_; ++h)
      for (std::size_t f = 0; f < kStatCount; ++f)
        r.layer_means[static_cast<std::size_t>(l)].values[f] +=
            r.stats[static_cast<std::size_t>(l * heads_ + h)].values[f] / static_cast<double>(heads_);
  return r;
}

std::string Accumulator::save() const {
  dist::Packer p;
  p.put(sums_);
  p.put(sep_sums_);
  p.put<std::uint64_t>(inputs_);
  p.put<std::uint64_t>(with_sep_);
  p.put<std::uint64_t>(without_tokens_);
  p.put(log_n_);
  p.put(tokens_);
  return p.take();
}

void Accumulator::merge(std::string_view saved, const std::string& what) {
  dist::Unpacker u(saved, what);
  const auto sums = u.get_vector<double>();
  const auto sep_sums = u.get_vector<double>();
  if (sums.size() != sums_.size() || sep_sums.size() != sep_sums_.size())
    fail(ErrorKind::format, "{} hold sums of another model ({} values, expected {})", what, sums.size(), sums_.size());
  for (std::size_t i = 0; i < sums.size(); ++i) sums_[i] += sums[i];
  for (std::size_t i = 0; i < sep_sums.size(); ++i) sep_sums_[i] += sep_sums[i];
  inputs_ += u.get<std::uint64_t>();
  with_sep_ += u.get<std::uint64_t>();
  without_tokens_ += u.get<std::uint64_t>();
  log_n_ += u.get<double>();
  tokens_ += u.get<double>();
  u.done();
}

void check_trace_text(const AttentionSource& source, const AttentionExample& ex, const AnalysisInput& in,
                      const std::function<std::string(std::size_t)>& data_where) {
  if (source.model() || ex.text.empty() || in.encoding || !in.words.empty()) return;
  std::vector<std::string> expected{in.text};
  if (in.pair) expected.push_back(*in.pair);
  if (ex.text == expected) return;
  const auto where = data_where ? data_where(ex.index) : fmt::format("input {}", ex.index + 1);
  fail(ErrorKind::format, "{}: made from the text {}, but the data at {} is {}",
       source.example_name(ex.index), io::quote(fmt::format("{}", fmt::join(ex.text, "\t"))),
       where, io::quote(fmt::format("{}", fmt::join(expected, "\t"))));
}

Result run(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& source_options,
           const Options& options, const std::function<std::string(std::size_t)>& data_where, dist::Runner* runner) {
  Accumulator acc(source.layers(), source.heads(), options);
  const auto skipped = run_blocks(
      source, inputs, source_options, runner, "surface",
      [&](const ExampleVisitor& visit) {
        Accumulator block(source.layers(), source.heads(), options);
        visit([&](AttentionExample& ex) {
          check_trace_text(source, ex, inputs[ex.index], data_where);
          block.add(ex.encoding, ex.attentions);
        });
        return block.save();
      },
      [&](std::size_t b, std::string_view saved) { acc.merge(saved, fmt::format("surface: the stored sums of block {}", b)); });
  auto r = acc.result();
  r.skipped_too_long = skipped;
  return r;
}

nlohmann::json to_json(const Result& r) {
  auto stats_json = [](const HeadStats& s) {
    nlohmann::json j = nlohmann::json::object();
    for (std::size_t f = 0; f < kStatCount; ++f) j[stat_names()[f]] = s.values[f];
    return j;
  };
  nlohmann::json heads = nlohmann::json::array();
  for (std::int64_t l = 0; l < r.layers; ++l) {
    for (std::int64_t h = 0; h < r.heads; ++h) {
      const auto k = static_cast<std::size_t>(l * r.heads + h);
      auto j = head_json(l, h);
      j["behaviour"] = r.labels[k];
      j.update(stats_json(r.stats[k]));
      heads.push_back(j);
    }
  }
  nlohmann::json layers = nlohmann::json::array();
  for (std::int64_t l = 0; l < r.layers; ++l) {
    auto j = stats_json(r.layer_means[static_cast<std::size_t>(l)]);
    j["layer"] = l;
    layers.push_back(j);
  }
  nlohmann::json counts = nlohmann::json::object();
  for (const char* label : {"next", "prev", "broad", "cls", "sep", "punct", "none"})
    counts[label] = std::count(r.labels.begin(), r.labels.end(), label);
  return {{"heads", heads},
          {"layers", layers},
          {"behaviour_counts", counts},
          {"uniform_entropy", r.uniform_entropy},
          {"inputs", r.inputs},
          {"inputs_with_sep", r.inputs_with_sep},
          {"inputs_without_token_strings", r.inputs_without_punct_tokens},
          {"mean_tokens", r.mean_tokens},
          {"skipped", {{"too_long", r.skipped_too_long}}}};
}

std::string table(const Result& r) {
  std::string out = fmt::format("{} inputs, {:.1f} tokens on average; uniform attention entropy {:.3f} nats\n\n",
                                r.inputs, r.mean_tokens, r.uniform_entropy);
  out += fmt::format("{:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>7} {:>7}\n", "layer", "self", "prev",
                     "next", "cls", "sep", "punct", "sep>sep", "oth>sep", "entropy", "cls_ent");
  for (std::int64_t l = 0; l < r.layers; ++l) {
    const auto& m = r.layer_means[static_cast<std::size_t>(l)];
    out += fmt::format("{:>5} {:6.3f} {:6.3f} {:6.3f} {:6.3f} {:6.3f} {:6.3f} {:8.3f} {:8.3f} {:7.3f} {:7.3f}\n", l + 1,
                       m.self(), m.prev(), m.next(), m.cls(), m.sep(), m.punct(), m.sep_to_sep(), m.other_to_sep(),
                       m.entropy(), m.cls_entropy());
  }
  out += "\nbehaviours (1-based layer-head):\n";
  for (const char* label : {"next", "prev", "broad", "cls", "sep", "punct"}) {
    std::vector<std::string> names;
    for (std::int64_t l = 0; l < r.layers; ++l)
      for (std::int64_t h = 0; h < r.heads; ++h)
        if (r.labels[static_cast<std::size_t>(l * r.heads + h)] == label) names.push_back(head_label(l, h));
    out += fmt::format("  {:<6} {:>3}  {}\n", label, names.size(), fmt::join(names, " "));
  }
  if (r.skipped_too_long) out += fmt::format("skipped {} inputs longer than the model allows\n", r.skipped_too_long);
  return out;
}

nlohmann::json params_json(const Options& options) {
  return {{"punct_tokens", options.punct_tokens},
          {"entropy_smoothing", options.smoothing},
          {"position_threshold", options.position_threshold},
          {"broad_entropy", options.broad_entropy},
          {"special_threshold", options.special_threshold},
          {"prev_next", "prev = A[i, i-1], next = A[i, i+1]; Clark's notebook legend swaps the two in Figure 2's third panel"}};
}

}  // namespace bertscope::analysis::surface

namespace bertscope::analysis::surface {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// Clark et al. Fig. 2 and 4: layer means as lines (each head a dot), the per-head maps.
std::vector<Figure> figures(const nlohmann::json& results) {
  const auto layer = FigureField{"layer", "layer", Unit::index};
  const auto share = [](const char* path, const char* label) { return FigureField{path, label, Unit::proportion}; };
  const auto nats = [](const char* path, const char* label) { return FigureField{path, label, Unit::nats}; };
  const nlohmann::json dots = {{"points", "heads"}};  // per-head dots beside the layer means
  std::vector<Figure> out;
  out.push_back({.id = "surface.special_tokens",
                 .kind = "lines",
                 .title = "Attention to [CLS], [SEP] and punctuation per layer",
                 .caption = "Average attention each head puts on [CLS], on [SEP] and on '.' or ',' (dots: heads; lines: layer "
                            "means). Clark et al. (2019), Fig. 2 top (docs/methods.md 1.3): in BERT-base, [SEP] gets over half "
                            "of the attention in layers 6-10, [CLS] most in the first layers; compare on the same 0..1 scale.",
                 .rows = "layers",
                 .x = layer,
                 .x_axis = "layer",
                 .values = {share("cls", "[CLS]"), share("sep", "[SEP]"), share("punct", ". or ,")},
                 .axis = "average attention (proportion)",
                 .range = std::array<double, 2>{0, 1},
                 .options = dots});
  out.push_back({.id = "surface.sep_focus",
                 .kind = "lines",
                 .title = "Attention from [SEP] to [SEP] and from other tokens to [SEP]",
                 .caption = "Clark et al. (2019), Fig. 2 bottom: [SEP] tokens attend almost only to [SEP] in the middle layers, "
                            "where the other tokens also attend to [SEP] most (docs/methods.md 1.3).",
                 .rows = "layers",
                 .x = layer,
                 .x_axis = "layer",
                 .values = {share("sep_to_sep", "[SEP] to [SEP]"), share("other_to_sep", "other tokens to [SEP]")},
                 .axis = "average attention (proportion)",
                 .range = std::array<double, 2>{0, 1},
                 .options = dots});
  out.push_back({.id = "surface.positional",
                 .kind = "lines",
                 .title = "Attention to the token itself, the previous and the next token",
                 .caption = "Clark et al.'s notebook panel of positional offsets (docs/methods.md 1.3: the notebook swaps the "
                            "legend labels of prev and next; here prev is the -1 diagonal, next the +1 diagonal).",
                 .rows = "layers",
                 .x = layer,
                 .x_axis = "layer",
                 .values = {share("self", "self"), share("prev", "previous token"), share("next", "next token")},
                 .axis = "average attention (proportion)",
                 .range = std::array<double, 2>{0, 1},
                 .options = dots});
  out.push_back({.id = "surface.entropy",
                 .kind = "lines",
                 .title = "Entropy of each head's attention per layer",
                 .caption = "Mean entropy of the attention distributions (natural log), dots per head, the dashed line the "
                            "entropy of uniform attention. Clark et al. (2019), Fig. 4 top: lower layers have the broadest "
                            "heads, close to uniform (docs/methods.md 1.3).",
                 .rows = "layers",
                 .x = layer,
                 .x_axis = "layer",
                 .values = {nats("entropy", "entropy")},
                 .axis = "entropy (nats)",
                 .references = {nats("uniform_entropy", "uniform attention")},
                 .options = dots});
  out.push_back({.id = "surface.cls_entropy",
                 .kind = "lines",
                 .title = "Entropy of the attention from [CLS] per layer",
                 .caption = "Entropy of the [CLS] token's attention only. Clark et al. (2019), Fig. 4 bottom: in the last layer "
                            "[CLS] attends broadly (high entropy), as it gathers the whole input for the next-sentence task.",
                 .rows = "layers",
                 .x = layer,
                 .x_axis = "layer",
                 .values = {nats("cls_entropy", "[CLS] entropy")},
                 .axis = "entropy (nats)",
                 .references = {nats("uniform_entropy", "uniform attention")},
                 .options = dots});
  out.push_back({.id = "surface.head_attention",
                 .kind = "heatmap",
                 .title = "Attention per head",
                 .caption = "Each head's average attention to a kind of token, layers down, heads across, on a fixed 0..1 scale "
                            "so maps of different models compare directly.",
                 .rows = "heads",
                 .values = {share("cls", "to [CLS]"), share("sep", "to [SEP]"), share("punct", "to . or ,"),
                            share("self", "to itself"), share("prev", "to the previous token"), share("next", "to the next token"),
                            share("sep_to_sep", "[SEP] to [SEP]"), share("other_to_sep", "other tokens to [SEP]")},
                 .axis = "average attention (proportion)",
                 .range = std::array<double, 2>{0, 1}});
  out.push_back({.id = "surface.head_entropy",
                 .kind = "heatmap",
                 .title = "Entropy per head",
                 .caption = "Each head's mean attention entropy (all tokens, or from [CLS] only), layers down, heads across; "
                            "0 is a head that attends to one token, the uniform entropy is the input's ln(length).",
                 .rows = "heads",
                 .values = {nats("entropy", "entropy"), nats("cls_entropy", "[CLS] entropy")},
                 .axis = "entropy (nats)"});
  (void)results;
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::surface
