// Project Gutenberg files wrap a book in a header and a licence footer; pre-training and
// vocabulary learning both read only the book, by this one rule.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

namespace bertscope::io {

struct ByteRange {
  std::size_t begin = 0, end = 0;  // [begin, end)
};

// The body of a Project Gutenberg text: from the line after the first "*** START OF" to just
// before the first "*** END OF" (to the end of the text when that is missing or comes first);
// the whole text when there is no START line.
ByteRange gutenberg_body(std::string_view text);
// The same for a file, scanned line by line so that a large corpus is never held whole.
// Throws Error(io) naming the file.
ByteRange gutenberg_file_body(const std::filesystem::path& file);

}  // namespace bertscope::io
