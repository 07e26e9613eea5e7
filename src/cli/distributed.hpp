// What the corpus-scale commands share for runs over several processes (mpirun) and resumed runs:
// the --resume flag, the checkpoint folder beside --out and the key it is checked against, and the
// document's `execution` record (docs/distributed.md).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "dist/runner.hpp"

namespace bertscope::cli {

// The whole command line as started (main() records it), for checkpoint keys.
void set_command_line(int argc, char** argv);

// "--resume" on a command that writes --out.
void add_resume_option(CLI::App& command, bool& resume);

// The checkpoint of a run that writes `out` ("" = no checkpoint; --resume then is an error). Its
// key is the command line without --resume and --threads, plus a fingerprint of the content of
// every input file (a folder: the files in it), so a resumed run whose options or inputs changed
// is refused instead of mixing old and new results, and one in a fresh clone is not.
dist::Checkpoint checkpoint_of(const std::string& out, bool resume, const std::vector<std::string>& inputs);

// The document's execution record: processes, and the items a resumed run reused.
nlohmann::json execution_record(const dist::Runner& runner);
// That of a command spread over the processes without a checkpoint (analyze probe).
nlohmann::json execution_record();

}  // namespace bertscope::cli
