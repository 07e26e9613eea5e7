#include "analysis/compare.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "dist/pack.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::analysis::compare {

void check_compatible(const model::Model& a, const model::Model& b) {
  const auto da = a.dir().string(), db = b.dir().string();
  if (a.layers() != b.layers() || a.heads() != b.heads())
    fail(ErrorKind::input, "{} has {} layers x {} heads but {} has {} x {}; compare needs the same encoder shape", da,
         a.layers(), a.heads(), db, b.layers(), b.heads());
  const auto& ta = a.tokenizer();
  const auto& tb = b.tokenizer();
  const auto& sa = ta.settings();
  const auto& sb = tb.settings();
  auto setting = [&](const char* name, const auto& x, const auto& y) {
    if (x != y)
      fail(ErrorKind::input, "{} and {} tokenize differently ({} differs); compare needs identical inputs", da, db, name);
  };
  setting("lowercase", sa.lowercase, sb.lowercase);
  setting("strip_accents", sa.strip_accents.value_or(sa.lowercase), sb.strip_accents.value_or(sb.lowercase));
  setting("tokenize_chinese_chars", sa.tokenize_chinese_chars, sb.tokenize_chinese_chars);
  setting("the special tokens", std::tie(sa.cls_token, sa.sep_token, sa.pad_token, sa.unk_token),
          std::tie(sb.cls_token, sb.sep_token, sb.pad_token, sb.unk_token));
  if (ta.vocab_size() != tb.vocab_size())
    fail(ErrorKind::input, "{} has {} vocabulary entries but {} has {}; compare needs the same vocabulary", da,
         ta.vocab_size(), db, tb.vocab_size());
  for (std::size_t i = 0; i < ta.vocab_size(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    if (ta.token(id) != tb.token(id))
      fail(ErrorKind::input, "the vocabularies of {} and {} differ at id {} ({} vs {}); compare needs the same vocabulary",
           da, db, i, io::quote(ta.token(id)), io::quote(tb.token(id)));
  }
}

double cosine(const float* a, const float* b, std::int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0 || bb == 0) return 0.0;
  // sqrt(aa * bb) rather than sqrt(aa) * sqrt(bb): for a == b it is exactly aa, so the cosine
  // of a map with itself is exactly 1.
  return ab / std::sqrt(aa * bb);
}

SpecialAttention::SpecialAttention(std::int64_t layers, std::int64_t heads)
    : layers_(layers), heads_(heads), cls_(static_cast<std::size_t>(layers * heads), 0.0), sep_(cls_), punct_(cls_) {}

void SpecialAttention::add_map(std::size_t lh, const float* a, std::int64_t stride, const model::Encoding& e) {
  const auto t = static_cast<std::int64_t>(e.size());
  const double n = static_cast<double>(t);
  double cls = 0, sep = 0, punct = 0;
  std::vector<double> column(static_cast<std::size_t>(t), 0.0);
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = 0; j < t; ++j) column[static_cast<std::size_t>(j)] += a[i * stride + j];
  for (std::int64_t j = 0; j < t; ++j) {
    const auto& tok = e.tokens[static_cast<std::size_t>(j)];
    const bool special = e.sequence_ids.empty() ? false : e.sequence_ids[static_cast<std::size_t>(j)] < 0;
    const double received = column[static_cast<std::size_t>(j)] / n;
    if (j == 0 && special) cls = received;
    if (j > 0 && special) sep = std::max(sep, received);
    if (tok == "." || tok == ",") punct += received;
  }
  cls_[lh] += cls;
  sep_[lh] += sep;
  punct_[lh] += punct;
}

void SpecialAttention::add(const core::Tensor& att, const model::Encoding& e) {
  const auto t = static_cast<std::int64_t>(e.size());
  if (att.shape != core::Shape{layers_, heads_, t, t})
    fail(ErrorKind::internal, "special attention: maps {} for {} tokens", core::shape_string(att.shape), t);
  for (std::int64_t lh = 0; lh < layers_ * heads_; ++lh) add_map(static_cast<std::size_t>(lh), att.ptr() + lh * t * t, t, e);
  ++inputs_;
}

void SpecialAttention::add(const model::Trace& trace, const model::Encoding& e) {
  for (std::int64_t l = 0; l < layers_; ++l) {
    const auto* probs = trace.find(model::Site::attn_probs, l);
    if (!probs || probs->shape.size() != 3 || probs->dim(0) != heads_ || probs->dim(1) < static_cast<std::int64_t>(e.size()))
      fail(ErrorKind::internal, "special attention: layer {} has no attention maps for {} tokens", l, e.size());
    const auto s = probs->dim(1);
    for (std::int64_t h = 0; h < heads_; ++h)
      add_map(static_cast<std::size_t>(l * heads_ + h), probs->ptr() + h * s * s, s, e);
  }
  ++inputs_;
}

nlohmann::json SpecialAttention::to_json() const {
  const double n = static_cast<double>(std::max<std::int64_t>(inputs_, 1));
  auto block = [&](const std::vector<double>& sums) {
    nlohmann::json heads = nlohmann::json::array(), layers = nlohmann::json::array();
    for (std::int64_t l = 0; l < layers_; ++l) {
      nlohmann::json row = nlohmann::json::array();
      double mean = 0;
      for (std::int64_t h = 0; h < heads_; ++h) {
        const double v = sums[static_cast<std::size_t>(l * heads_ + h)] / n;
        row.push_back(v);
        mean += v / static_cast<double>(heads_);
      }
      heads.push_back(row);
      layers.push_back(mean);
    }
    return nlohmann::json{{"heads", heads}, {"layers", layers}};
  };
  return {{"inputs", inputs_}, {"cls", block(cls_)}, {"sep", block(sep_)}, {"punct", block(punct_)}};
}

nlohmann::json Result::to_json() const {
  nlohmann::json matrix = nlohmann::json::array(), layer_mean = nlohmann::json::array();
  std::vector<std::pair<double, std::int64_t>> order;
  for (std::int64_t l = 0; l < layers; ++l) {
    nlohmann::json row = nlohmann::json::array();
    double mean = 0;
    for (std::int64_t h = 0; h < heads; ++h) {
      const double v = cosine[static_cast<std::size_t>(l * heads + h)];
      row.push_back(v);
      mean += v / static_cast<double>(heads);
      order.push_back({v, l * heads + h});
    }
    matrix.push_back(row);
    layer_mean.push_back(mean);
  }
  std::stable_sort(order.begin(), order.end());
  nlohmann::json lowest = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min<std::size_t>(10, order.size()); ++i) {
    auto e = head_json(order[i].second / heads, order[i].second % heads);
    e["cosine"] = order[i].first;
    lowest.push_back(e);
  }
  return {{"cosine", matrix},
          {"cosine_layer_mean", layer_mean},
          {"lowest", lowest},
          {"special", {{"a", special_a.to_json()}, {"b", special_b.to_json()}}}};
}

std::string SpecialAttention::save() const {
  dist::Packer p;
  p.put(inputs_);
  p.put(cls_);
  p.put(sep_);
  p.put(punct_);
  return p.take();
}

void SpecialAttention::merge(std::string_view saved, const std::string& what) {
  dist::Unpacker u(saved, what);
  inputs_ += u.get<std::int64_t>();
  for (auto* sums : {&cls_, &sep_, &punct_}) {
    const auto more = u.get_vector<double>();
    if (more.size() != sums->size()) fail(ErrorKind::format, "{} hold sums of another model", what);
    for (std::size_t i = 0; i < more.size(); ++i) (*sums)[i] += more[i];
  }
  u.done();
}

Result run(const model::Model& a, const model::Model& b, const std::vector<AnalysisInput>& inputs, const Options& opt,
           dist::Runner* runner) {
  check_compatible(a, b);
  const auto L = a.layers(), H = a.heads();
  Result r{L, H, 0, opt.pad_to, std::vector<double>(static_cast<std::size_t>(L * H), 0.0), SpecialAttention(L, H),
           SpecialAttention(L, H)};
  const auto& tok = a.tokenizer();
  const auto model_limit = std::min(a.max_length(), b.max_length());
  if (opt.pad_to < 0 || static_cast<std::size_t>(opt.pad_to) > model_limit)
    fail(ErrorKind::input, "padding to {} tokens: the models take at most {}", opt.pad_to, model_limit);
  const model::EncodeOptions enc_opt{opt.pad_to > 0 ? static_cast<std::size_t>(opt.pad_to) : model_limit, opt.truncate};
  auto describe = [&](std::size_t i) { return opt.describe ? opt.describe(i) : fmt::format("input {}", i + 1); };

  // Every input's encoding and model input first (cheap, and on every process), so the batches
  // are known before any runs: they end at batch_size inputs, or earlier when the two models'
  // maps would pass the memory budget (padded to 200 tokens, bert-base keeps 23 MB of maps per
  // input and model).
  std::vector<model::Encoding> encodings;
  std::vector<model::ModelInput> model_inputs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    try {
      if (in.encoding) {
        if (in.encoding->size() > enc_opt.max_length)
          fail(ErrorKind::input, "{} tokens; at most {}", in.encoding->size(), enc_opt.max_length);
        encodings.push_back(*in.encoding);
      } else if (!in.words.empty()) {
        encodings.push_back(tok.encode_words(in.words, enc_opt));
      } else {
        encodings.push_back(tok.encode(in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt, enc_opt));
      }
    } catch (const Error& e) {
      throw Error(e.kind(), fmt::format("{}: {}", describe(i), e.what()));
    }
    auto mi = model::ModelInput::from_encoding(encodings.back());
    if (opt.pad_to > 0) {
      // A padded transformers batch: [PAD] ids, type id 0, attention_mask 0.
      const auto t = mi.ids.size(), s = static_cast<std::size_t>(opt.pad_to);
      if (mi.type_ids.empty()) mi.type_ids.assign(t, 0);
      mi.attention_mask.assign(t, 1);
      mi.ids.resize(s, tok.pad_id());
      mi.type_ids.resize(s, 0);
      mi.attention_mask.resize(s, 0);
    }
    model_inputs.push_back(std::move(mi));
  }
  const auto batch_size = std::max<std::size_t>(opt.batch_size, 1);
  std::vector<std::size_t> starts;  // batch k is inputs [starts[k], starts[k + 1])
  for (std::size_t first = 0; first < inputs.size();) {
    starts.push_back(first);
    std::int64_t map_floats = 0;
    auto i = first;
    while (i < inputs.size() && i - first < batch_size && map_floats < opt.max_map_floats) {
      const auto t = static_cast<std::int64_t>(model_inputs[i].ids.size());
      map_floats += 2 * L * H * t * t;
      ++i;
    }
    first = i;
  }
  starts.push_back(inputs.size());
  if (inputs.empty()) fail(ErrorKind::input, "compare: no inputs");

  model::RunOptions run;
  run.record = model::SiteSet(L);
  run.record.add(model::Site::attn_probs);
  // One item per batch, spread over the run's processes (dist::Runner): each input's cosines,
  // then the batch's special-token sums of both models; folded below in input order.
  dist::Runner one;
  auto& items = runner ? *runner : one;
  const auto batches = starts.size() - 1;
  const auto stored = items.map(
      "batches", batches, {.max_chunk = 4, .costliest_last = false},
      [&](std::size_t k) {
        const std::vector<model::ModelInput> batch(model_inputs.begin() + static_cast<std::ptrdiff_t>(starts[k]),
                                                   model_inputs.begin() + static_cast<std::ptrdiff_t>(starts[k + 1]));
        const auto ra = a.forward(batch, run);
        const auto rb = b.forward(batch, run);
        SpecialAttention special_a(L, H), special_b(L, H);
        std::vector<double> cosines;
        for (std::size_t j = 0; j < batch.size(); ++j) {
          for (std::int64_t l = 0; l < L; ++l) {
            const auto* pa = ra[j].trace.find(model::Site::attn_probs, l);
            const auto* pb = rb[j].trace.find(model::Site::attn_probs, l);
            const auto s = pa->dim(1);
            for (std::int64_t h = 0; h < H; ++h) cosines.push_back(cosine(pa->ptr() + h * s * s, pb->ptr() + h * s * s, s * s));
          }
          special_a.add(ra[j].trace, encodings[starts[k] + j]);
          special_b.add(rb[j].trace, encodings[starts[k] + j]);
        }
        dist::Packer p;
        p.put(cosines);
        p.put(std::string_view(special_a.save()));
        p.put(std::string_view(special_b.save()));
        return p.take();
      },
      [&, done = std::size_t{0}](std::size_t k) mutable {
        done += k;
        if (opt.progress) opt.progress(std::min(inputs.size(), done * batch_size), inputs.size());
      });
  for (std::size_t k = 0; k < batches; ++k) {
    const auto what = fmt::format("compare: the stored results of batch {}", k);
    dist::Unpacker u(stored[k], what);
    const auto cosines = u.get_vector<double>();
    const auto n = starts[k + 1] - starts[k];
    if (cosines.size() != n * static_cast<std::size_t>(L * H)) fail(ErrorKind::format, "{} are of another model", what);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t lh = 0; lh < r.cosine.size(); ++lh) r.cosine[lh] += cosines[j * r.cosine.size() + lh];
    r.special_a.merge(u.get_string(), what);
    r.special_b.merge(u.get_string(), what);
    u.done();
    r.inputs += n;
  }
  for (auto& v : r.cosine) v /= static_cast<double>(r.inputs);
  return r;
}

nlohmann::json params_json(const Options& options, const Result& result) {
  return {{"maps", result.pad_to > 0 ? "padded" : "cropped"},
          {"pad_to", result.pad_to},
          {"cosine", result.pad_to > 0 ? "over the flattened S x S map of the input padded to S tokens, padding rows "
                                         "included (the paper's code)"
                                       : "over the flattened T x T map of the input's real tokens"},
          {"special", "cls = mean_i A[i,0]; sep = max over separator tokens s of mean_i A[i,s]; punct = mean_i sum over "
                      "\".\" and \",\" tokens j of A[i,j]; maps cropped to the real tokens"},
          {"truncate", options.truncate},
          {"batch_size", options.batch_size}};
}

}  // namespace bertscope::analysis::compare

namespace bertscope::analysis::compare {

// Designated initializers leave a figure's optional members at their defaults.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

// A model's name in titles and legends: the last part of its folder as given (model.a.path),
// "model A" when the document does not say.
static std::string model_name(const nlohmann::json& model, const char* side, const char* fallback) {
  const auto it = model.is_object() ? model.find(side) : model.end();
  if (it == model.end() || !it->is_object() || !it->contains("path") || !(*it)["path"].is_string()) return fallback;
  auto path = (*it)["path"].get<std::string>();
  while (path.size() > 1 && (path.back() == '/' || path.back() == '\\')) path.pop_back();
  const auto slash = path.find_last_of("/\\");
  auto name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.empty() ? fallback : name;
}

// Kovaleva et al. Fig. 5 (cosine similarity of the two models' maps) and Fig. 6 (attention to
// special tokens in each model).
std::vector<Figure> figures(const nlohmann::json& results, const nlohmann::json& model) {
  const auto share = [](std::string path, std::string label) {
    return FigureField{std::move(path), std::move(label), Unit::proportion};
  };
  // Kovaleva et al. name the two models (pre-trained, fine-tuned); so do the figures.
  const auto a = model_name(model, "a", "model A"), b = model_name(model, "b", "model B");
  const auto label_a = fmt::format("A: {}", a), label_b = fmt::format("B: {}", b);
  const auto pair = fmt::format("{} (A) and {} (B)", a, b);
  std::vector<Figure> out;
  out.push_back({.id = "compare.cosine",
                 .kind = "heatmap",
                 .title = fmt::format("Cosine similarity of each head's maps in {}", pair),
                 .caption = fmt::format("Mean cosine similarity between a head's flattened attention maps in model A ({}) "
                                        "and model B ({}) (the document's model.a and model.b), layers down, heads across. "
                                        "Kovaleva et al. (2019), Fig. 5 (docs/methods.md 2.4): after fine-tuning the last "
                                        "two layers change most.",
                                        a, b),
                 .values = {FigureField{"cosine", "cosine similarity", Unit::similarity}},
                 .axis = "cosine similarity",
                 .range = std::array<double, 2>{0, 1}});
  out.push_back({.id = "compare.cosine_layers",
                 .kind = "lines",
                 .title = fmt::format("Cosine similarity of the maps of {} per layer", pair),
                 .caption = fmt::format("The layer means of the per-head cosine similarity between model A ({}) and "
                                        "model B ({}).",
                                        a, b),
                 .x = FigureField{"", "layer", Unit::index},
                 .x_axis = "layer",
                 .values = {FigureField{"cosine_layer_mean", "mean over heads", Unit::similarity}},
                 .axis = "cosine similarity",
                 .range = std::array<double, 2>{0, 1}});
  for (const auto& [token, label] : {std::pair{"sep", "[SEP]"}, {"cls", "[CLS]"}, {"punct", "punctuation"}}) {
    if (!results.contains("special") || !results["special"]["a"].contains(token)) continue;
    out.push_back({.id = fmt::format("compare.{}_layers", token),
                   .kind = "lines",
                   .title = fmt::format("Attention to {} per layer, {}", label, pair),
                   .caption = fmt::format("Attention received by {} (mean over the inputs and the heads of a layer) in model "
                                          "A ({}) and model B ({}). Kovaleva et al. (2019), Fig. 6 (docs/methods.md 2.5).",
                                          label, a, b),
                   .x = FigureField{"", "layer", Unit::index},
                   .x_axis = "layer",
                   .values = {share(fmt::format("special.a.{}.layers", token), label_a),
                              share(fmt::format("special.b.{}.layers", token), label_b)},
                   .axis = "attention received (proportion)",
                   .range = std::array<double, 2>{0, 1}});
    out.push_back({.id = fmt::format("compare.{}_heads", token),
                   .kind = "heatmap",
                   .title = fmt::format("Attention to {} per head, {}", label, pair),
                   .caption = fmt::format("Attention received by {} per head in model A ({}) or model B ({}), on a fixed 0..1 "
                                          "scale (Kovaleva et al. 2019, Fig. 6).",
                                          label, a, b),
                   .values = {share(fmt::format("special.a.{}.heads", token), label_a),
                              share(fmt::format("special.b.{}.heads", token), label_b)},
                   .axis = "attention received (proportion)",
                   .range = std::array<double, 2>{0, 1}});
  }
  return out;
}

#pragma GCC diagnostic pop

}  // namespace bertscope::analysis::compare
