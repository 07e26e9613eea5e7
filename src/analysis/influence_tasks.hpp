// The data of an influence-pattern run: agreement minimal pairs (Marvin & Linzen, BLiMP,
// templates) or a GLUE-style task for a fine-tuned classifier, read, encoded, selected and turned
// into QoI instances with their sentence forms and token roles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/agreement_data.hpp"
#include "analysis/influence.hpp"
#include "analysis/task_data.hpp"
#include "model/model.hpp"

namespace bertscope::analysis::influence {

struct DataOptions {
  // auto (from the extension and the TSV header), marvin-linzen, blimp, template or task.
  std::string format = "auto";
  // Sentences containing these strings are dropped; nullopt: the reader's default (Lu et al.'s
  // "taxi driver", "admire", "swim" for Marvin & Linzen, nothing otherwise).
  std::optional<std::vector<std::string>> exclude;
  bool who = false;             // "that" -> "who" (Lu et al.'s _who variants)
  bool append_period = true;    // "." after Marvin & Linzen sentences
  bool dedupe = true;           // drop identical examples (the M&L files repeat some)
  bool truncate = false;        // truncate over-long classifier inputs instead of failing
  std::optional<TaskSpec> task; // how to read a classifier's task file; nullopt: from its header
};

// One data file as QoI instances.
struct Task {
  std::string task, path, format;
  std::vector<Instance> instances;
  std::vector<std::string> forms, texts, good, bad;
  std::vector<std::vector<std::string>> tokens;
  std::vector<std::vector<std::string>> roles;  // per token: "subject", "attractor", "target" or ""
  nlohmann::json report;                        // what the reader, the encoder and the selection kept
};

std::vector<Task> load_tasks(const model::Model& model, const std::vector<std::string>& paths, const DataOptions& data,
                             const agreement::SelectOptions& select);

// The role used to group patterns: the token's role, else "p<position>".
std::string role_or_position(const Task& task, std::size_t example, std::int32_t position);

}  // namespace bertscope::analysis::influence
