#include <csignal>
#include <memory>
#include <optional>
#include <pthread.h>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "io/error.hpp"
#include "model/model.hpp"
#include "server/server.hpp"

namespace bertscope::cli {

namespace {

void add_serve_command(CLI::App& app) {
  struct Args {
    std::string model, model_b, results, host = "127.0.0.1";
    int port = 8000, threads = 0, http_threads = 8, parallel_runs = 2;
    std::size_t max_body = 1 << 20, max_tokens = 0;
    bool quiet = false, allow_remote = false;
    std::vector<std::string> allow_hosts;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Local web viewer: type a sentence (or a pair) and see its attention (all-heads grid, one head's heatmap, "
      "token-to-token lines, query and key vectors) and the model's outputs; with --model-b, two models side by "
      "side and their difference; open result files. Listens on 127.0.0.1 unless --host says otherwise. API: "
      "docs/viewer.md.");
  cmd->add_option("--model", args->model, "Hugging Face model folder to run");
  cmd->add_option("--model-b", args->model_b,
                  "A second model folder to compare with --model on the same input (e.g. pre-trained vs fine-tuned): "
                  "same vocabulary and layers x heads");
  cmd->add_option("--results", args->results, "Folder of result documents (.json) and trace files (.npz) to offer");
  cmd->add_option("--host", args->host,
                  "Address to listen on (default 127.0.0.1: this machine only; another needs --allow-remote)");
  cmd->add_flag("--allow-remote", args->allow_remote,
                "Allow a --host other than loopback: anyone who can reach that address can run the model and read "
                "--results");
  cmd->add_option("--allow-host", args->allow_hosts,
                  "A host name that requests may use besides 127.0.0.1, localhost, ::1 and --host (e.g. a name this "
                  "machine has behind an SSH tunnel); repeatable");
  cmd->add_option("--port", args->port, "Port (0: any free port; the chosen one is printed)")->check(CLI::Range(0, 65535));
  cmd->add_option("--max-body-bytes", args->max_body, "Largest request body accepted (default 1 MiB)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-tokens", args->max_tokens, "Longest input accepted, in tokens (default: the model's limit)");
  cmd->add_option("--http-threads", args->http_threads, "Requests handled at once")->check(CLI::Range(1, 256));
  cmd->add_option("--parallel-runs", args->parallel_runs, "Forward passes at once")->check(CLI::Range(1, 64));
  cmd->add_flag("--quiet", args->quiet, "Do not log requests on stderr");
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    if (args->model.empty() && args->results.empty()) fail(ErrorKind::input, "give --model DIR, --results DIR or both");
    const bool loopback = args->host == "127.0.0.1" || args->host == "localhost" || args->host == "::1" ||
                          args->host.rfind("127.", 0) == 0;
    if (!loopback && !args->allow_remote)
      fail(ErrorKind::input, "--host {} listens beyond this machine: add --allow-remote if that is meant", args->host);
    if (!loopback)
      fmt::print(stderr, "bertscope: warning: listening on {}: whoever can reach it can run the model and read the "
                         "results (no authentication)\n", args->host);
    apply_threads(args->threads);
    if (!args->model_b.empty() && args->model.empty()) fail(ErrorKind::input, "--model-b needs --model (the model it is compared with)");
    const auto load = [](const std::string& dir) {
      auto loaded = model::Model::load(dir);
      if (!loaded.has_tokenizer())
        fail(ErrorKind::model, "{}: the model folder has no vocab.txt or tokenizer.json, so typed text cannot be run", dir);
      return loaded;
    };
    std::optional<model::Model> m, b;
    if (!args->model.empty()) m.emplace(load(args->model));
    if (!args->model_b.empty()) {
      b.emplace(load(args->model_b));
      server::check_comparable(*m, *b);
    }
    server::ServerOptions opt;
    opt.host = args->host;
    opt.port = args->port;
    opt.results_dir = args->results;
    opt.max_body_bytes = args->max_body;
    opt.max_tokens = args->max_tokens;
    opt.http_threads = args->http_threads;
    opt.max_parallel_runs = args->parallel_runs;
    opt.compute_threads = args->threads;
    opt.allowed_hosts = args->allow_hosts;
    if (!args->quiet) opt.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };

    // SIGINT/SIGTERM stop the server cleanly: they are blocked in every thread (the server's
    // workers inherit the mask) and taken by one waiting thread.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    server::Server srv(m ? &*m : nullptr, opt, b ? &*b : nullptr);
    const int port = srv.bind();
    fmt::print("bertscope: serving http://{}:{}/{}{}{}\n", args->host.find(':') != std::string::npos ? "[" + args->host + "]" : args->host,
               port, m ? fmt::format(" (model {})", args->model) : "", b ? fmt::format(" (model B {})", args->model_b) : "",
               args->results.empty() ? "" : fmt::format(" (results {})", args->results));
    std::fflush(stdout);
    std::thread waiter([&srv, signals] {
      int sig = 0;
      sigwait(&signals, &sig);
      srv.stop();
    });
    try {
      srv.run();
    } catch (...) {
      pthread_kill(waiter.native_handle(), SIGTERM);
      waiter.join();
      throw;
    }
    // run() returned because stop() was called, or it failed: wake the waiter either way.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 60, add_serve_command);

}  // namespace bertscope::cli
