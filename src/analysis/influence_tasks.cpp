#include "analysis/influence_tasks.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/tsv.hpp"

namespace bertscope::analysis::influence {

namespace ag = analysis::agreement;

namespace {

std::string detect_task_format(const std::string& path, const std::string& format) {
  if (format != "auto") {
    if (format != "marvin-linzen" && format != "blimp" && format != "template" && format != "task")
      fail(ErrorKind::input, "{}: unknown data format \"{}\" (auto, marvin-linzen, blimp, template or task)", path, format);
    return format;
  }
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".tsv") {
    const auto table = io::read_tsv(path);
    return !table.header.empty() && table.header[0] == "condition" ? "marvin-linzen" : "task";
  }
  return std::string(ag::format_name(ag::detect_format(path)));
}

Task load_agreement(const model::Model& model, const std::string& path, const std::string& format,
                          const DataOptions& args, const ag::SelectOptions& select) {
  ag::ReadOptions ro;
  ro.who = args.who;
  ro.append_period = args.append_period;
  ro.dedupe = args.dedupe;
  if (args.exclude) ro.exclude = *args.exclude;
  const auto data = ag::read_agreement(path, ro, ag::parse_format(format));
  ag::EncodeReport er;
  auto encoded = ag::encode_examples(model.tokenizer(), data.examples, model.max_length(), &er);
  ag::SelectReport sr;
  encoded = ag::select_examples(std::move(encoded), data.examples, select, &sr);

  Task t;
  t.task = data.task;
  t.path = path;
  t.format = format;
  t.report = {{"read", data.report.to_json()}, {"encoded", er.to_json()}, {"selection", sr.to_json()}};
  for (const auto& e : encoded) {
    const auto& ex = data.examples[e.example];
    Instance in;
    in.ids = e.encoding.ids;
    in.type_ids = e.encoding.type_ids;
    in.qoi.readout = Readout::mlm;
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

Task load_classifier_task(const model::Model& model, const std::string& path, const DataOptions& args,
                                const ag::SelectOptions& select) {
  const auto data = read_task(path, args.task);
  if (!data.has_labels()) fail(ErrorKind::input, "{}: a class-logit QoI needs gold labels, and the file has none", path);
  const auto& cfg = model.config();
  const auto labels = bind_labels(data, cfg.num_labels, cfg.id2label);
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
  Task t;
  t.task = data.spec.name == "custom" ? std::filesystem::path(path).stem().string() : data.spec.name;
  t.path = path;
  t.format = "task";
  t.instances = classifier_instances(model, kept_enc, gold);
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

std::vector<Task> load_tasks(const model::Model& model, const std::vector<std::string>& paths, const DataOptions& args,
                             const ag::SelectOptions& select) {
  std::vector<Task> out;
  for (const auto& path : paths) {
    const auto format = detect_task_format(path, args.format);
    out.push_back(format == "task" ? load_classifier_task(model, path, args, select)
                                   : load_agreement(model, path, format, args, select));
  }
  return out;
}

std::string role_or_position(const Task& task, std::size_t example, std::int32_t position) {
  const auto& r = task.roles.at(example).at(static_cast<std::size_t>(position));
  return r.empty() ? fmt::format("p{}", position) : r;
}

}  // namespace bertscope::analysis::influence
