// `bertscope serve`'s HTTP API against a server started in-process on an ephemeral port: the
// page and assets, /api/model, /api/run (checked against a direct forward pass), limits
// (oversized bodies, over-long inputs), path traversal, result files, and 50 concurrent runs.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/parallel.hpp"
#include "io/base64.hpp"
#include "io/float16.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"
#include "report/assets.hpp"
#include "report/codec.hpp"
#include "server/run_request.hpp"
#include "server/server.hpp"
#include "test_util.hpp"

using namespace bertscope;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxBody = 8192;
constexpr std::size_t kMaxTokens = 24;

// One raw HTTP/1.1 exchange over a socket, so requests reach the server byte for byte (a client
// library could normalise "../" in a path or refuse to send a body it was not given).
struct RawResponse {
  int status = 0;
  std::string head, body;
};

RawResponse raw_request(int port, const std::string& request) {
  RawResponse r;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  // Read until the body announced by Content-Length is complete (the server may keep the
  // connection open), or until the server closes it.
  std::string all;
  char buf[65536];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
    const auto head_end = all.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    const auto cl = all.find("Content-Length: ");
    if (cl != std::string::npos && cl < head_end &&
        all.size() >= head_end + 4 + std::stoul(all.substr(cl + 16, all.find("\r\n", cl) - cl - 16)))
      break;
  }
  ::close(fd);
  const auto split = all.find("\r\n\r\n");
  if (all.size() < 12 || split == std::string::npos) return r;
  r.status = std::stoi(all.substr(9, 3));
  r.head = all.substr(0, split);
  r.body = all.substr(split + 4);
  return r;
}

std::string get_line(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

// Float16 attention from a /api/run answer, as floats.
std::vector<float> attention_values(const json& doc) {
  const auto bytes = io::base64_decode(doc["attention"]["data"].get<std::string>(), "attention");
  std::vector<float> out;
  if (doc["attention"]["dtype"] == "float16") {
    out.resize(bytes.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      out[i] = io::half_to_float(h);
    }
  } else {
    out.resize(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), bytes.size());
  }
  return out;
}

class ServerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("server-api");
    model::GeneratorOptions g;
    g.layers = 2;
    g.hidden = 48;
    g.heads = 3;
    g.intermediate = 64;
    g.max_positions = 40;
    g.vocab = test::data_dir() / "bert-base-uncased" / "vocab.txt";
    g.seed = 11;
    g.init_std = 0.2;
    model::make_model(g, dir_->path() / "model");
    model_ = new model::Model(model::Model::load(dir_->path() / "model"));

    const auto results = dir_->path() / "results";
    std::filesystem::create_directories(results / "sub");
    const json doc = {{"method", "surface"},
                      {"model", {{"layers", 2}, {"heads", 3}}},
                      {"results", {{"heads", json::array({{{"layer", 0}, {"head", 1}, {"cls", 0.5}}})}}}};
    std::ofstream(results / "surface.json") << doc.dump();
    std::ofstream(results / "notes.json") << R"({"not": "a result"})";
    std::ofstream(results / ".hidden.json") << doc.dump();
    std::ofstream(results / "sub" / "inner.json") << doc.dump();
    std::ofstream(dir_->path() / "secret.json") << doc.dump();
    std::filesystem::create_symlink(dir_->path() / "secret.json", results / "link.json");

    server::ServerOptions opt;
    opt.port = 0;
    opt.results_dir = results;
    opt.max_body_bytes = kMaxBody;
    opt.max_tokens = kMaxTokens;
    opt.http_threads = 8;
    opt.max_parallel_runs = 4;
    opt.compute_threads = 1;
    server_ = new server::Server(model_, opt);
    port_ = server_->bind();
    thread_ = new std::thread([] { server_->run(); });
    for (int i = 0; i < 500 && !server_->running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  static void TearDownTestSuite() {
    server_->stop();
    thread_->join();
    delete thread_;
    delete server_;
    delete model_;
    delete dir_;
  }

  static httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }

  static std::vector<float> reference_attention(const std::string& text, const std::optional<std::string>& pair) {
    const auto enc = model_->encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt);
    const auto in = model::ModelInput::from_encoding(enc);
    model::RunOptions ro;
    ro.record = model::SiteSet(model_->layers());
    ro.record.add(model::Site::attn_probs);
    core::set_num_threads(1);
    const auto out = model_->forward(std::span(&in, 1), ro);
    std::vector<float> all;
    for (std::int64_t l = 0; l < model_->layers(); ++l) {
      const auto* t = out[0].trace.find(model::Site::attn_probs, l);
      all.insert(all.end(), t->data.begin(), t->data.end());
    }
    return all;
  }

  static test::TempDir* dir_;
  static model::Model* model_;
  static server::Server* server_;
  static std::thread* thread_;
  static int port_;
};

test::TempDir* ServerApi::dir_ = nullptr;
model::Model* ServerApi::model_ = nullptr;
server::Server* ServerApi::server_ = nullptr;
std::thread* ServerApi::thread_ = nullptr;
int ServerApi::port_ = 0;

TEST_F(ServerApi, BindsLoopbackByDefault) {
  EXPECT_EQ(server::ServerOptions{}.host, "127.0.0.1");
  EXPECT_GT(port_, 0);
}

TEST_F(ServerApi, ServesThePageAndTheEmbeddedAssetsOnly) {
  auto c = client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("bertscope-config"), std::string::npos);
  EXPECT_NE(page->body.find("/assets/app.js"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  for (const char* name : {"app.js", "app.css"}) {
    auto r = c.Get(std::string("/assets/") + name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, std::string(report::asset(name).data)) << name;
  }
  auto missing = c.Get("/assets/other.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(json::parse(missing->body).value("error", "").find("not found"), std::string::npos);
}

TEST_F(ServerApi, DescribesTheModel) {
  auto r = client().Get("/api/model");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const auto j = json::parse(r->body);
  EXPECT_TRUE(j["loaded"].get<bool>());
  EXPECT_EQ(j["layers"], 2);
  EXPECT_EQ(j["heads"], 3);
  EXPECT_EQ(j["hidden"], 48);
  EXPECT_EQ(j["max_tokens"], kMaxTokens);
  EXPECT_EQ(j["max_body_bytes"], kMaxBody);
}

TEST_F(ServerApi, RunReturnsTokensAndTheModelsAttention) {
  const std::string text = "The keys to the cabinet are here.";
  const std::string pair = "Where are they?";
  auto r = client().Post("/api/run", json{{"text", text}, {"text_pair", pair}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto doc = json::parse(r->body);
  const auto enc = model_->encode(text, std::string_view(pair));
  const auto t = static_cast<std::int64_t>(enc.size());
  EXPECT_EQ(doc["kind"], "attention");
  EXPECT_EQ(doc["tokens"].get<std::vector<std::string>>(), enc.tokens);
  EXPECT_EQ(doc["word_ids"].get<std::vector<std::int32_t>>(), enc.word_ids);
  EXPECT_EQ(doc["sequence_ids"].get<std::vector<std::int32_t>>(), enc.sequence_ids);
  EXPECT_EQ(doc["type_ids"].get<std::vector<std::int32_t>>(), enc.type_ids);
  EXPECT_EQ(doc["text_pair"], pair);
  EXPECT_EQ(doc["attention"]["shape"], json({2, 3, t, t}));
  EXPECT_EQ(doc["attention"]["dtype"], "float16");
  // Float16 keeps 11 significant bits: each value is within 2^-11 (relative) of the model's.
  const auto got = attention_values(doc);
  const auto want = reference_attention(text, pair);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], std::abs(want[i]) * 4.9e-4f + 6e-8f) << "value " << i;

  auto r32 = client().Post("/api/run", json{{"text", text}, {"precision", "float32"}}.dump(), "application/json");
  ASSERT_TRUE(r32);
  ASSERT_EQ(r32->status, 200) << r32->body;
  const auto doc32 = json::parse(r32->body);
  EXPECT_EQ(doc32["attention"]["dtype"], "float32");
  EXPECT_TRUE(doc32["text_pair"].is_null());
  const auto got32 = attention_values(doc32);
  const auto want32 = reference_attention(text, std::nullopt);
  ASSERT_EQ(got32.size(), want32.size());
  for (std::size_t i = 0; i < got32.size(); ++i) ASSERT_NEAR(got32[i], want32[i], 1e-6f) << "value " << i;
}

TEST_F(ServerApi, DoesNotCompressLargeJson) {
  // Brotli at cpp-httplib's default quality takes seconds on a 512-token answer.
  httplib::Headers h = {{"Accept-Encoding", "br, gzip"}};
  auto r = client().Post("/api/run", h, json{{"text", "a short text"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Content-Encoding"));
}

TEST_F(ServerApi, OversizedBodiesGet413WithAMessage) {
  // Just over the limit: read, then refused with a message.
  const std::string big = json{{"text", std::string(kMaxBody, 'a')}}.dump();
  auto r = client().Post("/api/run", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  const auto msg = json::parse(r->body).value("error", "");
  EXPECT_NE(msg.find(std::to_string(kMaxBody)), std::string::npos) << msg;

  // Far over it (beyond 4 x the limit): cpp-httplib drops the body as it arrives instead of
  // keeping it, then answers 413 with our message.
  const std::string huge(kMaxBody * 5, 'x');
  const auto raw = raw_request(port_, "POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                      "Content-Length: " + std::to_string(huge.size()) + "\r\nConnection: close\r\n\r\n" + huge);
  EXPECT_EQ(raw.status, 413);
  EXPECT_NE(json::parse(raw.body).value("error", "").find("limit"), std::string::npos) << raw.body;
}

TEST_F(ServerApi, OverLongInputsGet422WithAMessage) {
  std::string words;
  for (int i = 0; i < 30; ++i) words += "word ";
  auto r = client().Post("/api/run", json{{"text", words}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  const auto msg = json::parse(r->body).value("error", "");
  EXPECT_NE(msg.find("32 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(kMaxTokens)), std::string::npos) << msg;

  // Longer than the model's positions (40): the tokenizer refuses it.
  std::string longer;
  for (int i = 0; i < 60; ++i) longer += "word ";
  auto r2 = client().Post("/api/run", json{{"text", longer}, {"text_pair", "and more"}}.dump(), "application/json");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 422);
  EXPECT_FALSE(json::parse(r2->body).value("error", "").empty());
}

TEST_F(ServerApi, BadRequestsGet4xxWithAMessage) {
  auto c = client();
  struct Case {
    std::string body;
    int status;
  };
  for (const auto& [body, status] : std::vector<Case>{{"not json", 400},
                                                      {"[1, 2]", 400},
                                                      {R"({"txt": "x"})", 400},
                                                      {R"({"text": 3})", 400},
                                                      {R"({"text": "   "})", 400},
                                                      {R"({"text": "a", "text_pair": 5})", 400},
                                                      {R"({"text": "a", "precision": "float8"})", 422},
                                                      {"{\"text\": \"\xff\xfe\"}", 400}}) {
    auto r = c.Post("/api/run", body, "application/json");
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, status) << body;
    EXPECT_FALSE(json::parse(r->body).value("error", "").empty()) << body;
  }
  auto get = c.Get("/api/run");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
}

TEST_F(ServerApi, PathTraversalGets404) {
  for (const std::string path :
       {"/../../etc/passwd", "/assets/../../etc/passwd", "/assets/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
        "/api/results/../secret.json", "/api/results/..%2fsecret.json", "/api/results/%2e%2e%2fsecret.json",
        "/api/results/sub/inner.json", "/api/results/sub%2finner.json", "/api/results/link.json",
        "/api/results/.hidden.json", "/api/results//etc/passwd", "/api/results/%2fetc%2fpasswd", "/etc/passwd",
        "/index.html/../../etc/passwd", "/src/server/server.cpp", "/web/src/main.ts", "/assets/"}) {
    const auto r = raw_request(port_, get_line(path));
    EXPECT_EQ(r.status, 404) << path << " -> " << r.body.substr(0, 200);
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("surface"), std::string::npos) << path;
  }
}

TEST_F(ServerApi, ListsAndServesTheResultFilesOnly) {
  auto c = client();
  auto list = c.Get("/api/results");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  const auto listing = json::parse(list->body);
  std::vector<std::string> names;
  for (const auto& e : listing["results"]) names.push_back(e["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"notes.json", "surface.json"}));

  auto doc = c.Get("/api/results/surface.json");
  ASSERT_TRUE(doc);
  ASSERT_EQ(doc->status, 200);
  EXPECT_EQ(json::parse(doc->body)["method"], "surface");

  auto notes = c.Get("/api/results/notes.json");
  ASSERT_TRUE(notes);
  EXPECT_EQ(notes->status, 422);
  EXPECT_NE(json::parse(notes->body).value("error", "").find("not a bertscope result document"), std::string::npos);
}

TEST_F(ServerApi, FiftyConcurrentRequestsAllSucceedWithTheirOwnResults) {
  constexpr int kRequests = 50;
  std::vector<std::string> texts;
  for (int i = 0; i < kRequests; ++i) {
    std::string t = "request " + std::to_string(i);
    for (int k = 0; k < i % 7; ++k) t += " and more words";
    texts.push_back(t);
  }
  // Distinct lengths and texts: a response carrying another request's maps would not match.
  std::map<std::string, std::vector<float>> expected;
  for (const auto& t : texts) expected.emplace(t, reference_attention(t, std::nullopt));

  std::atomic<int> ok{0};
  std::vector<std::string> failures(kRequests);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      auto c = client();
      auto r = c.Post("/api/run", json{{"text", texts[i]}, {"precision", "float32"}}.dump(), "application/json");
      if (!r) {
        failures[i] = "no response: " + httplib::to_string(r.error());
        return;
      }
      if (r->status != 200) {
        failures[i] = "status " + std::to_string(r->status) + ": " + r->body;
        return;
      }
      const auto got = attention_values(json::parse(r->body));
      const auto& want = expected.at(texts[i]);
      if (got.size() != want.size()) {
        failures[i] = "wrong size";
        return;
      }
      for (std::size_t k = 0; k < got.size(); ++k) {
        if (std::abs(got[k] - want[k]) > 1e-6f) {
          failures[i] = "value " + std::to_string(k) + " differs";
          return;
        }
      }
      ++ok;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) EXPECT_TRUE(failures[i].empty()) << "request " << i << ": " << failures[i];
  EXPECT_EQ(ok.load(), kRequests);
}

TEST_F(ServerApi, OnlyItsUserReachesIt) {
  const auto p = std::to_string(port_);
  auto request = [&](const std::string& method, const std::string& headers, const std::string& body = "") {
    return raw_request(port_, method + " HTTP/1.1\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
                                  "\r\nConnection: close\r\n\r\n" + body);
  };
  const std::string run_body = R"({"text": "the cat sat"})";
  // DNS rebinding: a page of another site, its name now resolving to 127.0.0.1.
  auto r = request("GET /", "Host: attacker.example:" + p + "\r\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("attacker.example"), std::string::npos);
  r = request("POST /api/run", "Host: attacker.example:" + p + "\r\nContent-Type: text/plain\r\n", run_body);
  EXPECT_EQ(r.status, 403);
  r = request("GET /api/results", "Host: attacker.example\r\n");
  EXPECT_EQ(r.status, 403);
  r = request("GET /api/model", "");  // no Host at all
  EXPECT_EQ(r.status, 403);
  r = request("GET /api/model", "Host: 127.0.0.1:" + std::to_string(port_ + 1) + "\r\n");  // another port
  EXPECT_EQ(r.status, 403);
  // A form or fetch from another origin, and a "simple" text/plain POST that needs no preflight.
  r = request("POST /api/run", "Host: 127.0.0.1:" + p + "\r\nOrigin: http://attacker.example\r\nContent-Type: application/json\r\n",
              run_body);
  EXPECT_EQ(r.status, 403);
  r = request("POST /api/run", "Host: 127.0.0.1:" + p + "\r\nContent-Type: text/plain\r\n", run_body);
  EXPECT_EQ(r.status, 415);
  // Its own page: any loopback name, with or without the port, and same-origin POSTs.
  for (const auto& host : std::vector<std::string>{"127.0.0.1:" + p, "localhost:" + p, "[::1]:" + p, "LOCALHOST", "127.0.0.1"}) {
    r = request("GET /api/model", "Host: " + host + "\r\n");
    EXPECT_EQ(r.status, 200) << host;
  }
  r = request("POST /api/run", "Host: localhost:" + p + "\r\nOrigin: http://localhost:" + p +
                                   "\r\nContent-Type: application/json; charset=utf-8\r\n",
              run_body);
  EXPECT_EQ(r.status, 200);
}

TEST_F(ServerApi, AStalledClientDoesNotDelayOthers) {
  // A client that sends its request one byte per second holds one worker, not the server.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::atomic<bool> done{false};
  std::thread slow([&] {
    const std::string request = "GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (std::size_t i = 0; i < request.size() && !done; ++i) {
      (void)::send(fd, request.data() + i, 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = client().Post("/api/run", R"({"text": "a quick one"})", "application/json");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(seconds, 1.0);
  }
  done = true;
  ::shutdown(fd, SHUT_RDWR);
  slow.join();
  ::close(fd);
}

TEST(ServerHosts, AllowHostAdmitsANameAndBusyRunsGet503) {
  test::TempDir dir("server-hosts");
  model::GeneratorOptions g;
  g.vocab = test::data_dir() / "tiny-vocab.txt";
  g.layers = 2;
  g.hidden = 16;
  g.heads = 2;
  g.intermediate = 32;
  model::make_model(g, dir.path() / "m");
  const auto m = model::Model::load(dir.path() / "m");
  server::ServerOptions opt;
  opt.port = 0;
  opt.allowed_hosts = {"workstation.lan"};
  opt.max_parallel_runs = 1;
  opt.run_wait = std::chrono::milliseconds(0);
  server::Server srv(&m, opt);
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  for (int i = 0; i < 500 && !srv.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto p = std::to_string(port);
  auto get = [&](const std::string& host) {
    return raw_request(port, "GET /api/model HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").status;
  };
  EXPECT_EQ(get("workstation.lan:" + p), 200);
  EXPECT_EQ(get("other.lan:" + p), 403);
  // With one slot and no wait, concurrent runs either succeed or get 503: none fails otherwise,
  // none waits without bound.
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(60, 0);
      const auto r = client.Post("/api/run", R"({"text": "the cat sat on the mat"})", "application/json");
      if (r && r->status == 200) ++ok;
      else if (r && r->status == 503 && r->has_header("Retry-After")) ++busy;
      else ++other;
    });
  for (auto& c : clients) c.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GE(ok.load(), 1);
  EXPECT_EQ(ok.load() + busy.load(), 8);
  srv.stop();
  t.join();
}

TEST(ServerWithoutModel, ServesResultsAndRefusesRuns) {
  test::TempDir dir("server-nomodel");
  server::ServerOptions opt;
  opt.port = 0;
  server::Server srv(nullptr, opt);
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  for (int i = 0; i < 500 && !srv.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  httplib::Client c("127.0.0.1", port);
  auto info = c.Get("/api/model");
  ASSERT_TRUE(info);
  EXPECT_FALSE(json::parse(info->body)["loaded"].get<bool>());
  auto run = c.Post("/api/run", R"({"text": "a"})", "application/json");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, 409);
  EXPECT_NE(json::parse(run->body).value("error", "").find("--model"), std::string::npos);
  auto list = c.Get("/api/results");
  ASSERT_TRUE(list);
  EXPECT_TRUE(json::parse(list->body)["results"].empty());
  srv.stop();
  t.join();
}

}  // namespace

// The body of POST /api/run parsed apart from the server (server::parse_run_request, which the
// handler calls and fuzz/fuzz_run_request.cpp fuzzes): what each refusal answers.
TEST(ServerRunRequest, ParsesTheBodyOrSaysWhyNot) {
  using server::parse_run_request;
  using server::RequestRefusal;
  using server::RunRequest;
  const auto refusal = [](std::string_view body, bool have_b = false, std::size_t limit = 1 << 20) {
    const auto r = parse_run_request(body, limit, have_b);
    return std::holds_alternative<RequestRefusal>(r) ? std::get<RequestRefusal>(r) : RequestRefusal{0, ""};
  };
  const auto ok = parse_run_request(R"({"text": "a b", "text_pair": "c", "precision": "float32", "truncate": true,
                                        "vectors": null, "model": "b"})",
                                    1 << 20, true);
  ASSERT_TRUE(std::holds_alternative<RunRequest>(ok));
  const auto& r = std::get<RunRequest>(ok);
  EXPECT_EQ(r.text, "a b");
  EXPECT_EQ(r.text_pair, std::optional<std::string>("c"));
  EXPECT_EQ(r.precision, report::Precision::float32);
  EXPECT_TRUE(r.truncate);
  EXPECT_FALSE(r.vectors);
  EXPECT_EQ(r.model, "b");
  EXPECT_EQ(refusal(R"({"text": "abc"})", false, 4).status, 413);
  EXPECT_EQ(refusal("[1, 2]").status, 400);
  EXPECT_EQ(refusal("{\"text\": 1e999}").status, 400);
  EXPECT_EQ(refusal(R"({"text": 3})").message, R"("text" must be a string)");
  EXPECT_EQ(refusal(R"({"text": "a", "text_pair": 1})").message, R"("text_pair" must be a string or null)");
  EXPECT_EQ(refusal(R"({"text": "a", "precision": "float8"})").status, 422);
  EXPECT_EQ(refusal(R"({"text": "a", "vectors": 1})").message, R"("vectors" must be true or false)");
  EXPECT_EQ(refusal(R"({"text": "a", "model": "b"})").message, R"("model": "b" needs a second model (serve --model-b DIR))");
  EXPECT_EQ(refusal(R"({"text": "a", "model": 2})", true).message, R"("model" must be "a" or "b")");
  EXPECT_EQ(refusal(R"({"text": " \t"})").message, R"("text" is empty)");
  EXPECT_EQ(refusal("{\"text\": \"\xff\"}").message, R"(the body must be a JSON object: {"text": "...", "text_pair": "..."})");
}
