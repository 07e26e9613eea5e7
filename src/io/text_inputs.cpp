#include "io/text_inputs.hpp"

#include <algorithm>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::io {

std::vector<TextInput> read_text_inputs(const std::filesystem::path& path) {
  std::vector<TextInput> out;
  const auto lines = read_text_lines(path);
  out.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    const auto tabs = std::count(line.begin(), line.end(), '\t');
    if (tabs > 1)
      fail(ErrorKind::input, "{}:{}: found {} tabs; a line holds one text or a pair separated by one tab",
           path.string(), i + 1, tabs);
    TextInput in;
    in.line = i + 1;
    if (tabs == 1) {
      const auto tab = line.find('\t');
      in.text = line.substr(0, tab);
      in.pair = line.substr(tab + 1);
    } else {
      in.text = line;
    }
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace bertscope::io
