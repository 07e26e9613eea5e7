#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/parallel.hpp"
#include "io/error.hpp"

namespace bertscope::cli {

void add_threads_option(CLI::App& command, int& threads) {
  command.add_option("--threads", threads, "Threads for matrix products and per-head work (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) { core::set_num_threads(threads); }

}  // namespace bertscope::cli

int main(int argc, char** argv) {
  CLI::App app{
      "bertscope: run Hugging Face BERT checkpoints exactly, record every internal (attention per head, "
      "hidden states, ...), and analyse what attention heads do."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bertscope 0.1.0");
  bertscope::cli::add_info_command(app);
  bertscope::cli::add_tokenize_command(app);
  bertscope::cli::add_run_command(app);
  bertscope::cli::add_make_model_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bertscope::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "bertscope: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "bertscope: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
