#include "io/tsv.hpp"

#include <charconv>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::io {
namespace {

std::vector<std::string> split_tabs(std::string_view line) {
  std::vector<std::string> fields;
  while (true) {
    std::size_t tab = line.find('\t');
    fields.emplace_back(line.substr(0, tab));
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
  }
  return fields;
}

}  // namespace

std::size_t TsvTable::num_columns() const {
  if (!header.empty()) return header.size();
  return rows.empty() ? 0 : rows.front().size();
}

std::size_t TsvTable::column_index(std::string_view name) const {
  if (header.empty()) fail(ErrorKind::input, "{}: has no header row, so columns can only be selected by index", source);
  std::size_t found = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] != name) continue;
    if (found != header.size()) {
      fail(ErrorKind::input, "{}: column {} appears twice in the header (columns {} and {})", source, quote(name),
           found + 1, i + 1);
    }
    found = i;
  }
  if (found == header.size()) {
    std::vector<std::string> names;
    for (const std::string& h : header) names.push_back(quote(h));
    fail(ErrorKind::input, "{}: no column named {}; the header has {}", source, quote(name), fmt::join(names, ", "));
  }
  return found;
}

std::vector<std::string> TsvTable::column(std::size_t index) const {
  if (index >= num_columns()) {
    fail(ErrorKind::input, "{}: no column {} (0-based); the file has {} columns", source, index, num_columns());
  }
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row[index]);
  return out;
}

std::vector<std::string> TsvTable::column(std::string_view name) const { return column(column_index(name)); }

std::vector<std::int64_t> TsvTable::int_column(std::size_t index) const {
  const std::vector<std::string> text = column(index);
  const std::string label = header.empty() ? fmt::format("column {}", index) : fmt::format("column {}", quote(header[index]));
  std::vector<std::int64_t> out(text.size());
  for (std::size_t r = 0; r < text.size(); ++r) {
    const std::string& field = text[r];
    auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), out[r]);
    if (field.empty() || error != std::errc() || end != field.data() + field.size()) {
      fail(ErrorKind::format, "{}:{}: {}: {} is not an integer", source, lines[r], label, quote(field));
    }
  }
  return out;
}

std::vector<std::int64_t> TsvTable::int_column(std::string_view name) const { return int_column(column_index(name)); }

TsvTable parse_tsv(std::string_view text, std::string_view source_name, const TsvOptions& options) {
  std::vector<std::string> lines = split_text_lines(text, source_name);
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  TsvTable table;
  table.source = std::string(source_name);
  std::size_t first = 0;
  if (options.header) {
    if (lines.empty()) fail(ErrorKind::format, "{}: empty file, expected a header row", source_name);
    table.header = split_tabs(lines[0]);
    first = 1;
  }
  std::size_t expected = table.header.size();
  for (std::size_t i = first; i < lines.size(); ++i) {
    std::vector<std::string> fields = split_tabs(lines[i]);
    if (expected == 0) expected = fields.size();
    if (fields.size() != expected) {
      fail(ErrorKind::format, "{}:{}: expected {} tab-separated columns, found {}", source_name, i + 1, expected,
           fields.size());
    }
    table.rows.push_back(std::move(fields));
    table.lines.push_back(i + 1);
  }
  return table;
}

TsvTable read_tsv(const std::filesystem::path& path, const TsvOptions& options) {
  const std::string source = path.string();
  return parse_tsv(read_file(path), source, options);
}

}  // namespace bertscope::io
