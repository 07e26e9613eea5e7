#include "cli/agreement_options.hpp"

namespace bertscope::cli {

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

analysis::influence::DataOptions data_options(const AgreementArgs& args) {
  analysis::influence::DataOptions o;
  o.format = args.format;
  o.who = args.who;
  o.append_period = !args.no_period;
  o.dedupe = !args.keep_duplicates;
  o.truncate = args.truncate;
  o.task = task_spec(args.task);
  if (args.exclude == "none") {
    o.exclude = std::vector<std::string>{};
  } else if (args.exclude != "default") {
    std::vector<std::string> list;
    std::size_t start = 0;
    for (;;) {
      const auto comma = args.exclude.find(',', start);
      list.push_back(args.exclude.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    o.exclude = std::move(list);
  }
  return o;
}

}  // namespace bertscope::cli
