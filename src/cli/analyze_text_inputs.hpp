// Inputs shared by `analyze surface` and `analyze cluster`: one text (or tab-separated pair) per
// line, or Clark et al.'s segments built from running text.
#pragma once

#include <string>

#include "analysis/runs.hpp"
#include "cli/analyze.hpp"

namespace bertscope::cli {

struct SegmentArgs {
  bool segments = false;
  analysis::SegmentOptions options;
  std::string python = "python3";
  std::string write_segments;
  bool zero_type_ids = false;
  bool no_shuffle = false;
};

void add_segment_options(CLI::App& cmd, SegmentArgs& args);
// What the library's runs read the inputs with (analysis::runs::load_text_inputs).
analysis::runs::TextInputOptions text_input_options(const SegmentArgs& args);

}  // namespace bertscope::cli
