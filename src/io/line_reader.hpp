// Reading a UTF-8 text file one line at a time, so corpus jobs hold one line, not the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

namespace bertscope::io {

class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& path);  // throws Error(io) naming the file

  // The next line without its end ("\n" or "\r\n"; a leading BOM dropped); false at the end.
  // Invalid UTF-8 throws Error(input) "FILE:LINE: invalid UTF-8 at byte B".
  bool next(std::string& line);
  std::size_t line_number() const { return line_; }  // 1-based number of the last line returned
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  std::size_t line_ = 0;
};

}  // namespace bertscope::io
