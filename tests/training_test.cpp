// Training: the MLM loss falls, a classifier learns a separable task, and a run that is
// interrupted and resumed ends with exactly the weights of an uninterrupted run.
#include <gtest/gtest.h>

#include <fstream>

#include "model/generator.hpp"
#include "model/model.hpp"
#include "model/trainer.hpp"
#include "test_util.hpp"

using namespace bertscope;
using bertscope::test::TempDir;

namespace {

model::ModelConfig tiny_mlm_config(std::int64_t vocab) {
  model::GeneratorOptions o;
  o.layers = 2;
  o.hidden = 32;
  o.heads = 2;
  o.intermediate = 64;
  o.max_positions = 64;
  return model::generator_config(o, vocab);
}

model::Tokenizer tiny_tokenizer() {
  return model::Tokenizer::from_vocab(test::data_dir() / "tiny-vocab.txt", model::TokenizerSettings{});
}

// A small corpus with strong regularities the model can pick up.
std::filesystem::path write_corpus(const TempDir& dir) {
  const auto path = dir / "corpus.txt";
  std::ofstream out(path);
  const char* subjects[] = {"the man", "the world", "the people", "the state", "the city"};
  const char* verbs[] = {"was", "is", "had", "would be", "has been"};
  const char* tails[] = {"in the city.", "for the world.", "with the people.", "at the time.", "on the day."};
  for (int i = 0; i < 400; ++i) {
    out << subjects[i % 5] << " " << verbs[(i / 5) % 5] << " " << tails[(i * 7) % 5] << "\n";
    if (i % 20 == 19) out << "\n";
  }
  return path;
}

std::map<std::string, core::Tensor> read_params(const std::filesystem::path& dir) {
  const auto m = model::Model::load(dir);
  return m.weights().to_tensors(m.config());
}

}  // namespace

TEST(Training, MlmLossDecreases) {
  TempDir dir("train");
  const auto tok = tiny_tokenizer();
  const auto config = tiny_mlm_config(static_cast<std::int64_t>(tok.vocab_size()));
  const auto corpus = model::MlmCorpus::from_files({write_corpus(dir)}, tok);
  model::GeneratorOptions g;
  g.seed = 3;
  model::MlmTrainOptions o;
  o.data.seq_len = 24;
  o.batch = 8;
  o.steps = 200;
  o.adam.lr = 2e-3;
  o.adam.warmup_steps = 5;
  o.adam.total_steps = o.steps;
  o.checkpoint_every = 0;
  o.eval_instances = 64;
  std::vector<double> losses;
  const auto r = model::train_mlm(config, model::random_parameters(config, g), tok, corpus, &corpus, o, dir / "out",
                                  [&](const model::TrainProgress& p) { losses.push_back(p.loss); });
  ASSERT_EQ(losses.size(), 200u);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += losses[i] / 10, last += losses[losses.size() - 1 - i] / 10;
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
  ASSERT_TRUE(r.eval);
  ASSERT_TRUE(r.eval->unigram);
  EXPECT_LT(r.eval->model.loss(), r.eval->unigram->loss());
  // The checkpoint is a loadable Hugging Face folder with the optimizer state beside it.
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "checkpoint" / "optimizer.safetensors"));
  EXPECT_NO_THROW(model::Model::load(dir / "out" / "checkpoint"));
}

TEST(Training, ResumedRunEqualsUninterruptedRun) {
  TempDir dir("train");
  const auto tok = tiny_tokenizer();
  const auto config = tiny_mlm_config(static_cast<std::int64_t>(tok.vocab_size()));
  const auto corpus = model::MlmCorpus::from_files({write_corpus(dir)}, tok);
  model::GeneratorOptions g;
  g.seed = 4;
  model::MlmTrainOptions o;
  o.data.seq_len = 32;
  o.batch = 4;
  o.steps = 8;
  o.adam.lr = 1e-3;
  o.adam.warmup_steps = 2;
  o.adam.total_steps = o.steps;
  o.checkpoint_every = 0;
  model::train_mlm(config, model::random_parameters(config, g), tok, corpus, nullptr, o, dir / "straight");
  auto interrupted = o;
  interrupted.stop_after = 3;
  model::train_mlm(config, model::random_parameters(config, g), tok, corpus, nullptr, interrupted, dir / "resumed");
  // Resuming ignores `init`: the checkpoint's weights and optimizer state take over.
  g.seed = 99;
  const auto r = model::train_mlm(config, model::random_parameters(config, g), tok, corpus, nullptr, o, dir / "resumed");
  EXPECT_EQ(r.start_step, 3);
  const auto a = read_params(dir / "straight" / "checkpoint"), b = read_params(dir / "resumed" / "checkpoint");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) ASSERT_EQ(t.data, b.at(name).data) << name;
}

TEST(Training, ClassifierLearnsSeparableTask) {
  TempDir dir("train");
  const auto tok = tiny_tokenizer();
  model::GeneratorOptions g;
  g.layers = 1;
  g.hidden = 32;
  g.heads = 2;
  g.intermediate = 64;
  g.max_positions = 32;
  g.labels = 2;
  g.seed = 5;
  const auto config = model::generator_config(g, static_cast<std::int64_t>(tok.vocab_size()));
  // Class 1 iff the sentence contains the word "world"; everything else is random words.
  const auto world = *tok.find("world");
  std::vector<model::ClassifyExample> train, dev;
  std::uint64_t s = 7;
  auto next = [&] { return s = s * 6364136223846793005ull + 1442695040888963407ull; };
  for (int i = 0; i < 240; ++i) {
    model::ClassifyExample ex;
    ex.label = i % 2;
    ex.ids = {tok.cls_id()};
    for (int j = 0; j < 6; ++j) {
      std::int32_t id = 60 + static_cast<std::int32_t>((next() >> 33) % 300);
      if (id == world) id = 61;
      ex.ids.push_back(id);
    }
    if (ex.label == 1) ex.ids[1 + (next() >> 33) % 6] = world;
    ex.ids.push_back(tok.sep_id());
    ex.type_ids.assign(ex.ids.size(), 0);
    (i < 200 ? train : dev).push_back(ex);
  }
  model::ClassifyTrainOptions o;
  o.batch = 16;
  o.epochs = 20;
  o.adam.lr = 1e-3;
  o.adam.warmup_steps = 5;
  o.seed = 1;
  o.checkpoint_every = 0;
  const auto r = model::train_classifier(config, model::random_parameters(config, g), tok, train, dev, o, dir / "clf");
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < dev.size(); ++i) correct += r.dev_predictions[i] == dev[i].label;
  EXPECT_GE(static_cast<double>(correct) / static_cast<double>(dev.size()), 0.95);
}

TEST(Training, ClassifierHeadForAnotherLabelCountIsDrawnAnew) {
  auto config = tiny_mlm_config(100);
  config.num_labels = 3;
  std::map<std::string, core::Tensor> params;
  model::add_classifier_head(config, params, 1);
  ASSERT_EQ(params.at("classifier.weight").shape, (core::Shape{3, 32}));
  const auto pooler = params.at("bert.pooler.dense.weight").data;
  params.emplace("cls.predictions.bias", core::Tensor({100}));

  config.num_labels = 2;
  model::add_classifier_head(config, params, 2);
  EXPECT_EQ(params.at("classifier.weight").shape, (core::Shape{2, 32}));
  EXPECT_EQ(params.at("classifier.bias").shape, (core::Shape{2}));
  EXPECT_EQ(params.at("bert.pooler.dense.weight").data, pooler);  // the right shape: kept
  EXPECT_EQ(params.count("cls.predictions.bias"), 0u);             // no MLM head in a classifier
}
