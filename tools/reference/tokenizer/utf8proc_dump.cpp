// Prints, for every code point, what utf8proc (the library bertscope uses) says about it: general
// category, simple lowercase mapping and canonical decomposition. unicode_tables.mjs compares this
// with the Rust tokenizer. One line per code point: "cp category lower [decomposition...]" in hex.
#include <cstdio>

#include <utf8proc.h>

int main() {
  utf8proc_int32_t buf[32];
  for (utf8proc_int32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    int boundclass = 0;
    auto n = utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
    std::printf("%x %d %x", static_cast<unsigned>(cp), static_cast<int>(utf8proc_category(cp)),
                static_cast<unsigned>(utf8proc_tolower(cp)));
    for (utf8proc_ssize_t i = 0; i < n && i < 32; ++i) std::printf(" %x", static_cast<unsigned>(buf[i]));
    std::printf("\n");
  }
  return 0;
}
