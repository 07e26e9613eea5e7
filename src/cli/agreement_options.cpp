#include "cli/agreement_options.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/tsv.hpp"

namespace bertscope::cli {

namespace ag = analysis::agreement;
namespace inf = analysis::influence;

void add_agreement_options(CLI::App& cmd, AgreementArgs& args) {
  cmd.add_option("--data", args.data,
                 "Data file (repeatable): Marvin & Linzen .tsv, BLiMP .jsonl, a template .json, or a GLUE task .tsv "
                 "for a fine-tuned classifier")
      ->required();
  cmd.add_option("--format", args.format, "auto (from the extension and the TSV header), marvin-linzen, blimp, template or task")
      ->check(CLI::IsMember({"auto", "marvin-linzen", "blimp", "template", "task"}));
  cmd.add_option("--exclude", args.exclude,
                 "Drop sentences containing these strings (comma-separated); default: Lu et al.'s \"taxi driver,admire,swim\" "
                 "for Marvin & Linzen, nothing otherwise; none: keep everything");
  cmd.add_flag("--who", args.who, "Replace \"that\" by \"who\" (Lu et al.'s _who variants)");
  cmd.add_flag("--no-period", args.no_period, "Do not append \".\" to Marvin & Linzen sentences");
  cmd.add_flag("--keep-duplicates", args.keep_duplicates, "Keep identical examples (the M&L files repeat some)");
  cmd.add_flag("--truncate", args.truncate, "Truncate over-long classifier inputs instead of failing");
  add_task_options(cmd, args.task);
}

namespace {

std::string detect(const std::string& path, const std::string& format) {
  if (format != "auto") return format;
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".tsv") {
    const auto table = io::read_tsv(path);
    return !table.header.empty() && table.header[0] == "condition" ? "marvin-linzen" : "task";
  }
  return std::string(ag::format_name(ag::detect_format(path)));
}

LoadedTask load_agreement(const model::Model& model, const std::string& path, const std::string& format,
                          const AgreementArgs& args, const ag::SelectOptions& select) {
  ag::ReadOptions ro;
  ro.who = args.who;
  ro.append_period = !args.no_period;
  ro.dedupe = !args.keep_duplicates;
  if (args.exclude == "none") {
    ro.exclude = std::vector<std::string>{};
  } else if (args.exclude != "default") {
    std::vector<std::string> list;
    std::size_t start = 0;
    for (;;) {
      const auto comma = args.exclude.find(',', start);
      list.push_back(args.exclude.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    ro.exclude = list;
  }
  const auto data = ag::read_agreement(path, ro, ag::parse_format(format));
  ag::EncodeReport er;
  auto encoded = ag::encode_examples(model.tokenizer(), data.examples, model.max_length(), &er);
  ag::SelectReport sr;
  encoded = ag::select_examples(std::move(encoded), data.examples, select, &sr);

  LoadedTask t;
  t.task = data.task;
  t.path = path;
  t.format = format;
  t.report = {{"read", data.report.to_json()}, {"encoded", er.to_json()}, {"selection", sr.to_json()}};
  for (const auto& e : encoded) {
    const auto& ex = data.examples[e.example];
    inf::Instance in;
    in.ids = e.encoding.ids;
    in.type_ids = e.encoding.type_ids;
    in.qoi.readout = inf::Readout::mlm;
    in.qoi.target = e.mask_position;
    in.qoi.good = e.good_id;
    in.qoi.bad = e.bad_id;
    t.instances.push_back(std::move(in));
    t.forms.push_back(ex.form);
    t.texts.push_back(ex.text());
    t.good.push_back(ex.good);
    t.bad.push_back(ex.bad);
    t.tokens.push_back(e.encoding.tokens);
    std::vector<std::string> roles(e.encoding.size());
    if (e.subject_position >= 0) roles[static_cast<std::size_t>(e.subject_position)] = "subject";
    if (e.attractor_position >= 0) roles[static_cast<std::size_t>(e.attractor_position)] = "attractor";
    roles[static_cast<std::size_t>(e.mask_position)] = "target";
    t.roles.push_back(std::move(roles));
  }
  return t;
}

LoadedTask load_classifier_task(const model::Model& model, const std::string& path, const AgreementArgs& args,
                                const ag::SelectOptions& select) {
  const auto data = analysis::read_task(path, task_spec(args.task));
  if (!data.has_labels()) fail(ErrorKind::input, "{}: a class-logit QoI needs gold labels, and the file has none", path);
  const auto& cfg = model.config();
  const auto labels = analysis::bind_labels(data, cfg.num_labels, cfg.id2label);
  if (labels.regression) fail(ErrorKind::input, "{}: influence patterns need a classification task, not a regression", path);
  std::vector<model::Encoding> encodings;
  std::vector<std::string> forms;
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i < data.examples.size(); ++i) {
    const auto& ex = data.examples[i];
    encodings.push_back(model.encode(ex.text, ex.pair ? std::optional<std::string_view>(*ex.pair) : std::nullopt, args.truncate));
    forms.push_back(labels.class_names.at(static_cast<std::size_t>(labels.classes[i])));
    lengths.push_back(encodings.back().size());
  }
  ag::SelectOptions so = select;
  so.single_pieces = false;  // free text: words may split into pieces
  ag::SelectReport sr;
  const auto kept = ag::select_indices(forms, lengths, std::vector<std::uint8_t>(forms.size(), 1), so, &sr);
  std::vector<model::Encoding> kept_enc;
  std::vector<std::int64_t> gold;
  for (auto i : kept) {
    kept_enc.push_back(encodings[i]);
    gold.push_back(labels.classes[i]);
  }
  LoadedTask t;
  t.task = data.spec.name == "custom" ? std::filesystem::path(path).stem().string() : data.spec.name;
  t.path = path;
  t.format = "task";
  t.instances = inf::classifier_instances(model, kept_enc, gold);
  t.report = {{"read", {{"rows", data.examples.size()}, {"task", data.spec.to_json()}}}, {"selection", sr.to_json()}};
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const auto& ex = data.examples[kept[k]];
    t.forms.push_back(forms[kept[k]]);
    t.texts.push_back(ex.pair ? ex.text + " [SEP] " + *ex.pair : ex.text);
    t.good.push_back(labels.class_names.at(static_cast<std::size_t>(t.instances[k].qoi.good)));
    t.bad.push_back(labels.class_names.at(static_cast<std::size_t>(t.instances[k].qoi.bad)));
    t.tokens.push_back(kept_enc[k].tokens);
    std::vector<std::string> roles(kept_enc[k].size());
    roles[0] = "target";
    t.roles.push_back(std::move(roles));
  }
  return t;
}

}  // namespace

std::vector<LoadedTask> load_tasks(const model::Model& model, const AgreementArgs& args, const ag::SelectOptions& select) {
  std::vector<LoadedTask> out;
  for (const auto& path : args.data) {
    const auto format = detect(path, args.format);
    out.push_back(format == "task" ? load_classifier_task(model, path, args, select)
                                   : load_agreement(model, path, format, args, select));
  }
  return out;
}

std::string role_or_position(const LoadedTask& task, std::size_t example, std::int32_t position) {
  const auto& r = task.roles.at(example).at(static_cast<std::size_t>(position));
  return r.empty() ? fmt::format("p{}", position) : r;
}

}  // namespace bertscope::cli
