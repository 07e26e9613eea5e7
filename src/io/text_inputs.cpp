#include "io/text_inputs.hpp"

#include <algorithm>

#include "io/error.hpp"
#include "io/line_reader.hpp"

namespace bertscope::io {

TextInput parse_text_input(const std::string& line, std::size_t line_number, const std::filesystem::path& path) {
  const auto tabs = std::count(line.begin(), line.end(), '\t');
  if (tabs > 1)
    fail(ErrorKind::input, "{}:{}: found {} tabs; a line holds one text or a pair separated by one tab",
         path.string(), line_number, tabs);
  TextInput in;
  in.line = line_number;
  if (tabs == 1) {
    const auto tab = line.find('\t');
    in.text = line.substr(0, tab);
    in.pair = line.substr(tab + 1);
  } else {
    in.text = line;
  }
  return in;
}

std::vector<TextInput> read_text_inputs(const std::filesystem::path& path) {
  std::vector<TextInput> out;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) out.push_back(parse_text_input(line, reader.line_number(), path));
  return out;
}

}  // namespace bertscope::io
