#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "io/files.hpp"
#include "io/staged_folder.hpp"
#include "io_test_support.hpp"

namespace bertscope::io {
namespace {

using testing::error_of;
using testing::read_raw;
using testing::TempDir;
using testing::write_raw;
using testing::Contains;
using testing::StartsWith;

constexpr std::size_t npos = std::string_view::npos;

TEST(IoFiles, ReadFileReturnsEveryByte) {
  TempDir dir;
  const std::string bytes("a\0b\r\n\xff\xfe end", 10);
  write_raw(dir / "blob", bytes);
  EXPECT_EQ(read_file(dir / "blob"), bytes);
  write_raw(dir / "empty", "");
  EXPECT_EQ(read_file(dir / "empty"), "");
}

TEST(IoFiles, ReadFileErrorsNameTheFile) {
  TempDir dir;
  std::string message = error_of(ErrorKind::io, [&] { read_file(dir / "missing.txt"); });
  EXPECT_TRUE(Contains(message, (dir / "missing.txt").string()));
  EXPECT_TRUE(Contains(message, "No such file"));
  message = error_of(ErrorKind::io, [&] { read_file(dir.path()); });
  EXPECT_TRUE(Contains(message, dir.path().string()));
  EXPECT_TRUE(Contains(message, "directory"));
}

TEST(IoFiles, FileFingerprintFollowsTheBytesNotTheFile) {
  TempDir dir;
  // Longer than the 1 MiB read block and not a whole number of words, so the tail and the
  // carry between reads are both exercised.
  std::string bytes((1 << 20) + 13, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  write_raw(dir / "a", bytes);
  write_raw(dir / "copy", bytes);
  EXPECT_EQ(file_fingerprint(dir / "a"), file_fingerprint(dir / "copy"));
  std::string changed = bytes;
  changed[(1 << 20) + 5] ^= 1;  // one bit in the tail
  write_raw(dir / "b", changed);
  EXPECT_NE(file_fingerprint(dir / "a"), file_fingerprint(dir / "b"));
  changed = bytes;
  changed[3] ^= 1;
  write_raw(dir / "b", changed);
  EXPECT_NE(file_fingerprint(dir / "a"), file_fingerprint(dir / "b"));
  write_raw(dir / "b", bytes + std::string(1, '\0'));  // one trailing zero byte
  EXPECT_NE(file_fingerprint(dir / "a"), file_fingerprint(dir / "b"));
  write_raw(dir / "e1", "");
  write_raw(dir / "e2", std::string(8, '\0'));
  EXPECT_NE(file_fingerprint(dir / "e1"), file_fingerprint(dir / "e2"));
  std::string message = error_of(ErrorKind::io, [&] { file_fingerprint(dir / "missing"); });
  EXPECT_TRUE(Contains(message, (dir / "missing").string()));
}

TEST(IoFiles, WriteFileAtomicReplacesContentAndLeavesNoTemporaryFile) {
  TempDir dir;
  write_file_atomic(dir / "out.txt", "first version, longer than the second");
  write_file_atomic(dir / "out.txt", "second");
  EXPECT_EQ(read_raw(dir / "out.txt"), "second");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.txt"});
  write_file_atomic(dir / "empty.txt", "");
  EXPECT_EQ(read_raw(dir / "empty.txt"), "");
}

TEST(IoFiles, WriteFileAtomicHonoursUmask) {
  TempDir dir;
  mode_t old = ::umask(022);
  write_file_atomic(dir / "mode.txt", "x");
  ::umask(old);
  struct stat info {};
  ASSERT_EQ(::stat((dir / "mode.txt").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST(IoFiles, WriteFileAtomicFailureNamesTargetAndLeavesOldFile) {
  TempDir dir;
  std::string message = error_of(ErrorKind::io, [&] { write_file_atomic(dir / "no_such_dir" / "x.txt", "data"); });
  EXPECT_TRUE(Contains(message, (dir / "no_such_dir" / "x.txt").string()));
  // Renaming onto a directory fails after the temporary file is written; it must be removed.
  std::filesystem::create_directory(dir / "target_is_dir");
  message = error_of(ErrorKind::io, [&] { write_file_atomic(dir / "target_is_dir", "data"); });
  EXPECT_TRUE(Contains(message, (dir / "target_is_dir").string()));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"target_is_dir"});
}

// A disk that fills up while a file is written, as unprivileged tests can have it: a file size
// limit (RLIMIT_FSIZE) of `bytes`, with SIGXFSZ ignored, turns writes past it into a short write
// followed by EFBIG, as ENOSPC does on a full disk (tests/full_disk.sh has a real one).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_{};
};

std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(IoFiles, WriteFileAtomicOnAFullDiskIsOneErrorAndLeavesNothing) {
  TempDir dir;
  write_raw(dir / "old.txt", "old");
  std::string message;
  {
    FileSizeLimit limit(100);
    message = error_of(ErrorKind::io, [&] { write_file_atomic(dir / "out.txt", std::string(5000, 'x')); });
    EXPECT_TRUE(Contains(error_of(ErrorKind::io, [&] { write_file_atomic(dir / "old.txt", std::string(5000, 'y')); }),
                         "old.txt"));
  }
  EXPECT_TRUE(Contains(message, (dir / "out.txt").string())) << message;
  EXPECT_TRUE(Contains(message, "File too large")) << message;
  // No partial file, no temporary file; the old file keeps its content.
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"old.txt"});
  EXPECT_EQ(read_raw(dir / "old.txt"), "old");
}

TEST(StagedFolder, AnErrorRemovesTheStagingFolderItCreated) {
  TempDir dir;
  try {
    StagedFolder staged(dir / "out", "manifest\n");
    write_file_atomic(staged.path() / "000000.npz", "complete");
    throw std::runtime_error("no space left");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(names_in(dir.path()).empty());

  // A staging folder a killed run left (destroyed without an error here) is resumed, and kept
  // when the resumed run fails in turn.
  { StagedFolder killed(dir / "out", "manifest\n"); }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{".out.partial"});
  try {
    StagedFolder staged(dir / "out", "manifest\n");
    EXPECT_TRUE(staged.resumed());
    throw std::runtime_error("no space left");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{".out.partial"});
}

TEST(StagedFolder, AManifestThatCannotBeWrittenNamesTheTargetAndLeavesNothing) {
  TempDir dir;
  std::string message;
  {
    FileSizeLimit limit(4);
    message = error_of(ErrorKind::io, [&] { StagedFolder staged(dir / "out", "a manifest longer than the limit\n"); });
  }
  EXPECT_TRUE(StartsWith(message, (dir / "out").string() + ": ")) << message;
  EXPECT_TRUE(Contains(message, "File too large")) << message;
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(IoFiles, ReadJsonParsesAndKeepsUnicode) {
  TempDir dir;
  write_raw(dir / "c.json", "\xEF\xBB\xBF{\"hidden_size\": 768, \"name\": \"caf\xC3\xA9\", \"list\": [1, 2.5]}");
  nlohmann::json j = read_json(dir / "c.json");
  EXPECT_EQ(j["hidden_size"], 768);
  EXPECT_EQ(j["name"], "caf\xC3\xA9");
  EXPECT_EQ(j["list"][1], 2.5);
}

TEST(IoFiles, ReadJsonSyntaxErrorGivesFileLineAndColumn) {
  TempDir dir;
  const auto file = dir / "bad.json";
  write_raw(file, "{\n  \"a\": 1,\n  \"b\": tru\n}\n");
  std::string message = error_of(ErrorKind::format, [&] { read_json(file); });
  // Column 11 is the line end that ended the bad literal "tru".
  EXPECT_TRUE(StartsWith(message, file.string() + ":3:11: invalid JSON: "));
  EXPECT_TRUE(Contains(message, "invalid literal"));
  EXPECT_FALSE(Contains(message, "json.exception"));

  write_raw(file, "{\"a\" 1}");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ":1:6: invalid JSON: "));

  write_raw(file, "{\"a\": [1, 2,\n");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ":2:"));

  write_raw(file, "");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ":1:"));

  // The excerpt nlohmann quotes may hold control characters; the message stays one line.
  write_raw(file, "{\"a\": \"x\ny\"}");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ":"));

  write_raw(file, "{\"a\": \"\xff\"}");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ":1:"));

  write_raw(file, std::string("{\"a\": 1}\n\0{\"b\"", 13));
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_EQ(message, file.string() + ":2:1: invalid JSON: NUL byte");

  error_of(ErrorKind::io, [&] { read_json(dir / "missing.json"); });
}

TEST(IoFiles, FindInvalidUtf8AcceptsWellFormedText) {
  EXPECT_EQ(find_invalid_utf8(""), npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii\t\n"), npos);
  EXPECT_EQ(find_invalid_utf8(std::string_view("nul\0inside", 10)), npos);
  EXPECT_EQ(find_invalid_utf8("\xC2\x80 \xDF\xBF"), npos);                  // U+0080, U+07FF
  EXPECT_EQ(find_invalid_utf8("\xE0\xA0\x80 \xED\x9F\xBF \xEE\x80\x80"), npos);  // U+0800, U+D7FF, U+E000
  EXPECT_EQ(find_invalid_utf8("\xEF\xBF\xBF"), npos);                         // U+FFFF
  EXPECT_EQ(find_invalid_utf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"), npos);  // U+10000, U+10FFFF
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"), npos);
}

TEST(IoFiles, FindInvalidUtf8FindsTheFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);               // stray continuation byte
  EXPECT_EQ(find_invalid_utf8("\xC0\x80"), 0u);             // overlong NUL
  EXPECT_EQ(find_invalid_utf8("x\xC1\xBF"), 1u);            // overlong 2-byte
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\x80"), 0u);         // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("\xE0\x9F\xBF"), 0u);         // overlong U+07FF
  EXPECT_EQ(find_invalid_utf8("\xF0\x80\x80\x80"), 0u);     // overlong 4-byte
  EXPECT_EQ(find_invalid_utf8("\xF0\x8F\xBF\xBF"), 0u);     // overlong U+FFFF
  EXPECT_EQ(find_invalid_utf8("ok\xED\xA0\x80"), 2u);       // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xED\xBF\xBF"), 0u);         // surrogate U+DFFF
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);     // U+110000
  EXPECT_EQ(find_invalid_utf8("\xF5\x80\x80\x80"), 0u);     // lead byte beyond U+10FFFF
  EXPECT_EQ(find_invalid_utf8("a\xFF"), 1u);
  EXPECT_EQ(find_invalid_utf8("a\xFE"), 1u);
  EXPECT_EQ(find_invalid_utf8("end\xC3"), 3u);              // truncated 2-byte
  EXPECT_EQ(find_invalid_utf8("end\xE2\x82"), 3u);          // truncated 3-byte
  EXPECT_EQ(find_invalid_utf8("end\xF0\x9F\x98"), 3u);      // truncated 4-byte
  EXPECT_EQ(find_invalid_utf8("\xE2\x82x"), 0u);            // sequence cut by ASCII
  EXPECT_EQ(find_invalid_utf8("\xC3\xA9\xC3"), 2u);
}

TEST(IoFiles, ReadTextLinesSplitsLfCrlfAndDropsBom) {
  TempDir dir;
  write_raw(dir / "a.txt", "\xEF\xBB\xBF" "first\r\nsecond\n\nfourth\r\n");
  EXPECT_EQ(read_text_lines(dir / "a.txt"), (std::vector<std::string>{"first", "second", "", "fourth"}));
  write_raw(dir / "b.txt", "no final newline\nlast");
  EXPECT_EQ(read_text_lines(dir / "b.txt"), (std::vector<std::string>{"no final newline", "last"}));
  write_raw(dir / "c.txt", "");
  EXPECT_TRUE(read_text_lines(dir / "c.txt").empty());
  write_raw(dir / "d.txt", "\n");
  EXPECT_EQ(read_text_lines(dir / "d.txt"), (std::vector<std::string>{""}));
  // A lone CR is content, not a line end; a BOM after the start is content too.
  write_raw(dir / "e.txt", "a\rb\n\xEF\xBB\xBFz\n");
  EXPECT_EQ(read_text_lines(dir / "e.txt"), (std::vector<std::string>{"a\rb", "\xEF\xBB\xBFz"}));
}

TEST(IoFiles, ReadTextLinesReportsLineAndByteOfInvalidUtf8) {
  TempDir dir;
  const auto file = dir / "bad.txt";
  write_raw(file, "ok\nfine\nbad \xff here\n");
  std::string message = error_of(ErrorKind::input, [&] { read_text_lines(file); });
  EXPECT_EQ(message, file.string() + ":3: invalid UTF-8 at byte 12");
  // The byte offset counts the BOM, so it matches what a hex dump of the file shows.
  write_raw(file, "\xEF\xBB\xBF" "a\r\n\xED\xA0\x80\r\n");
  message = error_of(ErrorKind::input, [&] { read_text_lines(file); });
  EXPECT_EQ(message, file.string() + ":2: invalid UTF-8 at byte 6");
  write_raw(file, "truncated at the end \xE2\x82");
  message = error_of(ErrorKind::input, [&] { read_text_lines(file); });
  EXPECT_EQ(message, file.string() + ":1: invalid UTF-8 at byte 21");
  error_of(ErrorKind::io, [&] { read_text_lines(dir / "missing.txt"); });
}

TEST(IoFiles, SplitTextLinesNamesTheSource) {
  std::string message = error_of(ErrorKind::input, [&] { split_text_lines("a\n\xC0\xAF", "<stdin>"); });
  EXPECT_EQ(message, "<stdin>:2: invalid UTF-8 at byte 2");
}

TEST(IoFiles, QuotedKeepsMessagesOnOneLine) {
  EXPECT_EQ(quote("bert.embeddings"), "\"bert.embeddings\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote("line\nbreak\t\x7f"), "\"line\\x0abreak\\x09\\x7f\"");
  EXPECT_EQ(quote("caf\xC3\xA9 \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  EXPECT_EQ(quote("bad\xff\xC3"), "\"bad\\xff\\xc3\"");
  EXPECT_EQ(quote("\xED\xA0\x80"), "\"\\xed\\xa0\\x80\"");
  // Long text is cut at a character boundary and its length given.
  const std::string long_text = "a" + std::string(200, 'b') + std::string(50, 'c') + "\xE6\x97\xA5" + std::string(100, 'd');
  EXPECT_EQ(quote(long_text),
            "\"a" + std::string(200, 'b') + std::string(50, 'c') + "\xE6\x97\xA5" + std::string(46, 'd') + "\"... (354 bytes)");
  const std::string split = std::string(299, 'x') + "\xE6\x97\xA5" + "tail";
  EXPECT_EQ(quote(split), "\"" + std::string(299, 'x') + "\"... (306 bytes)");
}


// Found by fuzz/fuzz_shard_index: a number too large for a double is reported by nlohmann's
// parser as out_of_range.406, not parse_error, and escaped read_json.
TEST(IoFiles, ReadJsonNumberOverflowIsAFormatError) {
  TempDir dir;
  const auto file = dir / "big.json";
  write_raw(file, "22e22222222222222222222223{\"weight_map\": {}}");
  std::string message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ": invalid JSON: ")) << message;
  EXPECT_TRUE(Contains(message, "number overflow")) << message;
  write_raw(file, "{\"hidden_size\": 1e999}");
  message = error_of(ErrorKind::format, [&] { read_json(file); });
  EXPECT_TRUE(StartsWith(message, file.string() + ": invalid JSON: ")) << message;
}

}  // namespace
}  // namespace bertscope::io
