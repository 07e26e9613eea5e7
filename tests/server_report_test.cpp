// The report layer behind `serve`, `report` and `figure`: number packing (float16, base64),
// attention documents, the HTML page, the self-contained report, and headless figures (these
// need Chromium and are skipped without it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/base64.hpp"
#include "io/float16.hpp"
#include "io/files.hpp"
#include "model/generator.hpp"
#include "model/model.hpp"
#include "model/trace_file.hpp"
#include "report/assets.hpp"
#include "report/attention_json.hpp"
#include "report/chromium.hpp"
#include "report/codec.hpp"
#include "report/documents.hpp"
#include "report/figure.hpp"
#include "report/html_report.hpp"
#include "report/page.hpp"
#include "test_util.hpp"

using namespace bertscope;
using nlohmann::json;

namespace {

// The nearest half to x by search over all finite halves (ties to the even one): an
// independent reference for float_to_half.
std::uint16_t nearest_half(float x) {
  if (std::isnan(x)) return 0x7e00;
  const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::abs(static_cast<double>(x));
  // The largest finite half is 65504; from 65520 on (half-way to 2^16) it rounds to infinity.
  if (a >= 65520.0) return sign | 0x7c00;
  std::uint16_t best = 0;
  double best_err = std::numeric_limits<double>::infinity();
  // Magnitudes grow with the bit pattern: binary search for the first half >= a.
  std::uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {
    const std::uint16_t mid = static_cast<std::uint16_t>((lo + hi) / 2);
    if (static_cast<double>(io::half_to_float(mid)) < a) lo = static_cast<std::uint16_t>(mid + 1);
    else hi = mid;
  }
  for (int c = std::max(0, lo - 1); c <= std::min(0x7bff, lo + 1); ++c) {
    const double err = std::abs(static_cast<double>(io::half_to_float(static_cast<std::uint16_t>(c))) - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = static_cast<std::uint16_t>(c);
      best_err = err;
    }
  }
  return sign | best;
}

}  // namespace

TEST(ReportCodec, HalfRoundTripsEveryHalf) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto x = io::half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(io::half_to_float(io::float_to_half(x))));
      continue;
    }
    ASSERT_EQ(io::float_to_half(x), h) << "half 0x" << std::hex << h;
  }
  EXPECT_EQ(io::half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(io::half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(io::half_to_float(0x7bff), 65504.0f);
}

TEST(ReportCodec, HalfRoundsToNearestEven) {
  // Exact ties: 1 + 2^-11 lies between 1 and 1 + 2^-10 and goes to the even 1.
  EXPECT_EQ(io::float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(io::float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(io::float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // half the smallest subnormal
  EXPECT_EQ(io::float_to_half(std::ldexp(3.0f, -26)), 0x0001);
  EXPECT_EQ(io::float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(io::float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(io::float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> exp(-30, 17);
  for (int i = 0; i < 200000; ++i) {
    const float x = (i % 2 ? -1.0f : 1.0f) * std::ldexp(mant(rng), exp(rng));
    ASSERT_EQ(io::float_to_half(x), nearest_half(x)) << x;
  }
}

TEST(ReportCodec, Base64MatchesRfc4648) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                       {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : cases) {
    EXPECT_EQ(io::base64_encode(plain), coded);
    EXPECT_EQ(io::base64_decode(coded, "test"), plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(io::base64_decode(io::base64_encode(all), "test"), all);
  EXPECT_THROW(io::base64_decode("Zm9", "test"), Error);
  EXPECT_THROW(io::base64_decode("Zm9!", "test"), Error);
  EXPECT_THROW(io::base64_decode("Z===", "test"), Error);
  EXPECT_THROW(io::base64_decode("Zg==Zg==", "test"), Error);
}

TEST(ReportPage, ScriptJsonCannotCloseItsElement) {
  const json config = {{"text", "</script><script>alert(1)</script><!--"}};
  const auto s = report::script_json(config);
  EXPECT_EQ(s.find('<'), std::string::npos);
  EXPECT_EQ(json::parse(s), config);
}

TEST(ReportPage, InlinedPageLoadsNothingAndHoldsTheBundle) {
  const auto page = report::viewer_page({{"mode", "report"}, {"title", "<t>"}}, "a <b> title", report::AssetMode::inlined);
  EXPECT_NE(page.find("<title>a &lt;b&gt; title</title>"), std::string::npos);
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link rel=\"stylesheet\""), std::string::npos);
  // Exactly the config and the code: the bundle cannot end its own element early.
  std::size_t scripts = 0;
  for (auto at = page.find("</script"); at != std::string::npos; at = page.find("</script", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 2u);
  EXPECT_NE(page.find(std::string(report::asset("app.css").data.substr(0, 40))), std::string::npos);

  const auto served = report::viewer_page({{"mode", "serve"}}, "x", report::AssetMode::linked);
  EXPECT_NE(served.find("<script src=\"/assets/app.js\"></script>"), std::string::npos);
}

class ReportFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("report-files");
    model::GeneratorOptions g;
    g.layers = 2;
    g.hidden = 32;
    g.heads = 2;
    g.intermediate = 48;
    g.max_positions = 64;
    g.vocab = test::data_dir() / "bert-base-uncased" / "vocab.txt";
    g.seed = 5;
    g.init_std = 0.2;
    model::make_model(g, dir_->path() / "model");
    const auto m = model::Model::load(dir_->path() / "model");
    enc_ = new model::Encoding(m.encode("The cat sat on the mat.", std::string_view("It purred.")));
    const auto in = model::ModelInput::from_encoding(*enc_);
    model::RunOptions ro;
    ro.record = model::SiteSet(m.layers());
    ro.record.add(model::Site::attn_probs);
    auto out = m.forward(std::span(&in, 1), ro);
    result_ = new model::ForwardResult(std::move(out[0]));
    std::filesystem::create_directories(dir_->path() / "results");
    model::write_trace_file(dir_->path() / "results" / "trace.npz",
                            {enc_, &in, result_, {"The cat sat on the mat.", "It purred."}, model::HeadKind::none},
                            m.layers());
    json heads = json::array();
    for (int l = 0; l < 2; ++l)
      for (int h = 0; h < 2; ++h)
        heads.push_back({{"layer", l}, {"head", h}, {"label", fmt::format("{}-{}", l + 1, h + 1)}, {"score", l * 2 + h}});
    std::ofstream(dir_->path() / "results" / "surface.json")
        << json{{"method", "surface"}, {"model", {{"layers", 2}, {"heads", 2}}}, {"results", {{"heads", heads}}}}.dump();
    std::ofstream(dir_->path() / "results" / "config.json") << R"({"unrelated": true})";
    std::ofstream(dir_->path() / "results" / "broken.json") << "{";
  }
  static void TearDownTestSuite() {
    delete result_;
    delete enc_;
    delete dir_;
  }
  static test::TempDir* dir_;
  static model::Encoding* enc_;
  static model::ForwardResult* result_;
};

test::TempDir* ReportFiles::dir_ = nullptr;
model::Encoding* ReportFiles::enc_ = nullptr;
model::ForwardResult* ReportFiles::result_ = nullptr;

TEST_F(ReportFiles, TraceFilesBecomeAttentionDocuments) {
  const auto doc = report::attention_document_from_trace(dir_->path() / "results" / "trace.npz", report::Precision::float32);
  const auto t = static_cast<std::int64_t>(enc_->size());
  EXPECT_EQ(doc["kind"], "attention");
  EXPECT_EQ(doc["tokens"].get<std::vector<std::string>>(), enc_->tokens);
  EXPECT_EQ(doc["sequence_ids"].get<std::vector<std::int32_t>>(), enc_->sequence_ids);
  EXPECT_EQ(doc["text"], "The cat sat on the mat.");
  EXPECT_EQ(doc["text_pair"], "It purred.");
  EXPECT_EQ(doc["attention"]["shape"], json({2, 2, t, t}));
  const auto bytes = io::base64_decode(doc["attention"]["data"].get<std::string>(), "test");
  ASSERT_EQ(bytes.size(), static_cast<std::size_t>(2 * 2 * t * t * 4));
  for (std::int64_t l = 0; l < 2; ++l) {
    const auto* maps = result_->trace.find(model::Site::attn_probs, l);
    ASSERT_EQ(std::memcmp(bytes.data() + l * 2 * t * t * 4, maps->data.data(), static_cast<std::size_t>(2 * t * t * 4)), 0);
  }
}

TEST_F(ReportFiles, ViewerFilesAreRegularJsonAndNpzFiles) {
  std::vector<std::string> names;
  for (const auto& p : report::viewer_files(dir_->path() / "results")) names.push_back(p.filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"broken.json", "config.json", "surface.json", "trace.npz"}));
  EXPECT_THROW(report::load_viewer_document(dir_->path() / "results" / "config.json"), Error);
  EXPECT_EQ(report::load_viewer_document(dir_->path() / "results" / "surface.json").json["method"], "surface");
  EXPECT_THROW(report::viewer_files(dir_->path() / "no-such-folder"), Error);
}

TEST_F(ReportFiles, ReportEmbedsEveryDocumentAndListsTheRest) {
  const auto out = dir_->path() / "report";
  const auto s = report::write_report(dir_->path() / "results", out);
  EXPECT_EQ(s.index, out / "index.html");
  EXPECT_EQ(s.documents, (std::vector<std::string>{"surface.json", "trace.npz"}));
  ASSERT_EQ(s.skipped.size(), 2u);
  EXPECT_EQ(s.skipped[0].path.filename(), "broken.json");
  EXPECT_EQ(s.skipped[1].path.filename(), "config.json");
  const auto page = io::read_file(out / "index.html");
  EXPECT_EQ(page.size(), s.bytes);
  // The embedded config parses back to the documents.
  const auto open = page.find("<script type=\"application/json\" id=\"bertscope-config\">");
  ASSERT_NE(open, std::string::npos);
  const auto start = page.find('>', open) + 1;
  const auto config = json::parse(page.substr(start, page.find("</script>", start) - start));
  EXPECT_EQ(config["mode"], "report");
  ASSERT_EQ(config["documents"].size(), 2u);
  EXPECT_EQ(config["documents"][0]["json"]["method"], "surface");
  EXPECT_EQ(config["documents"][1]["json"]["kind"], "attention");
  // Nothing on the page points outside it.
  EXPECT_FALSE(std::regex_search(page, std::regex(R"((src|href)\s*=\s*["']?(https?:|//))")));

  test::TempDir empty("report-empty");
  EXPECT_THROW(report::write_report(empty.path(), empty.path() / "out"), Error);
}

TEST_F(ReportFiles, ReportCommandWritesThePage) {
  const auto out = dir_->path() / "report-cli";
  const auto r = test::run_command(test::cli() + " report --results " + (dir_->path() / "results").string() + " --out " +
                                   out.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 documents"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("skipped"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(out / "index.html"));
  const auto bad = test::run_command(test::cli() + " report --results " + (dir_->path() / "nothing").string() +
                                     " --out " + out.string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("not a folder"), std::string::npos) << bad.output;
}

namespace {

bool have_chromium() {
  try {
    report::find_chromium();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Width and height from a PNG's IHDR chunk.
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  auto be32 = [&](std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  return {be32(16), be32(20)};
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_F(ReportFiles, FiguresRenderHeadlessAsSvgAndPng) {
  if (!have_chromium()) GTEST_SKIP() << "Chromium not installed (apt-get install chromium)";
  const auto results = dir_->path() / "results";
  report::FigureRequest req;
  req.view = "heatmap";
  req.format = report::FigureFormat::svg;
  const auto svg = report::render_figure(report::load_viewer_document(results / "surface.json"), req);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"cell\""), 4u);  // 2 layers x 2 heads
  EXPECT_NE(svg.find("data-layer=\"1\" data-head=\"1\" data-label=\"2-2\" data-value=\"3\""), std::string::npos);

  const auto t = enc_->size();
  req.view = "heatmap";
  req.settings = {{"layer", "1"}, {"head", "0"}};
  const auto attn_svg = report::render_figure(report::load_viewer_document(results / "trace.npz"), req);
  EXPECT_EQ(count(attn_svg, "class=\"cell\""), t * t);

  req.view = "grid";
  req.settings = {};
  req.format = report::FigureFormat::png;
  req.scale = 1.5;
  const auto png = report::render_figure(report::load_viewer_document(results / "trace.npz"), req);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const auto [w, h] = png_size(png);
  EXPECT_GT(w, 100u);
  EXPECT_GT(h, 100u);

  req.view = "heatmap";
  req.settings = {{"layer", "7"}};
  req.format = report::FigureFormat::svg;
  try {
    report::render_figure(report::load_viewer_document(results / "trace.npz"), req);
    FAIL() << "an out-of-range layer was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::input);
    EXPECT_NE(std::string(e.what()).find("layer is one of 0, 1"), std::string::npos) << e.what();
  }
}

TEST_F(ReportFiles, FigureCommandListsViewsAndWritesFiles) {
  if (!have_chromium()) GTEST_SKIP() << "Chromium not installed (apt-get install chromium)";
  const auto results = dir_->path() / "results";
  const auto list = test::run_command(test::cli() + " figure --results " + (results / "surface.json").string() + " --list");
  ASSERT_EQ(list.status, 0) << list.output;
  const auto views = json::parse(list.output);
  std::vector<std::string> ids;
  for (const auto& v : views) ids.push_back(v["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"heatmap:results.heads", "table:results.heads"}));

  const auto out = dir_->path() / "fig.png";
  const auto r = test::run_command(test::cli() + " figure --results " + (results / "trace.npz").string() +
                                   " --view lines --layer 1 --heads 0 --set hide-special=true --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto png = io::read_file(out);
  EXPECT_EQ(png.substr(1, 3), "PNG");

  const auto bad = test::run_command(test::cli() + " figure --results " + (results / "trace.npz").string() +
                                     " --view lines --set colour=red --out " + out.string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("has no setting \"colour\""), std::string::npos) << bad.output;
}
