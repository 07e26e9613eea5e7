// An attention analysis spread over the run's processes. The inputs are cut into blocks of
// batch_size inputs (one forward pass each); whichever process takes a block (dist::Runner) runs
// the source over it and summarises its examples (an accumulator over the block, as bytes); every
// process then folds the blocks' summaries in input order. A one-process run goes the same way,
// so every number is the same whatever the process count: sums are taken within a block, then
// over blocks in order.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/attention_source.hpp"
#include "dist/runner.hpp"

namespace bertscope::analysis {

// visit(fn) calls fn on each example of the block, in input order.
using ExampleVisitor = std::function<void(const std::function<void(AttentionExample&)>&)>;

// summarize(visit) returns the block's summary; fold(block, summary) is called for every block in
// input order, on every process. `options.progress` is called on process 0 as blocks finish.
// `runner` null: a runner of this process group with no checkpoint. Returns the inputs skipped as
// too long (SourceOptions::skip_too_long), over all blocks.
std::size_t run_blocks(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& options,
                       dist::Runner* runner, const std::string& stage,
                       const std::function<std::string(const ExampleVisitor& visit)>& summarize,
                       const std::function<void(std::size_t block, std::string_view summary)>& fold);

// The same over inputs [first, last) alone, cut into blocks from `first` (block numbers count
// from 0 there); progress reports inputs done counted from input 0, out of inputs.size(). What
// streams a corpus through several stages (a probe trains on one window of blocks after
// another) calls it once per window, with a stage name of its own each time.
std::size_t run_blocks(AttentionSource& source, const std::vector<AnalysisInput>& inputs, std::size_t first,
                       std::size_t last, const SourceOptions& options, dist::Runner* runner, const std::string& stage,
                       const std::function<std::string(const ExampleVisitor& visit)>& summarize,
                       const std::function<void(std::size_t block, std::string_view summary)>& fold);

}  // namespace bertscope::analysis
