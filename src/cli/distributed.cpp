#include "cli/distributed.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "dist/processes.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::cli {

namespace {

std::vector<std::string>& recorded_command_line() {
  static std::vector<std::string> args;
  return args;
}

// An input's content, not its modification time: a run stopped in one checkout resumes in a fresh
// clone of it, where every file is new but the same.
nlohmann::json file_stamp(const std::filesystem::path& path) {
  return {{"path", path.string()}, {"content", fmt::format("{:016x}", io::file_fingerprint(path))}};
}

}  // namespace

void set_command_line(int argc, char** argv) {
  auto& args = recorded_command_line();
  args.assign(argv, argv + argc);
}

void add_resume_option(CLI::App& command, bool& resume) {
  command.add_flag("--resume", resume,
                   "Continue a stopped run of the same command: reuse the examples already done, kept beside --out in "
                   ".NAME.parts/ (refused when the options or inputs changed)");
}

dist::Checkpoint checkpoint_of(const std::string& out, bool resume, const std::vector<std::string>& inputs) {
  if (out.empty()) {
    if (resume) fail(ErrorKind::input, "--resume needs --out: the partial results are kept beside the result file");
    return {};
  }
  nlohmann::json key = {{"command", nlohmann::json::array()}, {"inputs", nlohmann::json::array()}};
  const auto& args = recorded_command_line();
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--resume") continue;
    if (args[i] == "--threads") {
      ++i;
      continue;
    }
    if (args[i].rfind("--threads=", 0) == 0) continue;
    key["command"].push_back(args[i]);
  }
  for (const auto& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(input, ec))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) key["inputs"].push_back(file_stamp(f));
    } else {
      key["inputs"].push_back(file_stamp(input));
    }
  }
  return {dist::checkpoint_folder(out), resume, key.dump()};
}

nlohmann::json execution_record() { return {{"processes", dist::size()}}; }

nlohmann::json execution_record(const dist::Runner& runner) {
  nlohmann::json j = {{"processes", dist::size()}};
  if (runner.reused() > 0) j["resumed_items"] = runner.reused();
  return j;
}

}  // namespace bertscope::cli
