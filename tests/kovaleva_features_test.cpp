// Attention to linguistic features: which tokens each selector picks (words, negation, CoNLL-U
// tags and relations, FrameNet spans), the FrameNet sentence filter, the scores on maps with
// known values, bad input, and the command end to end.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "analysis/features.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "model/tokenizer.hpp"
#include "test_util.hpp"

using namespace bertscope;
using namespace bertscope::analysis;
using namespace bertscope::analysis::features;
using bertscope::test::TempDir;

namespace {

const model::Tokenizer& tokenizer() {
  static const auto tok = model::Tokenizer::from_folder(test::data_dir() / "bert-base-uncased");
  return tok;
}

model::Encoding encode(const Example& ex) {
  return ex.input.words.empty()
             ? tokenizer().encode(ex.input.text, ex.input.pair ? std::optional<std::string_view>(*ex.input.pair) : std::nullopt)
             : tokenizer().encode_words(ex.input.words);
}

std::vector<std::string> picked(const std::string& spec, const Example& ex) {
  const auto e = encode(ex);
  std::vector<std::string> out;
  for (auto p : Selector::parse(spec).positions(ex, e)) out.push_back(e.tokens[static_cast<std::size_t>(p)]);
  return out;
}

Example text(const std::string& a, std::optional<std::string> b = std::nullopt) {
  Example ex;
  ex.input.text = a;
  ex.input.pair = b;
  return ex;
}

std::filesystem::path kov(const std::string& name) { return test::data_dir() / "kovaleva" / name; }

using V = std::vector<std::string>;

}  // namespace

TEST(KovalevaFeatures, WordSelectorsOnText) {
  EXPECT_EQ(picked("neg", text("I do not like it, and nothing helps.")), (V{"not", "nothing"}));
  // A contraction is one whitespace word: all its pieces belong to it.
  EXPECT_EQ(picked("neg", text("I don't know")), (V{"don", "'", "t"}));
  EXPECT_EQ(picked("neg", text("it does n't work")), (V{"n", "'", "t"}));  // SST-2's tokenization
  EXPECT_EQ(picked("neg", text("Nothing,", std::string("NEVER again!"))), (V{"nothing", "never"}));
  EXPECT_EQ(picked("words:cat,mat", text("The cat sat on the mat.")), (V{"cat", "mat"}));
  EXPECT_EQ(picked("cls", text("a b")), (V{"[CLS]"}));
  EXPECT_EQ(picked("sep", text("a", std::string("b"))), (V{"[SEP]", "[SEP]"}));
  EXPECT_TRUE(picked("neg", text("all good")).empty());
  TempDir dir("features");
  io::write_file_atomic(dir / "words.txt", "Mat\n\ncat.\n");
  EXPECT_EQ(picked("words@" + (dir / "words.txt").string(), text("The cat sat on the mat.")), (V{"cat", "mat"}));
  EXPECT_NE(test::error_message([] { Selector::parse("colour:red"); }).find("unknown selector"), std::string::npos);
  EXPECT_NE(test::error_message([] { Selector::parse("upos:"); }).find("no values"), std::string::npos);
}

TEST(KovalevaFeatures, ConlluSelectorsAndArcs) {
  const auto data = read_dataset(kov("en_ewt-ud-dev.excerpt.conllu"));
  ASSERT_EQ(data.format, DataFormat::conllu);
  ASSERT_EQ(data.examples.size(), 3u);
  const auto& we = data.examples[0];  // Yet we did n't charge them for the evacuation .
  EXPECT_EQ(picked("pron", we), (V{"we", "them"}));
  EXPECT_EQ(picked("neg", we), (V{"n", "'", "t"}));
  EXPECT_EQ(picked("verb", we), (V{"did", "charge"}));  // XPOS VBD and VB
  EXPECT_EQ(picked("upos:VERB", we), (V{"charge"}));
  EXPECT_EQ(picked("subj", we), (V{"we"}));
  EXPECT_EQ(picked("obj", we), (V{"them"}));  // iobj
  const auto& bush = data.examples[2];  // President Bush on Tuesday nominated two individuals ...
  EXPECT_EQ(picked("subj", bush), (V{"bush"}));
  EXPECT_EQ(picked("deprel:nmod", bush), (V{"president", "courts", "area"}));  // nmod:desc and nmod
  EXPECT_EQ(picked("deprel:nmod:desc", bush), (V{"president"}));
  const auto e = encode(bush);
  auto pairs = Link::parse("arc:nsubj/VERB").pairs(bush, e, Pairing::all);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(e.tokens[static_cast<std::size_t>(pairs[0].first)], "bush");
  EXPECT_EQ(e.tokens[static_cast<std::size_t>(pairs[0].second)], "nominated");
  pairs = Link::parse("back=rarc:nsubj").pairs(bush, e, Pairing::all);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(e.tokens[static_cast<std::size_t>(pairs[0].first)], "nominated");
  EXPECT_TRUE(Link::parse("arc:nsubj/NOUN").pairs(bush, e, Pairing::all).empty());
  // Selectors that need annotations the data lacks are refused up front.
  EXPECT_NE(test::error_message([] { Selector::parse("pron").check_format(DataFormat::task); }).find("needs CoNLL-U"), std::string::npos);
  EXPECT_NE(test::error_message([] { Link::parse("arc:nsubj").check_format(DataFormat::text); }).find("needs CoNLL-U"), std::string::npos);
  EXPECT_NE(test::error_message([] { Selector::parse("span:fe").check_format(DataFormat::conllu); }).find("needs a span file"),
            std::string::npos);
}

TEST(KovalevaFeatures, SpansAndTheFrameNetFilter) {
  auto data = read_dataset(kov("framenet17_examples.excerpt.tsv"));
  ASSERT_EQ(data.format, DataFormat::spans);
  ASSERT_EQ(data.examples.size(), 33u);
  const Example* furious = nullptr;
  for (const auto& ex : data.examples)
    if (ex.input.text == "The furious parent stormed into the office.") furious = &ex;
  ASSERT_TRUE(furious);
  EXPECT_EQ(picked("span:target", *furious), (V{"furious"}));
  EXPECT_EQ(picked("span:fe", *furious), (V{"parent"}));
  EXPECT_EQ(picked("span:Experiencer", *furious), (V{"parent"}));
  const auto e = encode(*furious);
  const auto zip = Link::parse("span:fe>span:target").pairs(*furious, e, Pairing::zip);
  ASSERT_EQ(zip.size(), 1u);
  EXPECT_EQ(e.tokens[static_cast<std::size_t>(zip[0].first)], "parent");

  TempDir dir("spans");
  const auto path = dir / "spans.tsv";
  io::write_file_atomic(path,
                        "frame\tsentence\ttarget_spans\tfe_spans\n"
                        "F\tShe left her old ways behind .\t4:8\tAgent|Core|0:3\n"                 // FE next to target
                        "F\tCarolyn abandoned her car and jumped on it.\t8:17\tTheme|Core|30:36\n"  // kept: 4 words apart
                        "F\tOne two three four five six seven eight nine ten eleven twelve thirteen\t0:3\tA|Core|49:55\n"
                        "F\tNo target here at all .\t\tA|Core|0:2\n"
                        "F\tShe gave up the whole old house yesterday .\t4:11\tTheme|Core|16:31\n"  // a two-word target
                        "F\tAbandoned , the dog waited for its owner .\t0:9\tTime|Peripheral|35:40\n"  // no core FE
                        "F\tThe dog abandoned by its owner waited .\t8:17\tAgent|Core|25:30\n"
                        "F\tDogs barked at them and the very big old red car .\t5:11\tTheme|Core|24:48\n");  // a 6-word FE
  auto spans = read_span_data(path);
  const auto report = filter_spans(spans, SpanFilter{});
  EXPECT_EQ(report["read"], 8);
  EXPECT_EQ(report["rejected"]["long_frame_element"], 1);
  EXPECT_EQ(report["rejected"]["frame_element_near_target"], 1);
  EXPECT_EQ(report["rejected"]["more_words"], 1);
  EXPECT_EQ(report["rejected"]["not_one_target"], 1);
  EXPECT_EQ(report["rejected"]["target_not_one_word"], 1);  // "gave up" is two words
  EXPECT_EQ(report["rejected"]["no_core_frame_element"], 1);
  EXPECT_EQ(report["kept"], 2);
  ASSERT_EQ(spans.examples.size(), 2u);
  EXPECT_EQ(spans.examples[0].line, 3u);

  io::write_file_atomic(path, "sentence\ttarget_spans\tfe_spans\nA cat .\t2:5\tAgent|Core|0:1\nA dog .\t2:9\t\n");
  auto msg = test::error_message([&] { read_span_data(path); });
  EXPECT_NE(msg.find(path.string() + ":3: target_spans: span 2:9 runs past the sentence's 7 characters"), std::string::npos) << msg;
  io::write_file_atomic(path, "sentence\ttarget_spans\tfe_spans\nA cat .\t2:5\tAgent|0:1\n");
  msg = test::error_message([&] { read_span_data(path); });
  EXPECT_NE(msg.find(path.string() + ":2: fe_spans: \"Agent|0:1\" is not NAME|CORE_TYPE|START:END"), std::string::npos) << msg;
  io::write_file_atomic(path, "sentence\ttarget_spans\tfe_spans\nA cat .\t5:2\t\n");
  msg = test::error_message([&] { read_span_data(path); });
  EXPECT_NE(msg.find(":2: target_spans: span \"5:2\""), std::string::npos) << msg;
}

TEST(KovalevaFeatures, ScoresOnKnownMaps) {
  // "[CLS] i do not care [SEP]": one layer, two heads.
  const auto ex = text("i do not care");
  const auto e = encode(ex);
  ASSERT_EQ(e.size(), 6u);
  core::Tensor att({1, 2, 6, 6});
  for (int i = 0; i < 6; ++i) {
    att.data[static_cast<std::size_t>(i * 6 + 3)] = 0.5f;  // head 0: half of every row on "not"
    att.data[static_cast<std::size_t>(i * 6 + 5)] = 0.5f;  //          and half on [SEP]
    att.data[static_cast<std::size_t>(36 + i * 6 + 0)] = 1.0f;  // head 1: everything on [CLS]
  }
  Options opt;
  opt.features = {parse_feature("neg"), parse_feature("c=cls"), parse_feature("sep")};
  opt.links = {Link::parse("n2s=neg>sep"), Link::parse("c2n=cls>neg")};
  Accumulator acc(1, 2, opt);
  acc.add(ex, e, att);
  // An input without negation counts only under Missing::zero.
  const auto other = text("i care");
  const auto e2 = encode(other);
  core::Tensor att2({1, 2, 4, 4}, 0.25f);
  acc.add(other, e2, att2);
  const auto j = acc.to_json();
  const auto& neg = j["features"]["neg"];
  EXPECT_EQ(neg["inputs"], 1);
  EXPECT_DOUBLE_EQ(neg["received"][0][0].get<double>(), 0.5);  // (1/T) sum_i A[i, not]
  EXPECT_DOUBLE_EQ(neg["received"][0][1].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(neg["from_cls"][0][0].get<double>(), 0.5);
  EXPECT_EQ(neg["top"][0]["label"], "1-1");
  EXPECT_DOUBLE_EQ(j["features"]["c"]["received"][0][1].get<double>(), 0.5 * (1.0 + 0.25));  // both inputs
  EXPECT_EQ(j["features"]["c"]["selector"], "cls");
  EXPECT_DOUBLE_EQ(j["features"]["sep"]["received"][0][0].get<double>(), 0.5 * (0.5 + 0.25));
  EXPECT_DOUBLE_EQ(j["links"]["n2s"]["attention"][0][0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["links"]["c2n"]["attention"][0][1].get<double>(), 0.0);

  opt.missing = Missing::zero;
  Accumulator zero(1, 2, opt);
  zero.add(ex, e, att);
  zero.add(other, e2, att2);
  EXPECT_DOUBLE_EQ(zero.to_json()["features"]["neg"]["received"][0][0].get<double>(), 0.25);
  EXPECT_NEAR(percentile({0.3, 0.1, 0.7, 0.2, 0.9, 0.5, 0.05}, 99), 0.888, 1e-12);  // numpy
}

TEST(KovalevaFeatures, CommandEndToEnd) {
  TempDir dir("features-cli");
  const auto model = (dir / "m").string();
  ASSERT_EQ(test::run_command(fmt::format("{} make-model --out {} --vocab {} --layers 2 --hidden 32 --heads 4 "
                                          "--intermediate 48 --seed 8 --labels 2 --init-std 0.2",
                                          test::cli(), model,
                                          (test::data_dir() / "bert-base-uncased" / "vocab.txt").string()))
                .status,
            0);
  // CoNLL-U with the paper's default features and subject-verb links.
  auto out = dir / "ud.json";
  auto r = test::run_command(fmt::format("{} analyze features --model {} --data {} --out {}", test::cli(), model,
                                         kov("en_ewt-ud-dev.excerpt.conllu").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  auto doc = io::read_json(out);
  EXPECT_EQ(doc["data"]["format"], "conllu");
  for (const char* f : {"cls", "sep", "pron", "noun", "verb", "subj", "obj", "neg"}) EXPECT_TRUE(doc["results"]["features"].contains(f)) << f;
  EXPECT_EQ(doc["results"]["features"]["neg"]["inputs"], 2);
  EXPECT_EQ(doc["results"]["links"]["subj-verb"]["inputs"], 3);
  EXPECT_EQ(doc["results"]["features"]["cls"]["received"].size(), 2u);

  // FrameNet spans with the paper's filter and its zip pairing.
  out = dir / "fn.json";
  r = test::run_command(fmt::format("{} analyze features --model {} --data {} --pairing zip --out {}", test::cli(), model,
                                    kov("framenet17_examples.excerpt.tsv").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  doc = io::read_json(out);
  // 10 of the excerpt's 33 sentences pass the filter (also counted by an independent Python
  // re-implementation when the excerpt was cut, see tests/data/kovaleva/README.md).
  const auto kept = doc["data"]["span_filter"]["kept"].get<std::size_t>();
  EXPECT_EQ(kept, 10u);
  EXPECT_EQ(doc["data"]["inputs"], kept);
  EXPECT_EQ(doc["results"]["links"]["fe-target"]["inputs"], kept);
  EXPECT_EQ(doc["params"]["pairing"], "zip");

  // A task file with a custom feature; a bad selector is one clear error.
  out = dir / "sst.json";
  r = test::run_command(fmt::format("{} analyze features --model {} --data {} --feature film=words:film,movie --feature neg --out {}",
                                    test::cli(), model, kov("sst2_dev.head40.tsv").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  doc = io::read_json(out);
  EXPECT_EQ(doc["data"]["format"], "task");
  EXPECT_GT(doc["results"]["features"]["film"]["inputs"].get<int>(), 0);
  r = test::run_command(fmt::format("{} analyze features --model {} --data {} --feature pron", test::cli(), model,
                                    kov("sst2_dev.head40.tsv").string()));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("needs CoNLL-U data"), std::string::npos) << r.output;
}
