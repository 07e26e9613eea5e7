#include "analysis/runs.hpp"

#include <fstream>

#include <fmt/format.h>

#include "analysis/heads.hpp"
#include "io/conllu.hpp"
#include "io/coref.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::analysis::runs {

namespace {

// Clark et al.'s statistics skip over-long inputs (counted) unless truncating; the others fail.
SourceOptions source_options(const Common& common, bool skip_too_long = true) {
  SourceOptions o;
  o.batch_size = common.batch_size;
  o.truncate = common.truncate;
  o.skip_too_long = skip_too_long && !common.truncate;
  o.progress = common.progress;
  return o;
}

nlohmann::json describe_model(const model::Model& model, const std::string& path) {
  return {{"path", path}, {"layers", model.layers()}, {"heads", model.heads()}};
}

ResultDocument text_document(const std::string& method, nlohmann::json model, const Common& common, std::size_t inputs,
                             const TextInputOptions& text) {
  ResultDocument doc;
  doc.method = method;
  doc.model = std::move(model);
  doc.data = {{"path", common.data}, {"inputs", inputs}};
  doc.params = text_input_params(text);
  return doc;
}

std::string ablate_table(const ablate::Result& r) {
  std::string out = fmt::format("{} examples, {} mode, metric {}: baseline {:.4f}\n", r.examples,
                                ablate::mode_name(r.mode), r.primary, r.baseline.primary);
  out += "head delta (disabled - baseline), rows = layers, columns = heads\n";
  out += "     ";
  for (std::int64_t h = 0; h < r.heads; ++h) out += fmt::format("{:>8}", h + 1);
  out += r.layer_scores.empty() ? "\n" : fmt::format("{:>10}\n", "layer");
  for (std::int64_t l = 0; l < r.layers; ++l) {
    out += fmt::format("{:>4} ", l + 1);
    for (std::int64_t h = 0; h < r.heads; ++h)
      out += fmt::format("{:>+8.4f}", r.head_scores[static_cast<std::size_t>(l * r.heads + h)].primary - r.baseline.primary);
    if (!r.layer_scores.empty())
      out += fmt::format("{:>+10.4f}", r.layer_scores[static_cast<std::size_t>(l)].primary - r.baseline.primary);
    out += "\n";
  }
  double best = -1e300;
  std::int64_t best_lh = 0, improving = 0;
  double mean = 0;
  for (std::int64_t i = 0; i < r.layers * r.heads; ++i) {
    const double d = r.head_scores[static_cast<std::size_t>(i)].primary - r.baseline.primary;
    mean += d / static_cast<double>(r.layers * r.heads);
    improving += d > 0;
    if (d > best) {
      best = d;
      best_lh = i;
    }
  }
  out += fmt::format("best head {} ({:+.4f}); {} heads improve the metric when disabled; a random head: {:+.4f} on average\n",
                     head_label(best_lh / r.heads, best_lh % r.heads), best, improving, mean);
  out += fmt::format("cost: {} layer evaluations, {:.3f} of full passes for every configuration; {:.1f} s\n",
                     r.cost.layer_evaluations, r.cost.ratio(), r.seconds);
  return out;
}

}  // namespace

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

AttentionSource open_source(const Subject& subject) {
  if (subject.model) return AttentionSource::from_model(*subject.model);
  if (!subject.traces.empty()) return AttentionSource::from_traces(subject.traces);
  if (subject.memory) return AttentionSource::from_memory(*subject.memory);
  fail(ErrorKind::input, "an analysis needs a model or a folder of traces");
}

nlohmann::json describe(const Subject& subject, const AttentionSource& source) {
  if (subject.model) return {{"path", subject.model_path}, {"layers", subject.model->layers()}, {"heads", subject.model->heads()}};
  if (subject.memory) return {{"attention", "in memory"}, {"layers", source.layers()}, {"heads", source.heads()}};
  return {{"traces", subject.traces}, {"layers", source.layers()}, {"heads", source.heads()}};
}

LineInputs load_text_inputs(const Subject& subject, const std::string& data, const TextInputOptions& options) {
  if (!options.segments) return read_line_inputs(data);
  if (!subject.model) fail(ErrorKind::input, "segments need a model (they are built with the model's tokenizer)");
  auto segment = options.segment;
  segment.python = parse_python_version(options.python);
  segment.shuffle = options.shuffle;
  auto inputs = segment_inputs(data, subject.model->tokenizer(), segment);
  if (!options.write_segments.empty()) {
    std::string out;
    for (const auto& in : inputs.inputs) out += in.text + "\t" + *in.pair + "\n";
    io::write_file_atomic(options.write_segments, out);
  }
  return inputs;
}

nlohmann::json text_input_params(const TextInputOptions& o) {
  nlohmann::json p = {{"segments", o.segments}, {"zero_type_ids", o.zero_type_ids}};
  if (o.segments) {
    p["segment_length"] = o.segment.max_sequence_length;
    p["max_segments"] = o.segment.max_segments;
    p["seed"] = o.segment.seed;
    p["python_random"] = o.python;
    p["shuffle"] = o.shuffle;
  }
  return p;
}

Output surface(const Subject& subject, const Common& common, const TextInputOptions& text, const surface::Options& options) {
  auto source = open_source(subject);
  const auto inputs = load_text_inputs(subject, common.data, text);
  auto so = source_options(common);
  so.zero_type_ids = text.zero_type_ids;
  const auto r =
      surface::run(source, inputs.inputs, so, options, [&](std::size_t i) { return inputs.where(i); }, common.runner);
  Output out;
  auto& doc = out.document;
  doc.method = "surface";
  doc.model = describe(subject, source);
  doc.data = {{"path", common.data}, {"inputs", inputs.inputs.size()}};
  doc.params = text_input_params(text);
  doc.params.update(surface::params_json(options));
  doc.params["too_long"] = common.truncate ? "truncate" : "skip";
  doc.results = surface::to_json(r);
  out.table = surface::table(r);
  return out;
}

Output syntax(const Subject& subject, const Common& common, const syntax::Options& options, std::size_t table_rows) {
  const auto sentences = io::read_conllu(common.data);
  auto source = open_source(subject);
  const auto r = syntax::run(source, sentences, common.data, source_options(common), options, common.runner);
  Output out;
  auto& doc = out.document;
  doc.method = "syntax";
  doc.model = describe(subject, source);
  doc.data = {{"path", common.data}, {"sentences", sentences.size()}};
  doc.params = syntax::params_json(options);
  doc.params["too_long"] = common.truncate ? "truncate" : "skip";
  doc.results = syntax::to_json(r);
  out.table = syntax::table(r, table_rows);
  return out;
}

Output cluster(const Subject& subject, const Common& common, const TextInputOptions& text, const cluster::Options& options) {
  if (options.mds.max_iterations < 1) fail(ErrorKind::input, "cluster: MDS iterations must be at least 1");
  auto source = open_source(subject);
  const auto inputs = load_text_inputs(subject, common.data, text);
  auto so = source_options(common);
  so.zero_type_ids = text.zero_type_ids;
  const auto r =
      cluster::run(source, inputs.inputs, so, options, [&](std::size_t i) { return inputs.where(i); }, common.runner);
  Output out{text_document("cluster", describe(subject, source), common, inputs.inputs.size(), text), cluster::table(r)};
  out.document.params.update(cluster::params_json(options));
  out.document.params["too_long"] = common.truncate ? "truncate" : "skip";
  out.document.results = cluster::to_json(r);
  return out;
}

Output rollout(const Subject& subject, const Common& common, const TextInputOptions& text, const rollout::Options& options) {
  if (!(options.residual >= 0 && options.residual <= 1)) fail(ErrorKind::input, "rollout: residual must be in [0, 1], not {}", options.residual);
  auto source = open_source(subject);
  const auto inputs = load_text_inputs(subject, common.data, text);
  auto so = source_options(common, false);
  so.zero_type_ids = text.zero_type_ids;
  const auto r =
      rollout::run(source, inputs.inputs, so, options, [&](std::size_t i) { return inputs.where(i); }, common.runner);
  Output out{text_document("rollout", describe(subject, source), common, inputs.inputs.size(), text), rollout::table(r)};
  out.document.params.update(rollout::params_json(options, r));
  out.document.results = rollout::to_json(r);
  return out;
}

Output flow(const Subject& subject, const Common& common, const TextInputOptions& text, const flow::Options& options) {
  if (!(options.where.residual >= 0 && options.where.residual <= 1))
    fail(ErrorKind::input, "flow: residual must be in [0, 1], not {}", options.where.residual);
  auto source = open_source(subject);
  const auto inputs = load_text_inputs(subject, common.data, text);
  auto so = source_options(common, false);
  so.zero_type_ids = text.zero_type_ids;
  const auto r =
      flow::run(source, inputs.inputs, so, options, [&](std::size_t i) { return inputs.where(i); }, common.runner);
  Output out{text_document("flow", describe(subject, source), common, inputs.inputs.size(), text), flow::table(r)};
  out.document.params.update(flow::params_json(options, r));
  out.document.results = flow::to_json(r);
  return out;
}

Output coref(const Subject& subject, const Common& common, const std::string& format_choice, const coref::Options& options) {
  std::string format = format_choice;
  if (format == "auto") format = common.data.ends_with(".tsv") ? "gap" : common.data.ends_with("conll") ? "conll2012" : "jsonl";
  std::vector<io::CorefDocument> docs;
  if (format == "gap") docs = io::read_gap(common.data);
  else if (format == "conll2012") docs = io::read_conll2012(common.data);
  else if (format == "jsonl") docs = io::read_coref(common.data);
  else fail(ErrorKind::input, "coreference format '{}' is not auto, jsonl, gap or conll2012", format_choice);
  auto source = open_source(subject);
  const auto r = coref::run(source, docs, common.data, source_options(common, false), options, common.runner);
  Output out;
  auto& doc = out.document;
  doc.method = "coref";
  doc.model = describe(subject, source);
  doc.data = {{"path", common.data}, {"format", format}, {"documents", docs.size()}};
  doc.params = coref::params_json(options);
  doc.results = coref::to_json(r);
  out.table = coref::table(r);
  return out;
}

namespace {

// Whether a file's first line is the header of a labelled task file (sentence/label, ...): text
// lines never are one, and a task file read as text would explain its header as an input.
bool has_task_header(const std::string& path) {
  std::ifstream in(path);
  std::string first;
  if (!in || !std::getline(in, first)) return false;
  if (!first.empty() && first.back() == '\r') first.pop_back();
  std::vector<std::string> header;
  for (std::size_t start = 0;;) {
    const auto tab = first.find('\t', start);
    header.push_back(first.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  try {
    return detect_task(header, path).label_column.has_value();
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

Output saliency(const model::Model& model, const std::string& model_path, const Common& common, const TextInputOptions& text,
                const std::optional<TaskSpec>& task, const saliency::TargetSpec& target, saliency::Options options) {
  if (options.steps < 1 || options.steps > 100000) fail(ErrorKind::input, "saliency: steps must be in 1..100000, not {}", options.steps);
  const Subject subject{&model, model_path, {}};
  const bool from_task = task || (!text.segments && has_task_header(common.data));
  std::optional<TaskData> task_data;
  LineInputs inputs;
  if (from_task) {
    task_data = read_task(common.data, task);
    inputs.file = common.data;
    inputs.inputs = task_data->inputs();
    for (const auto& e : task_data->examples) inputs.lines.push_back(e.line);
  } else {
    inputs = load_text_inputs(subject, common.data, text);
  }
  options.target = saliency::resolve_target(model, target);
  options.batch_size = common.batch_size;
  auto r = saliency::run(model, inputs.inputs, options, common.truncate, [&](std::size_t i) { return inputs.where(i); },
                         common.progress, common.runner);
  if (task_data && task_data->has_labels()) {
    const bool classifier = model.config().head_kind() == model::HeadKind::sequence_classification && !task_data->spec.regression;
    TaskLabels labels;
    if (classifier) labels = bind_labels(*task_data, model.config().num_labels, model.config().id2label);
    for (auto& a : r.examples) {
      const auto& e = task_data->examples[a.input];
      a.gold = e.label;
      if (!classifier) continue;
      a.gold_class = labels.classes[a.input];
      a.gold = labels.class_names[static_cast<std::size_t>(a.gold_class)];
      // One naming of the classes throughout: the task's when the config has none of its own.
      if (options.target.kind == saliency::Target::Kind::class_logit) {
        const auto name = [&](std::int32_t k) { return labels.class_names[static_cast<std::size_t>(k)]; };
        a.predicted_name = name(a.predicted);
        a.target = "class " + name(a.index) + (a.minus ? " - " + name(*a.minus) : "");
      }
    }
  }
  Output out{text_document("saliency", describe_model(model, model_path), common, inputs.inputs.size(), text), saliency::table(r)};
  out.document.params.update(saliency::params_json(options, target));
  out.document.params["truncate"] = common.truncate;
  if (task_data) {
    out.document.data["task"] = task_data->spec.to_json();
    out.document.params["inputs"] = "task";
  }
  out.document.results = saliency::to_json(r);
  return out;
}

Output gradsep(const model::Model& model, const std::string& model_path, const Common& common, const TextInputOptions& text,
               gradsep::Options options) {
  if (!(options.masking.mask_prob > 0 && options.masking.mask_prob <= 1))
    fail(ErrorKind::input, "gradsep: mask probability must be in (0, 1], not {}", options.masking.mask_prob);
  const Subject subject{&model, model_path, {}};
  auto inputs = load_text_inputs(subject, common.data, text);
  if (text.zero_type_ids) {
    // Clark's extraction: every token type 0, segment B included.
    for (auto& in : inputs.inputs) {
      if (!in.encoding)
        in.encoding = model.encode(in.text, in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt, common.truncate);
      in.encoding->type_ids.assign(in.encoding->ids.size(), 0);
    }
  }
  options.batch_size = common.batch_size;
  const auto r = gradsep::run(model, inputs.inputs, options, common.truncate, [&](std::size_t i) { return inputs.where(i); },
                              common.progress, common.runner);
  Output out{text_document("gradsep", describe_model(model, model_path), common, inputs.inputs.size(), text), gradsep::table(r)};
  out.document.params.update(gradsep::params_json(options));
  out.document.results = gradsep::to_json(r);
  return out;
}

Output probe(const Subject& subject, const Common& common, const ProbeChoice& choice, probe::Options options) {
  options.kinds.clear();
  if (choice.kinds.empty()) {
    options.kinds.push_back(probe::Kind::attn);
    if (!choice.word_vectors.empty()) {
      options.kinds.push_back(probe::Kind::attn_words);
      options.kinds.push_back(probe::Kind::distances);
    }
  }
  for (const auto& k : choice.kinds) options.kinds.push_back(probe::parse_kind(k));
  if (options.epochs < 1) fail(ErrorKind::input, "probe: epochs must be at least 1");
  if (options.hidden < 1) fail(ErrorKind::input, "probe: hidden units must be at least 1");
  if (choice.dev.empty()) fail(ErrorKind::input, "probe: give the dev CoNLL-U file to evaluate on");
  if (subject.memory) fail(ErrorKind::input, "probe evaluates on a dev set of its own: give a model, or traces with --dev-traces");
  if (!subject.traces.empty() && choice.dev_traces.empty())
    fail(ErrorKind::input, "probe on traces needs the traces of the dev file too (--dev-traces)");
  if (subject.traces.empty() && !choice.dev_traces.empty()) fail(ErrorKind::input, "probe: --dev-traces goes with traces");
  const auto train = io::read_conllu(common.data);
  const auto dev = io::read_conllu(choice.dev);
  std::optional<probe::WordVectors> vectors;
  if (!choice.word_vectors.empty()) {
    auto wanted = probe::lowercase_words(train);
    wanted.merge(probe::lowercase_words(dev));
    vectors = probe::read_word_vectors(choice.word_vectors, wanted);
  }
  auto source = open_source(subject);
  std::optional<AttentionSource> dev_traces;
  if (!choice.dev_traces.empty()) dev_traces = AttentionSource::from_traces(choice.dev_traces);
  auto& dev_source = dev_traces ? *dev_traces : source;
  auto so = source_options(common, false);
  // The source counts per pass; report one running total over every pass (epochs, then dev).
  const std::size_t total = train.size() * options.epochs + dev.size();
  std::size_t last = 0, before = 0;
  so.progress = [&](std::size_t done, std::size_t) {
    if (done < last) before += last;
    last = done;
    if (common.progress) common.progress(before + done, total);
  };
  const auto r = probe::run(source, train, common.data, dev_source, dev, choice.dev, vectors ? &*vectors : nullptr, so, options,
                            choice.weights);
  Output out;
  auto& doc = out.document;
  doc.method = "probe";
  doc.model = describe(subject, source);
  if (dev_traces) doc.model["dev_traces"] = choice.dev_traces;
  doc.data = {{"train", common.data}, {"dev", choice.dev}, {"train_sentences", train.size()}, {"dev_sentences", dev.size()}};
  doc.params = probe::params_json(options, choice.word_vectors);
  if (!choice.weights.empty()) doc.params["weights_file"] = choice.weights;
  doc.results = probe::to_json(r);
  out.table = probe::table(r);
  return out;
}

Output importance(const model::Model& model, const std::string& model_path, const Common& common,
                  const std::optional<TaskSpec>& task_spec, const TextInputOptions& text, const std::string& objective_choice,
                  const importance::MlmMasking& masking, importance::Options options) {
  if (objective_choice != "auto" && objective_choice != "task" && objective_choice != "mlm")
    fail(ErrorKind::input, "importance: objective '{}' is not auto, task or mlm", objective_choice);
  if (!(options.masking_amount > 0 && options.masking_amount <= 1))
    fail(ErrorKind::input, "importance: masking amount must be in (0, 1], not {}", options.masking_amount);
  if (!(masking.mask_prob > 0 && masking.mask_prob <= 1))
    fail(ErrorKind::input, "importance: mask probability must be in (0, 1], not {}", masking.mask_prob);
  std::string objective = objective_choice;
  if (objective == "auto") objective = model.config().head_kind() == model::HeadKind::sequence_classification ? "task" : "mlm";
  importance::Task task;
  Output out;
  auto& doc = out.document;
  if (objective == "task") {
    if (text.segments) fail(ErrorKind::input, "segments build MLM text inputs; they do not apply to task data");
    const auto data = read_task(common.data, task_spec);
    task = importance::task_from_data(model, data, common.truncate);
    doc.data = {{"path", common.data}, {"examples", task.examples.size()}, {"task", data.spec.to_json()}};
  } else {
    const auto inputs = load_text_inputs({&model, model_path, {}}, common.data, text);
    task = importance::mlm_task(model, inputs.inputs, masking, common.truncate, [&](std::size_t i) { return inputs.where(i); });
    if (text.zero_type_ids)
      for (auto& ex : task.examples) ex.input.type_ids.assign(ex.input.ids.size(), 0);
    doc.data = {{"path", common.data}, {"examples", task.examples.size()}};
  }
  options.batch_size = common.batch_size;
  const auto r = importance::run(model, task, options);
  doc.method = "importance";
  doc.model = describe_model(model, model_path);
  doc.params = importance::params_json(options, task, masking);
  doc.params["truncate"] = common.truncate;
  if (task.objective == importance::Objective::mlm) doc.params.update(text_input_params(text));
  doc.results = importance::to_json(r);
  out.table = importance::table(r);
  return out;
}

std::optional<TaskSpec> task_spec(const TaskChoice& a) {
  const bool custom = !a.text_column.empty() || !a.pair_column.empty() || !a.label_column.empty() ||
                      !a.label_names.empty() || !a.metric.empty() || a.no_header || a.regression;
  if (a.task.empty() && !custom) return std::nullopt;
  TaskSpec s;
  if (!a.task.empty()) {
    s = builtin_task(a.task);
  } else {
    if (a.text_column.empty()) fail(ErrorKind::input, "without a task name, give at least the text column");
    s.name = "custom";
    s.label_column.reset();
  }
  if (a.no_header) s.header = false;
  if (!a.text_column.empty()) s.text_column = a.text_column;
  if (!a.pair_column.empty()) s.pair_column = a.pair_column;
  if (!a.label_column.empty()) s.label_column = a.label_column;
  if (!a.label_names.empty()) s.label_names = split_commas(a.label_names);
  if (a.regression) {
    s.regression = true;
    if (a.metric.empty()) s.metric = Metric::pearson;
  }
  if (!a.metric.empty()) s.metric = parse_metric(a.metric);
  return s;
}

Output ablate(const model::Model& model, const std::string& model_path, const std::string& data,
              const std::optional<TaskSpec>& task, const ablate::Options& options) {
  ablate::check_classifier(model);
  const auto task_data = read_task(data, task);
  const auto r = ablate::run(model, task_data, options);
  Output out;
  auto& doc = out.document;
  doc.method = "ablate";
  doc.model = {{"path", model_path}, {"layers", model.layers()}, {"heads", model.heads()}, {"labels", model.config().num_labels}};
  doc.data = {{"path", data}, {"examples", r.examples}, {"task", task_data.spec.to_json()}};
  doc.params = ablate::params_json(options, r);
  doc.results = r.to_json();
  out.table = ablate_table(r);
  return out;
}

influence::DataOptions data_options(const AgreementChoice& c) {
  influence::DataOptions o;
  o.format = c.format;
  o.who = c.who;
  o.append_period = !c.no_period;
  o.dedupe = !c.keep_duplicates;
  o.truncate = c.truncate;
  o.task = task_spec(c.task);
  if (c.exclude == "none") {
    o.exclude = std::vector<std::string>{};
  } else if (c.exclude != "default") {
    o.exclude = split_commas(c.exclude);
  }
  return o;
}

Output influence(const model::Model& model, const std::string& model_path, const std::vector<std::string>& data,
                 const influence::DataOptions& data_options, const influence::RunOptions& options, const Progress& progress,
                 dist::Runner* runner) {
  // The CLI's option checks, here so that every caller gets them before any work.
  influence::parse_sources(options.sources);
  if (options.steps < 1) fail(ErrorKind::input, "influence: steps must be at least 1, not {}", options.steps);
  if (options.max_rows < 1) fail(ErrorKind::input, "influence: max_rows must be at least 1, not {}", options.max_rows);
  if (options.batch_size < 1) fail(ErrorKind::input, "influence: batch_size must be at least 1");
  if (!(options.residual >= 0 && options.residual <= 1))
    fail(ErrorKind::input, "influence: attention_residual must be in [0, 1], not {}", options.residual);
  if (options.baseline != "mask" && options.baseline != "zero" && options.baseline != "pad")
    fail(ErrorKind::input, "influence: baseline '{}' is not mask, zero or pad", options.baseline);
  if (options.replacement != "zero" && options.replacement != "baseline" && options.replacement != "mean")
    fail(ErrorKind::input, "influence: ablation value '{}' is not zero, baseline or mean", options.replacement);
  const auto tasks = influence::load_tasks(model, data, data_options, options.selection);
  std::size_t total = 0, done = 0;
  for (const auto& t : tasks) total += t.instances.size();
  auto run = influence::run_tasks(
      model, tasks, options, [&] {
        if (progress) progress(++done, total);
      },
      runner);
  run.document.model["path"] = model_path;
  return {std::move(run.document), std::move(run.table)};
}

}  // namespace bertscope::analysis::runs
