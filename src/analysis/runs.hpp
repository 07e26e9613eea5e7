// Whole analysis runs from files to the finished result document: reading a method's inputs
// (text lines or Clark's segments, CoNLL-U, a task TSV, agreement data), running the method and
// building its document. The CLI commands and the public API (src/api) call these, so both write
// the same document for the same inputs and options.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/ablate.hpp"
#include "analysis/attention_source.hpp"
#include "analysis/cluster.hpp"
#include "analysis/compare.hpp"
#include "analysis/coref.hpp"
#include "analysis/document.hpp"
#include "analysis/features.hpp"
#include "analysis/flow.hpp"
#include "analysis/importance.hpp"
#include "analysis/gradsep.hpp"
#include "analysis/influence_run.hpp"
#include "analysis/patterns.hpp"
#include "analysis/probe.hpp"
#include "analysis/rollout.hpp"
#include "analysis/saliency.hpp"
#include "analysis/segments.hpp"
#include "analysis/surface.hpp"
#include "analysis/syntax.hpp"
#include "analysis/task_data.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::runs {

using Progress = std::function<void(std::size_t done, std::size_t total)>;

// "a,b,c" -> {"a", "b", "c"} (empty items kept), as the CLI's comma-separated options.
std::vector<std::string> split_commas(const std::string& text);

// What an analysis reads attention from: a loaded model (recorded in the document by
// `model_path`), or a folder of trace files.
struct Subject {
  const model::Model* model = nullptr;
  std::string model_path;
  std::string traces;
  const std::vector<AttentionInMemory>* memory = nullptr;  // attention computed elsewhere (API only)
};
AttentionSource open_source(const Subject& subject);  // Error(input) when neither is given
nlohmann::json describe(const Subject& subject, const AttentionSource& source);

// Options every attention analysis shares.
struct Common {
  std::string data;
  std::size_t batch_size = 16;
  bool truncate = false;  // over-long inputs: truncate them, else skip and count them
  Progress progress;
  // Spreads the inputs over the run's processes and keeps a checkpoint (methods that take it:
  // surface, syntax, cluster, rollout, flow, patterns, features, gradsep, saliency, coref,
  // compare); null: one process, nothing kept.
  dist::Runner* runner = nullptr;
};

struct Output {
  ResultDocument document;
  std::string table;  // the readable summary the CLI prints
};

// Inputs of surface and cluster: one text (or tab-separated pair) per line, or Clark et al.'s
// segments built from running text with the model's tokenizer.
struct TextInputOptions {
  bool segments = false;
  SegmentOptions segment;           // python and shuffle are set from the two fields below
  std::string python = "python3";   // python3 or python2 random numbers
  bool shuffle = true;
  bool zero_type_ids = false;
  std::string write_segments;       // also write the segments here (a pair file), when given
};
LineInputs load_text_inputs(const Subject& subject, const std::string& data, const TextInputOptions& options);
nlohmann::json text_input_params(const TextInputOptions& options);

Output surface(const Subject& subject, const Common& common, const TextInputOptions& inputs, const surface::Options& options);
Output syntax(const Subject& subject, const Common& common, const syntax::Options& options, std::size_t table_rows = 20);

Output cluster(const Subject& subject, const Common& common, const TextInputOptions& inputs, const cluster::Options& options);
// Rollout and flow fail on over-long inputs unless common.truncate (they do not skip them).
Output rollout(const Subject& subject, const Common& common, const TextInputOptions& inputs, const rollout::Options& options);
Output flow(const Subject& subject, const Common& common, const TextInputOptions& inputs, const flow::Options& options);

// Coreference data: format auto (from the name: .tsv is GAP, *conll is CoNLL-2012, else JSON
// Lines), jsonl, gap or conll2012.
Output coref(const Subject& subject, const Common& common, const std::string& format, const coref::Options& options);

// Methods that take gradients run the model itself (options.target is resolved from `target`;
// options.batch_size from common).
// saliency: --data is a task TSV (gold labels shown beside the predictions) when `task` is given or
// the file's first line is a task header (sentence/label, ...); else text lines or segments.
Output saliency(const model::Model& model, const std::string& model_path, const Common& common, const TextInputOptions& inputs,
                const std::optional<TaskSpec>& task, const saliency::TargetSpec& target, saliency::Options options);
Output gradsep(const model::Model& model, const std::string& model_path, const Common& common, const TextInputOptions& inputs,
               gradsep::Options options);

// Clark et al.'s attention-based parsing probes, trained on common.data (CoNLL-U) and evaluated on
// `dev`; with traces, `dev_traces` holds the dev file's. Kinds: attn, attn_words, distances (none
// given: attn, plus the other two with word vectors). options.kinds is set from `kinds`.
struct ProbeChoice {
  std::string dev, dev_traces, word_vectors, weights;
  std::vector<std::string> kinds;
};
Output probe(const Subject& subject, const Common& common, const ProbeChoice& choice, probe::Options options);

// Michel et al.'s head importance. objective: task (classifier loss on a task TSV), mlm (MLM loss on
// text inputs, masked by `masking`) or auto (task for a sequence classifier, mlm otherwise).
// options.batch_size is set from common; options.progress is the caller's.
Output importance(const model::Model& model, const std::string& model_path, const Common& common,
                  const std::optional<TaskSpec>& task, const TextInputOptions& text, const std::string& objective,
                  const importance::MlmMasking& masking, importance::Options options);

// How to read a GLUE-style task file: a built-in task name, or the columns, labels and metric
// (label_names comma-separated); all empty: detected from the header.
struct TaskChoice {
  std::string task, text_column, pair_column, label_column, label_names, metric;
  bool no_header = false, regression = false;
};
std::optional<TaskSpec> task_spec(const TaskChoice& choice);

// Kovaleva et al.'s head and layer ablation of a classifier (options.progress: examples done).
Output ablate(const model::Model& model, const std::string& model_path, const std::string& data,
              const std::optional<TaskSpec>& task, const ablate::Options& options);

// Kovaleva et al.'s self-attention pattern types: rule thresholds NAME=VALUE; a saved classifier
// to apply, or labelled maps to train one on (and where to save it), with cross-validation folds.
struct PatternChoice {
  std::vector<std::string> thresholds;
  std::string labels, save_classifier, classifier;
  int folds = 5;
};
// Data: a task TSV, CoNLL-U, span TSV or text lines (features::read_dataset).
Output patterns(const Subject& subject, const Common& common, const std::optional<TaskSpec>& task, const PatternChoice& choice);

// Kovaleva et al.'s attention to linguistic features: feature NAME=SELECTOR and link specs (none:
// the paper's for the data format), pairing all|zip, missing skip|zero, span_filter kovaleva|none.
struct FeatureChoice {
  std::vector<std::string> features, links;
  std::string pairing = "all", missing = "skip", span_filter = "kovaleva";
};
Output features(const Subject& subject, const Common& common, const std::optional<TaskSpec>& task, const FeatureChoice& choice);

// The attention of two models on identical inputs (maps padded to pad_to tokens when > 0).
Output compare(const model::Model& a, const std::string& a_path, const model::Model& b, const std::string& b_path,
               const Common& common, const std::optional<TaskSpec>& task, std::int64_t pad_to);

// The data options of an influence run: agreement data or a classifier's task file.
struct AgreementChoice {
  std::string format = "auto";
  std::string exclude = "default";  // default, none, or comma-separated strings
  bool who = false, no_period = false, keep_duplicates = false, truncate = false;
  TaskChoice task;
};
influence::DataOptions data_options(const AgreementChoice& choice);

// A whole influence run over data files (progress: examples done of all selected).
Output influence(const model::Model& model, const std::string& model_path, const std::vector<std::string>& data,
                 const influence::DataOptions& data_options, const influence::RunOptions& options,
                 const Progress& progress = {}, dist::Runner* runner = nullptr);

}  // namespace bertscope::analysis::runs
