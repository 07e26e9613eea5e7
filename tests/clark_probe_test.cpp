// Attention-based probing classifiers (methods.md 1.7): gradients against finite differences,
// a synthetic treebank where one head is the parse (the attn probe must reach >= 99% UAS), the
// word-vector reader, and the command end to end on traces and on a random model.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "analysis/probe.hpp"
#include "clark_test_util.hpp"
#include "io/conllu.hpp"
#include "io/error.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
namespace tc = bertscope::test::clark;
namespace fs = std::filesystem;

namespace {

// A random dependency tree over m words (a random recursive tree, so every word reaches the root).
std::vector<int> random_tree(int m, std::mt19937& rng) {
  std::vector<int> order(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> heads(static_cast<std::size_t>(m), 0);
  for (int k = 1; k < m; ++k) {
    std::uniform_int_distribution<int> pick(0, k - 1);
    heads[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = order[static_cast<std::size_t>(pick(rng))] + 1;
  }
  return heads;
}

// A CoNLL-U treebank of random trees; every fifth word is punctuation (relation punct).
std::string random_treebank(int sentences, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(3, 12);
  static const char* words[] = {"the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "home", "big", "red"};
  std::string out;
  for (int s = 0; s < sentences; ++s) {
    const int m = len(rng);
    const auto heads = random_tree(m, rng);
    for (int i = 0; i < m; ++i) {
      const bool punct = i % 5 == 4;
      const auto rel = heads[static_cast<std::size_t>(i)] == 0 ? "root" : punct ? "punct" : "dep";
      out += fmt::format("{}\t{}\t_\tX\t_\t_\t{}\t{}\t_\t_\n", i + 1, punct ? "." : words[(s + i * 7) % 12],
                         heads[static_cast<std::size_t>(i)], rel);
    }
    out += "\n";
  }
  return out;
}

// Word-level-shaped token attention [1, 2, m+2, m+2] for one sentence (one token per word):
// head 0 is the parse (root -> [CLS]), head 1 random.
core::Tensor parse_attention(const io::ConlluSentence& s, std::mt19937& rng) {
  const auto m = static_cast<std::int64_t>(s.words.size()), t = m + 2;
  core::Tensor att({1, 2, t, t});
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (std::int64_t q = 0; q < t; ++q) {
    const std::int64_t target = q == 0 || q == t - 1 ? q : s.words[static_cast<std::size_t>(q - 1)].head;
    tc::point(att, 0, 0, q, {target});
    float* row = att.ptr() + (t + q) * t;
    float sum = 0;
    for (std::int64_t j = 0; j < t; ++j) sum += row[j] = u(rng);
    for (std::int64_t j = 0; j < t; ++j) row[j] /= sum;
  }
  return att;
}

probe::Example random_example(std::uint32_t seed, const probe::WordVectors& vectors) {
  std::mt19937 rng(seed);
  const auto sentences = io::parse_conllu(random_treebank(1, seed), "x.conllu");
  auto s = sentences[0];
  s.words.resize(std::min<std::size_t>(s.words.size(), 5));
  for (auto& w : s.words) w.head = std::min(w.head, static_cast<int>(s.words.size()));
  const auto att = parse_attention(s, rng);
  return probe::make_example(att, s, &vectors);
}

}  // namespace

TEST(ClarkProbe, GradientsMatchFiniteDifferences) {
  probe::WordVectors vectors;
  vectors.dim = 3;
  for (const char* w : {"the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "home", "."})
    vectors.vectors[w] = {static_cast<float>(std::strlen(w)) / 5.0f, w[0] / 100.0f - 1.0f, 0.3f};
  const auto e = random_example(4, vectors);  // "big" and "red" have no vector: zeros
  ASSERT_EQ(e.maps, 4);
  for (auto kind : {probe::Kind::attn, probe::Kind::attn_words, probe::Kind::distances}) {
    probe::Options o;
    o.hidden = 6;
    o.seed = 2;
    probe::Probe p(kind, 1, 2, vectors.dim, o);
    std::vector<double> grad;
    p.loss_and_gradient(e, grad);
    ASSERT_EQ(grad.size(), p.parameters().size());
    double worst = 0;
    for (std::size_t i = 0; i < grad.size(); ++i) {
      const double keep = p.parameters()[i], h = 1e-6;
      std::vector<double> unused;
      p.parameters()[i] = keep + h;
      const double up = p.loss_and_gradient(e, unused);
      unused.clear();
      p.parameters()[i] = keep - h;
      const double down = p.loss_and_gradient(e, unused);
      p.parameters()[i] = keep;
      worst = std::max(worst, std::abs((up - down) / (2 * h) - grad[i]) / std::max(1.0, std::abs(grad[i])));
    }
    EXPECT_LT(worst, 1e-6) << probe::kind_name(kind);
  }
}

TEST(ClarkProbe, LearnsAHeadThatIsTheParse) {
  const auto train = io::parse_conllu(random_treebank(3000, 1), "train.conllu");
  const auto dev = io::parse_conllu(random_treebank(300, 2), "dev.conllu");
  std::mt19937 rng(3);
  probe::Probe p(probe::Kind::attn, 1, 2, 0, {});
  for (const auto& s : train) p.train_step(probe::make_example(parse_attention(s, rng), s, nullptr));
  std::size_t right = 0, total = 0;
  std::vector<double> scores;
  for (const auto& s : dev) {
    const auto e = probe::make_example(parse_attention(s, rng), s, nullptr);
    p.scores(e, scores);
    const auto m = static_cast<std::size_t>(e.words);
    for (std::size_t i = 0; i < m; ++i) {
      if (e.punct[i]) continue;
      const double* row = scores.data() + i * (m + 1);
      right += static_cast<int>(std::max_element(row, row + m + 1) - row) == e.heads[i];
      ++total;
    }
  }
  EXPECT_GE(static_cast<double>(right) / static_cast<double>(total), 0.99) << right << " / " << total;
  // The parse head in the dep -> head direction carries the largest weight.
  const auto w = p.head_weights();
  EXPECT_GT(w["heads"][0]["dep_to_head"].get<double>(), std::abs(w["heads"][1]["dep_to_head"].get<double>()));
}

TEST(ClarkProbe, WordVectorFile) {
  test::TempDir dir("clark-vectors");
  io::write_file_atomic(dir / "v.txt", "4 3\nthe 0.1 0.2 0.3\nNew York 1 2 3\ncat -1e-2 0 5\ndog 1 2 3\n");
  const auto v = probe::read_word_vectors(dir / "v.txt", {"the", "cat", "new york", "New York"});
  EXPECT_EQ(v.dim, 3u);
  EXPECT_EQ(v.lines, 4u);
  EXPECT_EQ(v.vectors.size(), 3u);  // dog was not asked for
  ASSERT_NE(v.find("New York"), nullptr);
  EXPECT_FLOAT_EQ(v.find("cat")[0], -0.01f);
  EXPECT_EQ(v.find("dog"), nullptr);
  EXPECT_EQ(probe::lowercase("ÉCOLE Straße"), "école straße");
  io::write_file_atomic(dir / "bad.txt", "the 0.1 0.2 0.3\ncat 0.1 x 0.3\n");
  try {
    probe::read_word_vectors(dir / "bad.txt", {"cat"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt:2"), std::string::npos) << e.what();
  }
  io::write_file_atomic(dir / "short.txt", "the 0.1 0.2 0.3\ncat 0.1\n");
  EXPECT_THROW(probe::read_word_vectors(dir / "short.txt", {"cat"}), Error);
}

TEST(ClarkProbe, CommandOnTracesLearnsTheParse) {
  test::TempDir dir("clark-probe");
  io::write_file_atomic(dir / "train.conllu", random_treebank(150, 5));
  io::write_file_atomic(dir / "dev.conllu", random_treebank(50, 6));
  std::mt19937 rng(7);
  for (const char* name : {"train", "dev"}) {
    const auto sentences = io::read_conllu(dir / (std::string(name) + ".conllu"));
    fs::create_directories(dir / name);
    for (std::size_t i = 0; i < sentences.size(); ++i)
      tc::write_trace(trace_path(dir / name, i), tc::word_encoding(sentences[i].words.size()), parse_attention(sentences[i], rng));
  }
  // A larger learning rate than Clark's 0.002 lets 150 sentences suffice (each trace file costs an fsync) (the library test above
  // learns with the default on 3000).
  const auto j = tc::run_json(fmt::format("analyze probe --traces {} --data {} --dev-traces {} --dev {} --weights {} "
                                          "--learning-rate 0.05",
                                          (dir / "train").string(), (dir / "train.conllu").string(), (dir / "dev").string(),
                                          (dir / "dev.conllu").string(), (dir / "w.npz").string()),
                              dir / "p.json");
  ASSERT_FALSE(j.is_null());
  EXPECT_GE(j["results"]["probes"]["attn"]["uas"].get<double>(), 0.99);
  EXPECT_EQ(j["results"]["train"]["sentences"], 150);
  EXPECT_EQ(j["results"]["dev"]["sentences"], 50);
  EXPECT_LT(j["results"]["baselines"]["right_branching"]["uas"].get<double>(), 0.5);
  EXPECT_EQ(j["results"]["probes"]["attn"]["weights"]["heads"][0]["label"], "1-1");
  io::NpzReader npz(dir / "w.npz");
  EXPECT_EQ(npz.read("attn.head_weights").shape, (std::vector<std::int64_t>{2, 1, 2}));
  tc::expect_error(fmt::format("analyze probe --traces {} --data {} --dev {}", (dir / "train").string(),
                               (dir / "train.conllu").string(), (dir / "dev.conllu").string()),
                   {"--dev-traces"});
}

TEST(ClarkProbe, AllProbesOnRandomModel) {
  test::TempDir dir("clark-probe-model");
  const auto model = tc::make_model(dir);
  const auto data = tc::clark_data("en_ewt-ud-dev.first60.conllu");
  // A tiny GloVe-format file for a few frequent words (the rest are out of vocabulary: zeros).
  std::string vectors;
  int k = 0;
  for (const char* w : {"the", ",", ".", "to", "and", "of", "a", "in", "is", "i", "you", "that", "it", "for", "-"}) {
    vectors += fmt::format("{} {:.3f} {:.3f} {:.3f} {:.3f}\n", w, std::sin(k * 1.0), std::cos(k * 2.0), k / 15.0, (k % 3) - 1.0);
    ++k;
  }
  io::write_file_atomic(dir / "vectors.txt", vectors);
  std::string printed;
  const auto j = tc::run_json(fmt::format("analyze probe --model {} --data {} --dev {} --word-vectors {} --hidden 16 "
                                          "--weights {}",
                                          model.string(), data.string(), data.string(), (dir / "vectors.txt").string(),
                                          (dir / "w.npz").string()),
                              dir / "p.json", &printed);
  ASSERT_FALSE(j.is_null());
  for (const char* kind : {"attn", "attn_words", "distances"}) {
    const auto uas = j["results"]["probes"][kind]["uas"].get<double>();
    EXPECT_GE(uas, 0.0) << kind;
    EXPECT_LE(uas, 1.0) << kind;
  }
  EXPECT_EQ(j["results"]["probes"]["distances"]["weights"], nullptr);
  EXPECT_EQ(j["results"]["word_vectors"]["found"], 15);
  EXPECT_EQ(j["params"]["word_vector_alignment"], "aligned (the paper)");
  io::NpzReader npz(dir / "w.npz");
  EXPECT_EQ(npz.read("attn_words.kernel").shape, (std::vector<std::int64_t>{2, 2, 4, 8}));
  EXPECT_EQ(npz.read("distances.hidden_kernel").shape, (std::vector<std::int64_t>{16, 16}));
  EXPECT_NE(printed.find("right-branching"), std::string::npos);
}
