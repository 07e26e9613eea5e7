#include "analysis/blocks.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "io/error.hpp"

namespace bertscope::analysis {

std::size_t run_blocks(AttentionSource& source, const std::vector<AnalysisInput>& inputs, const SourceOptions& options,
                       dist::Runner* runner, const std::string& stage,
                       const std::function<std::string(const ExampleVisitor& visit)>& summarize,
                       const std::function<void(std::size_t block, std::string_view summary)>& fold) {
  return run_blocks(source, inputs, 0, inputs.size(), options, runner, stage, summarize, fold);
}

std::size_t run_blocks(AttentionSource& source, const std::vector<AnalysisInput>& inputs, std::size_t start,
                       std::size_t end, const SourceOptions& options, dist::Runner* runner, const std::string& stage,
                       const std::function<std::string(const ExampleVisitor& visit)>& summarize,
                       const std::function<void(std::size_t block, std::string_view summary)>& fold) {
  end = std::min(end, inputs.size());
  start = std::min(start, end);
  const auto block_size = std::max<std::size_t>(options.batch_size, 1);
  const auto blocks = (end - start + block_size - 1) / block_size;
  SourceOptions block_options = options;
  block_options.progress = nullptr;  // progress is counted in blocks, once for the whole run
  dist::Runner one;
  auto& r = runner ? *runner : one;
  std::size_t done = start;
  // A block's item: the count of inputs it skipped, then its summary.
  const auto items = r.map(
      stage, blocks, {.max_chunk = 16, .costliest_last = false},
      [&](std::size_t b) {
        const auto first = start + b * block_size, last = std::min(end, first + block_size);
        ExampleVisitor visit = [&](const std::function<void(AttentionExample&)>& fn) {
          source.run_range(inputs, first, last, block_options, fn);
        };
        std::string summary = summarize(visit);
        const std::uint64_t skipped = source.skipped();
        std::string item(reinterpret_cast<const char*>(&skipped), sizeof skipped);
        item += summary;
        return item;
      },
      [&](std::size_t k) {
        done = std::min(end, done + k * block_size);
        if (options.progress) options.progress(done, inputs.size());
      });
  std::size_t skipped = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const auto& item = items[b];
    if (item.size() < sizeof(std::uint64_t))
      fail(ErrorKind::format, "{}: the stored results of block {} are damaged ({} bytes)", stage, b, item.size());
    std::uint64_t block_skipped;
    std::memcpy(&block_skipped, item.data(), sizeof block_skipped);
    skipped += block_skipped;
    fold(b, std::string_view(item).substr(sizeof block_skipped));
  }
  return skipped;
}

}  // namespace bertscope::analysis
