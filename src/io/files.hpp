// Reading and writing whole files safely: atomic writes, UTF-8-checked text, JSON.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bertscope::io {

// The whole file as bytes; throws Error(io) naming the file when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);

// A 64-bit fingerprint of the file's bytes (not cryptographic; it tells whether an input changed
// between a stopped run and its resume even when the file was copied or checked out again, which
// a modification time does not). Reads the file in blocks; errors as read_file.
std::uint64_t file_fingerprint(const std::filesystem::path& path);

// Writes `content` to a temporary file beside `path`, flushes it, then renames it onto `path`,
// so a reader never sees a partial file and a failure leaves any old file untouched.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Parses a JSON file; errors name the file and the parse position.
// Syntax errors read "FILE:LINE:COLUMN: invalid JSON: ..." (1-based line and column).
nlohmann::json read_json(const std::filesystem::path& path);

// Returns the byte offset of the first invalid UTF-8 sequence in `text`, or npos if valid.
// Overlong forms, surrogates and code points above U+10FFFF are invalid.
std::size_t find_invalid_utf8(std::string_view text);

// The lines of a UTF-8 text file without their line ends ("\n" or "\r\n"); a leading BOM is
// dropped. Invalid UTF-8 throws Error(input) "FILE:LINE: invalid UTF-8 at byte B", where B is
// the 0-based offset of the offending byte in the file.
std::vector<std::string> read_text_lines(const std::filesystem::path& path);

// read_text_lines for text already in memory; `source_name` stands for FILE in errors.
std::vector<std::string> split_text_lines(std::string_view text, std::string_view source_name);

// `text` in double quotes for an error message: quotes, backslashes, control characters and
// invalid UTF-8 bytes are escaped, so a message built from untrusted names stays one line.
// Text over 300 bytes is cut at a character boundary and marked: "abc..."... (12345 bytes).
std::string quote(std::string_view text);

}  // namespace bertscope::io
