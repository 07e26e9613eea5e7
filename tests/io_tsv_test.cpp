#include <gtest/gtest.h>

#include <string>

#include "io/tsv.hpp"
#include "io_test_support.hpp"

namespace bertscope::io {
namespace {

using testing::Contains;
using testing::error_of;
using testing::TempDir;
using testing::write_raw;

const std::filesystem::path kData = std::filesystem::path(BERTSCOPE_TEST_DATA) / "io";

TEST(TsvGlue, Sst2DevExcerpt) {
  TsvTable t = read_tsv(kData / "sst2_glue_dev.excerpt.tsv");
  EXPECT_EQ(t.source, (kData / "sst2_glue_dev.excerpt.tsv").string());
  EXPECT_EQ(t.header, (std::vector<std::string>{"sentence", "label"}));
  EXPECT_EQ(t.num_columns(), 2u);
  ASSERT_EQ(t.num_rows(), 20u);
  EXPECT_EQ(t.lines.front(), 2u);
  EXPECT_EQ(t.lines.back(), 21u);
  std::vector<std::string> sentences = t.column("sentence");
  // GLUE's SST-2 keeps a space before the tab; the reader keeps fields verbatim.
  EXPECT_EQ(sentences[0], "it 's a charming and often affecting journey . ");
  EXPECT_EQ(sentences[1], "unflinchingly bleak and desperate ");
  std::vector<std::int64_t> labels = t.int_column("label");
  EXPECT_EQ(std::vector<std::int64_t>(labels.begin(), labels.begin() + 4), (std::vector<std::int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(labels.back(), 0);
  EXPECT_EQ(t.int_column(1), labels);
  EXPECT_EQ(t.column(0), sentences);
}

TEST(TsvGlue, RteDevExcerpt) {
  TsvTable t = read_tsv(kData / "rte_glue_dev.excerpt.tsv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"idx", "sentence1", "sentence2", "label"}));
  ASSERT_EQ(t.num_rows(), 8u);
  EXPECT_EQ(t.int_column("idx"), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(t.int_column("label"), (std::vector<std::int64_t>{1, 0, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(t.column("sentence2")[0], "Christopher Reeve had an accident.");
  EXPECT_EQ(t.column_index("sentence1"), 1u);
  EXPECT_TRUE(t.column("sentence1")[0].starts_with("Dana Reeve, the widow of the actor Christopher Reeve"));
}

TEST(TsvParse, WithoutHeader) {
  TsvTable t = parse_tsv("a\t1\nb\t2\n", "x.tsv", TsvOptions{.header = false});
  EXPECT_TRUE(t.header.empty());
  EXPECT_EQ(t.num_columns(), 2u);
  EXPECT_EQ(t.lines, (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(t.column(0), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.int_column(1), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(error_of(ErrorKind::input, [&] { t.column("label"); }),
            "x.tsv: has no header row, so columns can only be selected by index");
  EXPECT_EQ(parse_tsv("", "x.tsv", TsvOptions{.header = false}).num_rows(), 0u);
  EXPECT_EQ(parse_tsv("", "x.tsv", TsvOptions{.header = false}).num_columns(), 0u);
}

TEST(TsvParse, FieldsAreVerbatim) {
  // No quoting: quotes, commas and spaces are plain characters; empty fields are fields.
  TsvTable t = parse_tsv("text\tlabel\tnote\n\"quoted, \"\"text\"\"\"\t1\t\n 'x' \t0\t\"\n", "x.tsv");
  EXPECT_EQ(t.column("text"), (std::vector<std::string>{"\"quoted, \"\"text\"\"\"", " 'x' "}));
  EXPECT_EQ(t.column("note"), (std::vector<std::string>{"", "\""}));
  // A single-column file: a blank line in the middle is an empty field; trailing ones are not rows.
  TsvTable one = parse_tsv("sentence\nfirst\n\nthird\n\n\n", "x.tsv");
  EXPECT_EQ(one.column(0), (std::vector<std::string>{"first", "", "third"}));
}

TEST(TsvParse, CrlfAndBom) {
  TsvTable t = parse_tsv("\xEF\xBB\xBFsentence\tlabel\r\nhello\t1\r\n", "x.tsv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"sentence", "label"}));
  EXPECT_EQ(t.int_column("label"), std::vector<std::int64_t>{1});
}

TEST(TsvParse, ColumnCountErrors) {
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("a\tb\n1\t2\n1\t2\t3\n", "x.tsv"); }),
            "x.tsv:3: expected 2 tab-separated columns, found 3");
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("a\tb\nno tab here\n", "x.tsv"); }),
            "x.tsv:2: expected 2 tab-separated columns, found 1");
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("a\tb\n1\t2\n\n3\t4\n", "x.tsv"); }),
            "x.tsv:3: expected 2 tab-separated columns, found 1");
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("1\t2\n3\n", "x.tsv", TsvOptions{.header = false}); }),
            "x.tsv:2: expected 2 tab-separated columns, found 1");
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("", "x.tsv"); }), "x.tsv: empty file, expected a header row");
  EXPECT_EQ(error_of(ErrorKind::format, [] { parse_tsv("\n\n", "x.tsv"); }), "x.tsv: empty file, expected a header row");
}

TEST(TsvParse, ColumnSelectionErrors) {
  TsvTable t = parse_tsv("sentence\tlabel\tlabel\nx\t1\t2\n", "x.tsv");
  EXPECT_EQ(error_of(ErrorKind::input, [&] { t.column("labels"); }),
            "x.tsv: no column named \"labels\"; the header has \"sentence\", \"label\", \"label\"");
  EXPECT_EQ(error_of(ErrorKind::input, [&] { t.column("label"); }),
            "x.tsv: column \"label\" appears twice in the header (columns 2 and 3)");
  EXPECT_EQ(error_of(ErrorKind::input, [&] { t.column(std::size_t{3}); }), "x.tsv: no column 3 (0-based); the file has 3 columns");
  error_of(ErrorKind::input, [&] { t.int_column(std::size_t{7}); });
}

TEST(TsvParse, IntegerColumnErrors) {
  const std::string text = "sentence\tlabel\na\t1\nb\t-2\nc\t1.0\n";
  TsvTable t = parse_tsv(text, "x.tsv");
  EXPECT_EQ(error_of(ErrorKind::format, [&] { t.int_column("label"); }), "x.tsv:4: column \"label\": \"1.0\" is not an integer");
  for (const char* bad : {"", " 1", "1 ", "+1", "one", "99999999999999999999", "0x10"}) {
    TsvTable u = parse_tsv(std::string("sentence\tlabel\na\t") + bad + "\n", "x.tsv");
    std::string message = error_of(ErrorKind::format, [&] { u.int_column("label"); });
    EXPECT_TRUE(Contains(message, "x.tsv:2: column \"label\": \"")) << bad;
  }
  TsvTable headerless = parse_tsv("a\tx\n", "x.tsv", TsvOptions{.header = false});
  EXPECT_EQ(error_of(ErrorKind::format, [&] { headerless.int_column(1); }), "x.tsv:1: column 1: \"x\" is not an integer");
}

TEST(TsvParse, FileErrors) {
  TempDir dir;
  const auto file = dir / "bad.tsv";
  write_raw(file, "sentence\tlabel\ngood\t1\nbad \xC3\x28\t0\n");
  EXPECT_EQ(error_of(ErrorKind::input, [&] { read_tsv(file); }), file.string() + ":3: invalid UTF-8 at byte 26");
  write_raw(file, "sentence\tlabel\ngood\t1\t2\n");
  EXPECT_EQ(error_of(ErrorKind::format, [&] { read_tsv(file); }), file.string() + ":2: expected 2 tab-separated columns, found 3");
  EXPECT_TRUE(Contains(error_of(ErrorKind::io, [&] { read_tsv(dir / "missing.tsv"); }), (dir / "missing.tsv").string()));
}

}  // namespace
}  // namespace bertscope::io
