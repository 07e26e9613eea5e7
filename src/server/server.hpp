// `bertscope serve`: the local web app. An HTTP server (cpp-httplib) that serves the embedded
// viewer, runs the model on sentences typed into it, and hands out the result files it was
// given, and nothing else. The API is specified in docs/viewer.md. Only its user reaches it: a
// request must name this server in its Host header (no DNS rebinding), POSTs must be JSON and,
// when they carry an Origin, come from this server's own page; runs beyond the parallel limit
// are answered 503 after a short wait instead of queueing without bound. With a second model
// (serve --model-b), a run names which of the two it uses, so the page can show both and their
// difference for the same input.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.hpp"

namespace bertscope::server {

struct ServerOptions {
  std::string host = "127.0.0.1";      // loopback unless told otherwise
  int port = 8000;                     // 0: any free port (see Server::bind)
  std::filesystem::path results_dir;   // served under /api/results; empty: none
  std::size_t max_body_bytes = 1 << 20;  // larger request bodies get 413
  std::size_t max_tokens = 0;          // longer inputs get 422; 0: the model's limit
  int http_threads = 8;                // requests handled at once
  int max_parallel_runs = 2;           // forward passes at once (each uses `compute_threads`)
  int compute_threads = 0;             // OpenMP threads per forward pass; 0: all cores
  // Host names a request's Host header may name besides the loopback names (127.0.0.1,
  // localhost, ::1) and `host` itself; anything else gets 403 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  // How long a run waits for one of the max_parallel_runs slots before the answer is 503.
  std::chrono::milliseconds run_wait{2000};
  // Seconds a connection may take to send its request or read its answer.
  int io_timeout_s = 10;
  // Called once per request with one line: method, path, status, response bytes.
  std::function<void(const std::string&)> log;
};

class Server {
 public:
  // `model` may be null (results only); `model_b`, when given, is a second model for comparison
  // runs (it needs `model`, the same vocabulary and the same layers x heads: check_comparable).
  // Both must outlive the server.
  Server(const model::Model* model, ServerOptions options, const model::Model* model_b = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port (the chosen one when port was 0). Throws Error(io).
  int bind();
  // Serves until stop() is called (from another thread). Call bind() first.
  void run();
  void stop();
  // True once run() accepts connections.
  bool running() const;

  // What GET /api/model answers.
  nlohmann::json model_info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws Error(input) naming the first difference when `b` cannot be compared with `a` head by
// head on the same tokens: another vocabulary or tokenizer settings, other layers or heads.
void check_comparable(const model::Model& a, const model::Model& b);

}  // namespace bertscope::server
