#include "bertscope/analysis.hpp"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/runs.hpp"
#include "api/model_impl.hpp"
#include "io/error.hpp"
#include "report/results.hpp"

namespace bertscope {

struct Document::Impl {
  analysis::ResultDocument document;
  std::string table;
};

Document::Document() : impl_(std::make_unique<Impl>()) {}
Document::Document(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Document::~Document() = default;
Document::Document(const Document& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Document& Document::operator=(const Document& other) {
  impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;

const std::string& Document::method() const { return impl_->document.method; }
std::string Document::json(int indent) const { return impl_->document.to_json().dump(indent); }
const std::string& Document::table() const { return impl_->table; }
void Document::save(const std::string& path) const { report::write_results(path, impl_->document); }

namespace {

namespace runs = analysis::runs;

// Reads a method's options by name, each once, and rejects any name the method does not know.
class OptionReader {
 public:
  OptionReader(std::string method, const Options& options) : method_(std::move(method)), options_(options) {}

  bool flag(const std::string& key, bool fallback = false) { return get<bool>(key, fallback, "true or false"); }
  std::int64_t integer(const std::string& key, std::int64_t fallback) { return get<std::int64_t>(key, fallback, "an integer"); }
  std::size_t count(const std::string& key, std::size_t fallback) {
    const auto v = integer(key, static_cast<std::int64_t>(fallback));
    if (v < 0) fail(ErrorKind::input, "option '{}' of {}: expected a count >= 0, got {}", key, method_, v);
    return static_cast<std::size_t>(v);
  }
  double number(const std::string& key, double fallback) {
    known_.insert(key);
    const auto it = options_.find(key);
    if (it == options_.end()) return fallback;
    if (const auto* i = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*i);
    return get<double>(key, fallback, "a number");
  }
  std::string text(const std::string& key, const std::string& fallback) { return get<std::string>(key, fallback, "a string"); }
  std::vector<std::string> list(const std::string& key, const std::vector<std::string>& fallback) {
    known_.insert(key);
    if (!options_.count(key)) return fallback;
    // Space-separated, as the CLI's repeated values: a comma can itself be an item (punct_tokens).
    const auto s = text(key, "");
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = s.find_first_not_of(' ', at)) != std::string::npos) {
      const auto end = s.find(' ', at);
      out.push_back(s.substr(at, end == std::string::npos ? std::string::npos : end - at));
      at = end;
    }
    return out;
  }
  // Every option must have been read: a misspelt name would otherwise be silently ignored.
  void finish() const {
    for (const auto& [key, value] : options_)
      if (!known_.count(key))
        fail(ErrorKind::input, "unknown option '{}' for {} (options: {})", key, method_, fmt::join(known_, ", "));
  }

 private:
  template <typename T>
  T get(const std::string& key, T fallback, const char* expected) {
    known_.insert(key);
    const auto it = options_.find(key);
    if (it == options_.end()) return fallback;
    if (const auto* v = std::get_if<T>(&it->second)) return *v;
    fail(ErrorKind::input, "option '{}' of {}: expected {}", key, method_, expected);
  }
  std::string method_;
  const Options& options_;
  std::set<std::string> known_;
};

const std::string& one_file(const std::string& method, const std::vector<std::string>& data) {
  if (data.size() != 1) fail(ErrorKind::input, "{} reads one data file, {} given", method, data.size());
  return data.front();
}

runs::Common common(OptionReader& r, const std::string& data, const ProgressCallback& progress, std::size_t batch_size = 16) {
  runs::Common c;
  c.data = data;
  c.batch_size = r.count("batch_size", batch_size);
  if (c.batch_size == 0) fail(ErrorKind::input, "option 'batch_size': expected at least 1");
  c.truncate = r.flag("truncate");
  c.progress = progress;
  return c;
}

runs::TextInputOptions text_inputs(OptionReader& r) {
  runs::TextInputOptions t;
  t.segments = r.flag("segments");
  t.segment.max_segments = r.count("max_segments", t.segment.max_segments);
  t.segment.max_sequence_length = r.count("segment_length", t.segment.max_sequence_length);
  t.segment.seed = static_cast<std::uint64_t>(r.integer("seed", 0));
  t.python = r.text("python_random", t.python);
  t.shuffle = !r.flag("no_shuffle");
  t.write_segments = r.text("write_segments", "");
  t.zero_type_ids = r.flag("zero_type_ids");
  return t;
}

runs::TaskChoice task_choice(OptionReader& r) {
  runs::TaskChoice t;
  t.task = r.text("task", "");
  t.text_column = r.text("text_column", "");
  t.pair_column = r.text("pair_column", "");
  t.label_column = r.text("label_column", "");
  t.label_names = r.text("label_names", "");
  t.metric = r.text("metric", "");
  t.no_header = r.flag("no_header");
  t.regression = r.flag("regression");
  return t;
}

Document finished(runs::Output&& out) {
  return Document(std::make_unique<Document::Impl>(Document::Impl{std::move(out.document), std::move(out.table)}));
}

Document attention_method(const runs::Subject& subject, const std::string& method, const std::vector<std::string>& data,
                          const Options& options, const ProgressCallback& progress) {
  OptionReader r(method, options);
  if (method == "surface") {
    auto c = common(r, one_file(method, data), progress);
    auto text = text_inputs(r);
    analysis::surface::Options o;
    o.punct_tokens = r.list("punct_tokens", o.punct_tokens);
    o.position_threshold = r.number("position_threshold", o.position_threshold);
    o.broad_entropy = r.number("broad_entropy", o.broad_entropy);
    o.special_threshold = r.number("special_threshold", o.special_threshold);
    r.finish();
    return finished(runs::surface(subject, c, text, o));
  }
  if (method == "syntax") {
    auto c = common(r, one_file(method, data), progress);
    analysis::syntax::Options o;
    o.from = analysis::parse_from_word(r.text("from", "mean"));
    o.base_relations = r.flag("base_relations");
    o.poss_rule = !r.flag("no_poss_rule");
    const auto rows = r.count("rows", 20);
    r.finish();
    return finished(runs::syntax(subject, c, o, rows));
  }
  if (method == "cluster") {
    auto c = common(r, one_file(method, data), progress);
    auto text = text_inputs(r);
    analysis::cluster::Options o;
    o.smoothing = r.number("smoothing", o.smoothing);
    o.mds.max_iterations = static_cast<int>(r.integer("mds_iterations", o.mds.max_iterations));
    o.mds.eps = r.number("mds_eps", o.mds.eps);
    r.finish();
    return finished(runs::cluster(subject, c, text, o));
  }
  if (method == "rollout" || method == "flow") {
    auto c = common(r, one_file(method, data), progress);
    auto text = text_inputs(r);
    analysis::rollout::Options where;
    where.layer = r.integer("layer", where.layer);
    analysis::rollout::parse_positions(r.text("positions", "0"), where);
    where.residual = r.number("residual", where.residual);
    where.matrices = r.flag("matrix");
    if (method == "rollout") {
      r.finish();
      return finished(runs::rollout(subject, c, text, where));
    }
    analysis::flow::Options o;
    o.where = where;
    o.warm_start = !r.flag("cold");
    r.finish();
    return finished(runs::flow(subject, c, text, o));
  }
  if (method == "coref") {
    auto c = common(r, one_file(method, data), progress);
    analysis::coref::Options o;
    const auto format = r.text("format", "auto");
    o.from = analysis::parse_from_word(r.text("from", "mean"));
    o.max_tokens = r.count("max_tokens", o.max_tokens);
    r.finish();
    return finished(runs::coref(subject, c, format, o));
  }
  if (method == "probe") {
    auto c = common(r, one_file(method, data), progress);
    runs::ProbeChoice p;
    p.dev = r.text("dev", "");
    p.dev_traces = r.text("dev_traces", "");
    p.word_vectors = r.text("word_vectors", "");
    p.weights = r.text("weights", "");
    const auto kinds = r.text("probe", "");
    if (!kinds.empty()) p.kinds = runs::split_commas(kinds);  // the CLI's --probe a,b
    analysis::probe::Options o;
    o.epochs = r.count("epochs", o.epochs);
    o.learning_rate = r.number("learning_rate", o.learning_rate);
    o.seed = static_cast<std::uint64_t>(r.integer("seed", 0));
    o.hidden = r.count("hidden", o.hidden);
    o.shifted_words = r.flag("shifted_words");
    o.from = analysis::parse_from_word(r.text("from", "mean"));
    r.finish();
    return finished(runs::probe(subject, c, p, o));
  }
  if (method == "patterns") {
    auto c = common(r, one_file(method, data), progress);
    const auto task = runs::task_spec(task_choice(r));
    runs::PatternChoice p;
    p.thresholds = r.list("threshold", {});
    p.labels = r.text("labels", "");
    p.save_classifier = r.text("save_classifier", "");
    p.classifier = r.text("classifier", "");
    p.folds = static_cast<int>(r.integer("folds", p.folds));
    r.finish();
    return finished(runs::patterns(subject, c, task, p));
  }
  if (method == "features") {
    auto c = common(r, one_file(method, data), progress);
    const auto task = runs::task_spec(task_choice(r));
    runs::FeatureChoice f;
    f.features = r.list("feature", {});
    f.links = r.list("link", {});
    f.pairing = r.text("pairing", f.pairing);
    f.missing = r.text("missing", f.missing);
    f.span_filter = r.text("span_filter", f.span_filter);
    r.finish();
    return finished(runs::features(subject, c, task, f));
  }
  fail(ErrorKind::input, "unknown analysis method '{}' (methods: {})", method, fmt::join(analysis_methods(), ", "));
}

Document model_method(const Model& model, const std::string& method, const std::vector<std::string>& data,
                      const Options& options, const ProgressCallback& progress) {
  const auto& m = model.impl().model;
  const auto& path = model.impl().folder;
  OptionReader r(method, options);
  if (method == "ablate") {
    analysis::ablate::Options o;
    o.mode = analysis::ablate::parse_mode(r.text("mode", "uniform"));
    o.batch_size = r.count("batch_size", 16);
    o.truncate = r.flag("truncate");
    o.reuse = !r.flag("full_passes");
    o.layers = !r.flag("no_layers");
    o.random_draws = r.count("random_draws", 0);
    o.random_size = r.integer("random_size", 1);
    o.seed = static_cast<std::uint64_t>(r.integer("seed", 0));
    o.progress = progress;
    const auto task = task_choice(r);
    r.finish();
    return finished(runs::ablate(m, path, one_file(method, data), runs::task_spec(task), o));
  }
  if (method == "influence") {
    runs::AgreementChoice d;
    d.format = r.text("format", d.format);
    d.exclude = r.text("exclude", d.exclude);
    d.who = r.flag("who");
    d.no_period = r.flag("no_period");
    d.keep_duplicates = r.flag("keep_duplicates");
    d.truncate = r.flag("truncate");
    d.task = task_choice(r);
    analysis::influence::RunOptions o;
    o.steps = r.integer("steps", o.steps);
    o.max_rows = r.integer("max_rows", o.max_rows);
    o.baseline = r.text("baseline", o.baseline);
    o.sources = r.text("sources", o.sources);
    o.patterns = !r.flag("no_patterns");
    o.verify = r.flag("verify");
    o.algorithm = r.text("algorithm", o.algorithm);
    const auto ablation_tokens = r.count("ablation_tokens", o.ablation_tokens);
    o.ablation_tokens = r.flag("no_ablation") ? 0 : ablation_tokens;
    o.replacement = r.text("ablation_value", o.replacement);
    o.optimality_samples = r.count("optimality_samples", o.optimality_samples);
    o.optimality_seed = static_cast<std::uint64_t>(r.count("optimality_seed", static_cast<std::size_t>(o.optimality_seed)));
    o.residual = r.number("attention_residual", o.residual);
    o.attention_direction = r.text("attention_direction", o.attention_direction);
    o.batch_size = r.count("batch_size", o.batch_size);
    o.selection.length = r.integer("length", 0);
    o.selection.single_pieces = !r.flag("split_words");
    o.selection.per_form = r.count("per_form", 250);
    o.selection.limit = r.count("max_examples", 1000);
    o.selection.seed = static_cast<std::uint64_t>(r.integer("seed", 1111));
    o.selection.shuffle = !r.flag("no_shuffle");
    r.finish();
    if (data.empty()) fail(ErrorKind::input, "influence needs at least one data file");
    return finished(runs::influence(m, path, data, runs::data_options(d), o, progress));
  }
  if (method == "saliency") {
    auto c = common(r, one_file(method, data), progress);
    auto text = text_inputs(r);
    const auto task = runs::task_spec(task_choice(r));
    analysis::saliency::TargetSpec target;
    target.cls = r.text("class", "");
    target.minus_cls = r.text("minus_class", "");
    target.position = r.text("position", "");
    target.token = r.text("token", "");
    target.minus_token = r.text("minus_token", "");
    analysis::saliency::Options o;
    o.baseline = analysis::saliency::parse_baseline(r.text("baseline", "zero"));
    o.keep_special = r.flag("keep_special");
    o.steps = r.integer("steps", o.steps);
    o.rule = analysis::saliency::parse_rule(r.text("rule", "trapezoid"));
    o.integrated = !r.flag("no_ig");
    r.finish();
    return finished(runs::saliency(m, path, c, text, task, target, o));
  }
  if (method == "importance") {
    auto c = common(r, one_file(method, data), progress);
    const auto task = runs::task_spec(task_choice(r));
    auto text = text_inputs(r);
    const auto objective = r.text("objective", "auto");
    analysis::importance::Options o;
    const bool no_normalize = r.flag("no_normalize");
    o.normalize_layers = !no_normalize && !r.flag("no_layer_normalize");
    o.normalize_global = !no_normalize && !r.flag("no_global_normalize");
    o.bertology = r.flag("bertology");
    o.bertology_batch = r.count("bertology_batch_size", o.bertology_batch);
    o.curve = !r.flag("no_curve");
    o.masking_amount = r.number("masking_amount", o.masking_amount);
    o.masking_threshold = r.number("masking_threshold", o.masking_threshold);
    o.entropy = !r.flag("no_entropy");
    analysis::importance::MlmMasking masking;
    masking.mask_prob = r.number("mask_prob", masking.mask_prob);
    masking.seed = static_cast<std::uint64_t>(r.integer("mask_seed", 0));
    r.finish();
    if (o.bertology_batch < 1) fail(ErrorKind::input, "option 'bertology_batch_size' of importance: expected at least 1");
    if (progress) o.progress = [&](std::size_t, std::size_t done, std::size_t total) { progress(done, total); };
    return finished(runs::importance(m, path, c, task, text, objective, masking, o));
  }
  if (method == "gradsep") {
    auto c = common(r, one_file(method, data), progress, 8);
    auto text = text_inputs(r);
    analysis::gradsep::Options o;
    o.masking.mask_prob = r.number("mask_prob", o.masking.mask_prob);
    o.masking.seed = static_cast<std::uint64_t>(r.integer("mask_seed", 0));
    o.sum_loss = r.flag("sum_loss");
    o.punct_tokens = r.list("punct_tokens", o.punct_tokens);
    r.finish();
    return finished(runs::gradsep(m, path, c, text, o));
  }
  return attention_method({&m, path, {}}, method, data, options, progress);
}

}  // namespace

std::vector<std::string> analysis_methods() {
  return {"ablate",    "cluster",  "coref", "features", "flow",     "gradsep", "importance",
          "influence", "patterns", "probe", "rollout",  "saliency", "surface", "syntax"};
}

Document compare(const Model& a, const Model& b, const std::string& data, const Options& options,
                 const ProgressCallback& progress) {
  OptionReader r("compare", options);
  auto c = common(r, data, progress);
  const auto task = runs::task_spec(task_choice(r));
  const auto pad_to = r.integer("pad_to", 0);
  r.finish();
  return finished(runs::compare(a.impl().model, a.impl().folder, b.impl().model, b.impl().folder, c, task, pad_to));
}

Document analyze(const Model& model, const std::string& method, const std::vector<std::string>& data, const Options& options,
                 const ProgressCallback& progress) {
  return model_method(model, method, data, options, progress);
}

Document analyze_traces(const std::string& traces_folder, const std::string& method, const std::vector<std::string>& data,
                        const Options& options, const ProgressCallback& progress) {
  if (method == "ablate" || method == "influence" || method == "saliency" || method == "gradsep" || method == "importance")
    fail(ErrorKind::input, "{} runs the model: give a Model, not traces", method);
  return attention_method({nullptr, {}, traces_folder}, method, data, options, progress);
}

Document analyze_attention(const std::vector<AttentionView>& inputs, const std::string& method,
                           const std::vector<std::string>& data, const Options& options, const ProgressCallback& progress) {
  if (method == "ablate" || method == "influence" || method == "saliency" || method == "gradsep" || method == "importance")
    fail(ErrorKind::input, "{} runs the model: give a Model, not attention maps", method);
  std::vector<analysis::AttentionInMemory> maps;
  maps.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    try {
      auto& m = maps.emplace_back();
      m.encoding = api::engine_encoding(inputs[i].encoding);
      m.attentions = api::stacked_attention(inputs[i]);
      m.text.push_back(inputs[i].text);
      if (inputs[i].pair) m.text.push_back(*inputs[i].pair);
    } catch (const Error& e) {
      fail(ErrorKind::input, "attention input {}: {}", i, e.what());
    }
  }
  runs::Subject subject;
  subject.memory = &maps;
  return attention_method(subject, method, data, options, progress);
}

}  // namespace bertscope
