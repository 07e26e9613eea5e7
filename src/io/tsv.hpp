// GLUE-style tab-separated tables (SST-2, RTE, ...): one row per line, fields separated by tabs,
// and no quoting or escaping of any kind, so a quote character is just a character.
//
// Every row must have as many fields as the header (or, without a header, as the first row);
// otherwise Error(format) "FILE:LINE: expected N tab-separated columns, found M". Invalid UTF-8
// is Error(input) as in read_text_lines. CRLF line ends and a leading BOM are accepted; blank
// lines at the end of the file are ignored, anywhere else they are rows like any other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bertscope::io {

struct TsvOptions {
  bool header = true;  // the first line names the columns, as in GLUE files
};

class TsvTable {
 public:
  std::string source;                         // the file, for error messages
  std::vector<std::string> header;            // column names; empty without a header row
  std::vector<std::vector<std::string>> rows;  // the data rows, header excluded
  std::vector<std::size_t> lines;             // lines[i]: the file line of rows[i]

  std::size_t num_columns() const;
  std::size_t num_rows() const { return rows.size(); }

  // The index of the column named `name`; throws Error(input) naming the file and the columns
  // it has, or saying that the file has no header or that the name appears twice.
  std::size_t column_index(std::string_view name) const;

  // One column, top to bottom, selected by 0-based index or by header name.
  std::vector<std::string> column(std::size_t index) const;
  std::vector<std::string> column(std::string_view name) const;

  // One column parsed as integers (labels, indices); a field that is not a whole decimal
  // integer throws Error(format) "FILE:LINE: column NAME: "x" is not an integer".
  std::vector<std::int64_t> int_column(std::size_t index) const;
  std::vector<std::int64_t> int_column(std::string_view name) const;
};

// Reads a whole TSV file.
TsvTable read_tsv(const std::filesystem::path& path, const TsvOptions& options = {});

// The same for text in memory; `source_name` stands for FILE in errors.
TsvTable parse_tsv(std::string_view text, std::string_view source_name, const TsvOptions& options = {});

}  // namespace bertscope::io
