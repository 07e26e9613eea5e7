#include "server/server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <string_view>
#include <semaphore>

#include <sys/socket.h>

#include <httplib.h>
#include <fmt/format.h>

#include "core/parallel.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "report/assets.hpp"
#include "report/attention_json.hpp"
#include "report/codec.hpp"
#include "report/documents.hpp"
#include "report/page.hpp"
#include "server/run_request.hpp"

namespace bertscope::server {

namespace {

// "application/json; charset=utf-8" rather than "application/json": cpp-httplib compresses
// only the exact types it knows, and brotli at its default quality takes seconds on the
// 100 MB answer for a 512-token input, for nothing on a loopback connection.
constexpr const char* kJson = "application/json; charset=utf-8";

// Bodies up to this many times the limit are read and answered 413 by the handler; bigger
// ones are dropped by cpp-httplib as they arrive (never held in memory), then answered 413.
constexpr std::size_t kHardBodyFactor = 4;

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.set_header("Content-Type", kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

// "name" or "name:port" or "[v6]:port" -> (name, port or -1); v6 addresses without brackets.
std::pair<std::string, int> split_host(std::string_view host) {
  std::string name;
  std::string_view rest;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return {std::string(host), -1};
    name = std::string(host.substr(1, close - 1));
    rest = host.substr(close + 1);
  } else {
    const auto colon = host.rfind(':');
    if (colon == std::string_view::npos || host.find(':') != colon) return {std::string(host), -1};
    name = std::string(host.substr(0, colon));
    rest = host.substr(colon);
  }
  if (rest.empty()) return {name, -1};
  if (rest.front() != ':' || rest.size() == 1 || rest.size() > 6) return {name, -2};
  int port = 0;
  for (char c : rest.substr(1)) {
    if (c < '0' || c > '9') return {name, -2};
    port = port * 10 + (c - '0');
  }
  return {name, port};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

int status_of(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::input: return 422;
    case ErrorKind::format: return 422;
    case ErrorKind::io: return 404;
    default: return 500;
  }
}

// The task head whose outputs the page shows: the MLM head (predictions at mask tokens) or a
// sequence classifier (class probabilities); none for other heads or when the weights lack it.
model::HeadKind output_head(const model::Model& m) {
  const auto kind = m.config().head_kind();
  if (kind == model::HeadKind::masked_lm && m.params().has_mlm_head()) return kind;
  if (kind == model::HeadKind::sequence_classification && m.params().has_classifier()) return kind;
  return model::HeadKind::none;
}

const char* head_name(model::HeadKind kind) {
  switch (kind) {
    case model::HeadKind::masked_lm: return "masked_lm";
    case model::HeadKind::sequence_classification: return "sequence_classification";
    default: return "none";
  }
}

constexpr std::size_t kTopPredictions = 5;

// The head's outputs for one input: the top predictions at every mask token, or the class
// probabilities with their labels (docs/viewer.md, POST /api/run).
nlohmann::json model_outputs(const model::Model& m, const model::Encoding& enc, const model::ForwardResult& r,
                             model::HeadKind head) {
  nlohmann::json out = {{"head", head_name(head)}};
  if (head == model::HeadKind::masked_lm) {
    auto masked = nlohmann::json::array();
    const auto& tok = m.tokenizer();
    for (std::size_t p = 0; p < enc.ids.size() && !r.mlm_logits.data.empty(); ++p) {
      if (enc.ids[p] != tok.mask_id()) continue;
      const auto vocab = r.mlm_logits.shape.back();
      const std::span<const float> row(r.mlm_logits.ptr() + static_cast<std::int64_t>(p) * vocab, static_cast<std::size_t>(vocab));
      const float hi = *std::max_element(row.begin(), row.end());
      double sum = 0;
      for (float x : row) sum += std::exp(static_cast<double>(x - hi));
      std::vector<std::int32_t> ids(row.size());
      std::iota(ids.begin(), ids.end(), 0);
      const auto k = std::min(kTopPredictions, ids.size());
      std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                        [&](std::int32_t a, std::int32_t b) { return row[static_cast<std::size_t>(a)] > row[static_cast<std::size_t>(b)]; });
      auto top = nlohmann::json::array();
      for (std::size_t i = 0; i < k; ++i) {
        const auto id = ids[i];
        top.push_back({{"token", tok.token(id)},
                       {"id", id},
                       {"probability", std::exp(static_cast<double>(row[static_cast<std::size_t>(id)] - hi)) / sum}});
      }
      masked.push_back({{"position", p}, {"token", enc.tokens[p]}, {"top", std::move(top)}});
    }
    out["mask_token"] = tok.settings().mask_token;
    out["masked"] = std::move(masked);
  } else if (head == model::HeadKind::sequence_classification) {
    const auto& c = m.config();
    const auto logits = r.classifier_logits.span();
    auto classes = nlohmann::json::array();
    if (c.problem_type == "regression") {
      out["activation"] = "none";
      for (std::size_t i = 0; i < logits.size(); ++i)
        classes.push_back({{"label", c.label(static_cast<std::int64_t>(i))}, {"logit", logits[i]}, {"value", logits[i]}});
    } else if (c.problem_type == "multi_label_classification") {
      out["activation"] = "sigmoid";
      for (std::size_t i = 0; i < logits.size(); ++i)
        classes.push_back({{"label", c.label(static_cast<std::int64_t>(i))},
                           {"logit", logits[i]},
                           {"probability", 1 / (1 + std::exp(-static_cast<double>(logits[i])))}});
    } else {
      out["activation"] = "softmax";
      const float hi = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (float x : logits) sum += std::exp(static_cast<double>(x - hi));
      for (std::size_t i = 0; i < logits.size(); ++i)
        classes.push_back({{"label", c.label(static_cast<std::int64_t>(i))},
                           {"logit", logits[i]},
                           {"probability", std::exp(static_cast<double>(logits[i] - hi)) / sum}});
    }
    out["classes"] = std::move(classes);
  }
  return out;
}

// A per-head site of every layer ([heads, tokens, head_dim] each) as one packed array of shape
// [layers, heads, tokens, head_dim].
nlohmann::json packed_sites(const model::Model& m, const model::Trace& trace, model::Site site, std::size_t tokens,
                            report::Precision precision) {
  const auto d = m.config().head_dim();
  std::vector<float> values;
  values.reserve(static_cast<std::size_t>(m.layers() * m.heads() * d) * tokens);
  for (std::int64_t l = 0; l < m.layers(); ++l) {
    const auto* t = trace.find(site, l);
    if (!t) fail(ErrorKind::internal, "{} was not recorded", model::site_name(site, l));
    values.insert(values.end(), t->data.begin(), t->data.end());
  }
  return {{"dtype", precision == report::Precision::float16 ? "float16" : "float32"},
          {"shape", {m.layers(), m.heads(), static_cast<std::int64_t>(tokens), d}},
          {"encoding", "base64"},
          {"data", precision == report::Precision::float16 ? report::pack_f16_base64(values) : report::pack_f32_base64(values)}};
}

}  // namespace

struct Server::Impl {
  const model::Model* model;
  const model::Model* model_b;
  ServerOptions opt;
  httplib::Server http;
  std::counting_semaphore<> runs;
  std::size_t max_tokens = 0;
  std::string page;
  int listen_fd = -1;

  Impl(const model::Model* m, ServerOptions o, const model::Model* b)
      : model(m), model_b(b), opt(std::move(o)), runs(std::max(1, opt.max_parallel_runs)) {
    if (model_b) {
      if (!model) fail(ErrorKind::input, "a second model (--model-b) needs a first one (--model)");
      check_comparable(*model, *model_b);
    }
    if (model) {
      const auto limit = model_b ? std::min(model->max_length(), model_b->max_length()) : model->max_length();
      max_tokens = opt.max_tokens == 0 ? limit : std::min(opt.max_tokens, limit);
    }
    page = report::viewer_page({{"mode", "serve"}}, "bertscope", report::AssetMode::linked);
    routes();
  }

  // Whether a Host header (or an Origin's host) names this server: a loopback name, the
  // address it listens on, or an --allow-host name; with a port, the port it listens on.
  bool names_this_server(std::string_view host) const {
    const auto [name, port] = split_host(host);
    if (port == -2 || (port >= 0 && port != opt.port)) return false;
    const auto n = lower(name);
    if (n == "127.0.0.1" || n == "localhost" || n == "::1" || n == lower(opt.host)) return true;
    return std::any_of(opt.allowed_hosts.begin(), opt.allowed_hosts.end(), [&](const std::string& a) { return lower(a) == n; });
  }

  // Refuses what a page of another site could send through DNS rebinding or a cross-origin
  // form: a foreign Host, a foreign Origin, a POST that is not JSON (a "simple" request needs
  // no CORS preflight, so a browser sends text/plain anywhere).
  std::optional<std::pair<int, std::string>> refusal(const httplib::Request& req) const {
    if (!req.has_header("Host") || !names_this_server(req.get_header_value("Host")))
      return std::pair{403, fmt::format("Host {} is not this server (only its user's browser may use it; serve --allow-host "
                                        "NAME admits another name)",
                                        io::quote(req.get_header_value("Host")))};
    if (req.has_header("Origin")) {
      const auto origin = req.get_header_value("Origin");
      const auto scheme = origin.find("://");
      if (scheme == std::string::npos || origin.substr(0, scheme) != "http" ||
          !names_this_server(std::string_view(origin).substr(scheme + 3)) ||
          split_host(std::string_view(origin).substr(scheme + 3)).first != split_host(req.get_header_value("Host")).first)
        return std::pair{403, fmt::format("cross-origin request from {} refused", io::quote(origin))};
    }
    if (req.method == "POST") {
      const auto type = lower(req.get_header_value("Content-Type"));
      if (type.substr(0, type.find(';')) != "application/json")
        return std::pair{415, "POST bodies must be Content-Type: application/json"};
    }
    return std::nullopt;
  }

  nlohmann::json model_description(const model::Model& m) const {
    const auto& c = m.config();
    return {{"name", m.dir().filename().string()},
            {"path", m.dir().string()},
            {"layers", c.num_hidden_layers},
            {"heads", c.num_attention_heads},
            {"hidden", c.hidden_size},
            {"intermediate", c.intermediate_size},
            {"vocab_size", c.vocab_size},
            {"architectures", c.architectures},
            {"head", head_name(output_head(m))}};
  }

  nlohmann::json model_info() const {
    if (!model) return {{"loaded", false}, {"max_body_bytes", opt.max_body_bytes}};
    auto info = model_description(*model);
    info["loaded"] = true;
    info["max_tokens"] = max_tokens;
    info["max_body_bytes"] = opt.max_body_bytes;
    if (model_b) info["b"] = model_description(*model_b);
    return info;
  }

  void run_model(const httplib::Request& req, httplib::Response& res) {
    if (!model) return send_error(res, 409, "this server has no model (start it with --model DIR)");
    auto parsed = parse_run_request(req.body, opt.max_body_bytes, model_b != nullptr);
    if (const auto* refusal = std::get_if<RequestRefusal>(&parsed)) return send_error(res, refusal->status, refusal->message);
    const auto& request = std::get<RunRequest>(parsed);
    const auto& text = request.text;
    const auto& pair = request.text_pair;
    const auto precision = request.precision;
    const bool truncate = request.truncate, vectors = request.vectors;
    const std::string& slot = request.model;
    const model::Model* m = slot == "b" ? model_b : model;

    // Tokenized without a limit first, so that a refusal can say how long the input is; the
    // page then offers to truncate it (longest segment first) to the limit.
    const auto pair_view = pair ? std::optional<std::string_view>(*pair) : std::nullopt;
    auto enc = m->tokenizer().encode(text, pair_view, model::EncodeOptions{0, false});
    if (enc.size() > max_tokens) {
      if (!truncate)
        return send_json(res, 422,
                         {{"error", fmt::format("the input has {} tokens; this server takes at most {} (serve "
                                                "--max-tokens, or truncate it)",
                                                enc.size(), max_tokens)},
                          {"tokens", enc.size()},
                          {"max_tokens", max_tokens}});
      enc = m->tokenizer().encode(text, pair_view, model::EncodeOptions{max_tokens, true});
    }
    const auto head = output_head(*m);
    model::RunOptions ro;
    ro.record = model::SiteSet(m->layers());
    ro.record.add(model::Site::attn_probs);
    if (vectors) {
      ro.record.add(model::Site::attn_query);
      ro.record.add(model::Site::attn_key);
    }
    // The MLM head's [tokens, vocabulary] logits only when there is a mask to predict.
    const auto mask_id = m->tokenizer().mask_id();
    ro.mlm_logits = head == model::HeadKind::masked_lm && std::find(enc.ids.begin(), enc.ids.end(), mask_id) != enc.ids.end();
    ro.classifier_logits = head == model::HeadKind::sequence_classification;
    const auto in = model::ModelInput::from_encoding(enc);
    std::vector<model::ForwardResult> out;
    {
      // OpenMP's thread count is a per-thread setting: set it in this worker thread.
      core::set_num_threads(opt.compute_threads);
      // A bounded wait for a slot, then 503: requests never pile up behind the runs.
      if (!runs.try_acquire_for(opt.run_wait)) {
        res.set_header("Retry-After", "1");
        return send_error(res, 503, fmt::format("all {} run slots are busy (serve --parallel-runs); try again",
                                                opt.max_parallel_runs));
      }
      struct Release {
        std::counting_semaphore<>& s;
        ~Release() { s.release(); }
      } release{runs};
      out = m->forward(std::span(&in, 1), ro);
    }
    const auto& trace = out[0].trace;
    report::AttentionInput ai;
    ai.encoding = &enc;
    ai.text.push_back(text);
    if (pair) ai.text.push_back(*pair);
    for (std::int64_t l = 0; l < m->layers(); ++l) ai.layers.push_back(trace.find(model::Site::attn_probs, l));
    ai.model = {{"name", m->dir().filename().string()}, {"layers", m->layers()}, {"heads", m->heads()}, {"slot", slot}};
    auto doc = report::attention_document(ai, precision);
    if (enc.num_truncated > 0) doc["truncated"] = enc.num_truncated;
    doc["outputs"] = model_outputs(*m, enc, out[0], head);
    if (vectors) {
      doc["head_dim"] = m->config().head_dim();
      doc["query"] = packed_sites(*m, trace, model::Site::attn_query, enc.size(), precision);
      doc["key"] = packed_sites(*m, trace, model::Site::attn_key, enc.size(), precision);
    }
    send_json(res, 200, doc);
  }

  std::vector<std::filesystem::path> result_files() const {
    if (opt.results_dir.empty()) return {};
    return report::viewer_files(opt.results_dir);
  }

  void list_results(httplib::Response& res) {
    auto list = nlohmann::json::array();
    for (const auto& p : result_files()) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(p, ec);
      list.push_back({{"name", p.filename().string()}, {"bytes", ec ? 0 : size}});
    }
    send_json(res, 200, {{"results", list}});
  }

  void get_result(const std::string& name, httplib::Response& res) {
    // Only a file that the listing names: a bare file name found in the folder, never a path.
    const auto files = result_files();
    const auto it = std::find_if(files.begin(), files.end(), [&](const auto& p) { return p.filename().string() == name; });
    if (name.find('/') != std::string::npos || it == files.end())
      return send_error(res, 404, fmt::format("no result file named {}", io::quote(name)));
    send_json(res, 200, report::load_viewer_document(*it).json);
  }

  // Runs a handler, turning errors into JSON answers with a status.
  template <typename F>
  static httplib::Server::Handler guarded(F f) {
    return [f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const Error& e) {
        send_error(res, status_of(e), e.what());
      } catch (const std::exception& e) {
        send_error(res, 500, e.what());
      }
    };
  }

  void routes() {
    const auto& css = report::asset("app.css");
    const auto& js = report::asset("app.js");
    auto security = [](httplib::Response& res) {
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Referrer-Policy", "no-referrer");
    };
    auto index = [this, security](const httplib::Request&, httplib::Response& res) {
      security(res);
      // frame-ancestors only works as a header (browsers ignore it in the page's <meta>).
      res.set_header("Content-Security-Policy",
                     std::string(report::content_security_policy(report::AssetMode::linked)) + "; frame-ancestors 'none'");
      res.set_header("Cache-Control", "no-store");
      res.set_content(page, "text/html; charset=utf-8");
    };
    http.Get("/", index);
    http.Get("/index.html", index);
    for (const auto* a : {&css, &js}) {
      http.Get("/assets/" + std::string(a->name), [a, security](const httplib::Request&, httplib::Response& res) {
        security(res);
        res.set_header("Cache-Control", "no-cache");
        res.set_content(a->data.data(), a->data.size(), std::string(a->content_type));
      });
    }
    http.Get("/api/model", guarded([this](const httplib::Request&, httplib::Response& res) { send_json(res, 200, model_info()); }));
    http.Post("/api/run", guarded([this](const httplib::Request& req, httplib::Response& res) { run_model(req, res); }));
    http.Get("/api/run", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      send_error(res, 405, R"(use POST /api/run with {"text": ..., "text_pair": ...})");
    });
    http.Get("/api/results", guarded([this](const httplib::Request&, httplib::Response& res) { list_results(res); }));
    http.Get(R"(/api/results/(.+))", guarded([this](const httplib::Request& req, httplib::Response& res) {
               get_result(req.matches[1].str(), res);
             }));

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (const auto r = refusal(req)) {
        send_error(res, r->first, r->second);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // A stalled client holds one worker until these run out, never the others.
    http.set_read_timeout(opt.io_timeout_s, 0);
    http.set_write_timeout(opt.io_timeout_s, 0);
    http.set_keep_alive_timeout(std::min(opt.io_timeout_s, 5));

    // Keep the listening socket: bind() widens its backlog (see there).
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = static_cast<int>(sock);
    });
    http.set_payload_max_length(opt.max_body_bytes * kHardBodyFactor);
    http.new_task_queue = [n = std::max(1, opt.http_threads)] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    // Every 4xx/5xx without a body of its own (unknown paths, refused bodies) gets a message.
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (res.status == 404) send_error(res, 404, fmt::format("not found: {}", io::quote(req.path)));
      else if (res.status == 413)
        send_error(res, 413, fmt::format("request body over {} bytes; the limit is {} bytes", opt.max_body_bytes * kHardBodyFactor,
                                         opt.max_body_bytes));
      else send_error(res, res.status, fmt::format("HTTP {}", res.status));
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        send_error(res, 500, e.what());
      } catch (...) {
        send_error(res, 500, "unknown error");
      }
    });
    if (opt.log) {
      http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        opt.log(fmt::format("{} {} {} {} bytes", req.method, req.path, res.status, res.body.size()));
      });
    }
  }
};

Server::Server(const model::Model* model, ServerOptions options, const model::Model* model_b)
    : impl_(std::make_unique<Impl>(model, std::move(options), model_b)) {}

Server::~Server() { stop(); }

int Server::bind() {
  auto& o = impl_->opt;
  if (o.port == 0) {
    const int port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) fail(ErrorKind::io, "cannot bind {}: no free port", o.host);
    o.port = port;
  } else if (!impl_->http.bind_to_port(o.host, o.port)) {
    fail(ErrorKind::io, "cannot bind {}:{} (in use, or not an address of this machine)", o.host, o.port);
  }
  // Debian's cpp-httplib listens with a backlog of 5: a burst of connections (a page's
  // parallel requests, a script's) overflows it, the kernel drops the handshakes, and clients
  // see timeouts. listen() again on the bound socket raises the backlog.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  return o.port;
}

void Server::run() {
  if (!impl_->http.listen_after_bind()) fail(ErrorKind::io, "the server on {}:{} stopped with an error", impl_->opt.host, impl_->opt.port);
}

void Server::stop() {
  if (impl_) impl_->http.stop();
}

bool Server::running() const { return impl_->http.is_running(); }

nlohmann::json Server::model_info() const { return impl_->model_info(); }

void check_comparable(const model::Model& a, const model::Model& b) {
  const auto name = [](const model::Model& m) { return io::quote(m.dir().string()); };
  if (a.layers() != b.layers() || a.heads() != b.heads())
    fail(ErrorKind::input, "cannot compare {} ({} layers x {} heads) with {} ({} layers x {} heads): the heads must match",
         name(a), a.layers(), a.heads(), name(b), b.layers(), b.heads());
  const auto& ta = a.tokenizer();
  const auto& tb = b.tokenizer();
  const auto& sa = ta.settings();
  const auto& sb = tb.settings();
  auto differs = [&]() -> std::string {
    if (ta.vocab_size() != tb.vocab_size()) return fmt::format("{} and {} tokens in the vocabulary", ta.vocab_size(), tb.vocab_size());
    for (std::size_t id = 0; id < ta.vocab_size(); ++id) {
      const auto i = static_cast<std::int32_t>(id);
      if (ta.token(i) != tb.token(i)) return fmt::format("token {} is {} in one, {} in the other", id, io::quote(ta.token(i)), io::quote(tb.token(i)));
    }
    if (sa.lowercase != sb.lowercase || sa.strip_accents != sb.strip_accents) return "one lowercases or strips accents, the other not";
    if (sa.cls_token != sb.cls_token || sa.sep_token != sb.sep_token || sa.mask_token != sb.mask_token)
      return "their special tokens differ";
    return {};
  }();
  if (!differs.empty())
    fail(ErrorKind::input, "cannot compare {} with {}: the same input must give the same tokens, but {}", name(a), name(b), differs);
}

}  // namespace bertscope::server
