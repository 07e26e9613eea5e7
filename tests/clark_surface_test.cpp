// Surface statistics (methods.md 1.3) on synthetic attention with known answers, Clark's segment
// building against Python's own `random` (goldens from tests/data/clark/make_goldens.py), and
// the command end to end on a random model.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/segments.hpp"
#include "analysis/surface.hpp"
#include "clark_test_util.hpp"
#include "io/error.hpp"
#include "model/tokenizer.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;
namespace fs = std::filesystem;

namespace {

// [CLS] the cat , sat . [SEP] on it [SEP]: a pair with punctuation (T = 10).
model::Encoding pair_encoding() {
  model::Encoding e;
  const std::vector<std::string> toks{"[CLS]", "the", "cat", ",", "sat", ".", "[SEP]", "on", "it", "[SEP]"};
  const std::vector<std::int32_t> words{-1, 0, 1, 2, 3, 4, -1, 0, 1, -1};
  const std::vector<std::int32_t> seq{-1, 0, 0, 0, 0, 0, -1, 1, 1, -1};
  for (std::size_t i = 0; i < toks.size(); ++i) {
    e.ids.push_back(static_cast<std::int32_t>(i + 1));
    e.tokens.push_back(toks[i]);
    e.word_ids.push_back(words[i]);
    e.sequence_ids.push_back(seq[i]);
    e.type_ids.push_back(seq[i] == 1 || i == 9 ? 1 : 0);
  }
  return e;
}

// Heads of layer 0: 0 previous token, 1 next token, 2 uniform, 3 [CLS], 4 [SEP] (both), 5 ". ,".
core::Tensor synthetic(std::int64_t t) {
  core::Tensor att({2, 6, t, t});
  for (std::int64_t l = 0; l < 2; ++l)
    for (std::int64_t i = 0; i < t; ++i) {
      tc::point(att, l, 0, i, {std::max<std::int64_t>(i - 1, 0)});
      tc::point(att, l, 1, i, {std::min(i + 1, t - 1)});
      tc::point(att, l, 3, i, {0});
      tc::point(att, l, 4, i, {6, 9});
      tc::point(att, l, 5, i, {3, 5});
    }
  tc::uniform(att, 0, 2);
  tc::uniform(att, 1, 2);
  return att;
}

}  // namespace

TEST(ClarkSurface, KnownHeads) {
  const auto enc = pair_encoding();
  const std::int64_t n = 10;
  surface::Accumulator acc(2, 6, {});
  acc.add(enc, synthetic(n));
  const auto r = acc.result();
  const double dn = static_cast<double>(n);
  const auto& prev = r.stats[0];
  // Row 0 has no previous token (it attends to itself), so a perfect previous-token head scores
  // (n - 1) / n with Clark's 1/n normalisation: 0.9 here, 0.99 on a 100-token input.
  EXPECT_NEAR(prev.prev(), (dn - 1) / dn, 1e-6);
  EXPECT_NEAR(prev.self(), 1 / dn, 1e-6);
  EXPECT_NEAR(prev.next(), 0.0, 1e-6);
  EXPECT_EQ(r.labels[0], "prev");
  EXPECT_NEAR(r.stats[1].next(), (dn - 1) / dn, 1e-6);
  EXPECT_EQ(r.labels[1], "next");
  // Uniform attention: the smoothing leaves it uniform, so the entropy is ln n (up to float32's
  // rounding of 1/10 in the map itself).
  EXPECT_NEAR(r.stats[2].entropy(), std::log(dn), 1e-6);
  EXPECT_NEAR(r.stats[2].cls_entropy(), std::log(dn), 1e-6);
  EXPECT_NEAR(r.uniform_entropy, std::log(dn), 1e-12);
  EXPECT_NEAR(r.stats[2].sep(), 2 / dn, 1e-6);
  EXPECT_NEAR(r.stats[2].punct(), 2 / dn, 1e-6);
  EXPECT_NEAR(r.stats[2].sep_to_sep(), 2 / dn, 1e-6);  // 1/|SEP| sum over [SEP] rows of their mass on [SEP]s
  EXPECT_EQ(r.labels[2], "none");                      // ln 10 < 3.8: too short to count as broad
  EXPECT_NEAR(r.stats[3].cls(), 1.0, 1e-6);
  EXPECT_EQ(r.labels[3], "cls");
  EXPECT_NEAR(r.stats[4].sep(), 1.0, 1e-6);
  EXPECT_NEAR(r.stats[4].sep_to_sep(), 1.0, 1e-6);
  EXPECT_NEAR(r.stats[4].other_to_sep(), 1.0, 1e-6);
  EXPECT_EQ(r.labels[4], "sep");
  EXPECT_NEAR(r.stats[5].punct(), 1.0, 1e-6);
  EXPECT_EQ(r.labels[5], "punct");
  // A one-hot row has entropy -(1 - s + s/n) ln(1 - s + s/n) - (n - 1)(s/n) ln(s/n).
  const double s = 1e-4, hi = 1 - s + s / dn, lo = s / dn;
  EXPECT_NEAR(r.stats[3].entropy(), -hi * std::log(hi) - (dn - 1) * lo * std::log(lo), 1e-9);
  // Layer means average the heads.
  double mean_cls = 0;
  for (int h = 0; h < 6; ++h) mean_cls += r.stats[static_cast<std::size_t>(h)].cls() / 6;
  EXPECT_NEAR(r.layer_means[0].cls(), mean_cls, 1e-12);
}

TEST(ClarkSurface, KnownHeadsWithRobertaRoles) {
  // The same input as RoBERTa spells it: the special tokens are found by their roles.
  auto enc = pair_encoding();
  enc.tokens = {"<s>", "Ġthe", "Ġcat", ",", "Ġsat", ".", "</s>", "Ġon", "Ġit", "</s>"};
  enc.roles.assign(enc.size(), model::TokenRole::ordinary);
  enc.roles[0] = model::TokenRole::cls_or_bos;
  enc.roles[6] = enc.roles[9] = model::TokenRole::sep_or_eos;
  enc.word_ids.assign(enc.size(), 0);  // so that only the roles can tell the specials
  surface::Accumulator acc(2, 6, {});
  acc.add(enc, synthetic(10));
  const auto r = acc.result();
  EXPECT_NEAR(r.stats[3].cls(), 1.0, 1e-6);
  EXPECT_EQ(r.labels[3], "cls");
  EXPECT_NEAR(r.stats[4].sep(), 1.0, 1e-6);
  EXPECT_NEAR(r.stats[4].sep_to_sep(), 1.0, 1e-6);
  EXPECT_EQ(r.labels[4], "sep");
  EXPECT_NEAR(r.stats[5].punct(), 1.0, 1e-6);
}

TEST(ClarkSurface, AveragesInputsWithEqualWeight) {
  surface::Accumulator acc(2, 6, {});
  const auto enc = pair_encoding();
  acc.add(enc, synthetic(10));
  // A second input of 4 tokens where head 3 puts everything on [SEP] instead of [CLS].
  const auto short_enc = tc::word_encoding(2);
  core::Tensor att({2, 6, 4, 4});
  for (std::int64_t l = 0; l < 2; ++l)
    for (std::int64_t h = 0; h < 6; ++h)
      for (std::int64_t i = 0; i < 4; ++i) tc::point(att, l, h, i, {3});
  acc.add(short_enc, att);
  const auto r = acc.result();
  EXPECT_EQ(r.inputs, 2u);
  EXPECT_NEAR(r.stats[3].cls(), 0.5, 1e-6);
  EXPECT_NEAR(r.uniform_entropy, (std::log(10.0) + std::log(4.0)) / 2, 1e-12);
  // The behaviour labels follow the averages: 0.5 is not above 0.6.
  EXPECT_EQ(r.labels[3], "none");
  surface::HeadStats s;
  s.values[1] = 0.9;  // prev
  s.values[4] = 0.7;  // sep
  EXPECT_EQ(surface::head_label_of(s, {}), "sep");
}

TEST(ClarkSurface, TracesFolderAndTextCheck) {
  test::TempDir dir("clark-surface");
  const auto enc = pair_encoding();
  fs::create_directories(dir / "traces");
  tc::write_trace(dir / "traces" / "000000.npz", enc, synthetic(10), {"the cat, sat.", "on it"});
  tc::write_trace(dir / "traces" / "000001.npz", enc, synthetic(10), {"a different text", "on it"});
  auto source = AttentionSource::from_traces(dir / "traces");
  std::vector<AnalysisInput> inputs(2);
  inputs[0].text = "the cat, sat.";
  inputs[0].pair = "on it";
  inputs[1] = inputs[0];
  try {
    surface::run(source, inputs, {}, {}, [](std::size_t i) { return fmt::format("data.txt:{}", i + 1); });
    FAIL() << "no error for a trace of another text";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("000001.npz"), std::string::npos) << what;
    EXPECT_NE(what.find("data.txt:2"), std::string::npos) << what;
  }
  inputs.pop_back();
  const auto r = surface::run(source, inputs, {}, {});
  EXPECT_EQ(r.labels[0], "prev");
  EXPECT_EQ(r.inputs, 1u);
}

TEST(ClarkSegments, PythonRandomStreams) {
  const auto golden = nlohmann::json::parse(io::read_file(tc::clark_data("py_random.golden.json")));
  for (const auto& g : golden) {
    const auto flavour = parse_python_version(g["flavour"].get<std::string>());
    PyRandom rng(g["seed"].get<std::uint64_t>(), flavour);
    const auto label = fmt::format("seed {} {}", g["seed"].dump(), g["flavour"].get<std::string>());
    for (const auto& x : g["random"]) EXPECT_EQ(rng.random(), x.get<double>()) << label;
    const auto& ns = g["randbelow_n"];
    for (std::size_t i = 0; i < ns.size(); ++i)
      EXPECT_EQ(rng.randbelow(ns[i].get<std::int64_t>()), g["randbelow"][i].get<std::int64_t>()) << label << " n=" << ns[i];
    std::vector<int> deck(20);
    for (int i = 0; i < 20; ++i) deck[static_cast<std::size_t>(i)] = i;
    rng.shuffle(deck);
    EXPECT_EQ(nlohmann::json(deck), g["shuffle20"]) << label;
  }
}

TEST(ClarkSegments, MatchClarksScript) {
  const auto tok = model::Tokenizer::from_folder(test::data_dir() / "bert-base-uncased");
  const auto golden = nlohmann::json::parse(io::read_file(tc::clark_data("segments.golden.json")));
  ASSERT_EQ(golden.size(), 4u);
  for (const auto& g : golden) {
    SegmentOptions o;
    o.max_sequence_length = g["max_sequence_length"].get<std::size_t>();
    o.max_segments = g["max_segments"].get<std::size_t>();
    o.seed = g["seed"].get<std::uint64_t>();
    o.python = parse_python_version(g["flavour"].get<std::string>());
    const auto segs = build_segments(tc::clark_data("running_text.txt"), tok, o);
    ASSERT_EQ(segs.size(), g["segments"].size()) << g["flavour"] << " " << o.max_sequence_length;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      auto tokens = [](const std::vector<SegmentPiece>& side) {
        std::vector<std::string> out;
        for (const auto& p : side) out.push_back(p.token);
        return nlohmann::json(out);
      };
      EXPECT_EQ(tokens(segs[i].a), g["segments"][i]["a"]) << i;
      EXPECT_EQ(tokens(segs[i].b), g["segments"][i]["b"]) << i;
      EXPECT_LE(segs[i].a.size() + segs[i].b.size() + 3, o.max_sequence_length);
    }
  }
  // The encoding of a segment: [CLS] A [SEP] B [SEP] with type ids 0 then 1.
  SegmentOptions o;
  o.max_sequence_length = 32;
  const auto segs = build_segments(tc::clark_data("running_text.txt"), tok, o);
  const auto e = segment_encoding(segs[0], tok);
  EXPECT_EQ(e.size(), segs[0].a.size() + segs[0].b.size() + 3);
  EXPECT_EQ(e.tokens.front(), "[CLS]");
  EXPECT_EQ(e.tokens[segs[0].a.size() + 1], "[SEP]");
  EXPECT_EQ(e.type_ids.back(), 1);
  EXPECT_EQ(e.type_ids[segs[0].a.size() + 1], 0);
  EXPECT_EQ(pieces_text({{"play", 0, true, "play"}, {"##ing", 0, false, "ing"}, {"the", 0, true, "the"}, {"Ġgame", 0, true, "game"}}),
            "playing the game");
  // Word starts come from the tokenizer's word ids, so words are whole whatever the convention.
  for (std::size_t i = 0; i < segs[0].a.size(); ++i) {
    EXPECT_EQ(segs[0].a[i].starts_word, !segs[0].a[i].token.starts_with("##")) << segs[0].a[i].token;
  }
}

TEST(ClarkSegments, ByteLevelBpeSegmentsUseItsSpecialTokensAndWords) {
  const auto tok = model::Tokenizer::from_folder(fs::path(BERTSCOPE_TEST_DATA) / "tokenizers" / "roberta-bpe");
  SegmentOptions o;
  o.max_sequence_length = 40;
  const auto segs = build_segments(tc::clark_data("running_text.txt"), tok, o);
  ASSERT_FALSE(segs.empty());
  const auto& s = segs[0];
  EXPECT_LE(s.a.size() + s.b.size() + 4, o.max_sequence_length) << "RoBERTa pairs add four special tokens";
  const auto e = segment_encoding(s, tok);
  ASSERT_EQ(e.size(), s.a.size() + s.b.size() + 4);
  EXPECT_EQ(e.tokens.front(), "<s>");
  EXPECT_EQ(e.tokens[s.a.size() + 1], "</s>");
  EXPECT_EQ(e.tokens[s.a.size() + 2], "</s>");
  EXPECT_EQ(e.roles[s.a.size() + 2], model::TokenRole::sep_or_eos);
  // A word starts at every 'Ġ' token and at the first token of each sentence.
  for (const auto& p : s.b) {
    if (p.token.starts_with("Ġ")) {
      EXPECT_TRUE(p.starts_word) << p.token;
    }
  }
  const std::string text = pieces_text(s.b);
  EXPECT_EQ(text.find("Ġ"), std::string::npos) << text;
}

TEST(ClarkSurface, CommandOnRandomModel) {
  test::TempDir dir("clark-surface-cli");
  const auto model = tc::make_model(dir);
  const auto data = dir / "pairs.txt";
  io::write_file_atomic(data, "the cat sat on the mat.\tit was happy.\nwe went home , and slept .\nshort\n");
  const auto j = tc::run_json(fmt::format("analyze surface --model {} --data {}", model.string(), data.string()), dir / "s.json");
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["method"], "surface");
  const auto& heads = j["results"]["heads"];
  ASSERT_EQ(heads.size(), 8u);
  for (const auto& h : heads) {
    for (const auto& name : surface::stat_names()) ASSERT_TRUE(h.contains(name)) << name;
    EXPECT_TRUE(h.contains("behaviour"));
    EXPECT_GE(h["sep"].get<double>(), 0.0);
    EXPECT_LE(h["self"].get<double>() + h["prev"].get<double>() + h["next"].get<double>(), 1.0 + 1e-6);
    EXPECT_LE(h["entropy"].get<double>(), j["results"]["uniform_entropy"].get<double>() * 1.5);
  }
  EXPECT_EQ(heads[5]["label"], "2-2");
  EXPECT_EQ(j["results"]["inputs"], 3);
  EXPECT_EQ(j["results"]["layers"].size(), 2u);

  // Segments from running text, with Clark's all-zero token type ids; and the skip count for
  // inputs longer than the model allows.
  const auto seg = tc::run_json(fmt::format("analyze surface --model {} --data {} --segments --segment-length 32 "
                                            "--zero-type-ids --write-segments {}",
                                            model.string(), tc::clark_data("running_text.txt").string(),
                                            (dir / "segs.tsv").string()),
                                dir / "seg.json");
  ASSERT_FALSE(seg.is_null());
  EXPECT_EQ(seg["results"]["inputs"], 8);
  EXPECT_EQ(seg["params"]["zero_type_ids"], true);
  EXPECT_EQ(io::read_text_lines(dir / "segs.tsv").size(), 8u);
  const auto small = tc::make_model(dir, "--max-positions 10", "small");
  const auto skipped = tc::run_json(fmt::format("analyze surface --model {} --data {}", small.string(), data.string()), dir / "k.json");
  ASSERT_FALSE(skipped.is_null());
  EXPECT_EQ(skipped["results"]["skipped"]["too_long"], 1);
  EXPECT_EQ(skipped["results"]["inputs"], 2);
  tc::expect_error(fmt::format("analyze surface --traces {} --data {} --segments", (dir / "nowhere").string(), data.string()),
                   {"nowhere"});
}
